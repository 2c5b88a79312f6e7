//! `shared` (共享进程的资源, note 000 point 2): threads share memory; a forked child does not.
//!
//! Python:
//!
//! ```python
//! from multiprocessing import Process
//! from threading import Thread
//!
//! value = 100
//! def change():
//!     global value
//!     value = 999
//!
//! p = Process(target=change); p.start(); p.join(); print(value)   # 100: the child's copy changed
//! t = Thread(target=change);  t.start(); t.join(); print(value)   # 999: the same variable
//! ```
//!
//! The same experiment twice on one global. First a child process (`common::spawn`, fork(2)):
//! its store lands in its copy-on-write copy of the page, at the *same virtual address*, so the
//! parent still reads 100. Then a thread: it runs in this address space, so its store is the
//! main thread's value. (This is `process fork-copy`, side by side with the thread version.)
//!
//! Then the threads among themselves: thread `i` writes slot `i` of one shared array, all meet
//! at a barrier, and each thread reads every slot. Each sees what all the others wrote. The
//! barrier is what makes that certain: its wait is a synchronisation point, so every write made
//! before it is visible to every read made after it. Without it a thread might read a slot
//! before its owner wrote it (that is a race, not a failure to share).
//!
//! Order matters here: the fork comes first, while this process has a single thread (see the
//! crate doc, "Threads and fork in one program").

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Barrier;

use anyhow::{ensure, Result};
use common::{json, out, Shared};

use crate::{joined, tid};

/// Flags of `shared`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many threads write and read the shared array (1..=64).
    #[arg(long, default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=crate::MAX_THREADS as i64))]
    pub threads: u32,
}

/// A plain global, like Python's module-level `value`. (An atomic only because Rust forbids
/// unsynchronised writes to a shared global; the lesson is where the write lands.)
static VALUE: AtomicI64 = AtomicI64::new(100);

fn address() -> String {
    format!("{:p}", &VALUE)
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let before = VALUE.load(Ordering::SeqCst);
    out::event(
        "before",
        json!({"value": before, "address": address()}),
        format!("main: value = {before} at address {}", address()),
    );

    // 1. A child process. It reports what it saw through a MAP_SHARED slot (its own copy of
    //    VALUE is invisible to us: that is the point).
    let child_saw = Shared::<AtomicI64>::new_zeroed()?;
    let mut child = common::spawn("changer", || {
        VALUE.store(999, Ordering::SeqCst);
        let v = VALUE.load(Ordering::SeqCst);
        child_saw.store(v, Ordering::SeqCst);
        out::event(
            "process_changed",
            json!({"value": v, "address": address()}),
            format!(
                "  child process (pid {}): set value = {v} at address {}",
                std::process::id(),
                address()
            ),
        );
        Ok(())
    })?;
    let status = child.join()?;
    ensure!(status.success(), "the child process {status}");
    let after_process = VALUE.load(Ordering::SeqCst);
    out::event(
        "after_process",
        json!({"value": after_process}),
        format!("main after joining the process: value = {after_process} (same address, but the child wrote to its own copy of the page)"),
    );

    // 2. A thread, on the same global.
    let thread_tid = std::thread::scope(|s| {
        let h = s.spawn(|| {
            VALUE.store(999, Ordering::SeqCst);
            let (t, v) = (tid(), VALUE.load(Ordering::SeqCst));
            out::event(
                "thread_changed",
                json!({"value": v, "address": address(), "tid": t}),
                format!(
                    "  thread (tid {t}, same pid {}): set value = {v} at address {}",
                    std::process::id(),
                    address()
                ),
            );
            t
        });
        joined("changer", h.join())
    })?;
    let after_thread = VALUE.load(Ordering::SeqCst);
    out::event(
        "after_thread",
        json!({"value": after_thread}),
        format!("main after joining the thread: value = {after_thread} (one address space, one variable)"),
    );

    // 3. Threads reading each other's writes.
    let thread_count = args.threads as usize;
    let written: Vec<u64> = (0..thread_count as u64).map(|i| (i + 1) * 10).collect();
    let slots: Vec<AtomicU64> = (0..thread_count).map(|_| AtomicU64::new(0)).collect();
    let barrier = Barrier::new(thread_count);
    let seen: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..thread_count)
            .map(|i| {
                let (slots, barrier, written) = (&slots, &barrier, &written);
                s.spawn(move || {
                    slots[i].store(written[i], Ordering::Relaxed);
                    barrier.wait(); // every write happens-before every read below
                    let v: Vec<u64> = slots.iter().map(|x| x.load(Ordering::Relaxed)).collect();
                    out::event(
                        "thread_read",
                        json!({"index": i, "wrote": written[i], "seen": v}),
                        format!(
                            "  thread {i} wrote {} and reads the array: {v:?}",
                            written[i]
                        ),
                    );
                    v
                })
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(i, h)| joined(&format!("{i}"), h.join()))
            .collect::<Result<Vec<_>>>()
    })?;
    let all_saw_all = seen.iter().all(|v| *v == written);
    out::say(format!(
        "every thread saw every other thread's write: {all_saw_all}"
    ));

    out::summary(json!({
        "before": before,
        "child_value": child_saw.load(Ordering::SeqCst),
        "process_value_seen_by_parent": after_process,
        "thread_value_seen_by_main": after_thread,
        "thread_tid": thread_tid,
        "threads": thread_count,
        "written": written,
        "seen": seen,
        "every_thread_saw_all": all_saw_all,
    }));
    ensure!(
        after_process == before,
        "the child process's write reached the parent"
    );
    ensure!(after_thread == 999, "the thread's write did not reach main");
    ensure!(
        all_saw_all,
        "a thread missed another thread's write after the barrier"
    );
    Ok(())
}
