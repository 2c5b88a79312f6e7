//! `overwrite`: shared memory used as one slot that every write replaces (the notes: 共享内存
//! "每次写入的内容都会把之前写入的内容给覆盖, 所以本质上只可以存储一条消息").
//!
//! A writer puts messages 1, 2, ..., N into the slot, one after another; a reader, busy with other
//! things between looks, reads whatever is there. It sees an increasing subsequence ending at N;
//! the rest were overwritten before it looked. A queue (`cargo run -p queue`) delivers every
//! message, because it keeps each one until `get` takes it; a slot keeps only the latest.
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
    /// Messages the writer writes into the slot, 1..=N (at most 1000000).
    #[arg(long, default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_MESSAGES as i64))]
    pub messages: u32,
}

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
        "one 64-byte slot of MAP_SHARED memory; the writer puts 1..={messages} into it (every 0.1 s), \
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
    out::say(format!(
        "a queue would have delivered all {written}: it keeps each message until get() takes it \
         (cargo run -p queue); the slot keeps only the latest"
    ));
    out::summary(json!({
        "written": written,
        "seen": seen,
        "missed": missed,
        "last_seen": last_seen,
        "torn_retries": get(&results.torn),
    }));
    ensure!(
        written == i64::from(messages) && last_seen == written,
        "the reader's last value {last_seen} is not the last written {written}"
    );
    ensure!(
        (1..=written).contains(&seen),
        "seen {seen} out of 1..={written}"
    );
    Ok(())
}
