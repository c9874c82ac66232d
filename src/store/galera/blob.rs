//! Message bodies in MariaDB: content-addressed (SHA-256), each stored once
//! however many mailboxes, queue entries, quarantine rows and archive rows
//! refer to it, its bytes split into rows of at most 1 MiB (a 25 MB message
//! is 25 rows, each well under `max_allowed_packet`), with its decoded
//! header summary and header block beside it as in SQLite.

use mysql_async::Value;

use super::sql::{Stmt, Tx, all, one, run, values};
use crate::store::StoreError;
use crate::summary::Summary;

/// The largest row of body bytes.
pub const CHUNK: usize = 1 << 20;

pub fn blob_id(data: &[u8]) -> String {
    crate::ids::sha256_hex(data)
}

/// Stores a body once under its SHA-256 and returns the id.
pub async fn put(tx: &mut Tx<'_>, data: &[u8]) -> Result<String, StoreError> {
    let id = blob_id(data);
    if run(tx, "INSERT IGNORE INTO blobs (id, size) VALUES (?, ?)", (&id, data.len() as i64)).await? == 0 {
        return Ok(id);
    }
    for (seq, chunk) in data.chunks(CHUNK).enumerate() {
        run(tx, "INSERT INTO blob_chunks (blob_id, seq, data) VALUES (?, ?, ?)", (&id, seq as i64, chunk)).await?;
    }
    let s = Summary::of(data);
    run(
        tx,
        "INSERT INTO summaries (blob_id, subject, from_addr, to_addr, cc, bcc, sent_ymd) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE subject = VALUES(subject)",
        values(vec![
            id.as_str().into(),
            s.subject.into(),
            s.from.into(),
            s.to.into(),
            s.cc.into(),
            s.bcc.into(),
            s.sent_ymd.into(),
        ]),
    )
    .await?;
    run(
        tx,
        "INSERT INTO headers (blob_id, header) VALUES (?, ?) ON DUPLICATE KEY UPDATE header = VALUES(header)",
        (&id, crate::summary::header_of(data)),
    )
    .await?;
    Ok(id)
}

/// The statements that store a body of at most one chunk (for `sql::batch`);
/// INSERT IGNORE throughout, so a body stored before is left as it is.
pub fn put_statements(id: &str, data: &[u8]) -> Vec<Stmt> {
    let s = Summary::of(data);
    vec![
        Stmt::new("INSERT IGNORE INTO blobs (id, size) VALUES (?, ?)", vec![id.into(), (data.len() as i64).into()]),
        Stmt::new("INSERT IGNORE INTO blob_chunks (blob_id, seq, data) VALUES (?, 0, ?)", vec![id.into(), data.into()]),
        Stmt::new(
            "INSERT IGNORE INTO summaries (blob_id, subject, from_addr, to_addr, cc, bcc, sent_ymd) VALUES (?, ?, ?, ?, ?, ?, ?)",
            vec![id.into(), s.subject.into(), s.from.into(), s.to.into(), s.cc.into(), s.bcc.into(), s.sent_ymd.into()],
        ),
        Stmt::new(
            "INSERT IGNORE INTO headers (blob_id, header) VALUES (?, ?)",
            vec![id.into(), crate::summary::header_of(data).into()],
        ),
    ]
}

/// A body's bytes, or NotFound.
pub async fn get(tx: &mut Tx<'_>, id: &str) -> Result<Vec<u8>, StoreError> {
    let size: Option<i64> = one(tx, "SELECT size FROM blobs WHERE id = ?", (id,)).await?;
    let size = size.ok_or_else(|| StoreError::NotFound(format!("message body {id}")))?;
    let chunks: Vec<Vec<u8>> = all(tx, "SELECT data FROM blob_chunks WHERE blob_id = ? ORDER BY seq", (id,)).await?;
    let mut data = Vec::with_capacity(size.max(0) as usize);
    chunks.iter().for_each(|c| data.extend_from_slice(c));
    Ok(data)
}

/// Deletes a body once nothing refers to it any more.
pub async fn release(tx: &mut Tx<'_>, id: &str) -> Result<(), StoreError> {
    let gone = run(
        tx,
        "DELETE FROM blobs WHERE id = ?
           AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = ?)
           AND NOT EXISTS (SELECT 1 FROM queued_messages WHERE blob_id = ?)
           AND NOT EXISTS (SELECT 1 FROM quarantine WHERE blob_id = ?)
           AND NOT EXISTS (SELECT 1 FROM archive WHERE blob_id = ?)",
        (id, id, id, id, id),
    )
    .await?;
    if gone > 0 {
        for table in ["blob_chunks", "summaries", "headers"] {
            run(tx, &format!("DELETE FROM {table} WHERE blob_id = ?"), (id,)).await?;
        }
    }
    Ok(())
}

/// `Value` of an optional string (mysql_async wants owned values in vectors).
pub fn opt(v: &Option<String>) -> Value {
    v.as_deref().into()
}
