//! The worker: what each forked pool process runs until the pool is closed (notes point 5:
//! "事件处理完毕后,进程不退出,而是继续等待处理其他事件"), and what travels between it and the
//! parent.
//!
//! ```text
//! loop:                                          CPython's worker() in multiprocessing/pool.py
//!     wait for a task and the turn               with rlock:
//!     get the task                                   task = inqueue.get()
//!     note it in my slot: running_task = id      (CPython keeps no such note)
//!     give the turn back
//!     run the registered function                result = func(*args)
//!     put the result on the result queue         outqueue.put((job, i, result))
//!     after max_tasks_per_child tasks: exit 0    if maxtasks and completed >= maxtasks: break
//! ```
//!
//! A task's `Err` travels back as its result with status [`RAISED`] and the worker carries on
//! (Python: the function raised). A *panic* is not caught here: it unwinds out of this loop
//! into `common::spawn`, which sends the message to the parent through its report pipe and
//! exits 101. After a panic the worker's memory may be half-updated; a fresh process is the
//! safe answer, and the parent forks one.
//!
//! ## Why a turn, and why the parent can take it back
//!
//! Several workers read one task queue. CPython makes them take turns with a lock (`rlock`),
//! because one task may arrive as several pieces and only one reader may collect them. Here a
//! big task also travels in pieces ([`MAX_PART`]), so the workers take turns too. The turn
//! is also what makes a death *in the middle of taking* a task accountable: while a worker
//! holds it, it is the only process that can have removed anything from the task queue, so
//! the parent, seeing it die, can count what is missing (see `Pool`'s `settle_take`).
//!
//! The turn is one word holding the pid of the worker taking ([`TaskTurn::taker`]), not a
//! `common::sync::Lock`, for one reason: a dead holder. A lock whose holder is SIGKILLed stays
//! locked forever (CPython's pool hangs exactly so when a worker dies inside `with rlock:`;
//! `process lock-held` shows the trap). Here the parent, which sees every death on the
//! worker's pidfd, settles what the dead taker took and then clears the word itself.
//!
//! An idle worker waits for "a task is on the queue *and* nobody holds the turn" in one
//! place ([`Channels::take_turn`]), rather than queueing for the turn and then waiting in
//! the queue's `get`: then the parent's next task wakes exactly one sleeping worker, and a
//! worker giving the turn back wakes nobody when there is nothing to take.
//!
//! ## What travels: pieces with a header
//!
//! The queue carries messages of at most [`MAX_PART`] bytes (shared memory cannot grow after
//! fork, so its slots have a fixed size). A task's argument or a result can be bigger (a `map`
//! chunk, a 4 MiB result), so each travels as one or more *parts*, each starting with a
//! [`PartHeader`] that says which task it belongs to, where its bytes go and how many there are
//! in all. That total is also how a result cut short is told from a whole one: if a worker dies
//! after 2 MiB of a 4 MiB result, the parent holds 2 MiB and a header saying 4, and reports a
//! **truncated** result instead of delivering a short one as good.
//!
//! Why not the `pipe` member's framing (a length, then the payload): that cuts a *byte stream*
//! into messages, and the queue already hands over whole messages. What the pool needs on top
//! is only which task a part belongs to and where its bytes go. The values inside are the
//! pool's compact binary encoding (`codec.rs`, with the reason it is not JSON).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use common::sync::{Event, SleeperFlag};
use common::{json, out, trace, Shared};
use queue::{Queue, QueueError};

use crate::registry::Tasks;

/// Bytes of task or result data one part carries at most. Larger tasks and results go in parts.
pub const PART_DATA: usize = 16 * 1024;
/// Bytes of a [`PartHeader`].
pub const HEADER: usize = 44;
/// Largest message on either queue: a header and a part's data.
pub const MAX_PART: usize = HEADER + PART_DATA;
/// Result status: the function returned a value.
pub const OK: u32 = 0;
/// Result status: the function returned an error (Python: it raised); the data is its message.
pub const RAISED: u32 = 1;

