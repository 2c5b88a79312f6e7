//! The pool, the parent's side: workers forked once and reused (notes points 3 and 5), one
//! task queue they all take from, one result queue they all put on, and Python's surface
//! (`apply`, `apply_async`, `map`, `close`, `join`, `terminate`).
//!
//! ## Built as CPython builds it, from the members before it
//!
//! CPython's `Pool` is `Process` objects plus two `SimpleQueue`s (a pipe and a lock each) plus
//! three helper threads in the parent. Here:
//! - the workers are forked by `common::spawn`, the `process` member's one fork path, and
//!   each is watched through its **pidfd**;
//! - the task queue and the result queue are the `queue` member's [`queue::Queue`]: a ring in
//!   `MAP_SHARED` memory. Why it and not a pipe plus a lock, as CPython: a worker killed while
//!   writing a result into a pipe under the lock leaves the lock held and half a message in
//!   the pipe; every other worker then blocks and the parent cannot find where the next message
//!   starts (CPython's pool hangs there). The queue has no lock to be left held, never
//!   delivers half a message, and repairs a dead producer's slot by its pid
//!   ([`queue::Queue::recover_dead_producer`]). It also makes a hand-over a few stores instead
//!   of two system calls;
//! - the workers take turns at the task queue ([`crate::worker::TaskTurn`]), as CPython's do
//!   with their `rlock`, and each notes the task it runs in its own [`WorkerSlot`].
//!
//! ## No helper thread: what runs when
//!
//! The workers need nothing from the parent to keep going: `apply_async` puts the task on the
//! queue before it returns, and the workers take task after task while your code does
//! something else (the `basic` demo measures it). What waits for you is the *parent's* share:
//! reading results off the queue, running your callbacks, noticing a death and forking a
//! replacement. CPython does that on helper threads. This pool does it inside your next call
//! into the pool (`get`, `wait`, `join`, `map`, another `apply_async`...), for one reason:
//! replacement workers are forked by the parent, and a fork from a multi-threaded process
//! copies only the forking thread, so a lock another thread held at that instant stays locked
//! forever in the child (Python 3.12 warns about exactly this; `common::spawn` refuses). The
//! cost, said plainly: a callback runs when you next enter the pool, not the moment its task
//! ends; and a worker that dies while you are away is noticed (its task failed, a replacement
//! forked) only when you come back. The other workers keep taking tasks meanwhile.
//!
//! ## Waiting without ever hanging
//!
//! When the parent has nothing to do it spins briefly on the result queue (a result is often
//! that close), then raises `parent_sleeping` and sleeps in `poll(2)` on every worker's
//! **pidfd** (readable when the process exits, whatever killed it) and the **doorbell** pipe a
//! worker writes one byte to after putting a result while the parent sleeps. A death is seen
//! the moment it happens, never by a sleep-and-check loop. Then, in `Inner::worker_exited`:
//! 1. reap it and say how it ended (`common::child::describe_failure`);
//! 2. repair the result queue if it died in the middle of a put, and read everything it put;
//! 3. if it died holding the turn at the task queue, count what it took (`Inner::settle_take`);
//! 4. fail the task its slot names, if that task has no result: **truncated** if part of the
//!    result arrived, else with the kernel's cause (signal, exit code, panic message);
//! 5. fork a replacement, if there is or may be work for it.
//!
//! Python's `multiprocessing.Pool` loses the task in step 4 forever (its `get()` without a
//! timeout never returns); `ProcessPoolExecutor` fails every pending task.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use common::{json, out, trace, Child, Shared};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use crate::codec::Value;
use crate::error::TaskError;
use crate::registry::{Task, Tasks};
use crate::result::AsyncResult;
use crate::timeline::Span;
use crate::worker::{self, Channels, PartHeader, WorkerSlot, HEADER, OK, STOP_GRACE};

/// Most workers a pool may have (the demos' `--workers` cap).
pub const MAX_WORKERS: usize = 64;
/// Buffers at least this big are recycled rather than freed (see `Inner::buffer_for`).
const RECYCLE_MIN: usize = 64 * 1024;
/// At most this many are kept.
const RECYCLED_MAX: usize = 16;
/// Workers dying before taking any task this many times in a row: stop forking more.
const STARTUP_DEATHS_LIMIT: u32 = 5;

/// The number of CPUs this process may run on (Python's `os.cpu_count()`, the default size).
pub fn cpu_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(MAX_WORKERS)
}

/// Python's default `chunksize` for `map`: `ceil(len / (4 * workers))`, so each worker gets
/// about four chunks: few enough to keep the per-chunk cost small, enough to balance the load.
pub fn default_chunksize(len: usize, workers: usize) -> usize {
    len.div_ceil(4 * workers.max(1)).max(1)
}

/// How to build a pool.
#[derive(Debug, Clone)]
pub struct Options {
    /// Number of worker processes (1..=[`MAX_WORKERS`]).
    pub workers: usize,
    /// Python's `maxtasksperchild`: a worker exits after this many tasks and a fresh one takes
    /// its place (frees whatever the tasks leaked). `None`: live as long as the pool.
    pub max_tasks_per_child: Option<u64>,
    /// Record when each task ran on which worker, for [`Pool::spans`] and the timeline chart.
    pub timeline: bool,
    /// Print `worker_started` / `worker_exit` events through `common::out`.
    pub events: bool,
}

impl Options {
    /// `workers` workers, everything else default.
    pub fn new(workers: usize) -> Options {
        Options {
            workers,
            max_tasks_per_child: None,
            timeline: false,
            events: false,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::new(cpu_count())
    }
}

/// What the pool has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Worker processes forked, first ones and replacements.
    pub workers_started: u64,
    /// Workers that died (crash, kill, exit without being told to).
    pub workers_died: u64,
    /// Dead workers replaced by a fresh fork (not done when no work is left for one).
    pub workers_replaced: u64,
    /// Workers that retired after `max_tasks_per_child` tasks.
    pub workers_retired: u64,
    /// Tasks that produced a value.
    pub tasks_ok: u64,
    /// Tasks that failed (raised, worker died, truncated, terminated...).
    pub tasks_failed: u64,
}

