//! `--mode threads`: producers and consumers are threads of this one process, and the buffer is
//! ours, shared by reference: threads share all memory, so nothing is copied or serialised. This
//! is Python's `threading.Thread` + `queue.Queue(maxsize)`. The buffer is step 1, the monitor
//! ([`Monitor`], one lock and two conditions), unless `--queue two-lock` asks for step 2
//! ([`TwoLockQueue`], a lock and a condition per end).
//!
//! Who ends whom:
//! - Each thread runs its role inside `catch_unwind`, then sends one message ("I am done", or
//!   "I panicked: why") on a channel to the main thread, which blocks in `recv` (a futex wait).
//! - When the **last producer** is done (or dead), main closes the queue: consumers drain what is
//!   left and then see `Closed`, whatever the counts (no sentinel per consumer needed).
//! - When the **last consumer** is done (or dead), main closes the queue too: a producer blocked on
//!   a full queue with nobody left to empty it would otherwise wait forever.
//! - Then the scope joins every thread, and main takes what is still in the queue (only when every
//!   consumer died early) so it can be counted as undelivered rather than lost.
//!
//! A panic in a thread would normally print `thread '...' panicked at ...` on stderr, from every
//! thread. While the roles run, a panic hook records the message for the thread instead, and the
//! demo reports it once, as an event and in the summary.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use anyhow::{Context, Result};

use crate::ending::{self, Ending};
use crate::ledger::Side;
use crate::monitor::{self, Monitor};
use crate::roles::{self, Buffer, Get, Put, Recorders, Spec};
use crate::two_lock::{TryGetError, TryPutError, TwoLockQueue};
use crate::{Item, QueueKind};

/// Step 1 seen through the roles' [`Buffer`]: an item travels as one word.
impl Buffer for Monitor {
    fn try_put(&self, item: Item) -> Result<Put> {
        Ok(match Monitor::try_put(self, item.to_word()) {
            Ok(len) => Put::Done(len),
            Err(monitor::TryError::Closed) => Put::Closed,
            Err(_) => Put::Full,
        })
    }
    fn put(&self, item: Item) -> Result<Put> {
        Ok(match Monitor::put(self, item.to_word()) {
            Ok(len) => Put::Done(len),
            Err(monitor::Closed) => Put::Closed,
        })
    }
    fn try_get(&self) -> Result<Get> {
        Ok(match Monitor::try_get(self) {
            Ok((word, len)) => Get::Item(Item::from_word(word), len),
            Err(monitor::TryError::Closed) => Get::Closed,
            Err(_) => Get::Empty,
        })
    }
    fn get(&self) -> Result<Get> {
        Ok(match Monitor::get(self) {
            Ok((word, len)) => Get::Item(Item::from_word(word), len),
            Err(monitor::Closed) => Get::Closed,
        })
    }
    fn close(&self) {
        Monitor::close(self);
    }
}

/// Step 2 seen through the roles' [`Buffer`].
impl Buffer for TwoLockQueue<Item> {
    fn try_put(&self, item: Item) -> Result<Put> {
        Ok(match TwoLockQueue::try_put(self, item) {
            Ok(len) => Put::Done(len),
            Err(TryPutError::Full(_)) => Put::Full,
            Err(TryPutError::Closed(_)) => Put::Closed,
        })
    }
    fn put(&self, item: Item) -> Result<Put> {
        Ok(match TwoLockQueue::put(self, item) {
            Ok(len) => Put::Done(len),
            Err(_) => Put::Closed,
        })
    }
    // The bars want the whole occupancy after a get; `TwoLockQueue::get` only knows its own end
    // (see `two_lock`), so read both counters: the true occupancy a moment after the get.
    fn try_get(&self) -> Result<Get> {
        Ok(match TwoLockQueue::try_get(self) {
            Ok((item, _)) => Get::Item(item, self.len()),
            Err(TryGetError::Empty) => Get::Empty,
            Err(TryGetError::Closed) => Get::Closed,
        })
    }
    fn get(&self) -> Result<Get> {
        Ok(match TwoLockQueue::get(self) {
            Ok((item, _)) => Get::Item(item, self.len()),
            Err(_) => Get::Closed,
        })
    }
    fn close(&self) {
        TwoLockQueue::close(self);
    }
}

