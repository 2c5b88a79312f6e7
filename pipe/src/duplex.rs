//! `duplex`: both ends read and write (双向管道:两端都可以读写, note 000 (1)).
//!
//! Python:
//!
//! ```python
//! import os
//! from multiprocessing import Process, Pipe
//!
//! parent_end, child_end = Pipe()          # duplex
//!
//! def echo():
//!     parent_end.close()                  # the child's copy of the parent's end
//!     while True:
//!         try:
//!             msg = child_end.recv_bytes()
//!         except EOFError:                # the parent closed its end: the conversation is over
//!             break
//!         child_end.send_bytes(msg[::-1])
//!
//! p = Process(target=echo); p.start()
//! child_end.close()                       # the parent's copy of the child's end
//! for _ in range(5):
//!     data = os.urandom(16)
//!     parent_end.send_bytes(data)
//!     assert parent_end.recv_bytes() == data[::-1]
//! parent_end.close(); p.join()
//! ```
//!
//! One socketpair, two processes, each round one message each way: the parent sends random
//! bytes, the child sends them back reversed, the parent checks them. A socketpair has a buffer
//! in each direction, so the two directions never get in each other's way.
//!
//! How the conversation ends is the lesson: the parent closes its end, and the child's `recv`
//! returns EOF. That works only because the **child closed its inherited copy of the parent's
//! end** first thing. Without that close, the parent's end would still be open (in the child
//! itself), the child would wait for a message forever, and the parent's join would wait for
//! the child forever. The **parent closes its copy of the child's end** after the fork, so that
//! if the child died the parent's `recv` would see EOF instead of blocking. The parent joins
//! (reaps) the child at the end.
//!
//! `--connection tuned` runs the same conversation on step 2 of the connection
//! ([`crate::tuned`]); with `--time-scale 0` (no pretend work in the child) and a large
//! `--size`, the summary's `us_per_round` shows what the tuning buys on this machine, and
//! `strace -f -e trace=read,write,readv,writev` shows the system calls each step makes.

use std::cell::Cell;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use common::{json, out, secs, sleep};
use rand::RngCore;

use crate::{take_end, ConnError, Endpoint};

/// Largest `--size` (1 MiB).
pub const MAX_SIZE: u32 = 1 << 20;
/// Largest `--rounds` x `--size`: the bytes one run may push each way (256 MiB).
pub const MAX_TOTAL: u64 = 256 << 20;
/// Rounds reported one by one (the rest only in the summary).
const SHOWN: u32 = 10;

/// Flags of `duplex`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Round trips (1..=100000).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rounds: u32,
    /// Bytes per message (0..=1048576); rounds x size at most 256 MiB.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(0..=MAX_SIZE as i64))]
    pub size: u32,
    /// Which step of the connection carries the messages (plain: what CPython does).
    #[arg(long, value_enum, default_value_t = Step::Plain)]
    pub connection: Step,
}

/// The steps of the connection (see the crate doc).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Step 1, pipe::Connection: a header, then the payload, nothing buffered.
    Plain,
    /// Step 2, pipe::TunedConnection: a receive buffer, writev/readv, larger socket buffers.
    Tuned,
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let total = u64::from(args.rounds) * u64::from(args.size);
    if total > MAX_TOTAL {
        // Checked before anything is spawned: a usage error, exit 2.
        return Err(common::cli::usage(
            "--size",
            args.size,
            format!(
                "--rounds {} x --size {} = {total} bytes, more than {MAX_TOTAL}",
                args.rounds, args.size
            ),
        ));
    }
    match args.connection {
        Step::Plain => converse(args, crate::pipe(true).context("Pipe()")?),
        Step::Tuned => converse(args, crate::tuned::pipe(true).context("Pipe()")?),
    }
}

