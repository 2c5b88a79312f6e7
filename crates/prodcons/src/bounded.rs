//! The threads-mode buffer: a bounded blocking FIFO queue built from `std::sync::Mutex` and
//! `std::sync::Condvar`, with `close`. Python's `queue.Queue(maxsize=N)` is one lock and the
//! conditions `not_empty` / `not_full` on it; this is the same monitor split in two, the
//! **two-lock queue** (Michael & Scott, 1996; Java's `LinkedBlockingQueue` is built this way): one
//! lock for the consumers' end, one for the producers' end, and an atomic count between them.
//!
//! ```text
//!             tail: Mutex + not_full              head: Mutex + not_empty
//!  put ---->  [ items put since the last swap ] ~~~> [ items to take, oldest first ]  ----> get
//!                 (producers only)          swap when       (consumers only)
//!                                           head is empty
//!             len: AtomicUsize = items put and not yet taken (never above capacity)
//!  a putter that finds len == capacity waits on `not_full`  (woken by a get)
//!  a getter that finds both deques empty waits on `not_empty` (woken by a put)
//! ```
//!
//! How each call works, and why:
//! - **Producers and consumers never take the same lock per item.** `put` takes the tail lock,
//!   checks `len` against the capacity, raises `len` and pushes. `get` takes the head lock and
//!   pops. Only when the head's deque is empty does a getter take the tail lock as well, and then
//!   it takes *everything* the producers have put so far at once, by swapping the two deques
//!   (both allocated once with room for `capacity` items, so nothing is ever allocated per item).
//!   Head-deque items are always older than tail-deque items, so the queue stays FIFO.
//! - **Why split the lock.** With one lock, one producer and one consumer on two CPUs, the lock's
//!   cache line (and the deque beside it) moves from one CPU to the other on every put and every
//!   get, and each side often finds the lock held and has to wait for it (`lock_contended`). With
//!   two locks each side's lock stays in its own CPU's cache; the one line both sides write per
//!   item is `len`, one atomic add each (`fetch_add` / `fetch_sub`, which also give the exact
//!   occupancy to return). Across CPUs that gave 1.3-2x the single-lock queue's throughput here.
//! - **The count is the occupancy.** `len` is raised only under the tail lock, by a put that
//!   checked it was below the capacity (no other put can raise it meanwhile; gets only lower it),
//!   and lowered only by a get, right after its pop. So it never exceeds the capacity, and the
//!   value a put or get returns (what the demo prints and takes `max_occupancy` from) is the
//!   count that call left, exact. (A put raises it *before* pushing, so a getter may see
//!   `len > 0` a moment before the item is in the deque: it then takes the tail lock, which the
//!   putter holds until the push is done, and finds it.)
//! - **Sleeping without a lost wake-up, across two locks.** A sleeper waits on the condition of
//!   the lock it holds, so a getter sleeps on the head's `not_empty` and a putter on the tail's
//!   `not_full`; but the thread that will wake it holds the *other* lock. So a sleeper first
//!   announces itself in an atomic (`waiting_getters` / `waiting_putters`), then looks at `len`
//!   once more, then waits; the other side changes `len`, then reads the announcement (all
//!   `SeqCst`: in that single order at least one of the two sees the other's write). Whoever sees
//!   the announcement takes the sleeper's lock for a moment and notifies: the sleeper holds that
//!   lock until `Condvar::wait` has put it to sleep, so the notify cannot arrive too early.
//! - **Wake-ups may be spurious**, and another thread may take the freed slot (the item) first,
//!   so every wait sits in a loop that looks again.
//! - **Notify only when someone sleeps, after unlocking.** The announcements are read on every
//!   call but written only by sleepers, so they stay in both CPUs' caches: when the two sides
//!   keep pace, a put or a get is one uncontended lock, one atomic add and one unlock, no syscall.
//! - **Spin a little before sleeping.** A caller that finds the queue full (empty) first watches
//!   `len` without any lock for a few microseconds at most, since the other side is usually
//!   about to make room (an item); only then does it sleep on the condvar. A sleep costs the
//!   sleeper a futex wait *and* the other side a futex wake syscall, several microseconds each.
//!   A waiter that finds nothing still sleeps in the kernel: the spin is bounded, never a
//!   sleep-and-check loop.
//! - **`close`** sets a flag (under the tail lock, so no put can slip in after it) and wakes
//!   every sleeper on both sides. From then on `put` fails (the item is handed back), and `get`
//!   keeps returning items until both deques are empty, then fails with [`Closed`]. That is how
//!   consumers learn "no more items, ever" without a sentinel per consumer, and how producers
//!   blocked on a full queue are released when no consumer is left. (Python's
//!   `queue.Queue.shutdown()`, new in 3.13, is the same idea.)
//! - **A poisoned mutex** (a thread panicked while holding it) is taken over anyway: the state is
//!   only changed by a push, a pop or a swap, none of which can panic half-way.
//!
//! What an item costs, with one producer and one consumer (measured by `cargo run --release -p
//! bench -- --only prodcons`, 2 shared vCPUs): on one CPU about 20-25 ns (two lock/unlock pairs
//! and two atomic adds, no cache misses); on two CPUs it is bounded by the cache lines that must
//! cross between them per item (`len`, the item's own slot, the tail lock at each swap) and by
//! where the hypervisor happens to place the vCPUs: anywhere from 40 to 200 ns.
//!
//! The alternatives not taken:
//! - One lock for everything (Python's shape, and this file's first version): simplest, and
//!   about 20% faster when both threads share one CPU (one atomic add less per call), but
//!   1.3-2x slower across CPUs, for the reason above.
//! - A lock-free ring (what crossbeam's bounded channel is, and what the `queue` member's
//!   cross-process queue is): each slot carries its own sequence number, so the two sides hand
//!   items over slot by slot and share no counter at all. It is faster still across CPUs, but
//!   there is no lock and no condition left to learn from, and this module is the classic
//!   monitor, as in Python.
//! - Returning no occupancy from `put`/`get`: the shared `len` line could then be replaced by a
//!   counter per side that the other side reads only when it must (the ring's trick), but the
//!   demo's bars and its `max_occupancy` check need the exact count of each call.

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

