//! Tests of the `process` demo (note 004: the Process lifecycle).
//!
//! Every run goes through the harness, which fails the test if any process of the run is left
//! behind, alive or zombie.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use nix::sys::signal::Signal;
use predicates::prelude::*;
use serde::Deserialize;
use serde_json::Value;
use tests::trace::{span, Trace};
use tests::TempPath;
use tests::{cmd, start, start_head};

/// A child in `lifecycle`'s summary.
#[derive(Debug, Deserialize)]
struct ChildEntry {
    name: String,
    pid: i32,
    exit_code: i32,
}

/// The blocking join of `lifecycle` (situation 2).
#[derive(Debug, Deserialize)]
struct BlockingJoin {
    name: String,
    pid: i32,
    exit_code: i32,
}

/// `lifecycle`'s summary.
#[derive(Debug, Deserialize)]
struct LifecycleSummary {
    children: Vec<ChildEntry>,
    blocking_join: BlockingJoin,
}

/// `fork-copy`'s summary.
#[derive(Debug, Deserialize)]
struct ForkCopySummary {
    parent_value: i64,
    child_value: i64,
}

/// `join-timeout`'s summary.
#[derive(Debug, Deserialize)]
struct JoinTimeoutSummary {
    alive_after_timeout: bool,
    exit_code: i32,
    timeout_ms: f64,
    timeout_label: String,
}

/// `terminate`'s summary.
#[derive(Debug, Deserialize)]
struct TerminateSummary {
    exit_signal: String,
    python_exitcode: i32,
    grandchild_orphaned: bool,
    grandchild_new_ppid: i32,
    leftover_processes: u64,
}

/// `zombie`'s summary.
#[derive(Debug, Deserialize)]
struct ZombieSummary {
    state_before_reap: String,
    exists_after_reap: bool,
}

/// `daemon`'s summary.
#[derive(Debug, Deserialize)]
struct DaemonSummary {
    daemon_terminated: bool,
    daemon_exitcode: i32,
    normal_exit_code: i32,
    python_parent_sigkilled: Option<PythonDaemon>,
    ours_parent_sigkilled: OurDaemon,
}

/// Python's daemon after its parent's SIGKILL, in `daemon`.
#[derive(Debug, Deserialize)]
struct PythonDaemon {
    parent_killed_by: Option<i32>,
    daemon_pid: i32,
    daemon_alive_after_parent_died: bool,
    daemon_new_ppid: Option<i32>,
    daemon_exitcode_after_cleanup: i32,
}

/// Ours, in `daemon`.
#[derive(Debug, Deserialize)]
struct OurDaemon {
    daemon_status: String,
    killed_with_parent: bool,
}

/// One rule of `edges`.
#[derive(Debug, Deserialize)]
struct Rule {
    rule: String,
    python_says: String,
    we_do: String,
}

/// `edges`' summary.
#[derive(Debug, Deserialize)]
struct EdgesSummary {
    rules: Vec<Rule>,
}

/// `lock-held`'s summary.
#[derive(Debug, Deserialize)]
struct LockHeldSummary {
    deadlock_detected: bool,
    holder_exitcode: i32,
    holder_pid: i32,
    waited_ms: f64,
}

/// One child's context switches in `multiprogramming`.
#[derive(Debug, Deserialize)]
struct Switches {
    voluntary: u64,
    involuntary: u64,
}

/// The IO-bound child's figures in `multiprogramming`.
#[derive(Debug, Deserialize)]
struct IoSwitches {
    voluntary: u64,
    involuntary: u64,
    ios: u64,
}

/// `multiprogramming`'s summary.
#[derive(Debug, Deserialize)]
struct MultiprogrammingSummary {
    seconds: f64,
    cpu: usize,
    cpus_allowed: Vec<usize>,
    cpu_bound: Switches,
    io_bound: IoSwitches,
    resumed_elsewhere: ResumedElsewhere,
}

