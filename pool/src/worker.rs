//! The worker: the loop each forked pool process runs until it is told to stop (notes point 5:
//! "事件处理完毕后,进程不退出,而是继续等待处理其他事件").
//!
//! ```text
//! loop:
//!     wait for a task frame in my task ring      (spin ~50 us, then sleep on a futex)
//!     STOP frame -> exit 0                       (Python's `None` sentinel)
//!     note "running task N" in shared memory     (so the parent can tell who died doing what)
//!     run the registered function on the payload (a panic here kills this process: see below)
//!     write the result frame into my result ring (waiting for room if it is bigger than the ring)
//!     ring the parent's doorbell if it sleeps
//!     after max_tasks_per_child tasks -> exit 0  (the parent starts a fresh worker)
//! ```
//!
//! A task's `Err` is sent back as a result with status RAISED, and the worker carries on (Python:
//! an exception in the task). A *panic* is not caught here: it unwinds out of this loop into
//! `common::spawn`, which sends the message to the parent through its report pipe and exits 101.
//! After a panic the worker's memory may be half-updated; a fresh process is the safe answer.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

use anyhow::{bail, Result};
use common::{out, SharedBox};

use crate::doorbell::Doorbell;
use crate::frame::{self, RAISED, RESULT_HEADER, TASK_HEADER};
use crate::registry::Tasks;
use crate::ring::{Ring, RING_BYTES};

/// The memory one worker shares with the parent: its two rings and a few words of state.
pub struct WorkerShm {
    /// Parent -> worker: task frames.
    pub tasks: Ring,
    /// Worker -> parent: result frames.
    pub results: Ring,
    /// `u32[0]`: the parent has unsent tasks and wants to hear when there is room.
    /// `u64[0]`: id + 1 of the task running now (0: none yet); `u64[1]`: its start (f64 ms).
    ctl: SharedBox<([AtomicU32; 16], [AtomicU64; 8])>,
}

impl std::fmt::Debug for WorkerShm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerShm")
            .field("running", &self.running())
            .finish()
    }
}

impl WorkerShm {
    /// Map fresh rings (before forking the worker that will use them).
    pub fn new() -> std::io::Result<WorkerShm> {
        Ok(WorkerShm {
            tasks: Ring::new()?,
            results: Ring::new()?,
            ctl: SharedBox::new_zeroed()?,
        })
    }

    /// The task the worker started last, with its start time, if any.
    pub fn running(&self) -> Option<(u64, f64)> {
        match self.ctl.1[0].load(SeqCst) {
            0 => None,
            n => Some((n - 1, f64::from_bits(self.ctl.1[1].load(SeqCst)))),
        }
    }

    fn set_running(&self, id: u64, start_ms: f64) {
        self.ctl.1[1].store(start_ms.to_bits(), SeqCst);
        self.ctl.1[0].store(id + 1, SeqCst);
    }

    /// Parent: ask to be woken when the worker has consumed task bytes (the ring was full).
    pub fn set_want_space(&self, want: bool) {
        self.ctl.0[0].store(u32::from(want), SeqCst);
    }

    fn wants_space(&self) -> bool {
        self.ctl.0[0].load(SeqCst) != 0
    }
}

/// Fault injection for demos and tests of the truncation path: the worker running the current
/// task will SIGKILL itself after `after_bytes` bytes of this task's result frame are in the
/// ring. It stands for any death in the middle of a write (the OOM killer, `kill -9`) at a
/// moment a test can choose; the parent cannot tell the difference. Call it from inside a task.
pub fn die_mid_result(after_bytes: usize) {
    CUT_AFTER.store(after_bytes.max(1), SeqCst);
}

static CUT_AFTER: AtomicUsize = AtomicUsize::new(0);

/// The worker's main loop (runs in the forked child). Returns `Ok` on STOP or after
/// `max_tasks` tasks; `common::spawn` then exits the process with status 0.
pub fn main(tasks: &Tasks, shm: &WorkerShm, bell: &Doorbell, max_tasks: Option<u64>) -> Result<()> {
    let mut header = [0u8; TASK_HEADER];
    let mut payload: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut done = 0u64;
    loop {
        read_exact(shm, bell, &mut header);
        let h = match frame::parse_task(&header) {
            Ok(h) => h,
            Err(e) => bail!("corrupt task frame from the parent: {e}"),
        };
        if h.func == frame::STOP {
            return Ok(());
        }
        payload.resize(frame::padded(h.len) - TASK_HEADER, 0);
        read_exact(shm, bell, &mut payload);

        let start = out::t_ms();
        shm.set_running(h.id, start);
        out.clear();
        let at = frame::begin_result(&mut out, h.id, start);
        let body = &payload[..h.len - TASK_HEADER];
        let status = match tasks.run(h.func, body, h.count, &mut out) {
            Ok(()) => frame::OK,
            Err(msg) => {
                out.truncate(at + RESULT_HEADER);
                out.extend_from_slice(msg.as_bytes());
                RAISED
            }
        };
        if out.len() > frame::MAX_FRAME {
            // Too big for a frame: report it as the task's error rather than send a length
            // the parent must refuse (which would look like a corrupt stream).
            let n = out.len() - at - RESULT_HEADER;
            out.truncate(at + RESULT_HEADER);
            out.extend_from_slice(
                format!("result of {n} bytes is over the 1 GiB frame limit").as_bytes(),
            );
            frame::finish_result(&mut out, at, RAISED, out::t_ms());
        } else {
            frame::finish_result(&mut out, at, status, out::t_ms());
        }
        send(shm, bell, &out);
        done += 1;
        if max_tasks.is_some_and(|m| done >= m) {
            // Retire (max_tasks_per_child): the parent saw `done` results and will not send more.
            return Ok(());
        }
    }
}

/// Fill `dst` (a multiple of 8 bytes) from the task ring, waiting as needed. A frame larger
/// than what is in the ring streams in: each piece consumed makes room for the parent's next.
fn read_exact(shm: &WorkerShm, bell: &Doorbell, dst: &mut [u8]) {
    let mut off = 0;
    while off < dst.len() {
        shm.tasks.wait_for_data();
        let n = shm.tasks.available().min(dst.len() - off);
        shm.tasks.read(&mut dst[off..off + n]);
        off += n;
        if shm.wants_space() {
            bell.ring();
        }
    }
}

/// Write a whole result frame into the result ring, in pieces if it is larger than the ring.
fn send(shm: &WorkerShm, bell: &Doorbell, frame: &[u8]) {
    let cut = CUT_AFTER.swap(0, SeqCst);
    let end = if cut > 0 {
        (cut.min(frame.len()) / 8 * 8).max(8)
    } else {
        frame.len()
    };
    let mut off = 0;
    while off < end {
        let n = shm.results.write_some(&frame[off..end]);
        off += n;
        if n > 0 {
            bell.ring();
        }
        if off < end {
            // Wait for the parent to make room; ask for a good slice of the ring so we do not
            // wake it for every few bytes.
            shm.results.wait_for_space((end - off).min(RING_BYTES / 4));
        }
    }
    if cut > 0 {
        // The injected fault: die with the frame half-written, as a SIGKILL from outside would.
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}
