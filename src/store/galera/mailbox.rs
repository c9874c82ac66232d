//! Mailboxes and stored messages in MariaDB; the same rules as
//! `sqlite/mailbox.rs`. UIDs and MODSEQs come from the mailbox row, raised in
//! the transaction that inserts or changes the message: concurrent writers on
//! one node wait for its row lock, on two nodes one fails certification and
//! is retried, so UIDs stay unique and gap-free.
//!
//! Operations a retry could do twice take ids made before the first attempt
//! and look for them first (`deliver`, `append`, `copy`, `import`).

use mysql_async::Value;

use super::blob;
use super::sql::{Tx, all, marks, one, run, values};
use crate::ids::Id;
use crate::store::{
    Appended, ChangeMark, Changes, Copied, Filing, FlagOp, FlagUpdate, FlagsChanged, Folder, MailboxInfo, MailboxState,
    MessageData, MessageMeta, MessageSummary, Snapshot, StoreError, StoredMessage, UidSize, Upload, assemble,
    return_path_header,
};
use crate::summary::Summary;

/// Expunge-log entries kept per mailbox (as in SQLite).
const EXPUNGE_LOG_KEEP: i64 = 20_000;

async fn mailbox_id(tx: &mut Tx<'_>, account: &str, mailbox: &str) -> Result<(i64, i64), StoreError> {
    one(tx, "SELECT id, uidvalidity FROM mailboxes WHERE account = ? AND name = ?", (account, mailbox))
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox} of {account}")))
}

async fn account_of(tx: &mut Tx<'_>, account: &str) -> Result<(i64, i64), StoreError> {
    one(tx, "SELECT quota_bytes, used_bytes FROM accounts WHERE address = ?", (account,))
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("account {account}")))
}

async fn add_usage(tx: &mut Tx<'_>, account: &str, bytes: i64) -> Result<(), StoreError> {
    run(tx, "UPDATE accounts SET used_bytes = GREATEST(0, used_bytes + ?) WHERE address = ?", (bytes, account)).await?;
    Ok(())
}

/// One new message row, before its UID is known.
struct NewRow<'a> {
    id: Id,
    blob: &'a str,
    return_path: &'a str,
    has_return_path: bool,
    size: i64,
    flags: &'a str,
    date: i64,
}

/// Adds a message to a mailbox with the next UID, allocated in this transaction.
async fn append(tx: &mut Tx<'_>, mailbox: i64, m: NewRow<'_>) -> Result<i64, StoreError> {
    run(tx, "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1 WHERE id = ?", (mailbox,))
        .await?;
    let (uid, modseq): (i64, i64) =
        one(tx, "SELECT uidnext - 1, highestmodseq FROM mailboxes WHERE id = ?", (mailbox,))
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))?;
    run(
        tx,
        "INSERT INTO messages (id, mailbox_id, uid, blob_id, return_path, has_return_path, size, flags, internal_date, modseq)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (m.id.0, mailbox, uid, m.blob, m.return_path, m.has_return_path, m.size, m.flags, m.date, modseq),
    )
    .await?;
    Ok(uid)
}

/// The mailbox a folder names for an account; INBOX when it has no such mailbox.
async fn target_mailbox(tx: &mut Tx<'_>, account: &str, folder: &Folder) -> Result<i64, StoreError> {
    let wanted: Option<i64> = match folder {
        Folder::Inbox => None,
        Folder::Junk => {
            one(tx, "SELECT id FROM mailboxes WHERE account = ? AND special_use = ?", (account, "\\Junk")).await?
        }
        Folder::Named(name) => {
            one(tx, "SELECT id FROM mailboxes WHERE account = ? AND name = ?", (account, name)).await?
        }
    };
    match wanted {
        Some(id) => Ok(id),
        None => one(tx, "SELECT id FROM mailboxes WHERE account = ? AND name = 'INBOX'", (account,))
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("account {account}"))),
    }
}

