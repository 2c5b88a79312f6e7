//! Tests of the `pipe` demo (note 000, (1) 管道通信): the four greetings and what decides their
//! order, the wrong end of `Pipe(False)` beside Python's own error, EOF only when every write end
//! is closed (and the forgotten close, caught), PIPE_BUF atomicity, duplex rounds on both steps of
//! the connection, a pipe outliving its creator and opened through /proc, bad input and
//! interruption. Each run is checked by the harness
//! for leftover processes, and each summary is parsed into the demo's own type, so a missing or
//! renamed field fails.
//!
//! Only invariants are asserted: exactly-once delivery, per-writer order, counts that must add
//! up, `small.torn == 0` (POSIX). Arrival order across children, and whether a large write
//! tears, are the scheduler's business and never asserted.

use std::collections::BTreeMap;
use std::time::Duration;

use nix::sys::signal::Signal;
use predicates::prelude::*;
use serde::Deserialize;
use tests::{cmd, start, Run, SEEDS};

/// `greet`'s summary.
#[derive(Debug, Deserialize)]
struct GreetSummary {
    messages: Vec<String>,
    count: u64,
    expected: u64,
    eof_after_last: bool,
    children: Vec<GreetChild>,
    start_order: Vec<String>,
    arrival_order: Vec<String>,
    in_start_order: bool,
    order_decided_by: String,
    sleep_s: f64,
    slept_at_ms: Vec<f64>,
    woke_at_ms: Vec<f64>,
}

/// One child in `greet`'s summary.
#[derive(Debug, Deserialize)]
struct GreetChild {
    name: String,
    pid: i32,
    exit_code: i32,
}

/// `simplex`'s summary.
#[derive(Debug, Deserialize)]
struct SimplexSummary {
    messages: Vec<String>,
    count: u64,
    expected: u64,
    eof: bool,
    timed_out: bool,
    eof_after_closing: bool,
    forget_close: bool,
    in_order_per_writer: bool,
    wrong_end: Vec<WrongEnd>,
}

/// One wrong-end call of `simplex` (`r.send`, `w.recv` on `Pipe(False)`).
#[derive(Debug, Deserialize)]
struct WrongEnd {
    call: String,
    refused: bool,
    we_say: String,
    python_says: String,
}

/// `lifetime`'s summary.
#[derive(Debug, Deserialize)]
struct LifetimeSummary {
    creator_pid: i32,
    inode: u64,
    creator_pipes: Vec<PipeEntry>,
    found_write_end: bool,
    opened_via: String,
    same_inode: bool,
    same_uid: bool,
    alive_after_creator: bool,
    read_after_creator_exit: String,
    eof_after: bool,
    gone_after_last_close: bool,
}

/// One `pipe:[...]` entry of the creator's `/proc/PID/fd`.
#[derive(Debug, Deserialize)]
struct PipeEntry {
    fd: i32,
    link: String,
    inode: u64,
    end: String,
}

/// One phase of `atomic`.
#[derive(Debug, Deserialize)]
struct Phase {
    size: u64,
    total: u64,
    intact: u64,
    torn: u64,
    intact_pairs: u64,
    switches: u64,
    short_writes: u64,
}

/// `atomic`'s summary.
#[derive(Debug, Deserialize)]
struct AtomicSummary {
    writers: u64,
    messages: u64,
    pipe_buf: u64,
    pipe_capacity: u64,
    small: Phase,
    large: Phase,
}

/// `duplex`'s summary.
#[derive(Debug, Deserialize)]
struct DuplexSummary {
    rounds: u64,
    requested_rounds: u64,
    size: u64,
    mismatches: u64,
    child_exit_code: i32,
    connection: String,
    us_per_round: f64,
}

/// Multiset of strings, for exactly-once comparisons whatever the arrival order.
fn bag<I: IntoIterator<Item = String>>(items: I) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in items {
        *m.entry(s).or_insert(0) += 1;
    }
    m
}

