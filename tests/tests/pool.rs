//! Tests of the `pool` demo (note 000 进程池; note 004 同步与异步).
//!
//! Every run goes through the harness, which fails the test if any process of the run is left
//! behind (alive or zombie). Summaries are parsed into one typed struct per subcommand, so a
//! missing or renamed field fails. No test asserts a time; races that matter are forced by the
//! demo (a task that waits at a gate, or until its worker is killed, or a worker made to die
//! at a chosen point of a take).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use predicates::prelude::*;
use serde::Deserialize;
use serde_json::Value;
use tests::trace::Trace;
use tests::{cmd, start, start_head, Run, TempPath};

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
    task_ms: f64,
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
    process_pool: ProcessPoolSide,
    thread_pool: ThreadPoolSide,
}

#[derive(Debug, Deserialize)]
struct ProcessPoolSide {
    parent_pid: u32,
    main_thread: u64,
    task_pids: Vec<u32>,
    callback_pids: Vec<u32>,
    callback_threads: Vec<u64>,
    callbacks_in_parent_main_thread: bool,
}

#[derive(Debug, Deserialize)]
struct ThreadPoolSide {
    parent_pid: u32,
    main_thread: u64,
    results: Vec<u64>,
    task_pids: Vec<u32>,
    task_threads: Vec<u64>,
    callbacks: u64,
    callback_pids: Vec<u32>,
    callback_threads: Vec<u64>,
    callbacks_on_worker_threads: bool,
    late_callback_thread: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct EdgeRule {
    rule: String,
    python: String,
    python_prints: String,
    python_says: String,
    we_do: String,
}

#[derive(Debug, Deserialize)]
struct EdgesSummary {
    rules: Vec<EdgeRule>,
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

/// Check a `--trace` of a run in which every task completed: it loads (fields, nesting), every
/// pid that printed has a named track, each of the `tasks` task ids has exactly one "task"
/// slice, on a worker's track (never the parent's), and each flow id has one start and one end:
/// from the parent's submission to the worker that ran the task, and from that worker's result
/// back to the parent. Returns task id -> the pid that ran it.
fn check_complete_trace(run: &Run, path: &TempPath, tasks: u64) -> BTreeMap<u64, u64> {
    let trace = Trace::load(&path.0, run);
    trace.check_pids_match(run);
    let names = trace.process_names();
    let mut ran_on: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for s in trace.slices(Some("task")) {
        let (Some(task), Some(pid)) = (s["args"]["task"].as_u64(), s["pid"].as_u64()) else {
            run.check(false, &format!("a task slice without task or pid: {s}"));
            continue;
        };
        ran_on.entry(task).or_default().push(pid);
    }
    run.check(
        ran_on.keys().copied().eq(0..tasks),
        &format!(
            "a task slice for each of the {tasks} tasks: {:?}",
            ran_on.keys()
        ),
    );
    let mut worker_of = BTreeMap::new();
    for (task, pids) in &ran_on {
        run.check(
            pids.len() == 1,
            &format!("task {task}: one slice, not {}", pids.len()),
        );
        let pid = pids[0];
        run.check(
            pid != run.pid as u64 && names.get(&pid).is_some_and(|n| n.starts_with("worker ")),
            &format!(
                "task {task} sliced on pid {pid} ({:?}), not a worker",
                names.get(&pid)
            ),
        );
        worker_of.insert(*task, pid);
    }
    let mut flows: BTreeMap<u64, (Vec<u64>, Vec<u64>)> = BTreeMap::new();
    for e in &trace.events {
        let pid = e["pid"].as_u64().unwrap_or(0);
        match (e["ph"].as_str(), e["id"].as_u64()) {
            (Some("s"), Some(id)) => flows.entry(id).or_default().0.push(pid),
            (Some("f"), Some(id)) => flows.entry(id).or_default().1.push(pid),
            _ => {}
        }
    }
    // Two arrows per task: submission -> start (id = the task's id), result -> the parent
    // reading it (the task's id with bit 62 set).
    const RESULT: u64 = 1 << 62;
    run.check(flows.len() as u64 == 2 * tasks, "two flows per task");
    for (id, (starts, ends)) in &flows {
        run.check(
            starts.len() == 1 && ends.len() == 1,
            &format!("flow {id}: one start, one end: {starts:?} {ends:?}"),
        );
        let (task, from, to) = if id & RESULT == 0 {
            (*id, run.pid as u64, worker_of.get(id).copied())
        } else {
            let task = id & !RESULT;
            (
                task,
                worker_of.get(&task).copied().unwrap_or(0),
                Some(run.pid as u64),
            )
        };
        run.check(
            starts.first() == Some(&from) && ends.first() == to.as_ref(),
            &format!("flow {id} (task {task}) goes from pid {from} to {to:?}"),
        );
    }
    worker_of
}

#[test]
fn trace_has_one_task_slice_per_task_on_the_worker_that_ran_it() {
    // basic: each worker prints `task_started` with the task number (= the pool's task id).
    let path = TempPath::new("basic.json");
    let run = cmd(
        "pool",
        &format!(
            "basic --tasks 7 --workers 3 --json --time-scale 0.01 --trace {}",
            path.arg()
        ),
    );
    let s: BasicSummary = run.ok_summary_as();
    let worker_of = check_complete_trace(&run, &path, s.tasks);
    for e in run.events_named("task_started") {
        let task = e["task"].as_u64().unwrap_or(u64::MAX);
        run.check(
            worker_of.get(&task) == e["pid"].as_u64().as_ref(),
            &format!("task {task}: the trace's worker is the one that printed it"),
        );
    }
    let trace = Trace::load(&path.0, &run);
    let away: Vec<&Value> = trace
        .slices(Some("wait"))
        .into_iter()
        .filter(|s| s["name"].as_str().unwrap_or("").starts_with("away"))
        .collect();
    run.check(
        away.len() == 1 && away[0]["pid"] == run.pid,
        "the parent's absence is one slice on its track",
    );
    // futures: `completed` names the worker of task i, which is the pool's task i + 1 (the
    // first submit is task 0).
    let path = TempPath::new("futures.json");
    let run = cmd(
        "pool",
        &format!(
            "futures --tasks 4 --workers 2 --json --time-scale 0 --trace {}",
            path.arg()
        ),
    );
    let _: FuturesSummary = run.ok_summary_as();
    let worker_of = check_complete_trace(&run, &path, 5);
    for e in run.events_named("completed") {
        let task = e["task"].as_u64().unwrap_or(u64::MAX) + 1;
        run.check(
            worker_of.get(&task) == e["worker"].as_u64().as_ref(),
            &format!("pool task {task}: the trace's worker is the one as_completed named"),
        );
    }
    // The other subcommands whose tasks all complete: sync-vs-async (2 x 3 + the gated one),
    // map (8 chunks of 7 + 50 imap_unordered chunks of 1), reuse (its process-per-task children
    // have tracks of their own, but no task slices).
    for (args, tasks) in [
        ("sync-vs-async --tasks 3 --workers 2", 7),
        ("map --items 50 --workers 2 --seed 3", 58),
        ("reuse --tasks 9 --workers 2", 9),
    ] {
        let path = TempPath::new("t.json");
        let run = cmd(
            "pool",
            &format!("{args} --json --time-scale 0 --trace {}", path.arg()),
        );
        run.expect_code(0);
        check_complete_trace(&run, &path, tasks);
    }
}

#[test]
fn trace_of_a_crash_and_of_a_terminated_pool_is_still_written() {
    // The killed task's slice never ends (its worker died in it); every other task has one,
    // the replacement has a track of its own, and the killer's line has its process track.
    let path = TempPath::new("crash.json");
    let run = cmd(
        "pool",
        &format!(
            "crash --crash-kind kill --crash-task 0 --tasks 4 --workers 1 --json --time-scale 0 \
             --trace {}",
            path.arg()
        ),
    );
    run.expect_code(1);
    let trace = Trace::load(&path.0, &run);
    trace.check_pids_match(&run);
    let mut tasks: Vec<u64> = trace
        .slices(Some("task"))
        .iter()
        .filter_map(|s| s["args"]["task"].as_u64())
        .collect();
    tasks.sort_unstable();
    run.check(
        tasks == vec![1, 2, 3],
        "a slice for each task but the killed one",
    );
    run.check(
        trace.events.iter().any(|e| {
            e["name"] == "process_name"
                && e["args"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .contains("replacing")
        }),
        "the replacement worker is named as such",
    );
    // edges drops a pool with tasks queued: the trace is written all the same.
    let path = TempPath::new("edges.json");
    let run = cmd(
        "pool",
        &format!("edges --json --time-scale 0 --trace {}", path.arg()),
    );
    run.expect_code(0);
    Trace::load(&path.0, &run).check_pids_match(&run);
}

#[test]
fn svg_draws_one_bar_per_task() {
    for (tasks, workers) in [(5u64, 2usize), (9, 3)] {
        let path = TempPath::new("basic.svg");
        let run = cmd(
            "pool",
            &format!(
                "basic --tasks {tasks} --workers {workers} --json --time-scale 0 --svg {}",
                path.arg()
            ),
        );
        let _: BasicSummary = run.ok_summary_as();
        let svg = std::fs::read_to_string(&path.0).unwrap_or_default();
        run.check(svg.starts_with("<svg"), "an SVG file was written");
        // The task colour is used by the task bars alone (see pool/src/chart.rs).
        let bars = svg.matches("fill=\"#1F77B4\"").count() as u64;
        run.check(bars == tasks, &format!("{bars} bars for {tasks} tasks"));
        run.check(
            svg.contains("away: its own work"),
            "the parent's absence is marked",
        );
        let lanes = svg
            .lines()
            .filter(|l| l.trim_start().starts_with("worker "))
            .count();
        run.check(
            (1..=workers).contains(&lanes),
            "a lane per worker that ran a task",
        );
    }
    tests::run("pool", &["basic", "--svg", "/nonexistent-dir/x.svg"])
        .expect_usage_error(&["--svg", "/nonexistent-dir/x.svg"]);
    tests::run("pool", &["map", "--trace", "/nonexistent-dir/t.json"])
        .expect_usage_error(&["--trace", "/nonexistent-dir/t.json"]);
}

#[test]
fn sync_vs_async_labels_say_the_scaled_task_length() {
    for (scale, ms) in [("0.1", "50 ms"), ("0", "0 ms")] {
        let run = cmd(
            "pool",
            &format!("sync-vs-async --tasks 2 --workers 2 --time-scale {scale}"),
        );
        run.expect_code(0);
        run.check(
            run.stdout.contains(&format!(
                "apply: 2 tasks of {ms} (0.5 s x --time-scale {scale})"
            )),
            &format!("the label says {ms}"),
        );
        run.check(!run.stdout.contains("tasks of 0.5 s"), "not 0.5 s");
    }
    let run = cmd(
        "pool",
        "sync-vs-async --tasks 2 --workers 2 --json --time-scale 0.1",
    );
    let s: SyncVsAsyncSummary = run.ok_summary_as();
    run.check(
        (s.task_ms - 50.0).abs() < 1e-9,
        "task_ms is the scaled 0.5 s",
    );
    let run = cmd("pool", "futures --tasks 2 --workers 2 --time-scale 0.1");
    run.expect_code(0);
    run.check(
        run.stdout.contains("x 30 ms (0.3 s x --time-scale)"),
        "futures' label is scaled too",
    );
}

#[test]
fn edges_each_rule_with_pythons_words_beside_ours() {
    let run = cmd("pool", "edges --json --time-scale 0");
    let s: EdgesSummary = run.ok_summary_as();
    let rule = |name: &str| {
        let r = s.rules.iter().find(|r| r.rule == name);
        run.check(r.is_some(), &format!("rule {name:?} listed"));
        r.unwrap()
    };
    let leave = rule("leaving without close() / join()");
    run.check(
        leave.we_do.contains("0 of 3 queued tasks ran")
            && leave.we_do.contains("terminated before the task finished"),
        "dropping the pool terminates: no queued task ran",
    );
    let after = rule("a task function defined after Pool()");
    run.check(
        after.we_do.starts_with("Err: ") && after.we_do.contains("at once, in the parent"),
        "a handle from a later list is refused at once",
    );
    run.check(
        after.we_do.contains("apply(square, 3) = 9"),
        "the pool goes on",
    );
    let join = rule("join() before close()");
    let text = join.python_prints.trim_start_matches("ValueError: ");
    run.check(
        join.python_prints.starts_with("ValueError: ")
            && join.we_do.starts_with(&format!("Err: {text}")),
        "join before close: refused with Python's words",
    );
    for r in &s.rules {
        run.check(
            r.python_says.contains(&r.python_prints),
            "python_says quotes python_prints",
        );
    }
    cmd("pool", "edges --time-scale 0")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Python: raises ValueError: Pool is still running",
        ));

