//! `--trace FILE`: a picture of who did what, when, in the Chrome Trace Event Format.
//!
//! The file is the JSON that Perfetto UI (ui.perfetto.dev, or `vizviewer FILE` offline) and
//! Chromium's `chrome://tracing` open: `{"traceEvents": [...]}`. What a demo records:
//! - one **process track** per OS pid, named with an `M` (metadata) `process_name` event;
//! - **thread tracks** inside it (a worker, a role, an OS thread), named with `thread_name`;
//! - **slices** (`X`: a name, a start `ts` and a duration `dur`) for tasks, puts, gets, time
//!   spent blocked;
//! - **counters** (`C`) for a queue's or a buffer's occupancy;
//! - **flows** (`s` then `f`, one `id`) drawn as arrows, from a task's submission to its start.
//!
//! Timestamps are microseconds on `CLOCK_MONOTONIC`, counted from the instant the demo started
//! (the same origin as the JSON Lines' `t_ms`): that clock is one clock for every process of the
//! machine, so slices from a parent and its children line up.
//!
//! How several processes write one file: [`begin`] (in the parent, before any fork) creates an
//! *unnamed* temporary file next to FILE (`O_TMPFILE`: it has no name, so an interrupted run
//! leaves nothing behind) and keeps it open; forked children inherit the descriptor. Every event
//! is one JSON line written with a single `write(2)` on that `O_APPEND` descriptor, and the
//! kernel appends each write whole, so lines from several processes never mix. [`finish`] (the
//! parent, after every child is reaped) reads the lines back and writes FILE. When `--trace` is
//! not given every call here is one load of a flag and nothing else.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};

use serde_json::{json, Value};

struct Sink {
    lines: std::fs::File,
    path: PathBuf,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Start tracing to `path` (the parent, before forking anything). A path that cannot be
/// written is the user's mistake: a usage error (exit 2) naming `--trace`, before anything starts.
pub fn begin(path: &Path) -> Result<()> {
    let bad = |why: String| crate::cli::usage("--trace", path.display(), why);
    if path.is_dir() {
        return Err(bad("is a directory".into()));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // The unnamed file proves the directory is writable without creating FILE yet, so an
    // interrupted run leaves no empty trace behind.
    let lines = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .custom_flags(libc::O_TMPFILE)
        .open(&dir)
        .map_err(|e| bad(format!("open(O_TMPFILE) in {}: {e}", dir.display())))?;
    let _ = SINK.set(Sink {
        lines,
        path: path.to_path_buf(),
    });
    process_name(&format!("{} (parent)", program_name()));
    Ok(())
}

fn program_name() -> String {
    std::env::args()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "demo".into())
}

/// Whether `--trace` was given.
#[inline]
pub fn enabled() -> bool {
    SINK.get().is_some()
}

/// Microseconds since the demo started, on `CLOCK_MONOTONIC` (the trace's `ts`).
pub fn now_us() -> f64 {
    crate::out::t_ms() * 1000.0
}

fn emit(mut event: Value) {
    let Some(sink) = SINK.get() else { return };
    if let Value::Object(m) = &mut event {
        m.entry("pid").or_insert(json!(crate::child::my_pid()));
    }
    let mut line = event.to_string();
    line.push('\n');
    // One write(2) per event on an O_APPEND file: appended whole, never interleaved.
    let _ = (&sink.lines).write_all(line.as_bytes());
}

/// The OS thread id, for a track per thread.
pub fn this_thread() -> u64 {
    nix::unistd::gettid().as_raw() as u64
}

/// Name this process's track (`M` `process_name`), e.g. `worker 2`.
pub fn process_name(name: &str) {
    if enabled() {
        emit(json!({"ph": "M", "name": "process_name", "tid": 0, "args": {"name": name}}));
    }
}

/// Name track `tid` of this process (`M` `thread_name`), e.g. `producer 0`.
pub fn thread_name(tid: u64, name: &str) {
    if enabled() {
        emit(json!({"ph": "M", "name": "thread_name", "tid": tid, "args": {"name": name}}));
    }
}

/// A finished slice (`X`) on track `tid`: `name` ran from `start_us` to `end_us`.
pub fn slice(name: &str, category: &str, tid: u64, start_us: f64, end_us: f64, args: Value) {
    if enabled() {
        emit(json!({
            "ph": "X", "name": name, "cat": category, "tid": tid,
            "ts": start_us, "dur": (end_us - start_us).max(0.0), "args": args,
        }));
    }
}

/// A slice that ends when this guard is dropped.
#[derive(Debug)]
#[must_use = "the slice ends when the guard is dropped"]
pub struct Span {
    name: String,
    category: &'static str,
    tid: u64,
    start_us: f64,
    args: Value,
}

impl Span {
    /// Start a slice on track `tid` now.
    pub fn begin(name: impl Into<String>, category: &'static str, tid: u64) -> Span {
        Span {
            name: if enabled() {
                name.into()
            } else {
                String::new()
            },
            category,
            tid,
            // No clock read when nothing is recorded.
            start_us: if enabled() { now_us() } else { 0.0 },
            args: Value::Null,
        }
    }