/// Check a greet run: every name's greeting exactly once, counts right, every child sent its own,
/// and the order report consistent (never a particular order: that is the scheduler's).
fn check_greet(run: &Run, expected: &[&str]) {
    let s: GreetSummary = run.ok_summary_as();
    run.check(
        s.start_order.len() == expected.len()
            && s.start_order
                .iter()
                .zip(&s.children)
                .all(|(n, c)| *n == c.name),
        "start_order is the fork order, one name per child",
    );
    let mut arrived = s.arrival_order.clone();
    let mut started = s.start_order.clone();
    arrived.sort();
    started.sort();
    run.check(arrived == started, "every started child arrives once");
    run.check(
        s.in_start_order == (s.arrival_order == s.start_order),
        "in_start_order says whether arrival = start order",
    );
    run.check(
        s.arrival_order
            .iter()
            .zip(&s.messages)
            .all(|(n, m)| m.to_lowercase() == format!("hello! {}", n.to_lowercase())),
        "arrival_order names the sender of each message, in order",
    );
    run.check(
        s.slept_at_ms.len() == expected.len() && s.woke_at_ms.len() == expected.len(),
        "one sleep record per child",
    );
    run.check(
        s.slept_at_ms
            .iter()
            .zip(&s.woke_at_ms)
            .all(|(&a, &b)| a > 0.0 && b >= a + s.sleep_s * 1e3 - 0.01),
        "each child slept the scaled 3 s, after it started",
    );
    run.check(
        run.events_named("order").len() == 1 && run.events_named("why").len() == 1,
        "one order event and one explanation",
    );
    run.check(
        s.order_decided_by
            .contains("Fork order and the scheduler decide"),
        "the summary says what decides the order",
    );
    run.check(
        s.count == expected.len() as u64 && s.expected == s.count,
        "count = expected = number of names",
    );
    run.check(s.messages.len() == expected.len(), "one message per name");
    run.check(
        bag(s.messages.clone()) == bag(expected.iter().map(|e| e.to_string())),
        "every name's greeting arrives exactly once",
    );
    run.check(
        s.eof_after_last,
        "after the last greeting, EOF: nothing extra",
    );
    // The messages list is in arrival order: the same order as the parent's received events.
    let received: Vec<String> = run
        .events_named("received")
        .iter()
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        .collect();
    run.check(
        received == s.messages,
        "summary messages = received events, in order",
    );
    // Each greeting was sent by a child (not the parent), each child once.
    let sent = run.events_named("sent");
    run.check(sent.len() == expected.len(), "one send per child");
    let mut senders: Vec<i64> = sent.iter().filter_map(|e| e["pid"].as_i64()).collect();
    senders.sort_unstable();
    senders.dedup();
    run.check(senders.len() == expected.len(), "each from its own process");
    run.check(
        !senders.contains(&i64::from(run.pid)),
        "none from the parent",
    );
    run.check(s.children.len() == expected.len(), "one child per name");
    run.check(
        s.children
            .iter()
            .all(|c| c.exit_code == 0 && c.pid > 0 && c.pid != run.pid && !c.name.is_empty()),
        "every child, a process of its own, exited 0",
    );
}

#[test]
fn greet_default_is_the_notes_four_children() {
    let expected = ["hello! Tom", "hello! Zack", "hello! Abby", "hello! Sam"];
    // The default subcommand, and the named one.
    check_greet(&cmd("pipe", "--json --time-scale 0"), &expected);
    for seed in SEEDS {
        check_greet(
            &cmd(
                "pipe",
                &format!("greet --json --time-scale 0 --seed {seed}"),
            ),
            &expected,
        );
    }
}

#[test]
fn greet_prose_prints_what_python_prints() {
    let run = cmd("pipe", "--time-scale 0");
    run.expect_code(0);
    let mut assert = run.assert().success();
    for line in ["hello! Tom", "hello! Zack", "hello! Abby", "hello! Sam"] {
        // Exactly one line that is the greeting, as Python's print(fd2.recv()) prints it.
        let pattern = format!("(?m)^{line}$");
        assert = assert.stdout(predicate::str::is_match(&pattern).unwrap().count(1));
    }
    assert
        .stdout(predicate::str::contains(
            "fd1, fd2 = Pipe() -> a socketpair",
        ))
        .stdout(predicate::str::contains(
            "fd2.recv() once more: EOF, every copy of fd1 is closed",
        ))
        // Why the order is what it is, and what decides it.
        .stdout(
            predicate::str::is_match(
                "(?m)^order: started tom, zack, abby, sam; woke .+; arrived .+$",
            )
            .unwrap(),
        )
        .stdout(predicate::str::contains(
            "why: every child sleeps the same 0 s",
        ))
        .stdout(predicate::str::contains(
            "Fork order and the scheduler decide",
        ))
        .stderr(predicate::str::is_empty());
}

