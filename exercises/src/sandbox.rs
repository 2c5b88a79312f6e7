//! Running one attempt so that whatever it does, the checker gets an answer and nothing is left.
//!
//! - **Own process group.** The program starts in a new group (its pid is the group id): every
//!   process it forks is in that group, and one `killpg(SIGKILL)` ends them all.
//! - **Timeout.** Its output and its exit arrive on one channel; the checker blocks on that
//!   channel with a deadline (`recv_timeout`, no polling). At the deadline the whole group is
//!   SIGKILLed: a deadlock is a failure ("still running after 4 s"), never a hang of the checker.
//! - **Subreaper.** The checker is a child subreaper (`PR_SET_CHILD_SUBREAPER`): a process the
//!   attempt left behind is re-parented to the checker, not to PID 1. When the program's main
//!   process has exited, anything still in its group or re-parented to us is a leftover (an
//!   orphan still running, or a zombie nobody reaped): the checker names it, kills it, reaps it.
//! - **Checkpoints.** At a line `== checkpoint ==` the program waits on its stdin; the checker
//!   looks at it (its children in `/proc`, its open descriptors) and then writes a line to let it
//!   go on. At `== waiting pid=N ==` the checker samples process N's context switches and CPU time
//!   for a while: a process blocked in the kernel does not wake up, a polling loop does.
//! - **Kernel names.** Names the exercises create carry the program's pid (`/ex-<pid>-...`); any
//!   left in `/dev/mqueue` or `/dev/shm` is reported and unlinked.
//! - **Ctrl-C.** The attempt is registered with `common::child::adopt`, so the checker's stop
//!   handler kills it (and, as a subreaper, every orphan) before the checker exits.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

/// How much of a run's output is kept (the rest is read and dropped).
const MAX_STDOUT_LINES: usize = 10_000;
const MAX_STDERR: usize = 64 * 1024;

/// How long the checker watches a waiting process.
pub const IDLE_WINDOW: Duration = Duration::from_millis(300);

/// A process the checker found.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: i32,
    pub comm: String,
    /// `Z` for a zombie.
    pub state: char,
}

/// What the checker saw while a waiting process waited.
#[derive(Debug, Clone, Copy)]
pub struct IdleSample {
    pub pid: i32,
    /// Voluntary context switches of all its threads during the window: each time a thread
    /// went to sleep (so each time it had been woken up).
    pub wakeups: u64,
    /// CPU time it used during the window (clock ticks turned into milliseconds).
    pub cpu_ms: u64,
}

/// Everything one run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// `Some(code)` for an exit, `-signal` for a death by signal; `None` if killed on timeout.
    pub exit: Option<i32>,
    pub timed_out: bool,
    pub stdout: Vec<String>,
    pub stderr: String,
    /// Processes still alive or unreaped after the program's main process exited.
    pub leftovers: Vec<Proc>,
    /// Children of the program at its checkpoint.
    pub children_at_checkpoint: Vec<Proc>,
    /// Descriptors other than 0, 1, 2 open at its checkpoint (`fd -> what`).
    pub fds_at_checkpoint: Vec<String>,
    pub checkpoint_seen: bool,
    pub idle: Option<IdleSample>,
    /// `/ex-<pid>-...` names found in /dev/mqueue or /dev/shm after the run (now removed).
    pub leaked_names: Vec<String>,
    pub elapsed: Duration,
}

enum Event {
    Line(String),
    StdoutClosed,
    Exited(Option<i32>),
}

