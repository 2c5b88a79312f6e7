//! Tests of the `ipc` demo (note 000: 管道 消息队列 共享内存 信号 信号量 套接字).
//!
//! Every run goes through the harness (`--json --time-scale 0`, a timeout, no process left) and
//! its summary is parsed into a typed struct, so a missing field fails. Invariants only: what
//! each mechanism must deliver, what it may lose, the semaphore's bound, the refused key, never
//! how fast anything was.

use std::collections::BTreeMap;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Deserialize;
use serde_json::Value;
use tests::trace::{span, Trace};
use tests::TempPath;
use tests::{named_objects_of, start, SEEDS};

#[derive(Debug, Deserialize)]
struct MechanismRow {
    name: String,
    sent: u64,
    delivered: u64,
    msgs_per_s: f64,
    rtt_us: f64,
}

#[derive(Debug, Deserialize)]
struct CompareSummary {
    messages: u64,
    mechanisms: Vec<MechanismRow>,
}

#[derive(Debug, Deserialize)]
struct SignalsSummary {
    standard_sent: u64,
    standard_received: u64,
    realtime_sent: u64,
    realtime_received: u64,
    realtime_in_order: bool,
    sigchld_status: i32,
}

#[derive(Debug, Deserialize)]
struct SemaphoreSummary {
    permits: u32,
    processes: u32,
    max_inside: u32,
    leaked_permit_detected: bool,
    over_release_refused: bool,
}

#[derive(Debug, Deserialize)]
struct SocketSummary {
    clients: u64,
    messages: u64,
    sent: u64,
    received: u64,
    wrong_key_refused: bool,
    memfd_shared: bool,
}

/// This run's named objects (semaphores in /dev/shm, message queues in /dev/mqueue): their names
/// are `ipc-demo-PID-...`. Matching the whole prefix, not the pid alone, keeps a concurrent
/// run whose pid merely contains ours (2415 in 24150) from being blamed on this one.
fn objects_of(pid: i32) -> Vec<String> {
    let prefix = format!("ipc-demo-{pid}-");
    named_objects_of(pid)
        .into_iter()
        .filter(|n| n.contains(&prefix))
        .collect()
}

/// `ipc ARGS --json --time-scale 0 --seed SEED` to completion (the harness checks that no
/// process is left); then check that no named object (mqueue, semaphore) is left either.
fn ipc(args: &str, seed: u64) -> tests::Run {
    let run = tests::cmd(
        "ipc",
        &format!("{args} --json --time-scale 0 --seed {seed}"),
    );
    let left = objects_of(run.pid);
    run.check(left.is_empty(), &format!("named objects left: {left:?}"));
    run
}

const ALL_NAMES: [&str; 9] = [
    "pipe",
    "queue (shm ring)",
    "POSIX mqueue",
    "shm slot",
    "signal SIGUSR1",
    "signal SIGRTMIN",
    "semaphore + slot",
    "unix socket",
    "tcp 127.0.0.1",
];

const RELIABLE: [&str; 7] = [
    "pipe",
    "queue (shm ring)",
    "POSIX mqueue",
    "signal SIGRTMIN",
    "semaphore + slot",
    "unix socket",
    "tcp 127.0.0.1",
];

#[test]
fn compare_delivers_every_message_where_it_must_and_never_more() {
    for (messages, rounds, seed) in [(1, 1, SEEDS[0]), (50, 5, SEEDS[1]), (300, 20, SEEDS[2])] {
        let run = ipc(
            &format!("compare --messages {messages} --rounds {rounds}"),
            seed,
        );
        let s: CompareSummary = run.ok_summary_as();
        run.check(s.messages == messages, "messages echoed in the summary");
        let names: Vec<&str> = s.mechanisms.iter().map(|m| m.name.as_str()).collect();
        run.check(
            names == ALL_NAMES,
            "the nine mechanisms, in the notes' order",
        );
        for m in &s.mechanisms {
            run.check(m.sent == messages, &format!("{}: sent N", m.name));
            if RELIABLE.contains(&m.name.as_str()) {
                // A realtime signal could be refused only past RLIMIT_SIGPENDING, far above 300.
                run.check(
                    m.delivered == messages,
                    &format!("{}: every message delivered", m.name),
                );
            } else {
                // The slot always shows its last value; the pending SIGUSR1 bit is always taken
                // once after the stream starts.
                run.check(
                    (1..=messages).contains(&m.delivered),
                    &format!("{}: at least one, at most N delivered", m.name),
                );
            }
            run.check(
                m.msgs_per_s > 0.0 && m.rtt_us > 0.0,
                &format!("{}: rate and round trip measured", m.name),
            );
        }
    }
}

