//! The cross-process [`Queue`]: a ring of fixed-size slots in `MAP_SHARED` memory.
//!
//! ## Layout
//!
//! ```text
//! Header (common::Shared)                       slots (SharedSlice<AtomicU64>), `capacity` of them
//! line 0: tail   (next position to write)       slot k: [ turn | len | payload words ... ]
//! line 1: head   (next position to read)                  slot of position p is p % capacity
//! line 2: not_empty (an Event), closed
//! line 3: not_full  (an Event)
//! ```
//!
//! `head` and `tail` count messages since the start (64 bits: they never wrap in practice); the
//! queue holds `tail - head` messages. Each sits on its own 64-byte cache line, so producers
//! (who move `tail`) and consumers (who move `head`) do not steal each other's line.
//!
//! ## One message, step by step (Dmitry Vyukov's bounded MPMC ring)
//!
//! Position `p` lives in slot `p % capacity`, on **lap** `p / capacity` of the ring: slot 2 of
//! a 4-slot ring serves positions 2 (lap 0), 6 (lap 1), 10 (lap 2)... Every slot has a `turn`
//! word that says whose turn it is, counted in laps:
//!
//! | `turn`        | meaning                                                         |
//! |---------------|-----------------------------------------------------------------|
//! | `2 * lap`     | empty: the producer of this lap may write it                    |
//! | `2 * lap + 1` | full: the consumer of this lap may read it                      |
//! | `2 * (lap+1)` | what that consumer stores when done: empty, for the next lap    |
//!
//! Apart from a short "claimed by a producer" state during a put (below), a slot's turn only
//! ever grows, 0, 1, 2, 3..., and a producer or consumer at position `p` compares it with the
//! values for *its* lap: smaller means "not yet" (the slot is still busy with an earlier lap),
//! larger means "someone else already did this one".
//!
//! **Why zero means empty.** A fresh slot is empty and waits for the producer of lap 0, whose
//! turn is `2 * 0 = 0`; and the kernel hands out new shared memory filled with zeros. So a queue
//! is ready the moment it is mapped: `Queue::new` writes nothing into the slots, and each page
//! of the ring is only touched (faulted in) when a message first goes through it. (The
//! alternative not taken: counting turns in positions rather than laps, as Vyukov's original
//! does. Slot `k` then starts at a turn naming position `k`, nonzero for every slot but the
//! first, and `new` must write a word into each slot. With slots of 4 KiB or more that is one
//! page fault per slot before the first message: 1024 faults for a fresh ring of 1024 slots of
//! 16 KiB, instead of none.)
//!
//! - **put** at position `p = tail`, lap `L`: wait for `turn == 2L`; claim `p` by a
//!   compare-and-swap of `turn` from `2L` to "claimed at `p` by my pid" (two producers can never
//!   claim the same slot), then move `tail` to `p + 1`; copy the length and the bytes in; *then*
//!   store `turn = 2L + 1` with Release ordering. This last
//!   store publishes the message: a consumer reads the bytes only after seeing it, and Release /
//!   Acquire guarantee it then sees every byte. A producer killed half-way through the copy never
//!   reaches that store, so **a torn message is never delivered**.
//! - **get** at `p = head`, lap `L`: wait for `turn == 2L + 1`; copy the message out; *then* claim
//!   `p` by moving `head` (if another consumer claimed it first, throw the copy away and try
//!   `p + 1`); store `turn = 2(L + 1)`, which gives the slot back to the producer of the next lap.
//!   Why copy before claiming: a consumer killed while copying has then claimed nothing (details
//!   at `try_get`).
//! - then wake the other side if (and only if) somebody sleeps: [`common::sync::Event`].
//!
//! The bytes are copied as `AtomicU64` words with Relaxed loads and stores
//! ([`common::words::store_bytes`] / [`common::words::load_bytes`]). A plain byte
//! copy into memory that another process may read at the same time would be a data race
//! (undefined behaviour) without `unsafe`; Relaxed atomic words compile to the same plain
//! `mov`s, and the `turn` word provides the ordering. No `unsafe` in this crate.
//!
//! ## What it costs
//!
//! A get that finds its slot ready: one compare-and-swap on `head`, the copy, one Release store,
//! one fence, one load of the sleepers flag. A put: the same, plus a second compare-and-swap (it
//! claims the slot's `turn` first, then moves `tail`, so that a dead producer's claim can be
//! found by its pid). **No syscall, no allocation** (with
//! [`Queue::get_into`]), no lock. A side that finds the queue full or empty first spins and yields
//! briefly ([`common::backoff::Backoff`]: the other side is usually a few hundred nanoseconds
//! away on another CPU), then sleeps in the kernel on a futex ([`common::sync::Event`]); the next
//! message wakes it with one `FUTEX_WAKE`.
//!
//! Why an `Event` and not a [`common::sync::Condvar`]: a condition variable is tied to a lock,
//! and this queue has none (next section); a `get_timeout` must also stay bounded even if
//! another process died at the wrong moment, which a wait that must re-take a lock cannot
//! promise.
//!
//! ## Why not a lock and two condition variables
//!
//! The textbook blocking queue (Python's `queue.Queue`, the `prodcons` threads mode) is a
//! mutex with "not empty" / "not full" condition variables. It is correct and simple, but every
//! put and every get takes the same lock word, so a producer and a consumer on two CPUs pass
//! that cache line back and forth on every message, and once they collide the mutex sleeps in
//! the kernel. And a process killed while holding the lock (a window as wide as the copy) leaves
//! it held forever: the `process lock-held` demo shows that trap.
//!
//! ## When a process is killed in the middle (SIGKILL, OOM killer)
//!
//! Nothing is ever held here, but a position can be claimed and not finished:
//! - a **producer** killed after claiming `p` and before publishing it leaves a hole: consumers
//!   stop at `p` (a `get_timeout` reports `Empty`, a `get` waits), the queue fills up behind it,
//!   and the other producers block. Never a torn message: the bytes are only read after the
//!   publishing store. The claim carries the producer's pid, so as soon as the parent has reaped
//!   the dead producer it calls [`Queue::recover_dead_producer`], which turns exactly that
//!   producer's claim into a tombstone, while the others go on; the message it was putting is
//!   lost with it, nothing else. Waiting for *every* producer to exit before repairing would
//!   hang: the live producers are blocked behind the very hole.
//! - a **consumer** killed while copying has claimed nothing (it copies first): the message
//!   stays for the next consumer. Only a kill landing between its claim and the single store that
//!   frees the slot (two instructions) would leave the slot full for good, and producers would
//!   stop there one lap later (`put_timeout` reports `Full`). A message a consumer had already
//!   received when it died is, of course, gone with it.
//!
//! ## close
//!
//! `close` sets a flag and wakes everyone. A `put` after it fails with `Closed`; a `get` fails
//! with `Closed` only once the queue is also drained (`head == tail`), so consumers see every
//! message put before the close and then the end. A put that claimed its slot just as `close`
//! happened publishes a *tombstone* (an empty slot that consumers skip) and reports `Closed`:
//! either a consumer sees the claimed slot and waits for it, or the producer sees the flag;
//! sequentially consistent ordering of `tail`, `closed` and the consumers' loads rules out
//! the third case (a message stranded after the consumers left).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::backoff::Backoff;
use common::sync::Event;
use common::words::{load_bytes, store_bytes};
use common::{Shared, SharedSlice};

