//! `greet` (the notes' example of **(1) 管道通信**, note 000).
//!
//! Python:
//!
//! ```python
//! import time
//! from multiprocessing import Process, Pipe
//!
//! fd1, fd2 = Pipe()                  # duplex=True by default
//!
//! def fun(name):
//!     time.sleep(0.3)                # the notes sleep 3 s
//!     fd1.send("hello! " + name.title())
//!
//! jobs = [Process(target=fun, args=(n,)) for n in ["tom", "zack", "abby", "sam"]]
//! for p in jobs: p.start()
//! for _ in range(4): print(fd2.recv())
//! for p in jobs: p.join()
//! ```
//!
//! Here: one duplex [`pipe`](crate::pipe) (a socketpair) made before any fork. Every child
//! inherits both ends; it closes `fd2` (the parent's end: a child never reads from it) and sends
//! its one message on `fd1`, the end all the children share. Each message is a frame of a few
//! dozen bytes (a 4-byte length, then the JSON of the greeting: [`crate::frame`]) sent with one
//! write(2), so the four writers never mix their bytes (see `atomic` for where that stops being
//! true).
//!
//! The parent closes *its* copy of `fd1` as soon as the last child is forked. Then, once every
//! child has exited, nothing holds `fd1` any more, and `recv` on `fd2` returns EOF: a child that
//! died without sending turns into a short count and exit status 1, never into a hang. After the
//! last greeting and the joins, the parent reads once more and expects exactly that EOF: proof
//! that no greeting came twice.
//!
//! ## Which greeting comes first, and why
//! The order is not tom, zack, abby, sam by rule, nor random by rule. Every child sleeps the same
//! 3 s, so each wakes 3 s after it *began* sleeping; the children began one after another, in the
//! order the parent forked them, a fraction of a millisecond apart. So they wake in fork order,
//! and arrive in it, unless the scheduler runs one of them late by more than that gap (a busy
//! CPU, fewer cores than children, a child not yet scheduled when its sibling's timer fires).
//! With `--time-scale 0` nobody sleeps: each child sends as soon as it runs, and the head start
//! of the earlier fork usually wins. The demo records, in shared memory, when each child began
//! and ended its sleep (one clock for every process: `CLOCK_MONOTONIC`), and prints the start
//! order, the arrival order and those times, so the student sees what decided it this time.

use std::cell::Cell;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use common::{json, out, secs, sleep, SharedSlice};

use crate::{take_end, ConnError, MAX_CHILDREN};

/// Longest name accepted (in characters).
pub const MAX_NAME: usize = 32;

/// Flags of `greet`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Children's names, comma-separated: 1..=64 names, each 1..=32 letters, digits, '-' or '_'.
    #[arg(long, value_name = "A,B,...", default_value = "tom,zack,abby,sam",
          value_parser = parse_names)]
    pub names: Names,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            names: parse_names("tom,zack,abby,sam").expect("the notes' names are valid"),
        }
    }
}

/// A validated list of child names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names(pub Vec<String>);

/// Parse `--names`: comma-separated, 1..=64 names, none empty, each 1..=32 characters from
/// letters, digits, `-` and `_` (a name becomes a process name and a line of output).
pub fn parse_names(text: &str) -> Result<Names, String> {
    if text.trim().is_empty() {
        return Err("no names: give 1 to 64 comma-separated names".into());
    }
    let names: Vec<String> = text.split(',').map(|n| n.trim().to_string()).collect();
    if names.len() > MAX_CHILDREN {
        return Err(format!("{} names: at most {MAX_CHILDREN}", names.len()));
    }
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err(format!("name {} is empty", i + 1));
        }
        if n.chars().count() > MAX_NAME {
            return Err(format!(
                "name {} is longer than {MAX_NAME} characters",
                i + 1
            ));
        }
        if let Some(c) = n
            .chars()
            .find(|c| !(c.is_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "name {} contains {c:?}: use letters, digits, '-' or '_'",
                i + 1
            ));
        }
    }
    // Two children with one name would send the same greeting ("tom,Tom" too: both say
    // "hello! Tom"), and the demo could no longer show that each child's message arrived
    // exactly once. Python would allow it; here it is a usage error.
    for (i, n) in names.iter().enumerate() {
        if let Some(j) = names[..i]
            .iter()
            .position(|m| m.to_lowercase() == n.to_lowercase())
        {
            return Err(format!(
                "name {} ({n}) repeats name {} ({}): each child's greeting must be told apart",
                i + 1,
                j + 1,
                names[j]
            ));
        }
    }
    Ok(Names(names))
}

