//! Step 2 of the threads-mode buffer (`--queue two-lock`): the **two-lock queue** (Michael &
//! Scott, 1996; Java's `LinkedBlockingQueue` is built this way). Step 1 ([`crate::monitor`]) is
//! one lock for everything; this step splits it in two: one lock for the consumers' end, one for
//! the producers' end, and two counters between them.
//!
//! **What it changes:** a put and a get no longer take the same lock, so a producer and a
//! consumer running at the same time on two CPUs no longer take turns at one lock, and no longer
//! pass that lock's cache line back and forth on every item. **What it buys:** throughput when
//! both sides run flat out on different CPUs; the bench measures both steps side by side
//! (`cargo run --release -p bench -- --only prodcons`, rows `threads` and `threads (two-lock)`).
//! **What it costs:** the hardest part of a blocking queue, not losing a wake-up, now spans
//! two locks (see below), and the occupancy a put reports is no longer exact.
//!
//! Unlike step 1 this one uses `std::sync::Mutex`, which owns the value it guards: each end's
//! deque lives inside its lock, and a getter swaps the two deques whole while holding both locks.
//! (`common::sync::Lock` guards no value, which suits step 1's fixed ring of words.)
//!
//! ```text
//!             tail: Mutex + not_full               head: Mutex + not_empty
//!  put ---->  [ items put since the last swap ] ~~~> [ items to take, oldest first ]  ----> get
//!             pushed (+1 per put)          swap when  popped (+1 per get)
//!                                          head is empty
//!  occupancy = pushed - popped, never above capacity
//!  a putter that finds it full waits on `not_full`  (woken by a get)
//!  a getter that finds both ends empty waits on `not_empty` (woken by a put)
//! ```
//!
//! How each call works, and why:
//! - **Producers and consumers never take the same lock per item.** `put` takes the tail lock,
//!   checks there is room, pushes and counts the item in `pushed`. `get` takes the head lock,
//!   pops and counts it in `popped`. Only when the head's deque is empty does a getter take the
//!   tail lock as well (always head first, then tail: one order, so no deadlock), and then it
//!   takes *everything* the producers have put so far, by swapping the two deques (both allocated
//!   once with room for `capacity` items: nothing is allocated per item). Head items are always
//!   older than tail items, so the queue stays FIFO.
//! - **Why split the lock.** With one lock (step 1), one producer and one consumer on two CPUs,
//!   the lock's cache line (and the ring beside it) moves from one CPU to the other on every put
//!   and every get, and each side often finds the lock held and has to wait for it. Here
//!   each side's lock and counter stay in its own CPU's cache; what crosses per item is the item
//!   itself and one read of `popped` by the put (to check the room), plus the tail lock at each
//!   swap. Each counter has a single writer (whoever holds its lock), so it is a plain store, not
//!   an atomic read-modify-write on a line both sides fight over.
//! - **Occupancy.** `put` checks `pushed - popped < capacity` under the tail lock: no other put
//!   can raise `pushed` meanwhile and `popped` only grows, so the occupancy never exceeds the
//!   capacity. The number `put` returns is that difference plus its own item: the occupancy right
//!   after the put, or one more if a get finished in between, never less and never above the
//!   capacity (the demo's `max_occupancy` is the largest of these). `get` returns what it can
//!   count without looking at the producers' side: the items left at the consumers' end, a lower
//!   bound; [`len`](TwoLockQueue::len) reads both counters (the demo prints that after a get).
//! - **Sleeping without a lost wake-up, across two locks.** A sleeper waits on the condition of
//!   its own lock (a getter on the head's `not_empty`, a putter on the tail's `not_full`), but
//!   the one who will wake it holds the *other* lock. So a sleeper announces itself in the state
//!   of the lock the waker holds when it decides: a getter (holding both locks, having found both
//!   ends empty) counts itself in the tail's `waiting_getters`, which every put reads; a putter
//!   takes the head lock, then the tail lock, counts itself in the head's `waiting_putters`,
//!   which every get reads, and checks the room once more. Then it waits, still holding its own
//!   lock until `Condvar::wait` has put it to sleep. A waker that sees the count takes the
//!   sleeper's lock for a moment and notifies: getting that lock means the sleeper is asleep.
//! - **Wake-ups may be spurious**, and another thread may take the freed slot (the item) first,
//!   so every wait sits in a loop that looks again.
//! - **Notify only when someone sleeps, after unlocking.** The waiting counts are read on every
//!   call but written only by sleepers, so when the two sides keep pace a put or a get is one
//!   uncontended lock and unlock and one plain store, no syscall.
//! - **Spin a little before sleeping** ([`common::backoff`]). A caller that finds the queue full (empty) first watches
//!   the counters without any lock for a few microseconds at most, since the other side is
//!   usually about to make room (an item); only then does it sleep on the condvar. A sleep costs
//!   the sleeper a futex wait *and* the other side a futex wake syscall, several microseconds
//!   each. A waiter that finds nothing still sleeps in the kernel: the spin is bounded, never a
//!   sleep-and-check loop.
//! - **`close`** sets a flag under the tail lock (so no put can slip in after it) and wakes every
//!   sleeper on both sides. From then on `put` fails (the item is handed back), and `get` keeps
//!   returning items until both ends are empty, then fails with [`Closed`]. That is how consumers
//!   learn "no more items, ever" without a sentinel per consumer, and how producers blocked on a
//!   full queue are released when no consumer is left. (Python's `queue.Queue.shutdown()`, new
//!   in 3.13, is the same idea.)
//! - **A poisoned mutex** (a thread panicked while holding it) is taken over anyway: the state is
//!   only changed by a push, a pop or a swap, none of which can panic half-way.
//!
//! The alternatives not taken:
//! - One shared atomic count instead of two single-writer counters: every put and get would
//!   then do an atomic add on the same cache line, which gives an exact occupancy for free but
//!   makes that line cross between the CPUs twice per item, the very cost the split removes.
//! - A lock-free ring (what crossbeam's bounded channel is, and what the `queue` member's
//!   cross-process queue is): each slot carries its own sequence number, so the two sides hand
//!   items over slot by slot with no lock at all. Faster still in its best case, but there is no
//!   lock and no condition left to learn from; the bench's `raw` column is crossbeam's.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

