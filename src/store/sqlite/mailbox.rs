//! Mailboxes, stored messages and the content-addressed bodies they share.

use rusqlite::{Connection, OptionalExtension, params};

use crate::ids::Id;
use crate::store::{
    Appended, ChangeMark, Changes, Copied, Filing, FlagOp, FlagUpdate, FlagsChanged, Folder, MailboxInfo, MailboxState,
    MessageData, MessageMeta, MessageSummary, Snapshot, StoreError, StoredMessage, UidSize, Upload, assemble,
    return_path_header,
};
use crate::summary::Summary;

/// A body's content address and summary, worked out before the write: the
/// writer thread runs every write of the node one after another, and hashing
/// and parsing a 100 KB body there held all the others up.
pub struct BlobKey {
    pub id: String,
    summary: Summary,
}

impl BlobKey {
    pub fn of(data: &[u8]) -> BlobKey {
        BlobKey { id: crate::ids::sha256_hex(data), summary: Summary::of(data) }
    }
}

/// Stores a body once under its SHA-256 (`key`, made from this `data`).
pub fn put_blob(c: &Connection, key: &BlobKey, data: &[u8]) -> Result<(), StoreError> {
    let added = c.execute(
        "INSERT OR IGNORE INTO blobs (id, size, data) VALUES (?1, ?2, ?3)",
        params![key.id, data.len() as i64, data],
    )?;
    if added > 0 {
        put_summary(c, &key.id, &key.summary, data)?;
    }
    Ok(())
}

fn put_summary(c: &Connection, blob: &str, s: &Summary, data: &[u8]) -> Result<(), StoreError> {
    c.execute(
        "INSERT OR REPLACE INTO summaries (blob_id, subject, from_addr, to_addr, cc, bcc, sent_ymd) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![blob, s.subject, s.from, s.to, s.cc, s.bcc, s.sent_ymd],
    )?;
    c.execute(
        "INSERT OR REPLACE INTO headers (blob_id, header) VALUES (?1, ?2)",
        params![blob, crate::summary::header_of(data)],
    )?;
    Ok(())
}

/// Summarises bodies stored before summaries existed (run once after migrating).
pub fn backfill_summaries(c: &Connection) -> Result<usize, StoreError> {
    let complete: i64 =
        c.query_row("SELECT value FROM counters WHERE name = 'summaries_complete'", [], |r| r.get(0))?;
    if complete == 1 {
        return Ok(0);
    }
    let ids: Vec<String> = c
        .prepare("SELECT id FROM blobs WHERE id NOT IN (SELECT blob_id FROM summaries) OR id NOT IN (SELECT blob_id FROM headers)")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in &ids {
        let data: Vec<u8> = c.query_row("SELECT data FROM blobs WHERE id = ?1", [id], |r| r.get(0))?;
        put_summary(c, id, &Summary::of(&data), &data)?;
    }
    // Every body stored from now on gets its rows in put_blob.
    c.execute("UPDATE counters SET value = 1 WHERE name = 'summaries_complete'", [])?;
    Ok(ids.len())
}

/// Summaries of several messages, in the order asked; expunged ones are left out.
pub fn summaries(
    c: &Connection,
    account: &str,
    mailbox: &str,
    uids: &[i64],
) -> Result<Vec<MessageSummary>, StoreError> {
    let (id, _) = mailbox_id(c, account, mailbox)?;
    let mut st = c.prepare_cached(
        "SELECT s.subject, s.from_addr, s.to_addr, s.cc, s.bcc, s.sent_ymd FROM messages m JOIN summaries s ON s.blob_id = m.blob_id
         WHERE m.mailbox_id = ?1 AND m.uid = ?2",
    )?;
    let mut out = Vec::with_capacity(uids.len());
    for uid in uids {
        let row = st
            .query_row(params![id, uid], |r| {
                Ok(Summary {
                    subject: r.get(0)?,
                    from: r.get(1)?,
                    to: r.get(2)?,
                    cc: r.get(3)?,
                    bcc: r.get(4)?,
                    sent_ymd: r.get(5)?,
                })
            })
            .optional()?;
        if let Some(summary) = row {
            out.push(MessageSummary { uid: *uid, summary });
        }
    }
    Ok(out)
}

