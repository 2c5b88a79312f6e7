//! The handle `apply_async` and `submit` return: Python's `AsyncResult` and concurrent.futures'
//! `Future` are one idea (a result that will exist later), so here they are one type answering
//! to both sets of names.
//!
//! | multiprocessing | concurrent.futures | here |
//! |---|---|---|
//! | `r.get()` | `f.result()` | `get()` / `result()` |
//! | `r.get(timeout)` | `f.result(timeout)` | `get_timeout(d)` / `result_timeout(d)` |
//! | `r.ready()` | `f.done()` | `ready()` / `done()` |
//! | `r.successful()` | `f.exception() is None` | `successful()` |
//! | `callback=`, `error_callback=` | `f.add_done_callback(fn)` | `Pool::apply_async_with`, `add_done_callback` |
//! | - | `as_completed(fs)` | [`as_completed`] |
//!
//! The notes (004, 异步) warn that a caller who learns of completion by checking a status "every
//! so often" wastes its time, and that notification or a callback is the efficient way. `get`
//! and `as_completed` are notification: the parent sleeps in `poll(2)` until a worker rings or
//! dies; it never wakes up just to look.
//!
//! This is step 3 of a task's journey (step 1: `Pool::apply_async` puts it on the task queue;
//! step 2: `worker::main` takes it, runs it and puts the result on the result queue): `get`
//! waits in the pool's loop until the result is read off the queue, then decodes its bytes.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{json, trace};

use crate::codec::Value;
use crate::error::TaskError;
use crate::pool::{wait_then_work, work_ready, Inner, Outcome, Watcher};

/// A task's future result. Dropping it does not cancel the task (Python does not either).
pub struct AsyncResult<R> {
    inner: Rc<RefCell<Inner>>,
    id: u64,
    _r: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AsyncResult(task {})", self.id)
    }
}

/// Decode the single value of a result.
pub(crate) fn decode_one<R: Value>(data: &[u8]) -> Result<R, TaskError> {
    crate::codec::from_bytes(data).map_err(|e| TaskError::Decode(e.0))
}

/// Decode the `count` values of a chunk's result, appending them to `out`.
pub(crate) fn decode_many<R: Value>(
    data: &[u8],
    count: u32,
    out: &mut Vec<R>,
) -> Result<(), TaskError> {
    R::decode_into(&mut &data[..], count as usize, out).map_err(|e| TaskError::Decode(e.0))
}

fn typed<R: Value>(o: &Outcome) -> Result<R, TaskError> {
    match o {
        Ok(frame) => decode_one(frame),
        Err(e) => Err(e.clone()),
    }
}

impl<R: Value> AsyncResult<R> {
    pub(crate) fn new(inner: Rc<RefCell<Inner>>, id: u64) -> Self {
        AsyncResult {
            inner,
            id,
            _r: PhantomData,
        }
    }

    /// The task's number in its pool (0, 1, 2... in submission order).
    pub fn id(&self) -> u64 {
        self.id
    }

    fn outcome(&self) -> Option<Result<R, TaskError>> {
        let inner = self.inner.borrow();
        match inner.submitted.get(&self.id) {
            Some(t) => t.outcome.as_ref().map(typed),
            None => Some(Err(TaskError::Pool("task forgotten by the pool".into()))),
        }
    }

    /// Wait for the outcome: each turn of the loop does the pool's pending work (results,
    /// deaths, callbacks), and sleeps in the kernel only when there is none.
    fn wait_until(&self, deadline: Option<Instant>) -> Result<R, TaskError> {
        // In a --trace, the time the parent spends here is a "get" slice on its track.
        let _span = (trace::enabled() && self.outcome().is_none()).then(|| {
            trace::Span::begin(
                format!("get task {}", self.id),
                "wait",
                trace::this_thread(),
            )
            .with_args(json!({"task": self.id}))
        });
        loop {
            if let Some(r) = self.outcome() {
                return r;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(TaskError::Timeout);
            }
            wait_then_work(&self.inner, deadline);
        }
    }

    /// Python's `get()`: block until the task is done; its value or why there is none. Never
    /// hangs on a dead worker: that task fails with the cause.
    pub fn get(&self) -> Result<R, TaskError> {
        self.wait_until(None)
    }

    /// Python's `get(timeout)`: as `get`, but [`TaskError::Timeout`] after `timeout` (the task
    /// goes on; a later `get` can still have its value).
    pub fn get_timeout(&self, timeout: Duration) -> Result<R, TaskError> {
        self.wait_until(Some(Instant::now() + timeout))
    }

    /// Python's `ready()`: done (either way)? Handles whatever results are waiting first, so
    /// the answer is current; never blocks.
    pub fn ready(&self) -> bool {
        work_ready(&self.inner);
        self.outcome().is_some()
    }

    /// Python's `successful()`: done and not failed (`None` while running; Python raises).
    pub fn successful(&self) -> Option<bool> {
        if !self.ready() {
            return None;
        }
        let inner = self.inner.borrow();
        inner
            .submitted
            .get(&self.id)
            .and_then(|t| t.outcome.as_ref())
            .map(Result::is_ok)
    }

