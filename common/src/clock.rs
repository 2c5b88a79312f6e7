//! Time scale: every simulated sleep of the notes (`time.sleep(3)`) goes through [`sleep`], which
//! multiplies it by `--time-scale` (1 = the notes' pace, 0 = no sleeping at all, for tests).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static SCALE_BITS: AtomicU64 = AtomicU64::new(0x3FF0_0000_0000_0000); // 1.0f64

pub(crate) fn set_time_scale(f: f64) {
    SCALE_BITS.store(f.to_bits(), Ordering::SeqCst);
}

/// The `--time-scale` factor.
pub fn time_scale() -> f64 {
    f64::from_bits(SCALE_BITS.load(Ordering::Relaxed))
}

/// `d` multiplied by the time scale (saturating: never panics, whatever the product).
pub fn scaled(d: Duration) -> Duration {
    let s = time_scale();
    if s == 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(d.as_secs_f64() * s).unwrap_or(Duration::MAX)
    }
}

/// Sleep for `d` times the time scale (not at all at scale 0). This is the notes' `time.sleep`:
/// a stand-in for work or IO, never a way to wait for another process.
pub fn sleep(d: Duration) {
    let d = scaled(d);
    if !d.is_zero() {
        std::thread::sleep(d);
    }
}

/// Seconds as a `Duration` (`secs(0.2)`), for sleeps written like the notes'.
pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// The largest `--time-scale`: 1000 times the notes' pace is already hours of sleeping.
pub const MAX_TIME_SCALE: f64 = 1000.0;

/// Parse `--time-scale`: a finite number in `0..=1000`.
pub fn parse_time_scale(s: &str) -> Result<f64, String> {
    let f: f64 = s.trim().parse().map_err(|_| "not a number".to_string())?;
    if !f.is_finite() {
        return Err("must be finite".into());
    }
    if !(0.0..=MAX_TIME_SCALE).contains(&f) {
        return Err(format!("must be in 0..={MAX_TIME_SCALE}"));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_scale_bounds() {
        assert_eq!(parse_time_scale("0"), Ok(0.0));
        assert_eq!(parse_time_scale("1000"), Ok(1000.0));
        for bad in ["1e30", "1000.5", "-0.1", "nan", "inf", "x", ""] {
            assert!(parse_time_scale(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn scaled_saturates() {
        set_time_scale(MAX_TIME_SCALE);
        assert_eq!(scaled(Duration::MAX), Duration::MAX);
        set_time_scale(1.0);
    }
}
