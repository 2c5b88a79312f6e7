//! `main-exit` (the notes' 注意: "主线程结束之后,分支线程不会跟着主线程而结束"): what ends when
//! `main` ends.
//!
//! Python:
//!
//! ```python
//! import threading, time
//!
//! def work(name, pause):
//!     for step in 1, 2, 3: time.sleep(pause); print(name, step)
//!
//! threading.Thread(target=work, args=("daemon", 0.2), daemon=True).start()
//! threading.Thread(target=work, args=("normal", 0.1)).start()
//! print("main is done")   # the interpreter now waits for "normal"; "daemon" is cut off at exit
//! ```
//!
//! Python's interpreter, at the end of the main module, joins every non-daemon thread
//! (`threading._shutdown`), and only then exits; daemon threads die with the process. Rust (and
//! C) have no such step: returning from `main` calls `exit`, which ends the process with
//! `exit_group(2)`, and *every* thread with it, wherever it is. A Rust thread whose
//! `JoinHandle` was dropped (a *detached* thread) is therefore like a Python daemon thread; to
//! get Python's default behaviour you join, or use `std::thread::scope`, which joins every thread
//! it started before it returns.
//!
//! To watch a process end under its threads we need a process that really ends: a child
//! (`common::spawn`, forked before this process has any thread). Its closure plays `main`:
//! 1. it starts `--detached` threads and drops their handles. Each does the first step of its
//!    work, then waits for main to hand it the rest: on a condition variable that main never
//!    signals. So the cut-off is certain by construction, not a matter of timing: a detached
//!    thread *cannot* finish before the process ends. (With sleeps instead, whether it finished
//!    would be a race against main.)
//! 2. it starts `--joined` threads in a `std::thread::scope`; they do all their steps and the
//!    scope joins them.
//! 3. it waits until every detached thread has done its first step (blocking on a condition
//!    variable, not polling), then returns. `common::spawn` then leaves through `_exit`, which
//!    is the same `exit_group(2)` a returning `main` ends with.
//!
//! The threads count their progress in a `MAP_SHARED` page, which outlives the child, and the
//! parent reads it after reaping the child. (Python run on the same program would never end: it
//! would wait for its non-daemon threads, and these two wait forever.)

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use anyhow::{ensure, Context, Result};
use common::{json, out, secs, sleep, Shared};

/// Most threads of each kind (`--detached`, `--joined`).
pub const MAX_EACH: u32 = 16;

/// Flags of `main-exit`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Threads whose handle is dropped: cut off when main returns (1..=16).
    #[arg(long, default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=MAX_EACH as i64))]
    pub detached: u32,
    /// Threads joined before main returns (in a thread scope): they finish (0..=16).
    #[arg(long, default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(0..=MAX_EACH as i64))]
    pub joined: u32,
}

common::shared_struct! {
    /// Progress counters shared by the child's threads and the parent, which reads them after
    /// the child has ended.
    pub struct Progress {
        /// Detached threads that did their first step.
        pub started_detached: AtomicU32,
        /// Detached threads that did every step (0: the process ended under them).
        pub finished_detached: AtomicU32,
        /// Joined threads that did every step.
        pub finished_joined: AtomicU32,
    }
}

/// The progress page. A `static` so that a detached thread (which must own everything it uses,
/// `'static`) can reach it; the child inherits the mapping at the same address.
static PROGRESS: OnceLock<Shared<Progress>> = OnceLock::new();

/// How many steps every worker's job has.
const STEPS: u32 = 3;

/// A value and the condition variable to wait for it to change, shared by the child's threads.
struct Signal<T> {
    value: Mutex<T>,
    changed: Condvar,
}

