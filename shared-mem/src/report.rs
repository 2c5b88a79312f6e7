//! How the children hand their figures back, and how the parent collects the children.
//!
//! A child cannot return a value to its parent: it is another process, and its memory vanishes
//! at `_exit`. Python's `Process` has no return value either. Here each child writes a [`Tally`]
//! into its own slot of a `MAP_SHARED` array created before the fork, and the parent reads the
//! slots after `waitpid` has told it the child is gone: waitpid is the synchronisation, so plain
//! relaxed loads see the child's final stores. (The alternative, a pipe per child carrying the
//! figures as text, would work as well; shared memory is this crate's topic.)
//!
//! [`join_all`] waits for every child, blocking in the kernel (`poll` on their pidfds, via
//! `common::child::wait_any`). If one fails, the others are killed and reaped at once: in the
//! race demos a dead process would otherwise leave its partners waiting at a barrier forever.

use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::{bail, Result};
use common::{Child, SharedSlice};

/// One child's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// The sum of the changes this child made (what it *meant* to add).
    pub sum: i64,
    /// How many updates it made.
    pub writes: i64,
    /// How many of its writes replaced a number it had not read (each wiped out at least one
    /// other update).
    pub clobbers: i64,
    /// The sum of [`crate::value::Write::clobbered`] over its writes.
    pub clobbered: i64,
    /// When its loop started and ended, in nanoseconds since the parent's start instant.
    pub start_ns: i64,
    /// See `start_ns`.
    pub end_ns: i64,
    /// 1 once published: a slot still 0 means the child never finished its work.
    pub done: i64,
}

/// The shared slot of one child: seven numbers in the order of [`Tally`]'s fields.
pub type Slot = [AtomicI64; 7];

impl Tally {
    /// Record one update.
    pub fn count(&mut self, delta: i64, write: &crate::value::Write) {
        self.sum += delta;
        self.writes += 1;
        if write.clobbered() != 0 {
            self.clobbers += 1;
            self.clobbered += write.clobbered();
        }
    }

    /// Write into the shared slot (called by the child, last thing before it exits).
    pub fn publish(&self, slot: &Slot) {
        let fields = [
            self.sum,
            self.writes,
            self.clobbers,
            self.clobbered,
            self.start_ns,
            self.end_ns,
            1,
        ];
        for (cell, v) in slot.iter().zip(fields) {
            cell.store(v, Ordering::Relaxed);
        }
    }

    /// Read a slot (called by the parent after the child was reaped).
    pub fn read(slot: &Slot) -> Tally {
        let f = |i: usize| slot[i].load(Ordering::Relaxed);
        Tally {
            sum: f(0),
            writes: f(1),
            clobbers: f(2),
            clobbered: f(3),
            start_ns: f(4),
            end_ns: f(5),
            done: f(6),
        }
    }
}

/// `n` zeroed slots in shared memory.
pub fn slots(count: usize) -> Result<SharedSlice<Slot>> {
    use anyhow::Context;
    SharedSlice::new_zeroed(count).context("mmap(MAP_SHARED) for the tallies")
}

/// Join every child (any order, blocking in the kernel). On the first failure, kill and reap the
/// rest (dropping a `Child` does both) and return an error naming the child and how it ended.
pub fn join_all(mut children: Vec<Child>) -> Result<()> {
    let mut left = children.len();
    while left > 0 {
        let Some(i) = common::child::wait_any(&mut children, None)? else {
            break;
        };
        left -= 1;
        let c = &children[i];
        let status = c.status().expect("wait_any reaped it");
        if !status.success() {
            let why = c
                .panic_message()
                .map(|m| format!(" (panic: {m})"))
                .unwrap_or_default();
            bail!("child {} (pid {}) {status}{why}", c.name(), c.pid());
        }
    }
    Ok(())
}

/// The child's clock: nanoseconds since `t0`, an `Instant` taken in the parent before the fork.
/// `Instant` is `CLOCK_MONOTONIC`, one clock for every process of the machine.
pub fn ns_since(t0: std::time::Instant) -> i64 {
    t0.elapsed().as_nanos().min(i64::MAX as u128) as i64
}
