//! # `pipe`: messages through a pipe (note 000, **(1) 管道通信**)
//!
//! Reproduces point (1) **管道通信** of note `000_37375f4097d3e74d.txt`: a pipe created before
//! the children, inherited by each of them when it is forked, duplex by default (两端都可以读写)
//! or one-way (一端读一端写); four children, tom, zack, abby and sam, each sleep 3 s and send
//! `hello! Tom` (the name title-cased) through the same end; the parent receives four messages,
//! prints them, and joins the children.
//!
//! The Python shape:
//!
//! ```python
//! import time
//! from multiprocessing import Process, Pipe
//!
//! fd1, fd2 = Pipe()                  # duplex=True by default
//!
//! def fun(name):
//!     time.sleep(0.3)                # the notes sleep 3 s
//!     fd1.send("hello! " + name.title())
//!
//! jobs = [Process(target=fun, args=(n,)) for n in ["tom", "zack", "abby", "sam"]]
//! for p in jobs: p.start()
//! for _ in range(4): print(fd2.recv())
//! for p in jobs: p.join()
//! ```
//!
//! What the OS does: `Pipe()` makes two file descriptors that refer to one kernel object, a
//! buffer with a wait queue for readers and one for writers. On Linux the duplex `Pipe()` is a
//! **socketpair** (two connected AF_UNIX stream sockets); `Pipe(False)` is a real **pipe(2)**.
//! fork(2) copies the parent's fd table, so every child holds the same two ends: nothing is
//! copied but the numbers. A read blocks in the kernel until bytes arrive; it returns 0 (end of
//! file) only when *every* copy of the other end, in every process, has been closed. The bytes
//! are a stream with no boundaries, so each message is framed by its length ([`frame`]: a
//! 4-byte header, then the payload, JSON for objects; one write(2) per message of up to 16 KiB).
//!
//! | subcommand | file | shows |
//! |---|---|---|
//! | `greet` (default) | [`greet`] | the notes' example: four children greet the parent over one shared duplex pipe |
//! | `simplex` | [`simplex`] | a one-way pipe(2): `send` on the read end refused (Python: `connection is read-only`); EOF only when every write end is closed; `--forget-close`: the classic hang, caught |
//! | `atomic` | [`atomic`] | several writers on one pipe: writes of at most `PIPE_BUF` bytes never mix, larger ones can |
//! | `duplex` | [`duplex`] | parent and child talk both ways on one socketpair for N rounds, then EOF ends the child; `--connection tuned`: the same on step 2 |
//! | `lifetime` | [`lifetime`] | a pipe outlives the process that made it (the last close frees it), and another process opens it through `/proc/PID/fd` |
//!
//! The library part, in steps:
//! - [`frame`]: the framing of every message between processes in the workspace (length header,
//!   payload, JSON), and the blocking I/O of one frame as CPython does it;
//! - step 1, [`connection`]: [`pipe`] (Python's `Pipe`) and [`Connection`] (`send`, `recv`,
//!   `recv_into`, `send_obj`, `recv_obj`, `poll`, `close`), with [`ConnError::Eof`] playing
//!   Python's `EOFError`. What CPython does: a header, then the payload, no user-space buffer.
//!   Every demo uses it by default;
//! - step 2, [`tuned`]: [`TunedConnection`], the same frames with fewer system calls (a receive
//!   buffer, writev/readv, larger socket buffers). `duplex --connection tuned` and the bench use
//!   it; its module doc says what it changes, what that buys and what it costs.
//!
//! ## Who closes what, who reaps
//! Every process closes each end it will not use, right away, and each close has a reason:
//! - the **parent closes the children's end** once the last child is forked (the children need
//!   it to exist at fork time). Otherwise, if every child died, the parent's `recv` would wait
//!   forever instead of reporting EOF: it would itself be holding the end it waits on.
//! - **each child closes the parent's end** at its start. In `duplex` this is what lets the
//!   child see EOF when the parent is done; in the others it means a child writing to a parent
//!   that vanished gets EPIPE instead of filling a buffer nobody reads.
//! - a child's own end is closed by its exit (or earlier, explicitly, when it is done).
//!
//! Closing "in the child" uses a `Cell<Option<Connection>>` captured by the child's closure:
//! fork gave the child its own copy of the cell, so `take()` there closes the child's fd and
//! leaves the parent's untouched. (Alternative not taken: close(2) on the raw fd number in the
//! child. The `Connection` that fork copied would still own that number and close it again when
//! dropped, by then perhaps a different file. With the cell, exactly one owner closes each copy.)
//! Every child is started by `common::spawn` and joined (waitpid)
//! by the parent; on an error path dropping the `Child` kills and reaps it; on SIGINT/SIGTERM
//! the parent's handler does the same. Nothing outlives a run.
//!
//! ## 笔记勘误 (where the notes are imprecise)
//! - *"可以单向也可以双向"*: a pipe(2) is always one-way. Python's duplex `Pipe()` is not a pipe
//!   at all on Linux but a socketpair; only `Pipe(False)` is a pipe.
//! - *"进程结束后管道也会被销毁"*: the kernel frees the pipe when the **last fd** referring to it
//!   is closed, in whatever process. It outlives its creator as long as another process holds
//!   an end. *"保密性比较好"* really means: an anonymous pipe has no name in any directory. But it
//!   is listed in `/proc/PID/fd` of every holder as `pipe:[INODE]`, and any process of the same
//!   user (or root) can open that entry and read the pipe. `lifetime` shows both, with the inode.
//! - *"子进程拷贝父进程内容的时候顺带就被拷贝过去"*: fork copies the fd *numbers*; parent and
//!   children then share **one** pipe, not copies of it. That sharing is why every process must
//!   close the ends it does not use: the notes' example closes nothing, and gets away with it only
//!   because the parent reads exactly four messages. Reading "until EOF" instead would hang forever
//!   (the parent and every child still hold `fd1`); `simplex --forget-close` shows that hang.
//! - *"fd1对象只能读 ... fd2对象只能写"*: for `Pipe(False)` it is the first object that reads and the
//!   second that writes, as the notes say; but then the example, which sends on `fd1`, would fail
//!   (`OSError: connection is read-only`). It only works because the example uses the duplex
//!   default. `simplex` makes that call and prints our error beside Python's.
//! - The example lets four processes `send` on the same `fd1` with no lock. That is safe only
//!   because each message is small and goes out in one write: POSIX makes a pipe write of at most
//!   `PIPE_BUF` (4096) bytes atomic; for the socketpair the example actually uses, POSIX promises
//!   nothing and Linux happens to keep a small send together (one socket buffer allocation,
//!   capped at about 32 KiB by `unix_stream_sendmsg`). Python's docs
//!   warn that two processes using the same end at once may corrupt the data. `atomic` shows
//!   large writes torn.
//! - The messages arrive in the order the children *finish sleeping*. All four sleep the same
//!   3 s, having started one after another as they were forked, so they usually wake, and
//!   arrive, in start order; the scheduler reorders them only when it runs one late by more than
//!   the gap between forks. `greet` prints the start, wake and arrival orders and the gap.

