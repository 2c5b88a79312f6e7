//! The one place in the workspace that forks: Python's `Process(target=...).start()`.
//!
//! ```text
//! Python                                   here
//! p = Process(target=f, name="tom")        let p = child::spawn("tom", move || f(...))?;
//! p.start()                                (spawn starts it)
//! p.pid, p.name                            p.pid(), p.name()
//! p.join(); p.join(timeout=1)              p.join()?; p.join_timeout(secs(1))?
//! p.is_alive()                             p.is_alive()?
//! p.terminate(); p.kill()                  p.terminate()?; p.kill()?
//! p.exitcode                               p.exitcode()   (-N when killed by signal N)
//! ```
//!
//! What happens underneath, and why:
//! - **fork**: the child is a copy of the parent (memory, open fds, the closure's captures). Only
//!   the forking thread is copied, so we refuse to fork from a multi-threaded process: a lock held
//!   by another thread at that instant would stay locked forever in the child.
//! - **stdout is flushed first**, or text buffered in the parent would be printed twice.
//! - **the child leaves through `_exit`**, never by returning into the parent's code: unwinding
//!   out of the closure would run the parent's `main` a second time.
//! - **a panic in the child** is caught (`catch_unwind`) and its message is sent to the parent
//!   through a small *report pipe*; the parent reads it when it reaps ([`Child::panic_message`]).
//! - **children end with the parent**: the child asks the kernel for SIGKILL when its parent dies
//!   (`PR_SET_PDEATHSIG`) and then checks `getppid()`, in case the parent died before that call.
//!   The parent's SIGINT/SIGTERM handler kills and reaps every child it tracks, then exits
//!   130/143. Signals are blocked around fork so no child is ever untracked when it runs.
//! - **joining blocks in the kernel**: `join` is `waitpid`; `join_timeout` is `poll` on a pidfd
//!   (readable when the process exits) and then `waitpid`: no sleep-and-check loop.
//! - **dropping a `Child` never leaves a zombie**: a child still running is killed (SIGKILL) and
//!   reaped. Python instead *joins* non-daemon children at exit; we do not, because a drop that
//!   can block forever (a child stuck on a pipe) is a hang. Call `join` to wait.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Once;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::sys::{self, Forked};

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called exit / `_exit` with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled(Signal),
}

impl ExitStatus {
    /// Python's `Process.exitcode`: the exit code, or `-N` when signal N killed the process.
    pub fn python_exitcode(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => -(s as i32),
        }
    }
    /// True for `exit(0)`.
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Exited(c) => write!(f, "exited with code {c}"),
            ExitStatus::Signaled(s) => write!(f, "killed by {s}"),
        }
    }
}

/// How a child ended, in the words the kernel's account gives: THE sentence the workspace prints
/// when a child failed ("panicked: boom", "exited with code 3", "killed by SIGKILL",
/// "killed by SIGABRT (abort)"). `panic` is the message the child sent over its report pipe,
/// if it panicked (its exit code is then [`EXIT_PANIC`]).
pub fn describe_failure(status: ExitStatus, panic: Option<&str>) -> String {
    match (status, panic) {
        (ExitStatus::Exited(EXIT_PANIC), Some(msg)) => format!("panicked: {msg}"),
        (ExitStatus::Exited(code), _) => format!("exited with code {code}"),
        (ExitStatus::Signaled(Signal::SIGABRT), _) => "killed by SIGABRT (abort)".into(),
        (ExitStatus::Signaled(Signal::SIGSEGV), _) => {
            "killed by SIGSEGV (bad memory access)".into()
        }
        (ExitStatus::Signaled(sig), _) => format!("killed by {sig}"),
    }
}

/// This process's pid, cached. `std::process::id()` is a getpid(2) system call every time
/// (glibc stopped caching it); the lock records its holder's pid on every acquire, and a syscall
/// there made the locked counter 25 times slower. Only [`spawn`] forks in this workspace, and it
/// refreshes the cache in the child, so the cached value is always right.
#[inline]
pub fn my_pid() -> i32 {
    let p = MY_PID.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    let p = std::process::id() as i32;
    MY_PID.store(p, Ordering::Relaxed);
    p
}

static MY_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Exit code of a child whose closure returned `Err` (its message is on stderr).
pub const EXIT_ERROR: i32 = 1;
/// Exit code of a child whose closure panicked (Rust's own code for a panicking `main`).
pub const EXIT_PANIC: i32 = 101;

/// Options for [`spawn_with`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Ask the kernel to SIGKILL the child when its parent dies (default `true`). Only the
    /// `process terminate` demo turns it off, for a grandchild that must outlive its parent.
    pub die_with_parent: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            die_with_parent: true,
        }
    }
}

