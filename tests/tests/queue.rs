//! Tests of the `queue` demo (note 000 (2) 消息队列, note 004: queues, polling vs blocking).
//!
//! Every run goes through the harness: `--json --time-scale 0`, a timeout, and a check that no
//! process of the run is left. Summaries are parsed into one typed struct per subcommand, so a
//! missing or renamed field fails. Invariants only: exactly once, FIFO per producer, Empty/Full
//! reported, priority order, the deadlock detected; never how long something took.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use nix::sys::signal::Signal;
use predicates::prelude::*;
use serde::Deserialize;
use serde_json::Value;
use tests::trace::Trace;
use tests::TempPath;
use tests::{cmd, named_objects_of, start, SEEDS};

/// One entry of `powers`' `received`: 2**i as a number while it fits in a u64, else "2**i".
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum Power {
    Exact(u64),
    Written(String),
}

impl Power {
    /// 2**i, as the summary writes it.
    fn of(i: u64) -> Power {
        if i < 64 {
            Power::Exact(1 << i)
        } else {
            Power::Written(format!("2**{i}"))
        }
    }

    /// The exponent i.
    fn exponent(&self) -> u64 {
        match self {
            Power::Exact(n) => {
                assert!(n.is_power_of_two(), "{n} is not a power of 2");
                u64::from(n.trailing_zeros())
            }
            Power::Written(s) => s
                .strip_prefix("2**")
                .and_then(|e| e.parse().ok())
                .unwrap_or_else(|| panic!("not 2**i: {s}")),
        }
    }
}

/// `powers`' summary.
#[derive(Debug, Deserialize)]
struct PowersSummary {
    seed: u64,
    received: Vec<Power>,
    sent: u64,
    lost: u64,
    duplicated: u64,
    in_order: bool,
    count: u64,
    capacity: u64,
    per_consumer: Vec<u64>,
    max_len: u64,
    left_in_queue: u64,
    failures: Vec<String>,
}

/// `timeouts`' summary.
#[derive(Debug, Deserialize)]
struct TimeoutsSummary {
    get_timed_out: bool,
    put_timed_out: bool,
    in_time_ok: bool,
    capacity: u64,
    left_in_queue: Vec<String>,
    /// `--timeout` as given.
    timeout_asked_s: f64,
    /// The timeout that ran: `--timeout` x `--time-scale`.
    timeout_ms: f64,
    get_waited_ms: f64,
    put_waited_ms: f64,
}

/// One message `posix-mq` received.
#[derive(Debug, Deserialize, PartialEq, Eq)]
struct MqMessage {
    text: String,
    priority: u32,
}

/// `posix-mq`'s summary.
#[derive(Debug, Deserialize)]
struct PosixMqSummary {
    received: Vec<MqMessage>,
    max_messages: u64,
    message_size: u64,
    curmsgs_after_first_sender: u64,
    /// `null` when the queue was never full.
    full_refused: Option<bool>,
    priority_order_ok: bool,
    name: String,
}

/// `drain`'s summary.
#[derive(Debug, Deserialize)]
struct DrainSummary {
    pipe_capacity: u64,
    bytes: u64,
    deadlock_detected: bool,
    recovered_bytes: u64,
    fixed_ok: bool,
    queue_producer_exited: bool,
}

/// `polling`'s summary.
#[derive(Debug, Deserialize)]
struct PollingSummary {
    messages: u64,
    polling_received: u64,
    blocking_received: u64,
    polling_cpu_ms: f64,
    blocking_cpu_ms: f64,
    polling_failed_tries: u64,
}

/// One `got` event of `powers`.
#[derive(Debug, Deserialize)]
struct Got {
    pid: i32,
    producer: u64,
    a: u64,
    b: u64,
}

fn gots(run: &tests::Run) -> Vec<Got> {
    run.events_named("got")
        .into_iter()
        .map(|g| serde_json::from_value(g).expect("a got event"))
        .collect()
}

