//! Every operation of the console, each with its permission check, used by
//! both the JSON API and the HTML pages. The rules:
//! - the server administrator may do everything;
//! - a domain administrator manages the accounts of their own domain (never
//!   roles above their own) and sees that domain's audit entries;
//! - everyone reads and writes only their own mail: mail operations take the
//!   account from the session, never from the request.
//! Every administrative change is written to the audit log.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::message::{self, Draft, Shown};
use super::session::Session;
use super::{App, WebError};
use crate::ids::Id;
use crate::store::{Account, AuditEntry, FlagOp, QuarantineEntry, QueueAction, QueueFilter, QueuedMessage, Role};

pub struct Ctx<'a> {
    pub app: &'a Arc<App>,
    pub s: &'a Session,
    pub ip: IpAddr,
}

impl Ctx<'_> {
    async fn audit(&self, action: &str, target: &str, detail: String) {
        let e = AuditEntry { at: crate::clock::now(), actor: self.s.user.clone(), ip: self.ip.to_string(), action: action.into(), target: target.into(), detail };
        tracing::info!(target: "hato::audit", actor = %e.actor, ip = %e.ip, action = %e.action, target = %e.target, "{}", e.detail);
        if let Err(err) = self.app.store.audit(e).await {
            tracing::error!(target: "hato::audit", "could not write the audit log: {err}");
        }
    }

    fn admin(&self) -> Result<(), WebError> {
        if self.s.is_admin() { Ok(()) } else { Err(WebError::Forbidden) }
    }

    fn manage(&self, address: &str) -> Result<(), WebError> {
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        if self.s.manages(domain) { Ok(()) } else { Err(WebError::Forbidden) }
    }

    fn mailbox_owner(&self) -> Result<String, WebError> {
        if self.s.has_mailbox() { Ok(self.s.user.clone()) } else { Err(WebError::BadRequest("the built-in administrator has no mailbox".into())) }
    }
}

/// Checks a login and opens a session. `admin` is the built-in administrator
/// (its hash in `[web] admin_hash_file`); anyone else is an account.
pub async fn login(app: &Arc<App>, ip: IpAddr, user: &str, password: &str) -> Result<(String, Session), WebError> {
    let user = user.trim().to_lowercase();
    if app.guard.auth_locked(ip, &user) {
        return Err(WebError::Locked);
    }
    let role = if user == "admin" {
        let hash = std::fs::read_to_string(app.cfg.admin_hash_file()).unwrap_or_default();
        (!hash.trim().is_empty() && crate::directory::verify_hash(&user, password, hash.trim()).await).then_some(Role::Admin)
    } else {
        match crate::directory::authenticate(&app.store, &user, password).await? {
            Some(address) => app.store.account(address).await?.map(|a| a.role),
            None => None,
        }
    };
    let Some(role) = role else {
        app.guard.auth_failed(ip, &user);
        tracing::warn!(target: "hato::web", user = %user, %ip, "login failed");
        return Err(WebError::BadLogin);
    };
    app.guard.auth_succeeded(&user);
    let (token, s) = app.sessions.create(user, role);
    let ctx = Ctx { app, s: &s, ip };
    ctx.audit("login", &s.user, format!("role {}", role.as_str())).await;
    Ok((token, s))
}

// ---- accounts -------------------------------------------------------------

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
    let address = crate::address::Address::parse(n.address.trim()).map_err(|e| WebError::BadRequest(format!("{}: {e}", n.address)))?.to_string().to_lowercase();
    c.manage(&address)?;
    let role = n.role.unwrap_or_default();
    role_allowed(c, role)?;
    let generated = n.password.is_empty();
    let password = if generated { crate::ids::token(14) } else { n.password.clone() };
    if password.len() < 8 {
        return Err(WebError::BadRequest("the password needs at least 8 characters".into()));
    }
    let hash = crate::directory::hash_password(&password).map_err(|e| WebError::BadRequest(e.to_string()))?;
    let a = Account { address: address.clone(), display_name: n.display_name.trim().into(), quota_bytes: quota(n.quota_mb)?, used_bytes: 0, enabled: true, password_hash: hash, role };
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
        c.app.sessions.remove_user(&a.address);
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
    c.app.sessions.remove_user(&a.address);
    c.audit("account.delete", &a.address, "account and its mail removed".into()).await;
    Ok(())
}