/// A task's outcome: the result's bytes, or why there is none.
pub(crate) type Outcome = Result<Rc<Vec<u8>>, TaskError>;
type Callback = Box<dyn FnOnce(&Outcome)>;
/// Where the ids of completed tasks are announced (`as_completed`, `imap_unordered`).
pub(crate) type Watcher = Rc<RefCell<VecDeque<u64>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Closed,
    Terminated,
}

/// One submitted task, as the parent tracks it.
pub(crate) struct Submitted {
    /// The encoded arguments, until they are on the task queue.
    args: Vec<u8>,
    func: u32,
    pub(crate) count: u32,
    pub(crate) outcome: Option<Outcome>,
    /// The worker that ran it (or died running it).
    pub(crate) worker: Option<i32>,
    /// When it finished, in the workers' own account (ms since the demo started).
    pub(crate) finished_ms: Option<f64>,
    callbacks: Vec<Callback>,
    watchers: Vec<Watcher>,
    /// The handle was dropped: forget the task once done.
    orphan: bool,
}

/// A task too big for the task queue at once, part way onto it (see [`Inner::feed`]).
struct Streaming {
    id: u64,
    header: PartHeader,
    args: Vec<u8>,
    /// Bytes of `args` on the queue so far.
    sent: usize,
    /// Parts on the queue so far, and in all.
    parts_sent: u64,
    parts: u64,
}

/// The submitted tasks the parent still tracks, by id.
///
/// Ids are handed out in order (0, 1, 2...), so a task's place is its id minus the id of the
/// oldest task still kept: no hashing, and each task is one pointer in a row of them. A task
/// is forgotten when it is done and its handle dropped; the row then shrinks from the front.
#[derive(Default)]
pub(crate) struct TaskTable {
    /// The id of `tasks[0]`.
    first: u64,
    tasks: VecDeque<Option<Box<Submitted>>>,
}

impl TaskTable {
    /// Keep task `id`, the next id in order.
    fn insert(&mut self, id: u64, task: Submitted) {
        debug_assert_eq!(id, self.first + self.tasks.len() as u64);
        self.tasks.push_back(Some(Box::new(task)));
    }

    fn index(&self, id: u64) -> Option<usize> {
        id.checked_sub(self.first)
            .map(|i| i as usize)
            .filter(|&i| i < self.tasks.len())
    }

    /// Task `id`, if still kept.
    pub(crate) fn get(&self, id: &u64) -> Option<&Submitted> {
        self.index(*id).and_then(|i| self.tasks[i].as_deref())
    }

    /// Task `id`, if still kept, to change it.
    pub(crate) fn get_mut(&mut self, id: &u64) -> Option<&mut Submitted> {
        self.index(*id).and_then(|i| self.tasks[i].as_deref_mut())
    }

    /// Forget task `id`, returning it.
    pub(crate) fn remove(&mut self, id: &u64) -> Option<Submitted> {
        let task = self.index(*id).and_then(|i| self.tasks[i].take());
        while matches!(self.tasks.front(), Some(None)) {
            self.tasks.pop_front();
            self.first += 1;
        }
        task.map(|b| *b)
    }

    /// The ids of the tasks without an outcome yet.
    fn unfinished(&self) -> Vec<u64> {
        (self.first..)
            .zip(&self.tasks)
            .filter(|(_, t)| t.as_ref().is_some_and(|t| t.outcome.is_none()))
            .map(|(id, _)| id)
            .collect()
    }
}

/// One live worker process, as the parent sees it.
struct Worker {
    child: Child,
    slot: Rc<Shared<WorkerSlot>>,
}

/// The pool's state, shared by the [`Pool`] and every [`AsyncResult`] (all in the parent's one
/// thread: `Rc<RefCell<..>>`, not `Arc<Mutex<..>>`).
pub(crate) struct Inner {
    tasks: Rc<Tasks>,
    opts: Options,
    channels: Rc<Channels>,
    workers: Vec<Option<Worker>>,
    /// Submitted tasks not on the task queue yet (it was full), in submission order.
    backlog: VecDeque<u64>,
    /// Tasks on the task queue (or being taken), in the order they were put, with their number
    /// of parts; `parts_before` is the number of parts put before the first of them.
    on_queue: VecDeque<(u64, u64)>,
    parts_before: u64,
    /// Parts ever put on the task queue.
    parts_put: u64,
    /// A task larger than the task queue, being put part by part as room frees.
    streaming: Option<Streaming>,
    pub(crate) submitted: TaskTable,
    /// Results arriving in several parts, by task id: (the size announced, the bytes so far).
    arriving: HashMap<u64, (usize, Vec<u8>)>,
    next_id: u64,
    state: State,
    /// Callbacks whose task completed, to run once the `RefCell` borrow is released (a callback
    /// may call the pool again).
    ready: Vec<Box<dyn FnOnce()>>,
    unfinished: usize,
    stats: Stats,
    spans: Vec<Span>,
    startup_deaths: u32,
    steps: u64,
    part: Vec<u8>,
    /// Big buffers kept for the next big task or result (see [`Inner::buffer_for`]).
    recycled: Vec<Vec<u8>>,
}

/// A process pool. See the crate doc for the map from Python.
pub struct Pool {
    pub(crate) inner: Rc<RefCell<Inner>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.worker_pids())
            .finish()
    }
}

/// Do what is ready now (results, deaths already known, tasks waiting for room), then run the
/// callbacks it made ready, outside the borrow. Never waits.
pub(crate) fn work_ready(cell: &Rc<RefCell<Inner>>) {
    run_callbacks(cell, |inner| inner.step_without_waiting());
}

/// Wait until something happens (a result, a death) or `deadline`, handle it, then run the
/// callbacks it made ready.
pub(crate) fn wait_then_work(cell: &Rc<RefCell<Inner>>, deadline: Option<Instant>) {
    run_callbacks(cell, |inner| inner.step(deadline));
}

fn run_callbacks(cell: &Rc<RefCell<Inner>>, step: impl FnOnce(&mut Inner) -> Result<()>) {
    let ready = {
        let mut inner = cell.borrow_mut();
        if let Err(e) = step(&mut inner) {
            // A failure of the machinery itself (poll, fork): fail everything rather than hang.
            inner.fail_all(TaskError::Pool(format!("{e:#}")));
        }
        std::mem::take(&mut inner.ready)
    };
    let _span = (trace::enabled() && !ready.is_empty()).then(|| {
        trace::Span::begin("callbacks", "callback", trace::this_thread())
            .with_args(json!({"callbacks": ready.len()}))
    });
    for cb in ready {
        cb();
    }
}

