//! The MariaDB Galera backend: every node of a cluster reads and writes the
//! same replicated database.
//!
//! `cluster` holds the nodes, their health, routing and the retry loop;
//! the other files hold the SQL of one area each, as async functions over a
//! transaction. This file says which of them make up each store operation:
//! each `self.cluster.write` closure is one transaction, run again from the
//! start when it must be retried, so everything it inserts is named by ids
//! made before the first attempt.
//!
//! One rule every write keeps: a read whose value decides a write is a
//! locking read (`FOR UPDATE`), or the writing statement checks the
//! condition itself (`DELETE … RETURNING`, `UPDATE … WHERE free`). Galera
//! certifies the rows a transaction writes, not the ones it read, so a
//! decision taken on a value another node has changed meanwhile is not
//! caught otherwise: lost updates across nodes are possible (MariaDB's
//! MDEV-29044; seen here as a queue entry claimed by two nodes before the
//! claim re-checked its rows).
//!
//! What is replicated and what is per node: every table of `schema.rs` is
//! replicated (directory, mailboxes, bodies, queue with its leases,
//! quarantine, archive rows, Sieve, DKIM keys, spam counts, vacation
//! memory, audit log, web console sessions, failed logins). Per node: the archive's full-text index (`store/archive_index.rs`,
//! rebuilt from the archive rows), and what `Store` itself keeps in memory
//! (IDLE wake-ups for changes made through this node).

mod archive;
mod auth;
mod blob;
mod cluster;
mod directory;
mod mailbox;
mod misc;
mod quarantine;
mod queue;
mod schema;
mod session;
mod sql;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::*;
use crate::config::Config;
use crate::store::archive_index::{self as index, LocalIndex};
use archive::Among;
use cluster::{Cluster, Route};

pub struct Galera {
    cluster: Cluster,
    index: LocalIndex,
    /// When the indexer last looked behind its cursor for late rows.
    last_sweep: std::sync::Mutex<Option<Instant>>,
    /// This node's cluster directory: a node that left is no longer a
    /// member there, and `status` stops listing it as down.
    cluster_dir: crate::cluster::node::Dir,
}

/// How far behind its cursor the indexer looks for rows whose transaction
/// committed late (an attempt lasts at most 10 s; retries make new rows).
const SWEEP_SLACK_SECS: i64 = 60;
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// Rows written this long ago or less are read again on each pass rather
/// than passed by the cursor: one commit's `archived_at` is taken before it
/// commits, and its random id may sort before ids of the same second.
const CURSOR_HOLD_BACK_SECS: i64 = 2;
/// Rows read after the cursor on one pass: more than the held-back seconds
/// hold at the rates one node takes in (so new rows are always reached).
const TAIL: usize = 10_000;

impl Galera {
    pub async fn open(cfg: &Config) -> Result<Galera, StoreError> {
        let g = &cfg.store.galera;
        let cluster = Cluster::connect(g).await?;
        schema::migrate(&cluster).await?;
        let path = g.index_path.clone().unwrap_or_else(|| cfg.data_dir.join("archive-index.db"));
        Ok(Galera {
            cluster,
            index: LocalIndex::open(&path)?,
            last_sweep: Default::default(),
            cluster_dir: cfg.cluster_dir(),
        })
    }

    fn due_for_sweep(&self) -> bool {
        let mut last = self.last_sweep.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|t| t.elapsed() >= SWEEP_EVERY);
        if due {
            *last = Some(Instant::now());
        }
        due
    }

    /// The archive rows this node's index finds for `q`'s text and subject,
    /// checked against `q`'s other conditions; newest first, a page at a time.
    async fn indexed_matches(&self, q: &ArchiveQuery, limit: usize) -> Result<Vec<ArchiveEntry>, StoreError> {
        const PAGE: usize = 1000;
        let mut found = Vec::new();
        let mut offset = 0;
        while found.len() < limit {
            let (text, subject) = (q.text.clone(), q.subject.clone());
            let page =
                self.index.with(move |c| index::matches(c, text.as_deref(), subject.as_deref(), PAGE, offset)).await?;
            if page.is_empty() {
                break;
            }
            offset += page.len();
            let (q2, want) = (q.clone(), limit - found.len());
            found.extend(
                self.cluster.read(async move |tx| archive::search(tx, &q2, Among::Ids(&page), want).await).await?,
            );
        }
        Ok(found)
    }
}

fn now() -> i64 {
    crate::clock::now()
}

/// Ids for the rows one operation may insert, made before its first attempt.
fn ids(n: usize) -> Vec<Id> {
    (0..n).map(|_| Id::new()).collect()
}

