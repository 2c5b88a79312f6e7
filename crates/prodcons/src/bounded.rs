//! The threads-mode buffer: a bounded blocking FIFO queue built from one `std::sync::Mutex` and
//! two `std::sync::Condvar`s, with `close`. This is what Python's `queue.Queue(maxsize=N)` is
//! made of (a `threading.Lock` and the `not_empty` / `not_full` conditions), written out.
//!
//! ```text
//!            +------------------- Mutex<State> -------------------+
//!  put ----> | items: VecDeque (ring, allocated once: capacity)   | ----> get
//!            | closed, waiting_putters, waiting_getters           |
//!            +----------------------------------------------------+
//!  a putter that finds it full  waits on `not_full`   (woken by a get)
//!  a getter that finds it empty waits on `not_empty`  (woken by a put)
//! ```
//!
//! How each call works, and why:
//! - **Everything is decided under the lock.** `put` takes the mutex, looks at the length, and
//!   either pushes or goes to sleep on `not_full`. `Condvar::wait` releases the mutex and sleeps
//!   *in one step* (a futex wait underneath), so a `get` that frees a slot between our look and
//!   our sleep cannot be missed: it needs the mutex we still hold.
//! - **Wake-ups may be spurious**, and another thread may take the freed slot before the woken
//!   one gets the mutex back, so every wait sits in a loop that looks again.
//! - **Notify only when someone waits.** Each side counts its sleepers (under the lock). A `put`
//!   calls `not_empty.notify_one()` only if a getter sleeps, a `get` calls `not_full.notify_one()`
//!   only if a putter sleeps. When the two sides keep pace nobody sleeps, and a put or a get is
//!   one uncontended lock and unlock: no syscall at all. (The alternative, notifying on every
//!   call, costs a futex wake syscall per item whenever someone *might* wait.)
//! - **Notify after unlocking.** The woken thread's first act is to take the mutex; if we still
//!   held it, it would wake only to sleep again on the mutex.
//! - **Spin a little before sleeping.** A caller that finds the queue full (empty) first
//!   releases the lock and watches a copy of the length for a few microseconds at most, since
//!   the other side is usually about to make room (an item); only then does it sleep on the
//!   condvar. A sleep costs the sleeper a futex wait *and* the other side a futex wake syscall,
//!   several microseconds each; with one producer and one consumer on two CPUs this spin
//!   multiplies throughput several times. A waiter that finds nothing still sleeps in the
//!   kernel: the spin is bounded, never a sleep-and-check loop.
//! - **No allocation per item.** The `VecDeque` is allocated once with room for `capacity` items
//!   and used as a ring; items are moved in and out, never boxed.
//! - **`close`** sets a flag and wakes every sleeper on both sides. From then on `put` fails
//!   (the item is handed back), and `get` keeps returning items until the queue is empty, then
//!   fails with [`Closed`]. That is how consumers learn "no more items, ever" without a sentinel
//!   per consumer, and how producers blocked on a full queue are released when no consumer is
//!   left. (Python's `queue.Queue.shutdown()`, new in 3.13, is the same idea.)
//! - **A poisoned mutex** (a thread panicked while holding it) is taken over anyway: the state is
//!   only changed by a push or a pop, each of which cannot panic half-way, so it is consistent.
//!
//! The alternative not taken: a lock-free ring (what crossbeam's bounded channel is, and what the
//! `queue` member's cross-process queue is). Every put and get here takes the one lock, so with
//! one producer and one consumer on two CPUs the lock's cache line travels between them on every
//! item; a ring lets the two sides work on different slots and never meet while the buffer is
//! neither full nor empty. It is faster for that, but the lesson here is the classic monitor: a
//! lock plus conditions, as in Python.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Spin steps before sleeping: `SPIN_DOUBLINGS` of busy-waiting (1, 2, 4 ... 64 pauses), then
/// yields up to `SPIN_STEPS` (the shape of crossbeam's `Backoff`).
const SPIN_DOUBLINGS: u32 = 7;
const SPIN_STEPS: u32 = 10;

/// The queue was closed: no more puts; for `get`, also nothing left to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the queue is closed")
    }
}
impl std::error::Error for Closed {}

/// Why a non-blocking [`BoundedQueue::try_put`] did not put; the item comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// No room now (Python's `queue.Full`).
    Full(T),
    /// Closed.
    Closed(T),
}

/// Why a non-blocking [`BoundedQueue::try_get`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryGetError {
    /// Nothing there now (Python's `queue.Empty`).
    Empty,
    /// Closed and drained: nothing will ever come.
    Closed,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
    /// Threads sleeping in `put` (on `not_full`).
    waiting_putters: usize,
    /// Threads sleeping in `get` (on `not_empty`).
    waiting_getters: usize,
}