/// Why a put or get did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    /// `get_timeout`: nothing arrived in time (Python's `queue.Empty`).
    Empty,
    /// `put_timeout`: no room freed in time (Python's `queue.Full`).
    Full,
    /// `put` after `close`; `get` after `close` once every message has been taken.
    Closed,
    /// The message is longer than the `max_message` the queue was created with.
    TooLarge,
}

impl std::fmt::Display for QueueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QueueError::Empty => "queue empty (timed out waiting for a message)",
            QueueError::Full => "queue full (timed out waiting for room)",
            QueueError::Closed => "queue closed",
            QueueError::TooLarge => "message larger than the queue's max_message",
        })
    }
}

impl std::error::Error for QueueError {}

/// The largest ring this crate agrees to map (capacity x slot size).
pub const MAX_BYTES: usize = 1 << 30;
/// Length word of a tombstone (see the module doc, "close").
const TOMBSTONE: u64 = u64::MAX;
/// A `turn` with this bit set means "claimed, being written" (see [`claim_marker`]).
const CLAIMED: u64 = 1 << 63;
/// Linux pids are below 2^22 (`PID_MAX_LIMIT`): the low 22 bits of a marker hold the claimant.
const PID_BITS: u32 = 22;
/// The position bits of a marker (41 bits: positions wrap after 2 * 10^12 messages).
const POS_MASK: u64 = (1 << (63 - PID_BITS)) - 1;

/// The `turn` of a slot that process `pid` has claimed at position `pos` and is writing.
///
/// The claimant's pid is there so that when it dies, its claim, and only its claim, can be
/// found and repaired at once, while other producers go on ([`Queue::recover_dead_producer`]).
/// The position is there so that a dead claim from an earlier lap is never taken for a claim of
/// the current one.
fn claim_marker(pos: u64, pid: i32) -> u64 {
    CLAIMED | ((pos & POS_MASK) << PID_BITS) | (pid as u64 & ((1 << PID_BITS) - 1))
}

/// Whether `turn` is a claim (by anyone) of position `pos`.
fn is_claim_of(turn: u64, pos: u64) -> bool {
    turn & CLAIMED != 0 && (turn >> PID_BITS) & POS_MASK == pos & POS_MASK
}

common::shared_struct! {
    /// The queue's shared header. Each group sits on its own 64-byte cache line (the `_pad`
    /// fields fill the rest of the line), so producers, who move `tail`, and consumers, who move
    /// `head`, do not steal each other's line on every message.
    pub struct Header {
        /// Next position to write: producers claim it.
        pub tail: AtomicU64,
        _pad_tail: [AtomicU64; 7],
        /// Next position to read: consumers claim it.
        pub head: AtomicU64,
        _pad_head: [AtomicU64; 7],
        /// Consumers sleep here while the queue is empty; a put wakes them.
        pub not_empty: Event,
        /// 1 once `close` was called.
        pub closed: AtomicU32,
        _pad_not_empty: [AtomicU32; 13],
        /// Producers sleep here while the queue is full; a get wakes them.
        pub not_full: Event,
        _pad_not_full: [AtomicU32; 14],
    }
}

