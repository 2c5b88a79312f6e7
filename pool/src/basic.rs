//! `basic` (the default): the notes' usage of a pool (000, points 3, 5, 6, 8), and 异步执行 as
//! the notes mean it (004 同步与异步): hand the tasks over, go and do your own work, and find
//! them done when you come back.
//!
//! Python:
//!
//! ```python
//! import os, time
//! from multiprocessing import Pool
//!
//! def work(i):                       # above Pool(): the workers must have it
//!     print("task", i, "in", os.getpid()); time.sleep(0.2); return i * i
//!
//! if __name__ == "__main__":
//!     pool = Pool(2)                 # 2 workers, forked now
//!     rs = [pool.apply_async(work, (i,), callback=lambda r: print("got", r)) for i in range(6)]
//!     time.sleep(1.2)                # the parent's own work: it does not touch the pool
//!     print(sum(r.ready() for r in rs), "done while the parent was away")
//!     pool.close(); pool.join()
//! ```
//!
//! Six tasks of 0.2 s on two workers: the first two start at once, the others wait their turn
//! on the task queue, and every task prints one of the *same two* pids: the processes are
//! reused (the wardrobe's hangers). Meanwhile the parent sleeps 1.2 s without calling the
//! pool at all, and when it comes back all six are done: the workers took task after task
//! from the shared queue on their own. The count comes from the workers' own clocks (each
//! result carries when its task ended), compared with the moment the parent came back.
//!
//! The callbacks print the parent's pid and *when* they ran: in the parent, at its first call
//! into the pool after coming back (here `join`), not while it was away. Python runs them on a
//! helper thread as results arrive; this pool has no helper thread (see `pool.rs` for why).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Instant;

use anyhow::{ensure, Result};
use common::{json, out, secs, sleep, trace};

use crate::{chart, Pool, Settings, Tasks};

/// Flags of `basic`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many tasks to submit (1..=1000); more than the workers, so they queue.
    #[arg(long, default_value_t = 6,
          value_parser = clap::value_parser!(u32).range(1..=crate::MAX_TASKS as i64))]
    pub tasks: u32,
    /// How long each task works, in milliseconds (0..=10000; scaled by --time-scale).
    #[arg(long, default_value_t = 200, value_name = "MS",
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub task_ms: u32,
    /// How long the parent is away doing its own work after submitting, in milliseconds
    /// (0..=60000; scaled by --time-scale).
    #[arg(long, default_value_t = 1200, value_name = "MS",
          value_parser = clap::value_parser!(u32).range(0..=60_000))]
    pub away_ms: u32,
    /// Draw the run as an SVG chart into FILE: a lane per worker, a bar per task, the
    /// parent's absence marked (see `chart.rs`).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<std::path::PathBuf>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            tasks: 6,
            task_ms: 200,
            away_ms: 1200,
            svg: None,
        }
    }
}

/// One callback, as the parent saw it run.
#[derive(Debug, Clone, Copy)]
struct CallbackRun {
    task: u64,
    ran_ms: f64,
}

