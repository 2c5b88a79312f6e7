//! The runs the flags ask for: which phases, with which shape (checked before anything starts),
//! and one phase from its announcement to its verdict.
//!
//! The default run has two phases, the two halves of the notes' "平衡速度差" (evening out a
//! speed difference): `backpressure` (fast producer, slow consumer) then `starved` (the reverse).
//! A subcommand runs one of them, or `run` with any shape.

use anyhow::Result;
use common::trace::{self, Span};
use common::{json, out};

use crate::ending::Ending;
use crate::ledger::{Ledger, Verdict};
use crate::roles::{Recorders, Spec};
use crate::timeline::{Moment, Step, Timeline};
use crate::{processes, threads, Cli, Cmd, Mode, QueueKind, FAST_MS, SLOW_MS};

/// The phases to run, each with its name. Every usage check happens here, before any thread or
/// process starts (exit 2 and nothing spawned).
pub fn plan(cli: &Cli) -> Result<Vec<(&'static str, Spec)>> {
    let base = Spec {
        phase: 0,
        producers: cli.producers.unwrap_or(1),
        consumers: cli.consumers.unwrap_or(1),
        items: cli.items.unwrap_or(10),
        capacity: cli.capacity.unwrap_or(4) as usize,
        produce_ms: FAST_MS,
        consume_ms: SLOW_MS,
        verbose: !cli.quiet,
        #[cfg(feature = "fault-injection")]
        fault: cli.fault.clone(),
    };
    if let (Some(kind), Mode::Processes) = (cli.queue, cli.mode) {
        return Err(common::cli::usage(
            "--queue",
            kind.name(),
            "only with --mode threads (processes share the `queue` member's cross-process queue)",
        ));
    }
    #[cfg(feature = "fault-injection")]
    crate::fault::validate(cli, base.producers, base.consumers, base.items)?;
    // Each phase's own speeds, unless the flags say otherwise.
    let phase = |phase: u32, name: &'static str, produce: u64, consume: u64| {
        let spec = Spec {
            phase,
            produce_ms: cli.produce_ms.unwrap_or(produce),
            consume_ms: cli.consume_ms.unwrap_or(consume),
            ..base.clone()
        };
        (name, spec)
    };
    Ok(match cli.cmd {
        None => vec![
            phase(0, "backpressure", FAST_MS, SLOW_MS),
            phase(1, "starved", SLOW_MS, FAST_MS),
        ],
        Some(Cmd::Backpressure) => vec![phase(0, "backpressure", FAST_MS, SLOW_MS)],
        Some(Cmd::Starved) => vec![phase(0, "starved", SLOW_MS, FAST_MS)],
        Some(Cmd::Run) => vec![phase(0, "run", FAST_MS, FAST_MS)],
    })
}

/// Where the roles run and on which buffer.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Threads or processes.
    pub mode: Mode,
    /// The threads-mode buffer (ignored with processes).
    pub queue: QueueKind,
    /// Draw the occupancy over time after the phase.
    pub show_timeline: bool,
}

impl Setting {
    /// The buffer's name, for the prose and the summary.
    pub fn queue_name(&self) -> &'static str {
        match self.mode {
            Mode::Threads => self.queue.name(),
            Mode::Processes => "cross-process",
        }
    }
}

/// What one phase found.
pub struct PhaseResult {
    /// `backpressure`, `starved` or `run`.
    pub name: &'static str,
    /// Its shape.
    pub spec: Spec,
    /// The self-checks' figures.
    pub verdict: Verdict,
    /// How each role ended.
    pub endings: Vec<Ending>,
    /// The self-checks that failed, one sentence each.
    pub problems: Vec<String>,
    /// The timeline's samples, in time order (for `--svg`).
    pub moments: Vec<Moment>,
    /// Samples that did not fit in the timeline (only in very long runs).
    pub dropped_samples: u64,
}

