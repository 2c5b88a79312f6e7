//! Tests of the `process` demo (note 004: the Process lifecycle).
//!
//! Every run goes through the harness, which fails the test if any process of the run is left
//! behind, alive or zombie.

use std::time::Duration;

use nix::sys::signal::Signal;
use tests::{run_json, start, start_head};

#[test]
fn lifecycle_reports_every_child_with_its_exit_code() {
    for n in [1u32, 3, 8] {
        let run = run_json("process", &["lifecycle", "--children", &n.to_string()]);
        let s = run.ok_summary();
        let children = s["children"].as_array().expect("children list");
        run.check(children.len() == n as usize, "one entry per child");
        for (i, c) in children.iter().enumerate() {
            let expected = if i + 1 == n as usize && n > 1 { 3 } else { 0 };
            run.check(c["exit_code"] == expected, "exit code as the target chose");
            run.check(c["pid"].as_i64().unwrap_or(0) > 0, "a pid");
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
        run.check(
            s["blocking_join"]["exit_code"] == 0,
            "the preparer finished",
        );
    }
}

#[test]
fn default_subcommand_is_lifecycle() {
    let run = run_json("process", &[]);
    run.check(
        run.ok_summary()["children"].as_array().map(Vec::len) == Some(3),
        "3 children",
    );
}

#[test]
fn fork_copy_child_change_never_reaches_parent() {
    let run = run_json("process", &["fork-copy"]);
    let s = run.ok_summary();
    run.check(
        s["parent_value"] == 100 && s["child_value"] == 999,
        "copy, not share",
    );
}

#[test]
fn join_timeout_returns_while_child_runs() {
    for t in ["0", "0.5"] {
        let run = run_json("process", &["join-timeout", "--timeout", t]);
        let s = run.ok_summary();
        run.check(
            s["alive_after_timeout"] == true,
            "alive after join(timeout)",
        );
        run.check(s["exit_code"] == 0, "then joined with code 0");
    }
}

#[test]
fn terminate_orphans_the_grandchild_without_zombie() {
    let run = run_json("process", &["terminate"]);
    let s = run.ok_summary();
    run.check(s["exit_signal"] == "SIGTERM", "killed by SIGTERM");
    run.check(s["python_exitcode"] == -15, "Python's exitcode -15");
    run.check(
        s["grandchild_orphaned"] == true,
        "grandchild orphaned, alive",
    );
    run.check(
        s["grandchild_new_ppid"] == run.pid,
        "re-parented to the subreaper demo",
    );
    run.check(s["leftover_processes"] == 0, "nothing left");
}

#[test]
fn zombie_until_reaped() {
    let run = run_json("process", &["zombie"]);
    let s = run.ok_summary();
    run.check(s["state_before_reap"] == "Z", "zombie before waitpid");
    run.check(s["exists_after_reap"] == false, "gone after waitpid");
}

#[test]
fn daemon_terminated_normal_joined() {
    let run = run_json("process", &["daemon"]);
    let s = run.ok_summary();
    run.check(s["daemon_terminated"] == true, "daemon terminated");
    run.check(s["daemon_exitcode"] == -15, "by SIGTERM");
    run.check(s["normal_exit_code"] == 0, "normal child joined");
}

#[test]
fn lock_held_by_a_terminated_process_is_detected() {
    for wait in ["0", "50"] {
        let run = run(
            "process",
            &[
                "--json",
                "--time-scale",
                "1",
                "lock-held",
                "--wait-ms",
                wait,
            ],
        );
        let s = run.ok_summary();
        run.check(s["deadlock_detected"] == true, "deadlock detected");
        run.check(s["holder_exitcode"] == -15, "holder terminated");
        let waited = s["waited_ms"].as_f64().unwrap_or(-1.0);
        run.check(
            waited >= wait.parse::<f64>().unwrap_or(0.0),
            "waited at least the timeout",
        );
    }
}

fn run(name: &str, args: &[&str]) -> tests::Run {
    tests::run(name, args)
}

#[test]
fn multiprogramming_counts_switches() {
    let run = run(
        "process",
        &[
            "--json",
            "--time-scale",
            "1",
            "multiprogramming",
            "--seconds",
            "0.1",
        ],
    );
    let s = run.ok_summary();
    let io = &s["io_bound"];
    let ios = io["ios"].as_u64().unwrap_or(0);
    run.check(ios > 0, "the IO-bound child did some IO");
    // Each 1 ms sleep blocks, and blocking is a voluntary switch: at least one per IO wait.
    run.check(
        io["voluntary"].as_u64().unwrap_or(0) >= ios,
        "a voluntary switch per IO",
    );
    run.check(
        s["cpu_bound"]["voluntary"].is_u64() && s["cpu_bound"]["involuntary"].is_u64(),
        "cpu-bound counters",
    );
}

#[test]
fn parallel_reports_times_and_speedup() {
    let run = run_json("process", &["parallel", "--work-ms", "20"]);
    let s = run.ok_summary();
    for k in ["one_cpu_ms", "all_cpus_ms", "speedup"] {
        run.check(
            s[k].as_f64().is_some_and(|v| v > 0.0),
            &format!("{k} positive"),
        );
    }
    run.check(s["cpus"].as_u64().is_some_and(|c| c >= 1), "cpus");
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
    // it. The stop handler used to wait for it forever (it waits for EOF on a pipe we hold).
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
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
