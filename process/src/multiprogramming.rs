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
//!
//! **Which CPU it resumes on** (the note: after an IO wait a program "会被调度到4个cpu中的任意一个,
//! 具体由操作系统调度算法决定"): each IO-bound child asks sched_getcpu(3) before and after every
//! wait. A third child, also IO-bound but *not* pinned, runs at the same time: the kernel may wake
//! it on any CPU, and the demo prints how many of its waits ended on another CPU than they
//! started on. That count is whatever the scheduler did this time (often 0 on an idle machine:
//! the kernel prefers the CPU whose cache is still warm); the pinned child's count is 0 by
//! construction, its mask allows one CPU.
//!
//! `--trace FILE` (see `common::trace`) draws one track per child: "computing" slices for the
//! CPU-bound one (one per 10 ms burst), "IO wait" and "work" slices for the IO-bound ones, each
//! IO wait labelled with the CPU before and after it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::trace::{self, Span};
use common::{clock, json, out, Shared};
use nix::sched::sched_getcpu;
use nix::sys::resource::{getrusage, UsageWho};

use crate::cpu;

/// Flags of `multiprogramming`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How long both run, in seconds (scaled by --time-scale; 0..=60).
    #[arg(long, default_value = "2.0", value_parser = crate::join_timeout::parse_timeout)]
    pub seconds: f64,
    /// Write a Chrome trace (Perfetto, chrome://tracing) of the children to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
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
        /// IO waits after which sched_getcpu returned another CPU than before the wait.
        pub moved: AtomicU64,
        /// Bit c set: it ran on CPU c (CPUs 0..64) at one of its sched_getcpu calls.
        pub cpus_seen: AtomicU64,
    }
}

common::shared_struct! {
    /// What the two children report to the parent, in one shared page.
    pub struct Counters {
        /// The child that only computes.
        pub cpu_bound: Switches,
        /// The child that waits for "IO" and computes a little after each wait.
        pub io_bound: Switches,
        /// The same IO loop, not pinned: free to resume on any CPU.
        pub io_free: Switches,
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

    /// The CPUs it was seen on, in order.
    fn cpus_seen(&self) -> Vec<usize> {
        let bits = self.cpus_seen.load(Ordering::SeqCst);
        (0..64).filter(|c| bits & (1 << c) != 0).collect()
    }
}

/// The CPU the calling process is running on right now (sched_getcpu(3)).
fn current_cpu() -> Result<usize> {
    sched_getcpu().context("sched_getcpu")
}

/// A slice on this process's track until the guard drops (nothing without `--trace`).
fn traced(name: &'static str) -> Option<Span> {
    trace::enabled().then(|| Span::begin(name, "work", 0))
}

/// The IO-bound loop, until `end`: wait 1 ms (the "IO"), then a little work on what was "read".
/// Counts the waits after which the process resumed on another CPU.
fn io_loop(end: Instant, into: &Switches) -> Result<()> {
    let mut ios = 0;
    let mut moved = 0;
    let mut seen = 0u64;
    while Instant::now() < end {
        let before = current_cpu()?;
        {
            let wait = trace::enabled().then(trace::now_us);
            std::thread::sleep(Duration::from_millis(1)); // the "IO": a blocking wait
            let after = current_cpu()?;
            if let Some(start) = wait {
                trace::slice(
                    "IO wait",
                    "io",
                    0,
                    start,
                    trace::now_us(),
                    json!({"cpu_before": before, "cpu_after": after}),
                );
            }
            if after != before {
                moved += 1;
            }
            seen |= (1u64 << (before % 64)) | (1u64 << (after % 64));
        }
        let _work = traced("work");
        cpu::burn(2_000); // a little work on what was "read"
        ios += 1;
    }
    into.moved.store(moved, Ordering::SeqCst);
    into.cpus_seen.store(seen, Ordering::SeqCst);
    into.record(ios)
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    if let Some(path) = &args.trace {
        trace::begin(path)?; // before any fork: every child inherits the trace file
    }
    let cpus = cpu::allowed_cpus()?;
    let first = *cpus.first().unwrap_or(&0);
    let duration = clock::scaled(Duration::from_secs_f64(args.seconds));
    let counters = Shared::<Counters>::new_zeroed()?;
    // Pin ourselves first: the children inherit the affinity mask at fork. Restored at the end.
    cpu::pin_to(&[first])?;
    out::say(format!(
        "two children pinned to CPU {first} for {:.1} s: one computes, one does IO (1 ms waits); a third does the same IO, not pinned",
        duration.as_secs_f64()
    ));
    let spawned = (|| -> Result<_> {
        let cpu_child = common::spawn("cpu-bound", || {
            trace::process_name(&format!("cpu-bound (pinned to CPU {first})"));
            let end = Instant::now() + duration;
            while Instant::now() < end {
                // One slice per 10 ms burst of computing (or less, at the end).
                let _burst = traced("computing");
                let burst_end = end.min(Instant::now() + Duration::from_millis(10));
                while Instant::now() < burst_end {
                    cpu::burn(20_000);
                }
            }
            counters.cpu_bound.record(0)
        })?;
        let io_child = common::spawn("io-bound", || {
            trace::process_name(&format!("io-bound (pinned to CPU {first})"));
            io_loop(Instant::now() + duration, &counters.io_bound)
        })?;
        Ok((cpu_child, io_child))
    })();
    cpu::pin_to(&cpus)?;
    let (mut cpu_child, mut io_child) = spawned?;
    // Forked after the mask was restored: this one may run on any CPU we may use.
    let mut free_child = common::spawn("io-free", || {
        trace::process_name("io-bound (not pinned)");
        io_loop(Instant::now() + duration, &counters.io_free)
    })?;
    cpu_child.join()?;
    io_child.join()?;
    free_child.join()?;
    trace::finish()?; // every child is reaped: the events are all in
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
    let pinned_moved = counters.io_bound.moved.load(Ordering::SeqCst);
    let (_, _, free_ios) = counters.io_free.read();
    let free_moved = counters.io_free.moved.load(Ordering::SeqCst);
    let free_seen = counters.io_free.cpus_seen();
    out::event(
        "resumed_on",
        json!({"pinned": {"ios": ios, "moved": pinned_moved, "cpus_seen": counters.io_bound.cpus_seen()},
               "free": {"ios": free_ios, "moved": free_moved, "cpus_seen": free_seen}}),
        format!(
            "after an IO wait (sched_getcpu before and after each): the pinned io-bound child resumed on another CPU {pinned_moved} of {ios} times (its mask allows one CPU); \
             the unpinned one {free_moved} of {free_ios} times, on CPUs {free_seen:?}. That is what the scheduler did this time, not a rule: \
             it may wake a process on any CPU its mask allows, and often keeps it where its cache is warm"
        ),
    );
    out::summary(json!({
        "cpus_allowed": cpus,
        "resumed_elsewhere": {
            "pinned": {"ios": ios, "moved": pinned_moved},
            "free": {"ios": free_ios, "moved": free_moved, "cpus_seen": free_seen},
        },
        "cpu": first,
        "seconds": duration.as_secs_f64(),
        "cpu_bound": {"voluntary": cpu_voluntary, "involuntary": cpu_involuntary},
        "io_bound": {"voluntary": io_voluntary, "involuntary": io_involuntary, "ios": ios},
    }));
    Ok(())
}
