//! The channel between the parent and one worker: a byte ring in `MAP_SHARED` memory.
//!
//! Python's Pool talks to its workers through pipes: every task and every result is a
//! `write(2)` by one process and a `read(2)` by another, and a reader that finds the pipe empty
//! sleeps in the kernel until the writer's next `write` wakes it. On this machine one such
//! wake-up across CPUs costs about 56 us, which is why `pool.apply` in Python takes ~280 us.
//!
//! A ring is the same idea without the kernel in the middle: a fixed array of bytes that both
//! processes map (created before fork, so the child has the same physical pages), a *write
//! position* that only the producer advances and a *read position* that only the consumer
//! advances. The bytes between them are the messages in flight. Sending is a copy into the
//! array and one store of the new write position; receiving is one load and a copy out. No
//! system call at all, as long as the other side is awake.
//!
//! When a side finds nothing to do (the consumer an empty ring, the producer a full one) it
//! first **spins** for a short, bounded time (a few tens of microseconds: the other side is
//! usually just about to act), and then **blocks in the kernel** on a futex keyed by the
//! position word it is waiting for. The other side, after moving its position, looks at a
//! "sleeping" flag and only then makes the `FUTEX_WAKE` system call. The flag and the position
//! are written and read in the opposite order by the two sides, with sequentially consistent
//! atomics (Dekker's pattern), so either the sleeper sees the new position or the mover sees the
//! flag: a wake-up is never lost. This is how good mutexes work too (spin a little, then sleep).
//!
//! The parent never sleeps on a ring's futex: it must also notice a worker's *death*, so it
//! sleeps in `poll(2)` on the workers' pidfds plus a "doorbell" pipe that workers write one byte
//! to (see `pool.rs`). A futex cannot be polled; a pipe can.
//!
//! Alternative not taken: per-worker pipes (Python's way; poll-able directly) cost two system
//! calls and usually a cross-CPU wake-up per message: ~20x slower for `apply`.

use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use std::time::{Duration, Instant};

use common::sys::{futex_wait, futex_wake};
use common::{SharedBox, SharedSlice};

/// Capacity of each ring: 1 MiB, the same as the largest pipe buffer an unprivileged process
/// may ask for (`/proc/sys/fs/pipe-max-size`). A frame larger than this streams through in
/// pieces, the consumer emptying while the producer fills.
pub const RING_BYTES: usize = 1 << 20;
const WORDS: usize = RING_BYTES / 8;
const MASK: usize = RING_BYTES - 1;

/// How long a side spins before it sleeps in the kernel.
pub const SPIN: Duration = Duration::from_micros(50);

// Control words. The write side's and the read side's words sit on different cache lines
// (16 x 4 bytes = 64), so the two processes do not fight over one line.
const WPOS: usize = 0;
const CONSUMER_SLEEPING: usize = 1;
const RPOS: usize = 16;
const PRODUCER_SLEEPING: usize = 17;

/// A single-producer, single-consumer byte ring in shared memory. Both ends use the same
/// `Ring` value (the child's copy after fork maps the same pages). Lengths and positions are
/// multiples of 8: the data moves as whole 64-bit words.
pub struct Ring {
    ctl: SharedBox<[AtomicU32; 32]>,
    data: SharedSlice<AtomicU64>,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("write_pos", &self.ctl[WPOS].load(Relaxed))
            .field("read_pos", &self.ctl[RPOS].load(Relaxed))
            .finish()
    }
}

/// Spin until `cond` holds or `limit` has passed; returns the last value of `cond`.
pub fn spin_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let mut i = 0u32;
    loop {
        if cond() {
            return true;
        }
        std::hint::spin_loop();
        i = i.wrapping_add(1);
        // Reading the clock costs ~25 ns; every 64 turns is plenty. Yield the CPU there too:
        // on a busy machine the process we wait for may be queued behind us on this very CPU.
        if i % 64 == 0 {
            if start.elapsed() >= limit {
                return cond();
            }
            std::thread::yield_now();
        }
    }
}

