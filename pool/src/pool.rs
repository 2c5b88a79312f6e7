//! The pool: workers forked once and reused (notes points 3 and 5), a scheduler that never
//! hangs, and Python's surface (`apply`, `apply_async`, `map`, `close`, `join`, `terminate`).
//!
//! ## Who does what
//! - **The parent is the scheduler, and stays single-threaded.** Python's Pool runs three helper
//!   threads in the parent (task handler, result handler, worker handler). Here there are none:
//!   `common::spawn` refuses to fork a multi-threaded process (a lock held by another thread at
//!   the fork would stay locked forever in the child), and replacement workers are forked from
//!   the parent. So the parent hands out tasks, collects results, notices deaths, forks
//!   replacements and runs your callbacks *inside your own calls*: `apply_async` does the work
//!   that is ready without waiting; `get`, `wait`, `map`, `join` do it while they wait.
//! - **Each worker has its own pair of rings** (see `ring.rs`): tasks in, results out, in order.
//!   The parent keeps, per worker, the list of tasks it gave it, so a result is matched to its
//!   task by position (and checked by id), and a death tells exactly which task was running.
//! - **How much each worker is given at once** ("depth"): enough for about 2 ms of work, judged
//!   from the running times the workers report (one task at a time for slow tasks, up to 1024
//!   for tiny ones), the rest waiting in the parent. Slow tasks then spread like Python's shared
//!   queue (an idle worker gets the next one); tiny tasks travel in batches, so a worker is not
//!   left idle while its last result travels back and its next task travels out.
//!   The price of having no helper thread: while your code is away from the pool, a worker runs
//!   only what it was given (about 2 ms worth, or one slow task) and then waits for you.
//!
//! ## Waiting without ever hanging
//! When the parent has nothing to do it spins ~50 us on the rings (a result is usually that
//! close), then sleeps in `poll(2)` on: every worker's **pidfd** (readable when the process
//! exits, whatever killed it) and the **doorbell** pipe that workers ring after publishing a
//! result. A death is thus seen the moment it happens, never by a sleep-and-check loop. Then:
//! 1. the dead worker's result ring is drained: complete frames are delivered as usual;
//! 2. a frame cut short (header says N bytes, fewer arrived) fails its task as **truncated**;
//! 3. otherwise the task the worker had marked as running fails with the kernel's cause
//!    (signal, exit code, panic message);
//! 4. the tasks queued behind it, which it never started, go back to the front of the queue;
//! 5. a replacement is forked into the same slot.
//!
//! Python's `multiprocessing.Pool` loses the task in step 3 forever (its `get()` without a
//! timeout never returns); `ProcessPoolExecutor` fails every pending task.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use common::{json, out, Child, ExitStatus};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use crate::codec::Value;
use crate::doorbell::Doorbell;
use crate::error::TaskError;
use crate::frame::{self, ResultHeader, RESULT_HEADER};
use crate::registry::{Task, Tasks};
use crate::result::AsyncResult;
use crate::ring::{spin_until, Ring, SPIN};
use crate::slab::Slab;
use crate::spare::Spare;
use crate::timeline::Span;
use crate::worker::{self, WorkerShm};

/// Most workers a pool may have (the demos' `--workers` cap).
pub const MAX_WORKERS: usize = 64;
/// Work queued per worker, in milliseconds of its measured task time (see module doc).
const DEPTH_WINDOW_MS: f64 = 2.0;
const MAX_DEPTH: usize = 1024;
/// Workers dying before finishing any task this many times in a row: stop forking more.
const STARTUP_DEATHS_LIMIT: u32 = 5;
/// How long `join` waits for a worker to obey STOP, and `terminate` for SIGTERM, before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

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
    /// Fixed number of tasks given to a worker at once; `None`: adapt (see module doc).
    pub depth: Option<usize>,
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
            depth: None,
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
    /// Tasks handed back to the queue because their worker died before starting them.
    pub tasks_requeued: u64,
}

/// A task's outcome: the whole result frame (header + payload), or why there is none.
pub(crate) type Outcome = Result<Rc<Vec<u8>>, TaskError>;
type Callback = Box<dyn FnOnce(&Outcome)>;
pub(crate) type Watcher = Rc<RefCell<VecDeque<u64>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Closed,
    Terminated,
}

/// One submitted task, as the parent tracks it.
pub(crate) struct Entry {
    /// The task frame, kept until the task is done so it can be sent again if its worker dies
    /// before starting it.
    frame: Vec<u8>,
    pub(crate) count: u32,
    pub(crate) outcome: Option<Outcome>,
    pub(crate) worker: Option<i32>,
    callbacks: Vec<Callback>,
    watchers: Vec<Watcher>,
    /// The handle was dropped: forget the entry once done.
    orphan: bool,
}

