//! Tests of the `pool` demo (note 000 进程池; note 004 同步与异步).
//!
//! Every run goes through the harness, which fails the test if any process of the run is left
//! behind (alive or zombie). Summaries are parsed into one typed struct per subcommand, so a
//! missing or renamed field fails. No test asserts a time; races that matter are forced by the
//! demo (a task that waits at a gate, or until its worker is killed, or a worker made to die
//! at a chosen point of a take).

use std::collections::BTreeSet;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use predicates::prelude::*;
use serde::Deserialize;
use tests::{cmd, start, start_head, Run};

#[derive(Debug, Deserialize)]
struct BasicSummary {
    tasks: u64,
    workers: usize,
    away_ms: f64,
    completed_while_away: u64,
    callbacks_while_away: u64,
    distinct_pids: usize,
    results: Vec<u64>,
    callbacks: u64,
    workers_started: u64,
}

#[derive(Debug, Deserialize)]
struct MapSummary {
    results: Vec<u64>,
    in_order: bool,
    chunksize: u64,
    chunks: u64,
    imap_unordered_order: Vec<u64>,
}

#[derive(Debug, Deserialize)]
struct SyncVsAsyncSummary {
    get_timeout_timed_out: bool,
    get_after_timeout: u64,
    apply_ms: f64,
    apply_async_ms: f64,
    workers: u64,
    apply_results: Vec<u64>,
    apply_async_results: Vec<u64>,
}

#[derive(Debug, Deserialize)]
struct ReuseSummary {
    distinct_pids: u64,
    process_per_task_pids: u64,
    pool_ms: f64,
    process_per_task_ms: f64,
    ratio: f64,
    workers_retired: u64,
}

#[derive(Debug, Deserialize)]
struct FuturesSummary {
    completion_order: Vec<u64>,
    results: Vec<u64>,
    callbacks: u64,
    submit_result: u64,
}

#[derive(Debug, Deserialize)]
struct Failure {
    task: u64,
    cause: String,
    kind: String,
}

#[derive(Debug, Deserialize)]
struct CrashSummary {
    completed: u64,
    failed: Vec<Failure>,
    workers_replaced: u64,
    workers_died: u64,
    results: Vec<(u64, u64)>,
}

fn squares(n: u64) -> Vec<u64> {
    (0..n).map(|i| i * i).collect()
}

/// The worker pids named by `task_started` events (printed by the workers themselves).
fn worker_pids_seen(run: &Run) -> BTreeSet<i64> {
    run.events_named("task_started")
        .iter()
        .filter_map(|e| e["pid"].as_i64())
        .collect()
}

#[test]
fn basic_reuses_at_most_workers_pids_and_calls_back_in_the_parent() {
    for (tasks, workers) in [(8u64, 2usize), (5, 1), (12, 3)] {
        let run = cmd(
            "pool",
            &format!("basic --tasks {tasks} --workers {workers} --json --time-scale 0"),
        );
        let s: BasicSummary = run.ok_summary_as();
        run.check(s.tasks == tasks && s.workers == workers, "echoes its sizes");
        run.check(s.results == squares(tasks), "every result, right");
        run.check(
            (1..=workers).contains(&s.distinct_pids),
            "no more pids than workers",
        );
        run.check(
            s.workers_started == workers as u64,
            "forked once: no worker was started per task",
        );
        run.check(s.callbacks == tasks, "one callback per task");
        run.check(s.callbacks_while_away == 0, "no callback while away");
        // The tasks really ran in those few processes, none of them the parent.
        let seen = worker_pids_seen(&run);
        run.check(
            seen.len() <= workers && !seen.contains(&(run.pid as i64)),
            "tasks ran in <= workers processes, none the parent",
        );
        // Callbacks run in the parent (Python: in the parent's result-handler thread).
        let cbs = run.events_named("callback");
        run.check(cbs.len() == tasks as usize, "one callback event per task");
        run.check(
            cbs.iter()
                .all(|c| c["pid"] == run.pid && c["in"] == run.pid),
            "callbacks run in the parent",
        );
        // Workers exit only at the end, after join, never between tasks.
        let exits = run.events_named("worker_exit");
        run.check(
            exits.len() == workers && exits.iter().all(|e| e["cause"] == "stopped"),
            "each worker stopped once, by join",
        );
    }
}

