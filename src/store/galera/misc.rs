//! The small per-account and per-domain tables in MariaDB: Sieve scripts,
//! DKIM keys, the spam classifier's counts, vacation replies (the same
//! rules as their SQLite files) and the settings the cluster shares.

use std::collections::HashMap;

use mysql_async::Value;

use super::sql::{Tx, all, marks, one, run, values};
use crate::store::{DkimKey, NewMessage, ScriptInfo, SharedItem, SieveScript, SpamCounts, SpamTotals, StoreError};
use crate::vacation::Vacation;

async fn account_exists(tx: &mut Tx<'_>, account: &str) -> Result<(), StoreError> {
    match one::<i64>(tx, "SELECT 1 FROM accounts WHERE address = ?", (account,)).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound(format!("account {account}"))),
    }
}

// --- Sieve -------------------------------------------------------------------

pub async fn sieve_put(tx: &mut Tx<'_>, account: &str, name: &str, script: &str) -> Result<(), StoreError> {
    account_exists(tx, account).await?;
    run(
        tx,
        "INSERT INTO sieve_scripts (account, name, script) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE script = VALUES(script)",
        (account, name, script),
    )
    .await?;
    Ok(())
}

pub async fn sieve_list(tx: &mut Tx<'_>, account: &str) -> Result<Vec<ScriptInfo>, StoreError> {
    let rows: Vec<(String, bool)> =
        all(tx, "SELECT name, active FROM sieve_scripts WHERE account = ? ORDER BY name", (account,)).await?;
    Ok(rows.into_iter().map(|(name, active)| ScriptInfo { name, active }).collect())
}

pub async fn sieve_get(tx: &mut Tx<'_>, account: &str, name: &str) -> Result<Option<String>, StoreError> {
    one(tx, "SELECT script FROM sieve_scripts WHERE account = ? AND name = ?", (account, name)).await
}

pub async fn sieve_active(tx: &mut Tx<'_>, account: &str) -> Result<Option<SieveScript>, StoreError> {
    let row: Option<(String, String)> =
        one(tx, "SELECT name, script FROM sieve_scripts WHERE account = ? AND active", (account,)).await?;
    Ok(row.map(|(name, text)| SieveScript { name, text }))
}

pub async fn sieve_set_active(tx: &mut Tx<'_>, account: &str, name: Option<&str>) -> Result<(), StoreError> {
    if let Some(n) = name
        && sieve_get(tx, account, n).await?.is_none()
    {
        return Err(StoreError::NotFound(format!("script {n}")));
    }
    run(tx, "UPDATE sieve_scripts SET active = (name = ?) WHERE account = ?", (name.unwrap_or(""), account)).await?;
    Ok(())
}

pub async fn sieve_delete(tx: &mut Tx<'_>, account: &str, name: &str) -> Result<(), StoreError> {
    let active: Option<bool> =
        one(tx, "SELECT active FROM sieve_scripts WHERE account = ? AND name = ?", (account, name)).await?;
    match active {
        None => Err(StoreError::NotFound(format!("script {name}"))),
        Some(true) => Err(StoreError::Invalid(format!("script {name} is active; deactivate it first"))),
        Some(false) => {
            run(tx, "DELETE FROM sieve_scripts WHERE account = ? AND name = ?", (account, name)).await?;
            Ok(())
        }
    }
}

pub async fn sieve_rename(tx: &mut Tx<'_>, account: &str, from: &str, to: &str) -> Result<(), StoreError> {
    if sieve_get(tx, account, to).await?.is_some() {
        return Err(StoreError::Invalid(format!("script {to} already exists")));
    }
    if run(tx, "UPDATE sieve_scripts SET name = ? WHERE account = ? AND name = ?", (to, account, from)).await? == 0 {
        return Err(StoreError::NotFound(format!("script {from}")));
    }
    Ok(())
}

// --- DKIM --------------------------------------------------------------------

