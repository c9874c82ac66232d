//! The SQLite backend: the embedded default for a single node.
//!
//! `db` runs every write on one writer thread with group commit and reads on
//! a bounded pool of reader connections; the other files hold the SQL of one
//! area each, as plain functions over a `rusqlite::Connection`. This file
//! says which of them make up each store operation, and so which steps
//! share a transaction: each `self.db.write` closure is one transaction.
//!
//! The archive's full-text index is a file of its own beside the database
//! (`store::archive_index`, `Config::db_index_path`) with its own writer:
//! indexing neither waits for nor holds up the writer that commits mail.
//!
//! Queue leases behave as in a cluster (the runner claims entries) though
//! only one process ever claims here; `release_leases` at start frees a
//! crashed run's claims at once.

mod archive;
mod auth;
mod db;
mod directory;
mod dkim;
mod mailbox;
mod quarantine;
mod queue;
mod schema;
mod session;
mod sieve;
mod spam;
mod vacation;

use std::path::{Path, PathBuf};

use super::*;
use crate::store::archive_index::{self, LocalIndex};
use db::Db;
use mailbox::BlobKey;

pub struct Sqlite {
    db: Db,
    index: LocalIndex,
    path: PathBuf,
    /// Whether the archive rows marked indexed were checked against the index
    /// file since the open. The check reads every archive row (half a second
    /// for a million), so the indexer makes it before its first batch rather
    /// than every open (each `hato ctl` command opens the store).
    index_checked: std::sync::atomic::AtomicBool,
}

impl Sqlite {
    /// Opens the database at `path` and the archive's index file at `index`.
    pub fn open(path: &Path, index: &Path) -> Result<Sqlite, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create data directory {}: {e}", dir.display())))?;
        }
        let local_index = LocalIndex::open(index)?;
        Ok(Sqlite {
            db: Db::open(path, index)?,
            index: local_index,
            path: path.to_path_buf(),
            index_checked: false.into(),
        })
    }
}

fn now() -> i64 {
    crate::clock::now()
}

