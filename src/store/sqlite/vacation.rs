//! Vacation settings per account, and the memory of whom was answered when.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{NewMessage, StoreError};
use crate::vacation::Vacation;

pub fn set(c: &Connection, account: &str, v: Option<&Vacation>) -> Result<(), StoreError> {
    match v {
        Some(v) => {
            let n = c.execute(
                "INSERT INTO vacations (account, subject, body, days) SELECT address, ?2, ?3, ?4 FROM accounts WHERE address = ?1
                 ON CONFLICT (account) DO UPDATE SET subject = excluded.subject, body = excluded.body, days = excluded.days",
                params![account, v.subject, v.body, v.days],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("account {account}")));
            }
            // A new message starts a new period for everyone.
            c.execute("DELETE FROM vacation_replies WHERE account = ?1", [account])?;
        }
        None => {
            c.execute("DELETE FROM vacations WHERE account = ?1", [account])?;
            c.execute("DELETE FROM vacation_replies WHERE account = ?1", [account])?;
        }
    }
    Ok(())
}

pub fn get(c: &Connection, account: &str) -> Result<Option<Vacation>, StoreError> {
    Ok(c.query_row("SELECT subject, body, days FROM vacations WHERE account = ?1", [account], |r| {
        Ok(Vacation { subject: r.get(0)?, body: r.get(1)?, days: r.get(2)? })
    })
    .optional()?)
}

/// Queues the reply unless this sender was answered within the period; both
/// the check and the memory are in the same transaction as the queueing.
pub fn send(
    c: &Connection,
    account: &str,
    sender: &str,
    days: u32,
    reply: &NewMessage,
    now: i64,
) -> Result<bool, StoreError> {
    let sender = sender.to_ascii_lowercase();
    let last: Option<i64> = c
        .query_row(
            "SELECT last_sent FROM vacation_replies WHERE account = ?1 AND sender = ?2",
            params![account, sender],
            |r| r.get(0),
        )
        .optional()?;
    if last.is_some_and(|t| now < t + i64::from(days) * 86_400) {
        return Ok(false);
    }
    c.execute(
        "INSERT OR REPLACE INTO vacation_replies (account, sender, last_sent) VALUES (?1, ?2, ?3)",
        params![account, sender, now],
    )?;
    let blob = super::mailbox::BlobKey::of(&reply.body);
    if super::archive::record(c, reply, &blob, "accepted", "vacation reply", now)? {
        super::queue::enqueue(c, reply, &blob.id, now)?;
    }
    Ok(true)
}
