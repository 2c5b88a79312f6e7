//! `posix-mq`: the operating system's own message queue (POSIX `mq_overview(7)`).
//!
//! Python has no `multiprocessing` wrapper for it (the `posix_ipc` package does), but it is
//! what "message queue" means to the kernel: a named object, created with `mq_open`, holding up
//! to `mq_maxmsg` messages of up to `mq_msgsize` bytes, each with a priority. `mq_send` blocks
//! while it is full, `mq_receive` while it is empty, and `mq_receive` always returns the oldest
//! message of the **highest priority**: a priority queue, FIFO only within one priority.
//!
//! Unlike [`crate::Queue`], every message is two syscalls (`mq_send` copies it into the kernel,
//! `mq_receive` copies it out), but the kernel keeps it: unrelated processes can meet through
//! the name, and a message survives its sender's death.
//!
//! Limits (`/proc/sys/fs/mqueue/`): an unprivileged process may ask for at most `msg_max`
//! messages (10) of `msgsize_max` bytes (8192), and `RLIMIT_MSGQUEUE` caps the bytes of all its
//! queues (800 KiB). This demo asks for no more than 10 x 8192, whoever runs it.
//!
//! The name (`/queue-demo-<pid>`) is a file in the mqueue filesystem (`/dev/mqueue` where it is
//! mounted) and outlives every process unless unlinked. So: with SIGINT/SIGTERM blocked (a
//! Ctrl-C in between would leave the name behind), the parent creates the queue, opens it a
//! second time by name for sending (as an unrelated process would), and unlinks the name at
//! once. Every process that will use it has opened it (the child inherits the descriptors across
//! fork; on Linux an `mqd_t` is a file descriptor), so the name is no longer needed; the queue
//! itself lives until the last descriptor is closed, which exit does too.
//!
//! Steps:
//! 1. A sender child sends `min(--messages, capacity)` messages with priorities 1, 0, 5, 1, 0, 5
//!    ... and exits (the queue has room for all, so no send blocks).
//! 2. The parent reads `mq_getattr`: `mq_curmsgs` equals the capacity when the queue is full, and
//!    a non-blocking `mq_send` then fails with `EAGAIN` (a blocking one would wait).
//! 3. It receives them: highest priority first, FIFO within a priority. The demo checks that.
//! 4. A second sender sends the rest (if `--messages` exceeds the capacity), one every 0.2 s
//!    (scaled), blocking in `mq_send` whenever 10 are queued; the parent receives as they come. It waits in `poll` on both the queue's
//!    descriptor and the child's pidfd, so a sender that dies early ends the wait instead of
//!    leaving the parent in `mq_receive` forever.

use std::os::fd::{AsFd, AsRawFd};

use anyhow::{Context, Result};
use common::{json, out, secs, sleep, Child};
use nix::errno::Errno;
use nix::mqueue::{
    mq_close, mq_getattr, mq_open, mq_receive, mq_send, mq_set_nonblock, mq_unlink, MQ_OFlag,
    MqAttr, MqdT,
};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

/// Most messages one run sends (`--messages`).
pub const MAX_MESSAGES: u32 = 100;
/// The unprivileged default limits this demo stays within.
pub const UNPRIVILEGED_MSG_MAX: i64 = 10;
/// See [`UNPRIVILEGED_MSG_MAX`].
pub const UNPRIVILEGED_MSGSIZE_MAX: i64 = 8192;
/// Priorities given in turn to messages 0, 1, 2, ...
const PRIORITIES: [u32; 3] = [1, 0, 5];

/// Flags of `posix-mq`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Messages to send (1..=100); beyond the queue's capacity (10) the sender blocks.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=MAX_MESSAGES as i64))]
    pub messages: u32,
}

/// A message queue descriptor that is closed when dropped (nix's `MqdT` is not).
struct Mq(Option<MqdT>);

impl Mq {
    fn get(&self) -> &MqdT {
        self.0.as_ref().expect("open until dropped")
    }
}

impl Drop for Mq {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            let _ = mq_close(d);
        }
    }
}

