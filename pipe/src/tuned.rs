//! Step 2: `TunedConnection`, the same messages as step 1 ([`crate::connection`]) with fewer
//! system calls and copies. `duplex --connection tuned` uses it; the bench measures both steps.
//!
//! The frames on the wire are exactly step 1's ([`crate::frame`]): a tuned end and a plain end
//! can talk to each other. What changes is only how the bytes reach and leave the kernel:
//!
//! | | step 1 (CPython's way) | step 2 (this file) |
//! |---|---|---|
//! | send, frame <= 512 bytes | join in a `Vec`, one write(2) | join on the stack, one write(2) |
//! | send, larger frame | join up to 16 KiB; above, two write(2)s | one writev(2) of header and payload: no copy, still one call |
//! | recv, small messages | two read(2)s per message | one read(2) into a 64 KiB buffer brings many messages; later `recv`s make no call |
//! | recv, message >= 8 KiB | two read(2)s | one readv(2) straight into the caller's `Vec`, the second iovec catching what follows |
//! | socketpair buffers | the kernel's default | 256 KiB asked for each direction (`SO_SNDBUF`, `SO_RCVBUF`) |
//!
//! What that buys: many small messages per read(2) instead of two reads per message, and for
//! large messages fewer sleep/wake round trips between writer and reader (a 64 KiB message fits
//! in the enlarged socket buffer several times over, so the writer rarely waits for room). The
//! bench measures it on the machine it runs on: `cargo run --release -p bench -- --only pipe`
//! prints a row per step (`pipe.small.plain` against `pipe.small`, and so on), and
//! docs/performance lists the figures.
//!
//! What it costs, and why it is not the default:
//! - **fork and buffered bytes.** fork copies user memory, so a `TunedConnection` holding unread
//!   buffered bytes at fork hands the same bytes to parent *and* child. Step 1 has no buffer and
//!   no such hazard. Fork before receiving (every demo does), or check
//!   [`TunedConnection::buffered`].
//! - **`recv` needs `&mut self`** (the buffer is state), and `poll` must look at the buffer before
//!   asking the kernel: a message may be waiting in user space, where poll(2) cannot see it.
//! - **more code to read**: three paths through `recv`, two through `send`.
//!
//! One call per message still holds for every frame: a frame of at most `PIPE_BUF` (4096) bytes
//! sent by one of several writers on a pipe arrives whole, as with step 1. On the socketpair POSIX
//! promises nothing; Linux queues one send as one unit while it fits in a single socket buffer
//! allocation (`unix_stream_sendmsg` caps each at about 32 KiB), which is what the notes' example
//! silently relies on.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::errno::Errno;

use crate::connection::{poll_readable, Connection, Dir};
use crate::frame::{self, os, ConnError, HEADER};

/// Size of the receive buffer (one read(2) may fill it with many small frames).
pub const RECV_BUFFER: usize = 64 << 10;
/// Messages at least this large bypass the receive buffer: they are read straight into the
/// caller's `Vec`, because copying 8 KiB costs about as much as the system call the buffer saves.
pub const BYPASS_BUFFER: usize = 8 << 10;
/// Frames up to this size are assembled on the stack and sent with write(2); larger ones go out
/// with writev(2) of header and payload, so the payload is never copied in user space (for a
/// few hundred bytes the copy costs less than the kernel walking a two-piece iovec).
pub const SMALL_FRAME: usize = 512;
/// Requested size of each socket buffer of a duplex pipe (the kernel caps the request at
/// `net.core.wmem_max` / `rmem_max` and doubles it for its own bookkeeping). Bigger than the
/// default (about 208 KiB) so the writer rarely waits for room, but not much bigger: the bytes in
/// flight are copied in by the writer and out by the reader, and once they no longer fit in the
/// CPU's cache both copies go to memory (the bench's `pipe.64k` measures the trade).
pub const SOCKET_BUFFER: usize = 256 << 10;

/// One end of a tuned [`pipe`]: the API of step 1's [`Connection`], with a receive buffer.
pub struct TunedConnection {
    fd: OwnedFd,
    dir: Dir,
    /// Receive buffer, allocated on the first `recv` (a write-only end never needs one).
    buffer: Vec<u8>,
    /// Unread bytes are `buffer[start..end]`.
    start: usize,
    end: usize,
    /// The last message bypassed the buffer ([`BYPASS_BUFFER`]): read the next header alone, since
    /// its payload is probably large too.
    last_was_large: bool,
}

