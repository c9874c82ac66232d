//! Who is asking: login, sessions, roles and the CSRF token.
//!
//! A session is a random token in a `Secure; HttpOnly; SameSite=Strict`
//! cookie. Sessions live in the store (`Store::session_*`), keyed by a
//! SHA-256 of the token: on a cluster a login made through one node holds on
//! every node (a service address that moves keeps its users logged in), a
//! restart logs nobody out, and the database never holds a token a browser
//! could present. Every request that changes something must carry the
//! session's CSRF token, in the `X-CSRF-Token` header (the API) or as
//! `_csrf` in the query string (HTML forms put it in their action URL, so
//! multipart uploads carry it too); `csrf_guard` checks it before any
//! handler runs.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tracing::warn;

use super::App;
use crate::store::{Role, Store, StoreError, WebSession};

pub const COOKIE: &str = "hato_session";
/// Before login: a double-submit token, so a login form cannot be posted from elsewhere.
pub const PRE_COOKIE: &str = "hato_pre";
/// A session's last use is written at most this often (each write is a
/// replicated transaction on a cluster); idle expiry is that much coarse.
const TOUCH_EVERY: i64 = 60;

#[derive(Clone, Debug)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub csrf: String,
}

impl Session {
    /// The domain a domain admin manages (the one of their own address).
    pub fn domain(&self) -> Option<&str> {
        (self.role == Role::DomainAdmin).then(|| self.user.rsplit_once('@').map(|(_, d)| d)).flatten()
    }
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
    /// The built-in administrator has no mailbox.
    pub fn has_mailbox(&self) -> bool {
        self.user != "admin"
    }
    /// May this session manage objects of `domain`?
    pub fn manages(&self, domain: &str) -> bool {
        self.is_admin() || self.domain().is_some_and(|d| d.eq_ignore_ascii_case(domain))
    }
}

pub struct Sessions {
    store: Arc<Store>,
    idle_secs: i64,
}

/// The store's key for a token.
fn key(token: &str) -> String {
    crate::ids::sha256_hex(token.as_bytes())
}

impl Sessions {
    pub fn new(store: Arc<Store>, idle: Duration) -> Sessions {
        Sessions { store, idle_secs: idle.as_secs().max(1) as i64 }
    }

    /// Starts a session; returns its token (for the cookie) and the session.
    pub async fn create(&self, user: String, role: Role) -> Result<(String, Session), StoreError> {
        let token = crate::ids::token(32);
        let now = crate::clock::now();
        let row = WebSession { user, role, csrf: crate::ids::token(24), last_seen: now };
        // Logins are rare next to requests: a good moment to forget the idle.
        if let Err(e) = self.store.session_expire(now - self.idle_secs).await {
            warn!(target: "hato::web", "could not expire idle sessions: {e}");
        }
        self.store.session_put(key(&token), row.clone()).await?;
        Ok((token, Session { user: row.user, role: row.role, csrf: row.csrf }))
    }

    /// The live session for a token, its idle timer restarted. A store that
    /// cannot answer means no session (the login page says why on login).
    pub async fn get(&self, token: &str) -> Option<Session> {
        let now = crate::clock::now();
        let key = key(token);
        let row = match self.store.session_get(key.clone(), now - self.idle_secs).await {
            Ok(row) => row?,
            Err(e) => {
                warn!(target: "hato::web", "could not read a session: {e}");
                return None;
            }
        };
        if now - row.last_seen >= TOUCH_EVERY
            && let Err(e) = self.store.session_touch(key, now).await
        {
            warn!(target: "hato::web", "could not mark a session used: {e}");
        }
        Some(Session { user: row.user, role: row.role, csrf: row.csrf })
    }

    pub async fn remove(&self, token: &str) {
        if let Err(e) = self.store.session_remove(key(token)).await {
            warn!(target: "hato::web", "could not end a session: {e}");
        }
    }

    /// Ends every session of a user (password reset, account disabled or removed).
    pub async fn remove_user(&self, user: &str) -> Result<(), StoreError> {
        self.store.session_remove_user(user.to_string()).await
    }
}

