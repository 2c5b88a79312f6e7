//! `compare` (the default): the same N small messages through every mechanism, one table.
//!
//! The notes list six mechanisms and claim things about them: shared memory is the most
//! efficient, signals are low-level, sockets are used most. This table makes each claim
//! checkable on this machine:
//!
//! - **delivered of N**: a queue, a pipe, a socket deliver every message. A bare shared-memory
//!   slot delivers what the reader happened to see; standard signals merge while one is
//!   pending; realtime signals are queued, up to a limit.
//! - **msgs/s and round trip**: measured here, on this machine, with whatever else it is doing
//!   (the `bench` member measures properly: medians, pinned CPUs). Shared memory wins only with
//!   a protocol that avoids syscalls (the queue's futex is touched only when someone sleeps).
//! - **boundaries**: whether one send is one receive. A pipe or a stream socket delivers bytes,
//!   so messages need framing (here every message is exactly 8 bytes).
//! - **unrelated processes**: whether two programs with no common parent can use it, and how
//!   they find it (a name, a pid, an address). A pipe or an anonymous mapping can only be
//!   inherited.
//! - **if the writer dies**: what the reader still gets.
//!
//! The mechanisms themselves are in [`crate::mechanisms`], one function each.
//!
//! `--trace FILE` (see `common::trace`) records one slice per mechanism on the reader's track
//! (this process), its two phases inside it, and the same phases on each writer's own track.

use std::path::PathBuf;

use anyhow::{ensure, Result};
use common::trace;
use common::{json, out};

use crate::mechanisms::{Outcome, ALL};

/// Most messages per mechanism (`--messages`).
pub const MAX_MESSAGES: u64 = 1_000_000;
/// Most round trips per mechanism (`--rounds`).
pub const MAX_ROUNDS: u64 = 100_000;

/// Flags of `compare`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Messages streamed through each mechanism (at most 1000000).
    #[arg(long, default_value_t = 10_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=MAX_MESSAGES))]
    pub messages: u64,
    /// Round trips timed through each mechanism (at most 100000).
    #[arg(long, default_value_t = 1_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=MAX_ROUNDS))]
    pub rounds: u64,
    /// Write a timeline of every mechanism's phases to FILE (Chrome Trace Event Format: open it
    /// with `vizviewer FILE`, ui.perfetto.dev or chrome://tracing).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            messages: 10_000,
            rounds: 1_000,
            trace: None,
        }
    }
}

fn rate(o: &Outcome) -> f64 {
    let s = o.stream.as_secs_f64();
    if s > 0.0 {
        o.delivered as f64 / s
    } else {
        0.0
    }
}

/// `12_345_678.9` as `12.3 M`, for the table.
fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.1} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.0} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// `s` padded with spaces to `width` terminal columns (a CJK character takes two).
fn pad(s: &str, width: usize) -> String {
    let cols: usize = s
        .chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum();
    format!("{s}{}", " ".repeat(width.saturating_sub(cols)))
}

/// The notes' claims next to this run's figures: what the table confirms, and what it corrects.
fn corrections(n: u64, measured: &[(&str, u64, f64)]) {
    let row = |name: &str| {
        measured
            .iter()
            .find(|r| r.0 == name)
            .map_or((0, 0.0), |r| (r.1, r.2))
    };
    let (slot, _) = row("shm slot");
    let (_, queue_rate) = row("queue (shm ring)");
    let (_, pipe_rate) = row("pipe");
    let (usr1, _) = row("signal SIGUSR1");
    let (rt, _) = row("signal SIGRTMIN");
    out::say(format!(
        "笔记 \"共享内存的效率最高\": per message, when nobody waits, yes: no syscall. But the bare \
         slot delivered {slot} of {n}: it keeps only the latest value. The queue row is shared \
         memory plus a protocol (a ring, a futex only when someone sleeps): {} msgs/s here \
         against the pipe's {} (on a busy machine each wait becomes a trip through the \
         scheduler and the order of the rows can change; the bench member measures properly).",
        human(queue_rate),
        human(pipe_rate)
    ));
    out::say(format!(
        "笔记 \"信号(底层)\": SIGUSR1 delivered {usr1} of {n}: a standard signal is one pending \
         bit, so signals sent while one is pending merge (an event, not a message). SIGRTMIN \
         delivered {rt}: realtime signals queue, one integer each."
    ));
    out::say(
        "笔记 \"信号量\": the semaphore row moves data through a shared word; the semaphores \
         only say when it may be read or written. A semaphore carries no data.",
    );
    out::say(
        "笔记 \"套接字(使用最多)\": not for speed: a socket copies each message into the \
         kernel and out again, as a pipe does. They are used most because their peer can be \
         any program, on any machine, found by an address (see `ipc socket`).",
    );
}

