//! The store: directory, mailboxes, message bodies, the queue and the archive.
//!
//! Callers see one async interface, `Store`; which database sits behind it is
//! chosen by `[store] backend` in the configuration:
//!
//! - `sqlite/` — the embedded default for one node: one file, one writer
//!   thread with group commit, a pool of readers.
//! - `galera/` — MariaDB Galera for an all-active cluster: every node writes,
//!   conflicting commits are retried, each account's mailbox writes go to one
//!   home node.
//!
//! Both implement the `Backend` trait, which the `contract!` list below
//! writes out once: each operation's signature and promise, then `Store`
//! forwards to the backend in use. Why an enum over two backends and one
//! trait rather than a trait per area: every multi-step transaction
//! (enqueue = archive row + queue rows, delivery = mailbox rows + queue row
//! removal, quarantine release = queue rows + archive update) crosses areas,
//! and must be one transaction in its backend; one trait keeps each
//! backend's transactions together and the list of what a backend must do in
//! one place. No SQL leaves `sqlite/` and `galera/`.
//!
//! Invariants every backend keeps (tests in `tests.rs` run on both):
//! - every operation that changes state returns only after the change is
//!   durably committed (what lets SMTP say 250);
//! - ids are made by the caller before the first attempt (`crate::ids::Id`),
//!   so a retried commit finds its own rows instead of writing twins;
//! - IMAP UIDs and MODSEQs are allocated in the transaction that inserts or
//!   changes the message: unique, ascending and gap-free per mailbox;
//! - a queue entry is delivered by one node at a time: `claim_due` leases it
//!   to a node until a time, and a dead node's leases lapse;
//! - errors keep their kind (`StoreError`): temporary ones have been retried
//!   already.

pub(crate) mod archive_index;
mod contract;
pub mod dsn;
mod error;
pub(crate) mod fulltext;
mod galera;
pub mod membership;
mod sqlite;
mod types;

pub use error::StoreError;
pub use types::*;

use std::sync::Mutex;

use tokio::sync::watch;

use crate::config::{Config, StoreBackend};
use crate::ids::Id;
use crate::vacation::Vacation;

/// How often `follow_changes` looks for other nodes' changes: an IDLE
/// session hears of a delivery made through another node within this.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// The store `hato serve`, `hato ctl` and `hato init` share.
pub struct Store {
    engine: Engine,
    /// One counter per account, bumped after each committed change to its
    /// mailboxes made through this process, so IDLE sessions wake at once
    /// instead of polling.
    watchers: Mutex<std::collections::HashMap<String, watch::Sender<u64>>>,
}

enum Engine {
    Sqlite(sqlite::Sqlite),
    Galera(galera::Galera),
}

/// Calls one operation on whichever backend is in use.
macro_rules! on_backend {
    ($store:expr, $op:ident($($arg:expr),*)) => {
        match &$store.engine {
            Engine::Sqlite(b) => Backend::$op(b, $($arg),*).await,
            Engine::Galera(b) => Backend::$op(b, $($arg),*).await,
        }
    };
}

impl Store {
    /// Opens the backend the configuration names (creating and migrating its
    /// schema when needed). The only way to get a store: callers never name
    /// a file or a server themselves.
    pub async fn open(cfg: &Config) -> Result<Store, StoreError> {
        let engine = match cfg.store.backend {
            StoreBackend::Sqlite => Engine::Sqlite(sqlite::Sqlite::open(&cfg.db_path(), &cfg.db_index_path())?),
            StoreBackend::Galera => Engine::Galera(galera::Galera::open(cfg).await?),
        };
        Ok(Store { engine, watchers: Default::default() })
    }

