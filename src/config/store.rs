//! `[store]`: which database holds Hato's state.
//!
//! ```toml
//! [store]
//! backend = "galera"            # default "sqlite": <data_dir>/hato.db
//! node_name = "mail1"           # default: the machine's host name
//! [store.galera]
//! nodes = ["10.0.0.1:3306", "10.0.0.2:3306", "10.0.0.3:3306"]   # this machine's own node first
//! database = "hato"
//! user = "hato"
//! password_file = "/data/etc/galera.password"
//! tls_ca = "/data/etc/cluster-ca.pem"
//! ```

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// One file on this machine; one node.
    #[default]
    Sqlite,
    /// MariaDB Galera: every node of the cluster writes.
    Galera,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub backend: StoreBackend,
    /// This node's name: queue leases carry it, so each node must have its
    /// own and keep it across restarts. Default: the machine's host name.
    pub node_name: Option<String>,
    pub galera: GaleraConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GaleraConfig {
    /// Every node's client address (host:port), the one on this machine
    /// first: Hato serves only while that node is Primary and Synced.
    pub nodes: Vec<String>,
    pub database: String,
    pub user: String,
    pub password: Option<String>,
    /// A file holding the password (its first line), instead of `password`.
    pub password_file: Option<PathBuf>,
    /// The CA certificate (PEM) that signed the nodes' certificates. When
    /// set, every connection uses TLS and checks the node's certificate
    /// (names or IP addresses as in `nodes`).
    pub tls_ca: Option<PathBuf>,
    /// Connections kept open to each node.
    pub pool_size: usize,
    /// Send each account's mailbox writes to one node chosen by the
    /// account's name (the next one while it is down): concurrent writes to
    /// one mailbox from several nodes fail Galera's certification and must
    /// be retried (4-13 % of them in the design's measurements).
    pub home_routing: bool,
    /// This node's full-text index of the archive (Galera cannot hold one);
    /// default `<data_dir>/archive-index.db`.
    pub index_path: Option<PathBuf>,
}

impl Default for GaleraConfig {
    fn default() -> Self {
        GaleraConfig {
            nodes: Vec::new(),
            database: "hato".into(),
            user: "hato".into(),
            password: None,
            password_file: None,
            tls_ca: None,
            pool_size: 16,
            home_routing: true,
            index_path: None,
        }
    }
}

impl StoreConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.backend != StoreBackend::Galera {
            return Ok(());
        }
        let g = &self.galera;
        if g.nodes.is_empty() {
            return Err(ConfigError::Invalid {
                key: "store.galera.nodes",
                message: "list at least this machine's own node (host:port)".into(),
            });
        }
        if let Some(bad) = g.nodes.iter().find(|n| n.rsplit_once(':').is_none_or(|(_, p)| p.parse::<u16>().is_err())) {
            return Err(ConfigError::Invalid {
                key: "store.galera.nodes",
                message: format!("'{bad}' is not host:port"),
            });
        }
        if g.database.is_empty() || !g.database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ConfigError::Invalid {
                key: "store.galera.database",
                message: format!("'{}' must be letters, digits and _ only", g.database),
            });
        }
        if g.password.is_some() && g.password_file.is_some() {
            return Err(ConfigError::Invalid {
                key: "store.galera.password",
                message: "set password or password_file, not both".into(),
            });
        }
        if g.pool_size == 0 {
            return Err(ConfigError::Invalid { key: "store.galera.pool_size", message: "must be at least 1".into() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn galera_needs_nodes_and_a_plain_database_name() {
        let cfg: StoreConfig = toml::from_str("backend = \"galera\"").unwrap();
        assert!(matches!(cfg.validate(), Err(ConfigError::Invalid { key: "store.galera.nodes", .. })));
        let cfg: StoreConfig =
            toml::from_str("backend = \"galera\"\n[galera]\nnodes = [\"10.0.0.1:3306\"]\ndatabase = \"x; drop\"")
                .unwrap();
        assert!(matches!(cfg.validate(), Err(ConfigError::Invalid { key: "store.galera.database", .. })));
        let cfg: StoreConfig = toml::from_str("backend = \"galera\"\n[galera]\nnodes = [\"10.0.0.1\"]").unwrap();
        assert!(matches!(cfg.validate(), Err(ConfigError::Invalid { key: "store.galera.nodes", .. })));
        let cfg: StoreConfig = toml::from_str("backend = \"galera\"\n[galera]\nnodes = [\"10.0.0.1:3306\"]").unwrap();
        cfg.validate().unwrap();
        assert!(toml::from_str::<StoreConfig>("backend = \"postgres\"").is_err());
    }
}
