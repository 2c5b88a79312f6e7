//! Step 1: `Connection` and `pipe()`, Python's `multiprocessing.Pipe`, done the way CPython does
//! it. This is what every demo uses by default.
//!
//! ```text
//! Python                                   here
//! a, b = Pipe()            # duplex        let (a, b) = pipe(true)?;      // socketpair(2)
//! r, w = Pipe(False)       # one-way       let (r, w) = pipe(false)?;     // pipe(2)
//! w.send_bytes(b"hi")                      w.send(b"hi")?;
//! r.recv_bytes()                           r.recv()?                      // -> Vec<u8>
//! r.recv_bytes_into(buf)                   r.recv_into(&mut buf)?         // reuses buf
//! w.send("hello! Tom")     # pickled       w.send_obj(&"hello! Tom")?;    // JSON
//! r.recv()                 # unpickled     let s: String = r.recv_obj()?;
//! r.poll(0.5)                              r.poll(Some(Duration::from_millis(500)))?
//! r.close()                                r.close()   (or just drop it)
//! EOFError                                 Err(ConnError::Eof)
//! BrokenPipeError                          Err(ConnError::BrokenPipe)
//! ```
//!
//! ## Which kernel object
//! - `pipe(true)` is **socketpair(AF_UNIX, SOCK_STREAM)**, exactly what CPython does on Unix: two
//!   connected sockets, each readable and writable. A pipe(2) cannot do that: it has one read end
//!   and one write end, period.
//! - `pipe(false)` is **pipe(2)**: the first `Connection` can only `recv`, the second only `send`
//!   (Python returns them in the same order, `r, w`). The wrong call is [`ConnError::WrongEnd`]
//!   (Python: `OSError: connection is read-only`).
//!
//! Both are created with `O_CLOEXEC`/`SOCK_CLOEXEC`: a program started with exec(2) would not
//! inherit them. That does not matter to fork, which copies every fd whatever the flag: that copy
//! is how a child gets its end (the notes: the pipe must exist *before* the children).
//!
//! ## One message in, one message out
//! Each message is a frame, a 4-byte length then the bytes ([`crate::frame`] describes it and
//! does the I/O). `send` is one write(2) for a message of up to 16 KiB, so a small message from
//! one of several children sharing an end arrives whole; `recv` reads the header, then the
//! payload. Nothing is buffered in user space: every byte this `Connection` reads belongs to the
//! message it returns, so a fork can never hand the same unread bytes to two processes.
//! [`crate::tuned`] is step 2, which buffers to save system calls, and says what that costs.
//!
//! ## End of stream
//! `recv` returns [`ConnError::Eof`] when the other end is closed **in every process that had a
//! copy** and everything sent has been read: that is when read(2) returns 0. One forgotten copy
//! (the parent's own write end, a child's inherited copy of the parent's end) and EOF never comes:
//! `simplex --forget-close` shows it. Sending to an end nobody holds any more fails with EPIPE,
//! reported as [`ConnError::BrokenPipe`] (Rust ignores SIGPIPE, so no signal kills us).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::frame::{self, os, ConnError};

/// What a `Connection` may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// One end of a socketpair: send and recv.
    Both,
    /// The read end of a pipe(2).
    Read,
    /// The write end of a pipe(2).
    Write,
}

/// One end of a [`pipe`]: Python's `multiprocessing.connection.Connection`.
///
/// Every method takes `&self`: the kernel holds all the state (the bytes in flight), and several
/// processes holding copies of one end (children after fork) simply use the same fd.
#[derive(Debug)]
pub struct Connection {
    fd: OwnedFd,
    dir: Dir,
}

