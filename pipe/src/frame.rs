//! The framing of the workspace: how one message crosses a byte stream between processes.
//!
//! A pipe(2) or a socketpair carries a *stream of bytes*: the kernel keeps no message boundaries,
//! and one read(2) may return half a message or three of them. So every message travels as a
//! **frame**, exactly as CPython's `multiprocessing.connection.Connection` sends it:
//!
//! | bytes | what |
//! |---|---|
//! | 4 | the payload's length `n`, big-endian (CPython: `struct.pack("!i", n)`) |
//! | `n` | the payload |
//!
//! A typed message (Python's `conn.send(obj)` / `conn.recv()`) is a frame whose payload is the
//! **JSON** of the value ([`encode`], [`decode`], with serde_json). Python pickles instead; JSON
//! is readable in `strace`, is the same in any language, and decoding it can never run code.
//!
//! This module is the one place that knows the format. Both steps of the pipe's `Connection` use
//! it, and a member that sends messages of its own between processes reuses it rather than
//! inventing a second format: [`write_frame`] and [`read_frame`] work on any blocking fd, and
//! [`header`] / [`payload_len`] / [`encode`] / [`decode`] on bytes, for a member that moves
//! them some other way.
//!
//! [`write_frame`] and [`read_frame`] do what CPython does, nothing more (no user-space buffer):
//! - **send**: a frame of at most [`JOIN_LIMIT`] (16 KiB) of payload is copied into one buffer,
//!   header first, and goes out in **one** write(2). That one call is what keeps a frame whole
//!   when several processes write to the same end (a pipe write of at most `PIPE_BUF` = 4096
//!   bytes is atomic; see the `atomic` demo). Above 16 KiB the copy would cost more than it
//!   saves, so header and payload go out in two writes: another writer's frame could then land
//!   between them, which is why Python's docs say two processes must not use one end at once.
//! - **recv**: read exactly 4 bytes (the header), then exactly `n` bytes (the payload): two
//!   reads per message, each repeated only if the kernel returns less (a message still arriving).
//!
//! Errors name the system call that failed ([`ConnError::Os`]); EOF and a vanished reader are
//! their own variants, because callers `match` on them.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

/// Bytes of the length header in front of every payload.
pub const HEADER: usize = 4;
/// Largest payload accepted. A header announcing more means the stream is corrupt (torn by two
/// writers, or not framed at all), and is refused before anything is allocated for it.
pub const MAX_MESSAGE: usize = 256 << 20;
/// Payloads up to this size are sent joined to their header in one write(2) (CPython's limit:
/// `_send_bytes` joins up to 16384 bytes).
pub const JOIN_LIMIT: usize = 16 << 10;

/// What can go wrong moving a frame. [`ConnError::Eof`] and [`ConnError::BrokenPipe`] are not
/// failures of the program: they are how the other side says it has gone.
#[derive(Debug)]
pub enum ConnError {
    /// Python's `EOFError`: every copy of the other end is closed and nothing is left to read.
    Eof,
    /// Python's `BrokenPipeError`: nobody holds the other end, so nobody could ever read this.
    BrokenPipe,
    /// The other end was closed in the middle of a frame (the sender died mid-send, or the
    /// stream was corrupt): `got` of `expected` bytes arrived, the header counting as 4.
    Truncated {
        /// Bytes the frame should have had.
        expected: usize,
        /// Bytes that arrived before EOF.
        got: usize,
    },
    /// A payload larger than [`MAX_MESSAGE`] (on send), or a header announcing one (on recv:
    /// the stream is out of step and the connection is no longer usable).
    TooLarge(usize),
    /// `send` on the read end or `recv` on the write end of a one-way pipe.
    WrongEnd(&'static str),
    /// The value could not be turned into JSON.
    Encode(serde_json::Error),
    /// The payload is not the JSON of the expected type.
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
            ConnError::TooLarge(len) => write!(
                f,
                "message of {len} bytes is larger than the {MAX_MESSAGE}-byte limit"
            ),
            ConnError::WrongEnd(what) => f.write_str(what),
            ConnError::Encode(e) => write!(f, "message cannot be encoded as JSON: {e}"),
            ConnError::Decode(e) => write!(f, "message is not the expected JSON: {e}"),
            ConnError::Os { call, errno } => write!(f, "{call}: {}", errno.desc()),
        }
    }
}

impl std::error::Error for ConnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnError::Encode(e) | ConnError::Decode(e) => Some(e),
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

/// The error of a failed system call, naming it: `.map_err(os("write"))`.
pub fn os(call: &'static str) -> impl FnOnce(Errno) -> ConnError {
    move |errno| ConnError::Os { call, errno }
}

/// The header of a payload of `len` bytes.
pub fn header(len: usize) -> Result<[u8; HEADER], ConnError> {
    if len > MAX_MESSAGE {
        return Err(ConnError::TooLarge(len));
    }
    Ok((len as u32).to_be_bytes())
}

/// The payload length a header announces, refused if it is larger than [`MAX_MESSAGE`].
pub fn payload_len(header: [u8; HEADER]) -> Result<usize, ConnError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_MESSAGE {
        return Err(ConnError::TooLarge(len));
    }
    Ok(len)
}

/// The payload of a typed message: the value as JSON.
pub fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ConnError> {
    serde_json::to_vec(value).map_err(ConnError::Encode)
}