/// Say what this phase will show: its shape, and which side will wait, from the speeds.
pub fn intro(name: &str, (k, of): (usize, usize), spec: &Spec, setting: Setting) {
    let mode = setting.mode.name();
    let queue = setting.queue_name();
    let shape = format!(
        "{} producer(s) x {} items, {} consumer(s), a buffer of {} ({mode}, {queue} queue), making ~{} ms/item, handling ~{} ms/item",
        spec.producers,
        spec.items,
        spec.consumers,
        spec.capacity,
        spec.produce_ms,
        spec.consume_ms
    );
    // Items per ms: producers / produce_ms against consumers / consume_ms, cross-multiplied.
    let supply = u64::from(spec.producers) * spec.consume_ms;
    let demand = u64::from(spec.consumers) * spec.produce_ms;
    let lesson = match supply.cmp(&demand) {
        std::cmp::Ordering::Greater => {
            "Producers are faster than consumers: the buffer fills up, then every put \
blocks until a consumer frees a slot (backpressure), which holds producers to the consumers' pace."
        }
        std::cmp::Ordering::Less => {
            "Consumers are faster than producers: the buffer stays (nearly) empty and \
consumers block in get until the next item arrives."
        }
        std::cmp::Ordering::Equal => {
            "Both sides keep the same average pace: the buffer absorbs the jitter, \
with short waits on both sides."
        }
    };
    let title = if of > 1 {
        format!("Phase {k} of {of}, {name}. ")
    } else {
        format!("{name}: ")
    };
    out::event(
        "phase",
        json!({"name": name, "producers": spec.producers, "consumers": spec.consumers, "items": spec.items,
               "capacity": spec.capacity, "produce_ms": spec.produce_ms, "consume_ms": spec.consume_ms,
               "mode": mode, "queue": queue}),
        format!("\n{title}{lesson}\n({shape})"),
    );
}

/// Run one phase: start the roles, wait for them all, check the ledger.
pub fn run_phase(name: &'static str, spec: Spec, setting: Setting) -> Result<PhaseResult> {
    let total = spec.producers as usize * spec.items as usize;
    let ledger = Ledger::new(spec.producers, spec.consumers, spec.items)?;
    // Room for every sample: per item a put, a get and at most a wait on each side (two
    // samples each), a last wait per consumer (ended by the close), the two marks.
    let samples = total * 6 + spec.consumers as usize * 2 + 2;
    let timeline = Timeline::new(samples)?;
    let recorders = Recorders {
        ledger: &ledger,
        timeline: &timeline,
    };
    // --trace: the phase as one slice on the main thread's track.
    let phase_slice = Span::begin(name, "phase", trace::this_thread());
    timeline.record(0, 0, 0, Step::Mark);
    let (endings, left) = match setting.mode {
        Mode::Threads => threads::run(&spec, recorders, setting.queue)?,
        Mode::Processes => processes::run(&spec, recorders)?,
    };
    timeline.record(0, 0, 0, Step::Mark);
    drop(phase_slice);
    let verdict = ledger.verdict(&left);
    let complete = endings.iter().all(Ending::is_ok);
    let problems = verdict.problems(spec.capacity as u64, total as u64, complete);
    if !left.is_empty() {
        out::event(
            "undelivered",
            json!({"items": left.len()}),
            format!(
                "{} item(s) were still in the queue: no consumer was left to take them",
                left.len()
            ),
        );
    }
    if setting.show_timeline {
        timeline.show(spec.capacity);
    }
    let (moments, dropped_samples) = timeline.moments();
    let v = &verdict;
    out::say(format!(
        "=> {} put, {} got; lost {}, duplicated {}, in order per producer: {}; buffer at most {}/{}; \
producers blocked {:.0} ms, consumers waited {:.0} ms (in total)",
        v.produced,
        v.consumed,
        v.lost,
        v.duplicated,
        if v.per_producer_fifo { "yes" } else { "NO" },
        v.max_occupancy,
        spec.capacity,
        v.producer_blocked_ms,
        v.consumer_blocked_ms
    ));
    Ok(PhaseResult {
        name,
        spec,
        verdict,
        endings,
        problems,
        moments,
        dropped_samples,
    })
}
