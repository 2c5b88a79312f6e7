//! Tests of the `shared-mem` demo (note 000 (3): a shared Value, lost updates, locks).
//!
//! Only invariants: exact totals where a mode promises them, the forced schedule's exact loss,
//! "unsync never gains", the accounting of every lost change, the overwrite slot's order. No test
//! hopes for a race: where one is asserted, the barrier forces it.

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use tests::{run_json, SEEDS};

const DEMO: &str = "shared-mem";

fn i(v: &Value, k: &str) -> i64 {
    v[k].as_i64()
        .unwrap_or_else(|| panic!("no integer {k:?} in {v}"))
}

#[test]
fn balance_atomic_and_locked_are_exact_over_seeds_and_sizes() {
    for mode in ["atomic", "locked"] {
        for seed in SEEDS {
            for n in [1i64, 30, 4000] {
                let (seed_s, n_s) = (seed.to_string(), n.to_string());
                let run = run_json(
                    DEMO,
                    &[
                        "--seed",
                        &seed_s,
                        "balance",
                        "--mode",
                        mode,
                        "--iterations",
                        &n_s,
                    ],
                );
                let s = run.ok_summary();
                run.check(
                    s["mode"] == mode && s["seed"] == seed,
                    "mode and seed reported",
                );
                run.check(i(&s, "start") == 5000, "the notes' opening balance");
                let (boy, girl) = (i(&s, "boy_sum"), i(&s, "girl_sum"));
                run.check(
                    (n..=1500 * n).contains(&boy),
                    "boy adds 1..=1500 each round",
                );
                run.check(
                    (-1200 * n..=-100 * n).contains(&girl),
                    "girl takes 100..=1200",
                );
                run.check(
                    i(&s, "expected") == 5000 + boy + girl,
                    "expected = start + sums",
                );
                run.check(i(&s, "final") == i(&s, "expected"), "exact final balance");
                run.check(
                    i(&s, "lost_updates") == 0 && i(&s, "lost_amount") == 0,
                    "nothing lost",
                );
                run.check(
                    i(&s, "boy_writes") == n && i(&s, "girl_writes") == n,
                    "every round wrote",
                );
                // The printed balance line carries the same number.
                let line = run.events_named("balance");
                run.check(
                    line.len() == 1 && line[0]["final"] == s["final"],
                    "一个月余额 event",
                );
                // Per-round lines: the first 30 rounds of each child, printed by the child.
                let updates = run.events_named("update");
                run.check(updates.len() as i64 == 2 * n.min(30), "shown rounds");
                run.check(
                    updates
                        .iter()
                        .all(|u| u["pid"] != run.pid && u["clobbered"] == 0),
                    "updates come from the children and lose nothing",
                );
            }
        }
    }
}

#[test]
fn balance_same_seed_same_changes_in_every_mode() {
    // Each child's generator comes from the seed and its index, so the changes (and thus the
    // expected balance) repeat across runs and modes; only what unsync loses may differ.
    let mut expected = Vec::new();
    for mode in ["unsync", "atomic", "locked", "atomic"] {
        let run = run_json(
            DEMO,
            &[
                "--seed",
                "42",
                "balance",
                "--mode",
                mode,
                "--iterations",
                "300",
            ],
        );
        let s = run.ok_summary();
        expected.push((i(&s, "expected"), i(&s, "boy_sum"), i(&s, "girl_sum")));
    }
    assert!(expected.windows(2).all(|w| w[0] == w[1]), "{expected:?}");
}

#[test]
fn balance_prints_what_the_python_prints() {
    let run = tests::run(
        DEMO,
        &[
            "--time-scale",
            "0",
            "--seed",
            "7",
            "balance",
            "--mode",
            "locked",
        ],
    );
    run.expect_code(0);
    let json = run_json(DEMO, &["--seed", "7", "balance", "--mode", "locked"]);
    let fin = i(&json.ok_summary(), "final");
    let line = format!("一个月余额: {fin}");
    run.check(
        run.stdout.lines().any(|l| l == line),
        &format!("a line exactly {line:?}"),
    );
    run.check(
        run.stdout.contains("boy") && run.stdout.contains("expected"),
        "English lines too",
    );
}