/// Bulk import: one account per line, `address,display name,quota MiB,password` (password optional).
pub async fn import_accounts(c: &Ctx<'_>, csv: &str) -> Result<Vec<(String, Result<Option<String>, String>)>, WebError> {
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

// ---- queue, quarantine, audit -----------------------------------------------

pub async fn queue(c: &Ctx<'_>, filter: QueueFilter) -> Result<Vec<QueuedMessage>, WebError> {
    c.admin()?;
    Ok(c.app.store.queue_list(filter).await?)
}

fn parse_id(id: &str) -> Result<Id, WebError> {
    Id::parse(id).ok_or_else(|| WebError::BadRequest(format!("{id} is not an id")))
}

pub async fn queue_action(c: &Ctx<'_>, id: &str, action: &str) -> Result<usize, WebError> {
    c.admin()?;
    if action == "bounce" {
        let m = c.app.store.queued_message(parse_id(id)?).await?.ok_or_else(|| WebError::NotFound(format!("queued message {id}")))?;
        crate::queue::bounce_now(&c.app.store, &c.app.cfg.hostname, &m).await?;
        c.app.queue_wake.notify_one();
        c.audit("queue.bounce", id, format!("returned to <{}>", m.sender)).await;
        return Ok(m.entries.len());
    }
    let a = match action {
        "retry" => QueueAction::Retry,
        "hold" => QueueAction::Hold,
        "release" => QueueAction::Release,
        "delete" => QueueAction::Delete,
        other => return Err(WebError::BadRequest(format!("unknown queue action {other}; use retry, hold, release, delete or bounce"))),
    };
    let n = c.app.store.queue_action(parse_id(id)?, a).await?;
    c.app.queue_wake.notify_one();
    c.audit(&format!("queue.{action}"), id, format!("{n} recipients")).await;
    Ok(n)
}

/// The administrator sees every held message; anyone else those held for them.
pub async fn quarantine(c: &Ctx<'_>) -> Result<Vec<QuarantineEntry>, WebError> {
    let who = if c.s.is_admin() { None } else { Some(c.mailbox_owner()?) };
    Ok(c.app.store.quarantine_list(500, who).await?)
}

/// Held messages whose sender, recipients, subject or reason contain `q`.
pub async fn quarantine_search(c: &Ctx<'_>, q: &str) -> Result<Vec<QuarantineEntry>, WebError> {
    let q = q.trim().to_lowercase();
    let all = quarantine(c).await?;
    Ok(all
        .into_iter()
        .filter(|e| q.is_empty() || [&e.sender, &e.subject, &e.reason, &e.filter].iter().any(|f| f.to_lowercase().contains(&q)) || e.recipients.iter().any(|r| r.contains(&q)))
        .collect())
}

async fn held(c: &Ctx<'_>, id: &str) -> Result<(Id, QuarantineEntry), WebError> {
    let id = parse_id(id)?;
    let e = quarantine(c).await?.into_iter().find(|e| e.id == id).ok_or_else(|| WebError::NotFound(format!("held message {id}")))?;
    Ok((id, e))
}

pub async fn quarantine_preview(c: &Ctx<'_>, id: &str) -> Result<Shown, WebError> {
    let (id, _) = held(c, id).await?;
    let raw = c.app.store.quarantine_body(id).await?;
    message::show(&raw, false).ok_or_else(|| WebError::BadRequest("the held message cannot be parsed".into()))
}

/// Releasing is for administrators: a user asks them (a virus is not theirs to let in).
pub async fn quarantine_release(c: &Ctx<'_>, id: &str) -> Result<String, WebError> {
    c.admin()?;
    let (id, e) = held(c, id).await?;
    let qid = c.app.store.quarantine_release(id).await?;
    c.app.queue_wake.notify_one();
    c.audit("quarantine.release", &id.to_string(), format!("{} from {} ({}: {})", e.subject, e.sender, e.filter, e.reason)).await;
    Ok(qid.to_string())
}

pub async fn quarantine_delete(c: &Ctx<'_>, id: &str) -> Result<(), WebError> {
    c.admin()?;
    let (id, e) = held(c, id).await?;
    c.app.store.quarantine_delete(id).await?;
    c.audit("quarantine.delete", &id.to_string(), format!("{} from {}", e.subject, e.sender)).await;
    Ok(())
}

pub async fn audit_log(c: &Ctx<'_>) -> Result<Vec<AuditEntry>, WebError> {
    match (c.s.is_admin(), c.s.domain()) {
        (true, _) => Ok(c.app.store.audit_list(500, None).await?),
        (false, Some(d)) => Ok(c.app.store.audit_list(500, Some(d.to_string())).await?),
        _ => Err(WebError::Forbidden),
    }
}

// ---- the user's own mail ---------------------------------------------------

#[derive(Debug, Serialize)]
pub struct Folder {
    pub name: String,
    pub special_use: Option<String>,
    pub messages: i64,
    pub unseen: usize,
}

pub async fn folders(c: &Ctx<'_>) -> Result<Vec<Folder>, WebError> {
    let me = c.mailbox_owner()?;
    let mut out = Vec::new();
    for b in c.app.store.mailboxes(me.clone()).await? {
        let state = c.app.store.mailbox_state(me.clone(), b.name.clone()).await?;
        let unseen = state.messages.iter().filter(|m| !m.flags.split(' ').any(|f| f == "\\Seen")).count();
        out.push(Folder { name: b.name, special_use: b.special_use, messages: b.messages, unseen });
    }
    Ok(out)
}

#[derive(Debug, Serialize)]
pub struct ListItem {
    pub uid: i64,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub date: i64,
    pub size: i64,
    pub seen: bool,
    pub flagged: bool,
}

#[derive(Debug, Serialize)]
pub struct Listing {
    pub folder: String,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    pub items: Vec<ListItem>,
}

pub const PER_PAGE: usize = 50;

/// One page of a folder, newest first (or oldest first, or by subject/sender);
/// `query` keeps messages whose sender or subject contains it. Sorting and
/// filtering use the store's search summaries (case-folded); what is shown
/// comes from the page's own header blocks, as written.
pub async fn list(c: &Ctx<'_>, folder: &str, page: usize, sort: &str, query: &str) -> Result<Listing, WebError> {
    let me = c.mailbox_owner()?;
    let state = c.app.store.mailbox_state(me.clone(), folder.to_string()).await?;
    let q = query.trim().to_lowercase();
    let mut order: Vec<(i64, i64, String)> = state.messages.iter().map(|m| (m.uid, m.internal_date, String::new())).collect();
    if !q.is_empty() || sort == "subject" || sort == "from" {
        let uids: Vec<i64> = order.iter().map(|o| o.0).collect();
        let mut keys = std::collections::HashMap::new();
        for chunk in uids.chunks(512) {
            for (uid, s) in c.app.store.summaries(me.clone(), folder.to_string(), chunk.to_vec()).await? {
                let hit = q.is_empty() || s.subject.contains(&q) || s.from.contains(&q);
                keys.insert(uid, (hit, if sort == "from" { s.from } else { s.subject }));
            }
        }
        order.retain_mut(|o| match keys.remove(&o.0) {
            Some((true, key)) => {
                o.2 = key;
                true
            }
            _ => false,
        });
    }
    match sort {
        "oldest" => order.sort_by_key(|o| (o.1, o.0)),
        "subject" | "from" => order.sort_by(|a, b| a.2.cmp(&b.2).then(b.1.cmp(&a.1))),
        _ => order.sort_by_key(|o| std::cmp::Reverse((o.1, o.0))),
    }
    let total = order.len();
    let pages = total.div_ceil(PER_PAGE).max(1);
    let page = page.clamp(1, pages);
    let shown: Vec<i64> = order.iter().skip((page - 1) * PER_PAGE).take(PER_PAGE).map(|o| o.0).collect();
    let headers: std::collections::HashMap<i64, Vec<u8>> = c.app.store.headers(me, folder.to_string(), shown.clone()).await?.into_iter().collect();
    let meta: std::collections::HashMap<i64, &crate::store::MessageMeta> = state.messages.iter().map(|m| (m.uid, m)).collect();
    let items = shown
        .iter()
        .filter_map(|uid| {
            let m = meta.get(uid)?;
            let parsed = headers.get(uid).and_then(|h| mail_parser::MessageParser::default().parse_headers(h.as_slice()));
            let (subject, from, to) = match &parsed {
                Some(p) => (p.subject().unwrap_or("").to_string(), tidy(&crate::summary::addresses(p.from())), tidy(&crate::summary::addresses(p.to()))),
                None => Default::default(),
            };
            let flags: Vec<&str> = m.flags.split(' ').collect();
            Some(ListItem { uid: *uid, from, to, subject, date: m.internal_date, size: m.size, seen: flags.contains(&"\\Seen"), flagged: flags.contains(&"\\Flagged") })
        })
        .collect();
    Ok(Listing { folder: folder.to_string(), total, page, pages, items })
}

/// "Name <a@x>, <b@y>" as people write it: a bare address where there is no name.
pub fn tidy(list: &str) -> String {
    list.split(", ")
        .map(|a| {
            let a = a.trim();
            match a.strip_prefix('<').and_then(|x| x.strip_suffix('>')) {
                Some(bare) => bare.to_string(),
                None => a.to_string(),
            }
        })
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn raw(c: &Ctx<'_>, folder: &str, uid: i64) -> Result<Vec<u8>, WebError> {
    let me = c.mailbox_owner()?;
    let msgs = c.app.store.contents(me, folder.to_string(), vec![uid]).await?;
    msgs.into_iter().next().map(|(_, b)| b).ok_or_else(|| WebError::NotFound(format!("message {uid} in {folder}")))
}

/// A message to read; reading it marks it \Seen.
pub async fn read(c: &Ctx<'_>, folder: &str, uid: i64, remote_images: bool) -> Result<Shown, WebError> {
    let body = raw(c, folder, uid).await?;
    let shown = message::show(&body, remote_images).ok_or_else(|| WebError::BadRequest("the message cannot be parsed".into()))?;
    set_flags(c, folder, uid, &["\\Seen"], &[]).await?;
    Ok(shown)
}

pub async fn attachment(c: &Ctx<'_>, folder: &str, uid: i64, index: usize) -> Result<(String, Vec<u8>), WebError> {
    let body = raw(c, folder, uid).await?;
    message::attachment(&body, index).ok_or_else(|| WebError::NotFound(format!("attachment {index}")))
}

pub async fn set_flags(c: &Ctx<'_>, folder: &str, uid: i64, add: &[&str], remove: &[&str]) -> Result<(), WebError> {
    let me = c.mailbox_owner()?;
    let ok = |f: &&str| matches!(*f, "\\Seen" | "\\Flagged" | "\\Answered" | "\\Draft");
    if !add.iter().chain(remove).all(ok) {
        return Err(WebError::BadRequest("only \\Seen, \\Flagged, \\Answered and \\Draft can be set here".into()));
    }
    for (op, flags) in [(FlagOp::Add, add), (FlagOp::Remove, remove)] {
        if !flags.is_empty() {
            c.app.store.set_flags(me.clone(), folder.to_string(), vec![uid], op, flags.iter().map(|f| f.to_string()).collect(), None).await?;
        }
    }
    Ok(())
}

/// Moves a message (copy + expunge in the store); moving into or out of
/// Junk teaches the spam filter, as it does over IMAP.
pub async fn move_message(c: &Ctx<'_>, folder: &str, uid: i64, to: &str) -> Result<(), WebError> {
    let me = c.mailbox_owner()?;
    if folder == to {
        return Ok(());
    }
    let (_, pairs) = c.app.store.copy(me.clone(), folder.to_string(), to.to_string(), vec![uid], true).await?;
    if pairs.is_empty() {
        return Err(WebError::NotFound(format!("message {uid} in {folder}")));
    }
    c.app.store.expunge(me.clone(), folder.to_string(), vec![uid]).await?;
    let new: Vec<i64> = pairs.iter().map(|p| p.1).collect();
    tokio::spawn(crate::spam::learn_moved(c.app.store.clone(), me, folder.to_string(), to.to_string(), new));
    Ok(())
}

async fn special(c: &Ctx<'_>, use_: &str) -> Result<String, WebError> {
    let me = c.mailbox_owner()?;
    let boxes = c.app.store.mailboxes(me).await?;
    boxes.into_iter().find(|b| b.special_use.as_deref() == Some(use_)).map(|b| b.name).ok_or_else(|| WebError::NotFound(format!("a {use_} folder")))
}

/// Delete: into Trash; from Trash, for good.
pub async fn delete_message(c: &Ctx<'_>, folder: &str, uid: i64) -> Result<(), WebError> {
    let trash = special(c, "\\Trash").await?;
    if folder == trash {
        let me = c.mailbox_owner()?;
        c.app.store.expunge(me, folder.to_string(), vec![uid]).await?;
        Ok(())
    } else {
        move_message(c, folder, uid, &trash).await
    }
}

pub async fn mark_spam(c: &Ctx<'_>, folder: &str, uid: i64, spam: bool) -> Result<(), WebError> {
    let to = if spam { special(c, "\\Junk").await? } else { "INBOX".to_string() };
    move_message(c, folder, uid, &to).await
}

/// Sends through this server's submission port, as any mail client would:
/// the same policy, DKIM signing, filters and archive apply. A copy goes to Sent.
pub async fn send(c: &Ctx<'_>, mut d: Draft) -> Result<(), WebError> {
    let me = c.mailbox_owner()?;
    let acct = c.app.store.account(me.clone()).await?.ok_or_else(|| WebError::NotFound("your account".into()))?;
    d.from = me.clone();
    d.from_name = acct.display_name;
    let rcpts: Vec<String> = d.to.iter().chain(&d.cc).cloned().collect();
    if rcpts.is_empty() {
        return Err(WebError::BadRequest("give at least one recipient".into()));
    }
    let raw = message::build(&d, &c.app.cfg.hostname, crate::clock::now());
    let addr = submission_addr(&c.app.cfg)?;
    let opts = crate::smtp::client::Options {
        helo: "webmail.localhost".into(),
        connect_timeout: Duration::from_secs(10),
        command_timeout: Duration::from_secs(120),
        opportunistic_tls: true,
        require_tls: true,
        credentials: Some((me.clone(), crate::directory::tokens::issue(&me))),
    };
    let results = crate::smtp::client::send(&opts, "localhost", addr, &me, &rcpts, &raw).await.map_err(|e| WebError::Send(e.to_string()))?;
    let refused: Vec<String> = rcpts
        .iter()
        .zip(&results)
        .filter_map(|(r, res)| match res {
            crate::smtp::client::RcptResult::Accepted(_) => None,
            crate::smtp::client::RcptResult::Temporary(m) | crate::smtp::client::RcptResult::Permanent(m) => Some(format!("{r}: {m}")),
        })
        .collect();
    if refused.len() == rcpts.len() {
        return Err(WebError::Send(refused.join("; ")));
    }
    let sent = special(c, "\\Sent").await?;
    c.app.store.append(me, sent, raw, "\\Seen".into(), crate::clock::now()).await?;
    if !refused.is_empty() {
        return Err(WebError::Send(format!("sent, but refused for: {}", refused.join("; "))));
    }
    Ok(())
}

pub async fn save_draft(c: &Ctx<'_>, mut d: Draft) -> Result<(), WebError> {
    let me = c.mailbox_owner()?;
    d.from = me.clone();
    let drafts = special(c, "\\Drafts").await?;
    let raw = message::build(&d, &c.app.cfg.hostname, crate::clock::now());
    c.app.store.append(me, drafts, raw, "\\Draft \\Seen".into(), crate::clock::now()).await?;
    Ok(())
}

/// Removes a draft that was sent or saved anew (only from the Drafts folder).
pub async fn discard_draft(c: &Ctx<'_>, folder: &str, uid: i64) -> Result<(), WebError> {
    if special(c, "\\Drafts").await? != folder {
        return Err(WebError::BadRequest(format!("{folder} is not the Drafts folder")));
    }
    c.app.store.expunge(c.mailbox_owner()?, folder.to_string(), vec![uid]).await?;
    Ok(())
}

/// This server's submission port, reached on loopback when it listens on every address.
fn submission_addr(cfg: &crate::config::Config) -> Result<std::net::SocketAddr, WebError> {
    let s = cfg.web.submission.clone().unwrap_or_else(|| cfg.smtp.submission_listen.clone());
    let mut a: std::net::SocketAddr = s.parse().map_err(|_| WebError::Send(format!("submission address {s} is not ip:port")))?;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() { IpAddr::from([127, 0, 0, 1]) } else { IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]) });
    }
    Ok(a)
}

