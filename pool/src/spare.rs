//! Big buffers, recycled: a `map` chunk's task frame and result frame are a megabyte each.
//!
//! A fresh megabyte from the allocator is fresh memory from the kernel (`mmap`): every 4 KiB
//! page of it faults on first touch and is zeroed by the kernel, and `free` hands it all back
//! (`munmap`). Profiling `map` over a million items showed more time in those page faults than
//! in moving the data. Keeping a few finished buffers for the next chunk removes that cost; the
//! memory was going to be needed again a moment later anyway.

/// Buffers smaller than this come and go through the allocator as usual.
const MIN: usize = 64 * 1024;
/// Keep at most this many bytes of spare buffers.
const MAX_BYTES: usize = 64 << 20;

/// A small free list of large byte buffers.
#[derive(Debug, Default)]
pub struct Spare {
    bufs: Vec<Vec<u8>>,
    bytes: usize,
}

impl Spare {
    /// An empty buffer with at least `min_cap` bytes of capacity (recycled when possible).
    pub fn take(&mut self, min_cap: usize) -> Vec<u8> {
        if min_cap >= MIN {
            if let Some(i) = self.bufs.iter().position(|b| b.capacity() >= min_cap) {
                let mut b = self.bufs.swap_remove(i);
                self.bytes -= b.capacity();
                b.clear();
                return b;
            }
        }
        Vec::with_capacity(min_cap)
    }

    /// A buffer of exactly `len` bytes whose contents are unspecified (old bytes of a recycled
    /// buffer, zeros where it never had any): for a reader that overwrites every byte before
    /// looking at it. `take` + `resize(len, 0)` would zero a recycled megabyte first, a whole
    /// extra pass over it; here only the part beyond the buffer's old length is written.
    pub fn take_len(&mut self, len: usize) -> Vec<u8> {
        if len >= MIN {
            if let Some(i) = self.bufs.iter().position(|b| b.capacity() >= len) {
                let mut b = self.bufs.swap_remove(i);
                self.bytes -= b.capacity();
                b.truncate(len);
                b.resize(len, 0);
                return b;
            }
        }
        vec![0; len]
    }

    /// Keep `b` (and its bytes, which `take_len` may hand out again) for a later `take` (if it is big and there is room).
    pub fn give(&mut self, b: Vec<u8>) {
        if b.capacity() >= MIN && self.bytes + b.capacity() <= MAX_BYTES {
            self.bytes += b.capacity();
            self.bufs.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_comes_back_empty() {
        let mut s = Spare::default();
        let mut b = Vec::with_capacity(MIN * 2);
        b.extend_from_slice(&[1, 2, 3]);
        let p = b.as_ptr();
        s.give(b);
        let c = s.take(MIN);
        assert_eq!((c.as_ptr(), c.len()), (p, 0));
        assert!(s.take(MIN).capacity() >= MIN); // none left: a new one
        s.give(vec![0; 10]); // small: not kept
        assert_eq!(s.bytes, 0);
        // take_len: exactly that long, recycling a big buffer without clearing it first.
        let mut d = vec![9u8; MIN * 2];
        d.truncate(MIN);
        let p = d.as_ptr();
        s.give(d);
        let e = s.take_len(MIN + 8);
        assert_eq!((e.as_ptr(), e.len()), (p, MIN + 8));
        assert_eq!((e[0], e[MIN + 7]), (9, 0)); // old bytes kept, the new tail zeroed
        assert_eq!(s.take_len(16), vec![0; 16]);
    }
}
