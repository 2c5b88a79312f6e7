//! A gate: a pipe that one process blocks on (read) until another opens it (write, or close).
//!
//! The demos use gates to make what they show *certain*: a child that must still be running
//! when the parent looks at it waits at a gate the parent opens later. The waiting is read(2)
//! on an empty pipe, in the kernel; a sleep would only make the outcome likely.
//!
//! fd bookkeeping, the classic trap: after fork *both* processes hold *both* ends. A reader
//! waiting for EOF only gets it when *every* write end is closed, including the copy its own
//! process inherited. So a process that only waits closes its copy of the write end
//! ([`Gate::keep_read_end`]), and the opener keeps the only write end.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{Context, Result};

/// Both ends of a pipe used as a one-shot signal.
pub struct Gate {
    read: Option<std::fs::File>,
    write: Option<std::fs::File>,
}

impl Gate {
    /// pipe(2), with O_CLOEXEC (an exec'd program would not inherit the ends).
    pub fn new() -> Result<Gate> {
        let (r, w): (OwnedFd, OwnedFd) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
        Ok(Gate {
            read: Some(r.into()),
            write: Some(w.into()),
        })
    }

    /// In the waiting process: close this process's copy of the write end, so that EOF comes
    /// once the opener's copy is closed (or the opener dies).
    pub fn keep_read_end(&mut self) {
        self.write = None;
    }

    /// In the opening process: close this process's copy of the read end (it never reads).
    pub fn keep_write_end(&mut self) {
        self.read = None;
    }

    /// Block until the gate opens: one byte arrives (returns it) or every writer is gone
    /// (`None`, EOF).
    pub fn wait(&mut self) -> Result<Option<u8>> {
        let r = self
            .read
            .as_mut()
            .context("gate: read end already closed")?;
        let mut b = [0u8; 1];
        match r.read(&mut b).context("read(gate)")? {
            0 => Ok(None),
            _ => Ok(Some(b[0])),
        }
    }

    /// Open the gate with one byte.
    pub fn open(&mut self, byte: u8) -> Result<()> {
        let w = self
            .write
            .as_mut()
            .context("gate: write end already closed")?;
        w.write_all(&[byte]).context("write(gate)")
    }

    /// Close our write end: a waiter whose process holds no other copy reads EOF.
    pub fn close_write(&mut self) {
        self.write = None;
    }

    /// Send a 4-byte number (a pid, say) through the gate.
    pub fn send_i32(&mut self, value: i32) -> Result<()> {
        let w = self
            .write
            .as_mut()
            .context("gate: write end already closed")?;
        w.write_all(&value.to_le_bytes()).context("write(gate)")
    }

    /// Receive a 4-byte number; `None` if the writer went away first.
    pub fn recv_i32(&mut self) -> Result<Option<i32>> {
        let r = self
            .read
            .as_mut()
            .context("gate: read end already closed")?;
        let mut b = [0u8; 4];
        match r.read_exact(&mut b) {
            Ok(()) => Ok(Some(i32::from_le_bytes(b))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e).context("read(gate)"),
        }
    }

    /// The raw read fd, for diagnostics.
    pub fn read_fd(&self) -> Option<i32> {
        self.read.as_ref().map(|f| f.as_raw_fd())
    }
}
