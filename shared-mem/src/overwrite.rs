//! `overwrite`: shared memory used as one slot that every write replaces (the notes: 共享内存
//! "每次写入的内容都会把之前写入的内容给覆盖, 所以本质上只可以存储一条消息" and "每次都从头写"),
//! then the same memory used as a ring that holds many.
//!
//! Phase 1, **the slot**. A writer puts messages 1, 2, ..., N into the slot, one after another; a
//! reader, busy with other things between looks, reads whatever is there. It sees an increasing
//! subsequence ending at N; the rest were overwritten before it looked.
//!
//! Phase 2, **a ring in the same kind of memory**. The same writer, the same reader, the same
//! pace, but the messages go into a ring of `--ring-capacity` slots, also `MAP_SHARED` memory
//! created before the fork: the `queue` member's [`queue::Queue`] (Vyukov's bounded ring, see
//! `queue/src/ring.rs`), reused here rather than written a second time. Each `put` writes at the
//! next free slot, not "from the start", and each `get` takes the oldest: the reader receives
//! all N, in order, and the output says how many were waiting in the ring at once. When the ring
//! is full the writer *waits* (after a brief spin, asleep in the kernel on a futex) instead of
//! overwriting, as a `put` on Python's `Queue(maxsize)` blocks. So "only one message" is a
//! property of the one-slot layout, not of shared memory: the memory is the same, the layout
//! differs.
//!
//! ## Phase 1 in detail
//!
//! The message is 8 words (64 bytes) written one word at a time, as any message longer than one
//! machine word must be. Two problems follow, and the fixes are what any real shared-memory
//! channel needs:
//! - **A torn read**: the reader may copy the slot while the writer is halfway through, half old
//!   message, half new. Fix: a *seqlock*. A version word beside the message is odd while a write
//!   is in progress and even when it is complete; the writer bumps it before and after writing.
//!   The reader reads the version, copies the message, reads the version again: if both are the
//!   same even number, no write overlapped the copy; otherwise it copies again. `torn_retries`
//!   counts those retries.
//! - **Knowing that something new arrived** without polling. A reader that has seen version v
//!   sleeps on `slot.newer`, a [`common::sync::Event`] (a futex word and a "sleepers" flag),
//!   until the version differs; the writer, after completing a message, notifies it, which costs
//!   a system call only when a reader announced it was going to sleep. The reader announces
//!   itself *before* it looks at the version a last time, and the writer bumps the version
//!   *before* it looks for sleepers, so one of the two always sees the other: a write that lands
//!   just before the sleep is never missed. That is also why the last message N is always seen:
//!   after it the version changes one final time and the sleeping reader is woken. (The
//!   alternative, a `Condvar` notified under a `Lock`, would work as well but makes the writer
//!   take a lock for every message.)

use std::sync::atomic::{fence, AtomicI64, AtomicU32, AtomicU64, Ordering};

use anyhow::{bail, ensure, Context, Result};
use common::sync::Event;
use common::{json, out, secs, sleep, Shared};

use crate::report::join_all;

/// Most messages (`--messages`).
pub const MAX_MESSAGES: u32 = 1_000_000;
/// Messages the writer announces, and values the reader announces, line by line.
pub const SHOWN: i64 = 200;
/// Words in a message.
const WORDS: usize = 8;

/// Flags of `overwrite`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Messages the writer writes into the slot, 1..=N (at most 1000000), then into the ring.
    #[arg(long, default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_MESSAGES as i64))]
    pub messages: u32,
    /// Slots of the ring of phase 2 (1..=4096): how many messages it holds at once.
    #[arg(long, default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=MAX_RING as i64))]
    pub ring_capacity: u32,
}

/// Largest `--ring-capacity`.
pub const MAX_RING: u32 = 4096;

common::shared_struct! {
    /// The slot, in one shared page.
    pub struct SlotShm {
        /// The seqlock's version: odd while a write is in progress, even when it is complete.
        pub version: AtomicU32,
        /// Readers waiting for a version newer than the one they saw sleep here.
        pub newer: Event,
        /// The message: `WORDS` copies of one number, so a mix of two messages shows.
        pub words: [AtomicU64; WORDS],
    }
}

