//! Domains, accounts, aliases, groups, address resolution and the audit log
//! in MariaDB; the same rules as `sqlite/directory.rs`.

use super::sql::{Tx, all, one, run};
use crate::address::Address;
use crate::ids::Id;
use crate::store::{Account, Alias, AuditEntry, Domain, Group, Resolution, Role, StoreError, Target};

/// Alias/group chains deeper than this are treated as a configuration loop.
const MAX_DEPTH: usize = 8;

async fn exists_anywhere(tx: &mut Tx<'_>, address: &str) -> Result<Option<&'static str>, StoreError> {
    for (table, what) in [("accounts", "an account"), ("aliases", "an alias"), ("`groups`", "a group")] {
        let n: i64 =
            one(tx, &format!("SELECT COUNT(*) FROM {table} WHERE address = ?"), (address,)).await?.unwrap_or(0);
        if n > 0 {
            return Ok(Some(what));
        }
    }
    Ok(None)
}

async fn require_domain(tx: &mut Tx<'_>, address: &str) -> Result<String, StoreError> {
    let a = Address::parse(address).map_err(|e| StoreError::Invalid(e.to_string()))?;
    if !is_local_domain(tx, &a.domain).await? {
        return Err(StoreError::NotFound(format!("domain {} (add it first with `hato ctl domain add`)", a.domain)));
    }
    Ok(a.domain)
}

async fn ensure_free(tx: &mut Tx<'_>, address: &str) -> Result<(), StoreError> {
    match exists_anywhere(tx, address).await? {
        Some(what) => Err(StoreError::Exists(format!("{address} ({what})"))),
        None => Ok(()),
    }
}

pub async fn add_domain(tx: &mut Tx<'_>, name: &str) -> Result<(), StoreError> {
    if run(tx, "INSERT IGNORE INTO domains (name, created) VALUES (?, ?)", (name, crate::clock::now())).await? == 0 {
        return Err(StoreError::Exists(format!("domain {name}")));
    }
    Ok(())
}

pub async fn remove_domain(tx: &mut Tx<'_>, name: &str) -> Result<(), StoreError> {
    let users: i64 = one(
        tx,
        "SELECT (SELECT COUNT(*) FROM accounts WHERE domain = ?) + (SELECT COUNT(*) FROM aliases WHERE domain = ?)
              + (SELECT COUNT(*) FROM `groups` WHERE domain = ?)",
        (name, name, name),
    )
    .await?
    .unwrap_or(0);
    if users > 0 {
        return Err(StoreError::Invalid(format!(
            "domain {name} still has {users} accounts, aliases or groups; remove them first"
        )));
    }
    if run(tx, "DELETE FROM domains WHERE name = ?", (name,)).await? == 0 {
        return Err(StoreError::NotFound(format!("domain {name}")));
    }
    Ok(())
}

pub async fn set_catch_all(tx: &mut Tx<'_>, domain: &str, target: Option<&str>) -> Result<(), StoreError> {
    if run(tx, "UPDATE domains SET catch_all = ? WHERE name = ?", (target, domain)).await? == 0 {
        return Err(StoreError::NotFound(format!("domain {domain}")));
    }
    Ok(())
}

pub async fn domains(tx: &mut Tx<'_>) -> Result<Vec<Domain>, StoreError> {
    let rows: Vec<(String, Option<String>, i64)> = all(
        tx,
        "SELECT d.name, d.catch_all, (SELECT COUNT(*) FROM accounts a WHERE a.domain = d.name) FROM domains d ORDER BY d.name",
        (),
    )
    .await?;
    Ok(rows.into_iter().map(|(name, catch_all, accounts)| Domain { name, catch_all, accounts }).collect())
}

pub async fn is_local_domain(tx: &mut Tx<'_>, name: &str) -> Result<bool, StoreError> {
    Ok(one::<i64>(tx, "SELECT 1 FROM domains WHERE name = ?", (name,)).await?.is_some())
}

pub async fn add_account(tx: &mut Tx<'_>, a: &Account) -> Result<(), StoreError> {
    let domain = require_domain(tx, &a.address).await?;
    ensure_free(tx, &a.address).await?;
    run(
        tx,
        "INSERT INTO accounts (address, domain, password_hash, display_name, quota_bytes, enabled, created, role)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            &a.address,
            domain,
            &a.password_hash,
            &a.display_name,
            a.quota_bytes,
            a.enabled,
            crate::clock::now(),
            a.role.as_str(),
        ),
    )
    .await?;
    super::mailbox::create_defaults(tx, &a.address).await
}

