//! Tests of the `threads` demo (note 000, the threads part: shared pid and memory, races and
//! locks, 同步互斥, what main's end does, the GIL, creation cost).
//!
//! Every assertion is an invariant the demo makes certain (a barrier, a condition variable, a
//! gate that never opens), never a schedule hoped for, and never a timing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use nix::sys::signal::Signal;
use predicates::prelude::*;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use tests::trace::{span, Trace};
use tests::TempPath;
use tests::{cmd, Run, SEEDS};

/// tid -> name of the named thread tracks of process `pid`.
fn thread_names(trace: &Trace, pid: i32) -> BTreeMap<u64, String> {
    trace
        .events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .filter(|e| e["pid"].as_i64() == Some(i64::from(pid)))
        .filter_map(|e| Some((e["tid"].as_u64()?, e["args"]["name"].as_str()?.to_string())))
        .collect()
}

/// `ids`' summary.
#[derive(Debug, Deserialize)]
struct IdsSummary {
    pid: i32,
    main_tid: i32,
    tids: Vec<i32>,
    same_pid: bool,
    distinct_tids: bool,
    num_threads: u64,
    task_dir_matches: bool,
    lwp: Vec<LwpRow>,
    pinned: Pinned,
}

/// One `ps -L` row of `ids`.
#[derive(Debug, Deserialize)]
struct LwpRow {
    lwp: i32,
    psr: u32,
    comm: String,
}

/// The pinned thread of `ids`.
#[derive(Debug, Deserialize)]
struct Pinned {
    thread: u32,
    tid: i32,
    cpu: u32,
    ran_on: u32,
}

/// One `thread` event of `ids`.
#[derive(Debug, Deserialize)]
struct ThreadEvent {
    pid: i32,
    tid: i32,
}

/// `shared`'s summary.
#[derive(Debug, Deserialize)]
struct SharedSummary {
    before: i64,
    child_value: i64,
    process_value_seen_by_parent: i64,
    thread_value_seen_by_main: i64,
    written: Vec<u64>,
    seen: Vec<Vec<u64>>,
    every_thread_saw_all: bool,
    threads: u64,
}

/// `process_changed` / `thread_changed` of `shared`.
#[derive(Debug, Deserialize)]
struct Changed {
    pid: i32,
    address: String,
    value: i64,
}

/// `race`'s summary.
#[derive(Debug, Deserialize)]
struct RaceSummary {
    mode: String,
    schedule: String,
    threads: u64,
    rounds: u64,
    expected: u64,
    #[serde(rename = "final")]
    final_count: u64,
    lost: u64,
    predicted_lost: Option<u64>,
}

/// One narrated round of `race --schedule forced`.
#[derive(Debug, Deserialize)]
struct Round {
    round: u64,
    counter: u64,
    write_order: Vec<u64>,
    reads: Vec<Read>,
}

/// What one thread read in a narrated round.
#[derive(Debug, Deserialize)]
struct Read {
    thread: u64,
    read: u64,
}

/// `sync`'s summary.
#[derive(Debug, Deserialize)]
struct SyncSummary {
    threads: u64,
    rounds: u64,
    order: Vec<u64>,
    expected_order: Vec<u64>,
    in_order: bool,
    arrivals: Vec<u64>,
    mutex_order: Vec<u64>,
    mutex_counts: Vec<u64>,
}

/// One `turn` event of `sync`.
#[derive(Debug, Deserialize)]
struct Turn {
    thread: u64,
    turn: u64,
}

/// How many threads `main-exit` started.
#[derive(Debug, Deserialize)]
struct Spawned {
    detached: u64,
    joined: u64,
    total: u64,
}

/// `main-exit`'s summary.
#[derive(Debug, Deserialize)]
struct MainExitSummary {
    spawned: Spawned,
    started_detached: u64,
    finished_detached: u64,
    finished_joined: u64,
    exit_code: i32,
}

/// The CPU-bound half of `gil`'s summary.
#[derive(Debug, Deserialize)]
struct GilCpu {
    serial_ms: f64,
    threads_ms: f64,
    gil_threads_ms: f64,
    processes_ms: f64,
    gil_max_concurrent: u64,
    threads_max_concurrent: u64,
    work_ms: u64,
}

