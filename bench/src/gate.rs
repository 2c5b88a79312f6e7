//! The start gun of the one-way figures, and the reaping of partners.
//!
//! A throughput figure must not include fork: the partner is forked first and blocks reading a
//! one-byte "go" pipe; the parent starts its clock and writes the byte; the clock stops when the
//! last message has arrived. The single wakeup this costs (tens of microseconds) is lost in runs
//! of a few hundred milliseconds. A `Barrier` in shared memory would do as well; a pipe is the
//! simpler object and needs no shared mapping.

use std::fs::File;
use std::io::{Read, Write};

use anyhow::{bail, Context, Result};
use common::Child;

/// A one-shot "go" signal across fork: both processes hold both ends of one pipe(2).
#[derive(Debug)]
pub struct Gate {
    r: File,
    w: File,
}

impl Gate {
    /// A new closed gate. Create it before forking the waiter.
    pub fn new() -> Result<Gate> {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2 (gate)")?;
        Ok(Gate {
            r: File::from(r),
            w: File::from(w),
        })
    }

    /// In the waiting process: block in read(2) until the gate opens.
    pub fn wait(&self) -> Result<()> {
        let mut b = [0u8; 1];
        (&self.r).read_exact(&mut b).context("read (gate)")
    }

    /// Let the waiter go.
    pub fn open(&self) -> Result<()> {
        (&self.w).write_all(b"g").context("write (gate)")
    }
}

/// Join a partner process and turn anything but a clean exit into an error. (If this is never
/// reached, because an error returned early, dropping the `Child` kills and reaps it.)
pub fn reap(mut child: Child) -> Result<()> {
    let status = child.join()?;
    if !status.success() {
        let why = child.panic_message().unwrap_or("see its error line above");
        bail!("partner {} {status}: {why}", child.name());
    }
    Ok(())
}
