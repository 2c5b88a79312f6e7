//! `ids` (一个进程包含多个线程, note 000 point 2): one pid, many thread ids.
//!
//! Python:
//!
//! ```python
//! import os, threading, time
//!
//! def work(i):
//!     time.sleep(0.1)
//!     print(i, os.getpid(), threading.get_native_id())   # same pid, different ids
//!
//! ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
//! for t in ts: t.start()
//! for t in ts: t.join()
//! ```
//!
//! `getpid()` returns the *thread group* id, which every thread of the process shares; `gettid()`
//! returns the thread's own id (the main thread's tid equals the pid). The kernel lists the
//! threads of a process as `/proc/<pid>/task/<tid>`; we read that directory while every thread
//! is alive and check it holds exactly the ids the threads reported.
//!
//! **LWP**: `ps -L` (and `ps -eLf`) lists one row per thread with an `LWP` column: "light-weight
//! process", the kernel's old name for a thread, and the value is the tid. The notes write
//! "进程 ... 也被称为轻量级的进程"; they mean **threads** (线程): a thread is the light-weight
//! process. We print the same columns `ps -L -o pid,lwp,psr,comm` would, read from
//! `/proc/<pid>/task/<tid>/stat`: `PSR` is field 39 (`processor`), the CPU the thread last ran on.
//!
//! **Pinning** (the notes: "一个线程可以单独占用一个计算机内核"): thread 0 restricts itself to one
//! CPU with sched_setaffinity(2) (pid 0 means "the calling thread": affinity is per thread), and
//! its `PSR` then shows that CPU. Pinning says *where a thread may run*; it does not give it the
//! core to itself: any other task may run there too, and the output counts how many of our own
//! threads last ran on the same CPU.
//!
//! Why a barrier: a tid is only unique among threads alive *at the same time*. A thread that has
//! finished may give its id to the next one created, so "all different" is only a fact if all
//! of them exist at once. Each thread waits at a `std::sync::Barrier` (it sleeps on a futex)
//! until main has looked at `/proc`, then waits once more so none leaves early.

use std::collections::BTreeSet;
use std::sync::Barrier;

use anyhow::{ensure, Context, Result};
use common::{json, out, procfs, secs, sleep};
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

use crate::{joined, tid};

/// Flags of `ids`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many threads to start besides main (1..=64).
    #[arg(long, default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=crate::MAX_THREADS as i64))]
    pub threads: u32,
}

impl Default for Args {
    fn default() -> Self {
        Args { threads: 4 }
    }
}

/// What one thread reports about itself.
struct Report {
    pid: u32,
    tid: i32,
}

/// The thread ids the kernel lists under `/proc/<pid>/task`.
fn task_dir(pid: u32) -> Result<BTreeSet<i32>> {
    let dir = format!("/proc/{pid}/task");
    let mut tids = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("read_dir {dir}"))? {
        let entry = entry.with_context(|| format!("read_dir {dir}"))?;
        if let Ok(t) = entry.file_name().to_string_lossy().parse::<i32>() {
            tids.insert(t);
        }
    }
    Ok(tids)
}

/// One row of `ps -L -o pid,lwp,psr,comm`, read from `/proc/<pid>/task/<tid>/stat`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LwpRow {
    /// The light-weight process id: the thread id.
    pub lwp: i32,
    /// Field 39, `processor`: the CPU the thread last ran on.
    pub psr: u32,
    /// Field 2, the thread's name (`comm`, at most 15 bytes).
    pub comm: String,
}

