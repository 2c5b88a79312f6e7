//! # `pool`: a process pool that never hangs (note 000 进程池, points 1-3 and 5-8; note 004 同步与异步)
//!
//! Reproduces `000_37375f4097d3e74d.txt`, the **进程池** part: why a pool (1-3: creating and
//! destroying a process per event is expensive; keep a few and reuse them, like hangers in a
//! wardrobe), how it works (5: a fixed set of processes, each taking the next event when done,
//! all destroyed together at the end), where the task function must be defined (6: above
//! `pool = Pool()`) and why `join` matters, **同步执行 / 异步执行** (7), and the API (8: `apply`,
//! `apply_async`, `map`); and from `004_e9825b7d42d322ab.txt`, **同步与异步** (`apply` and
//! `submit(...).result()` wait; `apply_async` and `submit` return a handle at once and report
//! completion by notification or callback, not by the caller checking a status in a loop).
//!
//! The Python shape (runs as written):
//!
//! ```python
//! import time
//! from multiprocessing import Pool
//!
//! def work(i):                      # defined ABOVE Pool(): see registry.rs
//!     time.sleep(0.1); return i * i
//!
//! if __name__ == "__main__":
//!     pool = Pool(2)                                # fork 2 workers, once
//!     r = pool.apply_async(work, (3,), callback=print, error_callback=print)
//!     print(pool.apply(work, (3,)))                 # waits; 9
//!     print(pool.map(work, range(10)))              # [0, 1, 4, ...] in input order, in chunks
//!     print(r.get(timeout=5))
//!     pool.close(); pool.join()                     # no more tasks; wait for the workers to end
//! ```
//!
//! Here: `let mut tasks = Tasks::new(); let work = tasks.register("work", |i: u64| i * i);`
//! then `let pool = Pool::new(tasks, 4)?;`, `pool.apply(&work, 3)?`, `pool.apply_async(&work, 3)`
//! (an [`AsyncResult`] with `get`, `get_timeout`, `ready`), `pool.apply_async_with(.., callback,
//! error_callback)`, `pool.map(&work, &items)?`, `pool.imap_unordered(..)`, `pool.submit(..)`
//! (the same handle, also answering to concurrent.futures' `result`, `done`,
//! `add_done_callback`), [`as_completed`], `close`, `join`, `terminate`, and
//! [`Options::max_tasks_per_child`].
//!
//! What the OS does underneath, built from the members before this one as CPython builds
//! `Pool` from `Process` and queues:
//! - `Pool::new` **forks** the workers (through `common::spawn`, the `process` member's fork)
//!   and that is the only time it forks, unless a worker dies or retires. Each worker is a copy
//!   of the parent at that moment, which is why the task functions must already be registered
//!   ([`registry`]).
//! - **One task queue** that every worker takes from and **one result queue** that every worker
//!   puts on: the `queue` member's `Queue`, a ring in `MAP_SHARED` memory with futex wake-ups
//!   (`pool.rs` says why not a pipe and a lock, as CPython). Values travel as bytes
//!   ([`codec`]), in parts of at most 16 KiB ([`worker`]).
//! - Each worker notes the task it runs in **its own slot** of shared memory
//!   (`slot.running_task`), so a death tells which task died with it.
//! - The parent has no helper thread. When it waits (`get`, `map`, `join`) it sleeps in
//!   **`poll(2)` on every worker's pidfd plus a doorbell pipe**: a result wakes it, and so does a
//!   worker's death, whatever the cause. The dead worker's task fails with the cause (signal,
//!   exit code, panic message, or a result cut short), and a replacement is forked.
//!
//! One task's journey, in three files: [`Pool::apply_async`] (`pool.rs`) puts it on the task
//! queue; [`worker::main`] (`worker.rs`) takes it, runs it and puts the result; [`AsyncResult::get`]
//! (`result.rs`) waits in the pool's loop (back in `pool.rs`: `step`, `collect`, `deliver`)
//! until the result is read, then decodes it.
//!
//! | subcommand | file | shows |
//! |---|---|---|
//! | `basic` (default) | [`basic`] | more `apply_async` tasks than workers; the parent goes away and they complete meanwhile; the same few pids run them all; when callbacks run; close + join |
//! | `sync-vs-async` | [`sync_vs_async`] | `apply` waits for each task (total = sum), `apply_async` overlaps them (total = sum / workers); `get(timeout)` |
//! | `edges` | [`edges`] | Python's words beside ours: leaving without `close()`/`join()`, a task function defined after `Pool()`, `join()` before `close()` |
//! | `map` | [`map_demo`] | `map` keeps input order whatever the completion order; the chunk size; `imap_unordered` |
//! | `reuse` | [`reuse`] | N tasks on K workers use at most K pids; a process per task uses N; the cost of each |
//! | `futures` | [`futures_demo`] | `submit(..).result()`, `as_completed`, `add_done_callback`: notification, not polling; then [`thread_pool`]'s `ThreadPoolExecutor`: same pid, callbacks on worker threads |
//! | `crash` | [`crash`] | a worker panics / aborts / is killed / exits / dies mid-result: only its task fails, it is replaced |
//! | `--timeline` | [`timeline`] | an ASCII chart, one lane per worker, of which task ran when |
//! | `basic --svg FILE` | [`chart`] | the same as an SVG chart (plotters): a lane per worker, a bar per task, the parent's absence |
//! | `--trace FILE` | `common::trace` | a Perfetto trace: a track per worker process, a slice per task (`worker.rs`), an arrow from each submission (`pool.rs`) to the task's start and from its result back to the parent, the parent's waits |
//!
//! ## 笔记勘误 (where the notes are wrong or imprecise)
//! - *Point 8: "pool.apply(...) 同步执行, 没有返回值"*: `apply` **returns the function's return
//!   value**; it is a plain call that happens to run in another process. What it lacks is
//!   concurrency: the caller waits, so a loop of `apply` uses one worker at a time.
//! - *Point 8: "apply_async ... 返回值为进程对象"*: it returns an **`AsyncResult`**, a handle to
//!   the value that will exist later (`get`, `ready`, `wait`), not a process object. The pool's
//!   processes are never handed out.
//! - *Point 8: "pool.map: 进程个数由可迭代对象决定, 依次2个2个放入进程池"*: the number of
//!   processes is fixed by `Pool(processes)` (default: the CPU count), not by the iterable.
//!   `map` cuts the iterable into chunks of `chunksize = ceil(len / (4 * workers))`; "two by two"
//!   is just what 10 items on 2 workers give (ceil(10 / 8) = 2). `map --items 100` shows 13.
//! - *Point 6: "函数通常放在 pool=Pool() 的上面"*: not a habit but a requirement, and the reason is
//!   fork: workers are copies of the parent at `Pool()`, and Python sends a function *by name*,
//!   which must exist in the worker's copy (see [`registry`]).
//! - *Point 6: "去掉 pool.join() 后主进程结束那么进程池也会结束"*: true, and worse: leaving the
//!   `with Pool()` block or exiting *terminates* the workers, so queued tasks never run. And
//!   `join()` is only allowed after `close()` (or `terminate()`); Python raises `ValueError`
//!   otherwise. This pool refuses the same way.
//! - *Not in the notes, but every pool user meets it*: when a worker dies mid-task (SIGKILL,
//!   segfault, `os._exit`), Python's `multiprocessing.Pool` replaces the worker but never
//!   completes that task: `get()` without a timeout **waits forever**. This pool fails that one
//!   task with the cause and finishes the rest (`crash`).