// Four cache lines, whatever the size of an `Event`: checked when the crate compiles.
const _: () = assert!(std::mem::size_of::<Header>() == 4 * 64);

/// The slot that serves one position, by name: a view of its words in the shared slice, and
/// the lap the position is on (module doc, "One message, step by step").
struct Slot<'a> {
    /// Whose turn it is at this slot: `2 * lap` empty, `2 * lap + 1` full, or a claim marker
    /// (see [`claim_marker`]). Zero, the state of fresh memory, is "empty for lap 0".
    turn: &'a AtomicU64,
    /// The message's length in bytes, or [`TOMBSTONE`].
    len: &'a AtomicU64,
    /// The message, eight bytes a word.
    payload: &'a [AtomicU64],
    /// The lap of the position this view was made for: `pos / capacity`.
    lap: u64,
}

impl Slot<'_> {
    /// `turn` when the slot is empty and waits for this lap's producer.
    fn empty_turn(&self) -> u64 {
        2 * self.lap
    }
    /// `turn` once this lap's message is published and waits for its consumer.
    fn full_turn(&self) -> u64 {
        2 * self.lap + 1
    }
    /// `turn` the consumer leaves behind: empty, for the producer of the next lap.
    fn next_lap_turn(&self) -> u64 {
        2 * (self.lap + 1)
    }
}

/// See [`Queue::die_in_next_put`]. A test hook: only in builds with the `fault-injection` feature.
#[cfg(feature = "fault-injection")]
static DIE_IN_NEXT_PUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A bounded FIFO shared by processes. Create it before forking; every child forked afterwards
/// uses the same queue through its inherited copy of this handle. See the module doc.
pub struct Queue {
    header: Shared<Header>,
    slots: SharedSlice<AtomicU64>,
    capacity: usize,
    max_message: usize,
    /// Words per slot: turn, length, payload, rounded up to whole cache lines.
    slot_words: usize,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("capacity", &self.capacity)
            .field("max_message", &self.max_message)
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The outcome of one attempt that does not wait.
enum Attempt<T> {
    /// The put or get happened (or failed for good: closed).
    Finished(T),
    /// The queue was full (put) or empty (get): worth waiting and trying again.
    NotReady,
}

impl Queue {
    /// A queue of `capacity` messages of at most `max_message` bytes each, in fresh `MAP_SHARED`
    /// memory. Python: `Queue(maxsize=capacity)`; there is no unbounded variant, because memory
    /// shared across fork cannot grow afterwards.
    pub fn new(capacity: usize, max_message: usize) -> Result<Queue> {
        anyhow::ensure!(capacity >= 1, "queue capacity must be at least 1");
        let payload_words = max_message.div_ceil(8);
        let slot_words = (2 + payload_words).next_multiple_of(8);
        let bytes = capacity
            .checked_mul(slot_words * 8)
            .filter(|&b| b <= MAX_BYTES)
            .with_context(|| {
                format!(
                    "a queue of {capacity} x {max_message}-byte messages is larger than {MAX_BYTES} bytes"
                )
            })?;
        let header = Shared::<Header>::new_zeroed().context("mmap(MAP_SHARED) queue header")?;
        // Fresh shared memory is all zeros, and a zero `turn` already means "empty, waiting for
        // the producer of lap 0": there is nothing to initialise. Writing to the slots here would
        // fault in every page of the ring before the first message (module doc).
        let slots = SharedSlice::<AtomicU64>::new_zeroed(bytes / 8)
            .context("mmap(MAP_SHARED) queue slots")?;
        Ok(Queue {
            header,
            slots,
            capacity,
            max_message,
            slot_words,
        })
    }

    // --- the shared words, by name ------------------------------------------------------------

    fn tail(&self) -> &AtomicU64 {
        &self.header.tail
    }
    fn head(&self) -> &AtomicU64 {
        &self.header.head
    }
    fn closed_flag(&self) -> &AtomicU32 {
        &self.header.closed
    }
    fn not_empty(&self) -> &Event {
        &self.header.not_empty
    }
    fn not_full(&self) -> &Event {
        &self.header.not_full
    }
    /// The slot for position `pos`: its words `[turn, len, payload...]`, by name, and the lap.
    fn slot(&self, pos: u64) -> Slot<'_> {
        let capacity = self.capacity as u64;
        let lap = pos / capacity;
        // `pos % capacity`, from the quotient: one division on the hot path, not two.
        let index = pos - lap * capacity;
        let start = index as usize * self.slot_words;
        let words = &self.slots[start..start + self.slot_words];
        Slot {
            turn: &words[0],
            len: &words[1],
            payload: &words[2..],
            lap,
        }
    }

    // --- public API ----------------------------------------------------------------------------

    /// How many messages the queue holds at most (Python's `maxsize`).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The longest message accepted, in bytes.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// How many messages are in the queue now (Python's `qsize()`): exact when nobody else is
    /// using the queue, a snapshot otherwise. Counts a message being written as present.
    pub fn len(&self) -> usize {
        // tail first: head can only grow meanwhile, so the difference never exceeds capacity.
        let tail = self.tail().load(Ordering::SeqCst);
        let head = self.head().load(Ordering::SeqCst);
        (tail.saturating_sub(head) as usize).min(self.capacity)
    }

