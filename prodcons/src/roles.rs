//! The two roles of the notes (程序中有两类角色): a **producer** makes items and `put`s them, a
//! **consumer** `get`s items and handles them. Neither knows the other exists; each only knows
//! the buffer ([`Buffer`]), which is what decouples them (解耦).
//!
//! The same two functions run as threads (`--mode threads`, buffer = [`crate::monitor`] or
//! [`crate::two_lock`]) and as
//! forked processes (`--mode processes`, buffer = the `queue` member's cross-process queue): the
//! [`Buffer`] trait is the only difference.
//!
//! Measuring blocking: each call is first tried without waiting (`try_put` / `try_get`). If that
//! finds the buffer full (or empty), the role is *blocked*: it says so, counts itself as waiting
//! (for the timeline), and makes the blocking call, timing it. So "blocked time" is exactly the
//! time spent in calls that had to wait, and a call that went straight through costs no clock
//! read. (The blocking call itself sleeps in the kernel: a futex wait, never a sleep-and-check
//! loop.)
//!
//! Simulated work: `--produce-ms` / `--consume-ms` per item, each multiplied by a jitter factor
//! between 0.5 and 1.5 drawn from the role's own seeded generator (`common::rng::rng_for`), and
//! by `--time-scale` (`common::sleep`): the notes' `time.sleep(random...)`.
//!
//! `--trace FILE` (`common::trace`): each role has its own track (its thread; in processes mode
//! its own process), with a slice per put and per get, a `blocked` slice inside a call that had
//! to wait, and the occupancy as a counter. When not tracing each of those lines is one flag
//! check: the slices' names are only formatted when tracing.

use std::time::{Duration, Instant};

use anyhow::Result;
use common::trace::{self, Span};
use common::{json, out};
use rand::Rng;

use crate::ledger::{Ledger, Side};
use crate::timeline::{bar, Step, Timeline};
use crate::Item;

/// What a put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// In; the buffer then held this many items.
    Done(usize),
    /// No room now (only from `try_put`).
    Full,
    /// The buffer is closed: no consumer will take it.
    Closed,
}

/// What a get did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Get {
    /// An item; the buffer then held this many.
    Item(Item, usize),
    /// Nothing now (only from `try_get`).
    Empty,
    /// Closed and drained: nothing will ever come.
    Closed,
}

/// The bounded blocking buffer between the roles.
pub trait Buffer {
    /// Put without waiting.
    fn try_put(&self, item: Item) -> Result<Put>;
    /// Put, sleeping while full.
    fn put(&self, item: Item) -> Result<Put>;
    /// Get without waiting.
    fn try_get(&self) -> Result<Get>;
    /// Get, sleeping while empty.
    fn get(&self) -> Result<Get>;
    /// No more puts; wakes every sleeper.
    fn close(&self);
    /// Test hook: this process's next put dies half-way (only the cross-process queue can do
    /// this; elsewhere it does nothing).
    #[cfg(feature = "fault-injection")]
    fn die_in_next_put(&self) {}
}

/// Everything a role needs to know about the run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// 0 or 1: which phase of the default run (seeds the jitter differently).
    pub phase: u32,
    /// Number of producers.
    pub producers: u32,
    /// Number of consumers.
    pub consumers: u32,
    /// Items per producer.
    pub items: u32,
    /// Buffer capacity.
    pub capacity: usize,
    /// Mean simulated work per item made.
    pub produce_ms: u64,
    /// Mean simulated work per item handled.
    pub consume_ms: u64,
    /// Print a line per put and get (off with `--quiet`).
    pub verbose: bool,
    /// The test hooks asked for (only with the `fault-injection` feature).
    #[cfg(feature = "fault-injection")]
    pub fault: crate::fault::FaultArgs,
}

impl Spec {
    /// The generator of role `index` of `side` in this phase: the same seed gives the same
    /// jitter, and no two roles share a sequence.
    fn rng(&self, side: Side, index: u32) -> rand::rngs::StdRng {
        let slot = match side {
            Side::Producer => 1 + index,
            Side::Consumer => 1 + self.producers + index,
        };
        common::rng::rng_for((u64::from(self.phase) << 32) | u64::from(slot))
    }
}

