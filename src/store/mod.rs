//! The store: directory, mailboxes, message bodies and the queue.
//!
//! Callers see one async interface; which database sits behind it is the
//! backend's business. Today that is SQLite (`sqlite/`); the MariaDB Galera
//! backend for clusters will sit beside it behind the same methods. Rules that
//! keep that possible: ids are made by the caller before the first attempt
//! (`crate::ids::Id`), transactions are small, and no SQL leaves `sqlite/`.
//!
//! Invariant: every `async fn` that changes state returns only after the
//! change is durably committed.

mod sqlite;

pub use sqlite::mailbox::return_path_header;

use std::path::Path;

use serde::Serialize;
use thiserror::Error;

use crate::ids::Id;
use sqlite::{Db, archive, directory, dkim, mailbox, quarantine, queue, sieve, spam, vacation};

#[derive(Clone, Debug, Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("over quota: {0}")]
    Quota(String),
    #[error("storage failure: {0} (check disk space and the data directory's permissions)")]
    Backend(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound("row".into()),
            e => StoreError::Backend(e.to_string()),
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Domain {
    pub name: String,
    pub catch_all: Option<String>,
    pub accounts: i64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Account {
    pub address: String,
    pub display_name: String,
    pub quota_bytes: i64,
    pub used_bytes: i64,
    pub enabled: bool,
    #[serde(skip)]
    pub password_hash: String,
    pub role: Role,
}

/// What an account may administer in the web console.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads and sends their own mail.
    #[default]
    User,
    /// Also manages the accounts, aliases and groups of their own domain.
    DomainAdmin,
    /// Manages everything.
    Admin,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::User => "user",
            Role::DomainAdmin => "domain_admin",
            Role::Admin => "admin",
        }
    }
    /// Unknown values read as the least privilege.
    pub fn parse(s: &str) -> Role {
        match s {
            "admin" => Role::Admin,
            "domain_admin" => Role::DomainAdmin,
            _ => Role::User,
        }
    }
}

/// One administrative action, as the audit log keeps it.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    pub at: i64,
    pub actor: String,
    pub ip: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

