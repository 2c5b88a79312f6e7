//! Tests of the `pipe` demo (note 000, (1) 管道通信): the four greetings, EOF only when every
//! write end is closed (and the forgotten close, caught), PIPE_BUF atomicity, duplex rounds, bad
//! input and interruption. Each run is checked by the harness for leftover processes.
//!
//! Only invariants are asserted: exactly-once delivery, per-writer order, counts that must add
//! up, `small.torn == 0` (POSIX). Arrival order across children, and whether a large write
//! tears, are the scheduler's business and never asserted.

use std::collections::BTreeMap;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;
use tests::{run_json, start, Run, SEEDS};

fn strings(run: &Run, v: &Value, what: &str) -> Vec<String> {
    let list = v.as_array();
    run.check(list.is_some(), &format!("{what} should be a list, is {v}"));
    list.map(|a| {
        a.iter()
            .map(|x| x.as_str().unwrap_or("<not a string>").to_string())
            .collect()
    })
    .unwrap_or_default()
}

fn u(run: &Run, v: &Value, what: &str) -> u64 {
    let x = v.as_u64();
    run.check(x.is_some(), &format!("{what} should be a count, is {v}"));
    x.unwrap_or(0)
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
    let s = run.ok_summary();
    let messages = strings(run, &s["messages"], "messages");
    run.check(
        u(run, &s["count"], "count") == expected.len() as u64,
        "count = number of names",
    );
    run.check(messages.len() == expected.len(), "one message per name");
    run.check(
        bag(messages.clone()) == bag(expected.iter().map(|e| e.to_string())),
        "every name's greeting arrives exactly once",
    );
    run.check(
        s["eof_after_last"] == true,
        "after the last greeting, EOF: nothing extra",
    );
    // The messages list is in arrival order: the same order as the parent's received events.
    let received: Vec<String> = run
        .events_named("received")
        .iter()
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        .collect();
    run.check(
        received == messages,
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
    let children = s["children"].as_array().cloned().unwrap_or_default();
    run.check(children.len() == expected.len(), "one child per name");
    run.check(
        children.iter().all(|c| c["exit_code"] == 0),
        "every child exited 0",
    );
}

#[test]
fn greet_default_is_the_notes_four_children() {
    let expected = ["hello! Tom", "hello! Zack", "hello! Abby", "hello! Sam"];
    // The default subcommand, and the named one.
    check_greet(&run_json("pipe", &[]), &expected);
    for seed in SEEDS {
        check_greet(
            &run_json("pipe", &["greet", "--seed", &seed.to_string()]),
            &expected,
        );
    }
}

#[test]
fn greet_prose_prints_what_python_prints() {
    let run = tests::run("pipe", &["--time-scale", "0"]);
    run.expect_code(0);
    for line in ["hello! Tom", "hello! Zack", "hello! Abby", "hello! Sam"] {
        run.check(
            run.stdout.lines().filter(|l| *l == line).count() == 1,
            &format!("exactly one line {line:?}"),
        );
    }
}

#[test]
fn greet_custom_names_each_greeting_exactly_once() {
    check_greet(
        &run_json("pipe", &["greet", "--names", "ann"]),
        &["hello! Ann"],
    );
    check_greet(
        &run_json("pipe", &["greet", "--names", "mary-ann,o_neil,abby2x,SAM"]),
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
        &run_json("pipe", &["greet", "--names", &names.join(",")]),
        &expected,
    );
}

#[test]
fn simplex_reads_until_eof_every_message_once_in_order_per_writer() {
    for (writers, messages) in [(1u32, 1u32), (3, 3), (8, 50), (64, 2)] {
        for seed in &SEEDS[..2] {
            let run = run_json(
                "pipe",
                &[
                    "simplex",
                    "--writers",
                    &writers.to_string(),
                    "--messages",
                    &messages.to_string(),
                    "--seed",
                    &seed.to_string(),
                ],
            );
            let s = run.ok_summary();
            run.check(s["eof"] == true, "EOF came by itself");
            run.check(s["timed_out"] == false, "no timeout was needed");
            let got = strings(&run, &s["messages"], "messages");
            run.check(
                got.len() == (writers * messages) as usize,
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
        let run = run_json(
            "pipe",
            &[
                "simplex",
                "--forget-close",
                "--writers",
                writers,
                "--timeout-ms",
                "100",
            ],
        );
        let s = run.ok_summary();
        run.check(s["eof"] == false, "EOF did not come on its own");
        run.check(s["timed_out"] == true, "the timeout caught it");
        run.check(
            s["eof_after_closing"] == true,
            "closing the forgotten end brought EOF",
        );
        run.check(
            s["count"] == s["expected"],
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
    let cases: &[&[&str]] = &[
        &[],
        &[
            "--writers",
            "2",
            "--messages",
            "5",
            "--small",
            "16",
            "--large",
            "4097",
        ],
        &[
            "--writers",
            "8",
            "--messages",
            "8",
            "--small",
            "1000",
            "--large",
            "100000",
        ],
    ];
    for extra in cases {
        let mut args = vec!["atomic"];
        args.extend_from_slice(extra);
        let run = run_json("pipe", &args);
        let s = run.ok_summary();
        let writers = u(&run, &s["writers"], "writers");
        let messages = u(&run, &s["messages"], "messages");
        run.check(
            u(&run, &s["pipe_buf"], "pipe_buf") >= 512,
            "PIPE_BUF is at least POSIX's 512",
        );
        for which in ["small", "large"] {
            let c = &s[which];
            let total = u(&run, &c["total"], "total");
            run.check(total == writers * messages, "total = writers x messages");
            run.check(
                u(&run, &c["intact"], "intact") + u(&run, &c["torn"], "torn") == total,
                "intact + torn = total",
            );
        }
        run.check(s["small"]["torn"] == 0, "small.torn is always 0 (PIPE_BUF)");
        run.check(
            u(&run, &s["small"]["size"], "small.size") <= u(&run, &s["pipe_buf"], "pipe_buf"),
            "the small size is at most PIPE_BUF",
        );
        run.check(
            u(&run, &s["large"]["size"], "large.size") > u(&run, &s["pipe_buf"], "pipe_buf"),
            "the large size is above PIPE_BUF",
        );
    }
}

#[test]
fn duplex_rounds_both_ways() {
    for (rounds, size) in [("1", "16"), ("5", "0"), ("200", "16"), ("20", "100000")] {
        let run = run_json("pipe", &["duplex", "--rounds", rounds, "--size", size]);
        let s = run.ok_summary();
        let n: u64 = rounds.parse().unwrap_or(0);
        run.check(
            u(&run, &s["rounds"], "rounds") == n,
            "every round completed",
        );
        run.check(s["mismatches"] == 0, "every reply was the message reversed");
        run.check(s["child_exit_code"] == 0, "the child exited 0");
        let eof = run.events_named("child_saw_eof");
        run.check(
            eof.len() == 1 && eof[0]["replies"] == n,
            "the child replied n times, then saw EOF when the parent closed",
        );
    }
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
