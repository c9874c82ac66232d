//! The admin console's pages: dashboard, domains, accounts, aliases and
//! groups, queue, quarantine, archive, logs and trace, rules, settings,
//! appliance, audit log.

use super::*;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/accounts", get(accounts).post(create_account))
        .route("/admin/accounts/import", post(import_accounts))
        .route("/admin/accounts/{address}", get(account).post(update_account))
        .route("/admin/queue", get(queue).post(queue_action))
        .route("/admin/queue/{id}", get(queued))
        .route("/admin/quarantine", get(quarantine).post(quarantine_action))
        .route("/admin/quarantine/{id}", get(quarantine_preview))
        .route("/admin/audit", get(audit))
        .route("/admin/logs", get(logs).post(set_log_level))
        .route("/admin/appliance", get(appliance))
        .route("/admin/domains", get(domains).post(add_domain))
        .route("/admin/rules", get(rules).post(save_rules))
        .route("/admin/settings", get(settings_page).post(update_settings))
        .route("/admin/settings/certificate", post(replace_certificate))
        .route("/admin/restart", post(restart))
        .route("/admin/aliases", get(aliases).post(alias_action))
        .route("/admin/archive", get(archive))
        .route("/admin/archive/{id}", get(archived_message))
        .route("/mail/quarantine", get(my_quarantine))
}

#[derive(Template)]
#[template(path = "admin_dashboard.html")]
struct Dashboard {
    f: Frame,
    appliance: Option<crate::supervisor::status::ApplianceStatus>,
}

async fn dashboard(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin");
    if !s.is_admin() {
        return if s.domain().is_some() {
            Redirect::to("/admin/accounts").into_response()
        } else {
            error_page(f, WebError::Forbidden)
        };
    }
    let appliance = page!(f, ops::appliance(&ctx(&app, &s, &peer))).status;
    render(Dashboard { f, appliance })
}

#[derive(Template)]
#[template(path = "admin_accounts.html")]
struct AccountsPage {
    f: Frame,
    accounts: Vec<crate::store::Account>,
    domains: Vec<crate::store::Domain>,
    created: String,
}

