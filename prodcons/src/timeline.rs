//! Showing the buffer: the small occupancy bar printed with every put and get
//! (`[###.....] 3/8`), and the `--timeline` chart of occupancy over time, with the moments when
//! producers were blocked (buffer full: backpressure) or consumers waited (buffer empty).
//!
//! Every put, get, "starts waiting" and "stops waiting" appends a sample (time, occupancy, how
//! many producers and consumers are waiting, and which [`Step`] of which role it was) to a fixed
//! array in `MAP_SHARED` memory, so children can record too. A shared counter hands out the slots
//! (`fetch_add`): no lock, no allocation. When the array is full, later samples are dropped and
//! the chart says so. The same samples draw the `--svg` chart ([`crate::chart`]).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use anyhow::{Context, Result};
use common::{json, out, Shared, SharedSlice};

use crate::ledger::Side;

/// Samples kept at most (about 400 KiB of shared memory).
pub const MAX_SAMPLES: usize = 16_384;
/// Columns of the chart.
pub const WIDTH: usize = 64;
/// Rows of the chart at most (a bigger capacity is scaled down).
pub const HEIGHT: usize = 8;

common::shared_struct! {
    /// One moment of the run, in shared memory.
    pub struct Sample {
        /// Microseconds since the demo started.
        pub t_us: AtomicU64,
        /// Items in the buffer.
        pub occupancy: AtomicU32,
        /// Producers waiting in a put.
        pub producers_waiting: AtomicU32,
        /// Consumers waiting in a get.
        pub consumers_waiting: AtomicU32,
        /// What happened: a [`Step`]'s kind ([`Step::code`]).
        pub step: AtomicU32,
        /// Who did it: the role's index (0-based).
        pub role: AtomicU32,
        _pad: AtomicU32,
    }
}

/// What a sample records, and which role did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The start or the end of a phase.
    Mark,
    /// Producer `index` put an item.
    Put(u32),
    /// Consumer `index` got one.
    Got(u32),
    /// A role starts waiting: a producer on a full buffer, a consumer on an empty one.
    Blocked(Side, u32),
    /// It stops waiting.
    Resumed(Side, u32),
}

impl Step {
    /// (kind, role index), the two words a sample stores.
    fn code(self) -> (u32, u32) {
        match self {
            Step::Mark => (0, 0),
            Step::Put(i) => (1, i),
            Step::Got(i) => (2, i),
            Step::Blocked(Side::Producer, i) => (3, i),
            Step::Resumed(Side::Producer, i) => (4, i),
            Step::Blocked(Side::Consumer, i) => (5, i),
            Step::Resumed(Side::Consumer, i) => (6, i),
        }
    }

    /// The inverse of [`code`](Self::code).
    fn decode(kind: u32, index: u32) -> Step {
        match kind {
            1 => Step::Put(index),
            2 => Step::Got(index),
            3 => Step::Blocked(Side::Producer, index),
            4 => Step::Resumed(Side::Producer, index),
            5 => Step::Blocked(Side::Consumer, index),
            6 => Step::Resumed(Side::Consumer, index),
            _ => Step::Mark,
        }
    }
}

/// One sample, read back out of shared memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moment {
    /// Microseconds since the demo started.
    pub t_us: u64,
    /// Items in the buffer.
    pub occupancy: u32,
    /// Producers waiting in a put.
    pub producers_waiting: u32,
    /// Consumers waiting in a get.
    pub consumers_waiting: u32,
    /// What happened, and who did it.
    pub step: Step,
}

common::shared_struct! {
    /// The slot counter: `next` hands out sample slots.
    pub struct Cursor {
        /// Samples recorded so far (some may have been dropped for lack of room).
        pub next: AtomicU64,
    }
}

/// The recorded samples of one run.
pub struct Timeline {
    samples: SharedSlice<Sample>,
    cursor: Shared<Cursor>,
}

impl Timeline {
    /// Map room for up to `max` samples.
    pub fn new(max: usize) -> Result<Timeline> {
        Ok(Timeline {
            samples: SharedSlice::new_zeroed(max.clamp(1, MAX_SAMPLES))
                .context("mmap(MAP_SHARED) for the timeline")?,
            cursor: Shared::new_zeroed().context("mmap(MAP_SHARED)")?,
        })
    }