/// Mean `ms`, times a jitter in [0.5, 1.5).
fn jittered(ms: u64, rng: &mut impl Rng) -> Duration {
    if ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(ms).mul_f64(rng.gen_range(0.5..1.5))
}

/// Where the roles record what they do: the ledger (counts, for the self-checks) and the
/// timeline (occupancy over time, for `--timeline`).
#[derive(Clone, Copy)]
pub struct Recorders<'a> {
    /// Counts and checks.
    pub ledger: &'a Ledger,
    /// Occupancy over time.
    pub timeline: &'a Timeline,
}

impl Recorders<'_> {
    fn sample(&self, occupancy: usize, step: Step) {
        let (p, c) = self.ledger.waiting_now();
        self.timeline.record(occupancy, p, c, step);
        trace::counter("occupancy", occupancy as f64);
    }

    /// Enter a wait: count it, sample it, say it.
    fn start_waiting(&self, side: Side, index: u32, spec: &Spec) {
        self.ledger.waiting(side, 1);
        let occ = match side {
            Side::Producer => spec.capacity,
            Side::Consumer => 0,
        };
        self.sample(occ, Step::Blocked(side, index));
        if spec.verbose {
            let name = format!("{}{}", side.letter(), index + 1);
            let (why, prose) = match side {
                Side::Producer => (
                    "full",
                    format!(
                        "{name} blocks: the buffer is full {}  (backpressure)",
                        bar(occ, spec.capacity)
                    ),
                ),
                Side::Consumer => (
                    "empty",
                    format!(
                        "{:>28}{name} waits: the buffer is empty {}",
                        "",
                        bar(occ, spec.capacity)
                    ),
                ),
            };
            out::event(
                "blocked",
                json!({"role": side.name(), "index": index + 1, "buffer": why}),
                prose,
            );
        }
    }

    fn stop_waiting(
        &self,
        side: Side,
        index: u32,
        waited: Duration,
        occupancy: usize,
        spec: &Spec,
    ) {
        self.ledger.waiting(side, -1);
        self.ledger.add_blocked(side, waited);
        self.sample(occupancy, Step::Resumed(side, index));
        if spec.verbose {
            let ms = waited.as_secs_f64() * 1e3;
            let indent = if side == Side::Consumer { 28 } else { 0 };
            out::event(
                "resumed",
                json!({"role": side.name(), "index": index + 1, "waited_ms": ms}),
                format!(
                    "{:>indent$}{}{} resumes after waiting {ms:.1} ms",
                    "",
                    side.letter(),
                    index + 1
                ),
            );
        }
    }
}

