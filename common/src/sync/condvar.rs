//! A process-shared condition variable: "sleep until somebody changes the state, then look
//! again". Blocking queues are built from one [`super::Lock`] and two of these (not empty, not full).
//!
//! The futex word is a sequence number. `wait` reads it *while holding the lock*, releases the
//! lock and sleeps while the number is unchanged; `notify` bumps the number and wakes sleepers.
//! A notify that lands between the waiter's unlock and its sleep is not lost: the number has
//! moved, so `FUTEX_WAIT` returns at once. Wake-ups may be spurious: callers re-check their
//! condition in a loop (`while queue.is_empty() { guard = cv.wait(guard) }`), as with every
//! condition variable.
//!
//! `waiters` lets `notify` skip the syscall when nobody sleeps: the common case for a queue
//! that keeps up, and a large part of its speed.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::lock::LockGuard;
use crate::sys::{futex_wait, futex_wake};

/// A condition variable usable across processes (in shared memory).
#[derive(Debug, Default)]
#[repr(C)]
pub struct Condvar {
    seq: AtomicU32,
    waiters: AtomicU32,
}

impl Condvar {
    /// A new condition variable.
    pub const fn new() -> Condvar {
        Condvar {
            seq: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
        }
    }

    /// Release the lock, sleep until notified, re-acquire the lock.
    pub fn wait<'a>(&self, guard: LockGuard<'a>) -> LockGuard<'a> {
        self.wait_timeout(guard, None).0
    }

    /// As `wait`, for at most `timeout`. The bool is `true` if the timeout ran out.
    pub fn wait_timeout<'a>(
        &self,
        guard: LockGuard<'a>,
        timeout: Option<Duration>,
    ) -> (LockGuard<'a>, bool) {
        let lock = guard.lock();
        let seq = self.seq.load(Ordering::SeqCst);
        self.waiters.fetch_add(1, Ordering::SeqCst);
        drop(guard);
        let woke = futex_wait(&self.seq, seq, timeout);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        (lock.acquire(), !woke)
    }

    /// Wake one waiter.
    pub fn notify_one(&self) {
        self.seq.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            futex_wake(&self.seq, 1);
        }
    }

    /// Wake every waiter.
    pub fn notify_all(&self) {
        self.seq.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            futex_wake(&self.seq, i32::MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Lock;
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    #[test]
    fn hand_over_between_threads() {
        let s = Arc::new((Lock::new(), Condvar::new(), AtomicU64::new(0)));
        let s2 = s.clone();
        let h = std::thread::spawn(move || {
            for i in 1..=1000 {
                let mut g = s2.0.acquire();
                while s2.2.load(Ordering::Relaxed) != 2 * i - 1 {
                    g = s2.1.wait(g);
                }
                s2.2.store(2 * i, Ordering::Relaxed);
                s2.1.notify_all();
            }
        });
        for i in 1..=1000 {
            let mut g = s.0.acquire();
            while s.2.load(Ordering::Relaxed) != 2 * i - 2 {
                g = s.1.wait(g);
            }
            s.2.store(2 * i - 1, Ordering::Relaxed);
            s.1.notify_all();
        }
        h.join().unwrap();
        assert_eq!(s.2.load(Ordering::Relaxed), 2000);
    }

    #[test]
    fn wait_timeout_times_out() {
        let l = Lock::new();
        let cv = Condvar::new();
        let (_g, timed_out) = cv.wait_timeout(l.acquire(), Some(Duration::from_millis(10)));
        assert!(timed_out);
    }
}