/// Copy `src` into the shared words, 8 bytes to a word. Relaxed stores: the ordering comes
/// from the position store that publishes them. (A plain `memcpy` into memory another process
/// reads would need `unsafe`; on x86 these stores compile to the same `mov`s.)
fn store_words(cells: &[AtomicU64], src: &[u8]) {
    for (cell, c) in cells.iter().zip(src.chunks_exact(8)) {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        cell.store(u64::from_le_bytes(a), Relaxed);
    }
}

impl Ring {
    /// Map a new, empty ring (call before forking the process at the other end).
    pub fn new() -> io::Result<Ring> {
        Ok(Ring {
            ctl: SharedBox::new_zeroed()?,
            data: SharedSlice::new_zeroed(WORDS)?,
        })
    }

    fn wpos(&self) -> u32 {
        self.ctl[WPOS].load(SeqCst)
    }
    fn rpos(&self) -> u32 {
        self.ctl[RPOS].load(SeqCst)
    }

    /// Bytes written and not yet consumed.
    pub fn available(&self) -> usize {
        self.wpos().wrapping_sub(self.rpos()) as usize
    }

    /// Bytes the producer may write now.
    pub fn free(&self) -> usize {
        RING_BYTES - self.available()
    }

    /// Producer: copy as much of `src` (a multiple of 8 bytes) as fits, publish it, wake a
    /// sleeping consumer. Returns how many bytes were written (a multiple of 8, maybe 0).
    pub fn write_some(&self, src: &[u8]) -> usize {
        debug_assert_eq!(src.len() % 8, 0);
        // Only the producer stores the write position, so a relaxed load sees our own last one.
        let w = self.ctl[WPOS].load(Relaxed);
        let r = self.ctl[RPOS].load(Acquire);
        let free = RING_BYTES - w.wrapping_sub(r) as usize;
        let n = free.min(src.len());
        if n == 0 {
            return 0;
        }
        let start = (w as usize & MASK) / 8;
        let words = n / 8;
        let first = words.min(WORDS - start);
        store_words(&self.data[start..start + first], &src[..first * 8]);
        store_words(&self.data[..words - first], &src[first * 8..n]);
        // Publish: the data stores above happen-before this store (SeqCst includes Release), so
        // a consumer that sees the new position also sees the bytes.
        self.ctl[WPOS].store(w.wrapping_add(n as u32), SeqCst);
        if self.ctl[CONSUMER_SLEEPING].load(SeqCst) != 0 {
            futex_wake(&self.ctl[WPOS], 1);
        }
        n
    }

    /// Consumer: copy the next `dst.len()` bytes (a multiple of 8, at most [`available`]) out
    /// without consuming them.
    ///
    /// [`available`]: Ring::available
    pub fn peek(&self, dst: &mut [u8]) {
        debug_assert_eq!(dst.len() % 8, 0);
        debug_assert!(dst.len() <= self.available());
        let r = self.ctl[RPOS].load(Relaxed);
        let start = (r as usize & MASK) / 8;
        let words = dst.len() / 8;
        let first = words.min(WORDS - start);
        let (a, b) = dst.split_at_mut(first * 8);
        for (c, cell) in a.chunks_exact_mut(8).zip(&self.data[start..start + first]) {
            c.copy_from_slice(&cell.load(Relaxed).to_le_bytes());
        }
        for (c, cell) in b.chunks_exact_mut(8).zip(&self.data[..words - first]) {
            c.copy_from_slice(&cell.load(Relaxed).to_le_bytes());
        }
    }

    /// Consumer: mark `n` bytes (a multiple of 8) consumed and wake a producer waiting for room.
    pub fn consume(&self, n: usize) {
        let r = self.ctl[RPOS].load(Relaxed);
        // Release: our reads of those bytes are done before the producer may overwrite them.
        self.ctl[RPOS].store(r.wrapping_add(n as u32), SeqCst);
        if self.ctl[PRODUCER_SLEEPING].load(SeqCst) != 0 {
            futex_wake(&self.ctl[RPOS], 1);
        }
    }