/// Deletes a body once nothing refers to it any more.
pub fn release_blob(c: &Connection, blob: &str) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM blobs WHERE id = ?1
           AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = ?1)
           AND NOT EXISTS (SELECT 1 FROM queued_messages WHERE blob_id = ?1)
           AND NOT EXISTS (SELECT 1 FROM quarantine WHERE blob_id = ?1)
           AND NOT EXISTS (SELECT 1 FROM archive WHERE blob_id = ?1)",
        [blob],
    )?;
    c.execute("DELETE FROM summaries WHERE blob_id = ?1 AND NOT EXISTS (SELECT 1 FROM blobs WHERE id = ?1)", [blob])?;
    c.execute("DELETE FROM headers WHERE blob_id = ?1 AND NOT EXISTS (SELECT 1 FROM blobs WHERE id = ?1)", [blob])?;
    Ok(())
}

/// The sum of UIDNEXT and HIGHESTMODSEQ over an account's mailboxes, plus
/// their number: every change to its mail moves it.
pub fn change_marks(c: &Connection, accounts: &[String]) -> Result<Vec<ChangeMark>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT SUM(uidnext) + SUM(highestmodseq) + COUNT(*) FROM mailboxes WHERE account = ?1 HAVING COUNT(*) > 0",
    )?;
    let mut found = Vec::new();
    for a in accounts {
        if let Some(mark) = st.query_row([a], |r| r.get::<_, i64>(0)).optional()? {
            found.push(ChangeMark { account: a.clone(), mark });
        }
    }
    Ok(found)
}

/// Files a local queue entry into each of `filings` (none: discarded) of its
/// account and removes the entry; returns the account, or None when the
/// entry is already gone (delivered before).
pub fn deliver_queue_entry(
    c: &Connection,
    entry: Id,
    filings: &[Filing],
    now: i64,
) -> Result<Option<String>, StoreError> {
    let row: Option<(Option<String>, i64, String, String, i64)> = c
        .query_row(
            "SELECT q.local_account, q.message, m.blob_id, m.sender, m.size
             FROM queue q JOIN queued_messages m ON m.id = q.message WHERE q.id = ?1",
            [entry.0],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((account, message, blob, sender, body_size)) = row else { return Ok(None) };
    let account = account.ok_or_else(|| StoreError::Invalid(format!("queue entry {entry} is not local")))?;
    let size = body_size + return_path_header(&sender).len() as i64;
    for filing in filings {
        let mailbox = target_mailbox(c, &account, &filing.folder)?;
        // \Recent is the server's to set, never a filing's.
        let flags: Vec<&str> =
            filing.flags.iter().map(String::as_str).filter(|f| !f.eq_ignore_ascii_case("\\Recent")).collect();
        append(c, mailbox, &blob, &sender, size, &flags.join(" "), now)?;
        c.execute("UPDATE accounts SET used_bytes = used_bytes + ?2 WHERE address = ?1", params![account, size])?;
    }
    c.execute("DELETE FROM queue WHERE id = ?1", [entry.0])?;
    super::queue::forget_if_done(c, Id(message))?;
    Ok(Some(account))
}

/// The mailbox a folder names for an account; INBOX when it has no such mailbox.
fn target_mailbox(c: &Connection, account: &str, folder: &Folder) -> Result<i64, StoreError> {
    let wanted: Option<i64> = match folder {
        Folder::Inbox => None,
        Folder::Junk => c
            .query_row("SELECT id FROM mailboxes WHERE account = ?1 AND special_use = '\\Junk'", [account], |r| {
                r.get(0)
            })
            .optional()?,
        Folder::Named(name) => c
            .query_row("SELECT id FROM mailboxes WHERE account = ?1 AND name = ?2", [account, name], |r| r.get(0))
            .optional()?,
    };
    match wanted {
        Some(id) => Ok(id),
        None => c
            .query_row("SELECT id FROM mailboxes WHERE account = ?1 AND name = 'INBOX'", [account], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("account {account}"))),
    }
}

