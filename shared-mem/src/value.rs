//! [`Value`]: Python's `multiprocessing.Value('i', 5000)`, a number in `MAP_SHARED` memory with a
//! process-shared lock beside it, and the three ways of adding to it ([`Mode`]).
//!
//! ```text
//! Python                                  here
//! money = Value('i', 5000)                let money = Value::new(5000)?;      (before fork)
//! money.value                             money.value()
//! money.value += x                        money.add(Mode::Unsync, x, me)     read, then write
//! with money.get_lock(): money.value += x money.add(Mode::Locked, x, me)
//! (no Python equivalent)                  money.add(Mode::Atomic, x, me)     one fetch-add
//! ```
//!
//! ## The word
//! The number is kept in one 64-bit atomic word, shifted left by 16 bits; the low 16 bits name
//! the process that wrote it last (its index: 0 = the parent, 1, 2... the children). That tag is
//! bookkeeping for the demo, not part of the lesson: it lets a write report *whose* write it
//! replaced ("P3 wrote 9 over P1's 9"). Python's `Value('i')` is a bare C int. Adding `x << 16`
//! with one fetch-add still adds `x` to the number (two's complement wraps the same way), so the
//! atomic mode is the plain hardware increment a counter would use.
//!
//! ## Why `unsync` is a lost update and not undefined behaviour
//! In Rust, two threads (or processes sharing a page) touching the same *non-atomic* memory at
//! once, one of them writing, is a data race: undefined behaviour, the compiler may assume it
//! never happens. The unsync mode never does that. It is an atomic **load** followed, later, by
//! an atomic **swap** (a write that also returns what it replaced): two separate atomic
//! operations, each well defined on its own. What is not atomic is the read-modify-write *as a
//! whole*: between our load and our write another process may write, and our write, computed
//! from the stale value, replaces theirs. That is a race condition in the program's logic (a lost
//! update), exactly the one in the notes' `money.value += x`: Python's `Value` takes its lock
//! once for the read and once more for the write, so each half is atomic and the whole is not.
//!
//! We write with `swap` rather than `store` only to *see* the damage: `swap` hands back the value
//! it replaced, and if that is not the value we read, someone's update was just overwritten. A
//! plain store would lose updates in the same way without telling. The alternative not taken for
//! a lock-free fix is `compare_exchange` in a loop (write only if the value is still the one we
//! read, else re-read and retry); fetch-add does the whole read-modify-write in one instruction
//! (`lock xadd` on x86), which is the fastest correct counter.
//!
//! ## The lock
//! [`common::sync::Lock`] is a futex mutex living in the same mapping as the number (and on the
//! same cache line, so the holder touches one line). Uncontended, `acquire` is one
//! compare-and-swap (0 -> 1) in user space and `release` one swap back to 0: no system call.
//! Contended, the loser spins briefly, then marks the word 2 ("someone waits") and sleeps in the
//! kernel with `futex(FUTEX_WAIT)`; the holder's release sees the 2 and calls `futex(FUTEX_WAKE)`.
//! The kernel keys the sleepers by the *physical* page, which is why it works across processes
//! that map the page. Inside the lock we do the same load-then-write as unsync mode: the lock,
//! not the code, makes it indivisible. The write is a plain store there, as in any mutex-guarded
//! `counter += 1`: while we hold the lock nobody else writes, so what we replace is what we read
//! (a swap would only confirm it, at the price of one more locked instruction per update).

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use common::sync::Lock;
use common::Shared;

/// How an update is made.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Read, then write (two atomic steps, not one): the notes' `money.value += x`. Loses updates.
    Unsync,
    /// One atomic fetch-add: the read-modify-write is a single indivisible instruction.
    Atomic,
    /// Read then write while holding the process-shared futex lock (`with money.get_lock():`).
    Locked,
}

