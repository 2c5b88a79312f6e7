//! # `prodcons`: producers and consumers decoupled by a bounded blocking queue (note 004)
//!
//! Reproduces the point **生产者消费者** of note `004_e9825b7d42d322ab.txt`: two kinds of roles,
//! producers (生产数据的任务) and consumers (处理数据的任务), that never talk to each other; they
//! only talk to a **blocking queue** (阻塞队列) between them, which acts as a buffer (缓冲区),
//! evens out their speeds (平衡速度差) and decouples them (解耦): `生产者 <---> 队列 <---> 消费者`.
//!
//! The Python shape:
//!
//! ```text
//! from multiprocessing import Process, Queue        # or threading.Thread + queue.Queue
//! q = Queue(maxsize=4)                               # bounded: put blocks while full
//! def producer(n):
//!     for i in range(items): time.sleep(random...); q.put((n, i))
//! def consumer():
//!     while True:
//!         item = q.get()                             # blocks while empty
//!         if item is None: break                     # the sentinel: "no more items"
//!         time.sleep(random...)
//! ps = [Process(target=producer, args=(n,)) for n in range(P)]
//! cs = [Process(target=consumer) for _ in range(C)]
//! for x in ps + cs: x.start()
//! for p in ps: p.join()
//! for _ in cs: q.put(None)                           # one sentinel per consumer
//! for c in cs: c.join()
//! ```
//!
//! What the OS really does: a blocking `put` on a full queue, or `get` on an empty one, puts the
//! caller to sleep **in the kernel** (a futex wait) until the other side changes the queue and
//! wakes it; the sleeper uses no CPU. With threads (`--mode threads`) the queue is ours, a
//! `Mutex` + `Condvar` pair per end ([`bounded`]); with processes (`--mode processes`) it is the
//! `queue` member's cross-process queue, whose lock and conditions live in `MAP_SHARED` memory so
//! that forked children share them. The roles ([`roles`]) are the same code in both modes.
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
//! | `backpressure` (default, phase 1) | [`roles`], [`bounded`] | a full buffer: `put` sleeps on `not_full` until a `get` frees a slot |
//! | `starved` (default, phase 2) | [`roles`], [`bounded`] | an empty buffer: `get` sleeps on `not_empty` until a `put` |
//! | `run` | [`roles`] | any numbers of producers and consumers, any speeds and capacity |
//! | `--mode threads` | [`threads`], [`bounded`] | roles as threads on a two-lock queue (Mutex + Condvar per end); a panic caught per thread |
//! | `--mode processes` | [`processes`] | roles as forked children on the `queue` member's `MAP_SHARED` ring; panics reported by `common::child` |
//! | (every run) | [`ledger`] | the self-checks: exactly once, order per producer, max occupancy, blocked time |
//! | `--timeline`, the bars | [`timeline`] | occupancy over time, with blocked producers and waiting consumers |
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

pub mod bounded;
pub mod ledger;
pub mod processes;
pub mod roles;
pub mod threads;
pub mod timeline;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand, ValueEnum};
use common::cli::CommonArgs;
use common::{json, out};

use ledger::{Ledger, Side, Verdict};
use roles::{Books, Buffer, Spec};
use timeline::Timeline;

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
    /// Threads with our Mutex+Condvar queue, or forked processes with the cross-process queue.
    #[arg(long, global = true, value_enum, default_value_t = Mode::Threads)]
    pub mode: Mode,
    /// After each run, draw the buffer's occupancy over time with blocked producers/consumers.
    #[arg(long, global = true)]
    pub timeline: bool,
    /// No line per put and get (for big runs); the checks and the summary stay.
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Test hook: make one role panic. `producer:N:K` panics before putting its item K (0-based);
    /// `consumer:N:0` before its first get, `consumer:N:K` right after its K-th get, item in hand.
    #[arg(long, global = true, hide = true, value_name = "ROLE:N:K", value_parser = parse_inject)]
    pub inject_panic: Option<Inject>,
    /// Test hook (`--mode processes`): producer N is SIGKILLed in the middle of putting its item
    /// K (0-based), after claiming a slot of the queue and before publishing it.
    #[arg(long, global = true, hide = true, value_name = "N:K", value_parser = parse_kill_mid_put)]
    pub inject_kill_mid_put: Option<(u32, u32)>,
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
    /// Threads of one process; the buffer is `bounded::BoundedQueue`.
    Threads,
    /// Forked child processes; the buffer is the `queue` member's cross-process queue.
    Processes,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Threads => "threads",
            Mode::Processes => "processes",
        }
    }
}

