//! Frames: how a byte stream between two processes is cut back into messages.
//!
//! A ring (or a pipe) carries bytes, not messages. Each message therefore starts with its own
//! length, so the reader knows where it ends, and, just as important, knows when it has *not*
//! got all of it: if a worker dies after writing 300 KiB of a 4 MiB result, the reader holds a
//! header saying 4 MiB and 300 KiB of bytes, and reports a **truncated** result instead of
//! delivering a short one as good. A stream without lengths (or with a terminator the dead
//! writer never wrote) could not tell.
//!
//! Every frame is padded with zeros to a multiple of 8 bytes, so the rings can copy whole
//! 8-byte words; the length field gives the unpadded size.
//!
//! ```text
//! task frame (parent -> worker), 24-byte header:
//!   len u32 | func u32 | id u64 | count u32 | flags u32 | payload: `count` encoded arguments
//! result frame (worker -> parent), 32-byte header:
//!   len u32 | status u32 | id u64 | start_ms f64 | end_ms f64 | payload: `count` results, or
//!                                                                 the error text if status = 1
//! ```

/// Bytes of a task frame's header.
pub const TASK_HEADER: usize = 24;
/// Bytes of a result frame's header.
pub const RESULT_HEADER: usize = 32;
/// Largest frame accepted (1 GiB): a corrupt length is refused rather than allocated.
pub const MAX_FRAME: usize = 1 << 30;
/// `func` value of the frame that tells a worker to exit (Python sends `None`).
pub const STOP: u32 = u32::MAX;
/// Result status: the task returned a value.
pub const OK: u32 = 0;
/// Result status: the task returned an error (Python: it raised); the payload is the message.
pub const RAISED: u32 = 1;

/// `len` rounded up to a multiple of 8.
pub fn padded(len: usize) -> usize {
    (len + 7) & !7
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// The parsed header of a task frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskHeader {
    /// Frame length without padding.
    pub len: usize,
    /// Index of the registered function, or [`STOP`].
    pub func: u32,
    /// The parent's task id.
    pub id: u64,
    /// How many arguments the payload holds (1 for `apply`, the chunk size for `map`).
    pub count: u32,
}

/// Start a task frame in `out` (cleared): header with a zero length, to be fixed by
/// [`finish_task`] once the payload has been appended.
pub fn begin_task(out: &mut Vec<u8>, func: u32, id: u64, count: u32) {
    out.clear();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&func.to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
}

/// Write the length into a task frame begun with [`begin_task`] and pad it to 8 bytes.
pub fn finish_task(out: &mut Vec<u8>) {
    let len = out.len() as u32;
    out[0..4].copy_from_slice(&len.to_le_bytes());
    out.resize(padded(out.len()), 0);
}

/// Parse a task header from the first [`TASK_HEADER`] bytes.
pub fn parse_task(b: &[u8]) -> Result<TaskHeader, String> {
    let len = u32_at(b, 0) as usize;
    if !(TASK_HEADER..=MAX_FRAME).contains(&len) {
        return Err(format!("bad task frame length {len}"));
    }
    Ok(TaskHeader {
        len,
        func: u32_at(b, 4),
        id: u64_at(b, 8),
        count: u32_at(b, 16),
    })
}

/// The parsed header of a result frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResultHeader {
    /// Frame length without padding.
    pub len: usize,
    /// [`OK`] or [`RAISED`].
    pub status: u32,
    /// The task id this answers.
    pub id: u64,
    /// When the worker started the task (ms since the demo started; one clock for all).
    pub start_ms: f64,
    /// When it finished.
    pub end_ms: f64,
}

/// Append a result header with a zero length at the end of `out`; returns where it starts.
pub fn begin_result(out: &mut Vec<u8>, id: u64, start_ms: f64) -> usize {
    let at = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&OK.to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&start_ms.to_le_bytes());
    out.extend_from_slice(&0f64.to_le_bytes());
    at
}

/// Complete the result frame that starts at `at`: status, end time, length, padding.
pub fn finish_result(out: &mut Vec<u8>, at: usize, status: u32, end_ms: f64) {
    let len = (out.len() - at) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    out[at + 4..at + 8].copy_from_slice(&status.to_le_bytes());
    out[at + 24..at + 32].copy_from_slice(&end_ms.to_le_bytes());
    out.resize(at + padded(len as usize), 0);
}

/// Parse a result header from the first [`RESULT_HEADER`] bytes.
pub fn parse_result(b: &[u8]) -> Result<ResultHeader, String> {
    let len = u32_at(b, 0) as usize;
    if !(RESULT_HEADER..=MAX_FRAME).contains(&len) {
        return Err(format!("bad result frame length {len}"));
    }
    Ok(ResultHeader {
        len,
        status: u32_at(b, 4),
        id: u64_at(b, 8),
        start_ms: f64::from_bits(u64_at(b, 16)),
        end_ms: f64::from_bits(u64_at(b, 24)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_frame_round_trip_and_padding() {
        let mut f = Vec::new();
        begin_task(&mut f, 3, 77, 2);
        f.extend_from_slice(&[1, 2, 3, 4, 5]);
        finish_task(&mut f);
        assert_eq!(f.len() % 8, 0);
        let h = parse_task(&f).unwrap();
        assert_eq!(
            h,
            TaskHeader {
                len: TASK_HEADER + 5,
                func: 3,
                id: 77,
                count: 2
            }
        );
        assert_eq!(&f[TASK_HEADER..h.len], &[1, 2, 3, 4, 5]);
    }

    #[test]
    fn result_frame_round_trip() {
        let mut out = vec![9u8; 8]; // a previous frame in the same buffer
        let at = begin_result(&mut out, 5, 1.25);
        out.extend_from_slice(b"boom");
        finish_result(&mut out, at, RAISED, 2.5);
        let h = parse_result(&out[at..]).unwrap();
        assert_eq!((h.len, h.status, h.id), (RESULT_HEADER + 4, RAISED, 5));
        assert_eq!((h.start_ms, h.end_ms), (1.25, 2.5));
        assert_eq!((out.len() - at) % 8, 0);
    }

    #[test]
    fn absurd_lengths_are_refused() {
        let mut f = vec![0u8; 32];
        f[0..4].copy_from_slice(&3u32.to_le_bytes());
        assert!(parse_task(&f).is_err());
        assert!(parse_result(&f).is_err());
        f[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_result(&f).is_err());
    }
}
