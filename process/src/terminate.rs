//! `terminate` (Process类介绍: `p.terminate()`, note 004).
//!
//! Python:
//!
//! ```python
//! import ctypes, os, signal
//! from multiprocessing import Process, Pipe
//!
//! ctypes.CDLL(None).prctl(36, 1)      # PR_SET_CHILD_SUBREAPER: orphans below us come to us, as in the demo
//! lifeline_r, lifeline_w = Pipe(False)     # the grandchild runs until every copy of lifeline_w is closed
//! pid_r, pid_w = Pipe(False)
//!
//! def grandchild_task():
//!     lifeline_w.close()
//!     print("grandchild: my parent is", os.getppid())
//!     try: lifeline_r.recv()
//!     except EOFError: pass
//!     print("grandchild: still running after the terminate, my parent is now", os.getppid())
//!
//! def parent_task():
//!     g = Process(target=grandchild_task); g.start()    # p has a child of its own
//!     pid_w.send(g.pid)
//!     signal.pause()                                    # until a signal comes
//!
//! p = Process(target=parent_task); p.start()
//! grandchild = pid_r.recv()
//! p.terminate(); p.join()
//! print(p.exitcode)                  # -15 (SIGTERM): p is gone, its child is not
//! lifeline_w.close()                 # let the orphan finish...
//! print(os.waitpid(grandchild, 0))   # ...and reap it: as its new parent, that is our job now
//! ```
//!
//! 笔记勘误: the notes warn that after `terminate()` "p's child becomes a zombie". It does not.
//! A zombie is a process that has *exited* and waits to be reaped. The grandchild has not
//! exited: it keeps running as an **orphan**. The kernel re-parents it to the nearest ancestor
//! marked "child subreaper", or else to PID 1, and that new parent reaps it when it exits. The
//! real risks of `terminate()` are others: the orphan may run forever unnoticed, and a lock or
//! resource the terminated process held is never released (see `lock-held`).
//!
//! What this demo does:
//! 1. marks itself a child subreaper (`PR_SET_CHILD_SUBREAPER`), so the orphan comes to *us*
//!    and we can clean it up, rather than to PID 1 (which on some machines reaps late);
//! 2. forks a child, which forks a grandchild *without* the parent-death signal the workspace
//!    normally sets (otherwise the kernel would kill it with its parent, and there would be no
//!    orphan to see). The grandchild blocks on a pipe whose only write end we hold, so it ends
//!    when we close it, or when we die (EOF): it can never outlive this demo;
//! 3. terminates the child, reads the grandchild's `/proc/<pid>/stat` before and after, then
//!    closes the pipe and reaps the grandchild, and counts our remaining children (0).

use anyhow::{Context, Result};
use common::{child, json, out, procfs, ExitStatus};
use nix::sys::signal::Signal;

use crate::gate::Gate;

/// Flags of `terminate`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// Fault injection, for the tests only (cargo feature `fault-injection`): block, until a
    /// signal ends the demo, after learning the grandchild's pid and before adopting it. That is
    /// the moment the grandchild is an orphan-to-be that no table lists yet; a Ctrl-C then must
    /// still leave nothing behind.
    #[cfg(feature = "fault-injection")]
    #[arg(long, hide = true)]
    pub stall_before_adopt: bool,
}