/// The IO-bound half of `gil`'s summary.
#[derive(Debug, Deserialize)]
struct GilIo {
    serial_ms: f64,
    gil_threads_ms: f64,
    gil_held_ms: f64,
    ops: u64,
    io_ms: u64,
}

/// `gil`'s summary.
#[derive(Debug, Deserialize)]
struct GilSummary {
    cpus: u64,
    threads: u64,
    interpreters: Vec<Interpreter>,
    local_python: Option<LocalPython>,
    cpu: GilCpu,
    io: GilIo,
}

/// One interpreter of `gil`'s table.
#[derive(Debug, Deserialize)]
struct Interpreter {
    name: String,
    gil: bool,
}

/// This machine's python3, as `gil` asked it.
#[derive(Debug, Deserialize)]
struct LocalPython {
    version: String,
    gil: bool,
}

/// Python's own spawn costs, in `spawn-cost`.
#[derive(Debug, Deserialize)]
struct PythonCost {
    version: String,
    count: u64,
    thread_us: f64,
    process_us: f64,
    ratio: f64,
}

/// `spawn-cost`'s summary.
#[derive(Debug, Deserialize)]
struct SpawnCostSummary {
    count: u64,
    thread_us: f64,
    process_us: f64,
    ratio: f64,
    notes_ratio: f64,
    python: Option<PythonCost>,
}

/// Every event named `name`, parsed into `T` (a missing field fails with the whole output).
#[track_caller]
fn events_as<T: DeserializeOwned>(run: &Run, name: &str) -> Vec<T> {
    run.events_named(name)
        .into_iter()
        .map(|e| {
            serde_json::from_value(e.clone())
                .unwrap_or_else(|err| panic!("event {e} does not fit: {err}\n{}", run.report()))
        })
        .collect()
}

#[test]
fn ids_one_pid_distinct_tids_as_the_kernel_lists_them() {
    for n in [1u32, 4, 16] {
        let run = cmd(
            "threads",
            &format!("ids --threads {n} --json --time-scale 0"),
        );
        let s: IdsSummary = run.ok_summary_as();
        run.check(s.tids.len() == n as usize, "one tid per thread");
        run.check(s.same_pid, "every thread reports the same pid");
        run.check(s.pid == run.pid, "that pid is the demo's");
        run.check(s.main_tid == run.pid, "the main thread's tid is the pid");
        let mut all: BTreeSet<i32> = s.tids.iter().copied().collect();
        all.insert(run.pid);
        run.check(
            all.len() == n as usize + 1 && s.distinct_tids,
            "all tids differ (and differ from main's)",
        );
        run.check(
            s.num_threads == u64::from(n) + 1,
            "/proc counts n + 1 threads",
        );
        run.check(
            s.task_dir_matches,
            "/proc/<pid>/task lists exactly those tids",
        );
        // The ps -L view: one row per thread, LWP = tid, the workers named.
        let lwps: BTreeSet<i32> = s.lwp.iter().map(|r| r.lwp).collect();
        run.check(lwps == all, "one LWP row per thread, LWP = tid");
        run.check(
            s.lwp
                .iter()
                .filter(|r| r.comm.starts_with("worker-"))
                .count()
                == n as usize,
            "the workers' names, as the kernel keeps them",
        );
        run.check(
            s.pinned.thread == 0 && s.pinned.tid == s.tids[0],
            "thread 0 is the pinned one",
        );
        run.check(
            s.pinned.ran_on == s.pinned.cpu,
            "the pinned thread last ran on its CPU (field 39)",
        );
        run.check(
            s.lwp
                .iter()
                .any(|r| r.lwp == s.pinned.tid && r.psr == s.pinned.cpu),
            "its row's PSR is that CPU",
        );
        let events: Vec<ThreadEvent> = events_as(&run, "thread");
        run.check(events.len() == n as usize, "one event per thread");
        for e in &events {
            run.check(
                e.pid == run.pid,
                "each thread's event carries the demo's pid",
            );
            run.check(
                s.tids.contains(&e.tid),
                "the event's tid is one of the summary's",
            );
        }
    }
}

