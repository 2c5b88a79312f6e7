//! `timeouts`: `get(timeout=...)` and `put(timeout=...)`, Python's `queue.Empty` and
//! `queue.Full`.
//!
//! Python (`multiprocessing.Queue` raises the same two exceptions, from the `queue` module):
//!
//! ```python
//! import queue
//!
//! q = queue.Queue(maxsize=1)
//! try:
//!     q.get(timeout=0.1)
//! except queue.Empty:
//!     print("Empty: nothing came within 0.1 s")
//! q.put("x")
//! try:
//!     q.put("y", timeout=0.1)
//! except queue.Full:
//!     print("Full: no room within 0.1 s")
//! ```
//!
//! Here [`crate::Queue::get_timeout`] and [`crate::Queue::put_timeout`] return
//! `Err(QueueError::Empty)` / `Err(QueueError::Full)`. While it waits, the caller sleeps in the
//! kernel: `futex(FUTEX_WAIT)` with the time left as its timeout. It uses no CPU, and it does not
//! wake up every few milliseconds to look: it wakes when the other side makes a change, or when
//! the timeout runs out, whichever comes first.
//!
//! Three steps:
//! 1. `get_timeout` on an empty queue: nobody puts, so it reports Empty after about the timeout.
//! 2. `put_timeout` on a full queue: nobody gets, so it reports Full after about the timeout.
//! 3. The same `put_timeout`, but a consumer process takes one message after half the timeout:
//!    the put returns as soon as there is room, not at the deadline. The timeout is an upper
//!    bound on the wait, not its length. This step waits up to the timeout plus [`GRACE`], so a
//!    busy machine cannot make it fail.
//!
//! `--timeout` is multiplied by `--time-scale`, like every delay of the demos, so that
//! `--time-scale 0.1` makes this demo ten times shorter too (and `--time-scale 0` turns the
//! timed calls into `get_nowait` / `put_nowait`). The output prints the timeout that ran, in
//! Python's words (`q.get(timeout=0.1)`), and, when it was scaled, the product that gave it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::clock::{scaled, time_scale};
use common::{json, out, secs, sleep};

use crate::{ms, Queue, QueueError, MAX_CAPACITY};

/// Extra patience of step 3 (see the module doc).
pub const GRACE: Duration = Duration::from_secs(10);

/// Flags of `timeouts`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Seconds each timed get/put waits (0..=60), multiplied by --time-scale like every delay.
    #[arg(long, default_value = "1", value_name = "SECS", value_parser = crate::parse_secs)]
    pub timeout: f64,
    /// Room in the queue, in messages (1..=100000); step 2 fills it first.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_CAPACITY as i64))]
    pub capacity: u32,
}

/// Seconds as Python prints a float (`0.05`, `1.0`), rounded to the microsecond.
fn python_secs(d: Duration) -> String {
    format!("{:?}", (d.as_secs_f64() * 1e6).round() / 1e6)
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    // The timeout that runs: --timeout times --time-scale, like every delay of the demos.
    let t = scaled(secs(args.timeout));
    let timeout = python_secs(t);
    let q = Queue::new(args.capacity as usize, 64)?;
    if time_scale() != 1.0 {
        out::event(
            "timeout_scaled",
            json!({"timeout_asked_s": args.timeout, "time_scale": time_scale(), "timeout_ms": ms(t)}),
            format!(
                "--timeout {} x --time-scale {} = {timeout} s: the timeouts below are scaled like \
                 every delay, and they are what ran",
                args.timeout,
                time_scale()
            ),
        );
    }

    // 1. Empty: nobody will put.
    out::say(format!(
        "q = Queue(capacity {}); q.get(timeout={timeout}) on the empty queue...",
        args.capacity
    ));
    let t0 = Instant::now();
    let r = q.get_timeout(t);
    let get_waited = t0.elapsed();
    let get_timed_out = r == Err(QueueError::Empty);
    out::event(
        "get_timeout",
        json!({"result": format!("{r:?}"), "waited_ms": ms(get_waited), "timeout_ms": ms(t)}),
        format!(
            "  -> {r:?} after {:.1} ms (queue.Empty in Python)",
            ms(get_waited)
        ),
    );

    // 2. Full: fill it, then nobody will get.
    for i in 0..args.capacity {
        q.put(format!("item {i}").as_bytes()).context("put")?;
    }
    out::say(format!(
        "filled it with {} message(s); q.put(x, timeout={timeout}) on the full queue...",
        q.len()
    ));
    let t0 = Instant::now();
    let r = q.put_timeout(b"one too many", t);
    let put_waited = t0.elapsed();
    let put_timed_out = r == Err(QueueError::Full);
    out::event(
        "put_timeout",
        json!({"result": format!("{r:?}"), "waited_ms": ms(put_waited), "timeout_ms": ms(t), "len": q.len()}),
        format!(
            "  -> {r:?} after {:.1} ms (queue.Full in Python)",
            ms(put_waited)
        ),
    );

    // 3. Room comes in time: a consumer takes one message after half the timeout.
    out::say(format!(
        "now a consumer process takes one message after half the timeout ({} s); the same timed put...",
        python_secs(t / 2)
    ));
    let qr = &q;
    let mut consumer = common::spawn("consumer", move || {
        sleep(secs(args.timeout) / 2); // scaled by common::sleep: half of `t`
        let m = qr.get().context("get")?;
        out::event(
            "consumer_got",
            json!({"message": String::from_utf8_lossy(&m)}),
            format!(
                "  [consumer] got {:?}: one slot free",
                String::from_utf8_lossy(&m)
            ),
        );
        Ok(())
    })?;
    let t0 = Instant::now();
    let r = q.put_timeout(b"in time", t + GRACE);
    let in_time_waited = t0.elapsed();
    let in_time_ok = r.is_ok();
    out::event(
        "put_in_time",
        json!({"result": format!("{r:?}"), "waited_ms": ms(in_time_waited)}),
        format!(
            "  -> {r:?} after {:.1} ms: woken by the consumer's get, not by the deadline",
            ms(in_time_waited)
        ),
    );
    consumer.join()?;
    if let Some(failure) = consumer.failure() {
        anyhow::bail!(failure);
    }

    // Everything put is still there, in order: the timed-out put added nothing.
    let mut left = Vec::new();
    while let Ok(m) = q.get_nowait() {
        left.push(String::from_utf8_lossy(&m).into_owned());
    }
    out::summary(json!({
        "get_timed_out": get_timed_out,
        "put_timed_out": put_timed_out,
        "timeout_asked_s": args.timeout,
        "timeout_ms": ms(t),
        "get_waited_ms": ms(get_waited),
        "put_waited_ms": ms(put_waited),
        "in_time_ok": in_time_ok,
        "in_time_waited_ms": ms(in_time_waited),
        "capacity": args.capacity,
        "left_in_queue": left,
    }));
    anyhow::ensure!(
        get_timed_out && put_timed_out && in_time_ok,
        "invariant broken: get_timed_out {get_timed_out}, put_timed_out {put_timed_out}, in_time_ok {in_time_ok}"
    );
    Ok(())
}
