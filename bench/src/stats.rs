//! Median and range of repeated runs.
//!
//! Why the median and not the mean: on a shared machine one run in five may lose the CPU to
//! somebody else's build, and one such outlier drags a mean anywhere. The median of five ignores
//! up to two of them; the min-max range next to it shows how noisy the runs were, so a reader can
//! tell a real difference from a lucky one.

/// The summary of several runs of one measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// The middle value (the mean of the two middle ones for an even count).
    pub median: f64,
    /// The smallest run.
    pub min: f64,
    /// The largest run.
    pub max: f64,
    /// How many runs.
    pub runs: usize,
}

impl Sample {
    /// Summarise `values`; `None` when there are none. NaN values are a bug of the caller (a
    /// division by a zero duration) and panic rather than silently sort anywhere.
    pub fn of(values: &[f64]) -> Option<Sample> {
        if values.is_empty() {
            return None;
        }
        assert!(
            values.iter().all(|v| !v.is_nan()),
            "NaN among the measured values: {values:?}"
        );
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Sample {
            median,
            min: v[0],
            max: v[n - 1],
            runs: n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_count_takes_the_middle() {
        let s = Sample::of(&[5.0, 1.0, 4.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.runs), (3.0, 1.0, 5.0, 5));
    }

    #[test]
    fn even_count_averages_the_two_middle_ones() {
        let s = Sample::of(&[10.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
    }

    #[test]
    fn one_outlier_does_not_move_the_median() {
        let calm = Sample::of(&[10.0, 10.1, 9.9, 10.0, 10.2]).unwrap();
        let noisy = Sample::of(&[10.0, 10.1, 9.9, 10.0, 1000.0]).unwrap();
        assert_eq!(calm.median, noisy.median);
        assert_eq!(noisy.max, 1000.0);
    }

    #[test]
    fn single_value_and_empty() {
        let s = Sample::of(&[7.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.runs), (7.0, 7.0, 7.0, 1));
        assert!(Sample::of(&[]).is_none());
    }

    #[test]
    #[should_panic(expected = "NaN")]
    fn nan_is_refused() {
        let _ = Sample::of(&[1.0, f64::NAN]);
    }
}