    /// Record the state now, after `step`.
    pub fn record(
        &self,
        occupancy: usize,
        producers_waiting: u32,
        consumers_waiting: u32,
        step: Step,
    ) {
        let i = self.cursor.next.fetch_add(1, Ordering::Relaxed) as usize;
        if let Some(s) = self.samples.get(i) {
            let (kind, role) = step.code();
            s.t_us
                .store((out::t_ms() * 1000.0) as u64, Ordering::Relaxed);
            s.occupancy.store(occupancy as u32, Ordering::Relaxed);
            s.producers_waiting
                .store(producers_waiting, Ordering::Relaxed);
            s.consumers_waiting
                .store(consumers_waiting, Ordering::Relaxed);
            s.step.store(kind, Ordering::Relaxed);
            s.role.store(role, Ordering::Relaxed);
        }
    }

    /// The samples, in time order, and how many were dropped for lack of room.
    pub fn moments(&self) -> (Vec<Moment>, u64) {
        let n = self.cursor.next.load(Ordering::Relaxed);
        let kept = (n as usize).min(self.samples.len());
        let mut v: Vec<Moment> = self.samples[..kept]
            .iter()
            .map(|s| Moment {
                t_us: s.t_us.load(Ordering::Relaxed),
                occupancy: s.occupancy.load(Ordering::Relaxed),
                producers_waiting: s.producers_waiting.load(Ordering::Relaxed),
                consumers_waiting: s.consumers_waiting.load(Ordering::Relaxed),
                step: Step::decode(
                    s.step.load(Ordering::Relaxed),
                    s.role.load(Ordering::Relaxed),
                ),
            })
            .collect();
        v.sort_by_key(|m| m.t_us);
        (v, n - kept as u64)
    }

    /// Print the chart (prose) or a `timeline` event with the same columns (`--json`).
    pub fn show(&self, capacity: usize) {
        let (moments, dropped) = self.moments();
        let samples: Vec<(u64, u32, u32, u32)> = moments
            .iter()
            .map(|m| {
                (
                    m.t_us,
                    m.occupancy,
                    m.producers_waiting,
                    m.consumers_waiting,
                )
            })
            .collect();
        let chart = Chart::build(&samples);
        out::event(
            "timeline",
            json!({
                "column_ms": chart.column_ms,
                "start_ms": chart.start_ms,
                "occupancy": chart.occupancy,
                "producers_blocked": chart.producers,
                "consumers_blocked": chart.consumers,
                "samples": samples.len(),
                "dropped_samples": dropped,
            }),
            chart.render(capacity, dropped),
        );
    }
}

/// The samples folded into [`WIDTH`] columns of equal time.
#[derive(Debug, PartialEq)]
struct Chart {
    start_ms: f64,
    column_ms: f64,
    /// Highest occupancy in each column.
    occupancy: Vec<u32>,
    /// Most producers waiting at once in each column.
    producers: Vec<u32>,
    /// Most consumers waiting at once in each column.
    consumers: Vec<u32>,
}

impl Chart {
    fn build(samples: &[(u64, u32, u32, u32)]) -> Chart {
        let (t0, t1) = match (samples.first(), samples.last()) {
            (Some(a), Some(b)) => (a.0, b.0),
            _ => (0, 0),
        };
        let span = (t1 - t0).max(1);
        let col_of = |t: u64| {
            (((t - t0) as u128 * WIDTH as u128 / (span as u128 + 1)) as usize).min(WIDTH - 1)
        };
        let mut occ = vec![None::<u32>; WIDTH];
        let mut pw = vec![None::<u32>; WIDTH];
        let mut cw = vec![None::<u32>; WIDTH];
        for &(t, o, p, c) in samples {
            let i = col_of(t);
            occ[i] = Some(occ[i].map_or(o, |x| x.max(o)));
            pw[i] = Some(pw[i].map_or(p, |x| x.max(p)));
            cw[i] = Some(cw[i].map_or(c, |x| x.max(c)));
        }
        // A column without a sample keeps the state of the last sample before it: nothing
        // happened, so nothing changed.
        let mut last = (0, 0, 0);
        for i in 0..WIDTH {
            match (occ[i], pw[i], cw[i]) {
                (Some(o), Some(p), Some(c)) => last = (o, p, c),
                _ => {
                    occ[i] = Some(last.0);
                    pw[i] = Some(last.1);
                    cw[i] = Some(last.2);
                }
            }
        }
        let flat = |v: Vec<Option<u32>>| v.into_iter().map(|x| x.unwrap_or(0)).collect();
        Chart {
            start_ms: t0 as f64 / 1000.0,
            column_ms: (span as f64 / 1000.0 / WIDTH as f64 * 1000.0).round() / 1000.0,
            occupancy: flat(occ),
            producers: flat(pw),
            consumers: flat(cw),
        }
    }

