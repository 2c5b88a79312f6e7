//! `futures`: concurrent.futures' shape of the same pool (004 同步与异步, examples 2 and 3),
//! and `ThreadPoolExecutor` beside `ProcessPoolExecutor`.
//!
//! Python:
//!
//! ```python
//! import os, threading, time
//! from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
//!
//! def work(i):
//!     time.sleep((5 - i) * 0.1); return i * i, os.getpid()
//!
//! def report(f):
//!     print("callback in pid", os.getpid(), "thread", threading.get_native_id(), f.result())
//!
//! if __name__ == "__main__":
//!     with ProcessPoolExecutor(2) as ex:
//!         print(ex.submit(work, 4).result())           # synchronous: submit, then wait at once
//!         fs = [ex.submit(work, i) for i in range(5)]  # asynchronous: handles now, values later
//!         for f in fs: f.add_done_callback(report)     # other pids ran the work
//!         for f in as_completed(fs): print(f.result()) # in the order they complete
//!     with ThreadPoolExecutor(2) as ex:                # the same calls, threads of THIS process
//!         fs = [ex.submit(work, i) for i in range(5)]
//!         for f in fs: f.add_done_callback(report)     # same pid; callbacks on worker threads
//! ```
//!
//! Task i sleeps `(tasks - i) * 0.3 s` (times `--time-scale`): the later a task is submitted,
//! the shorter it is, so `as_completed` yields them in completion order, not submission order
//! (with 2 workers: 1, 0, then 2 and 3 at the same moment, then 4; with `--workers 5`, exactly
//! reversed). The notes (004) warn that learning of completion by checking a status "every so
//! often" is inefficient; here the parent sleeps in `poll(2)` until a worker's result or death
//! wakes it, and the callbacks run in the parent as each result is handled.
//!
//! Then the same tasks on a [`ThreadPoolExecutor`] (`thread_pool.rs`): every task reports the
//! parent's own pid and a thread id of its own, and every callback runs on the worker thread
//! that finished the task, at that moment; a callback added to a future already done runs at
//! once in the caller's thread (Python does both the same way). The process pool's tasks report
//! other pids, and its callbacks run in the parent's main thread, at its next call into the
//! pool. To make "on a worker thread" certain rather than likely, the thread tasks wait at a
//! gate the parent opens only after every callback is attached; otherwise a fast task could be
//! done before its callback is added, and that callback would run in the caller.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex};

use anyhow::{ensure, Result};
use common::{json, out, secs, sleep, trace};
use serde::Serialize;

use crate::thread_pool::ThreadPoolExecutor;
use crate::{as_completed, Pool, Settings, Tasks};

/// Where something ran: a process and one of its threads (the kernel's thread id, as
/// Python's `threading.get_native_id()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
struct Place {
    pid: u32,
    thread: u64,
}

fn here() -> Place {
    Place {
        pid: std::process::id(),
        thread: trace::this_thread(),
    }
}

/// Flags of `futures`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many futures to submit (1..=1000).
    #[arg(long, default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=crate::MAX_TASKS as i64))]
    pub tasks: u32,
}