/// Files a local queue entry into each of `filings` of its account and
/// removes the entry. `ids` (one per filing, made before the first attempt)
/// let a retry after a lost commit answer "delivered" instead of "gone".
///
/// The entry is removed first, by a statement that reads and writes the row
/// at once: whichever delivery of one entry gets there second (on this node
/// it waits for the row's lock, on another node Galera aborts it) finds
/// nothing to remove and files nothing.
pub async fn deliver(
    tx: &mut Tx<'_>,
    entry: Id,
    filings: &[Filing],
    ids: &[Id],
    now: i64,
) -> Result<Option<String>, StoreError> {
    let row: Option<(Option<String>, i64)> =
        one(tx, "DELETE FROM queue WHERE id = ? RETURNING local_account, message", (entry.0,)).await?;
    let Some((account, message)) = row else {
        let Some(first) = ids.first() else { return Ok(None) };
        return one(
            tx,
            "SELECT b.account FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE m.id = ?",
            (first.0,),
        )
        .await;
    };
    let account = account.ok_or_else(|| StoreError::Invalid(format!("queue entry {entry} is not local")))?;
    let (blob, sender, body_size): (String, String, i64) =
        one(tx, "SELECT blob_id, sender, size FROM queued_messages WHERE id = ?", (message,))
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("queued message {}", Id(message))))?;
    let size = body_size + return_path_header(&sender).len() as i64;
    for (filing, id) in filings.iter().zip(ids) {
        let mailbox = target_mailbox(tx, &account, &filing.folder).await?;
        // \Recent is the server's to set, never a filing's.
        let flags: Vec<&str> =
            filing.flags.iter().map(String::as_str).filter(|f| !f.eq_ignore_ascii_case("\\Recent")).collect();
        let flags = flags.join(" ");
        let row = NewRow {
            id: *id,
            blob: &blob,
            return_path: &sender,
            has_return_path: true,
            size,
            flags: &flags,
            date: now,
        };
        append(tx, mailbox, row).await?;
        add_usage(tx, &account, size).await?;
    }
    super::queue::forget_if_done(tx, Id(message)).await?;
    Ok(Some(account))
}

/// The sum of UIDNEXT and HIGHESTMODSEQ over an account's mailboxes, plus
/// their number: every change to its mail moves it.
pub async fn change_marks(tx: &mut Tx<'_>, accounts: &[String]) -> Result<Vec<ChangeMark>, StoreError> {
    let mut found = Vec::new();
    for chunk in accounts.chunks(500) {
        let sql = format!(
            "SELECT account, CAST(SUM(uidnext) + SUM(highestmodseq) + COUNT(*) AS SIGNED) FROM mailboxes
             WHERE account IN ({}) GROUP BY account",
            marks(chunk.len())
        );
        let rows: Vec<(String, i64)> =
            all(tx, &sql, values(chunk.iter().map(|a| Value::from(a.as_str())).collect())).await?;
        found.extend(rows.into_iter().map(|(account, mark)| ChangeMark { account, mark }));
    }
    Ok(found)
}

pub async fn mailboxes(tx: &mut Tx<'_>, account: &str) -> Result<Vec<MailboxInfo>, StoreError> {
    type Row = (String, Option<String>, i64, i64, i64, bool, i64);
    let rows: Vec<Row> = all(
        tx,
        "SELECT b.name, b.special_use, (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = b.id),
                b.uidvalidity, b.uidnext,
                EXISTS (SELECT 1 FROM subscriptions s WHERE s.account = b.account AND s.name = b.name), b.highestmodseq
         FROM mailboxes b WHERE b.account = ? ORDER BY b.name = 'INBOX' DESC, b.name",
        (account,),
    )
    .await?;
    if rows.is_empty() {
        return Err(StoreError::NotFound(format!("account {account}")));
    }
    Ok(rows
        .into_iter()
        .map(|(name, special_use, messages, uidvalidity, uidnext, subscribed, highestmodseq)| MailboxInfo {
            name,
            special_use,
            subscribed,
            messages,
            uidvalidity,
            uidnext,
            highestmodseq,
        })
        .collect())
}

