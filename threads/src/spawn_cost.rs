//! `spawn-cost` (note 000 point 1: a thread costs "about 1/20" of a process to create and
//! delete): measure it.
//!
//! Python:
//!
//! ```python
//! import time
//! from multiprocessing import Process
//! from threading import Thread
//!
//! def nothing(): pass
//!
//! N = 100
//! t0 = time.perf_counter()
//! for _ in range(N): t = Thread(target=nothing); t.start(); t.join()
//! t1 = time.perf_counter()
//! for _ in range(N): p = Process(target=nothing); p.start(); p.join()
//! t2 = time.perf_counter()
//! print(f"on this machine a process costs {(t2 - t1) / (t1 - t0):.0f} threads")
//! ```
//!
//! What each round costs here:
//! - a **thread**: `std::thread::spawn` maps a 2 MiB stack (mmap, plus a guard page), clones a
//!   task that shares everything else, runs the empty closure, exits (the kernel clears the
//!   tid word and wakes the joiner with a futex), and `join` unmaps the stack.
//! - a **process**: `common::spawn` makes a report pipe (pipe2), checks `/proc` that this process
//!   has one thread, forks (the kernel copies the page tables and marks every private page
//!   copy-on-write: the bigger the parent, the dearer), opens a pidfd; the child sets
//!   `PR_SET_PDEATHSIG` and exits through `_exit`, which tears down its copy of the address
//!   space; the parent reaps it with waitpid. Python's `Process.start()` costs far more again
//!   (it also pickles the target and, with "spawn" or "forkserver", starts an interpreter).
//!
//! The rounds are sequential (create, wait for the end, next), so this measures latency, not
//! throughput. The processes go first, while this process has a single thread (see the crate
//! doc). One warm-up round of each is not counted (first-time costs: page faults in new code,
//! installing the signal handlers).

use std::time::Instant;

use anyhow::{ensure, Context, Result};
use common::{json, out};

use crate::joined;

/// The notes' figure: a thread costs about 1/20 of a process.
pub const NOTES_RATIO: f64 = 20.0;

/// Flags of `spawn-cost`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many threads, and how many processes, to create and wait for (1..=2000).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=2000))]
    pub count: u32,
}

fn one_process() -> Result<()> {
    let mut c = common::spawn("empty", || Ok(()))?;
    let st = c.join()?;
    ensure!(st.success(), "an empty child {st}");
    Ok(())
}

fn one_thread() -> Result<()> {
    let h = std::thread::Builder::new()
        .spawn(|| {})
        .context("pthread_create")?;
    joined("empty", h.join())
}

/// Microseconds per round of `f`, over `count` rounds.
fn per_round(count: u32, create_and_end: impl Fn() -> Result<()>) -> Result<f64> {
    let t = Instant::now();
    for _ in 0..count {
        create_and_end()?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / f64::from(count))
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    out::say(format!(
        "create and wait for {} processes (fork + waitpid), then {} threads (spawn + join), one at a time",
        args.count, args.count
    ));
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let load = crate::warn_if_busy(cpus);
    // Processes first: no thread has been created yet.
    one_process()?;
    let process_us = per_round(args.count, one_process)?;
    out::event(
        "processes",
        json!({"count": args.count, "us_each": process_us}),
        format!("  a process: {process_us:.1} µs each (fork, run nothing, _exit, waitpid)"),
    );
    one_thread()?;
    let thread_us = per_round(args.count, one_thread)?;
    out::event(
        "threads",
        json!({"count": args.count, "us_each": thread_us}),
        format!("  a thread:  {thread_us:.1} µs each (clone, run nothing, exit, join)"),
    );
    let ratio = process_us / thread_us.max(1e-9);
    out::say(format!(
        "on this machine a process costs {ratio:.1} threads (the notes say about {NOTES_RATIO})"
    ));
    out::summary(json!({
        "count": args.count,
        "thread_us": thread_us,
        "process_us": process_us,
        "ratio": ratio,
        "notes_ratio": NOTES_RATIO,
        "loadavg": load,
    }));
    Ok(())
}
