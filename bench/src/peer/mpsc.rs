//! The standard library's bounded channel, `std::sync::mpsc::sync_channel(1000)`: what a Rust
//! engineer reaches for first. Since Rust 1.67 it is crossbeam-channel's algorithm inside std
//! (a ring of slots with a stamp each, spin then park), so it should come close to the raw
//! column (crossbeam-channel itself). One producer thread, one consumer thread, the same items
//! and checks as ours ([`crate::ours::prodcons`]).

use std::time::Instant;

use anyhow::{anyhow, ensure, Result};

use crate::ours::prodcons::CAPACITY;

/// What the column runs.
pub const WHAT: &str = "std::sync::mpsc::sync_channel(1000), 1 producer thread, 1 consumer thread";

/// Millions of u64 items per second; the producer drops its sender at the end.
pub fn sync_channel(n: usize) -> Result<f64> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(CAPACITY);
    let t = Instant::now();
    let producer = std::thread::spawn(move || {
        for i in 0..n as u64 {
            if tx.send(i).is_err() {
                break;
            }
        }
    });
    let consumer = std::thread::spawn(move || {
        let (mut count, mut sum) = (0u64, 0u64);
        for v in rx {
            count += 1;
            sum = sum.wrapping_add(v);
        }
        (count, sum)
    });
    producer.join().map_err(|_| anyhow!("producer panicked"))?;
    let (count, sum) = consumer.join().map_err(|_| anyhow!("consumer panicked"))?;
    let dt = t.elapsed().as_secs_f64();
    let n64 = n as u64;
    ensure!(
        count == n64 && sum == n64 * (n64 - 1) / 2,
        "lost items: {count} of {n}"
    );
    Ok(n as f64 / dt / 1e6)
}
