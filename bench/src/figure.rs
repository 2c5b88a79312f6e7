//! What one figure of the table is: what is measured three ways (ours, Python, raw), in which
//! unit, at which size, and what target the issue sets for it. A fourth column, the Rust peer,
//! is looked up by figure id in [`crate::peer`].

use anyhow::Result;

use crate::peer::Peer;
use crate::stats::Sample;

/// One measurement: run the loop `n` times (operations, messages, items) and return the figure's
/// value in its unit. It does its own set-up and tear-down (fork a partner, start a pool) and
/// times only the loop, so fork and start-up costs stay out of per-operation figures.
pub type Measure = fn(n: usize) -> Result<f64>;

/// Which direction is better for a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// A rate (messages per second): more is better.
    Higher,
    /// A cost (microseconds per call): less is better.
    Lower,
}

/// The project's goal for a figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// None: the figure is there to be read, not to be passed.
    None,
    /// Ours at least `k` times better than Python's (faster, or cheaper).
    TimesPython(f64),
    /// Ours at least the fraction `k` of the raw loop's performance (0.9: within 10%; for a cost
    /// unit, ours <= raw / k, so `k` = 1/1.1 reads "within 1.1x of raw").
    OfRaw(f64),
}

impl Target {
    /// How the target reads in the table.
    pub fn describe(self, better: Better) -> String {
        match self {
            Target::None => "-".into(),
            Target::TimesPython(k) => format!(">={k}x Python"),
            Target::OfRaw(k) => match better {
                Better::Higher if k >= 1.0 => "ours>=raw".into(),
                Better::Higher => format!(">={:.0}% raw", k * 100.0),
                Better::Lower => format!("<={:.2}x raw", 1.0 / k),
            },
        }
    }
}

/// One row of the benchmark.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Short unique name; `--only` matches a substring of it (`pool.apply`, `pipe.64k`).
    pub id: &'static str,
    /// The unit of every value of the row (`us/call`, `M msgs/s`).
    pub unit: &'static str,
    /// Whether bigger values are better.
    pub better: Better,
    /// The workspace's mechanism; `None` while its member has not landed.
    pub ours: Option<Measure>,
    /// What "ours" runs, or why it is missing.
    pub ours_what: &'static str,
    /// The minimal loop on the bare primitive.
    pub raw: Option<Measure>,
    /// What the raw loop is.
    pub raw_what: &'static str,
    /// The Python peer: script in `bench/python/` and figure name inside it.
    pub python: Option<(&'static str, &'static str)>,
    /// Operations per run for ours and raw, full run.
    pub size: usize,
    /// Operations per run with `--quick`.
    pub quick: usize,
    /// Operations per run for Python (smaller where Python is 20-1000x slower, so the full run
    /// fits in minutes; the work *per operation* is the same, and every unit is per operation).
    pub python_size: usize,
    /// The project's goal for this figure.
    pub target: Target,
}

/// The measured results of one figure.
#[derive(Debug, Clone)]
pub struct Row {
    /// The figure measured.
    pub figure: Figure,
    /// Ours, if measured.
    pub ours: Option<Sample>,
    /// Python, if measured.
    pub python: Option<Sample>,
    /// Raw, if measured.
    pub raw: Option<Sample>,
    /// The figure's Rust peer, if it has one ([`crate::peer::for_figure`]).
    pub peer: Option<Peer>,
    /// The Rust peer, if measured.
    pub rust_peer: Option<Sample>,
}

impl Row {
    /// ours / Python, as the table prints it (a plain quotient of the medians: for a cost unit,
    /// 0.05 means 20 times cheaper).
    pub fn ours_over_python(&self) -> Option<f64> {
        Some(self.ours?.median / self.python?.median)
    }

    /// ours / raw, a plain quotient of the medians.
    pub fn ours_over_raw(&self) -> Option<f64> {
        Some(self.ours?.median / self.raw?.median)
    }

    /// ours / Rust peer, a plain quotient of the medians.
    pub fn ours_over_rust_peer(&self) -> Option<f64> {
        Some(self.ours?.median / self.rust_peer?.median)
    }

    /// Whether ours is at least as good as the Rust peer: `None` when either is missing or the
    /// peer is a floor shown for scale (rayon).
    pub fn beats_peer(&self) -> Option<bool> {
        if self.peer?.floor {
            return None;
        }
        let q = self.ours_over_rust_peer()?;
        Some(match self.figure.better {
            Better::Higher => q >= 1.0,
            Better::Lower => q <= 1.0,
        })
    }

