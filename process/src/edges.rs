//! `edges` (Process类介绍, note 004): the rules `multiprocessing.Process` enforces, each shown
//! with Python's own words beside what this Rust version does.
//!
//! Python (3.11; every commented line is what Python prints or raises):
//!
//! ```python
//! import os
//! from multiprocessing import Process
//!
//! def task(n, greeting="hi"): print(greeting, n, os.getpid())
//!
//! def start_a_child(): Process(target=task, args=(0,)).start()
//!
//! if __name__ == "__main__":
//!     a, b = Process(target=task, args=(1,)), Process(target=task, args=(2,))
//!     print(a.name, b.name)      # Process-1 Process-2
//!     print(a.pid, a.exitcode)   # None None: nothing runs before start()
//!     a.run()                    # task(1) runs HERE, in this process: same pid
//!     try: Process(group=1, target=task)
//!     except AssertionError as e: print(e)   # group argument must be None for now
//!     try: b.join()
//!     except AssertionError as e: print(e)   # can only join a started process
//!     b.start()
//!     try: b.daemon = True
//!     except AssertionError as e: print(e)   # process has already started
//!     b.join()
//!     d = Process(target=start_a_child, daemon=True); d.start(); d.join()
//!     # in d: AssertionError: daemonic processes are not allowed to have children
//!     k = Process(target=task, args=(3,), kwargs={"greeting": "hello"}); k.start(); k.join()
//! ```
//!
//! [`Process`] below is a Python-shaped wrapper over `common::spawn` (fork) with the same
//! rules, so that each edge can be *run* here. Where Rust's types make a mistake impossible to
//! write, the demo says so instead: there is no `group` parameter to pass. Why Python has each
//! rule: `pid`/`exitcode` only exist once fork has happened; a daemon is terminated at its
//! parent's exit without any chance to clean up, so children it started would be orphaned;
//! `daemon` decides how the child is treated at fork time, so changing it later would lie; and
//! `join` is waitpid, which needs a pid.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Result};
use common::child::Child;
use common::{json, out};

/// Python's error texts, as CPython 3.11 raises them (`multiprocessing/process.py`).
pub mod python_says {
    /// `Process(group=...)` with anything but None.
    pub const GROUP: &str = "AssertionError: group argument must be None for now";
    /// `start()` inside a daemonic process.
    pub const DAEMON_CHILDREN: &str =
        "AssertionError: daemonic processes are not allowed to have children";
    /// `p.daemon = ...` after `p.start()`.
    pub const DAEMON_AFTER_START: &str = "AssertionError: process has already started";
    /// `p.join()` before `p.start()`.
    pub const JOIN_BEFORE_START: &str = "AssertionError: can only join a started process";
}

/// Our counter for default names, like CPython's `_process_counter`: `Process-1`, `Process-2`...
static COUNTER: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// Set in a child started with `daemon = true`, before its target runs.
    static IN_DAEMON: Cell<bool> = const { Cell::new(false) };
}

/// A Python-shaped process: made first, started later.
pub struct Process<F: Fn() -> Result<()>> {
    name: String,
    target: F,
    daemon: bool,
    child: Option<Child>,
}

impl<F: Fn() -> Result<()>> Process<F> {
    /// `Process(target=...)`: nothing runs yet. The default name counts up from `Process-1`.
    pub fn new(target: F) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
        Process {
            name: format!("Process-{n}"),
            target,
            daemon: false,
            child: None,
        }
    }

    /// `p.name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `p.pid`: `None` until `start()` has forked.
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(Child::pid)
    }

    /// `p.exitcode`: `None` until the child has been joined (reaped).
    pub fn exitcode(&self) -> Option<i32> {
        self.child.as_ref().and_then(Child::exitcode)
    }

    /// `p.daemon = value`: refused once started (the child was already made as it was).
    pub fn set_daemon(&mut self, value: bool) -> Result<()> {
        if self.child.is_some() {
            bail!("process has already started");
        }
        self.daemon = value;
        Ok(())
    }

    /// `p.run()`: call the target *here*, in the calling process. No fork.
    pub fn run(&self) -> Result<()> {
        (self.target)()
    }

    /// `p.start()`: fork; the child runs the target. Refused inside a daemonic process.
    pub fn start(&mut self) -> Result<()> {
        if IN_DAEMON.with(Cell::get) {
            bail!("daemonic processes are not allowed to have children");
        }
        if self.child.is_some() {
            bail!("cannot start a process twice");
        }
        let (daemon, target) = (self.daemon, &self.target);
        self.child = Some(common::spawn(self.name.clone(), move || {
            IN_DAEMON.with(|d| d.set(daemon));
            target()
        })?);
        Ok(())
    }

    /// `p.join()`: waitpid. Refused before `start()`: there is no pid to wait for.
    pub fn join(&mut self) -> Result<()> {
        match self.child.as_mut() {
            None => bail!("can only join a started process"),
            Some(c) => c.join().map(drop),
        }
    }
}

