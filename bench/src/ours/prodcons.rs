//! `prodcons` threads mode against crossbeam-channel's bounded channel.

use std::time::Instant;

use anyhow::{anyhow, ensure, Result};

use prodcons::bounded::BoundedQueue;

use crate::figure::Measure;

/// Slots in the buffer: the largest `--capacity` the prodcons demo accepts, in every column.
pub const CAPACITY: usize = 1_000;

/// What the column runs.
pub const WHAT: &str =
    "prodcons::bounded::BoundedQueue(1000) (two-lock queue: a Mutex + Condvar at each end), 1 producer, 1 consumer thread";
/// Threads mode.
pub const THREADS: Option<Measure> = Some(threads);

/// Millions of u64 items per second from one producer thread to one consumer thread through
/// prodcons' threads-mode buffer; the producer closes the queue at the end (prodcons' way of
/// saying "no more items", instead of Python's sentinel).
pub fn threads(n: usize) -> Result<f64> {
    let q = BoundedQueue::<u64>::new(CAPACITY);
    let t = Instant::now();
    let (count, sum) = std::thread::scope(|s| {
        let producer = s.spawn(|| {
            for i in 0..n as u64 {
                if q.put(i).is_err() {
                    break;
                }
            }
            q.close();
        });
        let consumer = s.spawn(|| {
            let (mut count, mut sum) = (0u64, 0u64);
            while let Ok((v, _)) = q.get() {
                count += 1;
                sum = sum.wrapping_add(v);
            }
            (count, sum)
        });
        let p = producer.join().map_err(|_| anyhow!("producer panicked"));
        let c = consumer.join().map_err(|_| anyhow!("consumer panicked"));
        p.and(c)
    })?;
    let dt = t.elapsed().as_secs_f64();
    let n64 = n as u64;
    ensure!(
        count == n64 && sum == n64 * (n64 - 1) / 2,
        "lost items: {count} of {n}"
    );
    Ok(n as f64 / dt / 1e6)
}
/// What the raw column runs.
pub const RAW_WHAT: &str = "crossbeam_channel::bounded(1000), 1 producer thread, 1 consumer thread";

/// Millions of u64 items per second from one producer thread to one consumer thread through
/// `crossbeam_channel::bounded(CAPACITY)`; the producer drops its sender at the end, which is
/// how the consumer learns there is nothing more.
pub fn crossbeam(n: usize) -> Result<f64> {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
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
