//! # `threads`: several threads in one process (note 000, the part after the `====` line)
//!
//! Reproduces note `000_37375f4097d3e74d.txt`, the threads part: point **1** (a thread is light,
//! has a life cycle, costs "about 1/20" of a process), point **2** (一个进程包含多个线程: the main
//! thread and the other threads print the same PID and share the process's resources), the
//! **注意** (what happens to the other threads when the main thread ends), **同步互斥**
//! (synchronisation as cooperation, mutual exclusion as competition for a critical resource),
//! and **python 线程的GIL问题** (one interpreter lock: CPU-bound threads gain nothing, IO-bound
//! threads do).
//!
//! The Python shape:
//!
//! ```python
//! import os, threading
//!
//! def work(i): print(i, os.getpid(), threading.get_native_id())
//!
//! ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
//! for t in ts: t.start()
//! for t in ts: t.join()
//!
//! counter, turn, i = 0, 0, 0
//! lock = threading.Lock()
//! with lock: counter += 1                       # 互斥: whoever gets the lock first goes first
//! cond = threading.Condition()
//! with cond: cond.wait_for(lambda: turn == i)   # 同步: a fixed order of turns
//! threading.Thread(target=work, args=(4,), daemon=True).start()   # not waited for at the end
//! ```
//!
//! What the OS does: on Linux a thread is a *task* made by clone(2) with `CLONE_VM | CLONE_FILES
//! | CLONE_SIGHAND | CLONE_THREAD`: it shares the address space, the open files, the signal
//! handlers and the process id (the *thread group* id) with the other threads, and has its own
//! thread id (tid), stack, registers and signal mask. `std::thread::spawn` is `pthread_create`:
//! mmap a stack, then clone. The scheduler runs *tasks*: that is why two threads of one process
//! can run on two cores at the same moment. `std::sync::{Mutex, Condvar, Barrier}` are futexes:
//! an uncontended lock is one atomic instruction in user space; a thread that must wait sleeps
//! in the kernel (`futex(FUTEX_WAIT)`) until another thread wakes it.
//!
//! | subcommand | file | shows |
//! |---|---|---|
//! | `ids` (default) | [`ids`] | every thread sees the same pid; each has its own tid; `/proc/<pid>/task` lists them; the `ps -L` view (LWP, PSR); one thread pinned with sched_setaffinity |
//! | `shared` | [`shared`] | a thread's write is seen by main and by the other threads; a forked child's is not |
//! | `race` | [`race`] | `x += 1` from N threads loses updates (exactly N-1 per round when forced); Mutex and atomics do not; `--trace` |
//! | `sync` | [`sync`] | 同步: turns in a fixed order (Mutex + Condvar), vs 互斥: order decided by who grabs the lock |
//! | `main-exit` | [`main_exit`] | when main returns the process ends: detached threads are cut off, joined ones finished |
//! | `gil` | [`gil`] (the lock: [`gil_lock`], the work: [`work`]) | which interpreters have a GIL; CPU-bound: free threads scale, threads under a GIL do not, processes do; IO-bound: the GIL is released while blocked; `--trace` |
//! | `spawn-cost` | [`spawn_cost`] (Python beside it: [`python`]) | create + join a thread vs fork + reap a process, in microseconds; Python's own ratio in the same run |
//!
//! ## Threads and fork in one program
//! fork(2) copies only the thread that calls it, so `common::spawn` refuses to fork a process
//! that has other threads (a lock one of them held would stay locked forever in the child). And
//! *joining* every thread first is not quite enough: `join` returns when the kernel clears the
//! thread's tid word (`CLONE_CHILD_CLEARTID`, early in the thread's exit), slightly before the
//! kernel removes the thread from the process, so `/proc` can still count it for a moment: a
//! short window, but a loop of spawn, join and fork falls into it now and then. So every
//! subcommand here that forks (`shared`, `main-exit`, `gil`, `spawn-cost`) forks *before*
//! creating its first thread.
//!
//! ## 笔记勘误 (where the notes are imprecise)
//! - *"进程也可以使用计算机的多核资源,也被称为轻量级的进程"*: the subject is wrong. It is the
//!   **thread** that is called a lightweight process (LWP; `ps -eLf` has an `LWP` column, which
//!   is the tid that `ids` prints). Processes use several cores too, of course.
//! - *"线程是系统分配内核的最小单位 ... 可以单独占用一个计算机内核"*: a thread is the unit of
//!   **scheduling** (what gets CPU time); the process is the unit of **resource ownership**
//!   (memory, files). A thread does not own a core: the scheduler moves it between cores, and
//!   many threads share one core by time slices.
//! - *"操作系统不会给线程分配资源"*: not nothing. Each thread gets a kernel task, a tid, its own
//!   stack (2 MiB of address space for a Rust thread, 8 MiB for a glibc default), registers, a
//!   signal mask and thread-local storage. What it does not get is its own address space or
//!   file table. `spawn-cost` measures what creating one costs on this machine.
//! - *"大约是进程的1/20"*: a rule of thumb, not a law. The ratio depends on the process's size
//!   (fork copies its page tables) and the machine. `spawn-cost` reports this machine's figure.
//! - *"进程中的主线程结束之后,分支线程不会跟着主线程而结束"*: true of **Python**, and only for
//!   non-daemon threads: at exit the interpreter joins them (`threading._shutdown`); daemon
//!   threads are cut off. In C and Rust, returning from `main` calls `exit`, whose
//!   `exit_group(2)` ends **every** thread at once. (In C, `pthread_exit` in `main` is the one way
//!   to end the main thread alone and keep the process alive.) `main-exit` shows both cases.
//! - *"因为python解释器加了一个全局锁"*: the GIL is a property of **CPython**, the reference
//!   interpreter, not of the Python language or of threads: Jython and IronPython have none, and
//!   CPython 3.13 has an optional free-threaded build (PEP 703), which is the notes' "修改c解释器".
//!   And *"不使用c作为解释器情况没有GIL问题"* is half right: PyPy is not written in C and has a GIL;
//!   `gil` prints which interpreters have one.
//!   Rust threads have no GIL; `gil` *emulates* one to show its effect.
//! - *"多线程还需要来回切换计算机的内核"*: what is switched is the **thread** holding the lock,
//!   not a kernel or a core. CPython asks the holder to let go every *switch interval*
//!   (`sys.getswitchinterval()`, 5 ms), and a thread releases the GIL around blocking calls
//!   (sleep, read, recv...). C extensions may release it for long computations too (hashlib,
//!   zlib, numpy), so even CPU-bound work can run in parallel when it happens in C.
//! - *"遇到阻塞就能...直接跳过阻塞直接执行下一个代码块"*: the blocked thread skips nothing: it
//!   sleeps in the kernel until its IO is done. *Another* thread runs meanwhile, because the
//!   blocked one released the GIL.
//! - *互斥 "谁先抢占谁就先使用"*: right, and a `Mutex` promises no order at all, not even
//!   first-come first-served (std's futex mutex is not fair). `sync` shows the difference from
//!   同步, where the order is part of the design.