#[test]
fn ids_is_the_default_and_prose_mode_prints_pids() {
    let run = cmd("threads", "--json --time-scale 0");
    let s: IdsSummary = run.ok_summary_as();
    run.check(s.tids.len() == 4, "the default run is ids with 4 threads");
    let prose = cmd("threads", "--time-scale 0");
    let pid = prose.pid;
    prose
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "main thread: pid {pid}, tid {pid}"
        )))
        .stdout(
            predicate::str::is_match(format!(r"(?m)^  thread \d: pid {pid}, tid \d+$"))
                .unwrap()
                .count(4),
        )
        .stdout(predicate::str::contains(format!(
            "one process (pid {pid}), 5 threads"
        )))
        .stdout(predicate::str::contains("PID     LWP  PSR  COMMAND"))
        .stdout(predicate::str::contains(
            "也被称为轻量级的进程\" means threads",
        ))
        .stdout(predicate::str::contains("thread 0 pinned itself to CPU"));
}

#[test]
fn shared_threads_see_writes_a_forked_child_does_not() {
    for n in [1u32, 3, 8] {
        let run = cmd(
            "threads",
            &format!("shared --threads {n} --json --time-scale 0"),
        );
        let s: SharedSummary = run.ok_summary_as();
        run.check(s.before == 100, "the notes' value = 100");
        run.check(s.child_value == 999, "the child saw its own write");
        run.check(
            s.process_value_seen_by_parent == 100,
            "the child's write stayed in the child",
        );
        run.check(
            s.thread_value_seen_by_main == 999,
            "the thread's write reached main",
        );
        run.check(
            s.written.len() == n as usize && s.threads == u64::from(n),
            "one slot per thread",
        );
        run.check(s.seen.len() == n as usize, "one reading per thread");
        run.check(
            s.seen.iter().all(|v| *v == s.written) && s.every_thread_saw_all,
            "each thread read every other thread's write",
        );
        // Who printed what: the child process has another pid, the thread the demo's; both
        // printed the same virtual address.
        let child: Vec<Changed> = events_as(&run, "process_changed");
        let thread: Vec<Changed> = events_as(&run, "thread_changed");
        run.check(child.len() == 1 && thread.len() == 1, "one change each");
        run.check(
            child[0].pid != run.pid,
            "the process change was printed by the child",
        );
        run.check(thread[0].pid == run.pid, "the thread shares the demo's pid");
        run.check(
            child[0].address == thread[0].address && child[0].value == thread[0].value,
            "same virtual address (and value) in the child and in the thread",
        );
    }
}

#[test]
fn race_mutex_and_atomic_are_exact_for_every_size_and_schedule() {
    let sizes: [(u64, u64); 4] = [(1, 1), (2, 3000), (5, 1000), (16, 200)];
    let mut k = 0;
    for (n, r) in sizes {
        for mode in ["mutex", "atomic"] {
            for schedule in ["free", "forced"] {
                let seed = SEEDS[k % SEEDS.len()];
                k += 1;
                let run = cmd(
                    "threads",
                    &format!(
                        "race --threads {n} --rounds {r} --mode {mode} --schedule {schedule} --seed {seed} --json --time-scale 0"
                    ),
                );
                let s: RaceSummary = run.ok_summary_as();
                run.check(s.threads == n && s.rounds == r, "sizes echoed");
                run.check(s.expected == n * r, "expected = threads x rounds");
                run.check(
                    s.final_count == s.expected,
                    "a lock or an atomic loses nothing",
                );
                run.check(s.lost == 0, "lost = 0");
                run.check(s.mode == mode && s.schedule == schedule, "mode echoed");
            }
        }
    }
}

#[test]
fn race_forced_unsync_loses_exactly_n_minus_1_per_round() {
    for (n, r) in [(1u64, 20u64), (2, 100), (4, 500), (7, 300)] {
        let run = cmd(
            "threads",
            &format!(
                "race --threads {n} --rounds {r} --mode unsync --schedule forced --json --time-scale 0"
            ),
        );
        let s: RaceSummary = run.ok_summary_as();
        let lost = (n - 1) * r;
        run.check(s.lost == lost, "exactly (N-1) x rounds lost");
        run.check(s.predicted_lost == Some(lost), "as predicted");
        run.check(
            s.final_count == r,
            "each round raises the counter by exactly 1",
        );
        let rounds: Vec<Round> = events_as(&run, "round");
        run.check(
            rounds.len() as u64 == r.min(3),
            "the first rounds are narrated",
        );
        for (i, e) in rounds.iter().enumerate() {
            let i = i as u64;
            let order: BTreeSet<u64> = e.write_order.iter().copied().collect();
            run.check(
                order == (0..n).collect() && e.write_order.len() as u64 == n,
                "every thread wrote once in the round",
            );
            run.check(e.round == i + 1, "rounds in order");
            run.check(e.counter == i + 1, "the counter after round i is i");
            run.check(
                e.reads.len() as u64 == n && e.reads.iter().all(|read| read.read == i),
                "every thread read the same value",
            );
            let readers: BTreeSet<u64> = e.reads.iter().map(|read| read.thread).collect();
            run.check(readers.len() as u64 == n, "each thread read once");
        }
    }
}