/// Check a powers summary: every 2**i for i < count received exactly once.
fn check_exactly_once(run: &tests::Run, s: &PowersSummary, count: u64) {
    run.check(s.count == count && s.sent == count, "every message sent");
    run.check(s.lost == 0, "nothing lost");
    run.check(s.duplicated == 0, "nothing duplicated");
    run.check(s.in_order, "FIFO per producer, as each consumer saw it");
    run.check(s.failures.is_empty(), "no child failed");
    run.check(s.left_in_queue == 0, "nothing left in the queue");
    let mut exps: Vec<u64> = s.received.iter().map(Power::exponent).collect();
    exps.sort_unstable();
    run.check(
        exps == (0..count).collect::<Vec<_>>(),
        "the received numbers are exactly 2**0 .. 2**(count-1)",
    );
    run.check(
        s.per_consumer.iter().sum::<u64>() == count,
        "the consumers' counts add up",
    );
    run.check(
        s.max_len <= s.capacity,
        "the queue never held more than its capacity",
    );
}

#[test]
fn default_run_is_the_notes_example() {
    let run = cmd("queue", "--json --time-scale 0");
    let s: PowersSummary = run.ok_summary_as();
    let expected: Vec<Power> = (0..10).map(Power::of).collect();
    run.check(s.received == expected, "1, 2, 4, ..., 512 in order");
    check_exactly_once(&run, &s, 10);
    let got = gots(&run);
    run.check(got.len() == 10, "ten gets");
    run.check(
        got.iter().all(|g| g.pid != run.pid && g.a == 2),
        "printed by the consumer process, a = 2",
    );
    let puts = run.events_named("put");
    run.check(
        puts.iter().all(|p| p["pid"] != run.pid) && puts.len() == 10,
        "ten puts, by the producer process",
    );
    run.check(run.events_named("closed").len() == 1, "closed once");
}

/// What a student sees: the consumer prints `a ** b` alone on its line, as Python's
/// `print(a ** b)` does: 1, 2, 4 ... 1024 for eleven messages, in order with one consumer.
#[test]
fn the_student_sees_the_powers_of_two_printed_one_per_line() {
    let expected: Vec<String> = (0..11).map(|i| (1u64 << i).to_string()).collect();
    cmd("queue", "--time-scale 0 powers --count 11")
        .assert()
        .success()
        .stdout(predicate::str::is_match("(?m)^1024$").unwrap())
        .stdout(predicate::function(move |out: &str| {
            let printed: Vec<&str> = out
                .lines()
                .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
                .collect();
            printed == expected
        }))
        .stdout(predicate::str::contains(
            "sent 11, received 11, lost 0, duplicated 0, FIFO per producer: yes",
        ));
}

#[test]
fn one_producer_one_consumer_is_exactly_once_and_in_order_over_many_messages_and_seeds() {
    for (k, seed) in SEEDS.iter().enumerate() {
        // One long run, the others shorter: the suite stays within seconds on 2 cores.
        let count: u64 = if k == 0 { 20_000 } else { 3_000 };
        let run = cmd(
            "queue",
            &format!("--json --time-scale 0 --seed {seed} powers --count {count}"),
        );
        let s: PowersSummary = run.ok_summary_as();
        check_exactly_once(&run, &s, count);
        let expected: Vec<Power> = (0..count).map(Power::of).collect();
        run.check(
            s.received == expected,
            "one producer, one consumer: exactly the order put",
        );
        run.check(s.seed == *seed, "the seed is reported");
    }
}

#[test]
fn many_producers_and_consumers_lose_nothing_and_keep_each_producers_order() {
    // (producers, consumers, capacity)
    for (p, c, cap) in [(3, 2, 1), (2, 4, 3), (4, 4, 16), (16, 1, 2)] {
        let count = 3_000u64;
        let run = cmd(
            "queue",
            &format!(
                "--json --time-scale 0 --seed 7 powers --count {count} --producers {p} \
                 --consumers {c} --capacity {cap}"
            ),
        );
        let s: PowersSummary = run.ok_summary_as();
        check_exactly_once(&run, &s, count);
        run.check(s.per_consumer.len() as u64 == c, "a count per consumer");
        // An independent check of FIFO from the raw events: within each consumer process, each
        // producer's exponents increase (a consumer prints in the order of its own gets).
        let mut last: HashMap<(i32, u64), u64> = HashMap::new();
        let got = gots(&run);
        run.check(got.len() as u64 == count, "one got event per message");
        for g in &got {
            run.check(
                g.b % p == g.producer,
                "producer k sends the i with i % P == k",
            );
            if let Some(prev) = last.insert((g.pid, g.producer), g.b) {
                run.check(
                    prev < g.b,
                    "each producer's messages reach a consumer in order",
                );
            }
        }
        let consumers: HashSet<i32> = got.iter().map(|g| g.pid).collect();
        run.check(
            consumers.len() as u64 <= c && !consumers.contains(&run.pid),
            "only the consumer processes print",
        );
    }
}

