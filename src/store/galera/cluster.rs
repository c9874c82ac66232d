//! The nodes of a Galera cluster as this process sees them: a connection
//! pool per node, each node's health, which node a transaction goes to, and
//! the retry loop every transaction runs in.
//!
//! - **Health.** A monitor task per node reads `wsrep_ready`,
//!   `wsrep_cluster_status` and `wsrep_local_state_comment` every half
//!   second on a connection of its own. A node serves while it is ready, in
//!   the Primary component and Synced (or Donor/Desynced: a node handing its
//!   state to a joiner is a full member; refusing mail there would make every
//!   join an outage of the donor). Hato serves only while the node on its own
//!   machine (the first configured) serves: otherwise every operation fails
//!   with `StoreError::Unavailable`, so SMTP answers 4xx and the node's
//!   service address can move away.
//! - **Routing.** Reads and most writes go to the local node. Writes to one
//!   account's mailboxes go to that account's home node (by a hash of the
//!   name over the sorted node list, so every Hato node picks the same one),
//!   or the next serving node while it is down: two nodes changing one
//!   mailbox row at once fail certification, one node never does.
//! - **Retries.** Conflicts (deadlock 1213, certification failures, lock
//!   waits) and lost connections are retried with jittered exponential
//!   backoff for up to `RETRY_BUDGET`, which outlasts a cluster
//!   reconfiguration after a node dies. A commit whose answer was lost may
//!   have happened: every transaction is written so that running it again
//!   finds its own rows (ids are made before the first attempt).
//! - **Freshness.** Read-only transactions run with `wsrep_sync_wait = 1`: a
//!   read waits until this node has applied everything committed anywhere
//!   before it started, so IMAP sees a delivery made through another node.
//!   Write transactions do not wait (each causal wait is a round of the
//!   group protocol, several per transaction): what they read to decide is
//!   locked or re-checked by the writing statement, and a write based on a
//!   row another node changed fails certification and is retried. What a
//!   write does not find may only not have arrived yet: where that matters
//!   (a delivery on the home node of a queue entry claimed here) a causal
//!   `lookup_at` that node tells before "not found" is believed.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts, SslOpts, TxOpts};

use super::sql::Tx;
use crate::config::GaleraConfig;
use crate::store::{NodeStatus, StoreError};

/// How long one attempt (connect, statements, commit) may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a transaction keeps retrying conflicts and lost nodes.
const RETRY_BUDGET: Duration = Duration::from_secs(20);
/// How often each node's health is read.
const PROBE_EVERY: Duration = Duration::from_millis(500);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// A node's state when its health could not be read at all.
const DOWN: &str = "down";
/// A node's state when a transaction lost its connection to it.
const UNREACHABLE: &str = "unreachable";

pub struct Cluster {
    /// The configured nodes; the first is the one on this machine.
    nodes: Vec<Arc<Node>>,
    /// The same nodes in address order: what home routing hashes over.
    by_address: Vec<Arc<Node>>,
    home_routing: bool,
}

pub struct Node {
    pub address: String,
    /// Connections for read-only transactions (causal reads).
    reads: Pool,
    /// Connections for write transactions.
    writes: Pool,
    health: Mutex<Health>,
}

#[derive(Clone, Debug)]
struct Health {
    serving: bool,
    state: String,
    cluster: String,
    size: u32,
    /// The members' client addresses as this node last saw them (wsrep_incoming_addresses).
    members: Vec<String>,
    /// When `serving` last changed.
    since: Instant,
}

/// Where a transaction goes.
pub enum Route<'a> {
    /// The node on this machine.
    Local,
    /// The home node of this account's mailboxes.
    Home(&'a str),
}

/// Why no node can take a transaction now.
enum Refusal {
    /// Maybe in a moment (a reconfiguration in progress): retry.
    Wait(StoreError),
    /// The local node has been out of service for longer than a retry would wait.
    Fail(StoreError),
}