    /// `len() == 0` (Python's `empty()`), with the same caveat.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `close` has been called.
    pub fn is_closed(&self) -> bool {
        self.closed_flag().load(Ordering::SeqCst) != 0
    }

    /// Append `msg`, blocking while the queue is full (Python's `q.put(obj)`).
    /// `Err(Closed)` after `close`, `Err(TooLarge)` if `msg` exceeds `max_message`.
    pub fn put(&self, msg: &[u8]) -> Result<(), QueueError> {
        self.put_inner(msg, None)
    }

    /// As `put`, waiting at most `t` for room: `Err(Full)` if none came (Python's
    /// `q.put(obj, timeout=t)`). `t = 0` never waits (`put_nowait`).
    pub fn put_timeout(&self, msg: &[u8], t: Duration) -> Result<(), QueueError> {
        self.put_inner(msg, Some(t))
    }

    /// `put_timeout(msg, 0)`: Python's `q.put_nowait(obj)`.
    pub fn put_nowait(&self, msg: &[u8]) -> Result<(), QueueError> {
        self.put_inner(msg, Some(Duration::ZERO))
    }

    /// Take the oldest message, blocking while the queue is empty (Python's `q.get()`).
    /// `Err(Closed)` once the queue is closed and every message has been taken.
    pub fn get(&self) -> Result<Vec<u8>, QueueError> {
        let mut v = Vec::new();
        self.get_inner(&mut v, None).map(|()| v)
    }

    /// As `get`, waiting at most `t`: `Err(Empty)` if nothing came (Python's
    /// `q.get(timeout=t)`). `t = 0` never waits (`get_nowait`).
    pub fn get_timeout(&self, t: Duration) -> Result<Vec<u8>, QueueError> {
        let mut v = Vec::new();
        self.get_inner(&mut v, Some(t)).map(|()| v)
    }

    /// `get_timeout(0)`: Python's `q.get_nowait()`.
    pub fn get_nowait(&self) -> Result<Vec<u8>, QueueError> {
        self.get_timeout(Duration::ZERO)
    }

    /// As `get`, but into `buf` (its old contents replaced), reusing its allocation: a consumer
    /// looping on this allocates nothing once `buf` has grown to the largest message. On an
    /// error `buf` is left empty.
    pub fn get_into(&self, buf: &mut Vec<u8>) -> Result<(), QueueError> {
        self.get_inner(buf, None)
    }

    /// As `get_timeout`, into `buf`.
    pub fn get_into_timeout(&self, buf: &mut Vec<u8>, t: Duration) -> Result<(), QueueError> {
        self.get_inner(buf, Some(t))
    }

    /// The producers are done: consumers take what is left, then get `Err(Closed)`. Later puts
    /// fail with `Err(Closed)`. Wakes every sleeper on both sides. Idempotent.
    ///
    /// Python's `q.close()` only says "this process will put no more" and consumers learn the
    /// end from a sentinel each; this close is for the whole queue, like closing a Go channel.
    pub fn close(&self) {
        self.closed_flag().store(1, Ordering::SeqCst);
        self.not_empty().notify_all();
        self.not_full().notify_all();
    }

    /// Repair the queue after producer process `pid` died. Call it once the death is certain
    /// (reaped), and before any new process that might get the same pid could put here. Safe
    /// while other producers and consumers run.
    ///
    /// A producer killed between claiming position `p` and publishing it leaves a hole: its slot
    /// says "claimed by pid, being written" and consumers wait at `p` forever; behind the hole
    /// the queue fills, and the other producers block too. The message it was writing died with
    /// it; this publishes a tombstone in its place (consumers skip it) and moves `tail` past it
    /// if the producer died before doing so. Returns how many claims were repaired (0 or 1: a
    /// producer process has at most one put in flight).
    pub fn recover_dead_producer(&self, pid: i32) -> usize {
        self.recover_where(|turn, pos| turn == claim_marker(pos, pid))
    }

    /// Repair every unfinished claim. Only when no process that could still be putting is alive
    /// (a claim in progress would be destroyed); prefer [`Queue::recover_dead_producer`].
    pub fn recover_abandoned(&self) -> usize {
        self.recover_where(is_claim_of)
    }

    fn recover_where(&self, dead: impl Fn(u64, u64) -> bool) -> usize {
        let head = self.head().load(Ordering::SeqCst);
        let tail = self.tail().load(Ordering::SeqCst);
        let mut holes = 0;
        // `..=tail`: a claim whose producer died before moving `tail` sits at `tail` itself.
        for pos in head..=tail {
            let slot = self.slot(pos);
            let turn = slot.turn.load(Ordering::Acquire);
            if dead(turn, pos) {
                slot.len.store(TOMBSTONE, Ordering::Relaxed);
                let _ =
                    self.tail()
                        .compare_exchange(pos, pos + 1, Ordering::SeqCst, Ordering::Relaxed);
                slot.turn.store(slot.full_turn(), Ordering::Release);
                holes += 1;
            }
        }
        if holes > 0 {
            self.not_empty().notify_all();
        }
        holes
    }

