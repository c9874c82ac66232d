//! Failed logins (see `crate::directory::login`): one row per failure.

use rusqlite::{Connection, params};

use crate::ids::Id;
use crate::store::{AuthFailures, FailedLogins, StoreError};

pub fn add(c: &Connection, id: Id, ip: &str, user: &str, at: i64) -> Result<(), StoreError> {
    c.execute(
        "INSERT OR IGNORE INTO auth_failures (id, at, ip, user) VALUES (?1, ?2, ?3, ?4)",
        params![id.0, at, ip, user],
    )?;
    Ok(())
}

pub fn count(c: &Connection, ip: &str, user: &str, since: i64) -> Result<AuthFailures, StoreError> {
    let (ip, user, pair): (u32, u32, u32) = c.query_row(
        "SELECT (SELECT COUNT(*) FROM auth_failures WHERE ip = ?1 AND at >= ?3),
                (SELECT COUNT(*) FROM auth_failures WHERE user = ?2 AND user != '' AND at >= ?3),
                (SELECT COUNT(*) FROM auth_failures WHERE user = ?2 AND user != '' AND ip = ?1 AND at >= ?3)",
        params![ip, user, since],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(AuthFailures { ip, user, pair })
}

pub fn list(c: &Connection, since: i64) -> Result<Vec<FailedLogins>, StoreError> {
    let mut st = c.prepare(
        "SELECT ip, user, COUNT(*), MAX(at) FROM auth_failures WHERE at >= ?1 GROUP BY ip, user ORDER BY MAX(at) DESC",
    )?;
    let rows = st.query_map([since], |r| {
        Ok(FailedLogins { ip: r.get(0)?, user: r.get(1)?, failures: r.get(2)?, last: r.get(3)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn clear(c: &Connection, ip: Option<&str>, user: Option<&str>) -> Result<usize, StoreError> {
    Ok(c.execute(
        "DELETE FROM auth_failures WHERE (?1 IS NULL OR ip = ?1) AND (?2 IS NULL OR user = ?2)",
        params![ip, user],
    )?)
}

pub fn expire(c: &Connection, before: i64) -> Result<usize, StoreError> {
    Ok(c.execute("DELETE FROM auth_failures WHERE at < ?1", [before])?)
}
