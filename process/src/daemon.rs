//! `daemon` (Process类介绍: `p.daemon`, note 004).
//!
//! Python:
//!
//! ```python
//! import time
//! from multiprocessing import Process
//!
//! def serve_forever():
//!     while True: time.sleep(0.1)
//!
//! def do_job():
//!     time.sleep(0.2); print("job done")
//!
//! d = Process(target=serve_forever, daemon=True); d.start()
//! n = Process(target=do_job);                     n.start()
//! print("main is done")
//! # at interpreter exit: daemonic children are terminate()d, the others are join()ed
//! ```
//!
//! Python implements this in an atexit hook of `multiprocessing`: the parent *itself* terminates
//! its daemons and joins the rest as it exits normally. This demo does the same, explicitly.
//!
//! 笔记勘误: the notes say a daemon "terminates when its parent terminates". Only if the parent
//! ends normally: when the parent is SIGKILLed no atexit hook runs, and Python's daemons keep
//! running as orphans. In this workspace every child also asks the kernel for
//! `PR_SET_PDEATHSIG(SIGKILL)`, so here children die with their parent however it dies. (And a
//! Python daemon may not start children of its own: it would have no chance to clean them up.)

use anyhow::{ensure, Result};
use common::{json, out, secs, sleep, ExitStatus};
use nix::sys::signal::Signal;

use crate::gate::Gate;

/// Run the demo.
pub fn run() -> Result<()> {
    // The daemon serves "forever": it blocks reading a gate that nobody ever opens.
    let mut forever = Gate::new()?;
    let mut daemon = common::spawn("daemon", || {
        forever.keep_read_end();
        out::event(
            "daemon_serving",
            json!({}),
            "  [daemon] serving forever (blocked on a pipe, using no CPU)",
        );
        forever.wait()?;
        Ok(())
    })?;
    let mut normal = common::spawn("normal", || {
        out::event("normal_working", json!({}), "  [normal] working for 1 s");
        sleep(secs(1.0));
        out::event("normal_done", json!({}), "  [normal] done");
        Ok(())
    })?;
    out::say("main: my own work is finished; as Python's exit hook does: join the normal child, terminate the daemon");
    let normal_status = normal.join()?;
    out::event(
        "normal_joined",
        json!({"exit_code": normal_status.python_exitcode()}),
        format!("normal child joined: {normal_status}"),
    );
    daemon.terminate()?;
    let daemon_status = daemon.join()?;
    let daemon_terminated = daemon_status == ExitStatus::Signaled(Signal::SIGTERM);
    out::event(
        "daemon_terminated",
        json!({"exit_code": daemon_status.python_exitcode()}),
        format!(
            "daemon child terminated: {daemon_status} (Python's exitcode {})",
            daemon_status.python_exitcode()
        ),
    );
    drop(forever);
    ensure!(
        daemon_terminated,
        "the daemon was not terminated by SIGTERM: {daemon_status}"
    );
    out::summary(json!({
        "daemon_terminated": daemon_terminated,
        "daemon_exitcode": daemon_status.python_exitcode(),
        "normal_exit_code": normal_status.python_exitcode(),
    }));
    Ok(())
}