impl Pool {
    /// Python's `Pool(processes)`: fork `workers` workers now. `tasks` is every function they
    /// will ever run (see `registry.rs` for why it must be complete before the fork).
    pub fn new(tasks: Tasks, workers: usize) -> Result<Pool> {
        Pool::with_options(tasks, Options::new(workers))
    }

    /// A pool with all options.
    pub fn with_options(tasks: Tasks, opts: Options) -> Result<Pool> {
        if opts.workers == 0 || opts.workers > MAX_WORKERS {
            bail!("workers must be in 1..={MAX_WORKERS}, not {}", opts.workers);
        }
        if opts.max_tasks_per_child == Some(0) {
            bail!("max_tasks_per_child must be at least 1");
        }
        // Pin the clock's zero before the first fork, so every worker's task times (in the
        // result headers) are on the parent's scale.
        let _ = out::t_ms();
        let n = opts.workers;
        // The queues and the turn exist before any worker: each fork inherits the mappings.
        let mut inner = Inner {
            tasks: Rc::new(tasks),
            channels: Rc::new(Channels::new()?),
            workers: (0..n).map(|_| None).collect(),
            backlog: VecDeque::new(),
            on_queue: VecDeque::new(),
            parts_before: 0,
            parts_put: 0,
            streaming: None,
            submitted: TaskTable::default(),
            arriving: HashMap::new(),
            next_id: 0,
            state: State::Running,
            ready: Vec::new(),
            unfinished: 0,
            stats: Stats::default(),
            spans: Vec::new(),
            startup_deaths: 0,
            steps: 0,
            part: Vec::with_capacity(worker::MAX_PART),
            recycled: Vec::new(),
            opts,
        };
        for slot in 0..n {
            inner.spawn_into(slot, None)?;
        }
        Ok(Pool {
            inner: Rc::new(RefCell::new(inner)),
        })
    }

    /// Python's `pool.apply(f, (arg,))`: run `task` on a worker and wait for its value. (The
    /// notes say apply returns nothing; it returns the function's value, like a plain call.)
    pub fn apply<A: Value, R: Value>(&self, task: &Task<A, R>, arg: A) -> Result<R, TaskError> {
        self.apply_async(task, arg).get()
    }

    /// Python's `pool.apply_async(f, (arg,))`: put the task on the task queue and return at
    /// once with a handle. Step 1 of the journey of a task (step 2: `worker::main`; step 3:
    /// `AsyncResult::get`).
    pub fn apply_async<A: Value, R: Value>(&self, task: &Task<A, R>, arg: A) -> AsyncResult<R> {
        // Encode the argument into bytes (no process can read another's memory) and record
        // the task; its id is what the worker's slot and the result will carry.
        let id = self
            .inner
            .borrow_mut()
            .submit(task.registry, task.index, 1, 0, |b| arg.encode(b));
        // Put it on the task queue *now*, before returning: from here on the workers need
        // nothing from this process to run it, even if the caller goes away for a long time.
        // (This call also reads any results already back and runs their callbacks.)
        work_ready(&self.inner);
        AsyncResult::new(self.inner.clone(), id)
    }

    /// `apply_async` with Python's `callback` and `error_callback`. They run in the parent,
    /// during a later call into the pool (`get`, `wait`, `join`, another `apply_async`...),
    /// in the order the results are read (see the module doc: no helper thread).
    pub fn apply_async_with<A, R, C, E>(
        &self,
        task: &Task<A, R>,
        arg: A,
        callback: C,
        error_callback: E,
    ) -> AsyncResult<R>
    where
        A: Value,
        R: Value + 'static,
        C: FnOnce(R) + 'static,
        E: FnOnce(TaskError) + 'static,
    {
        let id = self
            .inner
            .borrow_mut()
            .submit(task.registry, task.index, 1, 0, |b| arg.encode(b));
        let res = AsyncResult::new(self.inner.clone(), id);
        res.on_done(move |r| match r {
            Ok(v) => callback(v),
            Err(e) => error_callback(e),
        });
        work_ready(&self.inner);
        res
    }

    /// concurrent.futures' `executor.submit(f, arg)`: the same as `apply_async`; the handle
    /// also answers to the futures names (`result`, `done`, `add_done_callback`).
    pub fn submit<A: Value, R: Value>(&self, task: &Task<A, R>, arg: A) -> AsyncResult<R> {
        self.apply_async(task, arg)
    }

    /// Python's `pool.map(f, items)`: every result, in input order, with the default chunk
    /// size ([`default_chunksize`]). Fails with the first failed chunk's error.
    pub fn map<A: Value, R: Value>(
        &self,
        task: &Task<A, R>,
        items: &[A],
    ) -> Result<Vec<R>, TaskError> {
        let cs = default_chunksize(items.len(), self.workers());
        self.map_chunked(task, items, cs)
    }

