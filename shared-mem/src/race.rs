//! `race`: N processes each add 1 to one shared counter R times, with no sleeps, in each
//! [`Mode`]. Final vs expected (`N * R`) shows the lost updates; `--schedule forced` makes them
//! certain instead of lucky.
//!
//! Python:
//!
//! ```python
//! from multiprocessing import Process, Value
//!
//! N, R = 4, 10_000
//! counter = Value('i', 0)
//!
//! def work():
//!     for _ in range(R): counter.value += 1        # or: with counter.get_lock(): counter.value += 1
//!
//! ps = [Process(target=work) for _ in range(N)]
//! for p in ps: p.start()
//! for p in ps: p.join()
//! print(counter.value, "of", N * R)
//! ```
//!
//! ## Two schedules
//! - `free` (default): the processes meet at a start [`Barrier`] (so they really overlap) and
//!   then run flat out; the scheduler decides the interleaving. How many updates unsync loses
//!   depends on the machine, the load and luck: often many on two busy cores, possibly none.
//!   The demo reports what happened; it promises nothing about unsync except that it never
//!   *gains* (every write stores some earlier value + 1, so the k-th write in the word's order
//!   stores at most k).
//! - `forced`: every round, every process **reads**, then all meet at the barrier, then each
//!   **writes** its `read + 1`, then all meet again before the next round. All of them read the
//!   same number, so whichever writes first sets it to `read + 1` and every later write stores
//!   that same `read + 1` over it: exactly N - 1 updates are lost per round, `(N-1) * R` in all,
//!   on any machine, every time. The demo prints which write overwrote which (the counter's
//!   writer tag says whose write each one replaced).
//!   In atomic and locked modes the read and the write are one indivisible step, so the barrier
//!   can only stand before it: all N then update at the same instant, as contended as it gets,
//!   and nothing is lost.
//!
//! Each process's loop is timed (from its own start to its end, on the one monotonic clock of
//! the machine), which gives the adds per second of each mode: the figure the benchmarks compare
//! with a raw process-shared mutex and a raw atomic. See also [`count`], the same loop without
//! any printing.

use std::time::Instant;

use anyhow::{ensure, Result};
use common::sync::Barrier;
use common::{json, out, Shared};

use crate::report::{join_all, ns_since, slots, Slot, Tally};
use crate::value::{Mode, Value, Write};

/// Most processes (`--processes`).
pub const MAX_PROCESSES: u32 = 64;
/// Most rounds (`--rounds`).
pub const MAX_ROUNDS: u32 = 10_000_000;
/// With `--schedule forced`, at most this many updates in all (`processes * rounds`): every
/// round costs two barrier meetings, i.e. futex sleeps and wake-ups of every process.
pub const MAX_FORCED_UPDATES: u64 = 200_000;
/// About how many per-write lines the forced schedule prints (whole rounds, at least one).
pub const SHOWN_LINES: u32 = 24;
/// How many of its overwrites each process describes in the free schedule.
pub const SHOWN_FREE: u32 = 2;

/// Who decides the interleaving.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The scheduler: processes run flat out after a common start.
    Free,
    /// Read, meet at a barrier, write: every round loses exactly N-1 updates in unsync mode.
    Forced,
}

impl Schedule {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Free => "free",
            Schedule::Forced => "forced",
        }
    }
}

/// Flags of `race`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Processes adding to the counter (at most 64).
    #[arg(long, default_value_t = 4, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_PROCESSES as i64))]
    pub processes: u32,
    /// Additions of 1 by each process (at most 10000000; with --schedule forced, processes x
    /// rounds at most 200000).
    #[arg(long, default_value_t = 10_000, value_name = "COUNT",
          value_parser = clap::value_parser!(u32).range(1..=MAX_ROUNDS as i64))]
    pub rounds: u32,
    /// How each addition is made: unsync (read then write), atomic (fetch-add) or locked.
    #[arg(long, value_enum, default_value_t = Mode::Unsync)]
    pub mode: Mode,
    /// free: the scheduler interleaves; forced: read, barrier, write (a certain loss).
    #[arg(long, value_enum, default_value_t = Schedule::Free)]
    pub schedule: Schedule,
}

/// The outcome of a race.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// `processes * rounds`.
    pub expected: i64,
    /// The counter at the end.
    pub final_value: i64,
    /// Writes that replaced a number their writer had not read.
    pub clobbers: i64,
    /// The sum of what those writes replaced beyond what they read (always `expected - final`).
    pub clobbered: i64,
    /// From the first process's start to the last one's end, in nanoseconds.
    pub span_ns: i64,
}

impl Outcome {
    /// Updates lost: `expected - final`.
    pub fn lost(&self) -> i64 {
        self.expected - self.final_value
    }
    /// Additions per second over all processes.
    pub fn adds_per_sec(&self) -> f64 {
        self.expected as f64 / (self.span_ns.max(1) as f64 / 1e9)
    }
}