#[test]
fn standard_signals_merge_and_realtime_signals_queue_in_order() {
    for (count, seed) in [
        (1, SEEDS[0]),
        (2, SEEDS[1]),
        (10, SEEDS[3]),
        (200, SEEDS[4]),
    ] {
        let run = ipc(&format!("signals --count {count}"), seed);
        let s: SignalsSummary = run.ok_summary_as();
        run.check(
            s.standard_sent == count && s.realtime_sent == count,
            "sent counts",
        );
        // Forced: every kill happens while SIGUSR1 is blocked and before we look.
        run.check(
            s.standard_received == 1,
            "blocked SIGUSR1 sent N times is received once",
        );
        run.check(s.realtime_received == count, "every SIGRTMIN queued");
        run.check(s.realtime_in_order, "realtime values in the order sent");
        run.check(s.sigchld_status == 7, "SIGCHLD carried the exit status");
        let pending = run.events_named("pending");
        run.check(
            pending.len() == 1 && pending[0]["sigusr1_pending"] == true,
            "sigpending showed SIGUSR1",
        );
    }
}

#[test]
fn semaphore_never_admits_more_than_its_permits_and_leaks_a_killed_holders_permit() {
    for (permits, processes, seed) in [
        (1, 3, SEEDS[0]),
        (2, 5, SEEDS[1]),
        (3, 4, SEEDS[2]),
        (4, 2, SEEDS[3]),
    ] {
        let run = ipc(
            &format!("semaphore --permits {permits} --processes {processes}"),
            seed,
        );
        let s: SemaphoreSummary = run.ok_summary_as();
        run.check(
            s.permits == permits && s.processes == processes,
            "flags echoed",
        );
        run.check(
            (1..=permits).contains(&s.max_inside),
            "at most `permits` processes inside at once",
        );
        // Replay the log from the events too: never more inside than permits.
        let enters = run.events_named("enter");
        run.check(
            enters.len() as u32 == processes * 2,
            "each process entered twice",
        );
        run.check(
            enters.iter().all(|e| {
                e["inside"]
                    .as_u64()
                    .is_some_and(|n| n <= u64::from(permits))
            }),
            "every enter saw at most `permits` inside",
        );
        run.check(
            s.leaked_permit_detected,
            "the killed holder's permit is missing",
        );
        run.check(s.over_release_refused, "BoundedSemaphore refused");
        let named = run.events_named("named");
        let pid = run.pid.to_string();
        run.check(
            named.len() == 1
                && named[0]["while_open"].as_array().is_some_and(|a| {
                    a.len() == 1
                        && a[0]
                            .as_str()
                            .is_some_and(|n| n.starts_with("sem.") && n.contains(&pid))
                })
                && named[0]["after_unlink"] == serde_json::json!([]),
            "/dev/shm/sem.* with our pid while open, gone after sem_unlink",
        );
    }
}

