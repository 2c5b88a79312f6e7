//! A process-shared barrier: `wait` returns only when all `n` parties have called it.
//!
//! The race demos use it to *force* an interleaving: every process reads the shared value, all
//! meet here, then every process writes. Each write then overwrites the others, so a round loses
//! exactly `n - 1` updates, every time, on any machine. A race left to the scheduler loses a
//! varying number, often 0 on an idle machine, which proves nothing.
//!
//! The futex word is a generation number: the last to arrive resets the count, bumps the
//! generation and wakes everyone sleeping on the old generation.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::sys::{futex_wait, futex_wake};

/// A barrier for `n` parties, usable across processes (in shared memory).
#[derive(Debug, Default)]
#[repr(C)]
pub struct Barrier {
    parties: AtomicU32,
    arrived: AtomicU32,
    generation: AtomicU32,
}

impl Barrier {
    /// A barrier for `n` parties.
    pub const fn new(n: u32) -> Barrier {
        Barrier {
            parties: AtomicU32::new(n),
            arrived: AtomicU32::new(0),
            generation: AtomicU32::new(0),
        }
    }

    /// Set the number of parties of a barrier living in a zeroed mapping. Call before forking.
    pub fn init(&self, n: u32) {
        self.parties.store(n, Ordering::SeqCst);
        self.arrived.store(0, Ordering::SeqCst);
    }

    /// Wait for all parties. Returns `true` in exactly one of them (the last to arrive).
    pub fn wait(&self) -> bool {
        let generation = self.generation.load(Ordering::SeqCst);
        let n = self.parties.load(Ordering::SeqCst);
        if self.arrived.fetch_add(1, Ordering::SeqCst) + 1 >= n {
            self.arrived.store(0, Ordering::SeqCst);
            self.generation.fetch_add(1, Ordering::SeqCst);
            futex_wake(&self.generation, i32::MAX);
            return true;
        }
        while self.generation.load(Ordering::SeqCst) == generation {
            futex_wait(&self.generation, generation, None);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    #[test]
    fn nobody_passes_early() {
        let s = Arc::new((Barrier::new(4), AtomicU64::new(0)));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    let mut leaders = 0;
                    for round in 1..=200u64 {
                        s.1.fetch_add(1, Ordering::SeqCst);
                        if s.0.wait() {
                            leaders += 1;
                        }
                        // Everyone has added this round's 1 before anyone passes.
                        assert!(s.1.load(Ordering::SeqCst) >= 4 * round);
                        s.0.wait();
                    }
                    leaders
                })
            })
            .collect();
        let leaders: u32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(leaders, 200);
    }
}