impl Backend for Sqlite {
    async fn add_domain(&self, name: String) -> Result<(), StoreError> {
        self.db.write(move |c| directory::add_domain(c, &name)).await
    }
    async fn remove_domain(&self, name: String) -> Result<(), StoreError> {
        self.db.write(move |c| directory::remove_domain(c, &name)).await
    }
    async fn set_catch_all(&self, domain: String, target: Option<String>) -> Result<(), StoreError> {
        self.db.write(move |c| directory::set_catch_all(c, &domain, target.as_deref())).await
    }
    async fn domains(&self) -> Result<Vec<Domain>, StoreError> {
        self.db.read(directory::domains).await
    }
    async fn is_local_domain(&self, name: String) -> Result<bool, StoreError> {
        self.db.read(move |c| directory::is_local_domain(c, &name)).await
    }
    async fn add_account(&self, account: Account) -> Result<(), StoreError> {
        self.db.write(move |c| directory::add_account(c, &account)).await
    }
    async fn update_account(&self, account: Account) -> Result<(), StoreError> {
        self.db.write(move |c| directory::update_account(c, &account)).await
    }
    async fn remove_account(&self, address: String) -> Result<(), StoreError> {
        self.db.write(move |c| directory::remove_account(c, &address)).await
    }
    async fn account(&self, address: String) -> Result<Option<Account>, StoreError> {
        self.db.read(move |c| directory::account(c, &address)).await
    }
    async fn accounts(&self, domain: Option<String>) -> Result<Vec<Account>, StoreError> {
        self.db.read(move |c| directory::accounts(c, domain.as_deref())).await
    }
    async fn add_alias(&self, address: String, target: String) -> Result<(), StoreError> {
        self.db.write(move |c| directory::add_alias(c, &address, &target)).await
    }
    async fn remove_alias(&self, address: String) -> Result<(), StoreError> {
        self.db.write(move |c| directory::remove_alias(c, &address)).await
    }
    async fn aliases(&self, domain: Option<String>) -> Result<Vec<Alias>, StoreError> {
        self.db.read(move |c| directory::aliases(c, domain.as_deref())).await
    }
    async fn add_group(&self, address: String, name: String) -> Result<(), StoreError> {
        self.db.write(move |c| directory::add_group(c, &address, &name)).await
    }
    async fn remove_group(&self, address: String) -> Result<(), StoreError> {
        self.db.write(move |c| directory::remove_group(c, &address)).await
    }
    async fn set_group_member(&self, group: String, member: String, present: bool) -> Result<(), StoreError> {
        self.db.write(move |c| directory::set_group_member(c, &group, &member, present)).await
    }
    async fn groups(&self, domain: Option<String>) -> Result<Vec<Group>, StoreError> {
        self.db.read(move |c| directory::groups(c, domain.as_deref())).await
    }
    async fn resolve(&self, address: String) -> Result<Resolution, StoreError> {
        self.db.read(move |c| directory::resolve(c, &address)).await
    }
    async fn owner_of(&self, address: String) -> Result<Option<String>, StoreError> {
        self.db.read(move |c| directory::owner_of(c, &address)).await
    }
    async fn change_marks(&self, accounts: Vec<String>) -> Result<Vec<ChangeMark>, StoreError> {
        self.db.read(move |c| mailbox::change_marks(c, &accounts)).await
    }
    async fn auth_failure_add(&self, id: Id, ip: String, user: String, at: i64) -> Result<(), StoreError> {
        self.db.write(move |c| auth::add(c, id, &ip, &user, at)).await
    }
    async fn auth_failures(&self, ip: String, user: String, since: i64) -> Result<AuthFailures, StoreError> {
        self.db.read(move |c| auth::count(c, &ip, &user, since)).await
    }
    async fn auth_failure_list(&self, since: i64) -> Result<Vec<FailedLogins>, StoreError> {
        self.db.read(move |c| auth::list(c, since)).await
    }
    async fn auth_failures_clear(&self, ip: Option<String>, user: Option<String>) -> Result<usize, StoreError> {
        self.db.write(move |c| auth::clear(c, ip.as_deref(), user.as_deref())).await
    }
    async fn auth_failures_expire(&self, before: i64) -> Result<usize, StoreError> {
        self.db.write(move |c| auth::expire(c, before)).await
    }
    async fn session_put(&self, key: String, session: WebSession) -> Result<(), StoreError> {
        self.db.write(move |c| session::put(c, &key, &session)).await
    }
    async fn session_get(&self, key: String, live_after: i64) -> Result<Option<WebSession>, StoreError> {
        self.db.read(move |c| session::get(c, &key, live_after)).await
    }
    async fn session_touch(&self, key: String, now: i64) -> Result<(), StoreError> {
        self.db.write(move |c| session::touch(c, &key, now)).await
    }
    async fn session_remove(&self, key: String) -> Result<(), StoreError> {
        self.db.write(move |c| session::remove(c, &key)).await
    }
    async fn session_remove_user(&self, user: String) -> Result<(), StoreError> {
        self.db.write(move |c| session::remove_user(c, &user)).await
    }
    async fn session_expire(&self, before: i64) -> Result<usize, StoreError> {
        self.db.write(move |c| session::expire(c, before)).await
    }
    async fn audit(&self, entry: AuditEntry) -> Result<(), StoreError> {
        self.db.write(move |c| directory::audit_add(c, &entry)).await
    }
    async fn audit_list(&self, limit: usize, target_domain: Option<String>) -> Result<Vec<AuditEntry>, StoreError> {
        self.db.read(move |c| directory::audit_list(c, limit, target_domain.as_deref())).await
    }

