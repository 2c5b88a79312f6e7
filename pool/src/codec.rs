//! How a task's argument and result cross from one process to another: bytes.
//!
//! Python pickles the arguments of `apply_async(f, (x,))` into the pool's pipe and unpickles the
//! return value on the way back. A process cannot hand another a pointer (the other process has
//! its own address space, where the address means nothing), so *every* pool copies values as
//! bytes. Here the encoding is a small fixed one instead of pickle:
//!
//! | type | bytes |
//! |---|---|
//! | integers, `f64`, `bool` | little-endian, fixed width (`u64`: 8 bytes) |
//! | `String`, [`Bytes`] | u32 length, then the bytes |
//! | `Vec<T>` | u32 count, then each element |
//! | `(A, B)`, `(A, B, C)` | the fields one after the other |
//! | [`Json<T>`] | u32 length, then `serde_json` text: any `Serialize` type, at JSON's speed |
//!
//! Why not `serde_json` for everything: `map` over a million `u64`s would spend most of its time
//! printing and parsing decimal digits. A `u64` here is one 8-byte copy, and a `map` chunk of
//! them is one bulk copy ([`Value::encode_all`], [`Value::decode_into`]), so encoding is no longer
//! what limits `map`: fresh memory is (see `Pool::map_chunked` for what an item costs).

use std::fmt;

/// A value that can be a task's argument or result.
pub trait Value: Sized {
    /// Append this value's bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Read one value from the front of `input`, advancing it.
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError>;

    /// Decode `count` values from the front of `input` and hand each to `f` (a worker running
    /// a `map` chunk). Fixed-width types override this with a loop over 8-byte (or 4-, 2-,
    /// 1-byte) slots that checks the length once instead of once per item.
    fn for_each<E: From<DecodeError>>(
        input: &mut &[u8],
        count: usize,
        mut f: impl FnMut(Self) -> Result<(), E>,
    ) -> Result<(), E> {
        for _ in 0..count {
            f(Self::decode(input)?)?;
        }
        Ok(())
    }

    /// Append the bytes of every value of `items`, one after the other (the parent encoding a
    /// `map` chunk). Same bytes as calling [`Value::encode`] on each; fixed-width types override
    /// it to size the buffer once and copy the whole slice in one loop with no per-item
    /// capacity check, which the compiler turns into wide vector moves.
    fn encode_all(items: &[Self], out: &mut Vec<u8>) {
        for x in items {
            x.encode(out);
        }
    }

    /// Decode `count` values, appending them to `out` (the parent collecting a chunk).
    fn decode_into(
        input: &mut &[u8],
        count: usize,
        out: &mut Vec<Self>,
    ) -> Result<(), DecodeError> {
        out.reserve(count);
        Self::for_each(input, count, |v| {
            out.push(v);
            Ok::<(), DecodeError>(())
        })
    }
}

/// The bytes did not hold the value expected (a bug, or a task registered with other types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot decode: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Take `n` bytes from the front of `input`.
fn take<'a>(input: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
    if input.len() < n {
        return Err(DecodeError(format!(
            "{what}: need {n} bytes, {} left",
            input.len()
        )));
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

macro_rules! fixed_width {
    ($($t:ty),*) => {$(
        impl Value for $t {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
                const N: usize = std::mem::size_of::<$t>();
                let b = take(input, N, stringify!($t))?;
                let mut a = [0u8; N];
                a.copy_from_slice(b);
                Ok(<$t>::from_le_bytes(a))
            }
            #[inline]
            fn for_each<E: From<DecodeError>>(
                input: &mut &[u8],
                count: usize,
                mut f: impl FnMut(Self) -> Result<(), E>,
            ) -> Result<(), E> {
                const N: usize = std::mem::size_of::<$t>();
                let b = take(input, N * count, stringify!($t))?;
                for c in b.chunks_exact(N) {
                    let mut a = [0u8; N];
                    a.copy_from_slice(c);
                    f(<$t>::from_le_bytes(a))?;
                }
                Ok(())
            }
            #[inline]
            fn encode_all(items: &[Self], out: &mut Vec<u8>) {
                const N: usize = std::mem::size_of::<$t>();
                let at = out.len();
                // One resize (a recycled buffer is already mapped, so this is a short memset),
                // then a branch-free copy: on a little-endian CPU `to_le_bytes` is the value's
                // own bytes, so this loop is a memcpy in disguise.
                out.resize(at + N * items.len(), 0);
                for (c, x) in out[at..].chunks_exact_mut(N).zip(items) {
                    c.copy_from_slice(&x.to_le_bytes());
                }
            }
            #[inline]
            fn decode_into(
                input: &mut &[u8],
                count: usize,
                out: &mut Vec<Self>,
            ) -> Result<(), DecodeError> {
                const N: usize = std::mem::size_of::<$t>();
                let b = take(input, N * count, stringify!($t))?;
                // An exact-size iterator: `extend` reserves once and writes without checks.
                out.extend(b.chunks_exact(N).map(|c| {
                    let mut a = [0u8; N];
                    a.copy_from_slice(c);
                    <$t>::from_le_bytes(a)
                }));
                Ok(())
            }
        }
    )*};
}
fixed_width!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);

impl Value for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        match take(input, 1, "bool")?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError(format!("bool: byte {b}"))),
        }
    }
}

impl Value for () {
    fn encode(&self, _out: &mut Vec<u8>) {}
    fn decode(_input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(())
    }
}

fn encode_len(len: usize, out: &mut Vec<u8>) {
    // The frame limit (1 GiB, see `frame`) keeps every length far below u32::MAX.
    out.extend_from_slice(&(len as u32).to_le_bytes());
}

