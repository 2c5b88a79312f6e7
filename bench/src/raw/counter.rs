//! Two processes incrementing one counter in `MAP_SHARED` memory, exactly.
//!
//! - locked: glibc's `pthread_mutex_t` with `PTHREAD_PROCESS_SHARED` around a load and a store
//!   (the increment a C programmer writes under a mutex);
//! - atomic: one `fetch_add` (`lock xadd` on x86), no lock at all.
//!
//! Both children wait at a `Barrier`, then each notes when it starts and when it ends its share;
//! the figure is the total over the time from the first start to the last end. The children take
//! the times themselves: the parent, woken from the barrier a little later, could start its
//! clock after most of the work is done. `Instant` is `CLOCK_MONOTONIC`, one clock for the whole
//! machine, so an `Instant` taken before fork is a common origin for both children.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use common::sync::Barrier;
use common::sys::PthreadMutex;
use common::SharedBox;

use crate::gate::reap;

/// Run `work()` in two children started together at a barrier; return the seconds from the
/// first child's start to the last child's end. The caller checks the total.
pub fn two_processes(work: impl Fn() -> Result<()>) -> Result<f64> {
    let start: SharedBox<Barrier> = SharedBox::new_zeroed()?;
    start.init(2);
    // Nanoseconds since `origin`: [start of child 0, end of child 0, start of child 1, end of 1].
    let times: SharedBox<[AtomicU64; 4]> = SharedBox::new_zeroed()?;
    let origin = Instant::now();
    let mut kids = Vec::new();
    for k in 0..2 {
        let (times, work, start) = (&times, &work, &start);
        kids.push(common::spawn(format!("counter-{k}"), move || {
            start.wait();
            times[2 * k].store(origin.elapsed().as_nanos() as u64, Relaxed);
            work()?;
            times[2 * k + 1].store(origin.elapsed().as_nanos() as u64, Relaxed);
            Ok(())
        })?);
    }
    for c in kids {
        reap(c)?;
    }
    let first = times[0].load(Relaxed).min(times[2].load(Relaxed));
    let last = times[1].load(Relaxed).max(times[3].load(Relaxed));
    let ns = last.checked_sub(first).context("clock went back")?.max(1);
    Ok(Duration::from_nanos(ns).as_secs_f64())
}

/// Millions of increments per second from `2 n` increments in `dt` seconds, after checking
/// that the counter reads exactly `2 n`.
pub fn rate(n: usize, got: u64, dt: f64) -> Result<f64> {
    ensure!(got == 2 * n as u64, "lost updates: {got} of {}", 2 * n);
    Ok(2.0 * n as f64 / dt / 1e6)
}

common::shared_struct! {
    /// A counter and the glibc mutex that guards it.
    struct MutexCounter {
        mutex: PthreadMutex,
        count: AtomicU64,
    }
}

/// Millions of increments per second under a process-shared pthread mutex, two processes.
pub fn pthread_mutex(n: usize) -> Result<f64> {
    let s: SharedBox<MutexCounter> = SharedBox::new_zeroed()?;
    s.mutex.init_shared()?;
    let dt = two_processes(|| {
        for _ in 0..n {
            // Load then store: only the mutex makes this exact.
            s.mutex
                .with(|| s.count.store(s.count.load(Relaxed) + 1, Relaxed))?;
        }
        Ok(())
    })?;
    rate(n, s.count.load(Relaxed), dt)
}

/// Millions of `fetch_add`s per second on one shared word, two processes.
pub fn atomic(n: usize) -> Result<f64> {
    let s: SharedBox<AtomicU64> = SharedBox::new_zeroed()?;
    let dt = two_processes(|| {
        for _ in 0..n {
            s.fetch_add(1, Relaxed);
        }
        Ok(())
    })?;
    rate(n, s.load(Relaxed), dt)
}