    fn render(&self, capacity: usize, dropped: u64) -> String {
        let rows = capacity.min(HEIGHT);
        let mut s = format!(
            "occupancy of the buffer over time (capacity {capacity}; one column = {:.3} ms, from t = {:.1} ms)\n",
            self.column_ms, self.start_ms
        );
        let label_w = capacity.to_string().len();
        for r in (1..=rows).rev() {
            // Row r is drawn where occupancy reaches its level: with more slots than rows, each
            // row stands for capacity/rows slots.
            let level = (r * capacity).div_ceil(rows) as u32;
            s.push_str(&format!("{level:>label_w$} |"));
            for &o in &self.occupancy {
                s.push(if o >= level { '#' } else { ' ' });
            }
            s.push('\n');
        }
        s.push_str(&format!("{:>label_w$} +{}\n", "", "-".repeat(WIDTH)));
        let marks = |v: &[u32]| -> String { v.iter().map(|&n| digit(n)).collect() };
        s.push_str(&format!(
            "{:>label_w$} |{}  producers blocked: buffer full (backpressure)\n",
            "P",
            marks(&self.producers)
        ));
        s.push_str(&format!(
            "{:>label_w$} |{}  consumers waiting: buffer empty",
            "C",
            marks(&self.consumers)
        ));
        if dropped > 0 {
            s.push_str(&format!(
                "\n(the last {dropped} samples did not fit and are not shown)"
            ));
        }
        s
    }
}

/// How many are waiting, as one character: blank, 1-9, or `+` for more.
fn digit(n: u32) -> char {
    match n {
        0 => ' ',
        1..=9 => char::from_digit(n, 10).unwrap_or('+'),
        _ => '+',
    }
}

/// The occupancy bar printed with each put and get: `[###.....] 3/8`. At most 16 cells; with a
/// bigger capacity each cell stands for several slots (a non-empty queue shows at least one `#`,
/// a queue not full at least one `.`).
pub fn bar(len: usize, capacity: usize) -> String {
    let cells = capacity.clamp(1, 16);
    let mut filled = (len * cells).div_ceil(capacity.max(1)).min(cells);
    if len < capacity && filled == cells {
        filled = cells - 1;
    }
    format!(
        "[{}{}] {len}/{capacity}",
        "#".repeat(filled),
        ".".repeat(cells - filled)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars() {
        assert_eq!(bar(0, 4), "[....] 0/4");
        assert_eq!(bar(3, 4), "[###.] 3/4");
        assert_eq!(bar(4, 4), "[####] 4/4");
        assert_eq!(bar(1, 100), "[#...............] 1/100");
        assert_eq!(bar(99, 100), "[###############.] 99/100");
    }

    #[test]
    fn chart_columns_carry_state_and_mark_waiters() {
        // full and a producer waiting from t=10 ms to 20 ms, then empty with a waiting consumer
        let samples = [
            (0, 1, 0, 0),
            (10_000, 2, 1, 0),
            (20_000, 2, 0, 0),
            (30_000, 0, 0, 1),
            (40_000, 0, 0, 0),
        ];
        let c = Chart::build(&samples);
        assert_eq!(c.occupancy.len(), WIDTH);
        assert_eq!(c.occupancy[0], 1);
        assert_eq!(c.occupancy[WIDTH / 4 + 2], 2, "carried between samples");
        assert!(c.producers[WIDTH / 4 + 2] == 1 && c.consumers[WIDTH / 4 + 2] == 0);
        assert!(c.consumers[3 * WIDTH / 4 + 2] == 1);
        let text = c.render(2, 0);
        assert_eq!(text.lines().count(), 1 + 2 + 1 + 2);
        assert!(text.contains('1'));
    }
}