/// IO waits after which a child resumed on another CPU.
#[derive(Debug, Deserialize)]
struct ResumedElsewhere {
    pinned: Moved,
    free: FreeMoved,
}

/// The pinned child's count.
#[derive(Debug, Deserialize)]
struct Moved {
    ios: u64,
    moved: u64,
}

/// The free child's count and the CPUs it was seen on.
#[derive(Debug, Deserialize)]
struct FreeMoved {
    ios: u64,
    moved: u64,
    cpus_seen: Vec<usize>,
}

/// `parallel`'s summary.
#[derive(Debug, Deserialize)]
struct ParallelSummary {
    one_cpu_ms: f64,
    all_cpus_ms: f64,
    speedup: f64,
    cpus: u64,
    work_ms: u64,
}

#[test]
fn lifecycle_reports_every_child_with_its_exit_code() {
    for n in [1u32, 3, 8] {
        let run = cmd(
            "process",
            &format!("lifecycle --children {n} --json --time-scale 0"),
        );
        let s: LifecycleSummary = run.ok_summary_as();
        run.check(s.children.len() == n as usize, "one entry per child");
        for (i, c) in s.children.iter().enumerate() {
            let expected = if i + 1 == n as usize && n > 1 { 3 } else { 0 };
            run.check(c.exit_code == expected, "exit code as the target chose");
            run.check(c.pid > 0 && c.pid != run.pid, "a pid of its own");
            run.check(c.name == format!("worker-{}", i + 1), "Python's name=");
        }
        // Every child printed its own pid and its parent's: the demo's.
        let args = run.events_named("child_args");
        run.check(
            args.len() == n as usize + 1,
            "each child (and the preparer) printed",
        );
        for a in &args {
            run.check(a["pid"] != run.pid, "printed by the child itself");
        }
        for a in args.iter().filter(|a| a["ppid"].is_i64()) {
            run.check(a["ppid"] == run.pid, "ppid is the demo");
        }
        let preparer = &s.blocking_join;
        run.check(
            preparer.exit_code == 0 && preparer.pid > 0 && preparer.pid != run.pid,
            "the preparer finished",
        );
        run.check(preparer.name == "preparer", "the preparer is named");
    }
}

#[test]
fn default_subcommand_is_lifecycle_and_prints_what_a_student_reads() {
    let run = cmd("process", "--json --time-scale 0");
    let s: LifecycleSummary = run.ok_summary_as();
    run.check(s.children.len() == 3, "3 children");
    cmd("process", "--time-scale 0")
        .assert()
        .success()
        .stdout(predicate::str::contains("[worker-1] hello 0 apple"))
        .stdout(
            predicate::str::is_match(
                r"joined worker-3 \(pid \d+\): exited with code 3, exitcode 3",
            )
            .unwrap(),
        )
        .stdout(predicate::str::contains(
            "situation 2: the parent cannot continue",
        ));
}

#[test]
fn fork_copy_child_change_never_reaches_parent() {
    let run = cmd("process", "fork-copy --json --time-scale 0");
    let s: ForkCopySummary = run.ok_summary_as();
    run.check(
        s.parent_value == 100 && s.child_value == 999,
        "copy, not share",
    );
    cmd("process", "fork-copy --time-scale 0")
        .assert()
        .success()
        .stdout(predicate::str::contains("set value = 999"))
        .stdout(predicate::str::contains("parent: value = 100 after join()"));
}

