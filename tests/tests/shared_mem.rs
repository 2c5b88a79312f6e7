//! Tests of the `shared-mem` demo (note 000 (3): a shared Value, lost updates, locks).
//!
//! Only invariants: exact totals where a mode promises them, the forced schedule's exact loss,
//! "unsync never gains", the accounting of every lost change, the overwrite slot's order and the
//! ring's completeness, one segment reached by name at several addresses. No test
//! hopes for a race: where one is asserted, the barrier forces it.

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use predicates::prelude::*;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tests::{cmd, Run, SEEDS};

const DEMO: &str = "shared-mem";

/// `balance`'s summary.
#[derive(Debug, Deserialize)]
struct BalanceSummary {
    seed: u64,
    mode: String,
    iterations: i64,
    start: i64,
    boy_sum: i64,
    girl_sum: i64,
    boy_writes: i64,
    girl_writes: i64,
    expected: i64,
    #[serde(rename = "final")]
    final_balance: i64,
    lost_updates: i64,
    lost_amount: i64,
}

/// One `update` event of `balance` (printed by the child that made it).
#[derive(Debug, Deserialize)]
struct Update {
    pid: i32,
    who: String,
    read: i64,
    old: i64,
    old_writer: i64,
    new: i64,
    clobbered: i64,
}

/// `balance`'s `balance` event: the 一个月余额 line.
#[derive(Debug, Deserialize)]
struct BalanceLine {
    #[serde(rename = "final")]
    final_balance: i64,
}

/// `race`'s summary.
#[derive(Debug, Deserialize)]
struct RaceSummary {
    mode: String,
    schedule: String,
    processes: i64,
    rounds: i64,
    expected: i64,
    #[serde(rename = "final")]
    final_count: i64,
    lost: i64,
    predicted_lost: Option<i64>,
    clobbers: i64,
}

/// One `write` event of `race --schedule forced`.
#[derive(Debug, Deserialize)]
struct RaceWrite {
    round: i64,
    process: i64,
    read: i64,
    old: i64,
    old_writer: i64,
    new: i64,
    clobbered: i64,
}

/// `overwrite`'s summary.
#[derive(Debug, Deserialize)]
struct OverwriteSummary {
    written: i64,
    seen: i64,
    missed: i64,
    last_seen: i64,
    ring: RingFigures,
}

/// `overwrite`'s second phase: the same writer and reader through a ring.
#[derive(Debug, Deserialize)]
struct RingFigures {
    capacity: i64,
    written: i64,
    received: i64,
    missed: i64,
    in_order: bool,
    max_waiting: i64,
}

/// One `ring_got` event of `overwrite`.
#[derive(Debug, Deserialize)]
struct RingGot {
    value: i64,
    waiting: i64,
}

/// `address`'s summary.
#[derive(Debug, Deserialize)]
struct AddressSummary {
    name: String,
    a_pid: i64,
    b_pid: i64,
    a_address: u64,
    b_addresses: Vec<u64>,
    distinct_addresses: usize,
    a_wrote: i64,
    b_read: Vec<i64>,
    b_wrote: i64,
    a_read: i64,
    unlinked_after_both_opened: bool,
    name_left: bool,
}

