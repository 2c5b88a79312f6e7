//! # `ipc`: the six ways processes talk, side by side (note 000)
//!
//! Reproduces the list in note `000_37375f4097d3e74d.txt`, **关注度比较高的进程间通信方式**:
//! 管道 (pipes), 消息队列 (message queues), 共享内存 (shared memory), 信号 (signals, "底层"),
//! 信号量 (semaphores) and 套接字 (sockets, "使用最多"), and its closing **总结三种进程通信方式**.
//! Pipes, queues and shared memory have their own members (`pipe`, `queue`, `shared-mem`); this
//! one reuses them and adds the other three, then measures all of them on one screen.
//!
//! The Python shape (each mechanism as CPython exposes it; runnable as written):
//!
//! ```python
//! import os, signal
//! import multiprocessing as mp
//! from multiprocessing.connection import Listener
//! r, w = os.pipe(); os.write(w, b'hi'); print(os.read(r, 2))   # 管道: bytes, no boundaries
//! q = mp.Queue(); q.put((2, 3)); print(q.get())                # 消息队列: whole objects, FIFO
//! v = mp.Value('i', 0); v.value = 5                            # 共享内存: one slot, overwritten
//! signal.signal(signal.SIGUSR1, lambda sig, frame: print('got', sig))
//! os.kill(os.getpid(), signal.SIGUSR1)                         # 信号: a number, may merge
//! s = mp.Semaphore(2); s.acquire(); s.release()                # 信号量: a counter, no data
//! with Listener(('127.0.0.1', 0), authkey=b'k') as l:          # 套接字: any process, any host
//!     print(l.address)
//! ```
//!
//! What the OS does: a pipe and a socket are kernel buffers reached through file descriptors
//! (`read`/`write`, two copies per message); a POSIX message queue is a kernel list of whole
//! messages with a name (`mq_open`); shared memory is the same physical page mapped in two
//! processes (no syscall per message, but no notification either: a futex or a semaphore must
//! be added); a signal is one bit per signal number in the receiver's pending set (standard
//! signals) or a queued entry with an integer (realtime signals, `sigqueue`); a POSIX semaphore
//! is a counter in shared memory whose waiters sleep on a futex (`sem_open` names it
//! `/dev/shm/sem.NAME`).
//!
//! | subcommand | file | shows |
//! |---|---|---|
//! | `compare` (default) | [`compare`], [`mechanisms`] | the same N messages through nine channels: delivered, msgs/s, round trip, boundaries, unrelated processes, what a dead writer leaves |
//! | `signals` | [`signals`] | 10 blocked `SIGUSR1` arrive as one; 10 `sigqueue(SIGRTMIN, value)` arrive as 10, in order; `SIGCHLD` for reaping; Python's handlers |
//! | `semaphore` | [`semaphore`] | `Semaphore(2)` shared by 5 processes as a timeline; the name under `/dev/shm`; a killed holder leaks its permit; `BoundedSemaphore` |
//! | `socket` | [`socket`], [`auth`], [`role`] | TCP on 127.0.0.1 with exec'd clients, a named `AF_UNIX` socket, `Listener`/`Client` with an authkey, a memfd passed over `SCM_RIGHTS` |
//!
//! ## 笔记勘误 (where the notes are imprecise)
//! - *"共享内存的效率最高"* (shared memory is the most efficient): per message, yes, when both
//!   sides are running: no syscall. But a bare slot delivers only what the reader happens to
//!   see (`compare`'s "shm slot" row shows fewer than N), so real shared-memory channels add a
//!   protocol (a ring and a futex: the `queue` row; two semaphores: the "semaphore + slot" row),
//!   and the protocol is what costs. The `queue` row is shared memory too.
//! - *"信号(底层)"*: signals carry no data beyond their number (standard) or one integer
//!   (realtime), and standard signals are not counted: ten `SIGUSR1` sent while blocked arrive
//!   as one (`signals`). They are for events ("a child exited", "stop"), not messages.
//! - *"信号量"* is listed as a communication method, but a semaphore carries no data: it only
//!   counts. It guards or signals access to something that does (a slot, a file, a pool).
//! - *"套接字(使用最多)"*: used most because it is the only one of the six that works between
//!   processes that share no ancestor and across machines, and because it is the same API
//!   either way; not because it is fastest on one machine (it is not: see `compare`).
//! - *"消息队列"* in Python is `multiprocessing.Queue`, a pipe plus a feeder thread, not the
//!   kernel's POSIX message queue (`mq_open`); both rows are in `compare`.

pub mod auth;
pub mod compare;
pub mod mechanisms;
pub mod role;
pub mod semaphore;
pub mod signals;
pub mod socket;

use anyhow::Result;
use clap::{Parser, Subcommand};
use common::cli::CommonArgs;
use common::trace;

/// The six IPC mechanisms of note 000 side by side: pipes, queues, shared memory, signals,
/// semaphores, sockets.
#[derive(Parser, Debug)]
#[command(name = "ipc", version, about, long_about = None,
          after_help = "Without a subcommand: compare (every mechanism on one table).")]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// One subcommand per point.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// The same N messages through every mechanism: one table (the default).
    Compare(compare::Args),
    /// Standard signals merge, realtime signals queue with values; SIGCHLD; sigwaitinfo.
    Signals(signals::Args),
    /// A named POSIX semaphore shared by processes: at most N inside, a leaked permit, bounded.
    Semaphore(semaphore::Args),
    /// TCP and Unix sockets between unrelated (exec'd) processes, authkey, a memfd over SCM_RIGHTS.
    Socket(socket::Args),
    /// Internal: the exec'd peers of `socket` (not for direct use).
    #[command(hide = true)]
    Role(role::Args),
}

/// Run the chosen subcommand.
pub fn run(cli: Cli) -> Result<()> {
    match cli.cmd.unwrap_or(Cmd::Compare(compare::Args::default())) {
        Cmd::Compare(a) => compare::run(&a),
        Cmd::Signals(a) => signals::run(&a),
        Cmd::Semaphore(a) => semaphore::run(&a),
        Cmd::Socket(a) => socket::run(&a),
        Cmd::Role(a) => role::run(&a),
    }
}

/// A slice of `--trace` on this thread's track, from now until the guard is dropped; without
/// `--trace`, nothing but the flag check (no clock read, no `gettid`).
pub(crate) fn traced(name: &'static str, category: &'static str) -> Option<trace::Span> {
    trace::enabled().then(|| trace::Span::begin(name, category, trace::this_thread()))
}

/// The prefix of every named object this demo creates (semaphores, message queues, abstract
/// socket names), followed by the pid, so that a leftover is traceable to its run.
pub fn object_name(suffix: &str) -> String {
    format!("ipc-demo-{}-{suffix}", std::process::id())
}