    /// `map` with an explicit `chunksize`: a chunk of items is one task (one set of parts on
    /// the task queue, one result), and a worker runs the whole chunk in a loop. Chunk size 1
    /// is a round trip per item.
    ///
    /// Each chunk goes on the queue as soon as it is encoded, so the workers start on the first
    /// while the parent encodes the next. Results are decoded in input order as soon as the
    /// chunk and every chunk before it are back. Every chunk runs even after one fails; the
    /// error returned is that of the first failed chunk in input order.
    pub fn map_chunked<A: Value, R: Value>(
        &self,
        task: &Task<A, R>,
        items: &[A],
        chunksize: usize,
    ) -> Result<Vec<R>, TaskError> {
        let _span = trace::Span::begin("map", "wait", trace::this_thread())
            .with_args(json!({"items": items.len(), "chunksize": chunksize}));
        let mut ids = Vec::with_capacity(items.len().div_ceil(chunksize.max(1)));
        for chunk in items.chunks(chunksize.max(1)) {
            ids.push(self.inner.borrow_mut().submit_chunk(task, chunk));
            // Hand the chunks over as they are encoded, so the workers start on the first
            // while the parent encodes the next; tiny chunks 32 at a time, since each look at
            // the queues reads words the workers are writing (a cache miss each).
            if chunksize >= 32 || ids.len() % 32 == 0 {
                work_ready(&self.inner);
            }
        }
        work_ready(&self.inner);
        let mut out = Vec::with_capacity(items.len());
        let mut first_err = None;
        let mut next = 0;
        while next < ids.len() {
            {
                let mut inner = self.inner.borrow_mut();
                while let Some(&id) = ids.get(next) {
                    if !inner
                        .submitted
                        .get(&id)
                        .is_some_and(|t| t.outcome.is_some())
                    {
                        break;
                    }
                    next += 1;
                    let Some(t) = inner.submitted.remove(&id) else {
                        continue;
                    };
                    match t.outcome {
                        Some(Ok(data)) if first_err.is_none() => {
                            if let Err(e) = crate::result::decode_many(&data, t.count, &mut out) {
                                first_err = Some(e);
                            }
                            if let Ok(buf) = Rc::try_unwrap(data) {
                                inner.recycle(buf);
                            }
                        }
                        Some(Err(e)) if first_err.is_none() => first_err = Some(e),
                        _ => {}
                    }
                }
            }
            if next < ids.len() {
                wait_then_work(&self.inner, None);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Python's `pool.imap_unordered(f, items, chunksize)`: results as their chunks complete.
    pub fn imap_unordered<A: Value, R: Value>(
        &self,
        task: &Task<A, R>,
        items: &[A],
        chunksize: usize,
    ) -> crate::result::ImapUnordered<R> {
        let watcher: Watcher = Rc::new(RefCell::new(VecDeque::new()));
        let mut chunks = 0;
        for chunk in items.chunks(chunksize.max(1)) {
            let mut inner = self.inner.borrow_mut();
            let id = inner.submit_chunk(task, chunk);
            inner.watch(id, &watcher);
            chunks += 1;
        }
        work_ready(&self.inner);
        crate::result::ImapUnordered::new(self.inner.clone(), chunks, watcher)
    }

    /// Python's `pool.close()`: no new tasks; the queued ones still run.
    pub fn close(&self) {
        let mut inner = self.inner.borrow_mut();
        if inner.state == State::Running {
            inner.state = State::Closed;
        }
    }

    /// Python's `pool.join()`: after `close`, wait until every task is done, close the task
    /// queue (each worker's `get` then ends and it exits), and reap every worker. Callbacks run
    /// meanwhile.
    pub fn join(&self) -> Result<()> {
        if self.inner.borrow().state == State::Running {
            // Python's words (ValueError): the workers exit only once told no more tasks
            // will come, so this wait could never end.
            bail!("Pool is still running: join() needs close() or terminate() first");
        }
        let _span = trace::Span::begin("join", "wait", trace::this_thread());
        while self.inner.borrow().unfinished > 0 {
            wait_then_work(&self.inner, None);
        }
        self.inner.borrow_mut().stop_workers()
    }

    /// Python's `pool.terminate()`: stop the workers now (SIGTERM, then SIGKILL for any that
    /// lingers); every unfinished task fails with [`TaskError::Terminated`].
    pub fn terminate(&self) {
        run_callbacks(&self.inner, |inner| {
            inner.terminate();
            Ok(())
        });
    }

    /// Number of worker slots.
    pub fn workers(&self) -> usize {
        self.inner.borrow().opts.workers
    }

    /// The pids of the live workers, slot by slot.
    pub fn worker_pids(&self) -> Vec<i32> {
        let inner = self.inner.borrow();
        inner
            .workers
            .iter()
            .flatten()
            .map(|w| w.child.pid())
            .collect()
    }

    /// Counters: workers started, replaced, retired; tasks ok, failed.
    pub fn stats(&self) -> Stats {
        self.inner.borrow().stats
    }

    /// When each task ran, on which worker (only with `Options::timeline`).
    pub fn spans(&self) -> Vec<Span> {
        self.inner.borrow().spans.clone()
    }

    /// Do whatever is ready (results, callbacks, tasks waiting for room) without waiting.
    pub fn poll_now(&self) {
        work_ready(&self.inner);
    }

    /// Block until every submitted task is done (or `timeout`); returns true if all are.
    pub fn wait_all(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if self.inner.borrow().unfinished == 0 {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            wait_then_work(&self.inner, deadline);
        }
    }
}

impl Drop for Pool {
    /// Like leaving Python's `with Pool() as p:` block: terminate. No worker outlives the pool.
    fn drop(&mut self) {
        if let Ok(mut inner) = self.inner.try_borrow_mut() {
            if inner.state != State::Terminated || inner.workers.iter().any(Option::is_some) {
                inner.terminate();
            }
            inner.ready.clear();
        }
    }
}

impl Inner {
    /// Record a task and put it in the backlog (or fail it at once: pool closed, foreign
    /// handle, argument larger than the whole task queue). Returns its id.
    pub(crate) fn submit(
        &mut self,
        registry: u64,
        func: u32,
        count: u32,
        size_hint: usize,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut task = Submitted {
            args: Vec::new(),
            func,
            count,
            outcome: None,
            worker: None,
            finished_ms: None,
            callbacks: Vec::new(),
            watchers: Vec::new(),
            orphan: false,
        };
        let fail = if self.state != State::Running {
            Some(TaskError::Closed)
        } else if registry != self.tasks.id() {
            Some(TaskError::NotRegistered(format!("#{func}")))
        } else {
            task.args = self.buffer_for(size_hint);
            encode(&mut task.args);
            (task.args.len() > u32::MAX as usize).then(|| {
                TaskError::Pool(format!(
                    "argument of {} bytes is over 4 GiB",
                    task.args.len()
                ))
            })
        };
        match fail {
            Some(err) => {
                task.args = Vec::new();
                task.outcome = Some(Err(err));
                self.stats.tasks_failed += 1;
            }
            None => {
                self.backlog.push_back(id);
                self.unfinished += 1;
                if trace::enabled() {
                    // The tail of the arrow that ends where a worker starts this task.
                    let me = trace::this_thread();
                    let _submit = trace::Span::begin(format!("submit task {id}"), "submit", me)
                        .with_args(json!({"task": id, "items": count}));
                    trace::flow(id, trace::Flow::Start, "task", me);
                }
            }
        }
        self.submitted.insert(id, task);
        id
    }

    /// Submit one `map` chunk: all its items encoded one after the other into one task.
    pub(crate) fn submit_chunk<A: Value, R>(&mut self, task: &Task<A, R>, chunk: &[A]) -> u64 {
        // The hint is exact for fixed-width items, a first guess for the others.
        let hint = std::mem::size_of_val(chunk);
        self.submit(task.registry, task.index, chunk.len() as u32, hint, |b| {
            A::encode_all(chunk, b)
        })
    }

    /// Put backlog tasks on the task queue, oldest first. A task goes on whole if all its
    /// parts fit: a worker holding the turn then never waits for the rest of a task from an
    /// absent parent. Only a task bigger than the whole queue goes on part by part, as the
    /// worker taking it makes room (it rings the doorbell after each part so a sleeping parent
    /// comes to put the next). Only the parent puts, and workers only take, so room seen here
    /// stays room.
    ///
    /// One slot is left free: `len()` counts a slot as free as soon as a taker has claimed
    /// its message, a moment before the taker hands the slot back for the next lap. Keeping
    /// one in reserve means a put never lands on the slot a taker is still handing back.
    fn feed(&mut self) -> Result<bool> {
        self.forget_taken();
        let mut fed = self.feed_streaming()?;
        while self.streaming.is_none() {
            let Some(&id) = self.backlog.front() else {
                break;
            };
            let room = self.room();
            let Some(task) = self.submitted.get_mut(&id) else {
                self.backlog.pop_front();
                continue;
            };
            let parts = PartHeader::parts_for(task.args.len());
            let header = PartHeader {
                task: id,
                total: task.args.len() as u32,
                code: task.func,
                count: task.count,
                ..PartHeader::default()
            };
            if parts > room {
                if parts < self.channels.tasks.capacity() || room == 0 {
                    break; // it will fit whole once the workers have taken some
                }
                // Bigger than the queue: it goes on part by part from here.
                self.streaming = Some(Streaming {
                    id,
                    header,
                    args: std::mem::take(&mut task.args),
                    sent: 0,
                    parts_sent: 0,
                    parts: parts as u64,
                });
                self.backlog.pop_front();
                self.on_queue.push_back((id, parts as u64));
                fed |= self.feed_streaming()?;
                continue;
            }
            let args = std::mem::take(&mut task.args);
            worker::for_each_part(header, &args, &mut self.part, |p| {
                self.channels.tasks.put_nowait(p)
            })
            .context("put on the task queue")?;
            self.channels.task_put();
            self.recycle(args);
            self.backlog.pop_front();
            self.on_queue.push_back((id, parts as u64));
            self.parts_put += parts as u64;
            fed = true;
        }
        Ok(fed)
    }

    /// Parts that can go on the task queue now, keeping the one slot in reserve.
    fn room(&self) -> usize {
        let tasks = &self.channels.tasks;
        tasks.capacity().saturating_sub(tasks.len() + 1)
    }

    /// Put what fits of the task being streamed; done with it once its last part is on.
    fn feed_streaming(&mut self) -> Result<bool> {
        let mut room = self.room();
        let Some(st) = self.streaming.as_mut() else {
            return Ok(false);
        };
        let mut fed = false;
        while room > 0 && st.parts_sent < st.parts {
            let end = (st.sent + worker::PART_DATA).min(st.args.len());
            self.part.clear();
            PartHeader {
                offset: st.sent as u32,
                ..st.header
            }
            .write(&mut self.part);
            self.part.extend_from_slice(&st.args[st.sent..end]);
            self.channels
                .tasks
                .put_nowait(&self.part)
                .context("put on the task queue")?;
            if st.parts_sent == 0 {
                self.channels.task_put();
            }
            st.sent = end;
            st.parts_sent += 1;
            self.parts_put += 1;
            room -= 1;
            fed = true;
        }
        if st.parts_sent == st.parts {
            if let Some(done) = self.streaming.take() {
                self.recycle(done.args);
            }
        }
        Ok(fed)
    }

    /// Something the parent could do without waiting: a result to read, or room for a task
    /// it holds. Looked at once more after announcing it will sleep.
    fn work_waiting(&self) -> bool {
        if !self.channels.results.is_empty() {
            return true;
        }
        let room = self.room();
        if self.streaming.is_some() {
            return room > 0;
        }
        self.backlog.front().is_some_and(|id| {
            self.submitted
                .get(id)
                .is_some_and(|t| PartHeader::parts_for(t.args.len()) <= room)
        })
    }

    /// A buffer for `len` bytes. A big one is a recycled buffer when there is one: fresh
    /// memory costs a page fault for every 4 KiB on first touch, and a big block freed goes
    /// back to the kernel, so a `map` of a million items would fault its way through every
    /// chunk twice. Small ones come from the allocator, which recycles them itself.
    fn buffer_for(&mut self, len: usize) -> Vec<u8> {
        if len >= RECYCLE_MIN {
            if let Some(mut b) = self.recycled.pop() {
                b.clear();
                b.reserve(len);
                return b;
            }
        }
        Vec::with_capacity(len)
    }

    /// Keep a big buffer for [`Inner::buffer_for`] (a few: enough for the chunks in flight).
    fn recycle(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() >= RECYCLE_MIN && self.recycled.len() < RECYCLED_MAX {
            buf.clear();
            self.recycled.push(buf);
        }
    }

    /// Drop from `on_queue` the tasks the workers have finished taking.
    fn forget_taken(&mut self) {
        let taken = self.channels.turn.parts_taken.load(SeqCst);
        while let Some(&(_, parts)) = self.on_queue.front() {
            if self.parts_before + parts > taken {
                break;
            }
            self.parts_before += parts;
            self.on_queue.pop_front();
        }
    }

    /// Read every part on the result queue; deliver the results that are complete. Never waits.
    fn collect(&mut self) -> Result<bool> {
        let mut any = false;
        let mut part = std::mem::take(&mut self.part);
        // Look before taking: a `get` that finds nothing spins and yields a little before it
        // reports `Empty` (the queue's patience with a real wait), which a parent merely
        // checking for news must not pay on every call into the pool.
        while !self.channels.results.is_empty()
            && self
                .channels
                .results
                .get_into_timeout(&mut part, Duration::ZERO)
                .is_ok()
        {
            any = true;
            let h = PartHeader::read(&part).context("a result part shorter than its header")?;
            let data = &part[HEADER..];
            if h.offset == 0 && data.len() == h.total as usize {
                // The usual case: the whole result in one part.
                let mut whole = self.buffer_for(data.len());
                whole.extend_from_slice(data);
                self.deliver(h, whole);
                continue;
            }
            if !self.arriving.contains_key(&h.task) {
                let buf = self.buffer_for(h.total as usize);
                self.arriving.insert(h.task, (h.total as usize, buf));
            }
            let Some((_, buf)) = self.arriving.get_mut(&h.task) else {
                continue;
            };
            if buf.len() != h.offset as usize {
                bail!(
                    "result of task {} out of order: part at {} after {} bytes",
                    h.task,
                    h.offset,
                    buf.len()
                );
            }
            buf.extend_from_slice(data);
            if buf.len() == h.total as usize {
                let (_, whole) = self.arriving.remove(&h.task).unwrap_or_default();
                self.deliver(h, whole);
            }
        }
        self.part = part;
        Ok(any)
    }

    /// A whole result is here: complete its task.
    fn deliver(&mut self, h: PartHeader, data: Vec<u8>) {
        let ok = h.code == OK;
        // In a --trace: a slice where the parent reads the result, and the head of the arrow
        // from the worker that put it.
        let _read = trace::enabled().then(|| {
            let me = trace::this_thread();
            let span = trace::Span::begin(format!("result task {}", h.task), "result", me)
                .with_args(json!({"task": h.task, "worker": h.pid}));
            trace::flow(worker::result_flow(h.task), trace::Flow::End, "result", me);
            span
        });
        if self.opts.timeline {
            self.spans.push(Span {
                task: h.task,
                worker: h.pid as i32,
                start_ms: h.start_ms,
                end_ms: h.end_ms,
                ok,
            });
        }
        let outcome = if ok {
            Ok(Rc::new(data))
        } else {
            Err(TaskError::Raised(
                String::from_utf8_lossy(&data).into_owned(),
            ))
        };
        self.complete(h.task, outcome, Some(h.pid as i32), h.end_ms);
        self.startup_deaths = 0;
    }

    /// Send `id` to `watcher` when it completes (now, if it already has).
    pub(crate) fn watch(&mut self, id: u64, watcher: &Watcher) {
        if let Some(t) = self.submitted.get_mut(&id) {
            if t.outcome.is_some() {
                watcher.borrow_mut().push_back(id);
            } else {
                t.watchers.push(watcher.clone());
            }
        }
    }

    /// Run `cb` with the outcome when `id` completes (soon after, if it already has).
    pub(crate) fn add_callback(&mut self, id: u64, cb: Callback) {
        let Some(t) = self.submitted.get_mut(&id) else {
            return;
        };
        match &t.outcome {
            Some(o) => {
                let o = o.clone();
                self.ready.push(Box::new(move || cb(&o)));
            }
            None => t.callbacks.push(cb),
        }
    }

    /// The handle of `id` was dropped.
    pub(crate) fn release(&mut self, id: u64) {
        if let Some(t) = self.submitted.get_mut(&id) {
            if t.outcome.is_some() {
                self.submitted.remove(&id);
            } else {
                t.orphan = true;
            }
        }
    }

    /// Record a task's outcome (once: a later one is ignored) and queue its callbacks.
    fn complete(&mut self, id: u64, outcome: Outcome, worker: Option<i32>, at_ms: f64) {
        let Some(t) = self.submitted.get_mut(&id) else {
            return;
        };
        if t.outcome.is_some() {
            return;
        }
        t.worker = worker;
        t.finished_ms = Some(at_ms);
        for w in t.watchers.drain(..) {
            w.borrow_mut().push_back(id);
        }
        let cbs = std::mem::take(&mut t.callbacks);
        if !cbs.is_empty() {
            let o = outcome.clone();
            self.ready.push(Box::new(move || {
                for cb in cbs {
                    cb(&o);
                }
            }));
        }
        match &outcome {
            Ok(_) => self.stats.tasks_ok += 1,
            Err(_) => self.stats.tasks_failed += 1,
        }
        t.outcome = Some(outcome);
        let orphan = t.orphan;
        self.unfinished -= 1;
        if orphan {
            self.submitted.remove(&id);
        }
    }

    /// Fail every unfinished task (terminate, or a broken pool).
    fn fail_all(&mut self, err: TaskError) {
        self.backlog.clear();
        self.streaming = None;
        let ids = self.submitted.unfinished();
        let now = out::t_ms();
        for id in ids {
            self.complete(id, Err(err.clone()), None, now);
        }
    }

    fn fail_backlog(&mut self, err: TaskError) {
        let now = out::t_ms();
        for id in std::mem::take(&mut self.backlog) {
            self.complete(id, Err(err.clone()), None, now);
        }
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        for w in self.workers.iter().flatten() {
            let _ = w.child.signal(Signal::SIGTERM);
        }
        for slot in 0..self.workers.len() {
            if let Some(mut w) = self.workers[slot].take() {
                // SIGTERM kills a worker at once (default action); SIGKILL if a task blocked it.
                if !matches!(w.child.join_timeout(STOP_GRACE), Ok(Some(_))) {
                    let _ = w.child.kill();
                    let _ = w.child.join();
                }
                self.event_exit(slot, &w.child, "terminated", None);
            }
        }
        self.fail_all(TaskError::Terminated);
    }

    /// After close and every task done: close the task queue, which ends each worker's `get`
    /// (Python puts one `None` sentinel per worker instead), then reap every worker.
    fn stop_workers(&mut self) -> Result<()> {
        self.channels.close_tasks();
        for slot in 0..self.workers.len() {
            if let Some(mut w) = self.workers[slot].take() {
                let status = match w.child.join_timeout(STOP_GRACE)? {
                    Some(s) => s,
                    None => {
                        w.child.kill()?;
                        w.child.join()?
                    }
                };
                // A worker that died idle, after its last task, is reported as what it was.
                let how = if status.success() {
                    "stopped".to_string()
                } else {
                    common::child::describe_failure(status, w.child.panic_message())
                };
                self.event_exit(slot, &w.child, &how, None);
            }
        }
        self.state = State::Terminated;
        Ok(())
    }

    /// Fork a worker into `slot`, with a fresh slot of shared memory. `replacing`: the pid of
    /// the dead worker it replaces.
    fn spawn_into(&mut self, slot: usize, replacing: Option<i32>) -> Result<()> {
        let shm = Rc::new(Shared::<WorkerSlot>::new_zeroed().context("mmap(MAP_SHARED) slot")?);
        let (tasks, channels, slot_mem) = (self.tasks.clone(), self.channels.clone(), shm.clone());
        let max = self.opts.max_tasks_per_child;
        // Its track in a --trace: "worker 1", "worker 1 (replacing 4242)".
        let track = match replacing {
            Some(old) => format!("worker {slot} (replacing {old})"),
            None => format!("worker {slot}"),
        };
        // The closure runs in the child, on the child's copy of everything captured here.
        let child = common::spawn(format!("pool-worker-{slot}"), move || {
            trace::process_name(&track);
            // Its one thread takes a task, runs it, puts the result, again and again.
            trace::thread_name(trace::this_thread(), "takes, runs, puts");
            worker::main(&tasks, &channels, &slot_mem, max)
        })?;
        self.stats.workers_started += 1;
        if self.opts.events {
            let pid = child.pid();
            out::event(
                "worker_started",
                json!({"worker": pid, "slot": slot, "replacing": replacing}),
                match replacing {
                    Some(old) => {
                        format!("  pool: forked worker {pid} in slot {slot}, replacing {old}")
                    }
                    None => format!("  pool: forked worker {pid} (slot {slot})"),
                },
            );
        }
        self.workers[slot] = Some(Worker { child, slot: shm });
        Ok(())
    }

    /// Results that are back and tasks waiting for room; never waits.
    fn step_without_waiting(&mut self) -> Result<()> {
        self.collect()?;
        self.feed()?;
        Ok(())
    }

    /// One turn of the parent's loop: do what is ready; if nothing is, spin briefly on the
    /// result queue, then sleep in poll(2) on the pidfds and the doorbell until something
    /// happens or `deadline`.
    fn step(&mut self, deadline: Option<Instant>) -> Result<()> {
        self.steps += 1;
        let mut progress = self.collect()?;
        progress |= self.feed()?;
        if progress {
            // A busy pool rarely sleeps: look for deaths now and then without waiting too.
            if self.steps % 256 == 0 {
                self.wait_for_news(Some(Duration::ZERO))?;
            }
            return Ok(());
        }
        if self.unfinished == 0 {
            return Ok(());
        }
        if self.workers.iter().all(Option::is_none) {
            // No worker, and none could be forked: nothing would ever take the tasks on the
            // queue, nor wake a poll on the doorbell alone. Fail them instead of hanging.
            self.fail_all(TaskError::Pool(
                "no worker left to run the task (workers kept dying at start)".into(),
            ));
            return Ok(());
        }
        // A result is often a moment away: look again for a microsecond or so before
        // sleeping (`common::backoff`), which saves two system calls and a wake-up when it is.
        let results = &self.channels.results;
        if common::backoff::spin_then(|| !results.is_empty()) {
            return Ok(());
        }
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(());
                }
                Some(left)
            }
        };
        self.wait_for_news(timeout)
    }

