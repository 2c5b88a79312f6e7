//! Copying bytes into and out of shared memory that several processes use at once.
//!
//! A ring or a slot in `MAP_SHARED` memory is written by one process while another may be
//! reading it. Plain `&mut [u8]` would be a data race (undefined behaviour) and needs `unsafe`;
//! an array of `AtomicU64` is always sound to share. These two functions move bytes through
//! such an array, eight to a word, with `Relaxed` stores and loads: on x86 they compile to the
//! same `mov`s as a `memcpy`. They give no ordering by themselves: the writer *publishes* with
//! one `Release` store (a position, a sequence number) after copying, and the reader loads that
//! with `Acquire` before copying out, so it never sees half a message.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Words needed for `bytes` bytes.
pub const fn words_for(bytes: usize) -> usize {
    bytes.div_ceil(8)
}

/// Copy `src` into `cells`, little-endian, eight bytes a word; the last word is zero-padded.
/// Panics if `cells` is too short (a caller's sizing bug, not a runtime condition).
#[inline]
pub fn store_bytes(cells: &[AtomicU64], src: &[u8]) {
    assert!(
        cells.len() >= words_for(src.len()),
        "store_bytes: too few words"
    );
    let mut chunks = src.chunks_exact(8);
    for (cell, chunk) in cells.iter().zip(&mut chunks) {
        cell.store(
            u64::from_le_bytes(chunk.try_into().expect("8 bytes")),
            Relaxed,
        );
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut last = [0u8; 8];
        last[..tail.len()].copy_from_slice(tail);
        cells[src.len() / 8].store(u64::from_le_bytes(last), Relaxed);
    }
}

/// Copy `dst.len()` bytes out of `cells` (the inverse of [`store_bytes`]).
#[inline]
pub fn load_bytes(cells: &[AtomicU64], dst: &mut [u8]) {
    assert!(
        cells.len() >= words_for(dst.len()),
        "load_bytes: too few words"
    );
    let whole = dst.len() / 8 * 8;
    let (body, tail) = dst.split_at_mut(whole);
    for (chunk, cell) in body.chunks_exact_mut(8).zip(cells) {
        chunk.copy_from_slice(&cell.load(Relaxed).to_le_bytes());
    }
    if !tail.is_empty() {
        let last = cells[whole / 8].load(Relaxed).to_le_bytes();
        let n = tail.len();
        tail.copy_from_slice(&last[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_survive_the_round_trip_at_every_length() {
        let cells: Vec<AtomicU64> = (0..4).map(|_| AtomicU64::new(u64::MAX)).collect();
        for len in 0..=32 {
            let src: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37) ^ 0x5a).collect();
            store_bytes(&cells, &src);
            let mut out = vec![0u8; len];
            load_bytes(&cells, &mut out);
            assert_eq!(out, src, "length {len}");
        }
    }

    #[test]
    fn the_last_word_is_zero_padded() {
        let cells = [AtomicU64::new(u64::MAX)];
        store_bytes(&cells, &[1, 2, 3]);
        assert_eq!(cells[0].load(Relaxed), 0x03_02_01);
    }
}
