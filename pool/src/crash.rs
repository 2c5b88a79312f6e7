//! `crash`: a worker dies in the middle of a task. Only that task fails, with its cause; the
//! worker is replaced; every other task completes; nothing hangs.
//!
//! Python's `multiprocessing.Pool` notices a dead worker only to start another: the task it was
//! running is never completed, and `r.get()` without a timeout blocks forever (`pool.join()`
//! too). `concurrent.futures.ProcessPoolExecutor` goes the other way: "BrokenProcessPool", and
//! every pending future fails. Here the parent sleeps in `poll(2)` on each worker's pidfd, so
//! the death wakes it; it reads how the worker ended from `waitpid` and fails the task that
//! worker had marked as running (see `pool.rs`).
//!
//! | `--crash-kind` | what task I does | the cause reported |
//! |---|---|---|
//! | `panic` | `panic!` | `panicked: <message> at <file:line>` (sent by `common::spawn`'s report pipe) |
//! | `abort` | `std::process::abort()` | `killed by SIGABRT (abort)` |
//! | `kill` | waits; a separate *killer* process SIGKILLs the worker | `killed by SIGKILL` |
//! | `exit` | `_exit(3)` without a result | `exited with code 3` |
//! | `truncate` | returns 4 MiB (256 parts, a quarter of the result queue) and the worker dies half-way through putting it | `truncated result: 2097152 of 4194308 bytes arrived, then ... SIGKILL` |
//! | `external` | waits for *you* to `kill -9` its worker (another terminal, or a test) | `killed by SIGKILL` (or, after `--wait-limit`, the pool is terminated) |
//! | `take` (tests only: a build with the `fault-injection` feature) | its worker dies just after taking it off the task queue, before noting it in its slot | `killed by SIGKILL while taking the task from the queue` |
//! | `take-big` (tests only) | the same, with an argument bigger than the task queue, still being put | the same |
//!
//! The kill comes from another process in `kill` and `external` mode: the killer (forked before
//! the pool) sleeps on an `Event` until the task posts its worker's pid there, then calls
//! `kill(pid, SIGKILL)`: a real SIGKILL from outside, mid-task, at a moment that does not depend
//! on timing.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use common::sync::Event;
use common::{json, out, secs, sleep, Shared};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::{Bytes, Pool, Settings, TaskError, Tasks};

/// How task `--crash-task` ends.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The task panics.
    Panic,
    /// The task calls abort (SIGABRT).
    Abort,
    /// Another process SIGKILLs the worker while the task runs.
    Kill,
    /// The task exits the worker with code 3 without a result.
    Exit,
    /// The worker dies half-way through putting a result larger than the result queue holds.
    Truncate,
    /// The task waits until someone kills its worker from outside (`kill -9 PID`).
    External,
    /// Test-only: the worker taking task I dies right after removing it from the task queue,
    /// before noting it in its slot (only in a build with the `fault-injection` feature).
    #[cfg(feature = "fault-injection")]
    Take,
    /// Test-only: the same with a 20 MiB argument, bigger than the task queue, so the task is
    /// still being put part by part when its taker dies.
    #[cfg(feature = "fault-injection")]
    TakeBig,
}

/// Flags of `crash`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many tasks (1..=1000).
    #[arg(long, default_value_t = 6,
          value_parser = clap::value_parser!(u32).range(1..=crate::MAX_TASKS as i64))]
    pub tasks: u32,
    /// The task that crashes (0..tasks).
    #[arg(long, default_value_t = 2, value_name = "I")]
    pub crash_task: u32,
    /// How it crashes.
    #[arg(long, value_enum, default_value_t = Kind::Panic, value_name = "KIND")]
    pub crash_kind: Kind,
    /// `external` only: seconds to wait for the kill before terminating the pool (1..=3600).
    #[arg(long, default_value_t = 60, value_name = "S",
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub wait_limit: u32,
}

common::shared_struct! {
    /// Where the doomed task tells the killer process whom to kill.
    struct Mailbox {
        /// The pid of the worker running the crashing task (0: not yet).
        worker_pid: AtomicU32,
        /// The killer sleeps here until the pid is posted.
        posted: Event,
    }
}

/// Each task's outcome, filled in by its callbacks (in the parent).
type Outcomes = Rc<RefCell<Vec<Option<Result<u64, TaskError>>>>>;

