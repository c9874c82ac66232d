//! The archive: every message that passed through, once, whatever became of
//! it (accepted, quarantined, refused after DATA), kept apart from mailboxes
//! so no user action removes it. Rows are written in the same transaction as
//! the message's fate; the full-text rows are filled shortly after by the
//! indexer into a file of their own (`store::archive_index`, attached to
//! every reader as `fts`), and `indexed` says which rows that file holds.
//! Invariant: a row is marked indexed only after the index file committed
//! it, and before the indexer's first batch after an open every row the file
//! does not hold is marked again, so a lost or restored index file only means
//! indexing again.

use rusqlite::{Connection, OptionalExtension, params, types::Value};

use super::mailbox::BlobKey;
use crate::ids::Id;
use crate::store::fulltext::{self, Narrowing, like};
use crate::store::{ArchiveEntry, ArchiveQuery, IndexStatus, NewMessage, StoreError, UnindexedArchive};

/// Archives a message and stores its body (`blob`, made from `m.body`);
/// false when it was archived before (its id is the message's, so a repeated
/// commit of the same message is recognised by it).
pub fn record(
    c: &Connection,
    m: &NewMessage,
    blob: &BlobKey,
    disposition: &str,
    reason: &str,
    now: i64,
) -> Result<bool, StoreError> {
    super::mailbox::put_blob(c, blob, &m.body)?;
    let added = c.execute(
        "INSERT OR IGNORE INTO archive (id, created, direction, disposition, reason, sender, recipients, subject, message_id, blob_id, size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![m.id.0, now, m.direction(), disposition, reason, m.sender, m.recipient_list(), m.subject, m.message_id, blob.id, m.body.len() as i64],
    )?;
    Ok(added > 0)
}

pub fn set_disposition(c: &Connection, id: Id, disposition: &str) -> Result<(), StoreError> {
    c.execute("UPDATE archive SET disposition = ?2 WHERE id = ?1", params![id.0, disposition])?;
    Ok(())
}