/// One rule: what Python says, what we do.
#[derive(Debug, serde::Serialize)]
struct Rule {
    rule: &'static str,
    python_says: String,
    we_do: String,
}

fn show(rule: Rule) -> Rule {
    out::event(
        "rule",
        json!(rule),
        format!(
            "{}\n    Python: {}\n    ours:   {}",
            rule.rule, rule.python_says, rule.we_do
        ),
    );
    rule
}

/// What an `Err` from our API says, for the "ours" column.
fn refused(result: Result<()>) -> String {
    match result {
        Ok(()) => "allowed (no error)".into(),
        Err(e) => format!("Err: {e}"),
    }
}

/// The target of most edges: print who runs it.
fn task(n: u32, greeting: &str) -> Result<()> {
    out::event(
        "task",
        json!({"n": n, "greeting": greeting}),
        format!("    [task] {greeting} {n}  (pid {})", std::process::id()),
    );
    Ok(())
}

/// Run the demo.
pub fn run() -> Result<()> {
    let me = std::process::id();
    out::say(format!(
        "the edges of Process(...), Python's words beside ours (this process: pid {me})"
    ));
    let mut rules = Vec::new();

    let a = Process::new(|| task(1, "hi"));
    let mut b = Process::new(|| task(2, "hi"));
    rules.push(show(Rule {
        rule: "default names",
        python_says: "Process-1 Process-2".into(),
        we_do: format!("{} {}", a.name(), b.name()),
    }));
    rules.push(show(Rule {
        rule: "pid and exitcode before start()",
        python_says: "None None".into(),
        we_do: format!("{:?} {:?}", a.pid(), a.exitcode()),
    }));

    // run() called directly: the target runs in this process. We record the pid it saw.
    let seen = Cell::new(0u32);
    let direct = Process::new(|| {
        seen.set(std::process::id());
        task(1, "hi")
    });
    direct.run()?;
    rules.push(show(Rule {
        rule: "run() called directly",
        python_says: "the target runs in the caller: os.getpid() is the caller's pid".into(),
        we_do: format!(
            "the target ran in pid {} (the caller is pid {me}): {}",
            seen.get(),
            if seen.get() == me {
                "the same process, no fork"
            } else {
                "ANOTHER process"
            }
        ),
    }));

    rules.push(show(Rule {
        rule: "group must be None",
        python_says: python_says::GROUP.into(),
        we_do: "Process::new(target) has no group parameter: passing one does not compile".into(),
    }));

    rules.push(show(Rule {
        rule: "join() before start()",
        python_says: python_says::JOIN_BEFORE_START.into(),
        we_do: refused(b.join()),
    }));

    b.start()?;
    let pid_after = b.pid();
    rules.push(show(Rule {
        rule: "daemon set after start()",
        python_says: python_says::DAEMON_AFTER_START.into(),
        we_do: refused(b.set_daemon(true)),
    }));
    b.join()?;
    out::event(
        "joined",
        json!({"name": b.name(), "pid": pid_after, "exitcode": b.exitcode()}),
        format!(
            "    (after start and join: {} has pid {:?}, exitcode {:?})",
            b.name(),
            pid_after,
            b.exitcode()
        ),
    );

    // A daemon that tries to start a child: the refusal happens in the daemon, which reports
    // it over a pipe (its own stdout line would do too; the pipe gives the parent the text).
    let verdict = std::cell::RefCell::new(crate::gate::Gate::new()?);
    let mut d = Process::new(|| {
        let mut verdict = verdict.borrow_mut();
        verdict.keep_write_end();
        let mut grandchild = Process::new(|| task(0, "hi"));
        let text = refused(grandchild.start());
        if grandchild.pid().is_some() {
            grandchild.join()?;
        }
        for byte in text.bytes() {
            verdict.open(byte)?;
        }
        Ok(())
    });
    d.set_daemon(true)?;
    d.start()?;
    let mut verdict = verdict.borrow_mut();
    verdict.keep_read_end();
    let mut text = Vec::new();
    while let Some(byte) = verdict.wait()? {
        text.push(byte);
    }
    d.join()?;
    rules.push(show(Rule {
        rule: "a daemon starts a child",
        python_says: python_says::DAEMON_CHILDREN.into(),
        we_do: String::from_utf8_lossy(&text).into_owned(),
    }));

    // kwargs: named arguments, visible in what the child prints.
    let greeting = "hello";
    let mut k = Process::new(move || task(3, greeting));
    k.start()?;
    k.join()?;
    rules.push(show(Rule {
        rule: "kwargs",
        python_says: "Process(target=task, args=(3,), kwargs={'greeting': 'hello'}) prints: hello 3"
            .into(),
        we_do: format!(
            "Process::new(move || task(3, greeting)) with greeting = {greeting:?}: the child printed \"{greeting} 3\" above (exitcode {:?})",
            k.exitcode()
        ),
    }));

    out::summary(json!({ "rules": rules }));
    Ok(())
}