/// The header at the front of every part, task or result, little-endian.
///
/// ```text
/// task u64 | total u32 | offset u32 | code u32 | count u32 | pid u32 | start_ms f64 | end_ms f64
/// ```
/// `code` is the function's index in a task and the status ([`OK`] / [`RAISED`]) in a result;
/// `count` is how many arguments (1 for `apply`, the chunk size for `map`); `pid` and the two
/// times say which worker ran the task and when, on the clock every process of the demo shares
/// (zero in a task).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PartHeader {
    /// The task's id in the pool.
    pub task: u64,
    /// Bytes of data in all the parts of this task (or result) together.
    pub total: u32,
    /// Where this part's data starts in the whole.
    pub offset: u32,
    /// Function index (task) or status (result).
    pub code: u32,
    /// Number of arguments, and so of results.
    pub count: u32,
    /// The worker that ran the task (results only).
    pub pid: u32,
    /// When the worker started the task (ms since the demo started).
    pub start_ms: f64,
    /// When it finished.
    pub end_ms: f64,
}

impl PartHeader {
    /// Append the header's bytes to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.task.to_le_bytes());
        out.extend_from_slice(&self.total.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.code.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.pid.to_le_bytes());
        out.extend_from_slice(&self.start_ms.to_le_bytes());
        out.extend_from_slice(&self.end_ms.to_le_bytes());
    }

    /// Read a header from the front of a part; `None` if the part is shorter than one.
    pub fn read(part: &[u8]) -> Option<PartHeader> {
        let b = part.get(..HEADER)?;
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        Some(PartHeader {
            task: u64_at(0),
            total: u32_at(8),
            offset: u32_at(12),
            code: u32_at(16),
            count: u32_at(20),
            pid: u32_at(24),
            start_ms: f64::from_bits(u64_at(28)),
            end_ms: f64::from_bits(u64_at(36)),
        })
    }

    /// How many parts `total` bytes of data take (at least one, even for no data).
    pub fn parts_for(total: usize) -> usize {
        total.div_ceil(PART_DATA).max(1)
    }
}

/// Cut `data` into parts behind copies of `header` (offsets filled in) and hand each to `put`.
/// Stops at the first error `put` returns.
pub fn for_each_part<E>(
    header: PartHeader,
    data: &[u8],
    buf: &mut Vec<u8>,
    mut put: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut offset = 0;
    loop {
        let end = (offset + PART_DATA).min(data.len());
        buf.clear();
        PartHeader {
            offset: offset as u32,
            ..header
        }
        .write(buf);
        buf.extend_from_slice(&data[offset..end]);
        put(buf)?;
        offset = end;
        if offset >= data.len() {
            return Ok(());
        }
    }
}

common::shared_struct! {
    /// The turn at the task queue (see the module doc), shared by the parent and every worker.
    pub struct TaskTurn {
        /// Pid of the worker taking a task now; 0 when nobody is.
        pub taker: AtomicU32,
        /// Workers waiting for a task to take sleep here, until the turn is free and a task
        /// is on the queue (or the queue is closed).
        pub free: Event,
        /// Parts taken out of the task queue by completed turns (and by the parent when it
        /// settles a dead taker's turn): what the parent compares with what it put.
        pub parts_taken: AtomicU64,
        /// Raised by the parent just before it sleeps in poll(2): a worker that puts a result
        /// then writes one byte to the doorbell pipe (see `Pool`'s `wait_for_news`).
        pub parent_sleeping: SleeperFlag,
    }
}

common::shared_struct! {
    /// One worker's slot, written by the worker and read by the parent: what it is running.
    pub struct WorkerSlot {
        /// Id + 1 of the task the worker took last (0: none yet). Written as soon as the first
        /// part of the task is in the worker's hands, so a death at any later moment tells the
        /// parent which task died with it.
        pub running_task: AtomicU64,
        /// When it started that task (f64 milliseconds, as bits).
        pub started_ms: AtomicU64,
    }
}

