//! Checking a `--trace FILE` (Chrome Trace Event Format, see `common::trace`) a demo wrote.
//!
//! [`Trace::load`] fails the test, with the demo's whole output, unless the file parses, every
//! event has the fields its phase requires, and the slices of each track nest or follow one
//! another (a track is one worker or role: two of its slices may not half-overlap). The other
//! checks name what a particular demo promises: counters within a capacity, one slice per task,
//! a named process track for every pid that printed a JSON line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::Run;

/// Microseconds of slack for slices that touch (timestamps are rounded to the nanosecond).
const SLACK_US: f64 = 0.01;

/// (start, end) of a slice, in microseconds.
pub fn span(slice: &Value) -> (f64, f64) {
    let ts = slice["ts"].as_f64().unwrap_or(0.0);
    (ts, ts + slice["dur"].as_f64().unwrap_or(0.0))
}

/// A slice reduced to (start, end, name), in microseconds.
type TimedSlice = (f64, f64, String);

/// A parsed, checked trace.
#[derive(Debug, Clone)]
pub struct Trace {
    /// Every event, in file order.
    pub events: Vec<Value>,
}

fn field_ok(e: &Value, name: &str) -> bool {
    match name {
        "ts" | "dur" => e[name].as_f64().is_some_and(|x| x >= 0.0),
        "pid" | "tid" | "id" => e[name].is_u64(),
        "name" => e[name].is_string(),
        _ => !e[name].is_null(),
    }
}

impl Trace {
    /// Read and check the trace `run` wrote to `path`.
    #[track_caller]
    pub fn load(path: &Path, run: &Run) -> Trace {
        let bytes = std::fs::read(path);
        run.check(
            bytes.is_ok(),
            &format!("--trace {} was not written", path.display()),
        );
        let doc: Result<Value, _> = serde_json::from_slice(&bytes.unwrap_or_default());
        run.check(doc.is_ok(), "the trace is not JSON");
        let doc = doc.unwrap_or_default();
        let events = doc["traceEvents"].as_array().cloned().unwrap_or_default();
        run.check(!events.is_empty(), "the trace has no traceEvents");
        for e in &events {
            let required: &[&str] = match e["ph"].as_str() {
                Some("M") => &["name", "pid", "tid", "args"],
                Some("X") => &["name", "pid", "tid", "ts", "dur"],
                Some("C") => &["name", "pid", "ts", "args"],
                Some("s") | Some("f") => &["name", "pid", "tid", "ts", "id"],
                _ => {
                    run.check(false, &format!("an event of unknown phase: {e}"));
                    &[]
                }
            };
            for f in required {
                run.check(field_ok(e, f), &format!("event without a valid `{f}`: {e}"));
            }
            if e["ph"] == "M" {
                run.check(
                    matches!(e["name"].as_str(), Some("process_name" | "thread_name"))
                        && e["args"]["name"].is_string(),
                    &format!("metadata must name a process or a thread: {e}"),
                );
            }
            if e["ph"] == "C" {
                let ok = e["args"]
                    .as_object()
                    .is_some_and(|m| !m.is_empty() && m.values().all(Value::is_number));
                run.check(ok, &format!("a counter's args must be numbers: {e}"));
            }
        }
        let trace = Trace { events };
        trace.check_tracks_nest(run);
        trace
    }

    /// Slices (`X`), optionally only those of category `cat`.
    pub fn slices(&self, cat: Option<&str>) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["ph"] == "X" && cat.map_or(true, |c| e["cat"] == c))
            .collect()
    }

    #[track_caller]
    fn check_tracks_nest(&self, run: &Run) {
        let mut tracks: BTreeMap<(u64, u64), Vec<TimedSlice>> = BTreeMap::new();
        for s in self.slices(None) {
            let ts = s["ts"].as_f64().unwrap_or(0.0);
            let end = ts + s["dur"].as_f64().unwrap_or(0.0);
            let key = (
                s["pid"].as_u64().unwrap_or(0),
                s["tid"].as_u64().unwrap_or(0),
            );
            let name = s["name"].as_str().unwrap_or("").to_string();
            tracks.entry(key).or_default().push((ts, end, name));
        }
        for ((pid, tid), mut slices) in tracks {
            // Longest first among equal starts, so an enclosing slice comes before its children.
            slices.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
            let mut open: Vec<TimedSlice> = Vec::new();
            for s in slices {
                while open.last().is_some_and(|o| o.1 <= s.0 + SLACK_US) {
                    open.pop();
                }
                if let Some(o) = open.last() {
                    run.check(
                        s.1 <= o.1 + SLACK_US,
                        &format!(
                            "on track pid {pid} tid {tid}, slice {:?} [{}, {}] half-overlaps {:?} [{}, {}]",
                            s.2, s.0, s.1, o.2, o.0, o.1
                        ),
                    );
                }
                open.push(s);
            }
        }
    }

    /// Every sample of counter `name` is at most `capacity`.
    #[track_caller]
    pub fn check_counter_at_most(&self, run: &Run, name: &str, capacity: f64) -> usize {
        let samples: Vec<f64> = self
            .events
            .iter()
            .filter(|e| e["ph"] == "C" && e["name"] == name)
            .filter_map(|e| e["args"][name].as_f64())
            .collect();
        run.check(
            !samples.is_empty(),
            &format!("no samples of counter {name:?}"),
        );
        for v in &samples {
            run.check(
                *v <= capacity,
                &format!("counter {name} = {v} > {capacity}"),
            );
        }
        samples.len()
    }

    /// Each process's track name, by pid.
    pub fn process_names(&self) -> BTreeMap<u64, String> {
        self.events
            .iter()
            .filter(|e| e["ph"] == "M" && e["name"] == "process_name")
            .filter_map(|e| Some((e["pid"].as_u64()?, e["args"]["name"].as_str()?.to_string())))
            .collect()
    }

    /// The pids that have a named process track.
    pub fn named_processes(&self) -> BTreeSet<u64> {
        self.events
            .iter()
            .filter(|e| e["ph"] == "M" && e["name"] == "process_name")
            .filter_map(|e| e["pid"].as_u64())
            .collect()
    }

    /// Every pid that printed a JSON line in `run` has a named process track.
    #[track_caller]
    pub fn check_pids_match(&self, run: &Run) {
        let printed: BTreeSet<u64> = run
            .events()
            .iter()
            .filter_map(|e| e["pid"].as_u64())
            .collect();
        let named = self.named_processes();
        let missing: Vec<&u64> = printed.difference(&named).collect();
        run.check(
            missing.is_empty(),
            &format!("pids in the JSON Lines without a process track: {missing:?}"),
        );
    }
}
