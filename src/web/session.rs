//! Who is asking: login, sessions, roles and the CSRF token.
//!
//! A session is a random token in a `Secure; HttpOnly; SameSite=Strict`
//! cookie, kept in memory (a restart logs everyone out). Every request that
//! changes something must carry the session's CSRF token, in the
//! `X-CSRF-Token` header (the API) or as `_csrf` in the query string (HTML
//! forms put it in their action URL, so multipart uploads carry it too);
//! `csrf_guard` checks it before any handler runs.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::App;
use crate::store::Role;

pub const COOKIE: &str = "hato_session";
/// Before login: a double-submit token, so a login form cannot be posted from elsewhere.
pub const PRE_COOKIE: &str = "hato_pre";

#[derive(Clone, Debug)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub csrf: String,
    last_seen: Instant,
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
    map: Mutex<HashMap<String, Session>>,
    idle: Duration,
}

impl Sessions {
    pub fn new(idle: Duration) -> Sessions {
        Sessions { map: Mutex::new(HashMap::new()), idle }
    }

    pub fn create(&self, user: String, role: Role) -> (String, Session) {
        let token = crate::ids::token(32);
        let s = Session { user, role, csrf: crate::ids::token(24), last_seen: Instant::now() };
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let idle = self.idle;
        map.retain(|_, s| s.last_seen.elapsed() < idle);
        map.insert(token.clone(), s.clone());
        (token, s)
    }

    /// The live session for a token, its idle timer restarted.
    pub fn get(&self, token: &str) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(token) {
            Some(s) if s.last_seen.elapsed() < self.idle => {
                s.last_seen = Instant::now();
                Some(s.clone())
            }
            Some(_) => {
                map.remove(token);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, token: &str) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(token);
    }

    /// Ends every session of a user (password reset, account disabled or removed).
    pub fn remove_user(&self, user: &str) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, s| s.user != user);
    }
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
        if let Some(s) = cookie(&parts.headers, COOKIE).and_then(|t| app.sessions.get(&t)) {
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
pub async fn csrf_guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
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
        cookie(req.headers(), COOKIE).and_then(|t| app.sessions.get(&t)).map(|s| s.csrf)
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

    #[test]
    fn sessions_expire_when_idle_and_end_per_user() {
        let s = Sessions::new(Duration::from_millis(50));
        let (t, sess) = s.create("a@x.test".into(), Role::User);
        assert_eq!(s.get(&t).unwrap().csrf, sess.csrf);
        std::thread::sleep(Duration::from_millis(80));
        assert!(s.get(&t).is_none());
        let s = Sessions::new(Duration::from_secs(60));
        let (t1, _) = s.create("a@x.test".into(), Role::User);
        let (t2, _) = s.create("b@x.test".into(), Role::User);
        s.remove_user("a@x.test");
        assert!(s.get(&t1).is_none() && s.get(&t2).is_some());
    }

    #[test]
    fn domain_admins_manage_their_domain_only() {
        let s = Session {
            user: "boss@a.test".into(),
            role: Role::DomainAdmin,
            csrf: String::new(),
            last_seen: Instant::now(),
        };
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
