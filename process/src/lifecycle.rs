//! `lifecycle` (Process类介绍 and the two join situations, note 004).
//!
//! Python:
//!
//! ```python
//! import os, sys, time
//! from multiprocessing import Process
//!
//! def task(n, fruit, greeting="hi", exit_code=0):
//!     print(greeting, n, fruit, os.getpid(), os.getppid())
//!     time.sleep(0.1 + n / 20)          # the demo: 1 + n / 2 seconds
//!     sys.exit(exit_code)
//!
//! fruits = ["apple", "banana", "cherry"]
//! ps = [Process(target=task, args=(i, fruit), kwargs={"exit_code": 3 if i == 2 else 0},
//!               name=f"worker-{i}") for i, fruit in enumerate(fruits)]
//! for p in ps: p.start(); print(p.name, p.pid)
//! sum(range(10**5))             # situation 1: independent work first...
//! for p in ps: p.join()         # ...then wait for all and collect them
//! print([p.exitcode for p in ps])                                      # [0, 0, 3]
//! q = Process(target=print, args=("prepared",)); q.start(); q.join()   # situation 2: cannot go on without it
//! ```
//!
//! In Rust the "target with args and kwargs" is a function taking a tuple and a struct: the child
//! runs a closure that owns copies of them. Nothing is pickled or sent: fork copied the memory.
//! The last worker exits with code 3 (`sys.exit(3)`), to show what `exitcode` reports.

use std::time::Instant;

use anyhow::Result;
use common::{json, out, secs, sleep};

/// Flags of `lifecycle`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many worker children to start (1..=64).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=crate::MAX_CHILDREN as i64))]
    pub children: u32,
}

impl Default for Args {
    fn default() -> Self {
        Args { children: 3 }
    }
}

/// Python's `kwargs={...}`: named arguments of the target.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Kwargs {
    /// Printed before the arguments.
    pub greeting: &'static str,
    /// What the child exits with (`sys.exit(exit_code)`).
    pub exit_code: i32,
}

const FRUITS: [&str; 4] = ["apple", "banana", "cherry", "durian"];

/// The target: runs in the child.
fn task(name: &str, args: (u32, &str), kwargs: &Kwargs) -> Result<()> {
    let (n, fruit) = args;
    let pid = std::process::id();
    let ppid = nix::unistd::getppid().as_raw();
    out::event(
        "child_args",
        json!({"name": name, "args": [n, fruit], "kwargs": kwargs, "ppid": ppid}),
        format!(
            "  [{name}] {} {n} {fruit}  (pid {pid}, ppid {ppid}: my parent; args=({n}, '{fruit}'), kwargs={{'greeting': '{}', 'exit_code': {}}})",
            kwargs.greeting, kwargs.greeting, kwargs.exit_code
        ),
    );
    sleep(secs(1.0 + f64::from(n) / 2.0));
    if kwargs.exit_code != 0 {
        // Leave with a code of our own, like sys.exit(3). common::child turns an Err into exit 1,
        // so for any other code the target ends the process itself (after flushing).
        out::flush();
        common::sys::exit_now(kwargs.exit_code);
    }
    Ok(())
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    out::say(format!(
        "parent pid {}: starting {} children, each Process(target=task, args=(n, fruit), kwargs={{...}}, name=...)",
        std::process::id(),
        args.children
    ));
    let mut children = Vec::new();
    for i in 0..args.children {
        let name = format!("worker-{}", i + 1);
        let fruit = FRUITS[i as usize % FRUITS.len()];
        let kwargs = Kwargs {
            greeting: "hello",
            exit_code: if i + 1 == args.children && args.children > 1 {
                3
            } else {
                0
            },
        };
        let child_name = name.clone();
        let child = common::spawn(name.clone(), move || task(&child_name, (i, fruit), &kwargs))?;
        out::event(
            "started",
            json!({"name": child.name(), "child_pid": child.pid()}),
            format!("started {} with pid {}", child.name(), child.pid()),
        );
        children.push(child);
    }

    // Situation 1 (情况一): the parent's own work does not depend on the children. It does it,
    // then waits for them all and collects them, so none is left a zombie.
    out::say("situation 1: the parent does its own work while the children run...");
    sleep(secs(0.5));
    out::event(
        "parent_work_done",
        json!({}),
        "the parent's own work is done; now join() each child (waitpid: wait and reap)",
    );
    let mut list = Vec::new();
    for child in &mut children {
        let status = child.join()?;
        out::event(
            "joined",
            json!({"name": child.name(), "child_pid": child.pid(), "exit_code": status.python_exitcode()}),
            format!(
                "joined {} (pid {}): {status}, exitcode {}",
                child.name(),
                child.pid(),
                status.python_exitcode()
            ),
        );
        list.push(json!({"name": child.name(), "pid": child.pid(), "exit_code": status.python_exitcode()}));
    }

    // Situation 2 (情况二): the parent needs the child to be finished before it can go on, so it
    // blocks at join right away. The wait is waitpid in the kernel: the parent uses no CPU.
    out::say("situation 2: the parent cannot continue until its child has finished, so it blocks at join()");
    let mut prep = common::spawn("preparer", || {
        out::event(
            "child_args",
            json!({"name": "preparer"}),
            "  [preparer] preparing what the parent needs...",
        );
        sleep(secs(1.0));
        Ok(())
    })?;
    let t0 = Instant::now();
    let status = prep.join()?;
    let waited_ms = t0.elapsed().as_secs_f64() * 1e3;
    out::event(
        "joined",
        json!({"name": "preparer", "child_pid": prep.pid(), "exit_code": status.python_exitcode(), "waited_ms": waited_ms}),
        format!(
            "join() returned after {waited_ms:.0} ms ({status}); only now does the parent go on"
        ),
    );
    out::summary(json!({
        "children": list,
        "blocking_join": {"name": "preparer", "pid": prep.pid(), "exit_code": status.python_exitcode(), "waited_ms": waited_ms},
    }));
    Ok(())
}