pub mod atomic;
pub mod connection;
pub mod duplex;
pub mod frame;
pub mod greet;
pub mod lifetime;
pub mod simplex;
pub mod tuned;

use std::cell::Cell;

use anyhow::Result;
use clap::{Parser, Subcommand};
use common::cli::CommonArgs;

pub use connection::{pipe, Connection};
pub use frame::ConnError;
pub use tuned::TunedConnection;

/// What both steps of the connection offer, so that one loop (the `duplex` demo, the bench)
/// runs on either: send a message, receive one into a reused `Vec`.
pub trait Endpoint {
    /// Python's `send_bytes`.
    fn send(&self, payload: &[u8]) -> Result<(), ConnError>;
    /// Python's `recv_bytes_into`; returns the message length.
    fn recv_into(&mut self, out: &mut Vec<u8>) -> Result<usize, ConnError>;
}

/// Most child processes one run may start (`--names`, `--writers`).
pub const MAX_CHILDREN: usize = 64;

/// Pipes between processes (note 000, (1) 管道通信): Pipe(), send, recv, EOF, PIPE_BUF.
#[derive(Parser, Debug)]
#[command(name = "pipe", version, about, long_about = None,
          after_help = "Without a subcommand: greet (the notes' example).")]
pub struct Cli {
    /// The demo to run.
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    /// Flags shared by every demo.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// One subcommand per point.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// The notes' example: children tom, zack, abby, sam greet the parent over one duplex Pipe().
    Greet(greet::Args),
    /// A one-way pipe(2): send on the read end is refused; EOF only when every write end is closed.
    Simplex(simplex::Args),
    /// Several writers on one pipe: writes <= PIPE_BUF never interleave, larger ones can.
    Atomic(atomic::Args),
    /// Parent and child talk both ways over one socketpair for N rounds.
    Duplex(duplex::Args),
    /// A pipe outlives its creator (the last close frees it); /proc/PID/fd lets others open it.
    Lifetime(lifetime::Args),
}

/// Run the chosen subcommand (greet by default).
pub fn run(cli: Cli) -> Result<()> {
    match cli.cmd.unwrap_or(Cmd::Greet(greet::Args::default())) {
        Cmd::Greet(args) => greet::run(&args),
        Cmd::Simplex(args) => simplex::run(&args),
        Cmd::Atomic(args) => atomic::run(&args),
        Cmd::Duplex(args) => duplex::run(&args),
        Cmd::Lifetime(args) => lifetime::run(&args),
    }
}

/// Take ownership of an end kept in a cell, in whichever process calls it: in a forked child
/// this takes the child's own copy (fork copied the cell), leaving the parent's in place.
pub(crate) fn take_end<T>(cell: &Cell<Option<T>>, what: &str) -> Result<T> {
    cell.take()
        .ok_or_else(|| anyhow::anyhow!("{what} was already taken in this process"))
}