/// Run the demo.
pub fn run(
    #[cfg_attr(not(feature = "fault-injection"), allow(unused_variables))] args: &Args,
) -> Result<()> {
    child::become_subreaper()?;
    // `lifeline`: the grandchild reads it until EOF. Only this process keeps the write end.
    let mut lifeline = Gate::new()?;
    // `report`: the child tells us its child's pid.
    let mut report = Gate::new()?;
    let mut middle = common::spawn("child", || {
        lifeline.keep_read_end();
        report.keep_write_end();
        let grandchild = child::spawn_with(
            "grandchild",
            child::Options {
                die_with_parent: false,
            },
            || {
                out::event(
                    "grandchild_running",
                    json!({"ppid": nix::unistd::getppid().as_raw()}),
                    format!(
                        "    [grandchild pid {}] running, parent {}",
                        std::process::id(),
                        nix::unistd::getppid()
                    ),
                );
                // Blocks until every write end is closed: ours were closed above (inherited
                // from the child, which closed its copy before forking us).
                lifeline.wait()?;
                Ok(())
            },
        )?;
        report.send_i32(grandchild.pid())?;
        // Never reap it: we are about to be terminated. Leak the handle so its Drop (kill and
        // reap) cannot run even if this closure somehow returned.
        std::mem::forget(grandchild);
        // Sleep "forever" (until SIGTERM) on a gate nobody opens.
        let mut never = Gate::new()?;
        never.wait()?;
        Ok(())
    })?;
    lifeline.keep_write_end();
    report.keep_read_end();
    let gc = report
        .recv_i32()?
        .context("the child died before reporting its grandchild")?;
    #[cfg(feature = "fault-injection")]
    if args.stall_before_adopt {
        out::event(
            "stalled",
            json!({"grandchild_pid": gc}),
            "(stalled before adopting, as asked)",
        );
        Gate::new()?.wait()?;
    }
    // Put the grandchild under our stop handler now: if Ctrl-C comes at any point from here on,
    // it is killed and reaped with the rest.
    let mut grandchild = child::adopt(gc)?;
    let before = procfs::stat(gc)?.context("grandchild vanished")?;
    out::event(
        "before_terminate",
        json!({"child_pid": middle.pid(), "grandchild_pid": gc, "grandchild_ppid": before.ppid, "grandchild_state": before.state.to_string()}),
        format!(
            "child pid {}, its child (our grandchild) pid {gc}: state {}, ppid {}",
            middle.pid(),
            before.state,
            before.ppid
        ),
    );
    middle.terminate()?;
    let status = middle.join()?;
    out::event(
        "terminated",
        json!({"exit_code": status.python_exitcode()}),
        format!(
            "terminate() the child: {status}; Python's exitcode {}",
            status.python_exitcode()
        ),
    );
    // The kernel re-parents a dying process's children before its parent can reap it, so by now
    // the grandchild's new parent is settled.
    let after = procfs::stat(gc)?.context("grandchild vanished")?;
    let me = std::process::id() as i32;
    let orphaned = after.ppid != middle.pid() && after.state != 'Z';
    out::event(
        "after_terminate",
        json!({"grandchild_pid": gc, "grandchild_ppid": after.ppid, "grandchild_state": after.state.to_string(), "orphaned": orphaned}),
        format!(
            "grandchild {gc}: state {} (not Z: it is alive, not a zombie), ppid {} ({})",
            after.state,
            after.ppid,
            if after.ppid == me {
                "us: re-parented to the nearest child subreaper; without one it would be PID 1"
            } else {
                "re-parented"
            }
        ),
    );
    // Clean up: closing the only write end gives the grandchild EOF; it exits and we reap it.
    lifeline.close_write();
    let gc_status = grandchild.join()?;
    out::event(
        "grandchild_reaped",
        json!({"exit_code": gc_status.python_exitcode()}),
        format!("closed its pipe: the grandchild read EOF, exited ({gc_status}) and we reaped it"),
    );
    let leftover = count_children(me)?;
    out::summary(json!({
        "exit_signal": match status { ExitStatus::Signaled(s) => s.as_str(), ExitStatus::Exited(_) => "none" },
        "python_exitcode": status.python_exitcode(),
        "grandchild_orphaned": orphaned,
        "grandchild_new_ppid": after.ppid,
        "leftover_processes": leftover,
    }));
    anyhow::ensure!(
        status == ExitStatus::Signaled(Signal::SIGTERM),
        "the child was not killed by SIGTERM: {status}"
    );
    anyhow::ensure!(leftover == 0, "{leftover} processes left");
    Ok(())
}

/// How many processes have `pid` as their parent (scan of /proc).
fn count_children(pid: i32) -> Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir("/proc")
        .context("read_dir /proc")?
        .flatten()
    {
        if let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() {
            if procfs::stat(p)?.is_some_and(|s| s.ppid == pid) {
                n += 1;
            }
        }
    }
    Ok(n)
}
