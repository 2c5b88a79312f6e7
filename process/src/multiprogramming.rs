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

use anyhow::Result;
use common::{clock, json, out, SharedBox};
use nix::sys::resource::{getrusage, UsageWho};

use crate::cpu;

/// Flags of `multiprogramming`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How long both run, in seconds (scaled by --time-scale; 0..=60).
    #[arg(long, default_value = "2.0", value_parser = crate::join_timeout::parse_timeout)]
    pub seconds: f64,
}

/// [voluntary, involuntary, ios] for the CPU-bound child, then the same for the IO-bound one.
type Counters = [AtomicU64; 6];

fn record(slot: &[AtomicU64], ios: u64) -> Result<()> {
    let u = getrusage(UsageWho::RUSAGE_SELF)?;
    slot[0].store(u.voluntary_context_switches() as u64, Ordering::SeqCst);
    slot[1].store(u.involuntary_context_switches() as u64, Ordering::SeqCst);
    slot[2].store(ios, Ordering::SeqCst);
    Ok(())
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let cpus = cpu::allowed_cpus()?;
    let first = *cpus.first().unwrap_or(&0);
    let duration = clock::scaled(Duration::from_secs_f64(args.seconds));
    let counters = SharedBox::<Counters>::new_zeroed()?;
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
            record(&counters[0..3], 0)
        })?;
        let io_child = common::spawn("io-bound", || {
            let end = Instant::now() + duration;
            let mut ios = 0;
            while Instant::now() < end {
                std::thread::sleep(Duration::from_millis(1)); // the "IO": a blocking wait
                cpu::burn(2_000); // a little work on what was "read"
                ios += 1;
            }
            record(&counters[3..6], ios)
        })?;
        Ok((cpu_child, io_child))
    })();
    cpu::pin_to(&cpus)?;
    let (mut cpu_child, mut io_child) = spawned?;
    cpu_child.join()?;
    io_child.join()?;
    let c = |i: usize| counters[i].load(Ordering::SeqCst);
    out::event(
        "cpu_bound",
        json!({"voluntary": c(0), "involuntary": c(1)}),
        format!(
            "cpu-bound: {:>6} voluntary, {:>6} involuntary switches (its slice taken away)",
            c(0),
            c(1)
        ),
    );
    out::event(
        "io_bound",
        json!({"voluntary": c(3), "involuntary": c(4), "ios": c(5)}),
        format!("io-bound:  {:>6} voluntary, {:>6} involuntary switches ({} IO waits: it gave the CPU up at each)", c(3), c(4), c(5)),
    );
    out::summary(json!({
        "cpu": first,
        "seconds": duration.as_secs_f64(),
        "cpu_bound": {"voluntary": c(0), "involuntary": c(1)},
        "io_bound": {"voluntary": c(3), "involuntary": c(4), "ios": c(5)},
    }));
    Ok(())
}
