//! Messages a filter held back, in MariaDB (see `sqlite/quarantine.rs`).

use super::blob::{self, opt};
use super::sql::{Tx, all, one, run};
use crate::ids::Id;
use crate::store::{NewMessage, NewRecipient, QuarantineEntry, StoreError};

pub async fn add(tx: &mut Tx<'_>, m: &NewMessage, filter: &str, reason: &str, now: i64) -> Result<(), StoreError> {
    if !super::archive::record(tx, m, "quarantined", &format!("{filter}: {reason}"), now).await? {
        return Ok(()); // held before (and perhaps released since)
    }
    let blob = blob::put(tx, &m.body).await?;
    run(
        tx,
        "INSERT INTO quarantine (id, created, blob_id, size, sender, client_ip, helo, auth_user, message_id, subject, filter, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            m.id.0,
            now,
            &blob,
            m.body.len() as i64,
            &m.sender,
            &m.client_ip,
            &m.helo,
            opt(&m.auth_user),
            &m.message_id,
            &m.subject,
            filter,
            reason,
        ),
    )
    .await?;
    for (seq, r) in m.recipients.iter().enumerate() {
        run(
            tx,
            "INSERT INTO quarantine_rcpts (quarantine_id, seq, address, local_account) VALUES (?, ?, ?, ?)",
            (m.id.0, seq as i64, &r.address, opt(&r.local_account)),
        )
        .await?;
    }
    Ok(())
}

async fn recipients(tx: &mut Tx<'_>, id: i64) -> Result<Vec<(String, Option<String>)>, StoreError> {
    all(tx, "SELECT address, local_account FROM quarantine_rcpts WHERE quarantine_id = ? ORDER BY seq", (id,)).await
}

pub async fn list(tx: &mut Tx<'_>, limit: usize, account: Option<&str>) -> Result<Vec<QuarantineEntry>, StoreError> {
    type Row = (i64, i64, i64, String, String, String, String, String);
    let rows: Vec<Row> = all(
        tx,
        "SELECT id, created, size, sender, message_id, subject, filter, reason FROM quarantine
         WHERE ? IS NULL OR id IN (SELECT quarantine_id FROM quarantine_rcpts WHERE local_account = ?)
         ORDER BY created DESC, id LIMIT ?",
        (account, account, limit as u64),
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, created, size, sender, message_id, subject, filter, reason) in rows {
        let recipients = recipients(tx, id).await?.into_iter().map(|r| r.0).collect();
        out.push(QuarantineEntry {
            id: Id(id),
            created,
            size,
            sender,
            recipients,
            message_id,
            subject,
            filter,
            reason,
        });
    }
    Ok(out)
}

pub async fn body(tx: &mut Tx<'_>, id: Id) -> Result<Vec<u8>, StoreError> {
    let blob: String = one(tx, "SELECT blob_id FROM quarantine WHERE id = ?", (id.0,))
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("quarantined message {id}")))?;
    blob::get(tx, &blob).await
}

async fn remove(tx: &mut Tx<'_>, id: Id) -> Result<(), StoreError> {
    let blob: String = one(tx, "DELETE FROM quarantine WHERE id = ? RETURNING blob_id", (id.0,))
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("quarantined message {id}")))?;
    run(tx, "DELETE FROM quarantine_rcpts WHERE quarantine_id = ?", (id.0,)).await?;
    blob::release(tx, &blob).await
}

/// Queues the message for its recipients and forgets the quarantine row in
/// one transaction; `queued` (the new queue id) is made before the first
/// attempt, so a retry after a lost commit reports the release it made.
pub async fn release(tx: &mut Tx<'_>, id: Id, queued: Id, now: i64) -> Result<Id, StoreError> {
    type Held = (String, String, String, Option<String>, String, String, String, String);
    let row: Option<Held> = one(
        tx,
        "SELECT sender, client_ip, helo, auth_user, message_id, subject, blob_id, filter FROM quarantine WHERE id = ?",
        (id.0,),
    )
    .await?;
    let Some((sender, client_ip, helo, auth_user, message_id, subject, blob_id, filter)) = row else {
        if one::<i64>(tx, "SELECT id FROM queued_messages WHERE id = ?", (queued.0,)).await?.is_some() {
            return Ok(queued);
        }
        return Err(StoreError::NotFound(format!("quarantined message {id}")));
    };
    let body = blob::get(tx, &blob_id).await?;
    // Releasing what the spam filter held says it was not spam: learn it as ham.
    if filter == "spam" {
        super::misc::learn(tx, &crate::spam::tokens::hashes(&body), false).await?;
    }
    let recipients = recipients(tx, id.0)
        .await?
        .into_iter()
        .map(|(address, local_account)| NewRecipient::new(address, local_account))
        .collect();
    let dsn = Default::default();
    let msg = NewMessage { id: queued, body, sender, client_ip, helo, auth_user, message_id, subject, recipients, dsn };
    super::queue::enqueue(tx, &msg, now).await?;
    // Archived once, when it arrived; the archive now says what became of it.
    run(tx, "UPDATE archive SET disposition = 'released' WHERE id = ?", (id.0,)).await?;
    remove(tx, id).await?;
    Ok(queued)
}

pub async fn delete(tx: &mut Tx<'_>, id: Id) -> Result<(), StoreError> {
    remove(tx, id).await
}

pub async fn expire(tx: &mut Tx<'_>, before: i64) -> Result<usize, StoreError> {
    let ids: Vec<i64> = all(tx, "SELECT id FROM quarantine WHERE created < ?", (before,)).await?;
    for id in &ids {
        remove(tx, Id(*id)).await?;
    }
    Ok(ids.len())
}
