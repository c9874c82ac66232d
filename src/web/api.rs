//! The JSON API (`/api/v1`): the same operations as the pages (`ops`),
//! described in `openapi.json`. Authentication is the session cookie from
//! `POST /api/v1/login`; every request that changes something also sends
//! the session's CSRF token as `X-CSRF-Token`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::message::{Draft, address_list};
use super::ops::{self, Ctx};
use super::session::{self, Auth};
use super::{App, WebError};

type Api<T = Value> = Result<Json<T>, WebError>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/accounts", get(accounts).post(create_account))
        .route("/api/v1/accounts/{address}", get(account).patch(update_account).delete(delete_account))
        .route("/api/v1/domains", get(domains).post(add_domain))
        .route("/api/v1/queue", get(queue))
        .route("/api/v1/queue/{id}", get(queued))
        .route("/api/v1/queue/{id}/{action}", post(queue_action))
        .route("/api/v1/quarantine", get(quarantine))
        .route("/api/v1/quarantine/{id}", get(quarantine_preview).delete(quarantine_delete))
        .route("/api/v1/quarantine/{id}/release", post(quarantine_release))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/folders", get(folders))
        .route("/api/v1/folders/{folder}/messages", get(list))
        .route("/api/v1/folders/{folder}/messages/{uid}", get(read).delete(delete_message))
        .route("/api/v1/folders/{folder}/messages/{uid}/flags", post(flags))
        .route("/api/v1/folders/{folder}/messages/{uid}/move", post(move_message))
        .route("/api/v1/folders/{folder}/messages/{uid}/attachments/{index}", get(attachment))
        .route("/api/v1/send", post(send))
        .route("/api/v1/vacation", get(vacation).put(set_vacation))
        .route("/api/v1/filter", get(filter).put(set_filter))
        .route("/api/v1/appliance", get(appliance))
        .route("/api/v1/rules", get(rules).put(set_rules))
        .route("/api/v1/settings", get(settings).patch(update_settings))
        .route("/api/v1/restart", post(restart))
        .route("/api/v1/cluster", get(cluster))
        .route("/api/v1/cluster/init", post(cluster_init))
        .route("/api/v1/cluster/token", post(cluster_token))
        .route("/api/v1/cluster/join", post(cluster_join))
        .route("/api/v1/cluster/leave", post(cluster_leave))
        .route("/api/v1/cluster/restart-rolling", post(cluster_restart_rolling))
        .route("/api/v1/cluster/vips", axum::routing::put(cluster_vips))
        .route("/api/v1/lockouts", get(lockouts).delete(clear_lockout))
        .route("/api/v1/tls", axum::routing::put(replace_certificate))
        .route("/api/v1/aliases", get(aliases).post(add_alias))
        .route("/api/v1/aliases/{address}", axum::routing::delete(remove_alias))
        .route("/api/v1/groups", get(groups).post(add_group))
        .route("/api/v1/groups/{address}", axum::routing::delete(remove_group))
        .route("/api/v1/groups/{address}/members", post(add_member))
        .route("/api/v1/groups/{address}/members/{member}", axum::routing::delete(remove_member))
        .route("/api/v1/logs", get(logs))
        .route("/api/v1/logs/level", get(log_level).put(set_log_level))
        .route("/api/v1/trace", get(trace))
        .route("/api/v1/archive", get(archive))
        .route("/api/v1/archive/export", get(archive_export))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("openapi.json")).into_response()
}

#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
}

async fn login(
    State(app): State<Arc<App>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Json(l): Json<Login>,
) -> Response {
    match ops::login(&app, crate::cidr::canonical(peer.ip()), &l.user, &l.password).await {
        Ok((token, s)) => (
            [(header::SET_COOKIE, session::set_cookie(session::COOKIE, &token, None))],
            Json(json!({ "user": s.user, "role": s.role, "csrf": s.csrf })),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(t) = session::cookie(&headers, session::COOKIE) {
        app.sessions.remove(&t).await;
    }
    ([(header::SET_COOKIE, session::set_cookie(session::COOKIE, "", Some(0)))], StatusCode::NO_CONTENT).into_response()
}

/// The caller's address from the connection.
struct Peer(std::net::IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(session::peer(&parts.extensions)))
    }
}