pub async fn vacation(c: &Ctx<'_>) -> Result<Option<crate::vacation::Vacation>, WebError> {
    Ok(c.app.store.vacation(c.mailbox_owner()?).await?)
}

pub async fn set_vacation(c: &Ctx<'_>, v: Option<crate::vacation::Vacation>) -> Result<(), WebError> {
    Ok(c.app.store.set_vacation(c.mailbox_owner()?, v).await?)
}

// ---- logs, message trace, archive (server administrators) -------------------

pub fn logs(c: &Ctx<'_>, s: &crate::logs::recent::Search) -> Result<Vec<crate::logs::recent::Line>, WebError> {
    c.admin()?;
    Ok(crate::logs::recent::search(s))
}

pub fn trace(c: &Ctx<'_>, term: &str) -> Result<Vec<crate::logs::recent::Line>, WebError> {
    c.admin()?;
    Ok(crate::logs::recent::trace(term))
}

/// Changes module log levels live (e.g. `smtp=debug`); returns the filter now in force.
pub async fn set_log_level(c: &Ctx<'_>, spec: &str) -> Result<String, WebError> {
    c.admin()?;
    let now = crate::logs::set_level(spec).map_err(|e| WebError::BadRequest(e.to_string()))?;
    c.audit("log.level", "log", now.clone()).await;
    Ok(now)
}

