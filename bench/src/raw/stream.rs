//! Byte streams between two processes: pipe(2) and socketpair(2), with plain write(2)/read(2).
//!
//! The messages are fixed-size, so the raw loops need no header: the reader just counts bytes.
//! The writer makes one write(2) per message (what any message-passing design must do at least
//! once per message when messages are produced one by one); the reader reads whatever is there
//! into a 64 KiB buffer, which is the cheapest a receiver can be.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use anyhow::{ensure, Context, Result};

use crate::gate::{reap, Gate};
use crate::pin::{pin_child, pin_parent};

/// Payload of the small-message figures.
pub const SMALL: usize = 16;
/// Payload of the throughput figure.
pub const BIG: usize = 64 << 10;

/// Microseconds per round trip of a 16-byte message over a socketpair (one write and one read
/// each way), the two ends on two CPUs ([`crate::pin`]). The echo partner is forked once; one
/// untimed round trip proves it is up.
pub fn pingpong(n: usize) -> Result<f64> {
    let (mut a, b) = UnixStream::pair().context("socketpair")?;
    let _pinned = pin_parent(0)?;
    // The closure owns `b`: the child uses it; in the parent it is dropped (closed) by spawn.
    let child = common::spawn("raw-echo", move || {
        pin_child(1)?;
        let mut b = b;
        let mut buf = [0u8; SMALL];
        for _ in 0..=n {
            b.read_exact(&mut buf).context("read")?;
            b.write_all(&buf).context("write")?;
        }
        Ok(())
    })?;
    let mut buf = [7u8; SMALL];
    a.write_all(&buf).context("write")?;
    a.read_exact(&mut buf).context("read")?;
    let t = Instant::now();
    for _ in 0..n {
        a.write_all(&buf).context("write")?;
        a.read_exact(&mut buf).context("read")?;
    }
    let dt = t.elapsed();
    reap(child)?;
    Ok(dt.as_secs_f64() / n as f64 * 1e6)
}

/// Send `n` messages of `size` bytes one way through `w` (in a forked child, after the gate
/// opens), receive them in the parent through `r`; return the seconds from gate to last byte.
fn one_way<R, W>(mut r: R, w: W, n: usize, size: usize) -> Result<f64>
where
    R: Read,
    W: Write,
{
    let gate = Gate::new()?;
    let child = common::spawn("raw-sender", || {
        let mut w = w;
        let msg = vec![b'x'; size];
        gate.wait()?;
        for _ in 0..n {
            w.write_all(&msg).context("write")?;
        }
        Ok(())
    })?;
    let mut buf = vec![0u8; 64 << 10];
    let want = n * size;
    let mut got = 0;
    let t = Instant::now();
    gate.open()?;
    while got < want {
        let k = r.read(&mut buf).context("read")?;
        ensure!(k > 0, "EOF after {got} of {want} bytes");
        got += k;
    }
    let dt = t.elapsed().as_secs_f64();
    reap(child)?;
    Ok(dt)
}

/// Millions of 16-byte messages per second through a pipe(2): one write per message.
pub fn small(n: usize) -> Result<f64> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    Ok(n as f64 / one_way(File::from(r), File::from(w), n, SMALL)? / 1e6)
}

/// GB/s (10^9 bytes) of 64 KiB writes through a socketpair.
pub fn big(n: usize) -> Result<f64> {
    let (a, b) = UnixStream::pair().context("socketpair")?;
    Ok((n * BIG) as f64 / one_way(a, b, n, BIG)? / 1e9)
}