/// Adds a message to a mailbox with the next UID, allocated in this same transaction
/// so UIDs stay unique and gap-free under concurrent deliveries.
fn append(
    c: &Connection,
    mailbox: i64,
    blob: &str,
    sender: &str,
    size: i64,
    flags: &str,
    now: i64,
) -> Result<i64, StoreError> {
    let (uid, modseq): (i64, i64) = c.query_row(
        "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1
         WHERE id = ?1 RETURNING uidnext - 1, highestmodseq",
        [mailbox],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    c.execute(
        "INSERT INTO messages (id, mailbox_id, uid, blob_id, return_path, size, flags, internal_date, modseq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![Id::new().0, mailbox, uid, blob, sender, size, flags, now, modseq],
    )?;
    Ok(uid)
}

pub fn mailboxes(c: &Connection, account: &str) -> Result<Vec<MailboxInfo>, StoreError> {
    let mut st = c.prepare(
        "SELECT b.name, b.special_use, (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = b.id), b.uidvalidity, b.uidnext,
                EXISTS (SELECT 1 FROM subscriptions s WHERE s.account = b.account AND s.name = b.name), b.highestmodseq
         FROM mailboxes b WHERE b.account = ?1 ORDER BY b.name = 'INBOX' DESC, b.name",
    )?;
    let rows = st.query_map([account], |r| {
        Ok(MailboxInfo {
            name: r.get(0)?,
            special_use: r.get(1)?,
            messages: r.get(2)?,
            uidvalidity: r.get(3)?,
            uidnext: r.get(4)?,
            subscribed: r.get(5)?,
            highestmodseq: r.get(6)?,
        })
    })?;
    let list: Vec<MailboxInfo> = rows.collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err(StoreError::NotFound(format!("account {account}")));
    }
    Ok(list)
}