    /// Sleep in poll(2) on the doorbell and every worker's pidfd (at most `timeout`; zero:
    /// just look), then handle the workers that exited.
    fn wait_for_news(&mut self, timeout: Option<Duration>) -> Result<()> {
        let sleeping = timeout != Some(Duration::ZERO);
        let slots: Vec<usize> = (0..self.workers.len())
            .filter(|&i| self.workers[i].is_some())
            .collect();
        let exited: Vec<usize> = {
            let mut fds = vec![PollFd::new(
                self.channels.bell_read.as_fd(),
                PollFlags::POLLIN,
            )];
            for w in self.workers.iter().flatten() {
                fds.push(PollFd::new(w.child.pidfd(), PollFlags::POLLIN));
            }
            if sleeping {
                // Announce, then look again (Dekker): a result put before the announcement
                // is seen here; a worker that puts one after it sees the flag and rings.
                self.channels.turn.parent_sleeping.announce();
            }
            if sleeping && self.work_waiting() {
                Vec::new()
            } else {
                let ms = match timeout {
                    None => PollTimeout::NONE,
                    // Round up: a deadline 0.3 ms away must not become a 0 ms busy loop.
                    Some(t) => PollTimeout::try_from(
                        (t.as_micros().div_ceil(1000)).min(i32::MAX as u128) as i32,
                    )
                    .unwrap_or(PollTimeout::MAX),
                };
                match poll(&mut fds, ms) {
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(e).context("poll(doorbell, pidfds)"),
                }
                fds[1..]
                    .iter()
                    .zip(&slots)
                    .filter(|(f, _)| f.revents().is_some_and(|r| !r.is_empty()))
                    .map(|(_, &i)| i)
                    .collect()
            }
        };
        if sleeping {
            self.channels.turn.parent_sleeping.clear();
            let mut buf = [0u8; 64];
            // Empty the doorbell (non-blocking: EAGAIN ends it).
            while matches!(nix::unistd::read(self.channels.bell_read.as_raw_fd(), &mut buf), Ok(n) if n > 0)
            {
            }
        }
        for slot in exited {
            self.worker_exited(slot)?;
        }
        Ok(())
    }