/// The queue was closed: no more puts; for `get`, also nothing left to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the queue is closed")
    }
}
impl std::error::Error for Closed {}

/// Why a non-blocking [`TwoLockQueue::try_put`] did not put; the item comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// No room now (Python's `queue.Full`).
    Full(T),
    /// Closed.
    Closed(T),
}

/// Why a non-blocking [`TwoLockQueue::try_get`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryGetError {
    /// Nothing there now (Python's `queue.Empty`).
    Empty,
    /// Closed and drained: nothing will ever come.
    Closed,
}

/// Keeps what it holds on cache lines of its own (128 bytes: two 64-byte lines, since x86 CPUs
/// fetch lines in adjacent pairs). Without it the head lock, the tail lock and the counters could
/// share a line, and the two sides would fight over it even when they touch different fields.
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The consumers' end, under the head lock.
struct Head<T> {
    /// The items that leave next, oldest first.
    items: VecDeque<T>,
    /// Putters asleep on the tail's `not_full`; read by every get (which holds this lock).
    waiting_putters: usize,
}

/// The producers' end, under the tail lock.
struct Tail<T> {
    /// The items put since the consumers last took the lot.
    items: VecDeque<T>,
    closed: bool,
    /// Getters asleep on the head's `not_empty`; read by every put (which holds this lock).
    waiting_getters: usize,
}

/// One lock with the condition that sleeps on it.
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
    /// itself until `Condvar::wait` has put it to sleep, so once we get the lock it is asleep and
    /// the notify reaches it.
    fn wake(&self, all: bool) {
        drop(self.lock());
        if all {
            self.cond.notify_all();
        } else {
            self.cond.notify_one();
        }
    }
}

/// A bounded blocking FIFO queue for threads. See the module doc.
pub struct TwoLockQueue<T> {
    /// The consumers' lock and their condition `not_empty`.
    head: Padded<End<Head<T>>>,
    /// The producers' lock and their condition `not_full`.
    tail: Padded<End<Tail<T>>>,
    /// Items ever put: written only under the tail lock, read by anyone.
    pushed: Padded<AtomicUsize>,
    /// Items ever taken: written only under the head lock, read by anyone.
    popped: Padded<AtomicUsize>,
    /// A copy of `Tail::closed` for the spinners, who hold no lock.
    closed: AtomicBool,
    capacity: usize,
}