/// A started child process. See the module doc for the Python mapping.
pub struct Child {
    pid: i32,
    name: String,
    /// Becomes readable when the child exits: lets `join_timeout` block in the kernel.
    pidfd: OwnedFd,
    /// Read end of the report pipe; the child writes a panic message here.
    report: Option<std::fs::File>,
    status: Option<ExitStatus>,
    panic_message: Option<String>,
    slot: usize,
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("name", &self.name)
            .field("status", &self.status)
            .finish()
    }
}

/// Start `f` in a new child process named `name`. See [`spawn_with`].
pub fn spawn<F>(name: impl Into<String>, f: F) -> Result<Child>
where
    F: FnOnce() -> Result<()>,
{
    spawn_with(name, Options::default(), f)
}

static HANDLERS: Once = Once::new();

/// Install the parent's SIGINT/SIGTERM handler (once per process): it kills and reaps every
/// tracked child, prints one `error:` line and exits 130 or 143. `cli::main` calls it at start;
/// `spawn` calls it too, for programs that do not go through `cli::main`.
pub fn install_stop_handlers() -> Result<()> {
    let mut install_err = None;
    HANDLERS.call_once(|| {
        if let Err(e) = sys::install_stop_handlers() {
            install_err = Some(e);
        }
    });
    match install_err {
        Some(e) => Err(e).context("sigaction(SIGINT/SIGTERM)"),
        None => Ok(()),
    }
}

/// Start `f` in a new child process. The child runs `f` and `_exit`s with 0 (Ok), 1 (Err: the
/// error is printed on stderr as one `error:` line) or 101 (panic: reported to the parent).
pub fn spawn_with<F>(name: impl Into<String>, opts: Options, f: F) -> Result<Child>
where
    F: FnOnce() -> Result<()>,
{
    let name = name.into();
    install_stop_handlers()?;

    // The report pipe, O_CLOEXEC so an exec'd program would not inherit it. The parent keeps the
    // read end, the child the write end; each closes the other's right after fork, so the parent
    // sees EOF exactly when the child has exited.
    let (report_r, report_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    let parent_pid = std::process::id() as i32;
    crate::out::flush();

    // Block SIGINT/SIGTERM from fork until the pid is in the table, so the handler cannot run in
    // between and miss this child.
    sys::block_stop_signals(true);
    // sys::fork refuses (with an error) to fork a multi-threaded process.
    let forked = sys::fork();
    match forked {
        Err(e) => {
            sys::block_stop_signals(false);
            Err(e).context(format!("fork (child {name:?})"))
        }
        Ok(Forked::Child) => {
            drop(report_r);
            run_child(name, opts, parent_pid, report_w, f)
        }
        Ok(Forked::Parent(pid)) => {
            drop(report_w);
            let slot = track(pid);
            sys::block_stop_signals(false);
            let pidfd = sys::pidfd_open(pid).context("pidfd_open")?;
            // Non-blocking read end: a grandchild forked by this child inherits the write end and
            // may still hold it after the child is reaped, so a blocking read could wait forever.
            nix::fcntl::fcntl(
                report_r.as_raw_fd(),
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            )
            .context("fcntl(O_NONBLOCK)")?;
            Ok(Child {
                pid,
                name,
                pidfd,
                report: Some(std::fs::File::from(report_r)),
                status: None,
                panic_message: None,
                slot,
            })
        }
    }
}

/// Record a child in the signal handler's table. Returns the slot, or `usize::MAX` if the table
/// is full (the caps of every demo keep far below it).
fn track(pid: i32) -> usize {
    for (i, slot) in sys::CHILD_PIDS.iter().enumerate() {
        if slot
            .compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return i;
        }
    }
    usize::MAX
}

fn untrack(slot: usize) {
    if let Some(s) = sys::CHILD_PIDS.get(slot) {
        s.store(0, Ordering::SeqCst);
    }
}

/// Make this process a "child subreaper": orphaned descendants are re-parented to it instead of
/// PID 1, so it can watch and reap them. The stop handler then also reaps every such orphan.
pub fn become_subreaper() -> Result<()> {
    nix::sys::prctl::set_child_subreaper(true).context("prctl(PR_SET_CHILD_SUBREAPER)")?;
    sys::IS_SUBREAPER.store(true, Ordering::SeqCst);
    Ok(())
}

/// Put a process that was not forked by us (an orphan re-parented to this subreaper) under the
/// same guarantees as our own children: the stop handler kills and reaps it.
pub fn adopt(pid: i32) -> Result<Child> {
    let pidfd = sys::pidfd_open(pid).context("pidfd_open")?;
    Ok(Child {
        pid,
        name: format!("adopted-{pid}"),
        pidfd,
        report: None,
        status: None,
        panic_message: None,
        slot: track(pid),
    })
}

