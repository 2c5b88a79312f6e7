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
//! - **Knowing that something new arrived** without polling. The version word doubles as a futex
//!   word: a reader that has seen version v sleeps in `futex(FUTEX_WAIT, v)` until the version
//!   differs; the writer, after completing a message, calls `futex(FUTEX_WAKE)` when a reader
//!   is registered as sleeping. The kernel checks "is it still v?" atomically with going to sleep,
//!   so a write that lands just before the sleep is never missed: the wait returns at once. That
//!   is also why the last message N is always seen: after it the version changes one final time
//!   and the sleeping reader is woken. (The alternative, a `Condvar` notified under a `Lock`,
//!   would work as well but makes the writer take a lock for every message.)

use std::sync::atomic::{fence, AtomicI64, AtomicU32, AtomicU64, Ordering};

use anyhow::{bail, ensure, Context, Result};
use common::sys::{futex_wait, futex_wake};
use common::{json, out, secs, sleep, SharedBox};

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

/// The slot: (version, sleeping readers, the message). A tuple because `ShmSafe` is implemented
/// for tuples of atomics (see `value.rs`).
type SlotShm = (AtomicU32, AtomicU32, [AtomicU64; WORDS]);

/// One message-sized region of shared memory with a seqlock version word.
pub struct Slot {
    shm: SharedBox<SlotShm>,
}

impl Slot {
    /// Map a zeroed slot (version 0, message 0 = "nothing written yet"). Create before forking.
    pub fn new() -> Result<Slot> {
        Ok(Slot {
            shm: SharedBox::new_zeroed().context("mmap(MAP_SHARED)")?,
        })
    }

    /// Replace the message with `k` (single writer).
    pub fn write(&self, k: u64) {
        let (version, waiters, words) = &*self.shm;
        version.fetch_add(1, Ordering::Relaxed); // odd: a write is in progress
                                                 // Orders the odd version before the message words for any reader that sees a new word.
        fence(Ordering::Release);
        for w in words {
            w.store(k, Ordering::Relaxed); // one word at a time: a reader can catch a mix
        }
        // Even again: complete. SeqCst, paired with the reader's SeqCst increment of `waiters`:
        // either we see the reader registered (and wake it), or it sees the new version (and does
        // not sleep). Never both miss.
        version.fetch_add(1, Ordering::SeqCst);
        if waiters.load(Ordering::SeqCst) > 0 {
            futex_wake(version, i32::MAX);
        }
    }

    /// Sleep in the kernel while the version is still `v`.
    fn wait_while(&self, v: u32) {
        let (version, waiters, _) = &*self.shm;
        while version.load(Ordering::SeqCst) == v {
            waiters.fetch_add(1, Ordering::SeqCst);
            // Returns at once if the version is no longer v; otherwise sleeps until a wake (or a
            // signal, or spuriously: the loop re-checks).
            futex_wait(version, v, None);
            waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A consistent copy of the message and the (even) version it belongs to. Blocks while a
    /// write is in progress; counts, in `torn`, the copies that a write overlapped.
    pub fn read(&self, torn: &mut u64) -> Result<(u64, u32)> {
        let (version, _, words) = &*self.shm;
        loop {
            let v1 = version.load(Ordering::Acquire);
            if v1 % 2 == 1 {
                self.wait_while(v1); // the writer is mid-message: sleep until it finishes
                continue;
            }
            let copy: [u64; WORDS] = std::array::from_fn(|i| words[i].load(Ordering::Relaxed));
            fence(Ordering::Acquire);
            let v2 = version.load(Ordering::Relaxed);
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

    /// Block until a write newer than the one of version `v` has *started* (the next `read`
    /// then waits for it to complete).
    pub fn wait_newer(&self, v: u32) {
        self.wait_while(v);
    }
}

/// Index of each figure in the shared results array.
const WRITTEN: usize = 0;
const SEEN: usize = 1;
const LAST_SEEN: usize = 2;
const TORN: usize = 3;
const READER_DONE: usize = 4;
const WRITER_DONE: usize = 5;

fn writer(slot: &Slot, n: u32, results: &[AtomicI64; 6]) -> Result<()> {
    for k in 1..=n {
        sleep(secs(0.1)); // the notes' pace: producing the next message takes a while
        slot.write(u64::from(k));
        results[WRITTEN].store(i64::from(k), Ordering::Relaxed);
        if i64::from(k) <= SHOWN {
            out::event(
                "wrote",
                json!({"value": k}),
                format!("  writer: slot = {k}"),
            );
        }
    }
    results[WRITER_DONE].store(1, Ordering::Relaxed);
    Ok(())
}

fn reader(slot: &Slot, n: u32, results: &[AtomicI64; 6]) -> Result<()> {
    let (mut last, mut seen, mut torn) = (0u64, 0i64, 0u64);
    loop {
        let (k, v) = slot.read(&mut torn)?;
        if k > last {
            seen += 1;
            last = k;
            if seen <= SHOWN {
                out::event(
                    "seen",
                    json!({"value": k}),
                    format!("  reader:           sees {k}"),
                );
            }
        } else if k != 0 {
            // 0 is "nothing written yet"; any other repeat or step back breaks the seqlock's promise.
            bail!("the slot went from {last} to {k}: not increasing");
        }
        if k == u64::from(n) {
            break;
        }
        // Busy with something else; meanwhile the writer may replace the message several times.
        sleep(secs(0.25));
        // Then sleep in the kernel until there is something newer than what we saw.
        slot.wait_newer(v);
    }
    results[SEEN].store(seen, Ordering::Relaxed);
    results[LAST_SEEN].store(last as i64, Ordering::Relaxed);
    results[TORN].store(torn as i64, Ordering::Relaxed);
    results[READER_DONE].store(1, Ordering::Relaxed);
    Ok(())
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let n = args.messages;
    let slot = Slot::new()?;
    let results = SharedBox::<[AtomicI64; 6]>::new_zeroed().context("mmap(MAP_SHARED)")?;
    out::say(format!(
        "one 64-byte slot of MAP_SHARED memory; the writer puts 1..={n} into it (every 0.1 s), \
         the reader looks every 0.25 s and sleeps on the futex until something newer is there"
    ));
    if i64::from(n) > SHOWN {
        out::say(format!(
            "(only the first {SHOWN} writes and sightings are printed)"
        ));
    }
    let (s, r) = (&slot, &*results);
    // The reader first, so that it is already looking when the first message lands.
    let rd = common::spawn("reader", move || reader(s, n, r))?;
    let w = common::spawn("writer", move || writer(s, n, r))?;
    out::event(
        "started",
        json!({"writer_pid": w.pid(), "reader_pid": rd.pid()}),
        format!("writer pid {}, reader pid {}", w.pid(), rd.pid()),
    );
    join_all(vec![w, rd])?;

    let get = |i: usize| results[i].load(Ordering::Relaxed);
    ensure!(
        get(READER_DONE) == 1 && get(WRITER_DONE) == 1,
        "a child exited 0 without reporting"
    );
    let (written, seen, last_seen) = (get(WRITTEN), get(SEEN), get(LAST_SEEN));
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
        "torn_retries": get(TORN),
    }));
    ensure!(
        written == i64::from(n) && last_seen == written,
        "the reader's last value {last_seen} is not the last written {written}"
    );
    ensure!(
        (1..=written).contains(&seen),
        "seen {seen} out of 1..={written}"
    );
    Ok(())
}
