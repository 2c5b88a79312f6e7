//! `futures`: concurrent.futures' shape of the same pool (004 同步与异步, examples 2 and 3).
//!
//! Python:
//!
//! ```python
//! import time
//! from concurrent.futures import ProcessPoolExecutor, as_completed
//!
//! def work(i):
//!     time.sleep((5 - i) * 0.1); return i * i
//!
//! if __name__ == "__main__":
//!     with ProcessPoolExecutor(2) as ex:
//!         print(ex.submit(work, 4).result())           # synchronous: submit, then wait at once
//!         fs = [ex.submit(work, i) for i in range(5)]  # asynchronous: handles now, values later
//!         for f in fs: f.add_done_callback(lambda f: print("done:", f.result()))
//!         for f in as_completed(fs): print(f.result()) # in the order they complete
//! ```
//!
//! Task i sleeps `(tasks - i) * 0.3 s`: the later a task is submitted, the shorter it is, so
//! `as_completed` yields them in completion order, not submission order (with 2 workers:
//! 1, 0, then 2 and 3 at the same moment, then 4; with `--workers 5`, exactly reversed). The notes (004) warn
//! that learning of completion by checking a status "every so often" is inefficient; here the
//! parent sleeps in `poll(2)` until a worker's result or death wakes it, and the callbacks run
//! in the parent as each result is handled.

use std::cell::RefCell;
use std::rc::Rc;

use anyhow::{ensure, Result};
use common::{json, out, secs, sleep};

use crate::{as_completed, Pool, Settings, Tasks};

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
    out::say(format!(
        "submitted {n} futures; task i sleeps ({n} - i) * 0.3 s: the later ones are shorter, \
         so they complete in another order than submitted"
    ));
    let callbacks = Rc::new(RefCell::new(Vec::new()));
    for (i, f) in futures.iter().enumerate() {
        let log = callbacks.clone();
        f.add_done_callback(move |r| {
            out::event(
                "done_callback",
                json!({"task": i, "ok": r.is_ok(), "in": std::process::id()}),
                format!(
                    "  callback in the parent ({}): task {i} done -> {r:?}",
                    std::process::id()
                ),
            );
            log.borrow_mut().push(i);
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
    pool.close();
    pool.join()?;
    settings.show_timeline(&pool);
    out::summary(json!({
        "completion_order": completion_order,
        "results": results,
        "callbacks": callbacks.borrow().len(),
        "submit_result": v,
        "workers": workers,
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
