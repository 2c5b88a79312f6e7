//! `balance` (共享内存, note 000 (3)): the notes' boy and girl sharing one bank balance.
//!
//! Python:
//!
//! ```python
//! import time
//! from random import randint
//! from multiprocessing import Process, Value
//!
//! money = Value('i', 5000)                 # one C int in shared memory, created before the children
//!
//! def boy():
//!     for _ in range(30): time.sleep(0.01); money.value += randint(1, 1500)     # the notes: 0.2 s
//!
//! def girl():
//!     for _ in range(30): time.sleep(0.01); money.value -= randint(100, 1200)
//!
//! b = Process(target=boy); g = Process(target=girl)
//! b.start(); g.start(); b.join(); g.join()
//! print("一个月余额:", money.value)
//! ```
//!
//! Here the balance is a [`Value`] in a `MAP_SHARED` page mapped before the fork, so the boy,
//! the girl and the parent all read and write the *same* physical memory. Each child also keeps
//! the sum of its own changes and hands it back through its [`Tally`] slot, so the parent can say
//! what the balance *should* be (`expected = 5000 + boy's sum + girl's sum`) and whether updates
//! were lost on the way.
//!
//! At the notes' pace (0.2 s between updates) the two children almost never collide: the window
//! between a read and its write is a few nanoseconds out of 200 ms. So the default unsync run
//! usually loses nothing, and that is luck, not correctness; `race --schedule forced` makes the
//! collision certain. The demo reports honestly whatever happened.
//!
//! Summary: `start`, `final`, `expected`, `mode`, `seed`, and what was lost:
//! - `lost_updates`: writes that replaced a balance their writer had not read (each wiped out at
//!   least one change of the other child; in atomic and locked modes always 0);
//! - `lost_amount`: `expected - final`. It equals the sum of what those writes replaced beyond
//!   what they had read, exactly (see [`Write::clobbered`]); the demo checks that, and exits 1
//!   if atomic or locked mode ends with any difference.
//!
//! So `lost_updates == 0` implies `final == expected`. The converse can fail in principle: two
//! overwrites whose amounts cancel leave the right balance with `lost_updates == 2`.

use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use common::{json, out, rng::rng_for, secs, sleep, Shared};
use rand::Rng;

use crate::report::{join_all, ns_since, Slot, Tally};
use crate::value::{Mode, Value, Write};

/// The notes' opening balance.
pub const START: i64 = 5000;
/// Most rounds per child (`--iterations`).
pub const MAX_ITERATIONS: u32 = 1_000_000;
/// Rounds per child whose update is printed; later ones are counted, not printed...
pub const SHOWN_ROUNDS: u32 = 30;
/// ...except each child's first few overwrites, wherever they fall.
pub const SHOWN_OVERWRITES: u32 = 3;

/// Flags of `balance`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How each update is made: unsync (read then write, the notes' `money.value += x`),
    /// atomic (one fetch-add) or locked (`with money.get_lock():`).
    #[arg(long, value_enum, default_value_t = Mode::Unsync)]
    pub mode: Mode,
    /// Rounds per child (the notes: 30; at most 1000000).
    #[arg(long, default_value_t = 30, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_ITERATIONS as i64))]
    pub iterations: u32,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            mode: Mode::Unsync,
            iterations: 30,
        }
    }
}

/// One of the two spenders.
#[derive(Debug, Clone, Copy)]
struct Person {
    name: &'static str,
    /// Index for the RNG and the writer tag (0 is the parent).
    index: u16,
    /// `randint(lo, hi)`, then the sign.
    lo: i64,
    hi: i64,
    sign: i64,
}

const BOY: Person = Person {
    name: "boy",
    index: 1,
    lo: 1,
    hi: 1500,
    sign: 1,
};
const GIRL: Person = Person {
    name: "girl",
    index: 2,
    lo: 100,
    hi: 1200,
    sign: -1,
};

fn name_of(index: u16) -> &'static str {
    match index {
        0 => "the opening balance",
        1 => "the boy",
        2 => "the girl",
        _ => "someone",
    }
}

/// The body of `boy()` / `girl()`: runs in the child.
fn spend(
    person: Person,
    money: &Value,
    mode: Mode,
    iterations: u32,
    slot: &Slot,
    t0: Instant,
) -> Result<()> {
    // The child's own generator, from the run's seed and the child's index: a forked child would
    // otherwise continue the parent's sequence, the same one as its sibling.
    let mut rng = rng_for(u64::from(person.index));
    let mut tally = Tally {
        start_ns: ns_since(t0),
        ..Tally::default()
    };
    let mut described = 0;
    for round in 1..=iterations {
        sleep(secs(0.2)); // the notes' time.sleep(0.2): a month of days, not synchronisation
        let delta = person.sign * rng.gen_range(person.lo..=person.hi);
        let w = money.add(mode, delta, person.index);
        tally.count(delta, &w);
        // Every round up to SHOWN_ROUNDS; after that, only the first few overwrites.
        let overwrite = w.clobbered() != 0 && described < SHOWN_OVERWRITES;
        if round <= SHOWN_ROUNDS || overwrite {
            described += u32::from(w.clobbered() != 0);
            print_update(person, round, delta, &w);
        }
    }
    tally.end_ns = ns_since(t0);
    tally.publish(slot);
    Ok(())
}