#[test]
fn greet_at_a_pace_reports_the_scaled_sleep_and_the_start_order() {
    let run = cmd("pipe", "--json --time-scale 0.05 greet --names c,a,b");
    let s: GreetSummary = run.ok_summary_as();
    run.check(
        s.start_order == ["c", "a", "b"],
        "the start order is the order of --names (the fork order)",
    );
    run.check(
        (s.sleep_s - 0.15).abs() < 1e-9,
        "each child sleeps 3 s x 0.05",
    );
    check_greet(&run, &["hello! C", "hello! A", "hello! B"]);
}

#[test]
fn greet_custom_names_each_greeting_exactly_once() {
    check_greet(
        &cmd("pipe", "greet --names ann --json --time-scale 0"),
        &["hello! Ann"],
    );
    check_greet(
        &cmd(
            "pipe",
            "greet --names mary-ann,o_neil,abby2x,SAM --json --time-scale 0",
        ),
        &[
            "hello! Mary-Ann",
            "hello! O_Neil",
            "hello! Abby2X",
            "hello! Sam",
        ],
    );
    // The cap: 64 children share one end of one socketpair.
    let names: Vec<String> = (0..64).map(|i| format!("kid{i}")).collect();
    let expected: Vec<String> = (0..64).map(|i| format!("hello! Kid{i}")).collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    check_greet(
        &cmd(
            "pipe",
            &format!("greet --names {} --json --time-scale 0", names.join(",")),
        ),
        &expected,
    );
}

#[test]
fn simplex_reads_until_eof_every_message_once_in_order_per_writer() {
    for (writers, messages) in [(1u32, 1u32), (3, 3), (8, 50), (64, 2)] {
        for seed in &SEEDS[..2] {
            let run = cmd(
                "pipe",
                &format!(
                    "simplex --writers {writers} --messages {messages} --seed {seed} --json --time-scale 0"
                ),
            );
            let s: SimplexSummary = run.ok_summary_as();
            run.check(s.eof, "EOF came by itself");
            run.check(
                !s.timed_out && !s.eof_after_closing,
                "no timeout was needed",
            );
            run.check(!s.forget_close, "the parent closed its write end");
            run.check(
                s.in_order_per_writer,
                "the demo saw each writer's lines in order",
            );
            let got = s.messages.clone();
            run.check(
                got.len() == (writers * messages) as usize
                    && s.count == got.len() as u64
                    && s.expected == s.count,
                "writers x messages received",
            );
            let want = (1..=writers)
                .flat_map(|w| (0..messages).map(move |j| format!("writer-{w} line {j}")));
            run.check(bag(got.clone()) == bag(want), "each message exactly once");
            for w in 1..=writers {
                let prefix = format!("writer-{w} line ");
                let order: Vec<u32> = got
                    .iter()
                    .filter_map(|m| m.strip_prefix(&prefix)?.parse().ok())
                    .collect();
                run.check(
                    order == (0..messages).collect::<Vec<_>>(),
                    "each writer's lines in the order written (a pipe is FIFO)",
                );
            }
            run.check(
                run.events_named("writer_closed").len() == writers as usize,
                "every writer closed its end",
            );
            check_wrong_end(&run, &s.wrong_end);
        }
    }
}

/// The two wrong-end calls of `simplex`: both refused, each with our error and Python's.
fn check_wrong_end(run: &Run, wrong: &[WrongEnd]) {
    run.check(wrong.len() == 2, "two wrong-end calls");
    run.check(
        wrong[0].call.starts_with("r.send(")
            && wrong[0].refused
            && wrong[0].we_say.contains("send on the read end")
            && wrong[0].python_says == "OSError: connection is read-only",
        "send on the read end refused, beside Python's read-only error",
    );
    run.check(
        wrong[1].call == "w.recv()"
            && wrong[1].refused
            && wrong[1].we_say.contains("recv on the write end")
            && wrong[1].python_says == "OSError: connection is write-only",
        "recv on the write end refused, beside Python's write-only error",
    );
}