    /// A worker's pidfd became readable: it exited. Steps 1-5 of the module doc.
    fn worker_exited(&mut self, slot: usize) -> Result<()> {
        let Some(mut w) = self.workers[slot].take() else {
            return Ok(());
        };
        // 1. Reap it: from here on its pid is free and its death certain.
        let status = match w.child.try_reap()? {
            Some(s) => s,
            None => {
                // A readable pidfd means it exited; be safe rather than wait forever.
                w.child.kill()?;
                w.child.join()?
            }
        };
        let pid = w.child.pid();
        let cause = common::child::describe_failure(status, w.child.panic_message());
        let now = out::t_ms();
        // 2. A put it did not finish is a hole the queue repairs by its pid; everything it put
        //    before dying is still on the queue: read it now.
        self.channels.results.recover_dead_producer(pid);
        self.collect()?;
        // 3. It died holding the turn: settle what it took.
        let mut failed = None;
        if self.channels.turn.taker.load(SeqCst) == pid as u32 {
            failed = self.settle_take(pid, &cause, now);
        }
        // 4. The task its slot names, if that task has no outcome yet.
        let running = w.slot.running();
        if let Some((id, start)) = running {
            let unfinished = self.submitted.get(&id).is_some_and(|t| t.outcome.is_none());
            if unfinished {
                let err = match self.arriving.remove(&id) {
                    Some((expected, got)) => TaskError::Truncated {
                        pid,
                        got: got.len(),
                        expected,
                        cause: cause.clone(),
                    },
                    None => TaskError::WorkerDied {
                        pid,
                        cause: cause.clone(),
                    },
                };
                if self.opts.timeline {
                    self.spans.push(Span {
                        task: id,
                        worker: pid,
                        start_ms: start,
                        end_ms: now,
                        ok: false,
                    });
                }
                self.complete(id, Err(err), Some(pid), now);
                failed = Some(id);
            }
        }
        let retired = status.success() && failed.is_none();
        if !retired {
            self.stats.workers_died += 1;
        }
        if running.is_none() {
            self.startup_deaths += 1;
        }
        self.event_exit(slot, &w.child, &cause, failed);
        drop(w);
        // 5. A replacement, if there is or may be work for it.
        let wanted = self.state == State::Running || self.unfinished > 0;
        if wanted && self.startup_deaths < STARTUP_DEATHS_LIMIT {
            if retired {
                self.stats.workers_retired += 1;
            } else {
                self.stats.workers_replaced += 1;
            }
            if let Err(e) = self.spawn_into(slot, Some(pid)) {
                self.fail_backlog(TaskError::Pool(format!("{e:#}")));
            }
        } else {
            if retired {
                self.stats.workers_retired += 1;
            }
            if self.startup_deaths >= STARTUP_DEATHS_LIMIT
                && self.workers.iter().all(Option::is_none)
            {
                // Live workers would still take what is queued; with none left, nothing will.
                self.fail_all(TaskError::Pool(format!(
                    "{STARTUP_DEATHS_LIMIT} workers in a row died before running a task (last: {cause})"
                )));
            }
        }
        Ok(())
    }

