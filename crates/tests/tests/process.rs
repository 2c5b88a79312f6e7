//! Tests of the `process` demo (note 004: the Process lifecycle).

use tests::run_json;

#[test]
fn lifecycle_reports_every_child_with_its_exit_code() {
    for n in [1u32, 3, 8] {
        let run = run_json("process", &["lifecycle", "--children", &n.to_string()]);
        let s = run.ok_summary();
        let children = s["children"].as_array().expect("children list");
        run.check(children.len() == n as usize, "one entry per child");
        for (i, c) in children.iter().enumerate() {
            let expected = if i + 1 == n as usize && n > 1 { 3 } else { 0 };
            run.check(c["exit_code"] == expected, "exit code as the target chose");
            run.check(c["pid"].as_i64().unwrap_or(0) > 0, "a pid");
        }
        // Every child printed its own pid and its parent's: the parent's.
        let args = run.events_named("child_args");
        run.check(args.len() == n as usize + 1, "each child (and the preparer) printed");
        for a in &args {
            run.check(a["pid"] != run.pid, "printed by the child itself");
        }
        for a in args.iter().filter(|a| a["ppid"].is_i64()) {
            run.check(a["ppid"] == run.pid, "ppid is the demo");
        }
        run.check(s["blocking_join"]["exit_code"] == 0, "the preparer finished");
    }
}

#[test]
fn fork_copy_child_change_never_reaches_parent() {
    let run = run_json("process", &["fork-copy"]);
    let s = run.ok_summary();
    run.check(s["parent_value"] == 100 && s["child_value"] == 999, "copy, not share");
}

#[test]
fn bad_input_is_one_error_line_and_exit_2() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["lifecycle", "--children", "0"], &["--children", "0"]),
        (&["lifecycle", "--children", "65"], &["--children", "65"]),
        (&["lifecycle", "--children", "x"], &["--children", "x"]),
        (&["--time-scale", "nan"], &["--time-scale", "nan"]),
        (&["--time-scale", "-1"], &["--time-scale", "-1"]),
        (&["--time-scale", "inf"], &["--time-scale", "inf"]),
        (&["--seed", "-3"], &["--seed"]),
        (&["bogus"], &["bogus"]),
        (&["--bogus"], &["--bogus"]),
    ];
    for (args, mentions) in cases {
        tests::run("process", args).expect_usage_error(mentions);
    }
}
