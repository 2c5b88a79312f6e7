//! CPU-bound work for `gil`, measured in milliseconds of *this* machine.
//!
//! The work is a xorshift loop: pure arithmetic on registers, no memory traffic, no system calls,
//! so it is limited by the CPU alone (the notes' "cpu密集"). Each step goes through
//! `std::hint::black_box`, which stops the optimiser from computing the loop at compile time or
//! dropping it.
//!
//! A fixed iteration count would take many times longer in a debug build than in a release
//! build, and differ from machine to machine. So the demo first measures how many iterations one thread does per millisecond
//! ([`calibrate`]) and sizes every job in milliseconds of single-thread work. Every column of
//! the table then does the same number of iterations.

use std::hint::black_box;
use std::time::Instant;

/// Do `iters` steps of xorshift from `seed` and return the last value (so the work is used).
pub fn spin(iters: u64, seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..iters {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = black_box(x);
    }
    x
}

/// Iterations of [`spin`] per millisecond on one thread. Takes the best of a few short runs: a
/// run during which the scheduler gave the CPU to someone else would make the machine look slow.
pub fn calibrate() -> u64 {
    let mut iters = 1u64 << 12;
    // Grow until one run takes at least 5 ms, so the clock's resolution does not matter.
    loop {
        let t = Instant::now();
        black_box(spin(iters, 7));
        if t.elapsed().as_secs_f64() >= 0.005 || iters >= 1 << 40 {
            break;
        }
        iters *= 2;
    }
    let mut best = 0.0f64;
    for _ in 0..3 {
        let t = Instant::now();
        black_box(spin(iters, 11));
        let ms = t.elapsed().as_secs_f64() * 1e3;
        best = best.max(iters as f64 / ms.max(1e-6));
    }
    (best as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_depends_on_its_input_and_length() {
        assert_ne!(spin(10, 1), spin(11, 1));
        assert_ne!(spin(10, 1), spin(10, 3));
        assert!(calibrate() > 0);
    }
}