#[test]
fn tasks_complete_while_the_parent_is_away() {
    // The shape: 6 tasks of 0.2 s on 2 workers, the parent away 1.2 s (real time:
    // this is the one run at --time-scale 1). The work takes 0.6 s, half the absence, and the
    // tasks sleep rather than compute, so a busy machine delays them by scheduling latency
    // only. All six finish, by the workers' clocks, before the parent is back.
    let run = cmd(
        "pool",
        "basic --tasks 6 --workers 2 --task-ms 200 --away-ms 1200 --json --time-scale 1",
    );
    let s: BasicSummary = run.ok_summary_as();
    run.check(s.away_ms >= 1200.0, "the parent was away 1.2 s");
    run.check(
        s.completed_while_away == 6,
        "all six completed while the parent was away",
    );
    run.check(
        s.callbacks_while_away == 0 && s.callbacks == 6,
        "the callbacks ran after it came back",
    );
    // Every callback ran after the parent's return, at its next call into the pool.
    let back = run.events_named("parent_away")[0]["at_ms"]
        .as_f64()
        .unwrap_or(f64::MAX)
        + s.away_ms;
    run.check(
        run.events_named("callback")
            .iter()
            .all(|c| c["ran_ms"].as_f64().is_some_and(|t| t >= back - 1.0)),
        "callbacks ran once the parent was back",
    );
    // And the student's view says so.
    cmd(
        "pool",
        "basic --workers 2 --tasks 4 --task-ms 50 --away-ms 400 --time-scale 1",
    )
    .assert()
    .success()
    .stdout(predicate::str::contains(
        "4 of 4 tasks completed while the parent was away",
    ))
    .stdout(predicate::str::contains("callback in the parent"));
}

#[test]
fn default_subcommand_is_basic() {
    let run = cmd("pool", "--workers 2 --json --time-scale 0");
    let s: BasicSummary = run.ok_summary_as();
    run.check(s.tasks == 6 && s.distinct_pids <= 2, "basic's summary");
}

#[test]
fn map_returns_input_order_whatever_the_chunks() {
    // chunksize None = Python's default: ceil(50 / (4 * 2)) = 7.
    for (chunk, expect_cs) in [(None, 7u64), (Some(1), 1), (Some(3), 3), (Some(50), 50)] {
        for seed in tests::SEEDS {
            let chunk_flag = chunk.map_or(String::new(), |c| format!("--chunksize {c}"));
            let run = cmd(
                "pool",
                &format!(
                    "map --items 50 --workers 2 --seed {seed} {chunk_flag} --json --time-scale 0"
                ),
            );
            let s: MapSummary = run.ok_summary_as();
            run.check(s.in_order, "in input order");
            run.check(s.results == squares(50), "every result, in order");
            run.check(s.chunksize == expect_cs, "chunk size as Python chooses");
            run.check(s.chunks == 50u64.div_ceil(expect_cs), "chunk count");
            let mut un = s.imap_unordered_order.clone();
            un.sort_unstable();
            run.check(
                un == (0..50).collect::<Vec<_>>(),
                "imap_unordered: each item once",
            );
        }
    }
}

#[test]
fn map_chunksize_follows_pythons_rule() {
    for (items, workers, cs) in [(10u64, 2u64, 2u64), (100, 2, 13), (1000, 3, 84), (3, 4, 1)] {
        let run = cmd(
            "pool",
            &format!("map --items {items} --workers {workers} --sleep-ms 0 --json --time-scale 0"),
        );
        let s: MapSummary = run.ok_summary_as();
        run.check(s.chunksize == cs, "ceil(items / (4 * workers))");
        run.check(s.in_order, "in order");
    }
}

#[test]
fn map_with_chunks_larger_than_a_queue_part() {
    // 20000 items of (u64, u32) in one chunk: 240 KB of arguments, several parts each way.
    let run = cmd(
        "pool",
        "map --items 20000 --chunksize 20000 --workers 2 --sleep-ms 0 --json --time-scale 0",
    );
    let s: MapSummary = run.ok_summary_as();
    run.check(s.in_order && s.chunks == 1, "one big chunk, in order");
    // 1.5 M items of 12 bytes in one chunk: 18 MB, more than the whole task queue holds, so
    // the parent puts it part by part as the worker takes them.
    let run = cmd(
        "pool",
        "map --items 1500000 --chunksize 1500000 --workers 1 --sleep-ms 0 --json --time-scale 0",
    );
    let s: MapSummary = run.ok_summary_as();
    run.check(s.in_order && s.chunks == 1, "a chunk bigger than the queue");
}