#[test]
fn join_timeout_returns_while_child_runs() {
    for timeout in ["0", "0.5"] {
        let run = cmd(
            "process",
            &format!("join-timeout --timeout {timeout} --json --time-scale 0"),
        );
        let s: JoinTimeoutSummary = run.ok_summary_as();
        run.check(s.alive_after_timeout, "alive after join(timeout)");
        run.check(s.exit_code == 0, "then joined with code 0");
        // --time-scale 0 scales every wait, the join timeout included, to nothing.
        run.check(s.timeout_ms == 0.0, "the timeout is the scaled one");
        run.check(
            s.timeout_label == "0.0",
            "the label says the timeout that ran",
        );
    }
    // The label says what ran: 1.0 s scaled by 0.05 is 0.05 s, not "0.1".
    let run = cmd(
        "process",
        "join-timeout --timeout 1.0 --json --time-scale 0.05",
    );
    let s: JoinTimeoutSummary = run.ok_summary_as();
    run.check(s.timeout_label == "0.05", "timeout_label 0.05");
    run.check((s.timeout_ms - 50.0).abs() < 1e-6, "timeout_ms 50");
    cmd("process", "join-timeout --timeout 1.0 --time-scale 0.05")
        .assert()
        .success()
        .stdout(predicate::str::contains("join(timeout=0.05) returned"))
        .stdout(predicate::str::contains("--time-scale 0.05"));
}

#[test]
fn terminate_orphans_the_grandchild_without_zombie() {
    let run = cmd("process", "terminate --json --time-scale 0");
    let s: TerminateSummary = run.ok_summary_as();
    run.check(s.exit_signal == "SIGTERM", "killed by SIGTERM");
    run.check(s.python_exitcode == -15, "Python's exitcode -15");
    run.check(s.grandchild_orphaned, "grandchild orphaned, alive");
    run.check(
        s.grandchild_new_ppid == run.pid,
        "re-parented to the subreaper demo",
    );
    run.check(s.leftover_processes == 0, "nothing left");
    cmd("process", "terminate --time-scale 0")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "killed by SIGTERM; Python's exitcode -15",
        ))
        .stdout(predicate::str::contains("not Z: it is alive, not a zombie"));
}

#[test]
fn zombie_until_reaped() {
    let run = cmd("process", "zombie --json --time-scale 0");
    let s: ZombieSummary = run.ok_summary_as();
    run.check(s.state_before_reap == "Z", "zombie before waitpid");
    run.check(!s.exists_after_reap, "gone after waitpid");
}

#[test]
fn daemon_terminated_normal_joined() {
    let run = cmd("process", "daemon --json --time-scale 0");
    let s: DaemonSummary = run.ok_summary_as();
    run.check(s.daemon_terminated, "daemon terminated");
    run.check(s.daemon_exitcode == -15, "by SIGTERM");
    run.check(s.normal_exit_code == 0, "normal child joined");
    // The parent SIGKILLed. Ours: the daemon dies with it (PR_SET_PDEATHSIG).
    run.check(
        s.ours_parent_sigkilled.killed_with_parent
            && s.ours_parent_sigkilled.daemon_status == "killed by SIGKILL",
        "our daemon was killed with its SIGKILLed parent",
    );
    // Python's: the daemon outlives its SIGKILLed parent (its flag acts only at normal exit).
    match (tests::python3(), &s.python_parent_sigkilled) {
        (Some(_), Some(p)) => {
            run.check(p.parent_killed_by == Some(9), "python's parent SIGKILLed");
            run.check(
                p.daemon_alive_after_parent_died,
                "python's daemon still running after its parent's SIGKILL",
            );
            run.check(
                p.daemon_new_ppid == Some(run.pid),
                "python's orphaned daemon re-parented to the demo (a subreaper)",
            );
            run.check(
                p.daemon_exitcode_after_cleanup == 0,
                "python's daemon finished once its pipe was closed",
            );
            // It ran in python's own process group: check ourselves that it is gone.
            run.check(
                !std::path::Path::new(&format!("/proc/{}", p.daemon_pid)).exists(),
                "python's daemon is gone after the run",
            );
        }
        (None, None) => {}
        (have, got) => {
            run.check(
                false,
                &format!("python3 here: {have:?}, but the demo reported {got:?}"),
            );
        }
    }
    let expected = if tests::python3().is_some() {
        "STILL RUNNING, an orphan"
    } else {
        "no python3 on this machine"
    };
    cmd("process", "daemon --time-scale 0")
        .assert()
        .success()
        .stdout(predicate::str::contains(expected))
        .stdout(predicate::str::contains(
            "PR_SET_PDEATHSIG made the kernel kill it",
        ));
}