/// [`adopt`], under a name that says what the process is (`tcp-client 2`): errors and
/// [`Child::failure`] then name it instead of `adopted-PID`.
pub fn adopt_named(pid: i32, name: impl Into<String>) -> Result<Child> {
    let mut child = adopt(pid)?;
    child.name = name.into();
    Ok(child)
}

fn run_child<F>(name: String, opts: Options, parent_pid: i32, report_w: OwnedFd, f: F) -> !
where
    F: FnOnce() -> Result<()>,
{
    MY_PID.store(std::process::id() as i32, Ordering::Relaxed);
    // This copy of the parent's table lists our siblings, which are not ours to kill.
    for slot in &sys::CHILD_PIDS {
        slot.store(0, Ordering::SeqCst);
    }
    sys::IS_SUBREAPER.store(false, Ordering::SeqCst);
    sys::reset_stop_signals();
    if opts.die_with_parent {
        // SIGKILL when the parent dies, even by SIGKILL. The parent may already have died
        // between fork and this line, in which case we were re-parented and must go now.
        if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err()
            || nix::unistd::getppid().as_raw() != parent_pid
        {
            sys::exit_now(EXIT_ERROR);
        }
    }
    sys::block_stop_signals(false);
    crate::out::child_started(&name);

    // The default panic hook would print "thread 'main' panicked at ..." plus a backtrace hint
    // from every crashing child. Capture the message instead and hand it to the parent.
    std::panic::set_hook(Box::new(|info| {
        let msg = panic_text(info.payload());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        PANIC_MSG.with(|m| *m.borrow_mut() = Some(format!("{msg}{at}")));
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let code = match result {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            crate::out::flush();
            // One line, named, so a failing child is never silent.
            let _ = writeln!(
                std::io::stderr(),
                "error: child {name} (pid {}): {e:#}",
                std::process::id()
            );
            EXIT_ERROR
        }
        Err(_) => {
            let msg = PANIC_MSG
                .with(|m| m.borrow_mut().take())
                .unwrap_or_else(|| "panic".into());
            let _ = std::fs::File::from(report_w).write_all(msg.as_bytes());
            EXIT_PANIC
        }
    };
    crate::out::flush();
    sys::exit_now(code)
}

thread_local! {
    static PANIC_MSG: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

impl Child {
    /// The child's process id (Python's `p.pid`).
    pub fn pid(&self) -> i32 {
        self.pid
    }
    /// The name given at spawn (Python's `p.name`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// How it ended, once reaped.
    pub fn status(&self) -> Option<ExitStatus> {
        self.status
    }
    /// Python's `p.exitcode`: `None` while running, `-N` if killed by signal N.
    pub fn exitcode(&self) -> Option<i32> {
        self.status.map(ExitStatus::python_exitcode)
    }
    /// The panic message, if the child panicked.
    pub fn panic_message(&self) -> Option<&str> {
        self.panic_message.as_deref()
    }
    /// How it failed, named: `tom (pid 42) panicked: boom`. `None` while it runs, or when it
    /// exited 0. The one place a demo's `error:` line about a child comes from.
    pub fn failure(&self) -> Option<String> {
        let status = self.status?;
        if status.success() {
            return None;
        }
        Some(format!(
            "{} (pid {}) {}",
            self.name,
            self.pid,
            describe_failure(status, self.panic_message())
        ))
    }
    /// A borrowed pidfd, to wait on several children at once with `poll`.
    pub fn pidfd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// Block until the child exits, reap it and return how it ended (Python's `p.join()`).
    /// Idempotent: a second call returns the same status.
    ///
    /// Two steps, on purpose: first wait for the exit *without* reaping (poll on the pidfd, in the
    /// kernel), then reap. Until it is reaped the exited child is a zombie and its pid cannot be
    /// reused, so the stop handler, which kills every pid in its table, can never hit a stranger.
    pub fn join(&mut self) -> Result<ExitStatus> {
        loop {
            if let Some(s) = self.try_reap()? {
                return Ok(s);
            }
            self.wait_exit_unreaped(None)?;
        }
    }

    /// Wait at most `timeout` (Python's `p.join(timeout)`). `Ok(None)`: still running.
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        if self.wait_exit_unreaped(Some(timeout))? {
            self.try_reap()
        } else {
            Ok(None)
        }
    }

    /// Block until the child has exited (or `timeout` ran out) *without reaping it*: the pidfd
    /// becomes readable at exit, but only waitpid frees the zombie. Returns `true` if it exited.
    /// The `process zombie` demo uses this to look at the zombie before reaping.
    pub fn wait_exit_unreaped(&self, timeout: Option<Duration>) -> Result<bool> {
        if self.status.is_some() {
            return Ok(true);
        }
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            let ms = poll_timeout(deadline);
            let mut fds = [PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Ok(n) => return Ok(n > 0),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).context("poll(pidfd)"),
            }
        }
    }

    /// Reap the child if it has exited, without blocking.
    ///
    /// SIGINT/SIGTERM are blocked from the waitpid until the pid has left the stop handler's
    /// table (a few instructions: WNOHANG never blocks), so the handler never sees a pid that
    /// was already reaped and might belong to another process by now.
    pub fn try_reap(&mut self) -> Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        sys::block_stop_signals(true);
        let r = waitpid(Pid::from_raw(self.pid), Some(WaitPidFlag::WNOHANG));
        let status = match r {
            Ok(WaitStatus::StillAlive) => None,
            Ok(ws) => self.record(ws),
            Err(_) => None,
        };
        sys::block_stop_signals(false);
        match r {
            Err(e) => Err(e).context(format!("waitpid({}, WNOHANG)", self.pid)),
            Ok(_) => Ok(status),
        }
    }

    /// Python's `p.is_alive()`. Like Python's, it reaps the child if it has finished.
    pub fn is_alive(&mut self) -> Result<bool> {
        Ok(self.try_reap()?.is_none())
    }

    /// Send SIGTERM (Python's `p.terminate()`). The child is not reaped: call `join`.
    pub fn terminate(&self) -> Result<()> {
        self.signal(Signal::SIGTERM)
    }

    /// Send SIGKILL (Python's `p.kill()`).
    pub fn kill(&self) -> Result<()> {
        self.signal(Signal::SIGKILL)
    }

    /// Send any signal. Safe against pid reuse: until we reap it, the pid stays ours.
    pub fn signal(&self, sig: Signal) -> Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        kill(Pid::from_raw(self.pid), sig).with_context(|| format!("kill({}, {sig})", self.pid))
    }

    fn record(&mut self, ws: WaitStatus) -> Option<ExitStatus> {
        let status = match ws {
            WaitStatus::Exited(_, code) => ExitStatus::Exited(code),
            WaitStatus::Signaled(_, sig, _) => ExitStatus::Signaled(sig),
            _ => return None,
        };
        self.status = Some(status);
        untrack(self.slot);
        if let Some(mut r) = self.report.take() {
            // The child is reaped, so whatever it wrote is in the pipe. The fd is non-blocking:
            // we stop at EOF or at "nothing more now" (a grandchild may still hold the write end).
            let mut msg = Vec::new();
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = r.read(&mut buf) {
                msg.extend_from_slice(&buf[..n]);
            }
            if !msg.is_empty() {
                self.panic_message = Some(String::from_utf8_lossy(&msg).into_owned());
            }
        }
        Some(status)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.kill();
            let _ = self.join();
        }
    }
}

