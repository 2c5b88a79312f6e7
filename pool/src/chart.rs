//! `basic --svg FILE`: the wardrobe of note 000 (point 3) as a picture, drawn with the
//! `plotters` crate's SVG backend.
//!
//! The same data as `--timeline` ([`crate::timeline`]), drawn to scale:
//! - on top, the **parent's lane**: the stretch it was away doing its own work (it did not
//!   call the pool once), and a tick at each moment a callback ran;
//! - below, **one lane per worker process**, labelled with its pid: a bar per task, from the
//!   moment the worker took it to the moment its result was on the result queue (a failed
//!   task's bar is red and ends when the parent saw its worker die);
//! - a light band across every lane for the parent's absence: the bars inside it are work
//!   done while nobody in the parent was watching.
//!
//! Times are milliseconds on the clock every process of the demo shares (`CLOCK_MONOTONIC`,
//! see `common::out::t_ms`), counted from the first moment drawn.
//!
//! The picture in the README is regenerated with
//! `cargo run --release -p pool -- basic --seed 1 --svg docs/img/pool-basic.svg`.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::timeline::{lanes, Span};

/// Width of the picture, in pixels.
const WIDTH: u32 = 900;
/// Height of one lane.
const LANE_HEIGHT: u32 = 44;
/// Room for the caption and the time axis.
const FRAME_HEIGHT: u32 = 110;
/// Font of the labels.
const FONT: (&str, u32) = ("sans-serif", 13);

/// A task's bar. Tests count the bars by this fill (`#1F77B4`), so nothing else uses it.
pub const TASK_COLOR: RGBColor = RGBColor(31, 119, 180);
/// A failed task's bar.
pub const FAILED_COLOR: RGBColor = RGBColor(214, 39, 40);
/// The parent's absence.
const AWAY_COLOR: RGBColor = RGBColor(255, 127, 14);
/// A callback's tick.
const CALLBACK_COLOR: RGBColor = RGBColor(44, 160, 44);

/// What the parent did, for its lane.
#[derive(Debug, Clone, Default)]
pub struct Parent {
    /// When it left and came back (ms since the demo started).
    pub away: Option<(f64, f64)>,
    /// When each callback ran.
    pub callbacks: Vec<f64>,
}

/// plotters' errors carry the backend's error; say it in one line.
fn drawing(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the --svg chart: {e}")
}

/// Draw the run into the SVG file `path`: the parent's lane and one lane per worker.
pub fn write_svg(path: &Path, title: &str, spans: &[Span], parent: &Parent) -> Result<()> {
    let workers = lanes(spans);
    // Row 0 is the parent (drawn on top); row i + 1 is the i-th worker to start a task.
    let rows = workers.len() + 1;
    let times = spans
        .iter()
        .flat_map(|s| [s.start_ms, s.end_ms])
        .chain(parent.away.iter().flat_map(|&(a, b)| [a, b]))
        .chain(parent.callbacks.iter().copied());
    let (t0, t1) = times.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), t| {
        (lo.min(t), hi.max(t))
    });
    let (t0, t1) = if t0.is_finite() { (t0, t1) } else { (0.0, 1.0) };
    let x = |t: f64| t - t0;
    // Room on the right for the callbacks' label.
    let end = x(t1).max(0.001) * 1.22;
    // A row's band in chart units: row r spans y in [top(r) - 1, top(r)], row 0 on top.
    let top = |row: usize| (rows - row) as f64;

    let height = FRAME_HEIGHT + rows as u32 * LANE_HEIGHT;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(130)
        .build_cartesian_2d(0.0..end, 0.0..rows as f64)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .light_line_style(WHITE)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("ms")
        .label_style(FONT)
        .draw()
        .map_err(drawing)?;

    // The parent's absence: a light band across every lane, and a bar on its own lane.
    if let Some((left, back)) = parent.away {
        chart
            .draw_series([
                Rectangle::new(
                    [(x(left), 0.0), (x(back), rows as f64)],
                    AWAY_COLOR.mix(0.08).filled(),
                ),
                Rectangle::new(
                    [(x(left), top(0) - 0.8), (x(back), top(0) - 0.2)],
                    AWAY_COLOR.mix(0.6).filled(),
                ),
            ])
            .map_err(drawing)?;
        chart
            .draw_series([EmptyElement::at((x(left), top(0) - 0.5))
                + Text::new("away: its own work, the pool untouched", (4, -6), FONT)])
            .map_err(drawing)?;
    }
    // A tick per callback: they all run in the parent, at its next call into the pool.
    chart
        .draw_series(parent.callbacks.iter().map(|&t| {
            PathElement::new(
                [(x(t), top(0) - 0.95), (x(t), top(0) - 0.05)],
                CALLBACK_COLOR.stroke_width(2),
            )
        }))
        .map_err(drawing)?;
    if let Some(&first) = parent.callbacks.first() {
        chart
            .draw_series([EmptyElement::at((x(first), top(0) - 0.25))
                + Text::new(
                    format!("{} callbacks, all at once", parent.callbacks.len()),
                    (4, -6),
                    FONT,
                )])
            .map_err(drawing)?;
    }

    // One bar per task, on the lane of the worker that ran it.
    for (i, pid) in workers.iter().enumerate() {
        let row = i + 1;
        let mine = spans.iter().filter(|s| s.worker == *pid);
        chart
            .draw_series(mine.clone().map(|s| {
                let color = if s.ok { TASK_COLOR } else { FAILED_COLOR };
                Rectangle::new(
                    [
                        (x(s.start_ms), top(row) - 0.8),
                        (x(s.end_ms), top(row) - 0.2),
                    ],
                    color.filled(),
                )
            }))
            .map_err(drawing)?;
        // A white outline, so two tasks back to back read as two bars.
        chart
            .draw_series(mine.clone().map(|s| {
                Rectangle::new(
                    [
                        (x(s.start_ms), top(row) - 0.8),
                        (x(s.end_ms), top(row) - 0.2),
                    ],
                    WHITE.stroke_width(1),
                )
            }))
            .map_err(drawing)?;
        chart
            .draw_series(mine.map(|s| {
                EmptyElement::at((x(s.start_ms), top(row) - 0.5))
                    + Text::new(
                        format!("{}", s.task),
                        (3, -6),
                        FONT.into_font().color(&WHITE),
                    )
            }))
            .map_err(drawing)?;
    }

    // Lane names, left of the plot.
    let mut names = vec!["parent".to_string()];
    names.extend(workers.iter().map(|pid| format!("worker {pid}")));
    for (row, name) in names.iter().enumerate() {
        let (_, py) = chart.backend_coord(&(0.0, top(row) - 0.5));
        root.draw(&Text::new(name.as_str(), (20, py - 7), FONT))
            .map_err(drawing)?;
    }
    root.present()
        .map_err(|e| anyhow!("--svg {}: {e}", path.display()))
}