/// Run the demo.
pub fn run(a: &Args, settings: &Settings) -> Result<()> {
    let workers = settings.workers;
    let n = u64::from(a.tasks);
    let mut tasks = Tasks::new();
    // The argument carries the sleep, so the task needs no state of its own.
    let work = tasks.register("work", |(i, tenths): (u64, u64)| {
        sleep(secs(tenths as f64 / 10.0));
        i * i
    });
    let pool = Pool::with_options(tasks, settings.options(workers))?;

    // Synchronous use: submit and wait at once (the notes' example 2 with .result()).
    let v = pool.submit(&work, (7, 3)).result()?;
    out::event(
        "submit_result",
        json!({"task": 7, "result": v}),
        format!("submit(work, 7).result() = {v}: submit, then wait right away (synchronous)"),
    );

    // Asynchronous use: all handles first.
    let futures: Vec<_> = (0..n)
        .map(|i| pool.submit(&work, (i, 3 * (n - i))))
        .collect();
    let step_ms = common::clock::scaled(secs(0.3)).as_secs_f64() * 1e3;
    out::say(format!(
        "submitted {n} futures; task i sleeps ({n} - i) x {step_ms:.0} ms (0.3 s x --time-scale): \
         the later ones are shorter, so they complete in another order than submitted"
    ));
    let callbacks = Rc::new(RefCell::new(Vec::new()));
    for (i, f) in futures.iter().enumerate() {
        let log = callbacks.clone();
        f.add_done_callback(move |r| {
            let at = here();
            out::event(
                "done_callback",
                json!({"task": i, "ok": r.is_ok(), "in": at.pid, "thread": at.thread}),
                format!(
                    "  callback in the parent (pid {}, thread {}): task {i} done -> {r:?}",
                    at.pid, at.thread
                ),
            );
            log.borrow_mut().push((i, at));
        });
    }
    let mut completion_order = Vec::new();
    for f in as_completed(&futures) {
        let i = f.id() - futures[0].id();
        let r = f.result()?;
        out::event(
            "completed",
            json!({"task": i, "result": r, "worker": f.worker_pid()}),
            format!("as_completed -> task {i} = {r}"),
        );
        completion_order.push(i);
    }
    let results = futures
        .iter()
        .map(|f| f.result())
        .collect::<Result<Vec<_>, _>>()?;
    let task_pids: BTreeSet<i32> = futures.iter().filter_map(|f| f.worker_pid()).collect();
    pool.close();
    pool.join()?;
    settings.show_timeline(&pool);
    let parent = here();
    let process_callbacks: BTreeSet<Place> = callbacks.borrow().iter().map(|c| c.1).collect();
    out::event(
        "process_pool",
        json!({"task_pids": task_pids, "callbacks_in": process_callbacks}),
        format!(
            "ProcessPoolExecutor: the tasks ran in pids {task_pids:?} (the parent is {}); every \
             callback ran in the parent's main thread {} at its next call into the pool",
            parent.pid, parent.thread
        ),
    );

    // The same tasks on a thread pool: threads of this process. Nothing forks from here on
    // (a process with threads must not fork), and the executor joins its threads at the end.
    let threads = thread_pool_part(n, workers, step_ms)?;

    let process_pool = json!({
        "parent_pid": parent.pid,
        "main_thread": parent.thread,
        "task_pids": task_pids,
        "callback_pids": process_callbacks.iter().map(|p| p.pid).collect::<BTreeSet<_>>(),
        "callback_threads": process_callbacks.iter().map(|p| p.thread).collect::<BTreeSet<_>>(),
        "callbacks_in_parent_main_thread": process_callbacks.iter().all(|&p| p == parent),
    });
    out::summary(json!({
        "completion_order": completion_order,
        "results": results,
        "callbacks": callbacks.borrow().len(),
        "submit_result": v,
        "workers": workers,
        "process_pool": process_pool,
        "thread_pool": threads,
    }));
    let mut sorted = completion_order.clone();
    sorted.sort_unstable();
    ensure!(
        sorted == (0..n).collect::<Vec<_>>(),
        "as_completed lost or repeated a future"
    );
    ensure!(
        results
            .iter()
            .enumerate()
            .all(|(i, &r)| r == (i * i) as u64),
        "a result is wrong"
    );
    ensure!(
        callbacks.borrow().len() == n as usize,
        "a callback did not run"
    );
    Ok(())
}

/// A gate the thread tasks wait at until every callback is attached.
type Gate = Arc<(Mutex<bool>, Condvar)>;

