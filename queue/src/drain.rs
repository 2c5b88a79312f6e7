//! `drain`: the join-before-drain trap ("joining processes that use queues", in Python's
//! `multiprocessing` programming guidelines).
//!
//! Python (it runs as written; a plain `p.join()` in place of the `join(timeout=1)` would hang
//! forever):
//!
//! ```python
//! from multiprocessing import Process, Queue
//!
//! def producer(q):
//!     q.put("x" * 1_000_000)                   # returns at once...
//!
//! if __name__ == "__main__":
//!     q = Queue()
//!     p = Process(target=producer, args=(q,))
//!     p.start()
//!     p.join(timeout=1)                        # ...but the child cannot exit yet
//!     print("exited before the get:", p.exitcode is not None)   # False
//!     data = q.get()                           # drain first...
//!     p.join()                                 # ...then join: now it returns
//!     print("exited after the get:", p.exitcode == 0)           # True
//! ```
//!
//! `q.put` only hands the object to the process's **feeder thread**, which writes it into the
//! queue's **pipe**. A pipe holds a fixed amount (64 KiB by default on Linux, `F_GETPIPE_SZ`);
//! a `write` beyond that blocks until somebody reads. And a process does not exit until its
//! feeder thread has flushed everything. So the child sits in `write`, the parent sits in
//! `join` (waitpid) waiting for the child, and nobody will ever read: a deadlock. The fix is the
//! order: get (drain) first, then join.
//!
//! Here the same trap with a real pipe and no thread in the way: the child `write`s
//! `--bytes` (default: twice the pipe's capacity) into it.
//! 1. **Wrong order**: the parent joins first, with a timeout (`join_timeout`, a `poll` on the
//!    child's pidfd). The child is asleep in `write` (state `S` in `/proc`), the timeout expires:
//!    deadlock detected. The parent then drains the pipe, and the join succeeds.
//! 2. **Right order**: a second child writes the same; the parent reads until end of file
//!    (EOF: the child exited and closed its write end, and the parent closed its own copy right
//!    after the fork, or EOF would never come), then joins: no waiting at all.
//! 3. **This crate's Queue**: a producer puts `capacity` messages and exits, before anyone gets.
//!    There is no feeder thread and no pipe: the messages are already in shared memory when
//!    `put` returns, so the process can exit and `join` returns. (A producer that puts *more*
//!    than the capacity blocks in `put`, visibly, in its own code: the same trap, but not hidden
//!    behind a thread.)

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use anyhow::{Context, Result};
use common::{json, out, procfs, Child};
use nix::fcntl::{fcntl, FcntlArg};

use crate::{ms, Queue};

/// Largest `--bytes`.
pub const MAX_BYTES: u32 = 16 << 20;

/// Flags of `drain`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Bytes the producer writes (1..=16777216; default: twice the pipe's capacity).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_BYTES as i64))]
    pub bytes: Option<u32>,
    /// Seconds the wrong-order join waits before declaring a deadlock (0..=60, real time).
    #[arg(long, default_value = "1", value_name = "SECS", value_parser = crate::parse_secs)]
    pub timeout: f64,
}

/// Make a pipe and start a child that writes `bytes` bytes into it, then exits. Returns the
/// child and the parent's read end; the parent's write end is already closed.
fn start_writer(name: &str, bytes: usize) -> Result<(Child, std::fs::File)> {
    let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe().context("pipe")?;
    let r_raw = r.as_raw_fd();
    // The closure owns `w`. In the child it writes through it; in the parent, spawn drops the
    // closure without running it, which closes the parent's copy of the write end. Had the
    // parent kept it, the pipe would always have a writer and the reader would never see EOF.
    let child = common::spawn(name, move || {
        // The child does not read: close its inherited copy of the read end.
        nix::unistd::close(r_raw).context("close(read end)")?;
        let mut w = std::fs::File::from(w);
        let chunk = vec![b'x'; 64 << 10];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            // Blocks (asleep in the kernel, in pipe_write) while the pipe is full.
            w.write_all(&chunk[..n]).context("write(pipe)")?;
            left -= n;
        }
        Ok(())
    })?;
    Ok((child, std::fs::File::from(r)))
}

/// Read until EOF; returns the byte count.
fn drain(reader: &mut std::fs::File) -> Result<u64> {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("read(pipe)"),
        }
    }
}