pub async fn dkim_put(tx: &mut Tx<'_>, k: &DkimKey, now: i64) -> Result<(), StoreError> {
    run(
        tx,
        "INSERT INTO dkim_keys (domain, selector, algorithm, private_key, public_key, created) VALUES (?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE selector = VALUES(selector), algorithm = VALUES(algorithm),
           private_key = VALUES(private_key), public_key = VALUES(public_key), created = VALUES(created)",
        (&k.domain, &k.selector, &k.algorithm, &k.private_key, &k.public_key, now),
    )
    .await?;
    Ok(())
}

const DKIM_COLS: &str = "SELECT domain, selector, algorithm, private_key, public_key FROM dkim_keys";

fn dkim((domain, selector, algorithm, private_key, public_key): (String, String, String, Vec<u8>, Vec<u8>)) -> DkimKey {
    DkimKey { domain, selector, algorithm, private_key, public_key }
}

pub async fn dkim_get(tx: &mut Tx<'_>, domain: &str) -> Result<Option<DkimKey>, StoreError> {
    Ok(one(tx, &format!("{DKIM_COLS} WHERE domain = ?"), (domain,)).await?.map(dkim))
}

pub async fn dkim_list(tx: &mut Tx<'_>) -> Result<Vec<DkimKey>, StoreError> {
    Ok(all(tx, &format!("{DKIM_COLS} ORDER BY domain"), ()).await?.into_iter().map(dkim).collect())
}

pub async fn dkim_remove(tx: &mut Tx<'_>, domain: &str) -> Result<bool, StoreError> {
    Ok(run(tx, "DELETE FROM dkim_keys WHERE domain = ?", (domain,)).await? > 0)
}

// --- cluster-wide settings ------------------------------------------------------

pub async fn shared_put(tx: &mut Tx<'_>, name: &str, value: &[u8], node: &str, now: i64) -> Result<i64, StoreError> {
    // Two members saving at once meet on the row: Galera refuses one
    // commit and the write is retried, so versions never repeat. Read, then
    // a plain INSERT or UPDATE: `INSERT … ON DUPLICATE KEY UPDATE` from two
    // nodes at once let both first saves commit as version 1 about once in
    // twenty runs of the store test here (MariaDB 10.11, Galera 26.4).
    let current = one::<i64>(tx, "SELECT version FROM shared_settings WHERE name = ? FOR UPDATE", (name,)).await?;
    let version = current.map_or(1, |v| v + 1);
    if current.is_some() {
        run(
            tx,
            "UPDATE shared_settings SET version = ?, value = ?, node = ?, at = ? WHERE name = ?",
            (version, value, node, now, name),
        )
        .await?;
    } else {
        // The other node's first save may be applied here between the read
        // and the insert (an applier passes the read's gap lock): the retry
        // then finds its row.
        run(
            tx,
            "INSERT INTO shared_settings (name, version, value, node, at) VALUES (?, ?, ?, ?, ?)",
            (name, version, value, node, now),
        )
        .await
        .map_err(|e| match e {
            StoreError::Constraint(why) => StoreError::Conflict(why),
            e => e,
        })?;
    }
    Ok(version)
}

pub async fn shared_items(tx: &mut Tx<'_>) -> Result<Vec<SharedItem>, StoreError> {
    let rows: Vec<(String, i64, Vec<u8>, String, i64)> =
        all(tx, "SELECT name, version, value, node, at FROM shared_settings ORDER BY name", ()).await?;
    Ok(rows.into_iter().map(|(name, version, value, node, at)| SharedItem { name, version, value, node, at }).collect())
}

// --- spam --------------------------------------------------------------------

pub async fn spam_counts(tx: &mut Tx<'_>, hashes: &[i64]) -> Result<SpamCounts, StoreError> {
    let mut tokens = HashMap::new();
    for chunk in hashes.chunks(500) {
        let params: Vec<Value> = chunk.iter().map(|h| Value::from(*h)).collect();
        let rows: Vec<(i64, u32, u32)> = all(
            tx,
            &format!("SELECT hash, spam, ham FROM spam_tokens WHERE hash IN ({})", marks(chunk.len())),
            values(params),
        )
        .await?;
        tokens.extend(rows.into_iter().map(|(h, s, n)| (h, (s, n))));
    }
    Ok(SpamCounts { tokens, totals: spam_totals(tx).await? })
}