/// The stages of a local delivery (`Backend::deliver_local`).
impl Galera {
    /// Files each entry into its filings on the account's home node, in one
    /// transaction: true where filed (now or by an earlier attempt), false
    /// where the entry was not found.
    async fn file(&self, account: &str, batch: Vec<LocalDelivery>, ids: Vec<Vec<Id>>) -> Result<Vec<bool>, StoreError> {
        self.cluster
            .write(Route::Home(account), async move |tx| {
                let now = now();
                let mut done = Vec::with_capacity(batch.len());
                for (d, ids) in batch.iter().zip(&ids) {
                    done.push(mailbox::deliver(tx, d.entry, &d.filings, ids, now).await?.is_some());
                }
                Ok(done)
            })
            .await
    }

    /// How many of `entries` are still queued as the account's home node
    /// sees them once it has applied everything committed before.
    async fn queued_at_home(&self, account: &str, entries: Vec<Id>) -> Result<i64, StoreError> {
        self.cluster
            .lookup_at(Route::Home(account), async move |tx| {
                let params = sql::values(entries.iter().map(|i| mysql_async::Value::from(i.0)).collect());
                let sql = format!("SELECT COUNT(*) FROM queue WHERE id IN ({})", sql::marks(entries.len()));
                Ok(sql::one::<i64>(tx, &sql, params).await?.unwrap_or(0))
            })
            .await
    }

    /// Trust, then verify: a delivery reported done triggers follow-ups
    /// (vacation replies, redirects), so it must really be there. In about
    /// one test run in twenty, two Hato nodes delivering at once saw a
    /// delivery reported committed that left nothing behind (the cause is
    /// not known; Galera was replaying BF-aborted transactions at the time).
    /// Reported as a conflict, the entries are tried again.
    async fn verify_filed(&self, account: &str, ids: &[Vec<Id>], done: &[bool]) -> Result<(), StoreError> {
        let firsts: Vec<Id> =
            ids.iter().zip(done).filter(|(_, d)| **d).filter_map(|(i, _)| i.first().copied()).collect();
        if firsts.is_empty() {
            return Ok(());
        }
        let want = firsts.len();
        let present = self
            .cluster
            .lookup(async move |tx| {
                let params = sql::values(firsts.iter().map(|i| mysql_async::Value::from(i.0)).collect());
                let sql = format!("SELECT COUNT(*) FROM messages WHERE id IN ({})", sql::marks(want));
                Ok(sql::one::<i64>(tx, &sql, params).await?.unwrap_or(0))
            })
            .await?;
        if present as usize != want {
            return Err(StoreError::Conflict(format!(
                "a delivery into {account} was reported committed but {} of its {want} messages are not in the database",
                want - present as usize
            )));
        }
        Ok(())
    }
}