#[test]
fn balance_unsync_accounts_for_every_lost_change() {
    // Whatever unsync loses (maybe nothing), the demo's books must balance: the runs exit 0 only
    // if expected - final equals the sum of the changes overwritten, as counted by the writers.
    for seed in SEEDS {
        let seed_s = seed.to_string();
        let run = run_json(
            DEMO,
            &["--seed", &seed_s, "balance", "--iterations", "50000"],
        );
        let s = run.ok_summary();
        run.check(s["mode"] == "unsync", "unsync is the default mode");
        let lost = i(&s, "expected") - i(&s, "final");
        run.check(
            i(&s, "lost_amount") == lost,
            "lost_amount = expected - final",
        );
        if i(&s, "lost_updates") == 0 {
            run.check(lost == 0, "no overwrite means an exact balance");
        }
        if lost != 0 {
            run.check(
                i(&s, "lost_updates") > 0,
                "a wrong balance needs an overwrite",
            );
        }
        // Every overwrite shown names who was overwritten and by how much.
        for u in run.events_named("update") {
            if u["clobbered"] != 0 {
                run.check(
                    i(&u, "clobbered") == i(&u, "old") - i(&u, "read"),
                    "clobbered = old - read",
                );
                run.check(
                    u["old_writer"] != 0 || i(&u, "old") == 5000,
                    "a writer is named",
                );
            }
        }
    }
}

#[test]
fn race_atomic_and_locked_count_exactly() {
    let sizes: [(u32, u32); 5] = [(1, 1), (2, 1), (2, 50_000), (4, 20_000), (8, 3_000)];
    for (k, (n, r)) in sizes.into_iter().enumerate() {
        for mode in ["atomic", "locked"] {
            let seed = SEEDS[k % SEEDS.len()].to_string();
            let (n_s, r_s) = (n.to_string(), r.to_string());
            let run = run_json(
                DEMO,
                &[
                    "--seed",
                    &seed,
                    "race",
                    "--mode",
                    mode,
                    "--processes",
                    &n_s,
                    "--rounds",
                    &r_s,
                ],
            );
            let s = run.ok_summary();
            let expected = i64::from(n) * i64::from(r);
            run.check(
                s["mode"] == mode && s["schedule"] == "free",
                "mode and schedule",
            );
            run.check(i(&s, "expected") == expected, "expected = N x R");
            run.check(
                i(&s, "final") == expected && i(&s, "lost") == 0,
                "exact count",
            );
        }
    }
}

#[test]
fn race_forced_schedule_loses_exactly_n_minus_1_per_round() {
    let sizes: [(u32, u32); 7] = [
        (1, 10),
        (2, 1),
        (2, 300),
        (3, 100),
        (4, 50),
        (5, 40),
        (8, 20),
    ];
    for (n, r) in sizes {
        let (n_s, r_s) = (n.to_string(), r.to_string());
        let run = run_json(
            DEMO,
            &[
                "race",
                "--schedule",
                "forced",
                "--processes",
                &n_s,
                "--rounds",
                &r_s,
            ],
        );
        let s = run.ok_summary();
        let (n, r) = (i64::from(n), i64::from(r));
        run.check(i(&s, "expected") == n * r, "expected");
        run.check(
            i(&s, "lost") == (n - 1) * r,
            "lost == (N-1) x rounds, exactly",
        );
        run.check(i(&s, "predicted_lost") == (n - 1) * r, "as predicted");
        run.check(i(&s, "final") == r, "one update survives per round");
        // The described rounds: N writes each, one over the value it read, the other N-1 over
        // another process's identical write.
        let writes = run.events_named("write");
        run.check(
            !writes.is_empty() && writes.len() as i64 % n == 0,
            "whole rounds shown",
        );
        for round in 1..=(writes.len() as i64 / n) {
            let these: Vec<&Value> = writes.iter().filter(|w| w["round"] == round).collect();
            run.check(
                these.len() as i64 == n,
                "every process wrote once in the round",
            );
            let mut procs: Vec<i64> = these.iter().map(|w| i(w, "process")).collect();
            procs.sort_unstable();
            run.check(procs == (1..=n).collect::<Vec<_>>(), "each process once");
            let first: Vec<_> = these.iter().filter(|w| w["clobbered"] == 0).collect();
            run.check(first.len() == 1, "exactly one write finds what it read");
            for w in these.iter().filter(|w| w["clobbered"] != 0) {
                run.check(i(w, "clobbered") == 1, "each later write overwrites one +1");
                run.check(
                    w["old"] == w["new"] && w["old_writer"] != w["process"],
                    "over another's write",
                );
                run.check(
                    i(w, "read") == round - 1,
                    "everyone read the round's start value",
                );
            }
        }
    }
}