pub mod basic;
pub mod chart;
pub mod codec;
pub mod crash;
pub mod crawl;
pub mod edges;
pub mod error;
pub mod futures_demo;
pub mod map_demo;
pub mod pool;
pub mod registry;
pub mod result;
pub mod reuse;
pub mod sync_vs_async;
pub mod thread_pool;
pub mod timeline;
pub mod worker;

pub use codec::{Bytes, Json, Value};
pub use error::TaskError;
pub use pool::{cpu_count, default_chunksize, Options, Pool, Stats, MAX_WORKERS};
pub use registry::{Task, Tasks};
pub use result::{as_completed, AsyncResult};

use anyhow::Result;
use clap::{Parser, Subcommand};
use common::cli::CommonArgs;
use common::{json, out, trace};

/// Most tasks a demo run may submit (`--tasks`).
pub const MAX_TASKS: u32 = 1000;
/// Most items `map` may map (`--items`).
pub const MAX_ITEMS: u32 = 10_000_000;

/// A process pool that never hangs (note 000 进程池; note 004 同步与异步).
#[derive(Parser, Debug)]
#[command(name = "pool", version, about, long_about = None,
          after_help = "Without a subcommand: basic.")]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    /// Worker processes (1..=64; default: the CPU count, like Python's `Pool()`).
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_WORKERS as i64))]
    pub workers: Option<u32>,
    /// Draw an ASCII chart of which task ran when, one lane per worker process.
    #[arg(long, global = true)]
    pub timeline: bool,
    /// Write a trace of the run to FILE (Chrome Trace Event Format: open it in Perfetto UI,
    /// `vizviewer FILE`, or chrome://tracing): a track per worker process, a slice per task,
    /// an arrow from each submission to the task's start and from its result back.
    #[arg(long, global = true, value_name = "FILE")]
    pub trace: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// One subcommand per point of the notes.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// The notes' usage: apply_async more tasks than workers, callbacks, close, join (default).
    Basic(basic::Args),
    /// The same sleeping tasks with apply (one after another) and apply_async (overlapping).
    SyncVsAsync(sync_vs_async::Args),
    /// Python's edges, Python's words beside ours: leaving without close/join, a function
    /// defined after Pool(), join() before close().
    Edges(edges::Args),
    /// map: results in input order, sent in chunks; imap_unordered: as they complete.
    Map(map_demo::Args),
    /// N tasks on K reused workers vs a new process per task: pids and cost.
    Reuse(reuse::Args),
    /// concurrent.futures style: submit -> result, as_completed, add_done_callback.
    Futures(futures_demo::Args),
    /// A worker dies mid-task (panic, abort, kill, exit, truncate, external): only its task fails.
    Crash(crash::Args),
    /// A crawler: fetch pages from a slow local server serially, with the process pool, threads, an event loop.
    Crawl(crawl::Args),
}

