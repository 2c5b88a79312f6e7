//! `prodcons` threads mode, one row per step of its buffer, against crossbeam-channel's bounded
//! channel: step 1, the monitor (one lock, two conditions: the demo's default), and step 2, the
//! two-lock queue (`--queue two-lock`).

use std::time::Instant;

use anyhow::{anyhow, ensure, Result};

use prodcons::monitor::Monitor;
use prodcons::two_lock::TwoLockQueue;

use crate::figure::Measure;

/// Slots in the buffer: the largest `--capacity` the prodcons demo accepts, in every column.
pub const CAPACITY: usize = 1_000;

/// What step 1's column runs.
pub const MONITOR_WHAT: &str =
    "prodcons::monitor::Monitor(1000) (step 1: one Lock, Condvars not_full / not_empty), 1 producer, 1 consumer thread";
/// Step 1.
pub const MONITOR: Option<Measure> = Some(monitor);

/// What step 2's column runs.
pub const TWO_LOCK_WHAT: &str =
    "prodcons::two_lock::TwoLockQueue(1000) (step 2: a Mutex + Condvar at each end), 1 producer, 1 consumer thread";
/// Step 2.
pub const TWO_LOCK: Option<Measure> = Some(two_lock);

/// The three calls the stream makes, whichever step runs it.
trait Blocking: Sync {
    /// Blocking put; false once closed.
    fn put(&self, item: u64) -> bool;
    /// Blocking get; `None` once closed and drained.
    fn get(&self) -> Option<u64>;
    /// No more puts.
    fn close(&self);
}

impl Blocking for Monitor {
    fn put(&self, item: u64) -> bool {
        Monitor::put(self, item).is_ok()
    }
    fn get(&self) -> Option<u64> {
        Monitor::get(self).ok().map(|(item, _)| item)
    }
    fn close(&self) {
        Monitor::close(self);
    }
}

impl Blocking for TwoLockQueue<u64> {
    fn put(&self, item: u64) -> bool {
        TwoLockQueue::put(self, item).is_ok()
    }
    fn get(&self) -> Option<u64> {
        TwoLockQueue::get(self).ok().map(|(item, _)| item)
    }
    fn close(&self) {
        TwoLockQueue::close(self);
    }
}

/// Millions of u64 items per second from one producer thread to one consumer thread through
/// step 1 of prodcons' threads-mode buffer.
pub fn monitor(n: usize) -> Result<f64> {
    stream(&Monitor::new(CAPACITY), n)
}

/// The same through step 2.
pub fn two_lock(n: usize) -> Result<f64> {
    stream(&TwoLockQueue::<u64>::new(CAPACITY), n)
}

/// One producer thread puts `0..n`, then closes the queue (prodcons' way of saying "no more
/// items", instead of Python's sentinel); one consumer thread gets until closed and drained.
fn stream(q: &impl Blocking, n: usize) -> Result<f64> {
    let t = Instant::now();
    let (count, sum) = std::thread::scope(|s| {
        let producer = s.spawn(|| {
            for i in 0..n as u64 {
                if !q.put(i) {
                    break;
                }
            }
            q.close();
        });
        let consumer = s.spawn(|| {
            let (mut count, mut sum) = (0u64, 0u64);
            while let Some(v) = q.get() {
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
