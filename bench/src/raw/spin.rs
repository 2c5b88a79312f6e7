//! The floor of a request/reply between two processes: two counters in `MAP_SHARED` memory.
//!
//! The parent bumps `req`; the child, waiting for `req` to change, bumps `resp` to match; the
//! parent waits for `resp`. Nothing is copied and no system call is made while both sides are
//! awake: a round trip is two cache-line transfers between the CPUs. That is the "0.44 us
//! shared-memory spin ping-pong" of the issue, and what a pool's `apply` could approach.
//!
//! A waiter spins for at most [`SPIN_FOR`] and then sleeps in the kernel (futex), like a good
//! mutex: on a busy machine a partner that is not running cannot answer, and spinning longer
//! would only burn the CPU it needs. The sleeping flag lets the poster skip `futex_wake` (a
//! system call) when nobody sleeps. The flag and the word are both `SeqCst`: the waiter stores
//! the flag then loads the word, the poster stores the word then loads the flag, so at least one
//! of them sees the other's store, and a wakeup is never lost (futex_wait also re-checks the word
//! in the kernel).

use std::sync::atomic::{AtomicU32, Ordering::*};
use std::time::{Duration, Instant};

use anyhow::Result;
use common::sys::{futex_wait, futex_wake};
use common::SharedBox;

use crate::gate::reap;

/// How long a waiter spins before it sleeps: a few times what a futex sleep and wakeup across
/// CPUs costs here (a pipe round trip between pinned processes is ~10 us), so an answer that
/// comes soon is caught without a system call, and a waiter that spins in vain wastes a bounded
/// few tens of microseconds before it sleeps.
pub const SPIN_FOR: Duration = Duration::from_micros(50);

/// Wait until `word` differs from `old`: spin for at most [`SPIN_FOR`], then futex.
pub fn wait_change(word: &AtomicU32, sleeping: &AtomicU32, old: u32) {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            if word.load(Acquire) != old {
                return;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() > SPIN_FOR {
            break;
        }
    }
    sleeping.store(1, SeqCst);
    while word.load(SeqCst) == old {
        futex_wait(word, old, None);
    }
    sleeping.store(0, Relaxed);
}

/// Store `new` into `word`; wake its waiter if one sleeps.
pub fn post(word: &AtomicU32, sleeping: &AtomicU32, new: u32) {
    word.store(new, SeqCst);
    if sleeping.load(SeqCst) != 0 {
        futex_wake(word, 1);
    }
}

common::shared_struct! {
    /// The two counters of a ping-pong and each one's "a waiter sleeps" flag.
    struct PingPong {
        request: AtomicU32,
        request_sleeping: AtomicU32,
        reply: AtomicU32,
        reply_sleeping: AtomicU32,
    }
}

/// Microseconds per round trip (request counter out, reply counter back).
pub fn pingpong(n: usize) -> Result<f64> {
    let s: SharedBox<PingPong> = SharedBox::new_zeroed()?;
    let rounds = n as u32 + 1;
    let child = common::spawn("raw-spin-echo", || {
        for i in 1..=rounds {
            wait_change(&s.request, &s.request_sleeping, i - 1);
            post(&s.reply, &s.reply_sleeping, i);
        }
        Ok(())
    })?;
    // Round 1 is the warm-up: the child is up and both sides have touched the line.
    post(&s.request, &s.request_sleeping, 1);
    wait_change(&s.reply, &s.reply_sleeping, 0);
    let t = Instant::now();
    for i in 2..=rounds {
        post(&s.request, &s.request_sleeping, i);
        wait_change(&s.reply, &s.reply_sleeping, i - 1);
    }
    let dt = t.elapsed();
    reap(child)?;
    Ok(dt.as_secs_f64() / n as f64 * 1e6)
}
