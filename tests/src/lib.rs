//! The test harness every test file of this crate uses (in the style of ripgrep's): run one demo
//! binary, parse its JSON Lines, print the whole command and output when something fails, and
//! fail when any process of the run is left behind, alive or zombie.
//!
//! How it keeps its promises:
//! - **Fresh binaries.** A plain `cargo test` builds only this package's own targets, not the
//!   other members' binaries. [`bin`] runs `cargo build -p NAME --bin NAME` once per test process
//!   and takes the path cargo reports, so a test never runs a stale binary lying in `target/`.
//! - **Own process group.** Each demo starts in a new process group (its pid is the group id), so
//!   every process it forks can be found afterwards by group, and a Ctrl-C can be imitated by
//!   signalling the whole group, as a terminal does.
//! - **Subreaper.** The test process makes itself a child subreaper. If a demo dies (or leaks a
//!   child), its orphans are handed to us rather than to PID 1, which on these machines reaps late:
//!   we can see them, wait for them with a deadline, reap them, and fail the test.
//! - **Timeouts everywhere.** Waiting happens on a channel with `recv_timeout` (a blocked thread
//!   sits in `waitpid`); on timeout the whole group is SIGKILLed and the test fails.
//! - **No fork here.** Demos are started with `std::process::Command` (fork+exec of a fresh
//!   program); the harness never forks a copy of itself.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use serde_json::Value;

pub use assert_cmd::assert::Assert;
pub use predicates;
pub use serde_json::json;

pub mod soak;
pub mod soak_cases;
pub mod trace;

/// How long one demo run may take before the harness kills it and fails the test.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long children may take to die after their parent was SIGKILLed (CONTRIBUTING.md: 2 s).
pub const ORPHAN_DEADLINE: Duration = Duration::from_secs(2);

/// The path of a freshly built binary of workspace member `name` (built once per test process).
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(name) {
        return p.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--message-format=json-render-diagnostics",
        ])
        .args(["-p", name, "--bin", name])
        // The test-only hooks (forced faults, hidden flags) exist only with this feature; a
        // student's `cargo run -p NAME` builds without it, so its binary has none of them.
        .args(["--features", &format!("{name}/fault-injection")]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build");
    assert!(out.status.success(), "cargo build -p {name} failed");
    let exe = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == name)
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo build -p {name} reported no executable"));
    built.insert(name.to_string(), exe.clone());
    exe
}

fn become_subreaper() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        nix::sys::prctl::set_child_subreaper(true).expect("prctl(PR_SET_CHILD_SUBREAPER)");
    });
}

/// A demo run in progress.
pub struct Running {
    cmdline: String,
    child: Option<std::process::Child>,
    pid: i32,
    lines: Receiver<String>,
    stdout_seen: Vec<String>,
    stdout_reader: Option<JoinHandle<()>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<JoinHandle<()>>,
    started: Instant,
    timeout: Duration,
}

/// Start demo `name` with `args`, in its own process group, stdout and stderr captured.
pub fn start(name: &str, args: &[&str]) -> Running {
    start_head(name, args, usize::MAX)
}

/// Like [`start`], but close our end of the demo's stdout after reading `lines` lines, as
/// `demo | head -n LINES` does: the demo's next write fails with EPIPE.
pub fn start_head(name: &str, args: &[&str], max_lines: usize) -> Running {
    start_program(&bin(name), name, args, max_lines)
}