/// Python's `Pipe(duplex)`. `duplex = true`: a connected socketpair, both ends read and write.
/// `duplex = false`: a pipe(2); the **first** can only `recv`, the **second** only `send`.
///
/// Create it *before* forking: each child inherits both ends and should close the one it does
/// not use (see the demos for why each close matters).
pub fn pipe(duplex: bool) -> Result<(Connection, Connection), ConnError> {
    if duplex {
        // std's UnixStream::pair is socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC): a safe
        // wrapper, so no `unsafe`. Only the fds are kept.
        let (a, b) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| os("socketpair")(Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
        Ok((
            Connection::new(OwnedFd::from(a), Dir::Both),
            Connection::new(OwnedFd::from(b), Dir::Both),
        ))
    } else {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(os("pipe2"))?;
        Ok((
            Connection::new(r, Dir::Read),
            Connection::new(w, Dir::Write),
        ))
    }
}

impl Connection {
    pub(crate) fn new(fd: OwnedFd, dir: Dir) -> Connection {
        Connection { fd, dir }
    }

    /// The fd and what it may do, for step 2 to wrap (`TunedConnection::from`).
    pub(crate) fn into_parts(self) -> (OwnedFd, Dir) {
        (self.fd, self.dir)
    }

    /// Python's `readable`: `recv` is allowed.
    pub fn readable(&self) -> bool {
        self.dir != Dir::Write
    }

    /// Python's `writable`: `send` is allowed.
    pub fn writable(&self) -> bool {
        self.dir != Dir::Read
    }

    /// Python's `fileno()`.
    pub fn fileno(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Python's `close()`: close this process's copy of the fd. The other side sees EOF only when
    /// *every* process has closed its copy. Dropping the `Connection` does the same.
    pub fn close(self) {
        drop(self);
    }

    /// Python's `send_bytes`: send one message (one write(2) up to 16 KiB, see [`frame`]).
    /// Blocks while the kernel buffer is full (a pipe holds 64 KiB by default).
    pub fn send(&self, payload: &[u8]) -> Result<(), ConnError> {
        if !self.writable() {
            return Err(ConnError::WrongEnd(
                "send on the read end of a one-way pipe (Python: connection is read-only)",
            ));
        }
        frame::write_frame(self.fd.as_fd(), payload)
    }

    /// Python's `recv_bytes`: block until one whole message has arrived and return it.
    /// [`ConnError::Eof`] once the other end is closed everywhere and everything was read.
    pub fn recv(&self) -> Result<Vec<u8>, ConnError> {
        let mut out = Vec::new();
        self.recv_into(&mut out)?;
        Ok(out)
    }

    /// Python's `recv_bytes_into`: like [`recv`](Self::recv), but the message replaces the
    /// contents of `out`, reusing its allocation. Returns the message length.
    pub fn recv_into(&self, out: &mut Vec<u8>) -> Result<usize, ConnError> {
        if !self.readable() {
            return Err(ConnError::WrongEnd(
                "recv on the write end of a one-way pipe (Python: connection is write-only)",
            ));
        }
        frame::read_frame(self.fd.as_fd(), out)
    }

    /// Python's `send(obj)`: the object as JSON, in one message.
    pub fn send_obj<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), ConnError> {
        self.send(&frame::encode(value)?)
    }

    /// Python's `recv()`: one message, decoded from JSON.
    pub fn recv_obj<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConnError> {
        frame::decode(&self.recv()?)
    }

    /// Python's `poll(timeout)`: is there something to `recv` (a message, or EOF), waiting at most
    /// `timeout` (`None`: forever)? Blocks in poll(2), not in a loop.
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool, ConnError> {
        if !self.readable() {
            return Err(ConnError::WrongEnd(
                "poll on the write end of a one-way pipe",
            ));
        }
        poll_readable(self.fd.as_fd(), timeout)
    }
}

/// poll(2) for POLLIN on `fd` for at most `timeout` (`None`: forever); true if a read would not
/// block (data, or EOF: POLLHUP). A signal (EINTR) restarts the wait with the time left.
pub(crate) fn poll_readable(
    fd: BorrowedFd<'_>,
    timeout: Option<Duration>,
) -> Result<bool, ConnError> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let ms = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now()).as_millis();
                PollTimeout::try_from(left.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, ms) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(os("poll")(e)),
        }
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl crate::Endpoint for Connection {
    fn send(&self, payload: &[u8]) -> Result<(), ConnError> {
        Connection::send(self, payload)
    }
    fn recv_into(&mut self, out: &mut Vec<u8>) -> Result<usize, ConnError> {
        Connection::recv_into(self, out)
    }
}

#[cfg(test)]
mod tests {
    //! Single-process tests (cargo runs tests on threads, and `common::spawn` refuses to fork a
    //! multi-threaded process): both ends live here, large transfers use a thread.
    use super::*;