    // --- put -----------------------------------------------------------------------------------

    fn put_inner(&self, msg: &[u8], timeout: Option<Duration>) -> Result<(), QueueError> {
        if msg.len() > self.max_message {
            return Err(QueueError::TooLarge);
        }
        if self.is_closed() {
            return Err(QueueError::Closed);
        }
        // Fast path: room right now. The deadline (a clock read) is only computed if we wait.
        if let Attempt::Finished(r) = self.try_put(msg) {
            return r;
        }
        let deadline = deadline_of(timeout);
        let ev = self.not_full();
        loop {
            let mut backoff = Backoff::new();
            while backoff.snooze() {
                if let Attempt::Finished(r) = self.try_put(msg) {
                    return r;
                }
            }
            if self.is_closed() {
                return Err(QueueError::Closed);
            }
            let left = match time_left(deadline) {
                Some(d) if d.is_zero() => return Err(QueueError::Full),
                left => left,
            };
            let key = ev.prepare();
            // Look again after announcing ourselves (see common::sync::Event): a consumer that made
            // room before this point is seen here, one that makes room after it will wake us.
            if self.is_closed() {
                return Err(QueueError::Closed);
            }
            if let Attempt::Finished(r) = self.try_put(msg) {
                return r;
            }
            ev.sleep(key, left);
        }
    }