pub async fn messages(
    tx: &mut Tx<'_>,
    account: &str,
    mailbox: &str,
    with_content: bool,
) -> Result<Vec<StoredMessage>, StoreError> {
    let (id, _) = mailbox_id(tx, account, mailbox).await?;
    let rows: Vec<(i64, i64, String, i64, String, bool, String)> = all(
        tx,
        "SELECT uid, size, flags, internal_date, return_path, has_return_path, blob_id FROM messages
         WHERE mailbox_id = ? ORDER BY uid",
        (id,),
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (uid, size, flags, internal_date, rp, has_rp, blob) in rows {
        let content = if with_content { assemble(&rp, has_rp, &blob::get(tx, &blob).await?) } else { Vec::new() };
        out.push(StoredMessage { uid, size, flags, internal_date, content });
    }
    Ok(out)
}

pub async fn snapshot(tx: &mut Tx<'_>, account: &str, mailbox: &str) -> Result<Snapshot, StoreError> {
    let (id, uidvalidity) = mailbox_id(tx, account, mailbox).await?;
    let rows: Vec<(i64, i64)> =
        all(tx, "SELECT uid, size FROM messages WHERE mailbox_id = ? ORDER BY uid", (id,)).await?;
    Ok(Snapshot { uidvalidity, messages: rows.into_iter().map(|(uid, size)| UidSize { uid, size }).collect() })
}

/// Runs `select` (columns uid, return_path, has_return_path, data …) for the
/// given UIDs; `chunked` rows carry one body chunk each (ordered by seq) and
/// are joined. Ascending dense lists are read with one range query.
async fn read_rows(
    tx: &mut Tx<'_>,
    select: &str,
    order: &str,
    mailbox_id: i64,
    uids: &[i64],
) -> Result<Vec<MessageData>, StoreError> {
    let (Some(first), Some(last)) = (uids.first(), uids.last()) else { return Ok(Vec::new()) };
    let ascending = uids.windows(2).all(|w| w[0] < w[1]);
    let rows: Vec<(i64, String, bool, Vec<u8>)> = if ascending && (last - first) < 2 * uids.len() as i64 {
        all(
            tx,
            &format!("{select} WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ? ORDER BY {order}"),
            (mailbox_id, first, last),
        )
        .await?
    } else {
        let mut v = Vec::new();
        for chunk in uids.chunks(500) {
            let mut params: Vec<Value> = vec![mailbox_id.into()];
            params.extend(chunk.iter().map(|u| Value::from(*u)));
            let sql = format!("{select} WHERE m.mailbox_id = ? AND m.uid IN ({}) ORDER BY {order}", marks(chunk.len()));
            v.extend(all::<(i64, String, bool, Vec<u8>)>(tx, &sql, values(params)).await?);
        }
        v
    };
    // Join each message's chunks (consecutive rows of one uid).
    let mut found: std::collections::HashMap<i64, MessageData> = std::collections::HashMap::new();
    for (uid, rp, has, data) in rows {
        found
            .entry(uid)
            .and_modify(|m| m.data.extend_from_slice(&data))
            .or_insert_with(|| MessageData { uid, data: assemble(&rp, has, &data) });
    }
    Ok(uids.iter().filter_map(|u| found.remove(u)).collect())
}

/// Several messages' content in one read, in the order asked; expunged ones are left out.
pub async fn contents(
    tx: &mut Tx<'_>,
    account: &str,
    mailbox: &str,
    uids: &[i64],
) -> Result<Vec<MessageData>, StoreError> {
    let (id, _) = mailbox_id(tx, account, mailbox).await?;
    let select = "SELECT m.uid, m.return_path, m.has_return_path, c.data FROM messages m
                  JOIN blob_chunks c ON c.blob_id = m.blob_id";
    read_rows(tx, select, "m.uid, c.seq", id, uids).await
}

/// Just the header blocks of several messages (the `headers` rows).
pub async fn headers(
    tx: &mut Tx<'_>,
    account: &str,
    mailbox: &str,
    uids: &[i64],
) -> Result<Vec<MessageData>, StoreError> {
    let (id, _) = mailbox_id(tx, account, mailbox).await?;
    let select = "SELECT m.uid, m.return_path, m.has_return_path, h.header FROM messages m
                  JOIN headers h ON h.blob_id = m.blob_id";
    read_rows(tx, select, "m.uid", id, uids).await
}

/// Summaries of several messages, in the order asked; expunged ones are left out.
pub async fn summaries(
    tx: &mut Tx<'_>,
    account: &str,
    mailbox: &str,
    uids: &[i64],
) -> Result<Vec<MessageSummary>, StoreError> {
    let (id, _) = mailbox_id(tx, account, mailbox).await?;
    let mut found = std::collections::HashMap::new();
    for chunk in uids.chunks(500) {
        let mut params: Vec<Value> = vec![id.into()];
        params.extend(chunk.iter().map(|u| Value::from(*u)));
        type Row = (i64, String, String, String, String, String, Option<i64>);
        let rows: Vec<Row> = all(
            tx,
            &format!(
                "SELECT m.uid, s.subject, s.from_addr, s.to_addr, s.cc, s.bcc, s.sent_ymd
                 FROM messages m JOIN summaries s ON s.blob_id = m.blob_id
                 WHERE m.mailbox_id = ? AND m.uid IN ({})",
                marks(chunk.len())
            ),
            values(params),
        )
        .await?;
        for (uid, subject, from, to, cc, bcc, sent_ymd) in rows {
            found.insert(uid, Summary { subject, from, to, cc, bcc, sent_ymd });
        }
    }
    Ok(uids.iter().filter_map(|u| found.remove(u).map(|summary| MessageSummary { uid: *u, summary })).collect())
}

pub async fn expunge(tx: &mut Tx<'_>, account: &str, mailbox: &str, uids: &[i64]) -> Result<usize, StoreError> {
    let (id, _) = mailbox_id(tx, account, mailbox).await?;
    let modseq: i64 = one(tx, "SELECT highestmodseq + 1 FROM mailboxes WHERE id = ?", (id,)).await?.unwrap_or(1);
    let (mut removed, mut freed) = (0usize, 0i64);
    for uid in uids {
        let row: Option<(String, i64)> =
            one(tx, "DELETE FROM messages WHERE mailbox_id = ? AND uid = ? RETURNING blob_id, size", (id, uid)).await?;
        if let Some((blob, size)) = row {
            run(
                tx,
                "INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE modseq = VALUES(modseq)",
                (id, uid, modseq),
            )
            .await?;
            blob::release(tx, &blob).await?;
            removed += 1;
            freed += size;
        }
    }
    if removed > 0 {
        run(tx, "UPDATE mailboxes SET highestmodseq = ? WHERE id = ?", (modseq, id)).await?;
        add_usage(tx, account, -freed).await?;
        let cutoff: Option<i64> = one(
            tx,
            "SELECT modseq FROM expunged WHERE mailbox_id = ? ORDER BY modseq DESC LIMIT 1 OFFSET ?",
            (id, EXPUNGE_LOG_KEEP),
        )
        .await?;
        if let Some(cutoff) = cutoff {
            run(tx, "DELETE FROM expunged WHERE mailbox_id = ? AND modseq <= ?", (id, cutoff)).await?;
            run(tx, "UPDATE mailboxes SET expunge_floor = GREATEST(expunge_floor, ?) WHERE id = ?", (cutoff, id))
                .await?;
        }
    }
    Ok(removed)
}

const META: &str = "SELECT uid, size, flags, internal_date, modseq FROM messages";

fn metas(rows: Vec<(i64, i64, String, i64, i64)>) -> Vec<MessageMeta> {
    rows.into_iter()
        .map(|(uid, size, flags, internal_date, modseq)| MessageMeta { uid, size, flags, internal_date, modseq })
        .collect()
}

pub async fn state(tx: &mut Tx<'_>, account: &str, mailbox: &str) -> Result<MailboxState, StoreError> {
    let (id, uidvalidity, uidnext, highestmodseq, first_recent_uid): (i64, i64, i64, i64, i64) = one(
        tx,
        "SELECT id, uidvalidity, uidnext, highestmodseq, first_recent_uid FROM mailboxes WHERE account = ? AND name = ?",
        (account, mailbox),
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))?;
    let messages = metas(all(tx, &format!("{META} WHERE mailbox_id = ? ORDER BY uid"), (id,)).await?);
    Ok(MailboxState { uidvalidity, uidnext, highestmodseq, first_recent_uid, messages })
}

