//! `semaphore`: a counter of permits shared by processes (the notes: 信号量).
//!
//! Python shape:
//!
//! ```python
//! import time, multiprocessing as mp
//! def worker(i, sem):
//!     with sem:                          # acquire ... release
//!         print(i, 'inside')
//!         time.sleep(0.3)
//! if __name__ == '__main__':
//!     sem = mp.Semaphore(2)
//!     ps = [mp.Process(target=worker, args=(i, sem)) for i in range(5)]
//!     for p in ps: p.start()
//!     for p in ps: p.join()
//! ```
//!
//! What CPython does on Linux: `mp.Semaphore`, `mp.Lock` (a semaphore of 1) and
//! `mp.BoundedSemaphore` are POSIX named semaphores. `SemLock.__init__` calls `sem_open` with a
//! random name and `O_CREAT | O_EXCL`, and `sem_unlink`s it at once: the children reach it
//! through the mapping they inherit (fork) or by a pickled handle (spawn). glibc implements a
//! named semaphore as a small file `/dev/shm/sem.NAME`, mapped into each process: the counter is
//! a word of shared memory, `sem_wait` decrements it or sleeps on a futex when it is 0,
//! `sem_post` increments it and wakes a sleeper.
//!
//! This demo, step by step:
//! 1. `sem_open` creates `/dev/shm/sem.ipc-demo-PID-sem`; we look at `/dev/shm` (it is there),
//!    `sem_unlink` it, and look again (gone, while the semaphore lives on in our mapping).
//! 2. `--processes` children each enter twice; each entry is logged in shared memory with the
//!    number inside. The timeline shows at most `--permits` inside at any step.
//! 3. A child takes a permit and is killed (SIGKILL) while holding it: nobody posts it back.
//!    The parent then tries to take every permit with `sem_timedwait`: the last one times out.
//!    A semaphore does not know who holds it (unlike the `process lock-held` demo's lock, which
//!    records its holder's pid), so nothing can repair this.
//! 4. `BoundedSemaphore`: a plain semaphore accepts a `release` nobody acquired (its count
//!    grows past the start); CPython's bounded one checks the count first and raises
//!    `ValueError`. [`BoundedSemaphore`] does the same.
//!
//! `--trace FILE` draws step 2 as a picture (see `common::trace`): one track per process, a
//! "blocked" slice for each wait in `sem_wait`, a "held" slice for each stay inside, and an
//! `inside` counter that never rises above the permits (a counter belongs to the process that
//! samples it, so the viewer draws one `inside` per process, sampled as it enters and leaves).
//! The holder of step 3 has no "held" slice: a slice is written when it ends, and a SIGKILLed
//! holder never ends its stay.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use common::sys::ipc::NamedSemaphore;
use common::trace;
use common::{json, out, secs, sleep, Shared, SharedSlice};

use crate::{object_name, traced};

/// Most permits (`--permits`).
pub const MAX_PERMITS: u32 = 16;
/// Most processes (`--processes`).
pub const MAX_PROCESSES: u32 = 16;
/// Times each process enters.
const ROUNDS: u32 = 2;

/// Flags of `semaphore`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Permits of the semaphore: Semaphore(N) (at most 16).
    #[arg(long, default_value_t = 2, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_PERMITS as i64))]
    pub permits: u32,
    /// Processes competing for the permits (at most 16).
    #[arg(long, default_value_t = 5, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_PROCESSES as i64))]
    pub processes: u32,
    /// Write a timeline of the processes to FILE (Chrome Trace Event Format: open it with
    /// `vizviewer FILE`, ui.perfetto.dev or chrome://tracing).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

/// CPython's `multiprocessing.BoundedSemaphore`: a semaphore that refuses to be released above
/// the value it started with.
pub struct BoundedSemaphore {
    sem: NamedSemaphore,
    max: u32,
}

/// `release` of a [`BoundedSemaphore`] that is already at its starting value: Python's
/// `ValueError: semaphore or lock released too many times`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleasedTooManyTimes;

impl std::fmt::Display for ReleasedTooManyTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("semaphore or lock released too many times")
    }
}
impl std::error::Error for ReleasedTooManyTimes {}

