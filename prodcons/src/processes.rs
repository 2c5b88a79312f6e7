//! `--mode processes`: every producer and every consumer is a forked child process, and the buffer
//! is the `queue` member's cross-process [`Queue`]: a ring of slots in `MAP_SHARED` memory, with
//! futex sleeps when it is full or empty. This is Python's `multiprocessing.Process` +
//! `multiprocessing.Queue(maxsize)`.
//!
//! What is shared, and how: the queue and the ledger are mapped `MAP_SHARED` *before* the forks,
//! so every child inherits the same pages. Everything else a child has (its copy of `spec`, its
//! random generator, the local "last sequence number per producer" of a consumer) is a private
//! copy made by fork. An item crosses as 8 bytes (producer, sequence number): processes share no
//! pointers, so what goes through the queue must be plain bytes (Python pickles it).
//!
//! Who ends whom, the parent's loop:
//! - it blocks in `poll` on every child's pidfd ([`common::child::wait_any`]) until one exits, and
//!   reaps it; a child that panicked is reported with its message (sent back by
//!   `common::child` through a pipe), one that was killed with its signal;
//! - when the **last producer** has exited (however), it closes the queue: consumers drain it and
//!   end. A producer that died half-way simply put fewer items; nothing waits for the rest.
//! - when the **last consumer** has exited, it closes the queue too, so that no producer stays
//!   blocked on a full queue that nobody will ever empty;
//! - at the end it takes whatever is still in the queue (only when every consumer died early).
//!
//! Occupancy and blocking are measured from outside the queue: `len()` right after a put or get
//! (a snapshot: another process may move it the next instant, but it never exceeds what the
//! queue holds), and the time spent in a `put` / `get` that first found the queue full / empty
//! (`put_timeout(0)` said `Full`). No process is left on any path: `common::spawn` kills and reaps
//! children on drop, on Ctrl-C and when the parent dies.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use common::child::{self, Child};
use queue::{Queue, QueueError};

use crate::ending::{self, Ending};
use crate::ledger::Side;
use crate::roles::Spec;
use crate::roles::{self, Buffer, Get, Put, Recorders};
use crate::Item;

fn decode(bytes: &[u8]) -> Result<Item> {
    Item::from_bytes(bytes).ok_or_else(|| {
        anyhow!(
            "queue get: a message of {} bytes, expected {}",
            bytes.len(),
            Item::BYTES
        )
    })
}

/// The cross-process queue seen through the roles' [`Buffer`]. "Try" is a zero timeout.
impl Buffer for Queue {
    fn try_put(&self, item: Item) -> Result<Put> {
        match self.put_timeout(&item.to_bytes(), Duration::ZERO) {
            Ok(()) => Ok(Put::Done(self.len())),
            Err(QueueError::Full) => Ok(Put::Full),
            Err(QueueError::Closed) => Ok(Put::Closed),
            Err(e) => Err(e).context("queue put"),
        }
    }
    fn put(&self, item: Item) -> Result<Put> {
        match Queue::put(self, &item.to_bytes()) {
            Ok(()) => Ok(Put::Done(self.len())),
            Err(QueueError::Closed) => Ok(Put::Closed),
            Err(e) => Err(e).context("queue put"),
        }
    }
    fn try_get(&self) -> Result<Get> {
        match self.get_timeout(Duration::ZERO) {
            Ok(bytes) => Ok(Get::Item(decode(&bytes)?, self.len())),
            Err(QueueError::Empty) => Ok(Get::Empty),
            Err(QueueError::Closed) => Ok(Get::Closed),
            Err(e) => Err(e).context("queue get"),
        }
    }
    fn get(&self) -> Result<Get> {
        match Queue::get(self) {
            Ok(bytes) => Ok(Get::Item(decode(&bytes)?, self.len())),
            Err(QueueError::Closed) => Ok(Get::Closed),
            Err(e) => Err(e).context("queue get"),
        }
    }
    fn close(&self) {
        Queue::close(self);
    }
    #[cfg(feature = "fault-injection")]
    fn die_in_next_put(&self) {
        Queue::die_in_next_put(self);
    }
}

/// Run one phase with processes. Returns how each role ended and what was left in the queue.
pub fn run(spec: &Spec, recorders: Recorders<'_>) -> Result<(Vec<Ending>, Vec<Item>)> {
    let queue = Queue::new(spec.capacity, Item::BYTES).context("queue::Queue::new")?;
    let roles: Vec<(Side, u32)> = (0..spec.producers)
        .map(|i| (Side::Producer, i))
        .chain((0..spec.consumers).map(|i| (Side::Consumer, i)))
        .collect();
    // If a fork fails half-way, returning drops `children`: each one started is killed and
    // reaped by `Child`'s Drop, so nothing is left behind.
    let mut children: Vec<Child> = Vec::with_capacity(roles.len());
    for &(side, i) in &roles {
        let queue = &queue;
        let c = common::spawn(format!("{}-{}", side.name(), i + 1), move || {
            // --trace: this child's own process track.
            common::trace::process_name(&format!("{} {}", side.name(), i + 1));
            match side {
                Side::Producer => roles::producer(queue, recorders, spec, i),
                Side::Consumer => roles::consumer(queue, recorders, spec, i),
            }
            .map(drop)
        })?;
        children.push(c);
    }

    let (mut producers_left, mut consumers_left) = (spec.producers, spec.consumers);
    let mut closed = false;
    let mut endings = Vec::with_capacity(roles.len());
    // Blocks in the kernel (poll on the pidfds) until a child exits, then reaps it.
    while let Some(k) = child::wait_any(&mut children, None)? {
        let (side, i) = roles[k];
        let c = &children[k];
        let done = match side {
            Side::Producer => recorders.ledger.produced_by(i),
            Side::Consumer => recorders.ledger.consumed_by(i),
        };
        // `wait_any` returns reaped children only, so the status is there.
        let status = c.status().context("a reaped child without a status")?;
        let mut ending = match c.panic_message() {
            _ if status.success() => Ending::ok(side, i, done as u32),
            Some(message) => Ending::panicked(side, i, message.to_string()),
            None => Ending::failed(side, i, child::describe_failure(status, None)),
        };
        ending.pid = Some(c.pid());
        ending.report();
        match side {
            Side::Producer => {
                producers_left -= 1;
                if !status.success() {
                    // Killed in the middle of a put, it would leave a claimed, never-published
                    // slot: consumers would stop there and the other producers block behind it.
                    // Repair exactly its claim now (see queue::Queue::recover_dead_producer); no
                    // new producer is started, so no one else can hold a claim under its pid.
                    queue.recover_dead_producer(c.pid());
                }
            }
            Side::Consumer => consumers_left -= 1,
        }
        if !closed && (producers_left == 0 || consumers_left == 0) {
            closed = true;
            ending::close(&queue, consumers_left == 0);
        }
        endings.push(ending);
    }
    // Every child is reaped. What is still queued was put but never taken.
    let mut left = Vec::new();
    while let Ok(bytes) = queue.get_timeout(Duration::ZERO) {
        left.push(decode(&bytes)?);
    }
    Ok((endings, left))
}
