//! `pipe`: the workspace's `Connection` (Python's `multiprocessing.Pipe`): `pipe(true)` is a
//! socketpair, `pipe(false)` a pipe(2); every message is a 4-byte length and the payload, sent
//! in one writev(2); `recv_into` reads through a 64 KiB buffer into a reused `Vec` (Python's
//! `recv_bytes_into`). The same objects and the same messages as the Python peer.

use std::time::Instant;

use anyhow::{ensure, Context, Result};
use pipe::{pipe, Connection};

use crate::figure::Measure;
use crate::gate::{reap, Gate};
use crate::pin::{pin_child, pin_parent};
use crate::raw::stream::{BIG, SMALL};

/// What the column runs.
pub const WHAT: &str =
    "pipe::Connection: 4-byte length + payload in one writev, buffered recv_into";

/// Ping-pong.
pub const PINGPONG: Option<Measure> = Some(pingpong);
/// Small messages.
pub const SMALL_MSGS: Option<Measure> = Some(small);
/// 64 KiB.
pub const BIG_MSGS: Option<Measure> = Some(big);
/// Small objects.
pub const SMALL_OBJS: Option<Measure> = Some(small_obj);
/// What the object column runs.
pub const OBJ_WHAT: &str =
    "pipe::Connection send_obj / recv_obj of \"hello! Tom\" (JSON; Python pickles)";

/// Microseconds per round trip of a 16-byte message over a duplex `pipe(true)`, the two ends
/// on two CPUs ([`crate::pin`]).
pub fn pingpong(n: usize) -> Result<f64> {
    let (a, b) = pipe(true)?;
    let _pinned = pin_parent(0)?;
    // `b` moves into the closure: the child echoes on it; the parent's copy is closed when
    // spawn drops the closure.
    let child = common::spawn("pipe-echo", move || {
        pin_child(1)?;
        let mut b = b;
        let mut buf = Vec::new();
        for _ in 0..=n {
            b.recv_into(&mut buf)?;
            b.send(&buf)?;
        }
        Ok(())
    })?;
    let mut a = a;
    let msg = [7u8; SMALL];
    let mut buf = Vec::new();
    a.send(&msg)?;
    a.recv_into(&mut buf)?;
    let t = Instant::now();
    for _ in 0..n {
        a.send(&msg)?;
        a.recv_into(&mut buf)?;
    }
    let dt = t.elapsed();
    ensure!(buf == msg, "echo changed the message");
    reap(child)?;
    Ok(dt.as_secs_f64() / n as f64 * 1e6)
}

/// Seconds to receive `n` messages of `size` bytes sent by a child on `w` after the gate opens.
fn one_way(mut r: Connection, w: Connection, n: usize, size: usize) -> Result<f64> {
    let gate = Gate::new()?;
    let child = common::spawn("pipe-sender", || {
        let msg = vec![b'x'; size];
        gate.wait()?;
        for _ in 0..n {
            w.send(&msg)?;
        }
        Ok(())
    })?;
    let mut buf = Vec::with_capacity(size);
    let t = Instant::now();
    gate.open()?;
    for i in 0..n {
        let len = r
            .recv_into(&mut buf)
            .with_context(|| format!("message {i} of {n}"))?;
        ensure!(len == size, "message {i}: {len} bytes, not {size}");
    }
    let dt = t.elapsed().as_secs_f64();
    reap(child)?;
    Ok(dt)
}

/// Millions of 16-byte messages per second, one way, over `pipe(false)` (a pipe(2)).
pub fn small(n: usize) -> Result<f64> {
    let (r, w) = pipe(false)?;
    Ok(n as f64 / one_way(r, w, n, SMALL)? / 1e6)
}

/// GB/s of 64 KiB messages, one way, over `pipe(true)` (a socketpair).
pub fn big(n: usize) -> Result<f64> {
    let (r, w) = pipe(true)?;
    Ok((n * BIG) as f64 / one_way(r, w, n, BIG)? / 1e9)
}

/// The notes' greeting, sent as an object.
pub const GREETING: &str = "hello! Tom";

/// Millions of objects per second, one way, over `pipe(false)`: `send_obj(&"hello! Tom")` and
/// `recv_obj::<String>()`, the notes' `fd1.send(...)` / `fd2.recv()` (JSON here, pickle there).
pub fn small_obj(n: usize) -> Result<f64> {
    let (mut r, w) = pipe(false)?;
    let gate = Gate::new()?;
    let child = common::spawn("pipe-obj-sender", || {
        gate.wait()?;
        for _ in 0..n {
            w.send_obj(GREETING)?;
        }
        Ok(())
    })?;
    let t = Instant::now();
    gate.open()?;
    for i in 0..n {
        let s: String = r.recv_obj().with_context(|| format!("object {i} of {n}"))?;
        ensure!(s == GREETING, "object {i}: {s:?}");
    }
    let dt = t.elapsed().as_secs_f64();
    reap(child)?;
    Ok(n as f64 / dt / 1e6)
}
