//! Tests of the `prodcons` demo (note 004: 生产者消费者): producers and consumers decoupled by a
//! bounded blocking queue, as threads (on step 1, the monitor, and step 2, the two-lock queue)
//! and as processes.
//!
//! Every run is checked twice: by the demo's own summary (its self-checks, parsed into
//! [`Summary`], so a missing or renamed field fails), and independently here from its event
//! stream (every `put` and `got` line), so a self-check that always said "ok" would still be
//! caught. Nothing here asserts a schedule or a time: which consumer gets which item, and how long
//! anyone blocks, change from run to run; exactly-once, per-producer order and occupancy within
//! capacity must hold every time. The harness fails any run that leaves a process behind.

use std::collections::HashMap;

use predicates::prelude::*;
use serde::Deserialize;
use serde_json::Value;
use tests::trace::Trace;
use tests::TempPath;
use tests::{cmd, Run, SEEDS};

/// Where the roles run and on which buffer: threads on each step, and processes.
const SETTINGS: [&str; 3] = [
    "--mode threads",
    "--mode threads --queue two-lock",
    "--mode processes",
];

/// The summary line.
#[derive(Debug, Deserialize)]
struct Summary {
    mode: String,
    queue: String,
    producers: u64,
    consumers: u64,
    items: u64,
    capacity: u64,
    produced: u64,
    consumed: u64,
    lost: u64,
    duplicated: u64,
    unexpected: u64,
    undelivered: u64,
    per_producer_fifo: bool,
    max_occupancy: u64,
    failed: Vec<RoleEnd>,
    problems: Vec<String>,
    phases: Vec<Phase>,
}

/// How one role ended (an entry of `failed`, and of each phase's `roles`).
#[derive(Debug, Deserialize)]
struct RoleEnd {
    role: String,
    index: u64,
    status: String,
    message: Option<String>,
}

/// One phase of the summary.
#[derive(Debug, Deserialize)]
struct Phase {
    name: String,
    produce_ms: u64,
    consume_ms: u64,
    roles: Vec<RoleEnd>,
}

/// A `put` or `got` event.
#[derive(Debug, Deserialize)]
struct Step {
    event: String,
    producer: u64,
    seq: u64,
    occupancy: u64,
    /// Only on `got`.
    consumer: Option<u64>,
}

/// A `closed` event.
#[derive(Debug, Deserialize)]
struct Closed {
    reason: String,
}

/// The `timeline` event.
#[derive(Debug, Deserialize)]
struct TimelineEvent {
    occupancy: Vec<u64>,
    producers_blocked: Vec<u64>,
    consumers_blocked: Vec<u64>,
}

fn events_as<T: serde::de::DeserializeOwned>(run: &Run, name: &str) -> Vec<T> {
    run.events_named(name)
        .into_iter()
        .map(|e| {
            serde_json::from_value(e.clone())
                .unwrap_or_else(|err| panic!("a {name} event that does not parse ({err}): {e}"))
        })
        .collect()
}

/// Everything the summary of a complete run of `producers` x `items` items through a buffer of
/// `capacity` must say.
#[track_caller]
fn check_summary(run: &Run, producers: u64, items: u64, capacity: u64) -> Summary {
    let s: Summary = run.ok_summary_as();
    let total = producers * items;
    run.check(
        s.producers == producers && s.items == items,
        "the shape reported",
    );
    run.check(s.produced == total, "every item produced");
    run.check(s.consumed == total, "every item consumed");
    run.check(s.lost == 0 && s.duplicated == 0, "none lost or duplicated");
    run.check(
        s.unexpected == 0 && s.undelivered == 0,
        "nothing unexpected, nothing left",
    );
    run.check(s.per_producer_fifo, "per-producer order");
    run.check(s.capacity == capacity, "capacity reported");
    run.check(s.max_occupancy <= capacity, "occupancy within capacity");
    // Not `max_occupancy >= 1`: with a waiting consumer, an item can be taken before its
    // producer samples the occupancy, every time. That would assert a schedule.
    run.check(
        s.failed.is_empty() && s.problems.is_empty(),
        "nobody failed",
    );
    run.check(
        s.phases
            .iter()
            .all(|p| p.roles.len() as u64 == producers + s.consumers),
        "every role's ending reported",
    );
    s
}

