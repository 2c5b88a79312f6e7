//! CPU helpers shared by `multiprogramming` and `parallel`: pinning to CPUs, and a unit of pure
//! computation the optimiser cannot remove.

use anyhow::{Context, Result};
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// The CPUs this process may run on (its affinity mask), in order.
pub fn allowed_cpus() -> Result<Vec<usize>> {
    let set = sched_getaffinity(Pid::from_raw(0)).context("sched_getaffinity")?;
    Ok((0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect())
}

/// Restrict the calling process (and the children it forks later) to `cpus`.
pub fn pin_to(cpus: &[usize]) -> Result<()> {
    let mut set = CpuSet::new();
    for &c in cpus {
        set.set(c).context("CpuSet::set")?;
    }
    sched_setaffinity(Pid::from_raw(0), &set).context("sched_setaffinity")
}

/// `rounds` rounds of integer mixing: pure CPU work, no memory traffic, no syscalls.
pub fn burn(rounds: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = x.wrapping_add(i);
    }
    std::hint::black_box(x)
}

/// How many `burn` rounds take about `ms` milliseconds on this CPU (measured, not guessed).
pub fn rounds_for_ms(ms: f64) -> u64 {
    let probe = 2_000_000u64;
    let t = std::time::Instant::now();
    burn(probe);
    let per_round = t.elapsed().as_secs_f64() / probe as f64;
    ((ms / 1e3) / per_round.max(1e-12)) as u64
}
