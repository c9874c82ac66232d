//! The store's data types: what goes in and comes out of every backend.
//!
//! Named structs, never bare tuples, so a reader of a call site knows what
//! each value is without opening the backend.

use std::collections::HashMap;

use serde::Serialize;

pub use super::dsn::{EnvelopeDsn, Notify, RecipientDsn, Ret};
use crate::ids::Id;

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
    pub dsn: EnvelopeDsn,
}

impl NewMessage {
    /// The recipients as the archive records them: "a@x, b@y".
    pub fn recipient_list(&self) -> String {
        self.recipients.iter().map(|r| r.address.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Where the message goes, judged from its envelope (the archive's
    /// "direction"): outbound if any recipient is not local, internal if a
    /// user or Hato itself sent it, inbound otherwise.
    pub fn direction(&self) -> &'static str {
        if self.recipients.iter().any(|r| r.local_account.is_none()) {
            "outbound"
        } else if self.auth_user.is_some() || self.sender.is_empty() {
            "internal"
        } else {
            "inbound"
        }
    }

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
            dsn: EnvelopeDsn::default(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewRecipient {
    pub id: Id,
    pub address: String,
    /// Set when the recipient resolved to a local account.
    pub local_account: Option<String>,
    pub dsn: RecipientDsn,
}

impl NewRecipient {
    /// A recipient with a new id and no DSN request of its own.
    pub fn new(address: String, local_account: Option<String>) -> NewRecipient {
        NewRecipient { id: Id::new(), address, local_account, dsn: RecipientDsn::default() }
    }
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
    /// The node delivering it now (see `Store::claim_due`), while its lease runs.
    pub lease_node: Option<String>,
    /// When that claim lapses and any node may take the entry (unix seconds).
    pub lease_until: Option<i64>,
    pub dsn: RecipientDsn,
    /// Whether the sender was told that this recipient's delivery is delayed.
    pub delay_warned: bool,
    /// When the message was accepted (unix microseconds): claims hand out
    /// entries in this order, so one account's mail is filed as it came.
    #[serde(skip)]
    pub accepted_us: i64,
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
    pub dsn: EnvelopeDsn,
    pub entries: Vec<QueueEntry>,
}

fn ser_id<S: serde::Serializer>(id: &Id, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_string())
}

/// What became of one queue entry after a delivery attempt.
#[derive(Clone, Debug)]
pub enum Outcome {
    Delivered,
    /// `delay_warned`: a delay report for the entry goes out in the same transaction.
    Deferred {
        error: String,
        next_attempt: i64,
        delay_warned: bool,
    },
    Failed {
        error: String,
    },
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
    pub highestmodseq: i64,
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

/// A mailbox's messages at one moment, in UID order (what POP3 works from).
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub uidvalidity: i64,
    pub messages: Vec<UidSize>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UidSize {
    pub uid: i64,
    pub size: i64,
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
    /// As in `MailboxState`: a SELECT that resumes a kept view needs it.
    pub first_recent_uid: i64,
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

/// A setting the whole cluster shares (crate::cluster::shared): the last
/// value an administrator saved on any member, numbered so that each member
/// applies every change once.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedItem {
    pub name: String,
    /// 1 for the first value, one more for each change.
    pub version: i64,
    pub value: Vec<u8>,
    /// The node it was saved on.
    pub node: String,
    pub at: i64,
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

/// A number that changes whenever an account's mailboxes do (a delivery,
/// a flag, an expunge, a mailbox made or removed), on whichever node.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeMark {
    pub account: String,
    pub mark: i64,
}

/// Queue entries one node is delivering now (leased to it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NodeLeases {
    pub node: String,
    pub entries: u64,
}

/// Failed logins counted since a time: from one address, and for one user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthFailures {
    /// From the address, for any user.
    pub ip: u32,
    /// For the user, from any address.
    pub user: u32,
    /// For the user from the address.
    pub pair: u32,
}

/// Recent failed logins of one user from one address (the console's lockout list).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FailedLogins {
    pub ip: String,
    /// Empty when no user name was given.
    pub user: String,
    pub failures: u32,
    /// The last failure, Unix seconds.
    pub last: i64,
}

/// A web console login: who, with which role, the CSRF token its forms
/// carry, and when it was last used (Unix seconds).
#[derive(Clone, Debug, PartialEq)]
pub struct WebSession {
    pub user: String,
    pub role: Role,
    pub csrf: String,
    pub last_seen: i64,
}

/// A local queue entry and where its message goes (no filings: discarded).
#[derive(Clone, Debug)]
pub struct LocalDelivery {
    pub entry: Id,
    pub filings: Vec<Filing>,
}

/// Admin actions on a queued message (all of its recipients).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueAction {
    Hold,
    Release,
    Retry,
    Delete,
}

