//! What the members of a cluster share beyond the store's data: the
//! settings the web console changes, the server Sieve script, the TLS
//! certificate and the service addresses. Each lives in a file of its own node (hato.toml,
//! server.sieve, the certificate pair), so a change made through one member
//! is also saved in the store (`shared_settings`, numbered), and every
//! member applies each new version it sees:
//!
//! - the console's settings are written into its hato.toml (they apply when
//!   its mail service restarts, as on one node — the console offers the
//!   rolling restart for that); the node's own keys (name, addresses, store)
//!   are never touched;
//! - the server Sieve script and the certificate are put in force at once;
//! - the service addresses go into its cluster.toml, which its `hato
//!   vrrp-node` follows.
//!
//! A member that was down applies what it missed when it is back, and a new
//! member on joining: no node keeps an old answer. A value a member cannot
//! take (its hato.toml would not load, no configuration file) raises the
//! alert `cluster.shared` there, and the next version is tried afresh.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::node::NodeFile;
use super::vrrp::Vip;
use crate::config::Config;
use crate::sieve::server::ServerScript;
use crate::store::{SharedItem, Store, StoreError};
use crate::tls::Certificates;

/// The console's keys of hato.toml (`config::edit::CONSOLE_KEYS`), as JSON.
pub const SETTINGS: &str = "settings";
/// The server Sieve script's text; empty: none.
pub const RULES: &str = "rules";
/// The TLS certificate and key every service presents, as JSON.
pub const CERTIFICATE: &str = "certificate";
/// The service addresses (`[vrrp] addresses` of cluster.toml), as JSON.
pub const VIPS: &str = "vips";

/// How often a member looks for changes made elsewhere.
const EVERY: Duration = Duration::from_secs(3);