async fn accounts(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/accounts");
    f.notice = q.get("notice").cloned().unwrap_or_default();
    let c = ctx(&app, &s, &peer);
    let accounts = page!(f, ops::accounts(&c, q.get("domain").cloned().filter(|d| !d.is_empty())).await);
    let domains = page!(f, ops::domains(&c).await);
    render(AccountsPage { f, accounts, domains, created: q.get("created").cloned().unwrap_or_default() })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AccountForm {
    address: String,
    display_name: String,
    quota_mb: Option<i64>,
    password: String,
    role: String,
    enabled: Option<String>,
    op: String,
}

fn role_of(s: &str) -> Option<crate::store::Role> {
    (!s.is_empty()).then(|| crate::store::Role::parse(s))
}

async fn create_account(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Form(a): Form<AccountForm>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/accounts");
    let n = ops::NewAccount {
        address: a.address,
        password: a.password,
        display_name: a.display_name,
        quota_mb: a.quota_mb.unwrap_or(0),
        role: role_of(&a.role),
    };
    let (acct, pw) = page!(f, ops::create_account(&ctx(&app, &s, &peer), n).await);
    let created = match pw {
        Some(pw) => format!("{} {pw}", acct.address),
        None => acct.address.clone(),
    };
    back(&format!("/admin/accounts?created={}", crate::web::urlencode(&created)), "")
}

#[derive(Deserialize)]
struct ImportForm {
    csv: String,
}

async fn import_accounts(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Form(i): Form<ImportForm>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/accounts");
    let results = page!(f, ops::import_accounts(&ctx(&app, &s, &peer), &i.csv).await);
    let summary: Vec<String> = results
        .into_iter()
        .map(|(a, r)| match r {
            Ok(Some(pw)) => format!("{a} {pw}"),
            Ok(None) => format!("{a} ok"),
            Err(e) => format!("{a}: {e}"),
        })
        .collect();
    back(&format!("/admin/accounts?created={}", crate::web::urlencode(&summary.join("\n"))), "")
}

#[derive(Template)]
#[template(path = "admin_account.html")]
struct AccountPage {
    f: Frame,
    a: crate::store::Account,
}

async fn account(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Path(address): Path<String>,
    Query(q): Query<NextQuery>,
) -> Response {
    let mut f = Frame::new(&headers, Some(&s), &format!("/admin/accounts/{address}"));
    f.notice = q.notice.unwrap_or_default();
    let a = page!(f, ops::account(&ctx(&app, &s, &peer), &address).await);
    render(AccountPage { f, a })
}

async fn update_account(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Path(address): Path<String>,
    Form(a): Form<AccountForm>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/accounts");
    let c = ctx(&app, &s, &peer);
    if a.op == "delete" {
        page!(f, ops::delete_account(&c, &address).await);
        return back("/admin/accounts", "deleted");
    }
    let patch = ops::AccountPatch {
        display_name: Some(a.display_name),
        quota_mb: a.quota_mb,
        enabled: Some(a.enabled.is_some()),
        password: Some(a.password),
        role: role_of(&a.role),
    };
    page!(f, ops::update_account(&c, &address, patch).await);
    back(&format!("/admin/accounts/{}", crate::web::urlencode(&address)), "saved")
}

#[derive(Template)]
#[template(path = "admin_queue.html")]
struct QueuePage {
    f: Frame,
    queue: Vec<crate::store::QueuedMessage>,
}

async fn queue(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/queue");
    f.notice = q.get("notice").cloned().unwrap_or_default();
    let filter = crate::store::QueueFilter {
        sender: q.get("sender").cloned().filter(|x| !x.is_empty()),
        recipient: q.get("recipient").cloned().filter(|x| !x.is_empty()),
        state: None,
    };
    let queue = page!(f, ops::queue(&ctx(&app, &s, &peer), filter).await);
    render(QueuePage { f, queue })
}

#[derive(Deserialize)]
struct IdAction {
    id: String,
    op: String,
}

async fn queue_action(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Form(a): Form<IdAction>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/queue");
    let n = page!(f, ops::queue_action(&ctx(&app, &s, &peer), &a.id, &a.op).await);
    back("/admin/queue", &format!("{} {}: {n}", a.op, a.id))
}

#[derive(Template)]
#[template(path = "quarantine.html")]
struct QuarantinePage {
    f: Frame,
    held: Vec<crate::store::QuarantineEntry>,
    q: String,
}

async fn quarantine(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/quarantine");
    f.notice = q.get("notice").cloned().unwrap_or_default();
    if !s.is_admin() {
        return error_page(f, WebError::Forbidden);
    }
    let query = q.get("q").cloned().unwrap_or_default();
    let held = page!(f, ops::quarantine_search(&ctx(&app, &s, &peer), &query).await);
    render(QuarantinePage { f, held, q: query })
}

async fn my_quarantine(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer) -> Response {
    let f = Frame::new(&headers, Some(&s), "/mail/quarantine");
    let held = page!(f, ops::quarantine(&ctx(&app, &s, &peer)).await);
    render(QuarantinePage { f, held, q: String::new() })
}

async fn quarantine_action(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Form(a): Form<IdAction>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/quarantine");
    let c = ctx(&app, &s, &peer);
    match a.op.as_str() {
        "release" => {
            let qid = page!(f, ops::quarantine_release(&c, &a.id).await);
            back("/admin/quarantine", &format!("released {} as {qid}", a.id))
        }
        "delete" => {
            page!(f, ops::quarantine_delete(&c, &a.id).await);
            back("/admin/quarantine", &format!("deleted {}", a.id))
        }
        other => error_page(f, WebError::BadRequest(format!("unknown action {other}"))),
    }
}

async fn quarantine_preview(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Path(id): Path<String>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/quarantine");
    let m = page!(f, ops::quarantine_preview(&ctx(&app, &s, &peer), &id).await);
    message_page(MessagePage { f, m, folder: String::new(), uid: 0, folders: Vec::new(), images: false, held: true })
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    f: Frame,
    entries: Vec<crate::store::AuditEntry>,
}

async fn audit(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/audit");
    let entries = page!(f, ops::audit_log(&ctx(&app, &s, &peer)).await);
    render(AuditPage { f, entries })
}

#[derive(Template)]
#[template(path = "admin_logs.html")]
struct LogsPage {
    f: Frame,
    since: String,
    until: String,
    s: crate::logs::recent::Search,
    trace: String,
    level: String,
    lines: Vec<crate::logs::recent::Line>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LogsQuery {
    level: String,
    module: String,
    q: String,
    trace: String,
    since: String,
    until: String,
    notice: Option<String>,
}

async fn logs(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Query(q): Query<LogsQuery>,
) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/logs");
    f.notice = q.notice.clone().unwrap_or_default();
    let c = ctx(&app, &s, &peer);
    let search = crate::logs::recent::Search {
        level: q.level.clone(),
        module: q.module.clone(),
        q: q.q.clone(),
        since_ms: f.lang.parse_local(&q.since),
        until_ms: f.lang.parse_local(&q.until).map(|t| t + 59_999),
        limit: Some(500),
    };
    let lines = if q.trace.trim().is_empty() {
        page!(f, ops::logs(&c, &search).await)
    } else {
        page!(f, ops::trace(&c, &q.trace).await)
    };
    let level = page!(f, ops::log_level(&c));
    render(LogsPage { f, s: search, trace: q.trace, level, lines, since: q.since, until: q.until })
}

#[derive(Deserialize)]
struct LevelForm {
    spec: String,
}

async fn set_log_level(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Form(l): Form<LevelForm>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/logs");
    let now = page!(f, ops::set_log_level(&ctx(&app, &s, &peer), &l.spec).await);
    back("/admin/logs", &now)
}

#[derive(Template)]
#[template(path = "admin_archive.html")]
struct ArchivePage {
    f: Frame,
    q: ops::ArchiveForm,
    query: String,
    found: Vec<crate::store::ArchiveEntry>,
    searched: bool,
}

async fn archive(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Query(q): Query<ops::ArchiveForm>,
    raw: axum::extract::RawQuery,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/archive");
    if !s.is_admin() {
        return error_page(f, WebError::Forbidden);
    }
    let searched = !q.is_empty();
    let found =
        if searched { page!(f, ops::archive(&ctx(&app, &s, &peer), page!(f, q.query())).await) } else { Vec::new() };
    render(ArchivePage { f, q, query: raw.0.unwrap_or_default(), found, searched })
}

async fn archived_message(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    Path(id): Path<String>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/archive");
    if !s.is_admin() {
        return error_page(f, WebError::Forbidden);
    }
    let Some(id) = crate::ids::Id::parse(&id) else {
        return error_page(f, WebError::BadRequest(format!("{id} is not an id")));
    };
    let raw = page!(f, app.store.archive_body(id).await.map_err(WebError::from));
    let Some(m) = crate::web::message::show(&raw, false) else {
        return error_page(f, WebError::BadRequest("the message cannot be parsed".into()));
    };
    message_page(MessagePage { f, m, folder: String::new(), uid: 0, folders: Vec::new(), images: false, held: true })
}

#[derive(Template)]
#[template(path = "admin_appliance.html")]
struct AppliancePage {
    f: Frame,
    a: ops::Appliance,
}

async fn appliance(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/appliance");
    let a = page!(f, ops::appliance(&ctx(&app, &s, &peer)));
    render(AppliancePage { f, a })
}

#[derive(Template)]
#[template(path = "admin_domains.html")]
struct DomainsPage {
    f: Frame,
    domains: Vec<crate::store::Domain>,
}

async fn domains(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Query(q): Query<NextQuery>,
) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/domains");
    f.notice = q.notice.unwrap_or_default();
    let domains = page!(f, ops::domains(&ctx(&app, &s, &peer)).await);
    render(DomainsPage { f, domains })
}

