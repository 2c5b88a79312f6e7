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

/// `d` multiplied by the time scale.
pub fn scaled(d: Duration) -> Duration {
    let s = time_scale();
    if s == 0.0 {
        Duration::ZERO
    } else {
        d.mul_f64(s)
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

/// Parse `--time-scale`: a finite number >= 0.
pub fn parse_time_scale(s: &str) -> Result<f64, String> {
    let f: f64 = s.trim().parse().map_err(|_| "not a number".to_string())?;
    if !f.is_finite() {
        return Err("must be finite".into());
    }
    if f < 0.0 {
        return Err("must be >= 0".into());
    }
    Ok(f)
}
