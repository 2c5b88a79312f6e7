//! # `queue`: a message queue between processes (note 000 (2), note 004)
//!
//! Reproduces note `000_37375f4097d3e74d.txt`, **(2) 消息队列** (message queue: first in, first
//! out, the `(2, i) -> 2**i` example), and note `004_e9825b7d42d322ab.txt`,
//! **队列才是进程间通信的最佳选择** (a queue is the best choice for IPC) and its warning, in
//! **同步与异步**, that checking a variable in a loop is a serious mistake.
//!
//! The Python shape (the notes' example, in our words; it runs as written):
//!
//! ```python
//! from multiprocessing import Process, Queue
//! import time
//!
//! def producer(q):                     # fun1
//!     for i in range(10):
//!         time.sleep(1)
//!         q.put((2, i))
//!
//! def consumer(q):                     # fun2
//!     for _ in range(10):
//!         time.sleep(1.5)
//!         a, b = q.get()
//!         print(a ** b)
//!
//! if __name__ == "__main__":
//!     q = Queue()                      # before the Process objects: the children inherit it
//!     p1 = Process(target=producer, args=(q,))
//!     p2 = Process(target=consumer, args=(q,))
//!     p1.start(); p2.start()
//!     p1.join(); p2.join()
//! ```
//!
//! What the OS really does, in CPython: `multiprocessing.Queue` is a **pipe** plus a **lock**
//! plus a **feeder thread** in every process that puts. `put` pickles nothing yet: it appends
//! the object to a private list and wakes the feeder thread, which pickles it and `write`s it
//! into the pipe under a cross-process lock. `get` takes a second lock, `read`s one framed
//! message from the pipe and unpickles it. `maxsize` is a POSIX semaphore. So one message costs
//! a pickle and an unpickle, a `write` and a `read` syscall, a thread wake-up, lock and semaphore
//! operations.
//!
//! Here, [`Queue`] is a ring of fixed-size slots in `MAP_SHARED` memory, created before fork
//! (module [`ring`]). A message is copied into its slot and published by one atomic store; a
//! side that must wait sleeps on a futex ([`common::sync::Event`]). When nobody sleeps, a put or
//! a get is two compare-and-swaps at most, the copy and a store: **no syscall, no lock, no
//! thread, no serialisation** (bytes in, bytes out: the caller chooses the encoding, here 12
//! bytes for `(2, i)`). The price: a fixed capacity and a fixed largest message, both chosen at
//! creation, because shared memory cannot grow after fork.
//!
//! How much that saves is measured, not written here: the `bench` member runs this queue and
//! CPython's `multiprocessing.Queue` side by side on the same machine in the same run
//! (`cargo run --release -p bench -- --only queue`), and the README's Performance section
//! gives the figures and their spread.
//!
//! | subcommand | file | shows |
//! |---|---|---|
//! | `powers` (default) | [`powers`] | the notes' example; exactly once and FIFO per producer with many producers and consumers; `close` ends the stream |
//! | `timeouts` | [`timeouts`] | `get(timeout)` on an empty queue reports Empty, `put(timeout)` on a full one Full; a wake-up ends the wait early |
//! | `posix-mq` | [`posix_mq`] | the kernel's own message queue: `mq_open`/`mq_send`/`mq_receive`, priorities, `mq_getattr`, limits |
//! | `polling` | [`polling`] | the note's "checking a variable in a loop": CPU burned by a polling consumer vs a blocking one |
//! | `drain` | [`drain`] | join-before-drain: a producer that wrote more than the pipe holds cannot exit until someone reads |
//!
//! ## 笔记勘误 (where the notes are imprecise)
//! - *"消息队列必须是一端进一端出"* (one end in, the other out) and FIFO: true per producer. With
//!   several producers the queue interleaves them in the order their puts happened; with several
//!   consumers each one sees a FIFO sub-sequence, but "who printed first" also depends on the
//!   scheduler after the get. `powers --producers 3 --consumers 2` checks exactly that much.
//! - *"共享内存的效率最高"* (shared memory is the most efficient) versus queues: a queue can *be*
//!   shared memory. This one is; CPython's is a pipe. The cost difference is the
//!   syscalls and the pickling, not the idea of a queue.
//! - The notes' `Queue()` looks unbounded (no `maxsize`), and `put` never blocks. But the pipe
//!   underneath is bounded (64 KiB by default on Linux; `drain` prints this machine's): a
//!   producer that has put more than that cannot exit until a consumer reads, because its
//!   feeder thread is still writing. `join` before `get` then hangs (`drain`). Python's documentation warns about it; the notes do not. This queue
//!   is bounded in plain sight: `put` blocks in the producer's own code when it is full.
//! - The consumer in the notes does exactly ten `get`s, because it knows the count. In general
//!   consumers do not: CPython uses one sentinel (`None`) per consumer; this queue has `close`,
//!   after which consumers drain what is left and then see [`QueueError::Closed`].
//! - `multiprocessing.Queue.qsize()` raises `NotImplementedError` on macOS and is approximate
//!   everywhere; [`Queue::len`] is exact when nobody is using the queue and a snapshot otherwise.

