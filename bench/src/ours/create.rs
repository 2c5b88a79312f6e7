//! Creation costs, the way the workspace creates: a process with `common::spawn` + `join` (what
//! `process` and `threads spawn-cost` do; it is the only fork the workspace allows, so the raw
//! column runs the very same call and `ours/raw` only shows the noise between two samples of one
//! thing), and a thread with `std::thread::Builder::spawn` + `join` (what `threads spawn-cost`
//! does; its helpers are private, so the two lines are repeated here).

use std::time::Instant;

use anyhow::{anyhow, Context, Result};

use crate::figure::Measure;
use crate::gate::reap;

/// What the process column runs.
pub const PROCESS_WHAT: &str =
    "common::spawn + Child::join, as `threads spawn-cost` (the same call as raw: the one fork path)";
/// What the thread column runs.
pub const THREAD_WHAT: &str = "std::thread::Builder::spawn + join, as `threads spawn-cost`";
/// Process.
pub const PROCESS: Option<Measure> = Some(process);
/// Thread.
pub const THREAD: Option<Measure> = Some(thread);

/// Microseconds per child process created (empty), run and reaped.
pub fn process(n: usize) -> Result<f64> {
    let t = Instant::now();
    for _ in 0..n {
        reap(common::spawn("empty", || Ok(()))?)?;
    }
    Ok(t.elapsed().as_secs_f64() / n as f64 * 1e6)
}

/// Microseconds per thread created (empty) and joined.
pub fn thread(n: usize) -> Result<f64> {
    let t = Instant::now();
    for _ in 0..n {
        std::thread::Builder::new()
            .spawn(|| {})
            .context("pthread_create")?
            .join()
            .map_err(|_| anyhow!("an empty thread panicked"))?;
    }
    Ok(t.elapsed().as_secs_f64() / n as f64 * 1e6)
}
