//! `Connection` and `pipe()`: Python's `multiprocessing.Pipe`, on the kernel objects it really uses.
//!
//! ```text
//! Python                                   here
//! a, b = Pipe()            # duplex        let (a, b) = pipe(true)?;      // socketpair(2)
//! r, w = Pipe(False)       # one-way       let (r, w) = pipe(false)?;     // pipe(2)
//! w.send_bytes(b"hi")                      w.send(b"hi")?;
//! r.recv_bytes()                           r.recv()?                      // -> Vec<u8>
//! r.recv_bytes_into(buf)                   r.recv_into(&mut buf)?         // reuses buf
//! w.send("hello! Tom")     # pickled       w.send_obj(&"hello! Tom")?;    // serde_json
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
//!   (Python: `OSError: connection is write-only`).
//!
//! Both are created with `O_CLOEXEC`/`SOCK_CLOEXEC`: a program started with exec(2) would not
//! inherit them. That does not matter to fork, which copies every fd whatever the flag: that copy
//! is how a child gets its end (the notes: the pipe must exist *before* the children).
//!
//! ## Framing: one message in, one message out
//! Both objects carry a *byte stream*: the kernel keeps no message boundaries, and one read(2) may
//! return half a message or three of them. Like CPython, each message goes out as a 4-byte
//! big-endian length followed by the bytes; `recv` reads exactly one such frame.
//!
//! **send = one system call per message**: a frame of at most 512 bytes is assembled on the
//! stack (a copy of a few hundred bytes costs less than the kernel walking a two-piece `iovec`)
//! and written with write(2); a larger one goes out with writev(2) of header and payload, so the
//! payload is never copied in user space. CPython, for comparison, joins header and payload up to
//! 16 KiB and makes two writes above that. One call per message matters twice:
//! - speed: one syscall per message;
//! - safety with several writers: a pipe write of at most `PIPE_BUF` (4096 on Linux) bytes is
//!   *atomic*, never mixed with another writer's bytes. A frame (4 + payload) of at most 4096
//!   bytes therefore arrives whole even when four children share one end, as in the notes. Two
//!   separate writes (header, then payload) would lose that: another writer's frame could land
//!   between them. For larger frames nothing is promised; `atomic` shows them torn. On the
//!   socketpair POSIX promises nothing at all; Linux queues one send of up to about 32 KiB as one
//!   unit (tried here with four writers: 32 KiB sends stayed whole, 64 KiB ones were torn),
//!   which is what the notes' example silently relies on.
//!
//! **recv = as few reads as possible**: the receiver keeps a 64 KiB buffer. One read(2) may bring
//! many small frames, which later `recv`s hand out without a system call. A message of 8 KiB or
//! more is read with readv(2) straight into the caller's `Vec` (the second `iovec` catching what
//! follows); after such a message the receiver reads only the next header into its buffer, so a
//! stream of large messages is never copied twice. The price of safe Rust: a fresh `Vec` is
//! zero-filled before the kernel overwrites it; `recv_into` with a reused `Vec` avoids even that.
//!
//! One hazard this buffer creates and Python's unbuffered `Connection` does not have: fork copies
//! user memory, so a `Connection` holding unread buffered bytes at fork would hand the same bytes
//! to parent *and* child. Fork before receiving (every demo does), or check [`Connection::buffered`].
//!
//! ## End of stream
//! `recv` returns [`ConnError::Eof`] when the other end is closed **in every process that had a
//! copy** and everything sent has been read: that is when read(2) returns 0. One forgotten copy
//! (the parent's own write end, a child's inherited copy of the parent's end) and EOF never comes:
//! `simplex --forget-close` shows it. Sending to an end nobody holds any more fails with EPIPE,
//! reported as [`ConnError::BrokenPipe`] (Rust ignores SIGPIPE, so no signal kills us).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

/// Bytes of the length prefix in front of every message.
pub const HEADER: usize = 4;
/// Largest message `send` accepts and `recv` believes (a bigger length in a header means the
/// stream is corrupt, e.g. torn by two writers, and is refused before allocating it).
pub const MAX_MESSAGE: usize = 256 << 20;
/// Size of the receive buffer (one read(2) may fill it with many small frames).
pub const RECV_BUFFER: usize = 64 << 10;
/// Messages at least this large are read straight into the caller's `Vec`, never through the
/// receive buffer: copying 8 KiB costs about as much as the system call the buffer saves.
pub const DIRECT: usize = 8 << 10;
/// Frames up to this size are sent from one stack buffer with write(2); larger ones with
/// writev(2) of header and payload, so the payload is never copied in user space.
pub const SMALL_FRAME: usize = 512;

