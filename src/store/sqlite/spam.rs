//! The Bayesian classifier's counts: read for the tokens of one message,
//! added to when a message is learnt as spam or ham.

use std::collections::HashMap;

use rusqlite::{Connection, params};

use crate::store::{SpamCounts, SpamTotals, StoreError};

/// Counts of the given token hashes (absent ones left out), and how many
/// spam and ham messages were learnt in all.
pub fn counts(c: &Connection, hashes: &[i64]) -> Result<SpamCounts, StoreError> {
    // A few hundred tokens per query instead of one query per token.
    const CHUNK: usize = 256;
    let mut found = HashMap::new();
    for chunk in hashes.chunks(CHUNK) {
        let marks = vec!["?"; chunk.len()].join(",");
        let mut st = c.prepare_cached(&format!("SELECT hash, spam, ham FROM spam_tokens WHERE hash IN ({marks})"))?;
        let mut rows = st.query(rusqlite::params_from_iter(chunk.iter()))?;
        while let Some(r) = rows.next()? {
            found.insert(r.get(0)?, (r.get(1)?, r.get(2)?));
        }
    }
    Ok(SpamCounts { tokens: found, totals: totals(c)? })
}

pub fn totals(c: &Connection) -> Result<SpamTotals, StoreError> {
    let get = |name: &str| c.query_row("SELECT value FROM counters WHERE name = ?1", [name], |r| r.get::<_, u32>(0));
    Ok(SpamTotals { spam: get("spam_trained")?, ham: get("ham_trained")? })
}

/// Learns one message: each of its tokens counts once more as spam (or ham).
pub fn learn(c: &Connection, hashes: &[i64], spam: bool) -> Result<(), StoreError> {
    let (s, h) = if spam { (1, 0) } else { (0, 1) };
    let mut st = c.prepare_cached(
        "INSERT INTO spam_tokens (hash, spam, ham) VALUES (?1, ?2, ?3)
         ON CONFLICT (hash) DO UPDATE SET spam = spam + excluded.spam, ham = ham + excluded.ham",
    )?;
    for hash in hashes {
        st.execute(params![hash, s, h])?;
    }
    c.execute(
        "UPDATE counters SET value = value + 1 WHERE name = ?1",
        [if spam { "spam_trained" } else { "ham_trained" }],
    )?;
    Ok(())
}
