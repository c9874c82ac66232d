//! Failed logins (see `crate::directory::login`): one row per failure.

use rusqlite::{Connection, params};

use crate::ids::Id;
use crate::store::{AuthFailures, StoreError};

pub fn add(c: &Connection, id: Id, ip: &str, user: &str, at: i64) -> Result<(), StoreError> {
    c.execute(
        "INSERT OR IGNORE INTO auth_failures (id, at, ip, user) VALUES (?1, ?2, ?3, ?4)",
        params![id.0, at, ip, user],
    )?;
    Ok(())
}

pub fn count(c: &Connection, ip: &str, user: &str, since: i64) -> Result<AuthFailures, StoreError> {
    let (ip, user): (u32, u32) = c.query_row(
        "SELECT (SELECT COUNT(*) FROM auth_failures WHERE ip = ?1 AND at >= ?3),
                (SELECT COUNT(*) FROM auth_failures WHERE user = ?2 AND user != '' AND at >= ?3)",
        params![ip, user, since],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(AuthFailures { ip, user })
}

pub fn clear(c: &Connection, user: &str) -> Result<(), StoreError> {
    // Kept for the address's count, no longer the user's.
    c.execute("UPDATE auth_failures SET user = '' WHERE user = ?1", [user])?;
    Ok(())
}

pub fn expire(c: &Connection, before: i64) -> Result<usize, StoreError> {
    Ok(c.execute("DELETE FROM auth_failures WHERE at < ?1", [before])?)
}
