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
//! `--trace FILE` (see `common::trace`) draws it: a track per worker process with its
//! "computing" slice, and the parent's track with one slice per phase. On one CPU the two
//! workers' slices both last the whole phase (each was running only part of that time); on all
//! CPUs they are half as long and side by side.
//!
//! `--time-scale` scales sleeps, not computation: to shorten this demo use `--work-ms`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use common::trace::{self, Span};
use common::{json, out};

use crate::cpu;

/// Flags of `parallel`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// CPU work per process, in milliseconds of this machine's time (1..=10000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub work_ms: u64,
    /// Write a Chrome trace (Perfetto, chrome://tracing) of both phases to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

/// The body of one worker: name its track, then compute.
fn work(name: &str, phase: &str, rounds: u64) -> Result<()> {
    let _computing = trace::enabled().then(|| {
        trace::process_name(&format!("{name} ({phase})"));
        Span::begin("computing", "work", 0)
    });
    cpu::burn(rounds);
    Ok(())
}

fn run_pair(rounds: u64, cpus: &[usize], phase: &str) -> Result<Duration> {
    let all = cpu::allowed_cpus()?;
    let _phase = trace::enabled().then(|| Span::begin(phase, "phase", 0));
    cpu::pin_to(cpus)?;
    let t0 = Instant::now();
    let spawned = (|| -> Result<_> {
        let worker_a = common::spawn("worker-a", || work("worker-a", phase, rounds))?;
        let worker_b = common::spawn("worker-b", || work("worker-b", phase, rounds))?;
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
    if let Some(path) = &args.trace {
        trace::begin(path)?; // before any fork: every worker inherits the trace file
    }
    let cpus = cpu::allowed_cpus()?;
    let rounds = cpu::rounds_for_ms(args.work_ms as f64);
    out::say(format!(
        "two processes, each {} ms of computation; this machine lets us use {} CPU(s)",
        args.work_ms,
        cpus.len()
    ));
    let one = run_pair(rounds, &cpus[..1], "both on one CPU")?;
    out::event(
        "one_cpu",
        json!({"ms": one.as_secs_f64() * 1e3}),
        format!(
            "both on CPU {} (concurrent, interleaved): {:.0} ms",
            cpus[0],
            one.as_secs_f64() * 1e3
        ),
    );
    let all = run_pair(rounds, &cpus, "free on all CPUs")?;
    trace::finish()?; // both pairs are reaped
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