    // Python's words are Python's: run each snippet, when python3 is here.
    let python = tests::require_python3();
    for r in &s.rules {
        let py = tests::start_program(&python, "python3 -c", &["-c", &r.python], usize::MAX)
            .with_timeout(Duration::from_secs(30))
            .finish();
        py.expect_code(0);
        let said = format!("{}{}", py.stdout, py.stderr);
        run.check(
            said.contains(&r.python_prints),
            &format!(
                "python3 prints {:?} for {:?}; it said:\n{said}",
                r.python_prints, r.rule
            ),
        );
        if r.rule == "leaving without close() / join()" {
            run.check(
                !said.contains(" ran"),
                "in Python no queued task ran either",
            );
        }
        if r.rule == "a task function defined after Pool()" {
            run.check(said.contains("no result"), "Python's apply got no result");
        }
    }
}

#[test]
fn futures_thread_pool_same_pid_callbacks_on_worker_threads() {
    let run = cmd(
        "pool",
        "futures --tasks 6 --workers 3 --json --time-scale 0",
    );
    let s: FuturesSummary = run.ok_summary_as();
    let (p, t) = (&s.process_pool, &s.thread_pool);
    let parent = run.pid as u32;
    // The process pool: other pids ran the tasks; callbacks in the parent's main thread.
    run.check(p.parent_pid == parent, "the parent is the run's pid");
    run.check(
        !p.task_pids.is_empty() && p.task_pids.iter().all(|&w| w != parent),
        "process pool: the tasks ran in other processes",
    );
    run.check(
        p.callback_pids == vec![parent] && p.callback_threads == vec![p.main_thread],
        "process pool: callbacks in the parent's main thread",
    );
    run.check(p.callbacks_in_parent_main_thread, "said so");
    // The thread pool: the parent's own pid, other threads; callbacks on those threads.
    run.check(
        t.results == squares(6) && t.callbacks == 6,
        "thread pool: every result and callback",
    );
    run.check(
        t.parent_pid == parent && t.task_pids == vec![parent],
        "thread pool: the tasks ran in the parent's own process",
    );
    run.check(
        !t.task_threads.is_empty()
            && t.task_threads.len() <= 3
            && !t.task_threads.contains(&t.main_thread),
        "thread pool: on at most 3 worker threads, not the main one",
    );
    run.check(
        t.callback_pids == vec![parent]
            && !t.callback_threads.is_empty()
            && t.callback_threads
                .iter()
                .all(|c| t.task_threads.contains(c)),
        "thread pool: each callback on a worker thread",
    );
    run.check(t.callbacks_on_worker_threads, "said so");
    run.check(
        t.late_callback_thread == Some(t.main_thread),
        "a callback added to a done future runs at once in the caller",
    );
    let cbs = run.events_named("thread_done_callback");
    run.check(
        cbs.len() == 6
            && cbs
                .iter()
                .all(|c| c["pid"] == run.pid && c["thread"].as_u64() != Some(t.main_thread)),
        "each thread callback printed from the parent's pid on a worker thread",
    );
}
