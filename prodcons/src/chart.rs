//! `--svg FILE`: the run as a picture, drawn with the `plotters` crate's SVG backend.
//!
//! One panel per phase, made from the same samples as `--timeline` ([`crate::timeline`]), with
//! time in milliseconds since the phase started:
//! - on top, the buffer's **occupancy** (a step line), its **capacity**, and shaded stretches
//!   where some producer was blocked in `put` (buffer full: backpressure, red) or some consumer
//!   waited in `get` (buffer empty, blue);
//! - below, **one lane per role** (`P1`, `C1`, ...): a dot at each item it put or got, and a
//!   bar for each time it was blocked.
//!
//! In `backpressure` the picture says what the notes leave out: the buffer fills in the first
//! few puts, then stays at its capacity while the producer's lane is mostly bars, one put per
//! get: the producer runs at the consumer's pace.
//!
//! The chart in the README is regenerated with
//! `cargo run -p prodcons -- backpressure --seed 1 --svg docs/img/prodcons-backpressure.svg`.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::ledger::Side;
use crate::phases::PhaseResult;
use crate::timeline::{Moment, Step};

/// Width of the picture, in pixels.
const WIDTH: u32 = 900;
/// Height of a phase's occupancy chart.
const OCCUPANCY_HEIGHT: u32 = 280;
/// Height of one role's lane.
const LANE_HEIGHT: u32 = 36;
/// Room below the lanes for the time axis.
const AXIS_HEIGHT: u32 = 60;
/// Font of the labels.
const FONT: (&str, u32) = ("sans-serif", 13);

/// Producers blocked (buffer full), and their lanes' bars.
const PRODUCER_COLOR: RGBColor = RGBColor(214, 39, 40);
/// Consumers waiting (buffer empty), and their lanes' bars.
const CONSUMER_COLOR: RGBColor = RGBColor(31, 119, 180);
/// The occupancy line.
const OCCUPANCY_COLOR: RGBColor = RGBColor(44, 160, 44);

/// Draw every phase of the run into the SVG file `path`.
pub fn write_svg(path: &Path, phases: &[PhaseResult]) -> Result<()> {
    let heights: Vec<u32> = phases.iter().map(panel_height).collect();
    let root = SVGBackend::new(path, (WIDTH, heights.iter().sum())).into_drawing_area();
    root.fill(&WHITE).map_err(drawing)?;
    let mut rest = root.clone();
    for (phase, height) in phases.iter().zip(heights) {
        let (panel, below) = rest.split_vertically(height);
        draw_phase(&panel, phase)?;
        rest = below;
    }
    root.present()
        .map_err(|e| anyhow!("--svg {}: {e}", path.display()))
}

/// plotters' errors carry the backend's error; say it in one line.
fn drawing(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the --svg chart: {e}")
}

fn panel_height(phase: &PhaseResult) -> u32 {
    OCCUPANCY_HEIGHT + lanes(phase) * LANE_HEIGHT + AXIS_HEIGHT
}

fn lanes(phase: &PhaseResult) -> u32 {
    phase.spec.producers + phase.spec.consumers
}

/// Lane of a role: producers first, then consumers.
fn lane_of(phase: &PhaseResult, side: Side, index: u32) -> u32 {
    match side {
        Side::Producer => index,
        Side::Consumer => phase.spec.producers + index,
    }
}

/// The stretches (start, end), in µs, where `waiting` holds, from the samples in time order.
fn stretches(moments: &[Moment], mut waiting: impl FnMut(&Moment) -> bool) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut since = None;
    for m in moments {
        match (since, waiting(m)) {
            (None, true) => since = Some(m.t_us),
            (Some(start), false) => {
                out.push((start, m.t_us));
                since = None;
            }
            _ => {}
        }
    }
    if let (Some(start), Some(last)) = (since, moments.last()) {
        out.push((start, last.t_us));
    }
    out
}