pub fn log_level(c: &Ctx<'_>) -> Result<String, WebError> {
    c.admin()?;
    Ok(crate::logs::current_level().unwrap_or_default())
}

pub async fn archive(c: &Ctx<'_>, q: crate::store::ArchiveQuery) -> Result<Vec<crate::store::ArchiveEntry>, WebError> {
    c.admin()?;
    Ok(c.app.store.archive_search(q).await?)
}

/// The matching archived messages as one mbox file.
pub async fn archive_export(c: &Ctx<'_>, mut q: crate::store::ArchiveQuery) -> Result<Vec<u8>, WebError> {
    c.admin()?;
    q.limit = q.limit.clamp(1, 10_000);
    let found = c.app.store.archive_search(q.clone()).await?;
    let mut out = Vec::new();
    for e in &found {
        let body = c.app.store.archive_body(e.id).await?;
        crate::mbox::write(&mut out, &e.sender, e.created, &body);
    }
    c.audit("archive.export", "archive", format!("{} messages ({:?})", found.len(), q.text.as_deref().or(q.from.as_deref()).unwrap_or(""))).await;
    Ok(out)
}

/// The archive search form as the API and the page take it (dates as YYYY-MM-DD).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ArchiveForm {
    pub text: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub since: String,
    pub until: String,
    pub limit: Option<usize>,
}