/// [`check_summary`] and [`check_events`] on a complete run.
#[track_caller]
fn check_complete_run(run: &Run, producers: u64, items: u64, capacity: u64) -> Summary {
    let s = check_summary(run, producers, items, capacity);
    check_events(run, producers, items, capacity, true);
    s
}

/// The independent check, from the `put` / `got` events: each received item was put, none twice,
/// each consumer saw each producer's items in rising order, no reported occupancy above the
/// capacity. With `complete`, every item put was received. Returns (puts, gets).
#[track_caller]
fn check_events(
    run: &Run,
    producers: u64,
    items: u64,
    capacity: u64,
    complete: bool,
) -> (u64, u64) {
    let mut put: HashMap<(u64, u64), u32> = HashMap::new();
    let mut got: HashMap<(u64, u64), u32> = HashMap::new();
    let mut last: HashMap<(u64, u64), u64> = HashMap::new();
    let steps: Vec<Step> = run
        .events()
        .into_iter()
        .filter(|e| e["event"] == "put" || e["event"] == "got")
        .map(|e| serde_json::from_value(e.clone()).unwrap_or_else(|err| panic!("{err}: {e}")))
        .collect();
    for e in &steps {
        run.check(
            e.occupancy <= capacity,
            &format!("occupancy above capacity: {e:?}"),
        );
        let key = (e.producer, e.seq);
        run.check(
            (1..=producers).contains(&key.0) && key.1 < items,
            &format!("an item no producer makes: {e:?}"),
        );
        if e.event == "put" {
            *put.entry(key).or_default() += 1;
        } else {
            *got.entry(key).or_default() += 1;
            let c = e.consumer.expect("a got event names its consumer");
            if let Some(&prev) = last.get(&(c, key.0)) {
                run.check(
                    prev < key.1,
                    &format!("consumer {c} got producer {}'s items out of order", key.0),
                );
            }
            last.insert((c, key.0), key.1);
        }
    }
    run.check(put.values().all(|&k| k == 1), "an item put twice");
    run.check(got.values().all(|&k| k == 1), "an item received twice");
    run.check(
        got.keys().all(|k| put.contains_key(k)),
        "an item received that was never put",
    );
    if complete {
        run.check(
            put.len() as u64 == producers * items,
            "a put event per item",
        );
        run.check(got.len() == put.len(), "every item put was received");
    }
    (put.len() as u64, got.len() as u64)
}

/// (producers, consumers, items per producer, capacity): capacity 1, more producers than
/// consumers and the reverse, many of both, a buffer bigger than everything.
const SHAPES: [(u64, u64, u64, u64); 7] = [
    (1, 1, 60, 1),
    (5, 1, 40, 1),
    (1, 5, 120, 1),
    (3, 2, 50, 3),
    (8, 8, 20, 2),
    (2, 6, 60, 16),
    (4, 2, 25, 1000),
];

fn sweep(setting: &str, mode: &str, queue: &str) {
    for (p, c, items, cap) in SHAPES {
        for seed in SEEDS {
            let run = cmd(
                "prodcons",
                &format!(
                    "run --json --time-scale 0 {setting} --producers {p} --consumers {c} \
                     --items {items} --capacity {cap} --produce-ms 0 --consume-ms 0 --seed {seed}"
                ),
            );
            let s = check_complete_run(&run, p, items, cap);
            run.check(
                s.mode == mode && s.queue == queue,
                "mode and queue reported",
            );
            run.check(
                tests::named_objects_of(run.pid).is_empty(),
                "no named kernel object left",
            );
        }
    }
}