#[test]
fn simplex_wrong_end_errors_are_pythons_own_words() {
    // What the demo prints as Python's answer must be what Python really says.
    let program = r#"
from multiprocessing import Pipe
fd1, fd2 = Pipe(False)
for call in (lambda: fd1.send("hello! Tom"), fd2.recv):
    try:
        call()
    except Exception as e:
        print(f"{type(e).__name__}: {e}")
"#;
    let py = tests::start_program(
        &tests::require_python3(),
        "python3 -c",
        &["-c", program],
        usize::MAX,
    )
    .finish();
    py.expect_code(0);
    let said: Vec<&str> = py.stdout.lines().collect();
    let run = cmd(
        "pipe",
        "simplex --writers 1 --messages 1 --json --time-scale 0",
    );
    let s: SimplexSummary = run.ok_summary_as();
    check_wrong_end(&run, &s.wrong_end);
    let ours: Vec<&str> = s.wrong_end.iter().map(|w| w.python_says.as_str()).collect();
    run.check(ours == said, "python_says is Python's own text");
    // And the prose shows both, side by side.
    cmd("pipe", "simplex --writers 1 --messages 1 --time-scale 0")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "error: send on the read end of a one-way pipe",
        ))
        .stdout(predicate::str::contains(
            "Python: OSError: connection is read-only",
        ))
        .stdout(predicate::str::contains(
            "Python: OSError: connection is write-only",
        ));
}

#[test]
fn lifetime_the_pipe_outlives_its_creator_and_is_reachable_through_proc() {
    let run = cmd("pipe", "lifetime --json");
    let s: LifetimeSummary = run.ok_summary_as();
    run.check(
        s.creator_pid > 0 && s.creator_pid != run.pid,
        "a creator child",
    );
    let mine: Vec<&PipeEntry> = s
        .creator_pipes
        .iter()
        .filter(|e| e.inode == s.inode)
        .collect();
    run.check(
        mine.len() == 2
            && mine.iter().any(|e| e.end == "read")
            && mine.iter().any(|e| e.end == "write")
            && mine.iter().all(|e| e.link == format!("pipe:[{}]", s.inode)),
        "the creator's /proc/PID/fd lists both ends of its pipe as pipe:[inode]",
    );
    let read_fd = mine.iter().find(|e| e.end == "read").map_or(-1, |e| e.fd);
    run.check(
        s.opened_via == format!("/proc/{}/fd/{read_fd}", s.creator_pid),
        "opened through the creator's read-end entry",
    );
    run.check(s.found_write_end, "the write end was found too");
    run.check(
        s.same_inode && s.same_uid,
        "the same pipe, by the same user",
    );
    run.check(
        s.alive_after_creator,
        "the pipe is still there after its creator was reaped",
    );
    run.check(
        s.read_after_creator_exit
            == format!(
                "written by the creator (pid {}) before it exited",
                s.creator_pid
            ),
        "the dead creator's message is read after its death",
    );
    run.check(s.eof_after, "then EOF: no write end is left");
    run.check(s.gone_after_last_close, "gone after the last close");
    let reaped = run.events_named("creator_reaped");
    let read = run.events_named("read");
    run.check(
        reaped.len() == 1
            && read.len() == 1
            && reaped[0]["t_ms"].as_f64() <= read[0]["t_ms"].as_f64(),
        "the message was read after the creator was reaped",
    );
    cmd("pipe", "lifetime")
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(r"/proc/\d+/fd/\d+ -> pipe:\[\d+\]  \(read end; NEW").unwrap(),
        )
        .stdout(predicate::str::contains(
            "the pipe outlived the process that made it",
        ))
        .stdout(predicate::str::contains("not the end of a process"));
}