    async fn enqueue(&self, msg: NewMessage) -> Result<(), StoreError> {
        let blob = BlobKey::of(&msg.body);
        self.db
            .write(move |c| {
                // The archive row outlives the queue rows: a message archived
                // before was queued before, and may be delivered already.
                let now = now();
                if archive::record(c, &msg, &blob, "accepted", "", now)? {
                    queue::enqueue(c, &msg, &blob.id, now)
                } else {
                    Ok(())
                }
            })
            .await
    }
    async fn claim_due(
        &self,
        node: String,
        now: i64,
        lease_secs: i64,
        limit: usize,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        self.db.write(move |c| queue::claim_due(c, &node, now, lease_secs, limit)).await
    }
    async fn renew_leases(&self, node: String, entries: Vec<Id>, until: i64) -> Result<(), StoreError> {
        self.db.write(move |c| queue::renew_leases(c, &node, &entries, until)).await
    }
    async fn release_leases(&self, node: String) -> Result<usize, StoreError> {
        self.db.write(move |c| queue::release_leases(c, &node)).await
    }
    async fn leases_by_node(&self, now: i64) -> Result<Vec<NodeLeases>, StoreError> {
        self.db.read(move |c| queue::leases_by_node(c, now)).await
    }
    async fn queued_message(&self, id: Id) -> Result<Option<QueuedMessage>, StoreError> {
        self.db.read(move |c| queue::queued_message(c, id)).await
    }
    async fn queued_header(&self, id: Id) -> Result<Vec<u8>, StoreError> {
        self.db.read(move |c| queue::queued_header(c, id)).await
    }
    async fn queued_body(&self, id: Id) -> Result<Vec<u8>, StoreError> {
        self.db.read(move |c| queue::queued_body(c, id)).await
    }
    async fn queue_summary(&self) -> Result<QueueSummary, StoreError> {
        self.db.read(queue::summary).await
    }
    async fn queue_list(&self, filter: QueueFilter) -> Result<Vec<QueuedMessage>, StoreError> {
        self.db.read(move |c| queue::list(c, &filter)).await
    }
    async fn record_outcomes(&self, outcomes: Vec<EntryOutcome>, bounce: Option<NewMessage>) -> Result<(), StoreError> {
        let bounce = bounce.map(|b| (BlobKey::of(&b.body), b));
        self.db
            .write(move |c| {
                let now = now();
                if let Some((blob, b)) = &bounce
                    && archive::record(c, b, blob, "accepted", "delivery status notification", now)?
                {
                    queue::enqueue(c, b, &blob.id, now)?;
                }
                queue::record_outcomes(c, &outcomes)
            })
            .await
    }
    async fn queue_action(&self, id: Id, action: QueueAction) -> Result<usize, StoreError> {
        self.db.write(move |c| queue::action(c, id, action, now())).await
    }
    async fn deliver_local(&self, _account: String, batch: Vec<LocalDelivery>) -> Result<Vec<bool>, StoreError> {
        self.db
            .write(move |c| {
                let now = now();
                batch.iter().map(|d| Ok(mailbox::deliver_queue_entry(c, d.entry, &d.filings, now)?.is_some())).collect()
            })
            .await
    }

    async fn archive_import(&self, msgs: Vec<ImportedArchive>) -> Result<(), StoreError> {
        let blobs: Vec<BlobKey> = msgs.iter().map(|m| BlobKey::of(&m.message.body)).collect();
        self.db
            .write(move |c| {
                msgs.iter()
                    .zip(&blobs)
                    .try_for_each(|(m, blob)| archive::record(c, &m.message, blob, "imported", "", m.created).map(drop))
            })
            .await
    }
    async fn archive_unqueued(
        &self,
        msg: NewMessage,
        disposition: &'static str,
        reason: String,
    ) -> Result<(), StoreError> {
        let blob = BlobKey::of(&msg.body);
        self.db.write(move |c| archive::record(c, &msg, &blob, disposition, &reason, now()).map(drop)).await
    }
    async fn archive_search(&self, q: ArchiveQuery) -> Result<Vec<ArchiveEntry>, StoreError> {
        self.db.read(move |c| archive::search(c, &q)).await
    }
    async fn archive_body(&self, id: Id) -> Result<Vec<u8>, StoreError> {
        self.db.read(move |c| archive::body(c, id)).await
    }
    async fn archive_hold(&self, id: Id, hold: bool) -> Result<(), StoreError> {
        self.db.write(move |c| archive::set_hold(c, id, hold)).await
    }
    async fn archive_expire(&self, before: i64) -> Result<usize, StoreError> {
        let gone = self.db.write(move |c| archive::expire(c, before)).await?;
        let n = gone.len();
        // A crash before this leaves index rows of deleted messages: searches
        // join the archive and never show them; a rebuild drops them.
        self.index.with(move |c| archive_index::remove(c, &gone)).await?;
        Ok(n)
    }
    async fn archive_unindexed(&self, limit: usize) -> Result<Vec<UnindexedArchive>, StoreError> {
        use std::sync::atomic::Ordering;
        if !self.index_checked.load(Ordering::Relaxed) {
            let unheld = self.db.read(archive::unheld).await?;
            if !unheld.is_empty() {
                let n = unheld.len();
                self.db.write(move |c| archive::unmark(c, &unheld)).await?;
                tracing::info!(target: "hato::store", "{n} archived messages are not in the index file; indexing them again");
            }
            self.index_checked.store(true, Ordering::Relaxed);
        }
        self.db.read(move |c| archive::unindexed(c, limit)).await
    }
    async fn archive_index(&self, rows: Vec<ArchiveText>) -> Result<(), StoreError> {
        let subjects: Vec<(Id, String)> = rows.iter().map(|t| (t.id, t.subject.clone())).collect();
        // The index file first: a row marked indexed is in it (indexing again replaces).
        self.index.with(move |c| archive_index::add(c, &rows)).await?;
        self.db.write(move |c| archive::mark_indexed(c, &subjects)).await
    }
    async fn archive_index_status(&self) -> Result<IndexStatus, StoreError> {
        self.db.read(archive::index_status).await
    }
    async fn archive_reindex(&self) -> Result<(), StoreError> {
        self.index.with(archive_index::clear).await?;
        self.db.write(archive::reindex).await
    }

