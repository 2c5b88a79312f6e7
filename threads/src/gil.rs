//! `gil` (python 线程的GIL问题, note 000): what one interpreter lock does to threads.
//!
//! Python:
//!
//! ```python
//! import time
//! from threading import Thread
//! from multiprocessing import Process
//!
//! def cpu(): sum(i * i for i in range(10**6))          # CPU-bound: holds the GIL
//! def io():  time.sleep(0.02)                          # IO-bound: releases the GIL while blocked
//!
//! for target in cpu, io:
//!     t0 = time.perf_counter()
//!     for _ in range(4): target()                      # the same 4 calls one after another,
//!     t1 = time.perf_counter()
//!     ts = [Thread(target=target) for _ in range(4)]   # vs. 4 Threads,
//!     for t in ts: t.start()
//!     for t in ts: t.join()
//!     t2 = time.perf_counter()
//!     ps = [Process(target=target) for _ in range(4)]  # vs. 4 Processes
//!     for p in ps: p.start()
//!     for p in ps: p.join()
//!     t3 = time.perf_counter()
//!     print(target.__name__, f"one by one {t1 - t0:.2f} s, threads {t2 - t1:.2f} s, processes {t3 - t2:.2f} s")
//! ```
//!
//! Rust threads have no GIL, so we build one ([`crate::gil_lock`]) and run the same work four
//! ways, with the same number of iterations each time ([`crate::work`]):
//!
//! | row | what runs | expect |
//! |---|---|---|
//! | CPU serial | N jobs one after another on the main thread | the baseline |
//! | CPU processes | N forked children, one job each | up to min(N, cpus) times faster |
//! | CPU threads | N threads, no GIL | up to min(N, cpus) times faster, like processes |
//! | CPU threads + GIL | N threads, each holding the GIL while computing, handing it over every switch interval | no faster than serial (a bit slower: the handovers) |
//! | IO serial | N x ops of (a little CPU, then a sleep) one after another | the baseline |
//! | IO threads + GIL | N threads; the GIL is released during each sleep | about N times faster: the sleeps overlap |
//! | IO threads, GIL held | the same, but the sleep keeps the GIL (a C extension that forgets to release it) | no faster than serial |
//!
//! "Speedup" is serial time / parallel time; "of ideal" divides it by what the machine allows:
//! min(N, cpus) for CPU-bound work (only `cpus` cores can compute at once), N for sleeps (a
//! sleeping thread needs no core). The CPU count is `std::thread::available_parallelism`, which
//! respects the process's CPU affinity and cgroup quota.
//!
//! "Cores used" is the CPU time the row consumed (getrusage: every thread of this process, and
//! the reaped children) divided by its wall time: the average number of cores busy for us. It
//! makes a busy machine visible: if other programs take the CPUs, even the serial row uses
//! less than 1 core, and every speedup shrinks. Under the GIL it can never exceed about 1.
//!
//! The demo also *checks* the emulation: a counter of threads inside a chunk of work records the
//! most that were ever computing at once. With the GIL it must be 1 (else the demo fails); free
//! threads usually reach min(N, cpus).
//!
//! Which interpreters have a GIL (printed, with this machine's `python3` asked when there is
//! one): CPython's default build yes; PyPy yes (its own GIL); CPython 3.13's optional
//! free-threaded build (`python3.13t`, PEP 703) no; Jython (on the JVM) and IronPython (on .NET)
//! no. The notes' "不使用c作为解释器情况没有GIL问题" is half right: PyPy is not written in C
//! and has a GIL, while a C interpreter, CPython 3.13t, has none.
//!
//! `--trace FILE` (see `common::trace`) draws the rows: one track per thread, with "holding the
//! GIL" and "waiting for the GIL" slices in the GIL rows (the holds of different threads never
//! overlap: one thread at a time), "computing" slices in the others, "IO wait" slices where a
//! thread is blocked, and one process track per forked child of the processes row.
//!
//! Order: the processes row runs before any thread exists, because `common::spawn` refuses to
//! fork a multi-threaded process (see the crate doc). The figures are wall-clock times on a
//! machine shared with other programs: they vary from run to run; the tests assert none of them.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use common::trace::{self, Span};
use common::{clock, json, out};

