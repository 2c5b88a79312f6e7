//! What CONTRIBUTING.md promises of *every* binary, checked on every binary:
//! bad input of every kind on every numeric flag of every subcommand, a closed stdout, and
//! interruptions (Ctrl-C to the group; SIGINT, SIGTERM, SIGKILL to the parent) at seeded random
//! moments. The flags are read from each binary's own `--help`, so a flag added later is swept
//! without anyone editing this file.

use std::time::Duration;

use nix::sys::signal::Signal;
use tests::{help_of, numeric_flags, start, start_head, subcommands, DEMOS};

/// Values no numeric flag may accept.
const BAD_NUMBERS: [&str; 6] = ["x", "-1", "nan", "inf", "1e30", "99999999999999999999999"];

#[test]
fn every_numeric_flag_rejects_bad_values_with_one_line_and_exit_2() {
    for demo in DEMOS {
        let mut checked = 0;
        for sub in subcommands(demo) {
            for flag in numeric_flags(&help_of(demo, &sub)) {
                for bad in BAD_NUMBERS {
                    let run = tests::run(demo, &[&sub, &flag, bad]);
                    run.expect_usage_error(&[&flag]);
                    checked += 1;
                }
                // A flag given without its value.
                tests::run(demo, &[&sub, &flag]).expect_usage_error(&[&flag]);
            }
        }
        // Every demo has counts or durations to sweep; none found means --help was misread.
        assert!(checked > 0, "{demo}: no numeric flag found in --help");
    }
}

#[test]
fn every_binary_rejects_unknown_flags_subcommands_and_bad_common_flags() {
    for demo in DEMOS {
        let cases: &[(&[&str], &str)] = &[
            (&["--no-such-flag"], "--no-such-flag"),
            (&["no-such-subcommand"], "no-such-subcommand"),
            (&["--time-scale", "nan"], "--time-scale"),
            (&["--time-scale", "inf"], "--time-scale"),
            (&["--time-scale", "-0.5"], "--time-scale"),
            (&["--time-scale", "1e30"], "--time-scale"),
            (&["--time-scale"], "--time-scale"),
            (&["--seed", "-1"], "--seed"),
            (&["--seed", "1.5"], "--seed"),
            (&["--json=yes"], "--json"),
        ];
        for (args, flag) in cases {
            tests::run(demo, args).expect_usage_error(&[flag]);
        }
    }
}

#[test]
fn help_lists_subcommands_and_exits_0() {
    for demo in DEMOS {
        let subs = subcommands(demo);
        assert!(!subs.is_empty(), "{demo} --help lists no subcommand");
    }
}

#[test]
fn a_closed_stdout_ends_every_demo_quietly_and_the_same_way() {
    for demo in DEMOS {
        let mut codes = Vec::new();
        for json in [true, false] {
            let mut args = vec!["--time-scale", "0.02"];
            if json {
                args.push("--json");
            }
            let run = start_head(demo, &args, 1).finish();
            run.check(
                !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
                "no panic text from any process",
            );
            codes.push(run.code());
        }
        assert!(
            codes.iter().all(|c| *c == Some(0)),
            "{demo}: a closed stdout must end the demo with status 0 every time, got {codes:?}"
        );
    }
}

/// A small deterministic generator (xorshift) so the "random moments" repeat.
struct Moments(u64);
impl Moments {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn interruptions_at_random_moments_leave_nothing_behind() {
    let mut m = Moments(0x5EED_2026);
    for demo in DEMOS {
        for (how, sig) in [
            ("group", Signal::SIGINT),
            ("parent", Signal::SIGINT),
            ("parent", Signal::SIGTERM),
            ("parent", Signal::SIGKILL),
        ] {
            // The default subcommand at the notes' pace, interrupted after 1 to 3 lines.
            let mut r = start(demo, &["--json"]);
            let lines = 1 + m.next(3);
            for _ in 0..lines {
                r.wait_for(Duration::from_secs(20), |_| true);
            }
            if how == "group" {
                r.signal_group(sig);
            } else {
                r.signal(sig);
            }
            // finish(): children must be gone (within 2 s for SIGKILL), else it panics.
            let run = r.finish();
            let objects = tests::named_objects_of(run.pid);
            run.check(
                objects.is_empty(),
                &format!("kernel objects left: {objects:?}"),
            );
            match sig {
                Signal::SIGKILL => {}
                _ => {
                    let expected = if sig == Signal::SIGINT { 130 } else { 143 };
                    // The demo may have finished between the line and the signal: then 0.
                    run.check(
                        run.code() == Some(expected) || run.code() == Some(0),
                        &format!("{demo} after {how} {sig}: exit {expected}"),
                    );
                    if run.code() == Some(expected) {
                        run.expect_one_error_line();
                    } else {
                        // Exit 0 is only right for a run that really finished first: then it
                        // printed its whole output, summary last, and nothing on stderr.
                        run.summary();
                        run.check(run.stderr.is_empty(), "a finished run is silent on stderr");
                    }
                }
            }
        }
    }
}