impl BoundedSemaphore {
    /// A bounded semaphore of `max` permits.
    pub fn new(sem: NamedSemaphore, max: u32) -> BoundedSemaphore {
        BoundedSemaphore { sem, max }
    }
    /// `acquire()`.
    pub fn acquire(&self) -> Result<()> {
        Ok(self.sem.wait()?)
    }
    /// `release()`: refused when the count is already at the maximum. Like CPython's, the check
    /// and the post are two steps, so two processes releasing at once could both pass the check;
    /// it catches the common bug (one release too many in one process), not every race.
    pub fn release(&self) -> Result<()> {
        if self.sem.value()? >= self.max as i32 {
            return Err(ReleasedTooManyTimes.into());
        }
        Ok(self.sem.post()?)
    }
    /// The permits available now.
    pub fn value(&self) -> Result<i32> {
        Ok(self.sem.value()?)
    }
}

common::shared_struct! {
    /// What the processes of the timeline share besides the semaphore.
    pub struct Timeline {
        /// Processes between `sem_wait` and `sem_post` right now.
        pub inside: AtomicU32,
        /// The most there ever were.
        pub max_inside: AtomicU32,
        /// Entries written to the log so far.
        pub log_len: AtomicU32,
    }
}

/// Names under `/dev/shm` that contain `needle`.
fn dev_shm_entries(needle: &str) -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(needle))
                .collect()
        })
        .unwrap_or_default()
}

/// Create the named semaphore, show its file, unlink it. Stop signals are blocked in between, so
/// no Ctrl-C can leave the name behind; the listing is printed only after the unlink, so a
/// SIGKILL after the line cannot either.
fn open_and_unlink(permits: u32) -> Result<(NamedSemaphore, Vec<String>, Vec<String>)> {
    let base = object_name("sem");
    let name = format!("/{base}");
    common::sys::block_stop_signals(true);
    let made = NamedSemaphore::create(&name, permits).with_context(|| format!("sem_open({name})"));
    let while_open = dev_shm_entries(&base);
    let unlinked = match &made {
        Ok(_) => NamedSemaphore::unlink(&name).with_context(|| format!("sem_unlink({name})")),
        Err(_) => Ok(()),
    };
    common::sys::block_stop_signals(false);
    let sem = made?;
    unlinked?;
    let after = dev_shm_entries(&base);
    Ok((sem, while_open, after))
}

/// Pack one log entry: who, entered (1) or left (0), how many were inside afterwards.
fn entry(who: u32, entered: bool, inside: u32) -> u64 {
    (u64::from(who) << 32) | (u64::from(entered) << 16) | u64::from(inside)
}

fn unpack(e: u64) -> (u32, bool, u32) {
    ((e >> 32) as u32, (e >> 16) & 1 == 1, (e & 0xffff) as u32)
}

