//! # `bench`: every mechanism of the workspace against Python's and against the raw primitive
//!
//! `cargo run --release -p bench` measures each figure three ways and prints one table:
//!
//! - **ours**: the workspace member that teaches the mechanism (`pool`, `pipe`, `queue`,
//!   `shared-mem`, `threads`, `prodcons`), through its public API;
//! - **Python**: a peer script in `bench/python/` doing the same work with
//!   `multiprocessing` (fork start method), `threading` and `queue`, as the notes use them;
//! - **raw**: the least Rust code that does the same on the bare kernel primitive (pipe,
//!   socketpair, futex word, pthread mutex, atomic, fork, thread): what the OS itself allows;
//! - **Rust peer**: the crate a Rust engineer would pick instead (ipc-channel, procspawn,
//!   rayon, `std::sync::mpsc`), across the same process boundary ([`peer`]).
//!
//! Every value is the **median of `--runs` runs (default 5) with the min-max range**; `ours/Py`,
//! `ours/raw` and `ours/peer` are plain quotients of the medians (for a cost such as `us/call`,
//! 0.05 means twenty times cheaper). The `target` column is the project's goal for the figure, `met` whether
//! this run reached it; `vs peer` names the Rust peer and says whether ours is at least as good
//! (rayon is an in-process floor, shown for scale: no verdict).
//!
//! | flag | effect |
//! |---|---|
//! | `--quick` | a tenth of the sizes, no Python: a few seconds, for CI |
//! | `--only SUB` | only figures whose name contains `SUB` (repeatable) |
//! | `--runs N` | runs per column (median of N; at least 5 for published numbers) |
//! | `--no-python` | skip the Python peers |
//! | `--columns ours,raw` | measure only these columns (to profile one with `perf record`) |
//! | `--python PATH` | the interpreter (default `python3`) |
//! | `--list` | print the figures and what each column runs, measure nothing |
//! | `--json` | one JSON line per figure: `figure`, `unit`, `ours`, `python`, `raw`, `rust_peer`, ... |
//! | `--markdown` | the table in markdown, as in the README's Performance section |
//! | `--svg FILE` | also draw the run's ratios as a chart ([`chart`]) |
//!
//! How it measures, and why:
//! - each measurement does its own set-up (fork the partner, start the pool) and times **only
//!   the loop**; one-way figures start the clock before a "go" byte ([`gate`]) so fork is never
//!   inside a rate;
//! - ours, raw and the Rust peer are warmed up once and then run **interleaved** (ours, raw,
//!   peer, ours, raw, peer...), so a burst of load from elsewhere hits every column alike;
//!   Python runs in its own process after them, with the same warm-up and run count;
//! - every result is **checked** (every item back, counters exact): a fast wrong answer is an
//!   error, not a number;
//! - every child is forked through `common::spawn` and joined, or killed and reaped when its
//!   `Child` is dropped on an error path; Python runs under `Command::output`, which waits.
//!
//! Benchmarks are not tests: nothing here asserts a time. `cargo test -p bench` checks the
//! statistics and the table formatting only.
//!
//! | file | what |
//! |---|---|
//! | [`figures`] | the list: each figure's three columns, sizes and target |
//! | [`figure`] | what a figure and a measured row are; targets and verdicts |
//! | [`stats`] | median and min-max of the runs |
//! | [`table`] | the table and the JSON lines |
//! | [`python`] | running a Python peer |
//! | [`gate`] | the "go" signal across fork; reaping partners |
//! | [`pin`] | the ping-pong figures' two ends on two CPUs |
//! | [`raw`] | the raw loops |
//! | [`ours`] | the members' mechanisms, figure by figure |
//! | [`peer`] | the Rust peers, and which figure has which |

pub mod chart;
pub mod figure;
pub mod figures;
pub mod gate;
pub mod ours;
pub mod peer;
pub mod pin;
pub mod python;
pub mod raw;
pub mod stats;
pub mod table;

use std::collections::HashMap;

use anyhow::{bail, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::out;

use figure::{Figure, Measure, Row};
use stats::Sample;

/// Most runs per column.
pub const MAX_RUNS: u32 = 100;

/// Every mechanism of the workspace against its Python peer and a raw loop on the same primitive.
#[derive(Parser, Debug)]
#[command(name = "bench", version, about, long_about = None)]
pub struct Cli {
    /// Short version for CI: a tenth of the sizes and no Python (a few seconds).
    #[arg(long)]
    pub quick: bool,
    /// Run only the figures whose name contains SUB (repeatable; see --list).
    #[arg(long, value_name = "SUB")]
    pub only: Vec<String>,
    /// Runs per column; the table shows their median and range, 1..=100.
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=MAX_RUNS as i64))]
    pub runs: u32,
    /// Skip the Python peers (same as leaving `python` out of --columns).
    #[arg(long)]
    pub no_python: bool,
    /// Which columns to measure (for profiling one of them), comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Column::Ours, Column::Python, Column::Raw, Column::Peer])]
    pub columns: Vec<Column>,
    /// Python interpreter for the peers.
    #[arg(long, value_name = "PATH", default_value = "python3")]
    pub python: String,
    /// Print the table as markdown (for docs/performance.*.md).
    #[arg(long)]
    pub markdown: bool,
    /// List the figures and what each column runs; measure nothing.
    #[arg(long)]
    pub list: bool,
    /// Also draw this run's ratios (ours against Python, the raw loop and the Rust peer, log
    /// scale) as an SVG chart in FILE.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// One column of the table.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// The workspace's mechanism.
    Ours,
    /// The Python peer.
    Python,
    /// The raw loop.
    Raw,
    /// The Rust peer crate.
    Peer,
}

