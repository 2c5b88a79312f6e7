//! `daemon` (Process类介绍: `p.daemon`, note 004).
//!
//! Python:
//!
//! ```python
//! import time
//! from multiprocessing import Process
//!
//! def serve_forever():
//!     while True: time.sleep(0.1)
//!
//! def do_job():
//!     time.sleep(0.2); print("job done")
//!
//! d = Process(target=serve_forever, daemon=True); d.start()
//! n = Process(target=do_job);                     n.start()
//! print("main is done")
//! # at interpreter exit: daemonic children are terminate()d, the others are join()ed
//! ```
//!
//! Python implements this in an atexit hook of `multiprocessing`: the parent *itself* terminates
//! its daemons and joins the rest as it exits normally. This demo does the same, explicitly.
//!
//! 笔记勘误: the notes say a daemon "terminates when its parent terminates". Only if the parent
//! ends normally: when the parent is SIGKILLed no atexit hook runs, and Python's daemons keep
//! running as orphans. In this workspace every child also asks the kernel for
//! `PR_SET_PDEATHSIG(SIGKILL)`, so here children die with their parent however it dies. (And a
//! Python daemon may not start children of its own: it would have no chance to clean them up.)
//!
//! The demo then *shows* the difference, the parent SIGKILLed in both worlds:
//! - **Python** (when `python3` is here): a tiny script, started in its own process group,
//!   starts a `daemon=True` Process and SIGKILLs itself. This demo is a child subreaper
//!   (`PR_SET_CHILD_SUBREAPER`), so the orphaned daemon is re-parented to us and `/proc` shows it
//!   still running. The daemon blocks reading a pipe whose only write end we hold; closing it
//!   lets the daemon finish, and we reap it: nothing is left behind.
//! - **Ours**: a child starts a daemon child of its own and SIGKILLs itself; the kernel sends
//!   the daemon its parent-death signal, and we (its new parent) reap it: killed by SIGKILL.

use std::io::{BufRead, BufReader};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::child;
use common::{json, out, procfs, secs, sleep, ExitStatus};
use nix::sys::signal::Signal;

use crate::gate::Gate;

/// Python's side: a daemon Process, then the parent SIGKILLs itself. argv[1] is a pipe fd the
/// daemon blocks on (this demo holds the only write end).
const PYTHON_DAEMON: &str = "\
import multiprocessing, os, signal, sys

def serve(fd):
    os.read(fd, 1)  # blocks until the demo closes the write end