impl<T> std::fmt::Debug for TwoLockQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoLockQueue")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl<T> TwoLockQueue<T> {
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
        TwoLockQueue {
            head: Padded(End::new(Head {
                items: VecDeque::with_capacity(capacity),
                waiting_putters: 0,
            })),
            tail: Padded(End::new(Tail {
                items: VecDeque::with_capacity(capacity),
                closed: false,
                waiting_getters: 0,
            })),
            pushed: Padded(AtomicUsize::new(0)),
            popped: Padded(AtomicUsize::new(0)),
            closed: AtomicBool::new(false),
            capacity,
        }
    }

    /// Put `item` at the back, sleeping while the queue is full (backpressure). Returns the
    /// occupancy right after this put, counted against the gets finished when it looked (a get
    /// finishing in between makes it one too high, never too low), so never above the capacity.
    /// After [`close`](Self::close) it fails and hands the item back.
    pub fn put(&self, item: T) -> Result<usize, (Closed, T)> {
        let mut tail = self.tail.lock();
        let mut spun = false;
        loop {
            if tail.closed {
                return Err((Closed, item));
            }
            // Under the tail lock nobody else raises `pushed`; `popped` only grows meanwhile.
            let popped = self.popped.load(Ordering::Acquire);
            if self.pushed.load(Ordering::Relaxed) - popped < self.capacity {
                return Ok(self.push_locked(tail, item, popped));
            }
            if !spun {
                spun = true;
                drop(tail);
                self.spin_until(|len| len < self.capacity);
                tail = self.tail.lock();
                continue;
            }
            // Announce ourselves where every get looks (the head's state), then look once more
            // and sleep. Head first, then tail: the one order in which both locks are ever held.
            drop(tail);
            let mut head = self.head.lock();
            tail = self.tail.lock();
            head.waiting_putters += 1;
            // Exact: with both locks held nobody can put or take.
            let full = self.len() >= self.capacity;
            drop(head);
            if full && !tail.closed {
                // A get that frees a slot now sees us and must take the tail lock to wake us,
                // which we hold until `wait` has put us to sleep.
                tail = self.tail.wait(tail);
            }
            drop(tail);
            self.head.lock().waiting_putters -= 1;
            tail = self.tail.lock();
        }
    }

    /// Put without ever sleeping: `Full` if there is no room now.
    pub fn try_put(&self, item: T) -> Result<usize, TryPutError<T>> {
        let tail = self.tail.lock();
        if tail.closed {
            return Err(TryPutError::Closed(item));
        }
        let popped = self.popped.load(Ordering::Acquire);
        if self.pushed.load(Ordering::Relaxed) - popped >= self.capacity {
            return Err(TryPutError::Full(item));
        }
        Ok(self.push_locked(tail, item, popped))
    }

    fn push_locked(&self, mut tail: MutexGuard<'_, Tail<T>>, item: T, popped: usize) -> usize {
        tail.items.push_back(item);
        let pushed = self.pushed.load(Ordering::Relaxed) + 1;
        self.pushed.store(pushed, Ordering::Release);
        let wake = tail.waiting_getters > 0;
        drop(tail);
        if wake {
            self.head.wake(false);
        }
        pushed - popped
    }

    /// Take the item at the front, sleeping while the queue is empty. Returns it with the number
    /// of items left *at the consumers' end* (taken from the producers by the last swap): a
    /// lower bound of [`len`](Self::len), known without looking at the producers' side. Once the
    /// queue is closed *and* empty: `Err(Closed)`.
    pub fn get(&self) -> Result<(T, usize), Closed> {
        let mut head = self.head.lock();
        let mut spun = false;
        loop {
            if let Some(item) = head.items.pop_front() {
                return Ok((item, self.after_pop(head)));
            }
            let mut tail = self.tail.lock();
            if !tail.items.is_empty() {
                swap(&mut head, &mut tail);
                continue;
            }
            // Both ends empty, and no put can happen while we hold the tail lock.
            if tail.closed {
                return Err(Closed);
            }
            if !spun {
                spun = true;
                drop(tail);
                drop(head);
                self.spin_until(|len| len > 0);
                head = self.head.lock();
                continue;
            }
            // Announce ourselves where every put looks (the tail's state) and sleep. A put after
            // this sees us and must take the head lock to wake us, which we hold until `wait`
            // has put us to sleep; `close` takes the head lock after setting `closed`, too.
            tail.waiting_getters += 1;
            drop(tail);
            head = self.head.wait(head);
            self.tail.lock().waiting_getters -= 1;
        }
    }

    /// Take without ever sleeping: `Empty` if there is nothing now.
    pub fn try_get(&self) -> Result<(T, usize), TryGetError> {
        let mut head = self.head.lock();
        if head.items.is_empty() {
            let mut tail = self.tail.lock();
            if tail.items.is_empty() {
                return Err(if tail.closed {
                    TryGetError::Closed
                } else {
                    TryGetError::Empty
                });
            }
            swap(&mut head, &mut tail);
        }
        let item = head.items.pop_front().expect("a non-empty deque");
        Ok((item, self.after_pop(head)))
    }

    fn after_pop(&self, head: MutexGuard<'_, Head<T>>) -> usize {
        let popped = self.popped.load(Ordering::Relaxed) + 1;
        self.popped.store(popped, Ordering::Release);
        let left = head.items.len();
        let wake = head.waiting_putters > 0;
        drop(head);
        if wake {
            self.tail.wake(false);
        }
        left
    }

    /// Before sleeping, watch the counters for a short while *without* any lock: the other side
    /// is often a few hundred nanoseconds from making the change we wait for, and a futex sleep
    /// plus the wake-up syscall it forces on the other side costs far more. Bounded: the
    /// workspace's one backoff ([`common::backoff::spin_then`]: a few doublings of the CPU's
    /// pause instruction, then a few `yield_now`, to let the other thread run if it shares our
    /// CPU), then give up and sleep.
    fn spin_until(&self, ready: impl Fn(usize) -> bool) {
        common::backoff::spin_then(|| ready(self.len()) || self.closed.load(Ordering::Relaxed));
    }

    /// No more puts. Sleepers on both sides wake: putters fail, getters drain what is left and
    /// then fail. Idempotent.
    pub fn close(&self) {
        let mut tail = self.tail.lock();
        tail.closed = true;
        self.closed.store(true, Ordering::Relaxed);
        drop(tail);
        // A putter checks `closed` under the tail lock and sleeps without letting go of it, so
        // it is asleep already (and this reaches it) or will see the flag.
        self.tail.cond.notify_all();
        self.head.wake(true);
    }

    /// Items in the queue now (Python's `qsize()`: already stale when you read it). Reads both
    /// counters (the consumers' first, so the difference cannot go below zero).
    pub fn len(&self) -> usize {
        let popped = self.popped.load(Ordering::Acquire);
        self.pushed.load(Ordering::Acquire) - popped
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
        self.closed.load(Ordering::Relaxed)
    }
}

