//! The soak runner: every demo and subcommand, many times, with random seeds and
//! parameters at `--time-scale 0`; each summary checked against the invariant its demo promises
//! (exactly once, order, exact totals, forced losses exactly as predicted, occupancy within
//! capacity), and every run checked for leftovers (processes alive or zombie, shm or mqueue
//! names). Some runs get a fault on purpose: a crash the demo injects itself (pool, prodcons),
//! or a signal at a random moment (SIGINT to the group, SIGINT/SIGTERM/SIGKILL to the parent).
//!
//! `cargo run -p tests --bin soak -- --runs 500` prints the totals; the test `soak_slice` runs a
//! bounded slice in CI.

use std::time::Duration;

use nix::sys::signal::Signal;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::{named_objects_of, start, Run};

/// An invariant check: `Ok` or what is wrong.
pub type Check = fn(&Value, &[String]) -> Result<(), String>;
/// Arguments for one run of a case, drawn from the runner's generator.
pub type ArgGen = fn(&mut StdRng) -> Vec<String>;

/// One kind of run.
pub struct Case {
    /// The binary.
    pub demo: &'static str,
    /// A short name for the totals.
    pub name: &'static str,
    /// Its arguments (subcommand first), without `--json --time-scale 0 --seed`.
    pub args: ArgGen,
    /// The invariant of its summary.
    pub check: Check,
    /// The exit status a run without interruption must have.
    pub code: i32,
    /// Whether the case injects a fault itself (a crash in a worker, say).
    pub fault: bool,
}

/// Shorthand for `to_string`.
pub fn s(v: impl ToString) -> String {
    v.to_string()
}

/// A number field of a summary.
pub fn get_u64(v: &Value, k: &str) -> Result<u64, String> {
    v[k].as_u64()
        .ok_or_else(|| format!("summary has no number {k:?}"))
}

/// `Ok` if `cond`, else the message.
pub fn expect(cond: bool, what: impl Into<String>) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what.into())
    }
}

/// The value after `flag` in `args`, parsed.
pub fn arg<T: std::str::FromStr>(args: &[String], flag: &str) -> Option<T> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

/// Every case the soak runner knows.
pub fn cases() -> Vec<Case> {
    let mut v = process_cases();
    v.extend(crate::soak_cases::member_cases());
    v
}

fn process_cases() -> Vec<Case> {
    vec![
        Case {
            demo: "process",
            name: "lifecycle",
            args: |r| vec![s("lifecycle"), s("--children"), s(r.gen_range(1..=8))],
            check: |v, a| {
                let n: usize = arg(a, "--children").unwrap_or(3);
                let list = v["children"].as_array().ok_or("no children")?;
                expect(list.len() == n, "one entry per child")?;
                for (i, c) in list.iter().enumerate() {
                    let want = if i + 1 == n && n > 1 { 3 } else { 0 };
                    expect(c["exit_code"] == want, format!("child {i} exit code"))?;
                }
                expect(v["blocking_join"]["exit_code"] == 0, "preparer")
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "process",
            name: "fork-copy",
            args: |_| vec![s("fork-copy")],
            check: |v, _| expect(v["parent_value"] == 100 && v["child_value"] == 999, "copy"),
            code: 0,
            fault: false,
        },
        Case {
            demo: "process",
            name: "join-timeout",
            args: |_| vec![s("join-timeout"), s("--timeout"), s("0")],
            check: |v, _| {
                expect(
                    v["alive_after_timeout"] == true && v["exit_code"] == 0,
                    "alive",
                )
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "process",
            name: "terminate",
            args: |_| vec![s("terminate")],
            check: |v, _| {
                expect(v["python_exitcode"] == -15, "exitcode -15")?;
                expect(v["grandchild_orphaned"] == true, "orphaned")?;
                expect(v["leftover_processes"] == 0, "leftovers")
            },
            code: 0,
            fault: true,
        },
        Case {
            demo: "process",
            name: "zombie",
            args: |_| vec![s("zombie")],
            check: |v, _| {
                expect(
                    v["state_before_reap"] == "Z" && v["exists_after_reap"] == false,
                    "Z",
                )
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "process",
            name: "daemon",
            args: |_| vec![s("daemon")],
            check: |v, _| {
                expect(
                    v["daemon_terminated"] == true && v["normal_exit_code"] == 0,
                    "daemon",
                )
            },
            code: 0,
            fault: false,
        },
        Case {
            demo: "process",
            name: "lock-held",
            args: |_| vec![s("lock-held"), s("--wait-ms"), s("0")],
            check: |v, _| expect(v["deadlock_detected"] == true, "deadlock detected"),
            code: 0,
            fault: true,
        },
    ]
}

/// Totals of a soak run.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    /// Demo runs.
    pub runs: u64,
    /// Faults injected: crashes the demos inject, and signals sent at random moments.
    pub faults_injected: u64,
    /// Runs whose summary broke its invariant, or whose exit status was wrong.
    pub invariant_failures: u64,
    /// Runs that left a process or a kernel object behind.
    pub leftovers: u64,
    /// Runs that did not finish within their bound.
    pub hangs: u64,
    /// One line per failure, with how to repeat it.
    pub failures: Vec<String>,
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "runs {}, faults injected {}, invariant failures {}, leftovers {}, hangs {}",
            self.runs, self.faults_injected, self.invariant_failures, self.leftovers, self.hangs
        )
    }
}