/// The conversation, on either step of the connection.
fn converse<C: Endpoint + AsFd>(args: &Args, (parent_end, child_end): (C, C)) -> Result<()> {
    out::say(format!(
        "parent pid {}: parent_end, child_end = Pipe() -> socketpair (fds {} and {}), {:?} connection",
        std::process::id(),
        parent_end.as_fd().as_raw_fd(),
        child_end.as_fd().as_raw_fd(),
        args.connection
    ));
    let parent_end = Cell::new(Some(parent_end));
    let child_end = Cell::new(Some(child_end));

    let mut child = common::spawn("echo", || {
        // Close the child's copy of the parent's end, or the parent's close at the end would not
        // be the last one and this child would never see EOF.
        drop(take_end(&parent_end, "parent_end")?);
        let mut conn = take_end(&child_end, "child_end")?;
        let mut buf = Vec::new();
        let mut replies = 0u64;
        loop {
            match conn.recv_into(&mut buf) {
                Ok(_) => {
                    sleep(secs(0.2));
                    buf.reverse();
                    conn.send(&buf).context("send")?;
                    replies += 1;
                }
                Err(ConnError::Eof) => break,
                Err(e) => return Err(e).context("recv"),
            }
        }
        out::event(
            "child_saw_eof",
            json!({"replies": replies}),
            format!(
                "  echo (pid {}): recv -> EOF after {replies} replies: the parent closed its end; exiting",
                std::process::id()
            ),
        );
        Ok(())
    })?;
    // The parent's copy of the child's end: closed, so a dead child means EOF here, not a hang.
    drop(take_end(&child_end, "child_end")?);
    let mut conn = take_end(&parent_end, "parent_end")?;

    let mut rng = common::rng::rng_for(0);
    let mut sent = vec![0u8; args.size as usize];
    let mut got = Vec::new();
    let mut rounds = 0u32;
    let mut mismatches = 0u32;
    let t0 = Instant::now();
    for round in 1..=args.rounds {
        rng.fill_bytes(&mut sent);
        conn.send(&sent).context("send")?;
        match conn.recv_into(&mut got) {
            Ok(_) => {}
            Err(ConnError::Eof) => {
                // EOF: the child's end is closed everywhere, so the child is gone: say why.
                child.join()?;
                bail!(
                    "round {round}: EOF instead of the reply: {}",
                    child
                        .failure()
                        .unwrap_or_else(|| "the child exited 0 without replying".into())
                )
            }
            Err(e) => return Err(e).context("recv"),
        }
        let ok = got.len() == sent.len() && got.iter().eq(sent.iter().rev());
        if ok {
            rounds += 1;
        } else {
            mismatches += 1;
        }
        if round <= SHOWN || round == args.rounds {
            out::event(
                "round",
                json!({"round": round, "bytes": args.size, "ok": ok}),
                format!(
                    "round {round}: parent -> child {} bytes, child -> parent the same reversed: {}",
                    args.size,
                    if ok { "ok" } else { "MISMATCH" }
                ),
            );
        } else if round == SHOWN + 1 {
            out::say(format!(
                "... rounds {} to {} not shown ...",
                SHOWN + 1,
                args.rounds - 1
            ));
        }
    }
    let elapsed = t0.elapsed();
    // Close our end: the child's next recv is EOF (it closed its copy of this end at start).
    drop(conn); // Python: parent_end.close()
    out::say("parent: closed parent_end; the child's recv now returns EOF");
    let status = child.join()?;
    out::event(
        "joined",
        json!({"name": "echo", "child_pid": child.pid(), "exit_code": status.python_exitcode()}),
        format!("joined echo (pid {}): {status}", child.pid()),
    );
    out::summary(json!({
        "rounds": rounds,
        "requested_rounds": args.rounds,
        "connection": args.connection,
        "size": args.size,
        "mismatches": mismatches,
        "child_exit_code": status.python_exitcode(),
        "elapsed_ms": elapsed.as_secs_f64() * 1e3,
        "us_per_round": elapsed.as_secs_f64() * 1e6 / f64::from(args.rounds),
    }));
    if mismatches > 0 {
        bail!(
            "{mismatches} of {} replies were not the message reversed",
            args.rounds
        );
    }
    if let Some(f) = child.failure() {
        bail!("the echo child failed: {f}");
    }
    Ok(())
}
