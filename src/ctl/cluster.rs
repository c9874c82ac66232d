//! `hato ctl cluster`: forming a cluster, and the cluster as this node sees it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::Serialize;

use super::{CtlError, Ctx, Out};
use crate::cluster::node::{NodeFile, Ports};
use crate::config::Config;
use crate::store::{NodeLeases, QueueSummary, StoreStatus};

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// The store's nodes (Galera state, which one is this machine's),
    /// whether this node serves, the queue, and what each Hato node is
    /// delivering now.
    Status,
    /// Make this node the first of a new cluster: its CA, this node's
    /// certificate, the database secrets, and `[store]` switched to Galera.
    /// The supervisor's galera service then starts the database.
    Init {
        /// This node's address on the cluster network.
        #[arg(long)]
        address: IpAddr,
        /// The cluster's name.
        #[arg(long, default_value = "hato")]
        name: String,
        /// This node's name (default: `store.node_name`, else the host name).
        #[arg(long)]
        node_name: Option<String>,
        /// Ports: SQL, Galera replication, IST, state transfer, node API.
        #[arg(long, value_delimiter = ',', default_values_t = [3306u16, 4567, 4568, 4444, 7443])]
        ports: Vec<u16>,
        /// Service addresses (VRRP, held by a healthy member), e.g. 192.0.2.10/24; comma-separated.
        #[arg(long = "vip", value_delimiter = ',')]
        vips: Vec<crate::cluster::vrrp::Vip>,
    },
    /// Print a one-time token (valid one hour) that lets one new node join through this member.
    Token,
    /// Join the cluster of the member named in TOKEN (from `hato ctl cluster token` there).
    Join {
        token: String,
        /// This node's address on the cluster network.
        #[arg(long)]
        address: IpAddr,
        #[arg(long)]
        node_name: Option<String>,
    },
    /// Restart every member in turn, this node last (database and, on the
    /// appliance, mail service), each once the cluster is whole again.
    RestartRolling,
    /// Set the cluster's service addresses on every member (keepalived on
    /// each reloads within seconds), e.g. 192.0.2.10/24; comma-separated.
    Vips {
        #[arg(value_delimiter = ',', required_unless_present = "none")]
        vips: Vec<crate::cluster::vrrp::Vip>,
        /// Hold no service address any more.
        #[arg(long, conflicts_with = "vips")]
        none: bool,
    },
    /// Take this node out of its cluster: its database leaves Galera (and
    /// its files are deleted), the other members forget it, and `[store]`
    /// goes back to a new, empty SQLite store. The mail stays with the cluster.
    Leave,
}

impl ClusterCmd {
    /// Whether the command forms the cluster (and so runs without the store).
    pub fn forms(&self) -> bool {
        !matches!(self, ClusterCmd::Status | ClusterCmd::Vips { .. })
    }
}

/// The configuration file `init` and `join` point at the cluster.
fn config_file(path: Option<&Path>) -> Result<PathBuf, CtlError> {
    path.map(Path::to_path_buf).ok_or_else(|| {
        CtlError::Usage(
            "give the configuration file with --config: its [store] section is switched to the cluster".into(),
        )
    })
}

/// `init`, `token` and `join`: they run before there is a cluster store to open.
pub async fn form(cfg: &Config, config: Option<&Path>, out: &Out, cmd: ClusterCmd) -> Result<(), CtlError> {
    let dir = cfg.cluster_dir();
    let node_name = |n: Option<String>| n.unwrap_or_else(|| crate::store::Store::node_name(cfg));
    let node = match cmd {
        ClusterCmd::Status | ClusterCmd::Vips { .. } => {
            return Err(CtlError::Usage("status and vips need the store".into()));
        }
        ClusterCmd::RestartRolling => {
            let json = out.is_json();
            let turns = crate::cluster::rolling::restart_rolling(&dir, |p| {
                if !json {
                    super::emit(p);
                }
            })
            .await?;
            out.show(&turns, || format!("every member restarted ({})", turns.len()));
            return Ok(());
        }
        ClusterCmd::Token => {
            let token = crate::cluster::join::new_token(&dir)?;
            let v = serde_json::json!({ "token": token.to_string(), "valid_secs": crate::cluster::join::TOKEN_LIFETIME_SECS });
            out.show(&v, || {
                format!("{token}\n\nOn the new node: hato ctl cluster join {token} --address ITS-ADDRESS\n(valid one hour, once)")
            });
            return Ok(());
        }
        ClusterCmd::Init { address, name, node_name: n, ports, vips } => {
            let file = config_file(config)?;
            let [sql, gcomm, ist, sst, api] = ports[..] else {
                return Err(CtlError::Usage("--ports takes five numbers: sql,gcomm,ist,sst,api".into()));
            };
            let ports = Ports { sql, gcomm, ist, sst, api };
            crate::cluster::init_node(cfg, &file, &name, &node_name(n), address, ports, vips)?
        }
        ClusterCmd::Leave => {
            let file = config_file(config)?;
            let d = crate::cluster::leave::leave(cfg, &file).await?;
            out.show(&d, || departed(&d));
            return Ok(());
        }
        ClusterCmd::Join { token, address, node_name: n } => {
            let file = config_file(config)?;
            let token: crate::cluster::join::Token = token.parse()?;
            crate::cluster::join_node(cfg, &file, &token, &node_name(n), address).await?
        }
    };
    out.show(&node, || formed(&node));
    Ok(())
}