#[derive(Deserialize)]
struct DomainForm {
    name: String,
}

async fn add_domain(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Form(d): Form<DomainForm>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/domains");
    page!(f, ops::add_domain(&ctx(&app, &s, &peer), &d.name).await);
    back("/admin/domains", &d.name)
}

#[derive(Template)]
#[template(path = "admin_aliases.html")]
struct AliasesPage {
    f: Frame,
    aliases: Vec<crate::store::Alias>,
    groups: Vec<crate::store::Group>,
}

async fn aliases(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Query(q): Query<NextQuery>,
) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/aliases");
    f.notice = q.notice.unwrap_or_default();
    let c = ctx(&app, &s, &peer);
    let aliases = page!(f, ops::aliases(&c, None).await);
    let groups = page!(f, ops::groups(&c, None).await);
    render(AliasesPage { f, aliases, groups })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AliasForm {
    op: String,
    address: String,
    target: String,
    name: String,
    member: String,
}

async fn alias_action(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Form(a): Form<AliasForm>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/aliases");
    let c = ctx(&app, &s, &peer);
    let r = match a.op.as_str() {
        "alias" => ops::add_alias(&c, &a.address, &a.target).await,
        "unalias" => ops::remove_alias(&c, &a.address).await,
        "group" => ops::add_group(&c, &a.address, &a.name).await,
        "ungroup" => ops::remove_group(&c, &a.address).await,
        "member" => ops::set_member(&c, &a.address, &a.member, true).await,
        "unmember" => ops::set_member(&c, &a.address, &a.member, false).await,
        other => Err(WebError::BadRequest(format!("unknown action {other}"))),
    };
    page!(f, r);
    back("/admin/aliases", &format!("{} {}", a.op, a.address))
}