/// Run the comparison.
pub fn run(a: &Args) -> Result<()> {
    let n = a.messages;
    if let Some(path) = &a.trace {
        trace::begin(path)?; // before any fork: every writer inherits the trace file
    }
    if trace::enabled() {
        trace::thread_name(trace::this_thread(), "reader");
    }
    out::say(format!(
        "The same {n} messages (8 bytes each: 1, 2, ..., {n}) from a child process to its parent \
         through each mechanism of the notes, after {} timed round trips.",
        a.rounds
    ));
    out::say(format!(
        "{:<17} {} {:>16} {:>9} {:>10}  {:<15} {:<17} {}",
        "mechanism",
        pad("notes", 8),
        "delivered",
        "msgs/s",
        "rtt",
        "boundaries",
        "unrelated procs",
        "if the writer dies"
    ));
    let mut rows = Vec::new();
    let mut measured = Vec::new();
    for m in &ALL {
        let row = crate::traced(m.name, "mechanism");
        let o = (m.measure)(n, a.rounds)?; // its writer is reaped inside
        drop(row);
        if m.reliable {
            ensure!(
                o.delivered == n,
                "{}: delivered {} of {n}, but it loses nothing",
                m.name,
                o.delivered
            );
        }
        let msgs_per_s = rate(&o);
        let rtt_us = (o.rtt.as_secs_f64() * 1e7).round() / 10.0;
        out::event(
            "mechanism",
            json!({
                "name": m.name, "sent": n, "delivered": o.delivered,
                "msgs_per_s": msgs_per_s.round(), "rtt_us": rtt_us,
                "boundaries": m.boundaries, "unrelated": m.unrelated,
                "writer_dies": m.writer_dies, "note": o.note,
            }),
            format!(
                "{:<17} {} {:>16} {:>9} {:>7.1} us  {:<15} {:<17} {}",
                m.name,
                pad(m.note_name, 8),
                format!("{} of {n}", o.delivered),
                human(msgs_per_s),
                rtt_us,
                m.boundaries,
                m.unrelated,
                m.writer_dies
            ),
        );
        measured.push((m.name, o.delivered, msgs_per_s));
        rows.push(json!({
            "name": m.name, "sent": n, "delivered": o.delivered,
            "msgs_per_s": msgs_per_s.round(), "rtt_us": rtt_us,
        }));
        if let Some(note) = &o.note {
            out::say(format!("{:<23} ^ {note}", ""));
        }
    }
    corrections(n, &measured);
    trace::finish()?; // every writer is reaped: the events are all in
    out::summary(json!({
        "messages": n,
        "rounds": a.rounds,
        "mechanisms": rows,
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_counts_a_cjk_character_as_two_columns() {
        assert_eq!(pad("管道", 6), "管道  ");
        assert_eq!(pad("pipe", 6), "pipe  ");
        assert_eq!(pad("消息队列", 6), "消息队列");
    }

    #[test]
    fn rates_read_as_k_and_m() {
        assert_eq!(human(12_345_678.0), "12.3 M");
        assert_eq!(human(4_321.0), "4 k");
        assert_eq!(human(999.0), "999");
    }
}
