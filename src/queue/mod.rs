//! The queue runner: finds due entries and delivers them, locally or remotely.
//!
//! The queue itself is rows in the store; this runner holds no state that a
//! crash could lose. An entry leaves the queue only in the same transaction
//! that records its fate (filed into a mailbox, accepted by a remote server,
//! or bounced), so a message is never both delivered and still queued, nor
//! neither.
//!
//! Every node of a cluster runs a runner over the same queue. A runner takes
//! entries with `Store::claim_due`, which leases them to this node for
//! `[queue] lease_secs`; it renews the leases of deliveries still running
//! every third of that, and a recorded outcome ends the lease. When a node
//! dies its leases lapse and the other nodes' runners claim the entries
//! (a remote delivery cut off between the peer's 250 and the commit of its
//! outcome is made again: the at-least-once window SMTP has anyway). At
//! start a runner frees the leases its node held before a crash.
//!
//! One account's mail is filed in the order it was accepted: claims hand
//! entries out by acceptance time (`accepted_us`), and a runner files an
//! account's batches one after another in one task (`line_up`). Across the
//! nodes of a cluster the order holds per node only.

mod autoreply;
pub mod dsn;
mod local;
mod mta_sts;
mod tls_policy;

pub use local::recipient;
pub mod route;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tracing::{info, warn};

use crate::config::Config;
use crate::dns::Dns;
use crate::ids::Id;
use crate::smtp::client::{self, RcptResult, SendError};
use crate::store::{
    EntryOutcome, LocalDelivery, NewMessage, NewRecipient, Outcome, QueueEntry, QueuedMessage, Resolution, Store,
    StoreError, Target,
};
use route::{RouteError, Router};

/// Local entries of one account are leased and lined up in chunks of this
/// many, and up to `LOCAL_TURN` chunks waiting in the account's line are
/// filed in one transaction: a burst takes a few turns at the mailbox's UID
/// counter (and a few fsyncs), one transaction stays small.
const LOCAL_BATCH: usize = 50;
const LOCAL_TURN: usize = 4;

/// How long a woken runner lets new mail gather before it claims.
const CLAIM_GATHER: Duration = Duration::from_millis(20);

pub struct Runner {
    cfg: Arc<Config>,
    store: Arc<Store>,
    wake: Arc<Notify>,
    router: Router,
    tls: client::Connectors,
    /// MTA-STS policies of recipient domains (None when `[delivery] mta_sts` is off).
    sts: Option<mta_sts::Sts>,
    /// The name this node's leases carry (`Store::node_name`).
    node: String,
    /// Entries this process is delivering now: their leases are renewed.
    leased: Mutex<HashSet<Id>>,
    /// Per account, the batches of local entries waiting to be filed, in
    /// the order claimed; an account is here while its one filing task runs.
    local_lines: Mutex<HashMap<String, VecDeque<Batch>>>,
    workers: Arc<Semaphore>,
    local_workers: Arc<Semaphore>,
    per_domain: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Local entries of one account filed in one transaction, with their leases.
type Batch = (Vec<QueueEntry>, Leased);

/// Stops renewing an entry's lease when its delivery task ends, however it
/// ends (the recorded outcome has ended the lease in the store, or the
/// lease lapses by itself).
struct Leased {
    runner: Arc<Runner>,
    ids: Vec<Id>,
}

impl Drop for Leased {
    fn drop(&mut self) {
        let mut set = self.runner.leased.lock().unwrap_or_else(|p| p.into_inner());
        for id in &self.ids {
            set.remove(id);
        }
    }
}

/// The connectors of outbound TLS. A CA file that cannot be read (config
/// validation refuses one at start; it may break later) leaves no roots:
/// verified TLS then fails and mail waits — never a password sent to an
/// unverified host.
fn outbound_tls(cfg: &Config) -> client::Connectors {
    let roots = crate::tls::client_roots(cfg.delivery.ca_file.as_deref()).unwrap_or_else(|e| {
        warn!(target: "hato::queue", "deliveries over verified TLS will wait: {e}");
        rustls::RootCertStore::empty()
    });
    client::Connectors::new(roots)
}

impl Runner {
    pub fn new(cfg: Arc<Config>, store: Arc<Store>, wake: Arc<Notify>, dns: Option<Dns>) -> Arc<Runner> {
        let tls = outbound_tls(&cfg);
        Arc::new(Runner {
            router: Router::new(cfg.delivery.clone(), dns.clone()),
            sts: cfg.delivery.mta_sts.then(|| mta_sts::Sts::new(dns, tls.verified(), cfg.delivery.mta_sts_port)),
            tls,
            workers: Arc::new(Semaphore::new(cfg.queue.workers)),
            local_workers: Arc::new(Semaphore::new(cfg.queue.local_workers)),
            node: Store::node_name(&cfg),
            cfg,
            store,
            wake,
            leased: Mutex::new(HashSet::new()),
            local_lines: Mutex::new(HashMap::new()),
            per_domain: Mutex::new(HashMap::new()),
        })
    }

