//! Creation and reaping, one at a time: a process (fork in `common::spawn`, waitpid in `join`)
//! and a thread (`std::thread::spawn`, which is clone(2) with a fresh stack, and `join`, which
//! waits on a futex the kernel clears when the thread exits).
//!
//! The process figure goes through `common::spawn` because every fork of the workspace must (it
//! sets the parent-death signal, tracks the pid for the Ctrl-C handler, and opens a pidfd and a
//! report pipe); that is a few system calls more than a bare fork + waitpid, and the table says
//! so by putting the same path in both columns when the member has no other.

use std::time::Instant;

use anyhow::{Context, Result};

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

/// Milliseconds per "pool" of two bare workers: fork two children that each wait for one byte
/// on their own pipe and exit, send each its byte, reap both. The floor of starting any pool
/// of two processes (no shared memory to map, no tasks to register).
pub fn two_workers(n: usize) -> Result<f64> {
    use std::io::{Read, Write};
    let t = Instant::now();
    for _ in 0..n {
        let mut workers = Vec::new();
        for w in 0..2 {
            let (r, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
            let mut r = std::fs::File::from(r);
            let child = common::spawn(format!("raw-worker-{w}"), move || {
                let mut b = [0u8; 1];
                r.read_exact(&mut b).context("read")?;
                Ok(())
            })?;
            workers.push((child, std::fs::File::from(wr)));
        }
        for (child, mut wr) in workers {
            wr.write_all(b"t").context("write")?;
            reap(child)?;
        }
    }
    Ok(t.elapsed().as_secs_f64() / n as f64 * 1e3)
}