#[test]
fn race_forced_schedule_with_atomic_or_lock_loses_nothing() {
    for mode in ["atomic", "locked"] {
        for (n, r) in [(2u32, 200u32), (5, 40)] {
            let (n_s, r_s) = (n.to_string(), r.to_string());
            let run = run_json(
                DEMO,
                &[
                    "race",
                    "--schedule",
                    "forced",
                    "--mode",
                    mode,
                    "--processes",
                    &n_s,
                    "--rounds",
                    &r_s,
                ],
            );
            let s = run.ok_summary();
            run.check(
                i(&s, "lost") == 0 && i(&s, "final") == i64::from(n * r),
                "exact",
            );
            run.check(i(&s, "predicted_lost") == 0, "predicted 0");
        }
    }
}

#[test]
fn race_unsync_never_gains() {
    // Every unsynchronised write stores some earlier value + 1, so the count can only fall
    // short. How much is lost is the scheduler's business and is not asserted.
    let sizes: [(u32, u32); 4] = [(2, 100_000), (3, 30_000), (6, 5_000), (1, 1_000)];
    for (k, (n, r)) in sizes.into_iter().enumerate() {
        let seed = SEEDS[k % SEEDS.len()].to_string();
        let (n_s, r_s) = (n.to_string(), r.to_string());
        let run = run_json(
            DEMO,
            &[
                "--seed",
                &seed,
                "race",
                "--processes",
                &n_s,
                "--rounds",
                &r_s,
            ],
        );
        let s = run.ok_summary();
        let expected = i64::from(n) * i64::from(r);
        run.check(s["mode"] == "unsync", "unsync is the default");
        run.check(i(&s, "expected") == expected, "expected");
        run.check(i(&s, "final") <= expected, "never more than expected");
        // Not asserted: `final >= rounds`. A process descheduled between its read of 0 and its
        // write can store 1 late, after which another's last write may build on that 1 and end
        // the run below `rounds`: unsync guarantees no floor beyond 1.
        run.check(
            i(&s, "final") >= 1,
            "the last write stores some earlier value + 1",
        );
        run.check(
            i(&s, "lost") == expected - i(&s, "final"),
            "lost = expected - final",
        );
        if i(&s, "clobbers") == 0 {
            run.check(i(&s, "lost") == 0, "no overwrite, no loss");
        }
        if n == 1 {
            run.check(i(&s, "lost") == 0, "alone, nobody can overwrite you");
        }
    }
}

fn check_overwrite(run: &tests::Run, n: i64) {
    let s = run.ok_summary();
    let written = i(&s, "written");
    let seen = i(&s, "seen");
    run.check(written == n, "the writer wrote 1..=N");
    run.check(
        i(&s, "last_seen") == written,
        "the last message is always seen",
    );
    run.check(
        seen + i(&s, "missed") == written,
        "seen + missed == written",
    );
    run.check((1..=n).contains(&seen), "seen in 1..=N");
    let wrote: Vec<i64> = run
        .events_named("wrote")
        .iter()
        .map(|e| i(e, "value"))
        .collect();
    run.check(
        wrote == (1..=n.min(200)).collect::<Vec<_>>(),
        "written in order",
    );
    let sightings: Vec<i64> = run
        .events_named("seen")
        .iter()
        .map(|e| i(e, "value"))
        .collect();
    run.check(
        sightings.len() as i64 == seen.min(200),
        "one line per sighting",
    );
    run.check(
        sightings.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing",
    );
    run.check(
        sightings.iter().all(|v| (1..=n).contains(v)),
        "only written values",
    );
    if seen <= 200 {
        run.check(sightings.last() == Some(&n), "ends at N");
    }
}

#[test]
fn overwrite_reader_sees_an_increasing_subsequence_ending_at_n() {
    for n in [1i64, 2, 10, 150, 5000] {
        let run = run_json(DEMO, &["overwrite", "--messages", &n.to_string()]);
        check_overwrite(&run, n);
    }
    // At a real (small) pace too: the reader is slower than the writer, so it usually misses
    // some; that is not asserted, the invariants are.
    for seed in ["1", "2"] {
        let run = tests::run(
            DEMO,
            &[
                "--json",
                "--time-scale",
                "0.02",
                "--seed",
                seed,
                "overwrite",
                "--messages",
                "12",
            ],
        );
        check_overwrite(&run, 12);
    }
}

