//! `--timeline`: an ASCII chart of which task ran when, one lane per worker process.
//!
//! ```text
//! timeline: 0 .. 3004 ms, 60 columns, one lane per worker process (task number mod 36; X = failed)
//!   worker 4101 |0000000000000000000022222222222222222222444444444444444444444|
//!   worker 4102 |1111111111111111111133333333333333333333555555555555555555555|
//! ```
//!
//! Read it as the wardrobe of note 000 (point 3): two hangers, six garments, each hanger used
//! again and again. A worker that died and was replaced is a lane that stops (ending in `X`)
//! and a new lane that starts. The times come from the workers themselves (start and end of each
//! task, on the monotonic clock all processes share), so the chart shows when the work really
//! ran, not when the parent heard about it.

use serde::Serialize;

/// When one task ran, and where.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Span {
    /// The task's number (its id in the pool: 0, 1, 2... in submission order).
    pub task: u64,
    /// The worker process that ran it.
    pub worker: i32,
    /// Start, in ms since the demo started.
    pub start_ms: f64,
    /// End (for a failed task: when the parent saw its worker die).
    pub end_ms: f64,
    /// Finished with a value (false: raised, or the worker died).
    pub ok: bool,
}

/// The symbol for a task: its number in base 36 (last digit), `X` when it failed.
pub fn symbol(s: &Span) -> char {
    if !s.ok {
        return 'X';
    }
    std::char::from_digit((s.task % 36) as u32, 36).unwrap_or('?')
}

/// The workers in order of their first task.
pub fn lanes(spans: &[Span]) -> Vec<i32> {
    let mut sorted: Vec<&Span> = spans.iter().collect();
    sorted.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let mut lanes = Vec::new();
    for s in sorted {
        if !lanes.contains(&s.worker) {
            lanes.push(s.worker);
        }
    }
    lanes
}

/// Draw the chart, `width` columns wide. Returns the lines (header first).
pub fn render(spans: &[Span], width: usize) -> Vec<String> {
    let width = width.max(10);
    if spans.is_empty() {
        return vec!["timeline: no tasks ran".into()];
    }
    let t0 = spans
        .iter()
        .map(|s| s.start_ms)
        .fold(f64::INFINITY, f64::min);
    let t1 = spans
        .iter()
        .map(|s| s.end_ms)
        .fold(f64::NEG_INFINITY, f64::max);
    let total = (t1 - t0).max(1e-9);
    let col = |t: f64| (((t - t0) / total) * width as f64).floor() as usize;
    let mut lines = vec![format!(
        "timeline: {:.0} .. {:.0} ms, {width} columns, one lane per worker process (task number mod 36; X = failed)",
        t0, t1
    )];
    for pid in lanes(spans) {
        let mut row = vec!['.'; width];
        let mut mine: Vec<&Span> = spans.iter().filter(|s| s.worker == pid).collect();
        mine.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        for s in mine {
            let a = col(s.start_ms).min(width - 1);
            let b = col(s.end_ms).clamp(a + 1, width);
            for c in &mut row[a..b] {
                *c = symbol(s);
            }
        }
        lines.push(format!(
            "  worker {pid:>7} |{}|",
            row.into_iter().collect::<String>()
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(task: u64, worker: i32, a: f64, b: f64, ok: bool) -> Span {
        Span {
            task,
            worker,
            start_ms: a,
            end_ms: b,
            ok,
        }
    }

    #[test]
    fn two_lanes_in_order_of_first_task() {
        let spans = [
            span(1, 20, 0.0, 50.0, true),
            span(0, 10, 0.0, 50.0, true),
            span(2, 10, 50.0, 100.0, true),
            span(3, 20, 50.0, 100.0, false),
        ];
        let lines = render(&spans, 10);
        assert_eq!(lines.len(), 3);
        assert!(lines[1].contains("20 |11111XXXXX|"), "{lines:?}");
        assert!(lines[2].contains("10 |0000022222|"), "{lines:?}");
    }

    #[test]
    fn a_tiny_task_still_gets_a_column() {
        let spans = [
            span(0, 1, 0.0, 100.0, true),
            span(11, 2, 50.0, 50.001, true),
        ];
        let lines = render(&spans, 10);
        assert!(lines[2].contains("|.....b....|"), "{lines:?}");
    }

    #[test]
    fn no_spans_no_chart() {
        assert_eq!(render(&[], 40).len(), 1);
    }
}
