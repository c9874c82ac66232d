//! The durable queue: one row per (message, recipient) still to deliver.

use rusqlite::{Connection, OptionalExtension, params};

use crate::ids::Id;
use crate::store::NodeLeases;
use crate::store::{
    EntryOutcome, EnvelopeDsn, NewMessage, Notify, Outcome, QueueAction, QueueEntry, QueueFilter, QueuedMessage,
    RecipientDsn, Ret, StoreError,
};

/// Queues `m` for its recipients; its body is stored already, as `blob`
/// (the archive row's, written in the same transaction, or a held message's).
pub fn enqueue(c: &Connection, m: &NewMessage, blob: &str, now: i64) -> Result<(), StoreError> {
    // A retried commit finds its own row (the id was made before the first try).
    let inserted = c.execute(
        "INSERT OR IGNORE INTO queued_messages (id, blob_id, sender, received, size, client_ip, helo, auth_user, message_id, subject, dsn_ret, dsn_envid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            m.id.0,
            blob,
            m.sender,
            now,
            m.body.len() as i64,
            m.client_ip,
            m.helo,
            m.auth_user,
            m.message_id,
            m.subject,
            m.dsn.ret.map(Ret::as_str),
            m.dsn.envid
        ],
    )?;
    if inserted == 0 {
        return Ok(());
    }
    let mut st = c.prepare_cached(
        "INSERT INTO queue (id, message, recipient, local_account, domain, next_attempt, created, dsn_notify, dsn_orcpt, accepted_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9)",
    )?;
    let accepted = crate::clock::now_micros();
    for r in &m.recipients {
        let domain = r.address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        let notify = r.dsn.notify.map(|n| n.to_string());
        st.execute(params![r.id.0, m.id.0, r.address, r.local_account, domain, now, notify, r.dsn.orcpt, accepted])?;
    }
    Ok(())
}

const ENTRY_COLS: &str = "id, message, recipient, local_account, domain, state, attempts, next_attempt, last_error, created, lease_node, lease_until, dsn_notify, dsn_orcpt, delay_warned, accepted_us";

fn entry_row(r: &rusqlite::Row) -> rusqlite::Result<QueueEntry> {
    Ok(QueueEntry {
        id: Id(r.get(0)?),
        message: Id(r.get(1)?),
        recipient: r.get(2)?,
        local_account: r.get(3)?,
        domain: r.get(4)?,
        state: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt: r.get(7)?,
        last_error: r.get(8)?,
        created: r.get(9)?,
        lease_node: r.get(10)?,
        lease_until: r.get(11)?,
        dsn: RecipientDsn {
            notify: r.get::<_, Option<String>>(12)?.and_then(|n| Notify::parse(&n)),
            orcpt: r.get(13)?,
        },
        delay_warned: r.get(14)?,
        accepted_us: r.get(15)?,
    })
}

/// Leases up to `limit` due, ready entries that nobody holds (or whose lease
/// lapsed) to `node` until `now + lease_secs`.
pub fn claim_due(
    c: &Connection,
    node: &str,
    now: i64,
    lease_secs: i64,
    limit: usize,
) -> Result<Vec<QueueEntry>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "UPDATE queue SET lease_node = ?1, lease_until = ?2 WHERE id IN (
            SELECT id FROM queue WHERE state = 'ready' AND next_attempt <= ?3 AND (lease_until IS NULL OR lease_until < ?3)
            ORDER BY next_attempt, accepted_us LIMIT ?4)
         RETURNING {ENTRY_COLS}"
    ))?;
    let rows = st.query_map(params![node, now + lease_secs, now, limit as i64], entry_row)?;
    let mut due: Vec<QueueEntry> = rows.collect::<Result<_, _>>()?;
    due.sort_by_key(|e| (e.next_attempt, e.accepted_us, e.id));
    Ok(due)
}

pub fn renew_leases(c: &Connection, node: &str, entries: &[Id], until: i64) -> Result<(), StoreError> {
    let mut st = c.prepare_cached("UPDATE queue SET lease_until = ?3 WHERE id = ?1 AND lease_node = ?2")?;
    for e in entries {
        st.execute(params![e.0, node, until])?;
    }
    Ok(())
}

pub fn release_leases(c: &Connection, node: &str) -> Result<usize, StoreError> {
    Ok(c.execute("UPDATE queue SET lease_node = NULL, lease_until = NULL WHERE lease_node = ?1", [node])?)
}