impl Backend for Galera {
    async fn add_domain(&self, name: String) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| directory::add_domain(tx, &name).await).await
    }
    async fn remove_domain(&self, name: String) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| directory::remove_domain(tx, &name).await).await
    }
    async fn set_catch_all(&self, domain: String, target: Option<String>) -> Result<(), StoreError> {
        self.cluster
            .write(Route::Local, async move |tx| directory::set_catch_all(tx, &domain, target.as_deref()).await)
            .await
    }
    async fn domains(&self) -> Result<Vec<Domain>, StoreError> {
        self.cluster.read(async |tx| directory::domains(tx).await).await
    }
    async fn is_local_domain(&self, name: String) -> Result<bool, StoreError> {
        self.cluster.lookup(async move |tx| directory::is_local_domain(tx, &name).await).await
    }
    async fn add_account(&self, account: Account) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| directory::add_account(tx, &account).await).await
    }
    async fn update_account(&self, account: Account) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| directory::update_account(tx, &account).await).await
    }
    async fn remove_account(&self, address: String) -> Result<(), StoreError> {
        let home = address.clone();
        self.cluster.write(Route::Home(&home), async move |tx| directory::remove_account(tx, &address).await).await
    }
    async fn account(&self, address: String) -> Result<Option<Account>, StoreError> {
        self.cluster.lookup(async move |tx| directory::account(tx, &address).await).await
    }
    async fn accounts(&self, domain: Option<String>) -> Result<Vec<Account>, StoreError> {
        self.cluster.read(async move |tx| directory::accounts(tx, domain.as_deref()).await).await
    }
    async fn add_alias(&self, address: String, target: String) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| directory::add_alias(tx, &address, &target).await).await
    }
    async fn remove_alias(&self, address: String) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| directory::remove_alias(tx, &address).await).await
    }
    async fn aliases(&self, domain: Option<String>) -> Result<Vec<Alias>, StoreError> {
        self.cluster.read(async move |tx| directory::aliases(tx, domain.as_deref()).await).await
    }
    async fn add_group(&self, address: String, name: String) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| directory::add_group(tx, &address, &name).await).await
    }
    async fn remove_group(&self, address: String) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| directory::remove_group(tx, &address).await).await
    }
    async fn set_group_member(&self, group: String, member: String, present: bool) -> Result<(), StoreError> {
        self.cluster
            .write(Route::Local, async move |tx| directory::set_group_member(tx, &group, &member, present).await)
            .await
    }
    async fn groups(&self, domain: Option<String>) -> Result<Vec<Group>, StoreError> {
        self.cluster.read(async move |tx| directory::groups(tx, domain.as_deref()).await).await
    }
    async fn resolve(&self, address: String) -> Result<Resolution, StoreError> {
        self.cluster.lookup(async move |tx| directory::resolve(tx, &address).await).await
    }
    async fn owner_of(&self, address: String) -> Result<Option<String>, StoreError> {
        self.cluster.lookup(async move |tx| directory::owner_of(tx, &address).await).await
    }
    async fn change_marks(&self, accounts: Vec<String>) -> Result<Vec<ChangeMark>, StoreError> {
        self.cluster.lookup(async move |tx| mailbox::change_marks(tx, &accounts).await).await
    }
    async fn auth_failure_add(&self, id: Id, ip: String, user: String, at: i64) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| auth::add(tx, id, &ip, &user, at).await).await
    }
    async fn auth_failures(&self, ip: String, user: String, since: i64) -> Result<AuthFailures, StoreError> {
        self.cluster.lookup(async move |tx| auth::count(tx, &ip, &user, since).await).await
    }
    async fn auth_failure_list(&self, since: i64) -> Result<Vec<FailedLogins>, StoreError> {
        self.cluster.read(async move |tx| auth::list(tx, since).await).await
    }
    async fn auth_failures_clear(&self, ip: Option<String>, user: Option<String>) -> Result<usize, StoreError> {
        self.cluster.write(Route::Local, async move |tx| auth::clear(tx, ip.as_deref(), user.as_deref()).await).await
    }
    async fn auth_failures_expire(&self, before: i64) -> Result<usize, StoreError> {
        self.cluster.write(Route::Local, async move |tx| auth::expire(tx, before).await).await
    }
    async fn session_put(&self, key: String, session: WebSession) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| session::put(tx, &key, &session).await).await
    }
    async fn session_get(&self, key: String, live_after: i64) -> Result<Option<WebSession>, StoreError> {
        self.cluster.lookup(async move |tx| session::get(tx, &key, live_after).await).await
    }
    async fn session_touch(&self, key: String, now: i64) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| session::touch(tx, &key, now).await).await
    }
    async fn session_remove(&self, key: String) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| session::remove(tx, &key).await).await
    }
    async fn session_remove_user(&self, user: String) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| session::remove_user(tx, &user).await).await
    }
    async fn session_expire(&self, before: i64) -> Result<usize, StoreError> {
        self.cluster.write(Route::Local, async move |tx| session::expire(tx, before).await).await
    }
    async fn audit(&self, entry: AuditEntry) -> Result<(), StoreError> {
        let id = Id::new();
        self.cluster.write(Route::Local, async move |tx| directory::audit_add(tx, &entry, id).await).await
    }
    async fn audit_list(&self, limit: usize, target_domain: Option<String>) -> Result<Vec<AuditEntry>, StoreError> {
        self.cluster.read(async move |tx| directory::audit_list(tx, limit, target_domain.as_deref()).await).await
    }

    async fn enqueue(&self, msg: NewMessage) -> Result<(), StoreError> {
        let id = msg.id;
        let mut first = true;
        let result = self
            .cluster
            .write(Route::Local, async move |tx| {
                // The first attempt writes everything in one batch. A later
                // one first looks for the archive row, which outlives the
                // queue rows: a lost commit may have gone through, and the
                // message may even have been delivered and forgotten since.
                // A duplicate key on the first attempt (the same message
                // committed twice) is such a case too: look again.
                let retry = !std::mem::replace(&mut first, false);
                if retry && archive::exists(tx, msg.id).await? {
                    return Ok(());
                }
                match queue::accept(tx, &msg, now()).await {
                    Err(StoreError::Constraint(e)) if !retry => {
                        Err(StoreError::Conflict(format!("{e}; looking for an earlier commit")))
                    }
                    r => r,
                }
            })
            .await;
        match result {
            // The local node went away, perhaps after the commit reached the
            // cluster: then the message is safe on the other nodes, and a
            // 4xx would make the client send it again (a second copy).
            Err(StoreError::Unavailable(why)) => {
                match self
                    .cluster
                    .lookup_elsewhere(async move |tx| {
                        sql::one::<i64>(tx, "SELECT id FROM archive WHERE id = ?", (id.0,)).await
                    })
                    .await
                {
                    Ok(Some(_)) => {
                        tracing::info!(target: "hato::store", queue_id = %id, "committed before the local node failed ({why})");
                        Ok(())
                    }
                    _ => Err(StoreError::Unavailable(why)),
                }
            }
            r => r,
        }
    }
    async fn claim_due(
        &self,
        node: String,
        now: i64,
        lease_secs: i64,
        limit: usize,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        self.cluster
            .write(Route::Local, async move |tx| queue::claim_due(tx, &node, now, lease_secs, limit).await)
            .await
    }
    async fn renew_leases(&self, node: String, entries: Vec<Id>, until: i64) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| queue::renew_leases(tx, &node, &entries, until).await).await
    }
    async fn release_leases(&self, node: String) -> Result<usize, StoreError> {
        self.cluster.write(Route::Local, async move |tx| queue::release_leases(tx, &node).await).await
    }
    async fn leases_by_node(&self, now: i64) -> Result<Vec<NodeLeases>, StoreError> {
        self.cluster.read(async move |tx| queue::leases_by_node(tx, now).await).await
    }
    async fn queued_message(&self, id: Id) -> Result<Option<QueuedMessage>, StoreError> {
        self.cluster.lookup(async move |tx| queue::queued_message(tx, id).await).await
    }
    async fn queued_header(&self, id: Id) -> Result<Vec<u8>, StoreError> {
        self.cluster.lookup(async move |tx| queue::queued_header(tx, id).await).await
    }
    async fn queued_body(&self, id: Id) -> Result<Vec<u8>, StoreError> {
        self.cluster.lookup(async move |tx| queue::queued_body(tx, id).await).await
    }
    async fn queue_summary(&self) -> Result<QueueSummary, StoreError> {
        self.cluster.read(async |tx| queue::summary(tx).await).await
    }
    async fn queue_list(&self, filter: QueueFilter) -> Result<Vec<QueuedMessage>, StoreError> {
        self.cluster.read(async move |tx| queue::list(tx, &filter).await).await
    }
    async fn record_outcomes(&self, outcomes: Vec<EntryOutcome>, bounce: Option<NewMessage>) -> Result<(), StoreError> {
        self.cluster
            .write(Route::Local, async move |tx| {
                let now = now();
                if let Some(b) = &bounce
                    && archive::record(tx, b, "accepted", "delivery status notification", now).await?
                {
                    queue::enqueue(tx, b, now).await?;
                }
                queue::record_outcomes(tx, &outcomes).await
            })
            .await
    }
    async fn queue_action(&self, id: Id, action: QueueAction) -> Result<usize, StoreError> {
        self.cluster.write(Route::Local, async move |tx| queue::action(tx, id, action, now()).await).await
    }
    async fn deliver_local(&self, account: String, batch: Vec<LocalDelivery>) -> Result<Vec<bool>, StoreError> {
        let ids: Vec<Vec<Id>> = batch.iter().map(|d| ids(d.filings.len())).collect();
        let mut done = self.file(&account, batch.clone(), ids.clone()).await?;
        // Writes do not wait for causality (cluster.rs), and the entries were
        // claimed through this node while the account's home node files
        // them: an entry the home node found missing may only not have
        // reached it yet (seen in CI as a batch of three all "gone"). A
        // causal look at the home node tells; what it holds is filed now.
        let missing: Vec<usize> = (0..batch.len()).filter(|&i| !done[i]).collect();
        if !missing.is_empty() {
            let entries: Vec<Id> = missing.iter().map(|&i| batch[i].entry).collect();
            if self.queued_at_home(&account, entries).await? > 0 {
                let again = missing.iter().map(|&i| batch[i].clone()).collect();
                let again_ids = missing.iter().map(|&i| ids[i].clone()).collect();
                for (i, d) in missing.iter().zip(self.file(&account, again, again_ids).await?) {
                    done[*i] = d;
                }
            }
        }
        self.verify_filed(&account, &ids, &done).await?;
        Ok(done)
    }
    async fn archive_import(&self, msgs: Vec<ImportedArchive>) -> Result<(), StoreError> {
        self.cluster
            .write(Route::Local, async move |tx| {
                for m in &msgs {
                    archive::record(tx, &m.message, "imported", "", m.created).await?;
                }
                Ok(())
            })
            .await
    }
    async fn archive_unqueued(
        &self,
        msg: NewMessage,
        disposition: &'static str,
        reason: String,
    ) -> Result<(), StoreError> {
        // Owned: an async closure that captures a reference (even a 'static
        // one) fails the compiler's Send check for trait methods today.
        let disposition = disposition.to_string();
        self.cluster
            .write(Route::Local, async move |tx| {
                archive::record(tx, &msg, &disposition, &reason, now()).await.map(drop)
            })
            .await
    }
    async fn archive_search(&self, q: ArchiveQuery) -> Result<Vec<ArchiveEntry>, StoreError> {
        let limit = q.limit.clamp(1, 100_000);
        let mut found = if q.text.is_none() && q.subject.is_none() {
            let q2 = q.clone();
            self.cluster.read(async move |tx| archive::search(tx, &q2, Among::All, limit).await).await?
        } else {
            // The cursor is read first: every row the index lacks when it is
            // asked next is then after this cursor, or late (see SWEEP_SLACK_SECS).
            let cursor = self.index.with(index::cursor).await?;
            let mut found = self.indexed_matches(&q, limit).await?;
            // A subject alone is also looked for, as the header writes it, in
            // the rows the index may not hold yet: a message archived a moment
            // ago is found, as on SQLite.
            if let (None, Some(subject)) = (&q.text, q.subject.clone()) {
                let q2 = q.clone();
                let newest = self
                    .cluster
                    .read(async move |tx| {
                        archive::search(tx, &q2, Among::Unindexed { cursor, subject: &subject }, limit).await
                    })
                    .await?;
                let seen: HashSet<i64> = found.iter().map(|e| e.id.0).collect();
                found.extend(newest.into_iter().filter(|e| !seen.contains(&e.id.0)));
            }
            found.sort_by_key(|e| std::cmp::Reverse((e.created, e.id)));
            found.truncate(limit);
            found
        };
        // Show subjects decoded, as the index holds them.
        let ids: Vec<i64> = found.iter().map(|e| e.id.0).collect();
        let decoded = self.index.with(move |c| index::subjects(c, &ids)).await?;
        for e in &mut found {
            if let Some(s) = decoded.get(&e.id.0) {
                e.subject = s.clone();
            }
        }
        Ok(found)
    }
    async fn archive_body(&self, id: Id) -> Result<Vec<u8>, StoreError> {
        self.cluster.read(async move |tx| archive::body(tx, id).await).await
    }
    async fn archive_hold(&self, id: Id, hold: bool) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| archive::set_hold(tx, id, hold).await).await
    }
    async fn archive_expire(&self, before: i64) -> Result<usize, StoreError> {
        // In batches: one transaction deleting a year of mail would be a
        // write set too large to replicate in one piece.
        let mut total = 0;
        loop {
            let gone = self.cluster.write(Route::Local, async move |tx| archive::expire(tx, before, 500).await).await?;
            total += gone.len();
            let done = gone.len() < 500;
            self.index.with(move |c| index::remove(c, &gone)).await?;
            if done {
                break;
            }
        }
        // Another node may have expired them first: drop what this index
        // still holds of that age, except what is on legal hold.
        let held: HashSet<i64> =
            self.cluster.read(async move |tx| archive::held_before(tx, before).await).await?.into_iter().collect();
        self.index
            .with(move |c| {
                let stale = index::older_than(c, before, &held)?;
                index::remove(c, &stale)
            })
            .await?;
        Ok(total)
    }
    async fn archive_unindexed(&self, limit: usize) -> Result<Vec<UnindexedArchive>, StoreError> {
        let cursor = self.index.with(index::cursor).await?;
        let sweep = self.due_for_sweep();
        let (tail, behind) = self
            .cluster
            .read(async move |tx| {
                let tail = archive::after(tx, cursor, TAIL).await?;
                let behind = if sweep { archive::behind(tx, cursor, SWEEP_SLACK_SECS).await? } else { Vec::new() };
                Ok((tail, behind))
            })
            .await?;
        let (want, cursor) = self
            .index
            .with(move |c| {
                let tail_ids: Vec<i64> = tail.iter().map(|r| r.0).collect();
                let missing_tail = index::missing(c, &tail_ids)?;
                let lacking: HashSet<&i64> = missing_tail.iter().collect();
                // The cursor moves over the rows this index already holds, but
                // not over the last seconds: ids are random, so a row written
                // later in the same second may sort before one indexed already.
                let settled = now() - CURSOR_HOLD_BACK_SECS;
                let mut cursor = cursor;
                for (id, at) in &tail {
                    if lacking.contains(id) || *at >= settled {
                        break;
                    }
                    cursor = (*at, *id);
                }
                index::set_state(c, "cursor_at", cursor.0)?;
                index::set_state(c, "cursor_id", cursor.1)?;
                let mut want = index::missing(c, &behind)?;
                want.extend(missing_tail);
                Ok((want, cursor))
            })
            .await?;
        tracing::trace!(target: "hato::archive", cursor = ?cursor, pending = want.len(), "index follows the archive");
        let want: Vec<i64> = want.into_iter().take(limit).collect();
        self.cluster.read(async move |tx| archive::for_indexing(tx, &want).await).await
    }
    async fn archive_index(&self, rows: Vec<ArchiveText>) -> Result<(), StoreError> {
        self.index.with(move |c| index::add(c, &rows)).await
    }
    async fn archive_index_status(&self) -> Result<IndexStatus, StoreError> {
        let (indexed, cursor) = self.index.with(|c| Ok((index::count(c)?, index::cursor(c)?))).await?;
        let (pending, oldest_pending) = self.cluster.read(async move |tx| archive::pending(tx, cursor).await).await?;
        Ok(IndexStatus { indexed, pending, oldest_pending })
    }
    async fn archive_reindex(&self) -> Result<(), StoreError> {
        self.index.with(index::clear).await
    }

    async fn quarantine(&self, msg: NewMessage, filter: String, reason: String) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| quarantine::add(tx, &msg, &filter, &reason, now()).await).await
    }
    async fn quarantine_list(&self, limit: usize, account: Option<String>) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.cluster.read(async move |tx| quarantine::list(tx, limit, account.as_deref()).await).await
    }
    async fn quarantine_body(&self, id: Id) -> Result<Vec<u8>, StoreError> {
        self.cluster.read(async move |tx| quarantine::body(tx, id).await).await
    }
    async fn quarantine_release(&self, id: Id) -> Result<Id, StoreError> {
        let queued = Id::new();
        self.cluster.write(Route::Local, async move |tx| quarantine::release(tx, id, queued, now()).await).await
    }
    async fn quarantine_delete(&self, id: Id) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| quarantine::delete(tx, id).await).await
    }
    async fn quarantine_expire(&self, before: i64) -> Result<usize, StoreError> {
        self.cluster.write(Route::Local, async move |tx| quarantine::expire(tx, before).await).await
    }

    async fn sieve_put(&self, account: String, name: String, script: String) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| misc::sieve_put(tx, &account, &name, &script).await).await
    }
    async fn sieve_list(&self, account: String) -> Result<Vec<ScriptInfo>, StoreError> {
        self.cluster.read(async move |tx| misc::sieve_list(tx, &account).await).await
    }
    async fn sieve_get(&self, account: String, name: String) -> Result<Option<String>, StoreError> {
        self.cluster.read(async move |tx| misc::sieve_get(tx, &account, &name).await).await
    }
    async fn sieve_active(&self, account: String) -> Result<Option<SieveScript>, StoreError> {
        self.cluster.lookup(async move |tx| misc::sieve_active(tx, &account).await).await
    }
    async fn sieve_set_active(&self, account: String, name: Option<String>) -> Result<(), StoreError> {
        self.cluster
            .write(Route::Local, async move |tx| misc::sieve_set_active(tx, &account, name.as_deref()).await)
            .await
    }
    async fn sieve_delete(&self, account: String, name: String) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| misc::sieve_delete(tx, &account, &name).await).await
    }
    async fn sieve_rename(&self, account: String, from: String, to: String) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| misc::sieve_rename(tx, &account, &from, &to).await).await
    }
    async fn dkim_put(&self, key: DkimKey) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| misc::dkim_put(tx, &key, now()).await).await
    }
    async fn dkim_key(&self, domain: String) -> Result<Option<DkimKey>, StoreError> {
        self.cluster.lookup(async move |tx| misc::dkim_get(tx, &domain).await).await
    }
    async fn dkim_keys(&self) -> Result<Vec<DkimKey>, StoreError> {
        self.cluster.read(async |tx| misc::dkim_list(tx).await).await
    }
    async fn dkim_remove(&self, domain: String) -> Result<bool, StoreError> {
        self.cluster.write(Route::Local, async move |tx| misc::dkim_remove(tx, &domain).await).await
    }
    async fn shared_put(&self, name: String, value: Vec<u8>, node: String) -> Result<i64, StoreError> {
        self.cluster.write(Route::Local, async move |tx| misc::shared_put(tx, &name, &value, &node, now()).await).await
    }
    async fn shared_items(&self) -> Result<Vec<SharedItem>, StoreError> {
        self.cluster.read(async |tx| misc::shared_items(tx).await).await
    }
    async fn spam_counts(&self, hashes: Vec<i64>) -> Result<SpamCounts, StoreError> {
        self.cluster.lookup(async move |tx| misc::spam_counts(tx, &hashes).await).await
    }
    async fn spam_learn(&self, messages: Vec<LearnedMessage>) -> Result<(), StoreError> {
        self.cluster
            .write(Route::Local, async move |tx| {
                for m in &messages {
                    misc::learn(tx, &m.hashes, m.spam).await?;
                }
                Ok(())
            })
            .await
    }
    async fn spam_totals(&self) -> Result<SpamTotals, StoreError> {
        self.cluster.lookup(async |tx| misc::spam_totals(tx).await).await
    }
    async fn set_vacation(&self, account: String, v: Option<Vacation>) -> Result<(), StoreError> {
        self.cluster.write(Route::Local, async move |tx| misc::vacation_set(tx, &account, v.as_ref()).await).await
    }
    async fn vacation(&self, account: String) -> Result<Option<Vacation>, StoreError> {
        self.cluster.lookup(async move |tx| misc::vacation_get(tx, &account).await).await
    }
    async fn send_vacation(
        &self,
        account: String,
        sender: String,
        days: u32,
        reply: NewMessage,
    ) -> Result<bool, StoreError> {
        self.cluster
            .write(Route::Local, async move |tx| misc::vacation_send(tx, &account, &sender, days, &reply, now()).await)
            .await
    }

    async fn mailboxes(&self, account: String) -> Result<Vec<MailboxInfo>, StoreError> {
        self.cluster.read(async move |tx| mailbox::mailboxes(tx, &account).await).await
    }
    async fn snapshot(&self, account: String, mailbox: String) -> Result<Snapshot, StoreError> {
        self.cluster.read(async move |tx| mailbox::snapshot(tx, &account, &mailbox).await).await
    }
    async fn changes(&self, account: String, mailbox: String, since: i64) -> Result<Changes, StoreError> {
        self.cluster.read(async move |tx| mailbox::changes(tx, &account, &mailbox, since).await).await
    }
    async fn import(&self, account: String, mailbox: String, msgs: Vec<Vec<u8>>) -> Result<usize, StoreError> {
        let (home, ids) = (account.clone(), ids(msgs.len()));
        self.cluster
            .write(Route::Home(&home), async move |tx| {
                mailbox::import(tx, &account, &mailbox, &msgs, &ids, now()).await
            })
            .await
    }
    async fn claim_recent(&self, account: String, mailbox: String) -> Result<i64, StoreError> {
        let home = account.clone();
        self.cluster
            .write(Route::Home(&home), async move |tx| mailbox::claim_recent(tx, &account, &mailbox).await)
            .await
    }
    async fn contents(&self, account: String, mailbox: String, uids: Vec<i64>) -> Result<Vec<MessageData>, StoreError> {
        self.cluster.read(async move |tx| mailbox::contents(tx, &account, &mailbox, &uids).await).await
    }
    async fn summaries(
        &self,
        account: String,
        mailbox: String,
        uids: Vec<i64>,
    ) -> Result<Vec<MessageSummary>, StoreError> {
        self.cluster.read(async move |tx| mailbox::summaries(tx, &account, &mailbox, &uids).await).await
    }
    async fn headers(&self, account: String, mailbox: String, uids: Vec<i64>) -> Result<Vec<MessageData>, StoreError> {
        self.cluster.read(async move |tx| mailbox::headers(tx, &account, &mailbox, &uids).await).await
    }
    async fn mailbox_state(&self, account: String, mailbox: String) -> Result<MailboxState, StoreError> {
        self.cluster.read(async move |tx| mailbox::state(tx, &account, &mailbox).await).await
    }
    async fn set_flags(
        &self,
        account: String,
        mailbox: String,
        uids: Vec<i64>,
        op: FlagOp,
        flags: Vec<String>,
        unchanged_since: Option<i64>,
    ) -> Result<FlagsChanged, StoreError> {
        let home = account.clone();
        self.cluster
            .write(Route::Home(&home), async move |tx| {
                mailbox::set_flags(tx, &account, &mailbox, &uids, op, &flags, unchanged_since).await
            })
            .await
    }
    async fn append(&self, account: String, mailbox: String, uploads: Vec<Upload>) -> Result<Appended, StoreError> {
        let home = account.clone();
        let ids: Vec<Id> = uploads.iter().map(|_| Id::new()).collect();
        self.cluster
            .write(Route::Home(&home), async move |tx| {
                mailbox::append_messages(tx, &account, &mailbox, &uploads, &ids).await
            })
            .await
    }
    async fn copy(
        &self,
        account: String,
        from: String,
        to: String,
        uids: Vec<i64>,
        check_quota: bool,
    ) -> Result<Copied, StoreError> {
        let (home, ids) = (account.clone(), ids(uids.len()));
        self.cluster
            .write(Route::Home(&home), async move |tx| {
                mailbox::copy_messages(tx, &account, &from, &to, &uids, check_quota, &ids).await
            })
            .await
    }
    async fn create_mailbox(&self, account: String, name: String) -> Result<(), StoreError> {
        let (home, mid) = (account.clone(), Id::new());
        self.cluster
            .write(Route::Home(&home), async move |tx| mailbox::create_mailbox(tx, &account, &name, mid).await)
            .await
    }
    async fn delete_mailbox(&self, account: String, name: String) -> Result<(), StoreError> {
        let home = account.clone();
        self.cluster.write(Route::Home(&home), async move |tx| mailbox::delete_mailbox(tx, &account, &name).await).await
    }
    async fn rename_mailbox(&self, account: String, from: String, to: String) -> Result<(), StoreError> {
        let home = account.clone();
        self.cluster
            .write(Route::Home(&home), async move |tx| mailbox::rename_mailbox(tx, &account, &from, &to).await)
            .await
    }
    async fn set_subscribed(&self, account: String, name: String, on: bool) -> Result<(), StoreError> {
        let home = account.clone();
        self.cluster
            .write(Route::Home(&home), async move |tx| mailbox::set_subscribed(tx, &account, &name, on).await)
            .await
    }
    async fn subscriptions(&self, account: String) -> Result<Vec<String>, StoreError> {
        self.cluster.read(async move |tx| mailbox::subscriptions(tx, &account).await).await
    }
    async fn expunge(&self, account: String, mailbox: String, uids: Vec<i64>) -> Result<usize, StoreError> {
        let home = account.clone();
        self.cluster
            .write(Route::Home(&home), async move |tx| mailbox::expunge(tx, &account, &mailbox, &uids).await)
            .await
    }
    async fn messages(
        &self,
        account: String,
        mailbox: String,
        with_content: bool,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.cluster.read(async move |tx| mailbox::messages(tx, &account, &mailbox, with_content).await).await
    }

    async fn status(&self) -> Result<StoreStatus, StoreError> {
        let (serving, detail) = self.cluster.local_serving();
        let mut nodes = self.cluster.status();
        // Without a cluster directory (a store pointed at Galera by hand) every node counts.
        if let Ok(node) = self.cluster_dir.load() {
            nodes.retain(|n| n.local || is_member(&n.address, &node.members));
        }
        Ok(StoreStatus { backend: "galera".into(), serving, detail, nodes })
    }
}

