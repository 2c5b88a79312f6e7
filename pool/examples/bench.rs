//! Quick timings of the pool against issue 7's targets (Python 3.11, fork, this machine):
//! apply 280 us a call, apply_async 17k tasks/s, map chunk 1 42k items/s, map default chunks
//! 5.9 M items/s. Run: `cargo run --release -p pool --example bench [-- ROUNDS]`.
//! Medians of ROUNDS (default 5) rounds; a second argument (apply, async, chunk1, map) runs only
//! that figure (for profiling). Not a test: nothing here asserts a time.

use std::time::Instant;

use pool::{Pool, Tasks};

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let only = std::env::args().nth(2).unwrap_or_default();
    let want = |f: &str| only.is_empty() || only == f;
    let mut tasks = Tasks::new();
    let sq = tasks.register("square", |x: u64| x.wrapping_mul(x));
    let workers = pool::cpu_count();
    let pool = Pool::new(tasks, workers)?;
    println!("{workers} workers, median of {rounds} rounds");

    let (mut apply, mut asyncs, mut chunk1, mut chunked) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        // apply: one blocking round trip at a time.
        if want("apply") {
            let n = 20_000u64;
            let t = Instant::now();
            for i in 0..n {
                assert_eq!(pool.apply(&sq, i)?, i * i);
            }
            apply.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
        }

        // apply_async: submit all, then get all.
        if want("async") {
            let n = 200_000u64;
            let t = Instant::now();
            let hs: Vec<_> = (0..n).map(|i| pool.apply_async(&sq, i)).collect();
            for (i, h) in hs.iter().enumerate() {
                assert_eq!(h.get()?, (i as u64) * (i as u64));
            }
            drop(hs);
            asyncs.push(n as f64 / t.elapsed().as_secs_f64());
        }

        // map, chunk size 1.
        if want("chunk1") {
            let items: Vec<u64> = (0..200_000).collect();
            let t = Instant::now();
            let r = pool.map_chunked(&sq, &items, 1)?;
            chunk1.push(items.len() as f64 / t.elapsed().as_secs_f64());
            assert_eq!(r[12345], 12345 * 12345);
        }

        // map, default chunks, 1 M items.
        if want("map") {
            let items: Vec<u64> = (0..1_000_000).collect();
            let t = Instant::now();
            let r = pool.map(&sq, &items)?;
            chunked.push(items.len() as f64 / t.elapsed().as_secs_f64());
            assert_eq!(r.len(), items.len());
            assert_eq!(r[999_999], 999_999 * 999_999);
        }
    }
    let (a, b, c, d) = (
        median(apply),
        median(asyncs),
        median(chunk1),
        median(chunked),
    );
    println!(
        "apply round trip     {a:10.2} us     Python 280 us     x{:.0}",
        280.0 / a
    );
    println!(
        "apply_async          {:10.0} k/s    Python 17 k/s     x{:.0}",
        b / 1e3,
        b / 17e3
    );
    println!(
        "map chunk 1          {:10.0} k/s    Python 42 k/s     x{:.0}",
        c / 1e3,
        c / 42e3
    );
    println!(
        "map default chunks   {:10.1} M/s    Python 5.9 M/s    x{:.1}",
        d / 1e6,
        d / 5.9e6
    );
    pool.close();
    pool.join()?;
    println!("{:?}", pool.stats());
    Ok(())
}
