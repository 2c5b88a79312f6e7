//! Step 1 of the threads-mode buffer, and the default: the **classic monitor**. One lock guards
//! the whole queue; two condition variables on that lock say why a thread sleeps: `not_full`
//! (a producer waits for room) and `not_empty` (a consumer waits for an item). This is exactly
//! how CPython builds `queue.Queue(maxsize)`:
//!
//! ```python
//! import collections, threading
//!
//! class Queue:                                   # CPython's queue.Queue, in short
//!     def __init__(self, maxsize):
//!         self.maxsize, self.queue = maxsize, collections.deque()
//!         self.mutex = threading.Lock()
//!         self.not_empty = threading.Condition(self.mutex)
//!         self.not_full = threading.Condition(self.mutex)
//!     def put(self, item):
//!         with self.not_full:                    # takes the one lock
//!             while len(self.queue) >= self.maxsize:
//!                 self.not_full.wait()           # releases it while asleep
//!             self.queue.append(item)
//!             self.not_empty.notify()
//!     def get(self):
//!         with self.not_empty:
//!             while not self.queue:
//!                 self.not_empty.wait()
//!             item = self.queue.popleft()
//!             self.not_full.notify()
//!             return item
//!
//! q = Queue(2)
//! t = threading.Thread(target=lambda: [q.put(i) for i in range(5)])
//! t.start()
//! print([q.get() for _ in range(5)])             # [0, 1, 2, 3, 4]
//! t.join()
//! ```
//!
//! Here the lock is [`common::sync::Lock`] and the conditions [`common::sync::Condvar`]: the
//! workspace's own futex lock and condition variable, which a student can read down to the
//! syscall (`std::sync::Mutex` and `Condvar` are built on the same futex calls on Linux).
//! Like Python's `threading.Lock`, this lock guards no value of its own, so the state it guards
//! sits beside it: a ring of `capacity` words (an [`crate::Item`] is one `u64`), the position of
//! the oldest item, the count and the closed flag. They are atomics only so that Rust lets
//! several threads reach them without `unsafe`; every access happens with the lock held, and the
//! lock's acquire and release order them, so `Relaxed` is enough. Each access takes the
//! [`LockGuard`] as a witness, so code that has not taken the lock cannot call it.
//!
//! How each call works, and why:
//! - **`put`** takes the lock; while the queue is full it waits on `not_full`. `Condvar::wait`
//!   releases the lock and sleeps in the kernel (`FUTEX_WAIT`) as one step that cannot miss a
//!   notify, and takes the lock again before returning. Then it writes the item, releases the
//!   lock, and notifies `not_empty`: one sleeping consumer, if any, wakes up.
//! - **`get`** is the mirror image: waits on `not_empty` while the queue is empty, takes the
//!   oldest item, notifies `not_full`.
//! - **Wake-ups may be spurious**, and another thread may take the freed slot (the item) before
//!   the woken one gets the lock back, so each wait sits in a `while` loop that looks again.
//! - **Notify after unlocking**: the woken thread's first act is to take the lock; notifying
//!   while still holding it would wake it only to make it wait for us. A notify costs no
//!   syscall when nobody sleeps (the condvar counts its waiters), which is the common case when
//!   both sides keep pace.
//! - **`close`** sets the flag under the lock and wakes everyone on both conditions: puts then
//!   fail, and gets drain what is left and then fail with [`Closed`]. That is how consumers learn
//!   "no more items" without a sentinel each (Python 3.13 added `queue.Queue.shutdown()` for the
//!   same reason).
//! - **A panic** cannot leave the queue half-changed: nothing between taking the lock and
//!   releasing it can panic, and the guard releases the lock as the stack unwinds.
//!
//! What it costs: every put and every get of every thread takes the same lock. With a producer
//! and a consumer on two CPUs that lock's cache line moves between the CPUs on every call, and
//! when the two collide one of them spins or sleeps. Step 2 ([`crate::two_lock`]) gives each end
//! its own lock; the bench (`cargo run --release -p bench -- --only prodcons`) measures both.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

use common::sync::{Condvar, Lock, LockGuard};

/// The queue was closed: no more puts; for `get`, also nothing left to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the queue is closed")
    }
}
impl std::error::Error for Closed {}

/// Why a non-blocking [`Monitor::try_put`] or [`Monitor::try_get`] did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryError {
    /// `try_put`: no room now (Python's `queue.Full`).
    Full,
    /// `try_get`: nothing there now (Python's `queue.Empty`).
    Empty,
    /// Closed (and, for `try_get`, drained).
    Closed,
}

