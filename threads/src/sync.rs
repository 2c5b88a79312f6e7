//! `sync` (同步互斥, note 000): cooperation in a fixed order vs competition for a lock.
//!
//! Python:
//!
//! ```python
//! import random, threading, time
//!
//! N, R = 3, 2
//! cond = threading.Condition(); turn = 0
//! lock = threading.Lock(); order = []
//!
//! def player(i):                                   # 同步: take turns 0, 1, 2, 0, 1, 2...
//!     global turn
//!     for r in range(R):
//!         time.sleep(random.random() * 0.03)       # get ready: takes a random time
//!         with cond:
//!             cond.wait_for(lambda: turn % N == i)
//!             print("turn", turn, "thread", i); turn += 1
//!             cond.notify_all()
//!
//! def grabber(i):                                  # 互斥: whoever gets the lock first
//!     for r in range(R):
//!         time.sleep(random.random() * 0.03)
//!         with lock: order.append(i)
//!
//! for target in player, grabber:
//!     ts = [threading.Thread(target=target, args=(i,)) for i in range(N)]
//!     for t in ts: t.start()
//!     for t in ts: t.join()
//! print("order of the grabs:", order)
//! ```
//!
//! 同步 (synchronisation) is cooperation: the order of the steps is part of the task. Thread `i`
//! may only act when `turn % N == i`; otherwise it waits on a condition variable. `Condvar::wait`
//! releases the mutex and sleeps in the kernel (futex) in one step, and takes the mutex back
//! when woken, so the check of `turn` and the sleep cannot miss a wake-up. Whoever finishes a
//! turn wakes everybody (`notify_all`); the ones whose turn it is not go back to sleep. The
//! threads are started in reverse order and get ready after random delays, and still the turns
//! come out 0, 1, 2, ... every time.
//!
//! 互斥 (mutual exclusion) is competition: one at a time, in no particular order. The same
//! threads append their number under a plain `Mutex`: every thread gets in exactly R times and
//! never two at once, but the order is whoever grabbed the lock first, and it changes from run to
//! run (with `--time-scale 0`, from one schedule to the next).
//!
//! Alternative not taken: a `Barrier` per turn would also impose an order, but every thread
//! would wake for every turn; the condition variable says what is being waited *for*.

use std::sync::{Condvar, Mutex};

use anyhow::{ensure, Result};
use common::{json, out, rng::rng_for, secs, sleep};
use rand::Rng;

use crate::joined;

/// Flags of `sync`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many threads take turns (1..=64).
    #[arg(long, default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=crate::MAX_THREADS as i64))]
    pub threads: u32,
    /// How many turns each thread takes (1..=1000).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub rounds: u32,
}

/// The state the turn-takers share, behind one mutex.
#[derive(Default)]
struct Turns {
    /// Whose turn it is, counting from 0 over all rounds.
    next: u32,
    /// Which thread took each turn.
    order: Vec<u32>,
    /// Which thread became ready (started waiting) in which order.
    arrivals: Vec<u32>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The random "getting ready" time of thread `i`, before each of its steps (up to 0.3 s).
fn ready_delay(rng: &mut impl Rng) -> std::time::Duration {
    secs(rng.gen_range(0.0..0.3))
}

/// 同步: threads take turns in the order 0, 1, ..., threads - 1, `rounds` times. Returns (turn order,
/// arrival order).
pub fn take_turns(threads: u32, rounds: u32) -> Result<(Vec<u32>, Vec<u32>)> {
    let state = Mutex::new(Turns::default());
    let cv = Condvar::new();
    std::thread::scope(|s| -> Result<()> {
        // Started in reverse order, on purpose: the start order decides nothing.
        let handles: Vec<_> = (0..threads)
            .rev()
            .map(|i| {
                let (state, cv) = (&state, &cv);
                s.spawn(move || {
                    let mut rng = rng_for(u64::from(i) + 1);
                    for r in 0..rounds {
                        sleep(ready_delay(&mut rng));
                        let mut g = lock(state);
                        g.arrivals.push(i);
                        // Sleep (mutex released) until it is our turn. wait_while re-checks
                        // after every wake-up, spurious ones included.
                        let mut g = cv
                            .wait_while(g, |t| t.next % threads != i)
                            .unwrap_or_else(|e| e.into_inner());
                        let turn = g.next;
                        out::event(
                            "turn",
                            json!({"thread": i, "round": r + 1, "turn": turn}),
                            format!("  turn {turn}: thread {i} (its round {})", r + 1),
                        );
                        g.order.push(i);
                        g.next += 1;
                        drop(g);
                        cv.notify_all();
                    }
                })
            })
            .collect();
        for h in handles {
            joined("turn-taker", h.join())?;
        }
        Ok(())
    })?;
    let t = state.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok((t.order, t.arrivals))
}

/// 互斥: the same threads append their number under a plain mutex. Returns the order.
pub fn grab(threads: u32, rounds: u32) -> Result<Vec<u32>> {
    let order = Mutex::new(Vec::new());
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..threads)
            .rev()
            .map(|i| {
                let order = &order;
                s.spawn(move || {
                    // Other generators than take_turns' (index offset by threads), so the delays differ.
                    let mut rng = rng_for(u64::from(threads + i) + 1);
                    for _ in 0..rounds {
                        sleep(ready_delay(&mut rng));
                        lock(order).push(i);
                    }
                })
            })
            .collect();
        for h in handles {
            joined("grabber", h.join())?;
        }
        Ok(())
    })?;
    Ok(order.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let (threads, rounds) = (args.threads, args.rounds);
    let expected: Vec<u32> = (0..threads * rounds).map(|k| k % threads).collect();

    out::say(format!(
        "同步: {threads} threads, started in reverse order, each ready after a random delay, take turns 0..{} ({rounds} rounds)",
        threads - 1
    ));
    let (order, arrivals) = take_turns(threads, rounds)?;
    let in_order = order == expected;
    out::event(
        "sync_done",
        json!({"order": order, "arrivals": arrivals, "in_order": in_order}),
        format!(
            "同步: they got ready in the order {arrivals:?}, yet took their turns as {order:?}"
        ),
    );

    out::say(format!(
        "互斥: the same {threads} threads each append their number {rounds} times under a Mutex"
    ));
    let mutex_order = grab(threads, rounds)?;
    let counts: Vec<usize> = (0..threads)
        .map(|i| mutex_order.iter().filter(|&&t| t == i).count())
        .collect();
    out::event(
        "mutex_done",
        json!({"order": mutex_order, "counts": counts}),
        format!("互斥: order {mutex_order:?}: one at a time, each {rounds} times, in whatever order they grabbed the lock"),
    );

    out::summary(json!({
        "threads": threads,
        "rounds": rounds,
        "order": order,
        "expected_order": expected,
        "in_order": in_order,
        "arrivals": arrivals,
        "mutex_order": mutex_order,
        "mutex_counts": counts,
    }));
    ensure!(in_order, "the turns came out of order: {order:?}");
    ensure!(
        counts.iter().all(|&c| c == rounds as usize),
        "under the mutex some thread did not get in exactly {rounds} times: {counts:?}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_always_in_order() {
        // The unit tests run at time scale 1: keep the random delays few.
        for n in [1, 2, 3] {
            let (order, arrivals) = take_turns(n, 2).unwrap();
            assert_eq!(order, (0..n * 2).map(|k| k % n).collect::<Vec<_>>());
            assert_eq!(arrivals.len(), (n * 2) as usize);
        }
    }
}
