//! `hato ctl cluster`: the cluster as this node sees it.

use clap::Subcommand;
use serde::Serialize;

use super::{CtlError, Ctx};
use crate::store::{NodeLeases, QueueSummary, StoreStatus};

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// The store's nodes (Galera state, which one is this machine's),
    /// whether this node serves, the queue, and what each Hato node is
    /// delivering now.
    Status,
}

#[derive(Serialize)]
struct ClusterStatus {
    store: StoreStatus,
    queue: QueueSummary,
    delivering: Vec<NodeLeases>,
}

pub async fn run(ctx: &Ctx, cmd: ClusterCmd) -> Result<(), CtlError> {
    match cmd {
        ClusterCmd::Status => {
            let s = &ctx.store;
            let v = ClusterStatus {
                store: s.status().await?,
                queue: s.queue_summary().await?,
                delivering: s.leases_by_node(crate::clock::now()).await?,
            };
            ctx.out.show(&v, || text(&v));
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