/// What changed after modseq `since` (see `sqlite::mailbox::changes`).
pub async fn changes(tx: &mut Tx<'_>, account: &str, mailbox: &str, since: i64) -> Result<Changes, StoreError> {
    let (id, uidvalidity, uidnext, highestmodseq, floor, first_recent_uid): (i64, i64, i64, i64, i64, i64) = one(
        tx,
        "SELECT id, uidvalidity, uidnext, highestmodseq, expunge_floor, first_recent_uid FROM mailboxes
         WHERE account = ? AND name = ?",
        (account, mailbox),
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox}")))?;
    let changed =
        metas(all(tx, &format!("{META} WHERE mailbox_id = ? AND modseq > ? ORDER BY uid"), (id, since)).await?);
    let vanished = if since < floor {
        let present: Vec<i64> = all(tx, "SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid", (id,)).await?;
        let mut gone = Vec::new();
        let mut next = 1;
        for uid in present.into_iter().chain(std::iter::once(uidnext)) {
            gone.extend(next..uid);
            next = uid + 1;
        }
        gone
    } else {
        all(tx, "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid", (id, since)).await?
    };
    Ok(Changes { uidvalidity, uidnext, highestmodseq, first_recent_uid, changed, vanished })
}

pub async fn set_flags(
    tx: &mut Tx<'_>,
    account: &str,
    mailbox: &str,
    uids: &[i64],
    op: FlagOp,
    flags: &[String],
    unchanged_since: Option<i64>,
) -> Result<FlagsChanged, StoreError> {
    let (id, _) = mailbox_id(tx, account, mailbox).await?;
    let mut out = FlagsChanged::default();
    for uid in uids {
        let cur: Option<(String, i64)> =
            one(tx, "SELECT flags, modseq FROM messages WHERE mailbox_id = ? AND uid = ? FOR UPDATE", (id, uid))
                .await?;
        let Some((cur, mut modseq)) = cur else { continue };
        if unchanged_since.is_some_and(|u| modseq > u) {
            out.modified.push(*uid);
            continue;
        }
        let new = crate::store::apply_flags(&cur, op, flags);
        if new != cur {
            run(tx, "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?", (id,)).await?;
            modseq = one(tx, "SELECT highestmodseq FROM mailboxes WHERE id = ?", (id,)).await?.unwrap_or(modseq);
            run(
                tx,
                "UPDATE messages SET flags = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?",
                (&new, modseq, id, uid),
            )
            .await?;
        }
        out.updated.push(FlagUpdate { uid: *uid, flags: new, modseq });
    }
    Ok(out)
}