    /// Whether the target is met: `None` if there is no target or a needed value is missing.
    pub fn met(&self) -> Option<bool> {
        let better = self.figure.better;
        // "how many times better than": the quotient read in the good direction.
        let times = |q: f64| match better {
            Better::Higher => q,
            Better::Lower => 1.0 / q,
        };
        match self.figure.target {
            Target::None => None,
            Target::TimesPython(k) => Some(times(self.ours_over_python()?) >= k),
            Target::OfRaw(k) => Some(times(self.ours_over_raw()?) >= k),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn figure(better: Better, target: Target) -> Figure {
        Figure {
            id: "t.fig",
            unit: "us/call",
            better,
            ours: None,
            ours_what: "",
            raw: None,
            raw_what: "",
            python: None,
            size: 1,
            quick: 1,
            python_size: 1,
            target,
        }
    }

    fn row(better: Better, target: Target, ours: f64, python: f64, raw: f64) -> Row {
        let s = |v| Sample::of(&[v]);
        Row {
            figure: figure(better, target),
            ours: s(ours),
            python: s(python),
            raw: s(raw),
            peer: None,
            rust_peer: None,
        }
    }

    #[test]
    fn times_python_for_a_cost_and_a_rate() {
        // 10 us vs 280 us: 28x cheaper, meets 20x; 20 us: 14x, misses.
        assert_eq!(
            row(Better::Lower, Target::TimesPython(20.0), 10.0, 280.0, 1.0).met(),
            Some(true)
        );
        assert_eq!(
            row(Better::Lower, Target::TimesPython(20.0), 20.0, 280.0, 1.0).met(),
            Some(false)
        );
        // 400k/s vs 17k/s: 23.5x, meets.
        assert_eq!(
            row(Better::Higher, Target::TimesPython(20.0), 400.0, 17.0, 1.0).met(),
            Some(true)
        );
        assert_eq!(
            row(Better::Higher, Target::TimesPython(20.0), 300.0, 17.0, 1.0).met(),
            Some(false)
        );
    }

    #[test]
    fn of_raw_for_a_cost_and_a_rate() {
        let within = Target::OfRaw(1.0 / 1.1);
        assert_eq!(
            row(Better::Lower, within, 60.0, 0.0, 56.0).met(),
            Some(true)
        );
        assert_eq!(
            row(Better::Lower, within, 62.0, 0.0, 56.0).met(),
            Some(false)
        );
        assert_eq!(
            row(Better::Higher, Target::OfRaw(0.9), 18.0, 0.0, 19.0).met(),
            Some(true)
        );
        assert_eq!(
            row(Better::Higher, Target::OfRaw(0.9), 17.0, 0.0, 19.0).met(),
            Some(false)
        );
    }

    #[test]
    fn missing_values_or_no_target_give_no_verdict() {
        let mut r = row(Better::Higher, Target::TimesPython(20.0), 1.0, 1.0, 1.0);
        r.python = None;
        assert_eq!(r.met(), None);
        assert_eq!(r.ours_over_python(), None);
        assert_eq!(row(Better::Higher, Target::None, 1.0, 1.0, 1.0).met(), None);
    }

    #[test]
    fn ours_against_the_rust_peer() {
        let peer = |floor| Peer {
            name: "p",
            what: "",
            measure: |_| Ok(1.0),
            size: 10,
            floor,
        };
        // A cost: 10 us against the peer's 40 us beats it; against 5 us it does not.
        let mut r = row(Better::Lower, Target::None, 10.0, 1.0, 1.0);
        assert_eq!(r.beats_peer(), None, "no peer, no verdict");
        r.peer = Some(peer(false));
        r.rust_peer = Sample::of(&[40.0]);
        assert_eq!(r.ours_over_rust_peer(), Some(0.25));
        assert_eq!(r.beats_peer(), Some(true));
        r.rust_peer = Sample::of(&[5.0]);
        assert_eq!(r.beats_peer(), Some(false));
        // A rate: 10 M/s against 5 M/s beats it.
        let mut r = row(Better::Higher, Target::None, 10.0, 1.0, 1.0);
        r.peer = Some(peer(false));
        r.rust_peer = Sample::of(&[5.0]);
        assert_eq!(r.beats_peer(), Some(true));
        // A floor gets its ratio but no verdict.
        r.peer = Some(peer(true));
        r.rust_peer = Sample::of(&[100.0]);
        assert_eq!(r.ours_over_rust_peer(), Some(0.1));
        assert_eq!(r.beats_peer(), None);
    }

    #[test]
    fn targets_read_the_way_the_issue_words_them() {
        assert_eq!(
            Target::TimesPython(20.0).describe(Better::Lower),
            ">=20x Python"
        );
        assert_eq!(Target::OfRaw(0.9).describe(Better::Higher), ">=90% raw");
        assert_eq!(Target::OfRaw(1.0).describe(Better::Higher), "ours>=raw");
        assert_eq!(
            Target::OfRaw(1.0 / 1.1).describe(Better::Lower),
            "<=1.10x raw"
        );
        assert_eq!(Target::None.describe(Better::Lower), "-");
    }
}