/// Run `exe` once under the rules above.
pub fn run(exe: &Path, timeout: Duration) -> Result<Outcome> {
    become_subreaper()?;
    let started = Instant::now();
    let mut cmd = Command::new(exe);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Verdicts quote stderr: a one-line error reads better than a backtrace.
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .process_group(0);
    // No stop signal between the spawn and the registration with the stop handler.
    common::sys::block_stop_signals(true);
    let spawned = cmd.spawn();
    let registered = spawned
        .as_ref()
        .ok()
        .map(|c| common::child::adopt(c.id() as i32));
    common::sys::block_stop_signals(false);
    let mut child = spawned.with_context(|| format!("start {}", exe.display()))?;
    let mut tracked = registered.context("no child")??;
    let pid = child.id() as i32;
    let mut stdin = child.stdin.take();
    let stdout = child.stdout.take().context("stdout")?;
    let mut stderr_pipe = child.stderr.take().context("stderr")?;
    // The std handle is not used to wait: `tracked` (a pidfd) does that.
    drop(child);

    let (tx, rx) = mpsc::channel();
    let out_tx = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if out_tx.send(Event::Line(line)).is_err() {
                return;
            }
        }
        let _ = out_tx.send(Event::StdoutClosed);
    });
    let (err_tx, err_rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keep the beginning, and keep reading after it: a program that fills a pipe nobody
        // reads would block, and its verdict would wrongly say "deadlock".
        let mut text = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = stderr_pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            if text.len() < MAX_STDERR {
                text.extend_from_slice(&buf[..n]);
            }
        }
        let _ = err_tx.send(String::from_utf8_lossy(&text).into_owned());
    });
    std::thread::spawn(move || {
        // Blocks on the pidfd, then reaps. The checker's main thread kills on timeout.
        let code = tracked.join().ok().map(|s| s.python_exitcode());
        let _ = tx.send(Event::Exited(code));
    });

    let mut out = Outcome::default();
    let deadline = started + timeout;
    let mut exited = false;
    let mut stdout_open = true;
    while !exited {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Event::Line(line)) => {
                let t = line.trim_end();
                if t == "== checkpoint ==" {
                    out.checkpoint_seen = true;
                    out.children_at_checkpoint = children_of(pid);
                    out.fds_at_checkpoint = open_fds(pid);
                    go_on(&mut stdin);
                } else if let Some(n) = t
                    .strip_prefix("== waiting pid=")
                    .and_then(|r| r.strip_suffix(" =="))
                    .and_then(|n| n.parse::<i32>().ok())
                {
                    out.idle = sample_idle(n);
                    go_on(&mut stdin);
                }
                if out.stdout.len() < MAX_STDOUT_LINES {
                    out.stdout.push(line);
                }
            }
            Ok(Event::StdoutClosed) => stdout_open = false,
            Ok(Event::Exited(code)) => {
                out.exit = code;
                exited = true;
            }
            Err(_) => {
                // Deadline: end the whole group; the waiter thread then reaps the main process.
                out.timed_out = true;
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                loop {
                    match rx.recv_timeout(Duration::from_secs(5)) {
                        Ok(Event::Line(l)) => out.stdout.push(l),
                        Ok(Event::StdoutClosed) => stdout_open = false,
                        Ok(Event::Exited(_)) | Err(_) => break,
                    }
                }
                exited = true;
            }
        }
    }
    // The main process is gone. What is left of the run is a leftover: name it before killing it.
    if !out.timed_out {
        out.leftovers = leftovers(pid);
    }
    clean_up(pid);
    drop(stdin);
    // Collect the rest of the output (every writer is dead now, so EOF comes at once).
    while stdout_open {
        match rx.recv_timeout(Duration::from_secs(2)) {
            Ok(Event::Line(l)) => out.stdout.push(l),
            Ok(Event::StdoutClosed) | Err(_) => stdout_open = false,
            Ok(Event::Exited(_)) => {}
        }
    }
    out.stderr = err_rx
        .recv_timeout(Duration::from_secs(2))
        .unwrap_or_default();
    out.leaked_names = remove_leaked_names(pid);
    out.elapsed = started.elapsed();
    Ok(out)
}

fn go_on(stdin: &mut Option<std::process::ChildStdin>) {
    if let Some(s) = stdin.as_mut() {
        // The program may have ended already: a failed write only means nobody listens.
        let _ = s.write_all(b"\n").and_then(|()| s.flush());
    }
}

fn become_subreaper() -> Result<()> {
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if ONCE.get().is_none() {
        common::child::become_subreaper()?;
        let _ = ONCE.set(());
    }
    Ok(())
}

/// Every process in `/proc` with its parent and group.
fn all_processes() -> Vec<(Proc, i32, i32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let st = common::procfs::stat(pid).ok()??;
            Some((
                Proc {
                    pid,
                    comm: st.comm,
                    state: st.state,
                },
                st.ppid,
                st.pgrp,
            ))
        })
        .collect()
}

/// The children of `pid`, running or zombie.
fn children_of(pid: i32) -> Vec<Proc> {
    all_processes()
        .into_iter()
        .filter(|(_, ppid, _)| *ppid == pid)
        .map(|(p, _, _)| p)
        .collect()
}

/// After the main process `pid` of a run has exited: processes still in its group, and
/// processes re-parented to the checker (the subreaper).
fn leftovers(pid: i32) -> Vec<Proc> {
    let me = std::process::id() as i32;
    all_processes()
        .into_iter()
        .filter(|(p, ppid, pgrp)| p.pid != pid && (*pgrp == pid || *ppid == me))
        .map(|(p, _, _)| p)
        .collect()
}

