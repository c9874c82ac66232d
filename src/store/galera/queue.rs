//! The durable queue in MariaDB: one row per (message, recipient) still to
//! deliver, leased to one node at a time (see `Store::claim_due`).
//!
//! A claim is an UPDATE of the entries a node read as free: two nodes that
//! read the same free entry both update it, and Galera lets only the first
//! commit through (the other fails certification, is retried, and then
//! sees the entry taken).

use mysql_async::prelude::FromValue;
use mysql_async::{Row, Value};

use super::blob::{self, opt};
use super::sql::{Stmt, Tx, all, batch, contains, marks, one, rows, run, values};
use crate::ids::Id;
use crate::store::NodeLeases;
use crate::store::{
    EntryOutcome, EnvelopeDsn, NewMessage, Notify, Outcome, QueueAction, QueueEntry, QueueFilter, QueueSummary,
    QueuedMessage, RecipientDsn, Ret, StoreError,
};

/// Archives and queues a message new to the store, in as few round trips as
/// its size allows: a body of up to one chunk goes in the same batch as the
/// archive, queued-message and queue rows (SMTP's 250 waits on this).
pub async fn accept(tx: &mut Tx<'_>, m: &NewMessage, now: i64) -> Result<(), StoreError> {
    let blob = blob::blob_id(&m.body);
    let mut statements = if m.body.len() <= blob::CHUNK {
        blob::put_statements(&blob, &m.body)
    } else {
        blob::put(tx, &m.body).await?;
        Vec::new()
    };
    statements.push(super::archive::insert_statement(m, "accepted", "", now, &blob));
    statements.extend(queue_statements(m, &blob, now));
    batch(tx, &statements).await
}

/// The queued-message row and one queue row per recipient.
fn queue_statements(m: &NewMessage, blob: &str, now: i64) -> Vec<Stmt> {
    let mut out = vec![Stmt::new(
        "INSERT INTO queued_messages (id, blob_id, sender, received, size, client_ip, helo, auth_user, message_id, subject, dsn_ret, dsn_envid)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            m.id.0.into(),
            blob.into(),
            m.sender.as_str().into(),
            now.into(),
            (m.body.len() as i64).into(),
            m.client_ip.as_str().into(),
            m.helo.as_str().into(),
            opt(&m.auth_user),
            m.message_id.as_str().into(),
            m.subject.as_str().into(),
            m.dsn.ret.map(Ret::as_str).into(),
            opt(&m.dsn.envid),
        ],
    )];
    if !m.recipients.is_empty() {
        let mut v: Vec<Value> = Vec::with_capacity(m.recipients.len() * 11);
        let accepted = crate::clock::now_micros();
        for r in &m.recipients {
            let domain = r.address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
            v.extend([r.id.0.into(), m.id.0.into(), r.address.as_str().into(), opt(&r.local_account), domain.into()]);
            v.extend([now.into(), "".into(), now.into()]);
            v.extend([r.dsn.notify.map(|n| n.to_string()).into(), opt(&r.dsn.orcpt), accepted.into()]);
        }
        out.push(Stmt::new(
            format!(
                "INSERT INTO queue (id, message, recipient, local_account, domain, next_attempt, last_error, created, dsn_notify, dsn_orcpt, accepted_us)
                 VALUES {}",
                rows(m.recipients.len(), 11)
            ),
            v,
        ));
    }
    out
}

/// Idempotent on the message id: a retried commit finds its own row.
pub async fn enqueue(tx: &mut Tx<'_>, m: &NewMessage, now: i64) -> Result<(), StoreError> {
    if one::<i64>(tx, "SELECT id FROM queued_messages WHERE id = ?", (m.id.0,)).await?.is_some() {
        return Ok(());
    }
    let blob = blob::put(tx, &m.body).await?;
    batch(tx, &queue_statements(m, &blob, now)).await
}

const ENTRY_COLS: &str = "id, message, recipient, local_account, domain, state, attempts, next_attempt, last_error, created, lease_node, lease_until, dsn_notify, dsn_orcpt, delay_warned, accepted_us";

/// Column `i` of a row read with ENTRY_COLS or MESSAGE_COLS.
fn take<T: FromValue>(r: &mut Row, i: usize) -> Result<T, StoreError> {
    match r.take_opt(i) {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(StoreError::Backend(format!("unexpected value in queue column {i}: {e}"))),
        None => Err(StoreError::Backend(format!("queue row lacks column {i}"))),
    }
}

// More columns than mysql_async's tuple conversion takes, hence by index.
fn entry(mut r: Row) -> Result<QueueEntry, StoreError> {
    let notify: Option<String> = take(&mut r, 12)?;
    Ok(QueueEntry {
        id: Id(take(&mut r, 0)?),
        message: Id(take(&mut r, 1)?),
        recipient: take(&mut r, 2)?,
        local_account: take(&mut r, 3)?,
        domain: take(&mut r, 4)?,
        state: take(&mut r, 5)?,
        attempts: take(&mut r, 6)?,
        next_attempt: take(&mut r, 7)?,
        last_error: take(&mut r, 8)?,
        created: take(&mut r, 9)?,
        lease_node: take(&mut r, 10)?,
        lease_until: take(&mut r, 11)?,
        dsn: RecipientDsn { notify: notify.and_then(|n| Notify::parse(&n)), orcpt: take(&mut r, 13)? },
        delay_warned: take(&mut r, 14)?,
        accepted_us: take(&mut r, 15)?,
    })
}

