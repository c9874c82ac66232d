//! The HTML pages: askama templates (`templates/`) over the same
//! operations as the API. Forms post back to the page with the CSRF token in
//! their action URL and answer with a redirect (post/redirect/get), so a
//! reload never repeats an action.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::i18n::Lang;
use super::message::{Draft, Shown, address_list};
use super::ops::{self, Ctx, Folder, Listing};
use super::session::{self, Auth, Session};
use super::{App, WebError};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(root))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/lang/{code}", get(set_lang))
        .route("/static/app.js", get(|| async { static_file("text/javascript", include_str!("../../static/app.js")) }))
        .route("/static/style.css", get(|| async { static_file("text/css", include_str!("../../static/style.css")) }))
        .route("/admin", get(dashboard))
        .route("/admin/accounts", get(accounts).post(create_account))
        .route("/admin/accounts/import", post(import_accounts))
        .route("/admin/accounts/{address}", get(account).post(update_account))
        .route("/admin/queue", get(queue).post(queue_action))
        .route("/admin/quarantine", get(quarantine).post(quarantine_action))
        .route("/admin/quarantine/{id}", get(quarantine_preview))
        .route("/admin/audit", get(audit))
        .route("/admin/logs", get(logs).post(set_log_level))
        .route("/admin/appliance", get(appliance))
        .route("/admin/domains", get(domains).post(add_domain))
        .route("/admin/rules", get(rules).post(save_rules))
        .route("/admin/settings", get(settings_page).post(replace_certificate))
        .route("/admin/aliases", get(aliases).post(alias_action))
        .route("/admin/archive", get(archive))
        .route("/admin/archive/{id}", get(archived_message))
        .route("/mail", get(mail))
        .route("/mail/read", get(read))
        .route("/mail/attachment", get(attachment))
        .route("/mail/action", post(action))
        .route("/mail/compose", get(compose).post(send))
        .route("/mail/settings", get(settings).post(save_settings))
        .route("/mail/filter", post(save_filter))
        .route("/mail/quarantine", get(my_quarantine))
}

fn static_file(ctype: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, ctype), (header::CACHE_CONTROL, "max-age=3600")], body).into_response()
}

/// What every page's frame needs: language, who, the CSRF token.
pub struct Frame {
    pub lang: Lang,
    pub user: String,
    pub csrf: String,
    pub admin: bool,
    pub manager: bool,
    pub mailbox: bool,
    pub here: String,
    pub notice: String,
}

impl Frame {
    fn new(headers: &HeaderMap, s: Option<&Session>, here: &str) -> Frame {
        Frame {
            lang: Lang::of(headers),
            user: s.map(|s| s.user.clone()).unwrap_or_default(),
            csrf: s.map(|s| s.csrf.clone()).unwrap_or_default(),
            admin: s.is_some_and(|s| s.is_admin()),
            manager: s.is_some_and(|s| s.is_admin() || s.domain().is_some()),
            mailbox: s.is_some_and(|s| s.has_mailbox()),
            here: super::urlencode(here),
            notice: String::new(),
        }
    }
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }
    pub fn date(&self, unix: &i64) -> String {
        self.lang.date(*unix)
    }
    pub fn ms(&self, unix_ms: &i64) -> String {
        self.lang.time_ms(*unix_ms)
    }
    pub fn opt_date(&self, unix: &Option<i64>) -> String {
        unix.map(|u| self.lang.date(u)).unwrap_or_default()
    }
    pub fn kib(&self, n: &i64) -> String {
        format!("{} KiB", (n + 1023) / 1024)
    }
    /// A folder's name as shown: the special folders in the reader's language.
    pub fn folder(&self, name: &str, special_use: &Option<String>) -> String {
        let key = match (name, special_use.as_deref()) {
            ("INBOX", _) => "folder_inbox",
            (_, Some("\\Sent")) => "folder_sent",
            (_, Some("\\Drafts")) => "folder_drafts",
            (_, Some("\\Junk")) => "folder_junk",
            (_, Some("\\Trash")) => "folder_trash",
            (_, Some("\\Archive")) => "folder_archive",
            _ => return name.to_string(),
        };
        self.t(key).to_string()
    }
    pub fn role(&self, r: &crate::store::Role) -> &'static str {
        self.lang.t(match r {
            crate::store::Role::User => "role_user",
            crate::store::Role::DomainAdmin => "role_domain_admin",
            crate::store::Role::Admin => "role_admin",
        })
    }
    pub fn enc(&self, s: &str) -> String {
        super::urlencode(s)
    }
}