/// The figures `--only` selects (all without it). An `--only` that matches nothing is a usage
/// error, so a typo does not silently measure nothing.
pub fn select(all: Vec<Figure>, only: &[String]) -> Result<Vec<Figure>> {
    for sub in only {
        if !all.iter().any(|f| f.id.contains(sub.as_str())) {
            let ids: Vec<_> = all.iter().map(|f| f.id).collect();
            return Err(common::cli::usage(
                "--only",
                sub,
                format!("matches no figure (figures: {})", ids.join(", ")),
            ));
        }
    }
    Ok(all
        .into_iter()
        .filter(|f| only.is_empty() || only.iter().any(|s| f.id.contains(s.as_str())))
        .collect())
}

/// A column to measure, with its operations per run.
type Col = Option<(Measure, usize)>;

/// The columns measured in this process.
struct Interleaved {
    ours: Col,
    raw: Col,
    peer: Col,
}

/// Warm each column up once at a tenth of its size, then run them alternately `runs` times
/// (ours, raw, peer, ours, raw, peer...). A column that fails is reported on stderr and left
/// empty; the others go on. Returns the samples of ours, raw and the peer.
fn interleaved(
    id: &str,
    cols: Interleaved,
    runs: usize,
    failed: &mut Vec<String>,
) -> [Option<Sample>; 3] {
    let mut cols: [(Col, &str, Vec<f64>); 3] = [
        (cols.ours, "ours", Vec::new()),
        (cols.raw, "raw", Vec::new()),
        (cols.peer, "Rust peer", Vec::new()),
    ];
    for round in 0..=runs {
        for (m, name, values) in cols.iter_mut() {
            let Some((f, n)) = *m else { continue };
            let size = if round == 0 { (n / 10).max(1) } else { n };
            match f(size) {
                Ok(v) if round > 0 => values.push(v),
                Ok(_) => {}
                Err(e) => {
                    eprintln!("bench: {id} ({name}) failed: {e:#}");
                    failed.push(format!("{id} ({name})"));
                    *m = None;
                    values.clear();
                }
            }
        }
    }
    cols.map(|(_, _, v)| Sample::of(&v))
}

