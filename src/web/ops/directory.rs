//! Accounts, domains, aliases and groups: administrators everywhere,
//! domain administrators in their own domain.

use super::*;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewAccount {
    pub address: String,
    /// Generated (and returned once) when empty.
    pub password: String,
    pub display_name: String,
    pub quota_mb: i64,
    pub role: Option<Role>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AccountPatch {
    pub display_name: Option<String>,
    pub quota_mb: Option<i64>,
    pub enabled: Option<bool>,
    pub password: Option<String>,
    pub role: Option<Role>,
}

pub async fn accounts(c: &Ctx<'_>, domain: Option<String>) -> Result<Vec<Account>, WebError> {
    let domain = match (c.s.is_admin(), c.s.domain()) {
        (true, _) => domain,
        (false, Some(own)) => Some(own.to_string()),
        (false, None) => return Err(WebError::Forbidden),
    };
    Ok(c.app.store.accounts(domain).await?)
}

pub async fn account(c: &Ctx<'_>, address: &str) -> Result<Account, WebError> {
    c.manage(address)?;
    c.app.store.account(address.to_lowercase()).await?.ok_or_else(|| WebError::NotFound(format!("account {address}")))
}

fn role_allowed(c: &Ctx<'_>, role: Role) -> Result<(), WebError> {
    // A domain administrator can make users and other domain administrators, never server administrators.
    if role == Role::Admin && !c.s.is_admin() { Err(WebError::Forbidden) } else { Ok(()) }
}

fn quota(mb: i64) -> Result<i64, WebError> {
    if mb < 0 {
        return Err(WebError::BadRequest("the quota cannot be negative".into()));
    }
    Ok(mb.saturating_mul(1024 * 1024))
}

pub async fn create_account(c: &Ctx<'_>, n: NewAccount) -> Result<(Account, Option<String>), WebError> {
    let address = crate::address::Address::parse(n.address.trim())
        .map_err(|e| WebError::BadRequest(format!("{}: {e}", n.address)))?
        .to_string()
        .to_lowercase();
    c.manage(&address)?;
    let role = n.role.unwrap_or_default();
    role_allowed(c, role)?;
    let generated = n.password.is_empty();
    let password = if generated { crate::ids::token(14) } else { n.password.clone() };
    if password.len() < 8 {
        return Err(WebError::BadRequest("the password needs at least 8 characters".into()));
    }
    let hash = crate::directory::hash_password(&password).map_err(|e| WebError::BadRequest(e.to_string()))?;
    let a = Account {
        address: address.clone(),
        display_name: n.display_name.trim().into(),
        quota_bytes: quota(n.quota_mb)?,
        used_bytes: 0,
        enabled: true,
        password_hash: hash,
        role,
    };
    c.app.store.add_account(a.clone()).await?;
    c.audit("account.create", &address, format!("role {}, quota {} MiB", role.as_str(), n.quota_mb)).await;
    Ok((a, generated.then_some(password)))
}

pub async fn update_account(c: &Ctx<'_>, address: &str, p: AccountPatch) -> Result<Account, WebError> {
    let mut a = account(c, address).await?;
    let mut what = Vec::new();
    if let Some(n) = p.display_name {
        a.display_name = n.trim().into();
        what.push("name".to_string());
    }
    if let Some(q) = p.quota_mb {
        a.quota_bytes = quota(q)?;
        what.push(format!("quota {q} MiB"));
    }
    if let Some(e) = p.enabled {
        a.enabled = e;
        what.push(if e { "enabled" } else { "disabled" }.into());
    }
    if let Some(pw) = p.password.filter(|p| !p.is_empty()) {
        if pw.len() < 8 {
            return Err(WebError::BadRequest("the password needs at least 8 characters".into()));
        }
        a.password_hash = crate::directory::hash_password(&pw).map_err(|e| WebError::BadRequest(e.to_string()))?;
        what.push("password reset".into());
    }
    if let Some(r) = p.role {
        role_allowed(c, r)?;
        if a.role == Role::Admin && !c.s.is_admin() {
            return Err(WebError::Forbidden);
        }
        a.role = r;
        what.push(format!("role {}", r.as_str()));
    }
    c.app.store.update_account(a.clone()).await?;
    if what.iter().any(|w| w == "disabled" || w == "password reset" || w.starts_with("role")) {
        c.app.sessions.remove_user(&a.address).await?;
    }
    c.audit("account.update", &a.address, what.join(", ")).await;
    Ok(a)
}

pub async fn delete_account(c: &Ctx<'_>, address: &str) -> Result<(), WebError> {
    let a = account(c, address).await?;
    if a.role == Role::Admin && !c.s.is_admin() {
        return Err(WebError::Forbidden);
    }
    c.app.store.remove_account(a.address.clone()).await?;
    c.app.sessions.remove_user(&a.address).await?;
    c.audit("account.delete", &a.address, "account and its mail removed".into()).await;
    Ok(())
}

/// Bulk import: one account per line, `address,display name,quota MiB,password` (password optional).
pub async fn import_accounts(
    c: &Ctx<'_>,
    csv: &str,
) -> Result<Vec<(String, Result<Option<String>, String>)>, WebError> {
    let mut out = Vec::new();
    for line in csv.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.first().is_some_and(|a| a.eq_ignore_ascii_case("address")) {
            continue;
        }
        let n = NewAccount {
            address: f.first().unwrap_or(&"").to_string(),
            display_name: f.get(1).unwrap_or(&"").to_string(),
            quota_mb: f.get(2).and_then(|q| q.parse().ok()).unwrap_or(0),
            password: f.get(3).unwrap_or(&"").to_string(),
            role: None,
        };
        let addr = n.address.clone();
        out.push((addr, create_account(c, n).await.map(|(_, pw)| pw).map_err(|e| e.to_string())));
    }
    Ok(out)
}