#[test]
fn sync_vs_async_same_values_and_get_timeout_times_out() {
    let run = cmd(
        "pool",
        "sync-vs-async --tasks 5 --workers 2 --json --time-scale 0",
    );
    let s: SyncVsAsyncSummary = run.ok_summary_as();
    let expect: Vec<u64> = (0..5).map(|i| i * 10).collect();
    run.check(s.apply_results == expect, "apply returns the value");
    run.check(
        s.apply_async_results == expect,
        "apply_async's get returns the value",
    );
    run.check(
        s.apply_ms >= 0.0 && s.apply_async_ms >= 0.0 && s.workers == 2,
        "the timing fields exist (not asserted)",
    );
    // The gated task cannot finish before the parent opens the gate: a forced timeout.
    run.check(s.get_timeout_timed_out, "get(timeout) timed out");
    run.check(s.get_after_timeout == 70, "the task went on; get() got it");
}

#[test]
fn reuse_few_pids_vs_one_per_task() {
    let run = cmd("pool", "reuse --tasks 30 --workers 3 --json --time-scale 0");
    let s: ReuseSummary = run.ok_summary_as();
    run.check(s.distinct_pids <= 3, "pool: <= workers pids");
    run.check(s.process_per_task_pids == 30, "a process per task: 30 pids");
    run.check(
        s.pool_ms > 0.0 && s.process_per_task_ms > 0.0 && s.ratio > 0.0,
        "both costs reported",
    );
}

#[test]
fn max_tasks_per_child_recycles_workers() {
    let run = cmd(
        "pool",
        "reuse --tasks 30 --workers 2 --max-tasks-per-child 4 --json --time-scale 0",
    );
    let s: ReuseSummary = run.ok_summary_as();
    // Each worker runs at most 4 tasks, so at least ceil(30 / 4) = 8 processes ran them.
    run.check(s.distinct_pids >= 8, "at least ceil(30/4) worker processes");
    run.check(s.workers_retired >= 6, "workers retired and were replaced");
}

#[test]
fn futures_complete_each_once_with_callbacks_in_the_parent() {
    let run = cmd(
        "pool",
        "futures --tasks 7 --workers 3 --json --time-scale 0",
    );
    let s: FuturesSummary = run.ok_summary_as();
    let mut order = s.completion_order.clone();
    run.check(order.len() == 7, "seven completions");
    order.sort_unstable();
    run.check(order == (0..7).collect::<Vec<_>>(), "each future once");
    run.check(s.results == squares(7), "results by submission");
    run.check(s.submit_result == 49, "submit(..).result()");
    run.check(s.callbacks == 7, "seven callbacks");
    let cbs = run.events_named("done_callback");
    run.check(
        cbs.len() == 7 && cbs.iter().all(|c| c["pid"] == run.pid),
        "add_done_callback ran in the parent for each",
    );
}

/// Run `crash` with `kind`, expecting exactly task `task` of `tasks` to fail with a cause
/// containing `cause`.
fn crash_case(kind: &str, task: u64, tasks: u64, workers: u64, cause: &str, err_kind: &str) -> Run {
    crash_case_with("", kind, task, tasks, workers, cause, err_kind)
}

