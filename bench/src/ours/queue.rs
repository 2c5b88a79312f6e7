//! `queue`: the workspace's cross-process `Queue` (a ring of slots in `MAP_SHARED` memory,
//! futex waits), one producer process, the parent as the one consumer, the notes' `(2, i)` as
//! two little-endian u64 (16 bytes; Python pickles the tuple).

use std::time::Instant;

use anyhow::{ensure, Result};
use queue::Queue;

use crate::figure::Measure;
use crate::gate::{reap, Gate};
use crate::raw::ring::CAP;

/// What the column runs.
pub const WHAT: &str = "queue::Queue::new(1024, 16): put / get_into, 16-byte (2, i)";
/// 1P1C.
pub const ONE_ONE: Option<Measure> = Some(one_one);
/// The raw loop for the queue's primitive.
pub const RAW: Option<Measure> = Some(crate::raw::ring::one_one);
/// What the raw loop is.
pub const RAW_WHAT: &str = "SPSC ring of 1024 16-byte slots in MAP_SHARED memory, spin then futex";

/// Millions of messages per second, one producer process, the parent consuming.
pub fn one_one(n: usize) -> Result<f64> {
    let q = Queue::new(CAP, 16)?;
    let gate = Gate::new()?;
    let child = common::spawn("queue-producer", || {
        gate.wait()?;
        let mut msg = [0u8; 16];
        msg[..8].copy_from_slice(&2u64.to_le_bytes());
        for i in 0..n as u64 {
            msg[8..].copy_from_slice(&i.to_le_bytes());
            q.put(&msg)?;
        }
        Ok(())
    })?;
    let mut buf = Vec::with_capacity(16);
    let t = Instant::now();
    gate.open()?;
    for i in 0..n as u64 {
        q.get_into(&mut buf)?;
        let ok = buf.len() == 16 && buf[..8] == 2u64.to_le_bytes() && buf[8..] == i.to_le_bytes();
        ensure!(ok, "message {i}: got {buf:?}");
    }
    let dt = t.elapsed().as_secs_f64();
    reap(child)?;
    Ok(n as f64 / dt / 1e6)
}