/// The item of a slice named `put (2, i)` or `get (2, i)`: i.
fn exponent_of(slice: &Value) -> Option<u64> {
    let name = slice["name"].as_str()?;
    let (_, rest) = name.split_once("(2, ")?;
    rest.strip_suffix(')')?.parse().ok()
}

/// `--trace`: one process track per child, one put slice per message on its producer's track and
/// one get slice on the track of the consumer that printed it, blocked slices only inside a put
/// or a get (or, for a consumer, the last wait that ends with the close), the occupancy within
/// the capacity.
#[test]
fn powers_trace_has_a_process_track_per_child_and_one_put_and_one_get_per_message() {
    for (p, c, cap) in [(1, 1, 2), (3, 2, 1)] {
        let count = 300u64;
        let path = TempPath::new("powers.json");
        let run = cmd(
            "queue",
            &format!(
                "--json --time-scale 0 powers --count {count} --producers {p} --consumers {c} \
                 --capacity {cap} --trace {}",
                path.0.display()
            ),
        );
        let s: PowersSummary = run.ok_summary_as();
        check_exactly_once(&run, &s, count);
        let trace = Trace::load(&path.0, &run);
        trace.check_counter_at_most(&run, "occupancy", cap as f64);
        trace.check_pids_match(&run);
        run.check(
            trace.named_processes().len() as u64 == 1 + p + c,
            "a process track for the parent and each child",
        );
        // Who put and who got each message, from the JSON Lines.
        let put_by: HashMap<u64, u64> = run
            .events_named("put")
            .iter()
            .map(|e| (e["b"].as_u64().unwrap(), e["pid"].as_u64().unwrap()))
            .collect();
        let got_by: HashMap<u64, u64> = gots(&run).iter().map(|g| (g.b, g.pid as u64)).collect();
        for (cat, by) in [("put", &put_by), ("get", &got_by)] {
            let mut seen: HashMap<u64, u32> = HashMap::new();
            for slice in trace.slices(Some(cat)) {
                let i = exponent_of(slice);
                run.check(
                    i.is_some(),
                    &format!("a {cat} slice names its message: {slice}"),
                );
                let i = i.unwrap_or_default();
                *seen.entry(i).or_default() += 1;
                run.check(
                    slice["pid"].as_u64() == by.get(&i).copied() && slice["tid"] == slice["pid"],
                    &format!("{slice} is on the track of the process that printed it"),
                );
            }
            run.check(
                seen.len() as u64 == count && seen.values().all(|&n| n == 1),
                &format!("exactly one {cat} slice per message"),
            );
        }
        // A blocked slice sits inside a put or a get of its own track, except a consumer's last
        // wait, which the close ends.
        let calls: Vec<&Value> = trace
            .slices(Some("put"))
            .into_iter()
            .chain(trace.slices(Some("get")))
            .collect();
        let span = |s: &Value| {
            let ts = s["ts"].as_f64().unwrap_or(0.0);
            (ts, ts + s["dur"].as_f64().unwrap_or(0.0))
        };
        let mut lone_waits: HashMap<u64, u32> = HashMap::new();
        for b in trace.slices(Some("blocked")) {
            let (start, end) = span(b);
            let inside = calls.iter().any(|call| {
                let (s0, s1) = span(call);
                call["pid"] == b["pid"] && s0 <= start && end <= s1 + 0.01
            });
            if !inside {
                *lone_waits
                    .entry(b["pid"].as_u64().unwrap_or(0))
                    .or_default() += 1;
                run.check(
                    b["name"] == "blocked: queue empty",
                    &format!("a wait outside any put: {b}"),
                );
            }
        }
        run.check(
            lone_waits.values().all(|&n| n == 1),
            "at most one wait per consumer ends without a message (the close)",
        );
    }
}

#[test]
fn capacity_one_hands_over_every_message() {
    let run = cmd(
        "queue",
        "--json --time-scale 0 powers --count 2000 --capacity 1",
    );
    let s: PowersSummary = run.ok_summary_as();
    check_exactly_once(&run, &s, 2000);
    run.check(s.max_len == 1, "never more than one message waiting");
}