/// Errors of a [`Connection`]. `Eof` and `BrokenPipe` are not failures of the program: they are
/// how the other side says it has gone, and callers `match` on them.
#[derive(Debug)]
pub enum ConnError {
    /// Python's `EOFError`: every copy of the other end is closed and nothing is left to read.
    Eof,
    /// Python's `BrokenPipeError`: nobody holds the other end, so nobody could ever read this.
    BrokenPipe,
    /// The other end was closed in the middle of a message (it died mid-send, or the stream was
    /// corrupt). `got` of `expected` bytes arrived (the header counts as 4).
    Truncated {
        /// Bytes the frame should have had.
        expected: usize,
        /// Bytes that arrived before EOF.
        got: usize,
    },
    /// A message larger than [`MAX_MESSAGE`] (on `send`), or a header claiming one (on `recv`:
    /// the stream is out of step and the connection is no longer usable).
    TooLarge(usize),
    /// `send` on the read end or `recv` on the write end of a one-way pipe.
    WrongEnd(&'static str),
    /// `recv_obj` got bytes that are not the JSON of the expected type.
    Decode(serde_json::Error),
    /// A system call failed; `call` names it.
    Os {
        /// The system call.
        call: &'static str,
        /// What the kernel said.
        errno: Errno,
    },
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Eof => f.write_str("EOF: every copy of the other end is closed"),
            ConnError::BrokenPipe => {
                f.write_str("broken pipe: every copy of the other end is closed, nobody can read")
            }
            ConnError::Truncated { expected, got } => write!(
                f,
                "EOF in the middle of a message: {got} of {expected} bytes arrived"
            ),
            ConnError::TooLarge(n) => write!(
                f,
                "message of {n} bytes is larger than the {MAX_MESSAGE}-byte limit"
            ),
            ConnError::WrongEnd(what) => f.write_str(what),
            ConnError::Decode(e) => write!(f, "message is not the expected JSON: {e}"),
            ConnError::Os { call, errno } => write!(f, "{call}: {}", errno.desc()),
        }
    }
}

impl std::error::Error for ConnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnError::Decode(e) => Some(e),
            ConnError::Os { errno, .. } => Some(errno),
            _ => None,
        }
    }
}

impl ConnError {
    /// True for [`ConnError::Eof`]: the other side finished cleanly.
    pub fn is_eof(&self) -> bool {
        matches!(self, ConnError::Eof)
    }
}

fn os(call: &'static str) -> impl FnOnce(Errno) -> ConnError {
    move |errno| ConnError::Os { call, errno }
}

/// What a `Connection` may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// One end of a socketpair: send and recv.
    Both,
    /// The read end of a pipe(2).
    Read,
    /// The write end of a pipe(2).
    Write,
}

/// One end of a [`pipe`]. Python's `multiprocessing.connection.Connection`.
///
/// `send` takes `&self`: several owners of copies of one end (children after fork) just write to
/// the same fd. `recv` takes `&mut self` because of the receive buffer.
pub struct Connection {
    fd: OwnedFd,
    dir: Dir,
    /// Receive buffer, allocated on the first `recv` (a write-only end never needs one).
    rbuf: Vec<u8>,
    /// Unread bytes are `rbuf[start..end]`.
    start: usize,
    end: usize,
    /// The last message was at least [`DIRECT`] bytes: read headers alone until a small one.
    large: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.fd.as_raw_fd())
            .field("dir", &self.dir)
            .field("buffered", &self.buffered())
            .finish()
    }
}

/// Requested size of each socket buffer of a duplex pipe (see [`pipe`]).
pub const SOCKET_BUFFER: usize = 1 << 20;