#[test]
fn semaphore_trace_shows_every_stay_and_never_more_inside_than_permits() {
    for (permits, processes, seed) in [(1u32, 3u32, SEEDS[0]), (2, 5, SEEDS[1])] {
        let file = TempPath::new(&format!("semaphore-{permits}-{processes}"));
        let run = ipc(
            &format!(
                "semaphore --permits {permits} --processes {processes} --trace {}",
                file.arg()
            ),
            seed,
        );
        run.ok_summary_as::<SemaphoreSummary>();
        let trace = Trace::load(&file.0, &run);
        trace.check_counter_at_most(&run, "inside", f64::from(permits));
        trace.check_pids_match(&run);

        // One "held" slice per entry, on the track of the process that entered; a process that
        // never entered (the parent, the killed holder, whose stay never ends) has none.
        let names = trace.process_names();
        let mut enters: BTreeMap<u64, usize> = BTreeMap::new();
        for e in run.events_named("enter") {
            *enters.entry(e["pid"].as_u64().unwrap_or(0)).or_default() += 1;
        }
        let held = trace.slices(Some("held"));
        let waits: Vec<&Value> = trace
            .slices(Some("blocked"))
            .into_iter()
            .filter(|e| e["name"] == "sem_wait")
            .collect();
        for (pid, name) in &names {
            let expected = enters.get(pid).copied().unwrap_or(0);
            let mine = held.iter().filter(|e| e["pid"] == *pid).count();
            run.check(
                mine == expected,
                &format!("{name} (pid {pid}) entered {expected} times but has {mine} held slices"),
            );
            let blocked = waits.iter().filter(|e| e["pid"] == *pid).count();
            run.check(
                blocked == expected,
                &format!("{name} (pid {pid}): {blocked} sem_wait slices for {expected} entries"),
            );
        }
        let children = names.values().filter(|n| n.starts_with('P')).count();
        run.check(
            children == processes as usize,
            "a named track for every competing process",
        );
        run.check(
            held.len() == processes as usize * 2,
            "two held slices per process",
        );

        // The slices themselves never show more holders at once than permits: a slice ends
        // before its sem_post and the next one starts after the sem_wait that post ends.
        let mut edges: Vec<(f64, i64)> = held
            .iter()
            .flat_map(|e| {
                let (a, b) = span(e);
                [(a, 1), (b, -1)]
            })
            .collect();
        // At equal times a leave comes before an enter.
        edges.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        let (mut now, mut most) = (0, 0);
        for (_, d) in edges {
            now += d;
            most = most.max(now);
        }
        run.check(
            most <= i64::from(permits),
            &format!("{most} held slices overlap, permits {permits}"),
        );
    }
}

#[test]
fn compare_trace_has_each_mechanism_and_its_phases_on_reader_and_writer_tracks() {
    let file = TempPath::new("compare");
    let run = ipc(
        &format!("compare --messages 50 --rounds 5 --trace {}", file.arg()),
        SEEDS[2],
    );
    run.ok_summary_as::<CompareSummary>();
    let trace = Trace::load(&file.0, &run);
    trace.check_pids_match(&run);
    let names = trace.process_names();
    let parent = run.pid as u64;
    let phases_of = |pid: u64| -> Vec<(String, (f64, f64))> {
        let mut v: Vec<(String, (f64, f64))> = trace
            .slices(Some("phase"))
            .into_iter()
            .filter(|e| e["pid"] == pid)
            .map(|e| (e["name"].as_str().unwrap_or("").to_string(), span(e)))
            .collect();
        v.sort_by(|a, b| a.1 .0.total_cmp(&b.1 .0));
        v
    };

    let mut rows: Vec<(String, (f64, f64))> = trace
        .slices(Some("mechanism"))
        .into_iter()
        .map(|e| {
            run.check(e["pid"] == parent, "mechanism slices are the reader's");
            (e["name"].as_str().unwrap_or("").to_string(), span(e))
        })
        .collect();
    rows.sort_by(|a, b| a.1 .0.total_cmp(&b.1 .0));
    let row_names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    run.check(row_names == ALL_NAMES, "one slice per mechanism, in order");

    let inside = |outer: (f64, f64), inner: (f64, f64)| outer.0 <= inner.0 && inner.1 <= outer.1;
    let reader = phases_of(parent);
    run.check(reader.len() == 2 * ALL_NAMES.len(), "two phases per row");
    for (i, (row, window)) in rows.iter().enumerate() {
        // The reader's phases: round trips then stream, inside the row's slice.
        let (rt, st) = (&reader[2 * i], &reader[2 * i + 1]);
        run.check(
            rt.0 == "round trips" && st.0 == "stream" && rt.1 .1 <= st.1 .0,
            &format!("{row}: the reader's round trips, then its stream"),
        );
        run.check(
            inside(*window, rt.1) && inside(*window, st.1),
            &format!("{row}: the reader's phases lie inside the row"),
        );
        // The writer: its own named track, the same two phases, forked and reaped inside the row.
        let track = format!("writer: {row}");
        let pids: Vec<u64> = names
            .iter()
            .filter(|(_, n)| **n == track)
            .map(|(p, _)| *p)
            .collect();
        run.check(pids.len() == 1, &format!("one track named {track:?}"));
        let writer = phases_of(pids[0]);
        run.check(
            writer.len() == 2
                && writer[0].0 == "round trips"
                && writer[1].0 == "stream"
                && writer[0].1 .1 <= writer[1].1 .0,
            &format!("{track}: round trips, then stream"),
        );
        run.check(
            writer.iter().all(|w| inside(*window, w.1)),
            &format!("{track}: its phases lie inside the row"),
        );
    }
    run.check(
        names.len() == 1 + ALL_NAMES.len(),
        "the reader and one writer per row",
    );
}

