//! Creation and reaping, one at a time: a process (fork in `common::spawn`, waitpid in `join`)
//! and a thread (`std::thread::spawn`, which is clone(2) with a fresh stack, and `join`, which
//! waits on a futex the kernel clears when the thread exits).
//!
//! The process figure goes through `common::spawn` because every fork of the workspace must (it
//! sets the parent-death signal, tracks the pid for the Ctrl-C handler, and opens a pidfd and a
//! report pipe); that is a few system calls more than a bare fork + waitpid, and the table says
//! so by putting the same path in both columns when the member has no other.

use std::time::Instant;

use anyhow::Result;

use crate::gate::reap;

/// Microseconds per child forked, run (empty) and reaped.
pub fn fork_reap(n: usize) -> Result<f64> {
    let t = Instant::now();
    for _ in 0..n {
        reap(common::spawn("raw-empty", || Ok(()))?)?;
    }
    Ok(t.elapsed().as_secs_f64() / n as f64 * 1e6)
}

/// Microseconds per thread spawned (empty) and joined.
pub fn thread_join(n: usize) -> Result<f64> {
    let t = Instant::now();
    for _ in 0..n {
        std::thread::spawn(|| {})
            .join()
            .map_err(|_| anyhow::anyhow!("empty thread panicked"))?;
    }
    Ok(t.elapsed().as_secs_f64() / n as f64 * 1e6)
}