impl WorkerSlot {
    /// The task this worker took last, with its start time, if any.
    pub fn running(&self) -> Option<(u64, f64)> {
        match self.running_task.load(SeqCst) {
            0 => None,
            n => Some((n - 1, f64::from_bits(self.started_ms.load(SeqCst)))),
        }
    }
}

/// What a worker shares with the parent and the other workers: everything is created by the
/// parent before the first fork, and each worker uses its inherited copy of the handles.
pub struct Channels {
    /// Parent -> workers: task parts. One queue for all workers, as in CPython.
    pub tasks: Queue,
    /// Workers -> parent: result parts. One queue for all workers.
    pub results: Queue,
    /// The turn at `tasks`, and the parent's "I am asleep" flag.
    pub turn: Shared<TaskTurn>,
    /// The doorbell: the parent polls the read end together with the workers' pidfds.
    pub bell_read: std::os::fd::OwnedFd,
    /// Workers write one byte here when the parent sleeps.
    pub bell_write: std::os::fd::OwnedFd,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channels")
            .field("tasks", &self.tasks)
            .field("results", &self.results)
            .finish()
    }
}

/// Parts each queue holds. Shared memory is fixed at creation, so this bounds how much the
/// parent can hand over before it has to come back: 1023 small tasks (more than any demo
/// submits), or 16 MiB of arguments (a bigger task streams in while its taker makes room).
pub const QUEUE_PARTS: usize = 1024;

impl Channels {
    /// Map both queues and the turn, open the doorbell pipe. Before any fork.
    pub fn new() -> Result<Channels> {
        // Non-blocking both ends: a worker never waits to ring (a full pipe already means
        // "wake up"), and the parent empties it without blocking.
        let flags = nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK;
        let (bell_read, bell_write) = nix::unistd::pipe2(flags).context("pipe2 (doorbell)")?;
        Ok(Channels {
            tasks: Queue::new(QUEUE_PARTS, MAX_PART).context("task queue")?,
            results: Queue::new(QUEUE_PARTS, MAX_PART).context("result queue")?,
            turn: Shared::new_zeroed().context("mmap(MAP_SHARED) for the task turn")?,
            bell_read,
            bell_write,
        })
    }

    /// Whether a worker should take the turn now: nobody holds it, and there is a task on the
    /// queue (or the queue is closed, which the taker must see to leave).
    fn worth_taking(&self) -> bool {
        self.turn.taker.load(SeqCst) == 0 && (!self.tasks.is_empty() || self.tasks.is_closed())
    }