/// Python's `Pipe(duplex)`. `duplex = true`: a connected socketpair, both ends read and write.
/// `duplex = false`: a pipe(2); the **first** can only `recv`, the **second** only `send`.
///
/// Create it *before* forking: each child inherits both ends and should close the one it does
/// not use (see the demos for why each close matters).
pub fn pipe(duplex: bool) -> Result<(Connection, Connection), ConnError> {
    if duplex {
        // std's UnixStream::pair is socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC): a safe
        // wrapper, so no `unsafe` and no extra nix feature. Only the fds are kept.
        let (a, b) =
            std::os::unix::net::UnixStream::pair().map_err(|e| os("socketpair")(io_errno(&e)))?;
        // Larger socket buffers (the kernel caps the request at net.core.wmem_max / rmem_max and
        // doubles it for its own bookkeeping): a 64 KiB message then fits in the buffer
        // several times over, so the writer rarely waits for the reader to make room, and
        // large transfers need fewer sleep/wake round trips (+10-15% at 64 KiB here). A pipe(2)
        // would be resized with F_SETPIPE_SZ instead; the one-way pipe keeps its default, which
        // the `atomic` demo reports as the pipe's capacity.
        for fd in [a.as_fd(), b.as_fd()] {
            use nix::sys::socket::{setsockopt, sockopt};
            setsockopt(&fd, sockopt::SndBuf, &SOCKET_BUFFER)
                .map_err(os("setsockopt(SO_SNDBUF)"))?;
            setsockopt(&fd, sockopt::RcvBuf, &SOCKET_BUFFER)
                .map_err(os("setsockopt(SO_RCVBUF)"))?;
        }
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

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

impl Connection {
    fn new(fd: OwnedFd, dir: Dir) -> Connection {
        Connection {
            fd,
            dir,
            rbuf: Vec::new(),
            start: 0,
            end: 0,
            large: false,
        }
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

    /// Bytes already read from the kernel but not yet handed out by `recv`.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Python's `close()`: close this process's copy of the fd. The other side sees EOF only when
    /// *every* process has closed its copy. Dropping the `Connection` does the same.
    pub fn close(self) {
        drop(self);
    }

    /// Python's `send_bytes`: send one message, as one writev(2) of header and payload.
    ///
    /// Blocks while the kernel buffer is full (a pipe holds 64 KiB by default). Frames of at most
    /// `PIPE_BUF` bytes (payload <= 4092) are atomic on a pipe, even with several writers.
    pub fn send(&self, payload: &[u8]) -> Result<(), ConnError> {
        if !self.writable() {
            return Err(ConnError::WrongEnd(
                "send on the read end of a one-way pipe (Python: connection is read-only)",
            ));
        }
        if payload.len() > MAX_MESSAGE {
            return Err(ConnError::TooLarge(payload.len()));
        }
        let header = (payload.len() as u32).to_be_bytes();
        let total = HEADER + payload.len();
        if total <= SMALL_FRAME {
            // Copying a few hundred bytes is cheaper than the kernel walking a two-piece iovec.
            let mut frame = [0u8; SMALL_FRAME];
            frame[..HEADER].copy_from_slice(&header);
            frame[HEADER..total].copy_from_slice(payload);
            return self.write_all(&frame[..total]);
        }
        let mut done = 0;
        // Normally one pass. A blocking write returns short only if a signal interrupts it after
        // some bytes went out (or a socket buffer is smaller than the message); then the rest
        // follows, which is no longer atomic, but it is still one correct frame for one writer.
        while done < total {
            let r = if done < HEADER {
                nix::sys::uio::writev(
                    &self.fd,
                    &[IoSlice::new(&header[done..]), IoSlice::new(payload)],
                )
            } else {
                nix::unistd::write(&self.fd, &payload[done - HEADER..])
            };
            match r {
                Ok(n) => done += n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EPIPE) => return Err(ConnError::BrokenPipe),
                Err(e) => return Err(os("writev")(e)),
            }
        }
        Ok(())
    }

    /// write(2) all of `buf`, retrying after a signal (a short write only happens then).
    fn write_all(&self, buf: &[u8]) -> Result<(), ConnError> {
        let mut done = 0;
        while done < buf.len() {
            match nix::unistd::write(&self.fd, &buf[done..]) {
                Ok(n) => done += n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EPIPE) => return Err(ConnError::BrokenPipe),
                Err(e) => return Err(os("write")(e)),
            }
        }
        Ok(())
    }

    /// Python's `recv_bytes`: block until one whole message has arrived and return it.
    /// [`ConnError::Eof`] once the other end is closed everywhere and everything was read.
    pub fn recv(&mut self) -> Result<Vec<u8>, ConnError> {
        let mut out = Vec::new();
        self.recv_into(&mut out)?;
        Ok(out)
    }

    /// Python's `recv_bytes_into`: like [`recv`](Self::recv), but the message replaces the
    /// contents of `out`, reusing its allocation (no zero-fill once it is large enough).
    /// Returns the message length.
    pub fn recv_into(&mut self, out: &mut Vec<u8>) -> Result<usize, ConnError> {
        if !self.readable() {
            return Err(ConnError::WrongEnd(
                "recv on the write end of a one-way pipe (Python: connection is write-only)",
            ));
        }
        if self.rbuf.is_empty() {
            self.rbuf = vec![0; RECV_BUFFER];
        }
        // 1. The header: from the buffer, reading more only if fewer than 4 bytes are there.
        while self.buffered() < HEADER {
            if self.fill()? == 0 {
                return match self.buffered() {
                    0 => Err(ConnError::Eof),
                    got => Err(ConnError::Truncated {
                        expected: HEADER,
                        got,
                    }),
                };
            }
        }
        let mut h = [0u8; HEADER];
        h.copy_from_slice(&self.rbuf[self.start..self.start + HEADER]);
        self.start += HEADER;
        let len = u32::from_be_bytes(h) as usize;
        if len > MAX_MESSAGE {
            return Err(ConnError::TooLarge(len));
        }
        // Resizing keeps the allocation; only bytes beyond the old length are zeroed.
        out.resize(len, 0);

        // 2. Whatever part of the payload is already buffered.
        let have = self.buffered().min(len);
        out[..have].copy_from_slice(&self.rbuf[self.start..self.start + have]);
        self.start += have;
        if have == len {
            self.large = len >= DIRECT;
            return Ok(len);
        }

        // 3. The rest straight into `out`, with a second iovec catching what follows. After a
        // large message, only the next header: then that message too lands directly in its Vec.
        self.start = 0;
        self.end = 0;
        let spill = if len >= DIRECT { HEADER } else { RECV_BUFFER };
        let mut got = have;
        while got < len {
            let n = {
                let mut iov = [
                    IoSliceMut::new(&mut out[got..]),
                    IoSliceMut::new(&mut self.rbuf[..spill]),
                ];
                match nix::sys::uio::readv(&self.fd, &mut iov) {
                    Ok(n) => n,
                    Err(Errno::EINTR) => continue,
                    // Linux reports a socketpair whose peer vanished with unread data as reset.
                    Err(Errno::ECONNRESET) => 0,
                    Err(e) => return Err(os("readv")(e)),
                }
            };
            if n == 0 {
                return Err(ConnError::Truncated {
                    expected: HEADER + len,
                    got: HEADER + got,
                });
            }
            let mine = n.min(len - got);
            got += mine;
            self.end = n - mine;
        }
        self.large = len >= DIRECT;
        Ok(len)
    }

    /// Read once from the kernel into the free tail of the buffer (moving the few unread bytes of
    /// a partial header to the front first). Returns the bytes read; 0 means EOF.
    fn fill(&mut self) -> Result<usize, ConnError> {
        if self.start > 0 {
            self.rbuf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        // After a large message, read no further than the next header: its payload is probably
        // large too, and should go straight into the caller's Vec rather than through ours.
        let stop = if self.large {
            self.start + HEADER
        } else {
            self.rbuf.len()
        };
        loop {
            match nix::unistd::read(self.fd.as_raw_fd(), &mut self.rbuf[self.end..stop]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::ECONNRESET) => return Ok(0),
                Err(e) => return Err(os("read")(e)),
            }
        }
    }

    /// Python's `send(obj)`: the object as JSON (Python pickles; JSON is readable and safe to
    /// decode), in one message.
    pub fn send_obj<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), ConnError> {
        let bytes = serde_json::to_vec(value).map_err(ConnError::Decode)?;
        self.send(&bytes)
    }

    /// Python's `recv()`: one message, decoded from JSON.
    pub fn recv_obj<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, ConnError> {
        let bytes = self.recv()?;
        serde_json::from_slice(&bytes).map_err(ConnError::Decode)
    }

    /// Python's `poll(timeout)`: is there something to `recv` (a message, or EOF), waiting at most
    /// `timeout` (`None`: forever)? Blocks in poll(2), not in a loop.
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool, ConnError> {
        if !self.readable() {
            return Err(ConnError::WrongEnd(
                "poll on the write end of a one-way pipe",
            ));
        }
        if self.buffered() > 0 {
            return Ok(true);
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let ms = match deadline {
                None => PollTimeout::NONE,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now()).as_millis();
                    PollTimeout::try_from(left.min(i32::MAX as u128) as i32)
                        .unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, ms) {
                Ok(0) => return Ok(false),
                // POLLIN (data) or POLLHUP (EOF): either way `recv` will not block.
                Ok(_) => return Ok(true),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(os("poll")(e)),
            }
        }
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    //! Single-process tests (cargo runs tests on threads, and `common::spawn` refuses to fork a
    //! multi-threaded process): both ends live here, large transfers use a thread.
    use super::*;

    #[test]
    fn duplex_both_ways_and_eof() {
        let (mut a, mut b) = pipe(true).unwrap();
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
        let (mut r, mut w) = pipe(false).unwrap();
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
    fn many_small_frames_come_out_one_by_one() {
        let (mut r, w) = pipe(false).unwrap();
        for i in 0..1000u32 {
            w.send(&i.to_le_bytes()[..(i % 5) as usize]).unwrap();
        }
        drop(w);
        for i in 0..1000u32 {
            assert_eq!(r.recv().unwrap(), &i.to_le_bytes()[..(i % 5) as usize]);
        }
        assert!(r.recv().unwrap_err().is_eof());
    }

    #[test]
    fn large_and_small_mixed_across_a_thread() {
        let (mut a, b) = pipe(true).unwrap();
        let sizes = [
            0usize,
            1,
            3,
            4,
            5,
            4092,
            4093,
            65535,
            65536,
            65537,
            300_000,
            7,
            1 << 20,
            2,
        ];
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
    fn typed_messages_round_trip() {
        let (mut r, w) = pipe(false).unwrap();
        w.send_obj("hello! Tom").unwrap();
        w.send_obj(&(2u32, 10u32)).unwrap();
        assert_eq!(r.recv_obj::<String>().unwrap(), "hello! Tom");
        assert_eq!(r.recv_obj::<(u32, u32)>().unwrap(), (2, 10));
        w.send(b"not json").unwrap();
        assert!(matches!(r.recv_obj::<u32>(), Err(ConnError::Decode(_))));
    }

    #[test]
    fn a_cut_message_is_truncated_not_eof() {
        let (mut r, w) = pipe(false).unwrap();
        // A header promising 10 bytes, then only 3, then the writer goes away.
        nix::unistd::write(&w, &[0, 0, 0, 10, 1, 2, 3]).unwrap();
        drop(w);
        assert!(matches!(
            r.recv(),
            Err(ConnError::Truncated {
                expected: 14,
                got: 7
            })
        ));
    }

    #[test]
    fn a_corrupt_header_is_refused_before_allocating() {
        let (mut r, w) = pipe(false).unwrap();
        nix::unistd::write(&w, &[0xff, 0xff, 0xff, 0xff]).unwrap();
        assert!(matches!(r.recv(), Err(ConnError::TooLarge(_))));
    }

    #[test]
    fn poll_sees_data_and_eof_and_times_out() {
        let (mut r, w) = pipe(false).unwrap();
        assert!(!r.poll(Some(Duration::from_millis(10))).unwrap());
        w.send(b"a").unwrap();
        w.send(b"b").unwrap();
        assert!(r.poll(Some(Duration::ZERO)).unwrap());
        assert_eq!(r.recv().unwrap(), b"a");
        // "b" came in with "a" in one read: it is buffered, and poll knows.
        assert!(r.buffered() > 0 && r.poll(Some(Duration::ZERO)).unwrap());
        assert_eq!(r.recv().unwrap(), b"b");
        drop(w);
        assert!(r.poll(None).unwrap());
        assert!(r.recv().unwrap_err().is_eof());
    }
}