    /// One attempt: claim the slot at `tail` if it is empty for this lap, then copy and publish.
    ///
    /// The claim is a compare-and-swap of the slot's `turn` from "empty at `pos`" to "claimed at
    /// `pos` by this pid"; only then is `tail` moved on. A producer that finds a claimed slot at
    /// `tail` moves `tail` on for its owner (which may have died just before doing so), so a
    /// dead producer never blocks the others' claims; its half-written slot is repaired by
    /// [`Queue::recover_dead_producer`].
    fn try_put(&self, msg: &[u8]) -> Attempt<Result<(), QueueError>> {
        let tail = self.tail();
        let mut pos = tail.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(pos);
            let turn = slot.turn.load(Ordering::Acquire);
            let empty_turn = slot.empty_turn();
            if turn == empty_turn {
                // Empty for this lap: try to claim position `pos`. Losing the race to another
                // producer just means looking at the slot again.
                let mine = claim_marker(pos, common::child::my_pid());
                if slot
                    .turn
                    .compare_exchange(empty_turn, mine, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
                {
                    // Move `tail` on (a helper may have done it: then this fails, harmlessly).
                    // This must come before write_claimed's look at the closed flag: see the
                    // module doc, "close".
                    let _ =
                        tail.compare_exchange(pos, pos + 1, Ordering::SeqCst, Ordering::Relaxed);
                    return Attempt::Finished(self.write_claimed(&slot, msg));
                }
            } else if is_claim_of(turn, pos) {
                // Claimed at `pos` by another producer that has not moved `tail` yet: help.
                let _ = tail.compare_exchange(pos, pos + 1, Ordering::SeqCst, Ordering::Relaxed);
                pos = tail.load(Ordering::Relaxed);
            } else if turn < empty_turn || turn & CLAIMED != 0 {
                // Still holds the message of the previous lap (or a consumer is copying it out,
                // or its producer died writing it and it awaits repair): the queue is full here.
                // A claim marker has its top bit set, so it compares larger than any lap's turn:
                // a claim left from an earlier lap is caught by the second test, not the first.
                return Attempt::NotReady;
            } else {
                // Another producer claimed `pos` already; `tail` has moved on.
                pos = tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Test hook (feature `fault-injection`): this process's next `put` claims its slot, writes
    /// the length and garbage where the message should be, and dies by SIGKILL before
    /// publishing, exactly where a producer killed in the middle of its copy would stop. The flag
    /// is a plain static, so after fork it belongs to one process: only the producer that sets it
    /// dies. Used by `powers --kill-producer-mid-message`, to show that a torn message is never
    /// delivered.
    #[cfg(feature = "fault-injection")]
    pub fn die_in_next_put(&self) {
        DIE_IN_NEXT_PUT.store(true, Ordering::SeqCst);
    }

    /// Copy `msg` into the claimed slot and publish it.
    fn write_claimed(&self, slot: &Slot<'_>, msg: &[u8]) -> Result<(), QueueError> {
        // Claimed just as close() happened? Publish a tombstone so consumers do not wait for
        // this slot, and report Closed (module doc, "close"). SeqCst: this load is ordered after
        // our claim of `tail` in the one global order that close() and consumers also follow.
        let closed = self.closed_flag().load(Ordering::SeqCst) != 0;
        if closed {
            slot.len.store(TOMBSTONE, Ordering::Relaxed);
        } else {
            slot.len.store(msg.len() as u64, Ordering::Relaxed);
            #[cfg(feature = "fault-injection")]
            if DIE_IN_NEXT_PUT.load(Ordering::Relaxed) {
                for w in slot.payload.iter().take(msg.len().div_ceil(8)) {
                    w.store(u64::MAX, Ordering::Relaxed);
                }
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            }
            store_bytes(slot.payload, msg);
        }
        // Publish: everything stored above is visible to whoever sees this turn (Acquire).
        slot.turn.store(slot.full_turn(), Ordering::Release);
        self.not_empty().notify();
        if closed {
            Err(QueueError::Closed)
        } else {
            Ok(())
        }
    }

    // --- get -----------------------------------------------------------------------------------

    fn get_inner(&self, buf: &mut Vec<u8>, timeout: Option<Duration>) -> Result<(), QueueError> {
        let r = self.get_wait(buf, timeout);
        if r.is_err() {
            // A copy thrown away (another consumer won the claim) must not look like a message.
            buf.clear();
        }
        r
    }

    fn get_wait(&self, buf: &mut Vec<u8>, timeout: Option<Duration>) -> Result<(), QueueError> {
        if let Attempt::Finished(r) = self.try_get(buf) {
            return r;
        }
        let deadline = deadline_of(timeout);
        let ev = self.not_empty();
        loop {
            let mut backoff = Backoff::new();
            while backoff.snooze() {
                if let Attempt::Finished(r) = self.try_get(buf) {
                    return r;
                }
            }
            let left = match time_left(deadline) {
                Some(d) if d.is_zero() => return Err(QueueError::Empty),
                left => left,
            };
            let key = ev.prepare();
            if let Attempt::Finished(r) = self.try_get(buf) {
                return r;
            }
            ev.sleep(key, left);
        }
    }

    /// One attempt: if the slot at `head` is full for this lap, copy it out, claim it, free it.
    /// Reports `Closed` when the queue is closed and drained.
    ///
    /// The copy comes *before* the claim, unlike `put`. A consumer killed half-way through
    /// copying has then claimed nothing, and the message stays for the next consumer. Had it
    /// claimed first, its slot would stay full forever, and one lap later every producer would
    /// stop in front of it. The early copy is valid if the claim succeeds: `head` only grows,
    /// so a successful `head: pos -> pos + 1` means nobody else claimed `pos`, so nobody freed
    /// it, so no producer can have overwritten it while we copied (that producer would need
    /// the slot freed first). If the claim fails, another consumer took the message and our
    /// copy is thrown away. What is left between claiming and freeing is one store.
    fn try_get(&self, buf: &mut Vec<u8>) -> Attempt<Result<(), QueueError>> {
        let head = self.head();
        let mut pos = head.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(pos);
            let turn = slot.turn.load(Ordering::Acquire);
            let full_turn = slot.full_turn();
            if turn == full_turn {
                let tombstone = self.copy_out(&slot, buf);
                match head.compare_exchange(pos, pos + 1, Ordering::SeqCst, Ordering::Relaxed) {
                    Ok(_) => {
                        // Ours. Free the slot for the producer one lap later; Release, so that
                        // producer's writes cannot overtake our (already finished) reads.
                        slot.turn.store(slot.next_lap_turn(), Ordering::Release);
                        self.not_full().notify();
                        if !tombstone {
                            return Attempt::Finished(Ok(()));
                        }
                        pos += 1; // a tombstone: skip it, the next position is ours to try
                    }
                    Err(now) => pos = now, // another consumer took it first
                }
            } else if turn < full_turn || is_claim_of(turn, pos) {
                // Nothing published at `pos` yet (maybe claimed and being written). Closed *and* nothing claimed by a producer
                // (head == tail) is the end; otherwise a message is on its way: wait for it.
                if self.closed_flag().load(Ordering::SeqCst) != 0 {
                    let h = head.load(Ordering::SeqCst);
                    if h >= self.tail().load(Ordering::SeqCst) {
                        return Attempt::Finished(Err(QueueError::Closed));
                    }
                    if h != pos {
                        pos = h;
                        continue;
                    }
                }
                return Attempt::NotReady;
            } else {
                // Another consumer took `pos`.
                pos = head.load(Ordering::Relaxed);
            }
        }
    }

    /// Copy a published slot into `buf`. Returns whether it is a tombstone (nothing copied).
    fn copy_out(&self, slot: &Slot<'_>, buf: &mut Vec<u8>) -> bool {
        let len = slot.len.load(Ordering::Relaxed);
        if len == TOMBSTONE {
            return true;
        }
        // If another consumer wins the claim, a producer may be rewriting this slot while we
        // read it, so `len` can be anything: clamp it to the slot. Such a copy is discarded.
        let len = (len as usize).min(self.max_message);
        buf.clear();
        buf.resize(len, 0);
        load_bytes(&slot.payload[..len.div_ceil(8)], buf);
        false
    }
}

fn deadline_of(timeout: Option<Duration>) -> Option<Instant> {
    // A timeout too large to add is no deadline at all.
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// `None`: wait forever. `Some(0)`: the deadline has passed.
fn time_left(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn msg(producer: u32, i: u32) -> Vec<u8> {
        let mut v = producer.to_le_bytes().to_vec();
        v.extend_from_slice(&i.to_le_bytes());
        v
    }

    fn parse(m: &[u8]) -> (u32, u32) {
        (
            u32::from_le_bytes(m[0..4].try_into().unwrap()),
            u32::from_le_bytes(m[4..8].try_into().unwrap()),
        )
    }

    #[test]
    fn fifo_in_one_thread_and_sizes_round_trip() {
        let q = Queue::new(4, 20).unwrap();
        assert!(q.is_empty());
        let msgs: [&[u8]; 4] = [b"", b"a", b"12345678", b"twenty bytes exactly"];
        for m in msgs {
            q.put(m).unwrap();
        }
        assert_eq!(q.len(), 4);
        assert_eq!(q.put_nowait(b"x"), Err(QueueError::Full));
        for m in msgs {
            assert_eq!(q.get().unwrap(), m);
        }
        assert_eq!(q.get_nowait(), Err(QueueError::Empty));
        assert_eq!(q.put(&[0; 21]), Err(QueueError::TooLarge));
    }

    #[test]
    fn a_fresh_queue_is_all_zeros_and_works_lap_after_lap() {
        // `new` writes nothing into the slots: zero already means "empty, waiting for the
        // producer of lap 0", so no page of the ring is touched before its first message.
        let q = Queue::new(4, 24).unwrap();
        assert!(
            q.slots.iter().all(|w| w.load(Ordering::Relaxed) == 0),
            "Queue::new wrote into a slot"
        );
        assert!(q.is_empty());
        // Three laps through every slot: FIFO, each message once, full and empty at the edges.
        for lap in 0..3u32 {
            for i in 0..4 {
                q.put(&msg(lap, i)).unwrap();
            }
            assert_eq!(q.put_nowait(b"x"), Err(QueueError::Full));
            for i in 0..4 {
                assert_eq!(parse(&q.get().unwrap()), (lap, i));
            }
            assert_eq!(q.get_nowait(), Err(QueueError::Empty));
        }
        // Every slot served laps 0, 1, 2 and now waits, empty, for the producer of lap 3.
        for k in 0..4 {
            assert_eq!(q.slot(k).turn.load(Ordering::Relaxed), 2 * 3);
        }
        // Half a lap more, so head and tail stop in the middle of the ring.
        q.put(b"a").unwrap();
        q.put(b"b").unwrap();
        assert_eq!(
            q.slot(12).turn.load(Ordering::Relaxed),
            2 * 3 + 1,
            "full, lap 3"
        );
        assert_eq!(q.get().unwrap(), b"a");
        assert_eq!(q.get().unwrap(), b"b");
    }

    #[test]
    fn capacity_one_alternates() {
        let q = Queue::new(1, 8).unwrap();
        for i in 0..100u32 {
            q.put(&i.to_le_bytes()).unwrap();
            assert_eq!(q.put_nowait(b"no"), Err(QueueError::Full));
            assert_eq!(q.get().unwrap(), i.to_le_bytes());
        }
    }

    #[test]
    fn close_drains_then_reports_closed() {
        let q = Queue::new(3, 8).unwrap();
        q.put(b"one").unwrap();
        q.put(b"two").unwrap();
        q.close();
        assert_eq!(q.put(b"late"), Err(QueueError::Closed));
        assert_eq!(q.get().unwrap(), b"one");
        assert_eq!(q.get().unwrap(), b"two");
        assert_eq!(q.get(), Err(QueueError::Closed));
        assert_eq!(
            q.get_timeout(Duration::from_secs(5)),
            Err(QueueError::Closed)
        );
    }

    #[test]
    fn timeouts_report_empty_and_full() {
        let q = Queue::new(1, 8).unwrap();
        assert_eq!(
            q.get_timeout(Duration::from_millis(20)),
            Err(QueueError::Empty)
        );
        q.put(b"x").unwrap();
        assert_eq!(
            q.put_timeout(b"y", Duration::from_millis(20)),
            Err(QueueError::Full)
        );
        // A huge timeout is "forever", not an overflow panic.
        assert_eq!(q.get_timeout(Duration::MAX).unwrap(), b"x");
    }

    #[test]
    fn a_hole_left_by_a_dead_producer_is_repaired_at_once_and_only_its_own() {
        // Two ways a producer can die mid-put: after claiming its slot but before moving `tail`,
        // and after both. Pids 4001 and 4002 stand for dead processes, 4003 for a live one.
        for tail_moved in [false, true] {
            let q = Queue::new(4, 8).unwrap();
            q.put(b"before").unwrap();
            let pos = q.tail().load(Ordering::SeqCst);
            q.slot(pos)
                .turn
                .store(claim_marker(pos, 4001), Ordering::SeqCst);
            if tail_moved {
                q.tail().fetch_add(1, Ordering::SeqCst);
            }
            // Another producer is not blocked by the dead claim: it helps `tail` past it.
            q.put(b"after").unwrap();
            assert_eq!(q.get().unwrap(), b"before");
            assert_eq!(
                q.get_timeout(Duration::from_millis(10)),
                Err(QueueError::Empty),
                "consumers stop at the hole"
            );
            // A live producer's claim, or another dead pid's, is never touched.
            assert_eq!(q.recover_dead_producer(4003), 0);
            assert_eq!(q.recover_dead_producer(4001), 1);
            assert_eq!(
                q.get().unwrap(),
                b"after",
                "the hole is skipped, nothing after it lost"
            );
            assert_eq!(q.recover_dead_producer(4001), 0, "repaired once");
            q.close();
            assert_eq!(q.get(), Err(QueueError::Closed));
        }
        // recover_abandoned (every producer gone): any unfinished claim.
        let q = Queue::new(2, 8).unwrap();
        q.slot(0)
            .turn
            .store(claim_marker(0, 4002), Ordering::SeqCst);
        q.put(b"x").unwrap();
        assert_eq!(q.recover_abandoned(), 1);
        assert_eq!(q.get().unwrap(), b"x");
    }

    #[test]
    fn a_dead_claim_from_an_earlier_lap_means_full_not_claimed() {
        // Capacity 1: position 0's producer died unrepaired. At position 1 (same slot) the
        // stale claim must read as "full", never as "claimed at 1", or `tail` would be moved
        // past a position nobody will fill.
        let q = Queue::new(1, 8).unwrap();
        q.slot(0)
            .turn
            .store(claim_marker(0, 4001), Ordering::SeqCst);
        q.tail().store(1, Ordering::SeqCst);
        assert_eq!(q.put_nowait(b"y"), Err(QueueError::Full));
        assert_eq!(q.tail().load(Ordering::SeqCst), 1);
        assert_eq!(q.recover_dead_producer(4001), 1);
        assert_eq!(
            q.get_nowait(),
            Err(QueueError::Empty),
            "the tombstone is skipped"
        );
        q.put(b"y").unwrap();
        assert_eq!(q.get().unwrap(), b"y");
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert!(Queue::new(0, 8).is_err());
        assert!(Queue::new(usize::MAX / 2, 8).is_err());
        assert!(Queue::new(1 << 20, 1 << 20).is_err());
    }

    #[test]
    fn close_wakes_a_blocked_consumer_and_a_blocked_producer() {
        let q = Arc::new(Queue::new(1, 8).unwrap());
        let q2 = q.clone();
        let consumer = std::thread::spawn(move || q2.get());
        let full = Arc::new(Queue::new(1, 8).unwrap());
        full.put(b"x").unwrap();
        let f2 = full.clone();
        let producer = std::thread::spawn(move || f2.put(b"y"));
        // Whether they are already asleep or not yet, close must end both waits.
        q.close();
        full.close();
        assert_eq!(consumer.join().unwrap(), Err(QueueError::Closed));
        assert_eq!(producer.join().unwrap(), Err(QueueError::Closed));
    }

    /// Several producers and consumers: every message exactly once, and each consumer sees
    /// each producer's messages in the order they were put.
    fn exactly_once(producers: u32, consumers: u32, per_producer: u32, capacity: usize) {
        let q = Arc::new(Queue::new(capacity, 16).unwrap());
        let ps: Vec<_> = (0..producers)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..per_producer {
                        q.put(&msg(p, i)).unwrap();
                    }
                })
            })
            .collect();
        let cs: Vec<_> = (0..consumers)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    let mut buf = Vec::new();
                    let mut last = vec![None::<u32>; producers as usize];
                    while q.get_into(&mut buf).is_ok() {
                        let (p, i) = parse(&buf);
                        let l = &mut last[p as usize];
                        if let Some(prev) = *l {
                            assert!(prev < i, "producer {p}: {i} after {prev}");
                        }
                        *l = Some(i);
                        got.push((p, i));
                    }
                    got
                })
            })
            .collect();
        for p in ps {
            p.join().unwrap();
        }
        q.close();
        let mut all: Vec<(u32, u32)> = cs.into_iter().flat_map(|c| c.join().unwrap()).collect();
        all.sort_unstable();
        let expected: Vec<(u32, u32)> = (0..producers)
            .flat_map(|p| (0..per_producer).map(move |i| (p, i)))
            .collect();
        assert_eq!(all.len(), expected.len(), "lost or duplicated");
        assert_eq!(all, expected);
        assert!(q.is_empty());
    }

    #[test]
    fn one_producer_one_consumer() {
        exactly_once(1, 1, 20_000, 16);
    }

    #[test]
    fn many_producers_many_consumers() {
        exactly_once(4, 3, 5_000, 8);
    }

    #[test]
    fn capacity_one_under_contention() {
        exactly_once(3, 3, 2_000, 1);
    }

    #[test]
    fn put_racing_close_never_strands_a_message() {
        // Producers put until they see Closed while the main thread closes mid-stream: every
        // put that returned Ok must be received; a tombstone never shows up as a message.
        for round in 0..20u64 {
            let q = Arc::new(Queue::new(4, 8).unwrap());
            let ps: Vec<_> = (0..2)
                .map(|p| {
                    let q = q.clone();
                    std::thread::spawn(move || {
                        let mut ok = 0u32;
                        while q.put(&msg(p, ok)).is_ok() {
                            ok += 1;
                        }
                        ok
                    })
                })
                .collect();
            let qc = q.clone();
            let consumer = std::thread::spawn(move || {
                let mut n = [0u32; 2];
                while let Ok(m) = qc.get() {
                    let (p, i) = parse(&m);
                    assert_eq!(i, n[p as usize], "in order, none skipped");
                    n[p as usize] += 1;
                }
                n
            });
            // Close at a different moment each round; any interleaving must keep the promise.
            std::thread::sleep(Duration::from_micros(37 * round));
            q.close();
            let sent: Vec<u32> = ps.into_iter().map(|h| h.join().unwrap()).collect();
            let got = consumer.join().unwrap();
            assert_eq!(sent, got.to_vec());
        }
    }
}
