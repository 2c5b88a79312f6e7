//! Tests of the `process` demo (note 004: the Process lifecycle).
//!
//! Every run goes through the harness, which fails the test if any process of the run is left
//! behind, alive or zombie.

use std::time::Duration;

use nix::sys::signal::Signal;
use predicates::prelude::*;
use serde::Deserialize;
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
    cpu_bound: Switches,
    io_bound: IoSwitches,
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
    }
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
fn bad_input_is_one_error_line_and_exit_2() {
    let cases: &[(&[&str], &[&str])] = &[
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