#[test]
fn race_free_unsync_never_gains() {
    for seed in &SEEDS[..3] {
        let run = cmd(
            "threads",
            &format!("race --threads 4 --rounds 20000 --seed {seed} --json --time-scale 0"),
        );
        let s: RaceSummary = run.ok_summary_as();
        run.check(s.mode == "unsync", "unsync is the default");
        run.check(s.expected == 80_000, "expected");
        run.check(
            s.final_count <= s.expected,
            "unsync can lose updates, never invent them",
        );
        run.check(
            s.lost == s.expected - s.final_count,
            "lost = expected - final",
        );
        run.check(
            s.predicted_lost.is_none(),
            "no prediction for the free schedule",
        );
    }
}

#[test]
fn sync_turns_come_in_the_same_order_every_time() {
    let mut orders = Vec::new();
    for (i, n) in [1u64, 3, 5].into_iter().enumerate() {
        for seed in SEEDS {
            // One run per n at a small time scale, so the random "getting ready" delays vary.
            let scale = if seed == SEEDS[i] { "0.02" } else { "0" };
            let run = cmd(
                "threads",
                &format!("--json --time-scale {scale} --seed {seed} sync --threads {n} --rounds 4"),
            );
            let s: SyncSummary = run.ok_summary_as();
            let expected: Vec<u64> = (0..n * 4).map(|k| k % n).collect();
            run.check(s.threads == n && s.rounds == 4, "sizes echoed");
            run.check(
                s.order == expected && s.expected_order == expected,
                "turns 0, 1, ..., n-1, round after round",
            );
            run.check(s.in_order, "in_order");
            run.check(s.arrivals.len() == expected.len(), "every arrival recorded");
            run.check(
                s.mutex_counts == vec![4; n as usize] && s.mutex_order.len() == expected.len(),
                "under the mutex every thread got in exactly rounds times",
            );
            let turns: Vec<Turn> = events_as(&run, "turn");
            run.check(
                turns.iter().map(|t| t.thread).collect::<Vec<_>>() == expected,
                "the turn events come out in the same order",
            );
            run.check(
                turns.iter().enumerate().all(|(k, t)| t.turn == k as u64),
                "turns are numbered 0, 1, 2...",
            );
            orders.push((n, s.order));
        }
    }
    for n in [1u64, 3, 5] {
        let same: BTreeSet<&Vec<u64>> = orders.iter().filter(|o| o.0 == n).map(|o| &o.1).collect();
        assert_eq!(
            same.len(),
            1,
            "one order for n = {n} over every seed and time scale"
        );
    }
}

#[test]
fn sync_prose_shows_the_turns_and_the_grabs() {
    cmd("threads", "--time-scale 0 sync --threads 2 --rounds 1")
        .assert()
        .success()
        .stdout(predicate::str::contains("  turn 0: thread 0 (its round 1)"))
        .stdout(predicate::str::contains("  turn 1: thread 1 (its round 1)"))
        .stdout(predicate::str::contains("yet took their turns as [0, 1]"));
}

