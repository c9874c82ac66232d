//! Users' Sieve scripts: stored as text (checked before they get here), at
//! most one active per account.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{ScriptInfo, SieveScript, StoreError};

fn account_exists(c: &Connection, account: &str) -> Result<(), StoreError> {
    let n: i64 = c.query_row("SELECT COUNT(*) FROM accounts WHERE address = ?1", [account], |r| r.get(0))?;
    if n == 0 { Err(StoreError::NotFound(format!("account {account}"))) } else { Ok(()) }
}

pub fn put(c: &Connection, account: &str, name: &str, script: &str) -> Result<(), StoreError> {
    account_exists(c, account)?;
    c.execute(
        "INSERT INTO sieve_scripts (account, name, script) VALUES (?1, ?2, ?3)
         ON CONFLICT (account, name) DO UPDATE SET script = excluded.script",
        params![account, name, script],
    )?;
    Ok(())
}

/// (name, active) of each script, by name.
pub fn list(c: &Connection, account: &str) -> Result<Vec<ScriptInfo>, StoreError> {
    let mut st = c.prepare("SELECT name, active FROM sieve_scripts WHERE account = ?1 ORDER BY name")?;
    Ok(st.query_map([account], |r| Ok(ScriptInfo { name: r.get(0)?, active: r.get(1)? }))?.collect::<Result<_, _>>()?)
}

pub fn get(c: &Connection, account: &str, name: &str) -> Result<Option<String>, StoreError> {
    Ok(c.query_row("SELECT script FROM sieve_scripts WHERE account = ?1 AND name = ?2", [account, name], |r| r.get(0))
        .optional()?)
}

pub fn active(c: &Connection, account: &str) -> Result<Option<SieveScript>, StoreError> {
    Ok(c.query_row("SELECT name, script FROM sieve_scripts WHERE account = ?1 AND active = 1", [account], |r| {
        Ok(SieveScript { name: r.get(0)?, text: r.get(1)? })
    })
    .optional()?)
}

/// Makes `name` the active script; None (or "") deactivates all.
pub fn set_active(c: &Connection, account: &str, name: Option<&str>) -> Result<(), StoreError> {
    if let Some(n) = name
        && get(c, account, n)?.is_none()
    {
        return Err(StoreError::NotFound(format!("script {n}")));
    }
    c.execute(
        "UPDATE sieve_scripts SET active = (name = ?2) WHERE account = ?1",
        params![account, name.unwrap_or("")],
    )?;
    Ok(())
}

/// Deletes a script; the active one cannot be deleted (RFC 5804 §2.10).
pub fn delete(c: &Connection, account: &str, name: &str) -> Result<(), StoreError> {
    let active: Option<bool> = c
        .query_row("SELECT active FROM sieve_scripts WHERE account = ?1 AND name = ?2", [account, name], |r| r.get(0))
        .optional()?;
    match active {
        None => Err(StoreError::NotFound(format!("script {name}"))),
        Some(true) => Err(StoreError::Invalid(format!("script {name} is active; deactivate it first"))),
        Some(false) => {
            c.execute("DELETE FROM sieve_scripts WHERE account = ?1 AND name = ?2", [account, name])?;
            Ok(())
        }
    }
}

pub fn rename(c: &Connection, account: &str, from: &str, to: &str) -> Result<(), StoreError> {
    if get(c, account, to)?.is_some() {
        return Err(StoreError::Invalid(format!("script {to} already exists")));
    }
    let n = c.execute("UPDATE sieve_scripts SET name = ?3 WHERE account = ?1 AND name = ?2", [account, from, to])?;
    if n == 0 { Err(StoreError::NotFound(format!("script {from}"))) } else { Ok(()) }
}