/// A bounded blocking FIFO of `u64` items for threads: one lock, two conditions. See the module
/// doc.
#[derive(Debug)]
pub struct Monitor {
    /// The one lock: held by whoever reads or changes anything below.
    lock: Lock,
    /// Producers sleep here while the queue is full.
    not_full: Condvar,
    /// Consumers sleep here while the queue is empty.
    not_empty: Condvar,
    /// The ring: the items are `slots[(oldest + k) % capacity]` for `k` in `0..count`.
    slots: Box<[AtomicU64]>,
    /// Where the oldest item is.
    oldest: AtomicUsize,
    /// How many items are in the queue.
    count: AtomicUsize,
    /// Set once by `close`.
    closed: AtomicBool,
}

impl Monitor {
    /// A queue holding at most `capacity` items (Python's `Queue(maxsize=capacity)`).
    ///
    /// # Panics
    /// If `capacity` is 0: a queue that can hold nothing would block every `put` forever. (Python
    /// reads `maxsize=0` as "unbounded", which is the opposite of this lesson.)
    pub fn new(capacity: usize) -> Monitor {
        assert!(
            capacity > 0,
            "a bounded queue needs room for at least one item"
        );
        Monitor {
            lock: Lock::new(),
            not_full: Condvar::new(),
            not_empty: Condvar::new(),
            slots: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            oldest: AtomicUsize::new(0),
            count: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// The most items it holds.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Put `item` at the back, sleeping while the queue is full (backpressure). Returns how many
    /// items the queue holds right after this put. After [`close`](Self::close): `Err(Closed)`.
    pub fn put(&self, item: u64) -> Result<usize, Closed> {
        let mut held = self.lock.acquire();
        while self.count(&held) == self.capacity() && !self.is_closed_locked(&held) {
            held = self.not_full.wait(held);
        }
        if self.is_closed_locked(&held) {
            return Err(Closed);
        }
        let count = self.push(&held, item);
        drop(held);
        self.not_empty.notify_one();
        Ok(count)
    }

    /// Put without ever sleeping: `Err(Full)` if there is no room now.
    pub fn try_put(&self, item: u64) -> Result<usize, TryError> {
        let held = self.lock.acquire();
        if self.is_closed_locked(&held) {
            return Err(TryError::Closed);
        }
        if self.count(&held) == self.capacity() {
            return Err(TryError::Full);
        }
        let count = self.push(&held, item);
        drop(held);
        self.not_empty.notify_one();
        Ok(count)
    }

    /// Take the oldest item, sleeping while the queue is empty. Returns it with how many items
    /// are left. Once the queue is closed *and* empty: `Err(Closed)`.
    pub fn get(&self) -> Result<(u64, usize), Closed> {
        let mut held = self.lock.acquire();
        while self.count(&held) == 0 {
            if self.is_closed_locked(&held) {
                return Err(Closed);
            }
            held = self.not_empty.wait(held);
        }
        let taken = self.pop(&held);
        drop(held);
        self.not_full.notify_one();
        Ok(taken)
    }

    /// Take without ever sleeping: `Err(Empty)` if there is nothing now.
    pub fn try_get(&self) -> Result<(u64, usize), TryError> {
        let held = self.lock.acquire();
        if self.count(&held) == 0 {
            return Err(if self.is_closed_locked(&held) {
                TryError::Closed
            } else {
                TryError::Empty
            });
        }
        let taken = self.pop(&held);
        drop(held);
        self.not_full.notify_one();
        Ok(taken)
    }

    /// No more puts. Sleepers on both sides wake: putters fail, getters drain what is left and
    /// then fail. Idempotent.
    pub fn close(&self) {
        let held = self.lock.acquire();
        self.closed.store(true, Relaxed);
        drop(held);
        self.not_full.notify_all();
        self.not_empty.notify_all();
    }

    /// Items in the queue now (Python's `qsize()`: already stale when you read it).
    pub fn len(&self) -> usize {
        let held = self.lock.acquire();
        self.count(&held)
    }

    /// Whether the queue is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // --- The state, with the lock held (the guard is the proof) ---------------------------------

    fn count(&self, held: &LockGuard<'_>) -> usize {
        self.check(held);
        self.count.load(Relaxed)
    }

    fn is_closed_locked(&self, held: &LockGuard<'_>) -> bool {
        self.check(held);
        self.closed.load(Relaxed)
    }

    /// Write `item` after the newest one; the caller checked there is room. Returns the count.
    fn push(&self, held: &LockGuard<'_>, item: u64) -> usize {
        let count = self.count(held);
        let at = (self.oldest.load(Relaxed) + count) % self.capacity();
        self.slots[at].store(item, Relaxed);
        self.count.store(count + 1, Relaxed);
        count + 1
    }

    /// Take the oldest item; the caller checked there is one. Returns it with the count left.
    fn pop(&self, held: &LockGuard<'_>) -> (u64, usize) {
        let count = self.count(held);
        let oldest = self.oldest.load(Relaxed);
        let item = self.slots[oldest].load(Relaxed);
        self.oldest.store((oldest + 1) % self.capacity(), Relaxed);
        self.count.store(count - 1, Relaxed);
        (item, count - 1)
    }

    /// The guard must be of *this* queue's lock.
    fn check(&self, held: &LockGuard<'_>) {
        debug_assert!(
            std::ptr::eq(held.lock(), &self.lock),
            "another lock's guard"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn fifo_counts_and_wrap_around() {
        let q = Monitor::new(3);
        assert_eq!(q.put(1), Ok(1));
        assert_eq!(q.put(2), Ok(2));
        assert_eq!(q.try_put(3), Ok(3));
        assert_eq!(q.try_put(4), Err(TryError::Full));
        assert_eq!(q.get(), Ok((1, 2)));
        assert_eq!(q.put(4), Ok(3), "the ring wraps around");
        assert_eq!(q.try_get(), Ok((2, 2)));
        assert_eq!(q.get(), Ok((3, 1)));
        assert_eq!(q.get(), Ok((4, 0)));
        assert_eq!(q.try_get(), Err(TryError::Empty));
        assert!(q.is_empty());
    }

    #[test]
    fn close_drains_then_fails_and_refuses_puts() {
        let q = Monitor::new(2);
        q.put(7).unwrap();
        q.close();
        assert_eq!(q.put(8), Err(Closed));
        assert_eq!(q.try_put(9), Err(TryError::Closed));
        assert_eq!(q.get(), Ok((7, 0)));
        assert_eq!(q.get(), Err(Closed));
        assert_eq!(q.try_get(), Err(TryError::Closed));
    }

    /// A getter on an empty queue and a putter on a full one both end when the queue is closed,
    /// whether they were already asleep or arrive after the close. The results come back on a
    /// channel with a deadline, so a lost wake-up fails the test instead of hanging it.
    #[test]
    fn close_releases_blocked_getters_and_putters() {
        let empty = Monitor::new(1);
        let full = Monitor::new(1);
        full.put(0).unwrap();
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::channel();
            for _ in 0..3 {
                let (tx1, tx2) = (tx.clone(), tx.clone());
                let (empty, full) = (&empty, &full);
                s.spawn(move || tx1.send(format!("get {:?}", empty.get())).unwrap());
                s.spawn(move || tx2.send(format!("put {:?}", full.put(9))).unwrap());
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

    /// Two threads bounce a token through two queues of capacity 1, so nearly every get finds its
    /// queue empty and sleeps until the other thread's put notifies it. A lost wake-up would
    /// stall the bounce; the deadline turns that into a failure, not a hang.
    #[test]
    fn no_lost_wakeups_in_ping_pong() {
        const ROUNDS: u64 = 20_000;
        let (ping, pong) = (Monitor::new(1), Monitor::new(1));
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|s| {
            let (ping, pong) = (&ping, &pong);
            s.spawn(move || {
                while let Ok((v, 0)) = ping.get() {
                    pong.put(v + 1).unwrap();
                }
            });
            s.spawn(move || {
                let mut v = 0;
                for _ in 0..ROUNDS {
                    ping.put(v).unwrap();
                    v = pong.get().unwrap().0;
                }
                ping.close();
                tx.send(v).unwrap();
            });
            let last = rx.recv_timeout(Duration::from_secs(60));
            ping.close();
            pong.close();
            assert_eq!(last, Ok(ROUNDS), "the ping-pong stalled or lost a token");
        });
    }

    /// Many producers and consumers through a queue of 1 (maximum blocking): every item exactly
    /// once, each consumer sees each producer's items in increasing order, and no put ever sees
    /// more than the capacity.
    #[test]
    fn exactly_once_and_per_producer_order_under_contention() {
        const PRODUCERS: u64 = 4;
        const PER_PRODUCER: u64 = 5_000;
        let q = Monitor::new(1);
        let seen = std::thread::scope(|s| {
            let consumers: Vec<_> = (0..3)
                .map(|_| {
                    let q = &q;
                    s.spawn(move || {
                        let mut last = [None::<u64>; PRODUCERS as usize];
                        let mut got = Vec::new();
                        while let Ok((word, _)) = q.get() {
                            let (p, i) = (word / PER_PRODUCER, word % PER_PRODUCER);
                            let previous = &mut last[p as usize];
                            assert!(previous.is_none_or(|l| l < i), "order broken");
                            *previous = Some(i);
                            got.push(word);
                        }
                        got
                    })
                })
                .collect();
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| {
                    let q = &q;
                    s.spawn(move || {
                        for i in 0..PER_PRODUCER {
                            assert_eq!(q.put(p * PER_PRODUCER + i), Ok(1));
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
        let mut counts = vec![0u32; (PRODUCERS * PER_PRODUCER) as usize];
        for word in seen {
            counts[word as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c == 1), "lost or duplicated");
    }
}