#[test]
fn main_exit_cuts_off_detached_threads_and_finishes_joined_ones() {
    for (d, j) in [(1u64, 0u64), (2, 2), (3, 1), (16, 16)] {
        let run = cmd(
            "threads",
            &format!("main-exit --detached {d} --joined {j} --json --time-scale 0"),
        );
        let s: MainExitSummary = run.ok_summary_as();
        run.check(
            s.spawned.detached == d && s.spawned.joined == j && s.spawned.total == d + j,
            "spawned",
        );
        run.check(s.finished_joined == j, "every joined thread finished");
        run.check(
            s.finished_detached == 0,
            "every detached thread was cut off: they wait for a signal main never gives",
        );
        run.check(
            s.started_detached == d,
            "every detached thread was mid-work",
        );
        run.check(s.exit_code == 0, "the child process ended normally");
        run.check(
            run.events_named("detached_finished").is_empty(),
            "no detached thread finished",
        );
        run.check(
            run.events_named("detached_step").len() == d as usize,
            "one first step each",
        );
        // The order in the output: every joined step before main returns.
        let names: Vec<String> = run
            .events()
            .iter()
            .map(|e| e["event"].as_str().unwrap_or("").to_string())
            .collect();
        let ret = names.iter().position(|n| n == "main_returns");
        run.check(ret.is_some(), "main said it returns");
        let last_joined = names.iter().rposition(|n| n == "joined_step");
        run.check(
            last_joined.map_or(true, |l| Some(l) < ret),
            "joined threads finished before main returned",
        );
        run.check(
            names.iter().filter(|n| *n == "joined_step").count() == 3 * j as usize,
            "3 steps per joined thread",
        );
        for e in run.events_named("main_returns") {
            run.check(e["pid"] != run.pid, "the returning main is the child's");
        }
    }
}

#[test]
fn main_exit_stopped_mid_run_leaves_nothing_behind() {
    // SIGTERM to the demo while the child's threads are at work: the demo kills and reaps the
    // child (and with it every thread) and exits 143.
    let mut r = tests::start(
        "threads",
        &["--json", "--time-scale", "1", "main-exit", "--joined", "2"],
    );
    r.wait_for_event("detached_step", Duration::from_secs(20));
    r.signal(Signal::SIGTERM);
    let run = r.finish();
    run.expect_code(143);
    // SIGKILL to the demo: the child gets its PDEATHSIG; the harness checks it is gone in time.
    let mut r = tests::start(
        "threads",
        &["--json", "--time-scale", "1", "main-exit", "--joined", "2"],
    );
    r.wait_for_event("detached_step", Duration::from_secs(20));
    r.signal(Signal::SIGKILL);
    let run = r.finish();
    run.check(
        run.status.is_some_and(|s| s.code().is_none()),
        "killed by a signal",
    );
}

#[test]
fn gil_summary_has_every_figure_and_the_gil_admits_one_thread() {
    for n in [1u64, 3] {
        let run = cmd(
            "threads",
            &format!("gil --threads {n} --work 5 --io-ops 2 --io-ms 5 --json --time-scale 0"),
        );
        let s: GilSummary = run.ok_summary_as();
        run.check(s.cpus >= 1, "at least one CPU");
        run.check(s.threads == n, "threads echoed");
        run.check(
            s.cpu.work_ms == 5 && s.io.ops == 2 && s.io.io_ms == 5,
            "the work asked for",
        );
        for (name, ms) in [
            ("cpu.serial_ms", s.cpu.serial_ms),
            ("cpu.threads_ms", s.cpu.threads_ms),
            ("cpu.gil_threads_ms", s.cpu.gil_threads_ms),
            ("cpu.processes_ms", s.cpu.processes_ms),
            ("io.serial_ms", s.io.serial_ms),
            ("io.gil_threads_ms", s.io.gil_threads_ms),
            ("io.gil_held_ms", s.io.gil_held_ms),
        ] {
            run.check(ms > 0.0 && ms.is_finite(), &format!("{name} > 0"));
        }
        run.check(
            s.cpu.gil_max_concurrent == 1,
            "one thread at a time under the GIL",
        );
        run.check(
            (1..=n).contains(&s.cpu.threads_max_concurrent),
            "free threads: between 1 and N at once",
        );
        run.check(
            run.events_named("row").len() == 7,
            "seven rows in the table",
        );
        let gil_of = |prefix: &str| {
            s.interpreters
                .iter()
                .find(|i| i.name.starts_with(prefix))
                .map(|i| i.gil)
        };
        run.check(gil_of("CPython (the default") == Some(true), "CPython: GIL");
        run.check(gil_of("PyPy") == Some(true), "PyPy: GIL");
        run.check(gil_of("CPython 3.13t") == Some(false), "3.13t: none");
        run.check(gil_of("Jython") == Some(false), "Jython: none");
        run.check(gil_of("IronPython") == Some(false), "IronPython: none");
        run.check(
            s.local_python.is_some() == tests::python3().is_some(),
            "this machine's python3 asked when it is here",
        );
        if let Some(p) = &s.local_python {
            run.check(
                p.version.starts_with("CPython 3.") || p.version.starts_with("PyPy"),
                "python3's implementation and version",
            );
            // A 3.11 or 3.12 CPython always has its GIL.
            if p.version.starts_with("CPython 3.11") || p.version.starts_with("CPython 3.12") {
                run.check(p.gil, "python3 < 3.13 has a GIL");
            }
        }
    }
    cmd(
        "threads",
        "gil --threads 1 --work 1 --io-ops 1 --io-ms 1 --time-scale 0",
    )
    .assert()
    .success()
    .stdout(predicate::str::contains("不使用c作为解释器情况没有GIL问题"))
    .stdout(predicate::str::is_match(r"PyPy +written in RPython +GIL: yes").unwrap());
}

