//! `powers` (note 000, (2) 消息队列): the notes' example, then as many producers and consumers
//! as you like.
//!
//! The Python is the program in the [crate doc](crate): a producer sleeps 1 s and puts `(2, i)`
//! ten times, a consumer sleeps 1.5 s, gets and prints `a ** b` ten times.
//!
//! Here the queue is [`crate::Queue`], created before the fork so every child inherits it. A
//! message is 12 bytes: `a`, `b` and the producer's number, little-endian `u32`s (CPython would
//! pickle the tuple, about 20 bytes, plus a 4-byte length header on the pipe).
//!
//! With `--producers P`, producer `k` puts the `i` with `i % P == k`, so every number 2**i is
//! sent exactly once whatever P is. Consumers do not know how many messages will come: they
//! `get` until the queue is closed and drained. The parent closes it once every producer has
//! exited (Python would put one `None` sentinel per consumer instead). A producer that dies in
//! the middle of a `put` leaves a claimed, unpublished slot; the parent repairs exactly that slot
//! as soon as it reaps the producer (`Queue::recover_dead_producer`), or the consumers, and the
//! other producers behind them, would wait at it forever.
//!
//! The demo checks itself, in shared memory that the consumers fill in:
//! - `seen[i]`: how many times 2**i was received. 0 = lost, more than 1 = duplicated.
//! - a receipt log (consumer, i) in the order of the gets: the summary's `received`.
//! - FIFO: each consumer checks that each producer's numbers reach it in increasing order. That
//!   is what a FIFO queue promises to several consumers: each sees a sub-sequence of the queue.
//!
//! Who waits on what: a consumer that finds the queue empty sleeps on a futex (the producer is
//! slower, 1 s against 1.5 s, so in the default run it rarely waits); a producer blocks in `put`
//! when `--capacity` messages are waiting (try `--capacity 1`). The parent blocks in `poll` on
//! the children's pidfds (`common::child::wait_any`), so it notices at once if every consumer
//! died while producers are stuck on a full queue, instead of joining a producer forever.
//!
//! `--trace FILE` writes the run as a timeline for Perfetto (`common::trace`): a process track
//! per child, a `put (2, i)` or `get (2, i)` slice for each message, a `blocked` slice inside a
//! put that found the queue full or a get that found it empty, and the occupancy each one saw.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use common::child::wait_any;
use common::trace::{self, Span};
use common::{json, out, secs, sleep, Child, Shared, SharedSlice};

use crate::{Queue, QueueError, MAX_CAPACITY, MAX_COUNT, MAX_PROCS};

/// Bytes of one message: a, b, producer.
const MSG_BYTES: usize = 12;

/// Flags of `powers`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How many (2, i) messages in all, i = 0..N (1..=100000).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=MAX_COUNT as i64))]
    pub count: u32,
    /// Room in the queue, in messages (1..=100000): put blocks while it is full.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=MAX_CAPACITY as i64))]
    pub capacity: u32,
    /// Producer processes (1..=16, at most --count); producer k puts the i with i % P == k.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_PROCS as i64))]
    pub producers: u32,
    /// Consumer processes (1..=16).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_PROCS as i64))]
    pub consumers: u32,
    /// Write a timeline of the run to FILE (Chrome Trace Event Format: open it with `vizviewer
    /// FILE`, ui.perfetto.dev or chrome://tracing).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Test hook (feature `fault-injection`): the producer of (2, I) dies by SIGKILL in the
    /// middle of that put, after claiming its slot and writing garbage into it, before publishing.
    #[cfg(feature = "fault-injection")]
    #[arg(long, value_name = "I", hide = true)]
    pub kill_producer_mid_message: Option<u32>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            count: 10,
            capacity: 10,
            producers: 1,
            consumers: 1,
            trace: None,
            #[cfg(feature = "fault-injection")]
            kill_producer_mid_message: None,
        }
    }
}

fn encode(a: u32, b: u32, producer: u32) -> [u8; MSG_BYTES] {
    let mut m = [0u8; MSG_BYTES];
    m[0..4].copy_from_slice(&a.to_le_bytes());
    m[4..8].copy_from_slice(&b.to_le_bytes());
    m[8..12].copy_from_slice(&producer.to_le_bytes());
    m
}

