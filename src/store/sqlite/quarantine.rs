//! Messages a filter held back: kept whole (body shared with the blob store)
//! with their envelope, until an administrator releases (queues) or deletes
//! them, or the retention period ends.

use rusqlite::{Connection, OptionalExtension, params};

use super::mailbox::BlobKey;
use crate::ids::Id;
use crate::store::{NewMessage, NewRecipient, QuarantineEntry, StoreError};

/// Holds `m` back; `blob` is made from its body.
pub fn add(
    c: &Connection,
    m: &NewMessage,
    blob: &BlobKey,
    filter: &str,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    if !super::archive::record(c, m, blob, "quarantined", &format!("{filter}: {reason}"), now)? {
        return Ok(()); // held before (and perhaps released since)
    }
    let inserted = c.execute(
        "INSERT OR IGNORE INTO quarantine (id, created, blob_id, size, sender, client_ip, helo, auth_user, message_id, subject, filter, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![m.id.0, now, blob.id, m.body.len() as i64, m.sender, m.client_ip, m.helo, m.auth_user, m.message_id, m.subject, filter, reason],
    )?;
    if inserted > 0 {
        for r in &m.recipients {
            c.execute(
                "INSERT INTO quarantine_rcpts (quarantine_id, address, local_account) VALUES (?1, ?2, ?3)",
                params![m.id.0, r.address, r.local_account],
            )?;
        }
    }
    Ok(())
}

fn recipients(c: &Connection, id: i64) -> Result<Vec<(String, Option<String>)>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT address, local_account FROM quarantine_rcpts WHERE quarantine_id = ?1 ORDER BY rowid",
    )?;
    Ok(st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?)
}

/// Held messages, newest first; with `account`, only those held for it
/// (what a user may see of the quarantine).
pub fn list(c: &Connection, limit: usize, account: Option<&str>) -> Result<Vec<QuarantineEntry>, StoreError> {
    let mut st = c.prepare(
        "SELECT id, created, size, sender, message_id, subject, filter, reason FROM quarantine
         WHERE ?2 IS NULL OR id IN (SELECT quarantine_id FROM quarantine_rcpts WHERE local_account = ?2)
         ORDER BY created DESC, id LIMIT ?1",
    )?;
    let rows: Vec<QuarantineEntry> = st
        .query_map(params![limit as i64, account], |r| {
            Ok(QuarantineEntry {
                id: Id(r.get(0)?),
                created: r.get(1)?,
                size: r.get(2)?,
                sender: r.get(3)?,
                recipients: Vec::new(),
                message_id: r.get(4)?,
                subject: r.get(5)?,
                filter: r.get(6)?,
                reason: r.get(7)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|mut e| {
            e.recipients = recipients(c, e.id.0)?.into_iter().map(|r| r.0).collect();
            Ok(e)
        })
        .collect()
}

pub fn body(c: &Connection, id: Id) -> Result<Vec<u8>, StoreError> {
    c.query_row("SELECT b.data FROM quarantine q JOIN blobs b ON b.id = q.blob_id WHERE q.id = ?1", [id.0], |r| {
        r.get(0)
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("quarantined message {id}")))
}

fn remove(c: &Connection, id: Id) -> Result<(), StoreError> {
    let blob: String = c
        .query_row("DELETE FROM quarantine WHERE id = ?1 RETURNING blob_id", [id.0], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("quarantined message {id}")))?;
    c.execute("DELETE FROM quarantine_rcpts WHERE quarantine_id = ?1", [id.0])?;
    super::mailbox::release_blob(c, &blob)
}

/// Queues the message for its recipients as it would have been, and forgets
/// the quarantine row in the same transaction. Returns the new queue id.
pub fn release(c: &Connection, id: Id, now: i64) -> Result<Id, StoreError> {
    let held = c
        .query_row(
            "SELECT q.sender, q.client_ip, q.helo, q.auth_user, q.message_id, q.subject, b.data, q.filter, q.blob_id
             FROM quarantine q JOIN blobs b ON b.id = q.blob_id WHERE q.id = ?1",
            [id.0],
            |r| {
                let msg = NewMessage {
                    id: Id::new(),
                    sender: r.get(0)?,
                    client_ip: r.get(1)?,
                    helo: r.get(2)?,
                    auth_user: r.get(3)?,
                    message_id: r.get(4)?,
                    subject: r.get(5)?,
                    body: r.get(6)?,
                    recipients: Vec::new(),
                    dsn: Default::default(),
                };
                Ok((msg, r.get::<_, String>(7)?, r.get::<_, String>(8)?))
            },
        )
        .optional()?;
    let (mut msg, filter, blob) = held.ok_or_else(|| StoreError::NotFound(format!("quarantined message {id}")))?;
    // Releasing what the spam filter held says it was not spam: learn it as ham.
    if filter == "spam" {
        super::spam::learn(c, &crate::spam::tokens::hashes(&msg.body), false)?;
    }
    msg.recipients = recipients(c, id.0)?
        .into_iter()
        .map(|(address, local_account)| NewRecipient::new(address, local_account))
        .collect();
    super::queue::enqueue(c, &msg, &blob, now)?;
    // Archived once, when it arrived; the archive now says what became of it.
    super::archive::set_disposition(c, id, "released")?;
    remove(c, id)?;
    Ok(msg.id)
}

pub fn delete(c: &Connection, id: Id) -> Result<(), StoreError> {
    remove(c, id)
}

/// Deletes what has been held longer than the retention period; returns how many.
pub fn expire(c: &Connection, before: i64) -> Result<usize, StoreError> {
    let ids: Vec<i64> = c
        .prepare("SELECT id FROM quarantine WHERE created < ?1")?
        .query_map([before], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in &ids {
        remove(c, Id(*id))?;
    }
    Ok(ids.len())
}