/// How many rounds of the forced schedule are described line by line.
fn shown_rounds(processes: u32) -> u32 {
    (SHOWN_LINES / processes).max(1)
}

/// The loop of process `me` (1..=N): runs in the child.
#[allow(clippy::too_many_arguments)]
fn racer(
    me: u16,
    rounds: u32,
    mode: Mode,
    schedule: Schedule,
    counter: &Value,
    barrier: &Barrier,
    slot: &Slot,
    t0: Instant,
    show: Option<u32>,
) -> Result<()> {
    let mut tally = Tally::default();
    // None: print nothing (the benchmark loop). Some(k): describe the first k forced rounds.
    let quiet = show.is_none();
    let show = show.unwrap_or(0);
    // Everyone starts together, or with few rounds the first process could be done before the
    // last one exists, and nothing would overlap at all.
    barrier.wait();
    tally.start_ns = ns_since(t0);
    match schedule {
        // The atomic loop on its own: one `lock xadd` per round and nothing else, so the figure is
        // the instruction's, not our bookkeeping's. Nothing to tally per round: a fetch-add
        // has no separate read, so it can overwrite nothing (`final == expected` checks it).
        Schedule::Free if mode == Mode::Atomic => {
            for _ in 0..rounds {
                counter.add_atomic(1);
            }
            tally.sum = i64::from(rounds);
            tally.writes = i64::from(rounds);
        }
        Schedule::Free => {
            let mut described = 0;
            for _ in 0..rounds {
                let w = counter.add(mode, 1, me);
                tally.count(1, &w);
                if w.clobbered() != 0 && described < SHOWN_FREE && !quiet {
                    described += 1;
                    print_write(None, me, mode, &w);
                }
            }
        }
        Schedule::Forced => {
            for round in 1..=rounds {
                let w = match mode {
                    Mode::Unsync => {
                        let read = counter.read();
                        barrier.wait(); // everyone has read the same number before anyone writes
                        counter.write_after_read(read, 1, me)
                    }
                    // Read and write are one step: the barrier can only come before it.
                    Mode::Atomic | Mode::Locked => {
                        barrier.wait();
                        counter.add(mode, 1, me)
                    }
                };
                barrier.wait(); // every write of this round is done before the next round reads
                tally.count(1, &w);
                if round <= show {
                    print_write(Some(round), me, mode, &w);
                }
            }
        }
    }
    tally.end_ns = ns_since(t0);
    tally.publish(slot);
    Ok(())
}

fn print_write(round: Option<u32>, me: u16, mode: Mode, write: &Write) {
    let at = round.map(|r| format!("round {r}: ")).unwrap_or_default();
    let lost = write.clobbered();
    let prose = match mode {
        Mode::Atomic => format!("  {at}P{me} fetch-add: {} -> {}", write.old, write.new),
        _ if lost == 0 => format!(
            "  {at}P{me} read {}, wrote {} over the {} it had read: nothing lost",
            write.read, write.new, write.old
        ),
        _ if round.is_some() && lost == 1 && write.old == write.new => format!(
            "  {at}P{me} read {}, wrote {} over P{}'s {}: P{}'s +1 is lost",
            write.read, write.new, write.old_writer, write.old, write.old_writer
        ),
        _ if lost > 0 => format!(
            "  {at}P{me} read {}, wrote {} over {} (last written by P{}): the {lost} update(s) made \
             since P{me}'s read are overwritten",
            write.read, write.new, write.old, write.old_writer
        ),
        _ => format!(
            "  {at}P{me} read {}, wrote {} over {} (last written by P{}): a stale write had set the \
             counter {} back since P{me}'s read, and this write undoes that",
            write.read,
            write.new,
            write.old,
            write.old_writer,
            -lost
        ),
    };
    out::event(
        "write",
        json!({"round": round, "process": me, "mode": mode, "read": write.read, "old": write.old,
               "old_writer": write.old_writer, "new": write.new, "clobbered": lost}),
        prose,
    );
}

/// Check the flags that depend on each other. Called before anything is spawned.
pub fn validate(args: &Args) -> Result<()> {
    let total = u64::from(args.processes) * u64::from(args.rounds);
    if args.schedule == Schedule::Forced && total > MAX_FORCED_UPDATES {
        return Err(common::cli::usage(
            "--rounds",
            args.rounds,
            format!(
                "with --schedule forced, processes x rounds must be at most {MAX_FORCED_UPDATES} \
                 (here {} x {} = {total})",
                args.processes, args.rounds
            ),
        ));
    }
    Ok(())
}

