//! # `prodcons`: producers and consumers decoupled by a bounded blocking queue (note 004)
//!
//! Reproduces the point **生产者消费者** of note `004_e9825b7d42d322ab.txt`: two kinds of roles,
//! producers (生产数据的任务) and consumers (处理数据的任务), that never talk to each other; they
//! only talk to a **blocking queue** (阻塞队列) between them, which acts as a buffer (缓冲区),
//! evens out their speeds (平衡速度差) and decouples them (解耦): `生产者 <---> 队列 <---> 消费者`.
//!
//! The Python shape (it runs as written; `Queue(maxsize=4)` is the bounded buffer):
//!
//! ```python
//! from multiprocessing import Process, Queue        # or threading.Thread + queue.Queue
//! import random, time
//!
//! def producer(q, n, items):
//!     for i in range(items):
//!         time.sleep(random.uniform(0.025, 0.075))  # make an item
//!         q.put((n, i))                              # blocks while the buffer is full
//!
//! def consumer(q):
//!     while True:
//!         item = q.get()                             # blocks while it is empty
//!         if item is None:                           # the sentinel: "no more items"
//!             break
//!         time.sleep(random.uniform(0.1, 0.3))       # handle it
//!         print("got", item)
//!
//! if __name__ == "__main__":
//!     q = Queue(maxsize=4)
//!     ps = [Process(target=producer, args=(q, n, 5)) for n in range(2)]
//!     cs = [Process(target=consumer, args=(q,)) for _ in range(2)]
//!     for x in ps + cs:
//!         x.start()
//!     for p in ps:
//!         p.join()
//!     for _ in cs:
//!         q.put(None)                                # one sentinel per consumer
//!     for c in cs:
//!         c.join()
//! ```
//!
//! What the OS really does: a blocking `put` on a full queue, or `get` on an empty one, puts the
//! caller to sleep **in the kernel** (a futex wait) until the other side changes the queue and
//! wakes it; the sleeper uses no CPU. With threads (`--mode threads`) the queue is ours, in two
//! steps: step 1 ([`monitor`], the default) is Python's `queue.Queue`, one lock and the two
//! conditions `not_full` and `not_empty`; step 2 ([`two_lock`], `--queue two-lock`) splits that
//! lock in two so producers and consumers stop fighting over it. With processes
//! (`--mode processes`) the buffer is the `queue` member's cross-process queue: a ring of slots
//! in `MAP_SHARED` memory that forked children share, with **no lock at all** (each slot carries
//! a turn number that says whether a producer or a consumer may touch it) and futex waits when
//! it is full or empty. The roles ([`roles`]) are the same code in both modes.
//!
//! Instead of a sentinel per consumer, the parent **closes** the queue once the last producer has
//! finished (or died): consumers drain what is left, then `get` reports `Closed`, whatever the
//! numbers of producers and consumers. If every consumer dies, the parent closes the queue too,
//! so a producer blocked on a full queue is released instead of waiting forever.
//!
//! Without a subcommand the demo runs two phases on a buffer of 4: `backpressure` (a fast
//! producer, a slow consumer: the buffer fills, then the producer blocks in `put`), then
//! `starved` (the reverse: the buffer stays empty and the consumer waits in `get`). Each put and
//! get prints the occupancy (`[###.] 3/4`); `--timeline` draws it over time. At the end the demo
//! checks itself: every item received exactly once, each producer's items in order, the
//! occupancy never above the capacity (exit 1 otherwise, after the summary). A producer or
//! consumer that panics is reported; the others finish.
//!
//! | subcommand | file | shows |
//! |---|---|---|
//! | `backpressure` (default, phase 1) | [`roles`], [`monitor`] | a full buffer: `put` sleeps on `not_full` until a `get` frees a slot |
//! | `starved` (default, phase 2) | [`roles`], [`monitor`] | an empty buffer: `get` sleeps on `not_empty` until a `put` |
//! | `run` | [`roles`] | any numbers of producers and consumers, any speeds and capacity |
//! | `--mode threads` (default) | [`threads`] | roles as threads; a panic caught per thread |
//! | `--queue monitor` (default), step 1 | [`monitor`] | the classic monitor: one lock, two conditions (`not_full`, `not_empty`) |
//! | `--queue two-lock`, step 2 | [`two_lock`] | a lock and a condition per end: producers and consumers no longer share a lock |
//! | `--mode processes` | [`processes`] | roles as forked children on the `queue` member's lock-free `MAP_SHARED` ring; how a child died from `common::child` |
//! | (every run) | [`ledger`] | the self-checks: exactly once, order per producer, max occupancy, blocked time |
//! | `--timeline`, the bars | [`timeline`] | occupancy over time, with blocked producers and waiting consumers |
//! | `--svg FILE` | [`chart`] | the same timeline as an SVG chart, with a lane per role: its puts or gets, its waits |
//! | `--trace FILE` | [`roles`] (`common::trace`) | a Perfetto timeline: a track per role, a slice per put and get, blocked time, the occupancy |
//! | the items | [`item`] | what a producer makes, and the 8 bytes it is between processes |
//! | the phases | [`phases`], [`summary`] | the shape the flags ask for (checked first), one phase to its verdict, the summary |
//! | the ends | [`ending`] | how each role ended; closing the queue when one side is gone |
//!
//! ## 笔记勘误 (where the notes are imprecise)
//! - *"生产者生产完数据之后不用等待消费者处理，直接扔给阻塞队列"* (the producer never waits, it
//!   just throws the item into the queue): only while there is room. The point of a **bounded**
//!   queue is that a producer that runs ahead *does* wait, in `put`, until a consumer frees a slot
//!   (phase 1 of the default run). With Python's default `Queue()` (unbounded) the producer never
//!   waits and the queue just grows, without limit, as long as the producer is faster.
//! - *"平衡了生产者和消费者的处理能力"* (the queue balances their capacities): a buffer absorbs
//!   *bursts*; it cannot make a slow side faster. Over a long run items flow at the pace of the
//!   slower side, and the faster side spends the difference blocked (see `producer_blocked_ms` /
//!   `consumer_blocked_ms`). What the buffer buys is that neither side waits for the other's
//!   every step.
//! - The notes do not say how a consumer learns that no more items will come. A `get` on an
//!   empty queue blocks forever once the producers are gone: one needs a sentinel per consumer
//!   (as above) or a way to close the queue (`queue.Queue.shutdown()` since Python 3.13;
//!   `multiprocessing.Queue.close()` is something else: it only says *this process* will put no
//!   more, and does not wake any `get`). With sentinels, a producer that crashes before its share
//!   is done is harmless, but a consumer that crashes leaves a sentinel unread and producers
//!   blocked on a full queue forever: this demo closes the queue from the parent instead.
//! - "In order": the queue is FIFO, so each producer's items leave it in the order they were put.
//!   With several consumers they are then *handled* in parallel, so a later item may be finished
//!   before an earlier one. Only the per-producer order of taking is guaranteed, never a global
//!   order across producers.

