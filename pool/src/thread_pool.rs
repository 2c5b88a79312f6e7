//! `concurrent.futures.ThreadPoolExecutor`, small: the other half of `pool futures`.
//!
//! Python's thread pool is N threads of the *same process* taking jobs from one queue
//! (`queue.SimpleQueue`); `submit` puts a job and returns a `Future`. This one is the same
//! shape on std threads: one channel of jobs (behind a mutex, so the N threads share the one
//! receiving end), N threads each looping on "take a job, run it", and a [`ThreadFuture`]
//! per job (a mutex and a condition variable: `result()` sleeps on the condvar, a futex wait,
//! until the job's thread stores the value and notifies).
//!
//! What differs from the process pool ([`crate::Pool`]), and is the point of the demo:
//! - the jobs run in the parent's own process: **the same pid**, another thread id. Nothing is
//!   copied or encoded: a job is a closure, and it may capture anything `Send`;
//! - a **callback runs on the worker thread** that finished the job, right then, as Python's
//!   does (`add_done_callback` on a future already done runs the callback at once, in the
//!   caller). The process pool runs callbacks in the parent, at its next call into the pool;
//! - a thread cannot be killed alone, and a crash (a segfault, an abort) takes the whole
//!   process with it: the isolation the process pool pays for is what this one gives up.
//!
//! A process that has threads must not fork (only the forking thread is copied into the
//! child; `common::spawn` refuses), so `pool futures` runs its process pool first and this
//! one after it, and [`ThreadPoolExecutor::shutdown`] joins every thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use common::trace;

type Job = Box<dyn FnOnce() + Send>;
type DoneCallback<R> = Box<dyn FnOnce(&Result<R, String>) + Send>;

/// Lock, ignoring poisoning: a job's panic is caught before it could poison anything here.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Python's `ThreadPoolExecutor(max_workers)`.
#[derive(Debug)]
pub struct ThreadPoolExecutor {
    jobs: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

struct State<R> {
    outcome: Option<Result<R, String>>,
    callbacks: Vec<DoneCallback<R>>,
}

/// A job's future: `result()`, `done()`, `add_done_callback`.
pub struct ThreadFuture<R> {
    shared: Arc<(Mutex<State<R>>, Condvar)>,
}

impl<R> std::fmt::Debug for ThreadFuture<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadFuture")
            .field("done", &self.done())
            .finish()
    }
}

impl ThreadPoolExecutor {
    /// Start `workers` threads, each waiting for jobs on the shared channel.
    pub fn new(workers: usize) -> Result<ThreadPoolExecutor> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(workers);
        for i in 0..workers {
            let rx = rx.clone();
            // Python names them ThreadPoolExecutor-0_0, -0_1, ...
            let name = format!("ThreadPoolExecutor-0_{i}");
            let handle = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    trace::thread_name(trace::this_thread(), &name);
                    loop {
                        // Hold the lock only to take one job; `recv` sleeps (futex) while the
                        // channel is empty and fails once every sender is gone: shutdown.
                        let job = lock(&rx).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .context("spawn a thread")?;
            threads.push(handle);
        }
        Ok(ThreadPoolExecutor {
            jobs: Some(tx),
            threads,
        })
    }

    /// Python's `executor.submit(fn)`: queue the job, return its future at once.
    pub fn submit<R, F>(&self, f: F) -> ThreadFuture<R>
    where
        R: Clone + Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let shared = Arc::new((
            Mutex::new(State {
                outcome: None,
                callbacks: Vec::new(),
            }),
            Condvar::new(),
        ));
        let mine = shared.clone();
        let job: Job = Box::new(move || {
            // A panicking job fails its future (Python: the exception is stored in it); the
            // thread lives on for the next job.
            let outcome = catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
                p.downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "the job panicked".into())
            });
            let (state, done) = &*mine;
            let callbacks = {
                let mut s = lock(state);
                s.outcome = Some(outcome.clone());
                std::mem::take(&mut s.callbacks)
            };
            done.notify_all();
            // The callbacks run here, on this worker thread, as soon as the job is done (and
            // outside the lock: a callback may look at its future).
            for cb in callbacks {
                cb(&outcome);
            }
        });
        if let Some(tx) = &self.jobs {
            // The receivers live until shutdown, which takes `jobs` first: this cannot fail.
            let _ = tx.send(job);
        }
        ThreadFuture { shared }
    }

    /// Python's `shutdown(wait=True)`: no more jobs; every queued one still runs; then join
    /// every thread.
    pub fn shutdown(&mut self) {
        drop(self.jobs.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for ThreadPoolExecutor {
    /// Like leaving `with ThreadPoolExecutor() as ex:`: shut down and wait.
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl<R: Clone> ThreadFuture<R> {
    /// Python's `future.result()`: sleep until the job is done; its value, or why none.
    pub fn result(&self) -> Result<R, String> {
        let (state, done) = &*self.shared;
        let mut s = lock(state);
        loop {
            if let Some(o) = &s.outcome {
                return o.clone();
            }
            s = done.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl<R> ThreadFuture<R> {
    /// Python's `future.done()`.
    pub fn done(&self) -> bool {
        lock(&self.shared.0).outcome.is_some()
    }
}

impl<R: Clone> ThreadFuture<R> {
    /// Python's `future.add_done_callback(fn)`: `fn` runs on the worker thread that finishes
    /// the job; if the job is already done, right now, in the calling thread.
    pub fn add_done_callback(&self, cb: impl FnOnce(&Result<R, String>) + Send + 'static) {
        let done = {
            let mut s = lock(&self.shared.0);
            match &s.outcome {
                Some(o) => Some(o.clone()),
                None => {
                    s.callbacks.push(Box::new(cb));
                    return;
                }
            }
        };
        if let Some(o) = done {
            cb(&o);
        }
    }
}