pub async fn update_account(tx: &mut Tx<'_>, a: &Account) -> Result<(), StoreError> {
    let n = run(
        tx,
        "UPDATE accounts SET password_hash = ?, display_name = ?, quota_bytes = ?, enabled = ?, role = ? WHERE address = ?",
        (&a.password_hash, &a.display_name, a.quota_bytes, a.enabled, a.role.as_str(), &a.address),
    )
    .await?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("account {}", a.address)));
    }
    Ok(())
}

/// Removes an account and everything that is its own (SQLite's foreign
/// keys cascade; here the transaction deletes each part).
pub async fn remove_account(tx: &mut Tx<'_>, address: &str) -> Result<(), StoreError> {
    if run(tx, "DELETE FROM accounts WHERE address = ?", (address,)).await? == 0 {
        return Err(StoreError::NotFound(format!("account {address}")));
    }
    super::mailbox::delete_all(tx, address).await?;
    for table in ["sieve_scripts", "vacations", "vacation_replies", "subscriptions"] {
        run(tx, &format!("DELETE FROM {table} WHERE account = ?"), (address,)).await?;
    }
    Ok(())
}

const ACCOUNT_COLS: &str = "address, display_name, quota_bytes, used_bytes, enabled, password_hash, role";
type AccountRow = (String, String, i64, i64, bool, String, String);

fn account_of(r: AccountRow) -> Account {
    let (address, display_name, quota_bytes, used_bytes, enabled, password_hash, role) = r;
    Account { address, display_name, quota_bytes, used_bytes, enabled, password_hash, role: Role::parse(&role) }
}