/// How long one soak run may take before it counts as a hang.
pub const SOAK_RUN_BOUND: Duration = Duration::from_secs(30);

/// Run `runs` random runs of the cases whose `demo/name` contains `filter`, seeded by `seed`.
/// `interrupt_every`: about one run in this many gets a signal at a random moment (0: never).
pub fn soak(runs: u64, seed: u64, filter: &str, interrupt_every: u64) -> Totals {
    let all: Vec<Case> = cases()
        .into_iter()
        .filter(|c| format!("{}/{}", c.demo, c.name).contains(filter))
        .collect();
    assert!(!all.is_empty(), "no soak case matches {filter:?}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut t = Totals::default();
    for i in 0..runs {
        let case = &all[(i as usize) % all.len()];
        let args = (case.args)(&mut rng);
        let demo_seed: u64 = rng.gen();
        let interrupt = interrupt_every > 0 && rng.gen_range(0..interrupt_every) == 0;
        let signal = [
            (true, Signal::SIGINT),
            (false, Signal::SIGINT),
            (false, Signal::SIGTERM),
            (false, Signal::SIGKILL),
        ][rng.gen_range(0..4)];
        let mut full: Vec<String> = vec![s("--json"), s("--seed"), s(demo_seed)];
        // Interrupted runs go at a small real pace so there is a "middle" to interrupt.
        full.extend([s("--time-scale"), s(if interrupt { "0.01" } else { "0" })]);
        full.extend(args.iter().cloned());
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let repeat = format!("{} {}", case.demo, full.join(" "));
        let mut r = start(case.demo, &refs).with_timeout(SOAK_RUN_BOUND);
        if interrupt {
            t.faults_injected += 1;
            // Wait for the first line (or the end), then signal.
            let got_line = r.try_wait_line(SOAK_RUN_BOUND);
            if got_line {
                if signal.0 {
                    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(r.pid()), signal.1);
                } else {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(r.pid()), signal.1);
                }
            }
        }
        if case.fault {
            t.faults_injected += 1;
        }
        let run = r.finish_lenient();
        t.runs += 1;
        let objects = named_objects_of(run.pid);
        if run.status.is_none() {
            t.hangs += 1;
            t.failures.push(format!("hang: {repeat}"));
            continue;
        }
        if !run.leftovers.is_empty() || !objects.is_empty() {
            t.leftovers += 1;
            t.failures.push(format!(
                "leftovers {:?} {objects:?}: {repeat}",
                run.leftovers
            ));
        }
        if let Err(e) = judge(case, &args, &run, interrupt.then_some(signal.1)) {
            t.invariant_failures += 1;
            let tail: String = run
                .stderr
                .lines()
                .last()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            t.failures.push(format!("{e}: {repeat} (stderr: {tail})"));
        }
    }
    t
}

/// Did this run keep its promises?
fn judge(case: &Case, args: &[String], run: &Run, signal: Option<Signal>) -> Result<(), String> {
    let code = run.code();
    if let Some(sig) = signal {
        let expected = match sig {
            Signal::SIGINT => Some(130),
            Signal::SIGTERM => Some(143),
            _ => None,
        };
        // Interrupted: the caught signals give 130/143 and one line; SIGKILL gives no code.
        // The run may also have ended before the signal: then it must be a complete good run.
        if code.is_some() && code == expected {
            let lines = run.stderr.lines().count();
            return expect(lines == 1, format!("{lines} stderr lines after {sig}"));
        }
        if code.is_none() {
            // Only SIGKILL may end the top process by a signal: the others are caught.
            return expect(
                sig == Signal::SIGKILL,
                format!("ended by a signal after {sig}, not exit 130/143"),
            );
        }
    }
    expect(
        code == Some(case.code),
        format!("exit {code:?}, expected {}", case.code),
    )?;
    let last = run.stdout.lines().last().unwrap_or("");
    let v: Value = serde_json::from_str(last).map_err(|e| format!("last line not JSON: {e}"))?;
    expect(v["event"] == "summary", "no summary line")?;
    (case.check)(&v, args)
}

/// Helpers for member cases.
pub mod util {
    pub use super::{arg, expect, get_u64, s};
}