/// Archive rows still without full-text rows, with their bodies.
pub fn unindexed(c: &Connection, limit: usize) -> Result<Vec<UnindexedArchive>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT a.id, a.created, a.sender, a.recipients, b.data FROM archive a JOIN blobs b ON b.id = a.blob_id
         WHERE a.indexed = 0 ORDER BY a.id LIMIT ?1",
    )?;
    let rows = st.query_map([limit as i64], |r| {
        Ok(UnindexedArchive {
            id: Id(r.get(0)?),
            created: r.get(1)?,
            sender: r.get(2)?,
            recipients: r.get(3)?,
            body: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Marks archive rows indexed, with the decoded subject in place of the header's raw one.
pub fn mark_indexed(c: &Connection, subjects: &[(Id, String)]) -> Result<(), StoreError> {
    let mut st = c.prepare_cached(
        "UPDATE archive SET indexed = 1, subject = CASE WHEN ?2 = '' THEN subject ELSE ?2 END WHERE id = ?1",
    )?;
    for (id, subject) in subjects {
        let subject: String = subject.chars().take(200).collect();
        st.execute(params![id.0, subject])?;
    }
    Ok(())
}

/// The rows marked indexed that the index file (attached as `fts`) does not
/// hold: it may be new, lost, or older than the database.
pub fn unheld(c: &Connection) -> Result<Vec<Id>, StoreError> {
    let mut st = c.prepare("SELECT id FROM archive WHERE indexed = 1 AND id NOT IN (SELECT id FROM fts.indexed)")?;
    let ids = st.query_map([], |r| Ok(Id(r.get(0)?)))?.collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Marks these rows for indexing again.
pub fn unmark(c: &Connection, ids: &[Id]) -> Result<(), StoreError> {
    let mut st = c.prepare_cached("UPDATE archive SET indexed = 0 WHERE id = ?1")?;
    for id in ids {
        st.execute([id.0])?;
    }
    Ok(())
}

pub fn index_status(c: &Connection) -> Result<IndexStatus, StoreError> {
    Ok(c.query_row(
        "SELECT count(*) FILTER (WHERE indexed = 1), count(*) FILTER (WHERE indexed = 0),
                min(created) FILTER (WHERE indexed = 0) FROM archive",
        [],
        |r| {
            Ok(IndexStatus {
                indexed: r.get::<_, i64>(0)? as u64,
                pending: r.get::<_, i64>(1)? as u64,
                oldest_pending: r.get(2)?,
            })
        },
    )?)
}

/// Has the indexer read the whole archive again (once the index file is cleared).
pub fn reindex(c: &Connection) -> Result<(), StoreError> {
    c.execute("UPDATE archive SET indexed = 0 WHERE indexed = 1", [])?;
    Ok(())
}

pub fn search(c: &Connection, q: &ArchiveQuery) -> Result<Vec<ArchiveEntry>, StoreError> {
    let mut sql = String::from(
        "SELECT a.id, a.created, a.direction, a.disposition, a.reason, a.sender, a.recipients, a.message_id, a.size, a.legal_hold,
                a.subject
         FROM archive a WHERE 1",
    );
    let mut args: Vec<Value> = Vec::new();
    // Binds a value and returns its placeholder.
    let mut bind = |v: Value| {
        args.push(v);
        format!("?{}", args.len())
    };
    if let Some(v) = &q.from {
        // The index's addresses column holds the sender: it narrows the rows to look at, the
        // LIKE decides. Rows not indexed yet (the newest few) are looked at anyway. A sender
        // too common to narrow is left to the LIKE alone, over the newest rows first.
        match fulltext::narrowing(c, "addresses", v)? {
            Narrowing::Query(fts) => sql.push_str(&format!(
                " AND a.id IN (SELECT rowid FROM archive_fts WHERE archive_fts MATCH {} \
                 UNION ALL SELECT id FROM archive WHERE indexed = 0)",
                bind(fts.into())
            )),
            Narrowing::Nothing => sql.push_str(" AND a.indexed = 0"),
            Narrowing::Unnarrowed => {}
        }
        sql.push_str(&format!(" AND a.sender LIKE {} ESCAPE '\\'", bind(like(v).into())));
    }
    if let Some(v) = &q.to {
        sql.push_str(&format!(" AND a.recipients LIKE {} ESCAPE '\\'", bind(like(v).into())));
    }
    if let Some(v) = &q.subject {
        sql.push_str(&format!(" AND a.subject LIKE {} ESCAPE '\\'", bind(like(v).into())));
    }
    if let Some(v) = &q.message_id {
        sql.push_str(&format!(" AND a.message_id = {}", bind(v.clone().into())));
    }
    if let Some(v) = &q.direction {
        sql.push_str(&format!(" AND a.direction = {}", bind(v.clone().into())));
    }
    if let Some(v) = q.since {
        sql.push_str(&format!(" AND a.created >= {}", bind(v.into())));
    }
    if let Some(v) = q.until {
        sql.push_str(&format!(" AND a.created < {}", bind(v.into())));
    }
    if let Some(text) = &q.text {
        let Some(fts) = fulltext::query(c, text)? else { return Ok(Vec::new()) };
        let common = fulltext::common(c, &fts)?;
        sql.push_str(&fulltext::condition("a.id", &bind(fts.into()), common));
    }
    sql.push_str(&format!(" ORDER BY a.created DESC, a.id DESC LIMIT {}", q.limit.clamp(1, 100_000)));
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| {
        Ok(ArchiveEntry {
            id: Id(r.get(0)?),
            created: r.get(1)?,
            direction: r.get(2)?,
            disposition: r.get(3)?,
            reason: r.get(4)?,
            sender: r.get(5)?,
            recipients: r.get(6)?,
            message_id: r.get(7)?,
            size: r.get(8)?,
            legal_hold: r.get(9)?,
            subject: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn body(c: &Connection, id: Id) -> Result<Vec<u8>, StoreError> {
    c.query_row("SELECT b.data FROM archive a JOIN blobs b ON b.id = a.blob_id WHERE a.id = ?1", [id.0], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("archived message {id}")))
}

pub fn set_hold(c: &Connection, id: Id, hold: bool) -> Result<(), StoreError> {
    if c.execute("UPDATE archive SET legal_hold = ?2 WHERE id = ?1", params![id.0, hold])? == 0 {
        return Err(StoreError::NotFound(format!("archived message {id}")));
    }
    Ok(())
}

/// Deletes archived messages older than `before` that are not on legal hold;
/// returns their ids, for the index file to forget them too.
pub fn expire(c: &Connection, before: i64) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64, String)> = c
        .prepare("SELECT id, blob_id FROM archive WHERE created < ?1 AND legal_hold = 0")?
        .query_map([before], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, blob) in &rows {
        c.execute("DELETE FROM archive WHERE id = ?1", [id])?;
        super::mailbox::release_blob(c, blob)?;
    }
    Ok(rows.into_iter().map(|(id, _)| id).collect())
}
