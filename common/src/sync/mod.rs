//! Process-shared synchronisation, built on a word in `MAP_SHARED` memory and the futex syscall.
//!
//! Python's `multiprocessing.Lock` is a POSIX semaphore in shared memory; glibc builds those, and
//! `pthread_mutex_t` with `PTHREAD_PROCESS_SHARED`, on the same two things used here:
//! - an atomic word that every process sees (the fast path: one compare-and-swap, no syscall),
//! - `futex(FUTEX_WAIT)` / `futex(FUTEX_WAKE)` to sleep in the kernel when the word says "busy",
//!   and to wake sleepers. A waiting process uses no CPU.
//!
//! One concept per file: [`lock`] (mutual exclusion, 互斥), [`condvar`] (waiting for a condition,
//! the base of blocking queues), [`barrier`] (everyone waits for everyone: used to *force* a race
//! in the race demos, so a lost update is certain rather than lucky), [`event`] (sleep until the
//! other side acts, for structures with no lock).
//!
//! Place these inside a [`crate::sys::SharedBox`] created before forking.

pub mod barrier;
pub mod condvar;
pub mod event;
pub mod lock;

pub use barrier::Barrier;
pub use condvar::Condvar;
pub use event::{Event, SleeperFlag};
pub use lock::{Lock, LockGuard};