/// Start any program under the harness's rules (own group, captured output, leftover check).
/// The demos go through [`start`]; this exists so the harness can be tested on itself.
pub fn start_program(
    exe: &std::path::Path,
    name: &str,
    args: &[&str],
    max_lines: usize,
) -> Running {
    become_subreaper();
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let cmdline = format!("{name} {}", args.join(" "));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
    let pid = child.id() as i32;
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    let stdout_reader = std::thread::spawn(move || {
        // `take` ends the loop after `lines` lines; the reader (and the pipe) is dropped then.
        for line in BufReader::new(stdout).lines().take(max_lines) {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let sink = stderr.clone();
    let stderr_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        sink.lock().unwrap_or_else(|e| e.into_inner()).extend(buf);
    });
    Running {
        cmdline,
        child: Some(child),
        pid,
        lines,
        stdout_seen: Vec::new(),
        stdout_reader: Some(stdout_reader),
        stderr,
        stderr_reader: Some(stderr_reader),
        started: Instant::now(),
        timeout: RUN_TIMEOUT,
    }
}

/// Run `name` with `--json --time-scale 0` plus `args`, to completion, and check nothing is left.
pub fn run_json(name: &str, args: &[&str]) -> Run {
    let mut all = vec!["--json", "--time-scale", "0"];
    all.extend_from_slice(args);
    start(name, &all).finish()
}

/// Run `name` with exactly `args`, to completion, and check nothing is left.
pub fn run(name: &str, args: &[&str]) -> Run {
    start(name, args).finish()
}

/// Run `name` with the arguments of one line, split on whitespace, as a student types them:
/// `cmd("pipe", "greet --names tom,zack --json --time-scale 0")`. To completion, in its own
/// process group, with the timeout and the leftover-process check of [`start`].
pub fn cmd(name: &str, line: &str) -> Run {
    let args: Vec<&str> = line.split_whitespace().collect();
    start(name, &args).finish()
}

impl Running {
    /// The demo's pid (also its process group id).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Block until a stdout line satisfies `pred` (JSON lines are parsed; prose lines are given
    /// as JSON strings). Panics, after killing the run, if it does not come within `timeout`.
    pub fn wait_for(&mut self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let v = serde_json::from_str(&line).unwrap_or(Value::String(line.clone()));
                    self.stdout_seen.push(line);
                    if pred(&v) {
                        return v;
                    }
                }
                Err(e) => {
                    let why = match e {
                        RecvTimeoutError::Timeout => "timed out waiting for a line",
                        RecvTimeoutError::Disconnected => "stdout closed before the line came",
                    };
                    self.kill_group();
                    let run = self.collect(None, false);
                    panic!("{why}\n{}", run.report());
                }
            }
        }
    }

    /// Call the run a hang after `timeout` instead of [`RUN_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Running {
        self.timeout = timeout;
        self
    }

    /// Wait up to `timeout` for one more stdout line. `false` if none came (the demo ended or is
    /// silent); never panics.
    pub fn try_wait_line(&mut self, timeout: Duration) -> bool {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.stdout_seen.push(line);
                true
            }
            Err(_) => false,
        }
    }

    /// Wait for a JSON event named `event`.
    pub fn wait_for_event(&mut self, event: &str, timeout: Duration) -> Value {
        self.wait_for(timeout, |v| v["event"] == event)
    }

    /// Send `sig` to the demo's top process only.
    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid), sig).expect("kill");
    }

    /// Send `sig` to the whole process group, as a terminal's Ctrl-C does.
    pub fn signal_group(&self, sig: Signal) {
        killpg(Pid::from_raw(self.pid), sig).expect("killpg");
    }

    fn kill_group(&self) {
        let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
    }

    /// Wait (at most [`RUN_TIMEOUT`]) for the demo to exit, then check that no process of its
    /// group is left. Children of a demo killed by SIGKILL get [`ORPHAN_DEADLINE`] to die.
    pub fn finish(self) -> Run {
        self.finish_with(true)
    }

    /// Like [`Running::finish`], but record a hang or leftovers in the returned `Run`
    /// (`status: None`, `leftovers`) instead of panicking: for the soak runner, which counts.
    pub fn finish_lenient(self) -> Run {
        self.finish_with(false)
    }

    fn finish_with(mut self, strict: bool) -> Run {
        let child = self.child.take().expect("finish once");
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let mut child = child;
            let _ = tx.send(child.wait());
        });
        let left = self.timeout.saturating_sub(self.started.elapsed());
        let status = match rx.recv_timeout(left) {
            Ok(s) => Some(s.expect("wait for demo")),
            Err(_) => {
                self.kill_group();
                None
            }
        };
        let _ = waiter.join();
        self.collect(status, strict)
    }

    fn collect(&mut self, status: Option<std::process::ExitStatus>, strict: bool) -> Run {
        let killed_by_sigkill = status.is_some_and(|s| s.signal() == Some(libc::SIGKILL));
        let leftovers = reap_group(
            self.pid,
            if killed_by_sigkill {
                ORPHAN_DEADLINE
            } else {
                Duration::ZERO
            },
        );
        // Leftovers were killed by reap_group, so the pipes' last writers are gone.
        if let Some(h) = self.stdout_reader.take() {
            let _ = h.join();
        }
        if let Some(h) = self.stderr_reader.take() {
            let _ = h.join();
        }
        while let Ok(l) = self.lines.try_recv() {
            self.stdout_seen.push(l);
        }
        let stderr =
            String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|e| e.into_inner()))
                .into_owned();
        let run = Run {
            timeout: self.timeout,
            pid: self.pid,
            cmdline: self.cmdline.clone(),
            status,
            stdout: self.stdout_seen.join("\n")
                + if self.stdout_seen.is_empty() {
                    ""
                } else {
                    "\n"
                },
            stderr,
            leftovers,
            elapsed: self.started.elapsed(),
        };
        if !strict {
            return run;
        }
        if status.is_none() {
            panic!(
                "the demo did not finish within {:?}\n{}",
                run.timeout,
                run.report()
            );
        }
        if !run.leftovers.is_empty() {
            panic!(
                "processes left behind: {:?}\n{}",
                run.leftovers,
                run.report()
            );
        }
        run
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.kill_group();
            if let Some(mut c) = self.child.take() {
                let _ = c.wait();
            }
            let _ = reap_group(self.pid, ORPHAN_DEADLINE);
        }
    }
}

