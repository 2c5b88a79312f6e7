//! `edges`: three rules of `multiprocessing.Pool` the notes touch on (000 进程池, point 6),
//! each run here, with Python's own words beside what this pool does.
//!
//! Python (3.11, fork; each comment is what Python prints or does):
//!
//! ```python
//! import time
//! from multiprocessing import Pool
//!
//! def work(i):
//!     time.sleep(0.3); print("task", i, "ran", flush=True)
//!
//! if __name__ == "__main__":
//!     pool = Pool(1)
//!     try: pool.join()
//!     except ValueError as e: print("ValueError:", e)   # ValueError: Pool is still running
//!     for i in range(3): pool.apply_async(work, (i,))
//!     print("leaving without close() or join()")
//!     # ...and no "task i ran" line ever comes: at exit the pool's finalizer terminates the worker
//! ```
//!
//! And the function defined after `Pool()`:
//!
//! ```text
//! pool = Pool(1)
//! def f(x): return x * x            # too late: the worker was forked without it
//! pool.apply(f, (3,))               # waits forever; the worker prints
//! AttributeError: Can't get attribute 'f' on <module '__main__' from 'x.py'>
//! ```
//!
//! Why Python behaves so:
//! - **Leaving without `close()` / `join()`.** `Pool()` registers a finalizer that runs at
//!   interpreter exit (or when the pool is garbage-collected, or `with Pool()` ends) and
//!   *terminates* the workers: SIGTERM, mid-task or idle. What is still queued is dropped.
//!   `close(); join()` is what says "run what I gave you, then stop". This pool does the same
//!   when the [`Pool`] value is dropped (end of scope, or of `main`): dropping is Rust's
//!   finalizer, and it terminates; every task still queued fails with "terminated".
//! - **A function defined after `Pool()`.** Python sends a task's function *by name*
//!   (`__main__.f`) and the worker looks the name up in its own copy of the program, the one
//!   fork made at `Pool()`. A function defined later is not in that copy: the lookup fails
//!   *in the worker*, the worker dies of the `AttributeError`, the pool forks another, and
//!   nobody ever answers the `apply`: it waits forever. Here the same mistake does not compile:
//!   functions go into a [`Tasks`] list, and `Pool::new(tasks, ..)` takes the list *by value*,
//!   so `tasks.register(..)` after it is `error[E0382]: borrow of moved value: tasks`. What one
//!   *can* write is a second list made after the pool, and a handle from it: the pool knows
//!   its own list (each list has an id, and each handle carries it), so it refuses in the
//!   parent, at once, before anything is sent; nothing waits.
//! - **`join()` before `close()`.** `join` waits for the workers to exit, and they exit only
//!   once told no more tasks will come; before `close()` that wait could never end, so Python
//!   refuses it with `ValueError`. So does this pool, with Python's words.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use common::sync::Event;
use common::{json, out, Shared};
use serde::Serialize;

use crate::{Pool, Settings, TaskError, Tasks};

/// What Python 3.11 prints for each rule, word for word (the tests run the snippets in
/// [`python`] and look for these).
pub mod python_says {
    /// Printed by the snippet just before it leaves; no "task i ran" line follows.
    pub const LEAVE: &str = "submitted 3 tasks; leaving without close() or join()";
    /// Printed by the worker (on stderr, in its traceback). The module's name follows
    /// (`from 'x.py'>`, or `(built-in)>` for `python3 -c`).
    pub const DEFINED_AFTER: &str = "AttributeError: Can't get attribute 'f' on <module '__main__'";
    /// Raised by `pool.join()` on a running pool.
    pub const JOIN_BEFORE_CLOSE: &str = "ValueError: Pool is still running";
}

/// The Python programs behind each rule, runnable as `python3 -c PROGRAM` (in the summary, so
/// a student can run them, and the tests do).
pub mod python {
    /// Leave without `close()` / `join()`.
    pub const LEAVE: &str = r#"import time
from multiprocessing import Pool
def work(i):
    time.sleep(0.3); print("task", i, "ran", flush=True)
if __name__ == "__main__":
    pool = Pool(1)
    rs = [pool.apply_async(work, (i,)) for i in range(3)]
    print("submitted 3 tasks; leaving without close() or join()", flush=True)
"#;
    /// Define the task function after `Pool()`.
    pub const DEFINED_AFTER: &str = r#"import multiprocessing as mp
if __name__ == "__main__":
    pool = mp.Pool(1)
    def f(x): return x * x
    r = pool.apply_async(f, (3,))
    try: r.get(timeout=2)
    except mp.TimeoutError: print("get(timeout=2): no result; apply(f, (3,)) would wait forever", flush=True)
    pool.terminate()
"#;
    /// `join()` before `close()`.
    pub const JOIN_BEFORE_CLOSE: &str = r#"from multiprocessing import Pool
if __name__ == "__main__":
    pool = Pool(1)
    try: pool.join()
    except ValueError as e: print("ValueError:", e, flush=True)
    pool.close(); pool.join()
"#;
}

