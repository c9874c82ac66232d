//! Plain HTTP on `[web] http_listen` (port 80 on the appliance): the
//! answers to ACME http-01 challenges (RFC 8555 §8.3), read from the store
//! so any cluster member can give them, and for everything else a
//! permanent redirect to the same path over HTTPS. Nothing else is served
//! without TLS.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::store::Store;

/// Starts the listener (nothing when `http_listen` is empty).
pub async fn serve(listen: &str, store: Arc<Store>) -> std::io::Result<Option<SocketAddr>> {
    if listen.is_empty() {
        return Ok(None);
    }
    let tcp = crate::listener::bind(listen)?;
    let addr = tcp.local_addr()?;
    let router =
        Router::new().route("/.well-known/acme-challenge/{token}", get(challenge)).fallback(to_https).with_state(store);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(tcp, router).await {
            tracing::error!(target: "hato::web", "plain HTTP stopped: {e}");
        }
    });
    Ok(Some(addr))
}

async fn challenge(State(store): State<Arc<Store>>, Path(token): Path<String>) -> Response {
    match crate::acme::challenge_answer(&store, &token).await {
        Some(answer) => {
            tracing::info!(target: "hato::acme", token = %token, "http-01 challenge answered");
            ([(header::CONTENT_TYPE, "application/octet-stream")], answer).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such challenge\n").into_response(),
    }
}

async fn to_https(headers: HeaderMap, uri: Uri) -> Response {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return (StatusCode::BAD_REQUEST, "a Host header is needed\n").into_response();
    };
    // The console's own port is the HTTPS default on the appliance.
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, format!("https://{host}{path}"))]).into_response()
}