impl std::fmt::Debug for TunedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunedConnection")
            .field("fd", &self.fd.as_raw_fd())
            .field("dir", &self.dir)
            .field("buffered", &self.buffered())
            .finish()
    }
}

/// Step 1's [`crate::pipe`], then the changes of step 2: larger socket buffers for a duplex pipe
/// (a pipe(2) would be resized with `F_SETPIPE_SZ` instead; the one-way pipe keeps its default,
/// which the `atomic` demo reports as the pipe's capacity), and a receive buffer on each end.
pub fn pipe(duplex: bool) -> Result<(TunedConnection, TunedConnection), ConnError> {
    let (a, b) = crate::connection::pipe(duplex)?;
    if duplex {
        for fd in [a.as_fd(), b.as_fd()] {
            use nix::sys::socket::{setsockopt, sockopt};
            setsockopt(&fd, sockopt::SndBuf, &SOCKET_BUFFER)
                .map_err(os("setsockopt(SO_SNDBUF)"))?;
            setsockopt(&fd, sockopt::RcvBuf, &SOCKET_BUFFER)
                .map_err(os("setsockopt(SO_RCVBUF)"))?;
        }
    }
    Ok((TunedConnection::from(a), TunedConnection::from(b)))
}

impl From<Connection> for TunedConnection {
    fn from(plain: Connection) -> TunedConnection {
        let (fd, dir) = plain.into_parts();
        TunedConnection {
            fd,
            dir,
            buffer: Vec::new(),
            start: 0,
            end: 0,
            last_was_large: false,
        }
    }
}

impl TunedConnection {
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

    /// Python's `close()`: close this process's copy of the fd.
    pub fn close(self) {
        drop(self);
    }