#[test]
fn timeouts_report_empty_and_full_and_an_early_wake_up() {
    for cap in [1u32, 3] {
        let run = cmd(
            "queue",
            &format!("--json --time-scale 1 timeouts --timeout 0.05 --capacity {cap}"),
        );
        let s: TimeoutsSummary = run.ok_summary_as();
        run.check(s.get_timed_out, "get on an empty queue: Empty");
        run.check(s.put_timed_out, "put on a full queue: Full");
        run.check(s.in_time_ok, "the put woken by a get succeeds");
        run.check(s.capacity == u64::from(cap), "the capacity asked for");
        // The consumer took "item 0"; the timed-out put added nothing; the in-time one is last.
        let mut left: Vec<String> = (1..cap).map(|i| format!("item {i}")).collect();
        left.push("in time".into());
        run.check(
            s.left_in_queue == left,
            "the queue holds exactly what was put, in order",
        );
        let results: Vec<Value> = ["get_timeout", "put_timeout"]
            .iter()
            .map(|e| run.events_named(e)[0]["result"].clone())
            .collect();
        run.check(
            results == ["Err(Empty)", "Err(Full)"],
            "events name the errors",
        );
    }
    // A zero timeout never waits and still reports both.
    let run = cmd("queue", "--json --time-scale 0 timeouts --timeout 0");
    let s: TimeoutsSummary = run.ok_summary_as();
    run.check(s.get_timed_out && s.put_timed_out, "Empty and Full at once");
}

/// `--timeout` is scaled by `--time-scale` like every delay, and the output says so: the
/// Python call it prints carries the timeout that ran.
#[test]
fn timeouts_are_scaled_by_time_scale_and_the_labels_say_what_ran() {
    // 30 s asked, x 0.001: 30 ms ran. Unscaled, the two timed calls alone would take a minute
    // and the harness would stop the run as a hang.
    let run = cmd("queue", "--json --time-scale 0.001 timeouts --timeout 30");
    let s: TimeoutsSummary = run.ok_summary_as();
    run.check(s.timeout_asked_s == 30.0, "--timeout as given");
    run.check(s.timeout_ms == 30.0, "the timeout that ran: 30 s x 0.001");
    // A timed-out call returns at its deadline, never before: a lower bound, not a schedule.
    run.check(
        s.get_waited_ms >= s.timeout_ms && s.put_waited_ms >= s.timeout_ms,
        "Empty and Full only once the scaled timeout ran out",
    );
    let scaled = run.events_named("timeout_scaled");
    run.check(
        scaled.len() == 1 && scaled[0]["timeout_ms"] == 30.0 && scaled[0]["time_scale"] == 0.001,
        "one event saying the timeout was scaled, and by what",
    );
    // What a student reads.
    cmd("queue", "--time-scale 0.5 timeouts --timeout 0.1")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "--timeout 0.1 x --time-scale 0.5 = 0.05 s",
        ))
        .stdout(predicate::str::contains(
            "q.get(timeout=0.05) on the empty queue",
        ))
        .stdout(predicate::str::contains(
            "q.put(x, timeout=0.05) on the full queue",
        ))
        .stdout(predicate::str::contains("after half the timeout (0.025 s)"))
        .stdout(predicate::str::contains("timeout=0.1").not());
    // At the notes' pace nothing is scaled, and nothing says it was.
    cmd("queue", "--time-scale 1 timeouts --timeout 0.02")
        .assert()
        .success()
        .stdout(predicate::str::contains("q.get(timeout=0.02)"))
        .stdout(predicate::str::contains("--time-scale").not());
}

/// The first batch (the queue's capacity, 10) is received by priority, FIFO within one.
fn expected_first_batch(n: u32) -> Vec<MqMessage> {
    let prio = |k: u32| [1u32, 0, 5][k as usize % 3];
    let mut ks: Vec<u32> = (0..n).collect();
    ks.sort_by_key(|&k| std::cmp::Reverse(prio(k)));
    ks.iter()
        .map(|&k| MqMessage {
            text: format!("message {k} (priority {})", prio(k)),
            priority: prio(k),
        })
        .collect()
}

