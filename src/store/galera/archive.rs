//! The archive's rows in MariaDB: replicated to every node, written in the
//! transaction of the message's fate. Full-text search is not here: each
//! node keeps its own index (`store/archive_index.rs`) and follows these rows by
//! `archived_at`, the time each row was written.

use mysql_async::Value;

use super::blob;
use super::sql::{Stmt, Tx, all, contains, marks, one, run, values};
use crate::ids::Id;
use crate::store::{ArchiveEntry, ArchiveQuery, NewMessage, StoreError, UnindexedArchive};

/// Archives a message; false when it was archived before (the id is made
/// before the first attempt, so a retried commit finds its own row).
/// `created` is the message's date: now, or an imported message's own.
pub async fn record(
    tx: &mut Tx<'_>,
    m: &NewMessage,
    disposition: &str,
    reason: &str,
    created: i64,
) -> Result<bool, StoreError> {
    if one::<i64>(tx, "SELECT id FROM archive WHERE id = ? FOR UPDATE", (m.id.0,)).await?.is_some() {
        return Ok(false);
    }
    let blob = blob::put(tx, &m.body).await?;
    run(
        tx,
        "INSERT INTO archive (id, created, archived_at, direction, disposition, reason, sender, recipients, subject,
                              message_id, blob_id, size)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            m.id.0,
            created,
            crate::clock::now(),
            m.direction(),
            disposition,
            reason,
            &m.sender,
            m.recipient_list(),
            &m.subject,
            &m.message_id,
            &blob,
            m.body.len() as i64,
        ),
    )
    .await?;
    Ok(true)
}

/// Whether a message is archived (a commit whose answer was lost may have
/// gone through); locks the row it finds.
pub async fn exists(tx: &mut Tx<'_>, id: Id) -> Result<bool, StoreError> {
    Ok(one::<i64>(tx, "SELECT id FROM archive WHERE id = ? FOR UPDATE", (id.0,)).await?.is_some())
}

/// The statement that archives a new message whose body is stored as `blob`.
pub fn insert_statement(m: &NewMessage, disposition: &str, reason: &str, created: i64, blob: &str) -> Stmt {
    Stmt::new(
        "INSERT INTO archive (id, created, archived_at, direction, disposition, reason, sender, recipients, subject,
                              message_id, blob_id, size)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            m.id.0.into(),
            created.into(),
            crate::clock::now().into(),
            m.direction().into(),
            disposition.into(),
            reason.into(),
            m.sender.as_str().into(),
            m.recipient_list().into(),
            m.subject.as_str().into(),
            m.message_id.as_str().into(),
            blob.into(),
            (m.body.len() as i64).into(),
        ],
    )
}

pub async fn body(tx: &mut Tx<'_>, id: Id) -> Result<Vec<u8>, StoreError> {
    let blob: String = one(tx, "SELECT blob_id FROM archive WHERE id = ?", (id.0,))
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("archived message {id}")))?;
    blob::get(tx, &blob).await
}

pub async fn set_hold(tx: &mut Tx<'_>, id: Id, hold: bool) -> Result<(), StoreError> {
    if run(tx, "UPDATE archive SET legal_hold = ? WHERE id = ?", (hold, id.0)).await? == 0 {
        return Err(StoreError::NotFound(format!("archived message {id}")));
    }
    Ok(())
}

/// Deletes up to `batch` archived messages older than `before` that are not
/// on legal hold; returns their ids (so this node's index drops them too).
pub async fn expire(tx: &mut Tx<'_>, before: i64, batch: usize) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64, String)> = all(
        tx,
        "SELECT id, blob_id FROM archive WHERE created < ? AND NOT legal_hold ORDER BY created LIMIT ?",
        (before, batch as u64),
    )
    .await?;
    for (id, blob) in &rows {
        run(tx, "DELETE FROM archive WHERE id = ?", (id,)).await?;
        blob::release(tx, blob).await?;
    }
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Archived messages on legal hold from before `before` (their index rows stay).
pub async fn held_before(tx: &mut Tx<'_>, before: i64) -> Result<Vec<i64>, StoreError> {
    all(tx, "SELECT id FROM archive WHERE created < ? AND legal_hold", (before,)).await
}

/// Rows written after the cursor (archived_at, id), in that order.
pub async fn after(tx: &mut Tx<'_>, cursor: (i64, i64), limit: usize) -> Result<Vec<(i64, i64)>, StoreError> {
    all(
        tx,
        "SELECT id, archived_at FROM archive WHERE archived_at > ? OR (archived_at = ? AND id > ?)
         ORDER BY archived_at, id LIMIT ?",
        (cursor.0, cursor.0, cursor.1, limit as u64),
    )
    .await
}