/// Every process in group `pgid`, with its state letter and parent.
pub fn group_members(pgid: i32) -> Vec<(i32, char, i32)> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = text.rfind(')') else {
            continue;
        };
        let f: Vec<&str> = text[close + 1..].split_whitespace().collect();
        let (Some(state), Some(ppid), Some(pgrp)) = (f.first(), f.get(1), f.get(2)) else {
            continue;
        };
        if pgrp.parse::<i32>().ok() == Some(pgid) {
            found.push((
                pid,
                state.chars().next().unwrap_or('?'),
                ppid.parse().unwrap_or(0),
            ));
        }
    }
    found
}

/// Find what is left of group `pgid`. With a zero `grace`, anything at all is a leftover (the
/// demo exited normally and should have reaped everything). With a `grace` (the demo was
/// SIGKILLed), members may take that long to die: we wait for each one's exit on a pidfd (which
/// works for any process, not only our children), then count what is still alive.
/// Everything found is then killed and reaped (orphans come to us: we are a subreaper), so one
/// failing test does not leave processes for the next.
fn reap_group(pgid: i32, grace: Duration) -> Vec<String> {
    let first = group_members(pgid);
    if first.is_empty() {
        return Vec::new();
    }
    let mut leftovers = Vec::new();
    if grace.is_zero() {
        for &(pid, state, ppid) in &first {
            leftovers.push(format!("pid {pid} state {state} ppid {ppid}"));
        }
    } else {
        let deadline = Instant::now() + grace;
        for &(pid, _, _) in &first {
            wait_exit(pid, deadline.saturating_duration_since(Instant::now()));
        }
        for (pid, state, ppid) in group_members(pgid) {
            if state != 'Z' && state != 'X' {
                leftovers.push(format!(
                    "pid {pid} (state {state}, ppid {ppid}) still alive {grace:?} after its parent was killed"
                ));
            }
        }
    }
    // Clean up. Members whose parent is still dying become ours a moment later: a few passes.
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    let me = std::process::id() as i32;
    for _ in 0..5 {
        let members = group_members(pgid);
        if members.is_empty() {
            break;
        }
        for (pid, _, ppid) in members {
            wait_exit(pid, Duration::from_secs(1));
            if ppid == me {
                let _ = waitpid(
                    Pid::from_raw(pid),
                    Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                );
            }
        }
    }
    leftovers
}

