//! `lock-held` (Process类介绍: "如果p还保存了一个锁那么也将不会释放，进而导致死锁", note 004).
//!
//! Python:
//!
//! ```python
//! import time
//! from multiprocessing import Process, Lock
//!
//! lock = Lock()
//! def work():
//!     with lock: time.sleep(1000)       # inside the critical section...
//!
//! p = Process(target=work); p.start(); time.sleep(0.1)
//! p.terminate(); p.join()               # ...killed: `with` never reaches its release
//! print(lock.acquire(timeout=0.5))      # False; a plain lock.acquire() would wait forever
//! ```
//!
//! The notes are right here. A process-shared lock is a word in shared memory; releasing it is an
//! instruction the holder must execute. SIGTERM ends the holder before that instruction, and
//! nothing else knows the word should be reset. The next `acquire` sleeps in the futex forever.
//!
//! The demo uses `acquire_timeout` so it can *detect* the deadlock, name the dead holder (the
//! lock records its holder's pid) and end cleanly. Remedies, none free: ask the worker to stop
//! (an Event) instead of terminating it; or a *robust* mutex (`PTHREAD_MUTEX_ROBUST`), whose
//! next locker is told `EOWNERDEAD` and must repair whatever the dead holder left half-done.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::sync::Lock;
use common::{clock, json, out, procfs, Shared};

use crate::gate::Gate;

/// Flags of `lock-held`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How long the next process waits for the lock before calling it a deadlock, in
    /// milliseconds (scaled by --time-scale; 0..=60000).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub wait_ms: u64,
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let lock = Shared::<Lock>::new_zeroed().context("mmap(MAP_SHARED)")?;
    let mut holding = Gate::new()?;
    let mut holder = common::spawn("holder", || {
        holding.keep_write_end();
        let guard = lock.acquire();
        out::event(
            "acquired",
            json!({}),
            format!(
                "  [holder pid {}] acquired the lock; working inside the critical section",
                std::process::id()
            ),
        );
        holding.open(b'h')?;
        // Work "forever" while holding the lock, until terminated.
        let mut never = Gate::new()?;
        never.wait()?;
        drop(guard);
        Ok(())
    })?;
    holding.keep_read_end();
    holding
        .wait()?
        .context("the holder died before taking the lock")?;
    let holder_pid = holder.pid();
    holder.terminate()?;
    let status = holder.join()?;
    out::event(
        "holder_terminated",
        json!({"child_pid": holder_pid, "exit_code": status.python_exitcode()}),
        format!("terminate() the holder: {status}; it never released the lock"),
    );
    let wait = clock::scaled(Duration::from_millis(args.wait_ms));
    out::say(format!(
        "now another process wants the lock; it waits at most {} ms instead of forever...",
        wait.as_millis()
    ));
    let t0 = Instant::now();
    let got = lock.acquire_timeout(wait);
    let waited_ms = t0.elapsed().as_secs_f64() * 1e3;
    let deadlock = got.is_none();
    let recorded = lock.holder();
    let holder_alive = procfs::stat(recorded)?.is_some();
    out::event(
        "acquire_result",
        json!({"acquired": !deadlock, "waited_ms": waited_ms, "holder_pid": recorded, "holder_alive": holder_alive}),
        if deadlock {
            format!(
                "DEADLOCK detected: no lock after {waited_ms:.0} ms; it is still held by pid {recorded}, which {}",
                if holder_alive { "is alive" } else { "no longer exists: nobody will ever release it" }
            )
        } else {
            format!("acquired after {waited_ms:.0} ms (unexpected)")
        },
    );
    drop(got);
    out::summary(json!({
        "deadlock_detected": deadlock,
        "waited_ms": waited_ms,
        "holder_pid": recorded,
        "holder_exitcode": status.python_exitcode(),
    }));
    anyhow::ensure!(
        deadlock,
        "the lock was free after its holder was terminated"
    );
    Ok(())
}
