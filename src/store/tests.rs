//! Store behaviour through the public async interface.

use super::*;

fn temp_store() -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("hato-store-test-{}", crate::ids::token(10)));
    let store = Store::open(&dir.join("hato.db")).unwrap();
    (store, dir)
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
        recipients: to
            .iter()
            .map(|(a, l)| NewRecipient { id: Id::new(), address: a.to_string(), local_account: l.map(String::from) })
            .collect(),
    }
}

#[tokio::test]
async fn directory_resolution() {
    let (s, dir) = temp_store();
    s.add_domain("example.test".into()).await.unwrap();
    assert!(matches!(s.add_domain("example.test".into()).await, Err(StoreError::Exists(_))));
    s.add_account(account("alice@example.test")).await.unwrap();
    s.add_account(account("bob@example.test")).await.unwrap();
    assert!(matches!(s.add_account(account("carol@nowhere.test")).await, Err(StoreError::NotFound(_))));
    s.add_alias("info@example.test".into(), "alice@example.test".into()).await.unwrap();
    s.add_group("team@example.test".into(), "Team".into()).await.unwrap();
    s.set_group_member("team@example.test".into(), "alice@example.test".into(), true).await.unwrap();
    s.set_group_member("team@example.test".into(), "info@example.test".into(), true).await.unwrap();
    s.set_group_member("team@example.test".into(), "ext@remote.test".into(), true).await.unwrap();
    assert!(matches!(
        s.add_alias("alice@example.test".into(), "bob@example.test".into()).await,
        Err(StoreError::Exists(_))
    ));

    assert_eq!(s.resolve("x@remote.test".into()).await.unwrap(), Resolution::NotLocal);
    assert_eq!(s.resolve("nobody@example.test".into()).await.unwrap(), Resolution::Unknown);
    let Resolution::Targets(t) = s.resolve("team@example.test".into()).await.unwrap() else { panic!() };
    // alice once (directly and via the alias), plus the remote member.
    assert_eq!(t.len(), 2, "{t:?}");
    assert!(t.contains(&Target::Remote("ext@remote.test".into())));

    s.set_catch_all("example.test".into(), Some("bob@example.test".into())).await.unwrap();
    let Resolution::Targets(t) = s.resolve("anything@example.test".into()).await.unwrap() else { panic!() };
    assert!(matches!(&t[..], [Target::Account(a)] if a.address == "bob@example.test"));

    assert_eq!(s.owner_of("info@example.test".into()).await.unwrap(), Some("alice@example.test".into()));
    assert_eq!(s.owner_of("team@example.test".into()).await.unwrap(), None);
    assert!(matches!(s.remove_domain("example.test".into()).await, Err(StoreError::Invalid(_))));
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn enqueue_deliver_and_forget() {
    let (s, dir) = temp_store();
    s.add_domain("example.test".into()).await.unwrap();
    s.add_account(account("alice@example.test")).await.unwrap();
    let m = message(&[("alice@example.test", Some("alice@example.test")), ("far@remote.test", None)]);
    let id = m.id;
    s.enqueue(m.clone()).await.unwrap();
    // Idempotent: the same message committed twice is stored once.
    s.enqueue(m).await.unwrap();
    let due = s.due_entries(crate::clock::now() + 1, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    let local = due.iter().find(|e| e.local_account.is_some()).unwrap();
    assert!(s.deliver_local(local.id, vec![Filing::to(Folder::Inbox)]).await.unwrap());
    assert!(
        !s.deliver_local(local.id, vec![Filing::to(Folder::Inbox)]).await.unwrap(),
        "second delivery must find nothing"
    );
    let inbox = s.messages("alice@example.test".into(), "INBOX".into(), true).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].uid, 1);
    assert!(inbox[0].content.starts_with(b"Return-Path: <s@remote.test>\r\n"));
    assert_eq!(inbox[0].size as usize, inbox[0].content.len());
    assert_eq!(s.account("alice@example.test".into()).await.unwrap().unwrap().used_bytes, inbox[0].size);

    let remote = due.iter().find(|e| e.local_account.is_none()).unwrap();
    s.record_outcomes(vec![(remote.id, Outcome::Deferred { error: "451 later".into(), next_attempt: 99 })], None)
        .await
        .unwrap();
    let q = s.queued_message(id).await.unwrap().unwrap();
    assert_eq!(q.entries.len(), 1);
    assert_eq!(q.entries[0].attempts, 1);
    assert_eq!(q.entries[0].last_error, "451 later");
    s.queue_action(id, QueueAction::Hold).await.unwrap();
    assert!(s.due_entries(i64::MAX, 10).await.unwrap().is_empty());
    s.queue_action(id, QueueAction::Release).await.unwrap();
    assert_eq!(s.due_entries(i64::MAX, 10).await.unwrap().len(), 1);
    s.record_outcomes(vec![(remote.id, Outcome::Delivered)], None).await.unwrap();
    assert!(s.queued_message(id).await.unwrap().is_none());
    // The body survives: the INBOX copy still refers to it.
    assert_eq!(s.messages("alice@example.test".into(), "INBOX".into(), true).await.unwrap().len(), 1);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn failing_job_does_not_spoil_its_batch() {
    let (s, dir) = temp_store();
    let s = std::sync::Arc::new(s);
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
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn snapshot_content_and_expunge() {
    let (s, dir) = temp_store();
    s.add_domain("example.test".into()).await.unwrap();
    s.add_account(account("alice@example.test")).await.unwrap();
    for _ in 0..3 {
        let m = message(&[("alice@example.test", Some("alice@example.test"))]);
        s.enqueue(m).await.unwrap();
    }
    for e in s.due_entries(i64::MAX, 10).await.unwrap() {
        s.deliver_local(e.id, vec![Filing::to(Folder::Inbox)]).await.unwrap();
    }
    let snap = s.snapshot("alice@example.test".into(), "INBOX".into()).await.unwrap();
    assert_eq!(snap.messages.iter().map(|m| m.0).collect::<Vec<_>>(), [1, 2, 3]);
    let body = s.content("alice@example.test".into(), "INBOX".into(), 2).await.unwrap().unwrap();
    assert_eq!(body.len() as i64, snap.messages[1].1);
    assert!(s.content("alice@example.test".into(), "INBOX".into(), 9).await.unwrap().is_none());
    // Header-only reads stop at the blank line and match the full content's header.
    let heads = s.headers("alice@example.test".into(), "INBOX".into(), vec![2, 9]).await.unwrap();
    let split = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(heads.len(), 1);
    assert_eq!((heads[0].0, heads[0].1.as_slice()), (2, &body[..split]));
    // Dense ascending lists are read in one range scan, others row by row; both skip the missing.
    let uids = |v: Vec<(i64, Vec<u8>)>| v.into_iter().map(|r| r.0).collect::<Vec<_>>();
    assert_eq!(uids(s.contents("alice@example.test".into(), "INBOX".into(), vec![1, 3, 4]).await.unwrap()), [1, 3]);
    assert_eq!(uids(s.contents("alice@example.test".into(), "INBOX".into(), vec![3, 1]).await.unwrap()), [3, 1]);
    assert_eq!(uids(s.headers("alice@example.test".into(), "INBOX".into(), vec![0, 2, 50]).await.unwrap()), [2]);
    let used = s.account("alice@example.test".into()).await.unwrap().unwrap().used_bytes;
    assert_eq!(s.expunge("alice@example.test".into(), "INBOX".into(), vec![1, 3, 99]).await.unwrap(), 2);
    let after = s.snapshot("alice@example.test".into(), "INBOX".into()).await.unwrap();
    assert_eq!(after.messages.iter().map(|m| m.0).collect::<Vec<_>>(), [2]);
    assert_eq!(after.uidvalidity, snap.uidvalidity);
    let left = s.account("alice@example.test".into()).await.unwrap().unwrap().used_bytes;
    assert_eq!(left, used - 2 * snap.messages[0].1);
    // The shared body is still there for message 2 (all three share one blob).
    assert!(s.content("alice@example.test".into(), "INBOX".into(), 2).await.unwrap().is_some());
    assert!(matches!(s.snapshot("alice@example.test".into(), "Nope".into()).await, Err(StoreError::NotFound(_))));
    std::fs::remove_dir_all(dir).ok();
}