#[test]
fn threads_on_the_monitor_every_item_exactly_once_in_order_within_capacity() {
    sweep("--mode threads", "threads", "monitor");
}

#[test]
fn threads_on_the_two_lock_queue_every_item_exactly_once_in_order_within_capacity() {
    sweep("--mode threads --queue two-lock", "threads", "two-lock");
}

#[test]
fn processes_every_item_exactly_once_in_order_within_capacity_over_shapes_and_seeds() {
    sweep("--mode processes", "processes", "cross-process");
}

/// Slow consumer and slow producer: the ms flags are scaled by --time-scale, so at 0 nobody is
/// slow. A small scale makes one side really slower (0.01 x 100 ms = 1 ms per item) and keeps the
/// test short. Only invariants are asserted: who blocked, and for how long, is the scheduler's.
#[test]
fn slow_consumer_and_slow_producer_keep_every_item_in_order() {
    for setting in SETTINGS {
        for (produce, consume) in [(0, 100), (100, 0)] {
            for (p, c) in [(2u64, 1u64), (1, 3)] {
                let run = cmd(
                    "prodcons",
                    &format!(
                        "run --json --time-scale 0.01 --seed 7 {setting} --producers {p} \
                         --consumers {c} --items 25 --capacity 2 --produce-ms {produce} \
                         --consume-ms {consume}"
                    ),
                );
                check_complete_run(&run, p, 25, 2);
            }
        }
    }
}

/// The default run (no subcommand): both phases of the notes' point, each self-checked.
#[test]
fn default_run_has_a_backpressure_phase_and_a_starved_phase() {
    for setting in ["", "--mode processes"] {
        let run = cmd("prodcons", &format!("--json --time-scale 0 {setting}"));
        // Defaults: threads on the monitor, 1 producer x 10 items per phase, buffer of 4, two
        // phases.
        let s: Summary = run.ok_summary_as();
        if setting.is_empty() {
            run.check(
                s.mode == "threads" && s.queue == "monitor",
                "the default is step 1, the monitor",
            );
        }
        let phases: Vec<&str> = s.phases.iter().map(|p| p.name.as_str()).collect();
        run.check(
            phases == ["backpressure", "starved"],
            "two phases, in this order",
        );
        run.check(
            s.phases[0].produce_ms < s.phases[0].consume_ms
                && s.phases[1].produce_ms > s.phases[1].consume_ms,
            "phase 1: fast producer; phase 2: fast consumer",
        );
        run.check(s.produced == 20 && s.consumed == 20, "10 items per phase");
        run.check(
            s.capacity == 4 && s.max_occupancy <= 4,
            "within the default capacity",
        );
        run.check(
            run.events_named("phase").len() == 2,
            "a phase event per phase",
        );
        let closed: Vec<Closed> = events_as(&run, "closed");
        run.check(
            closed.len() == 2 && closed.iter().all(|c| c.reason == "producers_done"),
            "the queue is closed once per phase, when the producer is done",
        );
    }
}

/// The human output shows the buffer as it changes, and the timeline chart on request.
#[test]
fn prose_shows_the_occupancy_bar_and_the_timeline() {
    cmd(
        "prodcons",
        "backpressure --time-scale 0 --seed 3 --timeline",
    )
    .assert()
    .success()
    .stdout(predicate::str::contains("生产者 <--> 队列 <--> 消费者"))
    .stdout(predicate::str::contains("P1 put 1.0").and(predicate::str::contains("C1 got 1.0")))
    .stdout(predicate::str::contains("] 1/4").and(predicate::str::contains("[#...")))
    .stdout(predicate::str::contains("(threads, monitor queue)"))
    .stdout(predicate::str::contains(
        "occupancy of the buffer over time",
    ))
    .stdout(
        predicate::str::contains("producers blocked")
            .and(predicate::str::contains("consumers waiting")),
    )
    .stdout(predicate::str::contains(
        "=> 10 put, 10 got; lost 0, duplicated 0, in order per producer: yes",
    ))
    .stdout(predicate::str::contains("--seed 3"));
}