#[test]
fn bad_input_is_one_error_line_and_exit_2() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["balance", "--iterations", "0"], &["--iterations", "0"]),
        (
            &["balance", "--iterations", "1000001"],
            &["--iterations", "1000001"],
        ),
        (&["balance", "--iterations", "-5"], &["--iterations", "-5"]),
        (
            &["balance", "--iterations", "many"],
            &["--iterations", "many"],
        ),
        (&["balance", "--mode", "careful"], &["--mode", "careful"]),
        (&["race", "--processes", "0"], &["--processes", "0"]),
        (&["race", "--processes", "65"], &["--processes", "65"]),
        (&["race", "--processes", "5000"], &["--processes", "5000"]),
        (&["race", "--rounds", "0"], &["--rounds", "0"]),
        (&["race", "--rounds", "10000001"], &["--rounds", "10000001"]),
        (&["race", "--mode", "sometimes"], &["--mode", "sometimes"]),
        (
            &["race", "--schedule", "sideways"],
            &["--schedule", "sideways"],
        ),
        (
            &[
                "race",
                "--schedule",
                "forced",
                "--processes",
                "64",
                "--rounds",
                "10000",
            ],
            &["--rounds", "10000", "forced"],
        ),
        (&["overwrite", "--messages", "0"], &["--messages", "0"]),
        (
            &["overwrite", "--messages", "1000001"],
            &["--messages", "1000001"],
        ),
        (&["--time-scale", "-1"], &["--time-scale", "-1"]),
        (&["scribble"], &["scribble"]),
    ];
    for (args, mentions) in cases {
        tests::run(DEMO, args).expect_usage_error(mentions);
    }
    // The caps are stated in --help.
    let help = tests::run(DEMO, &["race", "--help"]);
    help.expect_code(0);
    help.check(
        help.stdout.contains("at most 64") && help.stdout.contains("at most 10000000"),
        "caps in --help",
    );
}

#[test]
fn ctrl_c_mid_balance_stops_everyone_with_130() {
    // --iterations 1000 at the notes' pace is minutes of work: the signal lands mid-run.
    let mut r = tests::start(
        DEMO,
        &[
            "--json",
            "--time-scale",
            "1",
            "balance",
            "--iterations",
            "1000",
        ],
    );
    r.wait_for_event("update", Duration::from_secs(20));
    r.signal_group(Signal::SIGINT);
    let run = r.finish(); // panics if any process of the run is left
    run.expect_code(130);
    run.expect_one_error_line();
    run.check(
        tests::named_objects_of(run.pid).is_empty(),
        "no named object left",
    );
}

#[test]
fn sigkill_of_the_parent_mid_overwrite_takes_the_children_along() {
    let mut r = tests::start(
        DEMO,
        &[
            "--json",
            "--time-scale",
            "1",
            "overwrite",
            "--messages",
            "1000",
        ],
    );
    r.wait_for_event("seen", Duration::from_secs(20));
    r.signal(Signal::SIGKILL);
    // finish() gives the orphans 2 s to die (PR_SET_PDEATHSIG) and fails if one is left.
    let run = r.finish();
    run.check(run.code().is_none(), "killed by the signal");
}

#[test]
fn a_child_killed_mid_run_fails_the_run_and_stops_its_partner() {
    // 1000 rounds at the notes' pace is minutes of work: the kill lands long before the end.
    let mut r = tests::start(
        DEMO,
        &[
            "--json",
            "--time-scale",
            "1",
            "balance",
            "--iterations",
            "1000",
        ],
    );
    let boy = r.wait_for(Duration::from_secs(20), |v| {
        v["event"] == "started" && v["name"] == "boy"
    });
    let pid = boy["child_pid"].as_i64().expect("child_pid") as i32;
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill the boy");
    let run = r.finish();
    run.expect_code(1);
    let errs: Vec<&str> = run.stderr.lines().collect();
    run.check(
        errs.len() == 1 && errs[0].starts_with("error:") && errs[0].contains("boy"),
        "one line naming the dead child",
    );
}