/// One item: producer `producer` (0-based)'s item number `seq`. Printed `p.seq` with p 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// Who made it (0-based).
    pub producer: u32,
    /// Its place in that producer's stream (0-based).
    pub seq: u32,
}

impl Item {
    /// Size of an item on the cross-process queue.
    pub const BYTES: usize = 8;

    /// Little-endian `producer`, then `seq`: what goes through the cross-process queue.
    pub fn to_bytes(self) -> [u8; Self::BYTES] {
        let mut b = [0u8; Self::BYTES];
        b[..4].copy_from_slice(&self.producer.to_le_bytes());
        b[4..].copy_from_slice(&self.seq.to_le_bytes());
        b
    }

    /// The inverse of [`to_bytes`](Self::to_bytes); `None` for a message of the wrong size.
    pub fn from_bytes(b: &[u8]) -> Option<Item> {
        let b: &[u8; Self::BYTES] = b.try_into().ok()?;
        Some(Item {
            producer: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            seq: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

/// A panic to inject (hidden `--inject-panic`), to test that a dying role is reported and the
/// others finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inject {
    /// Which side.
    pub side: Side,
    /// Which one, 1-based.
    pub index: u32,
    /// Producer: items put before the panic. Consumer: items got before it (0 = before any get).
    pub after: u32,
}

fn parse_kill_mid_put(s: &str) -> Result<(u32, u32), String> {
    let (n, k) = s.split_once(':').ok_or("expected N:K")?;
    let n: u32 = n.parse().map_err(|_| "N must be a number")?;
    let k: u32 = k.parse().map_err(|_| "K must be a number")?;
    if n == 0 {
        return Err("N counts from 1".into());
    }
    Ok((n, k))
}

fn parse_inject(s: &str) -> Result<Inject, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let side = match parts.first() {
        Some(&"producer") => Side::Producer,
        Some(&"consumer") => Side::Consumer,
        _ => return Err("expected producer:N:K or consumer:N:K".into()),
    };
    let num = |i: usize| -> Result<u32, String> {
        parts
            .get(i)
            .ok_or("expected ROLE:N:K")?
            .parse::<u32>()
            .map_err(|_| "N and K must be numbers".to_string())
    };
    if parts.len() != 3 {
        return Err("expected ROLE:N:K".into());
    }
    let (index, after) = (num(1)?, num(2)?);
    if index == 0 {
        return Err("N counts from 1".into());
    }
    Ok(Inject { side, index, after })
}

/// How one producer or consumer ended.
#[derive(Debug, Clone)]
pub struct Ending {
    /// Producer or consumer.
    pub side: Side,
    /// 0-based.
    pub index: u32,
    /// The child's pid (process mode).
    pub pid: Option<i32>,
    /// What happened.
    pub outcome: Outcome,
}

/// The end of a role.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Finished; items put or got.
    Done(u32),
    /// Returned an error.
    Failed(String),
    /// Panicked (message and place).
    Panicked(String),
}

impl Ending {
    /// A normal end after `n` items.
    pub fn ok(side: Side, index: u32, n: u32) -> Ending {
        Ending {
            side,
            index,
            pid: None,
            outcome: Outcome::Done(n),
        }
    }
    /// An error.
    pub fn failed(side: Side, index: u32, why: String) -> Ending {
        Ending {
            side,
            index,
            pid: None,
            outcome: Outcome::Failed(why),
        }
    }
    /// A panic.
    pub fn panicked(side: Side, index: u32, msg: String) -> Ending {
        Ending {
            side,
            index,
            pid: None,
            outcome: Outcome::Panicked(msg),
        }
    }

    fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Done(_))
    }

    fn who(&self) -> String {
        let pid = self.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        format!("{} {}{pid}", self.side.name(), self.index + 1)
    }

    /// Print how it ended: one event per role.
    pub fn report(&self) {
        let mut fields = serde_json::Map::new();
        fields.insert("role".into(), json!(self.side.name()));
        fields.insert("index".into(), json!(self.index + 1));
        if let Some(pid) = self.pid {
            fields.insert("child_pid".into(), json!(pid));
        }
        match &self.outcome {
            Outcome::Done(n) => {
                fields.insert("items".into(), json!(n));
                let what = match self.side {
                    Side::Producer => format!("done: put {n} items"),
                    Side::Consumer => format!("done: got {n} items; the queue is closed and empty"),
                };
                out::event(
                    "done",
                    fields.into(),
                    format!("{}{} {what}", self.side.letter(), self.index + 1),
                );
            }
            Outcome::Failed(why) | Outcome::Panicked(why) => {
                let (name, verb) = match self.outcome {
                    Outcome::Panicked(_) => ("panicked", "panicked"),
                    _ => ("failed", "failed"),
                };
                fields.insert("message".into(), json!(why));
                out::event(
                    name,
                    fields.into(),
                    format!("!! {} {verb}: {why}. The others go on.", self.who()),
                );
            }
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let (status, message) = match &self.outcome {
            Outcome::Done(_) => ("done", None),
            Outcome::Failed(m) => ("failed", Some(m.clone())),
            Outcome::Panicked(m) => ("panicked", Some(m.clone())),
        };
        json!({"role": self.side.name(), "index": self.index + 1, "pid": self.pid,
               "status": status, "message": message})
    }
}

/// Close the buffer, saying why. Called once per run by whoever watches the roles.
pub(crate) fn close(buf: &dyn Buffer, no_consumer_left: bool) {
    let (reason, prose) = if no_consumer_left {
        (
            "no_consumer_left",
            "-- no consumer is left: close the queue, so no producer waits forever on a full buffer",
        )
    } else {
        (
            "producers_done",
            "-- every producer is done: close the queue; consumers drain it, then stop",
        )
    };
    out::event("closed", json!({"reason": reason}), prose);
    buf.close();
}

/// The two phases of the default run (or the one run the flags describe).
fn specs(cli: &Cli) -> Result<Vec<(&'static str, Spec)>> {
    let base = Spec {
        phase: 0,
        producers: cli.producers.unwrap_or(1),
        consumers: cli.consumers.unwrap_or(1),
        items: cli.items.unwrap_or(10),
        capacity: cli.capacity.unwrap_or(4) as usize,
        produce_ms: FAST_MS,
        consume_ms: SLOW_MS,
        verbose: !cli.quiet,
        inject: cli.inject_panic,
        kill_mid_put: cli.inject_kill_mid_put,
    };
    if let Some((n, k)) = cli.inject_kill_mid_put {
        let v = format!("{n}:{k}");
        if cli.mode != Mode::Processes {
            return Err(common::cli::usage(
                "--inject-kill-mid-put",
                v,
                "only with --mode processes (a thread cannot be killed alone)",
            ));
        }
        if n > base.producers || k >= base.items {
            return Err(common::cli::usage(
                "--inject-kill-mid-put",
                v,
                format!(
                    "N must be at most {} and K below {}",
                    base.producers, base.items
                ),
            ));
        }
    }
    if let Some(i) = cli.inject_panic {
        let (count, flag) = match i.side {
            Side::Producer => (base.producers, "producers"),
            Side::Consumer => (base.consumers, "consumers"),
        };
        let v = format!("{}:{}:{}", i.side.name(), i.index, i.after);
        if i.index > count {
            return Err(common::cli::usage(
                "--inject-panic",
                v,
                format!("there are only {count} {flag}"),
            ));
        }
        let most = match i.side {
            Side::Producer => base.items - 1,
            Side::Consumer => base.items * base.producers,
        };
        if i.after > most {
            return Err(common::cli::usage(
                "--inject-panic",
                v,
                format!("K must be at most {most}"),
            ));
        }
    }
    // Each run's own speeds, unless the flags say otherwise.
    let phase = |phase: u32, name: &'static str, produce: u64, consume: u64| {
        let spec = Spec {
            phase,
            produce_ms: cli.produce_ms.unwrap_or(produce),
            consume_ms: cli.consume_ms.unwrap_or(consume),
            ..base.clone()
        };
        (name, spec)
    };
    Ok(match cli.cmd {
        None => vec![
            phase(0, "backpressure", FAST_MS, SLOW_MS),
            phase(1, "starved", SLOW_MS, FAST_MS),
        ],
        Some(Cmd::Backpressure) => vec![phase(0, "backpressure", FAST_MS, SLOW_MS)],
        Some(Cmd::Starved) => vec![phase(0, "starved", SLOW_MS, FAST_MS)],
        Some(Cmd::Run) => vec![phase(0, "run", FAST_MS, FAST_MS)],
    })
}