#[test]
fn posix_mq_orders_by_priority_reports_its_limits_and_leaves_no_name() {
    let run = cmd("queue", "--json --time-scale 0 posix-mq");
    let s: PosixMqSummary = run.ok_summary_as();
    run.check(
        s.max_messages == 10,
        "mq_getattr: 10 messages (unprivileged limit)",
    );
    run.check(
        s.message_size == 8192,
        "mq_getattr: 8192 bytes (unprivileged limit)",
    );
    run.check(
        s.curmsgs_after_first_sender == 10,
        "full after the first sender",
    );
    run.check(
        s.full_refused == Some(true),
        "a non-blocking send into a full queue: EAGAIN",
    );
    run.check(s.priority_order_ok, "the demo's own check");
    run.check(s.received.len() == 12, "all 12 messages");
    run.check(
        s.received[..10] == expected_first_batch(10)[..],
        "highest priority first, FIFO within a priority",
    );
    let mut rest: Vec<&str> = s.received[10..].iter().map(|r| r.text.as_str()).collect();
    rest.sort();
    run.check(
        rest == ["message 10 (priority 0)", "message 11 (priority 5)"],
        "the second sender's two messages",
    );
    run.check(
        s.name == format!("/queue-demo-{}", run.pid),
        "the name carries the pid",
    );
    let left = named_objects_of(run.pid);
    run.check(left.is_empty(), &format!("mqueue names left: {left:?}"));

    // Fewer messages than the capacity: no second sender, the queue never full.
    let run = cmd("queue", "--json --time-scale 0 posix-mq --messages 4");
    let s: PosixMqSummary = run.ok_summary_as();
    run.check(s.received == expected_first_batch(4), "priority order");
    run.check(s.full_refused.is_none(), "never full, nothing refused");
    run.check(named_objects_of(run.pid).is_empty(), "no name left");
}

#[test]
fn drain_detects_the_join_before_drain_deadlock_and_the_right_order_works() {
    let run = cmd("queue", "--json --time-scale 0 drain --timeout 0.2");
    let s: DrainSummary = run.ok_summary_as();
    let cap = s.pipe_capacity;
    run.check(cap >= 4096, "F_GETPIPE_SZ reports the pipe's size");
    run.check(s.bytes == 2 * cap, "default: twice what the pipe holds");
    run.check(s.deadlock_detected, "join before drain cannot return");
    run.check(
        s.recovered_bytes == 2 * cap,
        "draining then frees the producer",
    );
    run.check(s.fixed_ok, "drain then join: every byte, exit 0");
    run.check(
        s.queue_producer_exited,
        "our Queue has no feeder thread to wait for",
    );
    let jt = &run.events_named("join_timeout")[0];
    run.check(jt["exited"] == false, "the join timed out");

    // What fits in the pipe does not deadlock: the producer exits without a reader. (The join
    // waits at most 30 s but returns as soon as the producer exits.)
    let run = cmd(
        "queue",
        "--json --time-scale 0 drain --bytes 1000 --timeout 30",
    );
    let s: DrainSummary = run.ok_summary_as();
    run.check(!s.deadlock_detected, "1000 bytes fit");
    run.check(s.fixed_ok && s.recovered_bytes == 1000, "all bytes read");
}

#[test]
fn polling_and_blocking_consumers_receive_the_same_messages() {
    // Times are reported, not asserted (a loaded machine changes them); the invariant is that
    // both consumers got every message and measured their CPU time.
    for (line, n) in [
        ("--json --time-scale 0 polling --messages 50", 50),
        // A real pace (10 x 20 ms), so the polling consumer has something to burn.
        (
            "--json --time-scale 1 polling --messages 10 --interval 0.02",
            10,
        ),
    ] {
        let run = cmd("queue", line);
        let s: PollingSummary = run.ok_summary_as();
        run.check(s.messages == n, "the messages asked for");
        run.check(
            s.polling_received == n,
            "the polling consumer got everything",
        );
        run.check(
            s.blocking_received == n,
            "the blocking consumer got everything",
        );
        run.check(
            s.polling_cpu_ms >= 0.0 && s.blocking_cpu_ms >= 0.0,
            "CPU time measured",
        );
        eprintln!(
            "polling {line:?}: polling_cpu_ms {} (failed tries {}), blocking_cpu_ms {}",
            s.polling_cpu_ms, s.polling_failed_tries, s.blocking_cpu_ms
        );
        let rounds = run.events_named("round");
        run.check(rounds.len() == 2, "two rounds");
    }
}

