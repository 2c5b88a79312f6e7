//! A task farm in its barest form: the raw yardstick of the pool figures.
//!
//! Two worker processes (the pool's size), each joined to the parent by its own socketpair. A
//! task message is `chunk` u64 items; the worker doubles each item and writes the message back.
//! Messages have a fixed size, so there is no header and no serialisation: the bytes of the
//! integers travel as they are. Each message is one write(2) each way; readers take whatever is
//! there. The parent keeps a few messages in flight per worker (a window) so that neither side
//! waits for the other's round trip, and puts every result at its item's place in the output.
//!
//! Why the window is bounded: a worker that is writing a reply nobody reads blocks, and a parent
//! that is writing a task the blocked worker does not read blocks too. Keeping what is in flight
//! per worker under a socket buffer (or at one message when messages are large) rules that out.
//!
//! With `chunk` 1 this is `apply_async`/`map(chunksize=1)` reduced to the syscalls; with
//! `chunk` = n/8 it is `map`'s default chunking.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::gate::reap;

/// Worker processes, as in the pool figures.
pub const WORKERS: usize = 2;
/// Bytes in flight per worker with small messages.
const WINDOW_BYTES: usize = 32 << 10;
const MAX_WINDOW: usize = 64;

/// Read-side buffer: whole messages accumulate here.
struct Inbox {
    buf: Vec<u8>,
    len: usize,
}

impl Inbox {
    fn new(msg: usize) -> Inbox {
        // A multiple of the message size, so whole messages fit exactly.
        let cap = (64 << 10).max(msg).div_ceil(msg) * msg;
        Inbox {
            buf: vec![0; cap],
            len: 0,
        }
    }

    /// One read(2); false at EOF.
    fn fill(&mut self, s: &mut UnixStream) -> Result<bool> {
        let k = s.read(&mut self.buf[self.len..]).context("read")?;
        self.len += k;
        Ok(k > 0)
    }

    /// Hand every complete message to `f`, keep the partial tail.
    fn drain(&mut self, msg: usize, mut f: impl FnMut(&mut [u8]) -> Result<()>) -> Result<()> {
        let whole = self.len / msg * msg;
        for m in self.buf[..whole].chunks_exact_mut(msg) {
            f(m)?;
        }
        self.buf.copy_within(whole..self.len, 0);
        self.len -= whole;
        Ok(())
    }
}

fn worker(mut s: UnixStream, msg: usize) -> Result<()> {
    let mut inbox = Inbox::new(msg);
    let mut out = s.try_clone().context("dup")?;
    while inbox.fill(&mut s)? {
        inbox.drain(msg, |m| {
            for item in m.chunks_exact_mut(8) {
                let v = u64::from_ne_bytes(item.try_into().expect("8 bytes"));
                item.copy_from_slice(&(v * 2).to_ne_bytes());
            }
            out.write_all(m).context("write")
        })?;
    }
    Ok(())
}

/// Items per second through the farm: `n` items (rounded up to whole chunks) in messages of
/// `chunk` items. Checks every result.
pub fn items_per_sec(n: usize, chunk: usize) -> Result<f64> {
    let chunks = n.div_ceil(chunk);
    let n = chunks * chunk;
    let msg = chunk * 8;
    let window = (WINDOW_BYTES / msg).clamp(1, MAX_WINDOW);

    let mut socks = Vec::new();
    let mut children = Vec::new();
    for w in 0..WORKERS {
        let (mine, theirs) = UnixStream::pair().context("socketpair")?;
        // Spawned one after the other from this single-threaded parent; each closure owns its
        // worker's end (closed in the parent when spawn drops the closure). The child also
        // inherits copies of the parent-side ends that exist at fork (its own, earlier
        // workers'); they stay unused there, and the end of the run does not rely on them
        // being closed (see the shutdown below).
        children.push(common::spawn(format!("raw-worker-{w}"), move || {
            worker(theirs, msg)
        })?);
        socks.push(mine);
    }

    let mut out = vec![0u64; n];
    let mut inboxes: Vec<Inbox> = (0..WORKERS).map(|_| Inbox::new(msg)).collect();
    let mut in_flight: Vec<VecDeque<usize>> = vec![VecDeque::new(); WORKERS];
    let mut task = vec![0u8; msg];
    let mut next = 0;
    let mut done = 0;

    let mut send = |w: usize, idx: usize, s: &mut UnixStream, q: &mut VecDeque<usize>| {
        for (k, item) in task.chunks_exact_mut(8).enumerate() {
            item.copy_from_slice(&((idx * chunk + k) as u64).to_ne_bytes());
        }
        q.push_back(idx);
        s.write_all(&task)
            .with_context(|| format!("write to worker {w}"))
    };

    let t = Instant::now();
    for (w, s) in socks.iter_mut().enumerate() {
        while in_flight[w].len() < window && next < chunks {
            send(w, next, s, &mut in_flight[w])?;
            next += 1;
        }
    }
    while done < chunks {
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd> = socks
                .iter()
                .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
                .collect();
            poll(&mut fds, PollTimeout::NONE).context("poll")?;
            fds.iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect()
        };
        for w in 0..WORKERS {
            if !ready[w] {
                continue;
            }
            ensure!(inboxes[w].fill(&mut socks[w])?, "worker {w} closed early");
            let q = &mut in_flight[w];
            inboxes[w].drain(msg, |m| {
                let idx = q.pop_front().context("a reply nobody asked for")?;
                for (k, item) in m.chunks_exact(8).enumerate() {
                    out[idx * chunk + k] = u64::from_ne_bytes(item.try_into().expect("8 bytes"));
                }
                done += 1;
                Ok(())
            })?;
            while in_flight[w].len() < window && next < chunks {
                send(w, next, &mut socks[w], &mut in_flight[w])?;
                next += 1;
            }
        }
    }
    let dt = t.elapsed().as_secs_f64();
    // EOF for the workers. Closing our fds would not do: each worker still holds a copy of its
    // own socket's parent-side end (fork copied it), and later workers hold earlier ones.
    // shutdown(SHUT_WR) acts on the socket itself, whoever holds copies of the fd.
    for s in &socks {
        s.shutdown(std::net::Shutdown::Write).context("shutdown")?;
    }
    for c in children {
        reap(c)?;
    }
    for (i, &v) in out.iter().enumerate() {
        ensure!(v == 2 * i as u64, "item {i}: got {v}");
    }
    Ok(n as f64 / dt)
}
