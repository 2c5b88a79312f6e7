//! CPython's `multiprocessing.connection` handshake: an `authkey` proved with an HMAC challenge.
//!
//! ```python
//! from multiprocessing import Process
//! from multiprocessing.connection import Listener, Client
//! def client(address):                                    # could be another program
//!     with Client(address, authkey=b'secret') as c:
//!         c.send('hello')
//! if __name__ == '__main__':
//!     with Listener(('127.0.0.1', 0), authkey=b'secret') as l:
//!         p = Process(target=client, args=(l.address,)); p.start()
//!         with l.accept() as c:
//!             print(c.recv())
//!         p.join()
//! ```
//!
//! The key never crosses the socket. The server sends `#CHALLENGE#{sha256}` and 40 random bytes;
//! the client answers `{sha256}` + HMAC-SHA256(key, what it received after `#CHALLENGE#`); the
//! server computes the same HMAC and compares (in constant time), then says `#WELCOME#` or
//! `#FAILURE#` (and raises `AuthenticationError`). Then the roles swap, so the client knows the
//! server has the key too. A listener without the key cannot impersonate the server, and a
//! client with a wrong key never gets to send a message (which CPython would unpickle: running
//! code chosen by whoever connects, the reason the check exists).
//!
//! Every message is framed like CPython's `Connection.send_bytes`: a 4-byte big-endian length,
//! then the bytes (a stream socket keeps no boundaries of its own).

use std::io::{Read, Write};

use anyhow::{bail, ensure, Context, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";
const DIGEST_PREFIX: &[u8] = b"{sha256}";
/// Random bytes in a challenge (CPython's `MESSAGE_LENGTH`).
const MESSAGE_LENGTH: usize = 40;
/// The longest frame accepted during the handshake (CPython reads at most 256 bytes).
const MAX_HANDSHAKE_FRAME: usize = 256;

/// A client or server with a wrong key: CPython's `multiprocessing.AuthenticationError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationError(pub String);

impl std::fmt::Display for AuthenticationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthenticationError: {}", self.0)
    }
}
impl std::error::Error for AuthenticationError {}

/// Send one frame: length (4 bytes, big-endian) and the bytes.
pub fn send_bytes(s: &mut impl Write, b: &[u8]) -> Result<()> {
    let len = u32::try_from(b.len()).context("frame too long")?;
    s.write_all(&len.to_be_bytes()).context("write")?;
    s.write_all(b).context("write")?;
    Ok(())
}

/// Receive one frame of at most `max` bytes.
pub fn recv_bytes(s: &mut impl Read, max: usize) -> Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).context("read (frame length)")?;
    let len = u32::from_be_bytes(len) as usize;
    ensure!(len <= max, "frame of {len} bytes, more than {max}");
    let mut b = vec![0u8; len];
    s.read_exact(&mut b).context("read (frame)")?;
    Ok(b)
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac
}

/// The side that asks: send a challenge, check the answer, say WELCOME or FAILURE.
/// `Err(AuthenticationError)` when the peer's key is not ours.
pub fn deliver_challenge(s: &mut (impl Read + Write), key: &[u8]) -> Result<()> {
    // Random from the OS (rand's thread generator is seeded from it), not from --seed: a
    // challenge that can be predicted can be answered by someone who recorded an earlier one.
    let random: [u8; MESSAGE_LENGTH] = std::array::from_fn(|_| rand::random());
    let mut message = DIGEST_PREFIX.to_vec();
    message.extend_from_slice(&random);
    let mut frame = CHALLENGE.to_vec();
    frame.extend_from_slice(&message);
    send_bytes(s, &frame)?;
    let response = recv_bytes(s, MAX_HANDSHAKE_FRAME)?;
    let ok = response
        .strip_prefix(DIGEST_PREFIX)
        // verify_slice compares in constant time: how long it takes says nothing about how many
        // bytes matched.
        .is_some_and(|digest| hmac_sha256(key, &message).verify_slice(digest).is_ok());
    if ok {
        send_bytes(s, WELCOME)?;
        Ok(())
    } else {
        send_bytes(s, FAILURE)?;
        Err(AuthenticationError("digest received was wrong".into()).into())
    }
}

/// The side that answers: prove we have the key. `Err(AuthenticationError)` when the other side
/// says FAILURE.
pub fn answer_challenge(s: &mut (impl Read + Write), key: &[u8]) -> Result<()> {
    let frame = recv_bytes(s, MAX_HANDSHAKE_FRAME)?;
    let Some(message) = frame.strip_prefix(CHALLENGE) else {
        bail!(
            "protocol error: expected a challenge, got {} bytes",
            frame.len()
        );
    };
    let digest = hmac_sha256(key, message).finalize().into_bytes();
    let mut answer = DIGEST_PREFIX.to_vec();
    answer.extend_from_slice(&digest);
    send_bytes(s, &answer)?;
    let verdict = recv_bytes(s, MAX_HANDSHAKE_FRAME)?;
    if verdict == WELCOME {
        Ok(())
    } else {
        Err(AuthenticationError("digest sent was rejected".into()).into())
    }
}

/// Whether an error is an [`AuthenticationError`] (rather than, say, a broken connection).
pub fn is_auth_error(e: &anyhow::Error) -> bool {
    e.downcast_ref::<AuthenticationError>().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn handshake(server_key: &'static [u8], client_key: &'static [u8]) -> (bool, bool) {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || {
            answer_challenge(&mut b, client_key).is_ok()
                && deliver_challenge(&mut b, client_key).is_ok()
        });
        let server = deliver_challenge(&mut a, server_key).is_ok()
            && answer_challenge(&mut a, server_key).is_ok();
        (server, t.join().unwrap())
    }

    #[test]
    fn the_right_key_is_welcomed_both_ways() {
        assert_eq!(handshake(b"secret", b"secret"), (true, true));
    }

    #[test]
    fn a_wrong_key_is_refused() {
        let (server, client) = handshake(b"secret", b"guess");
        assert!(!server && !client);
    }

    #[test]
    fn the_hmac_is_rfc_4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?")
            .finalize()
            .into_bytes();
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
