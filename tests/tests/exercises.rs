//! Tests of the `exercises` checker: every exercise fails its check as shipped and passes with its
//! solution (rustlings' `dev check`), and an answer that deadlocks, abandons a child or leaves a
//! kernel object is reported as failed within the timeout, with nothing left behind.
//!
//! The checker is pointed at other folders with `--source DIR` (the shipped templates, the
//! solutions, a broken copy under `target/`): the files a student edits, `exercises/exercises/`,
//! and the progress file are never read or written here, which one test checks.
//!
//! Cost: each check compiles its exercise (about a second, dependencies shared with the
//! workspace build), and a shipped exercise that deadlocks costs its whole timeout. So
//! `cargo test` runs a representative subset (one exercise per kind of check: the checkpoint,
//! the wake-up count, a forced race, an ordering) and the broken answers; the sweep over all
//! exercises is `#[ignore]`d here and run by `.ci/run` (`cargo test -p tests --test exercises --
//! --ignored`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use tests::{cmd, Run};

/// The last line of a `check` run.
#[derive(Debug, Deserialize)]
struct CheckSummary {
    checked: usize,
    passed: usize,
    failed: Vec<String>,
    total: usize,
}

/// One `verdict` line.
#[derive(Debug, Deserialize)]
struct Verdict {
    exercise: String,
    solved: bool,
    #[serde(default)]
    expected: Option<String>,
    #[serde(default)]
    happened: Option<String>,
    #[serde(default)]
    hint: Option<String>,
    #[serde(default)]
    timed_out: bool,
    #[serde(default)]
    left_behind: Vec<i32>,
    #[serde(default)]
    leaked_names: Vec<String>,
    elapsed_ms: u64,
}