/// Keeps what it holds on cache lines of its own (128 bytes: two 64-byte lines, since x86 CPUs
/// fetch lines in adjacent pairs). Without it the head lock, the tail lock and the count could
/// share a line, and the two sides would fight over it even when they touch different fields.
#[derive(Default)]
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The consumers' end: the items that leave next, in order.
struct Head<T> {
    items: VecDeque<T>,
}

/// The producers' end: the items that arrived since the consumers last took the lot.
struct Tail<T> {
    items: VecDeque<T>,
    closed: bool,
}

/// One lock with the condition that sleeps on it, side by side on their own cache lines.
struct End<S> {
    lock: Mutex<S>,
    cond: Condvar,
}

impl<S> End<S> {
    fn new(s: S) -> Self {
        End {
            lock: Mutex::new(s),
            cond: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, S> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, g: MutexGuard<'a, S>) -> MutexGuard<'a, S> {
        self.cond.wait(g).unwrap_or_else(|e| e.into_inner())
    }

    /// Wake one sleeper (`all`: every sleeper) on this end's condition. Taking and dropping the
    /// lock first is what makes it safe: a sleeper holds this lock from the moment it announced
    /// itself until `Condvar::wait` has put it to sleep, so once we get the lock it is asleep
    /// (and the notify reaches it) or it has not yet looked (and will see our change).
    fn wake(&self, all: bool) {
        drop(self.lock());
        if all {
            self.cond.notify_all();
        } else {
            self.cond.notify_one();
        }
    }
}

/// Rarely written, read by everyone: who sleeps, and whether the queue is closed.
#[derive(Default)]
struct Flags {
    /// Threads announced as (about to be) sleeping in `get`, on the head's `not_empty`.
    waiting_getters: AtomicUsize,
    /// Threads announced as (about to be) sleeping in `put`, on the tail's `not_full`.
    waiting_putters: AtomicUsize,
    /// A copy of `Tail::closed` (set under the tail lock) for readers that do not hold it.
    closed: AtomicBool,
}

/// A bounded blocking FIFO queue for threads. See the module doc.
pub struct BoundedQueue<T> {
    /// The consumers' lock and their condition `not_empty`.
    head: Padded<End<Head<T>>>,
    /// The producers' lock and their condition `not_full`.
    tail: Padded<End<Tail<T>>>,
    /// Items put and not yet taken (the occupancy). Raised only under the tail lock after a put
    /// checked it against `capacity`, lowered only under the head lock: never above `capacity`.
    len: Padded<AtomicUsize>,
    flags: Padded<Flags>,
    capacity: usize,
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
            head: Padded(End::new(Head {
                items: VecDeque::with_capacity(capacity),
            })),
            tail: Padded(End::new(Tail {
                items: VecDeque::with_capacity(capacity),
                closed: false,
            })),
            len: Padded(AtomicUsize::new(0)),
            flags: Padded(Flags::default()),
            capacity,
        }
    }

