//! `simplex`: a one-way pipe(2) and the rule of end of file (单向管道, note 000 (1)).
//!
//! Python:
//!
//! ```python
//! from multiprocessing import Process, Pipe
//!
//! r, w = Pipe(False)                 # r can only recv, w can only send
//!
//! def writer(i):
//!     r.close()
//!     for j in range(3): w.send(f"writer-{i} line {j}")
//!     w.close()
//!
//! ps = [Process(target=writer, args=(i,)) for i in range(3)]
//! for p in ps: p.start()
//! w.close()                          # the parent's own write end: forget this and...
//! while True:
//!     try: print(r.recv())
//!     except EOFError: break         # ...this never comes
//! for p in ps: p.join()
//! ```
//!
//! read(2) on a pipe returns 0 (EOF) only when the pipe is empty **and** no write end is open in
//! any process. Write ends here: one per writer child (inherited at fork) and the parent's own.
//! - each **writer** closes its inherited read end at once (only the parent reads; a writer
//!   facing a dead parent then gets EPIPE instead of blocking on a full pipe) and closes its
//!   write end after its last message (its exit would too; closing says "done" earlier);
//! - the **parent** closes its write end right after forking the last writer. It never writes;
//!   it only had to hold the pipe until every child had inherited it.
//!
//! ## The wrong end: `Pipe(False)` and the notes' `fd1.send`
//! With `Pipe(False)` the first object only reads and the second only writes. The notes' example
//! sends on `fd1`, the *first*: on a one-way pipe that call is refused. The demo makes both wrong
//! calls first, `r.send(...)` and `w.recv()`, and prints our [`ConnError::WrongEnd`] beside what
//! Python 3 says for the same call:
//!
//! ```text
//! >>> fd1, fd2 = Pipe(False)
//! >>> fd1.send("hello! Tom")
//! OSError: connection is read-only
//! >>> fd2.recv()
//! OSError: connection is write-only
//! ```
//!
//! Neither call reaches the kernel: the `Connection` remembers which end it is and refuses
//! before any write(2) (the kernel would refuse too, with EBADF: the read end of a pipe(2) is
//! opened read-only).
//!
//! `--forget-close` skips the parent's close, the classic bug: the writers finish, the pipe
//! drains, and read(2) blocks forever, because the reader itself holds a write end. The demo
//! does not hang: it waits in poll(2) on the pipe *and* on each writer's pidfd, so it wakes for
//! data, for EOF, and for each writer's exit. Once every writer has exited, poll gets a timeout
//! (`--timeout-ms`): nothing arriving by then proves EOF is not coming, the parent says why,
//! closes its forgotten write end, and EOF arrives at once. The parent reaps each writer when its
//! pidfd fires.

use std::cell::Cell;
use std::os::fd::AsFd;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use common::{json, out, secs, sleep};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use rand::Rng;

use crate::{take_end, ConnError, MAX_CHILDREN};

/// Flags of `simplex`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Writer children (1..=64).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=MAX_CHILDREN as i64))]
    pub writers: u32,
    /// Messages each writer sends (1..=1000).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub messages: u32,
    /// Keep the parent's own write end open (the classic bug): EOF never comes.
    #[arg(long)]
    pub forget_close: bool,
    /// With every writer gone, how long silence must last to conclude that EOF is not coming
    /// (milliseconds, 1..=60000; real time, not scaled).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=60_000))]
    pub timeout_ms: u32,
}

/// What Python 3 says for `send` on the read end of `Pipe(False)` (checked against python3 by
/// the tests).
pub const PYTHON_SEND_ON_READ_END: &str = "OSError: connection is read-only";
/// What Python 3 says for `recv` on the write end of `Pipe(False)`.
pub const PYTHON_RECV_ON_WRITE_END: &str = "OSError: connection is write-only";

/// One call on the wrong end of the one-way pipe: what we answered and what Python answers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WrongEnd {
    /// The call, as Python would write it.
    pub call: &'static str,
    /// Whether our `Connection` refused it (it must).
    pub refused: bool,
    /// Our error, as printed.
    pub we_say: String,
    /// Python 3's exception for the same call.
    pub python_says: &'static str,
}

