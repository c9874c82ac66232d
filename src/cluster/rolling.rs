//! Rolling restart (`hato ctl cluster restart-rolling`, `POST
//! /api/v1/cluster/restart-rolling`): the path updates take.
//!
//! Every member in turn, this node last, is asked over the node API to
//! restart: its database shuts down in order (the others' quorum shrinks
//! with it) and the supervisor starts it again, when it catches up by IST;
//! on the appliance its mail service restarts too. The next member is asked
//! only when every member's own database says it is Synced in a Primary
//! component of full size — a member still joining (taking IST or a full
//! copy) counts in the component's size but is not Synced, and stopping a
//! second member then could leave no node with the complete state. So at
//! most one member is away at any time, and a member that does not come
//! back stops the round.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::info;

use super::ClusterError;
use super::api::{Member, Request};
use super::node::{Dir, NodeFile};

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
pub async fn restart_rolling(dir: &Dir, progress: impl Fn(&str)) -> Result<Vec<Turn>, ClusterError> {
    let node = dir.load()?;
    let caller = super::api::Caller::of(dir)?;
    let states = States { node: &node, password: &caller.password, ca: dir.ca_cert() };
    if let Some(why) = states.not_whole().await {
        return Err(ClusterError::Refused(format!("the cluster is not whole ({why}); restart only a whole cluster")));
    }
    let order: Vec<IpAddr> = node.peers().chain([node.address]).collect();
    let mut turns = Vec::new();
    for m in order {
        progress(&format!("restarting {m}"));
        let started = Instant::now();
        let req = Request::Restart(RestartRequest { address: m, proof: caller.proof("restart", m) });
        super::api::call::<Restarting>(super::api::addr_of(&node, m), &caller.fingerprint, &req).await?;
        let deadline = Instant::now() + GO_DOWN;
        while states.synced(m).await {
            if Instant::now() > deadline {
                return Err(ClusterError::Refused(format!("{m} did not stop within {} s", GO_DOWN.as_secs())));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let deadline = Instant::now() + COME_BACK;
        while let Some(why) = states.not_whole().await {
            if Instant::now() > deadline {
                return Err(ClusterError::Refused(format!(
                    "{m} was not back within {} s ({why}); the round stops here",
                    COME_BACK.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let seconds = started.elapsed().as_secs();
        progress(&format!("{m} is back, Synced and serving, after {seconds} s"));
        turns.push(Turn { address: m, seconds });
    }
    Ok(turns)
}

/// The members' states, asked of each member's own database.
struct States<'a> {
    node: &'a NodeFile,
    password: &'a str,
    ca: std::path::PathBuf,
}

impl States<'_> {
    async fn state(&self, m: IpAddr) -> Option<(String, String, u32)> {
        let a = std::net::SocketAddr::new(m, self.node.ports.sql);
        super::mariadb::galera_state(a, self.password, &self.ca).await
    }

    async fn synced(&self, m: IpAddr) -> bool {
        let size = self.node.members.len() as u32;
        matches!(self.state(m).await, Some((s, c, n)) if s == "Synced" && c == "Primary" && n == size)
    }

    /// Why not every member is Synced in a Primary component of full size, if not.
    async fn not_whole(&self) -> Option<String> {
        for m in &self.node.members {
            if !self.synced(*m).await {
                let seen = self.state(*m).await.map_or("no answer".into(), |(s, c, n)| format!("{s}, {c}, size {n}"));
                return Some(format!("{m}: {seen}"));
            }
        }
        None
    }
}
