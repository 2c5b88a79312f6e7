//! Tests of the `threads` demo (note 000, the threads part: shared pid and memory, races and
//! locks, 同步互斥, what main's end does, the GIL, creation cost).
//!
//! Every assertion is an invariant the demo makes certain (a barrier, a condition variable, a
//! gate that never opens), never a schedule hoped for, and never a timing.

use std::collections::BTreeSet;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;
use tests::{run_json, Run, SEEDS};

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

fn num(run: &Run, v: &Value, what: &str) -> f64 {
    let x = v.as_f64();
    run.check(x.is_some(), &format!("{what} should be a number, is {v}"));
    x.unwrap_or(f64::NAN)
}

#[test]
fn ids_one_pid_distinct_tids_as_the_kernel_lists_them() {
    for n in [1u32, 4, 16] {
        let run = run_json("threads", &["ids", "--threads", &n.to_string()]);
        let s = run.ok_summary();
        let tids = u64s(&s["tids"]);
        run.check(tids.len() == n as usize, "one tid per thread");
        run.check(s["same_pid"] == true, "every thread reports the same pid");
        run.check(s["pid"] == run.pid, "that pid is the demo's");
        run.check(s["main_tid"] == run.pid, "the main thread's tid is the pid");
        let mut all: BTreeSet<u64> = tids.iter().copied().collect();
        all.insert(run.pid as u64);
        run.check(
            all.len() == n as usize + 1,
            "all tids differ (and differ from main's)",
        );
        run.check(s["num_threads"] == n + 1, "/proc counts n + 1 threads");
        run.check(
            s["task_dir_matches"] == true,
            "/proc/<pid>/task lists exactly those tids",
        );
        let events = run.events_named("thread");
        run.check(events.len() == n as usize, "one event per thread");
        for e in &events {
            run.check(
                e["pid"] == run.pid,
                "each thread's event carries the demo's pid",
            );
            run.check(
                e["tid"].as_u64().is_some_and(|t| tids.contains(&t)),
                "the event's tid is one of the summary's",
            );
        }
    }
}

#[test]
fn ids_is_the_default_and_prose_mode_prints_pids() {
    let run = run_json("threads", &[]);
    let s = run.ok_summary();
    run.check(
        u64s(&s["tids"]).len() == 4,
        "the default run is ids with 4 threads",
    );
    let prose = tests::run("threads", &["--time-scale", "0"]);
    prose.expect_code(0);
    prose.check(
        prose.stdout.contains(&format!("pid {}", prose.pid)),
        "prose names the pid",
    );
}

#[test]
fn shared_threads_see_writes_a_forked_child_does_not() {
    for n in [1u32, 3, 8] {
        let run = run_json("threads", &["shared", "--threads", &n.to_string()]);
        let s = run.ok_summary();
        run.check(s["child_value"] == 999, "the child saw its own write");
        run.check(
            s["process_value_seen_by_parent"] == 100,
            "the child's write stayed in the child",
        );
        run.check(
            s["thread_value_seen_by_main"] == 999,
            "the thread's write reached main",
        );
        let written = u64s(&s["written"]);
        run.check(written.len() == n as usize, "one slot per thread");
        let seen = s["seen"].as_array().cloned().unwrap_or_default();
        run.check(seen.len() == n as usize, "one reading per thread");
        for v in &seen {
            run.check(
                u64s(v) == written,
                "each thread read every other thread's write",
            );
        }
        // Who printed what: the child process has another pid, the thread the demo's; both
        // printed the same virtual address.
        let child = run.events_named("process_changed");
        let thread = run.events_named("thread_changed");
        run.check(child.len() == 1 && thread.len() == 1, "one change each");
        run.check(
            child[0]["pid"] != run.pid,
            "the process change was printed by the child",
        );
        run.check(
            thread[0]["pid"] == run.pid,
            "the thread shares the demo's pid",
        );
        run.check(
            child[0]["address"] == thread[0]["address"],
            "same virtual address in the child and in the thread",
        );
    }
}

