//! `sync-vs-async`: 同步执行 vs 异步执行 (000 point 7; 004 同步与异步).
//!
//! Python:
//!
//! ```python
//! import time
//! from multiprocessing import Pool, TimeoutError
//!
//! def work(i):
//!     time.sleep(0.5); return i * 10
//!
//! if __name__ == "__main__":
//!     with Pool(2) as pool:
//!         t = time.time(); print([pool.apply(work, (i,)) for i in range(4)], time.time() - t)
//!         t = time.time(); rs = [pool.apply_async(work, (i,)) for i in range(4)]  # none waits
//!         print([r.get() for r in rs], time.time() - t)
//!         r = pool.apply_async(work, (7,))
//!         try: r.get(timeout=0.2)
//!         except TimeoutError: print("timed out; the task goes on:", r.get())
//! ```
//!
//! `apply` is synchronous: the call returns only when the task is done, with its value, so the
//! next task cannot start before: 4 tasks of 0.5 s take about 2 s whatever the pool size.
//! `apply_async` is asynchronous: each call returns a handle at once, the workers run the tasks
//! side by side, and `get` collects: about 2 s / workers (1 s on 2 workers).
//!
//! Last, `get(timeout)`: a task that waits at a gate (an `Event` in shared memory, made before
//! the pool) cannot be done before the parent opens it, so `get_timeout` reports a timeout every
//! time, on any machine; the task is not cancelled, and once the gate is open a plain `get`
//! returns its value. Python: `r.get(timeout=0.2)` raises `multiprocessing.TimeoutError`.

use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use common::sync::Event;
use common::{json, out, secs, sleep, Shared};

use crate::{Pool, Settings, TaskError, Tasks};

common::shared_struct! {
    /// The gate the `get(timeout)` task waits at, in memory the parent and the workers share.
    struct Gate {
        /// 0: closed, 1: open.
        open: AtomicU32,
        /// The task sleeps here until the parent opens the gate.
        opened: Event,
    }
}

/// Flags of `sync-vs-async`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many tasks each way (1..=1000).
    #[arg(long, default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=crate::MAX_TASKS as i64))]
    pub tasks: u32,
}

/// Run the demo.
pub fn run(a: &Args, settings: &Settings) -> Result<()> {
    let workers = settings.workers;
    let mut tasks = Tasks::new();
    let work = tasks.register("work", |i: u64| {
        sleep(secs(0.5));
        i * 10
    });
    // The gate for the timeout part: 0 = closed, 1 = open. In shared memory, before the fork.
    let gate = Rc::new(Shared::<Gate>::new_zeroed().context("mmap(MAP_SHARED)")?);
    let g = gate.clone();
    let gated = tasks.register("gated", move |i: u64| {
        // Sleeps in the kernel until the parent opens the gate.
        g.opened
            .wait_until(|| g.open.load(Ordering::SeqCst) != 0, None);
        i * 10
    });
    let pool = Pool::with_options(tasks, settings.options(workers))?;
    let n = u64::from(a.tasks);
    // What each task really sleeps: the notes' 0.5 s times --time-scale. The labels say this,
    // not 0.5 s, so a run at --time-scale 0.1 does not claim tasks ten times longer than ran.
    let task_ms = common::clock::scaled(secs(0.5)).as_secs_f64() * 1e3;
    let scale = common::clock::time_scale();

    out::event(
        "apply_start",
        json!({"tasks": n, "task_ms": task_ms, "time_scale": scale}),
        format!(
            "apply: {n} tasks of {} (0.5 s x --time-scale {scale}), one call after the other",
            ms_label(task_ms)
        ),
    );
    let t = Instant::now();
    let mut sync_results = Vec::new();
    for i in 0..n {
        let t_call = Instant::now();
        let r = pool.apply(&work, i)?;
        out::event(
            "apply_returned",
            json!({"task": i, "result": r, "call_ms": ms(t_call)}),
            format!(
                "  apply(work, {i}) returned {r} after {:.0} ms: the caller waited for it",
                ms(t_call)
            ),
        );
        sync_results.push(r);
    }
    let apply_ms = ms(t);

    out::say(format!(
        "apply_async: the same {n} tasks, all submitted before any get()"
    ));
    let t = Instant::now();
    let handles: Vec<_> = (0..n).map(|i| pool.apply_async(&work, i)).collect();
    out::event(
        "submitted",
        json!({"tasks": n, "submit_ms": ms(t)}),
        format!(
            "  {n} apply_async calls returned after {:.1} ms in all: nobody waited",
            ms(t)
        ),
    );
    let mut async_results = Vec::new();
    for h in &handles {
        async_results.push(h.get()?);
    }
    let apply_async_ms = ms(t);
    let sum_ms = task_ms * n as f64;
    out::event(
        "compare",
        json!({"apply_ms": apply_ms, "apply_async_ms": apply_async_ms, "sum_of_tasks_ms": sum_ms}),
        format!(
            "apply: {apply_ms:.0} ms (the sum of the tasks is {n} x {} = {}); apply_async: \
             {apply_async_ms:.0} ms (about that sum / {workers} workers = {})",
            ms_label(task_ms),
            ms_label(sum_ms),
            ms_label(sum_ms / workers as f64),
        ),
    );

    // get(timeout): the task cannot finish before the gate opens, so the timeout is certain.
    let h = pool.apply_async(&gated, 7);
    let wait = common::clock::scaled(secs(0.2));
    let first = h.get_timeout(wait);
    let timed_out = first == Err(TaskError::Timeout);
    out::event(
        "get_timeout",
        json!({"timed_out": timed_out, "timeout_ms": wait.as_secs_f64() * 1e3}),
        format!(
            "get(timeout={:.0} ms) on a task still running: {}",
            wait.as_secs_f64() * 1e3,
            match &first {
                Err(e) => e.to_string(),
                Ok(v) => format!("{v}"),
            }
        ),
    );
    gate.open.store(1, Ordering::SeqCst);
    gate.opened.notify();
    let later = h.get()?;
    out::event(
        "get_after_timeout",
        json!({"result": later}),
        format!("the task was not cancelled: after opening its gate, get() = {later}"),
    );

    pool.close();
    pool.join()?;
    settings.show_timeline(&pool);
    out::summary(json!({
        "get_timeout_timed_out": timed_out,
        "get_after_timeout": later,
        "apply_ms": apply_ms,
        "apply_async_ms": apply_async_ms,
        "workers": workers,
        "tasks": n,
        "task_ms": task_ms,
        "apply_results": sync_results,
        "apply_async_results": async_results,
    }));
    ensure!(
        sync_results == async_results
            && sync_results
                .iter()
                .enumerate()
                .all(|(i, &r)| r == i as u64 * 10),
        "apply and apply_async returned different values"
    );
    ensure!(
        timed_out && later == 70,
        "get(timeout) should time out on a gated task, then get() return 70"
    );
    Ok(())
}

/// A duration in milliseconds as a label: `500 ms`, `0.5 ms`, `0 ms`.
fn ms_label(ms: f64) -> String {
    if ms >= 10.0 || ms == 0.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn ms(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e6).round() / 1e3
}
