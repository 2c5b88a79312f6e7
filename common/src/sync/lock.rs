//! A process-shared lock (Python's `multiprocessing.Lock`): Ulrich Drepper's three-state futex
//! mutex ("Futexes Are Tricky", mutex #2).
//!
//! The word is 0 (unlocked), 1 (locked, nobody waiting) or 2 (locked, maybe someone waiting).
//! - `acquire`: CAS 0 -> 1 and we are done, without entering the kernel. Otherwise spin a little
//!   ([`Backoff`](crate::backoff::Backoff): the holder is probably about to release), then set 2
//!   and `FUTEX_WAIT` while it stays 2.
//! - `release`: swap to 0; only if the old value was 2 (someone may sleep) call `FUTEX_WAKE`.
//!
//! The lock also records its holder's pid. That is diagnosis, not ownership: if a holder dies
//! (Python's `p.terminate()` on a process inside `with lock:`), nothing releases the word and the
//! next `acquire` waits forever. [`Lock::acquire_timeout`] lets a demo notice that and name the
//! dead holder (`process lock-held`).

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::sys::{futex_wait, futex_wake};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

/// A lock that works across processes when it lives in shared memory.
#[derive(Debug, Default)]
#[repr(C)]
pub struct Lock {
    word: AtomicU32,
    holder: AtomicI32,
}

/// Holding the lock; dropping it releases.
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Lock {
    /// A new unlocked lock (all-zero, as a fresh mapping already is).
    pub const fn new() -> Lock {
        Lock {
            word: AtomicU32::new(UNLOCKED),
            holder: AtomicI32::new(0),
        }
    }

    /// Block until the lock is ours (Python's `lock.acquire()` / `with lock:`).
    ///
    /// `#[inline]` with the slow path kept out of line: an uncontended acquire is then one
    /// compare-and-swap in the caller's own loop, as fast as a hand-written one.
    #[inline]
    pub fn acquire(&self) -> LockGuard<'_> {
        if let Some(g) = self.try_acquire() {
            return g;
        }
        match self.acquire_until(None) {
            Some(g) => g,
            None => unreachable!("no deadline, so acquire cannot time out"),
        }
    }

    /// Like `acquire`, but give up after `timeout` (Python's `lock.acquire(timeout=...)`).
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<LockGuard<'_>> {
        self.acquire_until(Some(Instant::now() + timeout))
    }

    /// One attempt, never blocking.
    #[inline]
    pub fn try_acquire(&self) -> Option<LockGuard<'_>> {
        self.word
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| self.locked())
    }

    #[cold]
    #[inline(never)]
    fn acquire_until(&self, deadline: Option<Instant>) -> Option<LockGuard<'_>> {
        // The holder is probably a few instructions from releasing: the shared spin-then-yield
        // budget first, the kernel only after it.
        let mut backoff = Backoff::new();
        while backoff.snooze() {
            if let Some(g) = self.try_acquire() {
                return Some(g);
            }
        }
        // Slow path: announce a waiter (2) and sleep while the word stays 2. swap returns the old
        // value: 0 means the holder released meanwhile and the lock is now ours (left at 2, which
        // only costs one needless wake later).
        while self.word.swap(CONTENDED, Ordering::Acquire) != UNLOCKED {
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    Some(left)
                }
            };
            futex_wait(&self.word, CONTENDED, timeout);
        }
        Some(self.locked())
    }

    #[inline]
    fn locked(&self) -> LockGuard<'_> {
        self.holder.store(crate::child::my_pid(), Ordering::Relaxed);
        LockGuard { lock: self }
    }

    /// The pid that last acquired the lock, while it is held (0 when free).
    pub fn holder(&self) -> i32 {
        if self.word.load(Ordering::Relaxed) == UNLOCKED {
            0
        } else {
            self.holder.load(Ordering::Relaxed)
        }
    }

    #[inline]
    fn release(&self) {
        self.holder.store(0, Ordering::Relaxed);
        if self.word.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            self.wake_one();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_one(&self) {
        futex_wake(&self.word, 1);
    }
}

impl<'a> LockGuard<'a> {
    /// The lock this guard holds (used by [`super::Condvar`]).
    pub fn lock(&self) -> &'a Lock {
        self.lock
    }
}

impl Drop for LockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.lock.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    #[test]
    fn excludes_between_threads() {
        // Threads share memory just as processes share a MAP_SHARED page; the futex works the
        // same (the process demos are exercised by the tests crate).
        let lock = Arc::new((Lock::new(), AtomicU64::new(0)));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let l = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        let _g = l.0.acquire();
                        // load-then-store: would lose updates without the lock
                        let v = l.1.load(Ordering::Relaxed);
                        l.1.store(v + 1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(lock.1.load(Ordering::Relaxed), 40_000);
    }

    #[test]
    fn timeout_when_held() {
        let lock = Lock::new();
        let g = lock.acquire();
        assert_eq!(lock.holder(), crate::child::my_pid());
        assert!(lock.acquire_timeout(Duration::from_millis(20)).is_none());
        drop(g);
        assert!(lock.acquire_timeout(Duration::from_millis(20)).is_some());
        assert_eq!(lock.holder(), 0);
    }
}