fn read_limit(file: &str) -> Option<i64> {
    std::fs::read_to_string(format!("/proc/sys/fs/mqueue/{file}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn text_of(k: u32) -> String {
    format!(
        "message {k} (priority {})",
        PRIORITIES[k as usize % PRIORITIES.len()]
    )
}

fn send_range(tx: &MqdT, range: std::ops::Range<u32>, pause: bool) -> Result<()> {
    for k in range {
        if pause {
            sleep(secs(0.2));
        }
        let prio = PRIORITIES[k as usize % PRIORITIES.len()];
        mq_send(tx, text_of(k).as_bytes(), prio).context("mq_send")?;
        out::event(
            "sent",
            json!({"k": k, "priority": prio}),
            format!("  [sender] mq_send {:?}", text_of(k)),
        );
    }
    Ok(())
}

/// Receive one message (the queue must be readable).
fn receive(rx: &MqdT, buf: &mut [u8]) -> Result<serde_json::Value> {
    let mut prio = 0u32;
    let n = mq_receive(rx, buf, &mut prio).context("mq_receive")?;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    out::event(
        "received",
        json!({"text": text, "priority": prio}),
        format!("mq_receive -> {text:?}"),
    );
    Ok(json!({"text": text, "priority": prio}))
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let msg_max = read_limit("msg_max");
    let msgsize_max = read_limit("msgsize_max");
    let maxmsg = msg_max
        .unwrap_or(UNPRIVILEGED_MSG_MAX)
        .min(UNPRIVILEGED_MSG_MAX);
    let msgsize = msgsize_max
        .unwrap_or(UNPRIVILEGED_MSGSIZE_MAX)
        .min(UNPRIVILEGED_MSGSIZE_MAX);
    let name = format!("/queue-demo-{}", std::process::id());

    // Create, open again by name, unlink: with the stop signals blocked, so that no Ctrl-C can
    // land between mq_open and mq_unlink and leave the name behind.
    common::sys::block_stop_signals(true);
    let opened = (|| -> Result<(Mq, Mq)> {
        let attr = MqAttr::new(0, maxmsg, msgsize, 0);
        let rx = Mq(Some(
            mq_open(
                name.as_str(),
                MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDONLY | MQ_OFlag::O_CLOEXEC,
                Mode::S_IRUSR | Mode::S_IWUSR,
                Some(&attr),
            )
            .with_context(|| format!("mq_open({name}, O_CREAT)"))?,
        ));
        let tx = mq_open(
            name.as_str(),
            MQ_OFlag::O_WRONLY | MQ_OFlag::O_CLOEXEC,
            Mode::empty(),
            None,
        )
        .with_context(|| format!("mq_open({name}, O_WRONLY)"));
        // Unlink whatever happened: the name must not survive this block.
        let unlinked = mq_unlink(name.as_str()).with_context(|| format!("mq_unlink({name})"));
        let tx = Mq(Some(tx?));
        unlinked?;
        Ok((rx, tx))
    })();
    common::sys::block_stop_signals(false);
    let (rx, tx) = opened?;
    out::event(
        "opened",
        json!({"name": name, "msg_max": msg_max, "msgsize_max": msgsize_max}),
        format!(
            "mq_open({name:?}, O_CREAT, maxmsg {maxmsg}, msgsize {msgsize}), opened it again by name \
             for sending, then mq_unlink: the name is gone, the queue lives on in our descriptors \
             (limits here: msg_max {}, msgsize_max {})",
            msg_max.map_or("?".into(), |v| v.to_string()),
            msgsize_max.map_or("?".into(), |v| v.to_string())
        ),
    );
    let attr = mq_getattr(rx.get()).context("mq_getattr")?;
    let (max_messages, message_size) = (attr.maxmsg(), attr.msgsize());
    let mut buf = vec![0u8; message_size as usize];
    let first = (args.messages as i64).min(max_messages) as u32;

    // 1. The first sender fills the queue (no send blocks) and exits.
    out::say(format!(
        "a sender process sends {first} message(s) with priorities {PRIORITIES:?} in turn"
    ));
    let rx_fd = rx.get().as_raw_fd();
    let txr = tx.get();
    let mut s1 = common::spawn("sender-1", move || {
        // Not our end: close the inherited receive descriptor, as with a pipe.
        nix::unistd::close(rx_fd).context("close(receive descriptor)")?;
        send_range(txr, 0..first, false)
    })?;
    s1.join()?;
    if let Some(failure) = s1.failure() {
        anyhow::bail!(failure);
    }

    // 2. What the kernel says, and what a send into a full queue does.
    let attr = mq_getattr(rx.get()).context("mq_getattr")?;
    let curmsgs = attr.curmsgs();
    let full = curmsgs >= max_messages;
    let mut full_refused = None;
    if full {
        mq_set_nonblock(tx.get()).context("mq_setattr(O_NONBLOCK)")?;
        let r = mq_send(tx.get(), b"one too many", 0);
        full_refused = Some(r == Err(Errno::EAGAIN));
        nix::mqueue::mq_remove_nonblock(tx.get()).context("mq_setattr(0)")?;
        anyhow::ensure!(r.is_err(), "mq_send into a full queue succeeded");
    }
    out::event(
        "getattr",
        json!({"curmsgs": curmsgs, "maxmsg": max_messages, "msgsize": message_size}),
        format!(
            "mq_getattr: {curmsgs} of {max_messages} messages queued, up to {message_size} bytes each{}",
            if full { "; the queue is full: a non-blocking mq_send fails with EAGAIN" } else { "" }
        ),
    );

    // 3. Receive them: highest priority first, oldest first within one priority.
    let mut received = Vec::new();
    for _ in 0..first {
        received.push(receive(rx.get(), &mut buf)?);
    }
    let mut expected: Vec<u32> = (0..first).collect();
    expected.sort_by_key(|&k| std::cmp::Reverse(PRIORITIES[k as usize % PRIORITIES.len()]));
    let priority_order_ok = received
        .iter()
        .zip(&expected)
        .all(|(r, &k)| r["text"] == text_of(k));
    out::say(format!(
        "received in priority order (5 before 1 before 0, FIFO within each): {}",
        if priority_order_ok { "yes" } else { "NO" }
    ));

    // 4. The rest, sent while we receive: the sender blocks whenever the queue is full.
    if first < args.messages {
        out::say(format!(
            "a second sender sends the other {} message(s), one every 0.2 s: mq_receive blocks until each \
             arrives (and mq_send would block while {max_messages} were queued)",
            args.messages - first
        ));
        let mut s2 = common::spawn("sender-2", move || {
            nix::unistd::close(rx_fd).context("close(receive descriptor)")?;
            send_range(txr, first..args.messages, true)
        })?;
        let expect = (args.messages - first) as usize;
        let mut got = 0;
        while got < expect {
            if wait_readable(rx.get(), &mut s2)? {
                received.push(receive(rx.get(), &mut buf)?);
                got += 1;
            } else {
                let how = s2.failure().unwrap_or_else(|| "sender-2 exited".into());
                anyhow::bail!("{how} after {got} of {expect} messages");
            }
        }
        s2.join()?;
        if let Some(failure) = s2.failure() {
            anyhow::bail!(failure);
        }
    }
    drop(tx);
    drop(rx);
    out::summary(json!({
        "received": received,
        "max_messages": max_messages,
        "message_size": message_size,
        "sent": args.messages,
        "curmsgs_after_first_sender": curmsgs,
        "full_refused": full_refused,
        "priority_order_ok": priority_order_ok,
        "name": name,
        "limits": {"msg_max": msg_max, "msgsize_max": msgsize_max},
    }));
    anyhow::ensure!(
        priority_order_ok,
        "invariant broken: messages not in priority order"
    );
    anyhow::ensure!(
        received.len() == args.messages as usize,
        "invariant broken: lost messages"
    );
    Ok(())
}

/// Block until the queue has a message (`true`) or the sender has exited with none left
/// (`false`). One `poll` on two descriptors: the queue (readable = not empty) and the child's
/// pidfd (readable = exited). No timeout, no loop of checks.
fn wait_readable(rx: &MqdT, sender: &mut Child) -> Result<bool> {
    loop {
        let (queue_ready, sender_gone) = {
            let mut fds = [
                PollFd::new(rx.as_fd(), PollFlags::POLLIN),
                PollFd::new(sender.pidfd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e).context("poll(mqueue, pidfd)"),
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), ready(&fds[1]))
        };
        if queue_ready {
            return Ok(true);
        }
        if sender_gone {
            sender.join()?;
            return Ok(false);
        }
    }
}