/// One message-sized region of shared memory with a seqlock version word.
pub struct Slot {
    shm: Shared<SlotShm>,
}

impl Slot {
    /// Map a zeroed slot (version 0, message 0 = "nothing written yet"). Create before forking.
    pub fn new() -> Result<Slot> {
        Ok(Slot {
            shm: Shared::new_zeroed().context("mmap(MAP_SHARED)")?,
        })
    }

    /// Replace the message with `message` (single writer).
    pub fn write(&self, message: u64) {
        let slot = &*self.shm;
        slot.version.fetch_add(1, Ordering::Relaxed); // odd: a write is in progress
                                                      // Orders the odd version before the message words for any reader that sees a new word.
        fence(Ordering::Release);
        for word in &slot.words {
            word.store(message, Ordering::Relaxed); // one word at a time: a reader can catch a mix
        }
        // Even again: complete. Then wake a reader that announced it sleeps (`notify` fences
        // before it looks, so either it sees the reader's announcement or the reader, looking
        // after announcing, sees this new version).
        slot.version.fetch_add(1, Ordering::SeqCst);
        slot.newer.notify();
    }

    /// Sleep in the kernel while the version is still `seen`.
    fn wait_while(&self, seen: u32) {
        let slot = &*self.shm;
        slot.newer
            .wait_until(|| slot.version.load(Ordering::SeqCst) != seen, None);
    }

    /// A consistent copy of the message and the (even) version it belongs to. Blocks while a
    /// write is in progress; counts, in `torn`, the copies that a write overlapped.
    pub fn read(&self, torn: &mut u64) -> Result<(u64, u32)> {
        let slot = &*self.shm;
        loop {
            let v1 = slot.version.load(Ordering::Acquire);
            if v1 % 2 == 1 {
                self.wait_while(v1); // the writer is mid-message: sleep until it finishes
                continue;
            }
            let copy: [u64; WORDS] = std::array::from_fn(|i| slot.words[i].load(Ordering::Relaxed));
            fence(Ordering::Acquire);
            let v2 = slot.version.load(Ordering::Relaxed);
            if v1 == v2 {
                ensure!(
                    copy.iter().all(|&w| w == copy[0]),
                    "the seqlock let a torn message through: {copy:?}"
                );
                return Ok((copy[0], v1));
            }
            *torn += 1; // a write overlapped our copy: copy again
        }
    }

    /// Block until a write newer than the one of version `seen` has *started* (the next `read`
    /// then waits for it to complete).
    pub fn wait_newer(&self, seen: u32) {
        self.wait_while(seen);
    }
}

common::shared_struct! {
    /// What the two children report back to the parent, which reads it after reaping them.
    pub struct Results {
        /// The last message the writer wrote.
        pub written: AtomicI64,
        /// How many different messages the reader saw.
        pub seen: AtomicI64,
        /// The last message the reader saw.
        pub last_seen: AtomicI64,
        /// Copies the reader made again because a write overlapped them.
        pub torn: AtomicI64,
        /// 1 once the reader has reported.
        pub reader_done: AtomicI64,
        /// 1 once the writer has reported.
        pub writer_done: AtomicI64,
    }
}

fn writer(slot: &Slot, messages: u32, results: &Results) -> Result<()> {
    for message in 1..=messages {
        sleep(secs(0.1)); // the notes' pace: producing the next message takes a while
        slot.write(u64::from(message));
        results.written.store(i64::from(message), Ordering::Relaxed);
        if i64::from(message) <= SHOWN {
            out::event(
                "wrote",
                json!({"value": message}),
                format!("  writer: slot = {message}"),
            );
        }
    }
    results.writer_done.store(1, Ordering::Relaxed);
    Ok(())
}