/// Wait until any one of `children` that is still running exits, blocking in the kernel (poll on
/// all their pidfds), or until `timeout`. Returns the index of one that exited and has been reaped.
pub fn wait_any(children: &mut [Child], timeout: Option<Duration>) -> Result<Option<usize>> {
    let running: Vec<usize> = (0..children.len())
        .filter(|&i| children[i].status.is_none())
        .collect();
    if running.is_empty() {
        return Ok(None);
    }
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let ms = poll_timeout(deadline);
        let ready = {
            let mut fds: Vec<PollFd> = running
                .iter()
                .map(|&i| PollFd::new(children[i].pidfd.as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, ms) {
                Ok(0) => return Ok(None),
                Ok(_) => fds
                    .iter()
                    .position(|f| f.revents().is_some_and(|r| !r.is_empty())),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).context("poll(pidfds)"),
            }
        };
        if let Some(k) = ready {
            let i = running[k];
            children[i].join()?;
            return Ok(Some(i));
        }
    }
}

/// What is left until `deadline`, as poll(2)'s timeout (`None`: wait forever).
fn poll_timeout(deadline: Option<std::time::Instant>) -> PollTimeout {
    match deadline {
        None => PollTimeout::NONE,
        Some(d) => {
            let left = d.saturating_duration_since(std::time::Instant::now());
            PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX)
        }
    }
}

/// The raw fd number of a child's pidfd, for diagnostics.
pub fn pidfd_number(c: &Child) -> i32 {
    c.pidfd.as_raw_fd()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_read_like_the_kernel_said() {
        assert_eq!(
            describe_failure(ExitStatus::Signaled(Signal::SIGKILL), None),
            "killed by SIGKILL"
        );
        assert_eq!(
            describe_failure(ExitStatus::Exited(EXIT_PANIC), Some("boom at x.rs:1")),
            "panicked: boom at x.rs:1"
        );
        assert_eq!(
            describe_failure(ExitStatus::Exited(3), None),
            "exited with code 3"
        );
        assert_eq!(
            describe_failure(ExitStatus::Signaled(Signal::SIGABRT), None),
            "killed by SIGABRT (abort)"
        );
    }
}