pub mod gil;
pub mod gil_lock;
pub mod ids;
pub mod main_exit;
pub mod python;
pub mod race;
pub mod shared;
pub mod spawn_cost;
pub mod sync;
pub mod work;

use anyhow::{anyhow, Result};
use clap::{Parser, Subcommand};
use common::cli::CommonArgs;

/// Most threads one run may start (`--threads`).
pub const MAX_THREADS: u32 = 64;

/// Threads (note 000): shared pid and memory, races and locks, cooperation, what main's end
/// does, an emulated GIL, and the cost of a thread vs a process.
#[derive(Parser, Debug)]
#[command(name = "threads", version, about, long_about = None,
          after_help = "Without a subcommand: ids.")]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// One subcommand per point of the notes.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Threads print the same pid and different thread ids (the default).
    Ids(ids::Args),
    /// Threads see each other's writes; a forked child's write stays in the child.
    Shared(shared::Args),
    /// A counter raised by N threads: lost updates without a lock, exact with one.
    Race(race::Args),
    /// 同步: threads take turns in a fixed order; 互斥: whoever grabs the lock goes first.
    Sync(sync::Args),
    /// When main returns, the process ends: detached threads are cut off, joined ones finish.
    MainExit(main_exit::Args),
    /// An emulated GIL: CPU-bound threads stop scaling; IO-bound threads still overlap.
    Gil(gil::Args),
    /// Creating and joining a thread vs forking and reaping a process.
    SpawnCost(spawn_cost::Args),
}

/// Run the chosen subcommand.
pub fn run(cli: Cli) -> Result<()> {
    match cli.cmd.unwrap_or(Cmd::Ids(ids::Args::default())) {
        Cmd::Ids(args) => ids::run(&args),
        Cmd::Shared(args) => shared::run(&args),
        Cmd::Race(args) => race::run(&args),
        Cmd::Sync(args) => sync::run(&args),
        Cmd::MainExit(args) => main_exit::run(&args),
        Cmd::Gil(args) => gil::run(&args),
        Cmd::SpawnCost(args) => spawn_cost::run(&args),
    }
}

/// Turn a thread's panic (the `Err` of `join`) into an error naming the thread, so a crashing
/// thread makes the demo fail with status 1 and one `error:` line instead of a second panic.
pub fn joined<T>(what: &str, result: std::thread::Result<T>) -> Result<T> {
    result.map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic".into());
        anyhow!("thread {what} panicked: {msg}")
    })
}

/// The 1-minute load average (`/proc/loadavg`), to warn that timings on a busy machine are
/// skewed: with more runnable tasks than CPUs, our threads wait for a core too.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Say (and return) whether the machine looks too busy for timings to mean much.
pub fn warn_if_busy(cpus: u32) -> Option<f64> {
    let load = load_average()?;
    if load > f64::from(cpus) {
        common::out::event(
            "busy_machine",
            common::json!({"loadavg": load, "cpus": cpus}),
            format!(
                "note: the machine is busy (load average {load:.1} on {cpus} CPUs): other programs take CPU time too, so the timings below are skewed"
            ),
        );
    }
    Some(load)
}

/// The calling thread's kernel thread id (gettid(2)); the main thread's equals the pid.
pub fn tid() -> i32 {
    nix::unistd::gettid().as_raw()
}