    /// Worker: wait until there is a task to take and nobody is taking, then hold the turn
    /// (the worker's `with rlock:`). An idle worker sleeps here, not in the queue's `get`, so
    /// the parent's next task wakes one worker, and giving the turn back wakes nobody when
    /// there is nothing to take.
    pub fn take_turn(&self, me: u32) {
        loop {
            self.turn.free.wait_until(|| self.worth_taking(), None);
            if self
                .turn
                .taker
                .compare_exchange(0, me, SeqCst, SeqCst)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Give the turn back (a worker after taking its task, or the parent for a dead taker),
    /// waking a waiting worker only if there is something for it to take.
    pub fn release_turn(&self) {
        self.turn.taker.store(0, SeqCst);
        if !self.tasks.is_empty() || self.tasks.is_closed() {
            self.turn.free.notify();
        }
    }

    /// Parent, after putting a task: wake a waiting worker, if the turn is free (if it is
    /// held, its holder's `release_turn` will see this task and wake one). Both sides store,
    /// then load what the other stored (Dekker's pattern): one of them sees the other.
    /// No system call when nobody sleeps.
    pub fn task_put(&self) {
        if self.turn.taker.load(SeqCst) == 0 {
            self.turn.free.notify();
        }
    }

    /// Parent, at `join`: no more tasks; every worker is to take the turn once more, see the
    /// queue closed, and leave.
    pub fn close_tasks(&self) {
        self.tasks.close();
        self.turn.free.notify_all();
    }

    /// Worker, after putting a result part: wake the parent if it announced it sleeps. The
    /// SleeperFlag's fence makes this safe against the parent's "announce, look again, poll"
    /// (Dekker's pattern): either it sees our part, or we see its flag and write.
    fn ring(&self) {
        if self.turn.parent_sleeping.take() {
            // EAGAIN (pipe full) means bytes are already waiting: the parent wakes anyway.
            let _ = nix::unistd::write(&self.bell_write, &[1]);
        }
    }
}

/// In a --trace, the id of the arrow from a task's result to the parent reading it: the task's
/// id with bit 62 set, apart from the ids of the submission arrows (the task ids).
pub fn result_flow(task: u64) -> u64 {
    task | (1 << 62)
}

/// Fault injection for the `crash --crash-kind truncate` demo: the worker running the current
/// task SIGKILLs itself once `after_bytes` bytes of this task's result are on the result queue.
/// It stands for any death in the middle of a put (the OOM killer, `kill -9`) at a moment the
/// demo can choose; the parent cannot tell the difference. Call it from inside a task.
pub fn die_mid_result(after_bytes: usize) {
    CUT_AFTER.store(after_bytes.max(1) as u64, SeqCst);
}

static CUT_AFTER: AtomicU64 = AtomicU64::new(0);

/// Test hook: the worker that takes task `id + 1` (0: none) SIGKILLs itself right after the
/// task's first part has left the queue, before it notes the task in its slot: the worst
/// moment of a take. Set in the parent before the pool forks; the workers inherit it.
#[cfg(feature = "fault-injection")]
pub static DIE_TAKING: AtomicU64 = AtomicU64::new(0);

/// The worker's main loop (runs in the forked child). Returns `Ok` when the task queue is
/// closed or after `max_tasks` tasks; `common::spawn` then exits the process with status 0.
pub fn main(
    tasks: &Tasks,
    channels: &Channels,
    slot: &WorkerSlot,
    max_tasks: Option<u64>,
) -> Result<()> {
    let me = std::process::id();
    let mut part = Vec::with_capacity(MAX_PART);
    let mut args = Vec::new();
    let mut result = Vec::new();
    let mut done = 0u64;
    loop {
        // 1. Wait for a task and the turn, then take the task (CPython: `with rlock:
        //    task = get()`). Only the turn's holder takes, so the parent can account for a
        //    holder that dies half-way (see `Pool`'s `settle_take`).
        channels.take_turn(me);
        let header = match take(channels, slot, &mut part, &mut args) {
            Ok(h) => h,
            Err(QueueError::Closed) => {
                // `join`: the parent closed the queue once every task was done.
                channels.release_turn();
                return Ok(());
            }
            Err(e) => {
                channels.release_turn();
                bail!("task queue: {e}");
            }
        };
        channels.release_turn();

        // In a --trace: one slice per task on this worker's track, from here until its result
        // is on the queue, and the head of the arrow from the parent's submission.
        let _span = trace::enabled().then(|| {
            let me = trace::this_thread();
            let span = trace::Span::begin(format!("task {}", header.task), "task", me).with_args(
                json!({"task": header.task, "items": header.count, "function": tasks.name(header.code)}),
            );
            trace::flow(header.task, trace::Flow::End, "task", me);
            span
        });

        // 2. Run the registered function on the arguments (a panic here ends this process).
        let start = slot.running().map_or_else(out::t_ms, |(_, s)| s);
        result.clear();
        let status = match tasks.run(header.code, &args, header.count, &mut result) {
            Ok(()) => OK,
            Err(msg) => {
                result.clear();
                result.extend_from_slice(msg.as_bytes());
                RAISED
            }
        };
        if result.len() > u32::MAX as usize {
            let n = result.len();
            result.clear();
            result.extend_from_slice(format!("result of {n} bytes is over 4 GiB").as_bytes());
        }

        // 3. Put the result, part by part, ringing the parent's doorbell after each.
        let answer = PartHeader {
            task: header.task,
            total: result.len() as u32,
            offset: 0,
            code: status,
            count: header.count,
            pid: me,
            start_ms: start,
            end_ms: out::t_ms(),
        };
        put_result(channels, answer, &result, &mut part)?;
        // The tail of the arrow to where the parent reads this result (`Pool`'s `deliver`).
        trace::flow(
            result_flow(header.task),
            trace::Flow::Start,
            "result",
            trace::this_thread(),
        );
        done += 1;
        if max_tasks.is_some_and(|m| done >= m) {
            // Retire (max_tasks_per_child): the parent reaps us and forks a fresh worker.
            return Ok(());
        }
    }
}

/// Holding the turn: get every part of the next task into `args`, noting the task in `slot`
/// as soon as its first part is here, and count the parts in `turn.parts_taken`.
fn take(
    channels: &Channels,
    slot: &WorkerSlot,
    part: &mut Vec<u8>,
    args: &mut Vec<u8>,
) -> Result<PartHeader, QueueError> {
    channels.tasks.get_into(part)?;
    let first = PartHeader::read(part).ok_or(QueueError::TooLarge)?;
    #[cfg(feature = "fault-injection")]
    if DIE_TAKING.load(SeqCst) == first.task + 1 {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
    slot.started_ms.store(out::t_ms().to_bits(), SeqCst);
    slot.running_task.store(first.task + 1, SeqCst);
    args.clear();
    args.extend_from_slice(&part[HEADER..]);
    let mut parts = 1;
    while args.len() < first.total as usize {
        // The parent puts a task's parts one after the other, and nobody else takes while we
        // hold the turn: the next part is ours. It is already there, unless the task is bigger
        // than the queue: then each part we take makes room, and the doorbell tells a
        // sleeping parent to come and put the next one.
        channels.ring();
        channels.tasks.get_into(part)?;
        args.extend_from_slice(&part[HEADER..]);
        parts += 1;
    }
    channels.turn.parts_taken.fetch_add(parts, SeqCst);
    Ok(first)
}

/// Put a whole result on the result queue. A result larger than the queue streams: `put`
/// waits for the parent to make room, and the doorbell rung after each part wakes it.
fn put_result(
    channels: &Channels,
    header: PartHeader,
    data: &[u8],
    buf: &mut Vec<u8>,
) -> Result<()> {
    let cut = CUT_AFTER.swap(0, SeqCst) as usize;
    let mut sent = 0;
    for_each_part(header, data, buf, |part| {
        if cut > 0 && sent >= cut {
            // The injected fault: die with the result half sent, as a SIGKILL from outside would.
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
        channels.results.put(part).context("result queue")?;
        sent += part.len() - HEADER;
        channels.ring();
        Ok::<(), anyhow::Error>(())
    })?;
    if cut > 0 {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
    Ok(())
}

/// How long `join` waits for a worker to leave after the queue is closed, before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_reads_back_what_was_written() {
        let h = PartHeader {
            task: 7,
            total: 100_000,
            offset: 65_496,
            code: RAISED,
            count: 3,
            pid: 42,
            start_ms: 1.5,
            end_ms: 2.25,
        };
        let mut b = Vec::new();
        h.write(&mut b);
        assert_eq!(b.len(), HEADER);
        assert_eq!(PartHeader::read(&b), Some(h));
        assert_eq!(PartHeader::read(&b[..HEADER - 1]), None);
    }

    #[test]
    fn big_data_is_cut_into_parts_that_cover_it_once() {
        let data: Vec<u8> = (0..PART_DATA * 2 + 10).map(|i| i as u8).collect();
        let h = PartHeader {
            task: 1,
            total: data.len() as u32,
            ..Default::default()
        };
        let mut whole = Vec::new();
        let mut n = 0;
        for_each_part(h, &data, &mut Vec::new(), |p| {
            let ph = PartHeader::read(p).unwrap();
            assert_eq!(ph.offset as usize, whole.len());
            assert!(p.len() <= MAX_PART);
            whole.extend_from_slice(&p[HEADER..]);
            n += 1;
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!((n, whole), (3, data.clone()));
        assert_eq!(PartHeader::parts_for(data.len()), 3);
        assert_eq!(PartHeader::parts_for(0), 1);
    }
}