pub async fn account(tx: &mut Tx<'_>, address: &str) -> Result<Option<Account>, StoreError> {
    let row: Option<AccountRow> =
        one(tx, &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE address = ?"), (address,)).await?;
    Ok(row.map(account_of))
}

pub async fn accounts(tx: &mut Tx<'_>, domain: Option<&str>) -> Result<Vec<Account>, StoreError> {
    let rows: Vec<AccountRow> = all(
        tx,
        &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE ? IS NULL OR domain = ? ORDER BY address"),
        (domain, domain),
    )
    .await?;
    Ok(rows.into_iter().map(account_of).collect())
}

pub async fn add_alias(tx: &mut Tx<'_>, address: &str, target: &str) -> Result<(), StoreError> {
    let domain = require_domain(tx, address).await?;
    Address::parse(target).map_err(|e| StoreError::Invalid(e.to_string()))?;
    ensure_free(tx, address).await?;
    run(tx, "INSERT INTO aliases (address, domain, target) VALUES (?, ?, ?)", (address, domain, target)).await?;
    Ok(())
}

pub async fn remove_alias(tx: &mut Tx<'_>, address: &str) -> Result<(), StoreError> {
    if run(tx, "DELETE FROM aliases WHERE address = ?", (address,)).await? == 0 {
        return Err(StoreError::NotFound(format!("alias {address}")));
    }
    Ok(())
}

pub async fn aliases(tx: &mut Tx<'_>, domain: Option<&str>) -> Result<Vec<Alias>, StoreError> {
    let rows: Vec<(String, String)> =
        all(tx, "SELECT address, target FROM aliases WHERE ? IS NULL OR domain = ? ORDER BY address", (domain, domain))
            .await?;
    Ok(rows.into_iter().map(|(address, target)| Alias { address, target }).collect())
}

pub async fn add_group(tx: &mut Tx<'_>, address: &str, name: &str) -> Result<(), StoreError> {
    let domain = require_domain(tx, address).await?;
    ensure_free(tx, address).await?;
    run(tx, "INSERT INTO `groups` (address, domain, name) VALUES (?, ?, ?)", (address, domain, name)).await?;
    Ok(())
}

pub async fn remove_group(tx: &mut Tx<'_>, address: &str) -> Result<(), StoreError> {
    if run(tx, "DELETE FROM `groups` WHERE address = ?", (address,)).await? == 0 {
        return Err(StoreError::NotFound(format!("group {address}")));
    }
    run(tx, "DELETE FROM group_members WHERE group_address = ?", (address,)).await?;
    Ok(())
}

pub async fn set_group_member(tx: &mut Tx<'_>, group: &str, member: &str, present: bool) -> Result<(), StoreError> {
    if one::<i64>(tx, "SELECT 1 FROM `groups` WHERE address = ?", (group,)).await?.is_none() {
        return Err(StoreError::NotFound(format!("group {group}")));
    }
    if present {
        Address::parse(member).map_err(|e| StoreError::Invalid(e.to_string()))?;
        if run(tx, "INSERT IGNORE INTO group_members (group_address, member) VALUES (?, ?)", (group, member)).await?
            == 0
        {
            return Err(StoreError::Exists(format!("{member} in group {group}")));
        }
    } else if run(tx, "DELETE FROM group_members WHERE group_address = ? AND member = ?", (group, member)).await? == 0 {
        return Err(StoreError::NotFound(format!("{member} in group {group}")));
    }
    Ok(())
}

pub async fn groups(tx: &mut Tx<'_>, domain: Option<&str>) -> Result<Vec<Group>, StoreError> {
    let heads: Vec<(String, String)> =
        all(tx, "SELECT address, name FROM `groups` WHERE ? IS NULL OR domain = ? ORDER BY address", (domain, domain))
            .await?;
    let mut out = Vec::with_capacity(heads.len());
    for (address, name) in heads {
        let members: Vec<String> =
            all(tx, "SELECT member FROM group_members WHERE group_address = ? ORDER BY member", (&address,)).await?;
        out.push(Group { address, name, members });
    }
    Ok(out)
}

pub async fn resolve(tx: &mut Tx<'_>, address: &str) -> Result<Resolution, StoreError> {
    let Ok(addr) = Address::parse(address) else { return Ok(Resolution::Unknown) };
    if !is_local_domain(tx, &addr.domain).await? {
        return Ok(Resolution::NotLocal);
    }
    let mut targets = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // Expanded breadth-first with an explicit list: async recursion would
    // need boxing, and the order of targets does not matter.
    let mut pending = vec![(addr, 0usize)];
    while let Some((addr, depth)) = pending.pop() {
        let key = addr.to_string();
        if depth > MAX_DEPTH || !seen.insert(key.clone()) {
            continue;
        }
        // (The address asked for is in a local domain: checked above.)
        if depth > 0 && !is_local_domain(tx, &addr.domain).await? {
            targets.push(Target::Remote(key));
            continue;
        }
        if let Some(a) = account(tx, &key).await? {
            targets.push(Target::Account(a));
            continue;
        }
        let alias: Option<String> = one(tx, "SELECT target FROM aliases WHERE address = ?", (&key,)).await?;
        if let Some(t) = alias {
            pending.extend(Address::parse(&t).ok().map(|t| (t, depth + 1)));
            continue;
        }
        if one::<i64>(tx, "SELECT 1 FROM `groups` WHERE address = ?", (&key,)).await?.is_some() {
            let members: Vec<String> =
                all(tx, "SELECT member FROM group_members WHERE group_address = ?", (&key,)).await?;
            pending.extend(members.iter().filter_map(|m| Address::parse(m).ok()).map(|m| (m, depth + 1)));
            continue;
        }
        // Catch-all applies only to the address asked for, not to names met while expanding.
        if depth == 0 {
            let catch_all: Option<Option<String>> =
                one(tx, "SELECT catch_all FROM domains WHERE name = ?", (&addr.domain,)).await?;
            if let Some(t) = catch_all.flatten().and_then(|t| Address::parse(&t).ok()) {
                pending.push((t, depth + 1));
            }
        }
    }
    Ok(if targets.is_empty() { Resolution::Unknown } else { Resolution::Targets(targets) })
}

pub async fn owner_of(tx: &mut Tx<'_>, address: &str) -> Result<Option<String>, StoreError> {
    if account(tx, address).await?.is_some() {
        return Ok(Some(address.to_string()));
    }
    let target: Option<String> = one(tx, "SELECT target FROM aliases WHERE address = ?", (address,)).await?;
    Ok(match target {
        Some(t) if account(tx, &t).await?.is_some() => Some(t),
        _ => None,
    })
}

/// `id` is made before the first attempt, so a retry does not log twice.
pub async fn audit_add(tx: &mut Tx<'_>, e: &AuditEntry, id: Id) -> Result<(), StoreError> {
    run(
        tx,
        "INSERT IGNORE INTO audit_log (id, at, actor, ip, action, target, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (id.0, e.at, &e.actor, &e.ip, &e.action, &e.target, &e.detail),
    )
    .await?;
    Ok(())
}

pub async fn audit_list(
    tx: &mut Tx<'_>,
    limit: usize,
    target_domain: Option<&str>,
) -> Result<Vec<AuditEntry>, StoreError> {
    let rows: Vec<(i64, String, String, String, String, String)> = all(
        tx,
        "SELECT at, actor, ip, action, target, detail FROM audit_log
         WHERE ? IS NULL OR target = ? OR target LIKE CONCAT('%@', ?)
         ORDER BY at DESC, seq DESC LIMIT ?",
        (target_domain, target_domain, target_domain, limit as u64),
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, actor, ip, action, target, detail)| AuditEntry { at, actor, ip, action, target, detail })
        .collect())
}