#[test]
fn edges_each_rule_with_pythons_words_beside_ours() {
    let run = cmd("process", "edges --json --time-scale 0");
    let s: EdgesSummary = run.ok_summary_as();
    let rule = |name: &str| {
        let r = s.rules.iter().find(|r| r.rule == name);
        run.check(r.is_some(), &format!("rule {name:?} listed"));
        r.unwrap()
    };
    run.check(
        rule("default names").we_do == "Process-1 Process-2",
        "default names Process-1, Process-2",
    );
    run.check(
        rule("pid and exitcode before start()").we_do == "None None",
        "no pid, no exitcode before start",
    );
    run.check(
        rule("run() called directly").we_do.contains(&format!(
            "ran in pid {} (the caller is pid {})",
            run.pid, run.pid
        )),
        "run() runs the target in the caller",
    );
    run.check(
        rule("group must be None")
            .we_do
            .contains("no group parameter"),
        "group: not expressible",
    );
    // The refusals: our error says what Python's assertion says.
    for name in [
        "join() before start()",
        "daemon set after start()",
        "a daemon starts a child",
    ] {
        let r = rule(name);
        let text = r.python_says.trim_start_matches("AssertionError: ");
        run.check(
            r.python_says.starts_with("AssertionError: ") && r.we_do == format!("Err: {text}"),
            &format!("{name}: ours refuses with Python's words"),
        );
    }
    run.check(rule("kwargs").we_do.contains("\"hello 3\""), "kwargs shown");
    // The task's line with the kwargs greeting came from a child (another pid).
    let hello: Vec<Value> = run
        .events_named("task")
        .into_iter()
        .filter(|e| e["greeting"] == "hello")
        .collect();
    run.check(
        hello.len() == 1 && hello[0]["pid"].as_i64() != Some(i64::from(run.pid)),
        "kwargs task ran in a child",
    );
    cmd("process", "edges --time-scale 0")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Python: AssertionError: can only join a started process",
        ))
        .stdout(predicate::str::contains("[task] hello 3"));

    // Python's words are Python's: ask python3 itself, when it is here.
    let python = tests::require_python3();
    let program = "\
import multiprocessing as mp
def f(): pass
def child():
    try: mp.Process(target=f).start()
    except AssertionError as e: print('daemon', e, flush=True)
if __name__ == '__main__':
    a, b = mp.Process(target=f), mp.Process(target=f)
    print('names', a.name, b.name)
    print('before', a.pid, a.exitcode)
    try: mp.Process(group=1, target=f)
    except AssertionError as e: print('group', e)
    try: a.join()
    except AssertionError as e: print('join', e)
    a.start()
    try: a.daemon = True
    except AssertionError as e: print('set', e)
    a.join()
    d = mp.Process(target=child, daemon=True); d.start(); d.join()
";
    let py = tests::start_program(&python, "python3 -c", &["-c", program], usize::MAX).finish();
    py.expect_code(0);
    let said: BTreeMap<String, String> = py
        .stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (key, name) in [
        ("names", "default names"),
        ("before", "pid and exitcode before start()"),
    ] {
        run.check(
            said.get(key) == Some(&rule(name).python_says),
            &format!("python3 says {:?} for {name}", said.get(key)),
        );
    }
    for (key, name) in [
        ("group", "group must be None"),
        ("join", "join() before start()"),
        ("set", "daemon set after start()"),
        ("daemon", "a daemon starts a child"),
    ] {
        let ours = rule(name)
            .python_says
            .trim_start_matches("AssertionError: ");
        run.check(
            said.get(key).map(String::as_str) == Some(ours),
            &format!(
                "python3 says {:?} for {name}, we quote {ours:?}",
                said.get(key)
            ),
        );
    }
}

