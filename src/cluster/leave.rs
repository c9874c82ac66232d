//! Leaving a cluster: `hato ctl cluster leave` or `POST
//! /api/v1/cluster/leave` on the node that goes.
//!
//! In order:
//! 1. cluster.toml becomes `left.toml`, so the supervisor's galera-node,
//!    when its database stops, does not start it again but wipes its files
//!    (they are a full copy of everyone's mail);
//! 2. this node's database leaves Galera by an orderly shutdown, so the
//!    others' quorum shrinks with it instead of counting it as lost;
//! 3. every other member is told over the node API and drops the node from
//!    its member list and its `[store]` (the request proves membership with
//!    a digest of the cluster's database secret, which only members hold);
//! 4. the rest of the cluster directory goes (certificates, keys, secrets),
//!    and `[store]` goes back to SQLite — a new, empty store: the mail stays
//!    with the cluster. A SQLite store from before the cluster is kept aside
//!    (`hato.db.before-cluster`), never silently served again.
//!
//! The cluster's only member cannot leave: its mail would go nowhere.

use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::ClusterError;
use super::api::{Member, Request};
use super::node::Dir;
use crate::config::edit::Change;

#[derive(Debug, Deserialize, Serialize)]
pub struct LeaveRequest {
    pub address: IpAddr,
    pub proof: String,
}

/// A member's answer: the members it still knows.
#[derive(Debug, Deserialize, Serialize)]
pub struct Forgotten {
    pub members: Vec<IpAddr>,
}

/// What `leave` did.
#[derive(Debug, Serialize)]
pub struct Departure {
    pub cluster: String,
    /// Members that dropped this node from their lists.
    pub told: Vec<IpAddr>,
    /// Members that could not be told, with why (they keep listing this node
    /// until `leave` is repeated for them or they are re-formed).
    pub not_told: Vec<String>,
}

/// A member's side: forget the node that left.
pub(super) fn forget(member: &Member, req: &LeaveRequest) -> Result<Forgotten, ClusterError> {
    let dir = &member.dir;
    super::api::check_proof(dir, "leave", req.address, &req.proof)?;
    let mut node = dir.load()?;
    if req.address == node.address {
        return Err(ClusterError::Refused("this is the node that is said to leave; ask another member".into()));
    }
    node.members.retain(|m| *m != req.address);
    dir.save(&node)?;
    if let Some(file) = &member.config {
        crate::config::edit::change_file(file, &member.data_dir, &super::store_settings(&node, dir))?;
    }
    // The alert for its database going away is answered: it left, it was not lost.
    crate::alert::clear(&format!("cluster.node.{}", super::node::NodeFile::at(req.address, node.ports.sql)));
    crate::alert::raise(
        "cluster.left",
        crate::alert::Severity::Info,
        &format!("node {} left the cluster; {} members remain", req.address, node.members.len()),
    );
    info!(target: "hato::cluster", address = %req.address, "a node left the cluster");
    Ok(Forgotten { members: node.members })
}

/// Takes the node configured by `cfg` (read from `file`) out of its cluster.
pub async fn leave(cfg: &crate::config::Config, file: &Path) -> Result<Departure, ClusterError> {
    let dir = cfg.cluster_dir();
    if !dir.exists() {
        return Err(ClusterError::NotMember);
    }
    let node = dir.load()?;
    let peers: Vec<IpAddr> = node.peers().collect();
    if peers.is_empty() {
        return Err(ClusterError::LastMember);
    }
    let caller = super::api::Caller::of(&dir)?;
    dir.mark_left()?;
    if let Err(e) = super::mariadb::shutdown_local(&node, &dir, &caller.password).await {
        // Still a member: put cluster.toml back so nothing else changes.
        dir.unmark_left()?;
        return Err(e);
    }
    let req = Request::Leave(LeaveRequest { address: node.address, proof: caller.proof("leave", node.address) });
    let (mut told, mut not_told) = (Vec::new(), Vec::new());
    for p in peers {
        match super::api::call::<Forgotten>(super::api::addr_of(&node, p), &caller.fingerprint, &req).await {
            Ok(_) => told.push(p),
            Err(e) => {
                warn!(target: "hato::cluster", member = %p, "could not tell a member this node left: {e}");
                not_told.push(format!("{p}: {e}"));
            }
        }
    }
    dir.remove_credentials()?;
    set_aside_local_stores(&cfg.data_dir);
    crate::config::edit::change_file(
        file,
        &cfg.data_dir,
        &[Change::Set("store.backend", "sqlite".into()), Change::Remove("store.galera")],
    )?;
    info!(target: "hato::cluster", cluster = %node.name, "this node left the cluster");
    Ok(Departure { cluster: node.name, told, not_told })
}

/// The archive indexes go (derived, of the cluster's mail or the old
/// store's); a SQLite store from before the cluster is kept under another
/// name rather than served again.
fn set_aside_local_stores(data_dir: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        for index in ["archive-index.db", "hato.db.archive-index"] {
            let _ = std::fs::remove_file(data_dir.join(format!("{index}{suffix}")));
        }
        let from = data_dir.join(format!("hato.db{suffix}"));
        if from.exists() {
            let _ = std::fs::rename(&from, data_dir.join(format!("hato.db{suffix}.before-cluster")));
        }
    }
}

/// galera-node's part, while it waits for a cluster: the database files of
/// a cluster this node left are deleted (`left.toml` names them).
pub fn wipe_if_left(dir: &Dir) {
    let Ok(node) = dir.load_left() else { return };
    let Ok(entries) = std::fs::read_dir(&node.mysql_dir) else { return };
    let mut wiped = 0;
    for e in entries.flatten() {
        let p = e.path();
        let gone = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        match gone {
            Ok(()) => wiped += 1,
            Err(err) => warn!(target: "hato::cluster", path = %p.display(), "cannot delete: {err}"),
        }
    }
    if wiped > 0 {
        info!(target: "hato::cluster", dir = %node.mysql_dir.display(), "deleted the database files of the cluster this node left");
    }
}
