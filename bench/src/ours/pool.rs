//! `pool`: the workspace's process pool (`Pool::new(tasks, 2)`), with the same trivial tasks as
//! the Python peer (`same(x) = x`, `double(x) = 2x`) and the same two workers. Each figure is
//! measured for the plain pool (step 1, rows `pool.*`) and for step 2, waiters that spin up to
//! [`STEP2_SPIN_US`] before sleeping (`pool/src/spin.rs`, rows `pool.step2.*`).
//!
//! Each measurement starts a fresh pool, runs one `apply` so both sides are up, times the loop,
//! then `close` + `join` (dropping a pool on an error path terminates and reaps its workers).

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use pool::{Options, Pool, Task, Tasks};

use crate::figure::Measure;

/// Worker processes: the Python peer's `Pool(2)` (the CPU count of the reference machine).
pub const WORKERS: usize = 2;

/// What the column runs, step 1.
pub const WHAT: &str =
    "pool::Pool with 2 workers: one task queue, one result queue (queue::Queue), pidfd + doorbell poll";
/// What the column runs, step 2.
pub const STEP2_WHAT: &str = "pool::Pool with 2 workers, step 2: --spin-us 50";
/// Step 2's spin before sleeping, in microseconds (the raw round trip's budget too).
pub const STEP2_SPIN_US: u64 = 50;

/// `apply` round trip.
pub const APPLY: Option<Measure> = Some(|n| apply(n, 0));
/// `apply_async` throughput.
pub const APPLY_ASYNC: Option<Measure> = Some(|n| apply_async(n, 0));
/// `map`, default chunks.
pub const MAP_DEFAULT: Option<Measure> = Some(|n| map_default(n, 0));
/// `map`, chunk size 1.
pub const MAP_CHUNK1: Option<Measure> = Some(|n| map_chunk1(n, 0));
/// The same four, step 2.
pub const STEP2_APPLY: Option<Measure> = Some(|n| apply(n, STEP2_SPIN_US));
/// `apply_async`, step 2.
pub const STEP2_APPLY_ASYNC: Option<Measure> = Some(|n| apply_async(n, STEP2_SPIN_US));
/// `map` default chunks, step 2.
pub const STEP2_MAP_DEFAULT: Option<Measure> = Some(|n| map_default(n, STEP2_SPIN_US));
/// `map` chunk size 1, step 2.
pub const STEP2_MAP_CHUNK1: Option<Measure> = Some(|n| map_chunk1(n, STEP2_SPIN_US));

struct Bench {
    pool: Pool,
    same: Task<u64, u64>,
    double: Task<u64, u64>,
}

impl Bench {
    fn start(spin_us: u64) -> Result<Bench> {
        // The functions are registered before the fork, as the pool requires (Python: defined
        // above `Pool()`).
        let mut tasks = Tasks::new();
        let same = tasks.register("same", |x: u64| x);
        let double = tasks.register("double", |x: u64| x.wrapping_mul(2));
        let mut opts = Options::new(WORKERS);
        opts.spin = Duration::from_micros(spin_us);
        let pool = Pool::with_options(tasks, opts)?;
        ensure!(pool.apply(&same, 7)? == 7, "warm-up apply");
        Ok(Bench { pool, same, double })
    }

    fn finish(self) -> Result<()> {
        self.pool.close();
        self.pool.join()
    }
}

/// Microseconds per `apply` (submit, wait for the value).
pub fn apply(n: usize, spin_us: u64) -> Result<f64> {
    let b = Bench::start(spin_us)?;
    let t = Instant::now();
    for i in 0..n as u64 {
        ensure!(b.pool.apply(&b.same, i)? == i, "apply({i})");
    }
    let dt = t.elapsed().as_secs_f64();
    b.finish()?;
    Ok(dt / n as f64 * 1e6)
}

/// Thousands of tasks per second: `n` `apply_async`, then `get` each.
pub fn apply_async(n: usize, spin_us: u64) -> Result<f64> {
    let b = Bench::start(spin_us)?;
    let t = Instant::now();
    let pending: Vec<_> = (0..n as u64)
        .map(|i| b.pool.apply_async(&b.same, i))
        .collect();
    let mut sum = 0u64;
    for r in &pending {
        sum = sum.wrapping_add(r.get()?);
    }
    let dt = t.elapsed().as_secs_f64();
    drop(pending);
    b.finish()?;
    let n64 = n as u64;
    ensure!(sum == n64 * (n64 - 1) / 2, "wrong sum of results");
    Ok(n as f64 / dt / 1e3)
}

fn map(n: usize, chunk: Option<usize>, spin_us: u64) -> Result<f64> {
    let b = Bench::start(spin_us)?;
    let items: Vec<u64> = (0..n as u64).collect();
    let t = Instant::now();
    let out = match chunk {
        None => b.pool.map(&b.double, &items)?,
        Some(c) => b.pool.map_chunked(&b.double, &items, c)?,
    };
    let dt = t.elapsed().as_secs_f64();
    b.finish()?;
    ensure!(out.len() == n, "map returned {} of {n} items", out.len());
    ensure!(
        out.iter().enumerate().all(|(i, &v)| v == 2 * i as u64),
        "map returned a wrong item"
    );
    Ok(n as f64 / dt)
}

/// Millions of items per second, `map` with the default chunk size (`ceil(n / (4 * workers))`).
pub fn map_default(n: usize, spin_us: u64) -> Result<f64> {
    Ok(map(n, None, spin_us)? / 1e6)
}

/// Thousands of items per second, `map` with chunk size 1.
pub fn map_chunk1(n: usize, spin_us: u64) -> Result<f64> {
    Ok(map(n, Some(1), spin_us)? / 1e3)
}