impl ArchiveForm {
    pub fn is_empty(&self) -> bool {
        [&self.text, &self.from, &self.to, &self.subject, &self.message_id, &self.since, &self.until].iter().all(|s| s.trim().is_empty())
    }

    pub fn query(&self) -> Result<crate::store::ArchiveQuery, WebError> {
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let day = |s: &str, name: &str| -> Result<Option<i64>, WebError> {
            match opt(s) {
                None => Ok(None),
                Some(d) => crate::clock::parse_ymd(&d).map(Some).ok_or_else(|| WebError::BadRequest(format!("{name}: {d} is not a date (YYYY-MM-DD)"))),
            }
        };
        Ok(crate::store::ArchiveQuery {
            from: opt(&self.from),
            to: opt(&self.to),
            subject: opt(&self.subject),
            text: opt(&self.text),
            message_id: opt(&self.message_id),
            direction: None,
            since: day(&self.since, "since")?,
            until: day(&self.until, "until")?.map(|d| d + 86_399),
            limit: self.limit.unwrap_or(200).clamp(1, 10_000),
        })
    }
}

/// What the appliance page shows: the state `hato init` wrote, and SNMP as configured.
#[derive(Debug, Serialize)]
pub struct Appliance {
    /// None off the appliance (no supervisor writes the file) or when it is stale.
    pub status: Option<crate::supervisor::status::ApplianceStatus>,
    pub stale: bool,
    pub snmp_community: bool,
    pub snmp_v3_user: Option<String>,
    pub snmp_trap_sinks: Vec<String>,
    pub snmp_location: String,
}