pub async fn spam_totals(tx: &mut Tx<'_>) -> Result<SpamTotals, StoreError> {
    let rows: Vec<(String, u32)> =
        all(tx, "SELECT name, value FROM counters WHERE name IN ('spam_trained', 'ham_trained')", ()).await?;
    let get = |n: &str| rows.iter().find(|(k, _)| k == n).map(|r| r.1).unwrap_or(0);
    Ok(SpamTotals { spam: get("spam_trained"), ham: get("ham_trained") })
}

/// Learns one message: each of its tokens counts once more as spam (or ham).
/// Not idempotent: a commit whose answer was lost and is retried counts a
/// message twice, a skew the classifier's statistics shrug off.
pub async fn learn(tx: &mut Tx<'_>, hashes: &[i64], spam: bool) -> Result<(), StoreError> {
    let (s, h) = if spam { (1, 0) } else { (0, 1) };
    for chunk in hashes.chunks(500) {
        let rows = vec!["(?, ?, ?)"; chunk.len()].join(", ");
        let params: Vec<Value> = chunk.iter().flat_map(|hash| [Value::from(*hash), s.into(), h.into()]).collect();
        run(
            tx,
            &format!(
                "INSERT INTO spam_tokens (hash, spam, ham) VALUES {rows}
                 ON DUPLICATE KEY UPDATE spam = spam + VALUES(spam), ham = ham + VALUES(ham)"
            ),
            values(params),
        )
        .await?;
    }
    let counter = if spam { "spam_trained" } else { "ham_trained" };
    run(tx, "UPDATE counters SET value = value + 1 WHERE name = ?", (counter,)).await?;
    Ok(())
}

// --- vacation ----------------------------------------------------------------

pub async fn vacation_set(tx: &mut Tx<'_>, account: &str, v: Option<&Vacation>) -> Result<(), StoreError> {
    match v {
        Some(v) => {
            account_exists(tx, account).await?;
            run(
                tx,
                "INSERT INTO vacations (account, subject, body, days) VALUES (?, ?, ?, ?)
                 ON DUPLICATE KEY UPDATE subject = VALUES(subject), body = VALUES(body), days = VALUES(days)",
                (account, &v.subject, &v.body, v.days),
            )
            .await?;
        }
        None => {
            run(tx, "DELETE FROM vacations WHERE account = ?", (account,)).await?;
        }
    }
    // A new message (or none) starts a new period for everyone.
    run(tx, "DELETE FROM vacation_replies WHERE account = ?", (account,)).await?;
    Ok(())
}

pub async fn vacation_get(tx: &mut Tx<'_>, account: &str) -> Result<Option<Vacation>, StoreError> {
    let row: Option<(String, String, u32)> =
        one(tx, "SELECT subject, body, days FROM vacations WHERE account = ?", (account,)).await?;
    Ok(row.map(|(subject, body, days)| Vacation { subject, body, days }))
}

/// Queues the reply unless this sender was answered within the period; the
/// check, the memory and the queueing share the transaction.
pub async fn vacation_send(
    tx: &mut Tx<'_>,
    account: &str,
    sender: &str,
    days: u32,
    reply: &NewMessage,
    now: i64,
) -> Result<bool, StoreError> {
    // A retry of a commit that went through finds its own reply queued.
    if one::<i64>(tx, "SELECT id FROM archive WHERE id = ?", (reply.id.0,)).await?.is_some() {
        return Ok(true);
    }
    let sender = sender.to_ascii_lowercase();
    let last: Option<i64> = one(
        tx,
        "SELECT last_sent FROM vacation_replies WHERE account = ? AND sender = ? FOR UPDATE",
        (account, &sender),
    )
    .await?;
    if last.is_some_and(|t| now < t + i64::from(days) * 86_400) {
        return Ok(false);
    }
    run(
        tx,
        "INSERT INTO vacation_replies (account, sender, last_sent) VALUES (?, ?, ?)
         ON DUPLICATE KEY UPDATE last_sent = VALUES(last_sent)",
        (account, &sender, now),
    )
    .await?;
    if super::archive::record(tx, reply, "accepted", "vacation reply", now).await? {
        super::queue::enqueue(tx, reply, now).await?;
    }
    Ok(true)
}
