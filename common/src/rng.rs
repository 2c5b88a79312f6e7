//! Seeded randomness. One seed per run (`--seed N`, or a random one that the run reports), and
//! one independent generator per process, derived from the seed and the process's index.
//!
//! Why not `rand::thread_rng()` in each child: it is seeded once per thread and *not* reseeded on
//! fork, so every child would draw the same numbers as its siblings; and a run could not be
//! repeated.

use rand::rngs::StdRng;
use rand::SeedableRng;
use std::sync::atomic::{AtomicU64, Ordering};

static SEED: AtomicU64 = AtomicU64::new(0);

pub(crate) fn set_seed(seed: u64) {
    SEED.store(seed, Ordering::SeqCst);
}

/// The run's seed.
pub fn seed() -> u64 {
    SEED.load(Ordering::Relaxed)
}

/// A generator for process (or thread, or task) number `index`: the same seed and index always
/// give the same sequence; different indexes give unrelated ones. Index 0 is the parent's.
pub fn rng_for(index: u64) -> StdRng {
    StdRng::seed_from_u64(splitmix64(seed() ^ splitmix64(index.wrapping_add(1))))
}

/// SplitMix64's finaliser: spreads nearby inputs (seed 1, 2, 3...) over all 64 bits.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn same_index_same_sequence_other_index_other_sequence() {
        set_seed(42);
        let a: Vec<u32> = (0..8).map(|_| rng_for(1).gen()).collect();
        let mut r1 = rng_for(1);
        let mut r2 = rng_for(2);
        let x: Vec<u32> = (0..8).map(|_| r1.gen()).collect();
        let y: Vec<u32> = (0..8).map(|_| r2.gen()).collect();
        assert_eq!(a[0], x[0]);
        assert_ne!(x, y);
    }
}