/// Stores messages a client uploaded, checking the quota for all of them.
/// `ids` (one per upload) are made before the first attempt: a retry after
/// an unknown commit outcome finds the messages it stored.
pub async fn append_messages(
    tx: &mut Tx<'_>,
    account: &str,
    mailbox: &str,
    uploads: &[Upload],
    ids: &[Id],
) -> Result<Appended, StoreError> {
    let (id, uidvalidity) = mailbox_id(tx, account, mailbox).await?;
    let mut uids = Vec::with_capacity(uploads.len());
    for mid in ids {
        match one::<i64>(tx, "SELECT uid FROM messages WHERE id = ?", (mid.0,)).await? {
            Some(uid) => uids.push(uid),
            None => break,
        }
    }
    if !uids.is_empty() {
        // All or none were committed together.
        return Ok(Appended { uidvalidity, uids });
    }
    let (quota, used) = account_of(tx, account).await?;
    let size: i64 = uploads.iter().map(|u| u.body.len() as i64).sum();
    if quota > 0 && used + size > quota {
        return Err(StoreError::Quota(format!("{account} would exceed its quota of {quota} bytes")));
    }
    for (u, mid) in uploads.iter().zip(ids) {
        let blob = blob::put(tx, &u.body).await?;
        let row = NewRow {
            id: *mid,
            blob: &blob,
            return_path: "",
            has_return_path: false,
            size: u.body.len() as i64,
            flags: &u.flags,
            date: u.date,
        };
        uids.push(append(tx, id, row).await?);
    }
    add_usage(tx, account, size).await?;
    Ok(Appended { uidvalidity, uids })
}

/// Adds messages an administrator imports (no quota check; usage still counted).
pub async fn import(
    tx: &mut Tx<'_>,
    account: &str,
    mailbox: &str,
    msgs: &[Vec<u8>],
    ids: &[Id],
    now: i64,
) -> Result<usize, StoreError> {
    let (id, _) = mailbox_id(tx, account, mailbox).await?;
    if let Some(first) = ids.first()
        && one::<i64>(tx, "SELECT uid FROM messages WHERE id = ?", (first.0,)).await?.is_some()
    {
        return Ok(msgs.len());
    }
    let mut total = 0i64;
    for (m, mid) in msgs.iter().zip(ids) {
        let blob = blob::put(tx, m).await?;
        let size = m.len() as i64;
        let row = NewRow { id: *mid, blob: &blob, return_path: "", has_return_path: false, size, flags: "", date: now };
        append(tx, id, row).await?;
        total += size;
    }
    add_usage(tx, account, total).await?;
    Ok(msgs.len())
}

