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

common::shared_struct! {
    /// The shared slot of one child: a [`Tally`] in atomic words, plus `done`.
    pub struct Slot {
        /// [`Tally::sum`].
        pub sum: AtomicI64,
        /// [`Tally::writes`].
        pub writes: AtomicI64,
        /// [`Tally::clobbers`].
        pub clobbers: AtomicI64,
        /// [`Tally::clobbered`].
        pub clobbered: AtomicI64,
        /// [`Tally::start_ns`].
        pub start_ns: AtomicI64,
        /// [`Tally::end_ns`].
        pub end_ns: AtomicI64,
        /// 1 once the child has published its tally.
        pub done: AtomicI64,
    }
}

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

    /// Write into the shared slot (called by the child, last thing before it exits). Relaxed
    /// stores: the parent reads them only after waitpid has reported the child gone.
    pub fn publish(&self, slot: &Slot) {
        slot.sum.store(self.sum, Ordering::Relaxed);
        slot.writes.store(self.writes, Ordering::Relaxed);
        slot.clobbers.store(self.clobbers, Ordering::Relaxed);
        slot.clobbered.store(self.clobbered, Ordering::Relaxed);
        slot.start_ns.store(self.start_ns, Ordering::Relaxed);
        slot.end_ns.store(self.end_ns, Ordering::Relaxed);
        slot.done.store(1, Ordering::Relaxed);
    }

    /// Read a slot (called by the parent after the child was reaped).
    pub fn read(slot: &Slot) -> Tally {
        Tally {
            sum: slot.sum.load(Ordering::Relaxed),
            writes: slot.writes.load(Ordering::Relaxed),
            clobbers: slot.clobbers.load(Ordering::Relaxed),
            clobbered: slot.clobbered.load(Ordering::Relaxed),
            start_ns: slot.start_ns.load(Ordering::Relaxed),
            end_ns: slot.end_ns.load(Ordering::Relaxed),
            done: slot.done.load(Ordering::Relaxed),
        }
    }
}

/// `count` zeroed slots in shared memory.
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
        // The workspace's one sentence for how a child failed: `boy (pid 42) panicked: ...`.
        if let Some(failure) = children[i].failure() {
            bail!("child {failure}");
        }
    }
    Ok(())
}

/// The child's clock: nanoseconds since `t0`, an `Instant` taken in the parent before the fork.
/// `Instant` is `CLOCK_MONOTONIC`, one clock for every process of the machine.
pub fn ns_since(t0: std::time::Instant) -> i64 {
    t0.elapsed().as_nanos().min(i64::MAX as u128) as i64
}