fn formed(node: &NodeFile) -> String {
    let members: Vec<String> = node.members.iter().map(|m| m.to_string()).collect();
    let mut text = format!(
        "node {} ({}) is a member of cluster {} with {}\n\
         The database starts with the galera service (`hato galera-node`); then restart hato serve,\n\
         which now uses it. `hato ctl cluster status` shows when this node serves.",
        node.node_name,
        node.address,
        node.name,
        members.join(", ")
    );
    for w in node.warnings() {
        text.push_str(&format!("\nwarning: {w}"));
    }
    text
}

fn departed(d: &crate::cluster::leave::Departure) -> String {
    let told: Vec<String> = d.told.iter().map(|a| a.to_string()).collect();
    let mut text = format!(
        "this node left cluster {}; the members that forgot it: {}\n\
         Restart hato serve: it now keeps mail in a new, empty SQLite store. The galera service\n\
         deletes this node's copy of the cluster's database.",
        d.cluster,
        if told.is_empty() { "none".to_string() } else { told.join(", ") }
    );
    for n in &d.not_told {
        text.push_str(&format!("\nwarning: not told (it still lists this node): {n}"));
    }
    text
}

#[derive(Serialize)]
struct ClusterStatus {
    store: StoreStatus,
    queue: QueueSummary,
    delivering: Vec<NodeLeases>,
}

pub async fn run(ctx: &Ctx, cmd: ClusterCmd) -> Result<(), CtlError> {
    match cmd {
        ClusterCmd::Init { .. }
        | ClusterCmd::Token
        | ClusterCmd::Join { .. }
        | ClusterCmd::Leave
        | ClusterCmd::RestartRolling => {
            return Err(CtlError::Usage("only status opens the store".into()));
        }
        ClusterCmd::Status => {
            let s = &ctx.store;
            let v = ClusterStatus {
                store: s.status().await?,
                queue: s.queue_summary().await?,
                delivering: s.leases_by_node(crate::clock::now()).await?,
            };
            ctx.out.show(&v, || text(&v));
        }
        ClusterCmd::Vips { vips, none: _ } => {
            if !ctx.cfg.cluster_dir().exists() {
                return Err(crate::cluster::ClusterError::NotMember.into());
            }
            let node = crate::cluster::shared::set_vips(&ctx.cfg, &ctx.store, vips).await?;
            let list: Vec<String> = node.vrrp.addresses.iter().map(|v| v.to_string()).collect();
            ctx.out.show(&node, || {
                format!(
                    "service addresses of cluster {}: {}
Every member takes them within seconds.",
                    node.name,
                    if list.is_empty() { "none".into() } else { list.join(", ") }
                )
            });
        }
    }
    Ok(())
}

fn text(v: &ClusterStatus) -> String {
    let st = &v.store;
    let serving = if st.serving { "serving" } else { "NOT SERVING" };
    let mut t = if st.nodes.is_empty() {
        format!("not a cluster: the {} store has one node; this node is {serving}\n", st.backend)
    } else {
        format!("{} store, this node {serving}: {}\n", st.backend, st.detail)
    };
    for n in &st.nodes {
        let local = if n.local { "  (this machine)" } else { "" };
        t.push_str(&format!("  {}  {}  {}  size {}{local}\n", n.address, n.state, n.cluster, n.cluster_size));
    }
    let q = &v.queue;
    t.push_str(&format!("queue: {} messages, {} recipients ({} held)\n", q.messages, q.recipients, q.held));
    if v.delivering.is_empty() {
        t.push_str("delivering now: nothing\n");
    }
    for d in &v.delivering {
        t.push_str(&format!("delivering now on {}: {} entries\n", d.node, d.entries));
    }
    t
}