    /// Worker `pid` died holding the turn at the task queue. Nobody else can have taken
    /// anything since it took the turn, so the parts missing from the queue and not yet
    /// counted in `parts_taken` are exactly what it removed:
    /// - none: it died waiting for a task (an idle worker killed): nothing is lost;
    /// - some: it was taking the oldest task on the queue. That task fails with its cause,
    ///   and the parent removes the task's remaining parts itself, so the next taker starts at
    ///   a task boundary.
    ///
    /// Then the parent gives the turn back, which the dead worker never will.
    ///
    /// One window is left, the queue's own: a taker killed between the two stores of its
    /// `get` that claim a message and hand the slot back (see `queue::ring`) takes the
    /// message, which is counted and failed here, but leaves its slot unusable, so the queue
    /// holds one message less from then on; a whole lap later, `feed` stops at that slot.
    fn settle_take(&mut self, pid: i32, cause: &str, now: f64) -> Option<u64> {
        self.forget_taken();
        let taken = self.channels.turn.parts_taken.load(SeqCst);
        let consumed = self.parts_put - self.channels.tasks.len() as u64;
        let mut lost = None;
        if consumed > taken {
            if let Some((id, parts)) = self.on_queue.pop_front() {
                // Parts of it on the queue so far: all, unless it is still being streamed.
                let put = match &self.streaming {
                    Some(st) if st.id == id => st.parts_sent,
                    _ => parts,
                };
                if self.streaming.as_ref().is_some_and(|st| st.id == id) {
                    // Stop streaming it. Its parts never put count as put and taken, so that
                    // "put - on the queue = taken" holds again for the next taker.
                    if let Some(st) = self.streaming.take() {
                        self.recycle(st.args);
                    }
                    self.parts_put += parts - put;
                }
                let left = (taken + put).saturating_sub(consumed);
                for _ in 0..left {
                    let _ = self.channels.tasks.get_timeout(Duration::ZERO);
                }
                self.channels.turn.parts_taken.store(taken + parts, SeqCst);
                self.parts_before += parts;
                let err = TaskError::DiedTaking {
                    pid,
                    cause: cause.to_string(),
                };
                self.complete(id, Err(err), Some(pid), now);
                lost = Some(id);
            }
        }
        self.channels.release_turn();
        lost
    }

