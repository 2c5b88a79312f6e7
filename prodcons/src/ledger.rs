//! The ledger: what producers and consumers record as they go, and the self-checks done from it
//! at the end (every item exactly once, in order per producer, occupancy within capacity).
//!
//! It lives in `MAP_SHARED` memory ([`common::SharedSlice`]) created *before* the threads or
//! processes start, so the same code records in both modes: threads simply share the pages like
//! any memory, forked children share them because the mapping is `MAP_SHARED` (a plain `Vec`
//! would be copied by fork, and each child would fill in its own private copy).
//!
//! Everything is an atomic counter: no lock, and no record is ever half-written. Who writes what:
//! - a **producer** bumps `produced[p]` after each successful `put`, and raises `max_occupancy`
//!   to the length the queue reported right after the put;
//! - a **consumer** bumps `seen[item]` (a slot per item: producer x sequence number), its
//!   `consumed[c]`, and counts an *order violation* if an item of producer p arrives with a
//!   sequence number not above the last one it got from p;
//! - both add the nanoseconds spent in a call that had to wait.
//!
//! The order check is per consumer: with one consumer it checks the whole stream; with several,
//! each consumer's share must be in order (a FIFO queue hands out each producer's items in order,
//! so any consumer sees a rising subsequence). A consumer cannot see the *global* dequeue order
//! without a ticket taken inside the queue's lock, which the cross-process queue does not offer.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use common::{Shared, SharedSlice};

use crate::Item;

common::shared_struct! {
    /// The run-wide counters, in shared memory: one word each, by name.
    pub struct Counters {
        /// Nanoseconds producers spent in puts that had to wait.
        pub producer_blocked_ns: AtomicU64,
        /// Nanoseconds consumers spent in gets that had to wait.
        pub consumer_blocked_ns: AtomicU64,
        /// The most items the queue held, as reported right after a put.
        pub max_occupancy: AtomicU64,
        /// Items a consumer got out of its producer's order.
        pub order_violations: AtomicU64,
        /// Items no producer put: a bad sequence number, or a torn message.
        pub unexpected: AtomicU64,
        /// Producers inside a `put` that had to wait, right now (for the timeline).
        pub producers_waiting: AtomicU64,
        /// Consumers inside a `get` that had to wait, right now.
        pub consumers_waiting: AtomicU64,
    }
}

/// Which side of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Puts items.
    Producer,
    /// Gets items.
    Consumer,
}

impl Side {
    /// "producer" / "consumer".
    pub fn name(self) -> &'static str {
        match self {
            Side::Producer => "producer",
            Side::Consumer => "consumer",
        }
    }
    /// "P" / "C", for prose lines such as `P1 put 1.3`.
    pub fn letter(self) -> &'static str {
        match self {
            Side::Producer => "P",
            Side::Consumer => "C",
        }
    }
}

/// The shared record of one run (one phase).
pub struct Ledger {
    producers: u32,
    items: u32,
    seen: SharedSlice<AtomicU32>,
    produced: SharedSlice<AtomicU64>,
    consumed: SharedSlice<AtomicU64>,
    counters: Shared<Counters>,
}

/// The result of the checks.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verdict {
    /// Successful puts.
    pub produced: u64,
    /// Items consumers received.
    pub consumed: u64,
    /// Put, never received, and not left in the queue either (taken by a consumer that died).
    pub lost: u64,
    /// Extra receptions of an item already received.
    pub duplicated: u64,
    /// Received items that no producer put.
    pub unexpected: u64,
    /// Still in the queue at the end (only when every consumer died first).
    pub undelivered: u64,
    /// Every consumer got each producer's items in increasing order.
    pub per_producer_fifo: bool,
    /// The most items the queue held, as reported right after a put.
    pub max_occupancy: u64,
    /// Time producers spent in puts that had to wait for room.
    pub producer_blocked_ms: f64,
    /// Time consumers spent in gets that had to wait for an item.
    pub consumer_blocked_ms: f64,
}

