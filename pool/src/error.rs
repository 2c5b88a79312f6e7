//! Why a task has no value: what `get` returns instead, and what the error callback receives.
//!
//! Python's `AsyncResult.get()` re-raises the task's exception. It has no answer at all for a
//! worker that *died* (SIGKILL, segfault, `os._exit`): `multiprocessing.Pool` replaces the
//! worker but never completes the task, so `get()` without a timeout waits forever;
//! `concurrent.futures.ProcessPoolExecutor` marks itself broken and fails *every* pending task.
//! Here the task that was running in the dead worker fails with the cause the kernel reported
//! (exit code or signal, plus the panic message), and only that task.

use std::fmt;

/// A task's failure.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskError {
    /// The task returned an error (Python: it raised). The worker is fine.
    Raised(String),
    /// The worker died while running this task.
    WorkerDied {
        /// The dead worker's pid.
        pid: i32,
        /// What the kernel said: `killed by SIGKILL`, `panicked: ...`, `exited with code 3 ...`.
        cause: String,
    },
    /// The worker died after removing the task from the task queue and before it could note
    /// the task in its slot (see `Pool`'s `settle_take`).
    DiedTaking {
        /// The dead worker's pid.
        pid: i32,
        /// What the kernel said.
        cause: String,
    },
    /// The worker died half-way through sending the result: the frame's length said `expected`
    /// bytes, only `got` arrived. Never delivered as a (short) good value.
    Truncated {
        /// The dead worker's pid.
        pid: i32,
        /// Bytes of the result frame that arrived.
        got: usize,
        /// Bytes its header announced.
        expected: usize,
        /// How the worker died.
        cause: String,
    },
    /// `get_timeout` ran out first. The task goes on; ask again later.
    Timeout,
    /// The pool was terminated (or dropped) before the task finished.
    Terminated,
    /// Submitted after `close()` (Python: `ValueError: Pool not running`).
    Closed,
    /// The task handle belongs to another pool's task list (see `registry`).
    NotRegistered(String),
    /// The result bytes did not decode as the registered result type.
    Decode(String),
    /// The pool itself failed (a system call, a fork).
    Pool(String),
}

impl TaskError {
    /// A short machine-readable kind: `raised`, `worker_died`, `truncated`, `timeout`...
    pub fn kind(&self) -> &'static str {
        match self {
            TaskError::Raised(_) => "raised",
            TaskError::WorkerDied { .. } | TaskError::DiedTaking { .. } => "worker_died",
            TaskError::Truncated { .. } => "truncated",
            TaskError::Timeout => "timeout",
            TaskError::Terminated => "terminated",
            TaskError::Closed => "closed",
            TaskError::NotRegistered(_) => "not_registered",
            TaskError::Decode(_) => "decode",
            TaskError::Pool(_) => "pool",
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Raised(m) => write!(f, "task raised: {m}"),
            TaskError::WorkerDied { pid, cause } => {
                write!(f, "worker {pid} {cause} while running the task")
            }
            TaskError::DiedTaking { pid, cause } => {
                write!(
                    f,
                    "worker {pid} {cause} while taking the task from the queue"
                )
            }
            TaskError::Truncated {
                pid,
                got,
                expected,
                cause,
            } => write!(
                f,
                "truncated result: {got} of {expected} bytes arrived, then worker {pid} {cause}"
            ),
            TaskError::Timeout => write!(f, "timed out waiting for the result"),
            TaskError::Terminated => write!(f, "the pool was terminated before the task finished"),
            TaskError::Closed => write!(f, "the pool is closed: no new tasks"),
            TaskError::NotRegistered(n) => write!(
                f,
                "task {n} is not in this pool's task list: its handle comes from another list, one the workers never had (register every function before Pool::new)"
            ),
            TaskError::Decode(m) => write!(f, "result did not decode: {m}"),
            TaskError::Pool(m) => write!(f, "pool failure: {m}"),
        }
    }
}

impl std::error::Error for TaskError {}