/// Connection options for one node; `sync_wait` is the session's
/// wsrep_sync_wait (1: reads wait for causality, 0: they do not).
fn opts_for(cfg: &GaleraConfig, address: &str, database: Option<&str>, sync_wait: u8) -> Result<Opts, StoreError> {
    let (host, port) = address
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_start_matches('[').trim_end_matches(']'), p.parse::<u16>().ok()?)))
        .ok_or_else(|| StoreError::Invalid(format!("Galera node '{address}' is not host:port")))?;
    let password = match (&cfg.password, &cfg.password_file) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(file)) => Some(
            std::fs::read_to_string(file)
                .map_err(|e| StoreError::Unavailable(format!("cannot read {}: {e}", file.display())))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        ),
        (None, None) => None,
    };
    let mut setup = vec![format!("SET SESSION wsrep_sync_wait = {sync_wait}")];
    if sync_wait == 0 {
        // Writers: READ COMMITTED takes no gap locks. Under REPEATABLE READ
        // the queue claim's locking scan of due entries held the gap where
        // new entries go, and every SMTP commit waited for the claim's
        // commit (SMTP intake fell to a tenth of SQLite's).
        setup.push("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED".into());
    }
    let pool = PoolOpts::new()
        .with_constraints(PoolConstraints::new(0, cfg.pool_size.max(1)).unwrap_or_default())
        .with_inactive_connection_ttl(Duration::from_secs(60))
        // A reset (mysql_async's default on every return to the pool) would
        // drop wsrep_sync_wait: after the first transaction a connection
        // read stale rows, and a delivery made through another node went
        // unseen. Nothing else of the session changes between transactions.
        .with_reset_connection(false);
    let mut b = OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(cfg.user.clone()))
        .pass(password)
        .db_name(database)
        .prefer_socket(false)
        .tcp_nodelay(true)
        // Rows matched, not rows changed, as SQLite counts: an UPDATE that
        // leaves a row as it was still found it.
        .client_found_rows(true)
        .stmt_cache_size(256)
        .pool_opts(pool)
        .setup(setup);
    if let Some(ca) = &cfg.tls_ca {
        b = b.ssl_opts(SslOpts::default().with_root_certs(vec![ca.clone().into()]).with_disable_built_in_roots(true));
    }
    Ok(b.into())
}

impl Cluster {
    /// Creates the database if needed (on the local node), opens a pool per
    /// node and reads every node's health once before returning.
    pub async fn connect(cfg: &GaleraConfig) -> Result<Cluster, StoreError> {
        let local = cfg.nodes.first().ok_or_else(|| StoreError::Invalid("no Galera nodes configured".into()))?;
        let mut admin = tokio::time::timeout(ATTEMPT_TIMEOUT, Conn::new(opts_for(cfg, local, None, 0)?))
            .await
            .map_err(|_| StoreError::Unavailable(format!("no answer from the local Galera node {local}")))?
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to the local Galera node {local}: {e}")))?;
        // The name was checked to be letters, digits and _ (config::store).
        let create =
            format!("CREATE DATABASE IF NOT EXISTS `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", cfg.database);
        admin.query_drop(create).await?;
        admin.disconnect().await.ok();
        let mut nodes = Vec::new();
        for address in &cfg.nodes {
            let opts = opts_for(cfg, address, Some(&cfg.database), 1)?;
            let node = Arc::new(Node {
                address: address.clone(),
                reads: Pool::new(opts.clone()),
                writes: Pool::new(opts_for(cfg, address, Some(&cfg.database), 0)?),
                health: Mutex::new(Health {
                    serving: false,
                    state: "unknown".into(),
                    cluster: String::new(),
                    size: 0,
                    members: Vec::new(),
                    since: Instant::now(),
                }),
            });
            // The first reading before any transaction, then one every PROBE_EVERY.
            let mut probe = None;
            node.record(tokio::time::timeout(PROBE_TIMEOUT, read_health(&mut probe, &opts)).await);
            tokio::spawn(monitor(Arc::downgrade(&node), opts, probe));
            nodes.push(node);
        }
        let mut by_address = nodes.clone();
        by_address.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(Cluster { nodes, by_address, home_routing: cfg.home_routing })
    }

