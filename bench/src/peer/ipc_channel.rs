//! servo's ipc-channel: `IpcBytesSender`/`IpcBytesReceiver` for bytes (no serialisation, as
//! ours' `send(&[u8])`), `IpcSender<String>`/`IpcReceiver<String>` for objects (bincode, as
//! ours' `send_obj` is JSON). On Linux a channel is a `SOCK_SEQPACKET` socketpair: one
//! `sendmsg` per message, one `recvmsg` into a fresh `Vec` per receive; a message larger than
//! the socket buffer is split into fragments.
//!
//! The channels are made before the fork, and the child keeps its ends; a channel carries one
//! direction, so ping-pong uses two. Same messages, same pinning, same "go" gate and the same
//! checks as ours ([`crate::ours::pipe`]). ipc-channel's own benchmarks send and receive in
//! one process; these cross a real process boundary.

use std::time::Instant;

use anyhow::{ensure, Context, Result};
use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender};

use crate::gate::{reap, Gate};
use crate::ours::pipe::GREETING;
use crate::pin::{pin_child, pin_parent};
use crate::raw::stream::{BIG, SMALL};

/// What the byte columns run.
pub const WHAT: &str =
    "ipc-channel 0.23 bytes_channel (SOCK_SEQPACKET): IpcBytesSender::send / IpcBytesReceiver::recv";
/// What the object column runs.
pub const OBJ_WHAT: &str =
    "ipc-channel 0.23 IpcSender<String>::send / IpcReceiver::recv of \"hello! Tom\" (bincode)";

fn channel() -> Result<(IpcBytesSender, IpcBytesReceiver)> {
    ipc::bytes_channel().context("ipc::bytes_channel")
}

fn ipc_err(e: ipc_channel::IpcError) -> anyhow::Error {
    anyhow::anyhow!("ipc-channel recv: {e:?}")
}

/// Microseconds per round trip of a 16-byte message, the two ends on two CPUs.
pub fn pingpong(n: usize) -> Result<f64> {
    let (to_child, from_parent) = channel()?;
    let (to_parent, from_child) = channel()?;
    let _pinned = pin_parent(0)?;
    let child = common::spawn("ipc-channel-echo", move || {
        pin_child(1)?;
        for _ in 0..=n {
            let m = from_parent.recv().map_err(ipc_err)?;
            to_parent.send(&m).context("send")?;
        }
        Ok(())
    })?;
    let msg = [7u8; SMALL];
    to_child.send(&msg).context("send")?;
    from_child.recv().map_err(ipc_err)?;
    let t = Instant::now();
    let mut last = Vec::new();
    for _ in 0..n {
        to_child.send(&msg).context("send")?;
        last = from_child.recv().map_err(ipc_err)?;
    }
    let dt = t.elapsed();
    ensure!(last == msg, "echo changed the message");
    reap(child)?;
    Ok(dt.as_secs_f64() / n as f64 * 1e6)
}

/// Seconds to receive `n` messages of `size` bytes sent by a child after the gate opens.
fn one_way(n: usize, size: usize) -> Result<f64> {
    let (tx, rx) = channel()?;
    let gate = Gate::new()?;
    let child = common::spawn("ipc-channel-sender", || {
        let msg = vec![b'x'; size];
        gate.wait()?;
        for _ in 0..n {
            tx.send(&msg).context("send")?;
        }
        Ok(())
    })?;
    let t = Instant::now();
    gate.open()?;
    for i in 0..n {
        let m = rx
            .recv()
            .map_err(ipc_err)
            .with_context(|| format!("message {i} of {n}"))?;
        ensure!(
            m.len() == size,
            "message {i}: {} bytes, not {size}",
            m.len()
        );
    }
    let dt = t.elapsed().as_secs_f64();
    reap(child)?;
    Ok(dt)
}

/// Millions of 16-byte messages per second, one way.
pub fn small(n: usize) -> Result<f64> {
    Ok(n as f64 / one_way(n, SMALL)? / 1e6)
}

/// GB/s of 64 KiB messages, one way.
pub fn big(n: usize) -> Result<f64> {
    Ok((n * BIG) as f64 / one_way(n, BIG)? / 1e9)
}

/// Millions of `"hello! Tom"` strings per second, one way, serialised by ipc-channel (bincode).
pub fn small_obj(n: usize) -> Result<f64> {
    let (tx, rx) = ipc::channel::<String>().context("ipc::channel")?;
    let gate = Gate::new()?;
    let child = common::spawn("ipc-channel-obj-sender", || {
        gate.wait()?;
        for _ in 0..n {
            tx.send(GREETING.to_string())
                .map_err(|e| anyhow::anyhow!("ipc-channel send: {e:?}"))?;
        }
        Ok(())
    })?;
    let t = Instant::now();
    gate.open()?;
    for i in 0..n {
        let s = rx
            .recv()
            .map_err(ipc_err)
            .with_context(|| format!("object {i} of {n}"))?;
        ensure!(s == GREETING, "object {i}: {s:?}");
    }
    let dt = t.elapsed().as_secs_f64();
    reap(child)?;
    Ok(n as f64 / dt / 1e6)
}