    #[test]
    fn duplex_both_ways_and_eof() {
        let (a, b) = pipe(true).unwrap();
        a.send(b"ping").unwrap();
        assert_eq!(b.recv().unwrap(), b"ping");
        b.send(b"pong").unwrap();
        assert_eq!(a.recv().unwrap(), b"pong");
        drop(b);
        assert!(a.recv().unwrap_err().is_eof());
        assert!(matches!(a.send(b"x"), Err(ConnError::BrokenPipe)));
    }

    #[test]
    fn one_way_ends_refuse_the_wrong_call() {
        let (r, w) = pipe(false).unwrap();
        assert!(r.readable() && !r.writable() && w.writable() && !w.readable());
        assert!(matches!(r.send(b"x"), Err(ConnError::WrongEnd(_))));
        assert!(matches!(w.recv(), Err(ConnError::WrongEnd(_))));
        w.send(b"").unwrap();
        w.send(b"after an empty one").unwrap();
        assert_eq!(r.recv().unwrap(), b"");
        assert_eq!(r.recv().unwrap(), b"after an empty one");
        w.close();
        assert!(r.recv().unwrap_err().is_eof());
        // EOF again: it is a state, not an event.
        assert!(r.recv().unwrap_err().is_eof());
    }

    #[test]
    fn large_and_small_mixed_across_a_thread() {
        let (a, b) = pipe(true).unwrap();
        let sizes = [0usize, 1, 4, 4092, 16_384, 16_385, 65_537, 1 << 20, 2];
        let writer = std::thread::spawn(move || {
            for (k, &n) in sizes.iter().enumerate() {
                let msg: Vec<u8> = (0..n).map(|i| (i * 31 + k) as u8).collect();
                b.send(&msg).unwrap();
            }
        });
        let mut buf = Vec::new();
        for (k, &n) in sizes.iter().enumerate() {
            assert_eq!(a.recv_into(&mut buf).unwrap(), n);
            assert!(buf
                .iter()
                .enumerate()
                .all(|(i, &x)| x == (i * 31 + k) as u8));
        }
        writer.join().unwrap();
        assert!(a.recv().unwrap_err().is_eof());
    }

    #[test]
    fn frames_of_at_most_pipe_buf_never_mix_with_several_writers() {
        // One write(2) per frame, and a pipe write of at most PIPE_BUF bytes is atomic: four
        // writers on one end, blocking on a full pipe again and again, still deliver whole
        // frames. (Threads here; the notes' children share the end the same way after fork.)
        let (r, w) = pipe(false).unwrap();
        const PAYLOAD: usize = 4096 - crate::frame::HEADER;
        std::thread::scope(|scope| {
            for writer in 0..4u8 {
                let w = &w;
                scope.spawn(move || {
                    for _ in 0..100 {
                        w.send(&[writer; PAYLOAD]).unwrap();
                    }
                });
            }
            let mut per_writer = [0u32; 4];
            let mut buf = Vec::new();
            for _ in 0..400 {
                assert_eq!(r.recv_into(&mut buf).unwrap(), PAYLOAD);
                let writer = buf[0];
                assert!(
                    buf.iter().all(|&b| b == writer),
                    "a frame mixed two writers"
                );
                per_writer[usize::from(writer)] += 1;
            }
            assert_eq!(per_writer, [100; 4]);
        });
    }

    #[test]
    fn typed_messages_round_trip() {
        let (r, w) = pipe(false).unwrap();
        w.send_obj("hello! Tom").unwrap();
        w.send_obj(&(2u32, 10u32)).unwrap();
        assert_eq!(r.recv_obj::<String>().unwrap(), "hello! Tom");
        assert_eq!(r.recv_obj::<(u32, u32)>().unwrap(), (2, 10));
        w.send(b"not json").unwrap();
        assert!(matches!(r.recv_obj::<u32>(), Err(ConnError::Decode(_))));
    }

    #[test]
    fn poll_sees_data_and_eof_and_times_out() {
        let (r, w) = pipe(false).unwrap();
        assert!(!r.poll(Some(Duration::from_millis(10))).unwrap());
        w.send(b"a").unwrap();
        assert!(r.poll(Some(Duration::ZERO)).unwrap());
        assert_eq!(r.recv().unwrap(), b"a");
        assert!(!r.poll(Some(Duration::ZERO)).unwrap());
        drop(w);
        assert!(r.poll(None).unwrap());
        assert!(r.recv().unwrap_err().is_eof());
    }
}
