//! rayon's `par_iter().map().collect()`: the same `map` (double each of `n` u64 items, results
//! in order) by two threads of one process. No task crosses a process boundary: no copy of
//! the items, no message, no wake-up of another process; the workers read the input and write
//! the output in place. It is the floor that no process pool can reach, shown for scale, so the
//! table draws no verdict from it.
//!
//! rayon's threads stay alive after the pool is dropped, and the bench must stay
//! single-threaded to fork, so this runs [`isolated`]. Its own thread pool of 2 (the pools'
//! worker count) is built before the clock starts, as ours' workers are started before.

use std::time::Instant;

use anyhow::{ensure, Context, Result};
use rayon::prelude::*;

use super::isolated;

/// Threads: the pools' worker count.
const THREADS: usize = 2;

/// What the column runs.
pub const WHAT: &str =
    "rayon ThreadPool(2), items.par_iter().map(|x| 2x).collect(): one process, the floor";

/// Millions of items per second.
pub fn map(n: usize) -> Result<f64> {
    isolated("rayon-map", || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(THREADS)
            .build()
            .context("rayon::ThreadPoolBuilder::build")?;
        let items: Vec<u64> = (0..n as u64).collect();
        // One untimed pass so both threads are up.
        pool.install(|| items[..n.min(1000)].par_iter().map(|x| x * 2).sum::<u64>());
        let t = Instant::now();
        let out: Vec<u64> = pool.install(|| items.par_iter().map(|&x| x.wrapping_mul(2)).collect());
        let dt = t.elapsed().as_secs_f64();
        ensure!(out.len() == n, "map returned {} of {n} items", out.len());
        ensure!(
            out.iter().enumerate().all(|(i, &v)| v == 2 * i as u64),
            "map returned a wrong item"
        );
        Ok(n as f64 / dt / 1e6)
    })
}
