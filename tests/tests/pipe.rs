//! Tests of the `pipe` demo (note 000, (1) 管道通信): the four greetings, EOF only when every
//! write end is closed (and the forgotten close, caught), PIPE_BUF atomicity, duplex rounds on
//! both steps of the connection, bad input and interruption. Each run is checked by the harness
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
}

/// One phase of `atomic`.
#[derive(Debug, Deserialize)]
struct Phase {
    size: u64,
    total: u64,
    intact: u64,
    torn: u64,
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

/// Check a greet run: every name's greeting exactly once, counts right, every child sent its own.
fn check_greet(run: &Run, expected: &[&str]) {
    let s: GreetSummary = run.ok_summary_as();
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
        .stderr(predicate::str::is_empty());
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
            let got = s.messages;
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
        }
    }
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
                phase.switches < phase.total,
                "fewer switches between writers than records",
            );
        }
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