/// What became of one queue entry, to be recorded.
#[derive(Clone, Debug)]
pub struct EntryOutcome {
    pub entry: Id,
    pub outcome: Outcome,
}

/// An archived message the full-text indexer has not read yet.
#[derive(Clone, Debug)]
pub struct UnindexedArchive {
    pub id: Id,
    pub created: i64,
    pub sender: String,
    pub recipients: String,
    pub body: Vec<u8>,
}

/// The searchable text of an archived message (`crate::archive::text_of`).
#[derive(Clone, Debug, Default)]
pub struct ArchiveText {
    pub id: Id,
    pub created: i64,
    pub subject: String,
    pub addresses: String,
    pub body: String,
    pub attachments: String,
}

/// A message from another system's archive, with its own date.
#[derive(Clone, Debug)]
pub struct ImportedArchive {
    pub message: NewMessage,
    pub created: i64,
}

/// How far this node's full-text index of the archive is behind the archive.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct IndexStatus {
    /// Archived messages this node's index holds.
    pub indexed: u64,
    /// Archived messages not in it yet.
    pub pending: u64,
    /// When the oldest of those was archived (unix seconds).
    pub oldest_pending: Option<i64>,
}

/// One of an account's Sieve scripts, by name.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScriptInfo {
    pub name: String,
    pub active: bool,
}

/// A Sieve script's text, by name.
#[derive(Clone, Debug, PartialEq)]
pub struct SieveScript {
    pub name: String,
    pub text: String,
}

/// What the spam classifier learnt about the tokens of one message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpamCounts {
    /// Per token hash: (messages learnt as spam, as ham) that held it; absent tokens are left out.
    pub tokens: HashMap<i64, (u32, u32)>,
    pub totals: SpamTotals,
}

/// How many spam and ham messages the classifier has learnt in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct SpamTotals {
    pub spam: u32,
    pub ham: u32,
}

/// One message to learn: its token hashes (`crate::spam::tokens::hashes`) and its kind.
#[derive(Clone, Debug)]
pub struct LearnedMessage {
    pub hashes: Vec<i64>,
    pub spam: bool,
}

/// Several messages' data (whole messages or header blocks) by UID.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageData {
    pub uid: i64,
    pub data: Vec<u8>,
}

/// A message's decoded header facts (`crate::summary`), by UID.
#[derive(Clone, Debug)]
pub struct MessageSummary {
    pub uid: i64,
    pub summary: crate::summary::Summary,
}

/// The outcome of a STORE: the messages changed, and the UIDs left alone
/// because they changed after UNCHANGEDSINCE (RFC 7162).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlagsChanged {
    pub updated: Vec<FlagUpdate>,
    pub modified: Vec<i64>,
}

/// One message a client uploads (IMAP APPEND, WebMail's Sent and Drafts).
#[derive(Clone, Debug, PartialEq)]
pub struct Upload {
    pub body: Vec<u8>,
    /// Flags and keywords, space-separated.
    pub flags: String,
    /// The internal date.
    pub date: i64,
}

/// Where an APPEND put its messages: one UID per upload, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Appended {
    pub uidvalidity: i64,
    pub uids: Vec<i64>,
}

/// Where a COPY put the messages: the destination's UIDVALIDITY and each
/// source UID with its new UID (COPYUID, RFC 4315).
#[derive(Clone, Debug, PartialEq)]
pub struct Copied {
    pub uidvalidity: i64,
    pub uids: Vec<(i64, i64)>,
}