#[test]
fn timeline_event_has_one_column_per_step_within_capacity() {
    for setting in SETTINGS {
        let run = cmd(
            "prodcons",
            &format!(
                "run --json --time-scale 0 {setting} --producers 3 --consumers 2 --items 40 \
                 --capacity 3 --produce-ms 0 --consume-ms 0 --timeline --quiet"
            ),
        );
        check_summary(&run, 3, 40, 3);
        let t: Vec<TimelineEvent> = events_as(&run, "timeline");
        run.check(t.len() == 1, "one timeline");
        let t = &t[0];
        run.check(
            !t.occupancy.is_empty() && t.occupancy.iter().all(|&o| o <= 3),
            "columns within capacity",
        );
        run.check(
            t.producers_blocked.len() == t.occupancy.len()
                && t.consumers_blocked.len() == t.occupancy.len(),
            "as many columns",
        );
        run.check(
            t.producers_blocked.iter().all(|&x| x <= 3)
                && t.consumers_blocked.iter().all(|&x| x <= 2),
            "at most 3 producers / 2 consumers waiting",
        );
        run.check(
            run.events_named("put").is_empty(),
            "--quiet: no line per item",
        );
    }
}

/// A producer that panics half-way: reported once, with its message; every other producer's items
/// and the ones it put before dying all go through exactly once; exit status 1.
#[test]
fn a_producer_panic_is_reported_and_everything_it_put_is_consumed_once() {
    for setting in SETTINGS {
        for seed in [1u64, 2, 3] {
            let run = cmd(
                "prodcons",
                &format!(
                    "run --json --time-scale 0 {setting} --producers 3 --consumers 2 --items 20 \
                     --capacity 2 --produce-ms 0 --consume-ms 0 --seed {seed} \
                     --inject-panic producer:2:5"
                ),
            );
            run.expect_code(1);
            let s: Summary = run.summary_as();
            run.check(s.failed.len() == 1, "exactly one role failed");
            let dead = &s.failed[0];
            run.check(dead.role == "producer" && dead.index == 2, "producer 2");
            run.check(dead.status == "panicked", "it panicked");
            run.check(
                dead.message
                    .as_deref()
                    .is_some_and(|m| m.contains("injected panic")),
                "with its own message",
            );
            run.check(s.produced == 2 * 20 + 5, "the others put all, it put 5");
            run.check(s.consumed == 45 && s.lost == 0, "all of them consumed");
            run.check(s.duplicated == 0 && s.per_producer_fifo, "once, in order");
            let (puts, gets) = check_events(&run, 3, 20, 2, false);
            run.check(
                puts == 45 && gets == 45,
                "the events agree: 45 put, 45 received",
            );
            run.check(
                run.events_named("panicked").len() == 1,
                "one panicked event",
            );
            let err: Vec<&str> = run.stderr.lines().collect();
            run.check(
                err.len() == 1
                    && err[0].starts_with("error:")
                    && err[0].contains("producer 2")
                    && err[0].contains("panicked: injected panic"),
                "one error line naming the producer and how it died",
            );
        }
    }
}

/// A consumer dies before taking anything while others run: they take every item.
#[test]
fn a_consumer_panic_leaves_the_other_consumers_to_take_everything() {
    for setting in SETTINGS {
        let run = cmd(
            "prodcons",
            &format!(
                "run --json --time-scale 0 {setting} --producers 2 --consumers 3 --items 30 \
                 --capacity 2 --produce-ms 0 --consume-ms 0 --inject-panic consumer:2:0"
            ),
        );
        run.expect_code(1);
        let s: Summary = run.summary_as();
        run.check(s.produced == 60 && s.consumed == 60, "all items through");
        run.check(s.lost == 0 && s.duplicated == 0, "none lost");
        run.check(
            s.failed.len() == 1 && s.failed[0].role == "consumer" && s.failed[0].index == 2,
            "consumer 2 reported",
        );
        check_events(&run, 2, 30, 2, true);
    }
}

