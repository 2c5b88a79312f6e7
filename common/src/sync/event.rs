//! Sleeping until the other side has done something, without ever missing its wake-up.
//!
//! Two pieces, one concept:
//! - [`SleeperFlag`]: one word saying "somebody may be asleep, or about to be". The side that
//!   changes the state looks at it and only pays for a wake-up (a system call) when it is set.
//!   A structure that keeps up never has sleepers, so the steady state costs no system call.
//! - [`Event`]: that flag plus a futex word `seq`, for a reason to sleep shared by processes
//!   ("not empty", "not full"). The pool's doorbell uses the same flag with a pipe instead of a
//!   futex, because its sleeper waits in `poll(2)`.
//!
//! The order of the steps is the whole correctness argument:
//!
//! ```text
//! sleeper                                   waker
//! key = seq                  (1)            change the state                    (a)
//! sleepers = 1; fence        (2)            fence; if sleepers: sleepers = 0,   (b)
//! look at the state again    (3)                       seq += 1, FUTEX_WAKE(all)
//! FUTEX_WAIT(seq, key)       (4)
//! ```
//!
//! Each side writes one thing, then reads the other's, with a full fence in between (Dekker's
//! pattern). So either the sleeper's second look (3) sees the change (a) and it does not sleep,
//! or the waker's read (b) sees the flag, bumps `seq` and wakes: if that happens before (4),
//! `seq` no longer equals the key and `FUTEX_WAIT` returns at once (the kernel compares and
//! sleeps atomically). A wake-up cannot fall between "checked" and "asleep": the classic lost
//! wake-up is impossible.
//!
//! Why wake *all* sleepers: the flag does not count them, so the waker cannot know how many
//! there are. Waking all once, then nobody until someone sleeps again, costs one system call per
//! sleep instead of one per message; with the few processes of these demos, the herd is small.
//!
//! Why not [`Condvar`](super::Condvar): a condition variable is tied to a lock, and a lock-free
//! ring has none. Use the condvar where a lock already guards the state (a monitor), this where
//! the state is a few atomics.

use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::sys::{futex_wait, futex_wake};

/// "Somebody may be asleep": the sleeper's half and the waker's half of the handshake.
#[derive(Debug, Default)]
#[repr(C)]
pub struct SleeperFlag {
    word: AtomicU32,
}

impl SleeperFlag {
    /// A flag with nobody asleep.
    pub const fn new() -> SleeperFlag {
        SleeperFlag {
            word: AtomicU32::new(0),
        }
    }

    /// Sleeper, step (2): announce yourself. The caller must look at the state once more
    /// *after* this, and sleep only if nothing changed.
    pub fn announce(&self) {
        self.word.store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Sleeper: awake again (whether or not anybody woke it).
    pub fn clear(&self) {
        self.word.store(0, Ordering::SeqCst);
    }

    /// Waker, step (b), after changing the state: `true` if a sleeper announced itself (the flag
    /// is then cleared, so the next change costs nothing until somebody sleeps again). When
    /// nobody sleeps this is a fence and a load of a word nobody writes: no system call.
    pub fn take(&self) -> bool {
        fence(Ordering::SeqCst);
        self.word.load(Ordering::Relaxed) != 0 && self.word.swap(0, Ordering::SeqCst) != 0
    }
}

/// One reason to sleep (for example "not empty"), as two words of shared memory.
#[derive(Debug, Default)]
#[repr(C)]
pub struct Event {
    /// The futex word: bumped by every wake-up that found a sleeper.
    seq: AtomicU32,
    /// Set while somebody may be asleep on `seq`.
    sleepers: SleeperFlag,
}

impl Event {
    /// An event nobody waits on.
    pub const fn new() -> Event {
        Event {
            seq: AtomicU32::new(0),
            sleepers: SleeperFlag::new(),
        }
    }

    /// Steps (1) and (2): take the key and announce a sleeper. The caller must then look at the
    /// state once more (3) and only if nothing changed call [`Event::sleep`] with this key.
    pub fn prepare(&self) -> u32 {
        let key = self.seq.load(Ordering::SeqCst);
        self.sleepers.announce();
        key
    }

    /// Step (4): sleep in the kernel while `seq` still equals `key`, at most `timeout`. Returns
    /// on a wake-up, a changed `seq`, a signal or the timeout: the caller looks again in any case.
    pub fn sleep(&self, key: u32, timeout: Option<Duration>) {
        futex_wait(&self.seq, key, timeout);
    }

    /// After changing the state: wake every sleeper, if there is one.
    #[inline]
    pub fn notify(&self) {
        if self.sleepers.take() {
            self.wake_all();
        }
    }

    /// Wake everyone whatever the flag says (for `close`, which is rare).
    pub fn notify_all(&self) {
        fence(Ordering::SeqCst);
        self.sleepers.clear();
        self.wake_all();
    }

    #[cold]
    fn wake_all(&self) {
        self.seq.fetch_add(1, Ordering::SeqCst);
        futex_wake(&self.seq, i32::MAX);
    }

    /// Block until `ready()` holds: first the [`Backoff`] budget, then steps (1)-(4) in a loop.
    /// Returns `false` if `deadline` passed first. `ready` is called many times; it must only
    /// look (the caller acts once this returns `true`).
    pub fn wait_until(&self, mut ready: impl FnMut() -> bool, deadline: Option<Instant>) -> bool {
        let mut backoff = Backoff::new();
        loop {
            if ready() {
                return true;
            }
            if !backoff.snooze() {
                break;
            }
        }
        loop {
            let key = self.prepare();
            if ready() {
                return true;
            }
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return ready();
                    }
                    Some(left)
                }
            };
            self.sleep(key, timeout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn a_notify_between_check_and_sleep_is_not_lost() {
        // The waker runs entirely between the sleeper's prepare and its sleep: the key is stale,
        // so the sleep returns at once instead of waiting forever.
        let ev = Event::new();
        let key = ev.prepare();
        ev.notify();
        assert!(!ev.sleepers.take(), "the waker took the flag");
        ev.sleep(key, None); // would hang if the wake-up were lost
    }

    #[test]
    fn notify_without_sleepers_makes_no_wake_up() {
        let ev = Event::new();
        ev.notify();
        assert_eq!(
            ev.seq.load(Ordering::SeqCst),
            0,
            "no sleeper: no bump, no syscall"
        );
    }

    #[test]
    fn a_sleeping_thread_is_woken() {
        // Threads stand in for processes: the futex protocol is the same on a MAP_SHARED page.
        let shared = Arc::new((Event::new(), AtomicBool::new(false)));
        let s2 = shared.clone();
        let h = std::thread::spawn(move || s2.0.wait_until(|| s2.1.load(Ordering::SeqCst), None));
        std::thread::sleep(Duration::from_millis(20)); // let it spend its budget and sleep
        shared.1.store(true, Ordering::SeqCst);
        shared.0.notify();
        assert!(h.join().unwrap());
    }

    #[test]
    fn wait_until_gives_up_at_the_deadline() {
        let ev = Event::new();
        let t = Instant::now();
        assert!(!ev.wait_until(|| false, Some(t + Duration::from_millis(30))));
        assert!(t.elapsed() >= Duration::from_millis(30));
    }
}