    fn event_exit(&self, slot: usize, child: &Child, cause: &str, failed: Option<u64>) {
        if self.opts.events {
            let pid = child.pid();
            let code = child.exitcode();
            out::event(
                "worker_exit",
                json!({"worker": pid, "slot": slot, "exitcode": code, "cause": cause, "failed_task": failed}),
                match failed {
                    Some(t) => format!("  pool: worker {pid} {cause} while running task {t}"),
                    None => format!("  pool: worker {pid} exited ({cause})"),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a_task(count: u32) -> Submitted {
        Submitted {
            args: Vec::new(),
            func: 0,
            count,
            outcome: None,
            worker: None,
            finished_ms: None,
            callbacks: Vec::new(),
            watchers: Vec::new(),
            orphan: false,
        }
    }

    #[test]
    fn the_task_table_finds_by_id_and_shrinks_from_the_front() {
        let mut table = TaskTable::default();
        for id in 0..5 {
            table.insert(id, a_task(id as u32));
        }
        assert_eq!(table.remove(&2).map(|t| t.count), Some(2));
        assert!(table.get(&2).is_none());
        assert_eq!(table.remove(&0).map(|t| t.count), Some(0));
        assert_eq!(table.first, 1, "0 gone: the row starts at 1");
        assert_eq!(table.remove(&1).map(|t| t.count), Some(1));
        assert_eq!(table.first, 3, "1 and the hole left by 2 are gone too");
        assert_eq!(table.get(&4).map(|t| t.count), Some(4));
        assert!(table.get(&9).is_none() && table.remove(&0).is_none());
        table.get_mut(&3).unwrap().outcome = Some(Err(TaskError::Timeout));
        assert_eq!(table.unfinished(), vec![4]);
    }

    #[test]
    fn chunksize_is_pythons() {
        // Python: chunksize, extra = divmod(len, 4 * workers); chunksize += bool(extra)
        assert_eq!(default_chunksize(1_000_000, 2), 125_000);
        assert_eq!(default_chunksize(10, 2), 2);
        assert_eq!(default_chunksize(9, 2), 2);
        assert_eq!(default_chunksize(8, 2), 1);
        assert_eq!(default_chunksize(1, 4), 1);
        assert_eq!(default_chunksize(0, 4), 1);
    }
}