/// The only consumer dies with an item in hand: that item is reported lost (and the run fails),
/// the producers blocked on the full buffer are released by the close, and what is still in the
/// buffer is counted as undelivered, not lost.
#[test]
fn the_last_consumer_dying_with_an_item_releases_producers_and_loses_exactly_that_item() {
    for setting in SETTINGS {
        let run = cmd(
            "prodcons",
            &format!(
                "run --json --time-scale 0 {setting} --producers 2 --consumers 1 --items 50 \
                 --capacity 3 --produce-ms 0 --consume-ms 0 --inject-panic consumer:1:4"
            ),
        );
        run.expect_code(1);
        let s: Summary = run.summary_as();
        run.check(s.consumed == 3, "three recorded before the panic");
        run.check(s.lost == 1, "the fourth, in hand, is lost");
        run.check(
            s.produced == s.consumed + s.lost + s.undelivered,
            "every item put is accounted for",
        );
        run.check(s.produced < 100, "producers stopped early");
        let closed: Vec<Closed> = events_as(&run, "closed");
        run.check(
            closed.len() == 1 && closed[0].reason == "no_consumer_left",
            "closed because no consumer is left",
        );
        run.check(
            run.stderr.contains("lost"),
            "the error line says an item was lost",
        );
        check_events(&run, 2, 50, 3, false);
    }
}

#[test]
fn bad_input_is_one_error_line_and_exit_2() {
    let cases: &[(&str, &[&str])] = &[
        ("run --capacity 0", &["--capacity", "0"]),
        ("run --capacity 1001", &["--capacity", "1001"]),
        ("run --producers 0", &["--producers", "0"]),
        ("run --consumers 0", &["--consumers", "0"]),
        ("run --producers 33", &["--producers", "33"]),
        ("run --consumers 33", &["--consumers", "33"]),
        ("run --items 0", &["--items", "0"]),
        ("run --items 100001", &["--items", "100001"]),
        ("run --produce-ms 10001", &["--produce-ms", "10001"]),
        ("run --consume-ms -1", &["--consume-ms", "-1"]),
        ("run --items x", &["--items", "x"]),
        ("--mode fibers", &["--mode", "fibers"]),
        ("--queue fifo", &["--queue", "fifo"]),
        (
            "--mode processes --queue two-lock",
            &["--queue", "two-lock", "--mode threads"],
        ),
        ("run --mode processes --capacity 0", &["--capacity", "0"]),
        ("--producers -3 --mode processes", &["--producers", "-3"]),
        ("bogus", &["bogus"]),
        ("--time-scale nan", &["--time-scale", "nan"]),
        (
            "backpressure --trace /nonexistent-dir/t.json",
            &["--trace", "/nonexistent-dir/t.json"],
        ),
        (
            "backpressure --svg /nonexistent-dir/c.svg",
            &["--svg", "/nonexistent-dir/c.svg"],
        ),
        (
            "run --inject-panic consumer:2:0",
            &["--inject-panic", "consumer:2:0"],
        ),
        (
            "run --inject-panic producer:1:10 --items 10",
            &["--inject-panic"],
        ),
        (
            "run --inject-panic boss:1:1",
            &["--inject-panic", "boss:1:1"],
        ),
        (
            "run --inject-kill-mid-put 1:3",
            &["--inject-kill-mid-put", "1:3", "--mode processes"],
        ),
    ];
    for (line, mentions) in cases {
        cmd("prodcons", line).expect_usage_error(mentions);
    }
}

/// The names of the thread tracks of a trace: (pid, tid) -> `producer 1`.
fn track_names(trace: &Trace) -> HashMap<(u64, u64), String> {
    trace
        .events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .filter_map(|e| {
            let key = (e["pid"].as_u64()?, e["tid"].as_u64()?);
            Some((key, e["args"]["name"].as_str()?.to_string()))
        })
        .collect()
}