/// Copies messages by UID; `ids` (one per UID, made before the first
/// attempt) name the copies, so a retry reports the copies it made.
pub async fn copy_messages(
    tx: &mut Tx<'_>,
    account: &str,
    from: &str,
    to: &str,
    uids: &[i64],
    check_quota: bool,
    ids: &[Id],
) -> Result<Copied, StoreError> {
    let (src, _) = mailbox_id(tx, account, from).await?;
    let (dst, uidvalidity) = mailbox_id(tx, account, to).await?;
    let mut pairs = Vec::new();
    for (uid, mid) in uids.iter().zip(ids) {
        if let Some(new) = one::<i64>(tx, "SELECT uid FROM messages WHERE id = ?", (mid.0,)).await? {
            pairs.push((*uid, new));
        }
    }
    if !pairs.is_empty() {
        return Ok(Copied { uidvalidity, uids: pairs });
    }
    let (quota, used) = account_of(tx, account).await?;
    let mut added = 0i64;
    for (uid, mid) in uids.iter().zip(ids) {
        let row: Option<(String, String, bool, i64, String, i64)> = one(
            tx,
            "SELECT blob_id, return_path, has_return_path, size, flags, internal_date FROM messages WHERE mailbox_id = ? AND uid = ?",
            (src, uid),
        )
        .await?;
        let Some((blob, rp, has_rp, size, flags, date)) = row else { continue };
        added += size;
        if check_quota && quota > 0 && used + added > quota {
            return Err(StoreError::Quota(format!("{account} would exceed its quota of {quota} bytes")));
        }
        let row =
            NewRow { id: *mid, blob: &blob, return_path: &rp, has_return_path: has_rp, size, flags: &flags, date };
        pairs.push((*uid, append(tx, dst, row).await?));
    }
    add_usage(tx, account, added).await?;
    Ok(Copied { uidvalidity, uids: pairs })
}

/// A UIDVALIDITY never handed out before (see `sqlite::mailbox::next_uidvalidity`).
pub async fn next_uidvalidity(tx: &mut Tx<'_>) -> Result<i64, StoreError> {
    run(tx, "UPDATE counters SET value = GREATEST(value + 1, ?) WHERE name = 'uidvalidity'", (crate::clock::now(),))
        .await?;
    one(tx, "SELECT value FROM counters WHERE name = 'uidvalidity'", ())
        .await?
        .ok_or_else(|| StoreError::Backend("the uidvalidity counter row is missing".into()))
}

pub async fn claim_recent(tx: &mut Tx<'_>, account: &str, mailbox: &str) -> Result<i64, StoreError> {
    let (id, _) = mailbox_id(tx, account, mailbox).await?;
    let first: i64 =
        one(tx, "SELECT first_recent_uid FROM mailboxes WHERE id = ? FOR UPDATE", (id,)).await?.unwrap_or(1);
    run(tx, "UPDATE mailboxes SET first_recent_uid = uidnext WHERE id = ?", (id,)).await?;
    Ok(first)
}

/// Creates a mailbox; `mid` (made before the first attempt) lets a retry
/// recognise the mailbox it created.
pub async fn create_mailbox(tx: &mut Tx<'_>, account: &str, name: &str, mid: Id) -> Result<(), StoreError> {
    crate::store::valid_mailbox_name(name)?;
    account_of(tx, account).await?;
    if let Some(existing) =
        one::<i64>(tx, "SELECT id FROM mailboxes WHERE account = ? AND name = ?", (account, name)).await?
    {
        return if existing == mid.0 { Ok(()) } else { Err(StoreError::Exists(format!("mailbox {name}"))) };
    }
    let validity = next_uidvalidity(tx).await?;
    // Not subscribed: RFC 3501 leaves subscribing to the client.
    run(
        tx,
        "INSERT INTO mailboxes (id, account, name, uidvalidity) VALUES (?, ?, ?, ?)",
        (mid.0, account, name, validity),
    )
    .await?;
    Ok(())
}