#[test]
fn bad_input_is_one_error_line_and_exit_2() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["powers", "--count", "0"], &["--count", "0"]),
        (&["powers", "--count", "100001"], &["--count", "100001"]),
        (&["powers", "--count", "-5"], &["--count", "-5"]),
        (&["powers", "--capacity", "0"], &["--capacity", "0"]),
        (
            &["powers", "--capacity", "100001"],
            &["--capacity", "100001"],
        ),
        (&["powers", "--producers", "0"], &["--producers", "0"]),
        (&["powers", "--producers", "17"], &["--producers", "17"]),
        (&["powers", "--consumers", "0"], &["--consumers", "0"]),
        (&["powers", "--consumers", "17"], &["--consumers", "17"]),
        (
            &["powers", "--count", "3", "--producers", "4"],
            &["--producers", "4", "--count 3"],
        ),
        (&["timeouts", "--timeout", "-1"], &["--timeout", "-1"]),
        (&["timeouts", "--timeout", "nan"], &["--timeout", "nan"]),
        (&["timeouts", "--timeout", "inf"], &["--timeout", "inf"]),
        (&["timeouts", "--timeout", "61"], &["--timeout", "61"]),
        (&["timeouts", "--capacity", "0"], &["--capacity", "0"]),
        (
            &["powers", "--trace", "/nonexistent-dir/t.json"],
            &["--trace", "/nonexistent-dir/t.json"],
        ),
        (&["posix-mq", "--messages", "0"], &["--messages", "0"]),
        (&["posix-mq", "--messages", "101"], &["--messages", "101"]),
        (&["polling", "--messages", "0"], &["--messages", "0"]),
        (&["polling", "--interval", "-0.5"], &["--interval", "-0.5"]),
        (&["drain", "--bytes", "0"], &["--bytes", "0"]),
        (&["drain", "--bytes", "16777217"], &["--bytes", "16777217"]),
        (&["drain", "--timeout", "-1"], &["--timeout", "-1"]),
        (&["--time-scale", "-1"], &["--time-scale", "-1"]),
        (&["bogus"], &["bogus"]),
    ];
    for (args, mentions) in cases {
        tests::run("queue", args).expect_usage_error(mentions);
    }
}

#[test]
fn help_lists_every_subcommand() {
    let run = tests::run("queue", &["--help"]);
    run.expect_code(0);
    for sub in ["powers", "timeouts", "posix-mq", "polling", "drain"] {
        run.check(run.stdout.contains(sub), &format!("--help names {sub}"));
    }
}

#[test]
fn ctrl_c_mid_run_stops_every_process_with_one_message() {
    // powers at a real (if faster) pace: the signal lands while producer and consumer sleep.
    let mut r = start(
        "queue",
        &[
            "--json",
            "--time-scale",
            "0.02",
            "powers",
            "--count",
            "1000",
        ],
    );
    r.wait_for_event("got", Duration::from_secs(30));
    r.signal_group(Signal::SIGINT);
    // finish() fails if any process of the run is left, alive or zombie.
    let run = r.finish();
    run.expect_code(130);
    run.expect_one_error_line();
    run.check(
        !run.stdout.contains("\"summary\""),
        "interrupted: no summary",
    );

    // posix-mq, stopped while the second sender is still sending: no mqueue name left.
    let mut r = start(
        "queue",
        &[
            "--json",
            "--time-scale",
            "1",
            "posix-mq",
            "--messages",
            "30",
        ],
    );
    r.wait_for_event("received", Duration::from_secs(30));
    r.signal_group(Signal::SIGINT);
    let run = r.finish();
    run.expect_code(130);
    let left = named_objects_of(run.pid);
    run.check(left.is_empty(), &format!("mqueue names left: {left:?}"));
}

#[test]
fn sigterm_and_sigkill_to_the_parent_leave_nothing() {
    let mut r = start(
        "queue",
        &[
            "--json",
            "--time-scale",
            "0.02",
            "powers",
            "--count",
            "1000",
        ],
    );
    r.wait_for_event("got", Duration::from_secs(30));
    r.signal(Signal::SIGTERM);
    r.finish().expect_code(143);

    let mut r = start(
        "queue",
        &["--json", "--time-scale", "1", "polling", "--messages", "5"],
    );
    // Round 1 (1 s of polling) reports; round 2 then takes another second: the kill lands in it.
    r.wait_for_event("round", Duration::from_secs(30));
    r.signal(Signal::SIGKILL);
    // The children die by their parent-death signal; finish() gives them 2 s.
    let run = r.finish();
    run.check(run.code().is_none(), "killed by SIGKILL");
}

