//! Store behaviour through the public async interface.

//!
//! Every test runs on each backend this machine has: SQLite always, MariaDB
//! Galera when `HATO_TEST_GALERA` names a running cluster (`scripts/test`
//! starts one with `scripts/galera-cluster`; each store gets a database of
//! its own). With `HATO_REQUIRE_GALERA=1` a missing cluster is an error, so
//! CI cannot pass by skipping it.

use super::*;

/// A store in a directory of its own, removed when it goes.
pub(crate) struct TestStore {
    pub store: std::sync::Arc<Store>,
    pub kind: &'static str,
    pub cfg: crate::config::Config,
    dir: std::path::PathBuf,
}

impl Drop for TestStore {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// The configuration of a fresh store of `kind`, with a directory (and, for
/// Galera, a database) nobody else uses.
pub(crate) fn test_config(kind: &str) -> crate::config::Config {
    let tag = crate::ids::token(10).to_lowercase();
    let mut cfg = crate::config::Config {
        data_dir: std::env::temp_dir().join(format!("hato-store-test-{tag}")),
        ..Default::default()
    };
    cfg.store.node_name = Some(format!("test-{tag}"));
    if kind == "galera" {
        cfg.store.backend = crate::config::StoreBackend::Galera;
        let g = &mut cfg.store.galera;
        g.nodes = galera_nodes().unwrap_or_default();
        g.database = format!("hato_test_{tag}");
        g.password = Some("hato".into());
        g.tls_ca = std::env::var_os("HATO_TEST_GALERA_CA").map(Into::into);
    }
    cfg
}

/// The test cluster's nodes, from `HATO_TEST_GALERA` (host:port,…).
pub(crate) fn galera_nodes() -> Option<Vec<String>> {
    let list = std::env::var("HATO_TEST_GALERA").ok().filter(|v| !v.is_empty());
    if list.is_none() && std::env::var("HATO_REQUIRE_GALERA").is_ok_and(|v| v == "1") {
        panic!("HATO_REQUIRE_GALERA=1 but HATO_TEST_GALERA names no cluster (scripts/test starts one)");
    }
    Some(list?.split(',').map(str::to_string).collect())
}

pub(crate) async fn open_kind(kind: &'static str) -> TestStore {
    open_cfg(kind, test_config(kind)).await
}

async fn open_cfg(kind: &'static str, cfg: crate::config::Config) -> TestStore {
    let store = Store::open(&cfg).await.unwrap_or_else(|e| panic!("open a {kind} store: {e}"));
    TestStore { store: std::sync::Arc::new(store), kind, dir: cfg.data_dir.clone(), cfg }
}

/// A fresh store on each backend available here.
pub(crate) async fn each_backend() -> Vec<TestStore> {
    let mut all = vec![open_kind("sqlite").await];
    if galera_nodes().is_some() {
        all.push(open_kind("galera").await);
    }
    all
}

fn account(address: &str) -> Account {
    Account {
        address: address.into(),
        display_name: String::new(),
        quota_bytes: 0,
        used_bytes: 0,
        enabled: true,
        password_hash: "x".into(),
        role: Default::default(),
    }
}

fn message(to: &[(&str, Option<&str>)]) -> NewMessage {
    NewMessage {
        id: Id::new(),
        body: b"Subject: hi\r\n\r\nhello\r\n".to_vec(),
        sender: "s@remote.test".into(),
        client_ip: "127.0.0.1".into(),
        helo: "h".into(),
        auth_user: None,
        message_id: "<m@x>".into(),
        subject: "hi".into(),
        recipients: to.iter().map(|(a, l)| NewRecipient::new(a.to_string(), l.map(String::from))).collect(),
        dsn: Default::default(),
    }
}

const A: &str = "alice@example.test";

/// DSN requests as a sender might make them (RFC 3461).
fn dsn_request() -> (EnvelopeDsn, RecipientDsn) {
    let notify = Some(Notify { success: true, failure: false, delay: true });
    (
        EnvelopeDsn { ret: Some(Ret::Full), envid: Some("env 1".into()) },
        RecipientDsn { notify, orcpt: Some("Far@Remote.test".into()) },
    )
}

/// A domain with alice (and bob) in it.
async fn with_accounts(s: &Store) {
    s.add_domain("example.test".into()).await.unwrap();
    s.add_account(account(A)).await.unwrap();
    s.add_account(account("bob@example.test")).await.unwrap();
}

/// Files one claimed local entry alone; whether it was filed.
async fn file(s: &Store, e: &QueueEntry, filings: Vec<Filing>) -> bool {
    let account = e.local_account.clone().unwrap_or_default();
    let mut r = s.deliver_local(&account, vec![LocalDelivery { entry: e.id, filings }]).await;
    r.pop().expect("one result per entry").unwrap()
}

/// Files one claimed entry into INBOX as `queue::deliver_local` would: a
/// delivery the store could not confirm (a conflict) is tried again, and
/// only what the store reports filed counts.
async fn file_as_the_queue_does(s: &Store, e: &QueueEntry) -> bool {
    let account = e.local_account.clone().unwrap_or_default();
    loop {
        let d = LocalDelivery { entry: e.id, filings: vec![Filing::to(Folder::Inbox)] };
        match s.deliver_local(&account, vec![d]).await.pop().expect("one result per entry") {
            Err(StoreError::Conflict(why)) => eprintln!("delivery of {} not confirmed, tried again: {why}", e.id),
            r => return r.unwrap(),
        }
    }
}

/// Queues a message for alice and delivers it to `folder`; returns its UID there.
async fn deliver(s: &Store, node: &str, folder: Folder) -> i64 {
    let m = message(&[(A, Some(A))]);
    s.enqueue(m).await.unwrap();
    let claimed = s.claim_due(node.into(), crate::clock::now(), 60, 100).await.unwrap();
    let name = folder.to_string();
    for e in claimed {
        assert!(file(s, &e, vec![Filing::to(folder.clone())]).await);
    }
    let mailbox = if name == "Junk" { "Junk".to_string() } else { name };
    s.mailbox_state(A.into(), mailbox).await.unwrap().messages.last().unwrap().uid
}

#[tokio::test]
async fn directory_resolution() {
    for t in each_backend().await {
        eprintln!("backend: {}", t.kind);
        let s = &t.store;
        s.add_domain("example.test".into()).await.unwrap();
        assert!(matches!(s.add_domain("example.test".into()).await, Err(StoreError::Exists(_))));
        s.add_account(account(A)).await.unwrap();
        s.add_account(account("bob@example.test")).await.unwrap();
        assert!(matches!(s.add_account(account("carol@nowhere.test")).await, Err(StoreError::NotFound(_))));
        assert!(matches!(s.add_account(account(A)).await, Err(StoreError::Exists(_))));
        s.add_alias("info@example.test".into(), A.into()).await.unwrap();
        s.add_group("team@example.test".into(), "Team".into()).await.unwrap();
        s.set_group_member("team@example.test".into(), A.into(), true).await.unwrap();
        s.set_group_member("team@example.test".into(), "info@example.test".into(), true).await.unwrap();
        s.set_group_member("team@example.test".into(), "ext@remote.test".into(), true).await.unwrap();
        assert!(matches!(
            s.set_group_member("team@example.test".into(), A.into(), true).await,
            Err(StoreError::Exists(_))
        ));
        assert!(matches!(s.add_alias(A.into(), "bob@example.test".into()).await, Err(StoreError::Exists(_))));

        assert_eq!(s.resolve("x@remote.test".into()).await.unwrap(), Resolution::NotLocal);
        assert_eq!(s.resolve("nobody@example.test".into()).await.unwrap(), Resolution::Unknown);
        let Resolution::Targets(t) = s.resolve("team@example.test".into()).await.unwrap() else { panic!() };
        // alice once (directly and via the alias), plus the remote member.
        assert_eq!(t.len(), 2, "{t:?}");
        assert!(t.contains(&Target::Remote("ext@remote.test".into())));

        s.set_catch_all("example.test".into(), Some("bob@example.test".into())).await.unwrap();
        let Resolution::Targets(t) = s.resolve("anything@example.test".into()).await.unwrap() else { panic!() };
        assert!(matches!(&t[..], [Target::Account(a)] if a.address == "bob@example.test"));

        assert_eq!(s.owner_of("info@example.test".into()).await.unwrap(), Some(A.into()));
        assert_eq!(s.owner_of("team@example.test".into()).await.unwrap(), None);
        assert!(matches!(s.remove_domain("example.test".into()).await, Err(StoreError::Invalid(_))));

        let domains = s.domains().await.unwrap();
        assert_eq!((domains[0].name.as_str(), domains[0].accounts), ("example.test", 2));
        assert_eq!(domains[0].catch_all.as_deref(), Some("bob@example.test"));
        assert_eq!(s.aliases(Some("example.test".into())).await.unwrap().len(), 1);
        assert_eq!(s.groups(None).await.unwrap()[0].members.len(), 3);
        let mut bob = s.account("bob@example.test".into()).await.unwrap().unwrap();
        bob.display_name = "ボブ".into();
        bob.role = Role::DomainAdmin;
        bob.quota_bytes = 1000;
        s.update_account(bob).await.unwrap();
        let bob = s.account("bob@example.test".into()).await.unwrap().unwrap();
        assert_eq!((bob.display_name.as_str(), bob.role, bob.quota_bytes), ("ボブ", Role::DomainAdmin, 1000));
        s.set_group_member("team@example.test".into(), "ext@remote.test".into(), false).await.unwrap();
        s.remove_group("team@example.test".into()).await.unwrap();
        s.remove_alias("info@example.test".into()).await.unwrap();
        s.remove_account("bob@example.test".into()).await.unwrap();
        assert!(matches!(s.remove_account("bob@example.test".into()).await, Err(StoreError::NotFound(_))));
        assert_eq!(s.accounts(None).await.unwrap().len(), 1);
        assert!(s.is_local_domain("example.test".into()).await.unwrap());

        for i in 0..3 {
            let e = AuditEntry {
                at: 100 + i,
                actor: "admin".into(),
                ip: "127.0.0.1".into(),
                action: "account.update".into(),
                target: if i == 1 { "x@other.test".into() } else { A.into() },
                detail: String::new(),
            };
            s.audit(e).await.unwrap();
        }
        let all = s.audit_list(10, None).await.unwrap();
        assert_eq!(all.iter().map(|e| e.at).collect::<Vec<_>>(), [102, 101, 100], "newest first");
        assert_eq!(s.audit_list(10, Some("example.test".into())).await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn enqueue_deliver_and_forget() {
    for t in each_backend().await {
        eprintln!("backend: {}", t.kind);
        let s = &t.store;
        with_accounts(s).await;
        let mut m = message(&[(A, Some(A)), ("far@remote.test", None)]);
        (m.dsn, m.recipients[1].dsn) = dsn_request();
        let (id, again) = (m.id, m.clone());
        s.enqueue(m.clone()).await.unwrap();
        // Idempotent: the same message committed twice is stored once.
        s.enqueue(m).await.unwrap();
        let summary = s.queue_summary().await.unwrap();
        assert_eq!((summary.messages, summary.recipients), (1, 2));
        let due = s.claim_due("n1".into(), crate::clock::now() + 1, 60, 10).await.unwrap();
        assert_eq!(due.len(), 2);
        assert!(due.iter().all(|e| e.lease_node.as_deref() == Some("n1")));
        let local = due.iter().find(|e| e.local_account.is_some()).unwrap();
        assert!(file(s, local, vec![Filing::to(Folder::Inbox)]).await);
        assert!(!file(s, local, vec![Filing::to(Folder::Inbox)]).await, "second delivery must find nothing");
        let inbox = s.messages(A.into(), "INBOX".into(), true).await.unwrap();
        assert_eq!(inbox.len(), 1);
        assert_eq!(inbox[0].uid, 1);
        assert!(inbox[0].content.starts_with(b"Return-Path: <s@remote.test>\r\n"));
        assert_eq!(inbox[0].size as usize, inbox[0].content.len());
        assert_eq!(s.account(A.into()).await.unwrap().unwrap().used_bytes, inbox[0].size);

        let remote = due.iter().find(|e| e.local_account.is_none()).unwrap();
        let later = EntryOutcome {
            entry: remote.id,
            outcome: Outcome::Deferred { error: "451 later".into(), next_attempt: 99, delay_warned: true },
        };
        s.record_outcomes(vec![later], None).await.unwrap();
        let q = s.queued_message(id).await.unwrap().unwrap();
        assert_eq!(q.entries.len(), 1);
        assert_eq!((q.entries[0].attempts, q.entries[0].last_error.as_str()), (1, "451 later"));
        assert!(q.entries[0].delay_warned);
        assert_eq!(q.dsn, dsn_request().0, "RET and ENVID kept");
        assert_eq!(q.entries[0].dsn, dsn_request().1, "NOTIFY and ORCPT kept");
        let again_later = EntryOutcome {
            entry: remote.id,
            outcome: Outcome::Deferred { error: "451 later".into(), next_attempt: 99, delay_warned: false },
        };
        s.record_outcomes(vec![again_later], None).await.unwrap();
        let q = s.queued_message(id).await.unwrap().unwrap();
        assert!(q.entries[0].delay_warned, "a delay is reported once");
        assert_eq!(q.entries[0].lease_node, None, "an outcome ends the lease");
        s.queue_action(id, QueueAction::Hold).await.unwrap();
        assert_eq!(s.queue_summary().await.unwrap().held, 1);
        assert!(s.claim_due("n1".into(), i64::MAX / 2, 60, 10).await.unwrap().is_empty());
        s.queue_action(id, QueueAction::Release).await.unwrap();
        let filter = QueueFilter { recipient: Some("FAR@".into()), ..Default::default() };
        assert_eq!(s.queue_list(filter).await.unwrap().len(), 1, "recipient filter ignores case");
        assert_eq!(s.claim_due("n1".into(), i64::MAX / 2, 60, 10).await.unwrap().len(), 1);
        s.record_outcomes(vec![EntryOutcome { entry: remote.id, outcome: Outcome::Delivered }], None).await.unwrap();
        assert!(s.queued_message(id).await.unwrap().is_none());
        assert_eq!(s.queue_summary().await.unwrap(), QueueSummary::default());
        // A commit retried after the message was delivered and forgotten
        // (Galera: the first answer was lost) must not queue it again.
        s.enqueue(again).await.unwrap();
        assert_eq!(s.queue_summary().await.unwrap(), QueueSummary::default(), "delivered mail came back");
        // The body survives: the INBOX copy still refers to it.
        assert_eq!(s.messages(A.into(), "INBOX".into(), true).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_batch_files_each_entry_and_one_refusal_spares_the_others() {
    for t in each_backend().await {
        eprintln!("backend: {}", t.kind);
        let s = &t.store;
        with_accounts(s).await;
        for _ in 0..3 {
            s.enqueue(message(&[(A, Some(A))])).await.unwrap();
        }
        s.enqueue(message(&[("far@remote.test", None)])).await.unwrap();
        let due = s.claim_due("n1".into(), crate::clock::now() + 1, 60, 10).await.unwrap();
        let (local, remote): (Vec<_>, Vec<_>) = due.iter().partition(|e| e.local_account.is_some());
        let inbox = || vec![Filing::to(Folder::Inbox)];
        let batch: Vec<LocalDelivery> = local.iter().map(|e| LocalDelivery { entry: e.id, filings: inbox() }).collect();
        let results = s.deliver_local(A, batch).await;
        assert_eq!(results, vec![Ok(true); 3]);
        let uids: Vec<i64> = s.messages(A.into(), "INBOX".into(), false).await.unwrap().iter().map(|m| m.uid).collect();
        assert_eq!(uids, [1, 2, 3]);

        // A remote entry is no local delivery: refused alone, while the
        // entry beside it (already filed) is reported as gone, not failed.
        let mixed = vec![
            LocalDelivery { entry: local[0].id, filings: inbox() },
            LocalDelivery { entry: remote[0].id, filings: inbox() },
        ];
        let results = s.deliver_local(A, mixed).await;
        assert_eq!(results[0], Ok(false));
        assert!(matches!(results[1], Err(StoreError::Invalid(_))), "{:?}", results[1]);
        assert_eq!(s.messages(A.into(), "INBOX".into(), false).await.unwrap().len(), 3);
    }
}
/// On Galera the entry is queued and claimed through the local node and
/// filed by the account's home node, which may not have applied the claim
/// yet: the delivery must still find it, not report it gone.
#[tokio::test]
async fn an_entry_just_claimed_is_filed_wherever_the_account_lives() {
    for t in each_backend().await {
        eprintln!("backend: {}", t.kind);
        let s = &t.store;
        s.add_domain("example.test".into()).await.unwrap();
        // Enough accounts that, with three nodes, some live on another one.
        let names: Vec<String> = (0..6).map(|i| format!("u{i}@example.test")).collect();
        for n in &names {
            s.add_account(account(n)).await.unwrap();
        }
        for round in 0..20 {
            for n in &names {
                s.enqueue(message(&[(n, Some(n))])).await.unwrap();
                let claimed = s.claim_due("n1".into(), crate::clock::now() + 1, 60, 10).await.unwrap();
                assert_eq!(claimed.len(), 1, "round {round}, {n}");
                assert!(
                    file(s, &claimed[0], vec![Filing::to(Folder::Inbox)]).await,
                    "round {round}: {n} reported gone"
                );
            }
        }
        for n in &names {
            assert_eq!(s.messages(n.clone(), "INBOX".into(), false).await.unwrap().len(), 20, "{n}");
        }
    }
}

/// Claims hand entries out in the order their mail was accepted, also
/// within one second (ids are random, so they cannot tell).
#[tokio::test]
async fn claims_follow_acceptance_order() {
    for t in each_backend().await {
        eprintln!("backend: {}", t.kind);
        let s = &t.store;
        with_accounts(s).await;
        let mut sent = Vec::new();
        for _ in 0..40 {
            let m = message(&[(A, Some(A))]);
            sent.push(m.id);
            s.enqueue(m).await.unwrap();
        }
        let claimed = s.claim_due("n1".into(), crate::clock::now() + 1, 60, 100).await.unwrap();
        assert_eq!(claimed.iter().map(|e| e.message).collect::<Vec<_>>(), sent);
    }
}

#[tokio::test]
async fn leases_keep_two_nodes_off_one_entry() {
    for t in each_backend().await {
        eprintln!("backend: {}", t.kind);
        let s = &t.store;
        with_accounts(s).await;
        let m = message(&[("far@remote.test", None)]);
        let id = m.id;
        s.enqueue(m).await.unwrap();
        // Read after the commit: an entry is due from the second it was enqueued in,
        // and a slow commit may cross into the next one.
        let now = crate::clock::now();
        let first = s.claim_due("n1".into(), now, 60, 10).await.unwrap();
        assert_eq!(first.len(), 1);
        assert!(s.claim_due("n2".into(), now, 60, 10).await.unwrap().is_empty(), "held by n1");
        assert_eq!(s.leases_by_node(now).await.unwrap(), [NodeLeases { node: "n1".into(), entries: 1 }]);
        assert!(s.leases_by_node(now + 61).await.unwrap().is_empty(), "a lapsed lease is no delivery");
        // n1 renews; its lease would otherwise lapse at now + 60.
        s.renew_leases("n1".into(), vec![first[0].id], now + 120).await.unwrap();
        assert!(s.claim_due("n2".into(), now + 90, 60, 10).await.unwrap().is_empty(), "renewed");
        // n1 dies: after its lease, n2 takes the entry over.
        let taken = s.claim_due("n2".into(), now + 121, 60, 10).await.unwrap();
        assert_eq!(taken.iter().map(|e| e.id).collect::<Vec<_>>(), [first[0].id]);
        let q = s.queued_message(id).await.unwrap().unwrap();
        assert_eq!(q.entries[0].lease_node.as_deref(), Some("n2"));
        // A restarted node frees what it held.
        assert_eq!(s.release_leases("n2".into()).await.unwrap(), 1);
        assert_eq!(s.claim_due("n3".into(), now, 60, 10).await.unwrap().len(), 1);
        s.queue_action(id, QueueAction::Delete).await.unwrap();
        assert!(s.queued_message(id).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn failing_job_does_not_spoil_its_batch() {
    for t in each_backend().await {
        eprintln!("backend: {}", t.kind);
        let s = t.store.clone();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let s = s.clone();
            // Every third job adds the same domain again and must fail alone.
            let name = if i % 3 == 0 { "dup.test".to_string() } else { format!("d{i}.test") };
            tasks.push(tokio::spawn(async move { s.add_domain(name).await }));
        }
        let mut ok = 0;
        for t in tasks {
            if t.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        // 33 unique names plus dup.test once.
        assert_eq!(ok, 34);
        assert_eq!(s.domains().await.unwrap().len(), 34);
    }
}

#[tokio::test]
async fn snapshot_content_and_expunge() {
    for t in each_backend().await {
        eprintln!("backend: {}", t.kind);
        let s = &t.store;
        with_accounts(s).await;
        for _ in 0..3 {
            deliver(s, "n1", Folder::Inbox).await;
        }
        let snap = s.snapshot(A.into(), "INBOX".into()).await.unwrap();
        assert_eq!(snap.messages.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 2, 3]);
        let body = s.content(A.into(), "INBOX".into(), 2).await.unwrap().unwrap();
        assert_eq!(body.len() as i64, snap.messages[1].size);
        assert!(s.content(A.into(), "INBOX".into(), 9).await.unwrap().is_none());
        // Header-only reads stop at the blank line and match the full content's header.
        let heads = s.headers(A.into(), "INBOX".into(), vec![2, 9]).await.unwrap();
        let split = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(heads, [MessageData { uid: 2, data: body[..split].to_vec() }]);
        // Dense ascending lists are read in one range scan, others row by row; both skip the missing.
        let uids = |v: Vec<MessageData>| v.into_iter().map(|r| r.uid).collect::<Vec<_>>();
        assert_eq!(uids(s.contents(A.into(), "INBOX".into(), vec![1, 3, 4]).await.unwrap()), [1, 3]);
        assert_eq!(uids(s.contents(A.into(), "INBOX".into(), vec![3, 1]).await.unwrap()), [3, 1]);
        assert_eq!(uids(s.headers(A.into(), "INBOX".into(), vec![0, 2, 50]).await.unwrap()), [2]);
        let sums = s.summaries(A.into(), "INBOX".into(), vec![3, 1]).await.unwrap();
        assert_eq!(
            sums.iter().map(|m| (m.uid, m.summary.subject.as_str())).collect::<Vec<_>>(),
            [(3, "hi"), (1, "hi")]
        );
        let used = s.account(A.into()).await.unwrap().unwrap().used_bytes;
        assert_eq!(s.expunge(A.into(), "INBOX".into(), vec![1, 3, 99]).await.unwrap(), 2);
        let after = s.snapshot(A.into(), "INBOX".into()).await.unwrap();
        assert_eq!(after.messages.iter().map(|m| m.uid).collect::<Vec<_>>(), [2]);
        assert_eq!(after.uidvalidity, snap.uidvalidity);
        let left = s.account(A.into()).await.unwrap().unwrap().used_bytes;
        assert_eq!(left, used - 2 * snap.messages[0].size);
        // The shared body is still there for message 2 (all three share one blob).
        assert!(s.content(A.into(), "INBOX".into(), 2).await.unwrap().is_some());
        assert!(matches!(s.snapshot(A.into(), "Nope".into()).await, Err(StoreError::NotFound(_))));
    }
}

/// A second store on the same Galera database, through another node (its
/// "local" node is the next in the list), as a second Hato node would be.
async fn second_node(t: &TestStore) -> TestStore {
    let mut cfg = t.cfg.clone();
    cfg.store.galera.nodes.rotate_left(1);
    let tag = crate::ids::token(10).to_lowercase();
    cfg.data_dir = std::env::temp_dir().join(format!("hato-store-test-{tag}"));
    cfg.store.node_name = Some(format!("test-{tag}"));
    open_cfg("galera", cfg).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_never_claim_one_entry() {
    if galera_nodes().is_none() {
        return;
    }
    let a = open_kind("galera").await;
    let b = second_node(&a).await;
    with_accounts(&a.store).await;
    for _ in 0..300 {
        a.store.enqueue(message(&[("far@remote.test", None)])).await.unwrap();
    }
    // Both nodes claim small batches as fast as they can until nothing is left.
    let claim = |s: std::sync::Arc<Store>, node: &'static str| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = s.claim_due(node.into(), crate::clock::now(), 60, 7).await.unwrap();
                if batch.is_empty() {
                    break got;
                }
                got.extend(batch.into_iter().map(|e| e.id));
            }
        })
    };
    let (x, y) = (claim(a.store.clone(), "a"), claim(b.store.clone(), "b"));
    let (x, y) = (x.await.unwrap(), y.await.unwrap());
    let mut all: Vec<Id> = x.iter().chain(&y).copied().collect();
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!((n, all.len()), (300, 300), "claimed by a {}, by b {}: an entry went to both", x.len(), y.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_deliver_each_entry_once() {
    if galera_nodes().is_none() {
        return;
    }
    // With each account's writes on its home node, and without (so that
    // deliveries to one mailbox meet Galera's certification conflicts).
    for home in [true, false] {
        let mut cfg = test_config("galera");
        cfg.store.galera.home_routing = home;
        let a = open_cfg("galera", cfg).await;
        let b = second_node(&a).await;
        with_accounts(&a.store).await;
        a.store.add_account(account("carol@example.test")).await.unwrap();
        let users = [A, "bob@example.test", "carol@example.test"];
        let mut enqueued = Vec::new();
        for i in 0..240 {
            let u = users[i % 3];
            let m = message(&[(u, Some(u))]);
            enqueued.push(m.id);
            a.store.enqueue(m).await.unwrap();
        }
        let run = |s: std::sync::Arc<Store>, node: &'static str| {
            tokio::spawn(async move {
                let mut delivered = Vec::new();
                let mut idle = 0;
                while idle < 3 {
                    let batch = s.claim_due(node.into(), crate::clock::now(), 60, 5).await.unwrap();
                    if batch.is_empty() {
                        idle += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                    idle = 0;
                    for e in batch {
                        s.renew_leases(node.into(), vec![e.id], crate::clock::now() + 60).await.unwrap();
                        if file_as_the_queue_does(&s, &e).await {
                            delivered.push(e.id);
                        }
                    }
                }
                delivered
            })
        };
        let (x, y) = (run(a.store.clone(), "a"), run(b.store.clone(), "b"));
        let (x, y) = (x.await.unwrap(), y.await.unwrap());
        let mut all: Vec<Id> = x.iter().chain(&y).copied().collect();
        all.sort();
        let n = all.len();
        all.dedup();
        assert_eq!((n, all.len()), (240, 240), "deliveries reported by a {}, b {}", x.len(), y.len());
        let mut stored = 0;
        for u in users {
            stored += a.store.mailbox_state(u.into(), "INBOX".into()).await.unwrap().messages.len();
        }
        assert_eq!(stored, 240);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_settings_are_numbered_and_seen_by_every_node() {
    for t in each_backend().await {
        let s = &t.store;
        assert!(s.shared_items().await.unwrap().is_empty(), "{}", t.kind);
        assert_eq!(s.shared_put("rules".into(), b"keep;".to_vec(), "n1".into()).await.unwrap(), 1);
        assert_eq!(s.shared_put("rules".into(), b"discard;".to_vec(), "n2".into()).await.unwrap(), 2);
        assert_eq!(s.shared_put("certificate".into(), b"pem".to_vec(), "n1".into()).await.unwrap(), 1);
        let items = s.shared_items().await.unwrap();
        let rules = items.iter().find(|i| i.name == "rules").unwrap();
        assert_eq!((rules.version, rules.value.as_slice(), rules.node.as_str()), (2, &b"discard;"[..], "n2"));
        assert_eq!(items.len(), 2, "{}", t.kind);
        if t.kind == "galera" {
            // Saved through two nodes at once: every save gets a version of its own.
            let b = second_node(&t).await;
            let put = |s: std::sync::Arc<Store>, node: &'static str| {
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    for i in 0..10 {
                        got.push(
                            s.shared_put("settings".into(), format!("{node}{i}").into(), node.into()).await.unwrap(),
                        );
                    }
                    got
                })
            };
            let (x, y) = (put(s.clone(), "a"), put(b.store.clone(), "b"));
            let mut all: Vec<i64> = x.await.unwrap().into_iter().chain(y.await.unwrap()).collect();
            all.sort();
            assert_eq!(all, (1..=20).collect::<Vec<_>>());
            let seen = b.store.shared_items().await.unwrap();
            assert_eq!(seen.iter().find(|i| i.name == "settings").map(|i| i.version), Some(20));
        }
    }
}

#[tokio::test]
async fn an_archived_message_is_found_whatever_order_its_id_takes() {
    for t in each_backend().await {
        let s = &t.store;
        // Ids are random: the second message's sorts before the first's,
        // written in the same second, after the first was indexed.
        for (id, word) in [(i64::MAX - 1, "first"), (1, "second")] {
            let mut m = message(&[("x@remote.test", None)]);
            m.id = Id(id);
            m.subject = format!("{word} news");
            m.body = format!("Subject: {word} news\r\n\r\nbody{word}\r\n").into_bytes();
            s.archive_unqueued(m, "accepted", String::new()).await.unwrap();
            // Found by its subject before the indexer has seen it.
            let q = ArchiveQuery { subject: Some(format!("{word} NEWS")), limit: 10, ..Default::default() };
            let found = s.archive_search(q).await.unwrap();
            assert_eq!(found.iter().map(|e| e.id).collect::<Vec<_>>(), vec![Id(id)], "{}: {word}", t.kind);
            // Twice, as the indexer goes on: the second pass moves the cursor
            // over what the first indexed.
            for _ in 0..2 {
                crate::archive::index_pending(s, 100).await.unwrap();
            }
        }
        for word in ["first", "second"] {
            let q = ArchiveQuery { text: Some(format!("body{word}")), limit: 10, ..Default::default() };
            assert_eq!(s.archive_search(q).await.unwrap().len(), 1, "{}: the index holds {word}", t.kind);
        }
    }
}
