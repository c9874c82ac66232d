//! Alerts for the cluster's membership, as `hato serve` on this node sees
//! it: a Galera node that stops serving (down, or out of the Primary
//! component) and comes back, and the cluster growing or shrinking. Each
//! becomes an alert (`crate::alert`: the log, and an SNMP trap where the
//! subagent runs), raised once per transition and cleared when it ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::alert::{self, Severity};
use crate::store::{NodeStatus, Store};

const EVERY: Duration = Duration::from_secs(1);

/// A change in the cluster's membership as this node saw it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Change {
    /// Unix seconds.
    pub at: i64,
    pub text: String,
}

static LAST: std::sync::Mutex<Option<Change>> = std::sync::Mutex::new(None);

/// The last change seen since `hato serve` started here (the console's "last failover").
pub fn last_change() -> Option<Change> {
    LAST.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn remember(text: String) {
    *LAST.lock().unwrap_or_else(|p| p.into_inner()) = Some(Change { at: crate::clock::now(), text });
}

/// What was seen last: each node's serving state and the cluster's size.
#[derive(Default)]
struct Seen {
    serving: HashMap<String, bool>,
    size: Option<u32>,
}

/// Runs for the life of `hato serve`; with SQLite there is nothing to watch.
pub async fn watch(store: Arc<Store>) {
    let mut seen = Seen::default();
    loop {
        match store.status().await {
            Ok(st) if st.nodes.is_empty() => return,
            Ok(st) => seen.update(&st.nodes),
            Err(e) => tracing::debug!(target: "hato::store", "cluster status unreadable: {e}"),
        }
        tokio::time::sleep(EVERY).await;
    }
}

impl Seen {
    fn update(&mut self, nodes: &[NodeStatus]) {
        for n in nodes {
            let now = n.serving;
            let before = self.serving.insert(n.address.clone(), now);
            let key = format!("cluster.node.{}", n.address);
            match (before, now) {
                (Some(true) | None, false) => {
                    let (severity, what) = if n.local {
                        (Severity::Critical, "this machine's Galera node")
                    } else {
                        (Severity::Warning, "Galera node")
                    };
                    let state =
                        if n.cluster.is_empty() { n.state.clone() } else { format!("{} ({})", n.state, n.cluster) };
                    let text = format!("{what} {} is not serving: {state}", n.address);
                    alert::raise(&key, severity, &text);
                    remember(text);
                }
                (Some(false), true) => {
                    alert::clear(&key);
                    remember(format!("Galera node {} serves again", n.address));
                }
                _ => {}
            }
        }
        // The size as this machine's node reports it (0 while it is down).
        let size = nodes.iter().find(|n| n.local).map(|n| n.cluster_size).filter(|s| *s > 0);
        if let (Some(now), Some(before)) = (size, self.size)
            && now != before
        {
            let severity = if now < before { Severity::Warning } else { Severity::Info };
            let text = format!("the cluster has {now} nodes (it had {before})");
            alert::raise("cluster.size", severity, &text);
            remember(text);
        }
        if size.is_some() {
            self.size = size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(address: &str, state: &str, size: u32, local: bool) -> NodeStatus {
        let cluster = if state == "down" { "" } else { "Primary" };
        let serving = state == "Synced";
        NodeStatus {
            address: address.into(),
            state: state.into(),
            cluster: cluster.into(),
            cluster_size: size,
            local,
            serving,
            members: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_node_leaving_and_coming_back_raises_and_clears_once() {
        let mut alerts = alert::subscribe();
        let mut seen = Seen::default();
        let all = |s3: &str, size| {
            vec![node("n1", "Synced", size, true), node("n2", "Synced", size, false), node("n3", s3, size, false)]
        };
        seen.update(&all("Synced", 3));
        seen.update(&all("down", 2));
        seen.update(&all("down", 2));
        seen.update(&all("Synced", 3));
        let mut got = Vec::new();
        while let Ok(a) = alerts.try_recv() {
            // (Other tests may raise alerts of their own meanwhile.)
            if a.key.starts_with("cluster.") {
                got.push((a.key, a.raised, a.severity));
            }
        }
        assert_eq!(
            got,
            [
                ("cluster.node.n3".into(), true, Severity::Warning),
                ("cluster.size".into(), true, Severity::Warning),
                ("cluster.node.n3".into(), false, Severity::Info),
                ("cluster.size".into(), true, Severity::Info),
            ]
        );
    }
}