/// A result frame being assembled from the ring.
#[derive(Default)]
struct Incoming {
    hdr: [u8; RESULT_HEADER],
    hdr_got: usize,
    /// The whole padded frame once the header is known (empty before).
    buf: Vec<u8>,
    filled: usize,
    len: usize,
}

impl Incoming {
    /// Move whatever the ring holds into frames; complete ones are pushed to `done`.
    fn pull(&mut self, ring: &Ring, done: &mut Vec<Vec<u8>>, spare: &mut Spare) -> Result<bool> {
        let mut moved = false;
        loop {
            if !self.buf.is_empty() && self.filled == self.buf.len() {
                let mut f = std::mem::take(&mut self.buf);
                f.truncate(self.len);
                done.push(f);
                self.filled = 0;
                continue;
            }
            let avail = ring.available();
            if avail == 0 {
                return Ok(moved);
            }
            moved = true;
            if self.buf.is_empty() {
                let n = avail.min(RESULT_HEADER - self.hdr_got);
                ring.read(&mut self.hdr[self.hdr_got..self.hdr_got + n]);
                self.hdr_got += n;
                if self.hdr_got == RESULT_HEADER {
                    let h = frame::parse_result(&self.hdr).map_err(anyhow::Error::msg)?;
                    let n = frame::padded(h.len);
                    // Every byte of it is about to be overwritten from the ring: no zeroing.
                    self.buf = spare.take_len(n);
                    self.buf[..RESULT_HEADER].copy_from_slice(&self.hdr);
                    self.filled = RESULT_HEADER;
                    self.len = h.len;
                    self.hdr_got = 0;
                }
            } else {
                let n = avail.min(self.buf.len() - self.filled);
                ring.read(&mut self.buf[self.filled..self.filled + n]);
                self.filled += n;
            }
        }
    }

    /// A frame cut short: (its header if that much arrived, bytes that arrived).
    fn partial(&self) -> Option<(Option<ResultHeader>, usize)> {
        if !self.buf.is_empty() {
            Some((frame::parse_result(&self.buf).ok(), self.filled))
        } else if self.hdr_got > 0 {
            Some((None, self.hdr_got))
        } else {
            None
        }
    }
}

/// One live worker process, as the parent sees it.
struct Worker {
    child: Child,
    shm: Rc<WorkerShm>,
    /// Tasks given to this worker and not yet answered, in the order it will run them.
    assigned: VecDeque<u64>,
    /// How many at the front of `assigned` are completely in the ring.
    sent: usize,
    /// Bytes of `assigned[sent]`'s frame already in the ring.
    send_off: usize,
    /// Tasks ever given to it (for max_tasks_per_child).
    total: u64,
    incoming: Incoming,
}

