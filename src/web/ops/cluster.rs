//! The cluster from the console: its state, and forming it (init, a join
//! token, join) on an appliance that has no shell. Forming switches this
//! server's store to the cluster, so the mail service restarts itself
//! afterwards (under the supervisor) to use it.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Ctx, restart_later, supervised};
use crate::cluster::join::Token;
use crate::cluster::node::{NodeFile, Ports};
use crate::store::StoreStatus;
use crate::web::WebError;

#[derive(Serialize)]
pub struct ClusterView {
    /// This node's cluster file, when it is a member.
    pub node: Option<NodeFile>,
    /// The service addresses this node holds now.
    pub vips_here: Vec<crate::cluster::vrrp::Vip>,
    /// What an administrator should act on (e.g. a two-member cluster).
    pub warnings: Vec<String>,
    pub store: StoreStatus,
    /// How many queue entries each Hato node is delivering now.
    pub delivering: Vec<crate::store::NodeLeases>,
    /// The last change of membership this node saw (a node lost or back).
    pub last_change: Option<crate::store::membership::Change>,
}

pub async fn cluster(c: &Ctx<'_>) -> Result<ClusterView, WebError> {
    c.admin()?;
    let dir = c.app.cfg.cluster_dir();
    let node = if dir.exists() { Some(dir.load().map_err(bad)?) } else { None };
    let vips_here = node.as_ref().map(crate::cluster::vrrp::held_here).unwrap_or_default();
    let warnings = node.as_ref().map(NodeFile::warnings).unwrap_or_default();
    let delivering = c.app.store.leases_by_node(crate::clock::now()).await?;
    let last_change = crate::store::membership::last_change();
    Ok(ClusterView { node, vips_here, warnings, store: c.app.store.status().await?, delivering, last_change })
}

#[derive(Deserialize)]
pub struct ClusterForm {
    /// This node's address on the cluster network.
    pub address: IpAddr,
    /// The cluster's name (init only; default "hato").
    #[serde(default)]
    pub name: Option<String>,
    /// A member's join token (join only).
    #[serde(default)]
    pub token: Option<String>,
    /// Service addresses keepalived moves to a healthy member, e.g. "192.0.2.10/24" (init only).
    #[serde(default)]
    pub vips: Vec<crate::cluster::vrrp::Vip>,
}

fn bad(e: crate::cluster::ClusterError) -> WebError {
    WebError::BadRequest(e.to_string())
}

fn config_file(c: &Ctx<'_>) -> Result<std::path::PathBuf, WebError> {
    c.app.cfg.source.clone().ok_or_else(|| {
        WebError::BadRequest("this server runs without a configuration file; a cluster needs one (--config)".into())
    })
}

/// Makes this node the first of a new cluster.
pub async fn cluster_init(c: &Ctx<'_>, f: ClusterForm) -> Result<NodeFile, WebError> {
    c.admin()?;
    let file = config_file(c)?;
    let name = f.name.unwrap_or_else(|| "hato".into());
    let node_name = crate::store::Store::node_name(&c.app.cfg);
    let node = crate::cluster::init_node(&c.app.cfg, &file, &name, &node_name, f.address, Ports::default(), f.vips)
        .map_err(bad)?;
    c.audit("cluster.init", &name, format!("node {node_name} at {}", f.address)).await;
    switch_over(c);
    Ok(node)
}

/// A one-time token that lets one node join through this member.
pub async fn cluster_token(c: &Ctx<'_>) -> Result<String, WebError> {
    c.admin()?;
    let token = crate::cluster::join::new_token(&c.app.cfg.cluster_dir()).map_err(bad)?;
    c.audit("cluster.token", &token.api.to_string(), "join token made".into()).await;
    Ok(token.to_string())
}

/// Joins the cluster of the member named in the token.
pub async fn cluster_join(c: &Ctx<'_>, f: ClusterForm) -> Result<NodeFile, WebError> {
    c.admin()?;
    let file = config_file(c)?;
    let token: Token = f.token.as_deref().unwrap_or("").parse().map_err(bad)?;
    let node_name = crate::store::Store::node_name(&c.app.cfg);
    let node = crate::cluster::join_node(&c.app.cfg, &file, &token, &node_name, f.address).await.map_err(bad)?;
    c.audit("cluster.join", &node.name, format!("node {node_name} at {} through {}", f.address, token.api)).await;
    switch_over(c);
    Ok(node)
}

/// Takes this node out of its cluster; the service restarts onto a new, empty SQLite store.
pub async fn cluster_leave(c: &Ctx<'_>) -> Result<crate::cluster::leave::Departure, WebError> {
    c.admin()?;
    let file = config_file(c)?;
    let d = crate::cluster::leave::leave(&c.app.cfg, &file).await.map_err(bad)?;
    c.audit("cluster.leave", &d.cluster, format!("members told: {:?}; not told: {:?}", d.told, d.not_told)).await;
    if supervised(c) {
        restart_later("to leave the cluster store");
    }
    Ok(d)
}

/// Starts a rolling restart of every member (this node last) in the
/// background; its steps go to the log, and the Cluster page shows the members.
pub async fn cluster_restart_rolling(c: &Ctx<'_>) -> Result<(), WebError> {
    c.admin()?;
    let dir = c.app.cfg.cluster_dir();
    if !dir.exists() {
        return Err(bad(crate::cluster::ClusterError::NotMember));
    }
    c.audit("cluster.restart-rolling", &dir.load().map_err(bad)?.name, "started".into()).await;
    tokio::spawn(async move {
        let step = |p: &str| tracing::info!(target: "hato::cluster", "rolling restart: {p}");
        if let Err(e) = crate::cluster::rolling::restart_rolling(&dir, step).await {
            tracing::warn!(target: "hato::cluster", "rolling restart stopped: {e}");
            crate::alert::raise(
                "cluster.rolling",
                crate::alert::Severity::Warning,
                &format!("rolling restart stopped: {e}"),
            );
        }
    });
    Ok(())
}

/// Sets the cluster's service addresses (empty: none) on every member.
pub async fn cluster_vips(c: &Ctx<'_>, vips: Vec<crate::cluster::vrrp::Vip>) -> Result<NodeFile, WebError> {
    c.admin()?;
    if !c.app.cfg.cluster_dir().exists() {
        return Err(bad(crate::cluster::ClusterError::NotMember));
    }
    let node = crate::cluster::shared::set_vips(&c.app.cfg, &c.app.store, vips).await?;
    let list: Vec<String> = node.vrrp.addresses.iter().map(|v| v.to_string()).collect();
    c.audit("cluster.vips", &node.name, if list.is_empty() { "none".into() } else { list.join(", ") }).await;
    Ok(node)
}

/// Under a supervisor, restart to use the cluster store; otherwise the admin restarts.
fn switch_over(c: &Ctx<'_>) {
    if supervised(c) {
        restart_later("to use the cluster store");
    }
}