use crate::gil_lock::Gil;
use crate::joined;
use crate::work::{calibrate, spin};

/// Most threads (and processes) of the CPU rows (`--threads`).
pub const MAX_GIL_THREADS: u32 = 16;
/// Most milliseconds of CPU work per thread (`--work`).
pub const MAX_WORK_MS: u32 = 1000;

/// Flags of `gil`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Threads (and processes) per row (1..=16).
    #[arg(long, default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=MAX_GIL_THREADS as i64))]
    pub threads: u32,
    /// CPU work per thread, in milliseconds of one thread of this machine (1..=1000).
    #[arg(long, default_value_t = 100, value_name = "MS",
          value_parser = clap::value_parser!(u32).range(1..=MAX_WORK_MS as i64))]
    pub work: u32,
    /// IO operations per thread in the IO rows (1..=100).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub io_ops: u32,
    /// How long each IO operation blocks, in ms, scaled by --time-scale (1..=1000).
    #[arg(long, default_value_t = 20, value_name = "MS",
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub io_ms: u32,
    /// The GIL's switch interval in ms (CPython's default is 5) (1..=100).
    #[arg(long, default_value_t = 5, value_name = "MS",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub switch_ms: u32,
    /// Write a Chrome trace (Perfetto, chrome://tracing) of every row to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

/// One Python implementation and whether it has a global interpreter lock.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Interpreter {
    /// Its name.
    pub name: &'static str,
    /// Written in (what "the interpreter" is made of).
    pub written_in: &'static str,
    /// Whether threads of one process take turns running Python code.
    pub gil: bool,
}

/// The interpreters a student is likely to meet.
pub const INTERPRETERS: [Interpreter; 5] = [
    Interpreter {
        name: "CPython (the default python3 build)",
        written_in: "C",
        gil: true,
    },
    Interpreter {
        name: "CPython 3.13t, free-threaded build (PEP 703)",
        written_in: "C",
        gil: false,
    },
    Interpreter {
        name: "PyPy",
        written_in: "RPython",
        gil: true,
    },
    Interpreter {
        name: "Jython",
        written_in: "Java",
        gil: false,
    },
    Interpreter {
        name: "IronPython",
        written_in: "C#",
        gil: false,
    },
];

/// Ask this machine's `python3` whether its GIL is on (`sys._is_gil_enabled()`, which exists
/// from 3.13; older versions always have it). `None` without python3.
fn local_python_gil() -> Result<Option<(String, bool)>> {
    let script = "import platform\n\
                  gil = getattr(sys, '_is_gil_enabled', lambda: True)()\n\
                  print(platform.python_implementation(), platform.python_version(), int(gil))\n";
    let Some(text) = crate::python::run(script, &[])? else {
        return Ok(None);
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [implementation, version, gil] => {
            Ok(Some((format!("{implementation} {version}"), *gil == "1")))
        }
        _ => anyhow::bail!("python3 printed {text:?}"),
    }
}

/// Print which interpreters have a GIL; returns this machine's python3, if any.
fn interpreters() -> Result<serde_json::Value> {
    out::say("which Python interpreters have a GIL (笔记勘误: \"不使用c作为解释器情况没有GIL问题\" is half right: PyPy is not C and has one; free-threaded CPython is C and has none):");
    for i in INTERPRETERS {
        out::event(
            "interpreter",
            json!(i),
            format!(
                "  {:<46} written in {:<8} GIL: {}",
                i.name,
                i.written_in,
                if i.gil { "yes" } else { "no" }
            ),
        );
    }
    let local = local_python_gil()?;
    let text = match &local {
        Some((name, gil)) => format!(
            "  this machine's python3: {name}, GIL {}",
            if *gil { "enabled" } else { "disabled" }
        ),
        None => "  (no python3 on this machine to ask)".into(),
    };
    let value = local
        .map(|(name, gil)| json!({"version": name, "gil": gil}))
        .unwrap_or(serde_json::Value::Null);
    out::event("local_python", json!({"python3": value}), text);
    Ok(value)
}

/// Name this thread's track in the trace.
fn name_thread(name: impl FnOnce() -> String) {
    if trace::enabled() {
        trace::thread_name(trace::this_thread(), &name());
    }
}