/// Block (poll on a pidfd) until process `pid` has exited, or `timeout`. No-op if it is gone.
fn wait_exit(pid: i32, timeout: Duration) {
    use std::os::fd::AsFd;
    let Ok(fd) = common::sys::pidfd_open(pid) else {
        return;
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    let mut fds = [nix::poll::PollFd::new(
        fd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let _ = nix::poll::poll(
        &mut fds,
        nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX),
    );
}

/// A finished demo run.
#[derive(Debug, Clone)]
pub struct Run {
    /// How long the harness waited before calling it a hang.
    pub timeout: Duration,
    /// The demo's pid (names of its kernel objects carry it).
    pub pid: i32,
    /// The command, for failure reports.
    pub cmdline: String,
    /// `None` if it had to be killed for taking too long.
    pub status: Option<std::process::ExitStatus>,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
    /// Processes found after the run (always empty in a returned `Run`).
    pub leftovers: Vec<String>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Run {
    /// The whole command and output, for a failure message.
    pub fn report(&self) -> String {
        format!(
            "--- command: {}\n--- status: {:?} after {:?}\n--- stdout:\n{}--- stderr:\n{}---",
            self.cmdline, self.status, self.elapsed, self.stdout, self.stderr
        )
    }

    /// The exit code (`None` if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Fail with the full report unless `cond`.
    #[track_caller]
    pub fn check(&self, cond: bool, what: &str) -> &Self {
        if !cond {
            panic!("{what}\n{}", self.report());
        }
        self
    }

    /// Assert an exit code.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        self.check(
            self.code() == Some(code),
            &format!("expected exit code {code}"),
        )
    }

    /// Every stdout line parsed as JSON (fails on a line that is not a JSON object with
    /// `event`, `t_ms` and `pid`).
    #[track_caller]
    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", self.report()));
                let ok = v["event"].is_string() && v["t_ms"].is_number() && v["pid"].is_number();
                self.check(ok, &format!("event without event/t_ms/pid: {l}"));
                v
            })
            .collect()
    }

    /// Events with the given name.
    #[track_caller]
    pub fn events_named(&self, name: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == name)
            .collect()
    }

    /// The last line, which must be the summary (with a `seed`).
    #[track_caller]
    pub fn summary(&self) -> Value {
        let events = self.events();
        let last = events.last().cloned().unwrap_or(Value::Null);
        self.check(
            last["event"] == "summary" && last["seed"].is_u64(),
            "the last line is not a summary with a seed",
        );
        last
    }

    /// The summary line parsed into the demo's own summary type. A field the type names that
    /// the line lacks (or holds with the wrong type) fails the test with the whole output, so a
    /// renamed or dropped field cannot pass unnoticed.
    #[track_caller]
    pub fn summary_as<T: serde::de::DeserializeOwned>(&self) -> T {
        let summary = self.summary();
        serde_json::from_value(summary.clone()).unwrap_or_else(|e| {
            panic!(
                "the summary does not fit {}: {e}\n{}",
                std::any::type_name::<T>(),
                self.report()
            )
        })
    }

    /// Success (exit 0), and the summary parsed into `T` (see [`Run::summary_as`]).
    #[track_caller]
    pub fn ok_summary_as<T: serde::de::DeserializeOwned>(&self) -> T {
        self.expect_code(0);
        self.summary_as()
    }

    /// Success, and the summary.
    #[track_caller]
    pub fn ok_summary(&self) -> Value {
        self.expect_code(0);
        self.summary()
    }

    /// Exactly one line on stderr, starting `error:` (an interrupted or failed demo speaks once,
    /// not once per process).
    #[track_caller]
    pub fn expect_one_error_line(&self) -> &Self {
        let lines: Vec<&str> = self.stderr.lines().collect();
        self.check(
            lines.len() == 1 && lines[0].starts_with("error:"),
            "stderr should be exactly one `error:` line",
        )
    }

    /// A usage error: exit 2, nothing on stdout, exactly one stderr line, starting `error:` and
    /// containing every one of `mentions` (the flag, the value).
    #[track_caller]
    pub fn expect_usage_error(&self, mentions: &[&str]) -> &Self {
        self.expect_code(2);
        self.check(self.stdout.is_empty(), "stdout should be empty");
        let lines: Vec<&str> = self.stderr.lines().collect();
        self.check(
            lines.len() == 1 && lines[0].starts_with("error:"),
            "stderr should be exactly one `error:` line",
        );
        for m in mentions {
            self.check(
                lines[0].contains(m),
                &format!("the error line should mention {m:?}"),
            );
        }
        self
    }

    /// An assert_cmd `Assert` over this run's output, for predicate-style checks.
    pub fn assert(&self) -> Assert {
        let output = std::process::Output {
            status: self
                .status
                .unwrap_or_else(|| std::process::ExitStatus::from_raw(9)),
            stdout: self.stdout.clone().into_bytes(),
            stderr: self.stderr.clone().into_bytes(),
        };
        Assert::new(output).append_context("command", self.cmdline.clone())
    }
}