impl Ledger {
    /// Map the shared counters for `producers` x `items` items and `consumers` consumers.
    pub fn new(producers: u32, consumers: u32, items: u32) -> Result<Ledger> {
        let slots = producers as usize * items as usize;
        Ok(Ledger {
            producers,
            items,
            seen: SharedSlice::new_zeroed(slots).context("mmap(MAP_SHARED) for the ledger")?,
            produced: SharedSlice::new_zeroed(producers as usize).context("mmap(MAP_SHARED)")?,
            consumed: SharedSlice::new_zeroed(consumers as usize).context("mmap(MAP_SHARED)")?,
            counters: Shared::new_zeroed().context("mmap(MAP_SHARED)")?,
        })
    }

    /// A producer's put went through; the queue then held `len` items.
    pub fn record_put(&self, producer: u32, len: usize) {
        self.produced[producer as usize].fetch_add(1, Ordering::Relaxed);
        self.counters
            .max_occupancy
            .fetch_max(len as u64, Ordering::Relaxed);
    }

    /// A consumer received `item`. Returns `false` if the item is not one any producer could put.
    pub fn record_got(&self, consumer: u32, item: Item) -> bool {
        self.consumed[consumer as usize].fetch_add(1, Ordering::Relaxed);
        match self.slot(item) {
            Some(i) => {
                self.seen[i].fetch_add(1, Ordering::Relaxed);
                true
            }
            None => {
                self.counters.unexpected.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// A consumer got an item of a producer out of order.
    pub fn record_order_violation(&self) {
        self.counters
            .order_violations
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Someone of `side` starts (`+1`) or stops (`-1`) waiting. Returns how many of that side wait
    /// now.
    pub fn waiting(&self, side: Side, delta: i64) -> u32 {
        let c = match side {
            Side::Producer => &self.counters.producers_waiting,
            Side::Consumer => &self.counters.consumers_waiting,
        };
        let old = if delta >= 0 {
            c.fetch_add(delta as u64, Ordering::Relaxed)
        } else {
            c.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed)
        };
        (old as i64 + delta).max(0) as u32
    }

    /// How many of each side wait now: (producers, consumers).
    pub fn waiting_now(&self) -> (u32, u32) {
        (
            self.counters.producers_waiting.load(Ordering::Relaxed) as u32,
            self.counters.consumers_waiting.load(Ordering::Relaxed) as u32,
        )
    }

    /// Add time spent in a call that had to wait.
    pub fn add_blocked(&self, side: Side, waited: Duration) {
        let c = match side {
            Side::Producer => &self.counters.producer_blocked_ns,
            Side::Consumer => &self.counters.consumer_blocked_ns,
        };
        c.fetch_add(waited.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Items `producer` has put so far.
    pub fn produced_by(&self, producer: u32) -> u64 {
        self.produced[producer as usize].load(Ordering::Relaxed)
    }

    /// Items consumer `c` has received so far.
    pub fn consumed_by(&self, consumer: u32) -> u64 {
        self.consumed[consumer as usize].load(Ordering::Relaxed)
    }

    fn slot(&self, item: Item) -> Option<usize> {
        (item.producer < self.producers && item.seq < self.items)
            .then(|| item.producer as usize * self.items as usize + item.seq as usize)
    }

    /// Run the checks, once every producer and consumer has finished. `left` are the items still
    /// in the queue at the end (drained by the parent).
    pub fn verdict(&self, left: &[Item]) -> Verdict {
        // Items left in the queue were put and never received: not lost, just undelivered.
        let mut left_mark = vec![false; self.seen.len()];
        for &item in left {
            if let Some(i) = self.slot(item) {
                left_mark[i] = true;
            }
        }
        let (mut lost, mut duplicated, mut unexpected) = (0u64, 0u64, 0u64);
        for producer in 0..self.producers {
            let put = self.produced_by(producer);
            for s in 0..self.items {
                let i = producer as usize * self.items as usize + s as usize;
                let n = u64::from(self.seen[i].load(Ordering::Relaxed));
                if u64::from(s) < put {
                    if n == 0 && !left_mark[i] {
                        lost += 1;
                    }
                    duplicated += n.saturating_sub(1);
                } else {
                    // Never put by its producer (which stopped early), yet received.
                    unexpected += n;
                }
            }
        }
        unexpected += self.counters.unexpected.load(Ordering::Relaxed);
        let ms = |consumer: &AtomicU64| consumer.load(Ordering::Relaxed) as f64 / 1e6;
        Verdict {
            produced: (0..self.producers)
                .map(|producer| self.produced_by(producer))
                .sum(),
            consumed: self
                .consumed
                .iter()
                .map(|consumer| consumer.load(Ordering::Relaxed))
                .sum(),
            lost,
            duplicated,
            unexpected,
            undelivered: left.len() as u64,
            per_producer_fifo: self.counters.order_violations.load(Ordering::Relaxed) == 0,
            max_occupancy: self.counters.max_occupancy.load(Ordering::Relaxed),
            producer_blocked_ms: (ms(&self.counters.producer_blocked_ns) * 1000.0).round() / 1000.0,
            consumer_blocked_ms: (ms(&self.counters.consumer_blocked_ns) * 1000.0).round() / 1000.0,
        }
    }
}

impl Verdict {
    /// The broken invariants, in words (empty when all hold). `complete`: no producer or
    /// consumer failed, so every item of every producer should have gone through.
    pub fn problems(&self, capacity: u64, expected: u64, complete: bool) -> Vec<String> {
        let mut p = Vec::new();
        if self.lost > 0 {
            p.push(format!("{} item(s) lost", self.lost));
        }
        if self.duplicated > 0 {
            p.push(format!("{} item(s) received twice", self.duplicated));
        }
        if self.unexpected > 0 {
            p.push(format!(
                "{} item(s) received that no producer put",
                self.unexpected
            ));
        }
        if !self.per_producer_fifo {
            p.push("a producer's items arrived out of order".into());
        }
        if self.max_occupancy > capacity {
            p.push(format!(
                "the queue held {} items, above its capacity {capacity}",
                self.max_occupancy
            ));
        }
        if complete && (self.produced != expected || self.consumed != expected) {
            p.push(format!(
                "expected {expected} items through, produced {} and consumed {}",
                self.produced, self.consumed
            ));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(producer: u32, seq: u32) -> Item {
        Item { producer, seq }
    }

    #[test]
    fn clean_run_has_no_problems() {
        let l = Ledger::new(2, 1, 3).unwrap();
        for p in 0..2 {
            for s in 0..3 {
                l.record_put(p, 1);
                assert!(l.record_got(0, item(p, s)));
            }
        }
        let v = l.verdict(&[]);
        assert_eq!((v.produced, v.consumed, v.lost, v.duplicated), (6, 6, 0, 0));
        assert!(v.problems(1, 6, true).is_empty());
    }

    #[test]
    fn lost_duplicated_unexpected_order_and_overflow_are_caught() {
        let l = Ledger::new(1, 1, 4).unwrap();
        for _ in 0..3 {
            l.record_put(0, 5);
        }
        l.record_got(0, item(0, 0));
        l.record_got(0, item(0, 0)); // twice
        l.record_got(0, item(0, 3)); // never put (only 3 were)
        assert!(!l.record_got(0, item(7, 0))); // no such producer
        l.record_order_violation();
        // item 1 was left in the queue; item 2 vanished.
        let v = l.verdict(&[item(0, 1)]);
        assert_eq!(v.lost, 1);
        assert_eq!(v.duplicated, 1);
        assert_eq!(v.unexpected, 2);
        assert_eq!(v.undelivered, 1);
        assert!(!v.per_producer_fifo);
        assert_eq!(v.problems(4, 4, true).len(), 6);
    }

    #[test]
    fn waiting_counts_up_and_down() {
        let l = Ledger::new(1, 1, 1).unwrap();
        assert_eq!(l.waiting(Side::Producer, 1), 1);
        assert_eq!(l.waiting(Side::Producer, 1), 2);
        assert_eq!(l.waiting(Side::Producer, -1), 1);
        assert_eq!(l.waiting_now(), (1, 0));
    }
}
