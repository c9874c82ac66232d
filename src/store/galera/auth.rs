//! Failed logins (see `crate::directory::login`): one row per failure, so
//! nodes counting at once never write the same row.

use super::sql::{Tx, all, one, run};
use crate::ids::Id;
use crate::store::{AuthFailures, FailedLogins, StoreError};

pub async fn add(tx: &mut Tx<'_>, id: Id, ip: &str, user: &str, at: i64) -> Result<(), StoreError> {
    run(tx, "INSERT IGNORE INTO auth_failures (id, at, ip, user) VALUES (?, ?, ?, ?)", (id.0, at, ip, user)).await?;
    Ok(())
}

pub async fn count(tx: &mut Tx<'_>, ip: &str, user: &str, since: i64) -> Result<AuthFailures, StoreError> {
    let row: Option<(u32, u32, u32)> = one(
        tx,
        "SELECT (SELECT COUNT(*) FROM auth_failures WHERE ip = ? AND at >= ?),
                (SELECT COUNT(*) FROM auth_failures WHERE user = ? AND user != '' AND at >= ?),
                (SELECT COUNT(*) FROM auth_failures WHERE user = ? AND user != '' AND ip = ? AND at >= ?)",
        (ip, since, user, since, user, ip, since),
    )
    .await?;
    let (ip, user, pair) = row.unwrap_or_default();
    Ok(AuthFailures { ip, user, pair })
}

pub async fn list(tx: &mut Tx<'_>, since: i64) -> Result<Vec<FailedLogins>, StoreError> {
    let rows: Vec<(String, String, u32, i64)> = all(
        tx,
        "SELECT ip, user, COUNT(*), MAX(at) FROM auth_failures WHERE at >= ? GROUP BY ip, user ORDER BY MAX(at) DESC",
        (since,),
    )
    .await?;
    Ok(rows.into_iter().map(|(ip, user, failures, last)| FailedLogins { ip, user, failures, last }).collect())
}

pub async fn clear(tx: &mut Tx<'_>, ip: Option<&str>, user: Option<&str>) -> Result<usize, StoreError> {
    Ok(run(
        tx,
        "DELETE FROM auth_failures WHERE (? IS NULL OR ip = ?) AND (? IS NULL OR user = ?)",
        (ip, ip, user, user),
    )
    .await? as usize)
}

pub async fn expire(tx: &mut Tx<'_>, before: i64) -> Result<usize, StoreError> {
    Ok(run(tx, "DELETE FROM auth_failures WHERE at < ?", (before,)).await? as usize)
}
