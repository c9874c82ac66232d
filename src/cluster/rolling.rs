//! Rolling restart (`hato ctl cluster restart-rolling`, `POST
//! /api/v1/cluster/restart-rolling`): the path updates take.
//!
//! Every member in turn, this node last, is asked over the node API to
//! restart: its database shuts down in order (the others' quorum shrinks
//! with it) and the supervisor starts it again, when it catches up by IST;
//! on the appliance its mail service restarts too. The next member is asked
//! only when the cluster has every member back, Synced and serving, as this
//! node's store sees them — so at most one member is away at any time, and
//! a member that does not come back stops the round.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::info;

use super::ClusterError;
use super::api::{Member, Request};
use super::node::{Dir, NodeFile};
use crate::store::{Store, StoreStatus};

/// How long a member may take to stop, and to be back (a full copy can take minutes).
const GO_DOWN: Duration = Duration::from_secs(60);
const COME_BACK: Duration = Duration::from_secs(900);

#[derive(Debug, Deserialize, Serialize)]
pub struct RestartRequest {
    /// The member asked to restart (the proof is bound to it).
    pub address: IpAddr,
    pub proof: String,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct Restarting {
    /// Whether the mail service restarts as well (only under a supervisor).
    pub service: bool,
}

/// One member's turn.
#[derive(Debug, Serialize)]
pub struct Turn {
    pub address: IpAddr,
    /// From the request to every member Synced and serving again.
    pub seconds: u64,
}

/// A member's side: restart this node's database (and service, when supervised).
pub(super) fn restart(member: &Member, req: &RestartRequest) -> Result<Restarting, ClusterError> {
    let dir = &member.dir;
    super::api::check_proof(dir, "restart", req.address, &req.proof)?;
    let node = dir.load()?;
    if req.address != node.address {
        return Err(ClusterError::Refused(format!("this is {}, not {}", node.address, req.address)));
    }
    let password = dir.secret(&dir.db_password())?;
    let (dir, supervised) = (dir.clone(), member.supervised);
    tokio::runtime::Handle::current().spawn(async move {
        info!(target: "hato::cluster", "restarting this node's database for a rolling restart");
        if let Err(e) = super::mariadb::shutdown_local(&node, &dir, &password).await {
            tracing::warn!(target: "hato::cluster", "rolling restart: {e}");
        }
        if supervised {
            info!(target: "hato::cluster", "restarting the mail service for a rolling restart");
            std::process::exit(0);
        }
    });
    Ok(Restarting { service: member.supervised })
}

/// Restarts every member in turn, this node last; `progress` hears of each step.
pub async fn restart_rolling(dir: &Dir, store: &Store, progress: impl Fn(&str)) -> Result<Vec<Turn>, ClusterError> {
    let node = dir.load()?;
    let size = node.members.len();
    if let Some(why) = not_whole(&store.status().await?, &node, size) {
        return Err(ClusterError::Refused(format!("the cluster is not whole ({why}); restart only a whole cluster")));
    }
    let password = dir.secret(&dir.db_password())?;
    let fingerprint = super::pki::fingerprint(&dir.read(&dir.ca_cert())?)?;
    let order: Vec<IpAddr> = node.peers().chain([node.address]).collect();
    let mut turns = Vec::new();
    for m in order {
        progress(&format!("restarting {m}"));
        let started = Instant::now();
        let req = Request::Restart(RestartRequest { address: m, proof: super::api::proof(&password, "restart", m) });
        super::api::call::<Restarting>(super::api::addr_of(&node, m), &fingerprint, &req).await?;
        let at = NodeFile::at(m, node.ports.sql);
        // Gone: the member's database is not serving, or the component is smaller.
        let gone = |s: &StoreStatus| {
            s.nodes.iter().any(|n| n.address == at && !n.serving)
                || s.nodes.iter().any(|n| n.local && (n.cluster_size as usize) < size)
        };
        wait(store, GO_DOWN, gone)
            .await
            .map_err(|_| ClusterError::Refused(format!("{m} did not stop within {} s", GO_DOWN.as_secs())))?;
        wait(store, COME_BACK, |s| not_whole(s, &node, size).is_none()).await.map_err(|last| {
            ClusterError::Refused(format!(
                "{m} was not back within {} s ({}); the round stops here",
                COME_BACK.as_secs(),
                last.unwrap_or_default()
            ))
        })?;
        let seconds = started.elapsed().as_secs();
        progress(&format!("{m} is back, Synced and serving, after {seconds} s"));
        turns.push(Turn { address: m, seconds });
    }
    Ok(turns)
}

/// Why the cluster is not whole as `status` shows it, if it is not: a
/// member not serving, or fewer than `size` in the component.
fn not_whole(status: &StoreStatus, node: &NodeFile, size: usize) -> Option<String> {
    let down: Vec<&str> = status.nodes.iter().filter(|n| !n.serving).map(|n| n.address.as_str()).collect();
    if !down.is_empty() {
        return Some(format!("not serving: {}", down.join(", ")));
    }
    let local = status.nodes.iter().find(|n| n.local)?;
    (local.cluster_size as usize != size)
        .then(|| format!("{} of the {size} members of {} are in the cluster", local.cluster_size, node.name))
}

/// Waits until `done` holds for the store's status; on timeout, the last reason seen.
async fn wait(store: &Store, within: Duration, done: impl Fn(&StoreStatus) -> bool) -> Result<(), Option<String>> {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        match store.status().await {
            Ok(s) if done(&s) => return Ok(()),
            Ok(s) => last = Some(s.detail),
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(last)
}