    /// Consumer: copy the next `dst.len()` bytes out and consume them.
    pub fn read(&self, dst: &mut [u8]) {
        self.peek(dst);
        self.consume(dst.len());
    }

    /// Consumer (a worker): return when the ring holds data. Spins for [`SPIN`], then sleeps on
    /// the write position's futex. Only a new write ends the wait (or the process's death).
    pub fn wait_for_data(&self) {
        if self.available() > 0 || spin_until(SPIN, || self.available() > 0) {
            return;
        }
        loop {
            let w = self.wpos();
            // Dekker: flag first, then look again. The producer stores the position, then
            // looks at the flag. One of us sees the other's store.
            self.ctl[CONSUMER_SLEEPING].store(1, SeqCst);
            if self.available() > 0 {
                break;
            }
            // Sleeps only while the write position still equals `w`.
            futex_wait(&self.ctl[WPOS], w, None);
            if self.available() > 0 {
                break;
            }
        }
        self.ctl[CONSUMER_SLEEPING].store(0, SeqCst);
    }

    /// Producer (a worker writing a result): return when at least `need` bytes are free
    /// (`need` <= [`RING_BYTES`]). Spins, then sleeps on the read position's futex.
    pub fn wait_for_space(&self, need: usize) {
        let need = need.min(RING_BYTES);
        if self.free() >= need || spin_until(SPIN, || self.free() >= need) {
            return;
        }
        loop {
            let r = self.rpos();
            self.ctl[PRODUCER_SLEEPING].store(1, SeqCst);
            if self.free() >= need {
                break;
            }
            futex_wait(&self.ctl[RPOS], r, None);
            if self.free() >= need {
                break;
            }
        }
        self.ctl[PRODUCER_SLEEPING].store(0, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_out_in_order_across_the_wrap() {
        let ring = Ring::new().unwrap();
        let mut next_in = 0u64;
        let mut next_out = 0u64;
        // Push 3.5 rings' worth through in uneven pieces, so the positions wrap.
        let total = (RING_BYTES as u64 / 8) * 7 / 2;
        while next_out < total {
            let k = 1000 + (next_in % 7000);
            let mut chunk = Vec::new();
            for _ in 0..k.min(total - next_in) {
                chunk.extend_from_slice(&next_in.to_le_bytes());
                next_in += 1;
            }
            let n = ring.write_some(&chunk);
            next_in -= ((chunk.len() - n) / 8) as u64;
            let avail = ring.available();
            let mut out = vec![0u8; avail.min(24 * 1024) / 8 * 8];
            ring.read(&mut out);
            for c in out.chunks_exact(8) {
                assert_eq!(u64::from_le_bytes(c.try_into().unwrap()), next_out);
                next_out += 1;
            }
        }
        assert_eq!(ring.available(), 0);
    }

    #[test]
    fn a_full_ring_takes_nothing_more() {
        let ring = Ring::new().unwrap();
        let big = vec![7u8; RING_BYTES + 64];
        assert_eq!(ring.write_some(&big), RING_BYTES);
        assert_eq!(ring.free(), 0);
        assert_eq!(ring.write_some(&big[..8]), 0);
        let mut b = [0u8; 16];
        ring.read(&mut b);
        assert_eq!(ring.write_some(&big[..64]), 16);
    }

    #[test]
    fn a_sleeping_consumer_is_woken_by_a_write() {
        // Threads stand in for the two processes: the futex protocol is the same.
        let ring = std::sync::Arc::new(Ring::new().unwrap());
        let r2 = ring.clone();
        let h = std::thread::spawn(move || {
            r2.wait_for_data();
            let mut b = [0u8; 8];
            r2.read(&mut b);
            u64::from_le_bytes(b)
        });
        std::thread::sleep(Duration::from_millis(20)); // let it get past the spin and sleep
        ring.write_some(&42u64.to_le_bytes());
        assert_eq!(h.join().unwrap(), 42);
    }
}
