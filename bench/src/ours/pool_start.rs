//! `pool` start-up: `Pool::new(tasks, 2)` (register the tasks, fork two workers, map the
//! rings), one `apply` so both sides are up, `close` + `join`. What the per-task pool figures
//! leave out of their clock, measured on its own: the figure the Rust peer procspawn, which
//! starts its workers by re-executing the binary, pays at this step.

use std::time::Instant;

use anyhow::{ensure, Result};
use pool::{Pool, Tasks};

use crate::figure::Measure;
use crate::ours::pool::WORKERS;

/// What the column runs.
pub const WHAT: &str = "pool::Pool::new(tasks, 2) (2 forks) + one apply + close + join";
/// Start-up.
pub const START: Option<Measure> = Some(start);

/// Milliseconds per pool started, used once and joined.
pub fn start(n: usize) -> Result<f64> {
    let t = Instant::now();
    for _ in 0..n {
        let mut tasks = Tasks::new();
        let same = tasks.register("same", |x: u64| x);
        let pool = Pool::new(tasks, WORKERS)?;
        ensure!(pool.apply(&same, 7)? == 7, "first apply");
        pool.close();
        pool.join()?;
    }
    Ok(t.elapsed().as_secs_f64() / n as f64 * 1e3)
}
