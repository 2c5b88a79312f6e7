//! One item, and its wire format: what a producer makes and a consumer takes.
//!
//! Between threads an [`Item`] is passed as it is. Between processes nothing can be shared by
//! pointer, so it crosses the `queue` member's queue as plain bytes (Python pickles the object
//! instead): 8 bytes, the producer's number then the sequence number, each a little-endian `u32`.
//! The same 8 bytes read as one `u64` are what the threads-mode monitor stores
//! ([`crate::monitor`]).

/// One item: producer `producer` (0-based)'s item number `seq`. Printed `p.seq` with p 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// Who made it (0-based).
    pub producer: u32,
    /// Its place in that producer's stream (0-based).
    pub seq: u32,
}

impl Item {
    /// Size of an item on the cross-process queue.
    pub const BYTES: usize = 8;

    /// Little-endian `producer`, then `seq`: what goes through the cross-process queue.
    pub fn to_bytes(self) -> [u8; Self::BYTES] {
        self.to_word().to_le_bytes()
    }

    /// The inverse of [`to_bytes`](Self::to_bytes); `None` for a message of the wrong size.
    pub fn from_bytes(bytes: &[u8]) -> Option<Item> {
        let bytes: [u8; Self::BYTES] = bytes.try_into().ok()?;
        Some(Item::from_word(u64::from_le_bytes(bytes)))
    }

    /// The item as one 64-bit word: `producer` in the low half, `seq` in the high half.
    pub fn to_word(self) -> u64 {
        u64::from(self.producer) | (u64::from(self.seq) << 32)
    }

    /// The inverse of [`to_word`](Self::to_word).
    pub fn from_word(word: u64) -> Item {
        Item {
            producer: word as u32,
            seq: (word >> 32) as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_bytes_and_word_round_trip() {
        let item = Item {
            producer: 7,
            seq: 123_456,
        };
        assert_eq!(Item::from_bytes(&item.to_bytes()), Some(item));
        assert_eq!(Item::from_word(item.to_word()), item);
        assert_eq!(item.to_bytes()[..4], 7u32.to_le_bytes(), "producer first");
        assert_eq!(Item::from_bytes(&[1, 2, 3]), None);
    }
}
