//! The server administrator's operations: queue, quarantine, audit log,
//! logs and trace, archive, appliance state, server rules, settings.

use super::*;

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
        let m = c
            .app
            .store
            .queued_message(parse_id(id)?)
            .await?
            .ok_or_else(|| WebError::NotFound(format!("queued message {id}")))?;
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
        other => {
            return Err(WebError::BadRequest(format!(
                "unknown queue action {other}; use retry, hold, release, delete or bounce"
            )));
        }
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
        .filter(|e| {
            q.is_empty()
                || [&e.sender, &e.subject, &e.reason, &e.filter].iter().any(|f| f.to_lowercase().contains(&q))
                || e.recipients.iter().any(|r| r.contains(&q))
        })
        .collect())
}

async fn held(c: &Ctx<'_>, id: &str) -> Result<(Id, QuarantineEntry), WebError> {
    let id = parse_id(id)?;
    let e = quarantine(c)
        .await?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| WebError::NotFound(format!("held message {id}")))?;
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
    c.audit(
        "quarantine.release",
        &id.to_string(),
        format!("{} from {} ({}: {})", e.subject, e.sender, e.filter, e.reason),
    )
    .await;
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

/// Recent log lines of this node and, in a cluster, of every member.
pub async fn logs(c: &Ctx<'_>, s: &crate::logs::recent::Search) -> Result<Vec<crate::logs::recent::Line>, WebError> {
    c.admin()?;
    let q = crate::cluster::logs::Question::Search(s.clone());
    Ok(crate::cluster::logs::ask_all(&c.app.cfg.cluster_dir(), q).await.into_lines())
}