#[test]
fn race_mutex_and_atomic_are_exact_for_every_size_and_schedule() {
    let sizes: [(u32, u32); 4] = [(1, 1), (2, 3000), (5, 1000), (16, 200)];
    let mut k = 0;
    for (n, r) in sizes {
        for mode in ["mutex", "atomic"] {
            for schedule in ["free", "forced"] {
                let seed = SEEDS[k % SEEDS.len()].to_string();
                k += 1;
                let run = run_json(
                    "threads",
                    &[
                        "race",
                        "--threads",
                        &n.to_string(),
                        "--rounds",
                        &r.to_string(),
                        "--mode",
                        mode,
                        "--schedule",
                        schedule,
                        "--seed",
                        &seed,
                    ],
                );
                let s = run.ok_summary();
                let expected = u64::from(n) * u64::from(r);
                run.check(s["expected"] == expected, "expected = threads x rounds");
                run.check(s["final"] == expected, "a lock or an atomic loses nothing");
                run.check(s["lost"] == 0, "lost = 0");
                run.check(
                    s["mode"] == mode && s["schedule"] == schedule,
                    "mode echoed",
                );
            }
        }
    }
}

#[test]
fn race_forced_unsync_loses_exactly_n_minus_1_per_round() {
    for (n, r) in [(1u32, 20u32), (2, 100), (4, 500), (7, 300)] {
        let run = run_json(
            "threads",
            &[
                "race",
                "--threads",
                &n.to_string(),
                "--rounds",
                &r.to_string(),
                "--mode",
                "unsync",
                "--schedule",
                "forced",
            ],
        );
        let s = run.ok_summary();
        let lost = u64::from(n - 1) * u64::from(r);
        run.check(s["lost"] == lost, "exactly (N-1) x rounds lost");
        run.check(s["predicted_lost"] == lost, "as predicted");
        run.check(
            s["final"] == r,
            "each round raises the counter by exactly 1",
        );
        let rounds = run.events_named("round");
        run.check(
            rounds.len() == r.min(3) as usize,
            "the first rounds are narrated",
        );
        for (i, e) in rounds.iter().enumerate() {
            let order: BTreeSet<u64> = u64s(&e["write_order"]).into_iter().collect();
            run.check(
                order == (0..u64::from(n)).collect(),
                "every thread wrote once in the round",
            );
            run.check(e["counter"] == i + 1, "the counter after round i is i");
            for read in e["reads"].as_array().cloned().unwrap_or_default() {
                run.check(read["read"] == i, "every thread read the same value");
            }
        }
    }
}

#[test]
fn race_free_unsync_never_gains() {
    for seed in &SEEDS[..3] {
        let run = run_json(
            "threads",
            &[
                "race",
                "--threads",
                "4",
                "--rounds",
                "20000",
                "--seed",
                &seed.to_string(),
            ],
        );
        let s = run.ok_summary();
        let (fin, exp, lost) = (
            s["final"].as_u64().unwrap_or(u64::MAX),
            s["expected"].as_u64().unwrap_or(0),
            s["lost"].as_u64().unwrap_or(u64::MAX),
        );
        run.check(exp == 80_000, "expected");
        run.check(fin <= exp, "unsync can lose updates, never invent them");
        run.check(lost == exp - fin, "lost = expected - final");
        run.check(
            s["predicted_lost"].is_null(),
            "no prediction for the free schedule",
        );
    }
}

#[test]
fn sync_turns_come_in_the_same_order_every_time() {
    let mut orders = Vec::new();
    for (i, n) in [1u32, 3, 5].into_iter().enumerate() {
        for seed in SEEDS {
            // One run per n at a small time scale, so the random "getting ready" delays vary.
            let scale = if seed == SEEDS[i] { "0.02" } else { "0" };
            let run = tests::run(
                "threads",
                &[
                    "--json",
                    "--time-scale",
                    scale,
                    "--seed",
                    &seed.to_string(),
                    "sync",
                    "--threads",
                    &n.to_string(),
                    "--rounds",
                    "4",
                ],
            );
            let s = run.ok_summary();
            let order = u64s(&s["order"]);
            let expected: Vec<u64> = (0..u64::from(n) * 4).map(|k| k % u64::from(n)).collect();
            run.check(order == expected, "turns 0, 1, ..., n-1, round after round");
            run.check(s["in_order"] == true, "in_order");
            run.check(
                u64s(&s["mutex_counts"]) == vec![4; n as usize],
                "under the mutex every thread got in exactly rounds times",
            );
            let turns = run.events_named("turn");
            run.check(
                turns
                    .iter()
                    .map(|t| t["thread"].as_u64().unwrap_or(99))
                    .collect::<Vec<_>>()
                    == expected,
                "the turn events come out in the same order",
            );
            orders.push((n, order));
        }
    }
    for n in [1u32, 3, 5] {
        let same: BTreeSet<&Vec<u64>> = orders.iter().filter(|o| o.0 == n).map(|o| &o.1).collect();
        assert_eq!(
            same.len(),
            1,
            "one order for n = {n} over every seed and time scale"
        );
    }
}