/// Named kernel objects (POSIX shm and mqueue) whose name contains `pid`: there must be none
/// after a run. mqueue names are visible only where `/dev/mqueue` is mounted (`.ci/run` mounts it).
pub fn named_objects_of(pid: i32) -> Vec<String> {
    let needle = pid.to_string();
    let mut found = Vec::new();
    for dir in ["/dev/shm", "/dev/mqueue"] {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                // The pid as a whole number in the name: 2415 must not match a run of pid 24150.
                let whole = n.match_indices(&needle).any(|(at, _)| {
                    let before = n[..at].chars().next_back();
                    let after = n[at + needle.len()..].chars().next();
                    !before.is_some_and(|c| c.is_ascii_digit())
                        && !after.is_some_and(|c| c.is_ascii_digit())
                });
                if whole {
                    found.push(format!("{dir}/{n}"));
                }
            }
        }
    }
    found
}

/// A file in the temporary directory for one run (`--trace FILE`, `--svg FILE`), removed when
/// dropped, also when the test fails. Unique per test process and per call.
#[derive(Debug)]
pub struct TempPath(pub PathBuf);

impl TempPath {
    /// A fresh path ending in `tag` (`"gil.json"`).
    pub fn new(tag: &str) -> TempPath {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = format!("tests-{}-{n}-{tag}", std::process::id());
        TempPath(std::env::temp_dir().join(file))
    }

    /// The path as a command-line argument.
    pub fn arg(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `python3` on the PATH, if there is one (a demo with a Python side must say so when there is
/// not; tests check that it did).
pub fn python3() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("python3"))
        .find(|p| p.is_file())
}

/// `python3`, which the test suite requires: the Python side of a lesson (the docs' snippets,
/// Python's own error texts) is checked by running it, never skipped.
pub fn require_python3() -> PathBuf {
    python3().expect("python3 on the PATH: the tests run the Python side of the lessons with it")
}

/// Seeds for tests that sweep several: fixed, so a failure repeats.
pub const SEEDS: [u64; 5] = [1, 2, 3, 42, 20261122];

/// Every demo binary of the workspace.
pub const DEMOS: [&str; 8] = [
    "process",
    "pipe",
    "queue",
    "shared-mem",
    "threads",
    "pool",
    "prodcons",
    "ipc",
];

/// The `--help` text of `demo` (or of one of its subcommands).
pub fn help_of(demo: &str, sub: &str) -> String {
    let args: Vec<&str> = if sub.is_empty() {
        vec!["--help"]
    } else {
        vec![sub, "--help"]
    };
    let run = run(demo, &args);
    run.expect_code(0);
    run.stdout.clone()
}

/// The subcommands a demo's `--help` lists (without clap's own `help`).
pub fn subcommands(demo: &str) -> Vec<String> {
    let help = help_of(demo, "");
    let mut subs = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
            continue;
        }
        if in_commands {
            if !line.starts_with("  ") {
                break;
            }
            if let Some(name) = line.split_whitespace().next() {
                if name != "help" {
                    subs.push(name.to_string());
                }
            }
        }
    }
    subs
}

/// The flags of a `--help` text that take a number: those with a numeric `[default: N]`, or a
/// value name that says so (`<N>`, `<MS>`, `<SECONDS>`, `<COUNT>`...). `--seed` and
/// `--time-scale` are left to the common-flag checks.
pub fn numeric_flags(help: &str) -> Vec<String> {
    let mut flags = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        let Some(rest) = t.strip_prefix("--") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name == "seed" || name == "time-scale" || !t.contains(" <") {
            continue;
        }
        let numeric_default = t
            .split("[default: ")
            .nth(1)
            .and_then(|d| d.split(']').next())
            .is_some_and(|d| d.parse::<f64>().is_ok());
        let numeric_name = ["<N>", "<MS>", "<SECONDS>", "<COUNT>", "<BYTES>", "<SIZE>"]
            .iter()
            .any(|v| t.contains(v));
        if numeric_default || numeric_name {
            flags.push(format!("--{name}"));
        }
    }
    flags
}