#[derive(Template)]
#[template(path = "admin_rules.html")]
struct RulesPage {
    f: Frame,
    script: String,
    error: String,
}

async fn rules(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Query(q): Query<NextQuery>,
) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/rules");
    f.notice = q.notice.unwrap_or_default();
    let script = page!(f, ops::rules(&ctx(&app, &s, &peer)));
    render(RulesPage { f, script, error: String::new() })
}

#[derive(Deserialize)]
struct RulesForm {
    script: String,
}

async fn save_rules(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Form(r): Form<RulesForm>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/rules");
    match ops::set_rules(&ctx(&app, &s, &peer), &r.script).await {
        Ok(()) => back("/admin/rules", f.t("rules_saved")),
        // The text stays in the editor with the error beside it.
        Err(WebError::BadRequest(error)) => {
            (StatusCode::BAD_REQUEST, render(RulesPage { f, script: r.script, error })).into_response()
        }
        Err(e) => error_page(f, e),
    }
}

#[derive(Template)]
#[template(path = "admin_settings.html")]
struct SettingsAdminPage {
    f: Frame,
    sections: Vec<(String, Vec<(String, String)>)>,
    error: String,
    /// The settings as the file has them now (what the form edits).
    v: crate::config::Config,
    editable: bool,
    supervised: bool,
}

impl SettingsAdminPage {
    /// The page answered with `status`, or the error page when the settings cannot be read.
    fn respond(c: &Ctx<'_>, f: Frame, error: String, status: StatusCode) -> Response {
        let sections = match ops::settings(c) {
            Ok(s) => s,
            Err(e) => return error_page(f, e),
        };
        let file = c.app.cfg.source.as_deref().and_then(|p| crate::config::Config::load(Some(p)).ok());
        let editable = file.is_some();
        let page = SettingsAdminPage {
            f,
            sections,
            error,
            v: file.unwrap_or_else(|| (*c.app.cfg).clone()),
            editable,
            supervised: ops::supervised(c),
        };
        (status, render(page)).into_response()
    }
    fn comma(&self, list: &[String]) -> String {
        list.join(", ")
    }
}

