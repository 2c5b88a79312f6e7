//! `parallel` (并发与并行, note 004).
//!
//! The note: **concurrency** (并发) is "looks simultaneous": one CPU interleaving programs, which
//! multiprogramming already gives; **parallelism** (并行) is really simultaneous, and needs more
//! than one CPU.
//!
//! Two processes each do the same fixed amount of pure computation, first both pinned to one
//! CPU (they are concurrent: the scheduler interleaves them, and the pair takes about twice as
//! long as one), then free to use every CPU (they are parallel: with two or more idle CPUs the
//! pair takes about as long as one). `speedup` = one-CPU time / all-CPUs time, at most the
//! number of CPUs, less if the machine is busy with other work.
//!
//! `--time-scale` scales sleeps, not computation: to shorten this demo use `--work-ms`.

use std::time::{Duration, Instant};

use anyhow::Result;
use common::{json, out};

use crate::cpu;

/// Flags of `parallel`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// CPU work per process, in milliseconds of this machine's time (1..=10000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub work_ms: u64,
}

fn run_pair(rounds: u64, cpus: &[usize]) -> Result<Duration> {
    let all = cpu::allowed_cpus()?;
    cpu::pin_to(cpus)?;
    let t0 = Instant::now();
    let spawned = (|| -> Result<_> {
        let worker_a = common::spawn("worker-a", || {
            cpu::burn(rounds);
            Ok(())
        })?;
        let worker_b = common::spawn("worker-b", || {
            cpu::burn(rounds);
            Ok(())
        })?;
        Ok((worker_a, worker_b))
    })();
    cpu::pin_to(&all)?;
    let (mut worker_a, mut worker_b) = spawned?;
    worker_a.join()?;
    worker_b.join()?;
    Ok(t0.elapsed())
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let cpus = cpu::allowed_cpus()?;
    let rounds = cpu::rounds_for_ms(args.work_ms as f64);
    out::say(format!(
        "two processes, each {} ms of computation; this machine lets us use {} CPU(s)",
        args.work_ms,
        cpus.len()
    ));
    let one = run_pair(rounds, &cpus[..1])?;
    out::event(
        "one_cpu",
        json!({"ms": one.as_secs_f64() * 1e3}),
        format!(
            "both on CPU {} (concurrent, interleaved): {:.0} ms",
            cpus[0],
            one.as_secs_f64() * 1e3
        ),
    );
    let all = run_pair(rounds, &cpus)?;
    out::event(
        "all_cpus",
        json!({"ms": all.as_secs_f64() * 1e3}),
        format!(
            "free on {} CPUs (parallel):             {:.0} ms",
            cpus.len(),
            all.as_secs_f64() * 1e3
        ),
    );
    let speedup = one.as_secs_f64() / all.as_secs_f64().max(1e-9);
    out::say(format!(
        "speedup {speedup:.2}x (at most {}x; less when other programs use the CPUs)",
        cpus.len().min(2)
    ));
    out::summary(json!({
        "one_cpu_ms": one.as_secs_f64() * 1e3,
        "all_cpus_ms": all.as_secs_f64() * 1e3,
        "speedup": speedup,
        "cpus": cpus.len(),
        "work_ms": args.work_ms,
    }));
    Ok(())
}
