//! `map`: `pool.map(f, items)` (000 point 8): results in input order, work sent in chunks.
//!
//! Python:
//!
//! ```python
//! import random, time
//! from multiprocessing import Pool
//!
//! def work(i):
//!     time.sleep(random.random() * 0.2); return i * i
//!
//! if __name__ == "__main__":
//!     with Pool(2) as pool:
//!         print(pool.map(work, range(10)))                  # [0, 1, 4, 9, ...]: input order
//!         print(pool.map(work, range(10), chunksize=3))
//!         print(list(pool.imap_unordered(work, range(10))))  # completion order
//! ```
//!
//! Each item sleeps a random time (from `--seed`), so the chunks finish in a shuffled order;
//! `map` still returns the results in input order, because it puts each chunk's results back
//! at that chunk's position before returning. `imap_unordered` yields them as they arrive.
//!
//! The chunk size: `map` cuts the items into chunks of `ceil(len / (4 * workers))` (Python's
//! rule: each worker gets about four chunks, so a slow chunk delays little while the per-chunk
//! cost stays small). One chunk is one task frame out and one result frame back, and a worker
//! runs the whole chunk in a loop: with chunk size 1 every item pays a round trip.

use anyhow::{ensure, Result};
use common::{json, out, rng, secs, sleep};
use rand::Rng;

use crate::{default_chunksize, Pool, Settings, Tasks};

/// Flags of `map`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many items to map (1..=10000000).
    #[arg(long, default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=crate::MAX_ITEMS as i64))]
    pub items: u32,
    /// Items per chunk (1..=10000000; default: ceil(items / (4 * workers)), as Python).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=crate::MAX_ITEMS as i64))]
    pub chunksize: Option<u32>,
    /// Each item sleeps a random 0..=MS milliseconds (0..=10000), so chunks finish out of order.
    #[arg(long, default_value_t = 200, value_name = "MS",
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub sleep_ms: u32,
}

/// Results listed in the summary at most (the rest are checked, not printed).
const SHOWN: usize = 1000;

/// Run the demo.
pub fn run(a: &Args, settings: &Settings) -> Result<()> {
    let workers = settings.workers;
    let n = a.items as usize;
    let chunksize = a
        .chunksize
        .map_or_else(|| default_chunksize(n, workers), |c| c as usize);
    let chunks = n.div_ceil(chunksize);
    let mut tasks = Tasks::new();
    let square = tasks.register("square_slowly", |(i, ms): (u64, u32)| {
        if ms > 0 {
            sleep(secs(f64::from(ms) / 1000.0));
        }
        i * i
    });
    let pool = Pool::with_options(tasks, settings.options(workers))?;
    let mut r = rng::rng_for(0);
    let items: Vec<(u64, u32)> = (0..n as u64)
        .map(|i| {
            (
                i,
                if a.sleep_ms == 0 {
                    0
                } else {
                    r.gen_range(0..=a.sleep_ms)
                },
            )
        })
        .collect();
    out::event(
        "map_start",
        json!({"items": n, "workers": workers, "chunksize": chunksize, "chunks": chunks,
               "default_chunksize": a.chunksize.is_none()}),
        format!(
            "map(square, range({n})) on {workers} workers: chunksize {chunksize}{} -> {chunks} chunks",
            if a.chunksize.is_none() {
                format!(" = ceil({n} / (4 * {workers})), Python's rule")
            } else {
                String::new()
            }
        ),
    );
    let results = pool.map_chunked(&square, &items, chunksize)?;
    let in_order = results.len() == n
        && results
            .iter()
            .enumerate()
            .all(|(i, &r)| r == (i as u64) * (i as u64));
    out::event(
        "map_done",
        json!({"in_order": in_order}),
        format!(
            "map returned {} results in input order: {:?}{}",
            results.len(),
            &results[..results.len().min(12)],
            if results.len() > 12 { " ..." } else { "" }
        ),
    );

    // imap_unordered: the same work, results in the order the items finish.
    let mut unordered = Vec::new();
    if n <= SHOWN {
        for r in pool.imap_unordered(&square, &items, 1) {
            let v = r?;
            unordered.push(((v as f64).sqrt().round()) as u64);
        }
        out::event(
            "imap_unordered",
            json!({"order": unordered}),
            format!(
                "imap_unordered (chunksize 1) yielded items in completion order: {unordered:?}"
            ),
        );
    }
    pool.close();
    pool.join()?;
    settings.show_timeline(&pool);
    out::summary(json!({
        "results": &results[..results.len().min(SHOWN)],
        "results_truncated": results.len() > SHOWN,
        "items": n,
        "in_order": in_order,
        "chunksize": chunksize,
        "chunks": chunks,
        "workers": workers,
        "imap_unordered_order": unordered,
    }));
    ensure!(in_order, "map returned results out of input order or wrong");
    let mut sorted = unordered.clone();
    sorted.sort_unstable();
    ensure!(
        n > SHOWN || sorted == (0..n as u64).collect::<Vec<_>>(),
        "imap_unordered lost or duplicated an item"
    );
    Ok(())
}