/// Kill and reap everything [`leftovers`] finds, until nothing is found. Killing one leftover
/// re-parents its own children to us, hence the loop.
fn clean_up(pid: i32) {
    let me = std::process::id() as i32;
    for _ in 0..100 {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        let found: Vec<(Proc, i32, i32)> = all_processes()
            .into_iter()
            .filter(|(p, ppid, pgrp)| p.pid != pid && (*pgrp == pid || *ppid == me))
            .collect();
        if found.is_empty() {
            return;
        }
        for (p, ppid, _) in &found {
            let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
            if *ppid == me {
                // Blocks only until the SIGKILL has done its work.
                let _ = waitpid(Pid::from_raw(p.pid), None);
            }
        }
        // Leftovers whose parent is another leftover are reaped by us once it dies; give the
        // kernel a moment to re-parent them (this runs only when something was left).
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Descriptors of a process as `(fd, target)`.
fn fd_table(pid: &str) -> Vec<(i32, String)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let fd: i32 = e.file_name().to_str()?.parse().ok()?;
        let target = std::fs::read_link(e.path()).ok()?;
        Some((fd, target.display().to_string()))
    })
    .collect()
}

/// Descriptors of `pid` other than 0, 1 and 2 that it opened itself, as `fd -> target`. A
/// descriptor the checker itself inherited without close-on-exec (from a shell, from cargo) is
/// handed down to the attempt too; it is the same fd number with the same target here, and not
/// the student's doing.
fn open_fds(pid: i32) -> Vec<String> {
    let inherited = fd_table("self");
    let mut fds: Vec<(i32, String)> = fd_table(&pid.to_string())
        .into_iter()
        .filter(|(fd, _)| *fd > 2)
        .filter(|entry| !inherited.contains(entry))
        .collect();
    fds.sort();
    fds.into_iter()
        .map(|(fd, t)| format!("{fd} -> {t}"))
        .collect()
}

/// Voluntary context switches of every thread of `pid`, and its CPU ticks (utime + stime).
fn activity(pid: i32) -> Option<(u64, u64)> {
    let mut switches = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(task) = task else { continue };
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            // Voluntary only: the thread gave up the CPU itself (to sleep, to wait). Being
            // preempted on a busy machine, or a backoff's sched_yield, is not a wake-up.
            if let Some(v) = line.strip_prefix("voluntary_ctxt_switches:") {
                switches += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime); rest[0] is field 3.
    let ticks = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    Some((switches, ticks))
}

/// Watch process `pid` for [`IDLE_WINDOW`]. The window starts a little after the announcement,
/// so the few steps between printing the line and going to sleep are not counted.
fn sample_idle(pid: i32) -> Option<IdleSample> {
    std::thread::sleep(Duration::from_millis(50));
    let (s0, t0) = activity(pid)?;
    std::thread::sleep(IDLE_WINDOW);
    let (s1, t1) = activity(pid)?;
    let tick_ms = 1000 / clock_ticks_per_second();
    Some(IdleSample {
        pid,
        wakeups: s1.saturating_sub(s0),
        cpu_ms: t1.saturating_sub(t0) * tick_ms,
    })
}

/// `/proc` counts CPU time in USER_HZ ticks, which Linux fixes at 100 per second on every
/// architecture (whatever the kernel's internal HZ).
fn clock_ticks_per_second() -> u64 {
    100
}

/// The message queues the exercises create are named `/ex-<pid>-<suffix>`, with these suffixes.
const QUEUE_SUFFIXES: &[&str] = &["jobs"];

/// Names containing `ex-<pid>` left in /dev/mqueue (where mounted) or /dev/shm. Each is
/// unlinked, so a failed attempt leaves nothing either.
fn remove_leaked_names(pid: i32) -> Vec<String> {
    let marker = format!("ex-{pid}-");
    let mut leaked = Vec::new();
    for dir in ["/dev/mqueue", "/dev/shm"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(&marker) {
                let _ = std::fs::remove_file(e.path());
                leaked.push(format!("{dir}/{name}"));
            }
        }
    }
    // Without a mounted mqueue filesystem the queue is invisible there: ask for it by name.
    for suffix in QUEUE_SUFFIXES {
        let name = format!("/{marker}{suffix}");
        if let Ok(cname) = std::ffi::CString::new(name.clone()) {
            let opened = nix::mqueue::mq_open(
                cname.as_c_str(),
                nix::mqueue::MQ_OFlag::O_RDONLY,
                nix::sys::stat::Mode::empty(),
                None,
            );
            if let Ok(q) = opened {
                let _ = nix::mqueue::mq_close(q);
                let _ = nix::mqueue::mq_unlink(cname.as_c_str());
                if !leaked.iter().any(|l| l.ends_with(&name)) {
                    leaked.push(format!("message queue {name}"));
                }
            }
        }
    }
    leaked
}