fn entries(rows: Vec<Row>) -> Result<Vec<QueueEntry>, StoreError> {
    rows.into_iter().map(entry).collect()
}

pub async fn claim_due(
    tx: &mut Tx<'_>,
    node: &str,
    now: i64,
    lease_secs: i64,
    limit: usize,
) -> Result<Vec<QueueEntry>, StoreError> {
    // SKIP LOCKED: entries another transaction of this node is claiming
    // right now are left to it instead of waited for.
    let ids: Vec<i64> = all(
        tx,
        "SELECT id FROM queue WHERE state = 'ready' AND next_attempt <= ? AND (lease_until IS NULL OR lease_until < ?)
         ORDER BY next_attempt, accepted_us LIMIT ? FOR UPDATE SKIP LOCKED",
        (now, now, limit as u64),
    )
    .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The UPDATE checks again that each entry is free: Galera does not stop
    // a write based on a read that another node's commit made stale (lost
    // updates are possible across nodes), but a statement that both checks
    // and writes a row holds its lock, and a conflicting commit from another
    // node then aborts this transaction.
    let until = now + lease_secs;
    let mut params: Vec<Value> = vec![node.into(), until.into()];
    params.extend(ids.iter().map(|i| Value::from(*i)));
    params.push(now.into());
    run(
        tx,
        &format!(
            "UPDATE queue SET lease_node = ?, lease_until = ? WHERE id IN ({}) AND state = 'ready'
               AND (lease_until IS NULL OR lease_until < ?)",
            marks(ids.len())
        ),
        values(params),
    )
    .await?;
    let mut params: Vec<Value> = ids.iter().map(|i| Value::from(*i)).collect();
    params.extend([node.into(), until.into()]);
    let rows: Vec<Row> = all(
        tx,
        &format!(
            "SELECT {ENTRY_COLS} FROM queue WHERE id IN ({}) AND lease_node = ? AND lease_until = ?
             ORDER BY next_attempt, accepted_us, id",
            marks(ids.len())
        ),
        values(params),
    )
    .await?;
    entries(rows)
}

pub async fn renew_leases(tx: &mut Tx<'_>, node: &str, entries: &[Id], until: i64) -> Result<(), StoreError> {
    for e in entries {
        run(tx, "UPDATE queue SET lease_until = ? WHERE id = ? AND lease_node = ?", (until, e.0, node)).await?;
    }
    Ok(())
}

pub async fn release_leases(tx: &mut Tx<'_>, node: &str) -> Result<usize, StoreError> {
    Ok(run(tx, "UPDATE queue SET lease_node = NULL, lease_until = NULL WHERE lease_node = ?", (node,)).await? as usize)
}

pub async fn leases_by_node(tx: &mut Tx<'_>, now: i64) -> Result<Vec<NodeLeases>, StoreError> {
    let rows: Vec<(String, i64)> = all(
        tx,
        "SELECT lease_node, COUNT(*) FROM queue WHERE lease_node IS NOT NULL AND lease_until > ?
         GROUP BY lease_node ORDER BY lease_node",
        (now,),
    )
    .await?;
    Ok(rows.into_iter().map(|(node, n)| NodeLeases { node, entries: n as u64 }).collect())
}

const MESSAGE_COLS: &str =
    "id, sender, received, size, client_ip, helo, auth_user, message_id, subject, dsn_ret, dsn_envid";

fn message(mut r: Row) -> Result<QueuedMessage, StoreError> {
    let ret: Option<String> = take(&mut r, 9)?;
    Ok(QueuedMessage {
        id: Id(take(&mut r, 0)?),
        sender: take(&mut r, 1)?,
        received: take(&mut r, 2)?,
        size: take(&mut r, 3)?,
        client_ip: take(&mut r, 4)?,
        helo: take(&mut r, 5)?,
        auth_user: take(&mut r, 6)?,
        message_id: take(&mut r, 7)?,
        subject: take(&mut r, 8)?,
        dsn: EnvelopeDsn { ret: ret.and_then(|r| Ret::parse(&r)), envid: take(&mut r, 10)? },
        entries: Vec::new(),
    })
}

async fn entries_of(tx: &mut Tx<'_>, message: Id) -> Result<Vec<QueueEntry>, StoreError> {
    let rows: Vec<Row> =
        all(tx, &format!("SELECT {ENTRY_COLS} FROM queue WHERE message = ? ORDER BY recipient"), (message.0,)).await?;
    entries(rows)
}

pub async fn queued_message(tx: &mut Tx<'_>, id: Id) -> Result<Option<QueuedMessage>, StoreError> {
    let head: Option<Row> =
        one(tx, &format!("SELECT {MESSAGE_COLS} FROM queued_messages WHERE id = ?"), (id.0,)).await?;
    let Some(head) = head else { return Ok(None) };
    let mut m = message(head)?;
    m.entries = entries_of(tx, id).await?;
    Ok(Some(m))
}

