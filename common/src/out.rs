//! Event output: prose for people, JSON Lines (`--json`) for tests and tools.
//!
//! Every process of a demo (parent and children) prints through here. In JSON mode each line is
//! one object with `event`, `t_ms` (milliseconds since the demo started: the start instant is
//! taken in the parent before any fork, and `CLOCK_MONOTONIC` is the same clock in every
//! process) and `pid` (the process that printed it). The last line is `{"event":"summary",...}`.
//!
//! Each line goes out in one `write(2)` of a whole line, so lines from several processes sharing
//! the stdout pipe never mix (a pipe write of at most `PIPE_BUF` = 4096 bytes is atomic).
//!
//! A closed stdout (`demo | head -1`): the write fails with EPIPE (Rust ignores SIGPIPE, so no
//! signal kills us). The parent then stops and reaps every child and exits 0, quietly; a child
//! just stops printing and is stopped by its parent.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use serde_json::{Map, Value};

static START: OnceLock<Instant> = OnceLock::new();
static JSON: AtomicBool = AtomicBool::new(false);
static BROKEN: AtomicBool = AtomicBool::new(false);
/// The pid of the demo's top process: only it may decide to end the demo on EPIPE.
static ROOT_PID: AtomicI32 = AtomicI32::new(0);

/// Called once by [`crate::cli::main`] before anything else.
pub(crate) fn init(json: bool) {
    let _ = START.set(Instant::now());
    JSON.store(json, Ordering::SeqCst);
    ROOT_PID.store(std::process::id() as i32, Ordering::SeqCst);
}

/// Whether `--json` was given.
pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Milliseconds since the demo started (3 decimals).
pub fn t_ms() -> f64 {
    let start = START.get_or_init(Instant::now);
    (start.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

/// Print one JSON event (`--json`), or the prose line (otherwise; skipped when empty).
/// `fields` must be a JSON object (use `serde_json::json!({...})`) or `null`.
pub fn event(name: &str, fields: Value, prose: impl std::fmt::Display) {
    if is_json() {
        let mut obj = Map::new();
        obj.insert("event".into(), Value::from(name));
        obj.insert("t_ms".into(), Value::from(t_ms()));
        obj.insert("pid".into(), Value::from(crate::child::my_pid()));
        if let Value::Object(m) = fields {
            obj.extend(m);
        }
        write_line(&Value::Object(obj).to_string());
    } else {
        let text = prose.to_string();
        if !text.is_empty() {
            write_line(&text);
        }
    }
}

/// A prose-only line: an explanation for people. Nothing in JSON mode.
pub fn say(prose: impl std::fmt::Display) {
    if !is_json() {
        write_line(&prose.to_string());
    }
}

/// The last line of every run: `{"event":"summary", "seed":..., ...fields}` in JSON mode.
/// In prose mode the demo has already said its conclusion; only the seed is reported, so the
/// run can be repeated.
pub fn summary(fields: Value) {
    let mut fields = match fields {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    fields.insert("seed".into(), Value::from(crate::rng::seed()));
    fields.insert("time_scale".into(), Value::from(crate::clock::time_scale()));
    let seed = crate::rng::seed();
    event(
        "summary",
        Value::Object(fields),
        format!("(seed {seed}: add --seed {seed} to repeat this run)"),
    );
}

/// Flush stdout (before fork, and before a child `_exit`s).
pub fn flush() {
    let _ = std::io::stdout().flush();
}

/// Called in a freshly forked child.
pub(crate) fn child_started(_name: &str) {}

fn write_line(line: &str) {
    if BROKEN.load(Ordering::Relaxed) {
        return;
    }
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    let mut out = std::io::stdout().lock();
    let r = out.write_all(buf.as_bytes()).and_then(|()| out.flush());
    drop(out);
    if let Err(e) = r {
        BROKEN.store(true, Ordering::Relaxed);
        if e.kind() == std::io::ErrorKind::BrokenPipe
            && ROOT_PID.load(Ordering::SeqCst) == std::process::id() as i32
        {
            // Nobody reads any more: the demo is over. Stop and reap every child (the same code
            // as the Ctrl-C handler, minus the message), then leave with status 0.
            crate::sys::stop_children_and_exit(0, None);
        }
    }
}
