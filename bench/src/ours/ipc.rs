//! `ipc`: the round trips of the `ipc` member's `compare` rows, through its public functions
//! (`ipc::mechanisms`). Each forks its echo partner once, times only the round trips (the
//! stream of one message that follows is not in the figure) and returns the mean.
//!
//! Unlike the pipe ping-pong figure, nothing is pinned: the member's functions fork their own
//! partner, so the raw loops and the Python peers of these rows run unpinned too, all three
//! under the same scheduler.

use anyhow::Result;

use crate::figure::Measure;

/// Microseconds per round trip of `mechanism(1 message, n round trips)`.
fn rtt_us(mechanism: fn(u64, u64) -> Result<ipc::mechanisms::Outcome>, n: usize) -> Result<f64> {
    Ok(mechanism(1, n as u64)?.rtt.as_secs_f64() * 1e6)
}

/// `kill(SIGUSR1)` + `sigwaitinfo`, each way.
pub const SIGNAL: Option<Measure> = Some(|n| rtt_us(ipc::mechanisms::standard_signal, n));
/// What the signal column runs.
pub const SIGNAL_WHAT: &str =
    "ipc::mechanisms::standard_signal: kill(SIGUSR1) + sigwaitinfo each way";
/// A word handed over under named semaphores, each way.
pub const SEMAPHORE: Option<Measure> = Some(|n| rtt_us(ipc::mechanisms::semaphore_slot, n));
/// What the semaphore column runs.
pub const SEMAPHORE_WHAT: &str =
    "ipc::mechanisms::semaphore_slot: sem_post/sem_wait hand-off of a shared word, each way";
/// 8 bytes each way over a Unix stream socket found by its abstract name.
pub const UNIX: Option<Measure> = Some(|n| rtt_us(ipc::mechanisms::unix_socket, n));
/// What the Unix socket column runs.
pub const UNIX_WHAT: &str = "ipc::mechanisms::unix_socket: 8-byte write/read each way, @name";
/// 8 bytes each way over TCP on 127.0.0.1, TCP_NODELAY.
pub const TCP: Option<Measure> = Some(|n| rtt_us(ipc::mechanisms::tcp_socket, n));
/// What the TCP column runs.
pub const TCP_WHAT: &str = "ipc::mechanisms::tcp_socket: 8-byte write/read each way, 127.0.0.1";
