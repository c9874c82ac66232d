//! The control socket: how `hato ctl` talks to a running `hato serve`.
//!
//! Most admin commands go straight to the store (it is safe to share); only
//! what lives in the server's memory needs this socket: log levels, waking the
//! queue after an admin change, live counters. One JSON object per line each
//! way. The socket is created mode 0600 in the data directory, so only the
//! server's own user (and root) can use it.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

use crate::guard::Guard;

#[derive(Debug, Error)]
pub enum ControlError {
    #[error("cannot reach the running server at {path}: {source} (is `hato serve` running with this config?)")]
    Connect { path: String, source: std::io::Error },
    #[error("control socket I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server sent an unreadable answer: {0}")]
    Protocol(String),
    #[error("the server refused: {0}")]
    Refused(String),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Set (when `spec` is given) and return the log filter.
    LogLevel {
        spec: Option<String>,
    },
    WakeQueue,
    Status,
    /// Whether this node is fit to hold the cluster's service addresses.
    Gate,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub data: serde_json::Value,
}

pub struct Server {
    pub queue_wake: Arc<Notify>,
    pub guard: Arc<Guard>,
    pub store: Arc<crate::store::Store>,
    /// When this server started (unix seconds).
    pub started: i64,
    /// Where the gate checks that writes still succeed.
    pub data_dir: std::path::PathBuf,
}

/// What `Request::Status` answers: the server's live state.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    pub version: String,
    pub started: i64,
    pub connections: u32,
    pub stats: crate::stats::Snapshot,
    /// None when the store could not be read just now.
    pub queue: Option<crate::store::QueueSummary>,
    /// The store backend and whether it serves (for Galera, every node).
    pub store: Option<crate::store::StoreStatus>,
    /// How far this node's full-text index of the archive is behind.
    pub archive_index: Option<crate::store::IndexStatus>,
}

impl Server {
    async fn handle(&self, req: Request) -> Response {
        let ok = |data| Response { ok: true, error: None, data };
        match req {
            Request::LogLevel { spec: Some(spec) } => match crate::logs::set_level(&spec) {
                Ok(now) => {
                    tracing::info!(target: "hato::logs", level = %now, "log level changed");
                    ok(serde_json::json!({ "level": now }))
                }
                Err(e) => Response { ok: false, error: Some(e.to_string()), data: serde_json::Value::Null },
            },
            Request::LogLevel { spec: None } => ok(serde_json::json!({ "level": crate::logs::current_level() })),
            Request::WakeQueue => {
                self.queue_wake.notify_one();
                ok(serde_json::Value::Null)
            }
            Request::Status => {
                let status = Status {
                    version: env!("CARGO_PKG_VERSION").into(),
                    started: self.started,
                    connections: self.guard.open_connections(),
                    stats: crate::stats::STATS.snapshot(),
                    queue: self.store.queue_summary().await.ok(),
                    store: self.store.status().await.ok(),
                    archive_index: self.store.archive_index_status().await.ok(),
                };
                ok(serde_json::to_value(status).unwrap_or_default())
            }
            Request::Gate => match self.gate().await {
                Ok(()) => ok(serde_json::json!({ "fit": true })),
                Err(why) => Response { ok: false, error: Some(why), data: serde_json::json!({ "fit": false }) },
            },
        }
    }

    /// The health gate keepalived asks every second (`cluster::vrrp`): this
    /// server answers (it does, if this runs), its store serves on this
    /// node (a Galera node that is not Primary and Synced does not), and the
    /// data directory takes a write (a disk gone read-only does not). Cheap:
    /// the store's state is what its monitor last saw.
    async fn gate(&self) -> Result<(), String> {
        let store = self.store.status().await.map_err(|e| format!("the store cannot be asked: {e}"))?;
        if !store.serving {
            return Err(format!("the store does not serve here: {}", store.detail));
        }
        let probe = self.data_dir.join(".gate");
        tokio::fs::write(&probe, crate::clock::now().to_string())
            .await
            .map_err(|e| format!("the data directory takes no writes ({}: {e})", probe.display()))
    }

    pub async fn listen(self: Arc<Self>, path: &Path) -> std::io::Result<()> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let me = self.clone();
                tokio::spawn(async move { me.session(stream).await });
            }
        });
        Ok(())
    }

    async fn session(&self, stream: UnixStream) {
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r.take(64 * 1024)).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let resp = match serde_json::from_str::<Request>(&line) {
                Ok(req) => self.handle(req).await,
                Err(e) => {
                    Response { ok: false, error: Some(format!("bad request: {e}")), data: serde_json::Value::Null }
                }
            };
            let mut out = serde_json::to_vec(&resp).unwrap_or_default();
            out.push(b'\n');
            if w.write_all(&out).await.is_err() {
                return;
            }
        }
    }
}

use tokio::io::AsyncReadExt;

/// Sends one request to the running server.
pub async fn call(path: &Path, req: &Request) -> Result<serde_json::Value, ControlError> {
    let stream = UnixStream::connect(path)
        .await
        .map_err(|source| ControlError::Connect { path: path.display().to_string(), source })?;
    let (r, mut w) = stream.into_split();
    let mut line = serde_json::to_vec(req).map_err(|e| ControlError::Protocol(e.to_string()))?;
    line.push(b'\n');
    w.write_all(&line).await?;
    let mut lines = BufReader::new(r).lines();
    let answer = lines.next_line().await?.ok_or_else(|| ControlError::Protocol("no answer".into()))?;
    let resp: Response = serde_json::from_str(&answer).map_err(|e| ControlError::Protocol(e.to_string()))?;
    if resp.ok { Ok(resp.data) } else { Err(ControlError::Refused(resp.error.unwrap_or_default())) }
}
