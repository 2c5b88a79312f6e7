//! `ids` (一个进程包含多个线程, note 000 point 2): one pid, many thread ids.
//!
//! Python:
//!
//! ```python
//! import os, threading, time
//!
//! def work(i):
//!     time.sleep(0.1)
//!     print(i, os.getpid(), threading.get_native_id())   # same pid, different ids
//!
//! ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
//! for t in ts: t.start()
//! for t in ts: t.join()
//! ```
//!
//! `getpid()` returns the *thread group* id, which every thread of the process shares; `gettid()`
//! returns the thread's own id (the main thread's tid equals the pid). The kernel lists the
//! threads of a process as `/proc/<pid>/task/<tid>`; we read that directory while every thread
//! is alive and check it holds exactly the ids the threads reported.
//!
//! Why a barrier: a tid is only unique among threads alive *at the same time*. A thread that has
//! finished may give its id to the next one created, so "all different" is only a fact if all
//! of them exist at once. Each thread waits at a `std::sync::Barrier` (it sleeps on a futex)
//! until main has looked at `/proc`, then waits once more so none leaves early.

use std::collections::BTreeSet;
use std::sync::Barrier;

use anyhow::{ensure, Context, Result};
use common::{json, out, procfs, secs, sleep};

use crate::{joined, tid};

/// Flags of `ids`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many threads to start besides main (1..=64).
    #[arg(long, default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=crate::MAX_THREADS as i64))]
    pub threads: u32,
}

impl Default for Args {
    fn default() -> Self {
        Args { threads: 4 }
    }
}

/// What one thread reports about itself.
struct Report {
    pid: u32,
    tid: i32,
}

/// The thread ids the kernel lists under `/proc/<pid>/task`.
fn task_dir(pid: u32) -> Result<BTreeSet<i32>> {
    let dir = format!("/proc/{pid}/task");
    let mut tids = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("read_dir {dir}"))? {
        let entry = entry.with_context(|| format!("read_dir {dir}"))?;
        if let Ok(t) = entry.file_name().to_string_lossy().parse::<i32>() {
            tids.insert(t);
        }
    }
    Ok(tids)
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let thread_count = args.threads;
    let pid = std::process::id();
    let main_tid = tid();
    out::event(
        "main",
        json!({"tid": main_tid}),
        format!("main thread: pid {pid}, tid {main_tid} (the main thread's tid is the pid)"),
    );

    // The workers and main meet twice: once when everybody is alive, once after main has looked.
    let barrier = Barrier::new(thread_count as usize + 1);
    let (reports, kernel_threads, listed) = std::thread::scope(|s| -> Result<_> {
        let handles: Vec<_> = (0..thread_count)
            .map(|i| {
                let barrier = &barrier;
                s.spawn(move || {
                    // std::process::id() is getpid(2): the thread group id, shared.
                    let r = Report {
                        pid: std::process::id(),
                        tid: tid(),
                    };
                    sleep(secs(0.5)); // the notes' time.sleep: pretend to work
                    out::event(
                        "thread",
                        json!({"index": i, "tid": r.tid}),
                        format!("  thread {i}: pid {}, tid {}", r.pid, r.tid),
                    );
                    barrier.wait(); // every worker and main alive now
                    barrier.wait(); // main has read /proc
                    r
                })
            })
            .collect();
        barrier.wait();
        // Every worker is parked at the second wait: all of them and main exist right now.
        let counted = procfs::thread_count(pid as i32);
        let listed = task_dir(pid);
        barrier.wait();
        let mut reports = Vec::new();
        for (i, h) in handles.into_iter().enumerate() {
            reports.push(joined(&format!("{i}"), h.join())?);
        }
        Ok((reports, counted?, listed?))
    })?;

    let tids: Vec<i32> = reports.iter().map(|r| r.tid).collect();
    let same_pid = reports.iter().all(|r| r.pid == pid);
    let distinct: BTreeSet<i32> = tids.iter().copied().chain([main_tid]).collect();
    let all_distinct = distinct.len() == tids.len() + 1;
    let task_matches = listed == distinct;
    out::event(
        "kernel_view",
        json!({"num_threads": kernel_threads, "task_dir": listed}),
        format!(
            "the kernel: /proc/{pid}/stat counts {kernel_threads} threads; /proc/{pid}/task lists {:?}",
            listed
        ),
    );
    out::say(format!(
        "one process (pid {pid}), {} threads: same pid = {same_pid}, all tids different = {all_distinct}",
        thread_count + 1
    ));
    out::summary(json!({
        "pid": pid,
        "main_tid": main_tid,
        "tids": tids,
        "same_pid": same_pid,
        "distinct_tids": all_distinct,
        "num_threads": kernel_threads,
        "task_dir_matches": task_matches,
    }));
    ensure!(same_pid, "a thread reported another pid than {pid}");
    ensure!(
        all_distinct,
        "two live threads reported the same tid: {tids:?}"
    );
    ensure!(
        main_tid == pid as i32,
        "the main thread's tid {main_tid} is not the pid {pid}"
    );
    ensure!(
        task_matches && kernel_threads == i64::from(thread_count) + 1,
        "/proc disagrees: {kernel_threads} threads, task dir {listed:?}, reported {distinct:?}"
    );
    Ok(())
}
