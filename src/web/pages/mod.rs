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
        .route(
            "/static/app.js",
            get(|| async { static_file("text/javascript", include_str!("../../../static/app.js")) }),
        )
        .route(
            "/static/style.css",
            get(|| async { static_file("text/css", include_str!("../../../static/style.css")) }),
        )
        .merge(admin::routes())
        .merge(cluster::routes())
        .merge(lockouts::routes())
        .merge(mail::routes())
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

mod admin;
mod cluster;
mod lockouts;
mod mail;

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
    let session = match session::cookie(&headers, session::COOKIE) {
        Some(t) => app.sessions.get(&t).await,
        None => None,
    };
    match session {
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
    let failed = q
        .notice
        .map(|n| f.t(if n == "locked" { "locked_out" } else { "login_failed" }).to_string())
        .unwrap_or_default();
    let page = render(LoginPage { f, pre: pre.clone(), next: super::urlencode(local(q.next.as_deref())), failed });
    ([(header::SET_COOKIE, session::set_cookie(session::PRE_COOKIE, &pre, Some(3600)))], page).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
}

async fn login(
    State(app): State<Arc<App>>,
    p: axum::extract::ConnectInfo<std::net::SocketAddr>,
    Query(q): Query<NextQuery>,
    Form(l): Form<LoginForm>,
) -> Response {
    match ops::login(&app, crate::cidr::canonical(p.0.ip()), &l.user, &l.password).await {
        Ok((token, s)) => {
            let default = if s.has_mailbox() { "/mail" } else { "/admin" };
            let to = match local(q.next.as_deref()) {
                "/" => default,
                n => n,
            };
            ([(header::SET_COOKIE, session::set_cookie(session::COOKIE, &token, None))], Redirect::to(to))
                .into_response()
        }
        Err(WebError::Locked) => Redirect::to("/login?notice=locked").into_response(),
        Err(_) => Redirect::to(&format!("/login?notice=failed&next={}", super::urlencode(local(q.next.as_deref()))))
            .into_response(),
    }
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(t) = session::cookie(&headers, session::COOKIE) {
        app.sessions.remove(&t).await;
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
