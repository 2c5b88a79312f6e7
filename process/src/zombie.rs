//! `zombie`: what the kernel keeps of a child that has exited but has not been reaped.
//!
//! Python hides this: `Process` objects are reaped by `join()`, by `is_alive()`, and by the next
//! `Process.start()` (which reaps finished siblings). In C or Rust a child that exits stays in
//! the process table as a **zombie** (state `Z`), holding its pid and exit status, until its
//! parent calls waitpid. A parent that forks many children and never waits fills the table.
//!
//! Here the parent waits for the child's exit *without reaping* (poll on its pidfd), shows its
//! `/proc/<pid>/stat` state, then reaps it with waitpid and shows the entry is gone.

use anyhow::{ensure, Result};
use common::{json, out, procfs};

/// Run the demo.
pub fn run() -> Result<()> {
    let mut child = common::spawn("short-lived", || {
        out::event("child_exiting", json!({}), "  [child] exiting at once");
        Ok(())
    })?;
    let pid = child.pid();
    // Blocks in poll(2) until the child has exited; does not call waitpid.
    child.wait_exit_unreaped(None)?;
    let before = procfs::stat(pid)?;
    let state_before = before.as_ref().map_or('?', |s| s.state);
    out::event(
        "before_reap",
        json!({"child_pid": pid, "state": state_before.to_string()}),
        format!(
            "the child (pid {pid}) has exited; not yet reaped, /proc/{pid}/stat says state {state_before} ({})",
            if state_before == 'Z' { "zombie" } else { "?" }
        ),
    );
    let status = child.join()?;
    let exists_after = procfs::stat(pid)?.is_some();
    out::event(
        "after_reap",
        json!({"child_pid": pid, "exists": exists_after, "exit_code": status.python_exitcode()}),
        format!(
            "after waitpid ({status}): /proc/{pid} {}",
            if exists_after {
                "still exists"
            } else {
                "is gone: the zombie entry was freed"
            }
        ),
    );
    ensure!(
        state_before == 'Z',
        "expected state Z before reaping, saw {state_before}"
    );
    ensure!(!exists_after, "the child's /proc entry survived waitpid");
    out::summary(json!({
        "state_before_reap": state_before.to_string(),
        "exists_after_reap": exists_after,
    }));
    Ok(())
}
