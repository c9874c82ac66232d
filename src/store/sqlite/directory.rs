//! Domains, accounts, aliases, groups and address resolution in SQLite.

use rusqlite::{Connection, OptionalExtension, params};

use crate::address::Address;
use crate::store::{Account, Alias, DEFAULT_MAILBOXES, Domain, Group, Resolution, Role, StoreError, Target};

/// Alias/group chains deeper than this are treated as a configuration loop.
const MAX_DEPTH: usize = 8;

fn exists_anywhere(c: &Connection, address: &str) -> Result<Option<&'static str>, StoreError> {
    for (table, what) in [("accounts", "an account"), ("aliases", "an alias"), ("groups", "a group")] {
        let n: i64 =
            c.query_row(&format!("SELECT COUNT(*) FROM {table} WHERE address = ?1"), [address], |r| r.get(0))?;
        if n > 0 {
            return Ok(Some(what));
        }
    }
    Ok(None)
}

fn require_domain(c: &Connection, address: &str) -> Result<String, StoreError> {
    let a = Address::parse(address).map_err(|e| StoreError::Invalid(e.to_string()))?;
    if !is_local_domain(c, &a.domain)? {
        return Err(StoreError::NotFound(format!("domain {} (add it first with `hato ctl domain add`)", a.domain)));
    }
    Ok(a.domain)
}

fn ensure_free(c: &Connection, address: &str) -> Result<(), StoreError> {
    match exists_anywhere(c, address)? {
        Some(what) => Err(StoreError::Exists(format!("{address} ({what})"))),
        None => Ok(()),
    }
}

pub fn add_domain(c: &Connection, name: &str) -> Result<(), StoreError> {
    let n =
        c.execute("INSERT OR IGNORE INTO domains (name, created) VALUES (?1, ?2)", params![name, crate::clock::now()])?;
    if n == 0 {
        return Err(StoreError::Exists(format!("domain {name}")));
    }
    Ok(())
}

pub fn remove_domain(c: &Connection, name: &str) -> Result<(), StoreError> {
    let users: i64 = c.query_row(
        "SELECT (SELECT COUNT(*) FROM accounts WHERE domain = ?1) + (SELECT COUNT(*) FROM aliases WHERE domain = ?1)
              + (SELECT COUNT(*) FROM groups WHERE domain = ?1)",
        [name],
        |r| r.get(0),
    )?;
    if users > 0 {
        return Err(StoreError::Invalid(format!(
            "domain {name} still has {users} accounts, aliases or groups; remove them first"
        )));
    }
    if c.execute("DELETE FROM domains WHERE name = ?1", [name])? == 0 {
        return Err(StoreError::NotFound(format!("domain {name}")));
    }
    Ok(())
}

pub fn set_catch_all(c: &Connection, domain: &str, target: Option<&str>) -> Result<(), StoreError> {
    if c.execute("UPDATE domains SET catch_all = ?2 WHERE name = ?1", params![domain, target])? == 0 {
        return Err(StoreError::NotFound(format!("domain {domain}")));
    }
    Ok(())
}

pub fn domains(c: &Connection) -> Result<Vec<Domain>, StoreError> {
    let mut st = c.prepare(
        "SELECT d.name, d.catch_all, (SELECT COUNT(*) FROM accounts a WHERE a.domain = d.name)
         FROM domains d ORDER BY d.name",
    )?;
    let rows = st.query_map([], |r| Ok(Domain { name: r.get(0)?, catch_all: r.get(1)?, accounts: r.get(2)? }))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn is_local_domain(c: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(c.query_row("SELECT 1 FROM domains WHERE name = ?1", [name], |_| Ok(())).optional()?.is_some())
}

pub fn add_account(c: &Connection, a: &Account) -> Result<(), StoreError> {
    let domain = require_domain(c, &a.address)?;
    ensure_free(c, &a.address)?;
    c.execute(
        "INSERT INTO accounts (address, domain, password_hash, display_name, quota_bytes, enabled, created, role)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            a.address,
            domain,
            a.password_hash,
            a.display_name,
            a.quota_bytes,
            a.enabled,
            crate::clock::now(),
            a.role.as_str()
        ],
    )?;
    for (name, special) in DEFAULT_MAILBOXES {
        let validity = super::mailbox::next_uidvalidity(c)?;
        c.execute(
            "INSERT INTO mailboxes (id, account, name, special_use, uidvalidity) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![crate::ids::Id::new().0, a.address, name, special, validity],
        )?;
        c.execute("INSERT INTO subscriptions (account, name) VALUES (?1, ?2)", params![a.address, name])?;
    }
    Ok(())
}

