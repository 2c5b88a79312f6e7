//! The "Rust peer" column: each figure run on the crate a Rust engineer would pick instead of
//! the workspace's member, across the same process boundary, with the same messages and sizes.
//!
//! | figure | peer | how |
//! |---|---|---|
//! | `create.process`, `pool.*` | [`procspawn`] 1.x | its `Pool` (re-executes this binary, tasks over ipc-channel) |
//! | `pool.map.rayon` | [`rayon`] | `par_iter().map()` in one process: the floor, not a rival |
//! | `pipe.*` (step 2, the rows with targets) | [`ipc_channel`] (servo) | `IpcBytesSender`/`IpcSender` to a forked child |
//! | `queue.1p1c` | [`iceoryx2`] (Eclipse) | publish-subscribe through shared memory, to a forked child |
//! | `prodcons.threads.two-lock` | [`mpsc`] | `std::sync::mpsc::sync_channel(1000)` |
//!
//! The peers live in this table, keyed by figure id, rather than in [`crate::figures`]: a
//! figure added elsewhere needs no change to gain or lack a peer.
//!
//! Peers that start threads in the process that calls them (procspawn's monitor threads, rayon's
//! workers) run [`isolated`]: in a forked child that measures and reports one number, so the
//! bench itself stays single-threaded and can go on forking (see [`crate::figures`]).

pub mod iceoryx2;
pub mod ipc_channel;
pub mod mpsc;
pub mod procspawn;
pub mod rayon;

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use common::SharedBox;

use crate::figure::Measure;
use crate::gate::reap;

/// The Rust peer of one figure.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// The crate, as the table's `vs peer` column names it (`ipc-channel`).
    pub name: &'static str,
    /// What the column runs (`--list`, the JSON's `rust_peer_what`).
    pub what: &'static str,
    /// The measurement, in the figure's unit.
    pub measure: Measure,
    /// Operations per run, full run (smaller than ours where the peer is much slower; every
    /// unit is per operation).
    pub size: usize,
    /// An in-process floor that no process pool can reach (rayon): its ratio is reported, no
    /// verdict is drawn.
    pub floor: bool,
}

impl Peer {
    /// Operations per run for `--quick` (a tenth, at least 10).
    pub fn quick(&self) -> usize {
        (self.size / 10).clamp(10.min(self.size), self.size)
    }
}

/// The Rust peer of figure `id`, if it has one.
pub fn for_figure(id: &str) -> Option<Peer> {
    let p = |name, what, measure, size| {
        Some(Peer {
            name,
            what,
            measure,
            size,
            floor: false,
        })
    };
    match id {
        "create.process" => p(
            "procspawn",
            procspawn::SPAWN_WHAT,
            procspawn::spawn_join,
            100,
        ),
        "pool.start" => p("procspawn", procspawn::START_WHAT, procspawn::start, 10),
        "pool.apply" => p("procspawn", procspawn::WHAT, procspawn::apply, 2_000),
        "pool.apply_async" => p("procspawn", procspawn::WHAT, procspawn::apply_async, 2_000),
        "pool.map" => p(
            "procspawn",
            procspawn::MAP_WHAT,
            procspawn::map_default,
            1_000_000,
        ),
        "pool.map.chunk1" => p("procspawn", procspawn::WHAT, procspawn::map_chunk1, 2_000),
        "pool.map.rayon" => Some(Peer {
            name: "rayon",
            what: rayon::WHAT,
            measure: rayon::map,
            size: 1_000_000,
            floor: true,
        }),
        "pipe.pingpong" => p(
            "ipc-channel",
            ipc_channel::WHAT,
            ipc_channel::pingpong,
            20_000,
        ),
        "pipe.small" => p(
            "ipc-channel",
            ipc_channel::WHAT,
            ipc_channel::small,
            1_000_000,
        ),
        "pipe.small.obj" => p(
            "ipc-channel",
            ipc_channel::OBJ_WHAT,
            ipc_channel::small_obj,
            1_000_000,
        ),
        "pipe.64k" => p("ipc-channel", ipc_channel::WHAT, ipc_channel::big, 16_384),
        "queue.1p1c" => p("iceoryx2", iceoryx2::WHAT, iceoryx2::one_one, 1_000_000),
        // The step of prodcons that exists for speed; step 1 (`.monitor`) is the lesson.
        "prodcons.threads.two-lock" => p("std mpsc", mpsc::WHAT, mpsc::sync_channel, 1_000_000),
        _ => None,
    }
}

/// Run `measure` in a forked child and return its value: whatever threads and processes the
/// peer starts live and die in that child, which exits when it has reported. The child is
/// forked before the peer's set-up, and `measure` times only its own loop, so fork is outside
/// the figure as everywhere else.
pub fn isolated(name: &str, measure: impl FnOnce() -> Result<f64>) -> Result<f64> {
    // One word of MAP_SHARED memory carries the f64 back; the join orders it (the child's store
    // happens before its exit, which happens before waitpid returns here).
    let slot: SharedBox<AtomicU64> = SharedBox::new_zeroed().context("shared result word")?;
    let child = common::spawn(name, || {
        let v = measure()?;
        slot.store(v.to_bits(), Ordering::Relaxed);
        Ok(())
    })?;
    reap(child)?;
    Ok(f64::from_bits(slot.load(Ordering::Relaxed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_peer_names_a_figure_and_has_sane_sizes() {
        let ids: Vec<_> = crate::figures::all().iter().map(|f| f.id).collect();
        for id in &ids {
            if let Some(p) = for_figure(id) {
                assert!(
                    p.size >= 10 && p.quick() >= 10 && p.quick() <= p.size,
                    "{id}"
                );
                assert!(!p.what.is_empty() && !p.name.is_empty(), "{id}");
            }
        }
        for id in [
            "pipe.pingpong",
            "pool.apply",
            "pool.map.rayon",
            "queue.1p1c",
            "prodcons.threads.two-lock",
        ] {
            assert!(ids.contains(&id) && for_figure(id).is_some(), "{id}");
        }
        assert!(for_figure("pool.map.rayon").unwrap().floor);
        assert!(!for_figure("pool.map").unwrap().floor);
    }
}