/// What one phase found.
struct PhaseResult {
    name: &'static str,
    spec: Spec,
    verdict: Verdict,
    endings: Vec<Ending>,
    problems: Vec<String>,
}

fn run_phase(
    name: &'static str,
    spec: Spec,
    mode: Mode,
    show_timeline: bool,
) -> Result<PhaseResult> {
    let total = spec.producers as usize * spec.items as usize;
    let ledger = Ledger::new(spec.producers, spec.consumers, spec.items)?;
    let timeline = Timeline::new(total.saturating_mul(6).saturating_add(4))?;
    let books = Books {
        ledger: &ledger,
        timeline: &timeline,
    };
    timeline.record(0, 0, 0);
    let (endings, left) = match mode {
        Mode::Threads => threads::run(&spec, books)?,
        Mode::Processes => processes::run(&spec, books)?,
    };
    timeline.record(0, 0, 0);
    let verdict = ledger.verdict(&left);
    let complete = endings.iter().all(Ending::is_ok);
    let problems = verdict.problems(spec.capacity as u64, total as u64, complete);
    if !left.is_empty() {
        out::event(
            "undelivered",
            json!({"items": left.len()}),
            format!(
                "{} item(s) were still in the queue: no consumer was left to take them",
                left.len()
            ),
        );
    }
    if show_timeline {
        timeline.show(spec.capacity);
    }
    let v = &verdict;
    out::say(format!(
        "=> {} put, {} got; lost {}, duplicated {}, in order per producer: {}; buffer at most {}/{}; \
producers blocked {:.0} ms, consumers waited {:.0} ms (in total)",
        v.produced,
        v.consumed,
        v.lost,
        v.duplicated,
        if v.per_producer_fifo { "yes" } else { "NO" },
        v.max_occupancy,
        spec.capacity,
        v.producer_blocked_ms,
        v.consumer_blocked_ms
    ));
    Ok(PhaseResult {
        name,
        spec,
        verdict,
        endings,
        problems,
    })
}

fn intro(name: &str, (k, of): (usize, usize), spec: &Spec, mode: Mode) {
    let shape = format!(
        "{} producer(s) x {} items, {} consumer(s), a buffer of {} ({}), making ~{} ms/item, handling ~{} ms/item",
        spec.producers,
        spec.items,
        spec.consumers,
        spec.capacity,
        mode.name(),
        spec.produce_ms,
        spec.consume_ms
    );
    // Items per ms: producers / produce_ms against consumers / consume_ms, cross-multiplied.
    let supply = u64::from(spec.producers) * spec.consume_ms;
    let demand = u64::from(spec.consumers) * spec.produce_ms;
    let lesson = match supply.cmp(&demand) {
        std::cmp::Ordering::Greater => {
            "Producers are faster than consumers: the buffer fills up, then every put \
blocks until a consumer frees a slot (backpressure), which holds producers to the consumers' pace."
        }
        std::cmp::Ordering::Less => {
            "Consumers are faster than producers: the buffer stays (nearly) empty and \
consumers block in get until the next item arrives."
        }
        std::cmp::Ordering::Equal => {
            "Both sides keep the same average pace: the buffer absorbs the jitter, \
with short waits on both sides."
        }
    };
    let title = if of > 1 {
        format!("Phase {k} of {of}, {name}. ")
    } else {
        format!("{name}: ")
    };
    out::event(
        "phase",
        json!({"name": name, "producers": spec.producers, "consumers": spec.consumers, "items": spec.items,
               "capacity": spec.capacity, "produce_ms": spec.produce_ms, "consume_ms": spec.consume_ms,
               "mode": mode.name()}),
        format!("\n{title}{lesson}\n({shape})"),
    );
}