/// Start powers at a real pace and SIGKILL the first `role` process to report a message. The
/// victim then still has about 99 puts or gets of 20-30 ms ahead of it: the kill always lands
/// mid-run, whatever the machine's load.
fn kill_one(role: &str, extra: &[&str]) -> tests::Run {
    let mut args = vec!["--json", "--time-scale", "0.02", "powers", "--count", "200"];
    args.extend_from_slice(extra);
    let mut r = start("queue", &args);
    let event = if role == "consumer" { "got" } else { "put" };
    let ev = r.wait_for_event(event, Duration::from_secs(30));
    let victim = ev["pid"].as_i64().expect("pid") as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim), Signal::SIGKILL).expect("kill");
    r.finish()
}

#[test]
fn a_killed_producer_is_reported_and_the_rest_is_delivered_exactly_once() {
    // The fault: a producer dies, perhaps mid-put. The parent reaps it, turns any slot it
    // claimed but never published into a tombstone, and the consumers finish. Whatever moment the
    // kill lands on, every put that returned Ok is received exactly once.
    let run = kill_one("producer", &["--producers", "2", "--consumers", "2"]);
    run.expect_code(1);
    let s: PowersSummary = run.summary_as();
    run.check(
        s.failures.len() == 1
            && s.failures[0].starts_with("producer-")
            && s.failures[0].ends_with("killed by SIGKILL"),
        "the dead producer is named, with how it died",
    );
    run.check(s.lost == 0, "nothing that was sent is lost");
    run.check(s.duplicated == 0 && s.in_order, "exactly once, in order");
    run.check(
        s.sent < 200 && s.received.len() as u64 == s.sent,
        "the dead producer's remaining numbers were never sent; the rest all arrived",
    );
    run.check(
        run.events_named("recovered").len() == 1,
        "the parent repaired the queue",
    );
}

#[test]
fn a_killed_consumer_does_not_leave_the_producer_blocked_forever() {
    // The fault: the only consumer dies while the producer is (or soon will be) blocked on
    // a full queue. Nobody will ever make room: the parent notices (it waits on every child's
    // pidfd), stops the producer, and reports. finish() fails on a hang or a leftover process.
    let run = kill_one("consumer", &["--capacity", "2"]);
    run.expect_code(1);
    let s: PowersSummary = run.summary_as();
    run.check(
        s.failures
            .iter()
            .any(|f| f.starts_with("consumer-0 (pid ") && f.ends_with("killed by SIGKILL")),
        "the dead consumer is named, with how it died",
    );
    run.check(
        s.duplicated == 0 && s.in_order,
        "what was received: once, in order",
    );
    run.check(s.sent < 200, "the producer was stopped");
}

#[test]
fn a_producer_killed_mid_message_never_delivers_a_torn_message_and_nothing_hangs() {
    // Forced rather than hoped for: the producer of (2, I) claims its slot, writes
    // garbage where the message goes, and SIGKILLs itself before publishing. The other
    // producer must not stay blocked behind the hole (a repair that waited for every producer
    // to exit would leave it there), the garbage must never reach a consumer (they would fail on it), and
    // every message whose put returned must arrive exactly once.
    for (producers, consumers, capacity, victim) in
        [(2, 2, 4, 7), (2, 1, 1, 0), (4, 3, 2, 13), (3, 3, 64, 44)]
    {
        let run = cmd(
            "queue",
            &format!(
                "--json --time-scale 0 powers --count 60 --producers {producers} \
                 --consumers {consumers} --capacity {capacity} \
                 --kill-producer-mid-message {victim}"
            ),
        );
        run.expect_code(1);
        let s: PowersSummary = run.summary_as();
        run.check(s.lost == 0 && s.duplicated == 0, "exactly once");
        run.check(s.in_order, "FIFO per producer");
        let received: Vec<u64> = s.received.iter().map(Power::exponent).collect();
        run.check(
            !received.contains(&victim),
            "the torn message was never delivered",
        );
        run.check(
            received.len() as u64 == s.sent,
            "everything sent was received",
        );
        let rec = run.events_named("recovered");
        run.check(
            rec.len() == 1 && rec[0]["abandoned_slots"] == 1,
            "exactly the dead producer's claim was repaired",
        );
        run.check(
            run.stderr.lines().count() == 1 && run.stderr.contains("SIGKILL"),
            "one line naming the death",
        );
    }
}
