//! `polling`: note 004's warning (同步与异步): *"有些初学多线程编程的人，总喜欢用一个循环去检查某个
//! 变量的值，这其实是一种很严重的错误"*: checking a variable in a loop is a serious mistake.
//!
//! The same messages, put by the same slow producer, are received twice:
//! 1. by a **polling** consumer, the bad example, written that way **on purpose**:
//!    `while True: try: q.get_nowait() except Empty: continue`. Every failed try re-reads the
//!    queue's shared words and goes round again. It never blocks, so it keeps a CPU busy
//!    for the whole time it waits, stealing it from processes that have work to do.
//!    It is bounded (it gives up after a deadline) so that even a lost producer cannot leave it
//!    spinning.
//! 2. by a **blocking** consumer: `q.get()`, which sleeps in the kernel (futex) until the
//!    producer's put wakes it. Its CPU time is a few microseconds per message.
//!
//! Each consumer reads its own CPU time with `getrusage(RUSAGE_SELF)` (user + system) just
//! before it exits and leaves it in shared memory for the parent. The two rounds run one after
//! the other, so the polling one cannot slow the blocking one down.
//!
//! Expected, at the default pace (10 messages, one every 0.2 s): the polling consumer burns
//! about as much CPU as the 2 s it waited; the blocking one well under a millisecond. At
//! `--time-scale 0` the producer does not pause, so neither waits much and both figures are
//! small: the lesson needs waiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::{clock, json, out, secs, sleep, Shared};
use nix::sys::resource::{getrusage, UsageWho};

use crate::{Queue, QueueError};

/// Most messages per round (`--messages`).
pub const MAX_MESSAGES: u32 = 1000;
/// The polling consumer gives up this long after the producer should have finished.
pub const POLL_BOUND: Duration = Duration::from_secs(10);

/// Flags of `polling`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Messages per round (1..=1000).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=MAX_MESSAGES as i64))]
    pub messages: u32,
    /// Seconds the producer sleeps before each put (0..=60, scaled by --time-scale).
    #[arg(long, default_value = "0.2", value_name = "SECS", value_parser = crate::parse_secs)]
    pub interval: f64,
}

/// This process's CPU time so far (user + system), in microseconds.
fn cpu_us() -> Result<u64> {
    let u = getrusage(UsageWho::RUSAGE_SELF).context("getrusage(RUSAGE_SELF)")?;
    let us = |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64;
    Ok(us(u.user_time()) + us(u.system_time()))
}

common::shared_struct! {
    /// What a consumer leaves in shared memory for the parent.
    struct Report {
        /// Messages received.
        received: AtomicU64,
        /// Its CPU time (user + system), in microseconds.
        cpu_us: AtomicU64,
        /// `get_nowait` calls that found the queue empty.
        empty_tries: AtomicU64,
    }
}

/// One round: a producer child and a consumer child, polling or not.
fn round(args: &Args, polling: bool) -> Result<(u64, u64, u64, f64)> {
    let q = Queue::new(args.messages as usize, 8)?;
    let report: Shared<Report> = Shared::new_zeroed().context("mmap(MAP_SHARED)")?;
    let (q, report) = (&q, &report);
    let n = args.messages;
    let interval = secs(args.interval);
    let t0 = Instant::now();

    let mut consumer = common::spawn(
        if polling {
            "polling-consumer"
        } else {
            "blocking-consumer"
        },
        move || {
            let mut got = 0u64;
            let mut tries = 0u64;
            if polling {
                // THE BAD EXAMPLE, ON PURPOSE: never block, just ask again and again.
                let bound = Instant::now() + clock::scaled(interval) * n + POLL_BOUND;
                loop {
                    match q.get_nowait() {
                        Ok(_) => got += 1,
                        Err(QueueError::Empty) => {
                            tries += 1;
                            if Instant::now() > bound {
                                break; // bounded: never spin forever, whatever happens
                            }
                        }
                        Err(_) => break, // Closed: the producer is done and the queue drained
                    }
                }
            } else {
                // The right way: block in the kernel until a put wakes us.
                while q.get().is_ok() {
                    got += 1;
                }
            }
            report.received.store(got, Ordering::SeqCst);
            report.cpu_us.store(cpu_us()?, Ordering::SeqCst);
            report.empty_tries.store(tries, Ordering::SeqCst);
            Ok(())
        },
    )?;
    let mut producer = common::spawn("producer", move || {
        for i in 0..n {
            sleep(interval);
            q.put(&u64::from(i).to_le_bytes()).context("put")?;
        }
        q.close();
        Ok(())
    })?;
    let ps = producer.join()?;
    if !ps.success() {
        q.close(); // so the consumer ends too
    }
    consumer.join()?;
    let wall_ms = crate::ms(t0.elapsed());
    if let Some(failure) = producer.failure().or_else(|| consumer.failure()) {
        anyhow::bail!(failure);
    }
    Ok((
        report.received.load(Ordering::SeqCst),
        report.cpu_us.load(Ordering::SeqCst),
        report.empty_tries.load(Ordering::SeqCst),
        wall_ms,
    ))
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    out::say(format!(
        "a producer puts {} messages, sleeping {} s before each; round 1: a consumer that POLLS \
         (get_nowait in a loop: the bad example, on purpose)",
        args.messages, args.interval
    ));
    let (p_got, p_cpu, p_tries, p_wall) = round(args, true)?;
    out::event(
        "round",
        json!({"consumer": "polling", "received": p_got, "cpu_ms": p_cpu as f64 / 1e3, "failed_tries": p_tries, "wall_ms": p_wall}),
        format!(
            "  polling consumer: received {p_got}, {p_tries} empty tries, CPU {:.1} ms in {p_wall:.0} ms of waiting",
            p_cpu as f64 / 1e3
        ),
    );
    out::say("round 2: a consumer that BLOCKS (get: sleeps in the kernel until a put wakes it)");
    let (b_got, b_cpu, _, b_wall) = round(args, false)?;
    out::event(
        "round",
        json!({"consumer": "blocking", "received": b_got, "cpu_ms": b_cpu as f64 / 1e3, "wall_ms": b_wall}),
        format!(
            "  blocking consumer: received {b_got}, CPU {:.1} ms in {b_wall:.0} ms of waiting",
            b_cpu as f64 / 1e3
        ),
    );
    out::say(
        "same messages, same wait: the polling one kept a CPU busy asking \"anything yet?\"; \
         the blocking one slept until told",
    );
    out::summary(json!({
        "polling_cpu_ms": p_cpu as f64 / 1e3,
        "blocking_cpu_ms": b_cpu as f64 / 1e3,
        "polling_received": p_got,
        "blocking_received": b_got,
        "polling_failed_tries": p_tries,
        "polling_wall_ms": p_wall,
        "blocking_wall_ms": b_wall,
        "messages": args.messages,
    }));
    anyhow::ensure!(
        p_got == u64::from(args.messages) && b_got == u64::from(args.messages),
        "invariant broken: received {p_got} (polling) and {b_got} (blocking) of {}",
        args.messages
    );
    Ok(())
}
