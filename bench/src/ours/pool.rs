//! `pool`: the workspace's process pool (`Pool::new(tasks, 2)`), with the same trivial tasks as
//! the Python peer (`same(x) = x`, `double(x) = 2x`) and the same two workers.
//!
//! Each measurement starts a fresh pool, runs one `apply` so both sides are up, times the loop,
//! then `close` + `join` (dropping a pool on an error path terminates and reaps its workers).

use std::time::Instant;

use anyhow::{ensure, Result};
use pool::{Pool, Task, Tasks};

use crate::figure::Measure;

/// Worker processes: the Python peer's `Pool(2)` (the CPU count of the reference machine).
pub const WORKERS: usize = 2;

/// What the column runs.
pub const WHAT: &str =
    "pool::Pool with 2 workers: one task queue, one result queue (queue::Queue), pidfd + doorbell poll";

/// `apply` round trip.
pub const APPLY: Option<Measure> = Some(apply);
/// `apply_async` throughput.
pub const APPLY_ASYNC: Option<Measure> = Some(apply_async);
/// `map`, default chunks.
pub const MAP_DEFAULT: Option<Measure> = Some(map_default);
/// `map`, chunk size 1.
pub const MAP_CHUNK1: Option<Measure> = Some(map_chunk1);

struct Bench {
    pool: Pool,
    same: Task<u64, u64>,
    double: Task<u64, u64>,
}

impl Bench {
    fn start() -> Result<Bench> {
        // The functions are registered before the fork, as the pool requires (Python: defined
        // above `Pool()`).
        let mut tasks = Tasks::new();
        let same = tasks.register("same", |x: u64| x);
        let double = tasks.register("double", |x: u64| x.wrapping_mul(2));
        let pool = Pool::new(tasks, WORKERS)?;
        ensure!(pool.apply(&same, 7)? == 7, "warm-up apply");
        Ok(Bench { pool, same, double })
    }

    fn finish(self) -> Result<()> {
        self.pool.close();
        self.pool.join()
    }
}

/// Microseconds per `apply` (submit, wait for the value).
pub fn apply(n: usize) -> Result<f64> {
    let b = Bench::start()?;
    let t = Instant::now();
    for i in 0..n as u64 {
        ensure!(b.pool.apply(&b.same, i)? == i, "apply({i})");
    }
    let dt = t.elapsed().as_secs_f64();
    b.finish()?;
    Ok(dt / n as f64 * 1e6)
}

/// Thousands of tasks per second: `n` `apply_async`, then `get` each.
pub fn apply_async(n: usize) -> Result<f64> {
    let b = Bench::start()?;
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

fn map(n: usize, chunk: Option<usize>) -> Result<f64> {
    let b = Bench::start()?;
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
pub fn map_default(n: usize) -> Result<f64> {
    Ok(map(n, None)? / 1e6)
}

/// Thousands of items per second, `map` with chunk size 1.
pub fn map_chunk1(n: usize) -> Result<f64> {
    Ok(map(n, Some(1))? / 1e3)
}