/// [`crash_case`] with extra global flags first.
fn crash_case_with(
    flags: &str,
    kind: &str,
    task: u64,
    tasks: u64,
    workers: u64,
    cause: &str,
    err_kind: &str,
) -> Run {
    let run = cmd(
        "pool",
        &format!(
            "{flags} crash --crash-kind {kind} --crash-task {task} --tasks {tasks} \
             --workers {workers} --json --time-scale 0"
        ),
    );
    // A task failed: exit 1 and one error line naming it, after the summary.
    run.expect_code(1);
    let err: Vec<&str> = run.stderr.lines().collect();
    run.check(
        err.len() == 1 && err[0].starts_with("error: task") && err[0].contains(cause),
        "one error line naming the failed task and its cause",
    );
    let s: CrashSummary = run.summary_as();
    run.check(s.failed.len() == 1, "exactly one task failed");
    run.check(s.failed[0].task == task, "the crashing task, not another");
    run.check(
        s.failed[0].cause.contains(cause),
        &format!("the cause mentions {cause:?}"),
    );
    run.check(s.failed[0].kind == err_kind, "the failure kind");
    run.check(s.completed == tasks - 1, "every other task completed");
    run.check(
        s.results.iter().all(|&(i, v)| v == i * i),
        "completed tasks have their values",
    );
    run.check(s.workers_died == 1, "one worker died");
    // Replaced only if work was left for a replacement (a crash in the last task may leave none).
    run.check(s.workers_replaced <= 1, "replaced at most once");
    run.check(
        tests::named_objects_of(run.pid).is_empty(),
        "no named kernel object left",
    );
    run
}

#[test]
fn every_crash_kind_fails_only_its_task() {
    let kinds = [
        (
            "panic",
            "panicked: task 2 panicked on purpose",
            "worker_died",
        ),
        ("abort", "killed by SIGABRT", "worker_died"),
        ("kill", "killed by SIGKILL", "worker_died"),
        ("exit", "exited with code 3", "worker_died"),
        ("truncate", "2097152 of 4194308 bytes arrived", "truncated"),
    ];
    for (kind, cause, err_kind) in kinds {
        crash_case(kind, 2, 6, 2, cause, err_kind);
    }
}

#[test]
fn a_worker_killed_in_the_middle_of_taking_a_task_fails_that_task() {
    // The forced worst moment: the task has left the queue, the worker has not noted it yet.
    // The parent counts what the dead taker removed and fails exactly that task.
    for (kind, task, tasks, workers) in [
        ("take", 2u64, 6u64, 2u64),
        ("take", 0, 4, 1),
        ("take", 5, 6, 3),
        // An argument bigger than the task queue: the parent is still putting it part by part.
        ("take-big", 1, 4, 2),
        ("take-big", 0, 3, 1),
    ] {
        let run = crash_case(
            kind,
            task,
            tasks,
            workers,
            "killed by SIGKILL while taking the task from the queue",
            "worker_died",
        );
        run.check(
            worker_pids_seen(&run).len() as u64 <= workers + 1,
            "the others ran in the workers and the replacement",
        );
    }
}

#[test]
fn crash_at_the_edges_and_on_one_worker() {
    // One worker, first task: the four queued behind it need the replacement.
    let run = crash_case("kill", 0, 5, 1, "killed by SIGKILL", "worker_died");
    let s: CrashSummary = run.summary_as();
    run.check(s.workers_replaced == 1, "replaced, since work was left");
    run.check(
        worker_pids_seen(&run).len() == 2,
        "the other tasks ran in the replacement",
    );
    crash_case("panic", 4, 5, 1, "panicked", "worker_died");
    crash_case("truncate", 0, 3, 1, "truncated result", "truncated");
    crash_case("exit", 7, 8, 3, "exited with code 3", "worker_died");
}

/// Start `crash --crash-kind external` with task `task` stuck until its worker is killed.
fn external(task: u64, workers: u64) -> tests::Running {
    start(
        "pool",
        &[
            "--json",
            "--time-scale",
            "0",
            "crash",
            "--crash-kind",
            "external",
            "--crash-task",
            &task.to_string(),
            "--tasks",
            "6",
            "--workers",
            &workers.to_string(),
        ],
    )
}

/// The parent pid of `pid`, from /proc.
fn ppid_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("process alive");
    stat[stat.rfind(')').expect("stat") + 2..]
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("ppid")
}

