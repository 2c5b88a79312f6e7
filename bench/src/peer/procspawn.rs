//! procspawn's `Pool`: "thread::spawn just with processes". It does not fork: each worker is
//! this very binary started again (`/proc/self/exe`, posix_spawn), which finds
//! `__PROCSPAWN_CONTENT_PROCESS_ID` in its environment when `procspawn::init()` runs at the top
//! of `main` and becomes a worker instead of a bench. A task is a plain `fn(A) -> R` (sent as
//! an offset into the binary, valid because both processes run the same one) and its argument,
//! serialised with bincode over ipc-channel; each `spawn` opens two fresh ipc-channels (the
//! argument's and the result's) and hands them to a monitor thread of the pool, one per
//! worker, which forwards the call and waits for the result.
//!
//! So start-up is measured on its own (`pool.start`: a pool of 2, one task, shutdown) and the
//! per-task figures start their clock after the pool is up and has run one task, as ours do.
//! Every measurement runs [`isolated`]: the monitor threads live in a forked child.
//!
//! procspawn has no `map`: `pool.map` spawns one task per chunk, with the chunk size ours uses
//! by default (`ceil(n / (4 * workers))`, 8 chunks); `pool.map.chunk1` one task per item.
//! `apply_async` submits every task before joining any; each pending task holds four file
//! descriptors in this process, so its runs are 2 000 tasks (the unit is per task).

use std::time::Instant;

use anyhow::{ensure, Context, Result};
use procspawn::Pool;

use super::isolated;

/// Workers: as in ours and Python's.
const WORKERS: usize = 2;

/// What the per-task columns run.
pub const WHAT: &str =
    "procspawn::Pool::new(2) (re-executed binary), spawn(x, fn) + join; bincode over ipc-channel";
/// What the map column runs.
pub const MAP_WHAT: &str =
    "procspawn::Pool::new(2), one spawn per chunk of ceil(n/8) items (Vec<u64>), join each";
/// What the start-up column runs.
pub const START_WHAT: &str =
    "procspawn::Pool::new(2) + one spawn/join + shutdown (2 re-executions of the bench binary)";
/// What the process-creation column runs.
pub const SPAWN_WHAT: &str =
    "procspawn::spawn((), fn) + join: re-execute the binary, one call, exit";

fn same(x: u64) -> u64 {
    x
}

fn double_all(v: Vec<u64>) -> Vec<u64> {
    v.into_iter().map(|x| x.wrapping_mul(2)).collect()
}

fn nothing(_: ()) {}

fn err(e: procspawn::SpawnError) -> anyhow::Error {
    anyhow::anyhow!("procspawn: {e}")
}

/// A started pool that has run one task.
fn start_pool() -> Result<Pool> {
    let pool = Pool::new(WORKERS)
        .map_err(err)
        .context("procspawn::Pool::new")?;
    let v = pool.spawn(7u64, same).join().map_err(err)?;
    ensure!(v == 7, "warm-up task returned {v}");
    Ok(pool)
}

/// Milliseconds per pool: `Pool::new(2)`, one task, `shutdown` (join the queue, kill the
/// workers).
pub fn start(n: usize) -> Result<f64> {
    isolated("procspawn-start", || {
        let t = Instant::now();
        for _ in 0..n {
            let pool = start_pool()?;
            pool.shutdown();
        }
        Ok(t.elapsed().as_secs_f64() / n as f64 * 1e3)
    })
}

/// Microseconds per process: `procspawn::spawn` of an empty function, joined.
pub fn spawn_join(n: usize) -> Result<f64> {
    isolated("procspawn-spawn", || {
        let t = Instant::now();
        for _ in 0..n {
            procspawn::spawn((), nothing).join().map_err(err)?;
        }
        Ok(t.elapsed().as_secs_f64() / n as f64 * 1e6)
    })
}

/// Microseconds per `spawn` + `join`, one at a time (Python's `apply`).
pub fn apply(n: usize) -> Result<f64> {
    isolated("procspawn-apply", || {
        let pool = start_pool()?;
        let t = Instant::now();
        for i in 0..n as u64 {
            let v = pool.spawn(i, same).join().map_err(err)?;
            ensure!(v == i, "task {i} returned {v}");
        }
        let dt = t.elapsed().as_secs_f64();
        pool.shutdown();
        Ok(dt / n as f64 * 1e6)
    })
}

/// Thousands of tasks per second: `n` spawns, then join each (Python's `apply_async` + `get`).
pub fn apply_async(n: usize) -> Result<f64> {
    isolated("procspawn-apply-async", || {
        let pool = start_pool()?;
        let t = Instant::now();
        let pending: Vec<_> = (0..n as u64).map(|i| pool.spawn(i, same)).collect();
        let mut sum = 0u64;
        for h in pending {
            sum = sum.wrapping_add(h.join().map_err(err)?);
        }
        let dt = t.elapsed().as_secs_f64();
        pool.shutdown();
        let n64 = n as u64;
        ensure!(sum == n64 * (n64 - 1) / 2, "wrong sum of results");
        Ok(n as f64 / dt / 1e3)
    })
}

/// Items per second: `n` items in tasks of `chunk` items, results in order, checked.
fn map(n: usize, chunk: usize) -> Result<f64> {
    isolated("procspawn-map", || {
        let pool = start_pool()?;
        let items: Vec<u64> = (0..n as u64).collect();
        let t = Instant::now();
        let pending: Vec<_> = items
            .chunks(chunk)
            .map(|c| pool.spawn(c.to_vec(), double_all))
            .collect();
        let mut out = Vec::with_capacity(n);
        for h in pending {
            out.extend(h.join().map_err(err)?);
        }
        let dt = t.elapsed().as_secs_f64();
        pool.shutdown();
        ensure!(out.len() == n, "map returned {} of {n} items", out.len());
        ensure!(
            out.iter().enumerate().all(|(i, &v)| v == 2 * i as u64),
            "map returned a wrong item"
        );
        Ok(n as f64 / dt)
    })
}

/// Millions of items per second, chunks of `ceil(n / (4 * workers))` (ours' default).
pub fn map_default(n: usize) -> Result<f64> {
    Ok(map(n, n.div_ceil(4 * WORKERS))? / 1e6)
}

/// Thousands of items per second, one task per item.
pub fn map_chunk1(n: usize) -> Result<f64> {
    Ok(map(n, 1)? / 1e3)
}