#[test]
fn simplex_forget_close_reports_no_eof_and_ends_cleanly() {
    for writers in ["1", "3"] {
        let run = cmd(
            "pipe",
            &format!(
                "simplex --forget-close --writers {writers} --timeout-ms 100 --json --time-scale 0"
            ),
        );
        let s: SimplexSummary = run.ok_summary_as();
        run.check(s.forget_close, "the run forgot the close");
        run.check(!s.eof, "EOF did not come on its own");
        run.check(s.timed_out, "the timeout caught it");
        run.check(s.eof_after_closing, "closing the forgotten end brought EOF");
        run.check(
            s.count == s.expected && s.messages.len() as u64 == s.count,
            "every message still arrived before the wait",
        );
        run.check(
            run.events_named("eof_missing").len() == 1,
            "the demo explained it once",
        );
        run.check(
            run.stderr.is_empty(),
            "nothing on stderr: it is not an error",
        );
    }
}

#[test]
fn atomic_small_writes_never_tear_and_counts_add_up() {
    for extra in [
        "",
        "--writers 2 --messages 5 --small 16 --large 4097",
        "--writers 8 --messages 8 --small 1000 --large 100000",
    ] {
        let run = cmd("pipe", &format!("atomic {extra} --json --time-scale 0"));
        let s: AtomicSummary = run.ok_summary_as();
        run.check(s.pipe_buf >= 512, "PIPE_BUF is at least POSIX's 512");
        run.check(
            s.pipe_capacity >= s.pipe_buf,
            "the pipe holds at least PIPE_BUF",
        );
        for phase in [&s.small, &s.large] {
            run.check(
                phase.total == s.writers * s.messages,
                "total = writers x messages",
            );
            run.check(
                phase.intact + phase.torn == phase.total,
                "intact + torn = total",
            );
            run.check(
                phase.switches <= phase.intact_pairs
                    && phase.intact_pairs <= phase.intact.saturating_sub(1),
                "switches counted only between neighbouring intact records",
            );
        }
        run.check(
            s.small.intact_pairs == s.small.total - 1,
            "nothing torn: every neighbouring pair is intact",
        );
        run.check(s.small.torn == 0, "small.torn is always 0 (PIPE_BUF)");
        run.check(
            s.small.short_writes == 0,
            "a write of at most PIPE_BUF is never split",
        );
        run.check(
            s.small.size <= s.pipe_buf,
            "the small size is at most PIPE_BUF",
        );
        run.check(
            s.large.size > s.pipe_buf,
            "the large size is above PIPE_BUF",
        );
    }
}

#[test]
fn atomic_prose_says_where_switches_are_counted() {
    cmd("pipe", "atomic --writers 2 --messages 4 --time-scale 0")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "small: 2 writers x 4 records of 4096 bytes: 8 intact, 0 torn; of the 7 pair(s) of neighbouring intact records,",
        ))
        .stdout(predicate::str::contains("switched writers").not());
}

#[test]
fn duplex_rounds_both_ways_on_both_steps() {
    for connection in ["plain", "tuned"] {
        for (rounds, size) in [(1u64, 16u64), (5, 0), (200, 16), (20, 100_000)] {
            let run = cmd(
                "pipe",
                &format!(
                    "duplex --rounds {rounds} --size {size} --connection {connection} --json --time-scale 0"
                ),
            );
            let s: DuplexSummary = run.ok_summary_as();
            run.check(
                s.rounds == rounds && s.requested_rounds == rounds && s.size == size,
                "every round completed, at the size asked",
            );
            run.check(s.connection == connection, "the step asked for");
            run.check(s.mismatches == 0, "every reply was the message reversed");
            run.check(s.child_exit_code == 0, "the child exited 0");
            run.check(s.us_per_round > 0.0, "a round takes some time");
            let eof = run.events_named("child_saw_eof");
            run.check(
                eof.len() == 1 && eof[0]["replies"] == rounds,
                "the child replied n times, then saw EOF when the parent closed",
            );
        }
    }
}

#[test]
fn duplex_prose_shows_the_rounds_and_the_closing_eof() {
    cmd("pipe", "duplex --rounds 3 --time-scale 0")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "round 3: parent -> child 16 bytes, child -> parent the same reversed: ok",
        ))
        .stdout(predicate::str::contains(
            "recv -> EOF after 3 replies: the parent closed its end",
        ));
}