/// The pool's state, shared by the [`Pool`] and every [`AsyncResult`] (all in the parent's one
/// thread: `Rc<RefCell<..>>`, not `Arc<Mutex<..>>`).
pub(crate) struct Inner {
    tasks: Rc<Tasks>,
    opts: Options,
    bell: Rc<Doorbell>,
    slots: Vec<Option<Worker>>,
    pending: VecDeque<u64>,
    pub(crate) entries: Slab<Entry>,
    next_id: u64,
    state: State,
    /// Callbacks whose task completed, to run once the `RefCell` borrow is released (a callback
    /// may call the pool again).
    ready: Vec<Box<dyn FnOnce()>>,
    unfinished: usize,
    stats: Stats,
    spans: Vec<Span>,
    avg_task_ms: Option<f64>,
    startup_deaths: u32,
    steps: u64,
    /// Recycled frame buffers (see `spare.rs`).
    pub(crate) spare: Spare,
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

/// Run one step of the parent's event loop (blocking until `deadline` at most), then the
/// callbacks it made ready, outside the borrow.
pub(crate) fn drive(cell: &Rc<RefCell<Inner>>, deadline: Option<Instant>, block: bool) {
    let ready = {
        let mut inner = cell.borrow_mut();
        let r = if block {
            inner.step(deadline)
        } else {
            inner.step_nonblocking()
        };
        if let Err(e) = r {
            // A failure of the machinery itself (poll, fork): fail everything rather than hang.
            inner.fail_all(TaskError::Pool(format!("{e:#}")));
        }
        std::mem::take(&mut inner.ready)
    };
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
        let n = opts.workers;
        // Pin the clock's zero before the first fork, so every worker's task times (in the
        // result frames) are on the parent's scale.
        let _ = out::t_ms();
        let mut inner = Inner {
            tasks: Rc::new(tasks),
            bell: Rc::new(Doorbell::new()?),
            slots: (0..n).map(|_| None).collect(),
            pending: VecDeque::new(),
            entries: Slab::default(),
            next_id: 0,
            state: State::Running,
            ready: Vec::new(),
            unfinished: 0,
            stats: Stats::default(),
            spans: Vec::new(),
            avg_task_ms: None,
            startup_deaths: 0,
            steps: 0,
            spare: Spare::default(),
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

    /// Python's `pool.apply_async(f, (arg,))`: queue the task and return at once with a handle.
    pub fn apply_async<A: Value, R: Value>(&self, task: &Task<A, R>, arg: A) -> AsyncResult<R> {
        let id = self
            .inner
            .borrow_mut()
            .submit(task.registry, task.index, 1, 0, |b| arg.encode(b));
        drive(&self.inner, None, false);
        AsyncResult::new(self.inner.clone(), id)
    }

    /// `apply_async` with Python's `callback` and `error_callback`. They run in the parent,
    /// during a later call into the pool (`get`, `wait`, `join`, another `apply_async`...),
    /// in the order the tasks complete.
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
        drive(&self.inner, None, false);
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

    /// `map` with an explicit `chunksize`: items travel `chunksize` to a frame, and a worker
    /// runs a whole chunk before answering. Chunk size 1 is one round trip per item.
    ///
    /// What one item costs the parent (a `u64`, default chunks): its 8 bytes are copied four
    /// times (slice -> task frame -> task ring; result ring -> result frame -> the returned
    /// `Vec`), each copy a bulk move of the whole chunk, and the returned `Vec` is fresh memory
    /// the kernel must map page by page (one fault per 4 KiB, about 2 us on a VM: some 5 ms per
    /// million `u64`s, the largest single cost). Nothing else is per item: no clock read, no
    /// allocation, no bookkeeping; those are per chunk.
    ///
    /// How the work overlaps: the chunks are not all encoded up front (the workers would wait
    /// for the last one, and every chunk would need its own megabyte buffer). The parent encodes
    /// the next chunk only when the workers hold everything encoded so far, and it decodes each
    /// chunk as soon as it and every chunk before it are back, so a result frame goes back to
    /// the spare buffers (`spare.rs`) to carry a later chunk instead of waiting for the end.
    /// The chunks still all run, in order of submission, even after one fails (as before and as
    /// the stats promise); the error returned is that of the first failed chunk in input order.
    pub fn map_chunked<A: Value, R: Value>(
        &self,
        task: &Task<A, R>,
        items: &[A],
        chunksize: usize,
    ) -> Result<Vec<R>, TaskError> {
        let mut chunks = items.chunks(chunksize.max(1));
        let mut ids = Vec::with_capacity(chunks.len());
        // Pre-sized: the results are appended chunk by chunk and never move.
        let mut out = Vec::with_capacity(items.len());
        let mut decoded = 0; // ids[..decoded] are finished and dealt with
        let mut first_err = None;
        loop {
            {
                let mut inner = self.inner.borrow_mut();
                // The finished prefix, in input order: decode, recycle the frame, forget it.
                while let Some(&id) = ids.get(decoded) {
                    if !inner.entries.get(&id).is_some_and(|e| e.outcome.is_some()) {
                        break;
                    }
                    decoded += 1;
                    let Some(e) = inner.entries.remove(&id) else {
                        continue;
                    };
                    match e.outcome {
                        Some(Ok(frame)) if first_err.is_none() => {
                            if let Err(err) = crate::result::decode_many(&frame, e.count, &mut out)
                            {
                                first_err = Some(err);
                            }
                            if let Ok(buf) = Rc::try_unwrap(frame) {
                                inner.spare.give(buf);
                            }
                        }
                        Some(Err(err)) if first_err.is_none() => first_err = Some(err),
                        _ => {}
                    }
                }
                if chunks.len() > 0 && inner.all_sent() {
                    if let Some(chunk) = chunks.next() {
                        ids.push(inner.submit_chunk(task, chunk));
                    }
                    drop(inner);
                    // Hand it to a worker now: it runs while the parent encodes the next one.
                    drive(&self.inner, None, false);
                    continue;
                }
                if chunks.len() == 0 && decoded == ids.len() {
                    break;
                }
            }
            drive(&self.inner, None, true);
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Submit `items` in chunks; returns the chunk ids and a queue their completions go to.
    pub(crate) fn submit_chunks<A: Value, R>(
        &self,
        task: &Task<A, R>,
        items: &[A],
        chunksize: usize,
    ) -> (Vec<u64>, Watcher) {
        let watcher: Watcher = Rc::new(RefCell::new(VecDeque::new()));
        let mut ids = Vec::new();
        {
            let mut inner = self.inner.borrow_mut();
            for chunk in items.chunks(chunksize.max(1)) {
                let id = inner.submit_chunk(task, chunk);
                inner.watch(id, &watcher);
                ids.push(id);
            }
        }
        drive(&self.inner, None, false);
        (ids, watcher)
    }

    /// Python's `pool.imap_unordered(f, items, chunksize)`: results as their chunks complete.
    pub fn imap_unordered<A: Value, R: Value>(
        &self,
        task: &Task<A, R>,
        items: &[A],
        chunksize: usize,
    ) -> crate::result::ImapUnordered<R> {
        let (ids, watcher) = self.submit_chunks(task, items, chunksize);
        crate::result::ImapUnordered::new(self.inner.clone(), ids.len(), watcher)
    }

    /// Python's `pool.close()`: no new tasks; the queued ones still run.
    pub fn close(&self) {
        let mut inner = self.inner.borrow_mut();
        if inner.state == State::Running {
            inner.state = State::Closed;
        }
    }

    /// Python's `pool.join()`: after `close`, wait until every task is done, tell each worker
    /// to stop, and reap them all. Callbacks run meanwhile.
    pub fn join(&self) -> Result<()> {
        if self.inner.borrow().state == State::Running {
            bail!("join() before close(): the pool could still be given tasks (Python raises ValueError)");
        }
        while self.inner.borrow().unfinished > 0 {
            drive(&self.inner, None, true);
        }
        self.inner.borrow_mut().stop_workers()
    }

    /// Python's `pool.terminate()`: stop the workers now (SIGTERM, then SIGKILL for any that
    /// lingers); every unfinished task fails with [`TaskError::Terminated`].
    pub fn terminate(&self) {
        let ready = {
            let mut inner = self.inner.borrow_mut();
            inner.terminate();
            std::mem::take(&mut inner.ready)
        };
        for cb in ready {
            cb();
        }
    }

    /// Number of worker slots.
    pub fn workers(&self) -> usize {
        self.inner.borrow().opts.workers
    }

    /// The pids of the live workers, slot by slot.
    pub fn worker_pids(&self) -> Vec<i32> {
        self.inner
            .borrow()
            .slots
            .iter()
            .flatten()
            .map(|w| w.child.pid())
            .collect()
    }

    /// Counters: workers started, replaced, retired; tasks ok, failed, requeued.
    pub fn stats(&self) -> Stats {
        self.inner.borrow().stats
    }

    /// When each task ran, on which worker (only with `Options::timeline`).
    pub fn spans(&self) -> Vec<Span> {
        self.inner.borrow().spans.clone()
    }

    /// Do whatever is ready (results, callbacks, dispatch) without waiting.
    pub fn poll_now(&self) {
        drive(&self.inner, None, false);
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
            drive(&self.inner, deadline, true);
        }
    }
}

impl Drop for Pool {
    /// Like leaving Python's `with Pool() as p:` block: terminate. No worker outlives the pool.
    fn drop(&mut self) {
        if let Ok(mut inner) = self.inner.try_borrow_mut() {
            if inner.state != State::Terminated || inner.slots.iter().any(Option::is_some) {
                inner.terminate();
            }
            inner.ready.clear();
        }
    }
}

impl Inner {
    /// Queue a task (or fail it at once: pool closed, foreign handle, argument too large).
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
        let mut e = Entry {
            frame: Vec::new(),
            count,
            outcome: None,
            worker: None,
            callbacks: Vec::new(),
            watchers: Vec::new(),
            orphan: false,
        };
        let fail = if self.state != State::Running {
            Some(TaskError::Closed)
        } else if registry != self.tasks.id() {
            Some(TaskError::NotRegistered(format!("#{func}")))
        } else {
            e.frame = self.spare.take(frame::TASK_HEADER + size_hint);
            frame::begin_task(&mut e.frame, func, id, count);
            encode(&mut e.frame);
            frame::finish_task(&mut e.frame);
            (e.frame.len() > frame::MAX_FRAME).then(|| {
                TaskError::Pool(format!("argument of {} bytes is over 1 GiB", e.frame.len()))
            })
        };
        match fail {
            Some(err) => {
                e.frame = Vec::new();
                e.outcome = Some(Err(err));
                self.stats.tasks_failed += 1;
            }
            None => {
                self.pending.push_back(id);
                self.unfinished += 1;
            }
        }
        self.entries.insert(id, e);
        id
    }

    /// Queue one `map` chunk: all its items encoded into one task frame in a single pass.
    pub(crate) fn submit_chunk<A: Value, R>(&mut self, task: &Task<A, R>, chunk: &[A]) -> u64 {
        // The hint is exact for fixed-width items, a first guess for the others.
        let hint = std::mem::size_of_val(chunk);
        self.submit(task.registry, task.index, chunk.len() as u32, hint, |b| {
            A::encode_all(chunk, b)
        })
    }

    /// Every queued task is with a worker and every frame given to a worker is wholly in its
    /// ring: nothing encoded is waiting on the parent. `map` encodes its next chunk only then.
    fn all_sent(&self) -> bool {
        self.pending.is_empty()
            && self
                .slots
                .iter()
                .flatten()
                .all(|w| w.sent == w.assigned.len())
    }

    /// Send `id` to `watcher` when it completes (now, if it already has).
    pub(crate) fn watch(&mut self, id: u64, watcher: &Watcher) {
        if let Some(e) = self.entries.get_mut(&id) {
            if e.outcome.is_some() {
                watcher.borrow_mut().push_back(id);
            } else {
                e.watchers.push(watcher.clone());
            }
        }
    }

    /// Run `cb` with the outcome when `id` completes (soon after, if it already has).
    pub(crate) fn add_callback(&mut self, id: u64, cb: Callback) {
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        match &e.outcome {
            Some(o) => {
                let o = o.clone();
                self.ready.push(Box::new(move || cb(&o)));
            }
            None => e.callbacks.push(cb),
        }
    }

    /// The handle of `id` was dropped.
    pub(crate) fn release(&mut self, id: u64) {
        if let Some(e) = self.entries.get_mut(&id) {
            if e.outcome.is_some() {
                self.entries.remove(&id);
            } else {
                e.orphan = true;
            }
        }
    }

    fn complete(&mut self, id: u64, outcome: Outcome, worker: Option<i32>) {
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        if e.outcome.is_some() {
            return;
        }
        self.spare.give(std::mem::take(&mut e.frame));
        e.worker = worker;
        for w in e.watchers.drain(..) {
            w.borrow_mut().push_back(id);
        }
        let cbs = std::mem::take(&mut e.callbacks);
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
        e.outcome = Some(outcome);
        let orphan = e.orphan;
        self.unfinished -= 1;
        if orphan {
            self.entries.remove(&id);
        }
    }

    /// Fail every unfinished task (terminate, or a broken pool).
    fn fail_all(&mut self, err: TaskError) {
        self.pending.clear();
        for w in self.slots.iter_mut().flatten() {
            w.assigned.clear();
            w.sent = 0;
            w.send_off = 0;
        }
        let ids: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| e.outcome.is_none())
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            self.complete(id, Err(err.clone()), None);
        }
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        for w in self.slots.iter().flatten() {
            let _ = w.child.signal(Signal::SIGTERM);
        }
        for slot in 0..self.slots.len() {
            if let Some(mut w) = self.slots[slot].take() {
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

    /// After close and all tasks done: a STOP frame to each worker, then reap it.
    fn stop_workers(&mut self) -> Result<()> {
        let mut stop = Vec::new();
        frame::begin_task(&mut stop, frame::STOP, 0, 0);
        frame::finish_task(&mut stop);
        for w in self.slots.iter().flatten() {
            if w.shm.tasks.write_some(&stop) < stop.len() {
                // Cannot happen when idle (its ring is empty); never wait on it anyway.
                let _ = w.child.kill();
            }
        }
        for slot in 0..self.slots.len() {
            if let Some(mut w) = self.slots[slot].take() {
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
                    describe(status, w.child.panic_message())
                };
                self.event_exit(slot, &w.child, &how, None);
            }
        }
        self.state = State::Terminated;
        Ok(())
    }

    fn depth(&self) -> usize {
        if let Some(d) = self.opts.depth {
            return d.max(1);
        }
        match self.avg_task_ms {
            // Unknown yet: one each, as an idle worker pulling from a shared queue would take.
            None => 1,
            Some(ms) => ((DEPTH_WINDOW_MS / ms.max(1e-6)).ceil() as usize).clamp(1, MAX_DEPTH),
        }
    }

    /// Fork a worker into `slot`. `replacing`: the pid of the dead worker it replaces.
    fn spawn_into(&mut self, slot: usize, replacing: Option<i32>) -> Result<()> {
        let shm = Rc::new(WorkerShm::new().context("mmap(MAP_SHARED) for the worker's rings")?);
        let (tasks, bell, shm2) = (self.tasks.clone(), self.bell.clone(), shm.clone());
        let max = self.opts.max_tasks_per_child;
        // The closure runs in the child, on the child's copy of everything captured here.
        let child = common::spawn(format!("pool-worker-{slot}"), move || {
            worker::main(&tasks, &shm2, &bell, max)
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
        self.slots[slot] = Some(Worker {
            child,
            shm,
            assigned: VecDeque::new(),
            sent: 0,
            send_off: 0,
            total: 0,
            incoming: Incoming::default(),
        });
        Ok(())
    }

    /// Results, deaths and dispatch that are ready now; never blocks.
    fn step_nonblocking(&mut self) -> Result<()> {
        self.collect_all()?;
        self.dispatch()?;
        Ok(())
    }

    /// One turn of the event loop: do what is ready; if nothing is, spin briefly, then sleep in
    /// poll(2) on the pidfds and the doorbell until something happens or `deadline`.
    fn step(&mut self, deadline: Option<Instant>) -> Result<()> {
        self.steps += 1;
        let mut progress = self.collect_all()?;
        progress |= self.dispatch()?;
        if progress {
            // Busy pools rarely sleep, so look for deaths now and then without blocking too.
            if self.steps % 256 == 0 {
                self.check_deaths(Some(Duration::ZERO))?;
            }
            return Ok(());
        }
        if self.unfinished == 0 {
            return Ok(());
        }
        if self.slots.iter().all(Option::is_none) {
            // No worker, and none could be forked (dispatch would have): nothing would ever
            // wake a poll on the doorbell alone. Fail what is waiting instead of hanging.
            self.fail_pending(TaskError::Pool(
                "no worker left to run the task (workers kept dying at start)".into(),
            ));
            return Ok(());
        }
        if spin_until(SPIN, || self.news()) {
            self.collect_all()?;
            self.dispatch()?;
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
        self.check_deaths(timeout)?;
        self.collect_all()?;
        self.dispatch()?;
        Ok(())
    }

    /// Anything for the parent to do: a result in a ring, or room for tasks it holds back.
    fn news(&self) -> bool {
        self.slots.iter().flatten().any(|w| {
            w.shm.results.available() > 0 || (w.sent < w.assigned.len() && w.shm.tasks.free() > 0)
        })
    }

    /// Sleep in poll(2) on the doorbell and every pidfd (at most `timeout`; zero: just look),
    /// then handle the workers that exited.
    fn check_deaths(&mut self, timeout: Option<Duration>) -> Result<()> {
        let sleeping = timeout != Some(Duration::ZERO);
        if sleeping {
            for w in self.slots.iter().flatten() {
                w.shm.set_want_space(w.sent < w.assigned.len());
            }
            self.bell.going_to_sleep();
        }
        let dead: Vec<usize> = {
            let live: Vec<usize> = (0..self.slots.len())
                .filter(|&i| self.slots[i].is_some())
                .collect();
            let mut fds = vec![PollFd::new(self.bell.fd(), PollFlags::POLLIN)];
            for &i in &live {
                if let Some(w) = &self.slots[i] {
                    fds.push(PollFd::new(w.child.pidfd(), PollFlags::POLLIN));
                }
            }
            // Look again *after* raising the flag (Dekker): a result published before that is
            // seen here, one published after rings the doorbell.
            if sleeping && self.news() {
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
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(e).context("poll(doorbell, pidfds)"),
                }
                fds[1..]
                    .iter()
                    .zip(&live)
                    .filter(|(f, _)| f.revents().is_some_and(|r| !r.is_empty()))
                    .map(|(_, &i)| i)
                    .collect()
            }
        };
        if sleeping {
            self.bell.woke_up()?;
            for w in self.slots.iter().flatten() {
                w.shm.set_want_space(false);
            }
        }
        for slot in dead {
            self.handle_exit(slot)?;
        }
        Ok(())
    }

    fn collect_all(&mut self) -> Result<bool> {
        let mut progress = false;
        for slot in 0..self.slots.len() {
            progress |= self.collect(slot)?;
        }
        Ok(progress)
    }

    /// Take the complete result frames out of one worker's ring.
    fn collect(&mut self, slot: usize) -> Result<bool> {
        let Some(w) = self.slots[slot].as_mut() else {
            return Ok(false);
        };
        let mut frames = Vec::new();
        let moved = w
            .incoming
            .pull(&w.shm.results, &mut frames, &mut self.spare)
            .with_context(|| format!("worker {}", w.child.pid()))?;
        for f in frames {
            self.deliver(slot, f)?;
        }
        Ok(moved)
    }

    fn deliver(&mut self, slot: usize, frame: Vec<u8>) -> Result<()> {
        let h = frame::parse_result(&frame).map_err(anyhow::Error::msg)?;
        let Some(w) = self.slots[slot].as_mut() else {
            return Ok(());
        };
        if w.assigned.front() != Some(&h.id) || w.sent == 0 {
            bail!(
                "worker {} answered task {} but its next task is {:?}",
                w.child.pid(),
                h.id,
                w.assigned.front()
            );
        }
        w.assigned.pop_front();
        w.sent -= 1;
        let pid = w.child.pid();
        let ms = (h.end_ms - h.start_ms).max(0.0);
        self.avg_task_ms = Some(match self.avg_task_ms {
            None => ms,
            Some(a) => 0.8 * a + 0.2 * ms,
        });
        if self.opts.timeline {
            self.spans.push(Span {
                task: h.id,
                worker: pid,
                start_ms: h.start_ms,
                end_ms: h.end_ms,
                ok: h.status == frame::OK,
            });
        }
        let outcome = if h.status == frame::OK {
            Ok(Rc::new(frame))
        } else {
            Err(TaskError::Raised(
                String::from_utf8_lossy(&frame[RESULT_HEADER..h.len]).into_owned(),
            ))
        };
        self.complete(h.id, outcome, Some(pid));
        self.startup_deaths = 0;
        Ok(())
    }

    /// Hand pending tasks to workers (forking into empty slots if needed) and write what fits.
    fn dispatch(&mut self) -> Result<bool> {
        let depth = self.depth();
        let max = self.opts.max_tasks_per_child;
        while let Some(&id) = self.pending.front() {
            let best = (0..self.slots.len())
                .filter(|&i| {
                    self.slots[i].as_ref().is_some_and(|w| {
                        w.assigned.len() < depth && !max.is_some_and(|m| w.total >= m)
                    })
                })
                .min_by_key(|&i| self.slots[i].as_ref().map_or(0, |w| w.assigned.len()));
            let slot = match best {
                Some(s) => s,
                None => match self.slots.iter().position(Option::is_none) {
                    Some(empty) if self.startup_deaths < STARTUP_DEATHS_LIMIT => {
                        if let Err(e) = self.spawn_into(empty, None) {
                            self.fail_pending(TaskError::Pool(format!("{e:#}")));
                        }
                        continue;
                    }
                    _ => break,
                },
            };
            self.pending.pop_front();
            if let Some(w) = self.slots[slot].as_mut() {
                w.assigned.push_back(id);
                w.total += 1;
            }
        }
        let mut progress = false;
        for slot in 0..self.slots.len() {
            progress |= self.write_unsent(slot);
        }
        Ok(progress)
    }

    fn fail_pending(&mut self, err: TaskError) {
        let ids: Vec<u64> = self.pending.drain(..).collect();
        for id in ids {
            self.complete(id, Err(err.clone()), None);
        }
    }

    /// Copy the frames assigned to `slot` and not yet sent into its task ring, as far as room
    /// allows. Returns true if anything was written.
    fn write_unsent(&mut self, slot: usize) -> bool {
        let Some(w) = self.slots[slot].as_mut() else {
            return false;
        };
        let mut wrote = false;
        while w.sent < w.assigned.len() {
            let Some(e) = self.entries.get(&w.assigned[w.sent]) else {
                // Cannot happen: assigned tasks keep their entry until complete.
                w.assigned.remove(w.sent);
                continue;
            };
            let n = w.shm.tasks.write_some(&e.frame[w.send_off..]);
            wrote |= n > 0;
            w.send_off += n;
            if w.send_off < e.frame.len() {
                break; // ring full: the rest when the worker has made room
            }
            w.sent += 1;
            w.send_off = 0;
        }
        wrote
    }

    /// A worker's pidfd became readable: it exited. Reap it, account for its tasks (see module
    /// doc, steps 1-5) and fork a replacement.
    fn handle_exit(&mut self, slot: usize) -> Result<()> {
        // Step 1: whatever it published before dying is still in the ring.
        self.collect(slot)?;
        let Some(mut w) = self.slots[slot].take() else {
            return Ok(());
        };
        let status = match w.child.try_reap()? {
            Some(s) => s,
            None => {
                // pidfd readable means exited; be safe rather than wait forever.
                w.child.kill()?;
                w.child.join()?
            }
        };
        let pid = w.child.pid();
        let cause = describe(status, w.child.panic_message());
        let now = out::t_ms();
        let mut failed = None;
        // Step 2: a frame cut short.
        if let Some((hdr, got)) = w.incoming.partial() {
            let id = hdr.map(|h| h.id).or_else(|| w.assigned.front().copied());
            if let Some(id) = id {
                w.assigned.retain(|&x| x != id);
                let expected = hdr.map_or(0, |h| h.len);
                failed = Some((
                    id,
                    TaskError::Truncated {
                        pid,
                        got,
                        expected,
                        cause: cause.clone(),
                    },
                ));
            }
        } else if let (Some(&front), Some((running, _))) = (w.assigned.front(), w.shm.running()) {
            // Step 3: the task it had started.
            if running == front && w.sent > 0 {
                w.assigned.pop_front();
                failed = Some((
                    front,
                    TaskError::WorkerDied {
                        pid,
                        cause: cause.clone(),
                    },
                ));
            }
        }
        let started_any = w.shm.running().is_some();
        if let Some((id, err)) = failed.clone() {
            if self.opts.timeline {
                let start = w.shm.running().map_or(now, |(_, s)| s);
                self.spans.push(Span {
                    task: id,
                    worker: pid,
                    start_ms: start,
                    end_ms: now,
                    ok: false,
                });
            }
            self.complete(id, Err(err), Some(pid));
        }
        // Step 4: tasks it never started go back to the front of the queue, in order.
        let requeued = w.assigned.len();
        for &id in w.assigned.iter().rev() {
            self.pending.push_front(id);
        }
        self.stats.tasks_requeued += requeued as u64;
        let retired = status.success() && failed.is_none() && requeued == 0;
        if !retired {
            self.stats.workers_died += 1;
        }
        if !started_any {
            self.startup_deaths += 1;
        }
        self.event_exit(slot, &w.child, &cause, failed.as_ref().map(|f| f.0));
        drop(w);
        // Step 5: a replacement, if there is or may be work for it.
        let wanted = self.state == State::Running || !self.pending.is_empty();
        if wanted && self.startup_deaths < STARTUP_DEATHS_LIMIT {
            if retired {
                self.stats.workers_retired += 1;
            } else {
                self.stats.workers_replaced += 1;
            }
            if let Err(e) = self.spawn_into(slot, Some(pid)) {
                self.fail_pending(TaskError::Pool(format!("{e:#}")));
            }
        } else {
            if retired {
                self.stats.workers_retired += 1;
            }
            if self.startup_deaths >= STARTUP_DEATHS_LIMIT {
                self.fail_pending(TaskError::Pool(format!(
                    "{STARTUP_DEATHS_LIMIT} workers in a row died before running a task (last: {cause})"
                )));
            }
        }
        Ok(())
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

/// The kernel's account of a worker's end, in words.
fn describe(status: ExitStatus, panic: Option<&str>) -> String {
    match (status, panic) {
        (ExitStatus::Exited(common::child::EXIT_PANIC), Some(msg)) => format!("panicked: {msg}"),
        (ExitStatus::Exited(c), _) => format!("exited with code {c}"),
        (ExitStatus::Signaled(Signal::SIGABRT), _) => "killed by SIGABRT (abort)".into(),
        (ExitStatus::Signaled(Signal::SIGSEGV), _) => {
            "killed by SIGSEGV (bad memory access)".into()
        }
        (ExitStatus::Signaled(s), _) => format!("killed by {s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn causes_read_like_the_kernel_said() {
        assert_eq!(
            describe(ExitStatus::Signaled(Signal::SIGKILL), None),
            "killed by SIGKILL"
        );
        assert_eq!(
            describe(ExitStatus::Exited(101), Some("boom at x.rs:1")),
            "panicked: boom at x.rs:1"
        );
        assert_eq!(describe(ExitStatus::Exited(3), None), "exited with code 3");
        assert!(describe(ExitStatus::Signaled(Signal::SIGABRT), None).contains("abort"));
    }

    #[test]
    fn incoming_reassembles_and_reports_a_cut_frame() {
        let ring = Ring::new().unwrap();
        let mut f = Vec::new();
        let at = frame::begin_result(&mut f, 7, 0.0);
        f.extend_from_slice(&[5u8; 100]);
        frame::finish_result(&mut f, at, frame::OK, 1.0);
        let mut inc = Incoming::default();
        let mut done = Vec::new();
        // Arrives in three pieces: part of the header, the rest but 8 bytes, the last 8.
        ring.write_some(&f[..16]);
        inc.pull(&ring, &mut done, &mut Spare::default()).unwrap();
        assert!(done.is_empty());
        assert_eq!(inc.partial().map(|p| p.1), Some(16));
        ring.write_some(&f[16..f.len() - 8]);
        inc.pull(&ring, &mut done, &mut Spare::default()).unwrap();
        let (hdr, got) = inc.partial().unwrap();
        assert_eq!(
            (hdr.unwrap().id, hdr.unwrap().len, got),
            (7, 132, f.len() - 8)
        );
        ring.write_some(&f[f.len() - 8..]);
        inc.pull(&ring, &mut done, &mut Spare::default()).unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].len(), 132);
        assert!(inc.partial().is_none());
    }
}