/// An `overwrite` event carrying a value (`wrote`, `seen`).
#[derive(Debug, Deserialize)]
struct Sighting {
    value: i64,
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
fn balance_atomic_and_locked_are_exact_over_seeds_and_sizes() {
    for mode in ["atomic", "locked"] {
        for seed in SEEDS {
            for n in [1i64, 30, 4000] {
                let run = cmd(
                    DEMO,
                    &format!(
                        "--seed {seed} balance --mode {mode} --iterations {n} --json --time-scale 0"
                    ),
                );
                let s: BalanceSummary = run.ok_summary_as();
                run.check(s.mode == mode && s.seed == seed, "mode and seed reported");
                run.check(s.iterations == n, "the iterations asked for");
                run.check(s.start == 5000, "the notes' opening balance");
                run.check(
                    (n..=1500 * n).contains(&s.boy_sum),
                    "boy adds 1..=1500 each round",
                );
                run.check(
                    (-1200 * n..=-100 * n).contains(&s.girl_sum),
                    "girl takes 100..=1200",
                );
                run.check(
                    s.expected == 5000 + s.boy_sum + s.girl_sum,
                    "expected = start + sums",
                );
                run.check(s.final_balance == s.expected, "exact final balance");
                run.check(s.lost_updates == 0 && s.lost_amount == 0, "nothing lost");
                run.check(s.boy_writes == n && s.girl_writes == n, "every round wrote");
                // The printed balance line carries the same number.
                let line: Vec<BalanceLine> = events_as(&run, "balance");
                run.check(
                    line.len() == 1 && line[0].final_balance == s.final_balance,
                    "一个月余额 event",
                );
                // Per-round lines: the first 30 rounds of each child, printed by the child.
                let updates: Vec<Update> = events_as(&run, "update");
                run.check(updates.len() as i64 == 2 * n.min(30), "shown rounds");
                run.check(
                    updates.iter().all(|u| u.pid != run.pid && u.clobbered == 0),
                    "updates come from the children and lose nothing",
                );
                run.check(
                    updates.iter().all(|u| u.who == "boy" || u.who == "girl"),
                    "each update names the boy or the girl",
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
        let run = cmd(
            DEMO,
            &format!("--seed 42 balance --mode {mode} --iterations 300 --json --time-scale 0"),
        );
        let s: BalanceSummary = run.ok_summary_as();
        expected.push((s.expected, s.boy_sum, s.girl_sum));
    }
    assert!(expected.windows(2).all(|w| w[0] == w[1]), "{expected:?}");
}

#[test]
fn balance_prints_what_the_python_prints() {
    let json = cmd(DEMO, "--seed 7 balance --mode locked --json --time-scale 0");
    let s: BalanceSummary = json.ok_summary_as();
    let line = format!("(?m)^一个月余额: {}$", s.final_balance);
    cmd(DEMO, "--time-scale 0 --seed 7 balance --mode locked")
        .assert()
        .success()
        .stdout(predicate::str::is_match(&line).unwrap().count(1))
        .stdout(predicate::str::contains("money = Value('i', 5000)"))
        .stdout(predicate::str::contains(format!(
            "final {}",
            s.final_balance
        )))
        .stdout(predicate::str::contains("no update lost"));
}

#[test]
fn balance_unsync_accounts_for_every_lost_change() {
    // Whatever unsync loses (maybe nothing), the demo's books must balance: the runs exit 0 only
    // if expected - final equals the sum of the changes overwritten, as counted by the writers.
    for seed in SEEDS {
        let run = cmd(
            DEMO,
            &format!("--seed {seed} balance --iterations 50000 --json --time-scale 0"),
        );
        let s: BalanceSummary = run.ok_summary_as();
        run.check(s.mode == "unsync", "unsync is the default mode");
        let lost = s.expected - s.final_balance;
        run.check(s.lost_amount == lost, "lost_amount = expected - final");
        if s.lost_updates == 0 {
            run.check(lost == 0, "no overwrite means an exact balance");
        }
        if lost != 0 {
            run.check(s.lost_updates > 0, "a wrong balance needs an overwrite");
        }
        // Every overwrite shown names who was overwritten and by how much.
        let updates: Vec<Update> = events_as(&run, "update");
        for u in updates.iter().filter(|u| u.clobbered != 0) {
            run.check(u.clobbered == u.old - u.read, "clobbered = old - read");
            run.check(u.old_writer != 0 || u.old == 5000, "a writer is named");
        }
        run.check(
            updates
                .iter()
                .filter(|u| u.clobbered == 0)
                .all(|u| u.old == u.read && u.new != u.old),
            "an update that overwrote nothing found what it read, and changed it",
        );
    }
}

#[test]
fn race_atomic_and_locked_count_exactly() {
    let sizes: [(i64, i64); 5] = [(1, 1), (2, 1), (2, 50_000), (4, 20_000), (8, 3_000)];
    for (k, (n, r)) in sizes.into_iter().enumerate() {
        for mode in ["atomic", "locked"] {
            let seed = SEEDS[k % SEEDS.len()];
            let run = cmd(
                DEMO,
                &format!(
                    "--seed {seed} race --mode {mode} --processes {n} --rounds {r} --json --time-scale 0"
                ),
            );
            let s: RaceSummary = run.ok_summary_as();
            run.check(s.mode == mode && s.schedule == "free", "mode and schedule");
            run.check(s.processes == n && s.rounds == r, "the sizes asked for");
            run.check(s.expected == n * r, "expected = N x R");
            run.check(s.final_count == n * r && s.lost == 0, "exact count");
            run.check(
                s.predicted_lost == Some(0),
                "an atomic or locked count predicts no loss",
            );
        }
    }
}

#[test]
fn race_forced_schedule_loses_exactly_n_minus_1_per_round() {
    let sizes: [(i64, i64); 7] = [
        (1, 10),
        (2, 1),
        (2, 300),
        (3, 100),
        (4, 50),
        (5, 40),
        (8, 20),
    ];
    for (n, r) in sizes {
        let run = cmd(
            DEMO,
            &format!("race --schedule forced --processes {n} --rounds {r} --json --time-scale 0"),
        );
        let s: RaceSummary = run.ok_summary_as();
        run.check(s.expected == n * r, "expected");
        run.check(s.lost == (n - 1) * r, "lost == (N-1) x rounds, exactly");
        run.check(s.predicted_lost == Some((n - 1) * r), "as predicted");
        run.check(s.final_count == r, "one update survives per round");
        // The described rounds: N writes each, one over the value it read, the other N-1 over
        // another process's identical write.
        let writes: Vec<RaceWrite> = events_as(&run, "write");
        run.check(
            !writes.is_empty() && writes.len() as i64 % n == 0,
            "whole rounds shown",
        );
        for round in 1..=(writes.len() as i64 / n) {
            let these: Vec<&RaceWrite> = writes.iter().filter(|w| w.round == round).collect();
            run.check(
                these.len() as i64 == n,
                "every process wrote once in the round",
            );
            let mut procs: Vec<i64> = these.iter().map(|w| w.process).collect();
            procs.sort_unstable();
            run.check(procs == (1..=n).collect::<Vec<_>>(), "each process once");
            let first = these.iter().filter(|w| w.clobbered == 0).count();
            run.check(first == 1, "exactly one write finds what it read");
            for w in these.iter().filter(|w| w.clobbered != 0) {
                run.check(w.clobbered == 1, "each later write overwrites one +1");
                run.check(
                    w.old == w.new && w.old_writer != w.process,
                    "over another's write",
                );
                run.check(w.read == round - 1, "everyone read the round's start value");
            }
        }
    }
}

#[test]
fn race_forced_schedule_with_atomic_or_lock_loses_nothing() {
    for mode in ["atomic", "locked"] {
        for (n, r) in [(2i64, 200i64), (5, 40)] {
            let run = cmd(
                DEMO,
                &format!(
                    "race --schedule forced --mode {mode} --processes {n} --rounds {r} --json --time-scale 0"
                ),
            );
            let s: RaceSummary = run.ok_summary_as();
            run.check(s.lost == 0 && s.final_count == n * r, "exact");
            run.check(s.predicted_lost == Some(0), "predicted 0");
        }
    }
}

#[test]
fn race_unsync_never_gains() {
    // Every unsynchronised write stores some earlier value + 1, so the count can only fall
    // short. How much is lost is the scheduler's business and is not asserted.
    let sizes: [(i64, i64); 4] = [(2, 100_000), (3, 30_000), (6, 5_000), (1, 1_000)];
    for (k, (n, r)) in sizes.into_iter().enumerate() {
        let seed = SEEDS[k % SEEDS.len()];
        let run = cmd(
            DEMO,
            &format!("--seed {seed} race --processes {n} --rounds {r} --json --time-scale 0"),
        );
        let s: RaceSummary = run.ok_summary_as();
        let expected = n * r;
        run.check(s.mode == "unsync", "unsync is the default");
        run.check(s.expected == expected, "expected");
        run.check(s.final_count <= expected, "never more than expected");
        // Not asserted: `final >= rounds`. A process descheduled between its read of 0 and its
        // write can store 1 late, after which another's last write may build on that 1 and end
        // the run below `rounds`: unsync guarantees no floor beyond 1.
        run.check(
            s.final_count >= 1,
            "the last write stores some earlier value + 1",
        );
        run.check(
            s.lost == expected - s.final_count,
            "lost = expected - final",
        );
        if s.clobbers == 0 {
            run.check(s.lost == 0, "no overwrite, no loss");
        }
        if n == 1 {
            run.check(s.lost == 0, "alone, nobody can overwrite you");
        }
    }
}

fn check_overwrite(run: &Run, n: i64) {
    let s: OverwriteSummary = run.ok_summary_as();
    run.check(s.written == n, "the writer wrote 1..=N");
    run.check(s.last_seen == s.written, "the last message is always seen");
    run.check(s.seen + s.missed == s.written, "seen + missed == written");
    run.check((1..=n).contains(&s.seen), "seen in 1..=N");
    let wrote: Vec<i64> = events_as::<Sighting>(run, "wrote")
        .iter()
        .map(|e| e.value)
        .collect();
    run.check(
        wrote == (1..=n.min(200)).collect::<Vec<_>>(),
        "written in order",
    );
    let sightings: Vec<i64> = events_as::<Sighting>(run, "seen")
        .iter()
        .map(|e| e.value)
        .collect();
    run.check(
        sightings.len() as i64 == s.seen.min(200),
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
    if s.seen <= 200 {
        run.check(sightings.last() == Some(&n), "ends at N");
    }
    // The ring, in the same kind of memory: every message, in order.
    let r = &s.ring;
    run.check(
        r.written == n && r.received == n && r.missed == 0 && r.in_order,
        "the ring delivered all N, in order, none missed",
    );
    run.check(
        (1..=r.capacity.min(n)).contains(&r.max_waiting),
        "at most capacity messages waited at once",
    );
    let got = events_as::<RingGot>(run, "ring_got");
    run.check(
        got.iter().map(|g| g.value).eq(1..=n.min(200)),
        "the reader got 1, 2, ..., N",
    );
    run.check(
        got.iter().all(|g| (0..=r.capacity).contains(&g.waiting)),
        "waiting counts within the ring's capacity",
    );
    let compare = run.events_named("compare");
    run.check(
        compare.len() == 1
            && compare[0]["slot_missed"] == s.missed
            && compare[0]["ring_missed"] == 0,
        "one comparison line with both counts",
    );
}

#[test]
fn overwrite_reader_sees_an_increasing_subsequence_ending_at_n() {
    for n in [1i64, 2, 10, 150, 5000] {
        let run = cmd(
            DEMO,
            &format!("overwrite --messages {n} --json --time-scale 0"),
        );
        check_overwrite(&run, n);
    }
    // At a real (small) pace too: the reader is slower than the writer, so it usually misses
    // some; that is not asserted, the invariants are.
    for seed in ["1", "2"] {
        let run = cmd(
            DEMO,
            &format!("--json --time-scale 0.02 --seed {seed} overwrite --messages 12"),
        );
        check_overwrite(&run, 12);
    }
}

#[test]
fn overwrite_ring_smaller_than_the_messages_still_misses_nothing() {
    // A ring of 3 for 8 messages: whenever the reader lags by 3 the writer waits for room
    // instead of overwriting, so nothing is missed whatever the schedule.
    let run = cmd(
        DEMO,
        "--json --time-scale 0.02 overwrite --messages 8 --ring-capacity 3",
    );
    check_overwrite(&run, 8);
    let s: OverwriteSummary = run.ok_summary_as();
    run.check(s.ring.capacity == 3, "the capacity asked for");
    // The prose says both, with counts.
    cmd(DEMO, "--time-scale 0 overwrite --messages 5")
        .assert()
        .success()
        .stdout(predicate::str::contains("phase 1: one 64-byte slot"))
        .stdout(predicate::str::contains("phase 2: a ring of 8 slots"))
        .stdout(predicate::str::is_match(
            r"one slot: written 5, seen \d, missed \d\. A ring of 8 slots, MAP_SHARED memory too: written 5, received 5, missed 0",
        ).unwrap());
}

#[test]
fn address_two_processes_one_name_different_addresses() {
    for _ in 0..3 {
        let run = cmd(DEMO, "address --json");
        let s: AddressSummary = run.ok_summary_as();
        run.check(
            s.name == format!("/shared-mem-address-{}", run.pid) && s.a_pid == i64::from(run.pid),
            "the name carries the parent's pid; A is the parent",
        );
        run.check(s.b_pid > 0 && s.b_pid != s.a_pid, "B is another process");
        run.check(s.b_addresses.len() == 2, "B mapped two views");
        run.check(
            s.b_addresses[0] != s.b_addresses[1],
            "two views in one process: two addresses",
        );
        let mut all = vec![s.a_address, s.b_addresses[0], s.b_addresses[1]];
        all.sort_unstable();
        all.dedup();
        run.check(
            all.len() == s.distinct_addresses && s.distinct_addresses >= 2,
            "distinct_addresses counts them",
        );
        run.check(
            s.a_address % 4096 == 0 && s.b_addresses.iter().all(|a| a % 4096 == 0),
            "page-aligned mappings",
        );
        run.check(
            s.a_wrote == s.a_pid && s.b_read == [s.a_pid, s.a_pid],
            "B read A's write through both views",
        );
        run.check(
            s.b_wrote == s.b_pid && s.a_read == s.b_pid,
            "A read B's write",
        );
        run.check(
            s.unlinked_after_both_opened && !s.name_left,
            "the name was unlinked once both had opened it",
        );
        run.check(
            tests::named_objects_of(run.pid).is_empty(),
            "nothing left in /dev/shm",
        );
        let created = run.events_named("a_created");
        run.check(
            created.len() == 1 && created[0]["listed_in_dev_shm"] == true,
            "while it had a name, it was a file in /dev/shm",
        );
    }
    cmd(DEMO, "address")
        .assert()
        .success()
        .stdout(predicate::str::is_match(r#"A: shm_open\("/shared-mem-address-\d+", O_CREAT \| O_EXCL, 0600\), ftruncate\(\d+\), mmap -> 0x[0-9a-f]+"#).unwrap())
        .stdout(predicate::str::is_match(r"B: mmap -> 0x[0-9a-f]+; mmap again -> 0x[0-9a-f]+").unwrap())
        .stdout(predicate::str::is_match(r"one segment, [23] different addresses").unwrap());
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
        (
            &["overwrite", "--ring-capacity", "0"],
            &["--ring-capacity", "0"],
        ),
        (
            &["overwrite", "--ring-capacity", "4097"],
            &["--ring-capacity", "4097"],
        ),
        (&["address", "--messages", "3"], &["--messages"]),
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
