//! Passwords: argon2id PHC strings, and verifying them without letting a
//! crowd of logins take the machine's memory.
//!
//! Each argon2id check needs its memory cost (19 MiB by default) at once.
//! Left alone, a thousand clients logging in together would ask for 19 GiB,
//! and the allocator keeps what it got. So checks run in a fixed number of
//! slots (one per core), each reusing one buffer; and a correct login is
//! remembered for a few minutes (as an HMAC under a key that lives only in
//! this process) so mail clients that reconnect all day do not pay again.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use ring::hmac;

/// How long a verified (user, password, stored hash) triple is trusted.
const REMEMBER: Duration = Duration::from_secs(300);
const REMEMBER_MAX: usize = 50_000;

pub fn hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

struct Verifier {
    slots: tokio::sync::Semaphore,
    buffers: Mutex<Vec<Vec<Block>>>,
    key: hmac::Key,
    /// None without a random key (then a cache key would be guessable).
    remembered: Option<Mutex<HashMap<Vec<u8>, Instant>>>,
}

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let slots = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let mut key = [0u8; 32];
        // Without randomness the cache key would be guessable; then nothing is remembered.
        let have_key = getrandom::fill(&mut key).is_ok();
        Verifier {
            slots: tokio::sync::Semaphore::new(slots),
            buffers: Mutex::new(Vec::new()),
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            remembered: have_key.then(|| Mutex::new(HashMap::new())),
        }
    })
}

/// The argon2id check itself, with a caller-provided buffer.
fn check(password: &str, phc: &str, buffer: &mut Vec<Block>) -> bool {
    let Ok(h) = PasswordHash::new(phc) else { return false };
    let (Ok(params), Some(salt), Some(expected)) = (Params::try_from(&h), h.salt, h.hash) else { return false };
    let Ok(version) = h.version.map(Version::try_from).unwrap_or(Ok(Version::V0x13)) else { return false };
    let Ok(algorithm) = Algorithm::try_from(h.algorithm) else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    buffer.resize(params.block_count(), Block::default());
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    if argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut buffer[..]).is_err() {
        return false;
    }
    // Constant time: every byte is compared whatever the first difference.
    out.iter().zip(expected.as_bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// What a verified login is remembered by: a MAC of the user, the password
/// and the stored hash, so a changed password is a different entry.
fn remember_tag(v: &Verifier, user: &str, password: &str, phc: &str) -> Vec<u8> {
    let mut mac = hmac::Context::with_key(&v.key);
    for part in [user.as_bytes(), b"\0", password.as_bytes(), b"\0", phc.as_bytes()] {
        mac.update(part);
    }
    mac.sign().as_ref().to_vec()
}

/// Whether `password` matches the PHC string `phc` (for account `user`).
pub async fn verify(user: &str, password: &str, phc: &str) -> bool {
    let v = verifier();
    let tag = remember_tag(v, user, password, phc);
    if let Some(remembered) = &v.remembered {
        let mut seen = remembered.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get(&tag) {
            Some(at) if at.elapsed() < REMEMBER => return true,
            Some(_) => {
                seen.remove(&tag);
            }
            None => {}
        }
    }
    let Ok(_slot) = v.slots.acquire().await else { return false };
    let mut buffer = v.buffers.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default();
    let (password_owned, phc_owned) = (password.to_string(), phc.to_string());
    let result = tokio::task::spawn_blocking(move || {
        let ok = check(&password_owned, &phc_owned, &mut buffer);
        (ok, buffer)
    })
    .await;
    let Ok((ok, buffer)) = result else { return false };
    v.buffers.lock().unwrap_or_else(|p| p.into_inner()).push(buffer);
    if let (true, Some(remembered)) = (ok, &v.remembered) {
        let mut seen = remembered.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= REMEMBER_MAX {
            seen.retain(|_, at| at.elapsed() < REMEMBER);
        }
        if seen.len() < REMEMBER_MAX {
            seen.insert(tag, Instant::now());
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_with_a_reused_buffer() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("a@b", "correct horse", &h).await);
        // Remembered, so the next login of this client skips argon2 (it did
        // not, when the cache was judged empty by its unallocated capacity).
        let remembered = |password: &str| {
            let v = verifier();
            let tag = remember_tag(v, "a@b", password, &h);
            v.remembered.as_ref().is_some_and(|m| m.lock().unwrap().contains_key(&tag))
        };
        assert!(remembered("correct horse"));
        assert!(verify("a@b", "correct horse", &h).await, "second time from memory");
        assert!(!verify("a@b", "wrong", &h).await);
        assert!(!remembered("wrong"), "a failure is never remembered");
        assert!(!verify("a@b", "correct horse", "not a hash").await);
        let mut buf = Vec::new();
        assert!(check("correct horse", &h, &mut buf) && !buf.is_empty());
        assert!(!check("correct horsf", &h, &mut buf));
    }
}