    /// Every node as seen now (for `Store::status`).
    pub fn status(&self) -> Vec<NodeStatus> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let h = n.health();
                NodeStatus {
                    address: n.address.clone(),
                    state: h.state,
                    cluster: h.cluster,
                    cluster_size: h.size,
                    local: i == 0,
                    serving: h.serving,
                    members: h.members,
                }
            })
            .collect()
    }

    /// Whether the local node serves, and its state in words.
    pub fn local_serving(&self) -> (bool, String) {
        let h = self.nodes[0].health();
        (h.serving, format!("local node {} is {} ({})", self.nodes[0].address, h.state, h.cluster))
    }

    fn pick(&self, route: &Route<'_>) -> Result<Arc<Node>, Refusal> {
        let local = &self.nodes[0];
        let h = local.health();
        if !h.serving {
            let why = StoreError::Unavailable(format!(
                "the local Galera node {} is not serving (state {}, {}); mail is answered with 4xx until it is Synced",
                local.address, h.state, h.cluster
            ));
            return Err(refusal(&h.state, h.since.elapsed(), why));
        }
        match route {
            Route::Home(account) if self.home_routing && self.by_address.len() > 1 => {
                let n = self.by_address.len();
                let start = (fnv1a(account.as_bytes()) % n as u64) as usize;
                // The local node serves, so one is always found.
                Ok((0..n)
                    .map(|i| &self.by_address[(start + i) % n])
                    .find(|n| n.health().serving)
                    .unwrap_or(local)
                    .clone())
            }
            _ => Ok(local.clone()),
        }
    }

    /// Runs `f` as one transaction on the node `route` picks, retrying
    /// conflicts and lost nodes (see the module comment).
    pub async fn write<R>(
        &self,
        route: Route<'_>,
        f: impl AsyncFnMut(&mut Tx<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.run(route, Mode::Write, f).await
    }

    /// Runs `f` as a read-only transaction on the local node: its
    /// statements see one snapshot.
    pub async fn read<R>(&self, f: impl AsyncFnMut(&mut Tx<'_>) -> Result<R, StoreError>) -> Result<R, StoreError> {
        self.run(Route::Local, Mode::Read, f).await
    }

    /// A causal read on the local node outside a transaction: for the
    /// lookups every message makes (domains, accounts, scripts, spam tokens),
    /// where START TRANSACTION and COMMIT would double the round trips. Each
    /// statement of `f` sees everything committed before it, but two of them
    /// need not see one snapshot: use `read` where that matters.
    pub async fn lookup<R>(&self, f: impl AsyncFnMut(&mut Tx<'_>) -> Result<R, StoreError>) -> Result<R, StoreError> {
        self.run(Route::Local, Mode::Lookup, f).await
    }

    /// A causal lookup on the node `route` picks: to learn whether rows
    /// committed through another node have reached the one a write went to.
    pub async fn lookup_at<R>(
        &self,
        route: Route<'_>,
        f: impl AsyncFnMut(&mut Tx<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.run(route, Mode::Lookup, f).await
    }

    /// One causal lookup on a serving node other than the local one, without
    /// retries: for asking the rest of the cluster whether a commit whose
    /// answer the local node took down with it went through.
    pub async fn lookup_elsewhere<R>(
        &self,
        mut f: impl AsyncFnMut(&mut Tx<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let node = self.nodes[1..]
            .iter()
            .find(|n| n.health().serving)
            .ok_or_else(|| StoreError::Unavailable("no other Galera node is serving".into()))?;
        tokio::time::timeout(ATTEMPT_TIMEOUT, attempt_on(node, Mode::Lookup, &mut f))
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable(format!("no answer from {}", node.address))))
    }

    async fn run<R>(
        &self,
        route: Route<'_>,
        mode: Mode,
        mut f: impl AsyncFnMut(&mut Tx<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            let result = match self.pick(&route) {
                Ok(node) => {
                    let r = tokio::time::timeout(ATTEMPT_TIMEOUT, attempt_on(&node, mode, &mut f))
                        .await
                        .unwrap_or_else(|_| {
                            Err(StoreError::Unavailable(format!(
                                "no answer from {} within {} s",
                                node.address,
                                ATTEMPT_TIMEOUT.as_secs()
                            )))
                        });
                    if matches!(r, Err(StoreError::Unavailable(_))) {
                        node.suspect();
                    }
                    r
                }
                Err(Refusal::Wait(e)) => Err(e),
                Err(Refusal::Fail(e)) => return Err(e),
            };
            match result {
                Err(e @ (StoreError::Conflict(_) | StoreError::Unavailable(_))) => {
                    if started.elapsed() >= RETRY_BUDGET {
                        return Err(e);
                    }
                    attempt += 1;
                    tracing::debug!(target: "hato::store", attempt, "retrying a transaction: {e}");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                r => return r,
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Read,
    Lookup,
    Write,
}

async fn attempt_on<R>(
    node: &Node,
    mode: Mode,
    f: &mut impl AsyncFnMut(&mut Tx<'_>) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let pool = if matches!(mode, Mode::Write) { &node.writes } else { &node.reads };
    let mut conn = pool.get_conn().await?;
    if matches!(mode, Mode::Lookup) {
        return f(&mut Tx::Autocommit(&mut conn)).await;
    }
    // Not marked READ ONLY even when it is: that costs a statement of its
    // own, and read-only transactions here are a few SELECTs.
    let mut tx = Tx::Transaction(conn.start_transaction(TxOpts::default()).await?);
    let result = f(&mut tx).await;
    let Tx::Transaction(tx) = tx else {
        return Err(StoreError::Backend("a transaction turned into a bare connection".into()));
    };
    match result {
        Ok(v) => {
            tx.commit().await?;
            Ok(v)
        }
        Err(e) => {
            // A broken connection cannot roll back; the pool drops it either way.
            tx.rollback().await.ok();
            Err(e)
        }
    }
}

/// 10 ms doubling to 1 s, each wait a random 50-100 % of that so that
/// transactions that collided do not collide again in step.
/// Whether a transaction the local node cannot take now should wait and
/// retry, or fail at once. A node whose health cannot be read at all is not
/// coming back within a retry. One that answers but is not Synced (the
/// cluster re-forming after another node died) usually is, and so is one a
/// transaction merely lost or found slow (`UNREACHABLE`, until the monitor
/// reads it again within half a second): a single attempt slowed past its
/// timeout by a busy machine must not fail an operation that a retry
/// finishes.
fn refusal(state: &str, unchanged_for: Duration, why: StoreError) -> Refusal {
    if state == DOWN || unchanged_for > RETRY_BUDGET { Refusal::Fail(why) } else { Refusal::Wait(why) }
}

fn backoff(attempt: u32) -> Duration {
    let base = 10u64.saturating_mul(1 << attempt.min(7)).min(1000);
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).ok();
    let jitter = u64::from(u16::from_le_bytes(b)) % (base / 2 + 1);
    Duration::from_millis(base / 2 + jitter)
}

/// FNV-1a: stable across processes and versions, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x100000001b3))
}

impl Node {
    fn health(&self) -> Health {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, serving: bool, state: String, cluster: String, size: u32) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if h.serving != serving {
            h.since = Instant::now();
            if serving {
                tracing::info!(target: "hato::store", node = %self.address, "Galera node serving ({state}, {cluster})");
            } else {
                tracing::warn!(target: "hato::store", node = %self.address, "Galera node not serving ({state}, {cluster})");
            }
        }
        (h.serving, h.state, h.cluster, h.size) = (serving, state, cluster, size);
    }

    /// A transaction lost its connection: count the node out until the
    /// monitor reads it serving again.
    fn suspect(&self) {
        let h = self.health();
        if h.serving {
            self.set(false, UNREACHABLE.into(), h.cluster, h.size);
        }
    }

    fn record(&self, reading: Result<Result<Reading, StoreError>, tokio::time::error::Elapsed>) {
        match reading {
            Ok(Ok(r)) => {
                let serving = r.ready && r.cluster == "Primary" && (r.state == "Synced" || r.state == "Donor/Desynced");
                self.set(serving, r.state, r.cluster, r.size);
                self.health.lock().unwrap_or_else(|p| p.into_inner()).members = r.members;
            }
            Ok(Err(_)) | Err(_) => self.set(false, DOWN.into(), String::new(), 0),
        }
    }
}

struct Reading {
    ready: bool,
    cluster: String,
    state: String,
    size: u32,
    members: Vec<String>,
}

/// One reading of a node's wsrep status, on the monitor's own connection.
async fn read_health(conn: &mut Option<Conn>, opts: &Opts) -> Result<Reading, StoreError> {
    if conn.is_none() {
        *conn = Some(Conn::new(opts.clone()).await?);
    }
    let Some(c) = conn.as_mut() else { return Err(StoreError::Unavailable("no connection".into())) };
    let rows: Result<Vec<(String, String)>, _> = c
        .query(
            "SHOW GLOBAL STATUS WHERE Variable_name IN
             ('wsrep_ready', 'wsrep_cluster_status', 'wsrep_local_state_comment', 'wsrep_cluster_size',
              'wsrep_incoming_addresses')",
        )
        .await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => {
            *conn = None;
            return Err(e.into());
        }
    };
    let get = |name: &str| rows.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    Ok(Reading {
        ready: get("wsrep_ready").is_some_and(|v| v == "ON"),
        cluster: get("wsrep_cluster_status").unwrap_or_default(),
        state: get("wsrep_local_state_comment").unwrap_or_else(|| "not a Galera node".into()),
        size: get("wsrep_cluster_size").and_then(|v| v.parse().ok()).unwrap_or(0),
        members: get("wsrep_incoming_addresses")
            .map(|v| v.split(',').map(str::trim).filter(|a| !a.is_empty()).map(String::from).collect())
            .unwrap_or_default(),
    })
}

/// Reads a node's health until the store is dropped.
async fn monitor(node: Weak<Node>, opts: Opts, mut conn: Option<Conn>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let reading = tokio::time::timeout(PROBE_TIMEOUT, read_health(&mut conn, &opts)).await;
        if reading.is_err() {
            // A node that stopped answering mid-query: start over next time.
            conn = None;
        }
        let Some(n) = node.upgrade() else { return };
        n.record(reading);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_node_without_health_or_out_too_long_fails_at_once() {
        let why = || StoreError::Unavailable("x".into());
        let second = Duration::from_secs(1);
        assert!(matches!(refusal(DOWN, second, why()), Refusal::Fail(_)));
        assert!(matches!(refusal(UNREACHABLE, second, why()), Refusal::Wait(_)), "a slow or lost attempt retries");
        assert!(matches!(refusal("Joining", second, why()), Refusal::Wait(_)));
        assert!(matches!(refusal("Joining", RETRY_BUDGET + second, why()), Refusal::Fail(_)));
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempt in 1..20 {
            let b = backoff(attempt);
            assert!(b >= Duration::from_millis(5) && b <= Duration::from_millis(1000), "{attempt}: {b:?}");
        }
        assert!(backoff(10) >= Duration::from_millis(500));
    }

    #[test]
    fn home_hash_ignores_case_and_is_stable() {
        assert_eq!(fnv1a(b"Alice@Example.test"), fnv1a(b"alice@example.test"));
        // Fixed forever: every node of a cluster, of any version, must agree.
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
    }
}