fn draw_phase(area: &DrawingArea<SVGBackend<'_>, Shift>, phase: &PhaseResult) -> Result<()> {
    let moments = &phase.moments;
    let t0 = moments.first().map_or(0, |m| m.t_us);
    let ms = |t_us: u64| t_us.saturating_sub(t0) as f64 / 1000.0;
    let end = moments.last().map_or(0.0, |m| ms(m.t_us)).max(0.001);
    let capacity = phase.spec.capacity as f64;
    let (top, bottom) = area.split_vertically(OCCUPANCY_HEIGHT);
    let cut = match phase.dropped_samples {
        0 => String::new(),
        n => format!(" (the last {n} samples did not fit)"),
    };

    // The occupancy, the capacity, and who was blocked when.
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!(
                "prodcons {}: {} producer(s) ~{} ms/item, {} consumer(s) ~{} ms/item, buffer of {}{cut}",
                phase.name,
                phase.spec.producers,
                phase.spec.produce_ms,
                phase.spec.consumers,
                phase.spec.consume_ms,
                phase.spec.capacity
            ),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(25)
        .y_label_area_size(60)
        // Room above the capacity line for the legend.
        .build_cartesian_2d(0.0..end, 0.0..capacity * 1.7 + 0.5)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .y_labels(phase.spec.capacity.clamp(2, 10) + 2)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(FONT)
        .y_desc("items in the buffer")
        .draw()
        .map_err(drawing)?;
    let shade = |color: RGBColor, waiting: fn(&Moment) -> bool| {
        stretches(moments, waiting)
            .into_iter()
            .map(move |(a, b)| {
                Rectangle::new([(ms(a), 0.0), (ms(b), capacity)], color.mix(0.15).filled())
            })
            .collect::<Vec<_>>()
    };
    chart
        .draw_series(shade(PRODUCER_COLOR, |m| m.producers_waiting > 0))
        .map_err(drawing)?
        .label("a producer blocked in put (buffer full)")
        .legend(|(x, y)| {
            Rectangle::new(
                [(x, y - 5), (x + 15, y + 5)],
                PRODUCER_COLOR.mix(0.3).filled(),
            )
        });
    chart
        .draw_series(shade(CONSUMER_COLOR, |m| m.consumers_waiting > 0))
        .map_err(drawing)?
        .label("a consumer waiting in get (buffer empty)")
        .legend(|(x, y)| {
            Rectangle::new(
                [(x, y - 5), (x + 15, y + 5)],
                CONSUMER_COLOR.mix(0.3).filled(),
            )
        });
    chart
        .draw_series(LineSeries::new(
            [(0.0, capacity), (end, capacity)],
            BLACK.mix(0.6).stroke_width(1),
        ))
        .map_err(drawing)?
        .label(format!("capacity ({})", phase.spec.capacity))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], BLACK.mix(0.6)));
    // A step line: the occupancy holds its value until the next sample.
    let mut steps = Vec::with_capacity(moments.len() * 2);
    let mut level = 0.0;
    for m in moments {
        steps.push((ms(m.t_us), level));
        level = f64::from(m.occupancy);
        steps.push((ms(m.t_us), level));
    }
    chart
        .draw_series(LineSeries::new(steps, OCCUPANCY_COLOR.stroke_width(2)))
        .map_err(drawing)?
        .label("occupancy")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], OCCUPANCY_COLOR.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .label_font(FONT)
        .draw()
        .map_err(drawing)?;

    // One lane per role: its puts or gets, and its waits.
    let lanes = lanes(phase);
    let names: Vec<String> = (0..phase.spec.producers)
        .map(|i| format!("P{}", i + 1))
        .chain((0..phase.spec.consumers).map(|i| format!("C{}", i + 1)))
        .collect();
    let label = |y: &SegmentValue<u32>| match y {
        SegmentValue::CenterOf(lane) => names.get(*lane as usize).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let mut lane_chart = ChartBuilder::on(&bottom)
        .margin_left(10)
        .margin_right(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end, (0..lanes).into_segmented())
        .map_err(drawing)?;
    lane_chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .y_labels(lanes as usize)
        .y_label_formatter(&label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(FONT)
        .axis_desc_style(FONT)
        .x_desc(
            "ms since the phase started (dots: puts in a P lane, gets in a C lane; bars: blocked)",
        )
        .draw()
        .map_err(drawing)?;
    for (side, color) in [
        (Side::Producer, PRODUCER_COLOR),
        (Side::Consumer, CONSUMER_COLOR),
    ] {
        let count = match side {
            Side::Producer => phase.spec.producers,
            Side::Consumer => phase.spec.consumers,
        };
        for index in 0..count {
            let lane = lane_of(phase, side, index);
            // This role's waits: from its Blocked sample to its Resumed one.
            let mut blocked = false;
            let bars = stretches(moments, |m| {
                match m.step {
                    Step::Blocked(s, i) if s == side && i == index => blocked = true,
                    Step::Resumed(s, i) if s == side && i == index => blocked = false,
                    _ => {}
                }
                blocked
            });
            let bar_at = |(a, b): (u64, u64)| {
                Rectangle::new(
                    [
                        (ms(a), SegmentValue::Exact(lane)),
                        (ms(b), SegmentValue::Exact(lane + 1)),
                    ],
                    color.mix(0.25).filled(),
                )
            };
            lane_chart
                .draw_series(bars.into_iter().map(bar_at))
                .map_err(drawing)?;
        }
        let dots = moments.iter().filter_map(|m| match (side, m.step) {
            (Side::Producer, Step::Put(i)) | (Side::Consumer, Step::Got(i)) => Some(Circle::new(
                (ms(m.t_us), SegmentValue::CenterOf(lane_of(phase, side, i))),
                3,
                color.filled(),
            )),
            _ => None,
        });
        lane_chart.draw_series(dots).map_err(drawing)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t_us: u64, producers_waiting: u32) -> Moment {
        Moment {
            t_us,
            occupancy: 0,
            producers_waiting,
            consumers_waiting: 0,
            step: Step::Mark,
        }
    }

    #[test]
    fn stretches_open_and_close_with_the_condition() {
        let m = [at(0, 0), at(10, 1), at(20, 2), at(30, 0), at(40, 1)];
        assert_eq!(
            stretches(&m, |m| m.producers_waiting > 0),
            [(10, 30), (40, 40)]
        );
        assert!(stretches(&[], |_| true).is_empty());
    }
}