    /// Attach `args` (shown when the slice is selected).
    pub fn with_args(mut self, args: Value) -> Span {
        self.args = args;
        self
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if enabled() {
            let args = std::mem::take(&mut self.args);
            let args = if args.is_null() { json!({}) } else { args };
            slice(
                &self.name,
                self.category,
                self.tid,
                self.start_us,
                now_us(),
                args,
            );
        }
    }
}

/// A counter sample (`C`): series `name` has `value` from now on (drawn as a step chart).
pub fn counter(name: &str, value: f64) {
    if enabled() {
        emit(json!({"ph": "C", "name": name, "tid": 0, "ts": now_us(), "args": {name: value}}));
    }
}

/// Where an arrow starts (`s`) or ends (`f`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// The arrow leaves the slice enclosing this moment (a submission).
    Start,
    /// The arrow enters the slice enclosing this moment (the task's start, its result).
    End,
}

/// One end of arrow `id` on track `tid`, now. Both ends use the same `name` and `id`.
pub fn flow(id: u64, end: Flow, name: &str, tid: u64) {
    if enabled() {
        let ph = if end == Flow::Start { "s" } else { "f" };
        emit(json!({
            "ph": ph, "id": id, "name": name, "cat": "flow", "tid": tid, "ts": now_us(),
            "bp": "e",
        }));
    }
}

/// The parent, after every child is reaped: write FILE from the events every process appended.
pub fn finish() -> Result<()> {
    let Some(sink) = SINK.get() else {
        return Ok(());
    };
    let mut lines = String::new();
    let mut file = &sink.lines;
    file.seek(SeekFrom::Start(0)).context("lseek(--trace)")?;
    file.read_to_string(&mut lines).context("read(--trace)")?;
    let events: Vec<Value> = lines
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let doc = json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"clock": "CLOCK_MONOTONIC, microseconds since the demo started"},
    });
    std::fs::write(&sink.path, serde_json::to_vec(&doc)?)
        .with_context(|| format!("write --trace {}", sink.path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_from_this_process_land_in_one_trace_file() {
        let dir = std::env::temp_dir().join(format!("trace-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.json");
        begin(&path).unwrap();
        thread_name(1, "worker 0");
        {
            let _task = Span::begin("task 0", "task", 1).with_args(json!({"task": 0}));
            flow(7, Flow::End, "task 0", 1);
        }
        counter("occupancy", 2.0);
        finish().unwrap();
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let events = doc["traceEvents"].as_array().unwrap();
        let phases: Vec<&str> = events.iter().map(|e| e["ph"].as_str().unwrap()).collect();
        assert_eq!(phases, ["M", "M", "f", "X", "C"]);
        assert!(events.iter().all(|e| e["pid"] == crate::child::my_pid()));
        assert_eq!(events[3]["name"], "task 0");
        assert!(events[3]["dur"].as_f64().unwrap() >= 0.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