#[test]
fn a_worker_sigkilled_from_outside_fails_exactly_its_task() {
    for (task, workers) in [(3u64, 2u64), (0, 1)] {
        let mut r = external(task, workers);
        let ev = r.wait_for(Duration::from_secs(30), |v| {
            v["event"] == "task_started" && v["task"] == task
        });
        let worker = ev["worker"].as_i64().expect("worker pid") as i32;
        // It must be the demo's child, a worker: never signal a stranger.
        assert_eq!(
            ppid_of(worker),
            r.pid(),
            "the task's worker is a child of the demo"
        );
        kill(Pid::from_raw(worker), Signal::SIGKILL).expect("kill the worker");
        let run = r.finish();
        run.expect_code(1);
        let s: CrashSummary = run.summary_as();
        run.check(
            s.failed.len() == 1 && s.failed[0].task == task,
            "exactly the killed task failed",
        );
        let cause = &s.failed[0].cause;
        run.check(
            cause.contains("killed by SIGKILL") && cause.contains(&worker.to_string()),
            "its cause names the signal and the worker",
        );
        run.check(s.completed == 5, "the five others completed");
        run.check(s.workers_died == 1, "one death");
        let exits = run.events_named("worker_exit");
        run.check(
            exits
                .iter()
                .any(|e| e["worker"] == worker && e["exitcode"] == -9),
            "the pool saw that worker die by signal 9",
        );
    }
}

#[test]
fn the_idle_worker_waiting_at_the_task_queue_can_be_killed_too() {
    // Task 0 waits for a kill on one worker; the other worker finishes the rest and then
    // waits for a task. Killing *that* one removes nothing from the queue: no task fails for
    // it, a replacement is forked, and the run ends once the stuck task's own worker is killed.
    let mut r = external(0, 2);
    // Both lines come, in either order: the stuck worker may print its start after the other
    // worker and the parent are done with task 5.
    let (mut stuck, mut rest_done) = (None, false);
    while stuck.is_none() || !rest_done {
        let ev = r.wait_for(Duration::from_secs(30), |v| {
            (v["event"] == "task_started" && v["task"] == 0)
                || (v["event"] == "task_done" && v["task"] == 5)
        });
        if ev["event"] == "task_started" {
            stuck = ev["worker"].as_i64().map(|p| p as i32);
        } else {
            rest_done = true;
        }
    }
    let stuck = stuck.expect("worker pid");
    let idle = tests::group_members(r.pid())
        .into_iter()
        .map(|(pid, _, _)| pid)
        .find(|&p| p != r.pid() && p != stuck && ppid_of(p) == r.pid())
        .expect("the idle worker");
    kill(Pid::from_raw(idle), Signal::SIGKILL).expect("kill the idle worker");
    // Let the parent see that death first: it is reported before the stuck task's.
    r.wait_for(Duration::from_secs(30), |v| {
        v["event"] == "worker_exit" && v["worker"] == idle
    });
    kill(Pid::from_raw(stuck), Signal::SIGKILL).expect("kill the stuck worker");
    let run = r.finish();
    run.expect_code(1);
    let s: CrashSummary = run.summary_as();
    run.check(
        s.failed.len() == 1 && s.failed[0].task == 0,
        "only the stuck task failed",
    );
    run.check(s.completed == 5, "the others completed");
    run.check(s.workers_died == 2, "two deaths");
    let idle_exit = run.events_named("worker_exit");
    run.check(
        idle_exit
            .iter()
            .any(|e| e["worker"] == idle && e["failed_task"].is_null()),
        "the idle worker's death failed no task",
    );
}

#[test]
fn external_kill_never_comes_then_the_wait_limit_terminates() {
    // Nobody kills the worker: after --wait-limit the pool is terminated; nothing hangs and
    // nothing is left.
    let run = cmd(
        "pool",
        "crash --crash-kind external --wait-limit 1 --tasks 3 --json --time-scale 0",
    );
    run.expect_code(1);
    run.check(
        run.events_named("wait_limit").len() == 1,
        "the limit was hit",
    );
    let s: CrashSummary = run.summary_as();
    run.check(
        s.failed
            .iter()
            .any(|f| f.task == 2 && f.kind == "terminated"),
        "the stuck task failed as terminated",
    );
}