/// Run the selected figures and print the table (or the JSON lines).
pub fn run(cli: Cli) -> Result<()> {
    let figs = select(figures::all(), &cli.only)?;
    if cli.list {
        for f in &figs {
            out::say(format!(
                "{:<18} {}\n    ours:   {}\n    Python: {}\n    raw:    {}\n    Rust:   {}",
                f.id,
                f.unit,
                f.ours_what,
                f.python
                    .map_or("-".to_string(), |(s, n)| format!("python/{s} {n}")),
                f.raw_what,
                peer::for_figure(f.id).map_or("-".to_string(), |p| p.what.to_string()),
            ));
        }
        return Ok(());
    }
    if let Some(path) = &cli.svg {
        // A path that cannot be written is the user's mistake: say so before a minute of work.
        std::fs::File::create(path).map_err(|e| common::cli::usage("--svg", path.display(), e))?;
    }
    let runs = cli.runs as usize;
    let mut failed = Vec::new();
    let mut with_python = !cli.quick && !cli.no_python && cli.columns.contains(&Column::Python);
    if with_python {
        // One check up front rather than the same error once per figure.
        if let Err(e) = python::check(&cli.python) {
            eprintln!("bench: the Python column is skipped: {e:#}");
            failed.push("Python (interpreter)".to_string());
            with_python = false;
        }
    }
    out::say(format!(
        "bench: {} figure(s), median of {runs} run(s) (min-max){}{}",
        figs.len(),
        if cli.quick { ", quick sizes" } else { "" },
        if with_python { "" } else { ", no Python" },
    ));
    out::say(if cli.markdown {
        table::markdown_header()
    } else {
        table::header()
    });

    let mut python_cache: HashMap<(&str, &str, usize), Option<Sample>> = HashMap::new();
    let mut rows = Vec::new();
    for f in figs {
        let n = if cli.quick { f.quick } else { f.size };
        let peer = peer::for_figure(f.id);
        let cols = Interleaved {
            ours: f
                .ours
                .filter(|_| cli.columns.contains(&Column::Ours))
                .map(|m| (m, n)),
            raw: f
                .raw
                .filter(|_| cli.columns.contains(&Column::Raw))
                .map(|m| (m, n)),
            peer: peer
                .filter(|_| cli.columns.contains(&Column::Peer))
                .map(|p| (p.measure, if cli.quick { p.quick() } else { p.size })),
        };
        let [ours, raw, rust_peer] = interleaved(f.id, cols, runs, &mut failed);
        let python = match f.python {
            Some((script, name)) if with_python => *python_cache
                .entry((script, name, f.python_size))
                .or_insert_with(|| {
                    match python::run(&cli.python, script, name, f.python_size, runs) {
                        Ok(v) => Sample::of(&v),
                        Err(e) => {
                            eprintln!("bench: {} (Python) failed: {e:#}", f.id);
                            failed.push(format!("{} (Python)", f.id));
                            None
                        }
                    }
                }),
            _ => None,
        };
        let row = Row {
            figure: f,
            ours,
            python,
            raw,
            peer,
            rust_peer,
        };
        let prose = if cli.markdown {
            table::markdown_line(&row)
        } else {
            table::line(&row)
        };
        out::event("figure", table::json(&row), prose);
        rows.push(row);
    }

    let verdicts: Vec<_> = rows
        .iter()
        .filter_map(|r| r.met().map(|m| (r, m)))
        .collect();
    let met = verdicts.iter().filter(|(_, m)| *m).count();
    let missed: Vec<&str> = verdicts
        .iter()
        .filter(|(_, m)| !*m)
        .map(|(r, _)| r.figure.id)
        .collect();
    let not_measured: Vec<&str> = rows
        .iter()
        .filter(|r| r.ours.is_none())
        .map(|r| r.figure.id)
        .collect();
    let peer_verdicts: Vec<_> = rows
        .iter()
        .filter_map(|r| r.beats_peer().map(|b| (r, b)))
        .collect();
    let peers_beaten = peer_verdicts.iter().filter(|(_, b)| *b).count();
    let peer_wins: Vec<&str> = peer_verdicts
        .iter()
        .filter(|(_, b)| !*b)
        .map(|(r, _)| r.figure.id)
        .collect();
    if let Some(path) = &cli.svg {
        chart::write_svg(path, &rows)?;
        out::say(format!("chart of the ratios: {}", path.display()));
    }
    out::say("");
    out::say("what each column runs:");
    for r in &rows {
        let peer_what = r.peer.map_or("-", |p| p.what);
        out::say(if cli.markdown {
            format!(
                "- `{}`: ours = {}; raw = {}; Rust peer = {}",
                r.figure.id, r.figure.ours_what, r.figure.raw_what, peer_what
            )
        } else {
            format!(
                "  {:<18} ours: {}\n  {:<18} raw:  {}\n  {:<18} peer: {}",
                r.figure.id, r.figure.ours_what, "", r.figure.raw_what, "", peer_what
            )
        });
    }
    out::say(format!(
        "\ntargets met: {met} of {}{}{}",
        verdicts.len(),
        if missed.is_empty() {
            String::new()
        } else {
            format!("; missed: {}", missed.join(", "))
        },
        if not_measured.is_empty() {
            String::new()
        } else {
            format!("; ours not measured: {}", not_measured.join(", "))
        },
    ));
    out::say(format!(
        "ours at least as good as the Rust peer: {peers_beaten} of {}{}",
        peer_verdicts.len(),
        if peer_wins.is_empty() {
            String::new()
        } else {
            format!("; the peer wins: {}", peer_wins.join(", "))
        },
    ));
    // The closing JSON line (the workspace's convention); in prose the verdict line above
    // says it all, and a seed means nothing to a benchmark.
    if out::is_json() {
        out::summary(common::json!({
            "figures": rows.len(),
            "runs": runs,
            "quick": cli.quick,
            "python": with_python,
            "targets": verdicts.len(),
            "met": met,
            "missed": missed,
            "ours_not_measured": not_measured,
            "rust_peer_verdicts": peer_verdicts.len(),
            "ours_beats_rust_peer": peers_beaten,
            "rust_peer_wins": peer_wins,
            "failed": failed,
            "loadavg": std::fs::read_to_string("/proc/loadavg").ok().map(|s| s.trim().to_string()),
        }));
    }
    if !failed.is_empty() {
        bail!(
            "{} measurement(s) failed: {}",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_selects_by_substring_and_refuses_a_miss() {
        let picked = select(figures::all(), &["pipe.".into()]).unwrap();
        assert!(!picked.is_empty());
        assert!(picked.iter().all(|f| f.id.starts_with("pipe.")));
        assert_eq!(
            select(figures::all(), &[]).unwrap().len(),
            figures::all().len()
        );
        let err = select(figures::all(), &["nonesuch".into()]).unwrap_err();
        assert!(err.downcast_ref::<common::cli::UsageError>().is_some());
        assert!(err.to_string().contains("--only"), "{err}");
    }
}