#[test]
fn lock_held_by_a_terminated_process_is_detected() {
    for wait in [0.0, 50.0] {
        let run = cmd(
            "process",
            &format!("--json --time-scale 1 lock-held --wait-ms {wait}"),
        );
        let s: LockHeldSummary = run.ok_summary_as();
        run.check(s.deadlock_detected, "deadlock detected");
        run.check(s.holder_exitcode == -15, "holder terminated");
        run.check(
            s.holder_pid > 0 && s.holder_pid != run.pid,
            "the holder was a child",
        );
        run.check(s.waited_ms >= wait, "waited at least the timeout");
    }
}

#[test]
fn multiprogramming_counts_switches() {
    let run = cmd(
        "process",
        "--json --time-scale 1 multiprogramming --seconds 0.1",
    );
    let s: MultiprogrammingSummary = run.ok_summary_as();
    run.check(s.seconds > 0.0, "it ran for a while");
    run.check(s.io_bound.ios > 0, "the IO-bound child did some IO");
    // Each 1 ms sleep blocks, and blocking is a voluntary switch: at least one per IO wait.
    run.check(
        s.io_bound.voluntary >= s.io_bound.ios,
        "a voluntary switch per IO",
    );
    // Both children shared one CPU, so at least one of them had its time slice taken away.
    run.check(
        s.cpu_bound.involuntary + s.io_bound.involuntary + s.cpu_bound.voluntary > 0,
        "the CPU-bound child was switched out",
    );
    // Resumed on another CPU: never when the mask allows one CPU; any number otherwise.
    let r = &s.resumed_elsewhere;
    run.check(
        r.pinned.ios == s.io_bound.ios,
        "the pinned child's waits counted",
    );
    run.check(r.pinned.moved == 0, "a child pinned to one CPU never moves");
    run.check(
        r.free.ios > 0 && r.free.moved <= r.free.ios,
        "free: at most every wait",
    );
    run.check(
        !r.free.cpus_seen.is_empty() && r.free.cpus_seen.iter().all(|c| s.cpus_allowed.contains(c)),
        "the free child ran only on allowed CPUs",
    );
    run.check(s.cpus_allowed.contains(&s.cpu), "pinned to an allowed CPU");
}

#[test]
fn multiprogramming_trace_has_a_track_per_child_and_every_io_wait() {
    let file = TempPath::new("multiprogramming");
    let run = cmd(
        "process",
        &format!(
            "--json --time-scale 1 multiprogramming --seconds 0.05 --trace {}",
            file.arg()
        ),
    );
    let s: MultiprogrammingSummary = run.ok_summary_as();
    let trace = Trace::load(&file.0, &run);
    trace.check_pids_match(&run);
    let names = trace.process_names();
    let pid_of = |prefix: &str| {
        let found: Vec<u64> = names
            .iter()
            .filter(|(_, n)| n.starts_with(prefix))
            .map(|(p, _)| *p)
            .collect();
        run.check(
            found.len() == 1,
            &format!("one track named {prefix:?}: {names:?}"),
        );
        found[0]
    };
    let cpu_bound = pid_of("cpu-bound (pinned");
    let pinned = pid_of("io-bound (pinned");
    let free = pid_of("io-bound (not pinned)");
    let waits = |pid: u64| -> Vec<Value> {
        trace
            .slices(Some("io"))
            .into_iter()
            .filter(|e| e["pid"].as_u64() == Some(pid))
            .cloned()
            .collect()
    };
    run.check(
        waits(pinned).len() as u64 == s.io_bound.ios,
        "one IO wait slice per IO of the pinned child",
    );
    run.check(
        waits(free).len() as u64 == s.resumed_elsewhere.free.ios,
        "one IO wait slice per IO of the free child",
    );
    run.check(
        waits(pinned)
            .iter()
            .all(|e| e["args"]["cpu_before"] == s.cpu && e["args"]["cpu_after"] == s.cpu),
        "the pinned child's waits start and end on its CPU",
    );
    let moved = waits(free)
        .iter()
        .filter(|e| e["args"]["cpu_before"] != e["args"]["cpu_after"])
        .count() as u64;
    run.check(
        moved == s.resumed_elsewhere.free.moved,
        "the trace's moves are the summary's",
    );
    run.check(
        trace
            .slices(Some("work"))
            .iter()
            .any(|e| e["pid"].as_u64() == Some(cpu_bound) && e["name"] == "computing"),
        "the CPU-bound child's bursts",
    );
}