    async fn quarantine(&self, msg: NewMessage, filter: String, reason: String) -> Result<(), StoreError> {
        let blob = BlobKey::of(&msg.body);
        self.db.write(move |c| quarantine::add(c, &msg, &blob, &filter, &reason, now())).await
    }
    async fn quarantine_list(&self, limit: usize, account: Option<String>) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.db.read(move |c| quarantine::list(c, limit, account.as_deref())).await
    }
    async fn quarantine_body(&self, id: Id) -> Result<Vec<u8>, StoreError> {
        self.db.read(move |c| quarantine::body(c, id)).await
    }
    async fn quarantine_release(&self, id: Id) -> Result<Id, StoreError> {
        self.db.write(move |c| quarantine::release(c, id, now())).await
    }
    async fn quarantine_delete(&self, id: Id) -> Result<(), StoreError> {
        self.db.write(move |c| quarantine::delete(c, id)).await
    }
    async fn quarantine_expire(&self, before: i64) -> Result<usize, StoreError> {
        self.db.write(move |c| quarantine::expire(c, before)).await
    }

    async fn sieve_put(&self, account: String, name: String, script: String) -> Result<(), StoreError> {
        self.db.write(move |c| sieve::put(c, &account, &name, &script)).await
    }
    async fn sieve_list(&self, account: String) -> Result<Vec<ScriptInfo>, StoreError> {
        self.db.read(move |c| sieve::list(c, &account)).await
    }
    async fn sieve_get(&self, account: String, name: String) -> Result<Option<String>, StoreError> {
        self.db.read(move |c| sieve::get(c, &account, &name)).await
    }
    async fn sieve_active(&self, account: String) -> Result<Option<SieveScript>, StoreError> {
        self.db.read(move |c| sieve::active(c, &account)).await
    }
    async fn sieve_set_active(&self, account: String, name: Option<String>) -> Result<(), StoreError> {
        self.db.write(move |c| sieve::set_active(c, &account, name.as_deref())).await
    }
    async fn sieve_delete(&self, account: String, name: String) -> Result<(), StoreError> {
        self.db.write(move |c| sieve::delete(c, &account, &name)).await
    }
    async fn sieve_rename(&self, account: String, from: String, to: String) -> Result<(), StoreError> {
        self.db.write(move |c| sieve::rename(c, &account, &from, &to)).await
    }
    async fn dkim_put(&self, key: DkimKey) -> Result<(), StoreError> {
        self.db.write(move |c| dkim::put(c, &key, now())).await
    }
    async fn dkim_key(&self, domain: String) -> Result<Option<DkimKey>, StoreError> {
        self.db.read(move |c| dkim::get(c, &domain)).await
    }
    async fn dkim_keys(&self) -> Result<Vec<DkimKey>, StoreError> {
        self.db.read(dkim::list).await
    }
    async fn dkim_remove(&self, domain: String) -> Result<bool, StoreError> {
        self.db.write(move |c| dkim::remove(c, &domain)).await
    }
    async fn shared_put(&self, name: String, value: Vec<u8>, node: String) -> Result<i64, StoreError> {
        self.db.write(move |c| dkim::shared_put(c, &name, &value, &node, now())).await
    }
    async fn shared_items(&self) -> Result<Vec<SharedItem>, StoreError> {
        self.db.read(dkim::shared_items).await
    }
    async fn spam_counts(&self, hashes: Vec<i64>) -> Result<SpamCounts, StoreError> {
        self.db.read(move |c| spam::counts(c, &hashes)).await
    }
    async fn spam_learn(&self, messages: Vec<LearnedMessage>) -> Result<(), StoreError> {
        self.db.write(move |c| messages.iter().try_for_each(|m| spam::learn(c, &m.hashes, m.spam))).await
    }
    async fn spam_totals(&self) -> Result<SpamTotals, StoreError> {
        self.db.read(spam::totals).await
    }
    async fn set_vacation(&self, account: String, v: Option<Vacation>) -> Result<(), StoreError> {
        self.db.write(move |c| vacation::set(c, &account, v.as_ref())).await
    }
    async fn vacation(&self, account: String) -> Result<Option<Vacation>, StoreError> {
        self.db.read(move |c| vacation::get(c, &account)).await
    }
    async fn send_vacation(
        &self,
        account: String,
        sender: String,
        days: u32,
        reply: NewMessage,
    ) -> Result<bool, StoreError> {
        self.db.write(move |c| vacation::send(c, &account, &sender, days, &reply, now())).await
    }

    async fn mailboxes(&self, account: String) -> Result<Vec<MailboxInfo>, StoreError> {
        self.db.read(move |c| mailbox::mailboxes(c, &account)).await
    }
    async fn snapshot(&self, account: String, mailbox: String) -> Result<Snapshot, StoreError> {
        self.db.read(move |c| mailbox::snapshot(c, &account, &mailbox)).await
    }
    async fn changes(&self, account: String, mailbox: String, since: i64) -> Result<Changes, StoreError> {
        self.db.read(move |c| mailbox::changes(c, &account, &mailbox, since)).await
    }
    async fn import(&self, account: String, mailbox: String, msgs: Vec<Vec<u8>>) -> Result<usize, StoreError> {
        self.db.write(move |c| mailbox::import(c, &account, &mailbox, &msgs, now())).await
    }
    async fn claim_recent(&self, account: String, mailbox: String) -> Result<i64, StoreError> {
        self.db.write(move |c| mailbox::claim_recent(c, &account, &mailbox)).await
    }
    async fn contents(&self, account: String, mailbox: String, uids: Vec<i64>) -> Result<Vec<MessageData>, StoreError> {
        self.db.read(move |c| mailbox::contents(c, &account, &mailbox, &uids)).await
    }
    async fn summaries(
        &self,
        account: String,
        mailbox: String,
        uids: Vec<i64>,
    ) -> Result<Vec<MessageSummary>, StoreError> {
        self.db.read(move |c| mailbox::summaries(c, &account, &mailbox, &uids)).await
    }
    async fn headers(&self, account: String, mailbox: String, uids: Vec<i64>) -> Result<Vec<MessageData>, StoreError> {
        self.db.read(move |c| mailbox::headers(c, &account, &mailbox, &uids)).await
    }
    async fn mailbox_state(&self, account: String, mailbox: String) -> Result<MailboxState, StoreError> {
        self.db.read(move |c| mailbox::state(c, &account, &mailbox)).await
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
        self.db.write(move |c| mailbox::set_flags(c, &account, &mailbox, &uids, op, &flags, unchanged_since)).await
    }
    async fn append(&self, account: String, mailbox: String, uploads: Vec<Upload>) -> Result<Appended, StoreError> {
        let blobs: Vec<BlobKey> = uploads.iter().map(|u| BlobKey::of(&u.body)).collect();
        self.db.write(move |c| mailbox::append_messages(c, &account, &mailbox, &uploads, &blobs)).await
    }
    async fn copy(
        &self,
        account: String,
        from: String,
        to: String,
        uids: Vec<i64>,
        check_quota: bool,
    ) -> Result<Copied, StoreError> {
        self.db.write(move |c| mailbox::copy_messages(c, &account, &from, &to, &uids, check_quota)).await
    }
    async fn create_mailbox(&self, account: String, name: String) -> Result<(), StoreError> {
        self.db.write(move |c| mailbox::create_mailbox(c, &account, &name)).await
    }
    async fn delete_mailbox(&self, account: String, name: String) -> Result<(), StoreError> {
        self.db.write(move |c| mailbox::delete_mailbox(c, &account, &name)).await
    }
    async fn rename_mailbox(&self, account: String, from: String, to: String) -> Result<(), StoreError> {
        self.db.write(move |c| mailbox::rename_mailbox(c, &account, &from, &to)).await
    }
    async fn set_subscribed(&self, account: String, name: String, on: bool) -> Result<(), StoreError> {
        self.db.write(move |c| mailbox::set_subscribed(c, &account, &name, on)).await
    }
    async fn subscriptions(&self, account: String) -> Result<Vec<String>, StoreError> {
        self.db.read(move |c| mailbox::subscriptions(c, &account)).await
    }
    async fn expunge(&self, account: String, mailbox: String, uids: Vec<i64>) -> Result<usize, StoreError> {
        self.db.write(move |c| mailbox::expunge(c, &account, &mailbox, &uids)).await
    }
    async fn messages(
        &self,
        account: String,
        mailbox: String,
        with_content: bool,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.db.read(move |c| mailbox::messages(c, &account, &mailbox, with_content)).await
    }

    async fn status(&self) -> Result<StoreStatus, StoreError> {
        // A read proves the file opens and answers; the writer thread is
        // proved by every commit.
        let serving = self.db.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?)).await.is_ok();
        Ok(StoreStatus {
            backend: "sqlite".into(),
            serving,
            detail: self.path.display().to_string(),
            nodes: Vec::new(),
        })
    }
}