pub fn messages(
    c: &Connection,
    account: &str,
    mailbox: &str,
    with_content: bool,
) -> Result<Vec<StoredMessage>, StoreError> {
    let mut st = c.prepare(
        "SELECT m.uid, m.size, m.flags, m.internal_date, m.return_path, CASE WHEN ?3 THEN bl.data ELSE x'' END, m.has_return_path
         FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id JOIN blobs bl ON bl.id = m.blob_id
         WHERE b.account = ?1 AND b.name = ?2 ORDER BY m.uid",
    )?;
    let rows = st.query_map(params![account, mailbox, with_content], |r| {
        let return_path: String = r.get(4)?;
        let body: Vec<u8> = r.get(5)?;
        let content = if with_content { assemble(&return_path, r.get(6)?, &body) } else { Vec::new() };
        Ok(StoredMessage { uid: r.get(0)?, size: r.get(1)?, flags: r.get(2)?, internal_date: r.get(3)?, content })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn mailbox_id(c: &Connection, account: &str, mailbox: &str) -> Result<(i64, i64), StoreError> {
    c.query_row("SELECT id, uidvalidity FROM mailboxes WHERE account = ?1 AND name = ?2", [account, mailbox], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox} of {account}")))
}

pub fn snapshot(c: &Connection, account: &str, mailbox: &str) -> Result<Snapshot, StoreError> {
    let (id, uidvalidity) = mailbox_id(c, account, mailbox)?;
    let mut st = c.prepare_cached("SELECT uid, size FROM messages WHERE mailbox_id = ?1 ORDER BY uid")?;
    let messages =
        st.query_map([id], |r| Ok(UidSize { uid: r.get(0)?, size: r.get(1)? }))?.collect::<Result<_, _>>()?;
    Ok(Snapshot { uidvalidity, messages })
}

/// Several messages' content in one read, in the order asked; expunged ones are left out.
pub fn contents(c: &Connection, account: &str, mailbox: &str, uids: &[i64]) -> Result<Vec<MessageData>, StoreError> {
    let (id, _) = mailbox_id(c, account, mailbox)?;
    read_rows(
        c,
        "SELECT m.uid, m.return_path, m.has_return_path, b.data FROM messages m JOIN blobs b ON b.id = m.blob_id",
        id,
        uids,
    )
}

/// Just the header block of several messages (up to and including the blank
/// line), from the `headers` rows, so the bodies are never read.
pub fn headers(c: &Connection, account: &str, mailbox: &str, uids: &[i64]) -> Result<Vec<MessageData>, StoreError> {
    let (id, _) = mailbox_id(c, account, mailbox)?;
    read_rows(
        c,
        "SELECT m.uid, m.return_path, m.has_return_path, h.header FROM messages m JOIN headers h ON h.blob_id = m.blob_id",
        id,
        uids,
    )
}

/// Runs `select` (columns uid, return_path, has_return_path, data) for the
/// given UIDs of one mailbox. Ascending, dense UID lists — what FETCH 1:*
/// asks for — are read in one range scan instead of one b-tree descent per
/// message; anything else row by row, in the order asked.
fn read_rows(c: &Connection, select: &str, mailbox_id: i64, uids: &[i64]) -> Result<Vec<MessageData>, StoreError> {
    let row = |r: &rusqlite::Row| -> rusqlite::Result<MessageData> {
        // The data is copied once, straight out of SQLite's page buffer.
        let (rp, has): (String, bool) = (r.get(1)?, r.get(2)?);
        Ok(MessageData { uid: r.get(0)?, data: assemble(&rp, has, r.get_ref(3)?.as_blob()?) })
    };
    let (Some(first), Some(last)) = (uids.first(), uids.last()) else { return Ok(Vec::new()) };
    let ascending = uids.windows(2).all(|w| w[0] < w[1]);
    let mut out = Vec::with_capacity(uids.len());
    if ascending && (last - first) < 2 * uids.len() as i64 {
        let mut st =
            c.prepare_cached(&format!("{select} WHERE m.mailbox_id = ?1 AND m.uid BETWEEN ?2 AND ?3 ORDER BY m.uid"))?;
        let mut wanted = uids.iter().peekable();
        for r in st.query_map(params![mailbox_id, first, last], row)? {
            let r = r?;
            while wanted.next_if(|u| **u < r.uid).is_some() {}
            if wanted.next_if_eq(&&r.uid).is_some() {
                out.push(r);
            }
        }
        return Ok(out);
    }
    let mut st = c.prepare_cached(&format!("{select} WHERE m.mailbox_id = ?1 AND m.uid = ?2"))?;
    for uid in uids {
        if let Some(r) = st.query_row(params![mailbox_id, uid], row).optional()? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Removes messages by UID; returns how many were removed. Quota usage and
/// unshared bodies go with them.
pub fn expunge(c: &Connection, account: &str, mailbox: &str, uids: &[i64]) -> Result<usize, StoreError> {
    let (id, _) = mailbox_id(c, account, mailbox)?;
    let mut removed = 0;
    let mut freed = 0i64;
    let modseq: i64 = c.query_row("SELECT highestmodseq + 1 FROM mailboxes WHERE id = ?1", [id], |r| r.get(0))?;
    for uid in uids {
        let row: Option<(String, i64)> = c
            .query_row(
                "DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2 RETURNING blob_id, size",
                params![id, uid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((blob, size)) = row {
            c.execute(
                "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)",
                params![id, uid, modseq],
            )?;
            release_blob(c, &blob)?;
            removed += 1;
            freed += size;
        }
    }
    if removed > 0 {
        c.execute("UPDATE mailboxes SET highestmodseq = ?2 WHERE id = ?1", params![id, modseq])?;
        c.execute(
            "UPDATE accounts SET used_bytes = max(0, used_bytes - ?2) WHERE address = ?1",
            params![account, freed],
        )?;
        prune_expunge_log(c, id, EXPUNGE_LOG_KEEP)?;
    }
    Ok(removed)
}

/// Expunge-log entries kept per mailbox. A client re-syncing from an older
/// modseq is told about every UID not present instead (see `changes`).
const EXPUNGE_LOG_KEEP: i64 = 20_000;

/// Drops the oldest expunge-log entries past `keep` and raises the
/// mailbox's floor to the newest modseq dropped.
fn prune_expunge_log(c: &Connection, mailbox: i64, keep: i64) -> Result<(), StoreError> {
    let cutoff: Option<i64> = c
        .query_row(
            "SELECT modseq FROM expunged WHERE mailbox_id = ?1 ORDER BY modseq DESC LIMIT 1 OFFSET ?2",
            params![mailbox, keep],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(cutoff) = cutoff {
        c.execute("DELETE FROM expunged WHERE mailbox_id = ?1 AND modseq <= ?2", params![mailbox, cutoff])?;
        c.execute(
            "UPDATE mailboxes SET expunge_floor = max(expunge_floor, ?2) WHERE id = ?1",
            params![mailbox, cutoff],
        )?;
    }
    Ok(())
}

pub fn state(c: &Connection, account: &str, mailbox: &str) -> Result<MailboxState, StoreError> {
    let (id, uidvalidity, uidnext, highestmodseq, first_recent_uid): (i64, i64, i64, i64, i64) = c
        .query_row(
            "SELECT id, uidvalidity, uidnext, highestmodseq, first_recent_uid FROM mailboxes WHERE account = ?1 AND name = ?2",
            [account, mailbox],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))?;
    let mut st = c.prepare_cached(
        "SELECT uid, size, flags, internal_date, modseq FROM messages WHERE mailbox_id = ?1 ORDER BY uid",
    )?;
    let messages = st
        .query_map([id], |r| {
            Ok(MessageMeta {
                uid: r.get(0)?,
                size: r.get(1)?,
                flags: r.get(2)?,
                internal_date: r.get(3)?,
                modseq: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(MailboxState { uidvalidity, uidnext, highestmodseq, first_recent_uid, messages })
}

/// What changed in a mailbox after modseq `since`: messages added or whose
/// flags changed, and UIDs expunged. Indexed by modseq, so an idle check of an
/// unchanged mailbox costs two index probes however large the mailbox is.
pub fn changes(c: &Connection, account: &str, mailbox: &str, since: i64) -> Result<Changes, StoreError> {
    let (id, uidvalidity, uidnext, highestmodseq, floor, first_recent_uid): (i64, i64, i64, i64, i64, i64) = c
        .query_row(
            "SELECT id, uidvalidity, uidnext, highestmodseq, expunge_floor, first_recent_uid FROM mailboxes
             WHERE account = ?1 AND name = ?2",
            [account, mailbox],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))?;
    let mut st = c.prepare_cached(
        "SELECT uid, size, flags, internal_date, modseq FROM messages WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid",
    )?;
    let changed = st
        .query_map(params![id, since], |r| {
            Ok(MessageMeta {
                uid: r.get(0)?,
                size: r.get(1)?,
                flags: r.get(2)?,
                internal_date: r.get(3)?,
                modseq: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let vanished = if since < floor {
        // The log no longer reaches back that far: every UID below UIDNEXT
        // that is not present may have vanished since (RFC 7162 §3.2.5.1 lets
        // a server report more than what changed).
        let mut st = c.prepare_cached("SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid")?;
        let present: Vec<i64> = st.query_map([id], |r| r.get(0))?.collect::<Result<_, _>>()?;
        let mut gone = Vec::new();
        let mut next = 1;
        for uid in present.into_iter().chain(std::iter::once(uidnext)) {
            gone.extend(next..uid);
            next = uid + 1;
        }
        gone
    } else {
        let mut st = c.prepare_cached("SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid")?;
        st.query_map(params![id, since], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    Ok(Changes { uidvalidity, uidnext, highestmodseq, first_recent_uid, changed, vanished })
}

/// Changes flags on messages by UID. With `unchanged_since` (RFC 7162
/// UNCHANGEDSINCE), a message whose modseq is higher is left alone and listed
/// in the second result. The first holds every other message's flags and modseq.
pub fn set_flags(
    c: &Connection,
    account: &str,
    mailbox: &str,
    uids: &[i64],
    op: FlagOp,
    flags: &[String],
    unchanged_since: Option<i64>,
) -> Result<FlagsChanged, StoreError> {
    let (id, _) = mailbox_id(c, account, mailbox)?;
    let mut out = Vec::new();
    let mut modified = Vec::new();
    for uid in uids {
        let cur: Option<(String, i64)> = c
            .query_row("SELECT flags, modseq FROM messages WHERE mailbox_id = ?1 AND uid = ?2", params![id, uid], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((cur, mut modseq)) = cur else { continue };
        if unchanged_since.is_some_and(|u| modseq > u) {
            modified.push(*uid);
            continue;
        }
        let new = crate::store::apply_flags(&cur, op, flags);
        if new != cur {
            modseq = c.query_row(
                "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?1 RETURNING highestmodseq",
                [id],
                |r| r.get(0),
            )?;
            c.execute(
                "UPDATE messages SET flags = ?3, modseq = ?4 WHERE mailbox_id = ?1 AND uid = ?2",
                params![id, uid, new, modseq],
            )?;
        }
        out.push(FlagUpdate { uid: *uid, flags: new, modseq });
    }
    Ok(FlagsChanged { updated: out, modified })
}

fn account_of(c: &Connection, account: &str) -> Result<(i64, i64), StoreError> {
    c.query_row("SELECT quota_bytes, used_bytes FROM accounts WHERE address = ?1", [account], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("account {account}")))
}

/// Stores messages a client uploaded (IMAP APPEND), all in the caller's
/// transaction; `blobs[i]` is made from `uploads[i]`'s body.
pub fn append_messages(
    c: &Connection,
    account: &str,
    mailbox: &str,
    uploads: &[Upload],
    blobs: &[BlobKey],
) -> Result<Appended, StoreError> {
    let (id, uidvalidity) = mailbox_id(c, account, mailbox)?;
    let (quota, used) = account_of(c, account)?;
    let size: i64 = uploads.iter().map(|u| u.body.len() as i64).sum();
    if quota > 0 && used + size > quota {
        return Err(StoreError::Quota(format!("{account} would exceed its quota of {quota} bytes")));
    }
    let mut uids = Vec::with_capacity(uploads.len());
    for (u, blob) in uploads.iter().zip(blobs) {
        put_blob(c, blob, &u.body)?;
        let uid = append(c, id, &blob.id, "", u.body.len() as i64, &u.flags, u.date)?;
        c.execute("UPDATE messages SET has_return_path = 0 WHERE mailbox_id = ?1 AND uid = ?2", params![id, uid])?;
        uids.push(uid);
    }
    c.execute("UPDATE accounts SET used_bytes = used_bytes + ?2 WHERE address = ?1", params![account, size])?;
    Ok(Appended { uidvalidity, uids })
}

/// Adds messages an administrator imports (no quota check; usage still counted).
pub fn import(c: &Connection, account: &str, mailbox: &str, msgs: &[Vec<u8>], now: i64) -> Result<usize, StoreError> {
    let (id, _) = mailbox_id(c, account, mailbox)?;
    let mut total = 0i64;
    for m in msgs {
        let blob = BlobKey::of(m);
        put_blob(c, &blob, m)?;
        let uid = append(c, id, &blob.id, "", m.len() as i64, "", now)?;
        c.execute("UPDATE messages SET has_return_path = 0 WHERE mailbox_id = ?1 AND uid = ?2", params![id, uid])?;
        total += m.len() as i64;
    }
    c.execute("UPDATE accounts SET used_bytes = used_bytes + ?2 WHERE address = ?1", params![account, total])?;
    Ok(msgs.len())
}

/// Copies messages by UID; returns the destination's uidvalidity and (old, new) UID pairs.
/// `check_quota` is false for MOVE, which removes the originals right after.
pub fn copy_messages(
    c: &Connection,
    account: &str,
    from: &str,
    to: &str,
    uids: &[i64],
    check_quota: bool,
) -> Result<Copied, StoreError> {
    let (src, _) = mailbox_id(c, account, from)?;
    let (dst, uidvalidity) = mailbox_id(c, account, to)?;
    let (quota, used) = account_of(c, account)?;
    let mut pairs = Vec::new();
    let mut added = 0i64;
    for uid in uids {
        let row: Option<(String, String, bool, i64, String, i64)> = c
            .query_row(
                "SELECT blob_id, return_path, has_return_path, size, flags, internal_date FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
                params![src, uid],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .optional()?;
        let Some((blob, rp, has_rp, size, flags, date)) = row else { continue };
        added += size;
        if check_quota && quota > 0 && used + added > quota {
            return Err(StoreError::Quota(format!("{account} would exceed its quota of {quota} bytes")));
        }
        let new = append(c, dst, &blob, &rp, size, &flags, date)?;
        c.execute(
            "UPDATE messages SET has_return_path = ?3 WHERE mailbox_id = ?1 AND uid = ?2",
            params![dst, new, has_rp],
        )?;
        pairs.push((*uid, new));
    }
    c.execute("UPDATE accounts SET used_bytes = used_bytes + ?2 WHERE address = ?1", params![account, added])?;
    Ok(Copied { uidvalidity, uids: pairs })
}

/// A UIDVALIDITY never handed out before: the clock, or one past the last if the clock has not moved on.
pub fn next_uidvalidity(c: &Connection) -> Result<i64, StoreError> {
    Ok(c.query_row(
        "UPDATE counters SET value = max(value + 1, ?1) WHERE name = 'uidvalidity' RETURNING value",
        [crate::clock::now()],
        |r| r.get(0),
    )?)
}

/// Takes the \Recent messages for one session (RFC 3501 §2.3.2): returns the
/// first recent UID and moves the mark past every message there is now.
pub fn claim_recent(c: &Connection, account: &str, mailbox: &str) -> Result<i64, StoreError> {
    let (id, _) = mailbox_id(c, account, mailbox)?;
    let first: i64 = c.query_row("SELECT first_recent_uid FROM mailboxes WHERE id = ?1", [id], |r| r.get(0))?;
    c.execute("UPDATE mailboxes SET first_recent_uid = uidnext WHERE id = ?1", [id])?;
    Ok(first)
}

pub fn create_mailbox(c: &Connection, account: &str, name: &str) -> Result<(), StoreError> {
    crate::store::valid_mailbox_name(name)?;
    account_of(c, account)?;
    let n = c.execute(
        // Not subscribed: RFC 3501 leaves subscribing to the client, which does it explicitly.
        "INSERT OR IGNORE INTO mailboxes (id, account, name, uidvalidity) VALUES (?1, ?2, ?3, ?4)",
        params![Id::new().0, account, name, next_uidvalidity(c)?],
    )?;
    if n == 0 {
        return Err(StoreError::Exists(format!("mailbox {name}")));
    }
    Ok(())
}

pub fn delete_mailbox(c: &Connection, account: &str, name: &str) -> Result<(), StoreError> {
    crate::store::valid_mailbox_name(name)?;
    let (id, _) = mailbox_id(c, account, name)?;
    let uids: Vec<i64> = c
        .prepare("SELECT uid FROM messages WHERE mailbox_id = ?1")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    expunge(c, account, name, &uids)?;
    c.execute("DELETE FROM expunged WHERE mailbox_id = ?1", [id])?;
    c.execute("DELETE FROM mailboxes WHERE id = ?1", [id])?;
    Ok(())
}

/// Renames a mailbox with its inferiors ("a" to "b" takes "a/x" to "b/x",
/// RFC 3501 §6.3.5) and their subscriptions. A new UIDVALIDITY is not
/// needed: the messages keep their UIDs.
pub fn rename_mailbox(c: &Connection, account: &str, from: &str, to: &str) -> Result<(), StoreError> {
    crate::store::valid_mailbox_name(from)?;
    crate::store::valid_mailbox_name(to)?;
    mailbox_id(c, account, from)?;
    let moved = crate::store::renamed_names(&mailbox_names(c, account)?, from, to);
    for (_, new) in &moved {
        if mailbox_id(c, account, new).is_ok() {
            return Err(StoreError::Exists(format!("mailbox {new}")));
        }
    }
    for (old, new) in &moved {
        c.execute("UPDATE mailboxes SET name = ?3 WHERE account = ?1 AND name = ?2", params![account, old, new])?;
        c.execute("UPDATE subscriptions SET name = ?3 WHERE account = ?1 AND name = ?2", params![account, old, new])?;
    }
    Ok(())
}

fn mailbox_names(c: &Connection, account: &str) -> Result<Vec<String>, StoreError> {
    let mut st = c.prepare("SELECT name FROM mailboxes WHERE account = ?1")?;
    let names = st.query_map([account], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(names)
}

/// Subscribing needs the mailbox; unsubscribing does not (a deleted
/// mailbox's name stays subscribed until the client lets it go).
pub fn set_subscribed(c: &Connection, account: &str, name: &str, on: bool) -> Result<(), StoreError> {
    if on {
        mailbox_id(c, account, name)?;
        c.execute("INSERT OR IGNORE INTO subscriptions (account, name) VALUES (?1, ?2)", params![account, name])?;
    } else {
        c.execute("DELETE FROM subscriptions WHERE account = ?1 AND name = ?2", params![account, name])?;
    }
    Ok(())
}

/// The names an account is subscribed to, mailboxes or not.
pub fn subscriptions(c: &Connection, account: &str) -> Result<Vec<String>, StoreError> {
    let mut st = c.prepare("SELECT name FROM subscriptions WHERE account = ?1 ORDER BY name")?;
    let names = st.query_map([account], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pruned_expunge_log_reports_every_absent_uid() {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut c).unwrap();
        // Just the rows this test needs, without accounts and bodies behind them.
        c.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        c.execute("INSERT INTO mailboxes (id, account, name, uidvalidity, uidnext, highestmodseq) VALUES (1, 'a@x', 'INBOX', 7, 11, 20)", [])
            .unwrap();
        // UIDs 1..=10 once existed; 2, 4 and 6 remain; the rest were expunged at modseqs 11..=17.
        for uid in [2, 4, 6] {
            c.execute(
                "INSERT INTO messages (id, mailbox_id, uid, blob_id, return_path, size, internal_date, modseq) VALUES (?1, 1, ?1, 'b', '', 1, 0, 5)",
                [uid],
            )
            .unwrap();
        }
        for (i, uid) in [1, 3, 5, 7, 8, 9, 10].iter().enumerate() {
            c.execute("INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (1, ?1, ?2)", params![uid, 11 + i as i64])
                .unwrap();
        }
        assert_eq!(changes(&c, "a@x", "INBOX", 14).unwrap().vanished, [8, 9, 10]);
        prune_expunge_log(&c, 1, 3).unwrap();
        let left: i64 = c.query_row("SELECT COUNT(*) FROM expunged", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 3, "only the newest three entries stay");
        // Within the kept log: exact. Below the floor: every absent UID.
        assert_eq!(changes(&c, "a@x", "INBOX", 14).unwrap().vanished, [8, 9, 10]);
        assert_eq!(changes(&c, "a@x", "INBOX", 12).unwrap().vanished, [1, 3, 5, 7, 8, 9, 10]);
    }
}