#[test]
fn parallel_reports_times_and_speedup() {
    let run = cmd("process", "parallel --work-ms 20 --json --time-scale 0");
    let s: ParallelSummary = run.ok_summary_as();
    run.check(s.work_ms == 20, "the work asked for");
    run.check(
        s.one_cpu_ms > 0.0 && s.all_cpus_ms > 0.0 && s.speedup > 0.0,
        "times and speedup positive",
    );
    run.check(
        (s.speedup - s.one_cpu_ms / s.all_cpus_ms).abs() < 1e-6 * s.speedup.max(1.0),
        "speedup = one CPU / all CPUs",
    );
    run.check(s.cpus >= 1, "at least one CPU");
}

#[test]
fn parallel_trace_has_each_worker_computing_inside_its_phase() {
    let file = TempPath::new("parallel");
    let run = cmd(
        "process",
        &format!(
            "parallel --work-ms 5 --json --time-scale 0 --trace {}",
            file.arg()
        ),
    );
    let _: ParallelSummary = run.ok_summary_as();
    let trace = Trace::load(&file.0, &run);
    trace.check_pids_match(&run);
    let names = trace.process_names();
    let phases: BTreeMap<String, (f64, f64)> = trace
        .slices(Some("phase"))
        .iter()
        .filter(|e| e["pid"].as_i64() == Some(i64::from(run.pid)))
        .map(|e| (e["name"].as_str().unwrap_or("").to_string(), span(e)))
        .collect();
    run.check(
        phases.keys().cloned().collect::<BTreeSet<_>>()
            == BTreeSet::from([
                "both on one CPU".to_string(),
                "free on all CPUs".to_string(),
            ]),
        &format!("two phases on the parent's track: {phases:?}"),
    );
    let computing = trace.slices(Some("work"));
    run.check(
        computing.len() == 4,
        "four workers, one computing slice each",
    );
    for e in computing {
        let pid = e["pid"].as_u64().unwrap_or(0);
        let name = names.get(&pid).cloned().unwrap_or_default();
        let phase = phases
            .iter()
            .find(|(p, _)| name.ends_with(&format!("({p})")))
            .map(|(_, t)| *t);
        let (start, end) = span(e);
        run.check(
            phase.is_some_and(|(a, b)| a <= start && end <= b),
            &format!("worker {name:?} computes inside its phase"),
        );
    }
}