#[test]
fn sockets_carry_every_line_between_exec_d_processes_and_refuse_a_wrong_key() {
    for (clients, messages, seed) in [(1, 1, SEEDS[0]), (3, 5, SEEDS[1]), (5, 40, SEEDS[4])] {
        let run = ipc(
            &format!("socket --clients {clients} --messages {messages}"),
            seed,
        );
        let s: SocketSummary = run.ok_summary_as();
        let expected = (clients + 1) * messages;
        run.check(
            s.clients == clients && s.messages == messages,
            "flags echoed",
        );
        run.check(
            s.sent == expected && s.received == expected,
            "every line of every client (TCP + Unix) received",
        );
        run.check(s.wrong_key_refused, "the wrong authkey was refused");
        run.check(s.memfd_shared, "the exec'd peer wrote into our memfd");
        // The clients are other processes (exec'd), not the server.
        let lines = run.events_named("line");
        run.check(
            lines.iter().all(|l| l["pid"] == run.pid),
            "the server printed the lines",
        );
    }
}

#[test]
fn bad_input_is_refused_with_one_line_and_nothing_spawned() {
    for (args, flag) in [
        ("compare --messages 0", "--messages"),
        ("compare --rounds 100001", "--rounds"),
        ("signals --count 0", "--count"),
        ("signals --count 1001", "--count"),
        ("semaphore --permits 0", "--permits"),
        ("semaphore --processes 17", "--processes"),
        ("socket --clients 0", "--clients"),
        ("socket --messages x", "--messages"),
        ("semaphore --trace /nonexistent-dir/ipc.json", "--trace"),
        ("compare --trace /nonexistent-dir/ipc.json", "--trace"),
        ("semaphore --trace /", "is a directory"),
    ] {
        tests::cmd("ipc", args).expect_usage_error(&[flag]);
    }
    // The peers' role is not a subcommand for people: hidden from --help.
    let help = tests::help_of("ipc", "");
    assert!(
        !help.contains("role"),
        "the hidden role shows in --help:\n{help}"
    );
}

/// SIGKILL of the parent while children (forked or exec'd) are running: they die within the
/// deadline (the harness checks), and no named object is left.
#[test]
fn a_killed_parent_leaves_no_process_and_no_name() {
    // Forked children inside the semaphore, at the notes' pace (they sleep while holding it).
    let mut r = start(
        "ipc",
        &[
            "semaphore",
            "--json",
            "--time-scale",
            "1",
            "--processes",
            "5",
        ],
    );
    r.wait_for_event("enter", Duration::from_secs(20));
    r.signal(Signal::SIGKILL);
    let run = r.finish();
    let left = objects_of(run.pid);
    run.check(left.is_empty(), &format!("named objects left: {left:?}"));

    // Exec'd socket peers in the middle of a long exchange.
    let mut r = start(
        "ipc",
        &["socket", "--json", "--clients", "3", "--messages", "100000"],
    );
    r.wait_for_event("line", Duration::from_secs(20));
    r.signal(Signal::SIGKILL);
    r.finish();

    // Ctrl-C (the whole group) and SIGTERM (the parent only) during compare's signal rows.
    for (group, sig, code) in [(true, Signal::SIGINT, 130), (false, Signal::SIGTERM, 143)] {
        let mut r = start(
            "ipc",
            &[
                "compare",
                "--json",
                "--messages",
                "200000",
                "--rounds",
                "10",
            ],
        );
        r.wait_for_event("mechanism", Duration::from_secs(30));
        if group {
            r.signal_group(sig);
        } else {
            r.signal(sig);
        }
        let run = r.finish();
        let left = objects_of(run.pid);
        run.check(left.is_empty(), &format!("named objects left: {left:?}"));
        run.check(
            run.code() == Some(code),
            &format!("exit {code} after {sig}"),
        );
        run.expect_one_error_line();
    }
}