/// What the kernel says the child is doing: state letter and, where readable, the kernel
/// function it sleeps in (`/proc/PID/wchan`, e.g. `pipe_write`).
fn child_state(pid: i32) -> (Option<char>, Option<String>) {
    let state = procfs::stat(pid).ok().flatten().map(|s| s.state);
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan"))
        .ok()
        .filter(|w| !w.is_empty() && w != "0");
    (state, wchan)
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let timeout = Duration::from_secs_f64(args.timeout);
    // The pipe's capacity, from a pipe made just to ask (every new pipe gets the default).
    let pipe_capacity = {
        let (r, _w) = nix::unistd::pipe().context("pipe")?;
        fcntl(r.as_raw_fd(), FcntlArg::F_GETPIPE_SZ).context("fcntl(F_GETPIPE_SZ)")? as u64
    };
    let bytes = args.bytes.map_or(2 * pipe_capacity, u64::from);
    out::say(format!(
        "a pipe holds {pipe_capacity} bytes (F_GETPIPE_SZ); the producer writes {bytes}"
    ));

    // 1. Wrong order: join first.
    let (mut child, mut r) = start_writer("producer-1", bytes as usize)?;
    out::say(format!(
        "wrong order: p.join() before reading (with a {} s timeout, or it would wait forever)...",
        args.timeout
    ));
    let joined = child.join_timeout(timeout)?;
    let deadlock_detected = joined.is_none();
    let (state, wchan) = child_state(child.pid());
    out::event(
        "join_timeout",
        json!({"exited": joined.is_some(), "child_state": state.map(String::from), "wchan": wchan}),
        if deadlock_detected {
            format!(
                "  join timed out after {} s: the child is {} (state {}{}) in write(), waiting for room in the \
                 full pipe; we are waiting for it to exit. Nobody reads: deadlock.",
                args.timeout,
                if state == Some('S') { "asleep" } else { "stuck" },
                state.unwrap_or('?'),
                wchan.as_deref().map(|w| format!(", in kernel function {w}")).unwrap_or_default(),
            )
        } else {
            format!(
                "  join returned: {bytes} bytes fit in the pipe ({pipe_capacity}), so the child could exit \
                 without a reader. No deadlock this time."
            )
        },
    );
    let recovered = drain(&mut r)?;
    let st = child.join()?;
    out::event(
        "recovered",
        json!({"bytes": recovered, "exit_code": st.python_exitcode()}),
        format!("  drained {recovered} bytes; now the child could finish its write and exit: {st}"),
    );
    if let Some(failure) = child.failure() {
        anyhow::bail!(failure);
    }

    // 2. Right order: drain, then join.
    out::say("right order: read until EOF, then join");
    let (mut child, mut r) = start_writer("producer-2", bytes as usize)?;
    let t0 = std::time::Instant::now();
    let got = drain(&mut r)?;
    let st = child.join()?;
    let fixed_ok = got == bytes && st.success();
    out::event(
        "right_order",
        json!({"bytes": got, "exit_code": st.python_exitcode(), "ms": ms(t0.elapsed())}),
        format!("  read {got} bytes until EOF, then join: {st}, at once"),
    );

    // 3. This crate's Queue: nothing is left in flight when put returns.
    let q = Queue::new(8, 64)?;
    let qr = &q;
    let mut p = common::spawn("queue-producer", move || {
        for i in 0..qr.capacity() {
            qr.put(format!("message {i}").as_bytes()).context("put")?;
        }
        Ok(())
    })?;
    let exited = p.join_timeout(timeout.max(Duration::from_secs(10)))?;
    let queue_producer_exited = exited.is_some_and(|s| s.success());
    let queued = q.len();
    out::event(
        "queue_producer",
        json!({"exited": queue_producer_exited, "queued": queued}),
        format!(
            "our Queue: a producer put {queued} messages and exited before anyone read them (join ok: \
             {queue_producer_exited}): no feeder thread, the messages already sit in shared memory"
        ),
    );
    drop(p);

    out::summary(json!({
        "pipe_capacity": pipe_capacity,
        "bytes": bytes,
        "deadlock_detected": deadlock_detected,
        "recovered_bytes": recovered,
        "fixed_ok": fixed_ok,
        "queue_producer_exited": queue_producer_exited,
        "timeout_ms": ms(timeout),
    }));
    anyhow::ensure!(
        fixed_ok,
        "invariant broken: right order read {got} of {bytes} bytes, producer {st}"
    );
    if bytes > pipe_capacity {
        anyhow::ensure!(
            deadlock_detected,
            "invariant broken: {bytes} bytes cannot fit in a {pipe_capacity}-byte pipe, yet join returned"
        );
    }
    anyhow::ensure!(
        queue_producer_exited,
        "invariant broken: the Queue producer did not exit"
    );
    Ok(())
}
