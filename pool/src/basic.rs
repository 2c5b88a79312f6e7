//! `basic` (the default): the notes' usage of a pool (000, points 3, 5, 6, 8).
//!
//! Python:
//!
//! ```text
//! def work(i):                       # above Pool(): the workers must have it
//!     print("task", i, "in", os.getpid()); time.sleep(1); return i * i
//! pool = Pool()                      # os.cpu_count() workers, forked now
//! for i in range(6):
//!     pool.apply_async(work, (i,), callback=lambda r: print("got", r))
//! pool.close(); pool.join()
//! ```
//!
//! Six tasks, two workers: the first two tasks start at once, the others wait their turn, and
//! every task prints one of the *same two* pids: the processes are reused (the wardrobe's
//! hangers). The callbacks print the parent's pid: they run in the parent, when a result has
//! come back. `close` says "no more tasks", `join` waits for the queue to empty and then reaps
//! the workers, which only now exit.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use anyhow::{ensure, Result};
use common::{json, out, secs, sleep};

use crate::{Ctx, Pool, Tasks};

/// Flags of `basic`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many tasks to submit (1..=1000); more than the workers, so they queue.
    #[arg(long, default_value_t = 6,
          value_parser = clap::value_parser!(u32).range(1..=crate::MAX_TASKS as i64))]
    pub tasks: u32,
}

impl Default for Args {
    fn default() -> Self {
        Args { tasks: 6 }
    }
}

/// Run the demo.
pub fn run(a: &Args, ctx: &Ctx) -> Result<()> {
    let workers = ctx.workers;
    // Registered before the pool forks: the workers are copies of this process as it is now.
    let mut tasks = Tasks::new();
    let work = tasks.register("work", |i: u64| {
        out::event(
            "task_started",
            json!({"task": i, "worker": std::process::id()}),
            format!("  [worker {}] task {i}: working 1 s...", std::process::id()),
        );
        sleep(secs(1.0));
        i * i
    });
    out::say(format!(
        "parent {}: pool = Pool({workers}): forking {workers} workers once",
        std::process::id()
    ));
    let pool = Pool::with_options(tasks, ctx.options(workers))?;
    out::say(format!(
        "submitting {} tasks with apply_async: it returns at once with a handle (AsyncResult)",
        a.tasks
    ));
    let got = Rc::new(RefCell::new(Vec::new()));
    let handles: Vec<_> = (0..u64::from(a.tasks))
        .map(|i| {
            let got = got.clone();
            pool.apply_async_with(
                &work,
                i,
                move |r| {
                    out::event(
                        "callback",
                        json!({"task": i, "result": r, "in": std::process::id()}),
                        format!(
                            "callback in the parent ({}): task {i} -> {r}",
                            std::process::id()
                        ),
                    );
                    got.borrow_mut().push(i);
                },
                move |e| {
                    out::event(
                        "error_callback",
                        json!({"task": i, "error": e.to_string()}),
                        format!("error_callback in the parent: task {i}: {e}"),
                    );
                },
            )
        })
        .collect();
    out::say(
        "all submitted; close() (no more tasks) and join() (wait for the queue, then the workers)",
    );
    pool.close();
    pool.join()?;

    let mut results = Vec::new();
    let mut pids = BTreeSet::new();
    for h in &handles {
        results.push(h.get()?);
        if let Some(p) = h.worker_pid() {
            pids.insert(p);
        }
    }
    out::say(format!(
        "{} tasks ran in {} distinct worker processes ({:?}): each worker took task after task",
        a.tasks,
        pids.len(),
        pids
    ));
    ctx.show_timeline(&pool);
    out::summary(json!({
        "tasks": a.tasks,
        "workers": workers,
        "distinct_pids": pids.len(),
        "worker_pids": pids,
        "results": results,
        "callbacks": got.borrow().len(),
        "workers_started": pool.stats().workers_started,
    }));
    ensure!(
        pids.len() <= workers,
        "more distinct pids than workers: a worker was not reused"
    );
    ensure!(
        results
            .iter()
            .enumerate()
            .all(|(i, &r)| r == (i * i) as u64),
        "a result is wrong"
    );
    ensure!(
        got.borrow().len() == a.tasks as usize,
        "a callback did not run"
    );
    Ok(())
}
