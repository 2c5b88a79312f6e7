//! `sync-vs-async`: 同步执行 vs 异步执行 (000 point 7; 004 同步与异步).
//!
//! Python:
//!
//! ```text
//! t = time(); [pool.apply(work, (i,)) for i in range(4)]             # each call waits
//! t = time(); rs = [pool.apply_async(work, (i,)) for i in range(4)]  # none waits
//! [r.get() for r in rs]
//! ```
//!
//! `apply` is synchronous: the call returns only when the task is done, with its value, so the
//! next task cannot start before: 4 tasks of 0.5 s take about 2 s whatever the pool size.
//! `apply_async` is asynchronous: each call returns a handle at once, the workers run the tasks
//! side by side, and `get` collects: about 2 s / workers (1 s on 2 workers).

use std::time::Instant;

use anyhow::{ensure, Result};
use common::{json, out, secs, sleep};

use crate::{Ctx, Pool, Tasks};

/// Flags of `sync-vs-async`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many tasks each way (1..=1000).
    #[arg(long, default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=crate::MAX_TASKS as i64))]
    pub tasks: u32,
}

/// Run the demo.
pub fn run(a: &Args, ctx: &Ctx) -> Result<()> {
    let workers = ctx.workers;
    let mut tasks = Tasks::new();
    let work = tasks.register("work", |i: u64| {
        sleep(secs(0.5));
        i * 10
    });
    let pool = Pool::with_options(tasks, ctx.options(workers))?;
    let n = u64::from(a.tasks);

    out::say(format!(
        "apply: {n} tasks of 0.5 s, one call after the other"
    ));
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
    out::event(
        "compare",
        json!({"apply_ms": apply_ms, "apply_async_ms": apply_async_ms}),
        format!(
            "apply: {apply_ms:.0} ms (about the sum of the tasks); apply_async: {apply_async_ms:.0} ms \
             (about the sum / {workers} workers)"
        ),
    );
    pool.close();
    pool.join()?;
    ctx.show_timeline(&pool);
    out::summary(json!({
        "apply_ms": apply_ms,
        "apply_async_ms": apply_async_ms,
        "workers": workers,
        "tasks": n,
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
    Ok(())
}

fn ms(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e6).round() / 1e3
}
