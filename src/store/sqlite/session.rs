//! Web console sessions (see `crate::web::session`): one row per login,
//! keyed by a hash of the cookie's token.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{Role, StoreError, WebSession};

pub fn put(c: &Connection, key: &str, s: &WebSession) -> Result<(), StoreError> {
    c.execute(
        "INSERT OR REPLACE INTO web_sessions (key, user, role, csrf, last_seen) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![key, s.user, s.role.as_str(), s.csrf, s.last_seen],
    )?;
    Ok(())
}

pub fn get(c: &Connection, key: &str, live_after: i64) -> Result<Option<WebSession>, StoreError> {
    Ok(c.query_row(
        "SELECT user, role, csrf, last_seen FROM web_sessions WHERE key = ?1 AND last_seen >= ?2",
        params![key, live_after],
        |r| {
            Ok(WebSession {
                user: r.get(0)?,
                role: Role::parse(&r.get::<_, String>(1)?),
                csrf: r.get(2)?,
                last_seen: r.get(3)?,
            })
        },
    )
    .optional()?)
}

pub fn touch(c: &Connection, key: &str, now: i64) -> Result<(), StoreError> {
    c.execute("UPDATE web_sessions SET last_seen = MAX(last_seen, ?2) WHERE key = ?1", params![key, now])?;
    Ok(())
}

pub fn remove(c: &Connection, key: &str) -> Result<(), StoreError> {
    c.execute("DELETE FROM web_sessions WHERE key = ?1", [key])?;
    Ok(())
}

pub fn remove_user(c: &Connection, user: &str) -> Result<(), StoreError> {
    c.execute("DELETE FROM web_sessions WHERE user = ?1", [user])?;
    Ok(())
}

pub fn expire(c: &Connection, before: i64) -> Result<usize, StoreError> {
    Ok(c.execute("DELETE FROM web_sessions WHERE last_seen < ?1", [before])?)
}