/// `ThreadPoolExecutor(workers)` running the same tasks; returns the summary's `thread_pool`.
fn thread_pool_part(n: u64, workers: usize, step_ms: f64) -> Result<serde_json::Value> {
    let main = here();
    let gate: Gate = Arc::new((Mutex::new(false), Condvar::new()));
    let mut ex = ThreadPoolExecutor::new(workers)?;
    let futures: Vec<_> = (0..n)
        .map(|i| {
            let gate = gate.clone();
            ex.submit(move || {
                let (open, opened) = &*gate;
                let mut is_open = open.lock().unwrap_or_else(|e| e.into_inner());
                while !*is_open {
                    is_open = opened.wait(is_open).unwrap_or_else(|e| e.into_inner());
                }
                drop(is_open);
                let at = here();
                let _span =
                    trace::Span::begin(format!("thread task {i}"), "thread-task", at.thread)
                        .with_args(json!({"task": i}));
                sleep(secs(((n - i) * 3) as f64 / 10.0));
                (i * i, at)
            })
        })
        .collect();
    let log: Arc<Mutex<Vec<(u64, Place)>>> = Arc::default();
    for (i, f) in futures.iter().enumerate() {
        let log = log.clone();
        f.add_done_callback(move |r| {
            let at = here();
            out::event(
                "thread_done_callback",
                json!({"task": i, "in": at.pid, "thread": at.thread}),
                format!(
                    "  ThreadPoolExecutor callback: task {i} -> {:?}, in pid {} on thread {}",
                    r.as_ref().map(|v| v.0),
                    at.pid,
                    at.thread
                ),
            );
            log.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((i as u64, at));
        });
    }
    // Every callback is attached: let the tasks go.
    *gate.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
    gate.1.notify_all();
    let mut results = Vec::new();
    let mut ran_at = BTreeSet::new();
    for f in &futures {
        let (v, at) = f.result().map_err(anyhow::Error::msg)?;
        results.push(v);
        ran_at.insert(at);
    }
    // A callback added to a future already done runs at once, in the caller's thread.
    let late = Arc::new(Mutex::new(None));
    let l = late.clone();
    futures[0]
        .add_done_callback(move |_| *l.lock().unwrap_or_else(|e| e.into_inner()) = Some(here()));
    ex.shutdown();
    let late = *late.lock().unwrap_or_else(|e| e.into_inner());
    let log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let cb_at: BTreeSet<Place> = log.iter().map(|c| c.1).collect();
    let task_threads: BTreeSet<u64> = ran_at.iter().map(|p| p.thread).collect();
    let on_workers = cb_at
        .iter()
        .all(|p| p.pid == main.pid && p.thread != main.thread && task_threads.contains(&p.thread));
    out::event(
        "thread_pool",
        json!({"task_places": ran_at, "callbacks_in": cb_at}),
        format!(
            "ThreadPoolExecutor: the tasks ran in pid {:?} (the parent's own) on threads {:?}, \
             not the main thread {}; each callback ran on the worker thread that finished its \
             task; a callback added once the task was done ran at once on thread {}",
            ran_at.iter().map(|p| p.pid).collect::<BTreeSet<_>>(),
            task_threads,
            main.thread,
            late.map_or(0, |p| p.thread)
        ),
    );
    ensure!(
        results
            .iter()
            .enumerate()
            .all(|(i, &r)| r == (i * i) as u64),
        "a thread pool result is wrong"
    );
    ensure!(
        log.len() == n as usize,
        "a thread pool callback did not run"
    );
    Ok(json!({
        "parent_pid": main.pid,
        "main_thread": main.thread,
        "task_ms_step": step_ms,
        "results": results,
        "task_pids": ran_at.iter().map(|p| p.pid).collect::<BTreeSet<_>>(),
        "task_threads": task_threads,
        "callbacks": log.len(),
        "callback_pids": cb_at.iter().map(|p| p.pid).collect::<BTreeSet<_>>(),
        "callback_threads": cb_at.iter().map(|p| p.thread).collect::<BTreeSet<_>>(),
        "callbacks_on_worker_threads": on_workers,
        "late_callback_thread": late.map(|p| p.thread),
    }))
}
