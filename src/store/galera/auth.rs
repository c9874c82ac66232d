//! Failed logins (see `crate::directory::login`): one row per failure, so
//! nodes counting at once never write the same row.

use super::sql::{Tx, one, run};
use crate::ids::Id;
use crate::store::{AuthFailures, StoreError};

pub async fn add(tx: &mut Tx<'_>, id: Id, ip: &str, user: &str, at: i64) -> Result<(), StoreError> {
    run(tx, "INSERT IGNORE INTO auth_failures (id, at, ip, user) VALUES (?, ?, ?, ?)", (id.0, at, ip, user)).await?;
    Ok(())
}

pub async fn count(tx: &mut Tx<'_>, ip: &str, user: &str, since: i64) -> Result<AuthFailures, StoreError> {
    let row: Option<(u32, u32)> = one(
        tx,
        "SELECT (SELECT COUNT(*) FROM auth_failures WHERE ip = ? AND at >= ?),
                (SELECT COUNT(*) FROM auth_failures WHERE user = ? AND user != '' AND at >= ?)",
        (ip, since, user, since),
    )
    .await?;
    let (ip, user) = row.unwrap_or_default();
    Ok(AuthFailures { ip, user })
}

pub async fn clear(tx: &mut Tx<'_>, user: &str) -> Result<(), StoreError> {
    // Kept for the address's count, no longer the user's.
    run(tx, "UPDATE auth_failures SET user = '' WHERE user = ?", (user,)).await?;
    Ok(())
}

pub async fn expire(tx: &mut Tx<'_>, before: i64) -> Result<usize, StoreError> {
    Ok(run(tx, "DELETE FROM auth_failures WHERE at < ?", (before,)).await? as usize)
}