    /// The name this node's queue leases carry.
    pub fn node_name(cfg: &Config) -> String {
        cfg.store.node_name.clone().unwrap_or_else(|| {
            nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| cfg.hostname.clone())
        })
    }

    /// Wakes this process's watchers for changes other processes made (on a
    /// cluster, deliveries and flag changes through other nodes): every
    /// `FOLLOW_EVERY` it reads the change marks of the accounts someone
    /// watches here and wakes those whose mark moved. Runs for the life of
    /// `hato serve`; with SQLite every change passes through this process, so
    /// it returns at once.
    pub async fn follow_changes(self: std::sync::Arc<Self>) {
        if matches!(self.engine, Engine::Sqlite(_)) {
            return;
        }
        let mut marks: std::collections::HashMap<String, i64> = Default::default();
        loop {
            tokio::time::sleep(FOLLOW_EVERY).await;
            let watched: Vec<String> = {
                let w = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
                w.iter().filter(|(_, tx)| tx.receiver_count() > 0).map(|(a, _)| a.clone()).collect()
            };
            marks.retain(|a, _| watched.contains(a));
            if watched.is_empty() {
                continue;
            }
            match self.change_marks(watched).await {
                Ok(now) => {
                    for ChangeMark { account, mark } in now {
                        // An account seen for the first time is woken too: a
                        // change between its session's snapshot and this
                        // first look would otherwise pass unnoticed (a
                        // needless wake costs the session one read).
                        if marks.insert(account.clone(), mark) != Some(mark) {
                            self.changed(&account);
                        }
                    }
                }
                Err(e) => tracing::debug!(target: "hato::store", "could not read change marks: {e}"),
            }
        }
    }

    /// A receiver that changes whenever the account's mailboxes do.
    pub fn watch(&self, account: &str) -> watch::Receiver<u64> {
        let mut w = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        w.entry(account.to_string()).or_insert_with(|| watch::channel(0).0).subscribe()
    }

    fn changed(&self, account: &str) {
        let w = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = w.get(account) {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Files local queue entries of `account`, each into its filings, and
    /// removes the entries, all in one transaction (one turn at the
    /// mailbox's UID counter and one commit for the lot). For each entry:
    /// true when filed, false when it was already delivered (or deleted by
    /// an administrator), or the error that stopped it.
    pub async fn deliver_local(&self, account: &str, batch: Vec<LocalDelivery>) -> Vec<Result<bool, StoreError>> {
        let n = batch.len();
        let results: Vec<Result<bool, StoreError>> =
            match on_backend!(self, deliver_local(account.to_string(), batch.clone())) {
                Ok(done) => done.into_iter().map(Ok).collect(),
                // One entry's refusal (a quota, a mailbox gone) fails the
                // whole transaction: then each entry goes alone and answers
                // for itself.
                Err(e) if n > 1 && !matches!(e, StoreError::Conflict(_) | StoreError::Unavailable(_)) => {
                    let mut alone = Vec::with_capacity(n);
                    for d in batch {
                        let r = on_backend!(self, deliver_local(account.to_string(), vec![d]));
                        alone.push(r.map(|done| done.first().copied().unwrap_or(false)));
                    }
                    alone
                }
                Err(e) => vec![Err(e); n],
            };
        if results.iter().any(|r| matches!(r, Ok(true))) {
            self.changed(account);
        }
        results
    }

    /// One message as a client sees it (Return-Path line + stored body).
    pub async fn content(&self, account: String, mailbox: String, uid: i64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.contents(account, mailbox, vec![uid]).await?.pop().map(|m| m.data))
    }

    /// Archives a message a filter refused after DATA (so the archive holds it too).
    pub async fn archive_rejected(&self, msg: NewMessage, reason: String) -> Result<(), StoreError> {
        self.archive_unqueued(msg, "rejected", reason).await
    }
}

