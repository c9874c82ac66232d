//! The web console: HTTPS (the mail services' certificate), the admin
//! console and WebMail as server-rendered pages (askama, `templates/`), the
//! JSON API behind them (`/api/v1`, described in `openapi.json`), and
//! Prometheus metrics (`/metrics`).
//!
//! - `listener`: TLS handshakes for axum.
//! - `session`: login state, roles, the CSRF check.
//! - `ops`: every operation with its permission check; `api` and `pages`
//!   are thin JSON and HTML faces over it, so a screen can do nothing the API
//!   cannot, and the checks live in one place.
//! - `message`: reading (sanitised HTML) and writing (MIME) messages.
//! - `i18n`: Japanese and English.
//! - `metrics`: counters, history for the dashboard charts, `/metrics`.

pub(crate) mod api;
pub mod http;
mod i18n;
mod listener;
pub mod message;
mod metrics;
mod ops;
mod pages;
pub mod session;

/// The console's own value parsers (dates in the user's time zone), for `crate::fuzz::web`.
#[doc(hidden)]
pub fn fuzz_values(text: &str) {
    for lang in [i18n::Lang::Ja, i18n::Lang::En] {
        let _ = lang.parse_local(text);
    }
}

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use thiserror::Error;
use tokio::sync::Notify;

use crate::config::Config;
use crate::guard::Guard;
use crate::store::{Store, StoreError};

#[derive(Debug, Error)]
pub enum WebError {
    #[error("you may not do that")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("too many failed logins from here or for this user; try again later")]
    Locked,
    #[error("wrong user name or password")]
    BadLogin,
    #[error("the mail store failed: {0}")]
    Store(StoreError),
    #[error("the message could not be sent: {0}")]
    Send(String),
    /// Done on this node, not shared with the rest of its cluster.
    #[error("{0}")]
    Cluster(String),
}

impl From<crate::cluster::shared::SharedError> for WebError {
    fn from(e: crate::cluster::shared::SharedError) -> Self {
        WebError::Cluster(e.to_string())
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => WebError::NotFound(what),
            StoreError::Exists(what) => WebError::BadRequest(format!("{what} already exists")),
            StoreError::Invalid(why) => WebError::BadRequest(why),
            other => WebError::Store(other),
        }
    }
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::Forbidden => StatusCode::FORBIDDEN,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Locked => StatusCode::TOO_MANY_REQUESTS,
            WebError::BadLogin => StatusCode::UNAUTHORIZED,
            WebError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            WebError::Send(_) => StatusCode::BAD_GATEWAY,
            WebError::Cluster(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// API errors are JSON: `{"error": "..."}` with the matching status.
impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        api_error(self.status(), &self.to_string())
    }
}

pub fn api_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub struct App {
    pub cfg: Arc<Config>,
    pub store: Arc<Store>,
    pub guard: Arc<Guard>,
    pub sessions: session::Sessions,
    pub queue_wake: Arc<Notify>,
    pub history: metrics::History,
    /// The server-wide Sieve script, edited on the rules page.
    pub server_sieve: Arc<crate::sieve::server::ServerScript>,
    /// The certificate of every TLS listener (replaced on the settings page).
    pub certs: Arc<crate::tls::Certificates>,
}

/// Starts the console on `[web] listen` (nothing when it is empty).
pub async fn serve(app: Arc<App>, tls: tokio_rustls::TlsAcceptor) -> std::io::Result<Option<SocketAddr>> {
    if app.cfg.web.listen.is_empty() {
        return Ok(None);
    }
    let tcp = crate::listener::bind(&app.cfg.web.listen)?;
    let listener = listener::TlsListener::new(tcp, tls)?;
    let addr = axum::serve::Listener::local_addr(&listener)?;
    // Through `tap_io`, axum hands the peer's SocketAddr to ConnectInfo for any listener.
    let listener = axum::serve::ListenerExt::tap_io(listener, |_| {});
    tokio::spawn(metrics::sample(app.clone()));
    let router = router(app);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await {
            tracing::error!(target: "hato::web", "the web console stopped: {e}");
        }
    });
    Ok(Some(addr))
}

fn router(app: Arc<App>) -> Router {
    let limit = app.cfg.web.max_upload_bytes;
    Router::new()
        .merge(pages::routes())
        .merge(api::routes())
        .route("/metrics", axum::routing::get(metrics::prometheus))
        .layer(axum::middleware::from_fn_with_state(app.clone(), session::csrf_guard))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(app)
}

/// Headers every answer carries. Pages load scripts and styles only from
/// here; message HTML is shown in a sandboxed frame on top of that.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let csp = h.remove("x-hato-csp").unwrap_or(HeaderValue::from_static(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'",
    ));
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    h.insert("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// How long a session lives without requests.
pub fn idle(cfg: &Config) -> Duration {
    Duration::from_secs(cfg.web.session_idle_minutes.max(1) * 60)
}