/// A slice on this thread's track until the guard drops (nothing without `--trace`).
fn traced(name: &'static str) -> Option<Span> {
    trace::enabled().then(|| Span::begin(name, "work", trace::this_thread()))
}

/// Counts the threads inside a chunk of work, and the most ever inside at once.
#[derive(Default)]
struct Meter {
    now: AtomicU32,
    most: AtomicU32,
}

impl Meter {
    fn run(&self, iters: u64, seed: u64) -> u64 {
        let inside = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(inside, Ordering::SeqCst);
        let r = spin(iters, seed);
        self.now.fetch_sub(1, Ordering::SeqCst);
        r
    }
    fn most(&self) -> u32 {
        self.most.load(Ordering::SeqCst)
    }
}

/// CPU time (user + system) used so far by this process's threads, dead ones included, plus
/// that of its reaped children: getrusage(2) with `RUSAGE_SELF` and `RUSAGE_CHILDREN`.
fn cpu_time_ms() -> Result<f64> {
    use nix::sys::resource::{getrusage, UsageWho};
    let mut ms = 0.0;
    for who in [UsageWho::RUSAGE_SELF, UsageWho::RUSAGE_CHILDREN] {
        let u = getrusage(who).context("getrusage")?;
        for t in [u.user_time(), u.system_time()] {
            ms += t.tv_sec() as f64 * 1e3 + t.tv_usec() as f64 / 1e3;
        }
    }
    Ok(ms)
}

/// What one row cost: wall-clock time, and CPU time summed over every thread and process.
#[derive(Debug, Clone, Copy)]
struct Timing {
    wall_ms: f64,
    cpu_ms: f64,
}

impl Timing {
    /// CPU time / wall time: how many cores were busy on average. At most 1 for one thread or
    /// under a GIL; at most the CPU count otherwise; less when other programs take CPU time.
    fn cores_used(self) -> f64 {
        self.cpu_ms / self.wall_ms.max(1e-9)
    }
}

/// Time `f`.
fn timed(work: impl FnOnce() -> Result<()>) -> Result<Timing> {
    let cpu0 = cpu_time_ms()?;
    let t = Instant::now();
    work()?;
    let wall_ms = t.elapsed().as_secs_f64() * 1e3;
    Ok(Timing {
        wall_ms,
        cpu_ms: cpu_time_ms()? - cpu0,
    })
}

/// The sizes every row uses.
struct Job {
    threads: u32,
    /// Iterations of one CPU job.
    iters: u64,
    /// Iterations between two eval-breaker checks (0.1 ms of work).
    chunk: u64,
    /// Iterations of the CPU part of one IO operation (0.2 ms: "parse the reply").
    io_cpu: u64,
    io_ops: u32,
    io_sleep: Duration,
}

impl Job {
    /// One CPU job in chunks, `between` called after each chunk.
    fn cpu(&self, meter: &Meter, seed: u64, mut between: impl FnMut()) -> u64 {
        let mut left = self.iters;
        let mut x = seed;
        while left > 0 {
            let n = left.min(self.chunk);
            x = meter.run(n, x);
            left -= n;
            between();
        }
        x
    }
}

fn cpu_threads(job: &Job, meter: &Meter, gil: Option<&Gil>) -> Result<()> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..job.threads)
            .map(|i| {
                s.spawn(move || match gil {
                    None => {
                        name_thread(|| format!("CPU thread {i}, no GIL"));
                        let _computing = traced("computing");
                        job.cpu(meter, u64::from(i), || {})
                    }
                    Some(gil) => {
                        name_thread(|| format!("CPU thread {i} + GIL"));
                        let mut g = gil.acquire();
                        job.cpu(meter, u64::from(i), || {
                            g.tick();
                        })
                    }
                })
            })
            .collect();
        for h in handles {
            std::hint::black_box(joined("cpu worker", h.join())?);
        }
        Ok(())
    })
}