/// The consumers take everything the producers have put so far by swapping the two deques: the
/// producers get the empty one (already allocated), the consumers the full one. Head items are
/// always older than tail items (a swap happens only when the head is empty), so FIFO holds.
fn swap<T>(head: &mut Head<T>, tail: &mut Tail<T>) {
    std::mem::swap(&mut head.items, &mut tail.items);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn fifo_and_lengths() {
        let q = TwoLockQueue::new(3);
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
        let q = TwoLockQueue::new(4);
        q.put(1).unwrap();
        q.put(2).unwrap();
        assert_eq!(q.get(), Ok((1, 1))); // a swap: the consumers' end now holds [2]
        assert_eq!(q.put(3), Ok(2));
        assert_eq!(q.put(4), Ok(3));
        assert_eq!(q.put(5), Ok(4));
        assert_eq!(q.try_put(6), Err(TryPutError::Full(6)));
        assert_eq!(q.len(), 4);
        assert_eq!(q.get(), Ok((2, 0))); // 0 left at the consumers' end; 3 at the producers'
        assert_eq!(q.len(), 3);
        assert_eq!(q.get(), Ok((3, 2))); // a swap again
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
        let (ping, pong) = (TwoLockQueue::new(1), TwoLockQueue::new(1));
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

    /// One fast producer, one consumer, a queue of 1: nearly every put finds the queue full and
    /// waits (spins, often sleeps) for a get on the other lock to wake it. A lost wake-up of a
    /// putter would stall the stream; the deadline turns that into a failure, not a hang.
    #[test]
    fn no_lost_wakeups_for_putters() {
        const N: u64 = 20_000;
        let q = TwoLockQueue::new(1);
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|s| {
            let q = &q;
            s.spawn(move || {
                for i in 0..N {
                    if q.put(i).is_err() {
                        break;
                    }
                }
            });
            s.spawn(move || {
                let mut sum = 0;
                for _ in 0..N {
                    match q.get() {
                        Ok((v, _)) => sum += v,
                        Err(Closed) => break,
                    }
                }
                tx.send(sum).unwrap();
            });
            let sum = rx.recv_timeout(Duration::from_secs(60));
            q.close();
            assert_eq!(sum, Ok(N * (N - 1) / 2), "the stream stalled");
        });
    }

    #[test]
    fn close_drains_then_fails_and_refuses_puts() {
        let q = TwoLockQueue::new(2);
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
        let empty = TwoLockQueue::<u8>::new(1);
        let full = TwoLockQueue::new(1);
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
        let q = TwoLockQueue::new(1);
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