/// The size of the `truncate` task's result: 4 MiB, 256 parts on the result queue.
const BIG: usize = 4 << 20;

/// Block this process until a signal kills it (the task that waits for its killer).
fn wait_to_be_killed() -> ! {
    loop {
        nix::unistd::pause();
    }
}

fn announce(i: u64) {
    out::event(
        "task_started",
        json!({"task": i, "worker": std::process::id()}),
        format!("  [worker {}] task {i} started", std::process::id()),
    );
}

/// Run the demo.
pub fn run(a: &Args, settings: &Settings) -> Result<()> {
    if a.crash_task >= a.tasks {
        return Err(common::cli::usage(
            "--crash-task",
            a.crash_task,
            format!("must be below --tasks ({})", a.tasks),
        ));
    }
    let workers = settings.workers;
    let crash = u64::from(a.crash_task);
    let kind = a.crash_kind;

    // The killer's mailbox: the doomed worker writes its pid here. Made before any fork, so the
    // killer and the workers share it.
    let mailbox = Rc::new(Shared::<Mailbox>::new_zeroed().context("mmap(MAP_SHARED)")?);
    let mut killer = if kind == Kind::Kill {
        let mb = mailbox.clone();
        Some(common::spawn("killer", move || {
            common::trace::process_name("killer");
            // Sleeps in the kernel until the doomed task posts its worker's pid.
            mb.posted
                .wait_until(|| mb.worker_pid.load(Ordering::SeqCst) != 0, None);
            let pid = mb.worker_pid.load(Ordering::SeqCst);
            kill(Pid::from_raw(pid as i32), Signal::SIGKILL)
                .with_context(|| format!("kill({pid}, SIGKILL)"))?;
            out::event(
                "killer_sent",
                json!({"worker": pid, "signal": "SIGKILL"}),
                format!("  [killer {}] kill({pid}, SIGKILL)", std::process::id()),
            );
            Ok(())
        })?)
    } else {
        None
    };

    let mut tasks = Tasks::new();
    let mb = mailbox.clone();
    let work = tasks.register("work", move |i: u64| -> u64 {
        announce(i);
        if i == crash {
            let me = std::process::id();
            match kind {
                Kind::Panic => panic!("task {i} panicked on purpose"),
                Kind::Abort => std::process::abort(),
                Kind::Exit => {
                    out::flush();
                    common::sys::exit_now(3)
                }
                Kind::Kill => {
                    mb.worker_pid.store(me, Ordering::SeqCst);
                    mb.posted.notify();
                    wait_to_be_killed()
                }
                Kind::External => {
                    out::event(
                        "waiting_to_be_killed",
                        json!({"task": i, "worker": me}),
                        format!("  [worker {me}] task {i} now waits: run `kill -9 {me}` in another terminal"),
                    );
                    wait_to_be_killed()
                }
                Kind::Truncate => {}
                #[cfg(feature = "fault-injection")]
                Kind::Take | Kind::TakeBig => {}
            }
        }
        sleep(secs(0.5));
        i * i
    });
    let big = tasks.register("big_result", |i: u64| -> Bytes {
        announce(i);
        // Die once half of the 4 MiB result is on the result queue (see worker::die_mid_result).
        crate::worker::die_mid_result(BIG / 2);
        Bytes(vec![i as u8; BIG])
    });
    #[cfg(feature = "fault-injection")]
    let big_arg = tasks.register("big_arg", |(i, _big): (u64, Bytes)| {
        announce(i);
        i * i
    });
    #[cfg(feature = "fault-injection")]
    if matches!(kind, Kind::Take | Kind::TakeBig) {
        // Set before the fork: every worker inherits it, and whichever takes task `crash` dies.
        crate::worker::DIE_TAKING.store(crash + 1, Ordering::SeqCst);
    }
    let pool = Pool::with_options(tasks, settings.options(workers))?;

    out::say(format!(
        "{} tasks on {workers} workers; task {crash} will crash ({kind:?})",
        a.tasks
    ));
    let outcomes: Outcomes = Rc::new(RefCell::new(vec![None; a.tasks as usize]));
    let record = |i: u64| {
        let (ok, err) = (outcomes.clone(), outcomes.clone());
        (
            move |v: u64| {
                out::event(
                    "task_done",
                    json!({"task": i, "result": v}),
                    format!("callback: task {i} -> {v}"),
                );
                ok.borrow_mut()[i as usize] = Some(Ok(v));
            },
            move |e: TaskError| {
                out::event(
                    "task_failed",
                    json!({"task": i, "cause": e.to_string(), "kind": e.kind()}),
                    format!("error_callback: task {i} failed: {e}"),
                );
                err.borrow_mut()[i as usize] = Some(Err(e));
            },
        )
    };
    let mut handles = Vec::new();
    let mut big_handle = None;
    for i in 0..u64::from(a.tasks) {
        let (ok, err) = record(i);
        #[cfg(feature = "fault-injection")]
        if i == crash && kind == Kind::TakeBig {
            let arg = (i, Bytes(vec![7; 20 << 20]));
            handles.push(pool.apply_async_with(&big_arg, arg, ok, err));
            continue;
        }
        if i == crash && kind == Kind::Truncate {
            big_handle =
                Some(pool.apply_async_with(&big, i, move |b: Bytes| ok(b.0.len() as u64), err));
        } else {
            handles.push(pool.apply_async_with(&work, i, ok, err));
        }
    }

    let mut limit_hit = false;
    if kind == Kind::External {
        let h = &handles[crash as usize];
        if !h.wait(Some(Duration::from_secs(u64::from(a.wait_limit)))) {
            limit_hit = true;
            out::event(
                "wait_limit",
                json!({"task": crash, "seconds": a.wait_limit}),
                format!(
                    "nobody killed task {crash}'s worker within {} s: terminating the pool",
                    a.wait_limit
                ),
            );
            pool.terminate();
        }
    }
    pool.close();
    pool.join()?;
    if let Some(k) = killer.as_mut() {
        // It has sent its signal and is exiting; never wait on it unbounded all the same.
        if k.join_timeout(Duration::from_secs(5))?.is_none() {
            k.kill()?;
            k.join()?;
        }
    }
    drop(big_handle);
    drop(handles);
    settings.show_timeline(&pool);

    let outcomes = outcomes.borrow();
    let mut completed = Vec::new();
    let mut failed = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        match o {
            Some(Ok(v)) => completed.push((i as u64, *v)),
            Some(Err(e)) => {
                failed.push(json!({"task": i, "cause": e.to_string(), "kind": e.kind()}))
            }
            None => failed.push(json!({"task": i, "cause": "no outcome", "kind": "lost"})),
        }
    }
    let stats = pool.stats();
    out::say(format!(
        "{} tasks completed; failed: {}; workers replaced: {}. (Python's Pool would still be \
         waiting at get() for the task whose worker died.)",
        completed.len(),
        if failed.is_empty() {
            "none".to_string()
        } else {
            failed
                .iter()
                .map(|f| format!("task {} ({})", f["task"], f["kind"].as_str().unwrap_or("?")))
                .collect::<Vec<_>>()
                .join(", ")
        },
        stats.workers_replaced
    ));
    out::summary(json!({
        "tasks": a.tasks,
        "workers": workers,
        "crash_task": crash,
        "crash_kind": format!("{kind:?}").to_lowercase(),
        "completed": completed.len(),
        "failed": failed,
        "workers_replaced": stats.workers_replaced,
        "workers_died": stats.workers_died,
        "results": completed.iter().map(|&(i, v)| json!([i, v])).collect::<Vec<_>>(),
    }));

    // The demo's own invariants: every task has an outcome, the right values, and only the
    // crashing task failed.
    for &(i, v) in &completed {
        let expect = if i == crash && kind == Kind::Truncate {
            BIG as u64
        } else {
            i * i
        };
        if v != expect {
            return Err(anyhow!("task {i} returned {v}, expected {expect}"));
        }
    }
    let only_crash = failed.len() == 1 && failed[0]["task"] == crash;
    if !only_crash && !limit_hit {
        return Err(anyhow!(
            "expected exactly task {crash} to fail, got {} failures: {failed:?}",
            failed.len()
        ));
    }
    match failed.first() {
        Some(f) => Err(anyhow!(
            "task {} failed: {}",
            f["task"],
            f["cause"].as_str().unwrap_or("?")
        )),
        None => Ok(()),
    }
}