fn print_update(person: Person, round: u32, delta: i64, write: &Write) {
    let lost = write.clobbered();
    let prose = if lost == 0 {
        format!(
            "  {:<4} round {round:>2}: {delta:+5} -> {}",
            person.name, write.new
        )
    } else {
        format!(
            "  {:<4} round {round:>2}: {delta:+5} -> {}, computed from {} it had read; but {} had \
             written {} meanwhile: the {lost:+} made since that read is overwritten (lost)",
            person.name,
            write.new,
            write.read,
            name_of(write.old_writer),
            write.old
        )
    };
    out::event(
        "update",
        json!({"who": person.name, "round": round, "delta": delta, "read": write.read, "old": write.old,
               "old_writer": write.old_writer, "new": write.new, "clobbered": lost}),
        prose,
    );
}

common::shared_struct! {
    /// Where the boy and the girl each leave their figures for the parent.
    pub struct Tallies {
        /// The boy's.
        pub boy: Slot,
        /// The girl's.
        pub girl: Slot,
    }
}

/// Run the demo.
pub fn run(args: &Args) -> Result<()> {
    let money = Value::new(START)?;
    let tallies = Shared::<Tallies>::new_zeroed().context("mmap(MAP_SHARED) for the tallies")?;
    let how = match args.mode {
        Mode::Unsync => "each update reads the balance, then writes balance + x: two steps, like `money.value += x`",
        Mode::Atomic => "each update is one atomic fetch-add: read, add and write in one instruction",
        Mode::Locked => "each update holds money.get_lock() (a futex lock in the same shared page) around its read and write",
    };
    out::event(
        "value",
        json!({"start": START, "mode": args.mode}),
        format!(
            "money = Value('i', {START}): one number in MAP_SHARED memory, seen by every process"
        ),
    );
    out::say(format!("mode {}: {how}", args.mode));
    out::say(format!(
        "boy: {} rounds of (sleep 0.2 s, add 1..=1500); girl: {} rounds of (sleep 0.2 s, subtract 100..=1200)",
        args.iterations, args.iterations
    ));
    if args.iterations > SHOWN_ROUNDS {
        out::say(format!(
            "(only the first {SHOWN_ROUNDS} rounds of each are printed, and the first \
             {SHOWN_OVERWRITES} overwrites of each after that)"
        ));
    }

    let t0 = Instant::now();
    let mut children = Vec::new();
    for (person, slot) in [(BOY, &tallies.boy), (GIRL, &tallies.girl)] {
        let (money, mode, rounds) = (&money, args.mode, args.iterations);
        let child = common::spawn(person.name, move || {
            spend(person, money, mode, rounds, slot, t0)
        })?;
        out::event(
            "started",
            json!({"name": person.name, "child_pid": child.pid()}),
            format!("started {} (pid {})", person.name, child.pid()),
        );
        children.push(child);
    }
    // b.join(); g.join(): waitpid for both. After it, the children's last stores are visible.
    join_all(children)?;

    let final_value = money.value();
    let boy = Tally::read(&tallies.boy);
    let girl = Tally::read(&tallies.girl);
    if boy.done != 1 || girl.done != 1 {
        bail!("a child exited 0 without reporting its sums");
    }
    let expected = START + boy.sum + girl.sum;
    let lost_updates = boy.clobbers + girl.clobbers;
    let lost_amount = expected - final_value;
    let clobbered = boy.clobbered + girl.clobbered;

    // What the Python prints, exactly.
    out::event(
        "balance",
        json!({"final": final_value}),
        format!("一个月余额: {final_value}"),
    );
    out::say(format!(
        "expected {START} {:+} (boy) {:+} (girl) = {expected}; final {final_value}",
        boy.sum, girl.sum
    ));
    if lost_updates == 0 {
        let note = if args.mode == Mode::Unsync {
            ": the race is there, but at this pace the read-write windows did not overlap this time \
             (see `race --schedule forced` for a certain one)"
        } else {
            ""
        };
        out::say(format!("no update lost{note}"));
    } else {
        out::say(format!(
            "{lost_updates} write(s) replaced a balance their writer had not read; the balance is off by {:+}",
            -lost_amount
        ));
    }
    out::summary(json!({
        "start": START,
        "final": final_value,
        "expected": expected,
        "lost_updates": lost_updates,
        "lost_amount": lost_amount,
        "mode": args.mode,
        "iterations": args.iterations,
        "boy_sum": boy.sum,
        "girl_sum": girl.sum,
        "boy_writes": boy.writes,
        "girl_writes": girl.writes,
    }));

    // The demo's own invariants, checked after the summary is out (exit 1 if broken).
    if args.mode != Mode::Unsync {
        ensure!(
            final_value == expected && lost_updates == 0,
            "mode {} promises an exact balance: final {final_value}, expected {expected}",
            args.mode
        );
    }
    ensure!(
        lost_amount == clobbered,
        "accounting broken: expected - final = {lost_amount}, but the overwritten changes sum to {clobbered}"
    );
    Ok(())
}