common::shared_struct! {
    /// A gate the queued tasks wait at and nobody opens: none of them can finish before the
    /// pool is dropped, on any machine, at any speed.
    struct Gate {
        /// 0: closed (always, here).
        open: AtomicU32,
        /// The task sleeps here.
        opened: Event,
    }
}

/// Flags of `edges` (none of its own: `--workers` is fixed at 1, as in the Python).
#[derive(clap::Args, Debug, Clone)]
pub struct Args {}

/// One rule, as the summary lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// The rule, short.
    pub rule: &'static str,
    /// The Python program that shows it (`python3 -c`).
    pub python: &'static str,
    /// What Python prints, word for word.
    pub python_prints: &'static str,
    /// What Python does, in a sentence.
    pub python_says: String,
    /// What this pool does, with its own words (`Err: ...` for a refusal).
    pub we_do: String,
}

fn show(r: &Rule) {
    out::event(
        "rule",
        json!(r),
        format!(
            "{}\n  Python: {}\n  here:   {}",
            r.rule, r.python_says, r.we_do
        ),
    );
}

/// Run the demo.
pub fn run(_a: &Args, settings: &Settings) -> Result<()> {
    let mut rules = Vec::new();

    // 1. Leave without close() / join(): drop the pool with three tasks queued.
    let g = std::rc::Rc::new(Shared::<Gate>::new_zeroed().context("mmap(MAP_SHARED)")?);
    let mut tasks = Tasks::new();
    let wait = tasks.register("work", move |i: u64| {
        g.opened
            .wait_until(|| g.open.load(Ordering::SeqCst) != 0, None);
        i
    });
    let pool = Pool::with_options(tasks, settings.options(1))?;
    let handles: Vec<_> = (0..3).map(|i| pool.apply_async(&wait, i)).collect();
    out::say("three tasks submitted to a pool of 1; now the pool goes out of scope, as at the end of main");
    drop(pool);
    let outcomes: Vec<Result<u64, TaskError>> = handles.iter().map(|h| h.get()).collect();
    let ran = outcomes.iter().filter(|o| o.is_ok()).count();
    let why = outcomes
        .iter()
        .find_map(|o| o.as_ref().err())
        .map_or_else(String::new, ToString::to_string);
    rules.push(Rule {
        rule: "leaving without close() / join()",
        python: python::LEAVE,
        python_prints: python_says::LEAVE,
        python_says: format!(
            "prints {:?} and nothing more: no queued task runs, the pool's finalizer terminates \
             the workers at exit",
            python_says::LEAVE
        ),
        we_do: format!(
            "dropping the Pool terminates its workers, like Python's finalizer: {ran} of 3 \
             queued tasks ran; get() on each: {why}"
        ),
    });
    show(&rules[0]);

    // 2. A function defined after Pool(): a handle from a list made after the pool.
    let mut tasks = Tasks::new();
    let square = tasks.register("square", |x: u64| x * x);
    let pool = Pool::with_options(tasks, settings.options(1))?;
    let mut later = Tasks::new();
    let f = later.register("f", |x: u64| x * x);
    let t = Instant::now();
    let refused = pool.apply(&f, 3);
    let refused_ms = t.elapsed().as_secs_f64() * 1e3;
    let still_works = pool.apply(&square, 3)?;
    pool.close();
    pool.join()?;
    rules.push(Rule {
        rule: "a task function defined after Pool()",
        python: python::DEFINED_AFTER,
        python_prints: python_says::DEFINED_AFTER,
        python_says: format!(
            "{} ...> in the worker, which dies and is replaced; apply() waits forever",
            python_says::DEFINED_AFTER
        ),
        we_do: match &refused {
            Err(e) => format!(
                "Err: {e} (at once, in the parent, after {refused_ms:.2} ms; registering after \
                 Pool::new does not compile: the list was moved into the pool; the pool goes \
                 on: apply(square, 3) = {still_works})"
            ),
            Ok(v) => format!("Ok({v}): a handle from another list ran (a bug)"),
        },
    });
    show(&rules[1]);

    // 3. join() before close().
    let mut tasks = Tasks::new();
    let _square = tasks.register("square", |x: u64| x * x);
    let pool = Pool::with_options(tasks, settings.options(1))?;
    let early = pool.join();
    pool.close();
    pool.join()?;
    rules.push(Rule {
        rule: "join() before close()",
        python: python::JOIN_BEFORE_CLOSE,
        python_prints: python_says::JOIN_BEFORE_CLOSE,
        python_says: format!(
            "raises {}: join would wait for workers that are never told to stop",
            python_says::JOIN_BEFORE_CLOSE
        ),
        we_do: match &early {
            Err(e) => format!("Err: {e:#}"),
            Ok(()) => "Ok: join returned on a running pool (a bug)".into(),
        },
    });
    show(&rules[2]);

    out::summary(json!({ "rules": rules }));
    ensure!(ran == 0, "a task queued behind the gate ran");
    ensure!(
        matches!(refused, Err(TaskError::NotRegistered(_))),
        "a handle from a list made after the pool was not refused"
    );
    ensure!(early.is_err(), "join() before close() was not refused");
    Ok(())
}
