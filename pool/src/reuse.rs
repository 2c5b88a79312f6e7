//! `reuse`: why a pool at all (000 points 1-3 and 5): processes are costly to create and
//! destroy, so create a few and reuse them.
//!
//! Python:
//!
//! ```python
//! from multiprocessing import Pool, Process
//!
//! def work(i):
//!     return i * i
//!
//! if __name__ == "__main__":
//!     with Pool(2) as pool:
//!         pool.map(work, range(20))              # 2 processes, 20 tasks
//!     for i in range(20):                        # 20 processes
//!         p = Process(target=work, args=(i,)); p.start(); p.join()
//! ```
//!
//! The same trivial tasks, two ways. With the pool, at most `workers` distinct pids ever run
//! them (each worker takes task after task); the cost is `workers` forks plus one cheap round
//! trip per task. With a process per task, every task pays fork + exit + waitpid (run here
//! `workers` at a time, for a fair fight): N distinct pids. The ratio of the two times is the
//! notes' point 1 in a number. `--max-tasks-per-child M` shows the middle ground (Python's
//! `maxtasksperchild`): each worker retires after M tasks and a fresh one replaces it.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use common::{json, out, SharedSlice};

use crate::{Pool, Settings, Tasks};

/// Flags of `reuse`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many tasks each way (1..=1000).
    #[arg(long, default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=crate::MAX_TASKS as i64))]
    pub tasks: u32,
    /// Retire a worker after this many tasks (Python's maxtasksperchild; 1..=1000).
    #[arg(long, value_name = "M",
          value_parser = clap::value_parser!(u32).range(1..=crate::MAX_TASKS as i64))]
    pub max_tasks_per_child: Option<u32>,
}

common::shared_struct! {
    /// What one process-per-task child leaves for the parent.
    struct TaskRecord {
        /// The task's value.
        result: AtomicU64,
        /// The pid of the process that ran it.
        pid: AtomicU64,
    }
}

/// The task: trivial on purpose, so what is measured is the cost of the processes.
fn work(i: u64) -> u64 {
    i * i
}

/// Run the demo.
pub fn run(a: &Args, settings: &Settings) -> Result<()> {
    let workers = settings.workers;
    let n = u64::from(a.tasks);

    // 1. The pool: `workers` forks, then task after task.
    let t = Instant::now();
    let mut tasks = Tasks::new();
    let task = tasks.register("work", work);
    let mut opts = settings.options(workers);
    opts.max_tasks_per_child = a.max_tasks_per_child.map(u64::from);
    let pool = Pool::with_options(tasks, opts)?;
    let handles: Vec<_> = (0..n).map(|i| pool.apply_async(&task, i)).collect();
    pool.close();
    pool.join()?;
    let pool_ms = ms(t);
    let mut pool_pids = BTreeSet::new();
    for (i, h) in handles.iter().enumerate() {
        ensure!(
            h.get()? == work(i as u64),
            "pool: wrong result for task {i}"
        );
        pool_pids.extend(h.worker_pid());
    }
    let stats = pool.stats();
    out::event(
        "pool_done",
        json!({"tasks": n, "workers": workers, "distinct_pids": pool_pids.len(), "pool_ms": pool_ms,
               "workers_retired": stats.workers_retired}),
        format!(
            "pool: {n} tasks ran in {} distinct processes, {pool_ms:.1} ms including the {} forks",
            pool_pids.len(),
            stats.workers_started
        ),
    );

    // 2. A new process per task, `workers` at a time. Each child writes its result and pid into
    //    shared memory made before the forks (MAP_SHARED: the parent sees the children's stores).
    let t = Instant::now();
    let slots: SharedSlice<TaskRecord> =
        SharedSlice::new_zeroed(n as usize).context("mmap(MAP_SHARED)")?;
    let mut next = 0u64;
    while next < n {
        let batch_end = (next + workers as u64).min(n);
        let mut children = Vec::new();
        for i in next..batch_end {
            let slot = &slots[i as usize];
            children.push(common::spawn(format!("task-{i}"), move || {
                common::trace::process_name(&format!("a process for task {i}"));
                slot.result.store(work(i), Ordering::SeqCst);
                slot.pid
                    .store(u64::from(std::process::id()), Ordering::SeqCst);
                Ok(())
            })?);
        }
        for c in &mut children {
            let st = c.join()?;
            ensure!(st.success(), "process for a task ended: {st}");
        }
        next = batch_end;
    }
    let process_ms = ms(t);
    let mut proc_pids = BTreeSet::new();
    for (i, s) in slots.iter().enumerate() {
        ensure!(
            s.result.load(Ordering::SeqCst) == work(i as u64),
            "process per task: wrong result for task {i}"
        );
        proc_pids.insert(s.pid.load(Ordering::SeqCst));
    }
    let ratio = process_ms / pool_ms.max(1e-3);
    out::event(
        "process_per_task_done",
        json!({"tasks": n, "distinct_pids": proc_pids.len(), "process_per_task_ms": process_ms}),
        format!(
            "a process per task: {n} tasks ran in {} distinct processes, {process_ms:.1} ms: \
             {ratio:.1}x the pool's time",
            proc_pids.len()
        ),
    );
    settings.show_timeline(&pool);
    out::summary(json!({
        "tasks": n,
        "workers": workers,
        "distinct_pids": pool_pids.len(),
        "process_per_task_pids": proc_pids.len(),
        "pool_ms": pool_ms,
        "process_per_task_ms": process_ms,
        "ratio": (ratio * 100.0).round() / 100.0,
        "max_tasks_per_child": a.max_tasks_per_child,
        "workers_started": stats.workers_started,
        "workers_retired": stats.workers_retired,
    }));
    let bound = match a.max_tasks_per_child {
        None => workers,
        // Every worker runs at most M tasks, so at least ceil(n / M) of them were needed.
        Some(m) => workers + (n as usize).div_ceil(m as usize),
    };
    ensure!(
        pool_pids.len() <= bound,
        "pool used {} pids, more than {bound}",
        pool_pids.len()
    );
    ensure!(
        proc_pids.len() == n as usize,
        "a process per task should give {n} pids"
    );
    Ok(())
}

fn ms(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e6).round() / 1e3
}