pub mod chart;
pub mod ending;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod item;
pub mod ledger;
pub mod monitor;
pub mod phases;
pub mod processes;
pub mod roles;
pub mod summary;
pub mod threads;
pub mod timeline;
pub mod two_lock;

pub use item::Item;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use common::cli::CommonArgs;
use common::{out, trace};

/// Most producers (`--producers`).
pub const MAX_PRODUCERS: u32 = 32;
/// Most consumers (`--consumers`).
pub const MAX_CONSUMERS: u32 = 32;
/// Most items per producer (`--items`).
pub const MAX_ITEMS: u32 = 100_000;
/// Largest buffer (`--capacity`).
pub const MAX_CAPACITY: u32 = 1_000;
/// The default run's fast side: mean ms per item.
pub const FAST_MS: u64 = 50;
/// The default run's slow side: mean ms per item.
pub const SLOW_MS: u64 = 200;
/// Longest mean simulated work per item (`--produce-ms`, `--consume-ms`).
pub const MAX_MS: u64 = 10_000;

/// Producers and consumers decoupled by a bounded blocking queue (note 004: 生产者消费者).
#[derive(Parser, Debug)]
#[command(
    name = "prodcons",
    version,
    about,
    long_about = None,
    after_help = "Without a subcommand: backpressure, then starved. The flags go before or after \
the subcommand; --produce-ms / --consume-ms replace the subcommand's speeds."
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    /// Producer threads or processes, 1..=32 [default: 1].
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_PRODUCERS as i64))]
    pub producers: Option<u32>,
    /// Consumer threads or processes, 1..=32 [default: 1].
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_CONSUMERS as i64))]
    pub consumers: Option<u32>,
    /// Items each producer makes, 1..=100000 [default: 10].
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_ITEMS as i64))]
    pub items: Option<u32>,
    /// Slots in the buffer, 1..=1000 [default: 4].
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_CAPACITY as i64))]
    pub capacity: Option<u32>,
    /// Mean milliseconds to make one item (jittered x0.5..1.5 from the seed), 0..=10000.
    #[arg(long, global = true, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(0..=MAX_MS))]
    pub produce_ms: Option<u64>,
    /// Mean milliseconds to handle one item (jittered x0.5..1.5 from the seed), 0..=10000.
    #[arg(long, global = true, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(0..=MAX_MS))]
    pub consume_ms: Option<u64>,
    /// Threads with our monitor queue, or forked processes with the `queue` member's queue.
    #[arg(long, global = true, value_enum, default_value_t = Mode::Threads)]
    pub mode: Mode,
    /// After each run, draw the buffer's occupancy over time with blocked producers/consumers.
    #[arg(long, global = true)]
    pub timeline: bool,
    /// No line per put and get (for big runs); the checks and the summary stay.
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Write a timeline of the run to FILE: a track per producer and consumer, a slice per put
    /// and get, blocked time, the occupancy (Chrome Trace Event Format: open it with `vizviewer
    /// FILE`, ui.perfetto.dev or chrome://tracing).
    #[arg(long, global = true, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Draw the occupancy over time, and each role's puts, gets and waits, as an SVG chart in
    /// FILE (one panel per phase).
    #[arg(long, global = true, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Threads mode's buffer: step 1, the classic monitor (one lock, two conditions), or step 2,
    /// the two-lock queue (a lock per end) [default: monitor].
    #[arg(long, global = true, value_enum)]
    pub queue: Option<QueueKind>,
    /// The hidden test hooks (only in builds with the `fault-injection` feature).
    #[cfg(feature = "fault-injection")]
    #[command(flatten)]
    pub fault: fault::FaultArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The runs: the two halves of the notes' "平衡速度差" (evening out a speed difference), and any
