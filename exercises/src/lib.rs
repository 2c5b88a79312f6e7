//! `exercises`: checked classroom exercises, one OS lesson each, for every member of the
//! workspace (notes: all of them; see the table in `docs/exercises.en.md`).
//!
//! The loop, as rustlings has it: open `exercises/exercises/NAME.rs`, read the header and the
//! `TODO`, edit, then
//!
//! ```text
//! cargo run -p exercises                      # the list, with your progress
//! cargo run -p exercises -- check NAME        # exit 0: solved; 1: not yet, and why
//! cargo run -p exercises -- hint NAME
//! cargo run -p exercises -- run NAME          # just run it in this terminal, no verdict
//! cargo run -p exercises -- watch             # re-check every time you save
//! cargo run -p exercises -- reset NAME        # back to the file as shipped
//! ```
//!
//! What it checks that rustlings does not, because these are OS lessons:
//! - each attempt runs in its own process group under a timeout that kills the whole group: a
//!   deadlock is reported as one ("still running after 4 s"), the checker never hangs;
//! - nothing may be left: a child still running or a zombie when `main` returns, a zombie at the
//!   program's checkpoint, a descriptor still open, a `/dev/mqueue` or `/dev/shm` name. The
//!   checker is a child subreaper, so what the attempt abandons comes back to it to be named,
//!   killed and reaped;
//! - a waiting process must wait in the kernel: the checker counts its wake-ups and CPU time
//!   while nothing can arrive, so a polling loop fails even when its output is right;
//! - a race is forced by the program's own pause inside the critical section (as the notes'
//!   `time.sleep` does) and run several times: one lucky schedule does not pass.
//!
//! How an exercise is compiled without breaking the workspace build: see [`build`]. How an
//! attempt is run: see [`sandbox`]. The exercises, hints and checks: [`catalog`].
//!
//! Files: `exercises/templates/` is each exercise as shipped (never edited: `reset` copies from
//! it), `exercises/exercises/` the student's copies (created on first use, ignored by git),
//! `exercises/solutions/` one answer each, `exercises/.progress` the names solved so far.
//! `--source DIR` checks the files of another folder (the templates, the solutions, a copy),
//! leaving the student's files and progress alone: that is how the tests prove that every
//! exercise fails as shipped and passes with its solution.

pub mod build;
pub mod catalog;
pub mod judge;
pub mod sandbox;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use common::json;
use common::out::event;

use crate::build::Built;
use crate::catalog::{Exercise, ALL};

/// Checked exercises: edit exercises/exercises/NAME.rs, then `check NAME`.
#[derive(Parser, Debug)]
#[command(name = "exercises", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Check the files of this folder instead of exercises/exercises/ (progress is not recorded).
    #[arg(long, global = true, value_name = "DIR")]
    source: Option<PathBuf>,
    /// Language of the verdicts and hints: en or zh (default: from LANG).
    #[arg(long, global = true, value_name = "LANG", value_parser = ["en", "zh"])]
    lang: Option<String>,
    /// Seconds one run may take before its whole process group is killed (0.1 to 60).
    #[arg(long, global = true, default_value = "4", value_name = "SECS")]
    timeout: f64,
    #[command(flatten)]
    common: common::cli::CommonArgs,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// List the exercises with your progress (the default).
    List,
    /// Check exercises by name (default: the first one not solved yet), or all of them.
    Check {
        /// The exercises, e.g. pipe_eof.
        names: Vec<String>,
        /// Check every exercise.
        #[arg(long, conflicts_with = "names")]
        all: bool,
    },
    /// Build and run an exercise in this terminal, to watch what it does (no verdict).
    Run { name: String },
    /// Show the hint of an exercise.
    Hint { name: String },
    /// Restore an exercise as shipped (your changes to it are lost).
    Reset { name: String },
    /// Check the first unsolved exercise, then re-check each exercise file when it is saved.
    Watch,
}

/// Language of the texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    fn pick(self, t: catalog::Text) -> &'static str {
        match self {
            Lang::En => t.en,
            Lang::Zh => t.zh,
        }
    }
}

/// `exercises/` (this package's folder).
pub fn exercises_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn templates_dir() -> PathBuf {
    exercises_dir().join("templates")
}

fn student_dir() -> PathBuf {
    exercises_dir().join("exercises")
}

fn progress_file() -> PathBuf {
    exercises_dir().join(".progress")
}

struct Ctx {
    source: PathBuf,
    /// Whether `source` is the student's folder (then progress is recorded).
    student: bool,
    lang: Lang,
    timeout: Duration,
}