impl Account {
    pub fn over_quota(&self, extra: i64) -> bool {
        self.quota_bytes > 0 && self.used_bytes + extra > self.quota_bytes
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Alias {
    pub address: String,
    pub target: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Group {
    pub address: String,
    pub name: String,
    pub members: Vec<String>,
}

/// Where mail for one address ends up after aliases, groups and catch-all.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolution {
    /// The domain is not ours: only authenticated users may relay there.
    NotLocal,
    /// Our domain, but nobody by that name (550 5.1.1, said at RCPT).
    Unknown,
    /// Final targets: local accounts and remote addresses (from aliases/groups).
    Targets(Vec<Target>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Account(Account),
    Remote(String),
}

/// A message accepted for delivery, with everything needed to commit it at once.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub id: Id,
    pub body: Vec<u8>,
    pub sender: String,
    pub client_ip: String,
    pub helo: String,
    pub auth_user: Option<String>,
    pub message_id: String,
    pub subject: String,
    pub recipients: Vec<NewRecipient>,
}

impl NewMessage {
    /// A message Hato itself sends (bounce, refusal notice, vacation reply):
    /// from the null reverse-path (RFC 5321 §4.5.5), so nothing answers it.
    pub fn notice(hostname: &str, body: Vec<u8>, subject: String, to: NewRecipient) -> NewMessage {
        NewMessage {
            id: Id::new(),
            body,
            sender: String::new(),
            client_ip: "127.0.0.1".into(),
            helo: hostname.into(),
            auth_user: None,
            message_id: String::new(),
            subject,
            recipients: vec![to],
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewRecipient {
    pub id: Id,
    pub address: String,
    /// Set when the recipient resolved to a local account.
    pub local_account: Option<String>,
}

/// An archived message as searches list it.
#[derive(Clone, Debug, Serialize)]
pub struct ArchiveEntry {
    #[serde(serialize_with = "ser_id")]
    pub id: Id,
    pub created: i64,
    /// inbound, outbound or internal.
    pub direction: String,
    /// accepted, quarantined, released or rejected.
    pub disposition: String,
    pub reason: String,
    pub sender: String,
    pub recipients: String,
    pub subject: String,
    pub message_id: String,
    pub size: i64,
    pub legal_hold: bool,
}

/// What to look for in the archive; every field narrows the result.
#[derive(Clone, Debug, Default)]
pub struct ArchiveQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    /// Full text: decoded bodies, subject, addresses and attachment names.
    pub text: Option<String>,
    pub message_id: Option<String>,
    pub direction: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: usize,
}

/// A message held by a filter.
#[derive(Clone, Debug, Serialize)]
pub struct QuarantineEntry {
    #[serde(serialize_with = "ser_id")]
    pub id: Id,
    pub created: i64,
    pub size: i64,
    pub sender: String,
    pub recipients: Vec<String>,
    pub message_id: String,
    pub subject: String,
    /// Which filter held it ("attachment", "antivirus", …) and why.
    pub filter: String,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct QueueEntry {
    #[serde(serialize_with = "ser_id")]
    pub id: Id,
    #[serde(serialize_with = "ser_id")]
    pub message: Id,
    pub recipient: String,
    pub local_account: Option<String>,
    pub domain: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt: i64,
    pub last_error: String,
    pub created: i64,
}

/// The queue at one moment: messages and recipient rows still to deliver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct QueueSummary {
    pub messages: u64,
    pub recipients: u64,
    pub bytes: u64,
    /// Recipient rows an admin put on hold.
    pub held: u64,
    /// When the oldest queued message arrived (unix seconds).
    pub oldest: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct QueuedMessage {
    #[serde(serialize_with = "ser_id")]
    pub id: Id,
    pub sender: String,
    pub received: i64,
    pub size: i64,
    pub client_ip: String,
    pub helo: String,
    pub auth_user: Option<String>,
    pub message_id: String,
    pub subject: String,
    pub entries: Vec<QueueEntry>,
}

fn ser_id<S: serde::Serializer>(id: &Id, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_string())
}

/// What became of one queue entry after a delivery attempt.
#[derive(Clone, Debug)]
pub enum Outcome {
    Delivered,
    Deferred { error: String, next_attempt: i64 },
    Failed { error: String },
}

#[derive(Clone, Debug, Default)]
pub struct QueueFilter {
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub state: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MailboxInfo {
    pub name: String,
    pub special_use: Option<String>,
    pub subscribed: bool,
    pub messages: i64,
    pub uidvalidity: i64,
    pub uidnext: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct StoredMessage {
    pub uid: i64,
    pub size: i64,
    pub flags: String,
    pub internal_date: i64,
    #[serde(skip)]
    pub content: Vec<u8>,
}

/// A mailbox's messages at one moment: (uid, size) in UID order.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub uidvalidity: i64,
    pub messages: Vec<(i64, i64)>,
}

/// A mailbox as an IMAP session sees it when it (re)reads it.
#[derive(Clone, Debug)]
pub struct MailboxState {
    pub uidvalidity: i64,
    pub uidnext: i64,
    pub highestmodseq: i64,
    /// Messages from this UID on are \Recent (no SELECT has seen them yet).
    pub first_recent_uid: i64,
    pub messages: Vec<MessageMeta>,
}

/// What changed in a mailbox after a given modseq (CONDSTORE/QRESYNC and
/// every session's refresh).
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub uidvalidity: i64,
    pub uidnext: i64,
    pub highestmodseq: i64,
    /// Messages added or whose flags changed, in UID order.
    pub changed: Vec<MessageMeta>,
    /// UIDs expunged, in UID order.
    pub vanished: Vec<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MessageMeta {
    pub uid: i64,
    pub size: i64,
    /// Space-separated system flags and keywords.
    pub flags: String,
    pub internal_date: i64,
    pub modseq: i64,
}

/// A message's flags and modseq after a STORE.
#[derive(Clone, Debug, PartialEq)]
pub struct FlagUpdate {
    pub uid: i64,
    pub flags: String,
    pub modseq: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagOp {
    Add,
    Remove,
    Replace,
}

/// Mailboxes every account gets, with their RFC 6154 special-use attribute.
pub const DEFAULT_MAILBOXES: &[(&str, Option<&str>)] = &[
    ("INBOX", None),
    ("Drafts", Some("\\Drafts")),
    ("Sent", Some("\\Sent")),
    ("Junk", Some("\\Junk")),
    ("Trash", Some("\\Trash")),
    ("Archive", Some("\\Archive")),
];

/// A domain's DKIM signing key (crate::mailauth::keys makes and uses them).
#[derive(Clone, Debug)]
pub struct DkimKey {
    pub domain: String,
    pub selector: String,
    /// "rsa" (keys in PKCS#1 DER) or "ed25519" (private PKCS#8, public raw).
    pub algorithm: String,
    pub private_key: Vec<u8>,
    pub public_key: Vec<u8>,
}

/// Where local delivery files a message.
#[derive(Clone, Debug, PartialEq)]
pub enum Folder {
    Inbox,
    /// The account's mailbox with the \\Junk special use (INBOX if it has none).
    Junk,
    /// A mailbox by name (INBOX if the account has no such mailbox).
    Named(String),
}

impl std::fmt::Display for Folder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Folder::Inbox => f.write_str("INBOX"),
            Folder::Junk => f.write_str("Junk"),
            Folder::Named(n) => f.write_str(n),
        }
    }
}

/// One copy of a delivered message: where, and with which flags.
#[derive(Clone, Debug, PartialEq)]
pub struct Filing {
    pub folder: Folder,
    pub flags: Vec<String>,
}

impl Filing {
    pub fn to(folder: Folder) -> Filing {
        Filing { folder, flags: Vec::new() }
    }
}

pub struct Store {
    db: Db,
    /// One counter per account, bumped after each committed change to its
    /// mailboxes, so IDLE sessions wake on change instead of polling.
    watchers: std::sync::Mutex<std::collections::HashMap<String, tokio::sync::watch::Sender<u64>>>,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Backend(format!("cannot create data directory {}: {e}", dir.display())))?;
        }
        Ok(Store { db: Db::open(path)?, watchers: Default::default() })
    }