/// Run the demo.
pub fn run(a: &Args, settings: &Settings) -> Result<()> {
    let workers = settings.workers;
    let task_s = f64::from(a.task_ms) / 1000.0;
    // --svg: fail now, with exit 2, if FILE cannot be written, not after the run.
    if let Some(path) = &a.svg {
        std::fs::File::create(path).map_err(|e| common::cli::usage("--svg", path.display(), e))?;
    }
    // Registered before the pool forks: the workers are copies of this process as it is now.
    let mut tasks = Tasks::new();
    let work = tasks.register("work", move |i: u64| {
        out::event(
            "task_started",
            json!({"task": i, "worker": std::process::id()}),
            format!(
                "  [worker {}] task {i}: working {} ms...",
                std::process::id(),
                (common::clock::scaled(secs(task_s)).as_secs_f64() * 1e3).round()
            ),
        );
        sleep(secs(task_s));
        i * i
    });
    out::say(format!(
        "parent {}: pool = Pool({workers}): forking {workers} workers once",
        std::process::id()
    ));
    let mut options = settings.options(workers);
    // The chart is drawn from the same record of who ran what when as --timeline.
    options.timeline |= a.svg.is_some();
    let pool = Pool::with_options(tasks, options)?;

    // 1. Hand the tasks over: each apply_async puts its task on the shared task queue and
    //    returns a handle at once.
    out::say(format!(
        "submitting {} tasks with apply_async: each returns at once with a handle (AsyncResult)",
        a.tasks
    ));
    let ran = Rc::new(RefCell::new(Vec::<CallbackRun>::new()));
    let handles: Vec<_> = (0..u64::from(a.tasks))
        .map(|i| {
            let ran = ran.clone();
            pool.apply_async_with(
                &work,
                i,
                move |r| {
                    let now = out::t_ms();
                    out::event(
                        "callback",
                        json!({"task": i, "result": r, "in": std::process::id(), "ran_ms": now}),
                        format!(
                            "callback in the parent ({}) at {now:.0} ms: task {i} -> {r}",
                            std::process::id()
                        ),
                    );
                    ran.borrow_mut().push(CallbackRun {
                        task: i,
                        ran_ms: now,
                    });
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

    // 2. The parent's own work: it sleeps here, never calling the pool. Whatever gets done
    //    meanwhile is done by the workers alone.
    let away = common::clock::scaled(secs(f64::from(a.away_ms) / 1000.0));
    let left_ms = out::t_ms();
    out::event(
        "parent_away",
        json!({"away_ms": away.as_secs_f64() * 1e3, "at_ms": left_ms}),
        format!(
            "parent: going away for {:.0} ms to do its own work, without touching the pool",
            away.as_secs_f64() * 1e3
        ),
    );
    let t = Instant::now();
    {
        // In a --trace: the parent's absence is a slice on its track, beside the workers' tasks.
        let _away = trace::Span::begin(
            "away: own work, the pool untouched",
            "wait",
            trace::this_thread(),
        );
        sleep(secs(f64::from(a.away_ms) / 1000.0));
    }
    let away_ms = t.elapsed().as_secs_f64() * 1e3;
    let back_ms = out::t_ms();
    out::say(format!(
        "parent: back after {away_ms:.0} ms; no callback has run yet: they run at its next call \
         into the pool (join, below)"
    ));

    // 3. close (no more tasks) and join (wait for the rest, then the workers). The results
    //    waiting on the result queue are read here, and their callbacks run here.
    pool.close();
    pool.join()?;

    let mut results = Vec::new();
    let mut pids = BTreeSet::new();
    let mut completed_while_away = 0;
    for h in &handles {
        results.push(h.get()?);
        pids.extend(h.worker_pid());
        if h.finished_ms().is_some_and(|f| f <= back_ms) {
            completed_while_away += 1;
        }
    }
    let ran = ran.borrow();
    // Zero by construction: a callback needs the parent's thread, which was asleep.
    let callbacks_while_away = ran
        .iter()
        .filter(|c| c.ran_ms > left_ms && c.ran_ms < back_ms)
        .count();
    out::event(
        "while_away",
        json!({"completed_while_away": completed_while_away, "tasks": a.tasks}),
        format!(
            "{completed_while_away} of {} tasks completed while the parent was away (by the \
             workers' clocks); callbacks run while it was away: {callbacks_while_away}",
            a.tasks,
        ),
    );
    out::say(format!(
        "{} tasks ran in {} distinct worker processes ({:?}): each worker took task after task",
        a.tasks,
        pids.len(),
        pids
    ));
    settings.show_timeline(&pool);
    if let Some(path) = &a.svg {
        let spans = pool.spans();
        let parent = chart::Parent {
            away: Some((left_ms, back_ms)),
            callbacks: ran.iter().map(|c| c.ran_ms).collect(),
        };
        let title = format!(
            "pool basic: {} tasks of {} ms on {workers} workers; the parent away {away_ms:.0} ms",
            a.tasks,
            (common::clock::scaled(secs(task_s)).as_secs_f64() * 1e3).round()
        );
        chart::write_svg(path, &title, &spans, &parent)?;
        out::event(
            "svg",
            json!({"path": path.display().to_string(), "bars": spans.len()}),
            format!(
                "chart: {} ({} bars, one per task)",
                path.display(),
                spans.len()
            ),
        );
    }
    out::summary(json!({
        "tasks": a.tasks,
        "workers": workers,
        "task_ms": a.task_ms,
        "away_ms": (away_ms * 1e3).round() / 1e3,
        "completed_while_away": completed_while_away,
        "callbacks_while_away": callbacks_while_away,
        "callback_order": ran.iter().map(|c| c.task).collect::<Vec<_>>(),
        "distinct_pids": pids.len(),
        "worker_pids": pids,
        "results": results,
        "callbacks": ran.len(),
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
    ensure!(ran.len() == a.tasks as usize, "a callback did not run");
    ensure!(
        callbacks_while_away == 0,
        "a callback ran while the parent was away: it has no thread to run it on"
    );
    Ok(())
}