/// The item of a slice named `put 2.7` or `get 2.7`: (producer 1-based, seq).
fn item_of(slice: &Value) -> Option<(u64, u64)> {
    let name = slice["name"].as_str()?;
    let (_, item) = name.split_once(' ')?;
    let (producer, seq) = item.split_once('.')?;
    Some((producer.parse().ok()?, seq.parse().ok()?))
}

/// Check the `--trace` of a complete run of `producers` x `items` items: it loads (fields,
/// nesting per track), the occupancy stays within `capacity`, every pid that printed has a
/// process track, each item has exactly one put slice, on its producer's track, and one get
/// slice, on the track of the consumer that reported it, and the blocked slices are the
/// `blocked` events, one for one, each on its role's track.
#[track_caller]
fn check_trace(run: &Run, path: &TempPath, producers: u64, items: u64, capacity: u64) {
    let trace = Trace::load(&path.0, run);
    trace.check_counter_at_most(run, "occupancy", capacity as f64);
    trace.check_pids_match(run);
    let tracks = track_names(&trace);
    let track_of = |s: &Value| {
        let key = (
            s["pid"].as_u64().unwrap_or(0),
            s["tid"].as_u64().unwrap_or(0),
        );
        tracks.get(&key).cloned().unwrap_or_default()
    };
    // Who got each item, from the JSON Lines.
    let got_by: HashMap<(u64, u64), u64> = events_as::<Step>(run, "got")
        .iter()
        .map(|g| ((g.producer, g.seq), g.consumer.unwrap_or(0)))
        .collect();
    for (cat, role) in [("put", "producer"), ("get", "consumer")] {
        let mut seen: HashMap<(u64, u64), u32> = HashMap::new();
        for slice in trace.slices(Some(cat)) {
            let item = item_of(slice);
            run.check(
                item.is_some(),
                &format!("a {cat} slice names its item: {slice}"),
            );
            let item = item.unwrap_or_default();
            *seen.entry(item).or_default() += 1;
            let who = match cat {
                "put" => item.0,
                _ => got_by.get(&item).copied().unwrap_or(0),
            };
            run.check(
                track_of(slice) == format!("{role} {who}"),
                &format!("{slice} is on the track of {role} {who}"),
            );
        }
        run.check(
            seen.len() as u64 == producers * items && seen.values().all(|&n| n == 1),
            &format!("exactly one {cat} slice per item"),
        );
    }
    // Each `blocked` event (a put found the buffer full, a get found it empty) is one slice.
    let mut events: Vec<String> = run
        .events_named("blocked")
        .iter()
        .map(|e| format!("{} {}", e["role"].as_str().unwrap_or(""), e["index"]))
        .collect();
    let mut slices: Vec<String> = trace
        .slices(Some("blocked"))
        .into_iter()
        .map(track_of)
        .collect();
    events.sort();
    slices.sort();
    run.check(
        events == slices,
        "a blocked slice on its role's track for each blocked event",
    );
}

/// `--trace` on every subcommand, in every setting: threads (one process, a thread track per
/// role) and processes (a process track per role).
#[test]
fn trace_has_a_track_per_role_and_one_put_and_one_get_slice_per_item() {
    let runs = [
        ("backpressure", 1, 1, 10, 4),
        ("starved", 1, 1, 10, 4),
        (
            "run --producers 2 --consumers 3 --items 30 --capacity 2 --produce-ms 0 \
             --consume-ms 100",
            2,
            3,
            30,
            2,
        ),
    ];
    for setting in SETTINGS {
        for (sub, producers, consumers, items, capacity) in runs {
            let path = TempPath::new("trace.json");
            let run = cmd(
                "prodcons",
                &format!(
                    "{sub} --json --time-scale 0.01 --seed 5 {setting} --trace {}",
                    path.arg()
                ),
            );
            check_complete_run(&run, producers, items, capacity);
            check_trace(&run, &path, producers, items, capacity);
            let trace = Trace::load(&path.0, &run);
            let processes = trace.named_processes().len() as u64;
            let expected = match setting {
                "--mode processes" => 1 + producers + consumers,
                _ => 1,
            };
            run.check(
                processes == expected,
                "threads: one process track; processes: one per role and the parent",
            );
            run.check(
                trace.slices(Some("phase")).len() == 1,
                "the phase, as a slice on main's track",
            );
        }
    }
}

