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
//! Whose ratio? The notes' "1/20" is a figure about *Python* (`multiprocessing.Process` against
//! `threading.Thread`), and ours is about Rust's fork against Rust's thread: different costs.
//! So when `python3` is on this machine the demo also runs the Python above (with
//! `--python-count` rounds each) in the same run, and prints both ratios, each labelled.
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
    /// Rounds of Python's measurement, when python3 is here (0 = skip it; 0..=500).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=500))]
    pub python_count: u32,
}

/// Python's own measurement: `threading.Thread` and `multiprocessing.Process`, start + join.
/// Prints microseconds per thread, per process, and the interpreter's version.
const PYTHON_SPAWN_COST: &str = "\
import multiprocessing, platform, threading, time
def nothing():
    pass
n = int(sys.argv[2])
for warm_up in (threading.Thread, multiprocessing.Process):
    w = warm_up(target=nothing); w.start(); w.join()
t0 = time.perf_counter()
for _ in range(n):
    t = threading.Thread(target=nothing); t.start(); t.join()
t1 = time.perf_counter()
for _ in range(n):
    p = multiprocessing.Process(target=nothing); p.start(); p.join()
t2 = time.perf_counter()
print((t1 - t0) / n * 1e6, (t2 - t1) / n * 1e6, platform.python_version())
";

/// Python's costs in µs (thread, process) and its version; `None` without python3 (or with
/// `--python-count 0`).
fn python_costs(count: u32) -> Result<Option<(f64, f64, String)>> {
    if count == 0 {
        return Ok(None);
    }
    let Some(text) = crate::python::run(PYTHON_SPAWN_COST, &[count.to_string()])? else {
        return Ok(None);
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [thread, process, version] => Ok(Some((
            thread.parse().context("python's thread cost")?,
            process.parse().context("python's process cost")?,
            (*version).to_string(),
        ))),
        _ => anyhow::bail!("python3 printed {text:?}"),
    }
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
    out::event(
        "rust_ratio",
        json!({"ratio": ratio, "whose": "Rust: fork + waitpid vs std::thread::spawn + join"}),
        format!("  that is Rust's ratio: fork + waitpid against std::thread::spawn + join, measured on this machine: {ratio:.1}x"),
    );
    // Python's own ratio, in the same run (the notes' figure is about Python).
    let python = python_costs(args.python_count)?;
    let python_json = match &python {
        Some((t_us, p_us, version)) => {
            let py_ratio = p_us / t_us.max(1e-9);
            out::event(
                "python_ratio",
                json!({"python": version, "count": args.python_count, "thread_us": t_us, "process_us": p_us, "ratio": py_ratio}),
                format!(
                    "  Python {version}'s ratio, measured on this machine in the same run ({} rounds each): multiprocessing.Process start+join {p_us:.0} µs, threading.Thread start+join {t_us:.0} µs: {py_ratio:.1}x (the notes' 1/20 is about this one)",
                    args.python_count
                ),
            );
            json!({"version": version, "count": args.python_count, "thread_us": t_us, "process_us": p_us, "ratio": py_ratio})
        }
        None => {
            let why = if args.python_count == 0 {
                "--python-count 0"
            } else {
                "no python3 on this machine"
            };
            out::event(
                "python_ratio",
                json!({"skipped": why}),
                format!("  Python's ratio: not measured ({why})"),
            );
            serde_json::Value::Null
        }
    };
    out::summary(json!({
        "python": python_json,
        "count": args.count,
        "thread_us": thread_us,
        "process_us": process_us,
        "ratio": ratio,
        "notes_ratio": NOTES_RATIO,
        "loadavg": load,
    }));
    Ok(())
}
