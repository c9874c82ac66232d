//! Web console sessions (see `crate::web::session`): one row per login,
//! keyed by a hash of the cookie's token. In the cluster, so a login made
//! through one node holds on every other (a service address that moves
//! keeps its users logged in).

use super::sql::{Tx, one, run};
use crate::store::{Role, StoreError, WebSession};

pub async fn put(tx: &mut Tx<'_>, key: &str, s: &WebSession) -> Result<(), StoreError> {
    run(
        tx,
        "REPLACE INTO web_sessions (`key`, user, role, csrf, last_seen) VALUES (?, ?, ?, ?, ?)",
        (key, &s.user, s.role.as_str(), &s.csrf, s.last_seen),
    )
    .await?;
    Ok(())
}

pub async fn get(tx: &mut Tx<'_>, key: &str, live_after: i64) -> Result<Option<WebSession>, StoreError> {
    let row: Option<(String, String, String, i64)> = one(
        tx,
        "SELECT user, role, csrf, last_seen FROM web_sessions WHERE `key` = ? AND last_seen >= ?",
        (key, live_after),
    )
    .await?;
    Ok(row.map(|(user, role, csrf, last_seen)| WebSession { user, role: Role::parse(&role), csrf, last_seen }))
}

pub async fn touch(tx: &mut Tx<'_>, key: &str, now: i64) -> Result<(), StoreError> {
    run(tx, "UPDATE web_sessions SET last_seen = GREATEST(last_seen, ?) WHERE `key` = ?", (now, key)).await?;
    Ok(())
}

pub async fn remove(tx: &mut Tx<'_>, key: &str) -> Result<(), StoreError> {
    run(tx, "DELETE FROM web_sessions WHERE `key` = ?", (key,)).await?;
    Ok(())
}

pub async fn remove_user(tx: &mut Tx<'_>, user: &str) -> Result<(), StoreError> {
    run(tx, "DELETE FROM web_sessions WHERE user = ?", (user,)).await?;
    Ok(())
}

pub async fn expire(tx: &mut Tx<'_>, before: i64) -> Result<usize, StoreError> {
    Ok(run(tx, "DELETE FROM web_sessions WHERE last_seen < ?", (before,)).await? as usize)
}