macro_rules! c {
    ($app:expr, $s:expr, $peer:expr) => {
        Ctx { app: &$app, s: &$s, ip: $peer.0 }
    };
}

async fn me(Auth(s): Auth) -> Api {
    Ok(Json(
        json!({ "user": s.user, "role": s.role, "domain": s.domain(), "csrf": s.csrf, "mailbox": s.has_mailbox() }),
    ))
}

async fn stats(State(app): State<Arc<App>>, Auth(s): Auth) -> Api {
    if !s.is_admin() {
        return Err(WebError::Forbidden);
    }
    let now = crate::stats::STATS.snapshot();
    Ok(Json(json!({
        "history": app.history.with_current(&now),
        "stats": now,
        "queue": app.store.queue_summary().await?,
        "connections": app.guard.open_connections(),
    })))
}

#[derive(Deserialize)]
struct DomainQuery {
    domain: Option<String>,
}

async fn accounts(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Query(q): Query<DomainQuery>,
) -> Api<Vec<crate::store::Account>> {
    Ok(Json(ops::accounts(&c!(app, s, p), q.domain).await?))
}

async fn create_account(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Json(n): Json<ops::NewAccount>,
) -> Result<(StatusCode, Json<Value>), WebError> {
    let (a, pw) = ops::create_account(&c!(app, s, p), n).await?;
    Ok((StatusCode::CREATED, Json(json!({ "account": a, "password": pw }))))
}

async fn account(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path(address): Path<String>,
) -> Api<crate::store::Account> {
    Ok(Json(ops::account(&c!(app, s, p), &address).await?))
}

async fn update_account(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path(address): Path<String>,
    Json(patch): Json<ops::AccountPatch>,
) -> Api<crate::store::Account> {
    Ok(Json(ops::update_account(&c!(app, s, p), &address, patch).await?))
}