/// Run the demo.
pub fn run(a: &Args) -> Result<()> {
    let (permits, processes) = (a.permits, a.processes);
    if let Some(path) = &a.trace {
        trace::begin(path)?; // before any fork: every child inherits the trace file
    }

    // 1. The name in /dev/shm, then unlinked.
    let (sem, while_open, after) = open_and_unlink(permits)?;
    out::event(
        "named",
        json!({"while_open": while_open, "after_unlink": after}),
        format!(
            "sem_open(\"/{}\", O_CREAT|O_EXCL, 0600, {permits}): /dev/shm then held {:?}; after \
             sem_unlink: {:?} (the semaphore lives on in our mapping, the name is gone)",
            object_name("sem"),
            while_open,
            after
        ),
    );
    ensure!(
        while_open.len() == 1 && after.is_empty(),
        "expected one /dev/shm/sem.* entry while open and none after sem_unlink"
    );

    // 2. The timeline: counters and a log of entries in shared memory.
    let timeline = Shared::<Timeline>::new_zeroed().context("mmap(MAP_SHARED)")?;
    let (inside, max_inside, log_len) = (&timeline.inside, &timeline.max_inside, &timeline.log_len);
    let log = SharedSlice::<AtomicU64>::new_zeroed((processes * ROUNDS * 2) as usize)
        .context("mmap(MAP_SHARED)")?;
    out::say(format!(
        "Semaphore({permits}) shared by {processes} processes, each entering {ROUNDS} times:"
    ));
    trace::counter("inside", 0.0);
    let mut children = Vec::new();
    for who in 0..processes {
        let (sem, log) = (&sem, &log);
        children.push(common::spawn(format!("P{who}"), move || {
            if trace::enabled() {
                trace::process_name(&format!("P{who}")); // the track of this process
            }
            for round in 0..ROUNDS {
                sleep(secs(0.05 * f64::from((who + round) % 3))); // arrive at different times
                let blocked = traced("sem_wait", "blocked");
                sem.wait().context("sem_wait")?; // sleeps in the kernel while no permit is free
                drop(blocked);
                let held = traced("holding a permit", "held");
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                trace::counter("inside", f64::from(now));
                max_inside.fetch_max(now, Ordering::SeqCst);
                log[log_len.fetch_add(1, Ordering::SeqCst) as usize]
                    .store(entry(who, true, now), Ordering::SeqCst);
                out::event(
                    "enter",
                    json!({"who": who, "inside": now}),
                    format!("  P{who} enters ({now} inside)"),
                );
                // The work done while holding a permit.
                sleep(secs(0.3));
                // Logged before the post: whoever the post lets in logs after us.
                let now = inside.load(Ordering::SeqCst) - 1;
                log[log_len.fetch_add(1, Ordering::SeqCst) as usize]
                    .store(entry(who, false, now), Ordering::SeqCst);
                inside.fetch_sub(1, Ordering::SeqCst);
                trace::counter("inside", f64::from(now));
                out::event(
                    "leave",
                    json!({"who": who, "inside": now}),
                    format!("  P{who} leaves ({now} inside)"),
                );
                drop(held); // ends before the post: whoever the post lets in starts after it
                sem.post().context("sem_post")?;
            }
            Ok(())
        })?);
    }
    for mut c in children {
        c.join()?;
        if let Some(why) = c.failure() {
            bail!("{why}");
        }
    }
    let max_inside = max_inside.load(Ordering::SeqCst);
    print_timeline(&log, processes, permits);
    out::event(
        "timeline",
        json!({"max_inside": max_inside, "permits": permits}),
        format!("never more than {max_inside} inside at once (permits: {permits})"),
    );
    ensure!(
        max_inside <= permits,
        "{max_inside} processes were inside a Semaphore({permits})"
    );

    // 3. A holder killed inside: its permit is gone for good.
    let leaked = leaked_permit(permits)?;

    // 4. BoundedSemaphore refuses one release too many; a plain one does not.
    let refused = over_release(permits)?;
    trace::finish()?; // every child is reaped: the events are all in

    out::summary(json!({
        "permits": permits,
        "processes": processes,
        "max_inside": max_inside,
        "leaked_permit_detected": leaked,
        "over_release_refused": refused,
    }));
    Ok(())
}

/// One row per log entry, one column per process: `##` inside, `..` outside.
fn print_timeline(log: &[AtomicU64], processes: u32, permits: u32) {
    if out::is_json() {
        return;
    }
    let mut state = vec![false; processes as usize];
    let head: String = (0..processes).map(|p| format!("P{p:<2}")).collect();
    out::say(format!("  step  {head} inside (at most {permits})"));
    for (step, e) in log.iter().enumerate() {
        let (who, entered, _) = unpack(e.load(Ordering::SeqCst));
        state[who as usize] = entered;
        let row: String = state
            .iter()
            .map(|&s| if s { "## " } else { ".. " })
            .collect();
        let n = state.iter().filter(|&&s| s).count();
        out::say(format!("  {step:>4}  {row}{n}"));
    }
}

