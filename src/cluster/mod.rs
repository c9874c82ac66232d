//! Forming a cluster and running this node's part of it.
//!
//! - `node`: the cluster directory (`cluster.toml`, certificates, secrets).
//! - `pki`: the cluster's CA and the nodes' certificates.
//! - `api`: the node API (TLS, one JSON line each way) members serve.
//! - `join`: join tokens, and letting a new node in.
//! - `leave`: a node going, and the members forgetting it.
//! - `rolling`: restarting every member in turn.
//! - `logs`: log search and message trace over every member.
//! - `shared`: the console's settings, server script and certificate, the same on every member.
//! - `mariadb`: `hato galera-node`, this node's MariaDB Galera server.
//! - `vrrp`: `hato vrrp-node`, keepalived holding the service addresses.
//!
//! `init` makes a one-node cluster here; `accept` makes this node a member
//! from a member's `Welcome`. Both leave the database itself to
//! `galera-node` (which the supervisor runs) and return the `[store]`
//! settings that point `hato serve` at it.
//!
//! Invariants: only `init` on an empty data directory, or the last node of an
//! orderly shutdown of every node, starts a new primary component (see
//! `mariadb`); a join token is used at most once; a node trusts a member only
//! through the CA fingerprint its token names.

pub mod api;
pub mod join;
pub mod leave;
pub mod logs;
pub mod mariadb;
pub mod node;
pub mod pki;
pub mod rolling;
pub mod shared;
pub mod vrrp;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use thiserror::Error;
use toml_edit::Value;

use crate::config::edit::Change;
use node::{Dir, NodeFile, Ports};

#[derive(Debug, Error)]
pub enum ClusterError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("this node is already part of a cluster ({0} exists); `hato ctl cluster leave` first")]
    AlreadyMember(PathBuf),
    #[error("this node is not part of a cluster")]
    NotMember,
    #[error(
        "this node is the cluster's only member: leaving would leave its mail nowhere. \
         Join another node first, then leave"
    )]
    LastMember,
    #[error("certificate: {0}")]
    Pki(String),
    #[error("join token not usable: {0}")]
    Token(String),
    #[error("the member refused the join: {0}")]
    Refused(String),
    #[error("node API connection failed: {0} (is the member's hato serve running, port reachable?)")]
    Api(std::io::Error),
    #[error("node API: {0}")]
    Protocol(String),
    #[error("cannot start MariaDB: {0}")]
    Start(String),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Where this node keeps its database and runtime files, chosen by whoever forms it.
pub struct Layout {
    pub mysql_dir: PathBuf,
    pub run_dir: PathBuf,
}

/// Makes a new one-node cluster in `dir`: CA, this node's certificate,
/// database secrets; `galera-node` starts it as a new cluster.
pub fn init(
    dir: &Dir,
    name: &str,
    node_name: &str,
    address: IpAddr,
    ports: Ports,
    vips: Vec<vrrp::Vip>,
    layout: Layout,
) -> Result<NodeFile, ClusterError> {
    refuse_if_member(dir)?;
    let secret = || crate::ids::token(32);
    let credentials = node::Credentials::issue(name, pki::new_ca(name)?, node_name, address, secret(), secret())?;
    let node = NodeFile {
        name: name.into(),
        node_name: node_name.into(),
        address,
        members: vec![address],
        bootstrap: true,
        mysql_dir: layout.mysql_dir,
        run_dir: layout.run_dir,
        ports,
        suspect_timeout: "PT2S".into(),
        vrrp: vrrp::Vrrp::new(name, vips),
    };
    dir.write_member(&credentials, &node)?;
    Ok(node)
}

/// Makes this node a member with what the member sent.
pub fn accept(
    dir: &Dir,
    w: join::Welcome,
    node_name: &str,
    address: IpAddr,
    layout: Layout,
) -> Result<NodeFile, ClusterError> {
    refuse_if_member(dir)?;
    let node = NodeFile {
        name: w.name,
        node_name: node_name.into(),
        address,
        members: w.members,
        bootstrap: false,
        mysql_dir: layout.mysql_dir,
        run_dir: layout.run_dir,
        ports: w.ports,
        suspect_timeout: w.suspect_timeout,
        vrrp: w.vrrp,
    };
    dir.write_member(&w.credentials, &node)?;
    Ok(node)
}

/// Keeps cluster.toml's member list up to date with the members this
/// node's Galera server reports, for the life of `hato serve`.
pub async fn remember_members(store: std::sync::Arc<crate::store::Store>, dir: Dir) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        let Ok(status) = store.status().await else { continue };
        let seen: Vec<IpAddr> = status
            .nodes
            .iter()
            .filter(|n| n.local)
            .flat_map(|n| n.members.iter())
            .filter_map(|a| a.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
            .collect();
        match dir.remember(&seen) {
            Ok(true) => tracing::info!(target: "hato::cluster", "member list updated from Galera"),
            Ok(false) => {}
            Err(e) => tracing::warn!(target: "hato::cluster", "cannot update the member list: {e}"),
        }
    }
}