pub mod drain;
pub mod polling;
pub mod posix_mq;
pub mod powers;
pub mod ring;
pub mod timeouts;

pub use ring::{Queue, QueueError};

use anyhow::Result;
use clap::{Parser, Subcommand};
use common::cli::CommonArgs;

/// Most messages one `powers` run may send (`--count`).
pub const MAX_COUNT: u32 = 100_000;
/// Largest `--capacity` of the demos' queues.
pub const MAX_CAPACITY: u32 = 100_000;
/// Most producer or consumer processes (`--producers`, `--consumers`).
pub const MAX_PROCS: u32 = 16;
/// Longest timeout a demo accepts, in seconds.
pub const MAX_TIMEOUT_S: f64 = 60.0;

/// A cross-process FIFO queue (note 000 (2), note 004): put, get, timeouts, close, the OS's own
/// message queue, polling vs blocking.
#[derive(Parser, Debug)]
#[command(name = "queue", version, about, long_about = None,
          after_help = "Without a subcommand: powers (the notes' example).")]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// One subcommand per point of the notes.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// The notes' example: put (2, i), get, print 2**i; exactly once, in order (the default).
    Powers(powers::Args),
    /// get(timeout) on an empty queue and put(timeout) on a full one: Empty and Full.
    Timeouts(timeouts::Args),
    /// The kernel's own message queue: mq_open, mq_send, mq_receive, priorities, limits.
    PosixMq(posix_mq::Args),
    /// Checking a shared variable in a loop vs blocking: the CPU time each costs.
    Polling(polling::Args),
    /// Join before drain: a producer stuck on a full pipe, caught by a timeout, then fixed.
    Drain(drain::Args),
}

/// Run the chosen subcommand.
pub fn run(cli: Cli) -> Result<()> {
    match cli.cmd.unwrap_or(Cmd::Powers(powers::Args::default())) {
        Cmd::Powers(a) => powers::run(&a),
        Cmd::Timeouts(a) => timeouts::run(&a),
        Cmd::PosixMq(a) => posix_mq::run(&a),
        Cmd::Polling(a) => polling::run(&a),
        Cmd::Drain(a) => drain::run(&a),
    }
}

/// Parse a duration in seconds for a flag: a finite number in `0..=60`.
pub fn parse_secs(s: &str) -> Result<f64, String> {
    let f: f64 = s.trim().parse().map_err(|_| "not a number".to_string())?;
    if !f.is_finite() {
        return Err("must be finite".into());
    }
    if f < 0.0 {
        return Err("must be >= 0".into());
    }
    if f > MAX_TIMEOUT_S {
        return Err(format!("must be at most {MAX_TIMEOUT_S}"));
    }
    Ok(f)
}

/// Milliseconds of a duration, rounded to 0.001, for summaries.
pub fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}
