//! Pinning the two ends of a ping-pong to two different CPUs.
//!
//! A round trip between two processes costs very different amounts depending on where the
//! scheduler puts them: on one CPU the wakeup is a direct switch (a few microseconds); across
//! CPUs the sleeper's CPU must be woken by an inter-processor interrupt, which on this virtual
//! machine costs tens of microseconds. Left alone, the scheduler picks one or the other from run
//! to run, and the medians of two columns measured a moment apart can differ by 3x for no reason
//! of theirs. So the ping-pong figures pin the parent to CPU 0 and the partner to CPU 1, in every
//! column (the Python peer does the same with `os.sched_setaffinity`): the cross-CPU case, the
//! one a real client and server on a multi-core machine meet.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// The parent's affinity while pinned; restored on drop.
#[derive(Debug)]
pub struct Pinned {
    saved: CpuSet,
}

/// Set by [`pin_parent`] when it pinned; a forked partner inherits it with the rest of memory.
/// The partner cannot ask `available_parallelism` itself: that counts the CPUs of its affinity
/// mask, which it inherited from the parent already pinned to one CPU, so it would answer 1 and
/// the partner would stay on the parent's CPU (a bug this flag fixed: every Rust ping-pong ran
/// both ends on CPU 0, while Python's, which counts `os.cpu_count()`, ran on two CPUs).
static PARENT_PINNED: AtomicBool = AtomicBool::new(false);

/// Whether this machine has the two CPUs pinning needs (ask before pinning anything).
pub fn can_pin() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

fn set(cpu: usize) -> Result<()> {
    let mut s = CpuSet::new();
    s.set(cpu).context("CpuSet::set")?;
    sched_setaffinity(Pid::from_raw(0), &s).context("sched_setaffinity")
}

/// Pin this process to `cpu` until the returned guard is dropped (`None` on a 1-CPU machine).
pub fn pin_parent(cpu: usize) -> Result<Option<Pinned>> {
    if !can_pin() {
        return Ok(None);
    }
    let saved = sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity")?;
    set(cpu)?;
    PARENT_PINNED.store(true, Ordering::Relaxed);
    Ok(Some(Pinned { saved }))
}

/// In a forked partner: pin to `cpu` for the rest of its (short) life, if the parent pinned
/// itself before forking it.
pub fn pin_child(cpu: usize) -> Result<()> {
    if PARENT_PINNED.load(Ordering::Relaxed) {
        set(cpu)?;
    }
    Ok(())
}

impl Drop for Pinned {
    fn drop(&mut self) {
        PARENT_PINNED.store(false, Ordering::Relaxed);
        let _ = sched_setaffinity(Pid::from_raw(0), &self.saved);
    }
}