impl<T> Signal<T> {
    fn new(value: T) -> Arc<Signal<T>> {
        Arc::new(Signal {
            value: Mutex::new(value),
            changed: Condvar::new(),
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The child's `main`.
fn child_main(args: &Args, progress: &'static Progress) -> Result<()> {
    let pid = std::process::id();
    // `more_work`: the rest of the detached threads' work, which main never hands over.
    let more_work = Signal::new(false);
    // `first_steps`: how many detached threads have done their first step.
    let first_steps = Signal::new(0u32);

    for i in 0..args.detached {
        let (more_work, first_steps) = (more_work.clone(), first_steps.clone());
        let handle = std::thread::Builder::new()
            .name(format!("detached-{i}"))
            .spawn(move || {
                sleep(secs(0.3));
                out::event(
                    "detached_step",
                    json!({"thread": i, "step": 1}),
                    format!("    detached {i}: step 1 of {STEPS} done; waiting for main to hand over the rest"),
                );
                progress.started_detached.fetch_add(1, Ordering::SeqCst);
                *lock(&first_steps.value) += 1;
                first_steps.changed.notify_all();
                // Blocks on a futex until main says "go on", which it never does.
                let _go = more_work
                    .changed
                    .wait_while(lock(&more_work.value), |go| !*go)
                    .unwrap_or_else(|e| e.into_inner());
                // Unreachable in this demo: the process ends while we wait above.
                out::event(
                    "detached_finished",
                    json!({"thread": i}),
                    format!("    detached {i}: finished"),
                );
                progress.finished_detached.fetch_add(1, Ordering::SeqCst);
            })
            .context("pthread_create (detached thread)")?;
        // Dropping the JoinHandle detaches the thread: nobody will ever wait for it.
        drop(handle);
    }

    // Joined threads: the scope joins each of them before it returns (Python's non-daemon threads).
    std::thread::scope(|s| {
        for j in 0..args.joined {
            s.spawn(move || {
                for step in 1..=STEPS {
                    sleep(secs(0.3));
                    out::event(
                        "joined_step",
                        json!({"thread": j, "step": step}),
                        format!("    joined {j}: step {step} of {STEPS}"),
                    );
                }
                progress.finished_joined.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    out::event(
        "joined_all",
        json!({}),
        "  main (child): the scope has joined every joined thread",
    );

    // Wait (blocked on a condvar) until every detached thread is mid-work.
    let _all = first_steps
        .changed
        .wait_while(lock(&first_steps.value), |started| *started < args.detached)
        .unwrap_or_else(|e| e.into_inner());
    out::event(
        "main_returns",
        json!({"detached_running": args.detached}),
        format!(
            "  main (child pid {pid}): returning now, with {} detached threads still mid-work",
            args.detached
        ),
    );
    Ok(())
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    // Map the counters before the fork so the child shares them. A second run in the same
    // process (unit tests) reuses the page, so zero it.
    let progress = match PROGRESS.get() {
        Some(p) => p,
        None => {
            let page = Shared::new_zeroed().context("mmap(MAP_SHARED)")?;
            PROGRESS.get_or_init(|| page)
        }
    };
    let progress: &'static Progress = progress;
    for counter in [
        &progress.started_detached,
        &progress.finished_detached,
        &progress.finished_joined,
    ] {
        counter.store(0, Ordering::SeqCst);
    }
    out::say(format!(
        "a child process plays a Rust program: its main starts {} detached and {} joined threads, each with {STEPS} steps of work",
        args.detached, args.joined
    ));
    // Fork first: this process has one thread.
    let child_args = args.clone();
    let mut child = common::spawn("rust-main", move || child_main(&child_args, progress))?;
    let status = child.join()?;
    let started_detached = progress.started_detached.load(Ordering::SeqCst);
    let finished_detached = progress.finished_detached.load(Ordering::SeqCst);
    let finished_joined = progress.finished_joined.load(Ordering::SeqCst);
    out::event(
        "process_ended",
        json!({"exit_code": status.python_exitcode(), "child_pid": child.pid()}),
        format!(
            "the child process has ended ({status}): detached threads finished {finished_detached} of {} (cut off after {started_detached} first steps), joined threads finished {finished_joined} of {}",
            args.detached, args.joined
        ),
    );
    out::say(
        "Python, running the same program, would wait at the end for its non-daemon threads \
         (forever, for threads waiting like these); a daemon=True thread is cut off like ours.",
    );
    out::summary(json!({
        "spawned": {"detached": args.detached, "joined": args.joined, "total": args.detached + args.joined},
        "started_detached": started_detached,
        "finished_detached": finished_detached,
        "finished_joined": finished_joined,
        "exit_code": status.python_exitcode(),
    }));
    ensure!(status.success(), "the child process {status}");
    ensure!(
        started_detached == args.detached,
        "only {started_detached} of {} detached threads started",
        args.detached
    );
    ensure!(finished_detached == 0, "a detached thread finished");
    ensure!(
        finished_joined == args.joined,
        "only {finished_joined} of {} joined threads finished",
        args.joined
    );
    Ok(())
}