/// Where a node run from `cfg` keeps its database and MariaDB's runtime files.
pub fn layout(cfg: &crate::config::Config) -> Layout {
    Layout { mysql_dir: cfg.data_dir.join("mysql"), run_dir: cfg.data_dir.join("mysql-run") }
}

/// `init` for the server configured by `cfg` (read from `file`), whose
/// `[store]` then points at the new cluster.
pub fn init_node(
    cfg: &crate::config::Config,
    file: &Path,
    name: &str,
    node_name: &str,
    address: IpAddr,
    ports: Ports,
    vips: Vec<vrrp::Vip>,
) -> Result<NodeFile, ClusterError> {
    let dir = cfg.cluster_dir();
    let node = init(&dir, name, node_name, address, ports, vips, layout(cfg))?;
    crate::config::edit::change_file(file, &cfg.data_dir, &store_settings(&node, &dir))?;
    Ok(node)
}

/// Joins through the member named in `token` for the server configured by
/// `cfg` (read from `file`), whose `[store]` then points at the cluster.
pub async fn join_node(
    cfg: &crate::config::Config,
    file: &Path,
    token: &join::Token,
    node_name: &str,
    address: IpAddr,
) -> Result<NodeFile, ClusterError> {
    let dir = cfg.cluster_dir();
    refuse_if_member(&dir)?;
    let welcome = join::request(token, node_name, address).await?;
    let node = accept(&dir, welcome, node_name, address, layout(cfg))?;
    crate::config::edit::change_file(file, &cfg.data_dir, &store_settings(&node, &dir))?;
    Ok(node)
}

fn refuse_if_member(dir: &Dir) -> Result<(), ClusterError> {
    if dir.exists() { Err(ClusterError::AlreadyMember(dir.file())) } else { Ok(()) }
}

/// The `[store]` settings that make `hato serve` use this node's cluster:
/// its own database node first, then the other members.
pub fn store_settings(node: &NodeFile, dir: &Dir) -> Vec<Change> {
    let mut nodes = toml_edit::Array::new();
    nodes.push(NodeFile::at(node.address, node.ports.sql));
    for p in node.peers() {
        nodes.push(NodeFile::at(p, node.ports.sql));
    }
    let path = |p: &Path| Value::from(p.display().to_string());
    vec![
        Change::Set("store.backend", "galera".into()),
        Change::Set("store.node_name", node.node_name.as_str().into()),
        Change::Set("store.galera.nodes", Value::Array(nodes)),
        Change::Set("store.galera.password_file", path(&dir.db_password())),
        Change::Set("store.galera.tls_ca", path(&dir.ca_cert())),
        Change::Remove("store.galera.password"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_makes_a_bootstrapping_member_once_and_settings_that_load() {
        let base = std::env::temp_dir().join(format!("hato-cluster-form-{}", std::process::id()));
        let layout = |n: &str| Layout { mysql_dir: base.join(n).join("mysql"), run_dir: base.join(n).join("run") };
        let d1 = Dir(base.join("n1/cluster"));
        let a1: IpAddr = "10.9.0.1".parse().unwrap();
        let n1 = init(&d1, "c", "n1", a1, Ports::default(), vec![], layout("n1")).unwrap();
        assert!(n1.bootstrap);
        assert!(matches!(
            init(&d1, "c", "n1", a1, Ports::default(), vec![], layout("n1")),
            Err(ClusterError::AlreadyMember(_))
        ));
        let token = join::new_token(&d1).unwrap();
        let parsed: join::Token = token.to_string().parse().unwrap();
        assert_eq!(parsed, token);
        let settings = store_settings(&n1, &d1);
        let text = crate::config::edit::apply("", &settings).unwrap();
        assert!(text.contains("nodes = [\"10.9.0.1:3306\"]"), "{text}");
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_malformed_token_is_refused_with_the_reason() {
        for (bad, why) in [
            ("HATO2/10.0.0.1:7443/aa/secretsecretsecret", "HATO1"),
            ("HATO1/10.0.0.1/".to_string().leak(), "four parts"),
            (
                "HATO1/nothere/0000000000000000000000000000000000000000000000000000000000000000/secretsecretsecret",
                "IP:port",
            ),
            ("HATO1/10.0.0.1:7443/xyz/secretsecretsecret", "64 hex"),
        ] {
            let e = bad.parse::<join::Token>().unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