impl Mode {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Unsync => "unsync",
            Mode::Atomic => "atomic",
            Mode::Locked => "locked",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Bits of the word that hold the writer's index.
const TAG_BITS: u32 = 16;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
/// The largest number the word can hold (47 bits and a sign), far above any demo's total.
pub const MAX_MAGNITUDE: i64 = (1 << (63 - TAG_BITS)) - 1;

#[inline]
fn pack(number: i64, writer: u16) -> u64 {
    ((number as u64) << TAG_BITS) | u64::from(writer)
}

#[inline]
fn number_of(word: u64) -> i64 {
    // Arithmetic shift of the signed word: keeps the sign of negative balances.
    (word as i64) >> TAG_BITS
}

#[inline]
fn writer_of(word: u64) -> u16 {
    (word & TAG_MASK) as u16
}

/// What one update saw and did. `read` is what the updater read, `old` what its write replaced,
/// `new` what it wrote. In a correct update `old == read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Write {
    /// The number the updater read before computing.
    pub read: i64,
    /// The number its write replaced.
    pub old: i64,
    /// Who wrote `old` (0 = the initial value).
    pub old_writer: u16,
    /// The number it wrote.
    pub new: i64,
}

impl Write {
    /// How much the value had changed between our read and our write: the sum of the other
    /// updates this write just wiped out (0 when nothing was lost). Over a whole run the sum of
    /// these is exactly `expected - final`: `final - start` is the sum of what each write changed
    /// (`new - old`), and `new - old = delta + read - old`.
    pub fn clobbered(&self) -> i64 {
        self.old - self.read
    }
}

/// A number in `MAP_SHARED` memory with its lock: Python's `multiprocessing.Value`.
///
/// Create it before forking: every child inherits the mapping, so all of them and the parent
/// reach the very same physical page (no copy, unlike an ordinary variable after fork: see
/// `process fork-copy`).
pub struct Value {
    shm: Shared<Money>,
}

common::shared_struct! {
    /// What the processes share: one page, mapped before the fork.
    pub struct Money {
        /// The number and who wrote it last, packed in one word (see the module doc), so that
        /// one atomic load reads both.
        pub word: AtomicU64,
        /// Python's `money.get_lock()`: a futex lock in the same page.
        pub lock: Lock,
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Value")
            .field("value", &self.value())
            .field("writer", &self.writer())
            .finish()
    }
}

impl Value {
    /// `Value('i', initial)`: map a fresh shared page (a memfd mapped `MAP_SHARED`) and
    /// store `initial`, written by index 0 (the parent).
    pub fn new(initial: i64) -> Result<Value> {
        anyhow::ensure!(
            initial.abs() <= MAX_MAGNITUDE,
            "initial value {initial} too large"
        );
        let shm = Shared::<Money>::new_zeroed().context("mmap(MAP_SHARED)")?;
        shm.word.store(pack(initial, 0), Ordering::SeqCst);
        Ok(Value { shm })
    }

    #[inline]
    fn word(&self) -> &AtomicU64 {
        &self.shm.word
    }

    /// `money.value`: the current number (one atomic load).
    pub fn value(&self) -> i64 {
        number_of(self.word().load(Ordering::SeqCst))
    }

    /// Who wrote the current number last (0 = the parent; unchanged by atomic-mode adds, which
    /// only add to the number).
    pub fn writer(&self) -> u16 {
        writer_of(self.word().load(Ordering::SeqCst))
    }

    /// `money.get_lock()`: the process-shared lock that guards the number in locked mode.
    pub fn get_lock(&self) -> &Lock {
        &self.shm.lock
    }

    /// Add `delta` as process number `me`, the way `mode` says. See the module doc.
    #[inline]
    pub fn add(&self, mode: Mode, delta: i64, me: u16) -> Write {
        match mode {
            Mode::Unsync => self.add_unsync(delta, me),
            Mode::Atomic => self.add_atomic(delta),
            Mode::Locked => self.add_locked(delta, me),
        }
    }

    /// The first half of an unsynchronised update: read the number (an atomic load).
    #[inline]
    pub fn read(&self) -> i64 {
        // Relaxed: the number alone is the whole state; no other memory is published with it.
        number_of(self.word().load(Ordering::Relaxed))
    }

    /// The second half: write `read + delta`, computed from an earlier [`Value::read`], without
    /// checking that the number is still `read` (an atomic swap). Whatever was written since our
    /// read is replaced.
    #[inline]
    pub fn write_after_read(&self, read: i64, delta: i64, me: u16) -> Write {
        let new = read + delta;
        let old = self.word().swap(pack(new, me), Ordering::Relaxed);
        Write {
            read,
            old: number_of(old),
            old_writer: writer_of(old),
            new,
        }
    }