/// The backend in use and whether it can serve (`hato ctl status`, /metrics,
/// and, for a cluster, whether this node should hold service addresses).
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct StoreStatus {
    /// "sqlite" or "galera".
    pub backend: String,
    /// True while writes are accepted (SMTP answers 4xx otherwise).
    pub serving: bool,
    /// One line a person can act on: the file, or the local node's state.
    pub detail: String,
    /// Galera: every configured node as this node sees it.
    pub nodes: Vec<NodeStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct NodeStatus {
    pub address: String,
    /// wsrep_local_state_comment ("Synced", "Donor/Desynced" …) or "down".
    pub state: String,
    /// wsrep_cluster_status ("Primary", "non-Primary") or "" when down.
    pub cluster: String,
    pub cluster_size: u32,
    /// Whether this node is the one on this machine (the one whose health gates serving).
    pub local: bool,
    /// Whether the node serves (Primary, and Synced or donating state).
    #[serde(default)]
    pub serving: bool,
    /// The cluster's members' client addresses as this node sees them.
    #[serde(default)]
    pub members: Vec<String>,
}

/// The header line local delivery adds (RFC 5321 §4.4); kept apart from the shared body.
pub fn return_path_header(sender: &str) -> String {
    format!("Return-Path: <{sender}>\r\n")
}

/// A stored message as clients see it: the Return-Path line (for delivered
/// mail, not for APPENDed mail) and the body.
pub fn assemble(return_path: &str, has_return_path: bool, body: &[u8]) -> Vec<u8> {
    let line = if has_return_path { return_path_header(return_path) } else { String::new() };
    let mut v = Vec::with_capacity(line.len() + body.len());
    v.extend_from_slice(line.as_bytes());
    v.extend_from_slice(body);
    v
}

/// A message's flags after a STORE: `cur` (space-separated) with `flags`
/// added, removed or put in place; flags compare without regard to case.
pub fn apply_flags(cur: &str, op: FlagOp, flags: &[String]) -> String {
    let mut set: Vec<String> = cur.split_whitespace().map(String::from).collect();
    match op {
        FlagOp::Replace => set = flags.to_vec(),
        FlagOp::Add => {
            for f in flags {
                if !set.iter().any(|x| x.eq_ignore_ascii_case(f)) {
                    set.push(f.clone());
                }
            }
        }
        FlagOp::Remove => set.retain(|x| !flags.iter().any(|f| f.eq_ignore_ascii_case(x))),
    }
    set.join(" ")
}

/// What RENAME does to each name it touches: `from` itself and its inferiors
/// ("from/…"), as (old, new) pairs. Used by both backends.
pub fn renamed_names(names: &[String], from: &str, to: &str) -> Vec<(String, String)> {
    let prefix = format!("{from}/");
    names
        .iter()
        .filter_map(|n| match n.strip_prefix(&prefix) {
            Some(rest) => Some((n.clone(), format!("{to}/{rest}"))),
            None if n == from => Some((n.clone(), to.to_string())),
            None => None,
        })
        .collect()
}

/// Refuses mailbox names no client could use (and INBOX, which always exists).
pub fn valid_mailbox_name(name: &str) -> Result<(), crate::store::StoreError> {
    let bad = name.is_empty()
        || name.len() > 200
        || name.starts_with('/')
        || name.ends_with('/')
        || name.contains("//")
        || name.chars().any(|c| c.is_control() || c == '*' || c == '%')
        || name.eq_ignore_ascii_case("INBOX");
    if bad { Err(crate::store::StoreError::Invalid(format!("'{name}' is not a usable mailbox name"))) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_takes_inferiors_and_nothing_else() {
        let names: Vec<String> = ["a", "a/x", "a/x/y", "ab", "b/a"].iter().map(|s| s.to_string()).collect();
        let moved = renamed_names(&names, "a", "c");
        let pairs: Vec<(&str, &str)> = moved.iter().map(|(o, n)| (o.as_str(), n.as_str())).collect();
        assert_eq!(pairs, [("a", "c"), ("a/x", "c/x"), ("a/x/y", "c/x/y")]);
    }
}
