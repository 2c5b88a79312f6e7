//! # `shared-mem`: a shared Value, lost updates, locks (note 000 (3))
//!
//! Reproduces note `000_37375f4097d3e74d.txt`, point **(3) 共享内存** (shared memory: the boy and
//! the girl changing one bank balance, `Value('i', 5000)`) and the closing **总结三种进程通信方式**
//! (pipe, queue, shared memory compared).
//!
//! The Python shape:
//!
//! ```python
//! import time
//! from random import randint
//! from multiprocessing import Process, Value
//!
//! money = Value('i', 5000)                 # one C int in shared memory, created before the children
//!
//! def boy():
//!     for _ in range(30): time.sleep(0.01); money.value += randint(1, 1500)     # the notes: 0.2 s
//!
//! def girl():
//!     for _ in range(30): time.sleep(0.01); money.value -= randint(100, 1200)
//!
//! b = Process(target=boy); g = Process(target=girl)
//! b.start(); g.start(); b.join(); g.join()
//! print("一个月余额:", money.value)
//! ```
//!
//! ## What the OS really does
//! - **The memory.** `Value` lives in a page mapped `MAP_SHARED` (Python: a block of its shared
//!   heap, an unlinked file in `/dev/shm` mapped by every process; here [`common::Shared`],
//!   a memfd mapped `MAP_SHARED`), created
//!   *before* the fork. fork copies the parent's page tables, and for a shared mapping both copies
//!   point at the same physical page: a store by the boy is a load away for the girl and the
//!   parent, with no system call and no copy. An ordinary variable is different: after fork it
//!   is copy-on-write (`MAP_PRIVATE`), so each process's write goes to its own copy (`process
//!   fork-copy`). That is why the balance must be MAP_SHARED and not a copy.
//! - **The race.** `money.value += x` is a read, an add and a write. Another process can write
//!   between our read and our write; our write, computed from the old number, then replaces
//!   theirs: a *lost update*. [`value`] explains why, in Rust, this is a logic race and not
//!   undefined behaviour (an atomic load, then a separate atomic write).
//! - **The lock.** `with money.get_lock():` makes the read-modify-write indivisible. Here the lock
//!   is [`common::sync::Lock`], a futex mutex in the same shared page: one compare-and-swap when
//!   free, and when taken a sleep in the kernel (`FUTEX_WAIT`) until the holder's release wakes
//!   it (`FUTEX_WAKE`), never a sleep-and-check loop. The third way is one atomic instruction
//!   (fetch-add), which needs no lock at all.
//! - **Forcing the race.** [`common::sync::Barrier`] (a futex word counting generations) lets the
//!   `race` demo make every process read before any writes, so the loss is certain, not lucky.
//!
//! | subcommand | file | shows |
//! |---|---|---|
//! | `balance` (default) | [`balance`] | the notes' boy/girl balance, `一个月余额: N`; expected vs final and lost updates, `--mode unsync/atomic/locked` |
//! | `race` | [`race`] | N processes x R additions of 1; `--schedule forced` loses exactly (N-1) x R, and says which write overwrote which |
//! | `overwrite` | [`overwrite`] | one slot that every write replaces: the reader sees an increasing subsequence ending at N (seqlock + futex); then a ring in the same kind of memory (the `queue` member's `Queue`): nothing missed |
//! | `address` | [`address`] | two processes `shm_open` one name and map it at different addresses; a write by one is read by the other |
//!
//! Support: [`value`] (the shared number and its three update modes), [`report`] (how children
//! hand their figures back through shared memory; joining them all).
//!
//! ## 笔记勘误 (where the notes are imprecise)
//! - *"每次写入的内容都会把之前写入的内容给覆盖, 所以本质上只可以存储一条消息"* (every write overwrites
//!   the previous one, so shared memory holds only one message): true of a *single slot* used as a
//!   mailbox, as `overwrite` shows. But shared memory is just memory: lay out an array, a table,
//!   or a ring buffer with read and write indexes, and it holds as many messages as it has room
//!   for (fast queues are built exactly that way). Overwriting is how the notes use it, not what
//!   it is: `overwrite` runs the same writer and reader through a ring in the same kind of memory
//!   next, and counts what each delivered.
//! - *"但每次都从头写"* (it always writes from the start): there is no "start" the OS imposes;
//!   a process writes at whatever offset it chooses, like any memory.
//! - The example's `money.value += random...` is presented as if it worked. It is a race:
//!   `Value` does have a lock (`get_lock()`, an `RLock` by default), but `.value` takes it
//!   once to read and once more to write, so `+=` is not atomic *even with that lock*. The right
//!   form is `with money.get_lock(): money.value += x`. The example usually prints the right
//!   balance only because the 0.2 s sleeps make a collision unlikely: luck, not correctness
//!   (`race --schedule forced` shows the loss every time).
//! - *"开辟了共享内存之后会自动记录共享内存首地址 (首地址就是每段内存的ID)"* (the start address is the
//!   segment's ID): the address is private to each process; two processes may map the same
//!   segment at different addresses. A segment is identified by its name (`shm_open`), its key
//!   (System V `shmget`), or by being inherited through fork (the other demos). `address` opens
//!   one name in two processes and prints the addresses each got.
//! - *"共享内存的效率最高"* (shared memory is the most efficient): for moving data, yes (no copy
//!   through the kernel). But it brings no synchronisation of its own: a reader cannot even tell
//!   that something new arrived, or that a message is complete, without a lock, a futex, a
//!   semaphore or a seqlock beside it. Pipes and queues include that (a blocking read), which is
//!   why the notes' other file calls the queue the best choice for most programs.
//! - *"三者都是在内存中开辟内存存入数据"* (all three store data in memory): a pipe and a message queue
//!   keep the data in a *kernel* buffer; each message is copied in by one system call and out by
//!   another. Shared memory is mapped into both processes, and no system call moves the data.

pub mod address;
pub mod balance;
pub mod overwrite;
pub mod race;
pub mod report;
pub mod value;

use anyhow::Result;
use clap::{Parser, Subcommand};
use common::cli::CommonArgs;

pub use value::{Mode, Value, Write};

/// A shared Value (note 000 (3)): the boy/girl balance, lost updates, locks, an overwritten slot.
#[derive(Parser, Debug)]
#[command(name = "shared-mem", version, about, long_about = None,
          after_help = "Without a subcommand: balance (the notes' example, at the notes' pace).")]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// One subcommand per point of the notes.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// The notes' boy and girl changing one shared balance; expected vs final (the default).
    Balance(balance::Args),
    /// N processes add 1, R times each: lost updates without a lock; forced with a barrier.
    Race(race::Args),
    /// One slot that each write replaces (the reader misses messages), then a ring that holds many.
    Overwrite(overwrite::Args),
    /// Two processes shm_open one name and map it at different addresses: the name is the ID.
    Address(address::Args),
}

/// Run the chosen subcommand.
pub fn run(cli: Cli) -> Result<()> {
    match cli.cmd.unwrap_or(Cmd::Balance(balance::Args::default())) {
        Cmd::Balance(args) => balance::run(&args),
        Cmd::Race(args) => race::run(&args),
        Cmd::Overwrite(args) => overwrite::run(&args),
        Cmd::Address(args) => address::run(&args),
    }
}