pub async fn queued_header(tx: &mut Tx<'_>, id: Id) -> Result<Vec<u8>, StoreError> {
    one(tx, "SELECT h.header FROM queued_messages m JOIN headers h ON h.blob_id = m.blob_id WHERE m.id = ?", (id.0,))
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("queued message {id}")))
}

pub async fn queued_body(tx: &mut Tx<'_>, id: Id) -> Result<Vec<u8>, StoreError> {
    let blob: String = one(tx, "SELECT blob_id FROM queued_messages WHERE id = ?", (id.0,))
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("queued message {id}")))?;
    blob::get(tx, &blob).await
}

pub async fn list(tx: &mut Tx<'_>, f: &QueueFilter) -> Result<Vec<QueuedMessage>, StoreError> {
    let like = |s: &Option<String>| s.as_deref().map(contains);
    let heads: Vec<Row> = all(
        tx,
        &format!(
            "SELECT {MESSAGE_COLS} FROM queued_messages m
             WHERE (? IS NULL OR LOWER(m.sender) LIKE ?)
               AND EXISTS (SELECT 1 FROM queue q WHERE q.message = m.id
                           AND (? IS NULL OR LOWER(q.recipient) LIKE ?) AND (? IS NULL OR q.state = ?))
             ORDER BY m.received"
        ),
        values(vec![
            like(&f.sender).into(),
            like(&f.sender).into(),
            like(&f.recipient).into(),
            like(&f.recipient).into(),
            f.state.as_deref().into(),
            f.state.as_deref().into(),
        ]),
    )
    .await?;
    let mut out = Vec::with_capacity(heads.len());
    for h in heads {
        let mut m = message(h)?;
        m.entries = entries_of(tx, m.id).await?;
        out.push(m);
    }
    Ok(out)
}

pub async fn record_outcomes(tx: &mut Tx<'_>, outcomes: &[EntryOutcome]) -> Result<(), StoreError> {
    for EntryOutcome { entry, outcome } in outcomes {
        match outcome {
            Outcome::Delivered | Outcome::Failed { .. } => {
                let message: Option<i64> =
                    one(tx, "DELETE FROM queue WHERE id = ? RETURNING message", (entry.0,)).await?;
                if let Some(m) = message {
                    forget_if_done(tx, Id(m)).await?;
                }
            }
            Outcome::Deferred { error, next_attempt, delay_warned } => {
                run(
                    tx,
                    "UPDATE queue SET attempts = attempts + 1, next_attempt = ?, last_error = ?,
                       delay_warned = delay_warned OR ?, lease_node = NULL, lease_until = NULL WHERE id = ?",
                    (next_attempt, error, delay_warned, entry.0),
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// Drops a queued message (and its body, if unshared) once no recipient is left.
pub async fn forget_if_done(tx: &mut Tx<'_>, message: Id) -> Result<(), StoreError> {
    let left: i64 = one(tx, "SELECT COUNT(*) FROM queue WHERE message = ?", (message.0,)).await?.unwrap_or(0);
    if left > 0 {
        return Ok(());
    }
    let blob: Option<String> =
        one(tx, "DELETE FROM queued_messages WHERE id = ? RETURNING blob_id", (message.0,)).await?;
    if let Some(b) = blob {
        blob::release(tx, &b).await?;
    }
    Ok(())
}

pub async fn action(tx: &mut Tx<'_>, id: Id, action: QueueAction, now: i64) -> Result<usize, StoreError> {
    let n = match action {
        QueueAction::Hold => run(tx, "UPDATE queue SET state = 'held' WHERE message = ?", (id.0,)).await?,
        QueueAction::Release => {
            run(tx, "UPDATE queue SET state = 'ready', next_attempt = ? WHERE message = ?", (now, id.0)).await?
        }
        QueueAction::Retry => {
            run(tx, "UPDATE queue SET next_attempt = ? WHERE message = ? AND state = 'ready'", (now, id.0)).await?
        }
        QueueAction::Delete => {
            let n = run(tx, "DELETE FROM queue WHERE message = ?", (id.0,)).await?;
            forget_if_done(tx, id).await?;
            n
        }
    };
    if n == 0 && action != QueueAction::Retry {
        return Err(StoreError::NotFound(format!("queued message {id}")));
    }
    Ok(n as usize)
}

pub async fn summary(tx: &mut Tx<'_>) -> Result<QueueSummary, StoreError> {
    let (messages, bytes, oldest): (i64, i64, Option<i64>) = one(
        tx,
        "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(received) FROM queued_messages
         WHERE id IN (SELECT message FROM queue)",
        (),
    )
    .await?
    .unwrap_or((0, 0, None));
    let (recipients, held): (i64, i64) =
        one(tx, "SELECT COUNT(*), COALESCE(SUM(state = 'held'), 0) FROM queue", ()).await?.unwrap_or((0, 0));
    Ok(QueueSummary {
        messages: messages as u64,
        recipients: recipients as u64,
        bytes: bytes as u64,
        held: held as u64,
        oldest,
    })
}