#[test]
fn timeline_draws_one_lane_per_worker() {
    let run = cmd(
        "pool",
        "basic --tasks 7 --workers 3 --timeline --json --time-scale 0",
    );
    let _: BasicSummary = run.ok_summary_as();
    let t = run.events_named("timeline");
    run.check(t.len() == 1, "one timeline");
    let lanes = t[0]["lanes"].as_array().map_or(0, Vec::len);
    let chart = t[0]["chart"].as_array().cloned().unwrap_or_default();
    let spans = t[0]["spans"].as_array().cloned().unwrap_or_default();
    run.check((1..=3).contains(&lanes), "1..=3 lanes");
    run.check(chart.len() == lanes + 1, "a header and one line per lane");
    run.check(spans.len() == 7, "one span per task");
    run.check(
        chart[1..]
            .iter()
            .all(|l| l.as_str().unwrap_or("").contains("worker")),
        "lanes are labelled by worker",
    );
    // Crash: the dead worker's lane ends with X and its replacement gets a lane of its own.
    let run = cmd(
        "pool",
        "crash --crash-kind abort --workers 1 --timeline --json --time-scale 0",
    );
    run.expect_code(1);
    let t = run.events_named("timeline");
    run.check(
        t.len() == 1 && t[0]["lanes"].as_array().map_or(0, Vec::len) == 2,
        "two lanes: the dead worker and its replacement",
    );
    run.check(
        t[0]["chart"][1].as_str().unwrap_or("").contains('X'),
        "the failed task is drawn X",
    );
}

#[test]
fn bad_input_is_one_error_line_and_exit_2() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["--workers", "0"], &["--workers", "0"]),
        (&["basic", "--workers", "65"], &["--workers", "65"]),
        (&["map", "--workers", "-2"], &["--workers", "-2"]),
        (&["basic", "--tasks", "1001"], &["--tasks", "1001"]),
        (&["basic", "--task-ms", "10001"], &["--task-ms", "10001"]),
        (&["basic", "--away-ms", "-1"], &["--away-ms", "-1"]),
        (&["crash", "--tasks", "0"], &["--tasks", "0"]),
        (
            &["crash", "--crash-kind", "melt"],
            &["--crash-kind", "melt"],
        ),
        (
            &["crash", "--crash-task", "6", "--tasks", "6"],
            &["--crash-task", "6"],
        ),
        (&["crash", "--crash-task", "-1"], &["--crash-task", "-1"]),
        (&["crash", "--wait-limit", "0"], &["--wait-limit", "0"]),
        (&["map", "--items", "10000001"], &["--items", "10000001"]),
        (&["map", "--chunksize", "0"], &["--chunksize", "0"]),
        (&["map", "--items", "x"], &["--items", "x"]),
        (
            &["reuse", "--max-tasks-per-child", "0"],
            &["--max-tasks-per-child", "0"],
        ),
        (&["--time-scale", "nan"], &["--time-scale", "nan"]),
        (&["--time-scale", "-1"], &["--time-scale", "-1"]),
        (&["bogus"], &["bogus"]),
        (&["--bogus"], &["--bogus"]),
    ];
    for (args, mentions) in cases {
        tests::run("pool", args).expect_usage_error(mentions);
    }
}

/// A run stuck at a known point: task 1's worker waits to be killed (nobody will).
fn stuck_run() -> tests::Running {
    let mut r = external(1, 2);
    r.wait_for_event("waiting_to_be_killed", Duration::from_secs(30));
    r
}

#[test]
fn ctrl_c_to_the_group_stops_the_pool_with_one_message() {
    let r = stuck_run();
    r.signal_group(Signal::SIGINT);
    let run = r.finish();
    run.expect_code(130);
    run.expect_one_error_line();
}

#[test]
fn sigint_sigterm_sigkill_to_the_parent_leave_no_worker() {
    for (sig, code) in [(Signal::SIGINT, Some(130)), (Signal::SIGTERM, Some(143))] {
        let r = stuck_run();
        r.signal(sig);
        let run = r.finish();
        run.check(run.code() == code, "the usual exit status");
    }
    // SIGKILL: the workers notice through PR_SET_PDEATHSIG; finish() gives them 2 s.
    let r = stuck_run();
    r.signal(Signal::SIGKILL);
    r.finish();
}

#[test]
fn closed_stdout_ends_quietly() {
    for args in [
        &["--json", "--time-scale", "0.02", "basic"][..],
        &["--time-scale", "0", "map", "--items", "200"][..],
    ] {
        let run = start_head("pool", args, 1).finish();
        run.expect_code(0);
        run.check(!run.stderr.contains("panicked"), "no panic text");
        run.check(run.stderr.is_empty(), "quiet");
    }
}