thread_local! {
    /// The last panic message of this thread, with its location, set by the hook.
    static PANIC_MSG: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Swap in a hook that records panics of role threads (named `producer-N` / `consumer-N`) quietly
/// and passes any other panic to the previous hook. Restored by dropping the guard.
struct QuietRolePanics;

impl QuietRolePanics {
    fn install() -> QuietRolePanics {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let role_thread = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("producer-") || n.starts_with("consumer-"));
            if !role_thread {
                return previous(info);
            }
            let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.clone()
            } else {
                "panic with a non-string payload".into()
            };
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            PANIC_MSG.with(|m| *m.borrow_mut() = Some(format!("{msg}{at}")));
        }));
        QuietRolePanics
    }
}

impl Drop for QuietRolePanics {
    fn drop(&mut self) {
        // Back to the default hook (the one every Rust program starts with).
        drop(std::panic::take_hook());
    }
}

/// Run one phase with threads on the buffer `kind`. Returns how each role ended and what was
/// left in the queue.
pub fn run(
    spec: &Spec,
    recorders: Recorders<'_>,
    kind: QueueKind,
) -> Result<(Vec<Ending>, Vec<Item>)> {
    match kind {
        QueueKind::Monitor => run_on(&Monitor::new(spec.capacity), spec, recorders),
        QueueKind::TwoLock => run_on(&TwoLockQueue::new(spec.capacity), spec, recorders),
    }
}

fn run_on(
    queue: &(impl Buffer + Sync),
    spec: &Spec,
    recorders: Recorders<'_>,
) -> Result<(Vec<Ending>, Vec<Item>)> {
    let _hook = QuietRolePanics::install();
    let (tx, rx) = mpsc::channel::<Ending>();
    let endings = std::thread::scope(|s| -> Result<Vec<Ending>> {
        let roles = (0..spec.producers)
            .map(|i| (Side::Producer, i))
            .chain((0..spec.consumers).map(|i| (Side::Consumer, i)));
        for (side, i) in roles {
            let tx = tx.clone();
            std::thread::Builder::new()
                .name(format!("{}-{}", side.name(), i + 1))
                .spawn_scoped(s, move || {
                    let r = catch_unwind(AssertUnwindSafe(|| match side {
                        Side::Producer => roles::producer(queue, recorders, spec, i),
                        Side::Consumer => roles::consumer(queue, recorders, spec, i),
                    }));
                    let ending = match r {
                        Ok(Ok(n)) => Ending::ok(side, i, n),
                        Ok(Err(e)) => Ending::failed(side, i, format!("failed: {e:#}")),
                        Err(_) => Ending::panicked(
                            side,
                            i,
                            PANIC_MSG
                                .with(|m| m.borrow_mut().take())
                                .unwrap_or_else(|| "panic".into()),
                        ),
                    };
                    // The receiver outlives the scope, so this cannot fail.
                    let _ = tx.send(ending);
                })
                .inspect_err(|_| {
                    // Let the threads already started end (producers see Closed, consumers drain).
                    queue.close();
                })
                .context("pthread_create")?;
        }
        drop(tx);
        let (mut producers_left, mut consumers_left) = (spec.producers, spec.consumers);
        let mut endings = Vec::new();
        let mut closed = false;
        // Blocks in the kernel until some thread sends; ends when every sender is gone.
        for ending in rx.iter() {
            ending.report();
            match ending.side {
                Side::Producer => producers_left -= 1,
                Side::Consumer => consumers_left -= 1,
            }
            if !closed && (producers_left == 0 || consumers_left == 0) {
                closed = true;
                ending::close(queue, consumers_left == 0);
            }
            endings.push(ending);
        }
        Ok(endings)
    })?;
    let mut left = Vec::new();
    while let Get::Item(item, _) = queue.try_get()? {
        left.push(item);
    }
    Ok((endings, left))
}