    pub async fn run(self: Arc<Self>) {
        match self.store.release_leases(self.node.clone()).await {
            Ok(0) => {}
            Ok(n) => {
                info!(target: "hato::queue", node = %self.node, "freed {n} entries this node held before it stopped")
            }
            Err(e) => {
                warn!(target: "hato::queue", "could not free this node's old leases (they lapse by themselves): {e}")
            }
        }
        tokio::spawn(self.clone().renew());
        let interval = Duration::from_millis(self.cfg.queue.scan_interval_ms.max(10));
        loop {
            if let Err(e) = self.clone().scan().await {
                warn!(target: "hato::queue", "queue scan failed: {e}");
            }
            tokio::select! {
                // Woken by new mail: wait a moment for more to arrive, so that
                // one claim takes a batch (a claim is a write transaction, on
                // a cluster a replicated one).
                _ = self.wake.notified() => tokio::time::sleep(CLAIM_GATHER).await,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// Keeps the leases of running deliveries from lapsing.
    async fn renew(self: Arc<Self>) {
        let lease = self.cfg.queue.lease_secs as i64;
        loop {
            tokio::time::sleep(Duration::from_secs((lease / 3).max(1) as u64)).await;
            let ids: Vec<Id> = self.leased.lock().unwrap_or_else(|p| p.into_inner()).iter().copied().collect();
            if ids.is_empty() {
                continue;
            }
            let until = crate::clock::now() + lease;
            if let Err(e) = self.store.renew_leases(self.node.clone(), ids, until).await {
                warn!(target: "hato::queue", "could not renew delivery leases: {e}");
            }
        }
    }

    async fn scan(self: Arc<Self>) -> Result<(), StoreError> {
        let lease = self.cfg.queue.lease_secs as i64;
        let fresh = self.store.claim_due(self.node.clone(), crate::clock::now(), lease, 1000).await?;
        self.leased.lock().unwrap_or_else(|p| p.into_inner()).extend(fresh.iter().map(|e| e.id));
        let mut remote: HashMap<(Id, String), Vec<QueueEntry>> = HashMap::new();
        let mut local: HashMap<String, Vec<QueueEntry>> = HashMap::new();
        for e in fresh {
            match &e.local_account {
                Some(account) => local.entry(account.clone()).or_default().push(e),
                None => remote.entry((e.message, e.domain.clone())).or_default().push(e),
            }
        }
        for (account, mut entries) in local {
            let mut batches = Vec::new();
            while !entries.is_empty() {
                let batch: Vec<QueueEntry> = entries.drain(..entries.len().min(LOCAL_BATCH)).collect();
                let guard = Leased { runner: self.clone(), ids: batch.iter().map(|e| e.id).collect() };
                batches.push((batch, guard));
            }
            self.line_up(account, batches);
        }
        for ((_, domain), entries) in remote {
            let guard = Leased { runner: self.clone(), ids: entries.iter().map(|e| e.id).collect() };
            let me = self.clone();
            tokio::spawn(async move {
                me.deliver_remote(domain, entries).await;
                drop(guard);
            });
        }
        Ok(())
    }

    /// Puts an account's batches in its line, behind those claimed before,
    /// and starts the account's filing task unless it runs: one account's
    /// mail is filed in the order it was accepted (claims hand entries out
    /// in that order), never by two tasks racing for its mailbox.
    fn line_up(self: &Arc<Self>, account: String, batches: Vec<Batch>) {
        let mut lines = self.local_lines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(line) = lines.get_mut(&account) {
            line.extend(batches);
            return;
        }
        lines.insert(account.clone(), batches.into());
        tokio::spawn(self.clone().file_in_turn(account));
    }

    /// Files an account's batches in turns, in line order, until the line is empty.
    async fn file_in_turn(self: Arc<Self>, account: String) {
        loop {
            let turn: Vec<Batch> = {
                let mut lines = self.local_lines.lock().unwrap_or_else(|p| p.into_inner());
                let turn: Vec<Batch> = match lines.get_mut(&account) {
                    Some(line) => line.drain(..line.len().min(LOCAL_TURN)).collect(),
                    None => Vec::new(),
                };
                if turn.is_empty() {
                    lines.remove(&account);
                    return;
                }
                turn
            };
            let (chunks, guards): (Vec<Vec<QueueEntry>>, Vec<Leased>) = turn.into_iter().unzip();
            let batch = chunks.concat();
            let Ok(worker) = self.local_workers.clone().acquire_owned().await else {
                self.local_lines.lock().unwrap_or_else(|p| p.into_inner()).remove(&account);
                return;
            };
            // Its own task, so that a panic while filing ends this batch
            // (its leases lapse and it is claimed again), not the line.
            let (me, account) = (self.clone(), account.clone());
            let filing = tokio::spawn(async move {
                me.deliver_local(&account, batch).await;
                drop(worker);
            });
            if let Err(e) = filing.await {
                warn!(target: "hato::queue", "a local delivery task failed: {e}");
            }
            drop(guards);
        }
    }

    /// Delivers entries of one account: each planned (its script, its
    /// folder), then all filed in one store transaction, then each one's
    /// follow-ups (redirects, vacation replies).
    async fn deliver_local(&self, account: &str, entries: Vec<QueueEntry>) {
        let mut plans = Vec::with_capacity(entries.len());
        // What a success report needs, read before the delivery forgets the queued message.
        let mut asked = HashMap::new();
        for e in entries.iter().filter(|e| e.dsn.wants_success()) {
            if let (Ok(Some(msg)), Ok(header)) =
                (self.store.queued_message(e.message).await, self.store.queued_header(e.message).await)
            {
                asked.insert(e.id, (msg, header));
            }
        }
        for e in &entries {
            // The header decides the folder and whether a vacation reply is
            // due. Unreadable, it means INBOX and no reply: the message
            // still arrives.
            let fields = match self.store.queued_header(e.message).await {
                Ok(h) => crate::smtp::message::fields(&h),
                Err(err) => {
                    warn!(target: "hato::queue", queue_id = %e.message, "header unreadable; delivering to INBOX: {err}");
                    Vec::new()
                }
            };
            plans.push(local::plan(&self.store, e, &fields).await);
        }
        let batch = entries.iter().zip(&plans).map(|(e, p)| LocalDelivery { entry: e.id, filings: p.filings.clone() });
        let results = self.store.deliver_local(account, batch.collect()).await;
        let mut delivered = false;
        for ((e, plan), result) in entries.into_iter().zip(plans).zip(results) {
            let qid = e.message;
            match result {
                Ok(true) => {
                    delivered = true;
                    crate::stats::add(&crate::stats::STATS.local_deliveries, 1);
                    crate::stats::DELIVERY_LATENCY
                        .observe(Duration::from_secs((crate::clock::now() - e.created).max(0) as u64));
                    let to = if plan.filings.is_empty() {
                        "no folder (the script discarded or redirected it)".to_string()
                    } else {
                        plan.filings.iter().map(|f| f.folder.to_string()).collect::<Vec<_>>().join(", ")
                    };
                    let script = plan.script.clone().unwrap_or_default();
                    info!(target: "hato::queue", queue_id = %qid, to = %e.recipient, script = %script, "delivered to {to}");
                    if let Some((msg, header)) = asked.get(&e.id) {
                        self.report_delivered(&e, msg, header).await;
                    }
                    local::follow_up(&self.store, &self.cfg.hostname, &e, plan).await;
                }
                Ok(false) => {}
                Err(StoreError::NotFound(what)) => {
                    let error = format!("550 5.1.1 {what} no longer exists");
                    self.finish(qid, vec![(e, Fate::Failed(error))]).await;
                }
                Err(err) => {
                    warn!(target: "hato::queue", queue_id = %qid, to = %e.recipient, "local delivery failed: {err}");
                    let error = format!("451 4.3.0 local delivery failed: {err}");
                    self.finish(qid, vec![(e, Fate::Temporary(error))]).await;
                }
            }
        }
        if delivered {
            self.wake.notify_one();
        }
    }

    fn domain_slot(&self, domain: &str) -> Arc<Semaphore> {
        let mut map = self.per_domain.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(domain.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.cfg.queue.per_destination_concurrency)))
            .clone()
    }

    async fn deliver_remote(&self, domain: String, entries: Vec<QueueEntry>) {
        let slot = self.domain_slot(&domain);
        let (Ok(_worker), Ok(_dest)) = (self.workers.acquire().await, slot.acquire().await) else { return };
        let qid = entries[0].message;
        let fates = match self.attempt(&domain, &entries).await {
            Ok(results) => results,
            Err(e) => {
                let fate = match e {
                    SendError::Permanent(m) => Fate::Failed(m),
                    SendError::Temporary(m) => Fate::Temporary(m),
                };
                vec![fate; entries.len()]
            }
        };
        self.finish(qid, entries.into_iter().zip(fates).collect()).await;
    }

    /// One delivery attempt for a message's recipients in one domain, trying each next hop in turn.
    async fn attempt(&self, domain: &str, entries: &[QueueEntry]) -> Result<Vec<Fate>, SendError> {
        let qid = entries[0].message;
        let msg = self.store.queued_message(qid).await.map_err(|e| SendError::Temporary(e.to_string()))?;
        let Some(msg) = msg else { return Err(SendError::Temporary("message vanished from the queue".into())) };
        let body = self.store.queued_body(qid).await.map_err(|e| SendError::Temporary(e.to_string()))?;
        let mut hops = self.router.hops(domain).await.map_err(|e| match e {
            RouteError::Permanent(m) => SendError::Permanent(m),
            RouteError::Temporary(m) => SendError::Temporary(m),
        })?;
        let d = &self.cfg.delivery;
        let smarthost = self.router.via_smarthost(domain).then_some(d.smarthost.as_ref()).flatten();
        let mut opts = client::Options {
            helo: self.cfg.hostname.clone(),
            verify: smarthost.is_some(),
            connect_timeout: Duration::from_secs(d.connect_timeout_secs),
            command_timeout: Duration::from_secs(d.command_timeout_secs),
            opportunistic_tls: d.opportunistic_tls,
            require_tls: smarthost.is_some_and(|s| s.require_tls),
            credentials: smarthost.and_then(|s| Some((s.username.clone()?, s.password.clone()?))),
            dane: None,
        };
        // RFC 8461 §2: where DANE applies, MTA-STS does not.
        if self.router.via_mx(domain) && !self.apply_dane(domain, &mut hops).await? {
            self.apply_sts(domain, &mut hops, &mut opts).await?;
        }
        let env = client::Envelope {
            sender: &msg.sender,
            dsn: &msg.dsn,
            recipients: entries.iter().map(|e| (e.recipient.as_str(), &e.dsn)).collect(),
        };
        let mut last = SendError::Temporary(format!("no next hop for {domain}"));
        let s = &crate::stats::STATS;
        for hop in hops {
            opts.dane = hop.dane;
            let open = crate::stats::open(&s.outbound_sessions, &s.outbound_sessions_total);
            let sent = client::send(&opts, &self.tls, &hop.name, hop.addr, &env, &body).await;
            drop(open);
            match sent {
                Ok(client::Sent { results, dsn_passed_on }) => {
                    let accepted = results.iter().filter(|r| matches!(r, RcptResult::Accepted(_))).count() as u64;
                    if accepted > 0 {
                        crate::stats::add(&s.relayed_messages, 1);
                        crate::stats::add(&s.relayed_bytes, body.len() as u64);
                        crate::stats::add(&s.relayed_recipients, accepted);
                    }
                    return Ok(results
                        .into_iter()
                        .map(|r| match r {
                            RcptResult::Accepted(m) => {
                                Fate::Delivered { reply: format!("{} [{}]: {m}", hop.name, hop.addr), dsn_passed_on }
                            }
                            RcptResult::Temporary(m) => Fate::Temporary(m),
                            RcptResult::Permanent(m) => Fate::Failed(m),
                        })
                        .collect());
                }
                Err(e @ SendError::Permanent(_)) => {
                    crate::stats::add(&s.relay_failures, 1);
                    return Err(e);
                }
                Err(e) => {
                    crate::stats::add(&s.relay_failures, 1);
                    info!(target: "hato::queue", queue_id = %qid, hop = %hop.addr, "next hop failed: {e}");
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// Records what happened to each entry, turning old temporary failures
    /// into failures, and commits the report to the sender (failures,
    /// delays, deliveries they asked to hear of) in the same transaction.
    async fn finish(&self, qid: Id, fates: Vec<(QueueEntry, Fate)>) {
        let now = crate::clock::now();
        let mut outcomes = Vec::new();
        let mut reports = Vec::new();
        for (e, fate) in fates {
            let outcome = match fate {
                Fate::Delivered { reply, dsn_passed_on } => {
                    crate::stats::DELIVERY_LATENCY.observe(Duration::from_secs((now - e.created).max(0) as u64));
                    info!(target: "hato::queue", queue_id = %qid, to = %e.recipient, "delivered: {reply}");
                    if e.dsn.wants_success() && !dsn_passed_on {
                        reports.push(dsn::Report::new(&e, dsn::Action::Relayed, "2.0.0".into(), reply));
                    }
                    Outcome::Delivered
                }
                Fate::Temporary(m) if now - e.created >= self.cfg.queue.max_age_secs as i64 => {
                    let error = format!("{m} (gave up after {} attempts)", e.attempts + 1);
                    info!(target: "hato::queue", queue_id = %qid, to = %e.recipient, "expired: {error}");
                    if e.dsn.wants_failure() {
                        reports.push(dsn::Report::failed(&e, error.clone()));
                    }
                    Outcome::Failed { error }
                }
                Fate::Temporary(error) => {
                    let schedule = &self.cfg.queue.retry_schedule_secs;
                    let delay = schedule[(e.attempts as usize).min(schedule.len() - 1)];
                    info!(target: "hato::queue", queue_id = %qid, to = %e.recipient, retry_in = delay, "deferred: {error}");
                    let warn_after = self.cfg.queue.delay_warning_secs as i64;
                    let delay_warned =
                        warn_after > 0 && !e.delay_warned && now - e.created >= warn_after && e.dsn.wants_delay();
                    if delay_warned {
                        let status = dsn::status_of(&error).replacen('5', "4", 1);
                        reports.push(dsn::Report::new(&e, dsn::Action::Delayed, status, error.clone()));
                    }
                    Outcome::Deferred { error, next_attempt: now + delay as i64, delay_warned }
                }
                Fate::Failed(error) => {
                    info!(target: "hato::queue", queue_id = %qid, to = %e.recipient, "failed: {error}");
                    if e.dsn.wants_failure() {
                        reports.push(dsn::Report::failed(&e, error.clone()));
                    }
                    Outcome::Failed { error }
                }
            };
            outcomes.push(EntryOutcome { entry: e.id, outcome });
        }
        let report = if reports.is_empty() { None } else { self.report(qid, &reports).await };
        if let Err(e) = self.store.record_outcomes(outcomes, report).await {
            // Nothing changed: the entries stay due and are tried again.
            warn!(target: "hato::queue", queue_id = %qid, "could not record delivery outcome: {e}");
        }
    }

    /// The report to the sender, or None when there is nobody to tell
    /// (a null sender: never bounce a bounce).
    async fn report(&self, qid: Id, reports: &[dsn::Report]) -> Option<NewMessage> {
        let msg = self.store.queued_message(qid).await.ok().flatten()?;
        let body = self.store.queued_body(qid).await.ok()?;
        self.report_on(&msg, reports, &body).await
    }

    async fn report_on(&self, msg: &QueuedMessage, reports: &[dsn::Report], original: &[u8]) -> Option<NewMessage> {
        if msg.sender.is_empty() {
            info!(target: "hato::queue", queue_id = %msg.id, "no report: the message had a null sender");
            return None;
        }
        let retry_until = msg.received + self.cfg.queue.max_age_secs as i64;
        report_message(&self.store, &self.cfg.hostname, msg, reports, original, retry_until).await
    }

    /// Tells the senders who asked (NOTIFY=SUCCESS) that their message was
    /// filed. Sent after the delivery's commit, not in it: a crash between
    /// the two loses this report, never the message.
    async fn report_delivered(&self, e: &QueueEntry, msg: &QueuedMessage, header: &[u8]) {
        let report = dsn::Report::new(e, dsn::Action::Delivered, "2.0.0".into(), String::new());
        let Some(notice) = self.report_on(msg, std::slice::from_ref(&report), header).await else { return };
        if let Err(err) = self.store.enqueue(notice).await {
            warn!(target: "hato::queue", queue_id = %e.message, "could not queue the delivery report: {err}");
        }
    }
}

/// An administrator gives up on a queued message now: every recipient fails
/// and the sender gets one bounce (none for a bounce itself), in one transaction.
pub async fn bounce_now(store: &Store, hostname: &str, msg: &QueuedMessage) -> Result<(), StoreError> {
    let reason = "message returned by the administrator";
    let reports: Vec<dsn::Report> = msg
        .entries
        .iter()
        .filter(|e| e.dsn.wants_failure())
        .map(|e| {
            let diagnostic =
                if e.last_error.is_empty() { reason.into() } else { format!("{reason}; last error: {}", e.last_error) };
            dsn::Report::new(e, dsn::Action::Failed, "5.0.0".into(), diagnostic)
        })
        .collect();
    let bounce = if msg.sender.is_empty() || reports.is_empty() {
        None
    } else {
        let body = store.queued_body(msg.id).await?;
        report_message(store, hostname, msg, &reports, &body, crate::clock::now()).await
    };
    let outcomes = msg
        .entries
        .iter()
        .map(|e| EntryOutcome { entry: e.id, outcome: Outcome::Failed { error: reason.into() } })
        .collect();
    store.record_outcomes(outcomes, bounce).await
}

/// Builds a DSN addressed to the message's sender, resolved like any recipient.
pub async fn report_message(
    store: &Store,
    hostname: &str,
    msg: &QueuedMessage,
    reports: &[dsn::Report],
    original: &[u8],
    retry_until: i64,
) -> Option<NewMessage> {
    let local_account = match store.resolve(msg.sender.clone()).await {
        Ok(Resolution::Targets(t)) => t.into_iter().find_map(|t| match t {
            Target::Account(a) => Some(a.address),
            Target::Remote(_) => None,
        }),
        Ok(Resolution::NotLocal) => None,
        Ok(Resolution::Unknown) | Err(_) => {
            warn!(target: "hato::queue", queue_id = %msg.id, sender = %msg.sender, "bounce dropped: sender cannot be resolved");
            return None;
        }
    };
    let body = dsn::build(hostname, msg, reports, original, crate::clock::now(), retry_until);
    let to = NewRecipient::new(msg.sender.clone(), local_account);
    let subject = dsn::subject(reports);
    let notice = NewMessage::notice(hostname, body, subject.into(), to);
    info!(target: "hato::queue", queue_id = %msg.id, report_id = %notice.id, to = %msg.sender, subject, "delivery report created");
    Some(notice)
}

#[derive(Clone, Debug)]
enum Fate {
    /// `dsn_passed_on`: the next hop took the sender's DSN requests (always false for local delivery).
    Delivered {
        reply: String,
        dsn_passed_on: bool,
    },
    Temporary(String),
    Failed(String),
}

/// Exercises the MTA-STS policy parser for `cargo fuzz` (fuzz/fuzz_targets/dns_records.rs).
#[doc(hidden)]
pub fn fuzz_policy(text: &str) {
    if let Ok(p) = mta_sts::Policy::parse("example.com", text) {
        let _ = p.allows("mx.example.com");
    }
}