fn decode_len(input: &mut &[u8], what: &str) -> Result<usize, DecodeError> {
    let n = u32::decode(input).map_err(|e| DecodeError(format!("{what} length: {}", e.0)))?;
    Ok(n as usize)
}

impl Value for String {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let n = decode_len(input, "String")?;
        let b = take(input, n, "String")?;
        String::from_utf8(b.to_vec()).map_err(|e| DecodeError(format!("String: {e}")))
    }
}

/// Raw bytes, copied in one piece (a `Vec<u8>` would go through the generic element loop).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl Value for Bytes {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.0.len(), out);
        out.extend_from_slice(&self.0);
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let n = decode_len(input, "Bytes")?;
        Ok(Bytes(take(input, n, "Bytes")?.to_vec()))
    }
}

impl<T: Value> Value for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        for x in self {
            x.encode(out);
        }
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let n = decode_len(input, "Vec")?;
        // Do not trust n for the allocation: a corrupt length must not reserve gigabytes.
        let mut v = Vec::with_capacity(n.min(input.len()));
        for _ in 0..n {
            v.push(T::decode(input)?);
        }
        Ok(v)
    }
}

impl<T: Value> Value for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(x) => {
                out.push(1);
                x.encode(out);
            }
        }
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        match take(input, 1, "Option")?[0] {
            0 => Ok(None),
            1 => Ok(Some(T::decode(input)?)),
            b => Err(DecodeError(format!("Option: tag {b}"))),
        }
    }
}

impl<A: Value, B: Value> Value for (A, B) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok((A::decode(input)?, B::decode(input)?))
    }
}

impl<A: Value, B: Value, C: Value> Value for (A, B, C) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
        self.2.encode(out);
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok((A::decode(input)?, B::decode(input)?, C::decode(input)?))
    }
}

/// Any serde type, carried as JSON text: the closest thing here to "pickle anything".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Json<T>(pub T);

impl<T: serde::Serialize + serde::de::DeserializeOwned> Value for Json<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        // Serializing plain data to a Vec cannot fail; a type whose Serialize impl errors on
        // purpose is encoded as `null` and fails on decode, loudly.
        if serde_json::to_writer(&mut *out, &self.0).is_err() {
            out.truncate(at + 4);
            out.extend_from_slice(b"null");
        }
        let n = (out.len() - at - 4) as u32;
        out[at..at + 4].copy_from_slice(&n.to_le_bytes());
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let n = decode_len(input, "Json")?;
        let b = take(input, n, "Json")?;
        serde_json::from_slice(b)
            .map(Json)
            .map_err(|e| DecodeError(format!("Json: {e}")))
    }
}

/// Encode one value into a fresh buffer (tests and callers that want the bytes).
pub fn to_bytes<T: Value>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode(&mut out);
    out
}

/// Decode one value that must fill `bytes` exactly.
pub fn from_bytes<T: Value>(mut bytes: &[u8]) -> Result<T, DecodeError> {
    let v = T::decode(&mut bytes)?;
    if !bytes.is_empty() {
        return Err(DecodeError(format!("{} bytes left over", bytes.len())));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round<T: Value + PartialEq + fmt::Debug>(v: T) {
        let b = to_bytes(&v);
        assert_eq!(from_bytes::<T>(&b).unwrap(), v);
    }

    #[test]
    fn values_round_trip() {
        round(0u64);
        round(u64::MAX);
        round(-5i32);
        round(1.5f64);
        round(true);
        round(String::from("你好, pool"));
        round(Bytes(vec![1, 2, 3]));
        round(vec![1u64, 2, 3]);
        round((7u32, String::from("x")));
        round((1u8, 2u16, 3i64));
        round(Some(4u64));
        round(None::<u64>);
        round(Json(serde_json::json!({"a": [1, 2]})));
    }

    #[test]
    fn u64_is_eight_little_endian_bytes() {
        assert_eq!(to_bytes(&0x0102u64), vec![2, 1, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn many_at_once_like_one_by_one() {
        let mut b = Vec::new();
        for x in [3u64, 1, 4, 1, 5] {
            x.encode(&mut b);
        }
        let mut all = Vec::new();
        u64::encode_all(&[3, 1, 4, 1, 5], &mut all);
        assert_eq!(all, b);
        let mut v = Vec::new();
        u64::decode_into(&mut &b[..], 5, &mut v).unwrap();
        assert_eq!(v, vec![3, 1, 4, 1, 5]);
        assert!(u64::decode_into(&mut &b[..], 6, &mut v).is_err());
        let mut s = Vec::new();
        for x in ["a", "bc"] {
            String::from(x).encode(&mut s);
        }
        let mut all = Vec::new();
        String::encode_all(&["a".into(), "bc".into()], &mut all);
        assert_eq!(all, s);
        let mut w: Vec<String> = Vec::new();
        String::decode_into(&mut &s[..], 2, &mut w).unwrap();
        assert_eq!(w, vec!["a", "bc"]);
    }

    #[test]
    fn short_or_long_input_is_an_error() {
        assert!(from_bytes::<u64>(&[1, 2, 3]).is_err());
        assert!(from_bytes::<u32>(&[1, 2, 3, 4, 5]).is_err());
        assert!(from_bytes::<String>(&[9, 0, 0, 0, b'a']).is_err());
        assert!(from_bytes::<bool>(&[7]).is_err());
        // A huge count with no elements behind it fails without allocating for the count.
        assert!(from_bytes::<Vec<u64>>(&[0xff, 0xff, 0xff, 0x7f]).is_err());
    }
}