pub fn appliance(c: &Ctx<'_>) -> Result<Appliance, WebError> {
    c.admin()?;
    let status = c.app.cfg.web.appliance_status.as_deref().and_then(crate::supervisor::status::read);
    let stale = status.as_ref().is_some_and(|s| crate::clock::now() - s.updated > 60);
    let snmp = &c.app.cfg.snmp;
    Ok(Appliance { status, stale, snmp_community: snmp.community.is_some(), snmp_v3_user: snmp.v3_user.clone(), snmp_trap_sinks: snmp.trap_sinks.clone(), snmp_location: snmp.location.clone() })
}

// ---- aliases and groups ------------------------------------------------------

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

// ---- the server-wide Sieve script -------------------------------------------

pub fn rules(c: &Ctx<'_>) -> Result<String, WebError> {
    c.admin()?;
    Ok(c.app.server_sieve.text())
}

/// Checks and puts a new server script in force (empty: none); a broken one is refused with its line and column.
pub async fn set_rules(c: &Ctx<'_>, text: &str) -> Result<(), WebError> {
    c.admin()?;
    c.app.server_sieve.replace(text).map_err(WebError::BadRequest)?;
    c.audit("rules.update", "server script", format!("{} lines", text.lines().count())).await;
    Ok(())
}

/// The account's active Sieve script (the one ManageSieve clients see too).
pub async fn my_filter(c: &Ctx<'_>) -> Result<String, WebError> {
    Ok(c.app.store.sieve_active(c.mailbox_owner()?).await?.map(|(_, text)| text).unwrap_or_default())
}

