//! `--svg FILE`: the ratios of this run as a chart, drawn with the `plotters` crate's SVG
//! backend.
//!
//! One row per figure, and on each row a dot per peer: how many times *better* ours is than
//! Python (blue), than the raw loop on the same primitive (orange) and than the Rust crate a
//! user would pick instead (green). "Better" reads each unit the right way round (a rate:
//! ours / peer; a cost: peer / ours), so right of the line at 1 is always "ours wins". The axis
//! is logarithmic: against Python the ratios run to the hundreds, against the raw loop they sit
//! near 1, and on a linear axis one of the two would be unreadable.
//!
//! The README's chart is redrawn with `cargo run --release -p bench -- --svg docs/img/bench-ratios.svg`
//! (`bash docs/pictures.sh` does it with `--quick`).

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::figure::{Better, Row};

const WIDTH: u32 = 900;
const ROW_HEIGHT: u32 = 26;
const FRAME_HEIGHT: u32 = 120;
const FONT: (&str, u32) = ("sans-serif", 13);
const PYTHON_COLOR: RGBColor = RGBColor(31, 119, 180);
const RAW_COLOR: RGBColor = RGBColor(255, 127, 14);
const PEER_COLOR: RGBColor = RGBColor(44, 160, 44);

fn drawing(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the --svg chart: {e}")
}

/// "How many times better than the peer": the quotient `ours / peer` read in the good direction.
fn times_better(better: Better, ours_over_peer: f64) -> f64 {
    match better {
        Better::Higher => ours_over_peer,
        Better::Lower => 1.0 / ours_over_peer,
    }
}

/// Draw `rows` into the SVG file `path`.
pub fn write_svg(path: &Path, rows: &[Row]) -> Result<()> {
    // (figure, [vs Python, vs raw, vs Rust peer]) for the rows that have at least one ratio.
    let points: Vec<(&str, [Option<f64>; 3])> = rows
        .iter()
        .map(|r| {
            let good = |q: Option<f64>| {
                q.filter(|q| q.is_finite() && *q > 0.0)
                    .map(|q| times_better(r.figure.better, q))
            };
            let peer = if r.peer.is_some_and(|p| p.floor) {
                None
            } else {
                good(r.ours_over_rust_peer())
            };
            (
                r.figure.id,
                [good(r.ours_over_python()), good(r.ours_over_raw()), peer],
            )
        })
        .filter(|(_, v)| v.iter().any(Option::is_some))
        .collect();
    let all = points.iter().flat_map(|(_, v)| v.iter().flatten().copied());
    let (lo, hi) = all.fold((1.0f64, 1.0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let (lo, hi) = (lo / 2.0, hi * 2.0);
    let n = points.len().max(1);

    let root =
        SVGBackend::new(path, (WIDTH, FRAME_HEIGHT + n as u32 * ROW_HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "ours, how many times better than each peer (log scale; right of 1: ours wins)",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(170)
        // One segment per figure on the y axis, the first figure on top.
        .build_cartesian_2d((lo..hi).log_scale(), (0..n).into_segmented())
        .map_err(drawing)?;
    let row_of = |i: usize| SegmentValue::CenterOf(n - 1 - i);
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(k) if *k < n => points[n - 1 - k].0.to_string(),
            _ => String::new(),
        })
        .x_label_formatter(&|v| format!("{v}x"))
        .label_style(FONT)
        .draw()
        .map_err(drawing)?;
    // The line at 1: as good as the peer.
    chart
        .draw_series([PathElement::new(
            [(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Exact(n))],
            BLACK.stroke_width(1),
        )])
        .map_err(drawing)?;
    let series = [
        ("vs Python", PYTHON_COLOR),
        ("vs the raw loop", RAW_COLOR),
        ("vs the Rust peer", PEER_COLOR),
    ];
    for (k, &(label, color)) in series.iter().enumerate() {
        let dots = points
            .iter()
            .enumerate()
            .filter_map(|(i, (_, v))| v[k].map(|x| Circle::new((x, row_of(i)), 5, color.filled())));
        chart
            .draw_series(dots)
            .map_err(drawing)?
            .label(label)
            .legend(move |(x, y)| Circle::new((x, y), 5, color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(FONT)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(drawing)?;
    root.present().map_err(drawing)?;
    Ok(())
}
