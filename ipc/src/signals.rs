//! `signals`: what a signal carries, and what it loses (the notes: 信号, "底层").
//!
//! Python shape:
//!
//! ```python
//! import os, signal
//! got = []
//! signal.signal(signal.SIGUSR1, lambda sig, frame: got.append(sig))
//! signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
//! for _ in range(10):
//!     os.kill(os.getpid(), signal.SIGUSR1)
//! print(signal.sigpending())                  # {<Signals.SIGUSR1: 10>}: one bit
//! signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
//! print(len(got))                             # 1, not 10
//! ```
//!
//! What the kernel does:
//! 1. **Standard signals are a bit, not a count.** Each process has a *pending set*: one bit per
//!    signal number. While the receiver blocks `SIGUSR1`, the first `kill` sets the bit and the
//!    next nine find it set already: nothing is recorded. Unblocking (or `sigwaitinfo`) then
//!    delivers one. The demo keeps the signal blocked until the sender has *exited* (the parent
//!    waits for it in `waitpid`), so the pending state is forced and the count is always 1.
//! 2. **Realtime signals are queued.** `SIGRTMIN..SIGRTMAX` sent with `sigqueue` are kept one
//!    entry per send, each with an integer (`si_value`), and delivered in the order sent (lowest
//!    number first, FIFO within a number). The limit is `RLIMIT_SIGPENDING` per user.
//! 3. **Receiving without a handler**: keep the signal blocked and call `sigwaitinfo`, which
//!    sleeps in the kernel until one is pending and returns its `siginfo` (sender pid, value).
//!    No code runs at an arbitrary instruction. (`signalfd` does the same through a descriptor
//!    that `poll` can watch; Python has `signal.sigwaitinfo` too.)
//! 4. **`SIGCHLD`**: the kernel sends it to the parent when a child exits. Its `siginfo` names
//!    the child and its status; `waitpid` must still be called to reap it (free the zombie).
//!
//! Python's `signal` module: the C handler CPython installs only sets a flag (and writes the
//! signal number to the wakeup fd, if one is set); the Python function runs later, **in the main
//! thread, between two bytecodes**. So a handler never interrupts a line of Python halfway, but
//! it waits while the main thread is inside a long C call, and other threads never run handlers.
//! Since Python 3.5 (PEP 475) system calls interrupted by a signal are retried after the handler.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::sys::ipc::{sigqueue, sigrtmin, SignalSet};
use common::{json, out};
use nix::sys::signal::{kill, Signal};
use nix::unistd::getppid;

/// Most signals sent per kind (`--count`).
pub const MAX_COUNT: u32 = 1000;
/// The exit code of the child whose `SIGCHLD` is shown.
const CHILD_EXIT_CODE: i32 = 7;

/// Flags of `signals`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Signals sent of each kind (at most 1000).
    #[arg(long, default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_COUNT as i64))]
    pub count: u32,
}

/// Take every pending signal of `set` without waiting.
fn take_pending(set: &SignalSet) -> Result<Vec<common::sys::ipc::SigInfo>> {
    let mut got = Vec::new();
    while let Some(i) = set.wait(Some(Duration::ZERO)).context("sigtimedwait")? {
        got.push(i);
    }
    Ok(got)
}

/// Run the demo.
pub fn run(a: &Args) -> Result<()> {
    let count = a.count;
    let usr1 = libc::SIGUSR1;
    let rt = sigrtmin();
    let all = SignalSet::of(&[usr1, rt, libc::SIGCHLD]);
    // Blocked before fork: the children inherit the mask, and nothing is delivered to a default
    // action (SIGUSR1's would kill us) while the demo looks at the pending set.
    let old = all.block().context("pthread_sigmask")?;
    let result = demo(count, usr1, rt);
    // Whatever happened, nothing of ours stays pending when the old mask comes back.
    take_pending(&all)?;
    old.set_mask().context("pthread_sigmask")?;
    result
}