    /// Put `item` at the back, sleeping while the queue is full (backpressure). Returns how many
    /// items the queue holds right after this put (the count this put raised, so never above
    /// the capacity). After [`close`](Self::close) it fails and hands the item back.
    pub fn put(&self, item: T) -> Result<usize, (Closed, T)> {
        let mut tail = self.tail.lock();
        let mut spun = false;
        loop {
            if tail.closed {
                return Err((Closed, item));
            }
            // Under the tail lock no other put can raise `len`; a get may only lower it.
            if self.len.load(Ordering::SeqCst) < self.capacity {
                break;
            }
            if !spun {
                spun = true;
                drop(tail);
                self.spin_until(|len| len < self.capacity);
                tail = self.tail.lock();
                continue;
            }
            // Announce, look once more, sleep. A get lowers `len` and then reads
            // `waiting_putters`; we raise `waiting_putters` and then read `len` (both SeqCst), so
            // at least one of us sees the other: either we find room, or it wakes us.
            let flags = &self.flags;
            flags.waiting_putters.fetch_add(1, Ordering::SeqCst);
            if self.len.load(Ordering::SeqCst) >= self.capacity {
                tail = self.tail.wait(tail);
            }
            flags.waiting_putters.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(self.push_locked(tail, item))
    }

    /// Put without ever sleeping: `Full` if there is no room now.
    pub fn try_put(&self, item: T) -> Result<usize, TryPutError<T>> {
        let tail = self.tail.lock();
        if tail.closed {
            return Err(TryPutError::Closed(item));
        }
        if self.len.load(Ordering::SeqCst) >= self.capacity {
            return Err(TryPutError::Full(item));
        }
        Ok(self.push_locked(tail, item))
    }

    /// Count the item in, then push it (both under the tail lock, which a getter must take to
    /// see the item): the count is never below what the two deques hold.
    fn push_locked(&self, mut tail: MutexGuard<'_, Tail<T>>, item: T) -> usize {
        let len = self.len.fetch_add(1, Ordering::SeqCst) + 1;
        tail.items.push_back(item);
        drop(tail);
        if self.flags.waiting_getters.load(Ordering::SeqCst) > 0 {
            self.head.wake(false);
        }
        len
    }

    /// Take the item at the front, sleeping while the queue is empty. Returns it with the number
    /// of items left right after. Once the queue is closed *and* empty: `Err(Closed)`.
    pub fn get(&self) -> Result<(T, usize), Closed> {
        let mut head = self.head.lock();
        let mut spun = false;
        loop {
            match self.pop_locked(&mut head) {
                Ok(item) => return Ok((item, self.after_pop(head))),
                Err(TryGetError::Closed) => return Err(Closed),
                Err(TryGetError::Empty) => {}
            }
            if !spun {
                spun = true;
                drop(head);
                self.spin_until(|len| len > 0);
                head = self.head.lock();
                continue;
            }
            // The mirror of `put`'s sleep; `close` sets the flag and then takes the head lock,
            // so a close after our look wakes us too.
            let flags = &self.flags;
            flags.waiting_getters.fetch_add(1, Ordering::SeqCst);
            if self.len.load(Ordering::SeqCst) == 0 && !flags.closed.load(Ordering::SeqCst) {
                head = self.head.wait(head);
            }
            flags.waiting_getters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Take without ever sleeping: `Empty` if there is nothing now.
    pub fn try_get(&self) -> Result<(T, usize), TryGetError> {
        let mut head = self.head.lock();
        let item = self.pop_locked(&mut head)?;
        Ok((item, self.after_pop(head)))
    }

    /// The front item, under the head lock. Only when the head's deque is empty does a getter
    /// take the tail lock too (always head first, then tail: one order, so no deadlock), and
    /// then it takes *everything* the producers have put so far, by swapping the two deques:
    /// the producers get an empty deque (already allocated), the consumers the full one. Items
    /// in the head deque are always older than those in the tail deque, so the order is FIFO.
    fn pop_locked(&self, head: &mut MutexGuard<'_, Head<T>>) -> Result<T, TryGetError> {
        if let Some(item) = head.items.pop_front() {
            return Ok(item);
        }
        let mut tail = self.tail.lock();
        if tail.items.is_empty() {
            // Closed is final only if nothing is left, and nothing can come: read under the
            // tail lock, after a put would have pushed.
            return Err(if tail.closed {
                TryGetError::Closed
            } else {
                TryGetError::Empty
            });
        }
        std::mem::swap(&mut head.items, &mut tail.items);
        drop(tail);
        Ok(head
            .items
            .pop_front()
            .expect("swapped in a non-empty deque"))
    }

    fn after_pop(&self, head: MutexGuard<'_, Head<T>>) -> usize {
        let len = self.len.fetch_sub(1, Ordering::SeqCst) - 1;
        drop(head);
        if self.flags.waiting_putters.load(Ordering::SeqCst) > 0 {
            self.tail.wake(false);
        }
        len
    }

    /// Before sleeping, watch the count for a short while *without* any lock: the other side
    /// is often a few hundred nanoseconds from making the change we wait for, and a futex sleep
    /// plus the wake-up syscall it forces on the other side costs several microseconds. Bounded:
    /// a few doublings of `spin_loop` (the CPU's pause instruction), then a few `yield_now` (let
    /// the other thread run if it shares our CPU), then give up and sleep.
    fn spin_until(&self, ready: impl Fn(usize) -> bool) {
        for step in 0..SPIN_STEPS {
            if ready(self.len.load(Ordering::Relaxed)) || self.flags.closed.load(Ordering::Relaxed)
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
        let mut tail = self.tail.lock();
        tail.closed = true;
        self.flags.closed.store(true, Ordering::SeqCst);
        drop(tail);
        self.tail.cond.notify_all();
        self.head.wake(true);
    }

    /// Items in the queue now (Python's `qsize()`: already stale when you read it).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::SeqCst)
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
        self.flags.closed.load(Ordering::SeqCst)
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

    /// Items put while the consumers still hold older ones stay behind them: a get takes the
    /// producers' deque (the swap) only once its own is empty.
    #[test]
    fn fifo_across_swaps() {
        let q = BoundedQueue::new(4);
        q.put(1).unwrap();
        q.put(2).unwrap();
        assert_eq!(q.get(), Ok((1, 1))); // swap: the consumers now hold [2]
        assert_eq!(q.put(3), Ok(2));
        assert_eq!(q.put(4), Ok(3));
        assert_eq!(q.put(5), Ok(4));
        assert_eq!(q.try_put(6), Err(TryPutError::Full(6)));
        assert_eq!(q.len(), 4);
        assert_eq!(q.get(), Ok((2, 3)));
        assert_eq!(q.get(), Ok((3, 2))); // swap again
        assert_eq!(q.put(6), Ok(3));
        let rest: Vec<_> = std::iter::from_fn(|| q.try_get().ok().map(|(v, _)| v)).collect();
        assert_eq!(rest, [4, 5, 6]);
        assert!(q.is_empty());
    }

    /// Two threads bounce a token through two queues of capacity 1, so nearly every get finds
    /// its queue empty and every put follows a get on the other side: each hand-over goes
    /// through the spin and, often, a sleep on one lock and a wake-up from the other. A lost
    /// wake-up would stall the bounce; the deadline turns that into a failure, not a hang.
    #[test]
    fn no_lost_wakeups_in_ping_pong() {
        const ROUNDS: u32 = 20_000;
        let (ping, pong) = (BoundedQueue::new(1), BoundedQueue::new(1));
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|s| {
            let (ping, pong) = (&ping, &pong);
            s.spawn(move || {
                while let Ok((v, 0)) = ping.get() {
                    pong.put(v + 1).unwrap();
                }
            });
            s.spawn(move || {
                let mut v = 0u32;
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
