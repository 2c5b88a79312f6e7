//! `shared-mem`: the workspace's `Value` (Python's `multiprocessing.Value`), two processes each
//! adding 1 `n` times, in locked mode (`with v.get_lock(): v.value += 1`: `common::sync::Lock`,
//! a futex mutex, around a load and a store) and atomic mode (one fetch-add). Same harness as
//! the raw loops ([`crate::raw::counter::two_processes`]).

use anyhow::Result;
use shared_mem::{Mode, Value};

use crate::figure::Measure;
use crate::raw::counter::{rate, two_processes};

/// What the locked column runs.
pub const LOCKED_WHAT: &str = "shared_mem::Value::add(Mode::Locked): common::sync::Lock (futex)";
/// What the atomic column runs.
pub const ATOMIC_WHAT: &str = "shared_mem::Value::add(Mode::Atomic): one fetch_add";
/// Locked.
pub const LOCKED: Option<Measure> = Some(locked);
/// Atomic.
pub const ATOMIC: Option<Measure> = Some(atomic);

fn count(n: usize, mode: Mode) -> Result<f64> {
    let v = Value::new(0)?;
    let dt = two_processes(|| {
        for _ in 0..n {
            v.add(mode, 1, 1);
        }
        Ok(())
    })?;
    rate(n, v.value() as u64, dt)
}

/// Millions of locked increments per second, two processes.
pub fn locked(n: usize) -> Result<f64> {
    count(n, Mode::Locked)
}

/// Millions of atomic increments per second, two processes.
pub fn atomic(n: usize) -> Result<f64> {
    count(n, Mode::Atomic)
}