pub fn update_account(c: &Connection, a: &Account) -> Result<(), StoreError> {
    let n = c.execute(
        "UPDATE accounts SET password_hash = ?2, display_name = ?3, quota_bytes = ?4, enabled = ?5, role = ?6 WHERE address = ?1",
        params![a.address, a.password_hash, a.display_name, a.quota_bytes, a.enabled, a.role.as_str()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("account {}", a.address)));
    }
    Ok(())
}

pub fn remove_account(c: &Connection, address: &str) -> Result<(), StoreError> {
    let blobs: Vec<String> = {
        let mut st = c.prepare(
            "SELECT DISTINCT m.blob_id FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.account = ?1",
        )?;
        let rows = st.query_map([address], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    if c.execute("DELETE FROM accounts WHERE address = ?1", [address])? == 0 {
        return Err(StoreError::NotFound(format!("account {address}")));
    }
    for blob in blobs {
        super::mailbox::release_blob(c, &blob)?;
    }
    Ok(())
}

const ACCOUNT_COLS: &str = "address, display_name, quota_bytes, used_bytes, enabled, password_hash, role";

fn account_row(r: &rusqlite::Row) -> rusqlite::Result<Account> {
    Ok(Account {
        address: r.get(0)?,
        display_name: r.get(1)?,
        quota_bytes: r.get(2)?,
        used_bytes: r.get(3)?,
        enabled: r.get(4)?,
        password_hash: r.get(5)?,
        role: Role::parse(&r.get::<_, String>(6)?),
    })
}

pub fn account(c: &Connection, address: &str) -> Result<Option<Account>, StoreError> {
    Ok(c.query_row(&format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE address = ?1"), [address], account_row)
        .optional()?)
}

pub fn accounts(c: &Connection, domain: Option<&str>) -> Result<Vec<Account>, StoreError> {
    let mut st =
        c.prepare(&format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE ?1 IS NULL OR domain = ?1 ORDER BY address"))?;
    let rows = st.query_map([domain], account_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn add_alias(c: &Connection, address: &str, target: &str) -> Result<(), StoreError> {
    let domain = require_domain(c, address)?;
    Address::parse(target).map_err(|e| StoreError::Invalid(e.to_string()))?;
    ensure_free(c, address)?;
    c.execute("INSERT INTO aliases (address, domain, target) VALUES (?1, ?2, ?3)", params![address, domain, target])?;
    Ok(())
}

pub fn remove_alias(c: &Connection, address: &str) -> Result<(), StoreError> {
    if c.execute("DELETE FROM aliases WHERE address = ?1", [address])? == 0 {
        return Err(StoreError::NotFound(format!("alias {address}")));
    }
    Ok(())
}

pub fn aliases(c: &Connection, domain: Option<&str>) -> Result<Vec<Alias>, StoreError> {
    let mut st = c.prepare("SELECT address, target FROM aliases WHERE ?1 IS NULL OR domain = ?1 ORDER BY address")?;
    let rows = st.query_map([domain], |r| Ok(Alias { address: r.get(0)?, target: r.get(1)? }))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn add_group(c: &Connection, address: &str, name: &str) -> Result<(), StoreError> {
    let domain = require_domain(c, address)?;
    ensure_free(c, address)?;
    c.execute("INSERT INTO groups (address, domain, name) VALUES (?1, ?2, ?3)", params![address, domain, name])?;
    Ok(())
}

pub fn remove_group(c: &Connection, address: &str) -> Result<(), StoreError> {
    if c.execute("DELETE FROM groups WHERE address = ?1", [address])? == 0 {
        return Err(StoreError::NotFound(format!("group {address}")));
    }
    Ok(())
}

pub fn set_group_member(c: &Connection, group: &str, member: &str, present: bool) -> Result<(), StoreError> {
    if c.query_row("SELECT 1 FROM groups WHERE address = ?1", [group], |_| Ok(())).optional()?.is_none() {
        return Err(StoreError::NotFound(format!("group {group}")));
    }
    if present {
        Address::parse(member).map_err(|e| StoreError::Invalid(e.to_string()))?;
        if c.execute("INSERT OR IGNORE INTO group_members (group_address, member) VALUES (?1, ?2)", [group, member])?
            == 0
        {
            return Err(StoreError::Exists(format!("{member} in group {group}")));
        }
    } else if c.execute("DELETE FROM group_members WHERE group_address = ?1 AND member = ?2", [group, member])? == 0 {
        return Err(StoreError::NotFound(format!("{member} in group {group}")));
    }
    Ok(())
}

pub fn groups(c: &Connection, domain: Option<&str>) -> Result<Vec<Group>, StoreError> {
    let mut st = c.prepare("SELECT address, name FROM groups WHERE ?1 IS NULL OR domain = ?1 ORDER BY address")?;
    let heads: Vec<(String, String)> =
        st.query_map([domain], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    let mut members = c.prepare("SELECT member FROM group_members WHERE group_address = ?1 ORDER BY member")?;
    let mut out = Vec::with_capacity(heads.len());
    for (address, name) in heads {
        let m: Vec<String> = members.query_map([&address], |r| r.get(0))?.collect::<Result<_, _>>()?;
        out.push(Group { address, name, members: m });
    }
    Ok(out)
}

pub fn resolve(c: &Connection, address: &str) -> Result<Resolution, StoreError> {
    let Ok(addr) = Address::parse(address) else { return Ok(Resolution::Unknown) };
    if !is_local_domain(c, &addr.domain)? {
        return Ok(Resolution::NotLocal);
    }
    let mut targets = Vec::new();
    let mut seen = std::collections::HashSet::new();
    expand(c, &addr, 0, &mut seen, &mut targets)?;
    Ok(if targets.is_empty() { Resolution::Unknown } else { Resolution::Targets(targets) })
}

fn expand(
    c: &Connection,
    addr: &Address,
    depth: usize,
    seen: &mut std::collections::HashSet<String>,
    out: &mut Vec<Target>,
) -> Result<(), StoreError> {
    let key = addr.to_string();
    if depth > MAX_DEPTH || !seen.insert(key.clone()) {
        return Ok(());
    }
    if !is_local_domain(c, &addr.domain)? {
        out.push(Target::Remote(key));
        return Ok(());
    }
    if let Some(a) = account(c, &key)? {
        out.push(Target::Account(a));
        return Ok(());
    }
    let alias: Option<String> =
        c.query_row("SELECT target FROM aliases WHERE address = ?1", [&key], |r| r.get(0)).optional()?;
    if let Some(t) = alias {
        if let Ok(t) = Address::parse(&t) {
            expand(c, &t, depth + 1, seen, out)?;
        }
        return Ok(());
    }
    let is_group = c.query_row("SELECT 1 FROM groups WHERE address = ?1", [&key], |_| Ok(())).optional()?.is_some();
    if is_group {
        let mut st = c.prepare("SELECT member FROM group_members WHERE group_address = ?1")?;
        let members: Vec<String> = st.query_map([&key], |r| r.get(0))?.collect::<Result<_, _>>()?;
        for m in members {
            if let Ok(m) = Address::parse(&m) {
                expand(c, &m, depth + 1, seen, out)?;
            }
        }
        return Ok(());
    }
    // Catch-all applies only to the address asked for, not to names met while expanding.
    if depth == 0 {
        let catch_all: Option<String> = c
            .query_row("SELECT catch_all FROM domains WHERE name = ?1", [&addr.domain], |r| r.get(0))
            .optional()?
            .flatten();
        if let Some(t) = catch_all.and_then(|t| Address::parse(&t).ok()) {
            expand(c, &t, depth + 1, seen, out)?;
        }
    }
    Ok(())
}

pub fn owner_of(c: &Connection, address: &str) -> Result<Option<String>, StoreError> {
    if account(c, address)?.is_some() {
        return Ok(Some(address.to_string()));
    }
    let target: Option<String> =
        c.query_row("SELECT target FROM aliases WHERE address = ?1", [address], |r| r.get(0)).optional()?;
    Ok(match target {
        Some(t) if account(c, &t)?.is_some() => Some(t),
        _ => None,
    })
}

pub fn audit_add(c: &Connection, e: &crate::store::AuditEntry) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO audit_log (at, actor, ip, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![e.at, e.actor, e.ip, e.action, e.target, e.detail],
    )?;
    Ok(())
}

pub fn audit_list(
    c: &Connection,
    limit: usize,
    target_domain: Option<&str>,
) -> Result<Vec<crate::store::AuditEntry>, StoreError> {
    let mut st = c.prepare(
        "SELECT at, actor, ip, action, target, detail FROM audit_log
         WHERE ?2 IS NULL OR target = ?2 OR target LIKE '%@' || ?2
         ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = st.query_map(params![limit as i64, target_domain], |r| {
        Ok(crate::store::AuditEntry {
            at: r.get(0)?,
            actor: r.get(1)?,
            ip: r.get(2)?,
            action: r.get(3)?,
            target: r.get(4)?,
            detail: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