async fn settings_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Query(q): Query<NextQuery>,
) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/settings");
    f.notice = q.notice.unwrap_or_default();
    SettingsAdminPage::respond(&ctx(&app, &s, &peer), f, String::new(), StatusCode::OK)
}

/// The settings form: every field is sent; unticked boxes are absent.
#[derive(Deserialize, Default)]
#[serde(default)]
struct SettingsForm {
    smarthost: String,
    smarthost_user: String,
    smarthost_password: String,
    smarthost_require_tls: Option<String>,
    max_message_mb: String,
    max_recipients: String,
    max_connections: String,
    max_connections_per_ip: String,
    messages_per_ip_per_minute: String,
    blocked_extensions: String,
    extension_action: String,
    spam_enabled: Option<String>,
    junk_at: String,
    quarantine_at: String,
    reject_at: String,
    dnsbl: String,
    uribl: String,
}

fn number<T: std::str::FromStr>(name: &str, s: &str) -> Result<Option<T>, WebError> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    s.trim().parse().map(Some).map_err(|_| WebError::BadRequest(format!("{name}: {s} is not a number")))
}

impl SettingsForm {
    fn change(self) -> Result<ops::SettingsChange, WebError> {
        Ok(ops::SettingsChange {
            smarthost_require_tls: Some(self.smarthost_require_tls.is_some()),
            spam_enabled: Some(self.spam_enabled.is_some()),
            max_message_mb: number("max_message_mb", &self.max_message_mb)?,
            max_recipients: number("max_recipients", &self.max_recipients)?,
            max_connections: number("max_connections", &self.max_connections)?,
            max_connections_per_ip: number("max_connections_per_ip", &self.max_connections_per_ip)?,
            messages_per_ip_per_minute: number("messages_per_ip_per_minute", &self.messages_per_ip_per_minute)?,
            junk_at: number("junk_at", &self.junk_at)?,
            quarantine_at: number("quarantine_at", &self.quarantine_at)?,
            reject_at: number("reject_at", &self.reject_at)?,
            smarthost: Some(self.smarthost),
            smarthost_user: Some(self.smarthost_user),
            smarthost_password: Some(self.smarthost_password),
            blocked_extensions: Some(self.blocked_extensions),
            extension_action: Some(self.extension_action),
            dnsbl: Some(self.dnsbl),
            uribl: Some(self.uribl),
        })
    }
}

async fn update_settings(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Form(form): Form<SettingsForm>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/settings");
    let c = ctx(&app, &s, &peer);
    let result = match form.change() {
        Ok(ch) => ops::update_settings(&c, ch).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) if app.cfg.cluster_dir().exists() => back("/admin/settings", f.t("settings_saved_cluster")),
        Ok(_) => back("/admin/settings", f.t("settings_saved")),
        Err(WebError::BadRequest(error)) => SettingsAdminPage::respond(&c, f, error, StatusCode::BAD_REQUEST),
        Err(e) => error_page(f, e),
    }
}

async fn restart(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/settings");
    page!(f, ops::restart(&ctx(&app, &s, &peer)).await);
    back("/admin", f.t("restarting"))
}

#[derive(Deserialize)]
struct CertForm {
    cert: String,
    key: String,
}

async fn replace_certificate(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Form(cf): Form<CertForm>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/settings");
    let c = ctx(&app, &s, &peer);
    match ops::replace_certificate(&c, &cf.cert, &cf.key).await {
        Ok(fp) => back("/admin/settings", &format!("{} SHA-256 {fp}", f.t("cert_replaced"))),
        Err(WebError::BadRequest(error)) => SettingsAdminPage::respond(&c, f, error, StatusCode::BAD_REQUEST),
        Err(e) => error_page(f, e),
    }
}

async fn queued(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Path(id): Path<String>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/queue");
    let (_, m) = page!(f, ops::queued(&ctx(&app, &s, &peer), &id).await);
    message_page(MessagePage { f, m, folder: String::new(), uid: 0, folders: Vec::new(), images: false, held: true })
}