pub fn leases_by_node(c: &Connection, now: i64) -> Result<Vec<NodeLeases>, StoreError> {
    let mut st = c.prepare(
        "SELECT lease_node, COUNT(*) FROM queue WHERE lease_node IS NOT NULL AND lease_until > ?1
         GROUP BY lease_node ORDER BY lease_node",
    )?;
    let rows = st.query_map([now], |r| Ok(NodeLeases { node: r.get(0)?, entries: r.get::<_, i64>(1)? as u64 }))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn queued_message(c: &Connection, id: Id) -> Result<Option<QueuedMessage>, StoreError> {
    let head = c
        .query_row(
            "SELECT id, sender, received, size, client_ip, helo, auth_user, message_id, subject, dsn_ret, dsn_envid FROM queued_messages WHERE id = ?1",
            [id.0],
            message_row,
        )
        .optional()?;
    let Some(mut m) = head else { return Ok(None) };
    m.entries = entries_of(c, id)?;
    Ok(Some(m))
}

fn message_row(r: &rusqlite::Row) -> rusqlite::Result<QueuedMessage> {
    Ok(QueuedMessage {
        id: Id(r.get(0)?),
        sender: r.get(1)?,
        received: r.get(2)?,
        size: r.get(3)?,
        client_ip: r.get(4)?,
        helo: r.get(5)?,
        auth_user: r.get(6)?,
        message_id: r.get(7)?,
        subject: r.get(8)?,
        dsn: EnvelopeDsn { ret: r.get::<_, Option<String>>(9)?.and_then(|s| Ret::parse(&s)), envid: r.get(10)? },
        entries: Vec::new(),
    })
}

fn entries_of(c: &Connection, message: Id) -> Result<Vec<QueueEntry>, StoreError> {
    let mut st = c.prepare_cached(&format!("SELECT {ENTRY_COLS} FROM queue WHERE message = ?1 ORDER BY recipient"))?;
    let rows = st.query_map([message.0], entry_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Just the header block of a queued message (local delivery decides by it).
pub fn queued_header(c: &Connection, id: Id) -> Result<Vec<u8>, StoreError> {
    c.query_row(
        "SELECT h.header FROM queued_messages m JOIN headers h ON h.blob_id = m.blob_id WHERE m.id = ?1",
        [id.0],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("queued message {id}")))
}

pub fn queued_body(c: &Connection, id: Id) -> Result<Vec<u8>, StoreError> {
    c.query_row("SELECT b.data FROM queued_messages m JOIN blobs b ON b.id = m.blob_id WHERE m.id = ?1", [id.0], |r| {
        r.get(0)
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("queued message {id}")))
}

pub fn list(c: &Connection, f: &QueueFilter) -> Result<Vec<QueuedMessage>, StoreError> {
    let like = |s: &Option<String>| s.as_ref().map(|v| format!("%{}%", v.to_lowercase()));
    let mut st = c.prepare(
        "SELECT m.id, m.sender, m.received, m.size, m.client_ip, m.helo, m.auth_user, m.message_id, m.subject, m.dsn_ret, m.dsn_envid
         FROM queued_messages m
         WHERE (?1 IS NULL OR lower(m.sender) LIKE ?1)
           AND EXISTS (SELECT 1 FROM queue q WHERE q.message = m.id
                        AND (?2 IS NULL OR q.recipient LIKE ?2) AND (?3 IS NULL OR q.state = ?3))
         ORDER BY m.received",
    )?;
    let heads: Vec<QueuedMessage> =
        st.query_map(params![like(&f.sender), like(&f.recipient), f.state], message_row)?.collect::<Result<_, _>>()?;
    heads
        .into_iter()
        .map(|mut m| {
            m.entries = entries_of(c, m.id)?;
            Ok(m)
        })
        .collect()
}

pub fn record_outcomes(c: &Connection, outcomes: &[EntryOutcome]) -> Result<(), StoreError> {
    for EntryOutcome { entry, outcome } in outcomes {
        match outcome {
            Outcome::Delivered | Outcome::Failed { .. } => {
                let message: Option<i64> = c
                    .query_row("DELETE FROM queue WHERE id = ?1 RETURNING message", [entry.0], |r| r.get(0))
                    .optional()?;
                if let Some(m) = message {
                    forget_if_done(c, Id(m))?;
                }
            }
            Outcome::Deferred { error, next_attempt, delay_warned } => {
                c.execute(
                    "UPDATE queue SET attempts = attempts + 1, next_attempt = ?2, last_error = ?3,
                       delay_warned = delay_warned OR ?4, lease_node = NULL, lease_until = NULL WHERE id = ?1",
                    params![entry.0, next_attempt, error, delay_warned],
                )?;
            }
        }
    }
    Ok(())
}

/// Drops a queued message (and its body, if unshared) once no recipient is left.
pub fn forget_if_done(c: &Connection, message: Id) -> Result<(), StoreError> {
    let left: i64 = c.query_row("SELECT COUNT(*) FROM queue WHERE message = ?1", [message.0], |r| r.get(0))?;
    if left > 0 {
        return Ok(());
    }
    let blob: Option<String> = c
        .query_row("DELETE FROM queued_messages WHERE id = ?1 RETURNING blob_id", [message.0], |r| r.get(0))
        .optional()?;
    if let Some(b) = blob {
        super::mailbox::release_blob(c, &b)?;
    }
    Ok(())
}

pub fn action(c: &Connection, id: Id, action: QueueAction, now: i64) -> Result<usize, StoreError> {
    let n = match action {
        QueueAction::Hold => c.execute("UPDATE queue SET state = 'held' WHERE message = ?1", [id.0])?,
        QueueAction::Release => {
            c.execute("UPDATE queue SET state = 'ready', next_attempt = ?2 WHERE message = ?1", params![id.0, now])?
        }
        QueueAction::Retry => {
            c.execute("UPDATE queue SET next_attempt = ?2 WHERE message = ?1 AND state = 'ready'", params![id.0, now])?
        }
        QueueAction::Delete => {
            let n = c.execute("DELETE FROM queue WHERE message = ?1", [id.0])?;
            forget_if_done(c, id)?;
            n
        }
    };
    if n == 0 && action != QueueAction::Retry {
        return Err(StoreError::NotFound(format!("queued message {id}")));
    }
    Ok(n)
}

/// What the queue holds now, for monitoring (SNMP, the control socket).
pub fn summary(c: &Connection) -> Result<crate::store::QueueSummary, StoreError> {
    let (messages, bytes, oldest): (i64, i64, Option<i64>) = c.query_row(
        "SELECT count(*), coalesce(sum(size), 0), min(received) FROM queued_messages
         WHERE id IN (SELECT message FROM queue)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let (recipients, held): (i64, i64) =
        c.query_row("SELECT count(*), count(*) FILTER (WHERE state = 'held') FROM queue", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(crate::store::QueueSummary {
        messages: messages as u64,
        recipients: recipients as u64,
        bytes: bytes as u64,
        held: held as u64,
        oldest,
    })
}
