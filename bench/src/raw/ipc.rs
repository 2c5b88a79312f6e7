//! The raw round trips of the `ipc` rows: the least code on each primitive, unpinned (as the
//! member's own functions are; see [`crate::ours::ipc`]).
//!
//! - signal: `kill` + `sigwait` (nix's `SigSet::wait`), the signal blocked in both processes.
//! - semaphore: two named semaphores (`sem_open`, unlinked at once), post one, wait the other.
//! - Unix socket: a socketpair, 8 bytes each way.
//! - TCP: a loopback connection with TCP_NODELAY, 8 bytes each way.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use anyhow::{Context, Result};
use common::sys::ipc::NamedSemaphore;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::unistd::{getppid, Pid};

use crate::gate::reap;

fn us_per(t: Instant, n: usize) -> f64 {
    t.elapsed().as_secs_f64() / n as f64 * 1e6
}

/// Microseconds per SIGUSR1 round trip.
pub fn signal(n: usize) -> Result<f64> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGUSR1);
    let mut old = SigSet::empty();
    // Blocked before fork, so the partner inherits the mask and no signal is ever delivered to
    // its default action (which would kill).
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))?;
    let result = (|| {
        let child = common::spawn("raw-signal-echo", move || {
            let parent = getppid();
            for _ in 0..=n {
                set.wait()?;
                kill(parent, Signal::SIGUSR1)?;
            }
            Ok(())
        })?;
        let pid = Pid::from_raw(child.pid());
        kill(pid, Signal::SIGUSR1)?; // one untimed round trip: the partner is up
        set.wait()?;
        let t = Instant::now();
        for _ in 0..n {
            kill(pid, Signal::SIGUSR1)?;
            set.wait()?;
        }
        let us = us_per(t, n);
        reap(child)?;
        Ok(us)
    })();
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None)?;
    result
}

fn semaphore_pair(tag: &str) -> Result<NamedSemaphore> {
    let name = format!("/bench-raw-sem-{}-{tag}", std::process::id());
    common::sys::block_stop_signals(true);
    let sem = NamedSemaphore::create(&name, 0).with_context(|| format!("sem_open({name})"));
    let _ = NamedSemaphore::unlink(&name);
    common::sys::block_stop_signals(false);
    sem
}

/// Microseconds per round trip of a two-semaphore hand-off.
pub fn semaphore(n: usize) -> Result<f64> {
    let ping = semaphore_pair("ping")?;
    let pong = semaphore_pair("pong")?;
    let child = common::spawn("raw-sem-echo", || {
        for _ in 0..=n {
            ping.wait()?;
            pong.post()?;
        }
        Ok(())
    })?;
    ping.post()?;
    pong.wait()?;
    let t = Instant::now();
    for _ in 0..n {
        ping.post()?;
        pong.wait()?;
    }
    let us = us_per(t, n);
    reap(child)?;
    Ok(us)
}

fn echo(mut s: impl Read + Write, n: usize) -> Result<()> {
    let mut b = [0u8; 8];
    for _ in 0..=n {
        s.read_exact(&mut b)?;
        s.write_all(&b)?;
    }
    Ok(())
}

fn ping(mut s: impl Read + Write, n: usize) -> Result<f64> {
    let mut b = [1u8; 8];
    s.write_all(&b)?;
    s.read_exact(&mut b)?;
    let t = Instant::now();
    for _ in 0..n {
        s.write_all(&b)?;
        s.read_exact(&mut b)?;
    }
    Ok(us_per(t, n))
}

/// Microseconds per 8-byte round trip over a socketpair.
pub fn unix(n: usize) -> Result<f64> {
    let (a, b) = UnixStream::pair().context("socketpair")?;
    let child = common::spawn("raw-unix-echo", move || echo(&b, n))?;
    let us = ping(&a, n)?;
    reap(child)?;
    Ok(us)
}

/// Microseconds per 8-byte round trip over TCP on 127.0.0.1.
pub fn tcp(n: usize) -> Result<f64> {
    let l = TcpListener::bind("127.0.0.1:0").context("bind")?;
    let port = l.local_addr()?.port();
    let child = common::spawn("raw-tcp-echo", move || {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_nodelay(true)?;
        echo(&s, n)
    })?;
    let (s, _) = l.accept()?;
    s.set_nodelay(true)?;
    let us = ping(&s, n)?;
    reap(child)?;
    Ok(us)
}