pub async fn domains(c: &Ctx<'_>) -> Result<Vec<crate::store::Domain>, WebError> {
    let all = c.app.store.domains().await?;
    Ok(all.into_iter().filter(|d| c.s.manages(&d.name)).collect())
}

pub async fn add_domain(c: &Ctx<'_>, name: &str) -> Result<(), WebError> {
    c.admin()?;
    let name = name.trim().to_lowercase();
    c.app.store.add_domain(name.clone()).await?;
    c.audit("domain.create", &name, String::new()).await;
    Ok(())
}

fn scoped(c: &Ctx<'_>, domain: Option<String>) -> Result<Option<String>, WebError> {
    match (c.s.is_admin(), c.s.domain()) {
        (true, _) => Ok(domain),
        (false, Some(own)) => Ok(Some(own.to_string())),
        _ => Err(WebError::Forbidden),
    }
}

pub async fn aliases(c: &Ctx<'_>, domain: Option<String>) -> Result<Vec<crate::store::Alias>, WebError> {
    Ok(c.app.store.aliases(scoped(c, domain)?).await?)
}

pub async fn add_alias(c: &Ctx<'_>, address: &str, target: &str) -> Result<(), WebError> {
    let address = address.trim().to_lowercase();
    c.manage(&address)?;
    c.app.store.add_alias(address.clone(), target.trim().to_string()).await?;
    c.audit("alias.create", &address, format!("to {}", target.trim())).await;
    Ok(())
}

pub async fn remove_alias(c: &Ctx<'_>, address: &str) -> Result<(), WebError> {
    c.manage(address)?;
    c.app.store.remove_alias(address.to_lowercase()).await?;
    c.audit("alias.delete", address, String::new()).await;
    Ok(())
}

pub async fn groups(c: &Ctx<'_>, domain: Option<String>) -> Result<Vec<crate::store::Group>, WebError> {
    Ok(c.app.store.groups(scoped(c, domain)?).await?)
}

pub async fn add_group(c: &Ctx<'_>, address: &str, name: &str) -> Result<(), WebError> {
    let address = address.trim().to_lowercase();
    c.manage(&address)?;
    c.app.store.add_group(address.clone(), name.trim().to_string()).await?;
    c.audit("group.create", &address, name.trim().to_string()).await;
    Ok(())
}

pub async fn remove_group(c: &Ctx<'_>, address: &str) -> Result<(), WebError> {
    c.manage(address)?;
    c.app.store.remove_group(address.to_lowercase()).await?;
    c.audit("group.delete", address, String::new()).await;
    Ok(())
}

pub async fn set_member(c: &Ctx<'_>, group: &str, member: &str, present: bool) -> Result<(), WebError> {
    c.manage(group)?;
    c.app.store.set_group_member(group.to_lowercase(), member.trim().to_lowercase(), present).await?;
    c.audit(if present { "group.member.add" } else { "group.member.remove" }, group, member.trim().to_string()).await;
    Ok(())
}

/// Failed-login lockouts in force (and slowed accounts).
pub async fn lockouts(c: &Ctx<'_>) -> Result<Vec<crate::directory::Lockout>, WebError> {
    c.admin()?;
    Ok(crate::directory::lockouts(&c.app.store, c.app.guard.limits()).await?)
}

/// Lifts a lockout: forgets the failed logins from `ip`, for `user`, or for that user from that address.
pub async fn clear_lockout(c: &Ctx<'_>, ip: &str, user: &str) -> Result<usize, WebError> {
    c.admin()?;
    let ip = Some(ip.trim()).filter(|s| !s.is_empty());
    let user = Some(user.trim().to_lowercase()).filter(|s| !s.is_empty());
    if ip.is_none() && user.is_none() {
        return Err(WebError::BadRequest("name the lockout: an address, a user, or both".into()));
    }
    let ip = match ip {
        Some(text) => Some(
            text.parse::<std::net::IpAddr>()
                .map(|a| crate::cidr::canonical(a).to_string())
                .map_err(|_| WebError::BadRequest(format!("`{text}` is not an IP address")))?,
        ),
        None => None,
    };
    let target = format!("{} {}", ip.as_deref().unwrap_or("any address"), user.as_deref().unwrap_or("any user"));
    let n = c.app.store.auth_failures_clear(ip, user).await?;
    c.audit("lockout.clear", &target, format!("{n} failed logins forgotten")).await;
    Ok(n)
}