/// The demo's `run`: parse, dispatch, map "not solved" to an error (exit 1).
pub fn run(cli: Cli) -> Result<()> {
    // `--json`, `--seed`, `--time-scale`: already read by `common::cli::main`.
    let _ = &cli.common;
    if !(0.1..=60.0).contains(&cli.timeout) {
        return Err(common::cli::usage(
            "--timeout",
            cli.timeout,
            "must be between 0.1 and 60 seconds",
        ));
    }
    let lang = match cli.lang.as_deref() {
        Some("zh") => Lang::Zh,
        Some(_) => Lang::En,
        None => {
            let env = std::env::var("LC_ALL")
                .or_else(|_| std::env::var("LANG"))
                .unwrap_or_default();
            if env.starts_with("zh") {
                Lang::Zh
            } else {
                Lang::En
            }
        }
    };
    let (source, student) = match &cli.source {
        Some(dir) => {
            let dir = std::fs::canonicalize(dir)
                .map_err(|e| common::cli::usage("--source", dir.display(), e))?;
            let student = dir == student_dir();
            (dir, student)
        }
        None => (student_dir(), true),
    };
    let ctx = Ctx {
        source,
        student,
        lang,
        timeout: Duration::from_secs_f64(cli.timeout),
    };
    let command = cli.command.unwrap_or(Cmd::List);
    // A usage error (an unknown name) is reported before anything is created or started.
    match &command {
        Cmd::Check { names, .. } => {
            for n in names {
                find(n)?;
            }
        }
        Cmd::Hint { name } | Cmd::Reset { name } | Cmd::Run { name } => {
            find(name)?;
        }
        Cmd::List | Cmd::Watch => {}
    }
    // The student's copies are created by the commands that read them (not by `hint`).
    if ctx.student && !matches!(command, Cmd::Hint { .. }) {
        create_missing_copies()?;
    }
    match command {
        Cmd::List => list(&ctx),
        Cmd::Check { names, all } => {
            let chosen: Vec<&Exercise> = if all {
                ALL.iter().collect()
            } else if names.is_empty() {
                vec![choose(&ctx, None)?]
            } else {
                names.iter().map(|n| find(n)).collect::<Result<_>>()?
            };
            let failed = check_many(&ctx, &chosen)?;
            if failed.is_empty() {
                Ok(())
            } else {
                bail!("not solved yet: {}", failed.join(", "))
            }
        }
        Cmd::Hint { name } => {
            let ex = find(&name)?;
            event(
                "hint",
                json!({"exercise": ex.name, "hint": lang.pick(ex.hint)}),
                format!("{}: {}", ex.name, lang.pick(ex.hint)),
            );
            summary(json!({"exercise": ex.name}));
            Ok(())
        }
        Cmd::Reset { name } => {
            let ex = find(&name)?;
            let to = ctx.source.join(format!("{}.rs", ex.name));
            std::fs::copy(templates_dir().join(format!("{}.rs", ex.name)), &to)
                .with_context(|| format!("copy the template to {}", to.display()))?;
            if ctx.student {
                let mut solved = read_progress();
                solved.remove(ex.name);
                write_progress(&solved)?;
            }
            event(
                "reset",
                json!({"exercise": ex.name, "file": to.display().to_string()}),
                format!("{} is as shipped again: {}", ex.name, to.display()),
            );
            summary(json!({"exercise": ex.name}));
            Ok(())
        }
        Cmd::Run { name } => run_here(&ctx, find(&name)?),
        Cmd::Watch => watch(&ctx),
    }
}

/// The last line: `{"event":"summary", "seed":..., ...}` like every demo's; no prose line (the
/// seed means nothing to a student here: the checker itself draws nothing at random).
fn summary(fields: serde_json::Value) {
    let mut fields = fields;
    if let Some(m) = fields.as_object_mut() {
        m.insert("seed".into(), json!(common::rng::seed()));
    }
    event("summary", fields, "");
}

fn find(name: &str) -> Result<&'static Exercise> {
    let name = name.trim_end_matches(".rs");
    catalog::find(name).ok_or_else(|| {
        common::cli::usage(
            "NAME",
            name,
            "no such exercise (`cargo run -p exercises` lists them)",
        )
    })
}

/// The named exercise, or the first one not solved yet.
fn choose(ctx: &Ctx, name: Option<&str>) -> Result<&'static Exercise> {
    if let Some(name) = name {
        return find(name);
    }
    let solved = if ctx.student {
        read_progress()
    } else {
        BTreeSet::new()
    };
    Ok(ALL
        .iter()
        .find(|e| !solved.contains(e.name))
        .unwrap_or(&ALL[0]))
}