fn decode(message: &[u8]) -> Result<(u32, u32, u32)> {
    anyhow::ensure!(
        message.len() == MSG_BYTES,
        "message of {} bytes, expected {MSG_BYTES}",
        message.len()
    );
    let word =
        |k: usize| u32::from_le_bytes([message[k], message[k + 1], message[k + 2], message[k + 3]]);
    Ok((word(0), word(4), word(8)))
}

/// `a ** b` for the summary: a JSON number while it fits in a u64, else the Python expression
/// (2**99999 has 30103 digits; a list of 100000 of them would be 1.5 GB).
fn power_json(a: u32, b: u32) -> serde_json::Value {
    match u64::from(a).checked_pow(b) {
        Some(v) => json!(v),
        None => json!(format!("{a}**{b}")),
    }
}

/// `a ** b` as the consumer prints it: exact while it fits in 128 bits.
fn power_text(a: u32, b: u32) -> String {
    match u128::from(a).checked_pow(b) {
        Some(v) => v.to_string(),
        None => {
            let digits = (f64::from(b) * f64::from(a).log10()).floor() as u64 + 1;
            format!("{a}**{b} (a number of {digits} digits)")
        }
    }
}

/// What the consumers record, in shared memory.
struct Record {
    /// `seen[i]`: receptions of 2**i.
    seen: SharedSlice<AtomicU32>,
    /// (consumer << 32) | i, in the order of the gets (first `count` receptions).
    log: SharedSlice<AtomicU64>,
    /// `sent[k]`: successful puts of producer k.
    sent: SharedSlice<AtomicU64>,
    /// The run-wide counters.
    counters: Shared<Counters>,
}

common::shared_struct! {
    /// The run-wide counters, by name.
    struct Counters {
        /// Entries written in the receipt log (can exceed its length if something duplicated).
        log_len: AtomicU64,
        /// Receptions out of their producer's order.
        fifo_broken: AtomicU64,
        /// The largest `len()` a producer saw right after its put.
        max_len: AtomicU64,
    }
}

fn producer(q: &Queue, rec: &Record, index: u32, args: &Args) -> Result<()> {
    // --trace: this child's own process track (in a forked child the thread id is the pid).
    let track = trace::this_thread();
    trace::process_name(&format!("producer {index}"));
    trace::thread_name(track, &format!("producer {index}"));
    let mut i = index;
    while i < args.count {
        sleep(secs(1.0)); // the notes' sleep(1): simulated work before each put
        #[cfg(feature = "fault-injection")]
        if args.kill_producer_mid_message == Some(i) {
            q.die_in_next_put();
        }
        let message = encode(2, i, index);
        // --trace: one slice for the whole put (its name is only formatted when tracing).
        let put = trace::enabled().then(|| Span::begin(format!("put (2, {i})"), "put", track));
        // put_nowait first, to know whether this put has to wait: Python's put_nowait raises
        // queue.Full there. Then the blocking put, drawn as a "blocked" slice inside the put.
        let done = match q.put_nowait(&message) {
            Err(QueueError::Full) => {
                let _blocked = Span::begin("blocked: queue full", "blocked", track);
                q.put(&message)
            }
            done => done,
        };
        done.with_context(|| format!("put (2, {i})"))?;
        drop(put);
        rec.sent[index as usize].fetch_add(1, Ordering::SeqCst);
        let len = q.len();
        rec.counters.max_len.fetch_max(len as u64, Ordering::SeqCst);
        trace::counter("occupancy", len as f64);
        out::event(
            "put",
            json!({"producer": index, "a": 2, "b": i}),
            format!("  producer {index}: put (2, {i})"),
        );
        i += args.producers;
    }
    Ok(())
}