    /// Python's `wait(timeout)`: block until done or `timeout`, without taking the value.
    /// Returns whether the task is done.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if self.outcome().is_some() {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            wait_then_work(&self.inner, deadline);
        }
    }

    /// The pid of the worker that ran the task (or died running it), once done.
    pub fn worker_pid(&self) -> Option<i32> {
        self.inner
            .borrow()
            .submitted
            .get(&self.id)
            .and_then(|t| t.worker)
    }

    /// When the task finished (ms since the demo started), as the worker's clock said, once
    /// the parent has read its result (or seen its worker die).
    pub fn finished_ms(&self) -> Option<f64> {
        self.inner
            .borrow()
            .submitted
            .get(&self.id)
            .and_then(|t| t.finished_ms)
    }

    /// Run `f` in the parent with the outcome when the task completes (at once, during the next
    /// call into the pool, if it already has).
    pub fn on_done(&self, f: impl FnOnce(Result<R, TaskError>) + 'static) {
        self.inner
            .borrow_mut()
            .add_callback(self.id, Box::new(move |o| f(typed(o))));
    }

    /// concurrent.futures' `result()`.
    pub fn result(&self) -> Result<R, TaskError> {
        self.get()
    }

    /// concurrent.futures' `result(timeout)`.
    pub fn result_timeout(&self, timeout: Duration) -> Result<R, TaskError> {
        self.get_timeout(timeout)
    }

    /// concurrent.futures' `done()`.
    pub fn done(&self) -> bool {
        self.ready()
    }

    /// concurrent.futures' `add_done_callback(fn)`.
    pub fn add_done_callback(&self, f: impl FnOnce(Result<R, TaskError>) + 'static) {
        self.on_done(f);
    }
}

impl<R> Drop for AsyncResult<R> {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.inner.try_borrow_mut() {
            inner.release(self.id);
        }
    }
}

/// concurrent.futures' `as_completed(fs)`: the futures in the order they complete, blocking
/// (in the kernel) until the next one does.
pub fn as_completed<R: Value>(futures: &[AsyncResult<R>]) -> AsCompleted<'_, R> {
    let watcher: Watcher = Rc::new(RefCell::new(VecDeque::new()));
    if let Some(first) = futures.first() {
        let mut inner = first.inner.borrow_mut();
        for f in futures {
            inner.watch(f.id, &watcher);
        }
    }
    AsCompleted {
        futures,
        watcher,
        left: futures.len(),
    }
}

/// Iterator returned by [`as_completed`].
pub struct AsCompleted<'a, R> {
    futures: &'a [AsyncResult<R>],
    watcher: Watcher,
    left: usize,
}

impl<R> std::fmt::Debug for AsCompleted<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AsCompleted({} left)", self.left)
    }
}

impl<'a, R: Value> Iterator for AsCompleted<'a, R> {
    type Item = &'a AsyncResult<R>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        loop {
            let next = self.watcher.borrow_mut().pop_front();
            if let Some(id) = next {
                self.left -= 1;
                return self.futures.iter().find(|f| f.id == id);
            }
            wait_then_work(&self.futures[0].inner, None);
        }
    }
}

/// Iterator returned by `Pool::imap_unordered`: each item's result, chunk by chunk, in the
/// order the chunks complete. A failed chunk yields its error once per item.
pub struct ImapUnordered<R> {
    inner: Rc<RefCell<Inner>>,
    left: usize,
    watcher: Watcher,
    buffered: VecDeque<Result<R, TaskError>>,
}

impl<R> std::fmt::Debug for ImapUnordered<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ImapUnordered({} chunks left)", self.left)
    }
}

impl<R: Value> ImapUnordered<R> {
    pub(crate) fn new(inner: Rc<RefCell<Inner>>, chunks: usize, watcher: Watcher) -> Self {
        ImapUnordered {
            inner,
            left: chunks,
            watcher,
            buffered: VecDeque::new(),
        }
    }
}

impl<R: Value> Iterator for ImapUnordered<R> {
    type Item = Result<R, TaskError>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.buffered.pop_front() {
                return Some(r);
            }
            if self.left == 0 {
                return None;
            }
            let next = self.watcher.borrow_mut().pop_front();
            match next {
                Some(id) => {
                    self.left -= 1;
                    let t = self.inner.borrow_mut().submitted.remove(&id);
                    if let Some(t) = t {
                        match t.outcome {
                            Some(Ok(data)) => {
                                let mut v = Vec::new();
                                match decode_many::<R>(&data, t.count, &mut v) {
                                    Ok(()) => self.buffered.extend(v.into_iter().map(Ok)),
                                    Err(err) => {
                                        self.buffered.extend((0..t.count).map(|_| Err(err.clone())))
                                    }
                                }
                            }
                            Some(Err(err)) => {
                                self.buffered.extend((0..t.count).map(|_| Err(err.clone())))
                            }
                            None => {}
                        }
                    }
                }
                None => wait_then_work(&self.inner, None),
            }
        }
    }
}
