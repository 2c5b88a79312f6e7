//! `race` (互斥, note 000): a counter raised by N threads, R times each.
//!
//! Python:
//!
//! ```python
//! import threading
//!
//! N, R = 4, 100_000
//! counter = 0
//! lock = threading.Lock()
//!
//! def work():
//!     global counter
//!     for _ in range(R): counter += 1          # unsync: LOAD, ADD, STORE: not one step
//!
//! def work_locked():
//!     global counter
//!     for _ in range(R):
//!         with lock: counter += 1              # mutex: the three steps cannot interleave
//!
//! for target in work, work_locked:
//!     counter = 0
//!     ts = [threading.Thread(target=target) for _ in range(N)]
//!     for t in ts: t.start()
//!     for t in ts: t.join()
//!     print(target.__name__, counter, "of", N * R)
//! ```
//!
//! `counter += 1` is a read, an add and a write. If another thread writes between our read and
//! our write, our write puts back a value computed from a stale read and the other thread's
//! increment is lost (a *lost update*). Python's GIL does not prevent it: the interpreter may
//! switch threads between those bytecodes.
//!
//! Modes:
//! - `unsync`: an atomic `load`, then an atomic `store` of that value + 1. Each access is
//!   atomic, the pair is not: exactly Python's `+=`. This is a lost update, not undefined
//!   behaviour. Safe Rust does not let two threads write a plain `u64` at once (that data race
//!   *would* be undefined behaviour); the atomics make every single access well defined and
//!   leave only the logic wrong, which is the lesson.
//! - `mutex`: `std::sync::Mutex<u64>`: lock, add, unlock. A waiting thread sleeps on a futex.
//! - `atomic`: one `fetch_add`: the CPU does read-add-write as one indivisible instruction
//!   (`lock xadd` on x86), no lock at all.
//!
//! Schedules:
//! - `free`: the threads leave one start line together (a barrier once), then just run; what is
//!   lost depends on timing (anything from nothing to most updates, differing run to run). It
//!   proves nothing either way.
//! - `forced`: a `std::sync::Barrier` makes the bad interleaving certain. In `unsync` each round
//!   is: every thread reads, all meet at the barrier, every thread writes, all meet again. All N
//!   read the same value v and all write v + 1: the round raises the counter by 1 and loses
//!   exactly N - 1 updates, on any machine, every time. In `mutex` and `atomic` the barrier lines
//!   all threads up just before their increment (the worst contention we can make), and nothing
//!   is lost. The barrier cannot go *inside* the locked section: a thread would wait there
//!   holding the lock while the others wait for the lock: a deadlock.
//!
//! `--trace FILE` (see `common::trace`) gives each thread a track with one slice for its whole
//! loop of increments and, in the forced schedule, one slice per round inside it: the rounds of
//! all threads line up, which is the barrier at work.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};

use anyhow::{ensure, Result};
use clap::ValueEnum;
use common::trace::{self, Span};
use common::{json, out};

use crate::joined;

/// Most increments each thread may do (`--rounds`).
pub const MAX_ROUNDS: u32 = 200_000;

/// How one increment is done.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Read, then write (Python's `counter += 1`): updates can be lost.
    Unsync,
    /// Lock a Mutex around read-add-write.
    Mutex,
    /// One atomic fetch_add.
    Atomic,
}

/// How the threads are interleaved.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Let the scheduler decide.
    Free,
    /// A barrier every round: in unsync mode each round loses exactly N-1 updates.
    Forced,
}

/// Flags of `race`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many threads raise the counter (1..=64).
    #[arg(long, default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=crate::MAX_THREADS as i64))]
    pub threads: u32,
    /// How many times each thread adds 1 (1..=200000; default 100000 with the free schedule,
    /// 1000 with the forced one, whose barrier waits cost tens of microseconds each).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_ROUNDS as i64))]
    pub rounds: Option<u32>,
    /// unsync (read then write), mutex, or atomic (fetch_add).
    #[arg(long, value_enum, default_value_t = Mode::Unsync)]
    pub mode: Mode,
    /// free (the scheduler decides) or forced (a barrier each round makes the loss certain).
    #[arg(long, value_enum, default_value_t = Schedule::Free)]
    pub schedule: Schedule,
    /// Write a Chrome trace (Perfetto, chrome://tracing) of the threads to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