fn demo(count: u32, usr1: i32, rt: i32) -> Result<()> {
    // 1. Standard signals while blocked: merged into one pending bit.
    out::say(format!(
        "SIGUSR1 is blocked here. A child sends it {count} times with kill(2), then exits; we \
         wait for the exit before looking, so every send happened while the signal was blocked."
    ));
    let mut sender = common::spawn("kill-sender", move || {
        let parent = getppid();
        for _ in 0..count {
            kill(parent, Signal::SIGUSR1).context("kill(SIGUSR1)")?;
        }
        Ok(())
    })?;
    sender.join()?;
    if let Some(why) = sender.failure() {
        anyhow::bail!("{why}");
    }
    let pending = SignalSet::pending().context("sigpending")?;
    out::event(
        "pending",
        json!({"sigusr1_pending": pending.contains(usr1)}),
        format!(
            "sigpending(): SIGUSR1 pending = {} (one bit: the kernel kept no count)",
            pending.contains(usr1)
        ),
    );
    let standard = take_pending(&SignalSet::of(&[usr1]))?;
    let standard_received = standard.len() as u32;
    out::event(
        "standard",
        json!({"sent": count, "received": standard_received}),
        format!("SIGUSR1: sent {count}, received {standard_received} (the others merged into the pending one)"),
    );
    ensure!(
        standard_received == 1,
        "{standard_received} SIGUSR1 received: a blocked standard signal is one pending bit"
    );

    // 2. Realtime signals with sigqueue: one queued entry per send, with its value.
    out::say(format!(
        "SIGRTMIN (= {rt}) is blocked too. A child sends it {count} times with sigqueue(3), value \
         100+i, then exits."
    ));
    let mut sender = common::spawn("sigqueue-sender", move || {
        let parent = getppid().as_raw();
        for i in 0..count {
            sigqueue(parent, rt, 100 + i as i32).context("sigqueue(SIGRTMIN)")?;
        }
        Ok(())
    })?;
    let sender_pid = sender.pid();
    sender.join()?;
    if let Some(why) = sender.failure() {
        anyhow::bail!("{why}");
    }
    let realtime = take_pending(&SignalSet::of(&[rt]))?;
    let values: Vec<i32> = realtime.iter().map(|i| i.value).collect();
    for (i, info) in realtime.iter().enumerate().take(20) {
        out::event(
            "realtime",
            json!({"value": info.value, "from": info.pid}),
            format!(
                "  sigwaitinfo -> SIGRTMIN #{i}: value {} from pid {} (si_code SI_QUEUE = {})",
                info.value,
                info.pid,
                info.code == libc::SI_QUEUE
            ),
        );
    }
    let expected: Vec<i32> = (0..count).map(|i| 100 + i as i32).collect();
    let in_order = values == expected;
    let from_sender = realtime.iter().all(|i| i.pid == sender_pid);
    out::event(
        "realtime_total",
        json!({"sent": count, "received": values.len(), "in_order": in_order}),
        format!(
            "SIGRTMIN: sent {count}, received {}, in order with their values: {in_order}",
            values.len()
        ),
    );
    ensure!(
        in_order && from_sender,
        "realtime signals: expected values {expected:?} from pid {sender_pid}, got {values:?}"
    );

    // 3. SIGCHLD: the kernel tells the parent that a child exited; waitpid still reaps it.
    take_pending(&SignalSet::of(&[libc::SIGCHLD]))?; // the two senders' exits, merged
    let mut child = common::spawn("exits-with-7", || {
        out::flush();
        common::sys::exit_now(CHILD_EXIT_CODE)
    })?;
    let info = SignalSet::of(&[libc::SIGCHLD])
        .wait(None)
        .context("sigwaitinfo(SIGCHLD)")?
        .context("sigwaitinfo returned nothing")?;
    let sigchld_ok =
        info.pid == child.pid() && info.value == CHILD_EXIT_CODE && info.code == libc::CLD_EXITED;
    out::event(
        "sigchld",
        json!({"child": child.pid(), "si_pid": info.pid, "si_status": info.value}),
        format!(
            "sigwaitinfo slept until SIGCHLD: child {} exited (CLD_EXITED: {}) with status {}",
            info.pid,
            info.code == libc::CLD_EXITED,
            info.value
        ),
    );
    let st = child.join()?;
    out::event(
        "reaped",
        json!({"status": st.python_exitcode()}),
        format!("waitpid reaped it ({st}): SIGCHLD alone does not free the zombie"),
    );
    ensure!(
        sigchld_ok && st.python_exitcode() == CHILD_EXIT_CODE,
        "SIGCHLD said pid {} status {}, waitpid said {st}",
        info.pid,
        info.value
    );

    out::say(
        "Python's signal module: CPython's C handler only records the signal; your Python \
         handler runs later, in the main thread, between two bytecodes. A standard signal sent \
         twice before that runs the handler once, exactly as above.",
    );
    out::summary(json!({
        "standard_sent": count,
        "standard_received": standard_received,
        "realtime_sent": count,
        "realtime_received": values.len(),
        "realtime_in_order": in_order,
        "sigchld_status": info.value,
    }));
    Ok(())
}
