//! `atomic`: several writers on one pipe, and the `PIPE_BUF` rule (note 000 (1), the notes'
//! four children writing to one `fd1`).
//!
//! Python has no knob for this; the shape is the notes' example with bigger messages:
//!
//! ```python
//! import os
//! from multiprocessing import Process, Pipe
//!
//! SIZE = 256 << 10                   # try 4096 (PIPE_BUF): then no record is ever torn
//!
//! def record(i, seq): return bytes([i, seq]) * (SIZE // 2)
//!
//! r, w = Pipe(False)
//!
//! def writer(i):
//!     for seq in range(8): os.write(w.fileno(), record(i, seq))   # one write(2) per record
//!
//! ps = [Process(target=writer, args=(i,)) for i in range(4)]
//! for p in ps: p.start()
//! w.close()
//! torn = 0
//! with open(r.fileno(), "rb", closefd=False) as stream:
//!     while piece := stream.read(SIZE):          # cut the stream into record-sized pieces
//!         torn += piece != record(piece[0], piece[1])
//! for p in ps: p.join()
//! print(torn, "of", 4 * 8, "records torn")
//! ```
//!
//! POSIX: a write(2) of at most `PIPE_BUF` bytes (4096 on Linux) to a pipe is **atomic**: its
//! bytes appear together, never mixed with another writer's. A larger write carries no such
//! promise. On Linux, a writer finding the pipe full (64 KiB by default) gives up the pipe's lock
//! and sleeps; whichever writer the kernel wakes next may put its bytes in the middle of the
//! first one's message.
//!
//! Here every writer sends `--messages` records of one fixed size, each with a single write(2)
//! (no framing: a length header would itself be torn). A record starts with its writer and
//! sequence number and is filled with a pattern derived from both, so the reader can tell a
//! record that came through whole from one stitched together from several. The reader cuts the
//! stream into record-sized pieces, as a reader trusting message boundaries would, and counts
//! `intact` and `torn`. Twice: with a small size (default `PIPE_BUF` itself, the largest that is
//! still atomic) and a large one (default 256 KiB, four times the pipe's capacity, so that every
//! large write must wait for room at least three times).
//!
//! The reader also counts `switches`, but only where it can tell who wrote what: between two
//! *neighbouring intact* records (`intact_pairs` of them), how often the second came from another
//! writer than the first. A torn record has no single writer, so a pair with a torn record in it
//! is not counted either way; in a phase where almost everything tears, few pairs are left and
//! the count says little (the switches that tore records are not in it). In the small
//! phase nothing tears, every neighbouring pair counts, and the number shows the writers really
//! were writing at the same time (64 records each fill the 64 KiB pipe four times over, so they
//! queue up behind a full pipe and the kernel wakes them in turn): "0 torn" is then the rule at
//! work, not writers politely taking turns.
//!
//! What is certain and what is not: `small.torn` is 0 on every run (POSIX; a nonzero count ends
//! the demo with status 1). `large.torn` is usually well above 0, but it is *allowed*, not
//! *guaranteed*: it depends on which writer the kernel wakes. The writers meet at a
//! process-shared barrier first, so they are all writing at once rather than one after another.
//!
//! Who closes what: each writer closes its inherited read end (only the parent reads); the
//! parent closes its write end once the writers are forked, so it sees EOF when the last writer
//! exits. The parent then joins (reaps) every writer.

use std::cell::Cell;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};
use common::sync::Barrier;
use common::{json, out, Shared};
use nix::errno::Errno;

use crate::take_end;

/// Largest `--large` (4 MiB).
pub const MAX_LARGE: u32 = 4 << 20;
/// Most bytes one phase may push through the pipe (`--writers` x `--messages` x size).
pub const MAX_TOTAL: u64 = 256 << 20;

/// Flags of `atomic`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Writer children sharing the pipe's write end (2..=16).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(2..=16))]
    pub writers: u32,
    /// Records each writer sends, per size (1..=1000).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub messages: u32,
    /// The small record size in bytes (16..=4096, i.e. at most PIPE_BUF).
    #[arg(long, default_value_t = libc::PIPE_BUF as u32,
          value_parser = clap::value_parser!(u32).range(16..=libc::PIPE_BUF as i64))]
    pub small: u32,
    /// The large record size in bytes (4097..=4194304, i.e. above PIPE_BUF).
    #[arg(long, default_value_t = 256 << 10,
          value_parser = clap::value_parser!(u32).range(libc::PIPE_BUF as i64 + 1..=MAX_LARGE as i64))]
    pub large: u32,
}