/// shape you choose.
#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    /// A fast producer (~50 ms/item), a slow consumer (~200 ms/item): the buffer fills, then
    /// the producer blocks in put (backpressure).
    Backpressure,
    /// A slow producer (~200 ms/item), a fast consumer (~50 ms/item): the buffer stays empty and
    /// the consumer waits in get.
    Starved,
    /// Any shape: set --producers, --consumers, --items, --capacity, --produce-ms, --consume-ms
    /// (speeds default to 50 ms/item each).
    Run,
}

/// Where the roles run.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Threads of one process; the buffer is the one --queue names (the monitor by default).
    Threads,
    /// Forked child processes; the buffer is the `queue` member's cross-process queue.
    Processes,
}

impl Mode {
    /// "threads" / "processes".
    pub fn name(self) -> &'static str {
        match self {
            Mode::Threads => "threads",
            Mode::Processes => "processes",
        }
    }
}

/// The threads-mode buffer, by step.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueKind {
    /// Step 1: one lock and two conditions, as Python's queue.Queue (prodcons/src/monitor.rs).
    #[default]
    Monitor,
    /// Step 2: a lock and a condition at each end (prodcons/src/two_lock.rs).
    TwoLock,
}

impl QueueKind {
    /// "monitor" / "two-lock", as the flag spells it.
    pub fn name(self) -> &'static str {
        match self {
            QueueKind::Monitor => "monitor",
            QueueKind::TwoLock => "two-lock",
        }
    }
}

/// Run the demo: the phases the flags ask for, then the summary.
pub fn run(cli: Cli) -> Result<()> {
    // Every usage check happens here, before any thread or process starts.
    let plan = phases::plan(&cli)?;
    let setting = phases::Setting {
        mode: cli.mode,
        queue: cli.queue.unwrap_or_default(),
        show_timeline: cli.timeline,
    };
    // --svg: fail now, with exit 2, if FILE cannot be written, not after the run.
    if let Some(path) = &cli.svg {
        std::fs::File::create(path).map_err(|e| common::cli::usage("--svg", path.display(), e))?;
    }
    // --trace: before any thread or fork, so every role writes to the same file.
    if let Some(path) = &cli.trace {
        trace::begin(path)?;
        trace::thread_name(trace::this_thread(), "main: the phases");
    }
    out::say(
        "生产者 <--> 队列 <--> 消费者: producers and consumers never talk to each other, only to a bounded \
blocking queue. `P1 put 1.3` = producer 1 put its item 3; the bar is the buffer right after that \
call. Each line is printed just after its call returns, so lines of different roles may appear a \
little out of order.",
    );
    let mut results = Vec::new();
    let of = plan.len();
    for (k, (name, spec)) in plan.into_iter().enumerate() {
        phases::intro(name, (k + 1, of), &spec, setting);
        results.push(phases::run_phase(name, spec, setting)?);
    }
    // Every role has ended (threads joined, children reaped), even one that failed or panicked:
    // the trace is complete, and written before the verdict below.
    trace::finish()?;
    if let Some(path) = &cli.svg {
        chart::write_svg(path, &results)?;
        out::event(
            "svg",
            common::json!({"file": path.display().to_string()}),
            format!("the chart is in {}", path.display()),
        );
    }
    summary::finish(&results, setting)
}