if __name__ == '__main__':
    d = multiprocessing.Process(target=serve, args=(int(sys.argv[1]),), daemon=True)
    d.start()
    print(d.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no atexit hook runs: the daemon is not terminated
";

/// What happened to Python's daemon when its parent was SIGKILLed.
#[derive(Debug, serde::Serialize)]
struct PythonOutcome {
    parent_killed_by: Option<i32>,
    daemon_pid: i32,
    daemon_alive_after_parent_died: bool,
    daemon_new_ppid: Option<i32>,
    daemon_exitcode_after_cleanup: i32,
}

/// Run Python's daemon under a SIGKILLed parent; `None` if there is no python3 here.
fn python_daemon() -> Result<Option<PythonOutcome>> {
    // The daemon's lifeline: it inherits the read end (not close-on-exec, so python3 gets it),
    // we keep the write end (close-on-exec: python3 must not hold a copy, or EOF never comes).
    let mut lifeline = Gate::new()?;
    let read_fd = lifeline.read_fd().context("gate without a read end")?;
    nix::fcntl::fcntl(
        read_fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .context("fcntl(F_SETFD)")?;
    let spawned = Command::new("python3")
        .arg("-c")
        .arg(PYTHON_DAEMON)
        .arg(read_fd.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .process_group(0) // its own group: the demo's Ctrl-C is not its business
        .spawn();
    // Our copy of the read end is not ours to read: close it (python3 has its own now).
    lifeline.keep_write_end();
    let mut python = match spawned {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).context("spawn python3"),
    };
    let mut line = String::new();
    let stdout = python.stdout.take().context("python3's stdout")?;
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("read python3's output")?;
    let status = python.wait().context("waitpid(python3)")?;
    let daemon_pid: i32 = line
        .trim()
        .parse()
        .with_context(|| format!("python3 printed {line:?}, not the daemon's pid"))?;
    // The parent is dead and reaped. Is its daemon still there?
    let daemon = procfs::stat(daemon_pid)?;
    let alive = daemon.as_ref().is_some_and(|s| s.state != 'Z');
    // Under our stop handler from here on; closing the lifeline lets it finish.
    let mut adopted = child::adopt_named(daemon_pid, "python-daemon")?;
    lifeline.close_write();
    let exited = adopted
        .join_timeout(Duration::from_secs(10))?
        .context("python's daemon did not finish after its pipe was closed")?;
    Ok(Some(PythonOutcome {
        parent_killed_by: status.signal(),
        daemon_pid,
        daemon_alive_after_parent_died: alive,
        daemon_new_ppid: daemon.map(|s| s.ppid),
        daemon_exitcode_after_cleanup: exited.python_exitcode(),
    }))
}

/// Ours: a child starts a daemon child and is SIGKILLed; how did the daemon end?
fn our_daemon() -> Result<ExitStatus> {
    // The daemon blocks on `forever` (we hold the write end and never write): only the
    // parent-death signal can end it.
    let mut forever = Gate::new()?;
    let mut report = Gate::new()?;
    let mut go = Gate::new()?;
    let mut parent = common::spawn("parent", || {
        forever.keep_read_end();
        report.keep_write_end();
        go.keep_read_end();
        let daemon = common::spawn("daemon", || {
            // Report from inside: by now common::child has set PR_SET_PDEATHSIG in this process
            // (so the parent's death from here on is a SIGKILL, not a race with that call).
            report.send_i32(std::process::id() as i32)?;
            forever.wait()?;
            Ok(())
        })?;
        std::mem::forget(daemon); // never reaped by this process: it is about to die
        go.wait()?; // until the top has adopted the daemon
        nix::sys::signal::raise(Signal::SIGKILL).context("raise(SIGKILL)")?;
        Ok(())
    })?;
    forever.keep_write_end();
    report.keep_read_end();
    go.keep_write_end();
    let pid = report
        .recv_i32()?
        .context("the parent died before reporting its daemon")?;
    let mut daemon = child::adopt_named(pid, "daemon")?;
    go.open(b'k')?;
    let parent_status = parent.join()?;
    ensure!(
        parent_status == ExitStatus::Signaled(Signal::SIGKILL),
        "the parent was not SIGKILLed: {parent_status}"
    );
    let status = daemon
        .join_timeout(Duration::from_secs(10))?
        .context("our daemon outlived its SIGKILLed parent")?;
    drop(forever);
    Ok(status)
}

/// Run the demo.
pub fn run() -> Result<()> {
    // Orphans of our children (a daemon whose parent was killed) come to us, to be reaped.
    child::become_subreaper()?;
    // The daemon serves "forever": it blocks reading a gate that nobody ever opens.
    let mut forever = Gate::new()?;
    let mut daemon = common::spawn("daemon", || {
        forever.keep_read_end();
        out::event(
            "daemon_serving",
            json!({}),
            "  [daemon] serving forever (blocked on a pipe, using no CPU)",
        );
        forever.wait()?;
        Ok(())
    })?;
    let mut normal = common::spawn("normal", || {
        out::event("normal_working", json!({}), "  [normal] working for 1 s");
        sleep(secs(1.0));
        out::event("normal_done", json!({}), "  [normal] done");
        Ok(())
    })?;
    out::say("main: my own work is finished; as Python's exit hook does: join the normal child, terminate the daemon");
    let normal_status = normal.join()?;
    out::event(
        "normal_joined",
        json!({"exit_code": normal_status.python_exitcode()}),
        format!("normal child joined: {normal_status}"),
    );
    daemon.terminate()?;
    let daemon_status = daemon.join()?;
    let daemon_terminated = daemon_status == ExitStatus::Signaled(Signal::SIGTERM);
    out::event(
        "daemon_terminated",
        json!({"exit_code": daemon_status.python_exitcode()}),
        format!(
            "daemon child terminated: {daemon_status} (Python's exitcode {})",
            daemon_status.python_exitcode()
        ),
    );
    drop(forever);
    ensure!(
        daemon_terminated,
        "the daemon was not terminated by SIGTERM: {daemon_status}"
    );

    // The parent SIGKILLed: Python's daemon, then ours.
    out::say("笔记勘误 (\"p的父进程终止时,p也随之终止\"): only when the parent exits normally. Now the parent is SIGKILLed:");
    let python = python_daemon()?;
    match &python {
        Some(p) => out::event(
            "python_daemon",
            json!(p),
            format!(
                "  Python: the parent was killed by signal {}; its daemon (pid {}) is {} (ppid now {}: re-parented to this demo, a subreaper); \
                 we closed its pipe and reaped it (exitcode {})",
                p.parent_killed_by.map_or("?".into(), |s| s.to_string()),
                p.daemon_pid,
                if p.daemon_alive_after_parent_died { "STILL RUNNING, an orphan: Python's daemon flag only acts in an atexit hook, which SIGKILL never runs" } else { "gone" },
                p.daemon_new_ppid.map_or("?".into(), |s| s.to_string()),
                p.daemon_exitcode_after_cleanup
            ),
        ),
        None => out::event(
            "python_daemon",
            json!({"skipped": "no python3 on this machine"}),
            "  Python: not run (no python3 on this machine); in Python the daemon would keep running as an orphan",
        ),
    }
    let ours = our_daemon()?;
    let ours_killed = ours == ExitStatus::Signaled(Signal::SIGKILL);
    out::event(
        "our_daemon",
        json!({"status": ours.to_string(), "killed_with_parent": ours_killed}),
        format!(
            "  ours: the parent was killed by SIGKILL; its daemon ended too, {ours}: PR_SET_PDEATHSIG made the kernel kill it with its parent"
        ),
    );
    ensure!(
        ours_killed,
        "our daemon was expected to die by its parent-death signal: {ours}"
    );
    out::summary(json!({
        "python_parent_sigkilled": python,
        "ours_parent_sigkilled": {"daemon_status": ours.to_string(), "killed_with_parent": ours_killed},
        "daemon_terminated": daemon_terminated,
        "daemon_exitcode": daemon_status.python_exitcode(),
        "normal_exit_code": normal_status.python_exitcode(),
    }));
    Ok(())
}