async fn delete_account(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path(address): Path<String>,
) -> Result<StatusCode, WebError> {
    ops::delete_account(&c!(app, s, p), &address).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn domains(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer) -> Api<Vec<crate::store::Domain>> {
    Ok(Json(ops::domains(&c!(app, s, p)).await?))
}

#[derive(Deserialize)]
struct NewDomain {
    name: String,
}

async fn add_domain(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Json(d): Json<NewDomain>,
) -> Result<StatusCode, WebError> {
    ops::add_domain(&c!(app, s, p), &d.name).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct QueueQuery {
    sender: Option<String>,
    recipient: Option<String>,
    state: Option<String>,
}

async fn queue(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Query(q): Query<QueueQuery>,
) -> Api<Vec<crate::store::QueuedMessage>> {
    let f = crate::store::QueueFilter { sender: q.sender, recipient: q.recipient, state: q.state };
    Ok(Json(ops::queue(&c!(app, s, p), f).await?))
}

async fn queued(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer, Path(id): Path<String>) -> Api {
    let (m, shown) = ops::queued(&c!(app, s, p), &id).await?;
    Ok(Json(json!({ "queued": m, "message": shown })))
}

async fn queue_action(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path((id, action)): Path<(String, String)>,
) -> Api {
    let n = ops::queue_action(&c!(app, s, p), &id, &action).await?;
    Ok(Json(json!({ "recipients": n })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TextQuery {
    q: String,
}

async fn quarantine(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Query(q): Query<TextQuery>,
) -> Api<Vec<crate::store::QuarantineEntry>> {
    Ok(Json(ops::quarantine_search(&c!(app, s, p), &q.q).await?))
}

async fn quarantine_preview(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path(id): Path<String>,
) -> Api<super::message::Shown> {
    Ok(Json(ops::quarantine_preview(&c!(app, s, p), &id).await?))
}

async fn quarantine_release(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer, Path(id): Path<String>) -> Api {
    let qid = ops::quarantine_release(&c!(app, s, p), &id).await?;
    Ok(Json(json!({ "queue_id": qid })))
}

async fn quarantine_delete(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path(id): Path<String>,
) -> Result<StatusCode, WebError> {
    ops::quarantine_delete(&c!(app, s, p), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn audit(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer) -> Api<Vec<crate::store::AuditEntry>> {
    Ok(Json(ops::audit_log(&c!(app, s, p)).await?))
}

async fn folders(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer) -> Api<Vec<ops::Folder>> {
    Ok(Json(ops::folders(&c!(app, s, p)).await?))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    pub page: Option<usize>,
    pub sort: Option<String>,
    pub q: Option<String>,
}

async fn list(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path(folder): Path<String>,
    Query(q): Query<ListQuery>,
) -> Api<ops::Listing> {
    let listing = ops::list(
        &c!(app, s, p),
        &folder,
        q.page.unwrap_or(1),
        q.sort.as_deref().unwrap_or("newest"),
        q.q.as_deref().unwrap_or(""),
    )
    .await?;
    Ok(Json(listing))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReadQuery {
    images: bool,
}

async fn read(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path((folder, uid)): Path<(String, i64)>,
    Query(q): Query<ReadQuery>,
) -> Api<super::message::Shown> {
    Ok(Json(ops::read(&c!(app, s, p), &folder, uid, q.images).await?))
}

async fn delete_message(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path((folder, uid)): Path<(String, i64)>,
) -> Result<StatusCode, WebError> {
    ops::delete_message(&c!(app, s, p), &folder, uid).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FlagChange {
    add: Vec<String>,
    remove: Vec<String>,
}

async fn flags(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path((folder, uid)): Path<(String, i64)>,
    Json(f): Json<FlagChange>,
) -> Result<StatusCode, WebError> {
    let add: Vec<&str> = f.add.iter().map(String::as_str).collect();
    let remove: Vec<&str> = f.remove.iter().map(String::as_str).collect();
    ops::set_flags(&c!(app, s, p), &folder, uid, &add, &remove).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct MoveTo {
    to: String,
}

async fn move_message(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path((folder, uid)): Path<(String, i64)>,
    Json(m): Json<MoveTo>,
) -> Result<StatusCode, WebError> {
    ops::move_message(&c!(app, s, p), &folder, uid, &m.to).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn attachment(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path((folder, uid, index)): Path<(String, i64, usize)>,
) -> Result<Response, WebError> {
    let (name, bytes) = ops::attachment(&c!(app, s, p), &folder, uid, index).await?;
    Ok(download(&name, bytes))
}

/// An attachment, always as a download (never rendered by the browser).
pub fn download(name: &str, bytes: Vec<u8>) -> Response {
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' { c } else { '_' }).collect();
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{}", super::urlencode(name));
    (
        [(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        bytes,
    )
        .into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SendBody {
    to: String,
    cc: String,
    subject: String,
    body: String,
    in_reply_to: String,
    references: String,
    /// (name, content type, base64 bytes)
    attachments: Vec<(String, String, String)>,
    draft: bool,
}

async fn send(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Json(b): Json<SendBody>,
) -> Result<StatusCode, WebError> {
    use base64::Engine;
    let mut attachments = Vec::new();
    for (name, ctype, data) in b.attachments {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.as_bytes())
            .map_err(|e| WebError::BadRequest(format!("attachment {name}: {e}")))?;
        attachments.push((name, ctype, bytes));
    }
    let d = Draft {
        to: address_list(&b.to).map_err(WebError::BadRequest)?,
        cc: address_list(&b.cc).map_err(WebError::BadRequest)?,
        subject: b.subject,
        body: b.body,
        in_reply_to: b.in_reply_to,
        references: b.references,
        attachments,
        ..Draft::default()
    };
    let c = c!(app, s, p);
    if b.draft {
        ops::save_draft(&c, d).await?
    } else {
        ops::send(&c, d).await?
    }
    Ok(StatusCode::ACCEPTED)
}

async fn vacation(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer) -> Api<Option<crate::vacation::Vacation>> {
    Ok(Json(ops::vacation(&c!(app, s, p)).await?))
}

async fn set_vacation(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Json(v): Json<Option<crate::vacation::Vacation>>,
) -> Result<StatusCode, WebError> {
    ops::set_vacation(&c!(app, s, p), v).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logs(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Query(q): Query<crate::logs::recent::Search>,
) -> Api<Vec<crate::logs::recent::Line>> {
    Ok(Json(ops::logs(&c!(app, s, p), &q).await?))
}

#[derive(Deserialize)]
struct Level {
    spec: String,
}

async fn log_level(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer) -> Api {
    Ok(Json(json!({ "level": ops::log_level(&c!(app, s, p))? })))
}

async fn set_log_level(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer, Json(l): Json<Level>) -> Api {
    Ok(Json(json!({ "level": ops::set_log_level(&c!(app, s, p), &l.spec).await? })))
}

#[derive(Deserialize)]
struct TraceQuery {
    q: String,
}

async fn trace(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Query(t): Query<TraceQuery>,
) -> Api<Vec<crate::logs::recent::Line>> {
    Ok(Json(ops::trace(&c!(app, s, p), &t.q).await?))
}

async fn archive(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Query(f): Query<ops::ArchiveForm>,
) -> Api<Vec<crate::store::ArchiveEntry>> {
    Ok(Json(ops::archive(&c!(app, s, p), f.query()?).await?))
}

async fn archive_export(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Query(f): Query<ops::ArchiveForm>,
) -> Result<Response, WebError> {
    let mbox = ops::archive_export(&c!(app, s, p), f.query()?).await?;
    Ok(download("archive.mbox", mbox))
}

async fn appliance(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer) -> Api<ops::Appliance> {
    Ok(Json(ops::appliance(&c!(app, s, p))?))
}

async fn aliases(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Query(q): Query<DomainQuery>,
) -> Api<Vec<crate::store::Alias>> {
    Ok(Json(ops::aliases(&c!(app, s, p), q.domain).await?))
}

#[derive(Deserialize)]
struct NewAlias {
    address: String,
    target: String,
}

async fn add_alias(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Json(a): Json<NewAlias>,
) -> Result<StatusCode, WebError> {
    ops::add_alias(&c!(app, s, p), &a.address, &a.target).await?;
    Ok(StatusCode::CREATED)
}

async fn remove_alias(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path(address): Path<String>,
) -> Result<StatusCode, WebError> {
    ops::remove_alias(&c!(app, s, p), &address).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn groups(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Query(q): Query<DomainQuery>,
) -> Api<Vec<crate::store::Group>> {
    Ok(Json(ops::groups(&c!(app, s, p), q.domain).await?))
}

#[derive(Deserialize)]
struct NewGroup {
    address: String,
    #[serde(default)]
    name: String,
}

async fn add_group(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Json(g): Json<NewGroup>,
) -> Result<StatusCode, WebError> {
    ops::add_group(&c!(app, s, p), &g.address, &g.name).await?;
    Ok(StatusCode::CREATED)
}

async fn remove_group(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path(address): Path<String>,
) -> Result<StatusCode, WebError> {
    ops::remove_group(&c!(app, s, p), &address).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Member {
    member: String,
}

async fn add_member(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path(address): Path<String>,
    Json(m): Json<Member>,
) -> Result<StatusCode, WebError> {
    ops::set_member(&c!(app, s, p), &address, &m.member, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Path((address, member)): Path<(String, String)>,
) -> Result<StatusCode, WebError> {
    ops::set_member(&c!(app, s, p), &address, &member, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Rules {
    script: String,
}

async fn rules(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer) -> Api {
    Ok(Json(json!({ "script": ops::rules(&c!(app, s, p))? })))
}

async fn set_rules(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Json(r): Json<Rules>,
) -> Result<StatusCode, WebError> {
    ops::set_rules(&c!(app, s, p), &r.script).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn filter(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer) -> Api {
    Ok(Json(json!({ "script": ops::my_filter(&c!(app, s, p)).await? })))
}

async fn set_filter(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Json(r): Json<Rules>,
) -> Result<StatusCode, WebError> {
    ops::set_my_filter(&c!(app, s, p), &r.script).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn settings(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer) -> Api {
    let sections = ops::settings(&c!(app, s, p))?;
    let obj: serde_json::Map<String, Value> = sections
        .into_iter()
        .map(|(k, v)| (k, Value::Object(v.into_iter().map(|(a, b)| (a, Value::String(b))).collect())))
        .collect();
    Ok(Json(Value::Object(obj)))
}

async fn update_settings(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Json(ch): Json<ops::SettingsChange>,
) -> Api {
    let changed = ops::update_settings(&c!(app, s, p), ch).await?;
    let applies = if app.cfg.cluster_dir().exists() {
        "saved on every member; in force after each restarts (POST /api/v1/cluster/restart-rolling)"
    } else {
        "after the mail service restarts (POST /api/v1/restart on the appliance)"
    };
    Ok(Json(json!({ "changed": changed, "applies": applies })))
}

async fn restart(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer) -> Result<StatusCode, WebError> {
    ops::restart(&c!(app, s, p)).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn cluster(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer) -> Api<ops::ClusterView> {
    Ok(Json(ops::cluster(&c!(app, s, p)).await?))
}

async fn cluster_init(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Json(f): Json<ops::ClusterForm>,
) -> Api<crate::cluster::node::NodeFile> {
    Ok(Json(ops::cluster_init(&c!(app, s, p), f).await?))
}

async fn cluster_leave(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer) -> Api<crate::cluster::leave::Departure> {
    Ok(Json(ops::cluster_leave(&c!(app, s, p)).await?))
}

async fn cluster_restart_rolling(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer) -> Api {
    ops::cluster_restart_rolling(&c!(app, s, p)).await?;
    Ok(Json(json!({ "started": true })))
}

async fn lockouts(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer) -> Api<Vec<crate::directory::Lockout>> {
    Ok(Json(ops::lockouts(&c!(app, s, p)).await?))
}

#[derive(Deserialize)]
struct LockoutQuery {
    #[serde(default)]
    ip: String,
    #[serde(default)]
    user: String,
}

async fn clear_lockout(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer, Query(q): Query<LockoutQuery>) -> Api {
    Ok(Json(json!({ "cleared": ops::clear_lockout(&c!(app, s, p), &q.ip, &q.user).await? })))
}

#[derive(Deserialize)]
struct Vips {
    vips: Vec<crate::cluster::vrrp::Vip>,
}

async fn cluster_vips(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Json(v): Json<Vips>,
) -> Api<crate::cluster::node::NodeFile> {
    Ok(Json(ops::cluster_vips(&c!(app, s, p), v.vips).await?))
}

async fn cluster_token(State(app): State<Arc<App>>, Auth(s): Auth, p: Peer) -> Api {
    let token = ops::cluster_token(&c!(app, s, p)).await?;
    Ok(Json(json!({ "token": token, "valid_secs": crate::cluster::join::TOKEN_LIFETIME_SECS })))
}

async fn cluster_join(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Json(f): Json<ops::ClusterForm>,
) -> Api<crate::cluster::node::NodeFile> {
    Ok(Json(ops::cluster_join(&c!(app, s, p), f).await?))
}

#[derive(Deserialize)]
struct NewCertificate {
    cert: String,
    key: String,
}

async fn replace_certificate(
    State(app): State<Arc<App>>,
    Auth(s): Auth,
    p: Peer,
    Json(n): Json<NewCertificate>,
) -> Api {
    Ok(Json(json!({ "sha256": ops::replace_certificate(&c!(app, s, p), &n.cert, &n.key).await? })))
}

#[cfg(test)]
mod tests {
    /// Every route of this file is described in openapi.json (and nothing else is).
    #[test]
    fn openapi_describes_every_route() {
        let doc: serde_json::Value = serde_json::from_str(include_str!("openapi.json")).unwrap();
        let documented: std::collections::BTreeSet<String> =
            doc["paths"].as_object().unwrap().keys().filter(|k| k.starts_with("/api/")).cloned().collect();
        let routed: std::collections::BTreeSet<String> = include_str!("api.rs")
            .split(".route(\"")
            .skip(1)
            .filter_map(|r| r.split('"').next())
            .filter(|p| p.starts_with("/api/") && *p != "/api/v1/openapi.json")
            .map(str::to_string)
            .collect();
        assert_eq!(routed, documented);
    }
}