#[derive(Debug, Error)]
pub enum SharedError {
    #[error("this node runs without a configuration file, so the cluster's settings cannot be written here")]
    NoConfigFile,
    #[error("the cluster's value is unreadable ({0}); save it again from the console")]
    Value(String),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Rules(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Cluster(#[from] super::ClusterError),
    #[error("could not save it for the cluster: {0}; the change holds on this node only until saved again")]
    Store(#[from] StoreError),
}

#[derive(Serialize, Deserialize)]
struct CertificatePair {
    cert: String,
    key: String,
}

/// This node's copies of what is shared.
#[derive(Clone)]
pub struct Local {
    pub cfg: Arc<Config>,
    pub store: Arc<Store>,
    pub sieve: Arc<ServerScript>,
    pub certs: Arc<Certificates>,
}

impl Local {
    /// Saves this node's console settings (just written to its hato.toml) for the cluster.
    pub async fn publish_settings(&self) -> Result<i64, SharedError> {
        let path = self.cfg.source.as_deref().ok_or(SharedError::NoConfigFile)?;
        let values = crate::config::edit::console_values(path)?;
        let json = serde_json::to_vec(&values).map_err(|e| SharedError::Value(e.to_string()))?;
        self.put(SETTINGS, json).await
    }

    /// Saves the server script now in force here for the cluster.
    pub async fn publish_rules(&self) -> Result<i64, SharedError> {
        self.put(RULES, self.sieve.text().into_bytes()).await
    }

    /// Saves the certificate pair now in force here for the cluster.
    pub async fn publish_certificate(&self, cert: &str, key: &str) -> Result<i64, SharedError> {
        let pair = CertificatePair { cert: cert.into(), key: key.into() };
        self.put(CERTIFICATE, serde_json::to_vec(&pair).map_err(|e| SharedError::Value(e.to_string()))?).await
    }

    async fn put(&self, name: &str, value: Vec<u8>) -> Result<i64, SharedError> {
        Ok(self.store.shared_put(name.into(), value, Store::node_name(&self.cfg)).await?)
    }

    /// Puts one shared item in force here; true if anything changed.
    fn apply(&self, item: &SharedItem) -> Result<bool, SharedError> {
        match item.name.as_str() {
            SETTINGS => {
                let values: BTreeMap<String, Option<String>> =
                    serde_json::from_slice(&item.value).map_err(|e| SharedError::Value(e.to_string()))?;
                let path = self.cfg.source.as_deref().ok_or(SharedError::NoConfigFile)?;
                let changes = crate::config::edit::changes_to(&values)?;
                Ok(crate::config::edit::change_file(path, &self.cfg.data_dir, &changes)?)
            }
            RULES => {
                let text = String::from_utf8(item.value.clone()).map_err(|e| SharedError::Value(e.to_string()))?;
                if text == self.sieve.text() {
                    return Ok(false);
                }
                self.sieve.replace(&text).map_err(SharedError::Rules)?;
                Ok(true)
            }
            CERTIFICATE => {
                let pair: CertificatePair =
                    serde_json::from_slice(&item.value).map_err(|e| SharedError::Value(e.to_string()))?;
                if same_file(self.certs.cert_path(), &pair.cert) {
                    return Ok(false);
                }
                self.certs.replace(pair.cert.as_bytes(), pair.key.as_bytes())?;
                Ok(true)
            }
            VIPS => {
                let vips: Vec<Vip> =
                    serde_json::from_slice(&item.value).map_err(|e| SharedError::Value(e.to_string()))?;
                set_vips_here(&self.cfg, vips)
            }
            // Saved by a newer Hato: it knows what to do with it.
            _ => Ok(false),
        }
    }
}

/// Changes the service addresses of every member: this node's cluster.toml
/// now (its `hato vrrp-node` reloads keepalived within seconds), the others'
/// as they see the change. Empty: the cluster holds none.
pub async fn set_vips(cfg: &Config, store: &Store, vips: Vec<Vip>) -> Result<NodeFile, SharedError> {
    set_vips_here(cfg, vips.clone())?;
    let json = serde_json::to_vec(&vips).map_err(|e| SharedError::Value(e.to_string()))?;
    store.shared_put(VIPS.into(), json, Store::node_name(cfg)).await?;
    Ok(cfg.cluster_dir().load()?)
}

fn set_vips_here(cfg: &Config, vips: Vec<Vip>) -> Result<bool, SharedError> {
    let dir = cfg.cluster_dir();
    let mut node = dir.load()?;
    if node.vrrp.addresses == vips {
        return Ok(false);
    }
    node.vrrp.addresses = vips;
    dir.save(&node)?;
    Ok(true)
}

fn same_file(path: &Path, text: &str) -> bool {
    std::fs::read(path).is_ok_and(|b| b == text.as_bytes())
}

/// Runs for the life of `hato serve` on a cluster member: applies every
/// version saved elsewhere (and, at start, whatever changed while it was away).
pub async fn follow(local: Local) {
    let mut applied: HashMap<String, i64> = HashMap::new();
    let mut failing: HashSet<String> = HashSet::new();
    loop {
        match local.store.shared_items().await {
            Ok(items) => {
                for item in &items {
                    if applied.insert(item.name.clone(), item.version).is_some_and(|v| v >= item.version) {
                        continue;
                    }
                    let key = format!("cluster.shared.{}", item.name);
                    match local.apply(item) {
                        Ok(changed) => {
                            if changed {
                                tracing::info!(
                                    target: "hato::cluster",
                                    what = %item.name,
                                    version = item.version,
                                    from = %item.node,
                                    "{}",
                                    if item.name == SETTINGS {
                                        "the cluster's settings are written to hato.toml; they apply when the mail \
                                         service restarts"
                                    } else {
                                        "the cluster's change is in force here"
                                    }
                                );
                            }
                            if failing.remove(&key) {
                                crate::alert::clear(&key);
                            }
                        }
                        Err(e) => {
                            crate::alert::raise(
                                &key,
                                crate::alert::Severity::Warning,
                                &format!(
                                    "this node could not take the cluster's {} (saved on {}): {e}",
                                    item.name, item.node
                                ),
                            );
                            failing.insert(key);
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(target: "hato::cluster", "shared settings unreadable: {e}"),
        }
        tokio::time::sleep(EVERY).await;
    }
}
