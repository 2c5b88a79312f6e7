//! Step 2 of the pool: spin a while before sleeping (`--spin-us N`, [`crate::Options::spin`]).
//!
//! Step 1, the plain pool, waits the way every blocking structure of the workspace does
//! (`common::backoff`): about a microsecond of spinning and a few `sched_yield`s, then a sleep
//! in the kernel. A waiting process then costs nothing, which is what a student expects to see
//! in `top`. But in a *round trip* (`apply`: the parent puts a task and waits; the worker takes
//! it, runs it, puts the result) each side usually sleeps before the other is done, so every
//! call pays two wake-ups: a `FUTEX_WAKE` or a doorbell `write`, and the scheduler putting the
//! sleeper back on a CPU. On a virtual machine that is tens of microseconds, many times the work.
//!
//! This step changes one thing: before falling back to step 1's wait, a waiter keeps looking
//! for up to `spin`: a worker waiting for a task, and the parent waiting for a result. If the other side answers within that time, nobody sleeps and no
//! system call is made: a round trip becomes a few cache-line transfers. What it costs: a
//! waiting process burns its CPU for up to `spin` each time it waits, so an idle pool is busy
//! for that long after each task, and on a machine with fewer CPUs than spinning processes the
//! spinners take time from the process they wait for (the `sched_yield`s inside the loop give
//! some back). The bench's `pool.step2.*` rows measure what it buys against step 1's `pool.*`.
//!
//! It reuses `common::backoff` rather than a loop of its own: rounds of "spin a little, yield a
//! little", until the budget is spent. Alternative not taken: a worker that never sleeps
//! (a busy-polling pool), which wins the bench and loses the machine.

use std::time::{Duration, Instant};

/// Look at `ready` until it holds or `budget` has passed (zero: not at all). Returns the last
/// answer: `false` means "now wait as step 1 does".
pub fn spin_until(budget: Duration, mut ready: impl FnMut() -> bool) -> bool {
    if budget.is_zero() {
        return ready();
    }
    let deadline = Instant::now() + budget;
    loop {
        if common::backoff::spin_then(&mut ready) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_up_after_its_budget_and_stops_at_once_when_ready() {
        let t = Instant::now();
        assert!(!spin_until(Duration::from_millis(2), || false));
        assert!(t.elapsed() >= Duration::from_millis(2));
        let mut looks = 0;
        assert!(spin_until(Duration::from_secs(10), || {
            looks += 1;
            looks == 3
        }));
        assert!(!spin_until(Duration::ZERO, || false));
    }
}