/// Whether a store node's "host:port" is one of the members (a host that is
/// not an IP address is kept: it cannot be told apart).
fn is_member(address: &str, members: &[std::net::IpAddr]) -> bool {
    match address.parse::<std::net::SocketAddr>() {
        Ok(sa) => members.contains(&sa.ip()),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_that_left_is_not_a_member() {
        let members = ["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        assert!(is_member("10.0.0.2:3306", &members));
        assert!(!is_member("10.0.0.3:3306", &members));
        assert!(is_member("db3.example:3306", &members));
    }

    /// Every read-only transaction reads causally, also on a connection the
    /// pool hands out again (a pool that reset sessions lost this once).
    #[tokio::test]
    async fn pooled_connections_keep_causal_reads() {
        if crate::store::tests::galera_nodes().is_none() {
            return;
        }
        let cfg = crate::store::tests::test_config("galera");
        let g = Galera::open(&cfg).await.unwrap();
        for _ in 0..20 {
            let wait = g
                .cluster
                .read(async |tx| sql::one::<i64>(tx, "SELECT @@SESSION.wsrep_sync_wait", ()).await)
                .await
                .unwrap();
            assert_eq!(wait, Some(1));
        }
        std::fs::remove_dir_all(&cfg.data_dir).ok();
    }
}