/// Producer number `index` (0-based): make `items` items `index.0, index.1, ...` and put each. Returns how
/// many it put (fewer than `items` only if the buffer was closed under it: no consumer left).
pub fn producer(
    buf: &dyn Buffer,
    recorders: Recorders<'_>,
    spec: &Spec,
    index: u32,
) -> Result<u32> {
    let mut rng = spec.rng(Side::Producer, index);
    // --trace: this role's track (its thread; in processes mode, its process's only thread).
    let track = trace::this_thread();
    trace::thread_name(track, &format!("producer {}", index + 1));
    let mut put = 0;
    for seq in 0..spec.items {
        #[cfg(feature = "fault-injection")]
        crate::fault::before_put(spec, buf, index, seq);
        common::sleep(jittered(spec.produce_ms, &mut rng));
        let item = Item {
            producer: index,
            seq,
        };
        // --trace: one slice for the whole put, ended below once the item is in.
        let put_slice =
            trace::enabled().then(|| Span::begin(format!("put {}.{seq}", index + 1), "put", track));
        let len = match buf.try_put(item)? {
            Put::Done(len) => len,
            Put::Closed => break,
            Put::Full => {
                recorders.start_waiting(Side::Producer, index, spec);
                let t0 = Instant::now();
                // --trace: the wait, as a "blocked" slice inside this put.
                let blocked = Span::begin("blocked: buffer full", "blocked", track);
                let r = buf.put(item)?;
                drop(blocked);
                let len = match r {
                    Put::Done(len) => len,
                    _ => spec.capacity,
                };
                recorders.stop_waiting(Side::Producer, index, t0.elapsed(), len, spec);
                match r {
                    Put::Done(len) => len,
                    _ => break,
                }
            }
        };
        recorders.ledger.record_put(index, len);
        recorders.sample(len, Step::Put(index));
        drop(put_slice);
        put += 1;
        if spec.verbose {
            out::event(
                "put",
                json!({"producer": index + 1, "seq": seq, "occupancy": len, "capacity": spec.capacity}),
                format!(
                    "P{} put {}.{seq:<4}   {}",
                    index + 1,
                    index + 1,
                    bar(len, spec.capacity)
                ),
            );
        }
    }
    if put < spec.items {
        out::event(
            "producer_stopped",
            json!({"producer": index + 1, "put": put, "items": spec.items}),
            format!(
                "P{} stops after {put} of {} items: the buffer was closed (no consumer left)",
                index + 1,
                spec.items
            ),
        );
    }
    Ok(put)
}

/// Consumer number `index` (0-based): get items until the buffer is closed and drained. Checks, for
/// each producer, that its items come in increasing order. Returns how many it got.
pub fn consumer(
    buf: &dyn Buffer,
    recorders: Recorders<'_>,
    spec: &Spec,
    index: u32,
) -> Result<u32> {
    let mut rng = spec.rng(Side::Consumer, index);
    let mut last: Vec<Option<u32>> = vec![None; spec.producers as usize];
    let mut got = 0u32;
    // --trace: this role's track.
    let track = trace::this_thread();
    trace::thread_name(track, &format!("consumer {}", index + 1));
    loop {
        #[cfg(feature = "fault-injection")]
        if got == 0 {
            crate::fault::before_first_get(spec, index);
        }
        // --trace: when this get began (its slice is named once the item is known).
        let asked = trace::enabled().then(trace::now_us);
        let (item, len) = match buf.try_get()? {
            Get::Item(item, len) => (item, len),
            Get::Closed => break,
            Get::Empty => {
                recorders.start_waiting(Side::Consumer, index, spec);
                let t0 = Instant::now();
                // --trace: the wait, as a "blocked" slice inside this get.
                let blocked = Span::begin("blocked: buffer empty", "blocked", track);
                let r = buf.get()?;
                drop(blocked);
                let len = match r {
                    Get::Item(_, len) => len,
                    _ => 0,
                };
                recorders.stop_waiting(Side::Consumer, index, t0.elapsed(), len, spec);
                match r {
                    Get::Item(item, len) => (item, len),
                    _ => break,
                }
            }
        };
        got += 1;
        #[cfg(feature = "fault-injection")]
        crate::fault::after_get(spec, index, got, item);
        recorders.ledger.record_got(index, item);
        if let Some(p) = last.get_mut(item.producer as usize) {
            if p.is_some_and(|l| l >= item.seq) {
                recorders.ledger.record_order_violation();
            }
            *p = Some(item.seq);
        }
        recorders.sample(len, Step::Got(index));
        if let Some(start) = asked {
            let name = format!("get {}.{}", item.producer + 1, item.seq);
            trace::slice(&name, "get", track, start, trace::now_us(), json!({}));
        }
        if spec.verbose {
            out::event(
                "got",
                json!({"consumer": index + 1, "producer": item.producer + 1, "seq": item.seq, "occupancy": len, "capacity": spec.capacity}),
                format!(
                    "{:>28}C{} got {}.{:<4}   {}",
                    "",
                    index + 1,
                    item.producer + 1,
                    item.seq,
                    bar(len, spec.capacity)
                ),
            );
        }
        common::sleep(jittered(spec.consume_ms, &mut rng));
    }
    Ok(got)
}