    /// `money.value += delta` without the lock: read, then write. Two atomic steps; another
    /// process may write in between, and then its update is lost.
    #[inline]
    pub fn add_unsync(&self, delta: i64, me: u16) -> Write {
        let read = self.read();
        // <- the window: nothing stops another process from writing right here.
        self.write_after_read(read, delta, me)
    }

    /// One atomic fetch-add: the hardware does the read, the add and the write as one
    /// indivisible step (`lock xadd`), so no update can fall in between.
    #[inline]
    pub fn add_atomic(&self, delta: i64) -> Write {
        // `delta << 16` adds delta to the number and leaves the writer bits alone (their part of
        // the addend is zero). Relaxed is enough for an exact count: every fetch-add on one
        // word is ordered with the others whatever the ordering; the parent reads the total after
        // waitpid, which orders it after everything the child did.
        let old = self
            .word()
            .fetch_add((delta as u64) << TAG_BITS, Ordering::Relaxed);
        let read = number_of(old);
        Write {
            read,
            old: read,
            old_writer: writer_of(old),
            new: read + delta,
        }
    }

    /// `with money.get_lock(): money.value += delta`: the same read-then-write as unsync, made
    /// indivisible by holding the futex lock around it.
    #[inline]
    pub fn add_locked(&self, delta: i64, me: u16) -> Write {
        let _guard = self.get_lock().acquire();
        // Relaxed inside the lock: acquire/release of the lock order these with every other
        // holder's accesses.
        let word = self.word().load(Ordering::Relaxed);
        let read = number_of(word);
        let new = read + delta;
        self.word().store(pack(new, me), Ordering::Relaxed);
        Write {
            read,
            old: read, // the lock guarantees it: nobody wrote between our load and our store
            old_writer: writer_of(word),
            new,
        }
        // _guard dropped here: release (a swap to 0, plus FUTEX_WAKE only if someone sleeps).
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_keeps_sign_and_writer() {
        for n in [0i64, 1, -1, 5000, -123_456, MAX_MAGNITUDE, -MAX_MAGNITUDE] {
            for w in [0u16, 1, 2, 63, u16::MAX] {
                let word = pack(n, w);
                assert_eq!(number_of(word), n);
                assert_eq!(writer_of(word), w);
            }
        }
    }

    #[test]
    fn fetch_add_of_shifted_delta_adds_to_number_only() {
        let v = Value::new(5000).unwrap();
        v.add(Mode::Unsync, 7, 3);
        let w = v.add(Mode::Atomic, -1200, 1);
        assert_eq!((w.read, w.old, w.new), (5007, 5007, 3807));
        assert_eq!(v.value(), 3807);
        assert_eq!(v.writer(), 3, "atomic adds leave the writer tag alone");
        let w = v.add(Mode::Locked, 100_000, 2);
        assert_eq!(w.clobbered(), 0);
        assert_eq!((v.value(), v.writer()), (103_807, 2));
    }

    #[test]
    fn stale_write_reports_what_it_replaced() {
        // The forced interleaving, by hand: both read 10, one writes 11, the other writes 11 over it.
        let v = Value::new(10).unwrap();
        let r1 = v.read();
        let r2 = v.read();
        let a = v.write_after_read(r1, 1, 1);
        let b = v.write_after_read(r2, 1, 2);
        assert_eq!(a.clobbered(), 0);
        assert_eq!((b.old, b.old_writer, b.clobbered()), (11, 1, 1));
        assert_eq!(v.value(), 11, "two additions of 1, one of them lost");
    }

    #[test]
    fn all_modes_exact_without_contention_and_threads_lose_nothing_locked() {
        // Threads share memory as processes share the mapping; the process version of this is in
        // the tests crate. Locked and atomic must be exact under contention.
        for mode in [Mode::Atomic, Mode::Locked] {
            let v = std::sync::Arc::new(Value::new(0).unwrap());
            let hs: Vec<_> = (1..=4u16)
                .map(|me| {
                    let v = v.clone();
                    std::thread::spawn(move || {
                        for _ in 0..20_000 {
                            v.add(mode, 1, me);
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(v.value(), 80_000, "{mode}");
        }
    }
}
