//! # `process`: the Process lifecycle (note 004)
//!
//! Reproduces note `004_e9825b7d42d322ab.txt`: **多道技术** (multiprogramming), **并发与并行**
//! (concurrency and parallelism), **Process类介绍** (the Process class: target, args, kwargs,
//! name; start, join, terminate, daemon, pid), **在UNIX创建的子进程，会拷贝父进程的初始状态**
//! (a child starts as a copy of its parent), and the **two join situations** (情况一/情况二).
//!
//! The Python shape:
//!
//! ```python
//! import os, time
//! from multiprocessing import Process
//!
//! def task(n, word, greeting="hi"):
//!     print(greeting, n, word, os.getpid())
//!     time.sleep(0.2)
//!
//! p = Process(target=task, args=(1, "apple"), kwargs={"greeting": "hello"}, name="worker-1")
//! p.daemon = False
//! p.start()          # fork: a copy of this process runs task(...)
//! p.join(0.05)       # wait for it (or give up after the timeout)
//! p.terminate()      # SIGTERM
//! p.join()
//! print(p.exitcode)  # 0, the code it exited with, or -N if signal N killed it: -15 here
//! ```
//!
//! What the OS does: `start` is fork(2) (Python's default on Linux before 3.14); the child is a
//! copy of the parent, so the target, its arguments and every variable are simply *there* in the
//! child: nothing is sent. `join` is waitpid(2), which also *reaps* the child: until then the
//! kernel keeps its exit status in a zombie entry (`Z` in `/proc`). `terminate` is kill(2) with
//! SIGTERM. The fork wrapper lives in `common::child`; this crate shows each behaviour.
//!
//! | subcommand | file | shows |
//! |---|---|---|
//! | `lifecycle` | [`lifecycle`] | target/args/kwargs/name, pid and ppid, exit codes, both join situations |
//! | `fork-copy` | [`fork_copy`] | the child's change to a variable never reaches the parent |
//! | `join-timeout` | [`join_timeout`] | `join(timeout)` returns while the child runs; `is_alive`; the label says the scaled timeout |
//! | `terminate` | [`terminate`] | exitcode -15; the grandchild is orphaned and re-parented, not a zombie |
//! | `zombie` | [`zombie`] | an exited, unreaped child is `Z`; after waitpid it is gone |
//! | `edges` | [`edges`] | Python's rules (default names, pid before start, run() in the caller, group, daemon's children, daemon after start, join before start, kwargs), Python's words beside ours |
//! | `daemon` | [`daemon`] | daemon children are terminated at the end, normal ones waited for; the parent SIGKILLed: Python's daemon lives on, ours dies |
//! | `lock-held` | [`lock_held`] | terminating a lock holder leaves the lock held forever |
//! | `multiprogramming` | [`multiprogramming`] | on one CPU: switched out on IO (voluntary) vs time slice (involuntary); which CPU a process resumes on after an IO wait; `--trace` |
//! | `parallel` | [`parallel`] | two CPU-bound processes on one CPU vs on all CPUs; `--trace` |
//!
//! ## 笔记勘误 (where the notes are imprecise)
//! - *"p.terminate(): if p created a child, that child becomes a zombie"*: no. A zombie is a
//!   process that has *exited* and not been reaped. The grandchild keeps *running*; it becomes an
//!   **orphan** and is re-parented (to PID 1, or to the nearest "child subreaper"), whose job is
//!   to reap it when it exits. `terminate` shows this from `/proc`.
//! - *"daemon: when p's parent terminates, p terminates too"*: only when the parent ends
//!   *normally*. Python terminates daemonic children in an atexit hook; if the parent is killed
//!   (SIGKILL), the hook never runs and its daemons live on. This workspace's children ask the
//!   kernel for `PR_SET_PDEATHSIG`, so here every child dies with its parent, however it dies.
//! - *"join: the main thread waits"*: more exactly, join is waitpid: it waits *and* collects the
//!   exit status, freeing the zombie entry. A child that is never joined stays a zombie.

pub mod cpu;
pub mod daemon;
pub mod edges;
pub mod fork_copy;
pub mod gate;
pub mod join_timeout;
pub mod lifecycle;
pub mod lock_held;
pub mod multiprogramming;
pub mod parallel;
pub mod terminate;
pub mod zombie;

use anyhow::Result;
use clap::{Parser, Subcommand};
use common::cli::CommonArgs;

/// Most children one run may start (`--children`).
pub const MAX_CHILDREN: u32 = 64;

/// The Process lifecycle (note 004): start, pid, name, join, terminate, daemon, exit codes.
#[derive(Parser, Debug)]
#[command(name = "process", version, about, long_about = None, 
          after_help = "Without a subcommand: lifecycle.")]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// One subcommand per point of the notes.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Start children with target, args, kwargs and a name; join them both ways (the default).
    Lifecycle(lifecycle::Args),
    /// The child gets a copy of the parent's memory: its change never reaches the parent.
    ForkCopy,
    /// join(timeout) returns while the child still runs; a later join gets the exit code.
    JoinTimeout(join_timeout::Args),
    /// terminate() a child that has a child of its own: what happens to the grandchild.
    Terminate(terminate::Args),
    /// An exited but unreaped child is a zombie (state Z) until waitpid.
    Zombie,
    /// Daemon children are terminated when the parent finishes; normal ones are waited for.
    Daemon,
    /// Python's rules for Process (names, pid before start, run(), group, daemon, join), beside ours.
    Edges,
    /// terminate() a child holding a cross-process lock: the lock is never released.
    LockHeld(lock_held::Args),
    /// 多道技术: a CPU-bound and an IO-bound process sharing one CPU.
    Multiprogramming(multiprogramming::Args),
    /// 并发与并行: two CPU-bound processes on one CPU vs on all CPUs.
    Parallel(parallel::Args),
}

/// Run the chosen subcommand.
pub fn run(cli: Cli) -> Result<()> {
    match cli
        .cmd
        .unwrap_or(Cmd::Lifecycle(lifecycle::Args::default()))
    {
        Cmd::Lifecycle(args) => lifecycle::run(&args),
        Cmd::ForkCopy => fork_copy::run(),
        Cmd::JoinTimeout(args) => join_timeout::run(&args),
        Cmd::Terminate(args) => terminate::run(&args),
        Cmd::Zombie => zombie::run(),
        Cmd::Daemon => daemon::run(),
        Cmd::Edges => edges::run(),
        Cmd::LockHeld(args) => lock_held::run(&args),
        Cmd::Multiprogramming(args) => multiprogramming::run(&args),
        Cmd::Parallel(args) => parallel::run(&args),
    }
}