/// Rows written in the `slack` seconds up to the cursor: a transaction that
/// took long to commit can land behind a cursor that already passed its time.
pub async fn behind(tx: &mut Tx<'_>, cursor: (i64, i64), slack: i64) -> Result<Vec<i64>, StoreError> {
    all(
        tx,
        "SELECT id FROM archive WHERE archived_at >= ? AND (archived_at < ? OR (archived_at = ? AND id <= ?))",
        (cursor.0 - slack, cursor.0, cursor.0, cursor.1),
    )
    .await
}

/// How many rows were written after the cursor, and the oldest date among them.
pub async fn pending(tx: &mut Tx<'_>, cursor: (i64, i64)) -> Result<(u64, Option<i64>), StoreError> {
    let (n, oldest): (i64, Option<i64>) = one(
        tx,
        "SELECT COUNT(*), MIN(archived_at) FROM archive WHERE archived_at > ? OR (archived_at = ? AND id > ?)",
        (cursor.0, cursor.0, cursor.1),
    )
    .await?
    .unwrap_or((0, None));
    Ok((n as u64, oldest))
}

/// The messages the indexer reads, with their bodies.
pub async fn for_indexing(tx: &mut Tx<'_>, ids: &[i64]) -> Result<Vec<UnindexedArchive>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let params: Vec<Value> = ids.iter().map(|i| Value::from(*i)).collect();
    let rows: Vec<(i64, i64, String, String, String)> = all(
        tx,
        &format!("SELECT id, created, sender, recipients, blob_id FROM archive WHERE id IN ({})", marks(ids.len())),
        values(params),
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, created, sender, recipients, blob_id) in rows {
        let body = blob::get(tx, &blob_id).await?;
        out.push(UnindexedArchive { id: Id(id), created, sender, recipients, body });
    }
    Ok(out)
}

/// Which rows a search looks at besides the query's own conditions.
pub enum Among<'a> {
    All,
    /// Candidates this node's index found.
    Ids(&'a [i64]),
    /// Rows the index may not hold yet (written after its cursor), whose
    /// subject as written in the header holds this text.
    Unindexed {
        cursor: (i64, i64),
        subject: &'a str,
    },
}

/// The search's conditions on the replicated rows (sender, recipients,
/// Message-ID, direction, dates), among the rows `among` names (what this
/// node's index matched for the text and subject conditions, or the rows it
/// may not hold yet); newest first.
pub async fn search(
    tx: &mut Tx<'_>,
    q: &ArchiveQuery,
    among: Among<'_>,
    limit: usize,
) -> Result<Vec<ArchiveEntry>, StoreError> {
    let mut sql = String::from(
        "SELECT id, created, direction, disposition, reason, sender, recipients, message_id, size, legal_hold, subject
         FROM archive WHERE TRUE",
    );
    let mut args: Vec<Value> = Vec::new();
    if let Some(v) = &q.from {
        sql.push_str(" AND LOWER(sender) LIKE ?");
        args.push(contains(v).into());
    }
    if let Some(v) = &q.to {
        sql.push_str(" AND LOWER(recipients) LIKE ?");
        args.push(contains(v).into());
    }
    if let Some(v) = &q.message_id {
        sql.push_str(" AND message_id = ?");
        args.push(v.as_str().into());
    }
    if let Some(v) = &q.direction {
        sql.push_str(" AND direction = ?");
        args.push(v.as_str().into());
    }
    if let Some(v) = q.since {
        sql.push_str(" AND created >= ?");
        args.push(v.into());
    }
    if let Some(v) = q.until {
        sql.push_str(" AND created < ?");
        args.push(v.into());
    }
    match among {
        Among::All => {}
        Among::Ids([]) => return Ok(Vec::new()),
        Among::Ids(ids) => {
            sql.push_str(&format!(" AND id IN ({})", marks(ids.len())));
            args.extend(ids.iter().map(|i| Value::from(*i)));
        }
        Among::Unindexed { cursor, subject } => {
            sql.push_str(" AND (archived_at > ? OR (archived_at = ? AND id > ?)) AND LOWER(subject) LIKE ?");
            args.extend([cursor.0.into(), cursor.0.into(), cursor.1.into(), contains(subject).into()]);
        }
    }
    sql.push_str(&format!(" ORDER BY created DESC, id DESC LIMIT {}", limit.clamp(1, 100_000)));
    type Row = (i64, i64, String, String, String, String, String, String, i64, bool, String);
    let rows: Vec<Row> = all(tx, &sql, values(args)).await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                created,
                direction,
                disposition,
                reason,
                sender,
                recipients,
                message_id,
                size,
                legal_hold,
                subject,
            )| {
                ArchiveEntry {
                    id: Id(id),
                    created,
                    direction,
                    disposition,
                    reason,
                    sender,
                    recipients,
                    subject,
                    message_id,
                    size,
                    legal_hold,
                }
            },
        )
        .collect())
}