/// On first use, copy every template the student does not have yet (never overwrite).
fn create_missing_copies() -> Result<()> {
    let dir = student_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let mut created = 0;
    for ex in ALL {
        let file = format!("{}.rs", ex.name);
        let to = dir.join(&file);
        if !to.exists() {
            std::fs::copy(templates_dir().join(&file), &to)
                .with_context(|| format!("copy the template to {}", to.display()))?;
            created += 1;
        }
    }
    if created > 0 {
        common::out::say(format!(
            "(created {created} exercise file(s) in {} from the shipped templates)",
            dir.display()
        ));
    }
    Ok(())
}

fn read_progress() -> BTreeSet<String> {
    std::fs::read_to_string(progress_file())
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && catalog::find(l).is_some())
        .map(str::to_string)
        .collect()
}

fn write_progress(solved: &BTreeSet<String>) -> Result<()> {
    let mut text = String::from("# exercises solved (written by `cargo run -p exercises`)\n");
    for s in solved {
        text.push_str(s);
        text.push('\n');
    }
    std::fs::write(progress_file(), text).context("write exercises/.progress")
}

fn list(ctx: &Ctx) -> Result<()> {
    let solved = if ctx.student {
        read_progress()
    } else {
        BTreeSet::new()
    };
    common::out::say(format!(
        "Exercises in {} (edit one, then `cargo run -p exercises -- check NAME`):",
        rel(&ctx.source)
    ));
    for ex in ALL {
        let done = solved.contains(ex.name);
        event(
            "exercise",
            json!({"exercise": ex.name, "member": ex.member, "title": ctx.lang.pick(ex.title), "solved": done}),
            format!(
                "  [{}] {:<28} {:<11} {}",
                if done { "x" } else { " " },
                ex.name,
                ex.member,
                ctx.lang.pick(ex.title)
            ),
        );
    }
    let n = solved.len();
    let total = ALL.len();
    common::out::say(format!("Progress: {n}/{total} solved."));
    summary(json!({"total": total, "solved": n}));
    Ok(())
}

/// Build then check `chosen`; print one verdict each and a summary. Returns the names not solved.
fn check_many(ctx: &Ctx, chosen: &[&Exercise]) -> Result<Vec<String>> {
    let started = Instant::now();
    let built = build::build(&ctx.source, chosen)?;
    let mut solved = read_progress();
    let mut failed = Vec::new();
    for (ex, built) in chosen.iter().zip(built) {
        let ok = check_one(ctx, ex, built)?;
        if ok {
            solved.insert(ex.name.to_string());
        } else {
            solved.remove(ex.name);
            failed.push(ex.name.to_string());
        }
    }
    if ctx.student {
        write_progress(&solved)?;
    }
    let total = ALL.len();
    if ctx.student {
        common::out::say(format!("Progress: {}/{total} solved.", solved.len()));
        if failed.is_empty() {
            match ALL.iter().find(|e| !solved.contains(e.name)) {
                Some(next) => common::out::say(format!(
                    "Next: {} (`cargo run -p exercises -- check {}`)",
                    rel(&ctx.source.join(format!("{}.rs", next.name))),
                    next.name
                )),
                None => common::out::say("Every exercise is solved."),
            }
        }
    }
    summary(json!({
        "checked": chosen.len(),
        "passed": chosen.len() - failed.len(),
        "failed": failed,
        "solved": if ctx.student { solved.len() } else { 0 },
        "total": total,
        "source": ctx.source.display().to_string(),
        "elapsed_ms": started.elapsed().as_millis() as u64,
    }));
    Ok(failed)
}