#[test]
fn gil_trace_one_thread_holds_the_gil_at_a_time() {
    let file = TempPath::new("gil");
    let run = cmd(
        "threads",
        &format!(
            "gil --threads 3 --work 10 --switch-ms 1 --io-ops 2 --io-ms 2 --json --time-scale 1 --trace {}",
            file.arg()
        ),
    );
    let s: GilSummary = run.ok_summary_as();
    let trace = Trace::load(&file.0, &run);
    trace.check_pids_match(&run);
    let holds: Vec<(f64, f64, u64)> = trace
        .slices(Some("gil"))
        .iter()
        .filter(|e| e["name"] == "holding the GIL")
        .map(|e| {
            let (a, b) = span(e);
            (a, b, e["tid"].as_u64().unwrap_or(0))
        })
        .collect();
    // Every GIL thread of the three GIL rows held it at least once.
    let names = thread_names(&trace, run.pid);
    let gil_threads: BTreeSet<u64> = names
        .iter()
        .filter(|(_, n)| n.contains("GIL") && !n.contains("no GIL"))
        .map(|(t, _)| *t)
        .collect();
    let holders: BTreeSet<u64> = holds.iter().map(|h| h.2).collect();
    run.check(
        gil_threads.is_subset(&holders) && !gil_threads.is_empty(),
        &format!("every GIL thread held it: {gil_threads:?} vs {holders:?}"),
    );
    // One at a time: sorted by start, each hold ends before the next begins.
    let mut sorted = holds.clone();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    for w in sorted.windows(2) {
        run.check(
            w[0].1 <= w[1].0 + 0.01,
            &format!(
                "two threads held the GIL at once: {:?} and {:?}",
                w[0], w[1]
            ),
        );
    }
    // The CPU row with the GIL handed it over: more holds than threads.
    run.check(
        holds.len() as u64 >= s.cpu.gil_max_concurrent * 3,
        "several holds",
    );
    run.check(
        trace
            .slices(Some("gil"))
            .iter()
            .any(|e| e["name"] == "waiting for the GIL"),
        "someone waited for the GIL",
    );
    // The processes row: a named track per forked child, each computing once.
    let children: Vec<Value> = trace
        .slices(Some("work"))
        .into_iter()
        .filter(|e| e["name"] == "computing" && e["pid"].as_i64() != Some(i64::from(run.pid)))
        .cloned()
        .collect();
    run.check(children.len() == 3, "three CPU processes computed");
}

#[test]
fn race_trace_one_loop_per_thread_and_the_rounds_when_forced() {
    let file = TempPath::new("race");
    let run = cmd(
        "threads",
        &format!(
            "race --threads 3 --rounds 20 --schedule forced --json --time-scale 0 --trace {}",
            file.arg()
        ),
    );
    let s: RaceSummary = run.ok_summary_as();
    run.check(s.lost == 2 * 20, "forced: N-1 lost per round");
    let trace = Trace::load(&file.0, &run);
    trace.check_pids_match(&run);
    let names = thread_names(&trace, run.pid);
    run.check(
        names.values().filter(|n| n.starts_with("thread ")).count() == 3,
        "a track per thread",
    );
    let loops = trace.slices(Some("thread"));
    run.check(loops.len() == 3, "one loop slice per thread");
    let tracks: BTreeSet<u64> = loops.iter().filter_map(|e| e["tid"].as_u64()).collect();
    run.check(tracks.len() == 3, "on three different tracks");
    let rounds = trace.slices(Some("round"));
    run.check(rounds.len() == 3 * 20, "a slice per round per thread");
    for t in &tracks {
        let n = rounds
            .iter()
            .filter(|e| e["tid"].as_u64() == Some(*t))
            .count();
        run.check(n == 20, "each thread: its 20 rounds");
    }
}