/// Make the two wrong calls, as the notes' `fd1.send` on `Pipe(False)` would: both must be
/// refused, before anything reaches the pipe.
fn wrong_ends(r: &crate::Connection, w: &crate::Connection) -> Result<Vec<WrongEnd>> {
    let attempts = [
        (
            "r.send(\"hello! Tom\")",
            r.send_obj("hello! Tom").err(),
            PYTHON_SEND_ON_READ_END,
        ),
        ("w.recv()", w.recv().err(), PYTHON_RECV_ON_WRITE_END),
    ];
    let mut found = Vec::new();
    for (call, outcome, python_says) in attempts {
        let (refused, we_say) = match outcome {
            Some(e @ ConnError::WrongEnd(_)) => (true, e.to_string()),
            Some(e) => {
                return Err(e).with_context(|| format!("{call} failed, but not as the wrong end"))
            }
            None => bail!("{call} on the wrong end of a one-way pipe was accepted"),
        };
        out::event(
            "wrong_end",
            json!({"call": call, "refused": refused, "we_say": we_say, "python_says": python_says}),
            format!(
                "  {call:<20} ours:   error: {we_say}\n  {:<20} Python: {python_says}",
                ""
            ),
        );
        found.push(WrongEnd {
            call,
            refused,
            we_say,
            python_says,
        });
    }
    Ok(found)
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let (r, w) = crate::pipe(false).context("Pipe(False)")?;
    out::say(format!(
        "parent pid {}: r, w = Pipe(False) -> pipe(2): read end fd {}, write end fd {}",
        std::process::id(),
        r.fileno(),
        w.fileno()
    ));
    // The notes' example sends on fd1, the first object; with Pipe(False) that is the read end.
    out::say(
        "the notes' fd1.send(...) on Pipe(False), where fd1 is the read end, and the reverse:",
    );
    let wrong_end = wrong_ends(&r, &w)?;
    out::say("  (the example works only with the duplex default, Pipe(): a socketpair)");
    let r = Cell::new(Some(r));
    let w = Cell::new(Some(w));

    let mut writers = Vec::new();
    for i in 1..=args.writers {
        let name = format!("writer-{i}");
        let child_name = name.clone();
        let messages = args.messages;
        let child = common::spawn(name, || {
            let name = child_name;
            // Only the parent reads: drop our inherited read end.
            drop(take_end(&r, "r")?);
            let w = take_end(&w, "w")?;
            let mut rng = common::rng::rng_for(u64::from(i));
            for j in 0..messages {
                // Simulated work; the jitter makes the writers' lines interleave.
                sleep(secs(rng.gen_range(0.1..0.5)));
                // A frame far below PIPE_BUF: one atomic write, never mixed with another writer's.
                w.send_obj(&format!("{name} line {j}")).context("send")?;
            }
            w.close();
            out::event(
                "writer_closed",
                json!({"name": name}),
                format!(
                    "  {name} (pid {}): sent {messages}, closed its write end",
                    std::process::id()
                ),
            );
            Ok(())
        })?;
        writers.push(child);
    }
    // The parent's own write end: close it now (every writer has inherited the pipe), unless
    // asked to show the bug. If kept, it lives in `kept` until the demo itself closes it.
    let mut kept = None;
    if args.forget_close {
        kept = Some(take_end(&w, "w")?);
        out::event(
            "parent_kept_write_end",
            json!({}),
            "parent: started the writers and did NOT close its own write end (--forget-close)",
        );
    } else {
        drop(take_end(&w, "w")?);
        out::event(
            "parent_closed_write_end",
            json!({}),
            "parent: started the writers and closed its own write end; reading until EOF",
        );
    }
    let r = take_end(&r, "r")?;

    let expected = (args.writers * args.messages) as usize;
    let timeout = Duration::from_millis(u64::from(args.timeout_ms));
    let mut messages: Vec<String> = Vec::new();
    let mut eof = false;
    let mut timed_out = false;
    let mut eof_after_closing = false;
    loop {
        // Wait in the kernel for any of: the pipe (data or EOF), a writer exiting (its pidfd).
        // No timeout while a writer runs: it may be working (sleeping) for a long time.
        let running: Vec<usize> = (0..writers.len())
            .filter(|&k| writers[k].status().is_none())
            .collect();
        let wait = if running.is_empty() {
            PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX)
        } else {
            PollTimeout::NONE
        };
        let mut fds = vec![PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        fds.extend(
            running
                .iter()
                .map(|&k| PollFd::new(writers[k].pidfd(), PollFlags::POLLIN)),
        );
        let n = match nix::poll::poll(&mut fds, wait) {
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e).context("poll"),
        };
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|ev| !ev.is_empty()))
            .collect();
        drop(fds);
        // Step 1 keeps no bytes in user space, so poll(2) on the fd sees every unread one.
        let readable = ready[0];
        for (slot, &k) in running.iter().enumerate() {
            if ready[slot + 1] {
                let status = writers[k].join()?;
                out::event(
                    "writer_exited",
                    json!({"name": writers[k].name(), "exit_code": status.python_exitcode()}),
                    "",
                );
            }
        }
        if n == 0 {
            // Every writer has exited and the pipe stayed silent for the whole timeout.
            timed_out = true;
            out::event(
                "eof_missing",
                json!({"timeout_ms": args.timeout_ms, "messages": messages.len()}),
                format!(
                    "parent: every writer has exited and closed its write end, the pipe is empty, \
                     yet no EOF after {} ms. A write end is still open: our own. The kernel cannot \
                     tell that we will never write, so it keeps the reader waiting: forever, \
                     without this timeout.",
                    args.timeout_ms
                ),
            );
            match kept.take() {
                Some(w) => {
                    w.close();
                    out::event(
                        "parent_closed_write_end",
                        json!({"late": true}),
                        "parent: closing the forgotten write end now; EOF should follow at once",
                    );
                    continue;
                }
                None => bail!(
                    "no EOF {} ms after every writer exited, although every write end is closed",
                    args.timeout_ms
                ),
            }
        }
        if !readable {
            continue;
        }
        match r.recv_obj::<String>() {
            Ok(m) => {
                out::event("received", json!({"message": m}), &m);
                messages.push(m);
            }
            Err(ConnError::Eof) => {
                if timed_out {
                    eof_after_closing = true;
                } else {
                    eof = true;
                }
                out::event(
                    "eof",
                    json!({"after_timeout": timed_out}),
                    "EOF: no write end is open anywhere, and the pipe is empty",
                );
                break;
            }
            Err(e) => return Err(e).context("recv"),
        }
    }
    for c in &mut writers {
        c.join()?;
    }
    let failed: Vec<String> = writers.iter().filter_map(common::Child::failure).collect();

    // Exactly once, and in order per writer: a pipe is FIFO, and each writer's lines went in
    // one after another.
    let mut next = vec![0u32; args.writers as usize];
    let mut in_order = true;
    for m in &messages {
        let parsed = m
            .strip_prefix("writer-")
            .and_then(|rest| rest.split_once(" line "))
            .and_then(|(i, j)| Some((i.parse::<usize>().ok()?, j.parse::<u32>().ok()?)));
        match parsed {
            Some((i, j)) if (1..=args.writers as usize).contains(&i) && next[i - 1] == j => {
                next[i - 1] += 1;
            }
            _ => in_order = false,
        }
    }
    let complete = next.iter().all(|&n| n == args.messages);

    if args.forget_close {
        out::say("lesson: every process must close the ends it does not use, the reader included");
    }
    out::summary(json!({
        "messages": messages,
        "in_order_per_writer": in_order,
        "count": messages.len(),
        "expected": expected,
        "eof": eof,
        "timed_out": timed_out,
        "eof_after_closing": eof_after_closing,
        "forget_close": args.forget_close,
        "wrong_end": wrong_end,
    }));
    // A failed writer explains missing messages, so it is reported first.
    if !failed.is_empty() {
        bail!(
            "received {} of {expected} messages; writers failed: {}",
            messages.len(),
            failed.join(", ")
        );
    }
    if messages.len() != expected || !in_order || !complete {
        bail!(
            "received {} of {expected} messages (each writer's lines exactly once and in order: {})",
            messages.len(),
            in_order && complete
        );
    }
    Ok(())
}