/// Run one built exercise as many times as its check asks; print the verdict. True if solved.
fn check_one(ctx: &Ctx, ex: &Exercise, built: Built) -> Result<bool> {
    let lang = ctx.lang;
    let started = Instant::now();
    // What the checker found and cleaned up, for tools: pids of leftovers, kernel names.
    let mut left_behind: Vec<i32> = Vec::new();
    let mut leaked_names: Vec<String> = Vec::new();
    let mut timed_out = false;
    let failure = match built {
        Built::CompileError(text) => Some(judge::Failure {
            en: format!("it does not compile:\n{text}"),
            zh: format!("编译失败：\n{text}"),
        }),
        Built::Missing(path) => Some(judge::Failure {
            en: format!(
                "{} does not exist (`cargo run -p exercises -- reset {}` restores it)",
                path.display(),
                ex.name
            ),
            zh: format!(
                "{} 不存在（`cargo run -p exercises -- reset {}` 可以恢复它）",
                path.display(),
                ex.name
            ),
        }),
        Built::Ok(exe) => {
            let mut failure = None;
            for _ in 0..ex.check.runs {
                let out = sandbox::run(&exe, ctx.timeout)?;
                left_behind.extend(out.leftovers.iter().map(|p| p.pid));
                leaked_names.extend(out.leaked_names.iter().cloned());
                timed_out |= out.timed_out;
                if let Some(f) = judge::judge(ex, &out, ctx.timeout) {
                    failure = Some(f);
                    break;
                }
            }
            failure
        }
    };
    let file = rel(&ctx.source.join(format!("{}.rs", ex.name)));
    let elapsed_ms = started.elapsed().as_millis() as u64;
    match &failure {
        None => event(
            "verdict",
            json!({"exercise": ex.name, "member": ex.member, "solved": true, "runs": ex.check.runs, "elapsed_ms": elapsed_ms}),
            match lang {
                Lang::En => format!("✓ {} ({}): solved. {}", ex.name, ex.member, lang.pick(ex.expected)),
                Lang::Zh => format!("✓ {}（{}）：已解决。{}", ex.name, ex.member, lang.pick(ex.expected)),
            },
        ),
        Some(f) => event(
            "verdict",
            json!({
                "exercise": ex.name, "member": ex.member, "solved": false,
                "expected": lang.pick(ex.expected), "happened": f.text(lang),
                "hint": lang.pick(ex.hint), "file": file, "elapsed_ms": elapsed_ms,
                "timed_out": timed_out, "left_behind": left_behind, "leaked_names": leaked_names,
            }),
            match lang {
                Lang::En => format!(
                    "✗ {} ({}): not solved yet ({file})\n  expected: {}\n  happened: {}\n  hint:     {}",
                    ex.name, ex.member, lang.pick(ex.expected), f.text(lang), lang.pick(ex.hint)
                ),
                Lang::Zh => format!(
                    "✗ {}（{}）：尚未解决（{file}）\n  期望：{}\n  实际：{}\n  提示：{}",
                    ex.name, ex.member, lang.pick(ex.expected), f.text(lang), lang.pick(ex.hint)
                ),
            },
        ),
    }
    Ok(failure.is_none())
}

/// `run NAME`: build the exercise and run it in the foreground, in the checker's own process
/// group, so that Ctrl-C from the terminal reaches it as it reaches any program.
fn run_here(ctx: &Ctx, ex: &Exercise) -> Result<()> {
    let exe = match build::build(&ctx.source, &[ex])?.remove(0) {
        Built::Ok(exe) => exe,
        Built::CompileError(text) => bail!("{} does not compile:\n{text}", ex.name),
        Built::Missing(path) => bail!("{} does not exist", path.display()),
    };
    common::out::say(format!(
        "Running {} (at a `== checkpoint ==` or `== waiting ... ==` line it waits for Enter; Ctrl-C stops it).",
        ex.name
    ));
    common::out::flush();
    let mut child = std::process::Command::new(&exe)
        .spawn()
        .with_context(|| format!("start {}", exe.display()))?;
    // Registered with the stop handler: a Ctrl-C to the checker alone still ends the program.
    let mut tracked = common::child::adopt(child.id() as i32)?;
    let status = tracked.join()?;
    drop(child.stdin.take());
    event(
        "ran",
        json!({"exercise": ex.name, "exitcode": status.python_exitcode()}),
        format!("{} {status}", ex.name),
    );
    summary(json!({"exercise": ex.name, "exitcode": status.python_exitcode()}));
    Ok(())
}

/// A path relative to the workspace root when it is inside it (shorter to read).
fn rel(path: &Path) -> String {
    let root = build::workspace_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `watch`: check the first unsolved exercise, then block on inotify and re-check every exercise
/// file that is written (closed after writing, or renamed into place as editors save).
fn watch(ctx: &Ctx) -> Result<()> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC).context("inotify_init1")?;
    inotify
        .add_watch(
            &ctx.source,
            AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO,
        )
        .with_context(|| format!("inotify_add_watch {}", ctx.source.display()))?;
    let first = choose(ctx, None)?;
    check_many(ctx, &[first])?;
    common::out::say(format!(
        "Watching {}: save an exercise file to check it again (Ctrl-C to stop).",
        rel(&ctx.source)
    ));
    loop {
        // read(2) on the inotify descriptor blocks until something is saved.
        let events = inotify.read_events().context("read(inotify)")?;
        let mut names: Vec<&'static Exercise> = Vec::new();
        for e in events {
            let Some(file) = e.name.as_ref().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(ex) = file.strip_suffix(".rs").and_then(catalog::find) {
                if !names.iter().any(|n| n.name == ex.name) {
                    names.push(ex);
                }
            }
        }
        if !names.is_empty() {
            // A failed build (cargo missing, a broken manifest) is reported, and watching goes on.
            if let Err(e) = check_many(ctx, &names) {
                eprintln!("error: {e:#}");
            }
        }
    }
}