/// Adds the default mailboxes of a new account.
pub async fn create_defaults(tx: &mut Tx<'_>, account: &str) -> Result<(), StoreError> {
    for (name, special) in crate::store::DEFAULT_MAILBOXES {
        let validity = next_uidvalidity(tx).await?;
        run(
            tx,
            "INSERT INTO mailboxes (id, account, name, special_use, uidvalidity) VALUES (?, ?, ?, ?, ?)",
            (Id::new().0, account, *name, *special, validity),
        )
        .await?;
        run(tx, "INSERT IGNORE INTO subscriptions (account, name) VALUES (?, ?)", (account, *name)).await?;
    }
    Ok(())
}

pub async fn delete_mailbox(tx: &mut Tx<'_>, account: &str, name: &str) -> Result<(), StoreError> {
    crate::store::valid_mailbox_name(name)?;
    let (id, _) = mailbox_id(tx, account, name).await?;
    let uids: Vec<i64> = all(tx, "SELECT uid FROM messages WHERE mailbox_id = ?", (id,)).await?;
    expunge(tx, account, name, &uids).await?;
    run(tx, "DELETE FROM expunged WHERE mailbox_id = ?", (id,)).await?;
    run(tx, "DELETE FROM mailboxes WHERE id = ?", (id,)).await?;
    Ok(())
}

/// Removes every mailbox of an account with its messages (account removal).
pub async fn delete_all(tx: &mut Tx<'_>, account: &str) -> Result<(), StoreError> {
    let names: Vec<(i64, String)> = all(tx, "SELECT id, name FROM mailboxes WHERE account = ?", (account,)).await?;
    for (id, name) in names {
        let blobs: Vec<String> = all(tx, "SELECT DISTINCT blob_id FROM messages WHERE mailbox_id = ?", (id,)).await?;
        run(tx, "DELETE FROM messages WHERE mailbox_id = ?", (id,)).await?;
        run(tx, "DELETE FROM expunged WHERE mailbox_id = ?", (id,)).await?;
        run(tx, "DELETE FROM mailboxes WHERE id = ?", (id,)).await?;
        for b in blobs {
            blob::release(tx, &b).await?;
        }
        tracing::debug!(target: "hato::store", account, mailbox = %name, "mailbox removed with its account");
    }
    Ok(())
}

/// Renames a mailbox with its inferiors and their subscriptions (as the
/// SQLite store does).
pub async fn rename_mailbox(tx: &mut Tx<'_>, account: &str, from: &str, to: &str) -> Result<(), StoreError> {
    crate::store::valid_mailbox_name(from)?;
    crate::store::valid_mailbox_name(to)?;
    mailbox_id(tx, account, from).await?;
    let names: Vec<String> = all(tx, "SELECT name FROM mailboxes WHERE account = ?", (account,)).await?;
    let moved = crate::store::renamed_names(&names, from, to);
    for (_, new) in &moved {
        if mailbox_id(tx, account, new).await.is_ok() {
            return Err(StoreError::Exists(format!("mailbox {new}")));
        }
    }
    for (old, new) in &moved {
        run(tx, "UPDATE mailboxes SET name = ? WHERE account = ? AND name = ?", (new, account, old)).await?;
        run(tx, "UPDATE subscriptions SET name = ? WHERE account = ? AND name = ?", (new, account, old)).await?;
    }
    Ok(())
}

/// Subscribing needs the mailbox; unsubscribing does not.
pub async fn set_subscribed(tx: &mut Tx<'_>, account: &str, name: &str, on: bool) -> Result<(), StoreError> {
    if on {
        mailbox_id(tx, account, name).await?;
        run(tx, "INSERT IGNORE INTO subscriptions (account, name) VALUES (?, ?)", (account, name)).await?;
    } else {
        run(tx, "DELETE FROM subscriptions WHERE account = ? AND name = ?", (account, name)).await?;
    }
    Ok(())
}

/// The names an account is subscribed to, mailboxes or not.
pub async fn subscriptions(tx: &mut Tx<'_>, account: &str) -> Result<Vec<String>, StoreError> {
    all(tx, "SELECT name FROM subscriptions WHERE account = ? ORDER BY name", (account,)).await
}