/// Python's `str.title()`: upper-case a letter that follows a non-letter, lower-case the others.
/// `tom` -> `Tom`, `mary-ann` -> `Mary-Ann`, `abby2x` -> `Abby2X`.
pub fn title(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut after_letter = false;
    for c in name.chars() {
        // Python looks at "cased" characters (those with an upper and a lower form).
        let cased = c.is_lowercase() || c.is_uppercase();
        if cased {
            if after_letter {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
        } else {
            out.push(c);
        }
        after_letter = cased;
    }
    out
}

/// The message child `name` sends.
pub fn greeting(name: &str) -> String {
    format!("hello! {}", title(name))
}

common::shared_struct! {
    /// When one child began and ended its sleep, in nanoseconds since the parent's start instant
    /// (0: not reached). Only the demo's bookkeeping; the greetings go through the pipe.
    pub struct SleepTimes {
        /// Just before `time.sleep(3)`.
        pub slept_at_ns: AtomicI64,
        /// Just after it.
        pub woke_at_ns: AtomicI64,
    }
}

/// Milliseconds, 3 decimals, from a shared nanosecond figure.
fn ms(ns: &AtomicI64) -> f64 {
    (ns.load(Ordering::Relaxed) as f64 / 1e3).round() / 1e3
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let names = &args.names.0;
    // Mapped before the forks, so every child writes its own entry and the parent reads them all.
    let times = SharedSlice::<SleepTimes>::new_zeroed(names.len()).context("mmap(MAP_SHARED)")?;
    let t0 = Instant::now();
    let since_t0 = || t0.elapsed().as_nanos().min(i64::MAX as u128) as i64;
    // fd1: the children's end (they send), fd2: the parent's (it receives). Same names as the notes.
    let (fd1, fd2) = crate::pipe(true).context("Pipe()")?;
    out::say(format!(
        "parent pid {}: fd1, fd2 = Pipe() -> a socketpair (fds {} and {}), made before any child so every child inherits both",
        std::process::id(),
        fd1.fileno(),
        fd2.fileno()
    ));
    let fd1 = Cell::new(Some(fd1));
    let fd2 = Cell::new(Some(fd2));

    let mut jobs = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let mine = &times[k];
        let child = common::spawn(name.clone(), || {
            // In the child: close our inherited copy of the parent's end. We never read from it,
            // and holding it would keep the socket alive for our sends if the parent vanished.
            drop(take_end(&fd2, "fd2")?);
            let fd1 = take_end(&fd1, "fd1")?;
            out::event(
                "child_ready",
                json!({"name": name}),
                format!(
                    "  {name} (pid {}): time.sleep(3), then fd1.send(...)",
                    std::process::id()
                ),
            );
            mine.slept_at_ns.store(since_t0(), Ordering::Relaxed);
            sleep(secs(3.0));
            mine.woke_at_ns.store(since_t0(), Ordering::Relaxed);
            let msg = greeting(name);
            fd1.send_obj(&msg).context("send")?;
            out::event("sent", json!({"name": name, "message": msg}), "");
            // Returning exits the child (_exit), which closes its copy of fd1.
            Ok(())
        })?;
        out::event(
            "started",
            json!({"name": child.name(), "child_pid": child.pid()}),
            "",
        );
        jobs.push(child);
    }
    // Every child has its copy of fd1 now; the parent's copy would only keep EOF from coming.
    drop(take_end(&fd1, "fd1")?);
    let fd2 = take_end(&fd2, "fd2")?;
    out::say(format!(
        "parent: started {} children, closed its own fd1, now fd2.recv() x {}",
        jobs.len(),
        names.len()
    ));

    let mut messages: Vec<String> = Vec::new();
    for _ in 0..names.len() {
        match fd2.recv_obj::<String>() {
            Ok(m) => {
                out::event(
                    "received",
                    json!({"message": m, "index": messages.len()}),
                    &m,
                );
                messages.push(m);
            }
            // Every child is gone and fewer greetings came than children: do not wait forever.
            Err(ConnError::Eof) => break,
            Err(e) => return Err(e).context("recv"),
        }
    }

    let mut children = Vec::new();
    let mut failed = Vec::new();
    for child in &mut jobs {
        let status = child.join()?;
        out::event(
            "joined",
            json!({"name": child.name(), "child_pid": child.pid(), "exit_code": status.python_exitcode()}),
            format!("joined {} (pid {}): {status}", child.name(), child.pid()),
        );
        failed.extend(child.failure());
        children
            .push(json!({"name": child.name(), "pid": child.pid(), "exit_code": status.python_exitcode()}));
    }

    // Every child is joined, so every copy of fd1 is closed: the next recv must be EOF. Anything
    // else is a greeting too many.
    let extra = match fd2.recv() {
        Err(ConnError::Eof) => 0,
        Ok(_) => 1,
        Err(e) => return Err(e).context("recv after the last child"),
    };
    if extra == 0 && messages.len() == names.len() {
        out::say("fd2.recv() once more: EOF, every copy of fd1 is closed and nothing is left");
    }
    let order = explain_order(names, &messages, &times);
    let count = messages.len();
    out::summary(json!({
        "messages": messages,
        "count": count,
        "expected": names.len(),
        "eof_after_last": extra == 0,
        "children": children,
        "start_order": order.start_order,
        "arrival_order": order.arrival_order,
        "in_start_order": order.in_start_order,
        "order_decided_by": order.decided_by,
        "sleep_s": order.sleep_s,
        "slept_at_ms": order.slept_at_ms,
        "woke_at_ms": order.woke_at_ms,
    }));
    if count != names.len() {
        bail!(
            "{} of {} greetings arrived before EOF (failed children: {})",
            count,
            names.len(),
            failed.join(", ")
        );
    }
    if extra != 0 {
        bail!("a message arrived after the last expected greeting");
    }
    if !failed.is_empty() {
        bail!("children failed: {}", failed.join(", "));
    }
    Ok(())
}