fn reader(slot: &Slot, messages: u32, results: &Results) -> Result<()> {
    let (mut last, mut seen, mut torn) = (0u64, 0i64, 0u64);
    loop {
        let (message, version) = slot.read(&mut torn)?;
        if message > last {
            seen += 1;
            last = message;
            if seen <= SHOWN {
                out::event(
                    "seen",
                    json!({"value": message}),
                    format!("  reader:           sees {message}"),
                );
            }
        } else if message != 0 {
            // 0 is "nothing written yet"; any other repeat or step back breaks the seqlock's promise.
            bail!("the slot went from {last} to {message}: not increasing");
        }
        if message == u64::from(messages) {
            break;
        }
        // Busy with something else; meanwhile the writer may replace the message several times.
        sleep(secs(0.25));
        // Then sleep in the kernel until there is something newer than what we saw.
        slot.wait_newer(version);
    }
    results.seen.store(seen, Ordering::Relaxed);
    results.last_seen.store(last as i64, Ordering::Relaxed);
    results.torn.store(torn as i64, Ordering::Relaxed);
    results.reader_done.store(1, Ordering::Relaxed);
    Ok(())
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let messages = args.messages;
    let slot = Slot::new()?;
    let results = Shared::<Results>::new_zeroed().context("mmap(MAP_SHARED)")?;
    out::say(format!(
        "phase 1: one 64-byte slot of MAP_SHARED memory; the writer puts 1..={messages} into it (every 0.1 s), \
         the reader looks every 0.25 s and sleeps on the futex until something newer is there"
    ));
    if i64::from(messages) > SHOWN {
        out::say(format!(
            "(only the first {SHOWN} writes and sightings are printed)"
        ));
    }
    let (slot, results) = (&slot, &*results);
    // The reader first, so that it is already looking when the first message lands.
    let reader_child = common::spawn("reader", move || reader(slot, messages, results))?;
    let writer_child = common::spawn("writer", move || writer(slot, messages, results))?;
    out::event(
        "started",
        json!({"writer_pid": writer_child.pid(), "reader_pid": reader_child.pid()}),
        format!(
            "writer pid {}, reader pid {}",
            writer_child.pid(),
            reader_child.pid()
        ),
    );
    join_all(vec![writer_child, reader_child])?;

    let get = |figure: &AtomicI64| figure.load(Ordering::Relaxed);
    ensure!(
        get(&results.reader_done) == 1 && get(&results.writer_done) == 1,
        "a child exited 0 without reporting"
    );
    let (written, seen, last_seen) = (
        get(&results.written),
        get(&results.seen),
        get(&results.last_seen),
    );
    let missed = written - seen;
    out::event(
        "result",
        json!({"written": written, "seen": seen, "missed": missed, "last_seen": last_seen}),
        format!(
            "written {written}, seen {seen}, missed {missed} (overwritten before the reader looked); last seen {last_seen}"
        ),
    );
    ensure!(
        written == i64::from(messages) && last_seen == written,
        "the reader's last value {last_seen} is not the last written {written}"
    );
    ensure!(
        (1..=written).contains(&seen),
        "seen {seen} out of 1..={written}"
    );

    let ring = ring_phase(args)?;
    out::event(
        "compare",
        json!({"slot_missed": missed, "ring_missed": ring.missed}),
        format!(
            "one slot: written {written}, seen {seen}, missed {missed}. A ring of {} slots, MAP_SHARED \
             memory too: written {}, received {}, missed {}, up to {} waiting at once. \
             Shared memory holds as many messages as its layout has room for.",
            ring.capacity, ring.written, ring.received, ring.missed, ring.max_waiting
        ),
    );
    out::summary(json!({
        "written": written,
        "seen": seen,
        "missed": missed,
        "last_seen": last_seen,
        "torn_retries": get(&results.torn),
        "ring": ring,
    }));
    ensure!(
        ring.written == i64::from(messages)
            && ring.received == ring.written
            && ring.missed == 0
            && ring.in_order,
        "the ring lost or reordered messages: {ring:?}"
    );
    Ok(())
}

common::shared_struct! {
    /// What the two children of phase 2 report back to the parent.
    pub struct RingResults {
        /// Messages the writer put.
        pub written: AtomicI64,
        /// Messages the reader got.
        pub received: AtomicI64,
        /// 1 while every message came as the next one expected (1, 2, 3, ...).
        pub in_order: AtomicI64,
        /// The most messages that were in the ring at once, as the reader found it.
        pub max_waiting: AtomicI64,
        /// 1 once the reader has reported.
        pub reader_done: AtomicI64,
        /// 1 once the writer has reported.
        pub writer_done: AtomicI64,
    }
}