/// The session a request's cookie names, looked up once per request
/// (`csrf_guard` and `Auth` both need it).
async fn session_of(app: &App, token: Option<String>, ext: &mut axum::http::Extensions) -> Option<Session> {
    if let Some(found) = ext.get::<Option<Session>>() {
        return found.clone();
    }
    let found = match token {
        Some(t) => app.sessions.get(&t).await,
        None => None,
    };
    ext.insert(found.clone());
    found
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> String {
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict{age}")
}

fn query_param(q: Option<&str>, name: &str) -> Option<String> {
    q?.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
}

/// A logged-in caller. HTML pages answer a missing session with a redirect
/// to the login page, the API with 401.
pub struct Auth(pub Session);

impl FromRequestParts<Arc<App>> for Auth {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        if let Some(s) = session_of(app, cookie(&parts.headers, COOKIE), &mut parts.extensions).await {
            return Ok(Auth(s));
        }
        if parts.uri.path().starts_with("/api/") {
            return Err(super::api_error(
                StatusCode::UNAUTHORIZED,
                "log in first (POST /login), then send the session cookie",
            ));
        }
        let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        Err(Redirect::to(&format!("/login?next={}", super::urlencode(next))).into_response())
    }
}

/// The client's address.
pub fn peer(parts_ext: &axum::http::Extensions) -> IpAddr {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| crate::cidr::canonical(c.0.ip()))
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// Refuses a state-changing request without the right CSRF token (403).
pub async fn csrf_guard(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| query_param(req.uri().query(), "_csrf"));
    let expected = if req.uri().path() == "/login" {
        cookie(req.headers(), PRE_COOKIE)
    } else {
        let token = cookie(req.headers(), COOKIE);
        session_of(&app, token, req.extensions_mut()).await.map(|s| s.csrf)
    };
    match (given, expected) {
        (Some(g), Some(e)) if constant_eq(g.as_bytes(), e.as_bytes()) => next.run(req).await,
        // No session at all: let the handler's Auth answer 401 / the login redirect.
        (_, None) if req.uri().path() != "/login" => next.run(req).await,
        _ => super::api_error(StatusCode::FORBIDDEN, "missing or wrong CSRF token; reload the page and try again"),
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sessions_expire_when_idle_and_end_per_user() {
        for t in crate::store::tests::each_backend().await {
            let s = Sessions::new(t.store.clone(), Duration::from_secs(60));
            let (t1, sess) = s.create("a@x.test".into(), Role::User).await.unwrap();
            let (t2, _) = s.create("b@x.test".into(), Role::User).await.unwrap();
            assert_eq!(s.get(&t1).await.unwrap().csrf, sess.csrf);
            assert!(s.get("not-a-token").await.is_none());
            // Stored by hash: the token itself is nowhere in the store.
            assert!(t.store.session_get(t1.clone(), 0).await.unwrap().is_none());
            s.remove_user("a@x.test").await.unwrap();
            assert!(s.get(&t1).await.is_none() && s.get(&t2).await.is_some());
            s.remove(&t2).await;
            assert!(s.get(&t2).await.is_none());
            // A session unused for longer than the idle time is gone, and
            // the next login sweeps it out of the store.
            let (t3, _) = s.create("c@x.test".into(), Role::User).await.unwrap();
            let old = WebSession {
                last_seen: crate::clock::now() - 61,
                ..t.store.session_get(key(&t3), 0).await.unwrap().unwrap()
            };
            t.store.session_put(key(&t3), old).await.unwrap();
            assert!(s.get(&t3).await.is_none(), "{}", t.kind);
            s.create("d@x.test".into(), Role::User).await.unwrap();
            assert!(t.store.session_get(key(&t3), 0).await.unwrap().is_none(), "swept on the next login");
        }
    }

    #[test]
    fn domain_admins_manage_their_domain_only() {
        let s = Session { user: "boss@a.test".into(), role: Role::DomainAdmin, csrf: String::new() };
        assert!(s.manages("a.test") && s.manages("A.TEST") && !s.manages("b.test"));
        let u = Session { role: Role::User, ..s.clone() };
        assert!(!u.manages("a.test"));
        let admin = Session { role: Role::Admin, ..s };
        assert!(admin.manages("b.test"));
    }

    #[test]
    fn cookies_and_query_tokens_are_read() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; hato_session=tok; b=2".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("tok"));
        assert_eq!(query_param(Some("x=1&_csrf=abc"), "_csrf").as_deref(), Some("abc"));
        assert!(constant_eq(b"abc", b"abc") && !constant_eq(b"abc", b"abd") && !constant_eq(b"ab", b"abc"));
    }
}