/// Every exercise the checker lists (`list --json`), so a new one is swept without editing this.
fn all_names() -> Vec<String> {
    let run = cmd(
        "exercises",
        &format!("list --json --source {}", dir("solutions")),
    );
    run.expect_code(0);
    run.events_named("exercise")
        .iter()
        .map(|e| e["exercise"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn exercises_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("exercises")
}

fn dir(which: &str) -> String {
    exercises_root().join(which).display().to_string()
}

/// `check NAMES --source DIR --json --timeout SECS`.
fn check(source: &str, names: &[&str], timeout_s: u32) -> (Run, Vec<Verdict>, CheckSummary) {
    let what = if names.is_empty() {
        "--all".to_string()
    } else {
        names.join(" ")
    };
    let run = cmd(
        "exercises",
        &format!("check {what} --source {source} --json --timeout {timeout_s}"),
    );
    let verdicts = run
        .events_named("verdict")
        .into_iter()
        .map(|v| {
            serde_json::from_value::<Verdict>(v.clone())
                .unwrap_or_else(|e| panic!("verdict {v} does not parse: {e}\n{}", run.report()))
        })
        .collect();
    let summary = run.summary_as::<CheckSummary>();
    (run, verdicts, summary)
}

/// Shipped: every verdict says "not solved", in the student's terms, and the checker exits 1.
fn assert_all_fail(run: &Run, verdicts: &[Verdict], summary: &CheckSummary, n: usize) {
    run.expect_code(1);
    run.check(
        summary.checked == n && summary.passed == 0 && summary.failed.len() == n,
        "every shipped exercise must fail its check",
    );
    for v in verdicts {
        let said = |s: &Option<String>| s.as_deref().is_some_and(|t| !t.trim().is_empty());
        run.check(
            !v.solved && said(&v.expected) && said(&v.happened) && said(&v.hint),
            &format!(
                "{}: a failed verdict must say what was expected, what happened and the hint",
                v.exercise
            ),
        );
    }
}

fn assert_all_pass(run: &Run, summary: &CheckSummary, n: usize) {
    run.expect_code(0);
    run.check(
        summary.checked == n && summary.passed == n && summary.failed.is_empty(),
        "every solution must pass its check",
    );
}

/// The subset `cargo test` runs: one exercise per kind of check.
const SUBSET: &[&str] = &[
    "process_zombie",     // the checkpoint: children and zombies
    "queue_blocking_get", // wake-ups while waiting
    "shm_lost_update",    // a forced race, run several times
    "pool_map_order",     // output order
];

#[test]
fn subset_fails_as_shipped() {
    let (run, verdicts, summary) = check(&dir("templates"), SUBSET, 3);
    assert_all_fail(&run, &verdicts, &summary, SUBSET.len());
}

#[test]
fn subset_passes_with_solutions() {
    let (run, _, summary) = check(&dir("solutions"), SUBSET, 10);
    assert_all_pass(&run, &summary, SUBSET.len());
}

#[test]
#[ignore = "the full sweep takes about a minute: .ci/run runs it"]
fn every_exercise_fails_as_shipped() {
    let n = all_names().len();
    assert!(n >= 16, "at least two exercises per member, found {n}");
    let (run, verdicts, summary) = check(&dir("templates"), &[], 3);
    assert_all_fail(&run, &verdicts, &summary, n);
    assert_eq!(summary.total, n);
}

#[test]
#[ignore = "the full sweep takes about a minute: .ci/run runs it"]
fn every_exercise_passes_with_its_solution() {
    let n = all_names().len();
    let (run, _, summary) = check(&dir("solutions"), &[], 10);
    assert_all_pass(&run, &summary, n);
}

#[test]
fn every_member_has_at_least_two_exercises() {
    let run = cmd(
        "exercises",
        &format!("list --json --source {}", dir("solutions")),
    );
    for member in [
        "process",
        "pool",
        "pipe",
        "queue",
        "shared-mem",
        "threads",
        "prodcons",
        "ipc",
    ] {
        let n = run
            .events_named("exercise")
            .iter()
            .filter(|e| e["member"] == member)
            .count();
        run.check(n >= 2, &format!("{member} has {n} exercises, wants 2"));
    }
}

/// A deadlock (the shipped `pipe_full`: the parent joins a child blocked on a full pipe) is a
/// failure reported within the timeout, not a hang; both processes are gone afterwards (the
/// harness fails the test on any leftover of the checker's run, whatever its group).
#[test]
fn a_deadlocked_answer_fails_within_the_timeout_and_leaves_nothing() {
    let (run, verdicts, _) = check(&dir("templates"), &["pipe_full"], 2);
    run.expect_code(1);
    let v = &verdicts[0];
    run.check(
        !v.solved && v.timed_out,
        "a deadlock is reported as a timeout",
    );
    // The verdict comes at the timeout, plus the time to kill and clean up (not a second run).
    run.check(
        v.elapsed_ms < 2_000 + 3_000,
        "the deadlock verdict must come soon after the timeout",
    );
}

/// An answer that returns while its child still runs (the shipped `process_orphan`): the orphan
/// is named in the verdict, and killed and reaped by the checker (its pid is gone).
#[test]
fn an_abandoned_child_is_reported_killed_and_reaped() {
    let (run, verdicts, _) = check(&dir("templates"), &["process_orphan"], 3);
    run.expect_code(1);
    let v = &verdicts[0];
    run.check(
        !v.solved && !v.left_behind.is_empty(),
        "the orphan must be named",
    );
    for pid in &v.left_behind {
        run.check(
            !Path::new(&format!("/proc/{pid}")).exists(),
            &format!("leftover {pid} still exists after the check"),
        );
    }
}

/// A copy of a solution whose queue name is never unlinked: the name is reported, and removed.
#[test]
fn a_leaked_queue_name_is_reported_and_removed() {
    let case = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("exercises-tests")
        .join("leaky");
    std::fs::create_dir_all(&case).unwrap();
    let solution = std::fs::read_to_string(exercises_root().join("solutions/queue_sentinel.rs"))
        .expect("read the solution");
    let unlink = "    mq_unlink(name.as_c_str())?;\n";
    assert!(solution.contains(unlink), "the solution unlinks its name");
    let leaky = solution
        .replace(unlink, "")
        .replace(", mq_unlink,", ",")
        .replace("mq_unlink, ", "");
    std::fs::write(case.join("queue_sentinel.rs"), leaky).unwrap();
    let (run, verdicts, _) = check(
        &case.canonicalize().unwrap().display().to_string(),
        &["queue_sentinel"],
        5,
    );
    run.expect_code(1);
    let v = &verdicts[0];
    run.check(
        !v.solved && !v.leaked_names.is_empty(),
        "the queue name must be reported",
    );
    for leaked in &v.leaked_names {
        let name = leaked
            .rsplit('/')
            .next()
            .map(|n| format!("/{n}"))
            .unwrap_or_default();
        let cname = std::ffi::CString::new(name.clone()).unwrap();
        let still = nix::mqueue::mq_open(
            cname.as_c_str(),
            nix::mqueue::MQ_OFlag::O_RDONLY,
            nix::sys::stat::Mode::empty(),
            None,
        );
        run.check(
            still.is_err(),
            &format!("{name} still exists after the check"),
        );
    }
}

/// Checking other folders never touches the student's files or progress.
#[test]
fn checking_another_folder_leaves_the_students_files_alone() {
    let student = exercises_root().join("exercises");
    let progress = exercises_root().join(".progress");
    let snapshot = |p: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(p)
            .map(|d| {
                d.flatten()
                    .map(|e| (e.path(), std::fs::read(e.path()).unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    };
    let before = (snapshot(&student), std::fs::read(&progress).ok());
    let (run, _, _) = check(&dir("solutions"), &["pool_map_order"], 10);
    run.expect_code(0);
    let after = (snapshot(&student), std::fs::read(&progress).ok());
    assert!(
        before == after,
        "a --source check changed exercises/exercises/ or .progress"
    );
}

#[test]
fn hint_and_bad_names() {
    let run = cmd("exercises", "hint pipe_eof --json");
    let hint: Value = run.events_named("hint")[0]["hint"].clone();
    run.expect_code(0).check(
        hint.as_str().is_some_and(|h| h.contains("drop")),
        "hint text",
    );
    let zh = cmd("exercises", "hint pipe_eof --lang zh --json");
    zh.expect_code(0).check(
        zh.events_named("hint")[0]["hint"]
            .as_str()
            .is_some_and(|h| h.contains("写端")),
        "Chinese hint",
    );
    cmd("exercises", "hint no_such_exercise").expect_usage_error(&["no_such_exercise"]);
    cmd("exercises", "check --timeout 0 pipe_eof").expect_usage_error(&["--timeout"]);
}
