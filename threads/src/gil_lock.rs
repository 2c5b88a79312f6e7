//! An emulated GIL: one lock that a thread must hold to "run Python code".
//!
//! CPython (3.2 and later, `Python/ceval_gil.h`) works like this:
//! - a thread holds the GIL while it runs bytecode;
//! - a thread that wants it waits; if it has waited one *switch interval* (5 ms,
//!   `sys.getswitchinterval()`), it sets a "drop request";
//! - the holder checks for that request between bytecodes (the "eval breaker"), releases the GIL,
//!   and then waits until *another* thread has taken it ("forced switching"), so it cannot just
//!   grab it back at once;
//! - around a blocking call (`time.sleep`, `read`, `recv`...) the thread releases the GIL
//!   (`Py_BEGIN_ALLOW_THREADS`) and takes it back afterwards.
//!
//! Here: [`Gil::acquire`] takes it; [`GilGuard::tick`] is the eval breaker: the demo calls it
//! after each small chunk of work, and once the holder has had the GIL for a switch interval
//! while someone waits, it hands over and waits for the switch; [`GilGuard::allow_threads`]
//! releases it around a blocking call. Simplification: the *holder* watches the clock, where
//! CPython has the *waiter* time out and raise the request; the effect (a handover every
//! interval while someone waits) is the same.
//!
//! With `--trace FILE` every thread's track shows "waiting for the GIL" and "holding the GIL"
//! slices. Both ends of a hold are read from the clock *while the state mutex is held*, right
//! after `held = true` and right before `held = false`: so the holds of two threads can touch
//! but never overlap, and the picture is exactly the one-at-a-time the lock enforces.
//!
//! Underneath it is a `std::sync::Mutex` guarding the state (`held`, `waiting`, `switches`) and
//! a `Condvar` to sleep on, which is how CPython builds its GIL too (a pthread mutex and condition
//! variables). A plain `Mutex<()>` held while computing would also make the threads take turns,
//! but it is not fair: the thread that unlocks can lock again before a sleeping waiter wakes, and
//! one thread would run for a long time while the others starve (CPython's old GIL, before 3.2,
//! had that problem on multi-core machines).

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::trace;

#[derive(Debug, Default)]
struct State {
    /// Some thread holds the GIL.
    held: bool,
    /// Threads waiting in `acquire` (or to take it back after a forced switch).
    waiting: u32,
    /// How many times the GIL has been taken: a handover changes it.
    switches: u64,
}

/// The global interpreter lock of one emulated interpreter.
#[derive(Debug)]
pub struct Gil {
    state: Mutex<State>,
    cv: Condvar,
    interval: Duration,
}

/// Proof of holding the GIL. Dropping it releases the GIL.
#[derive(Debug)]
pub struct GilGuard<'a> {
    gil: &'a Gil,
    since: Instant,
    /// When this thread took the GIL, for the trace (0 without `--trace`).
    held_since_us: f64,
}

/// The trace's clock, read only when `--trace` is on.
fn trace_now() -> f64 {
    if trace::enabled() {
        trace::now_us()
    } else {
        0.0
    }
}

/// A slice on the calling thread's track.
fn trace_slice(name: &str, start_us: f64, end_us: f64) {
    if trace::enabled() {
        trace::slice(
            name,
            "gil",
            trace::this_thread(),
            start_us,
            end_us,
            serde_json::json!({}),
        );
    }
}

impl Gil {
    /// A GIL whose holder lets go every `interval` while someone waits.
    pub fn new(interval: Duration) -> Gil {
        Gil {
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
            interval,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait (asleep on the condvar) until the GIL is free, then take it (CPython's `take_gil`).
    pub fn acquire(&self) -> GilGuard<'_> {
        let waiting_since = trace_now();
        let s = self.lock();
        let held_since_us = self.take(s, waiting_since);
        GilGuard {
            gil: self,
            since: Instant::now(),
            held_since_us,
        }
    }

    /// Wait for the GIL and take it; returns the trace time at which it was taken.
    fn take(&self, mut state: MutexGuard<'_, State>, waiting_since: f64) -> f64 {
        state.waiting += 1;
        let mut state = self
            .cv
            .wait_while(state, |state| state.held)
            .unwrap_or_else(|e| e.into_inner());
        state.waiting -= 1;
        state.held = true;
        state.switches += 1;
        let taken = trace_now(); // still under the state mutex: after the previous release
        drop(state);
        // A holder waiting for its forced switch to happen is waiting for exactly this.
        self.cv.notify_all();
        trace_slice("waiting for the GIL", waiting_since, taken);
        taken
    }

    /// Let go; returns the trace time at which the hold ended.
    fn release(&self) -> f64 {
        let mut s = self.lock();
        let released = trace_now(); // under the state mutex: before anyone can take it
        s.held = false;
        drop(s);
        self.cv.notify_all();
        released
    }

    /// How many times the GIL has been taken so far.
    pub fn switches(&self) -> u64 {
        self.lock().switches
    }
}

impl GilGuard<'_> {
    /// The eval breaker: called between chunks of work. After a switch interval, if another
    /// thread waits, release the GIL, wait until someone else has taken it, then queue for it
    /// again. Returns whether a handover happened.
    pub fn tick(&mut self) -> bool {
        if self.since.elapsed() < self.gil.interval {
            return false;
        }
        let gil = self.gil;
        let mut s = gil.lock();
        let handed_over = s.waiting > 0;
        if handed_over {
            let released = trace_now(); // under the state mutex, before `held = false`
            s.held = false;
            let before = s.switches;
            gil.cv.notify_all();
            trace_slice("holding the GIL", self.held_since_us, released);
            // Forced switching: do not compete again until another thread has the GIL.
            let s = gil
                .cv
                .wait_while(s, |s| s.switches == before)
                .unwrap_or_else(|e| e.into_inner());
            self.held_since_us = gil.take(s, released);
        } else {
            drop(s);
        }
        self.since = Instant::now();
        handed_over
    }

    /// Release the GIL around `blocking_call` and take it back afterwards
    /// (`Py_BEGIN_ALLOW_THREADS` ... `Py_END_ALLOW_THREADS`).
    pub fn allow_threads<R>(self, blocking_call: impl FnOnce() -> R) -> (Self, R) {
        let gil = self.gil;
        drop(self);
        let result = blocking_call();
        (gil.acquire(), result)
    }
}

impl Drop for GilGuard<'_> {
    fn drop(&mut self) {
        let released = self.gil.release();
        trace_slice("holding the GIL", self.held_since_us, released);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn one_holder_at_a_time_and_it_changes_hands() {
        let gil = Gil::new(Duration::from_micros(200));
        let inside = AtomicU32::new(0);
        let most = AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    let mut g = gil.acquire();
                    let end = Instant::now() + Duration::from_millis(20);
                    while Instant::now() < end {
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::hint::black_box(crate::work::spin(1000, 3));
                        inside.fetch_sub(1, Ordering::SeqCst);
                        g.tick();
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 1);
        // Three threads each computing 20 ms with a 0.2 ms interval: many handovers.
        assert!(gil.switches() > 3, "switches {}", gil.switches());
    }

    #[test]
    fn allow_threads_lets_another_thread_in() {
        let gil = Gil::new(Duration::from_millis(5));
        let g = gil.acquire();
        let (g, entered) = g.allow_threads(|| {
            std::thread::scope(|s| s.spawn(|| drop(gil.acquire())).join().is_ok())
        });
        assert!(entered);
        drop(g);
        assert_eq!(gil.switches(), 3);
    }
}
