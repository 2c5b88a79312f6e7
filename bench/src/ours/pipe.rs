//! `pipe`: the workspace's connection (Python's `multiprocessing.Pipe`), each step measured.
//! `pipe(true)` is a socketpair, `pipe(false)` a pipe(2); every message is a 4-byte length and
//! the payload (`pipe::frame`). Step 1 ([`pipe::Connection`]) sends and receives as CPython does
//! (one write per message up to 16 KiB, two reads per message, nothing buffered); step 2
//! ([`pipe::TunedConnection`]) buffers receives, uses writev/readv and larger socket buffers.
//! The same objects and the same messages as the Python peer.

use std::time::Instant;

use anyhow::{ensure, Context, Result};
use pipe::{ConnError, Connection, Endpoint, TunedConnection};

use crate::figure::Measure;
use crate::gate::{reap, Gate};
use crate::pin::{pin_child, pin_parent};
use crate::raw::stream::{BIG, SMALL};

/// A step of the connection: how to make a pair of its ends.
pub trait Step {
    /// One end.
    type End: Endpoint;
    /// `Pipe(duplex)` on this step.
    fn pipe(duplex: bool) -> Result<(Self::End, Self::End), ConnError>;
}

/// Step 1: [`Connection`].
pub struct Plain;
impl Step for Plain {
    type End = Connection;
    fn pipe(duplex: bool) -> Result<(Connection, Connection), ConnError> {
        pipe::pipe(duplex)
    }
}

/// Step 2: [`TunedConnection`].
pub struct Tuned;
impl Step for Tuned {
    type End = TunedConnection;
    fn pipe(duplex: bool) -> Result<(TunedConnection, TunedConnection), ConnError> {
        pipe::tuned::pipe(duplex)
    }
}

/// What the step-2 columns run (the rows with targets: `pipe.pingpong`, `pipe.small`, ...).
pub const WHAT: &str =
    "pipe::TunedConnection (step 2): 4-byte length + payload in one write/writev, buffered recv_into";
/// What the step-1 columns run (`pipe.*.plain`).
pub const PLAIN_WHAT: &str =
    "pipe::Connection (step 1, CPython's way): one write per message, two reads, no buffer";

/// Ping-pong, step 2.
pub const PINGPONG: Option<Measure> = Some(pingpong::<Tuned>);
/// Small messages, step 2.
pub const SMALL_MSGS: Option<Measure> = Some(small::<Tuned>);
/// 64 KiB, step 2.
pub const BIG_MSGS: Option<Measure> = Some(big::<Tuned>);
/// Small objects, step 2.
pub const SMALL_OBJS: Option<Measure> = Some(small_obj::<Tuned>);
/// What the object column runs, step 2.
pub const OBJ_WHAT: &str =
    "pipe::TunedConnection (step 2): \"hello! Tom\" as JSON (pipe::frame::encode; Python pickles)";

/// Ping-pong, step 1.
pub const PINGPONG_PLAIN: Option<Measure> = Some(pingpong::<Plain>);
/// Small messages, step 1.
pub const SMALL_MSGS_PLAIN: Option<Measure> = Some(small::<Plain>);
/// 64 KiB, step 1.
pub const BIG_MSGS_PLAIN: Option<Measure> = Some(big::<Plain>);
/// Small objects, step 1.
pub const SMALL_OBJS_PLAIN: Option<Measure> = Some(small_obj::<Plain>);
/// What the object column runs, step 1.
pub const OBJ_PLAIN_WHAT: &str =
    "pipe::Connection (step 1): \"hello! Tom\" as JSON (pipe::frame::encode; Python pickles)";