/// The IO rows: each thread does `io_ops` of (CPU part with the GIL, then a blocking sleep).
fn io_threads(job: &Job, gil: &Gil, release_while_blocked: bool) -> Result<()> {
    let meter = Meter::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..job.threads)
            .map(|i| {
                let meter = &meter;
                s.spawn(move || {
                    name_thread(|| {
                        format!(
                            "IO thread {i}, GIL {} while blocked",
                            if release_while_blocked {
                                "released"
                            } else {
                                "held"
                            }
                        )
                    });
                    let mut g = gil.acquire();
                    let mut x = u64::from(i);
                    for _ in 0..job.io_ops {
                        x = meter.run(job.io_cpu, x);
                        if release_while_blocked {
                            g = g
                                .allow_threads(|| {
                                    let _blocked = traced("IO wait");
                                    clock::sleep(job.io_sleep)
                                })
                                .0;
                        } else {
                            let _blocked = traced("IO wait");
                            std::thread::sleep(clock::scaled(job.io_sleep));
                        }
                    }
                    drop(g);
                    x
                })
            })
            .collect();
        for h in handles {
            std::hint::black_box(joined("io worker", h.join())?);
        }
        Ok(())
    })
}

fn row(name: &str, timing: Timing, serial: Timing, ideal: f64) -> serde_json::Value {
    let speedup = serial.wall_ms / timing.wall_ms.max(1e-9);
    let of_ideal = speedup / ideal;
    let cores = timing.cores_used();
    out::event(
        "row",
        json!({"row": name, "ms": timing.wall_ms, "cpu_ms": timing.cpu_ms, "cores_used": cores,
               "speedup": speedup, "ideal": ideal, "of_ideal": of_ideal}),
        format!(
            "  {name:<38} {:>8.1} ms  {speedup:>5.2}x  {:>4.0}% of {ideal}x  {cores:>5.2}",
            timing.wall_ms,
            of_ideal * 100.0
        ),
    );
    json!(speedup)
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    if let Some(path) = &args.trace {
        trace::begin(path)?; // before any fork: every child inherits the trace file
        name_thread(|| "main thread".into());
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let n = args.threads;
    let local_python = interpreters()?;
    let load = crate::warn_if_busy(cpus);
    let per_ms = calibrate();
    let job = Job {
        threads: n,
        iters: per_ms * u64::from(args.work),
        chunk: (per_ms / 10).max(1),
        io_cpu: (per_ms / 5).max(1),
        io_ops: args.io_ops,
        io_sleep: Duration::from_millis(u64::from(args.io_ms)),
    };
    out::event(
        "setup",
        json!({"cpus": cpus, "threads": n, "iters_per_ms": per_ms, "work_ms": args.work, "switch_ms": args.switch_ms}),
        format!(
            "{cpus} CPUs; {n} jobs of {} ms of CPU work each ({per_ms} loop steps per ms here); GIL switch interval {} ms",
            args.work, args.switch_ms
        ),
    );

    // CPU serial: the main thread alone.
    let one = Meter::default();
    let serial = timed(|| {
        let _row = traced("CPU serial");
        for i in 0..n {
            std::hint::black_box(job.cpu(&one, u64::from(i), || {}));
        }
        Ok(())
    })?;

    // CPU processes, forked while this process has a single thread.
    let processes = timed(|| {
        let mut children = Vec::new();
        for i in 0..n {
            let job = &job;
            children.push(common::spawn(format!("cpu-{i}"), move || {
                if trace::enabled() {
                    trace::process_name(&format!("CPU process {i}"));
                }
                let _computing = traced("computing");
                std::hint::black_box(job.cpu(&Meter::default(), u64::from(i), || {}));
                Ok(())
            })?);
        }
        for c in &mut children {
            let st = c.join()?;
            ensure!(st.success(), "cpu child {} {st}", c.name());
        }
        Ok(())
    })?;

    // CPU threads, free.
    let free = Meter::default();
    let threads = timed(|| cpu_threads(&job, &free, None))?;

    // CPU threads under the GIL.
    let gil = Gil::new(Duration::from_millis(u64::from(args.switch_ms)));
    let under = Meter::default();
    let gil_threads = timed(|| cpu_threads(&job, &under, Some(&gil)))?;
    let gil_switches = gil.switches();

    let ideal_cpu = f64::from(n.min(cpus));
    let header = format!(
        "  {:<38} {:>11}  {:>6}  {:>10}  {:>5}",
        "", "wall time", "speedup", "of ideal", "cores used"
    );
    out::say(format!(
        "CPU-bound, {n} jobs (ideal speedup = min({n} jobs, {cpus} CPUs)):\n{header}"
    ));
    row("serial (one thread)", serial, serial, 1.0);
    let sp_proc = row("processes", processes, serial, ideal_cpu);
    let sp_thr = row("threads, no GIL", threads, serial, ideal_cpu);
    let sp_gil = row("threads + GIL", gil_threads, serial, ideal_cpu);
    out::event(
        "cpu_concurrency",
        json!({"threads_max_concurrent": free.most(), "gil_max_concurrent": under.most(), "gil_switches": gil_switches}),
        format!(
            "  most threads computing at once: {} without the GIL, {} with it; the GIL was taken {gil_switches} times (once by each thread to start, then at every handover)",
            free.most(),
            under.most()
        ),
    );

    // IO-bound rows.
    let one = Meter::default();
    let io_serial = timed(|| {
        let _row = traced("IO serial");
        for t in 0..n {
            let mut x = u64::from(t);
            for _ in 0..job.io_ops {
                x = one.run(job.io_cpu, x);
                let _blocked = traced("IO wait");
                clock::sleep(job.io_sleep);
            }
            std::hint::black_box(x);
        }
        Ok(())
    })?;
    let io_gil_lock = Gil::new(Duration::from_millis(u64::from(args.switch_ms)));
    let io_gil = timed(|| io_threads(&job, &io_gil_lock, true))?;
    let held_gil = Gil::new(Duration::from_millis(u64::from(args.switch_ms)));
    let io_held = timed(|| io_threads(&job, &held_gil, false))?;
    let ideal_io = f64::from(n);
    out::say(format!(
        "IO-bound, {n} threads x {} operations of {} ms blocked (x --time-scale {}) (ideal speedup = {n}: a sleeping thread needs no core):\n{header}",
        args.io_ops,
        args.io_ms,
        clock::time_scale()
    ));
    row("serial (one thread)", io_serial, io_serial, 1.0);
    let sp_io = row(
        "threads + GIL, released while blocked",
        io_gil,
        io_serial,
        ideal_io,
    );
    let sp_held = row(
        "threads + GIL, held while blocked",
        io_held,
        io_serial,
        ideal_io,
    );
    out::say(
        "Under the GIL, CPU-bound threads take turns and gain nothing; processes each have their \
         own interpreter (here: their own copy of everything) and use every core; IO-bound threads \
         overlap their waiting because the GIL is let go while they are blocked. \
         (cores used = CPU time / wall time: below 1 for one thread means other programs took \
         the CPU part of the time, and the wall times are skewed.)",
    );

    let cores = |t: Timing| t.cores_used();
    trace::finish()?; // every child is reaped, every thread joined: all events are in
    out::summary(json!({
        "cpus": cpus,
        "loadavg": load,
        "interpreters": INTERPRETERS,
        "local_python": local_python,
        "threads": n,
        "iters_per_ms": per_ms,
        "switch_ms": args.switch_ms,
        "cpu": {
            "work_ms": args.work,
            "serial_ms": serial.wall_ms,
            "threads_ms": threads.wall_ms,
            "gil_threads_ms": gil_threads.wall_ms,
            "processes_ms": processes.wall_ms,
            "speedup": {"threads": sp_thr, "gil_threads": sp_gil, "processes": sp_proc},
            "cores_used": {"serial": cores(serial), "threads": cores(threads),
                           "gil_threads": cores(gil_threads), "processes": cores(processes)},
            "ideal_speedup": ideal_cpu,
            "threads_max_concurrent": free.most(),
            "gil_max_concurrent": under.most(),
            "gil_switches": gil_switches,
        },
        "io": {
            "ops": args.io_ops,
            "io_ms": args.io_ms,
            "serial_ms": io_serial.wall_ms,
            "gil_threads_ms": io_gil.wall_ms,
            "gil_held_ms": io_held.wall_ms,
            "speedup": {"gil_threads": sp_io, "gil_held": sp_held},
            "ideal_speedup": ideal_io,
        },
    }));
    ensure!(
        under.most() == 1,
        "two threads computed at once under the GIL ({} at most)",
        under.most()
    );
    Ok(())
}
