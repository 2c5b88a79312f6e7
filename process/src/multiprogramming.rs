//! `multiprogramming` (多道技术, note 004).
//!
//! The note: on one CPU, several programs take turns (time multiplexing, 时间上的复用). The CPU
//! is switched away from a program **when it blocks on IO** ("遇到io切") and **when it has held
//! the CPU too long** ("占用cpu时间过长也切"); its state is saved so it resumes where it was.
//!
//! The kernel counts both kinds of switch for every process (`getrusage`: `ru_nvcsw`, `ru_nivcsw`,
//! also in `/proc/<pid>/status`):
//! - **voluntary**: the process gave the CPU up itself, by blocking (read, sleep, a lock);
//! - **involuntary**: the scheduler took the CPU away, because its time slice ran out or a more
//!   deserving (here: just-woken) process became runnable.
//!
//! Both children are pinned to one CPU. The CPU-bound one computes without pause; the IO-bound one
//! "does IO" (a 1 ms blocking sleep standing in for a disk or network read) in a loop. Expect the
//! IO-bound child to have about one voluntary switch per IO, and the CPU-bound one to have almost
//! only involuntary switches: every time the IO-bound one wakes up, it preempts it.
//! Each child reads its own counters with getrusage(RUSAGE_SELF) just before exiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::{clock, json, out, Shared};
use nix::sys::resource::{getrusage, UsageWho};

use crate::cpu;

/// Flags of `multiprogramming`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How long both run, in seconds (scaled by --time-scale; 0..=60).
    #[arg(long, default_value = "2.0", value_parser = crate::join_timeout::parse_timeout)]
    pub seconds: f64,
}

common::shared_struct! {
    /// One child's context switches, from its own getrusage(2), written just before it exits.
    pub struct Switches {
        /// It gave the CPU up (blocked: here, waiting for its "IO").
        pub voluntary: AtomicU64,
        /// The scheduler took the CPU away (its time slice was over).
        pub involuntary: AtomicU64,
        /// IO waits it made (0 for the CPU-bound child).
        pub ios: AtomicU64,
    }
}

common::shared_struct! {
    /// What the two children report to the parent, in one shared page.
    pub struct Counters {
        /// The child that only computes.
        pub cpu_bound: Switches,
        /// The child that waits for "IO" and computes a little after each wait.
        pub io_bound: Switches,
    }
}

impl Switches {
    /// Record this process's own context switches (the child calls it last).
    fn record(&self, ios: u64) -> Result<()> {
        let usage = getrusage(UsageWho::RUSAGE_SELF).context("getrusage")?;
        self.voluntary
            .store(usage.voluntary_context_switches() as u64, Ordering::SeqCst);
        self.involuntary.store(
            usage.involuntary_context_switches() as u64,
            Ordering::SeqCst,
        );
        self.ios.store(ios, Ordering::SeqCst);
        Ok(())
    }

    /// The three figures, read by the parent after the child was reaped.
    fn read(&self) -> (u64, u64, u64) {
        (
            self.voluntary.load(Ordering::SeqCst),
            self.involuntary.load(Ordering::SeqCst),
            self.ios.load(Ordering::SeqCst),
        )
    }
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let cpus = cpu::allowed_cpus()?;
    let first = *cpus.first().unwrap_or(&0);
    let duration = clock::scaled(Duration::from_secs_f64(args.seconds));
    let counters = Shared::<Counters>::new_zeroed()?;
    // Pin ourselves first: the children inherit the affinity mask at fork. Restored at the end.
    cpu::pin_to(&[first])?;
    out::say(format!(
        "both children pinned to CPU {first} for {:.1} s: one computes, one does IO (1 ms waits)",
        duration.as_secs_f64()
    ));
    let spawned = (|| -> Result<_> {
        let cpu_child = common::spawn("cpu-bound", || {
            let end = Instant::now() + duration;
            while Instant::now() < end {
                cpu::burn(20_000);
            }
            counters.cpu_bound.record(0)
        })?;
        let io_child = common::spawn("io-bound", || {
            let end = Instant::now() + duration;
            let mut ios = 0;
            while Instant::now() < end {
                std::thread::sleep(Duration::from_millis(1)); // the "IO": a blocking wait
                cpu::burn(2_000); // a little work on what was "read"
                ios += 1;
            }
            counters.io_bound.record(ios)
        })?;
        Ok((cpu_child, io_child))
    })();
    cpu::pin_to(&cpus)?;
    let (mut cpu_child, mut io_child) = spawned?;
    cpu_child.join()?;
    io_child.join()?;
    let (cpu_voluntary, cpu_involuntary, _) = counters.cpu_bound.read();
    let (io_voluntary, io_involuntary, ios) = counters.io_bound.read();
    out::event(
        "cpu_bound",
        json!({"voluntary": cpu_voluntary, "involuntary": cpu_involuntary}),
        format!(
            "cpu-bound: {cpu_voluntary:>6} voluntary, {cpu_involuntary:>6} involuntary switches (its slice taken away)"
        ),
    );
    out::event(
        "io_bound",
        json!({"voluntary": io_voluntary, "involuntary": io_involuntary, "ios": ios}),
        format!("io-bound:  {io_voluntary:>6} voluntary, {io_involuntary:>6} involuntary switches ({ios} IO waits: it gave the CPU up at each)"),
    );
    out::summary(json!({
        "cpu": first,
        "seconds": duration.as_secs_f64(),
        "cpu_bound": {"voluntary": cpu_voluntary, "involuntary": cpu_involuntary},
        "io_bound": {"voluntary": io_voluntary, "involuntary": io_involuntary, "ios": ios},
    }));
    Ok(())
}