/// Run the demo.
pub fn run(cli: Cli) -> Result<()> {
    // Every usage check happens here, before any thread or process starts.
    let specs = specs(&cli)?;
    out::say(
        "生产者 <--> 队列 <--> 消费者: producers and consumers never talk to each other, only to a bounded \
blocking queue. `P1 put 1.3` = producer 1 put its item 3; the bar is the buffer right after that \
call. Each line is printed just after its call returns, so lines of different roles may appear a \
little out of order.",
    );
    let mut results = Vec::new();
    let of = specs.len();
    for (k, (name, spec)) in specs.into_iter().enumerate() {
        intro(name, (k + 1, of), &spec, cli.mode);
        results.push(run_phase(name, spec, cli.mode, cli.timeline)?);
    }

    // Totals over the phases (one phase unless it is the default run).
    let sum = |f: fn(&Verdict) -> u64| results.iter().map(|r| f(&r.verdict)).sum::<u64>();
    let sumf = |f: fn(&Verdict) -> f64| {
        (results.iter().map(|r| f(&r.verdict)).sum::<f64>() * 1000.0).round() / 1000.0
    };
    let first = &results[0].spec;
    let failed: Vec<&Ending> = results
        .iter()
        .flat_map(|r| &r.endings)
        .filter(|e| !e.is_ok())
        .collect();
    let problems: Vec<String> = results
        .iter()
        .flat_map(|r| r.problems.iter().map(move |p| format!("{}: {p}", r.name)))
        .collect();
    let phases: Vec<_> = results
        .iter()
        .map(|r| {
            json!({"name": r.name, "produce_ms": r.spec.produce_ms, "consume_ms": r.spec.consume_ms,
                   "result": r.verdict, "problems": r.problems,
                   "roles": r.endings.iter().map(Ending::to_json).collect::<Vec<_>>()})
        })
        .collect();
    out::summary(json!({
        "mode": cli.mode.name(),
        "producers": first.producers,
        "consumers": first.consumers,
        "items": first.items,
        "capacity": first.capacity,
        "produced": sum(|v| v.produced),
        "consumed": sum(|v| v.consumed),
        "lost": sum(|v| v.lost),
        "duplicated": sum(|v| v.duplicated),
        "unexpected": sum(|v| v.unexpected),
        "undelivered": sum(|v| v.undelivered),
        "per_producer_fifo": results.iter().all(|r| r.verdict.per_producer_fifo),
        "max_occupancy": results.iter().map(|r| r.verdict.max_occupancy).max().unwrap_or(0),
        "producer_blocked_ms": sumf(|v| v.producer_blocked_ms),
        "consumer_blocked_ms": sumf(|v| v.consumer_blocked_ms),
        "failed": failed.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
        "problems": problems,
        "phases": phases,
    }));
    // One `error:` line for everything that went wrong: who died first, then the broken checks.
    let mut errors = Vec::new();
    if let Some(e) = failed.first() {
        let why = match &e.outcome {
            Outcome::Failed(m) | Outcome::Panicked(m) => m.as_str(),
            Outcome::Done(_) => "",
        };
        let verb = if matches!(e.outcome, Outcome::Panicked(_)) {
            "panicked"
        } else {
            "failed"
        };
        let more = if failed.len() > 1 {
            format!(" (and {} more)", failed.len() - 1)
        } else {
            String::new()
        };
        errors.push(format!("{} {verb}: {why}{more}", e.who()));
    }
    if !problems.is_empty() {
        errors.push(format!("self-check failed: {}", problems.join("; ")));
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_bytes_round_trip() {
        let i = Item {
            producer: 7,
            seq: 123_456,
        };
        assert_eq!(Item::from_bytes(&i.to_bytes()), Some(i));
        assert_eq!(Item::from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn inject_parses() {
        assert_eq!(
            parse_inject("consumer:2:0"),
            Ok(Inject {
                side: Side::Consumer,
                index: 2,
                after: 0
            })
        );
        assert!(parse_inject("producer:0:1").is_err());
        assert!(parse_inject("producer:1").is_err());
        assert!(parse_inject("boss:1:1").is_err());
    }
}