fn render(t: impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("template error: {e}")).into_response(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    f: Frame,
    message: String,
}

fn error_page(f: Frame, e: WebError) -> Response {
    let status = e.status();
    let message = match &e {
        WebError::Forbidden => f.t("forbidden").to_string(),
        WebError::NotFound(_) => format!("{} ({e})", f.t("not_found")),
        _ => e.to_string(),
    };
    (status, render(ErrorPage { f, message })).into_response()
}

/// Runs a page body, turning an error into the error page.
macro_rules! page {
    ($f:expr, $body:expr) => {
        match $body {
            Ok(r) => r,
            Err(e) => return error_page($f, e),
        }
    };
}

fn back(to: &str, notice: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    let to = if notice.is_empty() { to.to_string() } else { format!("{to}{sep}notice={}", super::urlencode(notice)) };
    Redirect::to(&to).into_response()
}

/// Only local paths are followed after login or a language switch.
fn local(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

async fn root(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match session::cookie(&headers, session::COOKIE).and_then(|t| app.sessions.get(&t)) {
        Some(s) if s.has_mailbox() => Redirect::to("/mail").into_response(),
        Some(_) => Redirect::to("/admin").into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    f: Frame,
    pre: String,
    next: String,
    failed: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NextQuery {
    next: Option<String>,
    notice: Option<String>,
}

async fn login_page(headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    let pre = crate::ids::token(24);
    let f = Frame::new(&headers, None, "/login");
    let failed = q.notice.map(|n| f.t(if n == "locked" { "locked_out" } else { "login_failed" }).to_string()).unwrap_or_default();
    let page = render(LoginPage { f, pre: pre.clone(), next: super::urlencode(local(q.next.as_deref())), failed });
    ([(header::SET_COOKIE, session::set_cookie(session::PRE_COOKIE, &pre, Some(3600)))], page).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
}

async fn login(State(app): State<Arc<App>>, p: axum::extract::ConnectInfo<std::net::SocketAddr>, Query(q): Query<NextQuery>, Form(l): Form<LoginForm>) -> Response {
    match ops::login(&app, crate::cidr::canonical(p.0.ip()), &l.user, &l.password).await {
        Ok((token, s)) => {
            let default = if s.has_mailbox() { "/mail" } else { "/admin" };
            let to = match local(q.next.as_deref()) {
                "/" => default,
                n => n,
            };
            ([(header::SET_COOKIE, session::set_cookie(session::COOKIE, &token, None))], Redirect::to(to)).into_response()
        }
        Err(WebError::Locked) => Redirect::to("/login?notice=locked").into_response(),
        Err(_) => Redirect::to(&format!("/login?notice=failed&next={}", super::urlencode(local(q.next.as_deref())))).into_response(),
    }
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(t) = session::cookie(&headers, session::COOKIE) {
        app.sessions.remove(&t);
    }
    ([(header::SET_COOKIE, session::set_cookie(session::COOKIE, "", Some(0)))], Redirect::to("/login")).into_response()
}

async fn set_lang(Path(code): Path<String>, Query(q): Query<NextQuery>) -> Response {
    let lang = Lang::from_code(&code).unwrap_or(Lang::En);
    let cookie = format!("hato_lang={}; Path=/; Secure; SameSite=Strict; Max-Age=31536000", lang.code());
    ([(header::SET_COOKIE, cookie)], Redirect::to(local(q.next.as_deref()))).into_response()
}

fn ctx<'a>(app: &'a Arc<App>, s: &'a Session, peer: &axum::extract::ConnectInfo<std::net::SocketAddr>) -> Ctx<'a> {
    Ctx { app, s, ip: crate::cidr::canonical(peer.0.ip()) }
}

type Peer = axum::extract::ConnectInfo<std::net::SocketAddr>;

// ---- admin -----------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_dashboard.html")]
struct Dashboard {
    f: Frame,
    appliance: Option<crate::supervisor::status::ApplianceStatus>,
}

async fn dashboard(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin");
    if !s.is_admin() {
        return if s.domain().is_some() { Redirect::to("/admin/accounts").into_response() } else { error_page(f, WebError::Forbidden) };
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

async fn accounts(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Query(q): Query<HashMap<String, String>>) -> Response {
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

async fn create_account(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Form(a): Form<AccountForm>) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/accounts");
    let n = ops::NewAccount { address: a.address, password: a.password, display_name: a.display_name, quota_mb: a.quota_mb.unwrap_or(0), role: role_of(&a.role) };
    let (acct, pw) = page!(f, ops::create_account(&ctx(&app, &s, &peer), n).await);
    let created = match pw {
        Some(pw) => format!("{} {pw}", acct.address),
        None => acct.address.clone(),
    };
    back(&format!("/admin/accounts?created={}", super::urlencode(&created)), "")
}

#[derive(Deserialize)]
struct ImportForm {
    csv: String,
}

async fn import_accounts(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Form(i): Form<ImportForm>) -> Response {
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
    back(&format!("/admin/accounts?created={}", super::urlencode(&summary.join("\n"))), "")
}

#[derive(Template)]
#[template(path = "admin_account.html")]
struct AccountPage {
    f: Frame,
    a: crate::store::Account,
}

async fn account(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Path(address): Path<String>, Query(q): Query<NextQuery>) -> Response {
    let mut f = Frame::new(&headers, Some(&s), &format!("/admin/accounts/{address}"));
    f.notice = q.notice.unwrap_or_default();
    let a = page!(f, ops::account(&ctx(&app, &s, &peer), &address).await);
    render(AccountPage { f, a })
}

async fn update_account(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Path(address): Path<String>, Form(a): Form<AccountForm>) -> Response {
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
    back(&format!("/admin/accounts/{}", super::urlencode(&address)), "saved")
}

#[derive(Template)]
#[template(path = "admin_queue.html")]
struct QueuePage {
    f: Frame,
    queue: Vec<crate::store::QueuedMessage>,
}

async fn queue(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/queue");
    f.notice = q.get("notice").cloned().unwrap_or_default();
    let filter = crate::store::QueueFilter { sender: q.get("sender").cloned().filter(|x| !x.is_empty()), recipient: q.get("recipient").cloned().filter(|x| !x.is_empty()), state: None };
    let queue = page!(f, ops::queue(&ctx(&app, &s, &peer), filter).await);
    render(QueuePage { f, queue })
}

#[derive(Deserialize)]
struct IdAction {
    id: String,
    op: String,
}

async fn queue_action(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Form(a): Form<IdAction>) -> Response {
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

async fn quarantine(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Query(q): Query<HashMap<String, String>>) -> Response {
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

async fn quarantine_action(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Form(a): Form<IdAction>) -> Response {
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

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    f: Frame,
    m: Shown,
    folder: String,
    uid: i64,
    folders: Vec<Folder>,
    images: bool,
    held: bool,
}

/// Message HTML goes into a sandboxed frame; the page's CSP lets images
/// from the network in only when the reader asked for them.
fn message_page(p: MessagePage) -> Response {
    let images = p.images;
    let mut r = render(p);
    if images {
        r.headers_mut().insert(
            "x-hato-csp",
            HeaderValue::from_static("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"),
        );
    }
    r
}

async fn quarantine_preview(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Path(id): Path<String>) -> Response {
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

// ---- WebMail -------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
struct MailQuery {
    folder: Option<String>,
    uid: Option<i64>,
    page: Option<usize>,
    sort: Option<String>,
    q: Option<String>,
    images: Option<String>,
    index: Option<usize>,
    notice: Option<String>,
    reply: Option<String>,
    forward: Option<String>,
    all: Option<String>,
    draft: Option<String>,
}

#[derive(Template)]
#[template(path = "mail.html")]
struct MailPage {
    f: Frame,
    folders: Vec<Folder>,
    listing: Listing,
    sort: String,
    q: String,
    /// The Drafts folder: its messages open in the editor.
    drafts: bool,
}

async fn mail(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Query(q): Query<MailQuery>) -> Response {
    let folder = q.folder.clone().unwrap_or_else(|| "INBOX".into());
    let mut f = Frame::new(&headers, Some(&s), &format!("/mail?folder={folder}"));
    f.notice = q.notice.clone().unwrap_or_default();
    let c = ctx(&app, &s, &peer);
    let folders = page!(f, ops::folders(&c).await);
    let sort = q.sort.clone().unwrap_or_else(|| "newest".into());
    let query = q.q.clone().unwrap_or_default();
    let listing = page!(f, ops::list(&c, &folder, q.page.unwrap_or(1), &sort, &query).await);
    let drafts = folders.iter().any(|b| b.name == folder && b.special_use.as_deref() == Some("\\Drafts"));
    render(MailPage { f, folders, listing, sort, q: query, drafts })
}

async fn read(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Query(q): Query<MailQuery>) -> Response {
    let folder = q.folder.clone().unwrap_or_else(|| "INBOX".into());
    let uid = q.uid.unwrap_or(0);
    let f = Frame::new(&headers, Some(&s), &format!("/mail/read?folder={folder}&uid={uid}"));
    let c = ctx(&app, &s, &peer);
    let images = q.images.is_some();
    let m = page!(f, ops::read(&c, &folder, uid, images).await);
    let folders = page!(f, ops::folders(&c).await);
    message_page(MessagePage { f, m, folder, uid, folders, images, held: false })
}

async fn attachment(State(app): State<Arc<App>>, Auth(s): Auth, peer: Peer, Query(q): Query<MailQuery>) -> Response {
    let c = ctx(&app, &s, &peer);
    match ops::attachment(&c, q.folder.as_deref().unwrap_or("INBOX"), q.uid.unwrap_or(0), q.index.unwrap_or(0)).await {
        Ok((name, bytes)) => super::api::download(&name, bytes),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MailAction {
    folder: String,
    uid: i64,
    op: String,
    to: String,
}

async fn action(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Form(a): Form<MailAction>) -> Response {
    let f = Frame::new(&headers, Some(&s), "/mail");
    let c = ctx(&app, &s, &peer);
    let list = format!("/mail?folder={}", super::urlencode(&a.folder));
    let here = format!("/mail/read?folder={}&uid={}", super::urlencode(&a.folder), a.uid);
    let (result, to) = match a.op.as_str() {
        "delete" => (ops::delete_message(&c, &a.folder, a.uid).await, list),
        "move" => (ops::move_message(&c, &a.folder, a.uid, &a.to).await, list),
        "spam" => (ops::mark_spam(&c, &a.folder, a.uid, true).await, list),
        "notspam" => (ops::mark_spam(&c, &a.folder, a.uid, false).await, list),
        "flag" => (ops::set_flags(&c, &a.folder, a.uid, &["\\Flagged"], &[]).await, here),
        "unflag" => (ops::set_flags(&c, &a.folder, a.uid, &[], &["\\Flagged"]).await, here),
        "unread" => (ops::set_flags(&c, &a.folder, a.uid, &[], &["\\Seen"]).await, list),
        other => (Err(WebError::BadRequest(format!("unknown action {other}"))), list),
    };
    page!(f, result);
    back(&to, "")
}

#[derive(Template)]
#[template(path = "compose.html")]
struct ComposePage {
    f: Frame,
    to: String,
    cc: String,
    subject: String,
    body: String,
    in_reply_to: String,
    references: String,
    forward_of: String,
    draft_of: String,
}

fn quote(text: &str) -> String {
    text.lines().map(|l| format!("> {l}")).collect::<Vec<_>>().join("\n")
}

async fn compose(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Query(q): Query<MailQuery>) -> Response {
    let f = Frame::new(&headers, Some(&s), "/mail/compose");
    let c = ctx(&app, &s, &peer);
    let mut p = ComposePage { f, to: String::new(), cc: String::new(), subject: String::new(), body: String::new(), in_reply_to: String::new(), references: String::new(), forward_of: String::new(), draft_of: String::new() };
    if let Some((folder, uid)) = q.draft.as_deref().and_then(|d| d.rsplit_once(':')).and_then(|(fo, u)| Some((fo.to_string(), u.parse::<i64>().ok()?))) {
        let m = page!(p.f, ops::read(&c, &folder, uid, false).await);
        p.to = m.to_addrs.join(", ");
        p.cc = m.cc_addrs.join(", ");
        p.subject = m.subject;
        p.body = m.text;
        p.draft_of = format!("{folder}:{uid}");
        return render(p);
    }
    let source = q.reply.as_ref().or(q.forward.as_ref()).and_then(|r| r.rsplit_once(':')).and_then(|(folder, uid)| Some((folder.to_string(), uid.parse::<i64>().ok()?)));
    if let Some((folder, uid)) = source {
        let m = page!(p.f, ops::read(&c, &folder, uid, false).await);
        let date = p.f.opt_date(&m.date);
        if q.forward.is_some() {
            p.subject = if m.subject.to_lowercase().starts_with("fwd:") { m.subject.clone() } else { format!("Fwd: {}", m.subject) };
            p.body = format!("\n\n---------- Forwarded message ----------\nFrom: {}\nDate: {date}\nSubject: {}\nTo: {}\n\n{}", m.from, m.subject, m.to, m.text);
            p.forward_of = format!("{folder}:{uid}");
        } else {
            p.subject = if m.subject.to_lowercase().starts_with("re:") { m.subject.clone() } else { format!("Re: {}", m.subject) };
            p.to = m.reply_to.clone();
            if q.all.is_some() {
                let others: Vec<String> = m.to_addrs.iter().chain(&m.cc_addrs).filter(|a| !a.eq_ignore_ascii_case(&s.user) && !a.eq_ignore_ascii_case(&m.reply_to)).cloned().collect();
                p.cc = others.join(", ");
            }
            p.body = format!("\n\n{date}, {}:\n{}", m.from, quote(&m.text));
            p.in_reply_to = m.message_id.clone();
            p.references = m.references.clone();
        }
    }
    render(p)
}

/// The compose form: multipart, so files come along.
async fn send(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, mut form: Multipart) -> Response {
    let f = Frame::new(&headers, Some(&s), "/mail/compose");
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut attachments = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(x)) => x,
            Ok(None) => break,
            Err(e) => return error_page(f, WebError::BadRequest(format!("the form could not be read: {e}"))),
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "files" {
            let file = field.file_name().unwrap_or("attachment").to_string();
            let ctype = field.content_type().unwrap_or("application/octet-stream").to_string();
            let bytes = page!(f, field.bytes().await.map_err(|e| WebError::BadRequest(format!("{file}: {e}"))));
            if !bytes.is_empty() {
                attachments.push((file, ctype, bytes.to_vec()));
            }
        } else {
            let text = page!(f, field.text().await.map_err(|e| WebError::BadRequest(e.to_string())));
            fields.insert(name, text);
        }
    }
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let c = ctx(&app, &s, &peer);
    if let Some((folder, uid)) = get("forward_of").rsplit_once(':').and_then(|(fo, u)| Some((fo.to_string(), u.parse::<i64>().ok()?))) {
        // The forwarded message goes along whole, as an attachment.
        let m = page!(f, ops::read(&c, &folder, uid, false).await);
        let raw = page!(f, app.store.contents(s.user.clone(), folder, vec![uid]).await.map_err(WebError::from));
        if let Some((_, bytes)) = raw.into_iter().next() {
            attachments.push((format!("{}.eml", m.subject.chars().filter(|c| c.is_alphanumeric() || *c == ' ').take(40).collect::<String>().trim()), "message/rfc822".into(), bytes));
        }
    }
    let d = Draft {
        to: page!(f, address_list(&get("to")).map_err(WebError::BadRequest)),
        cc: page!(f, address_list(&get("cc")).map_err(WebError::BadRequest)),
        subject: get("subject"),
        body: get("body"),
        in_reply_to: get("in_reply_to"),
        references: get("references"),
        attachments,
        ..Draft::default()
    };
    let old_draft = get("draft_of").rsplit_once(':').and_then(|(fo, u)| Some((fo.to_string(), u.parse::<i64>().ok()?)));
    let saving = get("do") == "draft";
    if saving {
        page!(f, ops::save_draft(&c, d).await);
    } else {
        page!(f, ops::send(&c, d).await);
    }
    // The draft this came from is replaced by the new draft, or done with once sent.
    if let Some((folder, uid)) = old_draft {
        page!(f, ops::discard_draft(&c, &folder, uid).await);
    }
    if saving { back("/mail?folder=Drafts", f.t("draft_saved")) } else { back("/mail", f.t("sent_ok")) }
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    f: Frame,
    on: bool,
    subject: String,
    body: String,
    days: u32,
    filter: String,
    filter_error: String,
}

async fn settings(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Query(q): Query<NextQuery>) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/mail/settings");
    f.notice = q.notice.unwrap_or_default();
    let c = ctx(&app, &s, &peer);
    let v = page!(f, ops::vacation(&c).await);
    let filter = page!(f, ops::my_filter(&c).await);
    let (on, subject, body, days) = match v {
        Some(v) => (true, v.subject, v.body, v.days),
        None => (false, String::new(), String::new(), 7),
    };
    render(SettingsPage { f, on, subject, body, days, filter, filter_error: String::new() })
}

#[derive(Deserialize)]
struct FilterForm {
    script: String,
}

async fn save_filter(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Form(fl): Form<FilterForm>) -> Response {
    let f = Frame::new(&headers, Some(&s), "/mail/settings");
    let c = ctx(&app, &s, &peer);
    match ops::set_my_filter(&c, &fl.script).await {
        Ok(()) => back("/mail/settings", f.t("rules_saved")),
        Err(WebError::BadRequest(error)) => {
            let v = page!(f, ops::vacation(&c).await);
            let (on, subject, body, days) = v.map(|v| (true, v.subject, v.body, v.days)).unwrap_or((false, String::new(), String::new(), 7));
            (StatusCode::BAD_REQUEST, render(SettingsPage { f, on, subject, body, days, filter: fl.script, filter_error: error })).into_response()
        }
        Err(e) => error_page(f, e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VacationForm {
    on: Option<String>,
    subject: String,
    body: String,
    days: Option<u32>,
}

async fn save_settings(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Form(v): Form<VacationForm>) -> Response {
    let f = Frame::new(&headers, Some(&s), "/mail/settings");
    let vacation = v.on.is_some().then(|| crate::vacation::Vacation { subject: v.subject, body: v.body, days: v.days.unwrap_or(7).max(1) });
    page!(f, ops::set_vacation(&ctx(&app, &s, &peer), vacation).await);
    back("/mail/settings", f.t("save"))
}

#[derive(Template)]
#[template(path = "admin_logs.html")]
struct LogsPage {
    f: Frame,
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
    notice: Option<String>,
}

async fn logs(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Query(q): Query<LogsQuery>) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/logs");
    f.notice = q.notice.clone().unwrap_or_default();
    let c = ctx(&app, &s, &peer);
    let search = crate::logs::recent::Search { level: q.level.clone(), module: q.module.clone(), q: q.q.clone(), limit: Some(500), ..Default::default() };
    let lines = if q.trace.trim().is_empty() { page!(f, ops::logs(&c, &search)) } else { page!(f, ops::trace(&c, &q.trace)) };
    let level = page!(f, ops::log_level(&c));
    render(LogsPage { f, s: search, trace: q.trace, level, lines })
}

#[derive(Deserialize)]
struct LevelForm {
    spec: String,
}

async fn set_log_level(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Form(l): Form<LevelForm>) -> Response {
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

async fn archive(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Query(q): Query<ops::ArchiveForm>, raw: axum::extract::RawQuery) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/archive");
    if !s.is_admin() {
        return error_page(f, WebError::Forbidden);
    }
    let searched = !q.is_empty();
    let found = if searched { page!(f, ops::archive(&ctx(&app, &s, &peer), page!(f, q.query())).await) } else { Vec::new() };
    render(ArchivePage { f, q, query: raw.0.unwrap_or_default(), found, searched })
}

async fn archived_message(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, Path(id): Path<String>) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/archive");
    if !s.is_admin() {
        return error_page(f, WebError::Forbidden);
    }
    let Some(id) = crate::ids::Id::parse(&id) else { return error_page(f, WebError::BadRequest(format!("{id} is not an id"))) };
    let raw = page!(f, app.store.archive_body(id).await.map_err(WebError::from));
    let Some(m) = super::message::show(&raw, false) else { return error_page(f, WebError::BadRequest("the message cannot be parsed".into())) };
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

async fn domains(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Query(q): Query<NextQuery>) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/domains");
    f.notice = q.notice.unwrap_or_default();
    let domains = page!(f, ops::domains(&ctx(&app, &s, &peer)).await);
    render(DomainsPage { f, domains })
}

#[derive(Deserialize)]
struct DomainForm {
    name: String,
}

async fn add_domain(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Form(d): Form<DomainForm>) -> Response {
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

async fn aliases(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Query(q): Query<NextQuery>) -> Response {
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

async fn alias_action(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Form(a): Form<AliasForm>) -> Response {
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

async fn rules(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Query(q): Query<NextQuery>) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/rules");
    f.notice = q.notice.unwrap_or_default();
    let script = page!(f, ops::rules(&ctx(&app, &s, &peer)));
    render(RulesPage { f, script, error: String::new() })
}

#[derive(Deserialize)]
struct RulesForm {
    script: String,
}

async fn save_rules(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Form(r): Form<RulesForm>) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/rules");
    match ops::set_rules(&ctx(&app, &s, &peer), &r.script).await {
        Ok(()) => back("/admin/rules", f.t("rules_saved")),
        // The text stays in the editor with the error beside it.
        Err(WebError::BadRequest(error)) => (StatusCode::BAD_REQUEST, render(RulesPage { f, script: r.script, error })).into_response(),
        Err(e) => error_page(f, e),
    }
}

#[derive(Template)]
#[template(path = "admin_settings.html")]
struct SettingsAdminPage {
    f: Frame,
    sections: Vec<(String, Vec<(String, String)>)>,
    error: String,
}

async fn settings_page(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Query(q): Query<NextQuery>) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/settings");
    f.notice = q.notice.unwrap_or_default();
    let sections = page!(f, ops::settings(&ctx(&app, &s, &peer)));
    render(SettingsAdminPage { f, sections, error: String::new() })
}

#[derive(Deserialize)]
struct CertForm {
    cert: String,
    key: String,
}

async fn replace_certificate(State(app): State<Arc<App>>, headers: HeaderMap, Auth(s): Auth, peer: Peer, Form(cf): Form<CertForm>) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/settings");
    let c = ctx(&app, &s, &peer);
    match ops::replace_certificate(&c, &cf.cert, &cf.key).await {
        Ok(fp) => back("/admin/settings", &format!("{} SHA-256 {fp}", f.t("cert_replaced"))),
        Err(WebError::BadRequest(error)) => {
            let sections = page!(f, ops::settings(&c));
            (StatusCode::BAD_REQUEST, render(SettingsAdminPage { f, sections, error })).into_response()
        }
        Err(e) => error_page(f, e),
    }
}