    /// A receiver that changes whenever the account's mailboxes do.
    pub fn watch(&self, account: &str) -> tokio::sync::watch::Receiver<u64> {
        let mut w = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        w.entry(account.to_string()).or_insert_with(|| tokio::sync::watch::channel(0).0).subscribe()
    }

    fn changed(&self, account: &str) {
        let w = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = w.get(account) {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    // --- directory -------------------------------------------------------

    pub async fn add_domain(&self, name: String) -> Result<(), StoreError> {
        self.db.write(move |c| directory::add_domain(c, &name)).await
    }
    pub async fn remove_domain(&self, name: String) -> Result<(), StoreError> {
        self.db.write(move |c| directory::remove_domain(c, &name)).await
    }
    pub async fn set_catch_all(&self, domain: String, target: Option<String>) -> Result<(), StoreError> {
        self.db.write(move |c| directory::set_catch_all(c, &domain, target.as_deref())).await
    }
    pub async fn domains(&self) -> Result<Vec<Domain>, StoreError> {
        self.db.read(directory::domains).await
    }
    pub async fn is_local_domain(&self, name: String) -> Result<bool, StoreError> {
        self.db.read(move |c| directory::is_local_domain(c, &name)).await
    }

    pub async fn add_account(&self, account: Account) -> Result<(), StoreError> {
        self.db.write(move |c| directory::add_account(c, &account)).await
    }
    pub async fn update_account(&self, account: Account) -> Result<(), StoreError> {
        self.db.write(move |c| directory::update_account(c, &account)).await
    }
    pub async fn remove_account(&self, address: String) -> Result<(), StoreError> {
        self.db.write(move |c| directory::remove_account(c, &address)).await
    }
    pub async fn account(&self, address: String) -> Result<Option<Account>, StoreError> {
        self.db.read(move |c| directory::account(c, &address)).await
    }
    pub async fn accounts(&self, domain: Option<String>) -> Result<Vec<Account>, StoreError> {
        self.db.read(move |c| directory::accounts(c, domain.as_deref())).await
    }

    pub async fn add_alias(&self, address: String, target: String) -> Result<(), StoreError> {
        self.db.write(move |c| directory::add_alias(c, &address, &target)).await
    }
    pub async fn remove_alias(&self, address: String) -> Result<(), StoreError> {
        self.db.write(move |c| directory::remove_alias(c, &address)).await
    }
    pub async fn aliases(&self, domain: Option<String>) -> Result<Vec<Alias>, StoreError> {
        self.db.read(move |c| directory::aliases(c, domain.as_deref())).await
    }

    pub async fn add_group(&self, address: String, name: String) -> Result<(), StoreError> {
        self.db.write(move |c| directory::add_group(c, &address, &name)).await
    }
    pub async fn remove_group(&self, address: String) -> Result<(), StoreError> {
        self.db.write(move |c| directory::remove_group(c, &address)).await
    }
    pub async fn set_group_member(&self, group: String, member: String, present: bool) -> Result<(), StoreError> {
        self.db.write(move |c| directory::set_group_member(c, &group, &member, present)).await
    }
    pub async fn groups(&self, domain: Option<String>) -> Result<Vec<Group>, StoreError> {
        self.db.read(move |c| directory::groups(c, domain.as_deref())).await
    }

    /// Expands an address through aliases, groups and catch-all to its final targets.
    pub async fn resolve(&self, address: String) -> Result<Resolution, StoreError> {
        self.db.read(move |c| directory::resolve(c, &address)).await
    }

    /// Which account may send as `address` (the account itself or one aliased to it).
    pub async fn owner_of(&self, address: String) -> Result<Option<String>, StoreError> {
        self.db.read(move |c| directory::owner_of(c, &address)).await
    }

    // --- queue -----------------------------------------------------------

    /// Commits a message and its queue entries; SMTP says 250 only after this returns Ok.
    /// Queues a message and archives it, in one transaction.
    pub async fn enqueue(&self, msg: NewMessage) -> Result<(), StoreError> {
        self.db
            .write(move |c| {
                let now = crate::clock::now();
                archive::record(c, &msg, "accepted", "", now)?;
                queue::enqueue(c, &msg, now)
            })
            .await
    }
    /// Archives a message a filter refused after DATA (so the archive holds it too).
    pub async fn archive_rejected(&self, msg: NewMessage, reason: String) -> Result<(), StoreError> {
        self.archive_unqueued(msg, "rejected", reason).await
    }
    /// Adds messages from another system's archive (each with its own date), in one commit.
    pub async fn archive_import(&self, msgs: Vec<(NewMessage, i64)>) -> Result<(), StoreError> {
        self.db
            .write(move |c| msgs.iter().try_for_each(|(m, created)| archive::record(c, m, "imported", "", *created)))
            .await
    }
    /// Archives a message that is not queued (refused, or discarded by the server's script).
    pub async fn archive_unqueued(
        &self,
        msg: NewMessage,
        disposition: &'static str,
        reason: String,
    ) -> Result<(), StoreError> {
        self.db.write(move |c| archive::record(c, &msg, disposition, &reason, crate::clock::now())).await
    }
    pub async fn archive_search(&self, q: ArchiveQuery) -> Result<Vec<ArchiveEntry>, StoreError> {
        self.db.read(move |c| archive::search(c, &q)).await
    }
    pub async fn archive_body(&self, id: Id) -> Result<Vec<u8>, StoreError> {
        self.db.read(move |c| archive::body(c, id)).await
    }
    pub async fn archive_hold(&self, id: Id, hold: bool) -> Result<(), StoreError> {
        self.db.write(move |c| archive::set_hold(c, id, hold)).await
    }
    pub async fn archive_expire(&self, before: i64) -> Result<usize, StoreError> {
        self.db.write(move |c| archive::expire(c, before)).await
    }
    /// Archived messages still to be full-text indexed: (id, sender, recipients, body).
    pub async fn archive_unindexed(&self, limit: usize) -> Result<Vec<(i64, String, String, Vec<u8>)>, StoreError> {
        self.db.read(move |c| archive::unindexed(c, limit)).await
    }
    pub async fn archive_index(&self, rows: Vec<(i64, String, String, String, String)>) -> Result<(), StoreError> {
        self.db.write(move |c| archive::index(c, &rows)).await
    }
    pub async fn due_entries(&self, now: i64, limit: usize) -> Result<Vec<QueueEntry>, StoreError> {
        self.db.read(move |c| queue::due_entries(c, now, limit)).await
    }
    pub async fn queued_message(&self, id: Id) -> Result<Option<QueuedMessage>, StoreError> {
        self.db.read(move |c| queue::queued_message(c, id)).await
    }
    pub async fn queued_header(&self, id: Id) -> Result<Vec<u8>, StoreError> {
        self.db.read(move |c| queue::queued_header(c, id)).await
    }
    pub async fn queued_body(&self, id: Id) -> Result<Vec<u8>, StoreError> {
        self.db.read(move |c| queue::queued_body(c, id)).await
    }
    pub async fn audit(&self, e: AuditEntry) -> Result<(), StoreError> {
        self.db.write(move |c| directory::audit_add(c, &e)).await
    }
    /// Newest first; `target_domain` limits it to actions on that domain's objects.
    pub async fn audit_list(&self, limit: usize, target_domain: Option<String>) -> Result<Vec<AuditEntry>, StoreError> {
        self.db.read(move |c| directory::audit_list(c, limit, target_domain.as_deref())).await
    }
    pub async fn queue_summary(&self) -> Result<QueueSummary, StoreError> {
        self.db.read(queue::summary).await
    }
    pub async fn queue_list(&self, filter: QueueFilter) -> Result<Vec<QueuedMessage>, StoreError> {
        self.db.read(move |c| queue::list(c, &filter)).await
    }
    /// Records delivery outcomes, and commits a bounce (if any) in the same transaction.
    pub async fn record_outcomes(
        &self,
        outcomes: Vec<(Id, Outcome)>,
        bounce: Option<NewMessage>,
    ) -> Result<(), StoreError> {
        self.db
            .write(move |c| {
                let now = crate::clock::now();
                if let Some(b) = &bounce {
                    archive::record(c, b, "accepted", "delivery status notification", now)?;
                    queue::enqueue(c, b, now)?;
                }
                queue::record_outcomes(c, &outcomes)
            })
            .await
    }
    /// Delivers a queue entry into its account's INBOX and removes it, atomically.
    /// Returns false when the entry is gone (delivered already or deleted by an admin).
    /// Holds a message a filter caught instead of queueing it.
    pub async fn quarantine(&self, msg: NewMessage, filter: String, reason: String) -> Result<(), StoreError> {
        self.db.write(move |c| quarantine::add(c, &msg, &filter, &reason, crate::clock::now())).await
    }
    /// Held messages, newest first; with `account`, only those held for that account.
    pub async fn quarantine_list(
        &self,
        limit: usize,
        account: Option<String>,
    ) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.db.read(move |c| quarantine::list(c, limit, account.as_deref())).await
    }
    pub async fn quarantine_body(&self, id: Id) -> Result<Vec<u8>, StoreError> {
        self.db.read(move |c| quarantine::body(c, id)).await
    }
    /// Queues a held message for its recipients; returns the queue id.
    pub async fn quarantine_release(&self, id: Id) -> Result<Id, StoreError> {
        self.db.write(move |c| quarantine::release(c, id, crate::clock::now())).await
    }
    pub async fn quarantine_delete(&self, id: Id) -> Result<(), StoreError> {
        self.db.write(move |c| quarantine::delete(c, id)).await
    }
    pub async fn quarantine_expire(&self, before: i64) -> Result<usize, StoreError> {
        self.db.write(move |c| quarantine::expire(c, before)).await
    }

    /// Stores (or replaces) a user's Sieve script; the caller has checked it.
    pub async fn sieve_put(&self, account: String, name: String, script: String) -> Result<(), StoreError> {
        self.db.write(move |c| sieve::put(c, &account, &name, &script)).await
    }
    /// (name, active) of an account's scripts.
    pub async fn sieve_list(&self, account: String) -> Result<Vec<(String, bool)>, StoreError> {
        self.db.read(move |c| sieve::list(c, &account)).await
    }
    pub async fn sieve_get(&self, account: String, name: String) -> Result<Option<String>, StoreError> {
        self.db.read(move |c| sieve::get(c, &account, &name)).await
    }
    /// The active script (name, text), if any.
    pub async fn sieve_active(&self, account: String) -> Result<Option<(String, String)>, StoreError> {
        self.db.read(move |c| sieve::active(c, &account)).await
    }
    pub async fn sieve_set_active(&self, account: String, name: Option<String>) -> Result<(), StoreError> {
        self.db.write(move |c| sieve::set_active(c, &account, name.as_deref())).await
    }
    pub async fn sieve_delete(&self, account: String, name: String) -> Result<(), StoreError> {
        self.db.write(move |c| sieve::delete(c, &account, &name)).await
    }
    pub async fn sieve_rename(&self, account: String, from: String, to: String) -> Result<(), StoreError> {
        self.db.write(move |c| sieve::rename(c, &account, &from, &to)).await
    }
    pub async fn dkim_put(&self, key: DkimKey) -> Result<(), StoreError> {
        self.db.write(move |c| dkim::put(c, &key, crate::clock::now())).await
    }
    pub async fn dkim_key(&self, domain: String) -> Result<Option<DkimKey>, StoreError> {
        self.db.read(move |c| dkim::get(c, &domain)).await
    }
    pub async fn dkim_keys(&self) -> Result<Vec<DkimKey>, StoreError> {
        self.db.read(dkim::list).await
    }
    /// True if the domain had a key.
    pub async fn dkim_remove(&self, domain: String) -> Result<bool, StoreError> {
        self.db.write(move |c| dkim::remove(c, &domain)).await
    }
    /// What the spam classifier learnt about these token hashes: their
    /// (spam, ham) counts, and the number of spam and ham messages learnt.
    pub async fn spam_counts(&self, hashes: Vec<i64>) -> Result<spam::Counts, StoreError> {
        self.db.read(move |c| spam::counts(c, &hashes)).await
    }
    /// Learns messages (their token hashes) as spam (true) or ham, in one commit.
    pub async fn spam_learn(&self, messages: Vec<(Vec<i64>, bool)>) -> Result<(), StoreError> {
        self.db.write(move |c| messages.iter().try_for_each(|(hashes, is_spam)| spam::learn(c, hashes, *is_spam))).await
    }
    /// How many spam and ham messages the classifier has learnt.
    pub async fn spam_totals(&self) -> Result<(u32, u32), StoreError> {
        self.db.read(spam::totals).await
    }
    pub async fn set_vacation(&self, account: String, v: Option<crate::vacation::Vacation>) -> Result<(), StoreError> {
        self.db.write(move |c| vacation::set(c, &account, v.as_ref())).await
    }
    pub async fn vacation(&self, account: String) -> Result<Option<crate::vacation::Vacation>, StoreError> {
        self.db.read(move |c| vacation::get(c, &account)).await
    }
    /// Queues a vacation reply unless `sender` had one within `days`; true if queued.
    pub async fn send_vacation(
        &self,
        account: String,
        sender: String,
        days: u32,
        reply: NewMessage,
    ) -> Result<bool, StoreError> {
        self.db.write(move |c| vacation::send(c, &account, &sender, days, &reply, crate::clock::now())).await
    }

    /// Files a local queue entry into each of `filings` of its account (none:
    /// it is discarded) in one transaction; false when the entry was already delivered.
    pub async fn deliver_local(&self, entry: Id, filings: Vec<Filing>) -> Result<bool, StoreError> {
        let account =
            self.db.write(move |c| mailbox::deliver_queue_entry(c, entry, &filings, crate::clock::now())).await?;
        if let Some(a) = &account {
            self.changed(a);
        }
        Ok(account.is_some())
    }
    /// Admin actions on a whole queued message: "hold", "release", "retry", "delete".
    pub async fn queue_action(&self, id: Id, action: queue::Action) -> Result<usize, StoreError> {
        self.db.write(move |c| queue::action(c, id, action, crate::clock::now())).await
    }

    // --- mailboxes ---------------------------------------------------------

    pub async fn mailboxes(&self, account: String) -> Result<Vec<MailboxInfo>, StoreError> {
        self.db.read(move |c| mailbox::mailboxes(c, &account)).await
    }
    pub async fn snapshot(&self, account: String, mailbox: String) -> Result<Snapshot, StoreError> {
        self.db.read(move |c| mailbox::snapshot(c, &account, &mailbox)).await
    }
    /// One message as a client sees it (Return-Path line + stored body).
    pub async fn content(&self, account: String, mailbox: String, uid: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.read(move |c| mailbox::content(c, &account, &mailbox, uid)).await
    }
    pub async fn changes(&self, account: String, mailbox: String, since: i64) -> Result<Changes, StoreError> {
        self.db.read(move |c| mailbox::changes(c, &account, &mailbox, since)).await
    }
    /// Imports messages into a mailbox in one transaction (see `hato ctl mailbox import`).
    pub async fn import(&self, account: String, mailbox: String, msgs: Vec<Vec<u8>>) -> Result<usize, StoreError> {
        let who = account.clone();
        let n = self.db.write(move |c| mailbox::import(c, &account, &mailbox, &msgs, crate::clock::now())).await?;
        self.changed(&who);
        Ok(n)
    }
    pub async fn claim_recent(&self, account: String, mailbox: String) -> Result<i64, StoreError> {
        self.db.write(move |c| mailbox::claim_recent(c, &account, &mailbox)).await
    }
    /// Contents of several messages in one read (FETCH and SEARCH work in batches).
    pub async fn contents(
        &self,
        account: String,
        mailbox: String,
        uids: Vec<i64>,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        self.db.read(move |c| mailbox::contents(c, &account, &mailbox, &uids)).await
    }
    /// Decoded header summaries of several messages in one read (SEARCH on header keys).
    pub async fn summaries(
        &self,
        account: String,
        mailbox: String,
        uids: Vec<i64>,
    ) -> Result<Vec<(i64, crate::summary::Summary)>, StoreError> {
        self.db.read(move |c| mailbox::summaries(c, &account, &mailbox, &uids)).await
    }
    /// Only the header blocks of several messages (FETCH of header fields).
    pub async fn headers(
        &self,
        account: String,
        mailbox: String,
        uids: Vec<i64>,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        self.db.read(move |c| mailbox::headers(c, &account, &mailbox, &uids)).await
    }
    pub async fn mailbox_state(&self, account: String, mailbox: String) -> Result<MailboxState, StoreError> {
        self.db.read(move |c| mailbox::state(c, &account, &mailbox)).await
    }
    /// See `sqlite::mailbox::set_flags`: (updated messages, UIDs refused by `unchanged_since`).
    pub async fn set_flags(
        &self,
        account: String,
        mailbox: String,
        uids: Vec<i64>,
        op: FlagOp,
        flags: Vec<String>,
        unchanged_since: Option<i64>,
    ) -> Result<(Vec<FlagUpdate>, Vec<i64>), StoreError> {
        let who = account.clone();
        let r = self
            .db
            .write(move |c| mailbox::set_flags(c, &account, &mailbox, &uids, op, &flags, unchanged_since))
            .await?;
        self.changed(&who);
        Ok(r)
    }
    /// Stores a client-uploaded message; returns (uidvalidity, uid).
    pub async fn append(
        &self,
        account: String,
        mailbox: String,
        body: Vec<u8>,
        flags: String,
        date: i64,
    ) -> Result<(i64, i64), StoreError> {
        let who = account.clone();
        let r = self.db.write(move |c| mailbox::append_message(c, &account, &mailbox, &body, &flags, date)).await?;
        self.changed(&who);
        Ok(r)
    }
    /// Copies messages; returns the destination's uidvalidity and (source, new) UID pairs.
    pub async fn copy(
        &self,
        account: String,
        from: String,
        to: String,
        uids: Vec<i64>,
        check_quota: bool,
    ) -> Result<(i64, Vec<(i64, i64)>), StoreError> {
        let who = account.clone();
        let r = self.db.write(move |c| mailbox::copy_messages(c, &account, &from, &to, &uids, check_quota)).await?;
        self.changed(&who);
        Ok(r)
    }
    pub async fn create_mailbox(&self, account: String, name: String) -> Result<(), StoreError> {
        let who = account.clone();
        self.db.write(move |c| mailbox::create_mailbox(c, &account, &name)).await?;
        self.changed(&who);
        Ok(())
    }
    pub async fn delete_mailbox(&self, account: String, name: String) -> Result<(), StoreError> {
        let who = account.clone();
        self.db.write(move |c| mailbox::delete_mailbox(c, &account, &name)).await?;
        self.changed(&who);
        Ok(())
    }
    pub async fn rename_mailbox(&self, account: String, from: String, to: String) -> Result<(), StoreError> {
        let who = account.clone();
        self.db.write(move |c| mailbox::rename_mailbox(c, &account, &from, &to)).await?;
        self.changed(&who);
        Ok(())
    }
    pub async fn set_subscribed(&self, account: String, name: String, on: bool) -> Result<(), StoreError> {
        self.db.write(move |c| mailbox::set_subscribed(c, &account, &name, on)).await
    }
    pub async fn expunge(&self, account: String, mailbox: String, uids: Vec<i64>) -> Result<usize, StoreError> {
        let who = account.clone();
        let r = self.db.write(move |c| mailbox::expunge(c, &account, &mailbox, &uids)).await?;
        self.changed(&who);
        Ok(r)
    }
    pub async fn messages(
        &self,
        account: String,
        mailbox: String,
        with_content: bool,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.db.read(move |c| mailbox::messages(c, &account, &mailbox, with_content)).await
    }
}

pub use queue::Action as QueueAction;

#[cfg(test)]
mod tests;