/// Phase 2's figures, for the summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RingFigures {
    /// Slots in the ring.
    pub capacity: u32,
    /// Messages put.
    pub written: i64,
    /// Messages got.
    pub received: i64,
    /// `written - received`: 0 when nothing was lost.
    pub missed: i64,
    /// Every message arrived, in the order written.
    pub in_order: bool,
    /// The most messages waiting in the ring at once (at least 1).
    pub max_waiting: i64,
}

fn ring_writer(ring: &queue::Queue, messages: u32, results: &RingResults) -> Result<()> {
    for message in 1..=messages {
        sleep(secs(0.1)); // the same pace as the slot's writer
                          // Blocks (on a futex) while all the ring's slots are full: it never overwrites.
        ring.put(&u64::from(message).to_le_bytes())
            .map_err(|e| anyhow::anyhow!("put {message}: {e}"))?;
        results.written.store(i64::from(message), Ordering::Relaxed);
        if i64::from(message) <= SHOWN {
            out::event(
                "ring_put",
                json!({"value": message}),
                format!("  writer: put {message} into the ring"),
            );
        }
    }
    // No more messages: the reader drains what is left, then sees Closed.
    ring.close();
    results.writer_done.store(1, Ordering::Relaxed);
    Ok(())
}

fn ring_reader(ring: &queue::Queue, results: &RingResults) -> Result<()> {
    let (mut received, mut max_waiting, mut in_order) = (0i64, 0i64, true);
    loop {
        // How many are waiting as we look: the one we are about to take and the rest.
        let waiting = ring.len() as i64;
        let message = match ring.get() {
            Ok(bytes) => {
                let word: [u8; 8] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("a message of {} bytes, not 8", bytes.len()))?;
                u64::from_le_bytes(word) as i64
            }
            Err(queue::QueueError::Closed) => break,
            Err(e) => bail!("get: {e}"),
        };
        received += 1;
        max_waiting = max_waiting.max(waiting).max(1);
        in_order &= message == received;
        if received <= SHOWN {
            out::event(
                "ring_got",
                json!({"value": message, "waiting": waiting}),
                if waiting == 0 {
                    format!("  reader:           got {message} (the ring was empty: it slept until this one came)")
                } else {
                    format!("  reader:           got {message} ({waiting} waiting in the ring when it looked)")
                },
            );
        }
        sleep(secs(0.25)); // the same slow reader as in phase 1
    }
    results.received.store(received, Ordering::Relaxed);
    results
        .in_order
        .store(i64::from(in_order), Ordering::Relaxed);
    results.max_waiting.store(max_waiting, Ordering::Relaxed);
    results.reader_done.store(1, Ordering::Relaxed);
    Ok(())
}

/// Phase 2: the same writer and reader through a ring of `--ring-capacity` slots.
fn ring_phase(args: &Args) -> Result<RingFigures> {
    let ring = queue::Queue::new(args.ring_capacity as usize, 8)?;
    let results = Shared::<RingResults>::new_zeroed().context("mmap(MAP_SHARED)")?;
    out::say(format!(
        "phase 2: a ring of {} slots in the same kind of memory (MAP_SHARED, the queue member's Queue): \
         the writer puts 1..={} at the same pace, the reader takes the oldest at the same pace; \
         when the ring is full the writer waits instead of overwriting",
        args.ring_capacity, args.messages
    ));
    let messages = args.messages;
    let (ring, results) = (&ring, &*results);
    let reader_child = common::spawn("ring-reader", move || ring_reader(ring, results))?;
    let writer_child = common::spawn("ring-writer", move || ring_writer(ring, messages, results))?;
    join_all(vec![writer_child, reader_child])?;
    let get = |figure: &AtomicI64| figure.load(Ordering::Relaxed);
    ensure!(
        get(&results.reader_done) == 1 && get(&results.writer_done) == 1,
        "a ring child exited 0 without reporting"
    );
    let (written, received) = (get(&results.written), get(&results.received));
    Ok(RingFigures {
        capacity: args.ring_capacity,
        written,
        received,
        missed: written - received,
        in_order: get(&results.in_order) == 1,
        max_waiting: get(&results.max_waiting),
    })
}
