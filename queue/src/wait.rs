//! Sleeping until the other side has done something: a futex *event count*.
//!
//! A blocking queue needs two reasons to sleep: a consumer waits for "not empty", a producer for
//! "not full". Each reason is one [`Event`]: two 32-bit words of shared memory.
//!
//! - `seq` is the futex word. A sleeper reads it (the *key*), and the kernel puts it to sleep only
//!   if `seq` still equals the key (`FUTEX_WAIT` compares and sleeps atomically).
//! - `sleepers` is a flag: 1 when somebody may be asleep, or about to be. The side that changes
//!   the state ([`Event::notify`]) only enters the kernel when the flag is set. A queue that keeps
//!   up never has sleepers, so a message costs no syscall at all: this flag is most of the speed.
//!
//! Sleeping takes three steps, and their order is the whole correctness argument:
//!
//! ```text
//! sleeper                                   notifier
//! key = seq                  (1)            change the state (publish a slot)   (a)
//! sleepers = 1; fence        (2)            fence; if sleepers: sleepers = 0,   (b)
//! look at the state again    (3)                       seq += 1, FUTEX_WAKE(all)
//! FUTEX_WAIT(seq, key)       (4)
//! ```
//!
//! Both sides write one thing and then read the other's, with a full fence in between
//! (Dekker's pattern). So either the sleeper's second look (3) sees the change (a) and it does
//! not sleep, or the notifier's read (b) sees the flag, bumps `seq` and wakes: if that happens
//! before (4), `seq` no longer equals the key and `FUTEX_WAIT` returns at once. A wake-up can
//! never fall between "checked" and "asleep", which is the classic lost wake-up.
//!
//! Why not `common::sync::Condvar`: a condition variable is tied to a mutex, and this queue has
//! none (see [`crate::ring`]); its `wait_timeout` also re-takes the mutex without a deadline, and
//! a `get_timeout` must stay bounded even if another process died at the wrong moment.
//! Why wake *all* sleepers rather than one: the flag does not count sleepers, so the notifier
//! cannot know how many there are; waking all of them once, then nobody until someone sleeps
//! again, costs one syscall per sleep instead of one per message. With the few processes of
//! these demos, the herd that wakes and finds nothing to do is small.

use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::Duration;

use common::sys::{futex_wait, futex_wake};

/// What to do before sleeping, after finding the queue full or empty: a bounded "adaptive"
/// wait, as good mutexes do (glibc's adaptive mutex, crossbeam's `Backoff`).
///
/// 1. Spin: re-check after 1, 2, 4 ... 64 pause instructions (127 in all, about a microsecond).
///    The other side, running on another CPU, is usually that close to publishing or freeing
///    a slot, and a futex sleep plus wake-up costs tens of microseconds.
/// 2. Yield: four `sched_yield` calls. On a busy machine (more runnable processes than CPUs)
///    the other side may be waiting for *our* CPU; spinning would only burn the slice it needs.
/// 3. Then give up and sleep in the kernel ([`Event::sleep`]) until woken.
///
/// Bounded on purpose: a waiter that really has to wait (a slow producer) pays about ten
/// checks per message, then uses no CPU at all. This is not a sleep-and-check loop: nothing here
/// sleeps for a fixed time, and the last step blocks until the other side wakes it.
#[derive(Debug, Default)]
pub struct Backoff {
    step: u32,
}

impl Backoff {
    const SPIN_STEPS: u32 = 7;
    const YIELD_STEPS: u32 = 4;

    /// Wait a little before the next check. Returns `false` once the budget is spent: time to
    /// sleep in the kernel.
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
}

/// One reason to sleep (for example "not empty"), as two words in shared memory.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// The futex word: bumped by every notify that found a sleeper.
    pub seq: &'a AtomicU32,
    /// 1 when somebody may be asleep (or about to be) on `seq`.
    pub sleepers: &'a AtomicU32,
}

impl Event<'_> {
    /// Steps (1) and (2): take the key and announce a sleeper. The caller must then look at the
    /// state once more (3) and only if nothing changed call [`Event::sleep`] with this key.
    pub fn prepare(&self) -> u32 {
        let key = self.seq.load(Ordering::SeqCst);
        self.sleepers.store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        key
    }

    /// Step (4): sleep in the kernel while `seq` still equals `key`, at most `timeout`. Returns
    /// on a wake-up, a changed `seq`, a signal or the timeout: the caller re-checks in any case.
    pub fn sleep(&self, key: u32, timeout: Option<Duration>) {
        futex_wait(self.seq, key, timeout);
    }

    /// After changing the state: wake every sleeper, if there is one. When nobody sleeps this is
    /// a fence and one load of a word that nobody writes: no syscall, no cache line stolen.
    pub fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Relaxed) != 0
            && self.sleepers.swap(0, Ordering::SeqCst) != 0
        {
            self.seq.fetch_add(1, Ordering::SeqCst);
            futex_wake(self.seq, i32::MAX);
        }
    }

    /// Wake everyone whatever the flag says (used by `close`, which is rare).
    pub fn notify_all(&self) {
        fence(Ordering::SeqCst);
        self.sleepers.store(0, Ordering::SeqCst);
        self.seq.fetch_add(1, Ordering::SeqCst);
        futex_wake(self.seq, i32::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn a_notify_between_check_and_sleep_is_not_lost() {
        // The notifier runs entirely between the sleeper's prepare and its sleep: the key is
        // stale, so the sleep returns at once instead of waiting forever.
        let (seq, sleepers) = (AtomicU32::new(0), AtomicU32::new(0));
        let ev = Event {
            seq: &seq,
            sleepers: &sleepers,
        };
        let key = ev.prepare();
        ev.notify();
        assert_eq!(
            sleepers.load(Ordering::SeqCst),
            0,
            "the notifier took the flag"
        );
        ev.sleep(key, None); // would hang if the wake-up were lost
    }

    #[test]
    fn notify_without_sleepers_leaves_seq_alone() {
        let (seq, sleepers) = (AtomicU32::new(7), AtomicU32::new(0));
        Event {
            seq: &seq,
            sleepers: &sleepers,
        }
        .notify();
        assert_eq!(
            seq.load(Ordering::SeqCst),
            7,
            "no sleeper: no bump, no syscall"
        );
    }

    #[test]
    fn a_sleeping_thread_is_woken() {
        let s = Arc::new((AtomicU32::new(0), AtomicU32::new(0), AtomicBool::new(false)));
        let s2 = s.clone();
        let h = std::thread::spawn(move || {
            let ev = Event {
                seq: &s2.0,
                sleepers: &s2.1,
            };
            while !s2.2.load(Ordering::SeqCst) {
                let key = ev.prepare();
                if s2.2.load(Ordering::SeqCst) {
                    break;
                }
                ev.sleep(key, None);
            }
        });
        s.2.store(true, Ordering::SeqCst);
        Event {
            seq: &s.0,
            sleepers: &s.1,
        }
        .notify();
        h.join().unwrap();
    }
}