/// A bounded blocking FIFO queue for threads. See the module doc.
pub struct BoundedQueue<T> {
    state: Mutex<State<T>>,
    /// Getters sleep here while the queue is empty.
    not_empty: Condvar,
    /// Putters sleep here while the queue is full.
    not_full: Condvar,
    capacity: usize,
    /// A copy of the length, stored under the lock after every push and pop, read *without* the
    /// lock by a caller spinning before it sleeps (a hint: the decision is always re-made under
    /// the lock).
    len_hint: AtomicUsize,
    /// Set by `close`, read by spinners.
    closed_hint: AtomicBool,
}

impl<T> std::fmt::Debug for BoundedQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedQueue")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl<T> BoundedQueue<T> {
    /// A queue holding at most `capacity` items (Python's `Queue(maxsize=capacity)`).
    ///
    /// # Panics
    /// If `capacity` is 0: a queue that can hold nothing would block every `put` forever. (Python
    /// reads `maxsize=0` as "unbounded", which is the opposite of this lesson.)
    pub fn new(capacity: usize) -> Self {
        assert!(
            capacity > 0,
            "a bounded queue needs room for at least one item"
        );
        BoundedQueue {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(capacity),
                closed: false,
                waiting_putters: 0,
                waiting_getters: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity,
            len_hint: AtomicUsize::new(0),
            closed_hint: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Put `item` at the back, sleeping while the queue is full (backpressure). Returns how many
    /// items the queue holds right after this put (counted under the lock, so exact). After
    /// [`close`](Self::close) it fails and hands the item back.
    pub fn put(&self, item: T) -> Result<usize, (Closed, T)> {
        let mut st = self.lock();
        let mut spun = false;
        loop {
            if st.closed {
                return Err((Closed, item));
            }
            if st.items.len() < self.capacity {
                break;
            }
            if !spun {
                spun = true;
                drop(st);
                self.spin_until(|len| len < self.capacity);
                st = self.lock();
                continue;
            }
            st.waiting_putters += 1;
            st = self.not_full.wait(st).unwrap_or_else(|e| e.into_inner());
            st.waiting_putters -= 1;
        }
        Ok(self.push_locked(st, item))
    }

    /// Put without ever sleeping: `Full` if there is no room now.
    pub fn try_put(&self, item: T) -> Result<usize, TryPutError<T>> {
        let st = self.lock();
        if st.closed {
            return Err(TryPutError::Closed(item));
        }
        if st.items.len() >= self.capacity {
            return Err(TryPutError::Full(item));
        }
        Ok(self.push_locked(st, item))
    }

    fn push_locked(&self, mut st: MutexGuard<'_, State<T>>, item: T) -> usize {
        st.items.push_back(item);
        let len = st.items.len();
        self.len_hint.store(len, Ordering::Relaxed);
        let wake = st.waiting_getters > 0;
        drop(st);
        if wake {
            self.not_empty.notify_one();
        }
        len
    }

    /// Take the item at the front, sleeping while the queue is empty. Returns it with the number
    /// of items left right after. Once the queue is closed *and* empty: `Err(Closed)`.
    pub fn get(&self) -> Result<(T, usize), Closed> {
        let mut st = self.lock();
        let mut spun = false;
        loop {
            if let Some(item) = st.items.pop_front() {
                return Ok((item, self.after_pop(st)));
            }
            if st.closed {
                return Err(Closed);
            }
            if !spun {
                spun = true;
                drop(st);
                self.spin_until(|len| len > 0);
                st = self.lock();
                continue;
            }
            st.waiting_getters += 1;
            st = self.not_empty.wait(st).unwrap_or_else(|e| e.into_inner());
            st.waiting_getters -= 1;
        }
    }

    /// Take without ever sleeping: `Empty` if there is nothing now.
    pub fn try_get(&self) -> Result<(T, usize), TryGetError> {
        let mut st = self.lock();
        match st.items.pop_front() {
            Some(item) => Ok((item, self.after_pop(st))),
            None if st.closed => Err(TryGetError::Closed),
            None => Err(TryGetError::Empty),
        }
    }

    fn after_pop(&self, st: MutexGuard<'_, State<T>>) -> usize {
        let len = st.items.len();
        self.len_hint.store(len, Ordering::Relaxed);
        let wake = st.waiting_putters > 0;
        drop(st);
        if wake {
            self.not_full.notify_one();
        }
        len
    }

    /// Before sleeping, watch the length for a short while *without* the lock: the other side
    /// is often a few hundred nanoseconds from making the change we wait for, and a futex sleep
    /// plus the wake-up syscall it forces on the other side costs several microseconds. Bounded:
    /// a few doublings of `spin_loop` (the CPU's pause instruction), then a few `yield_now` (let
    /// the other thread run if it shares our CPU), then give up and sleep. Reading the hint
    /// without the lock keeps the spinner off the lock's cache line.
    fn spin_until(&self, ready: impl Fn(usize) -> bool) {
        for step in 0..SPIN_STEPS {
            if ready(self.len_hint.load(Ordering::Relaxed))
                || self.closed_hint.load(Ordering::Relaxed)
            {
                return;
            }
            if step < SPIN_DOUBLINGS {
                for _ in 0..1u32 << step {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// No more puts. Sleepers on both sides wake: putters fail, getters drain what is left and
    /// then fail. Idempotent.
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        self.closed_hint.store(true, Ordering::Relaxed);
        drop(st);
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    /// Items in the queue now (Python's `qsize()`: already stale when you read it).
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether the queue is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most items it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn fifo_and_lengths() {
        let q = BoundedQueue::new(3);
        assert_eq!(q.put(1), Ok(1));
        assert_eq!(q.put(2), Ok(2));
        assert_eq!(q.try_put(3), Ok(3));
        assert_eq!(q.try_put(4), Err(TryPutError::Full(4)));
        assert_eq!(q.get(), Ok((1, 2)));
        assert_eq!(q.try_get(), Ok((2, 1)));
        assert_eq!(q.get(), Ok((3, 0)));
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
    }

    #[test]
    fn close_drains_then_fails_and_refuses_puts() {
        let q = BoundedQueue::new(2);
        q.put('a').unwrap();
        q.close();
        assert_eq!(q.put('b'), Err((Closed, 'b')));
        assert_eq!(q.try_put('c'), Err(TryPutError::Closed('c')));
        assert_eq!(q.get(), Ok(('a', 0)));
        assert_eq!(q.get(), Err(Closed));
        assert_eq!(q.try_get(), Err(TryGetError::Closed));
    }

    /// A getter on an empty queue and a putter on a full one both end when the queue is closed,
    /// whether they were already asleep or arrive after the close. The results come back on a
    /// channel with a deadline, so a lost wake-up fails the test instead of hanging it.
    #[test]
    fn close_releases_blocked_getters_and_putters() {
        let empty = BoundedQueue::<u8>::new(1);
        let full = BoundedQueue::new(1);
        full.put(0u8).unwrap();
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::channel();
            for _ in 0..3 {
                let (tx1, tx2) = (tx.clone(), tx.clone());
                let (empty, full) = (&empty, &full);
                s.spawn(move || tx1.send(format!("get {:?}", empty.get())).unwrap());
                s.spawn(move || {
                    tx2.send(format!("put {:?}", full.put(9).map_err(|e| e.0)))
                        .unwrap()
                });
            }
            empty.close();
            full.close();
            let mut got: Vec<String> = (0..6)
                .map(|_| {
                    rx.recv_timeout(Duration::from_secs(10))
                        .expect("a blocked call ended")
                })
                .collect();
            got.sort();
            assert_eq!(got[..3], ["get Err(Closed)"; 3]);
            assert_eq!(got[3..], ["put Err(Closed)"; 3]);
        });
    }

    /// Many producers and consumers through a queue of 1 (maximum blocking): every item exactly
    /// once, and each consumer sees each producer's items in increasing order.
    #[test]
    fn exactly_once_and_per_producer_order_under_contention() {
        const P: usize = 4;
        const N: u32 = 5_000;
        let q = BoundedQueue::new(1);
        let seen = std::thread::scope(|s| {
            let consumers: Vec<_> = (0..3)
                .map(|_| {
                    let q = &q;
                    s.spawn(move || {
                        let mut last = [None::<u32>; P];
                        let mut got = Vec::new();
                        while let Ok(((p, i), _)) = q.get() {
                            assert!(!matches!(last[p], Some(l) if l >= i), "order broken");
                            last[p] = Some(i);
                            got.push((p, i));
                        }
                        got
                    })
                })
                .collect();
            let producers: Vec<_> = (0..P)
                .map(|p| {
                    let q = &q;
                    s.spawn(move || {
                        for i in 0..N {
                            assert!(q.put((p, i)).unwrap() <= 1);
                        }
                    })
                })
                .collect();
            for h in producers {
                h.join().unwrap();
            }
            q.close();
            consumers
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        let mut counts = vec![0u32; P * N as usize];
        for (p, i) in seen {
            counts[p * N as usize + i as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c == 1));
    }
}