/// A role that panics still leaves a complete trace: it is written once every role has ended,
/// before the verdict (exit 1).
#[test]
fn trace_is_written_when_a_role_panics() {
    for setting in SETTINGS {
        let path = TempPath::new("panic.json");
        // Forced: producer 1 panics before its item 5, whatever the schedule.
        let run = cmd(
            "prodcons",
            &format!(
                "run --json --time-scale 0 {setting} --producers 2 --consumers 2 --items 20 \
                 --capacity 2 --inject-panic producer:1:5 --trace {}",
                path.arg()
            ),
        );
        run.expect_code(1);
        let trace = Trace::load(&path.0, &run);
        trace.check_counter_at_most(&run, "occupancy", 2.0);
        trace.check_pids_match(&run);
        run.check(
            trace.slices(Some("put")).len() == 25 && trace.slices(Some("get")).len() == 25,
            "a put and a get slice for each of the 20 + 5 items put",
        );
    }
}

/// `--svg`: an SVG picture, one panel per phase, a dot per put and per get.
#[test]
fn svg_chart_is_written_with_a_dot_per_put_and_get() {
    for (line, phases, items) in [
        ("backpressure --mode threads", 1, 10),
        ("backpressure --mode processes", 1, 10),
        ("", 2, 20),
    ] {
        let path = TempPath::new("chart.svg");
        let run = cmd(
            "prodcons",
            &format!("{line} --json --time-scale 0 --svg {}", path.arg()),
        );
        run.ok_summary_as::<Summary>();
        let svg = std::fs::read_to_string(&path.0).unwrap_or_default();
        run.check(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "the file is one <svg> element",
        );
        run.check(
            svg.matches("prodcons backpressure").count() == 1
                && svg.matches("prodcons ").count() == phases,
            "a panel per phase, with its title",
        );
        run.check(
            svg.matches("<circle").count() == 2 * items,
            "a dot per put and per get",
        );
        let said: Vec<Value> = run.events_named("svg");
        run.check(
            said.len() == 1 && said[0]["file"] == path.arg(),
            "the demo says where the chart is",
        );
    }
}

#[test]
fn a_producer_killed_mid_put_in_process_mode_does_not_hang_the_others() {
    // Forced: producer N dies by SIGKILL half-way through a put (slot claimed, never
    // published). Without the parent's repair the consumers stop at the hole, the queue fills
    // behind it and the other producers block forever (this test then fails on the harness's
    // timeout). With it: everything the others put, and all the victim put before, arrives once.
    for (p, c, cap, victim, at) in [(3, 2, 2, 2, 50), (2, 1, 1, 1, 0), (4, 4, 8, 4, 99)] {
        let run = cmd(
            "prodcons",
            &format!(
                "run --json --time-scale 0 --quiet --mode processes --producers {p} \
                 --consumers {c} --items 100 --capacity {cap} --inject-kill-mid-put {victim}:{at}"
            ),
        );
        run.expect_code(1);
        let s: Summary = run.summary_as();
        let expected = (p - 1) * 100 + at;
        run.check(s.produced == expected, "the victim put exactly `at` items");
        run.check(s.consumed == expected, "every put item consumed");
        run.check(s.lost == 0 && s.duplicated == 0, "exactly once");
        run.check(s.per_producer_fifo, "order per producer");
        run.check(
            s.failed.len() == 1
                && s.failed[0].index == victim
                && s.failed[0].message.as_deref() == Some("killed by SIGKILL"),
            "exactly the victim reported, with how it died",
        );
    }
}