/// Every step a message took, on every member.
pub async fn trace(c: &Ctx<'_>, term: &str) -> Result<Vec<crate::logs::recent::Line>, WebError> {
    c.admin()?;
    let q = crate::cluster::logs::Question::Trace(term.to_string());
    Ok(crate::cluster::logs::ask_all(&c.app.cfg.cluster_dir(), q).await.into_lines())
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
    c.audit(
        "archive.export",
        "archive",
        format!("{} messages ({:?})", found.len(), q.text.as_deref().or(q.from.as_deref()).unwrap_or("")),
    )
    .await;
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
        [&self.text, &self.from, &self.to, &self.subject, &self.message_id, &self.since, &self.until]
            .iter()
            .all(|s| s.trim().is_empty())
    }

    pub fn query(&self) -> Result<crate::store::ArchiveQuery, WebError> {
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let day = |s: &str, name: &str| -> Result<Option<i64>, WebError> {
            match opt(s) {
                None => Ok(None),
                Some(d) => crate::clock::parse_ymd(&d)
                    .map(Some)
                    .ok_or_else(|| WebError::BadRequest(format!("{name}: {d} is not a date (YYYY-MM-DD)"))),
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
    Ok(Appliance {
        status,
        stale,
        snmp_community: snmp.community.is_some(),
        snmp_v3_user: snmp.v3_user.clone(),
        snmp_trap_sinks: snmp.trap_sinks.clone(),
        snmp_location: snmp.location.clone(),
    })
}

pub fn rules(c: &Ctx<'_>) -> Result<String, WebError> {
    c.admin()?;
    Ok(c.app.server_sieve.text())
}

/// Checks and puts a new server script in force (empty: none); a broken one is refused with its line and column.
/// On a cluster every member takes it.
pub async fn set_rules(c: &Ctx<'_>, text: &str) -> Result<(), WebError> {
    c.admin()?;
    c.app.server_sieve.replace(text).map_err(WebError::BadRequest)?;
    c.audit("rules.update", "server script", format!("{} lines", text.lines().count())).await;
    if let Some(share) = cluster_share(c) {
        share.publish_rules().await?;
    }
    Ok(())
}

/// This node's part in what a cluster shares, when it is a member.
fn cluster_share(c: &Ctx<'_>) -> Option<crate::cluster::shared::Local> {
    c.app.cfg.cluster_dir().exists().then(|| crate::cluster::shared::Local {
        cfg: c.app.cfg.clone(),
        store: c.app.store.clone(),
        sieve: c.app.server_sieve.clone(),
        certs: c.app.certs.clone(),
    })
}

/// One section of the settings page: its name and (setting, value) pairs.
pub type SettingsSection = (String, Vec<(String, String)>);

/// The settings in force, for display. They are changed in hato.toml (read
/// at start); the certificate is changed here.
pub fn settings(c: &Ctx<'_>) -> Result<Vec<SettingsSection>, WebError> {
    c.admin()?;
    let cfg = &c.app.cfg;
    let list = |v: &[String]| if v.is_empty() { "–".to_string() } else { v.join(", ") };
    let kv = |pairs: Vec<(&str, String)>| pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Vec<_>>();
    Ok(vec![
        (
            "server".into(),
            kv(vec![
                ("hostname", cfg.hostname.clone()),
                ("data_dir", cfg.data_dir.display().to_string()),
                ("version", env!("CARGO_PKG_VERSION").into()),
            ]),
        ),
        (
            "relay".into(),
            kv(vec![
                (
                    "smarthost",
                    cfg.delivery
                        .smarthost
                        .as_ref()
                        .map(|s| s.address.clone())
                        .unwrap_or_else(|| "– (direct, by MX)".into()),
                ),
                (
                    "routes",
                    cfg.delivery.routes.iter().map(|(d, h)| format!("{d} → {h}")).collect::<Vec<_>>().join(", "),
                ),
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
                (
                    "auth_lockout",
                    format!(
                        "{} failures per account / {} per address, {} s",
                        cfg.limits.auth_failures_per_account,
                        cfg.limits.auth_failures_per_ip,
                        cfg.limits.auth_lockout_secs
                    ),
                ),
            ]),
        ),
        (
            "filters".into(),
            kv(vec![
                (
                    "antivirus",
                    cfg.filter.antivirus.as_ref().map(|a| format!("clamd {}", a.clamd)).unwrap_or_else(|| "off".into()),
                ),
                ("blocked_extensions", list(&cfg.filter.blocked_extensions)),
                ("quarantine_days", cfg.filter.quarantine_days.to_string()),
                (
                    "spam",
                    if cfg.spam.enabled {
                        format!(
                            "junk at {}, quarantine at {}, reject at {}",
                            cfg.spam.junk_at, cfg.spam.quarantine_at, cfg.spam.reject_at
                        )
                    } else {
                        "off".into()
                    },
                ),
                ("dnsbl", list(&cfg.spam.dnsbl)),
                ("uribl", list(&cfg.spam.uribl)),
                ("spf/dkim/dmarc", format!("verify {}, DKIM signing {}", cfg.mail_auth.verify, cfg.mail_auth.sign)),
                ("archive_retention_days", cfg.archive.retention_days.to_string()),
            ]),
        ),
        (
            "tls".into(),
            kv(vec![
                ("certificate", c.app.certs.cert_path().display().to_string()),
                ("sha256", c.app.certs.fingerprint()),
            ]),
        ),
    ])
}

pub async fn replace_certificate(c: &Ctx<'_>, cert_pem: &str, key_pem: &str) -> Result<String, WebError> {
    c.admin()?;
    c.app.certs.replace(cert_pem.as_bytes(), key_pem.as_bytes()).map_err(|e| WebError::BadRequest(e.to_string()))?;
    let fp = c.app.certs.fingerprint();
    c.audit("tls.replace", "certificate", format!("sha256 {fp}")).await;
    if let Some(share) = cluster_share(c) {
        share.publish_certificate(cert_pem, key_pem).await?;
    }
    Ok(fp)
}

/// A queued message, parsed for a safe look (and its recipients' states).
pub async fn queued(c: &Ctx<'_>, id: &str) -> Result<(QueuedMessage, Shown), WebError> {
    c.admin()?;
    let id = parse_id(id)?;
    let m = c.app.store.queued_message(id).await?.ok_or_else(|| WebError::NotFound(format!("queued message {id}")))?;
    let raw = c.app.store.queued_body(id).await?;
    let shown =
        message::show(&raw, false).ok_or_else(|| WebError::BadRequest("the queued message cannot be parsed".into()))?;
    Ok((m, shown))
}

/// The settings the console can change; each `None` leaves the file as it is.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SettingsChange {
    /// "host:port" of the relay for all outgoing mail; empty: deliver directly by MX.
    pub smarthost: Option<String>,
    pub smarthost_user: Option<String>,
    /// Empty leaves the stored password as it is.
    pub smarthost_password: Option<String>,
    pub smarthost_require_tls: Option<bool>,
    pub max_message_mb: Option<u64>,
    pub max_recipients: Option<u64>,
    pub max_connections: Option<u64>,
    pub max_connections_per_ip: Option<u64>,
    pub messages_per_ip_per_minute: Option<u64>,
    /// Comma-separated, without dots.
    pub blocked_extensions: Option<String>,
    /// reject or quarantine
    pub extension_action: Option<String>,
    pub spam_enabled: Option<bool>,
    pub junk_at: Option<f64>,
    pub quarantine_at: Option<f64>,
    pub reject_at: Option<f64>,
    /// Comma-separated DNSBL zones.
    pub dnsbl: Option<String>,
    pub uribl: Option<String>,
}

fn list_value(s: &str) -> toml_edit::Value {
    let mut a = toml_edit::Array::new();
    for item in s.split(',').map(|x| x.trim().trim_start_matches('.')).filter(|x| !x.is_empty()) {
        a.push(item);
    }
    toml_edit::Value::Array(a)
}

/// Writes the changes into the configuration file (checked to load first,
/// the old file kept as `.bak`), and on a cluster into every member's. They
/// apply when the mail service restarts.
pub async fn update_settings(c: &Ctx<'_>, ch: SettingsChange) -> Result<Vec<&'static str>, WebError> {
    use crate::config::edit::Change;
    c.admin()?;
    let path = c.app.cfg.source.clone().ok_or_else(|| {
        WebError::BadRequest(
            "this server runs without a configuration file; start it with --config to change settings here".into(),
        )
    })?;
    let mut changes = Vec::new();
    let int = |v: u64| toml_edit::Value::from(v.min(i64::MAX as u64) as i64);
    match ch.smarthost.as_deref().map(str::trim) {
        Some("") => changes.push(Change::Remove("delivery.smarthost")),
        Some(addr) => {
            changes.push(Change::Set("delivery.smarthost.address", addr.into()));
            if let Some(u) = ch.smarthost_user.as_deref().map(str::trim) {
                changes.push(if u.is_empty() {
                    Change::Remove("delivery.smarthost.username")
                } else {
                    Change::Set("delivery.smarthost.username", u.into())
                });
            }
            if let Some(p) = ch.smarthost_password.as_deref().filter(|p| !p.is_empty()) {
                changes.push(Change::Set("delivery.smarthost.password", p.into()));
            }
            if let Some(t) = ch.smarthost_require_tls {
                changes.push(Change::Set("delivery.smarthost.require_tls", t.into()));
            }
        }
        None => {}
    }
    for (key, v) in [
        ("smtp.max_message_size", ch.max_message_mb.map(|mb| mb.saturating_mul(1024 * 1024))),
        ("smtp.max_recipients", ch.max_recipients),
        ("limits.max_connections", ch.max_connections),
        ("limits.max_connections_per_ip", ch.max_connections_per_ip),
        ("limits.messages_per_ip_per_minute", ch.messages_per_ip_per_minute),
    ] {
        if let Some(v) = v {
            changes.push(Change::Set(key, int(v)));
        }
    }
    if let Some(l) = &ch.blocked_extensions {
        changes.push(Change::Set("filter.blocked_extensions", list_value(l)));
    }
    if let Some(a) = &ch.extension_action {
        if a != "reject" && a != "quarantine" {
            return Err(WebError::BadRequest(format!("extension_action must be reject or quarantine, not {a}")));
        }
        changes.push(Change::Set("filter.extension_action", a.as_str().into()));
    }
    if let Some(e) = ch.spam_enabled {
        changes.push(Change::Set("spam.enabled", e.into()));
    }
    for (key, v) in
        [("spam.junk_at", ch.junk_at), ("spam.quarantine_at", ch.quarantine_at), ("spam.reject_at", ch.reject_at)]
    {
        if let Some(v) = v {
            changes.push(Change::Set(key, v.into()));
        }
    }
    for (key, v) in [("spam.dnsbl", &ch.dnsbl), ("spam.uribl", &ch.uribl)] {
        if let Some(l) = v {
            changes.push(Change::Set(key, list_value(l)));
        }
    }
    let changed: Vec<&'static str> = changes
        .iter()
        .map(|c| match c {
            Change::Set(k, _) | Change::Remove(k) => *k,
        })
        .collect();
    crate::config::edit::change_file(&path, &c.app.cfg.data_dir, &changes)
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    c.audit(
        "settings.update",
        &path.display().to_string(),
        changed.iter().map(|k| k.trim_start_matches("delivery.")).collect::<Vec<_>>().join(", "),
    )
    .await;
    if let Some(share) = cluster_share(c) {
        share.publish_settings().await?;
    }
    Ok(changed)
}

/// Whether a supervisor restarts this process when it ends (the appliance).
pub fn supervised(c: &Ctx<'_>) -> bool {
    c.app.cfg.web.appliance_status.is_some()
}

/// Ends the mail service so its supervisor starts it again with the saved
/// settings. Nothing is lost: every acknowledged message is committed, and
/// a session cut off here never got its 250.
pub async fn restart(c: &Ctx<'_>) -> Result<(), WebError> {
    c.admin()?;
    if !supervised(c) {
        return Err(WebError::BadRequest("no supervisor restarts this server; restart `hato serve` yourself".into()));
    }
    c.audit("service.restart", "hato", "to apply saved settings".into()).await;
    restart_later("at an administrator's request");
    Ok(())
}

/// Ends the process in half a second (time for the answer to go out), for the supervisor to start it again.
pub fn restart_later(why: &'static str) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tracing::warn!(target: "hato::web", "restarting {why}");
        std::process::exit(0);
    });
}