/// The pool flags every demo shares (`--workers`, `--timeline`).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `--workers`, or the CPU count.
    pub workers: usize,
    /// `--timeline` was given.
    pub timeline: bool,
}

impl Settings {
    /// Pool options for a demo: events on, timeline as asked.
    pub fn options(&self, workers: usize) -> Options {
        let mut o = Options::new(workers);
        o.timeline = self.timeline;
        o.events = true;
        o
    }

    /// Print the timeline chart if `--timeline` was given.
    pub fn show_timeline(&self, pool: &Pool) {
        if !self.timeline {
            return;
        }
        let spans = pool.spans();
        let chart = timeline::render(&spans, 60);
        out::event(
            "timeline",
            json!({"lanes": timeline::lanes(&spans), "spans": spans, "chart": chart}),
            chart.join("\n"),
        );
    }
}

/// Run the chosen subcommand.
pub fn run(cli: Cli) -> Result<()> {
    let settings = Settings {
        workers: cli.workers.map_or_else(cpu_count, |w| w as usize),
        timeline: cli.timeline,
    };
    // --trace: opened before the pool forks, so every worker inherits the file and appends
    // its own events (see `common::trace`). A path that cannot be written is a usage error
    // here, before anything is forked.
    if let Some(path) = &cli.trace {
        trace::begin(path)?;
        // Its one thread submits, waits and runs the callbacks.
        trace::thread_name(trace::this_thread(), "parent");
    }
    let outcome = dispatch(cli.cmd, cli.workers, settings);
    // Every subcommand has joined or terminated its pool (and reaped its other children) by
    // the time it returns, so every process has written its last event: the file is complete,
    // even when the demo failed (a crash run's trace is the interesting one).
    let written = trace::finish();
    outcome.and(written)
}

fn dispatch(cmd: Option<Cmd>, workers: Option<u32>, settings: Settings) -> Result<()> {
    match cmd.unwrap_or(Cmd::Basic(basic::Args::default())) {
        Cmd::Basic(a) => basic::run(&a, &settings),
        Cmd::SyncVsAsync(a) => sync_vs_async::run(&a, &settings),
        Cmd::Edges(a) => edges::run(&a, &settings),
        Cmd::Map(a) => map_demo::run(&a, &settings),
        Cmd::Reuse(a) => reuse::run(&a, &settings),
        Cmd::Futures(a) => futures_demo::run(&a, &settings),
        Cmd::Crash(a) => crash::run(&a, &settings),
        Cmd::Crawl(a) => crawl::run(&a, workers, &settings),
    }
}
