//! `join-timeout` (Process类介绍: `p.join([timeout])`, note 004).
//!
//! Python:
//!
//! ```python
//! import time
//! from multiprocessing import Process
//!
//! def work(): time.sleep(0.5)
//!
//! p = Process(target=work); p.start()
//! p.join(timeout=0.1)   # returns after 0.1 s even though work() is not done
//! print(p.is_alive())   # True: join(timeout) does not stop anything, it only stops *waiting*
//! p.join()              # now wait for real
//! print(p.exitcode)     # 0
//! ```
//!
//! waitpid(2) alone can only block forever or not at all (`WNOHANG`): it has no timeout. So a
//! join with a timeout needs a file descriptor that becomes readable when the child exits, and
//! a poll on it with the timeout. Both Python and this demo do exactly that, without polling in
//! a loop:
//! - CPython 3.11 (`popen_fork.Popen.wait`) makes a pipe at `start()` and leaves its write end
//!   only in the child: the read end, `p.sentinel`, sees EOF when the child exits and the kernel
//!   closes that write end. `join(timeout)` waits on the sentinel with
//!   `multiprocessing.connection.wait([p.sentinel], timeout)` (poll(2) through `selectors`),
//!   then calls waitpid, which no longer blocks.
//! - Here the descriptor is a **pidfd** (pidfd_open(2)), which the kernel makes readable when
//!   the process exits, with no pipe to inherit: poll(2) on it with the timeout, then waitpid.
//!
//! Either way the waiting parent sleeps in the kernel and uses no CPU until the child exits or
//! the timeout expires.
//!
//! To make "still running after the timeout" certain rather than likely, the child ends only
//! after the parent opens a gate (see [`crate::gate`]).

use std::time::{Duration, Instant};

use anyhow::Result;
use common::{clock, json, out, secs, sleep};

use crate::gate::Gate;

/// Flags of `join-timeout`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The join timeout in seconds (scaled by --time-scale; 0..=60).
    #[arg(long, default_value = "1.0", value_name = "SECONDS", value_parser = parse_timeout)]
    pub timeout: f64,
}

/// Parse a timeout in seconds: finite, 0..=60.
pub fn parse_timeout(text: &str) -> Result<f64, String> {
    let f: f64 = text
        .trim()
        .parse()
        .map_err(|_| "not a number".to_string())?;
    if !f.is_finite() || !(0.0..=60.0).contains(&f) {
        return Err("must be a number of seconds in 0..=60".into());
    }
    Ok(f)
}

/// A duration in seconds as Python would write it: the shortest decimal that reads back as the
/// same value, at microsecond precision (0.05, not 0.1 rounded; 1.0, not 1).
pub fn seconds_label(d: Duration) -> String {
    let micros = d.as_micros() as f64 / 1e6;
    let text = format!("{micros}");
    if text.contains('.') || text.contains('e') {
        text
    } else {
        format!("{text}.0")
    }
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let mut gate = Gate::new()?;
    // The closure *borrows* `gate`. It only ever runs in the child, where the borrow refers to
    // the child's own copy of it (fork copied the memory); the parent's `gate` is untouched.
    let mut child = common::spawn("worker", || {
        gate.keep_read_end();
        out::event(
            "child_working",
            json!({}),
            "  [worker] working (it runs until the parent lets it finish)...",
        );
        sleep(secs(2.0));
        gate.wait()?;
        out::event("child_done", json!({}), "  [worker] done");
        Ok(())
    })?;
    gate.keep_write_end();
    let timeout = clock::scaled(Duration::from_secs_f64(args.timeout));
    let t0 = Instant::now();
    let res = child.join_timeout(timeout)?;
    let waited_ms = t0.elapsed().as_secs_f64() * 1e3;
    let alive = child.is_alive()?;
    out::event(
        "join_timeout_returned",
        json!({"timeout_ms": timeout.as_secs_f64() * 1e3, "waited_ms": waited_ms, "exited": res.is_some(), "is_alive": alive}),
        format!(
            "join(timeout={}) returned after {waited_ms:.0} ms; is_alive() = {alive}: the timeout ended the wait, not the child{}",
            seconds_label(timeout),
            if clock::time_scale() == 1.0 {
                String::new()
            } else {
                format!(
                    " (--timeout {} x --time-scale {})",
                    args.timeout,
                    clock::time_scale()
                )
            }
        ),
    );
    gate.open(b'g')?;
    let status = child.join()?;
    out::event(
        "joined",
        json!({"exit_code": status.python_exitcode()}),
        format!(
            "the parent let it finish; join() = {status}, exitcode {}",
            status.python_exitcode()
        ),
    );
    anyhow::ensure!(
        alive,
        "the child was not alive after join(timeout): the gate failed"
    );
    out::summary(json!({
        "alive_after_timeout": alive,
        "exit_code": status.python_exitcode(),
        "timeout_ms": timeout.as_secs_f64() * 1e3,
        "timeout_label": seconds_label(timeout),
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_says_the_timeout_that_ran() {
        assert_eq!(seconds_label(Duration::from_millis(50)), "0.05");
        assert_eq!(seconds_label(Duration::from_secs(1)), "1.0");
        assert_eq!(seconds_label(Duration::from_secs_f64(0.1 * 0.5)), "0.05");
        assert_eq!(seconds_label(Duration::ZERO), "0.0");
    }
}