/// A child takes a permit and is SIGKILLed holding it. Returns whether a timed wait for all the
/// permits found one missing.
fn leaked_permit(permits: u32) -> Result<bool> {
    let sem = crate::mechanisms::anonymous_semaphore("leak", permits)?;
    let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    let mut holder = common::spawn("holder", || {
        trace::process_name("holder (SIGKILLed holding a permit)");
        sem.wait().context("sem_wait")?;
        std::fs::File::from(ready_w).write_all(b"x")?; // "I hold a permit"
        nix::unistd::pause(); // sleeps in the kernel until the SIGKILL
        Ok(())
    })?;
    // Blocks in read until the holder is inside (the write end in our process went away with
    // spawn's closure, so a holder dying early gives EOF, not a hang).
    let mut byte = [0u8; 1];
    let n = std::fs::File::from(ready_r).read(&mut byte)?;
    ensure!(n == 1, "the holder died before taking its permit");
    holder.kill()?;
    let st = holder.join()?;
    let value = sem.value()?;
    out::event(
        "holder_killed",
        json!({"status": st.to_string(), "value": value}),
        format!("a holder took a permit and was {st}; sem_getvalue now says {value} of {permits}"),
    );
    let timeout = Duration::from_millis(200);
    let mut taken = 0;
    for _ in 0..permits {
        let _blocked = traced("sem_timedwait", "blocked");
        if sem.wait_timeout(timeout)? {
            taken += 1;
        } else {
            break;
        }
    }
    let leaked = taken == permits - 1;
    out::event(
        "leak",
        json!({"taken": taken, "permits": permits, "detected": leaked}),
        format!(
            "sem_timedwait({} ms) took {taken} of {permits} permits, then timed out: the dead \
             holder's permit is lost (a semaphore records no owner to give it back)",
            timeout.as_millis()
        ),
    );
    if !leaked {
        bail!("expected to take {} permits, took {taken}", permits - 1);
    }
    Ok(leaked)
}

/// A plain semaphore counts up past its start; a bounded one refuses.
fn over_release(permits: u32) -> Result<bool> {
    let plain = crate::mechanisms::anonymous_semaphore("plain", permits)?;
    plain.post()?;
    let plain_value = plain.value()?;
    out::event(
        "plain_over_release",
        json!({"value": plain_value}),
        format!(
            "Semaphore({permits}).release() without an acquire: accepted, the count is now \
             {plain_value} (a bug nobody is told about)"
        ),
    );
    let bounded = BoundedSemaphore::new(
        crate::mechanisms::anonymous_semaphore("bounded", permits)?,
        permits,
    );
    bounded.acquire()?;
    bounded.release()?;
    let refused = match bounded.release() {
        Err(e) if e.downcast_ref::<ReleasedTooManyTimes>().is_some() => true,
        Err(e) => return Err(e),
        Ok(()) => false,
    };
    let value = bounded.value()?;
    out::event(
        "bounded_over_release",
        json!({"refused": refused, "value": value}),
        format!(
            "BoundedSemaphore({permits}): acquire, release, release again -> {} (count stays {value})",
            if refused {
                "ValueError: semaphore or lock released too many times"
            } else {
                "accepted"
            }
        ),
    );
    ensure!(
        refused && value == permits as i32,
        "the bounded semaphore let its count reach {value}"
    );
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_semaphore_refuses_one_release_too_many_and_a_plain_one_does_not() {
        let plain = crate::mechanisms::anonymous_semaphore("unit-plain", 1).unwrap();
        plain.post().unwrap();
        assert_eq!(
            plain.value().unwrap(),
            2,
            "a plain semaphore counts past its start"
        );

        let sem = crate::mechanisms::anonymous_semaphore("unit-bounded", 1).unwrap();
        let bounded = BoundedSemaphore::new(sem, 1);
        bounded.acquire().unwrap();
        bounded.release().unwrap();
        let err = bounded.release().unwrap_err();
        assert!(
            err.downcast_ref::<ReleasedTooManyTimes>().is_some(),
            "{err}"
        );
        assert_eq!(bounded.value().unwrap(), 1);
    }

    #[test]
    fn a_timed_wait_on_an_empty_semaphore_times_out() {
        let sem = crate::mechanisms::anonymous_semaphore("unit-empty", 0).unwrap();
        assert!(!sem.wait_timeout(Duration::from_millis(10)).unwrap());
        sem.post().unwrap();
        assert!(sem.wait_timeout(Duration::from_millis(10)).unwrap());
    }

    #[test]
    fn log_entries_round_trip() {
        assert_eq!(unpack(entry(7, true, 3)), (7, true, 3));
        assert_eq!(unpack(entry(0, false, 0)), (0, false, 0));
    }
}