/// What the reader found for one record size.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Counts {
    /// Bytes per record.
    pub size: u32,
    /// Records in the stream (writers x messages).
    pub total: u64,
    /// Records that came out exactly as one writer wrote them.
    pub intact: u64,
    /// Records mixing bytes of more than one write.
    pub torn: u64,
    /// Offset inside the first torn record where foreign bytes begin, if any.
    pub first_tear_offset: Option<usize>,
    /// Writes that returned short (a blocking pipe write does not, unless a signal interrupts).
    pub short_writes: u64,
    /// Pairs of neighbouring records that both came through intact: the only places where the
    /// reader can say which writer came before which.
    pub intact_pairs: u64,
    /// Of those `intact_pairs`, how many have their two records from different writers: above 0
    /// means the writers really were writing at the same time, so "0 torn" is not luck of turns.
    /// Torn records are not in it (each is a switch in the middle of a record).
    pub switches: u64,
}

/// SplitMix64: a 64-bit pattern from (writer, sequence), different for every record.
fn mix(writer: u32, seq: u32) -> u64 {
    let mut z = (u64::from(writer) << 32 | u64::from(seq)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fill `buf` with record (writer, seq): 4 bytes writer, 4 bytes seq, then the pattern.
pub fn record(writer: u32, seq: u32, buf: &mut [u8]) {
    let pattern = mix(writer, seq).to_le_bytes();
    buf[..4].copy_from_slice(&writer.to_le_bytes());
    buf[4..8].copy_from_slice(&seq.to_le_bytes());
    for chunk in buf[8..].chunks_mut(8) {
        chunk.copy_from_slice(&pattern[..chunk.len()]);
    }
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let per_phase = u64::from(args.writers) * u64::from(args.messages) * u64::from(args.large);
    if per_phase > MAX_TOTAL {
        return Err(common::cli::usage(
            "--large",
            args.large,
            format!(
                "--writers {} x --messages {} x --large {} = {per_phase} bytes, more than {MAX_TOTAL}",
                args.writers, args.messages, args.large
            ),
        ));
    }
    let (small, pipe_buf, capacity) = phase(args, args.small)?;
    out::say(format!(
        "{} writers share one pipe's write end (PIPE_BUF {pipe_buf} from fpathconf, capacity {capacity} \
         from F_GETPIPE_SZ); each writes {} records with one write(2) apiece, all starting together. \
         The parent cuts the stream into record-sized pieces and checks that each is one writer's record.",
        args.writers, args.messages
    ));
    report(args, &small, "small", pipe_buf, capacity);
    let (large, _, _) = phase(args, args.large)?;
    report(args, &large, "large", pipe_buf, capacity);
    out::summary(json!({
        "pipe_buf": pipe_buf,
        "pipe_capacity": capacity,
        "writers": args.writers,
        "messages": args.messages,
        "small": small,
        "large": large,
        "large_tearing_guaranteed": false,
    }));
    if small.torn > 0 {
        bail!(
            "{} records of {} bytes (<= PIPE_BUF {pipe_buf}) were torn: the kernel broke POSIX's atomic-write rule",
            small.torn,
            args.small
        );
    }
    Ok(())
}

fn report(args: &Args, counts: &Counts, which: &str, pipe_buf: i64, capacity: i64) {
    let verdict = if which == "small" {
        format!("<= PIPE_BUF ({pipe_buf}): every write is atomic, POSIX guarantees 0 torn")
    } else if counts.torn > 0 {
        format!(
            "> PIPE_BUF, {:.1}x the pipe's {capacity}-byte capacity: a writer that finds the pipe full sleeps, \
             and another writer's bytes go in between. Allowed, not guaranteed",
            f64::from(counts.size) / capacity.max(1) as f64
        )
    } else {
        "> PIPE_BUF, yet none torn this time: tearing is allowed, not guaranteed. Try more --writers or a bigger --large"
            .to_string()
    };
    // Switches are only known between neighbouring intact records: say so, with the number of
    // such pairs, rather than "the stream switched writers N times".
    let switches = if counts.intact_pairs == 0 {
        "no two intact records were neighbours, so no writer switch could be seen between records"
            .to_string()
    } else {
        format!(
            "of the {} pair(s) of neighbouring intact records, {} changed writer",
            counts.intact_pairs, counts.switches
        )
    };
    let torn_switches = if counts.torn > 0 {
        format!(
            "; the {} torn records are not attributed to any writer (pieces of several writes, or out of step after one)",
            counts.torn
        )
    } else {
        String::new()
    };
    out::event(
        "result",
        json!({"which": which, "counts": counts}),
        format!(
            "{which}: {} writers x {} records of {} bytes: {} intact, {} torn; {switches}{torn_switches} ({verdict})",
            args.writers, args.messages, counts.size, counts.intact, counts.torn
        ),
    );
}

common::shared_struct! {
    /// What the writers of one phase share with each other and with the parent.
    pub struct WritersShared {
        /// Every writer waits here until all are ready, so their writes overlap.
        pub start: Barrier,
        /// write(2) calls that returned fewer bytes than asked (a large record split up).
        pub short_writes: AtomicU64,
    }
}

/// One phase: a fresh pipe, `writers` children writing `messages` records of `size` bytes each,
/// the parent reading and checking. Returns the counts, PIPE_BUF and the pipe's capacity.
fn phase(args: &Args, size: u32) -> Result<(Counts, i64, i64)> {
    // A raw pipe(2): the records go out unframed, one write(2) each.
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    let pipe_buf = nix::unistd::fpathconf(&r, nix::unistd::PathconfVar::PIPE_BUF)
        .context("fpathconf(_PC_PIPE_BUF)")?
        .map_or(libc::PIPE_BUF as i64, i64::from);
    let capacity = i64::from(
        nix::fcntl::fcntl(r.as_raw_fd(), nix::fcntl::FcntlArg::F_GETPIPE_SZ)
            .context("fcntl(F_GETPIPE_SZ)")?,
    );
    let shared = Shared::<WritersShared>::new_zeroed().context("mmap(MAP_SHARED)")?;
    shared.start.init(args.writers);
    let r: Cell<Option<OwnedFd>> = Cell::new(Some(r));
    let w: Cell<Option<OwnedFd>> = Cell::new(Some(w));

    let mut writers = Vec::new();
    for i in 0..args.writers {
        let messages = args.messages;
        let child = common::spawn(format!("writer-{i}"), || {
            drop(take_end(&r, "read end")?); // only the parent reads
            let w = take_end(&w, "write end")?;
            let mut buf = vec![0u8; size as usize];
            // Everyone starts together: the writes overlap instead of taking turns by luck.
            shared.start.wait();
            for s in 0..messages {
                record(i, s, &mut buf);
                let mut done = 0;
                while done < buf.len() {
                    match nix::unistd::write(&w, &buf[done..]) {
                        Ok(n) => {
                            if done + n < buf.len() {
                                shared.short_writes.fetch_add(1, Ordering::Relaxed);
                            }
                            done += n;
                        }
                        Err(Errno::EINTR) => continue,
                        Err(e) => return Err(e).context("write"),
                    }
                }
            }
            Ok(())
        })?;
        writers.push(child);
    }
    // Every writer holds the write end now; ours would keep EOF away.
    drop(take_end(&w, "write end")?);
    let mut reader = std::fs::File::from(take_end(&r, "read end")?);

    let total = u64::from(args.writers) * u64::from(args.messages);
    let mut counts = Counts {
        size,
        total,
        ..Counts::default()
    };
    let mut got = vec![0u8; size as usize];
    let mut want = vec![0u8; size as usize];
    let mut next = vec![0u32; args.writers as usize];
    let mut records = 0u64;
    let mut duplicated = 0u64;
    let mut last_writer = None;
    loop {
        // Read exactly one record's worth, or EOF.
        let mut filled = 0;
        while filled < got.len() {
            match reader.read(&mut got[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("read"),
            }
        }
        if filled == 0 {
            break;
        }
        if filled < got.len() {
            bail!("EOF after {filled} bytes of a {size}-byte record: bytes were lost");
        }
        records += 1;
        let wr = u32::from_le_bytes(got[..4].try_into().expect("4 bytes"));
        let seq = u32::from_le_bytes(got[4..8].try_into().expect("4 bytes"));
        let plausible = wr < args.writers && seq < args.messages;
        if plausible {
            record(wr, seq, &mut want);
        }
        if plausible && got == want {
            counts.intact += 1;
            // Per writer the records must come in order, each once.
            if seq < next[wr as usize] {
                duplicated += 1;
            }
            next[wr as usize] = seq + 1;
            // A pair only if the record just before was intact too (`last_writer` is cleared by
            // a torn one): only then do we know who wrote both.
            if let Some(previous) = last_writer {
                counts.intact_pairs += 1;
                if previous != wr {
                    counts.switches += 1;
                }
            }
            last_writer = Some(wr);
        } else {
            counts.torn += 1;
            last_writer = None;
            if counts.first_tear_offset.is_none() && plausible {
                counts.first_tear_offset = got.iter().zip(&want).position(|(x, y)| x != y);
            }
        }
    }
    drop(reader);
    let mut failed = Vec::new();
    for writer in &mut writers {
        writer.join()?;
        failed.extend(writer.failure());
    }
    counts.short_writes = shared.short_writes.load(Ordering::Relaxed);
    if !failed.is_empty() {
        bail!("writers failed: {}", failed.join(", "));
    }
    if records != total || duplicated > 0 {
        bail!(
            "{records} records of {size} bytes read, {total} written ({duplicated} out of order)"
        );
    }
    Ok((counts, pipe_buf, capacity))
}