#[test]
fn main_exit_cuts_off_detached_threads_and_finishes_joined_ones() {
    for (d, j) in [(1u32, 0u32), (2, 2), (3, 1), (16, 16)] {
        let run = run_json(
            "threads",
            &[
                "main-exit",
                "--detached",
                &d.to_string(),
                "--joined",
                &j.to_string(),
            ],
        );
        let s = run.ok_summary();
        run.check(
            s["spawned"]["detached"] == d && s["spawned"]["joined"] == j,
            "spawned",
        );
        run.check(
            s["finished_joined"] == s["spawned"]["joined"],
            "every joined thread finished",
        );
        let fd = s["finished_detached"].as_u64().unwrap_or(u64::MAX);
        run.check(fd < u64::from(d), "detached threads were cut off");
        run.check(
            fd == 0,
            "all of them: they wait for a signal main never gives",
        );
        run.check(
            s["started_detached"] == d,
            "every detached thread was mid-work",
        );
        run.check(s["exit_code"] == 0, "the child process ended normally");
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
    for n in ["1", "3"] {
        let run = run_json(
            "threads",
            &[
                "gil",
                "--threads",
                n,
                "--work",
                "5",
                "--io-ops",
                "2",
                "--io-ms",
                "5",
            ],
        );
        let s = run.ok_summary();
        run.check(num(&run, &s["cpus"], "cpus") >= 1.0, "at least one CPU");
        for k in ["serial_ms", "threads_ms", "gil_threads_ms", "processes_ms"] {
            let v = num(&run, &s["cpu"][k], k);
            run.check(v > 0.0 && v.is_finite(), &format!("cpu.{k} > 0"));
        }
        for k in ["serial_ms", "gil_threads_ms", "gil_held_ms"] {
            let v = num(&run, &s["io"][k], k);
            run.check(v > 0.0 && v.is_finite(), &format!("io.{k} > 0"));
        }
        run.check(
            s["cpu"]["gil_max_concurrent"] == 1,
            "one thread at a time under the GIL",
        );
        let free = num(
            &run,
            &s["cpu"]["threads_max_concurrent"],
            "threads_max_concurrent",
        );
        run.check(
            free >= 1.0 && free <= n.parse::<f64>().unwrap_or(0.0),
            "free threads: between 1 and N at once",
        );
        run.check(
            run.events_named("row").len() == 7,
            "seven rows in the table",
        );
    }
}

#[test]
fn spawn_cost_reports_both_costs_and_their_ratio() {
    let run = run_json("threads", &["spawn-cost", "--count", "20"]);
    let s = run.ok_summary();
    let t = num(&run, &s["thread_us"], "thread_us");
    let p = num(&run, &s["process_us"], "process_us");
    let ratio = num(&run, &s["ratio"], "ratio");
    run.check(
        t > 0.0 && p > 0.0 && t.is_finite() && p.is_finite(),
        "positive costs",
    );
    run.check(
        (ratio - p / t).abs() <= 1e-6 * ratio.max(1.0),
        "ratio = process / thread",
    );
    run.check(s["count"] == 20, "count echoed");
    run.check(
        tests::named_objects_of(run.pid).is_empty(),
        "no named kernel object",
    );
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
        (&["--time-scale", "-1"], &["--time-scale", "-1"]),
        (&["bogus"], &["bogus"]),
    ];
    for (args, mentions) in cases {
        tests::run("threads", args).expect_usage_error(mentions);
    }
}