    /// Python's `send_bytes`: send one message in one system call, write(2) for a frame of at
    /// most [`SMALL_FRAME`] bytes, writev(2) of header and payload above.
    ///
    /// Blocks while the kernel buffer is full. Frames of at most `PIPE_BUF` bytes (payload <=
    /// 4092) are atomic on a pipe, even with several writers.
    pub fn send(&self, payload: &[u8]) -> Result<(), ConnError> {
        if !self.writable() {
            return Err(ConnError::WrongEnd(
                "send on the read end of a one-way pipe (Python: connection is read-only)",
            ));
        }
        let header = frame::header(payload.len())?;
        let total = HEADER + payload.len();
        if total <= SMALL_FRAME {
            let mut joined = [0u8; SMALL_FRAME];
            joined[..HEADER].copy_from_slice(&header);
            joined[HEADER..total].copy_from_slice(payload);
            return frame::write_all(self.fd.as_fd(), &joined[..total]);
        }
        let mut done = 0;
        // Normally one pass. A blocking write returns short only if a signal interrupts it after
        // some bytes went out (or a socket buffer is smaller than the message); then the rest
        // follows, which is no longer atomic, but it is still one correct frame for one writer.
        while done < total {
            let (call, result) = if done < HEADER {
                let pieces = [IoSlice::new(&header[done..]), IoSlice::new(payload)];
                ("writev", nix::sys::uio::writev(&self.fd, &pieces))
            } else {
                let rest = &payload[done - HEADER..];
                ("write", nix::unistd::write(&self.fd, rest))
            };
            match result {
                Ok(n) => done += n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EPIPE) => return Err(ConnError::BrokenPipe),
                Err(e) => return Err(os(call)(e)),
            }
        }
        Ok(())
    }

    /// Python's `recv_bytes`: block until one whole message has arrived and return it.
    pub fn recv(&mut self) -> Result<Vec<u8>, ConnError> {
        let mut out = Vec::new();
        self.recv_into(&mut out)?;
        Ok(out)
    }

    /// Python's `recv_bytes_into`: like [`recv`](Self::recv), but the message replaces the
    /// contents of `out`, reusing its allocation. Returns the message length.
    pub fn recv_into(&mut self, out: &mut Vec<u8>) -> Result<usize, ConnError> {
        if !self.readable() {
            return Err(ConnError::WrongEnd(
                "recv on the write end of a one-way pipe (Python: connection is write-only)",
            ));
        }
        if self.buffer.is_empty() {
            self.buffer = vec![0; RECV_BUFFER];
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
        let mut header = [0u8; HEADER];
        header.copy_from_slice(&self.buffer[self.start..self.start + HEADER]);
        self.start += HEADER;
        let len = frame::payload_len(header)?;
        // Resizing keeps the allocation; only bytes beyond the old length are zeroed.
        out.resize(len, 0);

        // 2. Whatever part of the payload is already buffered.
        let have = self.buffered().min(len);
        out[..have].copy_from_slice(&self.buffer[self.start..self.start + have]);
        self.start += have;
        if have == len {
            self.last_was_large = len >= BYPASS_BUFFER;
            return Ok(len);
        }

        // 3. The rest straight into `out`, with a second iovec catching what follows. After a
        // large message, only the next header: then that message too lands directly in its Vec.
        self.start = 0;
        self.end = 0;
        let spill = if len >= BYPASS_BUFFER {
            HEADER
        } else {
            RECV_BUFFER
        };
        let mut got = have;
        while got < len {
            let n = {
                let mut pieces = [
                    IoSliceMut::new(&mut out[got..]),
                    IoSliceMut::new(&mut self.buffer[..spill]),
                ];
                match nix::sys::uio::readv(&self.fd, &mut pieces) {
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
        self.last_was_large = len >= BYPASS_BUFFER;
        Ok(len)
    }

    /// Read once from the kernel into the free tail of the buffer (moving the few unread bytes of
    /// a partial header to the front first). Returns the bytes read; 0 means EOF.
    fn fill(&mut self) -> Result<usize, ConnError> {
        if self.start > 0 {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        // After a large message, read no further than the next header: its payload is probably
        // large too, and should go straight into the caller's Vec rather than through ours.
        let stop = if self.last_was_large {
            self.start + HEADER
        } else {
            self.buffer.len()
        };
        loop {
            match nix::unistd::read(self.fd.as_raw_fd(), &mut self.buffer[self.end..stop]) {
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

    /// Python's `send(obj)`: the object as JSON, in one message.
    pub fn send_obj<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), ConnError> {
        self.send(&frame::encode(value)?)
    }

    /// Python's `recv()`: one message, decoded from JSON.
    pub fn recv_obj<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, ConnError> {
        let payload = self.recv()?;
        frame::decode(&payload)
    }

    /// Python's `poll(timeout)`: is there something to `recv`? A buffered message answers at once
    /// (poll(2) cannot see it); otherwise poll(2) on the fd.
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool, ConnError> {
        if !self.readable() {
            return Err(ConnError::WrongEnd(
                "poll on the write end of a one-way pipe",
            ));
        }
        if self.buffered() > 0 {
            return Ok(true);
        }
        poll_readable(self.fd.as_fd(), timeout)
    }
}

impl AsFd for TunedConnection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl crate::Endpoint for TunedConnection {
    fn send(&self, payload: &[u8]) -> Result<(), ConnError> {
        TunedConnection::send(self, payload)
    }
    fn recv_into(&mut self, out: &mut Vec<u8>) -> Result<usize, ConnError> {
        TunedConnection::recv_into(self, out)
    }
}

#[cfg(test)]
mod tests {
    //! Single-process tests (cargo runs tests on threads, and `common::spawn` refuses to fork a
    //! multi-threaded process): both ends live here, large transfers use a thread.
    use super::*;

    #[test]
    fn a_tuned_end_and_a_plain_end_speak_the_same_frames() {
        let (plain_r, plain_w) = crate::pipe(false).unwrap();
        let mut tuned_r = TunedConnection::from(plain_r);
        plain_w.send(b"from step 1").unwrap();
        plain_w.send(&vec![9u8; 20_000]).unwrap();
        assert_eq!(tuned_r.recv().unwrap(), b"from step 1");
        assert_eq!(tuned_r.recv().unwrap(), vec![9u8; 20_000]);

        let (plain_r, plain_w) = crate::pipe(false).unwrap();
        let tuned_w = TunedConnection::from(plain_w);
        tuned_w.send(b"from step 2").unwrap();
        tuned_w.send(&vec![7u8; 20_000]).unwrap();
        assert_eq!(plain_r.recv().unwrap(), b"from step 2");
        assert_eq!(plain_r.recv().unwrap(), vec![7u8; 20_000]);
    }

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
