//! How a worker wakes the parent: a flag in shared memory and, only when needed, one byte down a
//! pipe.
//!
//! The parent waits for two kinds of news at once: "a worker sent a result" and "a worker died".
//! Death arrives as a readable *pidfd* (`pidfd_open(2)`: the kernel makes it readable when the
//! process exits, whatever killed it). Results arrive in a shared-memory ring, and a futex in
//! shared memory cannot be handed to `poll(2)` together with pidfds. So the parent, before it
//! sleeps, raises `parent_sleeping` and polls the pidfds *plus the read end of this pipe*; a
//! worker that has just published a result looks at the flag and, if it is up, writes one byte
//! (at most one per sleep: `rung` remembers it was done). Dekker's pattern again (store the
//! position, then read the flag; store the flag, then read the position) guarantees the parent
//! either sees the result before sleeping or gets the byte.
//!
//! While the parent is busy (spinning, or handling other results) nobody writes to the pipe:
//! the steady state costs no system call.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use anyhow::{Context, Result};
use common::SharedBox;
use nix::fcntl::OFlag;

const PARENT_SLEEPING: usize = 0;
const RUNG: usize = 1;

/// The parent's wake-up pipe and its two flags (shared by the parent and every worker).
pub struct Doorbell {
    flags: SharedBox<[AtomicU32; 16]>,
    read: std::fs::File,
    write: std::fs::File,
}

impl std::fmt::Debug for Doorbell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Doorbell").finish()
    }
}

impl Doorbell {
    /// Create it before forking any worker. Both ends are non-blocking: a worker never waits
    /// to ring (a full pipe already means "wake up"), and the parent drains without blocking.
    pub fn new() -> Result<Doorbell> {
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).context("pipe2")?;
        Ok(Doorbell {
            flags: SharedBox::new_zeroed().context("mmap(MAP_SHARED)")?,
            read: std::fs::File::from(r),
            write: std::fs::File::from(w),
        })
    }

    /// Worker: the parent may be asleep; wake it if so. Call after publishing something.
    pub fn ring(&self) {
        if self.flags[PARENT_SLEEPING].load(SeqCst) != 0 && self.flags[RUNG].swap(1, SeqCst) == 0 {
            // EAGAIN (pipe full) means bytes are already waiting: the parent will wake anyway.
            let _ = (&self.write).write(&[1]);
        }
    }

    /// Parent: announce that it is about to sleep. Check for work *after* this, then poll.
    pub fn going_to_sleep(&self) {
        self.flags[PARENT_SLEEPING].store(1, SeqCst);
    }

    /// Parent: awake again. Clear the flags and empty the pipe.
    pub fn woke_up(&self) -> Result<()> {
        self.flags[PARENT_SLEEPING].store(0, SeqCst);
        self.flags[RUNG].store(0, SeqCst);
        let mut buf = [0u8; 64];
        loop {
            match (&self.read).read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("read(doorbell)"),
            }
        }
    }

    /// The end the parent polls.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}