contract::contract! {
    forward {
        // --- directory ---------------------------------------------------
        fn add_domain(name: String) -> ();
        fn remove_domain(name: String) -> ();
        fn set_catch_all(domain: String, target: Option<String>) -> ();
        fn domains() -> Vec<Domain>;
        fn is_local_domain(name: String) -> bool;
        /// Adds an account with its default mailboxes (`DEFAULT_MAILBOXES`).
        fn add_account(account: Account) -> ();
        fn update_account(account: Account) -> ();
        /// Removes an account with its mailboxes, scripts and vacation.
        fn remove_account(address: String) -> ();
        fn account(address: String) -> Option<Account>;
        fn accounts(domain: Option<String>) -> Vec<Account>;
        fn add_alias(address: String, target: String) -> ();
        fn remove_alias(address: String) -> ();
        fn aliases(domain: Option<String>) -> Vec<Alias>;
        fn add_group(address: String, name: String) -> ();
        fn remove_group(address: String) -> ();
        fn set_group_member(group: String, member: String, present: bool) -> ();
        fn groups(domain: Option<String>) -> Vec<Group>;
        /// Expands an address through aliases, groups and catch-all to its final targets.
        fn resolve(address: String) -> Resolution;
        /// Which account may send as `address` (the account itself or one aliased to it).
        fn owner_of(address: String) -> Option<String>;
        fn audit(entry: AuditEntry) -> ();
        /// Newest first; `target_domain` limits it to actions on that domain's objects.
        fn audit_list(limit: usize, target_domain: Option<String>) -> Vec<AuditEntry>;

        /// Each account's `ChangeMark` (accounts without mailboxes are left out).
        fn change_marks(accounts: Vec<String>) -> Vec<ChangeMark>;

        // --- failed logins (crate::directory::login) ---------------------
        /// Records one failed login (`id` made before the first attempt).
        fn auth_failure_add(id: Id, ip: String, user: String, at: i64) -> ();
        /// Failed logins at or after `since` from `ip`, for `user`, and for `user` from `ip`.
        fn auth_failures(ip: String, user: String, since: i64) -> AuthFailures;
        /// Failed logins at or after `since`, per (address, user), newest first.
        fn auth_failure_list(since: i64) -> Vec<FailedLogins>;
        /// Forgets the failures from `ip` (None: any) for `user` (None:
        /// any); returns how many.
        fn auth_failures_clear(ip: Option<String>, user: Option<String>) -> usize;
        /// Forgets failures before `before`; returns how many.
        fn auth_failures_expire(before: i64) -> usize;

        // --- web console sessions ----------------------------------------
        /// Stores a login under `key`, a hash of its cookie's token (the
        /// database never holds a token a browser could present).
        fn session_put(key: String, session: WebSession) -> ();
        /// The session under `key` if it was used at or after `live_after`.
        fn session_get(key: String, live_after: i64) -> Option<WebSession>;
        /// Marks a session used at `now`.
        fn session_touch(key: String, now: i64) -> ();
        fn session_remove(key: String) -> ();
        /// Ends every session of a user (password reset, account disabled or removed).
        fn session_remove_user(user: String) -> ();
        /// Forgets sessions unused since `before`; returns how many.
        fn session_expire(before: i64) -> usize;

        // --- queue -------------------------------------------------------
        /// Commits a message, its queue entries and its archive row in one
        /// transaction; SMTP says 250 only after this returns Ok. Idempotent
        /// on the message's id.
        fn enqueue(msg: NewMessage) -> ();
        /// Takes up to `limit` ready entries due at `now` that no node holds
        /// (or whose holder's lease lapsed), leasing them to `node` for
        /// `lease_secs`. Two nodes never get the same entry while a lease runs.
        fn claim_due(node: String, now: i64, lease_secs: i64, limit: usize) -> Vec<QueueEntry>;
        /// Extends `node`'s leases on these entries to `until` (long deliveries).
        fn renew_leases(node: String, entries: Vec<Id>, until: i64) -> ();
        /// Gives up every lease `node` holds (at start: a previous run's claims).
        fn release_leases(node: String) -> usize;
        /// Entries whose lease runs past `now`, per node holding them.
        fn leases_by_node(now: i64) -> Vec<NodeLeases>;
        fn queued_message(id: Id) -> Option<QueuedMessage>;
        /// Just the header block of a queued message (local delivery decides by it).
        fn queued_header(id: Id) -> Vec<u8>;
        fn queued_body(id: Id) -> Vec<u8>;
        fn queue_summary() -> QueueSummary;
        fn queue_list(filter: QueueFilter) -> Vec<QueuedMessage>;
        /// Records delivery outcomes (clearing their leases), and commits a
        /// bounce (if any) in the same transaction.
        fn record_outcomes(outcomes: Vec<EntryOutcome>, bounce: Option<NewMessage>) -> ();
        /// Admin actions on a whole queued message; returns the entries touched.
        fn queue_action(id: Id, action: QueueAction) -> usize;

        // --- archive -----------------------------------------------------
        /// Adds messages from another system's archive, in one commit.
        fn archive_import(msgs: Vec<ImportedArchive>) -> ();
        /// Archives a message that is not queued (refused, or discarded by the server's script).
        fn archive_unqueued(msg: NewMessage, disposition: &'static str, reason: String) -> ();
        /// Searches the archive; full-text and subject conditions use this node's index.
        fn archive_search(q: ArchiveQuery) -> Vec<ArchiveEntry>;
        fn archive_body(id: Id) -> Vec<u8>;
        fn archive_hold(id: Id, hold: bool) -> ();
        /// Deletes archived messages older than `before` that are not on legal hold.
        fn archive_expire(before: i64) -> usize;
        /// Archived messages this node's full-text index lacks, oldest first.
        fn archive_unindexed(limit: usize) -> Vec<UnindexedArchive>;
        /// Adds rows to this node's full-text index.
        fn archive_index(rows: Vec<ArchiveText>) -> ();
        fn archive_index_status() -> IndexStatus;
        /// Empties this node's full-text index; the indexer fills it again.
        fn archive_reindex() -> ();

        // --- quarantine --------------------------------------------------
        /// Holds a message a filter caught instead of queueing it (and archives it).
        fn quarantine(msg: NewMessage, filter: String, reason: String) -> ();
        /// Held messages, newest first; with `account`, only those held for that account.
        fn quarantine_list(limit: usize, account: Option<String>) -> Vec<QuarantineEntry>;
        fn quarantine_body(id: Id) -> Vec<u8>;
        /// Queues a held message for its recipients; returns the queue id.
        fn quarantine_release(id: Id) -> Id;
        fn quarantine_delete(id: Id) -> ();
        fn quarantine_expire(before: i64) -> usize;

        // --- Sieve, DKIM, spam, vacation --------------------------------------
        /// Stores (or replaces) a user's Sieve script; the caller has checked it.
        fn sieve_put(account: String, name: String, script: String) -> ();
        fn sieve_list(account: String) -> Vec<ScriptInfo>;
        fn sieve_get(account: String, name: String) -> Option<String>;
        fn sieve_active(account: String) -> Option<SieveScript>;
        /// Makes `name` the active script; None deactivates all.
        fn sieve_set_active(account: String, name: Option<String>) -> ();
        /// Deletes a script; the active one cannot be deleted (RFC 5804 §2.10).
        fn sieve_delete(account: String, name: String) -> ();
        fn sieve_rename(account: String, from: String, to: String) -> ();
        fn dkim_put(key: DkimKey) -> ();
        fn dkim_key(domain: String) -> Option<DkimKey>;
        fn dkim_keys() -> Vec<DkimKey>;
        /// True if the domain had a key.
        fn dkim_remove(domain: String) -> bool;
        /// Saves a cluster-wide setting as its next version; returns that version.
        fn shared_put(name: String, value: Vec<u8>, node: String) -> i64;
        /// Every cluster-wide setting saved so far.
        fn shared_items() -> Vec<SharedItem>;
        /// What the spam classifier learnt about these token hashes.
        fn spam_counts(hashes: Vec<i64>) -> SpamCounts;
        /// Learns messages as spam or ham, in one commit.
        fn spam_learn(messages: Vec<LearnedMessage>) -> ();
        fn spam_totals() -> SpamTotals;
        fn set_vacation(account: String, v: Option<Vacation>) -> ();
        fn vacation(account: String) -> Option<Vacation>;
        /// Queues a vacation reply unless `sender` had one within `days`; true if queued.
        fn send_vacation(account: String, sender: String, days: u32, reply: NewMessage) -> bool;

        // --- mailboxes ---------------------------------------------------
        fn mailboxes(account: String) -> Vec<MailboxInfo>;
        fn snapshot(account: String, mailbox: String) -> Snapshot;
        /// What changed after modseq `since`: messages added or re-flagged, UIDs expunged.
        fn changes(account: String, mailbox: String, since: i64) -> Changes;
        /// Imports messages into a mailbox in one transaction (`hato ctl mailbox import`).
        fn import(account: String, mailbox: String, msgs: Vec<Vec<u8>>) -> usize, notify account;
        /// Takes the \Recent messages for one session: returns the first recent UID.
        fn claim_recent(account: String, mailbox: String) -> i64;
        /// Several messages' content in one read, in the order asked; expunged ones left out.
        fn contents(account: String, mailbox: String, uids: Vec<i64>) -> Vec<MessageData>;
        /// Decoded header summaries of several messages (SEARCH on header keys).
        fn summaries(account: String, mailbox: String, uids: Vec<i64>) -> Vec<MessageSummary>;
        /// Only the header blocks of several messages (FETCH of header fields).
        fn headers(account: String, mailbox: String, uids: Vec<i64>) -> Vec<MessageData>;
        fn mailbox_state(account: String, mailbox: String) -> MailboxState;
        /// Changes flags; with `unchanged_since` (RFC 7162) messages changed
        /// after it are left alone and listed in `modified`.
        fn set_flags(
            account: String,
            mailbox: String,
            uids: Vec<i64>,
            op: FlagOp,
            flags: Vec<String>,
            unchanged_since: Option<i64>,
        ) -> FlagsChanged, notify account;
        /// Stores client-uploaded messages in one transaction, all or none
        /// (MULTIAPPEND, RFC 3502), checking the quota for them together.
        fn append(account: String, mailbox: String, uploads: Vec<Upload>) -> Appended, notify account;
        /// Copies messages; `check_quota` is false for MOVE (the originals go right after).
        fn copy(account: String, from: String, to: String, uids: Vec<i64>, check_quota: bool) -> Copied, notify account;
        fn create_mailbox(account: String, name: String) -> (), notify account;
        fn delete_mailbox(account: String, name: String) -> (), notify account;
        fn rename_mailbox(account: String, from: String, to: String) -> (), notify account;
        fn set_subscribed(account: String, name: String, on: bool) -> (), notify account;
        /// The names subscribed to, also those whose mailbox was deleted.
        fn subscriptions(account: String) -> Vec<String>;
        /// Removes messages by UID; returns how many went. Quota usage and unshared bodies go with them.
        fn expunge(account: String, mailbox: String, uids: Vec<i64>) -> usize, notify account;
        fn messages(account: String, mailbox: String, with_content: bool) -> Vec<StoredMessage>;

        // --- health --------------------------------------------------------
        /// The backend and whether it serves now.
        fn status() -> StoreStatus;
    }
    own {
        /// Files local queue entries of `account` in one transaction (see
        /// `Store::deliver_local`); for each, false when it was already gone.
        fn deliver_local(account: String, batch: Vec<LocalDelivery>) -> Vec<bool>;
    }
}

#[cfg(test)]
pub(crate) mod tests;
