//! What a waiter does before it sleeps in the kernel: spin a little, yield a little, then give up.
//!
//! Every blocking structure of the workspace (the futex [`Lock`](crate::sync::Lock), the queue's
//! ring, the producer/consumer buffer, the pool's channels) faces the same choice when it finds
//! "not yet" (locked, empty, full):
//!
//! 1. **Spin**: look again after 1, 2, 4 ... 64 pause instructions (about a microsecond in all).
//!    The other side, running on another CPU, is usually that close to acting, and a futex sleep
//!    plus its wake-up costs two system calls and a trip through the scheduler.
//! 2. **Yield**: a few `sched_yield` calls. On a busy machine (more runnable tasks than CPUs) the
//!    process we wait for may be queued behind us on *this* CPU; spinning would only burn the
//!    time slice it needs.
//! 3. **Sleep**: [`Backoff::snooze`] returns `false`, and the caller blocks in the kernel
//!    ([`Event::wait_until`](crate::sync::Event::wait_until), `FUTEX_WAIT`) until woken.
//!
//! The budget is bounded on purpose. A waiter that really has to wait (a slow producer) pays a
//! dozen quick checks, then uses no CPU at all. This is not a sleep-and-check loop: nothing here
//! sleeps for a fixed time, and the last step blocks until the other side wakes it.
//!
//! The same shape is crossbeam's `Backoff` and glibc's adaptive mutex. Alternative not taken:
//! spinning for a fixed *time* (reading the clock in the loop): it costs a clock read per turn
//! and behaves the same on a fast and on a slow machine, which is the wrong way round.

/// A bounded spin-then-yield budget; see the module doc.
#[derive(Debug, Default, Clone)]
pub struct Backoff {
    step: u32,
}

impl Backoff {
    /// Doublings of the pause loop: 1 + 2 + ... + 64 pauses.
    const SPIN_STEPS: u32 = 7;
    /// `sched_yield` calls after the spinning.
    const YIELD_STEPS: u32 = 4;

    /// A fresh budget.
    pub const fn new() -> Backoff {
        Backoff { step: 0 }
    }

    /// Wait a little before the next look. Returns `false` once the budget is spent: time to
    /// sleep in the kernel.
    #[inline]
    pub fn snooze(&mut self) -> bool {
        if self.step < Self::SPIN_STEPS {
            for _ in 0..1u32 << self.step {
                std::hint::spin_loop();
            }
        } else if self.step < Self::SPIN_STEPS + Self::YIELD_STEPS {
            std::thread::yield_now();
        } else {
            return false;
        }
        self.step += 1;
        true
    }

    /// Start the budget again (after progress was made).
    pub fn reset(&mut self) {
        self.step = 0;
    }
}

/// Look at `ready` until it holds or the [`Backoff`] budget is spent. Returns the last answer:
/// `false` means "go to sleep in the kernel now".
#[inline]
pub fn spin_then(mut ready: impl FnMut() -> bool) -> bool {
    let mut backoff = Backoff::new();
    loop {
        if ready() {
            return true;
        }
        if !backoff.snooze() {
            return ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_runs_out_and_can_be_restarted() {
        let mut b = Backoff::new();
        let turns = std::iter::from_fn(|| b.snooze().then_some(())).count();
        assert_eq!(turns, 11, "7 spin steps and 4 yields, then sleep");
        assert!(!b.snooze(), "spent stays spent");
        b.reset();
        assert!(b.snooze());
    }

    #[test]
    fn spin_then_reports_a_condition_that_came_true() {
        let mut looks = 0;
        assert!(spin_then(|| {
            looks += 1;
            looks == 3
        }));
        assert!(!spin_then(|| false), "never true: time to sleep");
    }
}
