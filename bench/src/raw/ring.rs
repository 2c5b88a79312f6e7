//! The least a shared-memory queue can be: a single-producer single-consumer ring of 16-byte
//! messages in `MAP_SHARED` memory, the raw yardstick of the `queue` figure (whose `Queue` is a
//! ring in shared memory too, but for any number of producers and consumers, with messages of
//! any length up to a maximum, timeouts and `close`).
//!
//! Each slot is one 64-byte cache line: a sequence word and the message. Slot `i % CAP` starts
//! at sequence `i` ("free for message i"); the producer writes message `i` into it and stores
//! `i + 1` ("full"); the consumer reads it and stores `i + CAP` ("free for message i + CAP").
//! Each side only waits for the sequence word of the one slot it needs, so nothing else crosses
//! between the CPUs: no shared head or tail counter that both sides would keep stealing from
//! each other (every message would move those counters' cache line between the CPUs twice).
//! A side that must wait spins for at most [`SPIN_FOR`], then sleeps on its own futex word; a
//! per-side flag says whether it may sleep, so the other side only enters the kernel when it
//! does (see `publish` for the one subtle point).

use std::sync::atomic::{AtomicU32, Ordering::*};
use std::time::Instant;

use anyhow::{ensure, Result};
use common::sys::{futex_wait, futex_wake};
use common::{SharedBox, SharedSlice};

use super::spin::SPIN_FOR;
use crate::gate::{reap, Gate};

/// Slots in the ring (the `queue` figure uses the same capacity).
pub const CAP: usize = 1024;
/// u32 words per slot: one cache line.
const SLOT: usize = 16;

/// One side's sleep: a futex word bumped by every wake, and a flag "I may be asleep".
struct Sleep<'a> {
    seq: &'a AtomicU32,
    sleeping: &'a AtomicU32,
}

fn wait_until(word: &AtomicU32, me: &Sleep, target: u32) {
    // Spin with exponential backoff (1, 2, 4 ... 64 pauses between looks): a waiter that reads
    // the slot's line in a tight loop keeps stealing it back from the writer, which then stalls
    // on every store to it (measured: 6 M msgs/s with a tight spin, ~30 M with the backoff).
    let start = Instant::now();
    let mut pauses = 1;
    loop {
        if word.load(Acquire) == target {
            return;
        }
        for _ in 0..pauses {
            std::hint::spin_loop();
        }
        if pauses < 64 {
            pauses *= 2;
        } else if start.elapsed() > SPIN_FOR {
            break;
        }
    }
    loop {
        // Key first, then the flag, then look again (all SeqCst): either we see the other
        // side's store, or it sees our flag and bumps `seq` after we took the key, so the
        // futex_wait below returns at once.
        let key = me.seq.load(SeqCst);
        me.sleeping.store(1, SeqCst);
        if word.load(SeqCst) == target {
            return;
        }
        futex_wait(me.seq, key, None);
    }
}

/// Store `value`; wake the other side if it may sleep. The flag is swapped to 0, so one sleep
/// costs one wake rather than one per message published while the sleeper gets going again.
/// The wake goes through the sleeper's own `seq` word, not the slot's: a wake meant for an
/// earlier slot (the sleeper raised its flag just after that slot was published) still bumps
/// `seq`, so the sleeper's futex_wait returns and it looks again instead of sleeping through.
/// (Sleeping on the slot word itself would lose that wake: the slot the sleeper watches is not
/// the one that was published, so nothing would ever change it: a deadlock.)
fn publish(word: &AtomicU32, other: &Sleep, value: u32) {
    word.store(value, SeqCst);
    if other.sleeping.load(SeqCst) != 0 && other.sleeping.swap(0, SeqCst) != 0 {
        other.seq.fetch_add(1, SeqCst);
        futex_wake(other.seq, 1);
    }
}

common::shared_struct! {
    /// One side's futex word and "I am asleep" flag, alone on its 64-byte cache line.
    struct SideFlags {
        seq: AtomicU32,
        sleeping: AtomicU32,
        _pad: [AtomicU32; 14],
    }
}

common::shared_struct! {
    /// Both sides' flags, on two cache lines so they do not fight over one.
    struct RingFlags {
        producer: SideFlags,
        consumer: SideFlags,
    }
}

/// Millions of 16-byte messages `(2, i)` per second from a child producer to the parent.
pub fn one_one(n: usize) -> Result<f64> {
    let flags: SharedBox<RingFlags> = SharedBox::new_zeroed()?;
    let prod = Sleep {
        seq: &flags.producer.seq,
        sleeping: &flags.producer.sleeping,
    };
    let cons = Sleep {
        seq: &flags.consumer.seq,
        sleeping: &flags.consumer.sleeping,
    };
    let ring: SharedSlice<AtomicU32> = SharedSlice::new_zeroed(CAP * SLOT)?;
    for k in 0..CAP {
        ring[k * SLOT].store(k as u32, Relaxed);
    }
    let slot = |i: u32| &ring[(i as usize % CAP) * SLOT..][..SLOT];
    let gate = Gate::new()?;
    let child = common::spawn("raw-ring-producer", || {
        gate.wait()?;
        for i in 0..n as u32 {
            let s = slot(i);
            wait_until(&s[0], &prod, i);
            s[1].store(2, Relaxed);
            s[3].store(i, Relaxed); // (2, i) as two little-endian u64 words
            publish(&s[0], &cons, i.wrapping_add(1));
        }
        Ok(())
    })?;
    let t = Instant::now();
    gate.open()?;
    for i in 0..n as u32 {
        let s = slot(i);
        wait_until(&s[0], &cons, i.wrapping_add(1));
        let (a, b) = (s[1].load(Relaxed), s[3].load(Relaxed));
        ensure!(a == 2 && b == i, "message {i}: got ({a}, {b})");
        publish(&s[0], &prod, i.wrapping_add(CAP as u32));
    }
    let dt = t.elapsed().as_secs_f64();
    reap(child)?;
    Ok(n as f64 / dt / 1e6)
}