/// Checks and saves the account's filter as the script "webmail" and makes it
/// active (empty: no active script). A broken one is refused with its place.
pub async fn set_my_filter(c: &Ctx<'_>, text: &str) -> Result<(), WebError> {
    let me = c.mailbox_owner()?;
    if text.trim().is_empty() {
        c.app.store.sieve_set_active(me, None).await?;
        return Ok(());
    }
    crate::sieve::compile(text).map_err(|e| WebError::BadRequest(e.to_string()))?;
    c.app.store.sieve_put(me.clone(), "webmail".into(), text.to_string()).await?;
    c.app.store.sieve_set_active(me, Some("webmail".into())).await?;
    Ok(())
}

// ---- settings ----------------------------------------------------------------

/// The settings in force, as (section, [(name, value)]) for display. They are
/// changed in hato.toml (read at start); the certificate is changed here.
pub fn settings(c: &Ctx<'_>) -> Result<Vec<(String, Vec<(String, String)>)>, WebError> {
    c.admin()?;
    let cfg = &c.app.cfg;
    let list = |v: &[String]| if v.is_empty() { "–".to_string() } else { v.join(", ") };
    let kv = |pairs: Vec<(&str, String)>| pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Vec<_>>();
    Ok(vec![
        ("server".into(), kv(vec![("hostname", cfg.hostname.clone()), ("data_dir", cfg.data_dir.display().to_string()), ("version", env!("CARGO_PKG_VERSION").into())])),
        (
            "relay".into(),
            kv(vec![
                ("smarthost", cfg.delivery.smarthost.as_ref().map(|s| s.address.clone()).unwrap_or_else(|| "– (direct, by MX)".into())),
                ("routes", cfg.delivery.routes.iter().map(|(d, h)| format!("{d} → {h}")).collect::<Vec<_>>().join(", ")),
                ("opportunistic_tls", cfg.delivery.opportunistic_tls.to_string()),
            ]),
        ),
        (
            "limits".into(),
            kv(vec![
                ("max_message_size", format!("{} MiB", cfg.smtp.max_message_size / (1024 * 1024))),
                ("max_recipients", cfg.smtp.max_recipients.to_string()),
                ("max_connections", cfg.limits.max_connections.to_string()),
                ("max_connections_per_ip", cfg.limits.max_connections_per_ip.to_string()),
                ("messages_per_ip_per_minute", cfg.limits.messages_per_ip_per_minute.to_string()),
                ("auth_lockout", format!("{} failures per account / {} per address, {} s", cfg.limits.auth_failures_per_account, cfg.limits.auth_failures_per_ip, cfg.limits.auth_lockout_secs)),
            ]),
        ),
        (
            "filters".into(),
            kv(vec![
                ("antivirus", cfg.filter.antivirus.as_ref().map(|a| format!("clamd {}", a.clamd)).unwrap_or_else(|| "off".into())),
                ("blocked_extensions", list(&cfg.filter.blocked_extensions)),
                ("quarantine_days", cfg.filter.quarantine_days.to_string()),
                ("spam", if cfg.spam.enabled { format!("junk at {}, quarantine at {}, reject at {}", cfg.spam.junk_at, cfg.spam.quarantine_at, cfg.spam.reject_at) } else { "off".into() }),
                ("dnsbl", list(&cfg.spam.dnsbl)),
                ("uribl", list(&cfg.spam.uribl)),
                ("spf/dkim/dmarc", format!("verify {}, DKIM signing {}", cfg.mail_auth.verify, cfg.mail_auth.sign)),
                ("archive_retention_days", cfg.archive.retention_days.to_string()),
            ]),
        ),
        ("tls".into(), kv(vec![("certificate", c.app.certs.cert_path().display().to_string()), ("sha256", c.app.certs.fingerprint())])),
    ])
}

pub async fn replace_certificate(c: &Ctx<'_>, cert_pem: &str, key_pem: &str) -> Result<String, WebError> {
    c.admin()?;
    c.app.certs.replace(cert_pem.as_bytes(), key_pem.as_bytes()).map_err(|e| WebError::BadRequest(e.to_string()))?;
    let fp = c.app.certs.fingerprint();
    c.audit("tls.replace", "certificate", format!("sha256 {fp}")).await;
    Ok(fp)
}