/// Race `processes` children, `rounds` additions each, and collect the outcome. With `quiet`,
/// nothing is printed (the loop the benchmarks time).
pub fn race(
    processes: u32,
    rounds: u32,
    mode: Mode,
    schedule: Schedule,
    quiet: bool,
) -> Result<Outcome> {
    let counter = Value::new(0)?;
    let barrier = Shared::<Barrier>::new_zeroed()?;
    barrier.init(processes);
    let tallies = slots(processes as usize)?;
    let show = (!quiet).then(|| shown_rounds(processes));
    let t0 = Instant::now();
    let mut children = Vec::new();
    for i in 0..processes {
        let me = (i + 1) as u16;
        let (counter, barrier, slot) = (&counter, &*barrier, &tallies[i as usize]);
        children.push(common::spawn(format!("P{me}"), move || {
            racer(me, rounds, mode, schedule, counter, barrier, slot, t0, show)
        })?);
    }
    join_all(children)?;

    let mut o = Outcome {
        expected: i64::from(processes) * i64::from(rounds),
        final_value: counter.value(),
        clobbers: 0,
        clobbered: 0,
        span_ns: 0,
    };
    let (mut first, mut last) = (i64::MAX, 0);
    for slot in tallies.iter() {
        let t = Tally::read(slot);
        ensure!(t.done == 1, "a racer exited 0 without reporting");
        o.clobbers += t.clobbers;
        o.clobbered += t.clobbered;
        first = first.min(t.start_ns);
        last = last.max(t.end_ns);
    }
    o.span_ns = last - first;
    Ok(o)
}

/// The free-schedule race without any output: `processes` children each add 1 `rounds` times in
/// `mode`. For the benchmarks (`Outcome::adds_per_sec`).
pub fn count(mode: Mode, processes: u32, rounds: u32) -> Result<Outcome> {
    race(processes, rounds, mode, Schedule::Free, true)
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    validate(args)?;
    let (n, r) = (args.processes, args.rounds);
    out::say(format!(
        "{n} processes add 1 to one shared counter, {r} times each, mode {}, schedule {}",
        args.mode,
        args.schedule.name()
    ));
    if args.schedule == Schedule::Forced {
        let shown = shown_rounds(n).min(r);
        out::say(match args.mode {
            Mode::Unsync => format!(
                "each round: all read, all meet at a barrier, all write read+1; the writes of the first {shown} round(s):"
            ),
            _ => format!(
                "each round: all meet at a barrier, then all update at once; the first {shown} round(s):"
            ),
        });
    }
    let o = race(n, r, args.mode, args.schedule, false)?;
    let lost = o.lost();
    let forced_unsync = args.schedule == Schedule::Forced && args.mode == Mode::Unsync;
    let predicted = if forced_unsync {
        (i64::from(n) - 1) * i64::from(r)
    } else {
        0
    };
    out::event(
        "result",
        json!({"expected": o.expected, "final": o.final_value, "lost": lost}),
        format!(
            "final {} of {} expected: {lost} update(s) lost ({:.1}%)",
            o.final_value,
            o.expected,
            100.0 * lost as f64 / o.expected as f64
        ),
    );
    if forced_unsync {
        out::say(format!(
            "forced schedule: each round loses exactly N-1 = {} updates, so (N-1) x R = {predicted}",
            n - 1
        ));
    } else if args.mode == Mode::Unsync && lost == 0 {
        out::say("no update lost this time: the race is real, the timing just did not hit it (try --schedule forced)");
    }
    out::say(format!(
        "{} additions in {:.3} ms: {:.2} M additions/s",
        o.expected,
        o.span_ns as f64 / 1e6,
        o.adds_per_sec() / 1e6
    ));
    out::summary(json!({
        "mode": args.mode,
        "schedule": args.schedule,
        "processes": n,
        "rounds": r,
        "expected": o.expected,
        "final": o.final_value,
        "lost": lost,
        "predicted_lost": if forced_unsync { json!(predicted) } else if args.mode == Mode::Unsync { json!(null) } else { json!(0) },
        "clobbers": o.clobbers,
        "elapsed_ms": o.span_ns as f64 / 1e6,
        "adds_per_sec": o.adds_per_sec(),
    }));

    if args.mode != Mode::Unsync {
        ensure!(
            lost == 0,
            "mode {} promises an exact count, yet {lost} lost",
            args.mode
        );
    }
    ensure!(
        lost == o.clobbered,
        "accounting broken: lost {lost}, but the overwritten amounts sum to {}",
        o.clobbered
    );
    ensure!(
        lost >= 0,
        "unsynchronised additions gained {} (impossible)",
        -lost
    );
    if forced_unsync {
        ensure!(
            lost == predicted,
            "forced schedule lost {lost}, not the predicted {predicted}"
        );
    }
    Ok(())
}