/// The order the greetings came in, beside what decided it.
struct Order {
    /// The explanation printed (the `why` line).
    decided_by: String,
    /// Names in the order they were forked.
    start_order: Vec<String>,
    /// Names in the order their greetings arrived.
    arrival_order: Vec<String>,
    in_start_order: bool,
    /// The sleep each child really made (3 s times `--time-scale`).
    sleep_s: f64,
    /// Per child, in start order: when it began sleeping (ms since the parent started).
    slept_at_ms: Vec<f64>,
    /// Per child, in start order: when it woke.
    woke_at_ms: Vec<f64>,
}

/// Compare the arrival order with the start order and print why they agree or not.
fn explain_order(names: &[String], messages: &[String], times: &[SleepTimes]) -> Order {
    let arrival_order: Vec<String> = messages
        .iter()
        .map(|m| {
            names
                .iter()
                .find(|n| greeting(n) == *m)
                .cloned()
                .unwrap_or_else(|| m.clone())
        })
        .collect();
    let in_start_order = arrival_order == names;
    let sleep_s = common::clock::scaled(secs(3.0)).as_secs_f64();
    let slept_at_ms: Vec<f64> = times.iter().map(|t| ms(&t.slept_at_ns)).collect();
    let woke_at_ms: Vec<f64> = times.iter().map(|t| ms(&t.woke_at_ns)).collect();
    // Who woke first: the order of the wake-up times, the thing the scheduler decided.
    let mut by_waking: Vec<usize> = (0..names.len()).collect();
    by_waking.sort_by(|&a, &b| woke_at_ms[a].total_cmp(&woke_at_ms[b]));
    let woke_order: Vec<&str> = by_waking.iter().map(|&k| names[k].as_str()).collect();
    let spread = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if v.is_empty() {
            0.0
        } else {
            hi - lo
        }
    };
    out::event(
        "order",
        json!({
            "start_order": names,
            "arrival_order": arrival_order,
            "woke_order": woke_order,
            "in_start_order": in_start_order,
        }),
        format!(
            "order: started {}; woke {}; arrived {}{}",
            names.join(", "),
            woke_order.join(", "),
            arrival_order.join(", "),
            if in_start_order {
                " (the start order)"
            } else {
                " (not the start order)"
            }
        ),
    );
    let gap_ms = spread(&slept_at_ms);
    let why = format!(
        "every child sleeps the same {sleep_s} s, and they began sleeping within {gap_ms:.3} ms of \
         each other, one after another as they were forked. So they wake in fork order, unless the \
         scheduler runs one late by more than that gap (a busy CPU, fewer cores than children). \
         Fork order and the scheduler decide, not the names; with --time-scale 0 they mostly \
         arrive in start order."
    );
    out::event(
        "why",
        json!({"decided_by": ["fork order", "scheduler"], "sleep_s": sleep_s, "sleep_start_spread_ms": gap_ms, "why": why}),
        format!("why: {why}"),
    );
    Order {
        decided_by: why,
        start_order: names.to_vec(),
        arrival_order,
        in_start_order,
        sleep_s,
        slept_at_ms,
        woke_at_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_like_python() {
        assert_eq!(title("tom"), "Tom");
        assert_eq!(title("mary-ann"), "Mary-Ann");
        assert_eq!(title("abby2x"), "Abby2X");
        assert_eq!(title("SAM"), "Sam");
        assert_eq!(title("o_neil"), "O_Neil");
        assert_eq!(greeting("zack"), "hello! Zack");
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(parse_names("a, b").unwrap().0, vec!["a", "b"]);
        assert!(parse_names("").is_err());
        assert!(parse_names("a,,b").is_err());
        assert!(parse_names("a b").is_err());
        let names = |n: usize| {
            (0..n)
                .map(|i| format!("x{i}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert!(parse_names(&names(64)).is_ok());
        assert!(parse_names(&names(65)).is_err());
        assert!(parse_names("tom,sam,Tom").is_err(), "a repeated name");
        assert!(parse_names(&"x".repeat(33)).is_err());
    }
}