/// Microseconds per round trip of a 16-byte message over a duplex `pipe(true)`, the two ends
/// on two CPUs ([`crate::pin`]).
pub fn pingpong<S: Step>(rounds: usize) -> Result<f64> {
    let (parent_end, child_end) = S::pipe(true)?;
    let _pinned = pin_parent(0)?;
    // `child_end` moves into the closure: the child echoes on it; the parent's copy is closed
    // when spawn drops the closure.
    let child = common::spawn("pipe-echo", move || {
        pin_child(1)?;
        let mut child_end = child_end;
        let mut buf = Vec::new();
        for _ in 0..=rounds {
            child_end.recv_into(&mut buf)?;
            child_end.send(&buf)?;
        }
        Ok(())
    })?;
    let mut parent_end = parent_end;
    let msg = [7u8; SMALL];
    let mut buf = Vec::new();
    parent_end.send(&msg)?;
    parent_end.recv_into(&mut buf)?;
    let started = Instant::now();
    for _ in 0..rounds {
        parent_end.send(&msg)?;
        parent_end.recv_into(&mut buf)?;
    }
    let elapsed = started.elapsed();
    ensure!(buf == msg, "echo changed the message");
    reap(child)?;
    Ok(elapsed.as_secs_f64() / rounds as f64 * 1e6)
}

/// Seconds to receive `count` messages of `size` bytes sent by a child on `sender` after the
/// gate opens.
fn one_way<E: Endpoint>(mut receiver: E, sender: E, count: usize, size: usize) -> Result<f64> {
    let gate = Gate::new()?;
    let child = common::spawn("pipe-sender", || {
        let msg = vec![b'x'; size];
        gate.wait()?;
        for _ in 0..count {
            sender.send(&msg)?;
        }
        Ok(())
    })?;
    let mut buf = Vec::with_capacity(size);
    let started = Instant::now();
    gate.open()?;
    for i in 0..count {
        let len = receiver
            .recv_into(&mut buf)
            .with_context(|| format!("message {i} of {count}"))?;
        ensure!(len == size, "message {i}: {len} bytes, not {size}");
    }
    let elapsed = started.elapsed().as_secs_f64();
    reap(child)?;
    Ok(elapsed)
}

/// Millions of 16-byte messages per second, one way, over `pipe(false)` (a pipe(2)).
pub fn small<S: Step>(count: usize) -> Result<f64> {
    let (receiver, sender) = S::pipe(false)?;
    Ok(count as f64 / one_way(receiver, sender, count, SMALL)? / 1e6)
}

/// GB/s of 64 KiB messages, one way, over `pipe(true)` (a socketpair).
pub fn big<S: Step>(count: usize) -> Result<f64> {
    let (receiver, sender) = S::pipe(true)?;
    Ok((count * BIG) as f64 / one_way(receiver, sender, count, BIG)? / 1e9)
}

/// The notes' greeting, sent as an object.
pub const GREETING: &str = "hello! Tom";

/// Millions of objects per second, one way, over `pipe(false)`: the notes' `fd1.send(...)` /
/// `fd2.recv()`, i.e. `send_obj(&"hello! Tom")` / `recv_obj::<String>()` written out with the
/// frame's JSON encoding (JSON here, pickle there).
pub fn small_obj<S: Step>(count: usize) -> Result<f64> {
    let (mut receiver, sender) = S::pipe(false)?;
    let gate = Gate::new()?;
    let child = common::spawn("pipe-obj-sender", || {
        gate.wait()?;
        for _ in 0..count {
            sender.send(&pipe::frame::encode(GREETING)?)?;
        }
        Ok(())
    })?;
    let mut buf = Vec::new();
    let started = Instant::now();
    gate.open()?;
    for i in 0..count {
        receiver
            .recv_into(&mut buf)
            .with_context(|| format!("object {i} of {count}"))?;
        let greeting: String = pipe::frame::decode(&buf)?;
        ensure!(greeting == GREETING, "object {i}: {greeting:?}");
    }
    let elapsed = started.elapsed().as_secs_f64();
    reap(child)?;
    Ok(count as f64 / elapsed / 1e6)
}