#[test]
fn spawn_cost_reports_both_costs_and_their_ratio() {
    let run = cmd(
        "threads",
        "spawn-cost --count 20 --python-count 3 --json --time-scale 0",
    );
    let s: SpawnCostSummary = run.ok_summary_as();
    run.check(
        s.thread_us > 0.0
            && s.process_us > 0.0
            && s.thread_us.is_finite()
            && s.process_us.is_finite(),
        "positive costs",
    );
    run.check(
        (s.ratio - s.process_us / s.thread_us).abs() <= 1e-6 * s.ratio.max(1.0),
        "ratio = process / thread",
    );
    run.check(s.count == 20, "count echoed");
    match &s.python {
        Some(p) => {
            run.check(
                tests::python3().is_some(),
                "python measured only where python3 is",
            );
            run.check(p.version.starts_with("3."), "python's version");
            run.check(p.count == 3, "--python-count echoed");
            run.check(
                p.thread_us > 0.0
                    && p.process_us > 0.0
                    && (p.ratio - p.process_us / p.thread_us).abs() <= 1e-6 * p.ratio.max(1.0),
                "python's ratio = process / thread",
            );
        }
        None => {
            run.check(
                tests::python3().is_none(),
                "python3 is here: its ratio was expected",
            );
        }
    }
    run.check(s.notes_ratio == 20.0, "the notes' figure, 1/20");
    run.check(
        tests::named_objects_of(run.pid).is_empty(),
        "no named kernel object",
    );
    let python_line = if tests::python3().is_some() {
        r"Python 3\.[0-9.]+'s ratio, measured on this machine in the same run \(2 rounds each\)"
    } else {
        r"Python's ratio: not measured \(no python3 on this machine\)"
    };
    cmd(
        "threads",
        "spawn-cost --count 5 --python-count 2 --time-scale 0",
    )
    .assert()
    .success()
    .stdout(
        predicate::str::is_match(
            r"on this machine a process costs [0-9.]+ threads \(the notes say about 20\)",
        )
        .unwrap(),
    )
    .stdout(predicate::str::contains(
        "that is Rust's ratio: fork + waitpid",
    ))
    .stdout(predicate::str::is_match(python_line).unwrap());
}

#[test]
fn bad_input_is_one_error_line_and_exit_2() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["ids", "--threads", "0"], &["--threads", "0"]),
        (&["ids", "--threads", "65"], &["--threads", "65"]),
        (&["ids", "--threads", "-1"], &["--threads", "-1"]),
        (&["shared", "--threads", "100000"], &["--threads", "100000"]),
        (&["race", "--threads", "0"], &["--threads", "0"]),
        (&["race", "--rounds", "0"], &["--rounds", "0"]),
        (&["race", "--rounds", "200001"], &["--rounds", "200001"]),
        (&["race", "--mode", "lockless"], &["--mode", "lockless"]),
        (&["race", "--schedule", "random"], &["--schedule", "random"]),
        (&["sync", "--threads", "0"], &["--threads", "0"]),
        (&["sync", "--rounds", "1001"], &["--rounds", "1001"]),
        (&["main-exit", "--detached", "0"], &["--detached", "0"]),
        (&["main-exit", "--joined", "17"], &["--joined", "17"]),
        (&["gil", "--threads", "17"], &["--threads", "17"]),
        (&["gil", "--work", "0"], &["--work", "0"]),
        (&["gil", "--work", "1001"], &["--work", "1001"]),
        (&["gil", "--switch-ms", "0"], &["--switch-ms", "0"]),
        (&["gil", "--io-ops", "101"], &["--io-ops", "101"]),
        (&["spawn-cost", "--count", "0"], &["--count", "0"]),
        (&["spawn-cost", "--count", "2001"], &["--count", "2001"]),
        (
            &["spawn-cost", "--python-count", "501"],
            &["--python-count", "501"],
        ),
        (&["gil", "--trace", "/nonexistent-dir/g.json"], &["--trace"]),
        (&["race", "--trace", "/"], &["--trace", "is a directory"]),
        (&["--time-scale", "-1"], &["--time-scale", "-1"]),
        (&["bogus"], &["bogus"]),
    ];
    for (args, mentions) in cases {
        tests::run("threads", args).expect_usage_error(mentions);
    }
}