#[test]
fn bad_input_is_one_error_line_and_exit_2() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["parallel", "--trace", "/nonexistent-dir/p.json"],
            &["--trace"],
        ),
        (
            &["multiprogramming", "--trace", "/"],
            &["--trace", "is a directory"],
        ),
        (&["edges", "--children", "2"], &["--children"]),
        (&["lifecycle", "--children", "0"], &["--children", "0"]),
        (&["lifecycle", "--children", "65"], &["--children", "65"]),
        (&["lifecycle", "--children", "x"], &["--children", "x"]),
        (&["lifecycle", "--children", "-1"], &["--children", "-1"]),
        (&["lifecycle", "--children"], &["--children"]),
        (&["--time-scale", "nan"], &["--time-scale", "nan"]),
        (&["--time-scale", "-1"], &["--time-scale", "-1"]),
        (&["--time-scale", "inf"], &["--time-scale", "inf"]),
        (&["--seed", "-3"], &["--seed"]),
        (&["--seed", "x"], &["--seed", "x"]),
        (&["join-timeout", "--timeout", "-1"], &["--timeout", "-1"]),
        (&["join-timeout", "--timeout", "nan"], &["--timeout", "nan"]),
        (
            &["lock-held", "--wait-ms", "60001"],
            &["--wait-ms", "60001"],
        ),
        (&["parallel", "--work-ms", "0"], &["--work-ms", "0"]),
        (
            &["multiprogramming", "--seconds", "61"],
            &["--seconds", "61"],
        ),
        (&["bogus"], &["bogus"]),
        (&["--bogus"], &["--bogus"]),
    ];
    for (args, mentions) in cases {
        tests::run("process", args).expect_usage_error(mentions);
    }
}

/// Start `lifecycle` at the notes' pace and wait until its 3 children run.
fn lifecycle_mid_run() -> tests::Running {
    let mut r = start("process", &["--json", "lifecycle"]);
    for _ in 0..3 {
        r.wait_for_event("started", Duration::from_secs(10));
    }
    r
}

#[test]
fn ctrl_c_to_the_group_stops_everything_with_one_message() {
    let r = lifecycle_mid_run();
    r.signal_group(Signal::SIGINT);
    let run = r.finish();
    run.expect_code(130);
    run.expect_one_error_line();
}

#[test]
fn sigint_and_sigterm_to_the_parent_stop_every_child() {
    for (sig, code) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143)] {
        let r = lifecycle_mid_run();
        r.signal(sig);
        let run = r.finish();
        run.expect_code(code);
        run.expect_one_error_line();
    }
}

#[test]
fn sigkill_of_the_parent_takes_the_children_down() {
    let r = lifecycle_mid_run();
    r.signal(Signal::SIGKILL);
    // finish() gives the orphans 2 s to die and fails if any is still there.
    let run = r.finish();
    run.check(
        run.status
            .and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s))
            == Some(9),
        "killed",
    );
}

#[test]
fn sigint_during_terminate_demo_also_reaps_the_orphan() {
    // The terminate demo holds an orphaned grandchild for a while; Ctrl-C at that point must
    // still leave nothing (the subreaper handler kills and reaps it).
    let mut r = start("process", &["--json", "--time-scale", "1", "terminate"]);
    r.wait_for_event("grandchild_running", Duration::from_secs(10));
    r.signal_group(Signal::SIGINT);
    let run = r.finish();
    // Either the signal came before the demo ended (130) or after (0): both must leave nothing.
    run.check(matches!(run.code(), Some(0) | Some(130)), "exit 0 or 130");
    if run.code() == Some(0) {
        // It finished first: then completely, with its summary.
        run.summary();
    }
}

#[test]
fn signal_before_the_orphan_is_adopted_does_not_hang() {
    // Forced interleaving: the demo stops right where the grandchild exists but no table lists
    // it yet. The stop handler must not wait for it (it would wait for EOF on a pipe we hold).
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // The hook exists only in a build with the `fault-injection` feature, which the harness
        // makes.
        let mut r = start("process", &["--json", "terminate", "--stall-before-adopt"]);
        r.wait_for_event("stalled", Duration::from_secs(10));
        r.signal(sig);
        let run = r.finish();
        run.expect_code(if sig == Signal::SIGINT { 130 } else { 143 });
    }
}

#[test]
fn closed_stdout_ends_quietly() {
    for args in [
        &["--json", "--time-scale", "0.05", "lifecycle"][..],
        &["--time-scale", "0.05", "daemon"][..],
    ] {
        let run = start_head("process", args, 1).finish();
        run.expect_code(0);
        run.check(!run.stderr.contains("panicked"), "no panic text");
        run.check(run.stderr.is_empty(), "quiet");
    }
}