#[test]
fn bad_input_is_one_error_line_and_exit_2() {
    let sixty_five: Vec<String> = (0..65).map(|i| format!("n{i}")).collect();
    let sixty_five = sixty_five.join(",");
    let cases: &[(&[&str], &[&str])] = &[
        (&["greet", "--names", ""], &["--names"]),
        (&["greet", "--names", " "], &["--names"]),
        (&["greet", "--names", &sixty_five], &["--names", "65 names"]),
        (
            &["greet", "--names", "tom,,sam"],
            &["--names", "tom,,sam", "empty"],
        ),
        (&["greet", "--names", "tom,"], &["--names", "empty"]),
        (&["greet", "--names", "a b"], &["--names", "a b"]),
        (&["greet", "--names"], &["--names"]),
        (&["simplex", "--writers", "0"], &["--writers", "0"]),
        (&["simplex", "--writers", "65"], &["--writers", "65"]),
        (&["simplex", "--writers", "-1"], &["--writers", "-1"]),
        (&["simplex", "--writers", "x"], &["--writers", "x"]),
        (&["simplex", "--messages", "0"], &["--messages", "0"]),
        (&["simplex", "--timeout-ms", "-5"], &["--timeout-ms", "-5"]),
        (
            &["simplex", "--timeout-ms", "1.5"],
            &["--timeout-ms", "1.5"],
        ),
        (&["atomic", "--writers", "1"], &["--writers", "1"]),
        (&["atomic", "--small", "4097"], &["--small", "4097"]),
        (&["atomic", "--large", "4096"], &["--large", "4096"]),
        (&["atomic", "--large", "-4096"], &["--large", "-4096"]),
        (
            &[
                "atomic",
                "--writers",
                "16",
                "--messages",
                "1000",
                "--large",
                "4194304",
            ],
            &["--large", "4194304"],
        ),
        (&["greet", "--names", "tom,tom"], &["--names", "tom,tom"]),
        (
            &["greet", "--names", "tom,zack,Tom"],
            &["--names", "tom,zack,Tom"],
        ),
        (&["duplex", "--rounds", "0"], &["--rounds", "0"]),
        (&["duplex", "--rounds", "-3"], &["--rounds", "-3"]),
        (&["duplex", "--rounds", "1e3"], &["--rounds", "1e3"]),
        (&["duplex", "--size", "1048577"], &["--size", "1048577"]),
        (
            &["duplex", "--connection", "fast"],
            &["--connection", "fast"],
        ),
        (
            &["duplex", "--rounds", "100000", "--size", "1048576"],
            &["--size", "1048576", "--rounds"],
        ),
        (&["--time-scale", "-1"], &["--time-scale", "-1"]),
        (&["bogus"], &["bogus"]),
        (&["lifetime", "--writers", "2"], &["--writers"]),
    ];
    for (args, mentions) in cases {
        tests::run("pipe", args).expect_usage_error(mentions);
    }
}

/// greet at a real pace, stopped while the children sleep (their 3 s, scaled up so the signal
/// always lands inside it).
fn greet_mid_run() -> tests::Running {
    let mut r = start("pipe", &["--json", "--time-scale", "10", "greet"]);
    r.wait_for_event("child_ready", Duration::from_secs(20));
    r
}

#[test]
fn ctrl_c_during_greet_stops_everything_with_one_message() {
    let r = greet_mid_run();
    r.signal_group(Signal::SIGINT);
    // finish() fails if any process of the run is left, alive or zombie.
    let run = r.finish();
    run.expect_code(130);
    run.expect_one_error_line();
    run.check(
        run.events_named("received").is_empty(),
        "stopped before any greeting (the children were asleep)",
    );
}

#[test]
fn sigterm_and_sigkill_to_the_parent_leave_nothing() {
    let r = greet_mid_run();
    r.signal(Signal::SIGTERM);
    let run = r.finish();
    run.expect_code(143);
    run.expect_one_error_line();

    let r = greet_mid_run();
    r.signal(Signal::SIGKILL);
    // The children die by their parent-death signal; finish() gives them 2 s.
    let run = r.finish();
    run.check(run.code().is_none(), "the parent was killed");
}
