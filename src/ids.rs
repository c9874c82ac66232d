//! Identifiers made before the first write attempt.
//!
//! Every row that a retried transaction could insert twice gets its id here, in
//! the application, so a retry after an ambiguous commit (Galera's 1062 after a
//! lost acknowledgement) finds its own row instead of inserting a twin.

use std::fmt;

/// A random positive 63-bit id, stable across retries of one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub i64);

impl Id {
    pub fn new() -> Id {
        let mut b = [0u8; 8];
        // getrandom only fails when the OS has no entropy source at all; a mail
        // server cannot run safely then, so there is nothing better to do.
        getrandom::fill(&mut b).expect("the OS random source is unavailable");
        Id((u64::from_le_bytes(b) >> 1) as i64)
    }

    /// Parses the 16-hex-digit form that logs and `hato ctl` show.
    pub fn parse(s: &str) -> Option<Id> {
        if s.is_empty() || s.len() > 16 {
            return None;
        }
        u64::from_str_radix(s, 16).ok().filter(|v| *v <= i64::MAX as u64).map(|v| Id(v as i64))
    }
}

impl Default for Id {
    fn default() -> Self {
        Id::new()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", self.0)
    }
}

/// The SHA-256 of `data` in lowercase hex: content ids of bodies, the
/// store's keys for web session tokens.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Random printable token (passwords, MIME boundaries, Message-ID left parts).
pub fn token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut raw = vec![0u8; len];
    getrandom::fill(&mut raw).expect("the OS random source is unavailable");
    raw.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parses_back() {
        for _ in 0..100 {
            let id = Id::new();
            assert!(id.0 >= 0);
            assert_eq!(Id::parse(&id.to_string()), Some(id));
        }
        assert_eq!(Id::parse("zz"), None);
        assert_eq!(Id::parse(""), None);
        assert_eq!(Id::parse("FFFFFFFFFFFFFFFF"), None);
    }

    #[test]
    fn tokens_have_the_asked_length() {
        assert_eq!(token(12).len(), 12);
        assert_ne!(token(16), token(16));
    }
}