fn consumer(q: &Queue, rec: &Record, index: u32, args: &Args) -> Result<()> {
    let mut buf = Vec::with_capacity(MSG_BYTES);
    // Last b received from each producer: FIFO means each one's numbers arrive increasing.
    let mut last: Vec<Option<u32>> = vec![None; args.producers as usize];
    // --trace: this child's own process track.
    let track = trace::this_thread();
    trace::process_name(&format!("consumer {index}"));
    trace::thread_name(track, &format!("consumer {index}"));
    loop {
        // Closed and drained: the stream is over, no need to "work" 1.5 s before learning it.
        if q.is_closed() && q.is_empty() {
            break;
        }
        sleep(secs(1.5)); // the notes' sleep(1.5) before each get
                          // --trace: when this get began (its slice is named once the message is known).
        let asked = trace::enabled().then(trace::now_us);
        // As in the producer: get_nowait first (Python's queue.Empty), to draw a wait.
        let got = match q.get_into_timeout(&mut buf, Duration::ZERO) {
            Err(QueueError::Empty) => {
                let _blocked = Span::begin("blocked: queue empty", "blocked", track);
                q.get_into(&mut buf)
            }
            got => got,
        };
        match got {
            Ok(()) => {}
            Err(QueueError::Closed) => break,
            Err(e) => return Err(e).context("get"),
        }
        let (base, b, p) = decode(&buf)?;
        if let Some(start) = asked {
            let name = format!("get (2, {b})");
            trace::slice(
                &name,
                "get",
                track,
                start,
                trace::now_us(),
                json!({"producer": p}),
            );
        }
        trace::counter("occupancy", q.len() as f64);
        anyhow::ensure!(
            b < args.count && p < args.producers,
            "garbage message {buf:?}"
        );
        if last[p as usize].is_some_and(|l| l >= b) {
            rec.counters.fifo_broken.fetch_add(1, Ordering::SeqCst);
        }
        last[p as usize] = Some(b);
        rec.seen[b as usize].fetch_add(1, Ordering::SeqCst);
        let at = rec.counters.log_len.fetch_add(1, Ordering::SeqCst) as usize;
        if let Some(slot) = rec.log.get(at) {
            slot.store((u64::from(index) << 32) | u64::from(b), Ordering::SeqCst);
        }
        out::event(
            "got",
            json!({"consumer": index, "producer": p, "a": base, "b": b, "value": power_json(base, b)}),
            // The notes' print(a ** b), nothing else on the line, as Python shows it.
            power_text(base, b),
        );
    }
    Ok(())
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    if args.producers > args.count {
        return Err(common::cli::usage(
            "--producers",
            args.producers,
            format!("more producers than messages (--count {})", args.count),
        ));
    }
    #[cfg(feature = "fault-injection")]
    if let Some(i) = args.kill_producer_mid_message.filter(|&i| i >= args.count) {
        return Err(common::cli::usage(
            "--kill-producer-mid-message",
            i,
            format!("no such message: i runs over 0..{}", args.count),
        ));
    }
    // --trace: before any fork, so every child inherits the trace file.
    if let Some(path) = &args.trace {
        trace::begin(path)?;
    }
    let q = Queue::new(args.capacity as usize, MSG_BYTES)?;
    let rec = Record {
        seen: SharedSlice::new_zeroed(args.count as usize).context("mmap(MAP_SHARED)")?,
        log: SharedSlice::new_zeroed(args.count as usize).context("mmap(MAP_SHARED)")?,
        sent: SharedSlice::new_zeroed(args.producers as usize).context("mmap(MAP_SHARED)")?,
        counters: Shared::new_zeroed().context("mmap(MAP_SHARED)")?,
    };
    out::say(format!(
        "q = Queue(capacity {}); {} producer(s) put (2, i) for i in 0..{}, sleeping 1 s before each put; \
         {} consumer(s) sleep 1.5 s before each get and print a ** b",
        args.capacity, args.producers, args.count, args.consumers
    ));

    // Producers first, as the notes start p1 then p2. Each child gets the Queue by fork: the
    // closure borrows `q`, and the child's copy of that handle maps the same shared pages.
    let mut children: Vec<Child> = Vec::new();
    for k in 0..args.producers {
        let (q, rec) = (&q, &rec);
        children.push(common::spawn(format!("producer-{k}"), move || {
            producer(q, rec, k, args)
        })?);
    }
    for c in 0..args.consumers {
        let (q, rec) = (&q, &rec);
        children.push(common::spawn(format!("consumer-{c}"), move || {
            consumer(q, rec, c, args)
        })?);
    }
    let is_producer = |i: usize| i < args.producers as usize;

    // Wait for children as they end (poll on their pidfds: blocks in the kernel).
    let mut producers_left = args.producers;
    let mut consumers_left = args.consumers;
    let mut failures = Vec::new();
    while let Some(i) = wait_any(&mut children, None)? {
        let child = &children[i];
        let status = child.status().context("reaped child without status")?;
        // `producer-0 (pid 42) killed by SIGKILL`: the workspace's one sentence for it.
        if let Some(failure) = child.failure() {
            out::event(
                "child_failed",
                json!({"name": child.name(), "child_pid": child.pid(), "exit_code": status.python_exitcode()}),
                &failure,
            );
            failures.push(failure);
        }
        if is_producer(i) {
            producers_left -= 1;
            if !status.success() {
                // It may have died between claiming a slot and publishing it: a hole that
                // consumers, and behind them the other producers, would wait at forever. Repair
                // exactly its claim, right now. (Its pid could be reused once reaped, but only
                // our own producers put here, and no new one is started after this point.)
                let n = q.recover_dead_producer(child.pid());
                out::event(
                    "recovered",
                    json!({"abandoned_slots": n, "producer_pid": child.pid()}),
                    format!(
                        "{} died: {n} claimed but unpublished slot(s) skipped",
                        child.name()
                    ),
                );
            }
            if producers_left == 0 {
                // Every producer has exited: nothing more will be put. Consumers take what is
                // left, then get Closed.
                q.close();
                out::event(
                    "closed",
                    json!({"len": q.len()}),
                    format!(
                        "every producer is done: q.close() with {} message(s) still queued",
                        q.len()
                    ),
                );
            }
        } else {
            consumers_left -= 1;
            if consumers_left == 0 && producers_left > 0 {
                // Nobody will ever make room again: producers would block in put forever.
                out::say("every consumer has gone while producers still run: stopping them");
                for (j, c) in children.iter().enumerate() {
                    if is_producer(j) {
                        c.kill()?;
                    }
                }
            }
        }
    }

    // Every child is reaped: nothing more will be traced.
    trace::finish()?;

    // The checks.
    let sent_sets: Vec<u64> = rec.sent.iter().map(|s| s.load(Ordering::SeqCst)).collect();
    let sent: u64 = sent_sets.iter().sum();
    let was_sent = |i: u32| {
        let k = i % args.producers;
        u64::from(i / args.producers) < sent_sets[k as usize]
    };
    let mut lost = 0u64;
    let mut duplicated = 0u64;
    for i in 0..args.count {
        let n = u64::from(rec.seen[i as usize].load(Ordering::SeqCst));
        if n == 0 && was_sent(i) {
            lost += 1;
        }
        duplicated += n.saturating_sub(1);
    }
    let logged = (rec.counters.log_len.load(Ordering::SeqCst) as usize).min(args.count as usize);
    let mut per_consumer = vec![0u64; args.consumers as usize];
    let received: Vec<serde_json::Value> = rec.log[..logged]
        .iter()
        .map(|e| {
            let e = e.load(Ordering::SeqCst);
            if let Some(n) = per_consumer.get_mut((e >> 32) as usize) {
                *n += 1;
            }
            power_json(2, e as u32)
        })
        .collect();
    let in_order = rec.counters.fifo_broken.load(Ordering::SeqCst) == 0;
    let max_len = rec.counters.max_len.load(Ordering::SeqCst);
    out::say(format!(
        "sent {sent}, received {}, lost {lost}, duplicated {duplicated}, FIFO per producer: {}; \
         the queue held at most {max_len} of its {} slots",
        rec.counters.log_len.load(Ordering::SeqCst),
        if in_order { "yes" } else { "NO" },
        args.capacity
    ));
    out::summary(json!({
        "received": received,
        "sent": sent,
        "lost": lost,
        "duplicated": duplicated,
        "in_order": in_order,
        "count": args.count,
        "capacity": args.capacity,
        "producers": args.producers,
        "consumers": args.consumers,
        "per_consumer": per_consumer,
        "max_len": max_len,
        // Sent but never taken (only when every consumer died): part of `lost`.
        "left_in_queue": q.len(),
        "failures": failures,
    }));
    if !failures.is_empty() {
        anyhow::bail!(
            "{} child process(es) failed: {}",
            failures.len(),
            failures.join("; ")
        );
    }
    if lost > 0 || duplicated > 0 || !in_order || sent != u64::from(args.count) {
        anyhow::bail!(
            "invariant broken: sent {sent} of {}, lost {lost}, duplicated {duplicated}, in_order {in_order}",
            args.count
        );
    }
    Ok(())
}