/// A slice on this thread's track until the guard drops (nothing without `--trace`).
fn traced(name: impl FnOnce() -> String, category: &'static str) -> Option<Span> {
    trace::enabled().then(|| Span::begin(name(), category, trace::this_thread()))
}

/// The shared counter, in the form each mode needs.
#[derive(Default)]
struct Counter {
    atomic: AtomicU64,
    locked: Mutex<u64>,
}

impl Counter {
    fn value(&self, mode: Mode) -> u64 {
        match mode {
            Mode::Mutex => *self.locked.lock().unwrap_or_else(|e| e.into_inner()),
            _ => self.atomic.load(Ordering::SeqCst),
        }
    }
    /// One complete increment (every mode but the forced unsync one, which splits it).
    fn increment(&self, mode: Mode) {
        match mode {
            Mode::Unsync => {
                let v = self.atomic.load(Ordering::Relaxed);
                self.atomic.store(v + 1, Ordering::Relaxed);
            }
            Mode::Mutex => *self.locked.lock().unwrap_or_else(|e| e.into_inner()) += 1,
            Mode::Atomic => {
                self.atomic.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// How many rounds of the forced schedule are narrated event by event.
const NARRATED_ROUNDS: u32 = 3;

/// Per-round notes of the forced unsync schedule: what each thread read, in which order the
/// writes landed.
struct Narration {
    reads: Mutex<Vec<(u32, u64)>>,
    write_order: Mutex<Vec<u32>>,
}

/// Race `threads` threads, `rounds` increments each. Returns the final counter.
pub fn race(threads: u32, rounds: u32, mode: Mode, schedule: Schedule) -> Result<u64> {
    let counter = Counter::default();
    let barrier = Barrier::new(threads as usize);
    let narration = Narration {
        reads: Mutex::new(Vec::new()),
        write_order: Mutex::new(Vec::new()),
    };
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (counter, barrier, narration) = (&counter, &barrier, &narration);
                s.spawn(move || {
                    if trace::enabled() {
                        trace::thread_name(trace::this_thread(), &format!("thread {t}"));
                    }
                    let _all = traced(|| format!("{rounds} increments"), "thread");
                    match (schedule, mode) {
                        (Schedule::Free, _) => {
                            // One barrier at the start line only, so the threads overlap instead
                            // of each finishing before the next has even started.
                            barrier.wait();
                            for _ in 0..rounds {
                                counter.increment(mode);
                            }
                        }
                        (Schedule::Forced, Mode::Unsync) => {
                            for r in 0..rounds {
                                let _round = traced(|| format!("round {}", r + 1), "round");
                                let v = counter.atomic.load(Ordering::Relaxed);
                                if r < NARRATED_ROUNDS {
                                    lock(&narration.reads).push((t, v));
                                }
                                barrier.wait(); // everyone has read v: now everyone writes v + 1
                                if r < NARRATED_ROUNDS {
                                    // Store while holding the notebook's lock, so the order noted
                                    // is exactly the order of the stores. (All of them store v + 1
                                    // anyway: the order changes who "wins", not the total.)
                                    let mut order = lock(&narration.write_order);
                                    counter.atomic.store(v + 1, Ordering::Relaxed);
                                    order.push(t);
                                } else {
                                    counter.atomic.store(v + 1, Ordering::Relaxed);
                                }
                                // Everyone has written: nobody reads the next round's value early.
                                // The leader (one thread per round) narrates the finished round.
                                if barrier.wait().is_leader() && r < NARRATED_ROUNDS {
                                    narrate(r, threads, counter, narration);
                                }
                                // A third wait so the narration is finished before anyone reads
                                // (the narrated rounds only).
                                if r < NARRATED_ROUNDS {
                                    barrier.wait();
                                }
                            }
                        }
                        (Schedule::Forced, _) => {
                            for r in 0..rounds {
                                let _round = traced(|| format!("round {}", r + 1), "round");
                                barrier.wait(); // line everybody up, then all go for the lock at once
                                counter.increment(mode);
                            }
                        }
                    }
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            joined(&format!("{i}"), h.join())?;
        }
        Ok(())
    })?;
    Ok(counter.value(mode))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One event per narrated round of the forced unsync schedule.
fn narrate(round: u32, threads: u32, counter: &Counter, narration: &Narration) {
    let mut reads = std::mem::take(&mut *lock(&narration.reads));
    reads.sort_unstable();
    let order = std::mem::take(&mut *lock(&narration.write_order));
    let now = counter.atomic.load(Ordering::SeqCst);
    let last = order.last().copied().unwrap_or(0);
    let overwritten: Vec<u32> = order[..order.len().saturating_sub(1)].to_vec();
    out::event(
        "round",
        json!({"round": round + 1, "reads": reads.iter().map(|&(t, v)| json!({"thread": t, "read": v})).collect::<Vec<_>>(),
               "write_order": order, "counter": now, "lost": threads - 1}),
        format!(
            "  round {}: every thread read {}; writes landed in order {:?}, each writing {now}; thread {last}'s write is the one that stays, the {} before it ({:?}) are overwritten: {} updates lost",
            round + 1,
            reads.first().map_or(0, |&(_, v)| v),
            order,
            overwritten.len(),
            overwritten,
            threads - 1
        ),
    );
}

/// `--rounds`, or its default for the schedule.
pub fn rounds(args: &Args) -> u32 {
    args.rounds.unwrap_or(match args.schedule {
        Schedule::Free => 100_000,
        Schedule::Forced => 1000,
    })
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    if let Some(path) = &args.trace {
        trace::begin(path)?;
    }
    let rounds = rounds(args);
    let expected = u64::from(args.threads) * u64::from(rounds);
    let predicted = match (args.mode, args.schedule) {
        (Mode::Unsync, Schedule::Forced) => Some(u64::from(args.threads - 1) * u64::from(rounds)),
        (Mode::Unsync, Schedule::Free) => None,
        _ => Some(0),
    };
    out::say(format!(
        "{} threads each add 1 to a shared counter {} times, mode {:?}, schedule {:?}; expected total {expected}",
        args.threads, rounds, args.mode, args.schedule
    ));
    let t0 = std::time::Instant::now();
    let final_ = race(args.threads, rounds, args.mode, args.schedule)?;
    let elapsed_ms = t0.elapsed().as_secs_f64() * 1e3;
    trace::finish()?; // every thread is joined
                      // Unsync can only lose: every stored value is 1 + a value someone stored before (or 0), so
                      // the final value counts a chain of distinct increments: never more than `expected`.
    let lost = expected.saturating_sub(final_);
    out::event(
        "result",
        json!({"expected": expected, "final": final_, "lost": lost, "elapsed_ms": elapsed_ms}),
        format!(
            "final counter {final_}, expected {expected}: {lost} updates lost{}",
            match predicted {
                Some(p) => format!(" (predicted {p})"),
                None => " (free schedule: any number, depending on timing)".into(),
            }
        ),
    );
    if predicted.is_none() && lost == 0 {
        out::say(
            "nothing lost this time: the threads hardly overlapped (each finished its loop within \
             a time slice, or the machine was busy). That proves nothing about the code; \
             `--schedule forced` makes the interleaving that loses certain.",
        );
    }
    out::summary(json!({
        "mode": args.mode,
        "schedule": args.schedule,
        "threads": args.threads,
        "rounds": rounds,
        "expected": expected,
        "final": final_,
        "lost": lost,
        "predicted_lost": predicted,
        "elapsed_ms": elapsed_ms,
    }));
    ensure!(
        final_ <= expected,
        "the counter gained: {final_} > {expected}"
    );
    if let Some(p) = predicted {
        ensure!(
            lost == p,
            "mode {:?} schedule {:?} promised {p} lost updates, got {lost}",
            args.mode,
            args.schedule
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_and_atomic_are_exact() {
        for mode in [Mode::Mutex, Mode::Atomic] {
            for schedule in [Schedule::Free, Schedule::Forced] {
                assert_eq!(race(4, 500, mode, schedule).unwrap(), 2000);
            }
        }
    }

    #[test]
    fn forced_unsync_loses_exactly_n_minus_1_per_round() {
        for n in [1, 2, 3, 5] {
            assert_eq!(race(n, 50, Mode::Unsync, Schedule::Forced).unwrap(), 50);
        }
    }
}