/// Read `/proc/<pid>/task/<tid>/stat`: the thread's name and field 39 (the CPU it last ran on).
pub fn lwp_row(pid: u32, tid: i32) -> Result<LwpRow> {
    let path = format!("/proc/{pid}/task/{tid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    parse_lwp_row(tid, &text).with_context(|| format!("parse {path}"))
}

/// Parse one task's stat line. The name sits in parentheses and may contain spaces or `)`, so
/// the fields are counted from the *last* `)`: the word after it is field 3.
pub fn parse_lwp_row(tid: i32, text: &str) -> Result<LwpRow> {
    let open = text.find('(').context("no '('")?;
    let close = text.rfind(')').context("no ')'")?;
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let psr = rest
        .get(39 - 3)
        .context("fewer than 39 fields")?
        .parse()
        .context("field 39 (processor)")?;
    Ok(LwpRow {
        lwp: tid,
        psr,
        comm: text[open + 1..close].to_string(),
    })
}

/// The CPUs this thread may run on.
fn allowed_cpus() -> Result<Vec<usize>> {
    let set = sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity")?;
    Ok((0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect())
}

/// Pin the *calling thread* to `cpu` (sched_setaffinity with pid 0: this thread only).
fn pin_this_thread(cpu: usize) -> Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu).context("CpuSet::set")?;
    sched_setaffinity(Pid::from_raw(0), &set).context("sched_setaffinity")
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let thread_count = args.threads;
    let pid = std::process::id();
    let main_tid = tid();
    // Thread 0 pins itself to the last CPU we may use (on one CPU: that one).
    let pin_cpu = *allowed_cpus()?
        .last()
        .context("no CPU in the affinity mask")?;
    out::event(
        "main",
        json!({"tid": main_tid}),
        format!("main thread: pid {pid}, tid {main_tid} (the main thread's tid is the pid)"),
    );

    // The workers and main meet twice: once when everybody is alive, once after main has looked.
    let barrier = Barrier::new(thread_count as usize + 1);
    let (reports, kernel_threads, listed, rows) = std::thread::scope(|s| -> Result<_> {
        let handles: Vec<_> = (0..thread_count)
            .map(|i| {
                let barrier = &barrier;
                // A name the kernel keeps as the thread's `comm` (what `ps -L` shows).
                std::thread::Builder::new()
                    .name(format!("worker-{i}"))
                    .spawn_scoped(s, move || -> Result<Report> {
                        if i == 0 {
                            pin_this_thread(pin_cpu)?;
                        }
                        // std::process::id() is getpid(2): the thread group id, shared.
                        let r = Report {
                            pid: std::process::id(),
                            tid: tid(),
                        };
                        sleep(secs(0.5)); // the notes' time.sleep: pretend to work
                        out::event(
                            "thread",
                            json!({"index": i, "tid": r.tid}),
                            format!("  thread {i}: pid {}, tid {}", r.pid, r.tid),
                        );
                        barrier.wait(); // every worker and main alive now
                        barrier.wait(); // main has read /proc
                        Ok(r)
                    })
            })
            .collect();
        barrier.wait();
        // Every worker is parked at the second wait: all of them and main exist right now.
        let counted = procfs::thread_count(pid as i32);
        let listed = task_dir(pid);
        let rows = listed
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e:#}"))
            .and_then(|l| {
                l.iter()
                    .map(|&t| lwp_row(pid, t))
                    .collect::<Result<Vec<_>>>()
            });
        barrier.wait();
        let mut reports = Vec::new();
        for (i, h) in handles.into_iter().enumerate() {
            let h = h.context("pthread_create")?;
            reports.push(joined(&format!("{i}"), h.join())??);
        }
        Ok((reports, counted?, listed?, rows?))
    })?;

    let tids: Vec<i32> = reports.iter().map(|r| r.tid).collect();
    let same_pid = reports.iter().all(|r| r.pid == pid);
    let distinct: BTreeSet<i32> = tids.iter().copied().chain([main_tid]).collect();
    let all_distinct = distinct.len() == tids.len() + 1;
    let task_matches = listed == distinct;
    out::event(
        "kernel_view",
        json!({"num_threads": kernel_threads, "task_dir": listed}),
        format!(
            "the kernel: /proc/{pid}/stat counts {kernel_threads} threads; /proc/{pid}/task lists {:?}",
            listed
        ),
    );
    out::say(format!(
        "one process (pid {pid}), {} threads: same pid = {same_pid}, all tids different = {all_distinct}",
        thread_count + 1
    ));

    // The `ps -L` view: one row per thread, LWP = tid.
    out::say(format!(
        "as `ps -L -o pid,lwp,psr,comm -p {pid}` shows them (LWP = light-weight process = the tid; PSR = the CPU it last ran on, field 39 of /proc/{pid}/task/<tid>/stat):\n      PID     LWP  PSR  COMMAND"
    ));
    for r in &rows {
        out::event(
            "lwp",
            json!({"lwp": r.lwp, "psr": r.psr, "comm": r.comm}),
            format!("  {pid:>7} {:>7} {:>4}  {}", r.lwp, r.psr, r.comm),
        );
    }
    out::event(
        "notes_correction",
        json!({"notes": "进程也可以使用计算机的多核资源,也被称为轻量级的进程", "correct": "线程 (threads) are the light-weight processes: LWP = tid"}),
        "笔记勘误: \"进程...也被称为轻量级的进程\" means threads (线程): every row above is one light-weight process of ONE process, each with its own LWP id, all with the same PID",
    );
    let pinned_tid = reports.first().map(|r| r.tid);
    let pinned_ran_on = rows
        .iter()
        .find(|r| Some(r.lwp) == pinned_tid)
        .map(|r| r.psr);
    let sharing = rows
        .iter()
        .filter(|r| Some(r.lwp) != pinned_tid && Some(r.psr) == pinned_ran_on)
        .count();
    out::event(
        "pinned",
        json!({"thread": 0, "tid": pinned_tid, "cpu": pin_cpu, "ran_on": pinned_ran_on, "others_last_on_that_cpu": sharing}),
        format!(
            "thread 0 pinned itself to CPU {pin_cpu} (sched_setaffinity on its own tid), and its PSR is {}; {sharing} other thread(s) of this process last ran on that CPU too: pinning chooses where a thread may run, it does not give it the core alone (\"单独占用一个内核\" is not what the kernel does)",
            pinned_ran_on.map_or("?".into(), |c| c.to_string())
        ),
    );
    out::summary(json!({
        "pid": pid,
        "main_tid": main_tid,
        "tids": tids,
        "same_pid": same_pid,
        "distinct_tids": all_distinct,
        "num_threads": kernel_threads,
        "task_dir_matches": task_matches,
        "lwp": rows,
        "pinned": {"thread": 0, "tid": pinned_tid, "cpu": pin_cpu, "ran_on": pinned_ran_on},
    }));
    ensure!(
        pinned_ran_on == Some(pin_cpu as u32),
        "thread 0 was pinned to CPU {pin_cpu} but /proc says it last ran on {pinned_ran_on:?}"
    );
    ensure!(same_pid, "a thread reported another pid than {pid}");
    ensure!(
        all_distinct,
        "two live threads reported the same tid: {tids:?}"
    );
    ensure!(
        main_tid == pid as i32,
        "the main thread's tid {main_tid} is not the pid {pid}"
    );
    ensure!(
        task_matches && kernel_threads == i64::from(thread_count) + 1,
        "/proc disagrees: {kernel_threads} threads, task dir {listed:?}, reported {distinct:?}"
    );
    Ok(())
}