/// A typed message back from its payload.
pub fn decode<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, ConnError> {
    serde_json::from_slice(payload).map_err(ConnError::Decode)
}

/// Send one frame on `fd`, as CPython does: joined into one write(2) up to [`JOIN_LIMIT`] bytes
/// of payload, header and payload in two writes above. Blocks while the kernel buffer is full.
pub fn write_frame(fd: BorrowedFd<'_>, payload: &[u8]) -> Result<(), ConnError> {
    let header = header(payload.len())?;
    if payload.len() <= JOIN_LIMIT {
        let mut frame = Vec::with_capacity(HEADER + payload.len());
        frame.extend_from_slice(&header);
        frame.extend_from_slice(payload);
        write_all(fd, &frame)
    } else {
        write_all(fd, &header)?;
        write_all(fd, payload)
    }
}

/// Receive one frame from `fd` into `out` (its old contents replaced, its allocation reused) and
/// return the payload length: read exactly the header, then exactly the payload.
/// [`ConnError::Eof`] if the stream ended cleanly before the frame began.
pub fn read_frame(fd: BorrowedFd<'_>, out: &mut Vec<u8>) -> Result<usize, ConnError> {
    let mut header = [0u8; HEADER];
    match read_full(fd, &mut header)? {
        HEADER => {}
        0 => return Err(ConnError::Eof),
        got => {
            return Err(ConnError::Truncated {
                expected: HEADER,
                got,
            })
        }
    }
    let len = payload_len(header)?;
    // Resizing keeps the allocation; only bytes beyond the old length are zeroed (the price of
    // safe Rust: the kernel overwrites them at once).
    out.resize(len, 0);
    let got = read_full(fd, out)?;
    if got < len {
        return Err(ConnError::Truncated {
            expected: HEADER + len,
            got: HEADER + got,
        });
    }
    Ok(len)
}

/// write(2) all of `buf`. A blocking write returns short only when a signal interrupts it after
/// some bytes went out; then the rest follows in another call.
pub fn write_all(fd: BorrowedFd<'_>, buf: &[u8]) -> Result<(), ConnError> {
    let mut done = 0;
    while done < buf.len() {
        match nix::unistd::write(fd, &buf[done..]) {
            Ok(n) => done += n,
            Err(Errno::EINTR) => continue,
            Err(Errno::EPIPE) => return Err(ConnError::BrokenPipe),
            Err(e) => return Err(os("write")(e)),
        }
    }
    Ok(())
}

/// read(2) until `buf` is full or the stream ends; returns the bytes read (less than
/// `buf.len()` only at EOF).
pub fn read_full(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, ConnError> {
    let mut got = 0;
    while got < buf.len() {
        match nix::unistd::read(fd.as_raw_fd(), &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            // Linux reports a socketpair whose peer vanished with unread data as reset: for the
            // reader it is the end of the stream like any other.
            Err(Errno::ECONNRESET) => break,
            Err(e) => return Err(os("read")(e)),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_frame_is_a_big_endian_length_then_the_payload() {
        let (r, w) = nix::unistd::pipe().unwrap();
        write_frame(w.as_fd(), b"hello! Tom").unwrap();
        let mut raw = [0u8; 14];
        assert_eq!(read_full(r.as_fd(), &mut raw).unwrap(), 14);
        assert_eq!(&raw[..4], &[0, 0, 0, 10]);
        assert_eq!(&raw[4..], b"hello! Tom");
    }

    #[test]
    fn typed_messages_are_json() {
        assert_eq!(encode("hello! Tom").unwrap(), b"\"hello! Tom\"");
        assert_eq!(decode::<(u32, u32)>(b"[2,10]").unwrap(), (2, 10));
        assert!(matches!(
            decode::<u32>(b"not json"),
            Err(ConnError::Decode(_))
        ));
    }

    #[test]
    fn frames_round_trip_small_and_large() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let sizes = [0usize, 1, JOIN_LIMIT, JOIN_LIMIT + 1, 300_000];
        let writer = std::thread::spawn(move || {
            for (k, &n) in sizes.iter().enumerate() {
                let msg: Vec<u8> = (0..n).map(|i| (i * 7 + k) as u8).collect();
                write_frame(w.as_fd(), &msg).unwrap();
            }
        });
        let mut buf = Vec::new();
        for (k, &n) in sizes.iter().enumerate() {
            assert_eq!(read_frame(r.as_fd(), &mut buf).unwrap(), n);
            assert!(buf.iter().enumerate().all(|(i, &x)| x == (i * 7 + k) as u8));
        }
        writer.join().unwrap();
        assert!(read_frame(r.as_fd(), &mut buf).unwrap_err().is_eof());
    }

    #[test]
    fn a_cut_frame_is_truncated_and_a_huge_header_refused() {
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w, &[0, 0, 0, 10, 1, 2, 3]).unwrap();
        drop(w);
        let mut buf = Vec::new();
        assert!(matches!(
            read_frame(r.as_fd(), &mut buf),
            Err(ConnError::Truncated {
                expected: 14,
                got: 7
            })
        ));
        assert!(matches!(
            payload_len([0xff; 4]),
            Err(ConnError::TooLarge(_))
        ));
        assert!(matches!(
            header(MAX_MESSAGE + 1),
            Err(ConnError::TooLarge(_))
        ));
    }
}
