//! Inbound mail on the MX port, checked with swaks and raw conversations.

mod common;

use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(15);

fn swaks(args: &[&str]) -> (bool, String) {
    let mut full = vec!["--helo", "client.example.org", "--timeout", "20"];
    full.extend_from_slice(args);
    run("swaks", &full)
}

#[test]
fn mx_delivers_to_local_account() {
    let s = Server::start("mx-local", "");
    s.populate("hato.test", &["alice"]);
    let port = s.mx.to_string();
    let (ok, out) = swaks(&[
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--from",
        "sender@example.org",
        "--to",
        "Alice@HATO.test",
        "--header",
        "Subject: hello alice",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("250 2.0.0 OK queued as"), "{out}");
    let msgs = s.wait_mailbox("alice@hato.test", "INBOX", 1, T);
    assert_eq!(msgs.len(), 1, "{}", s.log());
    assert_eq!(msgs[0]["subject"], "hello alice");
    let text = s.cat("alice@hato.test", msgs[0]["uid"].as_i64().unwrap());
    assert!(
        text.starts_with("Return-Path: <sender@example.org>\r\nReceived: from client.example.org ([127.0.0.1])"),
        "{text}"
    );
    assert!(text.contains("by mx.hato.test (Hato) with ESMTP id"), "{text}");
    // One line per event with the queue id: the accept and the delivery.
    let qid = out.split("queued as ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    assert!(s.wait_log(&format!("queue_id={qid}"), T));
    assert!(s.log().lines().any(|l| l.contains(&qid) && l.contains("delivered to INBOX")), "{}", s.log());
}

#[test]
fn unknown_recipients_are_refused_at_rcpt() {
    let s = Server::start("mx-unknown", "");
    s.populate("hato.test", &["alice"]);
    let port = s.mx.to_string();
    let (ok, out) =
        swaks(&["--server", "127.0.0.1", "--port", &port, "--from", "x@example.org", "--to", "nobody@hato.test"]);
    assert!(!ok);
    assert!(out.contains("550 5.1.1 <nobody@hato.test>: no such user here"), "{out}");
    assert!(s.queue().is_empty(), "nothing may be queued, so no backscatter can follow");
}

#[test]
fn relay_attempts_are_refused() {
    let s = Server::start("mx-relay", "");
    s.populate("hato.test", &["alice"]);
    let mut c = Raw::connect(s.mx);
    assert!(c.cmd("EHLO relay.test").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<spammer@example.org>").starts_with("250"));
    for rcpt in [
        "<victim@remote.example>",
        "<victim%remote.example@hato.test>",
        "<\"victim@remote.example\"@hato.test>",
        "<@hato.test:victim@remote.example>",
        "<remote.example!victim@hato.test>",
    ] {
        let r = c.cmd(&format!("RCPT TO:{rcpt}"));
        assert!(r.starts_with("550 5.7.1"), "RCPT TO:{rcpt} got {r}");
    }
    // Source route to ourselves: the route is ignored and the mail is ours (RFC 5321 §3.6.1).
    assert!(c.cmd("RCPT TO:<@remote.example:alice@hato.test>").starts_with("250"));
    assert!(c.cmd("QUIT").starts_with("221"));

    // Submission without AUTH relays nothing either.
    let port = s.submission.to_string();
    let (ok, out) =
        swaks(&["--server", "127.0.0.1", "--port", &port, "--from", "alice@hato.test", "--to", "x@remote.example"]);
    assert!(!ok);
    assert!(out.contains("530 5.7.0 Authentication required"), "{out}");
}

#[test]
fn auth_needs_tls_and_is_not_offered_on_mx() {
    let s = Server::start("mx-auth", "");
    s.populate("hato.test", &["alice"]);
    let mut c = Raw::connect(s.submission);
    let ehlo = c.cmd("EHLO client.test");
    assert!(ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"), "{ehlo}");
    let r = c.cmd("AUTH PLAIN AGFsaWNlQGhhdG8udGVzdABwdy1hbGljZQ==");
    assert!(r.starts_with("538 5.7.11"), "{r}");
    let mut m = Raw::connect(s.mx);
    assert!(!m.cmd("EHLO client.test").contains("AUTH"));
    assert!(m.cmd("AUTH PLAIN AGFsaWNlQGhhdG8udGVzdABwdy1hbGljZQ==").starts_with("503"));
    // swaks refuses too when told to authenticate without TLS.
    let port = s.submission.to_string();
    let (ok, out) = swaks(&[
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--auth",
        "PLAIN",
        "--auth-user",
        "alice@hato.test",
        "--auth-password",
        "pw-alice",
        "--from",
        "alice@hato.test",
        "--to",
        "alice@hato.test",
    ]);
    assert!(!ok, "{out}");
}

#[test]
fn aliases_groups_and_catch_all() {
    let s = Server::start("mx-aliases", "");
    s.populate("hato.test", &["alice", "bob"]);
    s.ok(&["alias", "add", "info@hato.test", "alice@hato.test"]);
    s.ok(&["group", "add", "team@hato.test", "--name", "Team"]);
    s.ok(&["group", "add-member", "team@hato.test", "alice@hato.test"]);
    s.ok(&["group", "add-member", "team@hato.test", "bob@hato.test"]);
    let port = s.mx.to_string();
    for to in ["info@hato.test", "team@hato.test"] {
        let (ok, out) = swaks(&["--server", "127.0.0.1", "--port", &port, "--from", "x@example.org", "--to", to]);
        assert!(ok, "{out}");
    }
    assert_eq!(s.wait_mailbox("alice@hato.test", "INBOX", 2, T).len(), 2);
    assert_eq!(s.wait_mailbox("bob@hato.test", "INBOX", 1, T).len(), 1);
    let (ok, _) =
        swaks(&["--server", "127.0.0.1", "--port", &port, "--from", "x@example.org", "--to", "random@hato.test"]);
    assert!(!ok);
    s.ok(&["domain", "catch-all", "hato.test", "bob@hato.test"]);
    let (ok, out) =
        swaks(&["--server", "127.0.0.1", "--port", &port, "--from", "x@example.org", "--to", "random@hato.test"]);
    assert!(ok, "{out}");
    assert_eq!(s.wait_mailbox("bob@hato.test", "INBOX", 2, T).len(), 2);
}

#[test]
fn reject_lists_answer_with_clear_5xx() {
    let s = Server::start(
        "mx-policy",
        "[policy]\nreject_ips = [\"127.0.0.9\"]\nreject_helo = [\".bad.example\"]\nreject_senders = [\"@spam.example\", \"boss@fake.example\"]\n",
    );
    s.populate("hato.test", &["alice"]);
    let port = s.mx.to_string();
    let base = ["--server", "127.0.0.1", "--port", &port, "--to", "alice@hato.test"];
    let (ok, out) = run("swaks", &[&base[..], &["--from", "a@spam.example", "--helo", "ok.example"]].concat());
    assert!(!ok && out.contains("550 5.7.1 Sender <a@spam.example> refused by policy"), "{out}");
    let (ok, out) = run("swaks", &[&base[..], &["--from", "a@ok.example", "--helo", "host.bad.example"]].concat());
    assert!(!ok && out.contains("550 5.7.1 HELO name host.bad.example refused by policy"), "{out}");
    let (ok, out) = run(
        "swaks",
        &[&base[..], &["--from", "a@ok.example", "--helo", "ok.example", "--local-interface", "127.0.0.9"]].concat(),
    );
    assert!(!ok && out.contains("554 5.7.1 Your address is refused by policy"), "{out}");
    let (ok, out) = run("swaks", &[&base[..], &["--from", "a@ok.example", "--helo", "ok.example"]].concat());
    assert!(ok, "{out}");
    assert!(s.log().contains("rejected: sender on reject list"));
}

#[test]
fn log_level_changes_at_run_time() {
    let s = Server::start("mx-loglevel", "");
    let mut c = Raw::connect(s.mx);
    c.cmd("FROB first");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!s.log().contains("bad command"), "debug lines must be off at info level");
    let out = s.ctl_json(&["log", "level", "smtp=debug"]);
    assert_eq!(out["level"], "info,hato::smtp=debug");
    c.cmd("FROB second");
    assert!(s.wait_log("bad command", T), "{}", s.log());
    let bad = s.ctl(&["log", "level", "smtp=loud"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid log directive"));
}

#[test]
fn smtputf8_addresses() {
    let s = Server::start("mx-utf8", "");
    s.ok(&["domain", "add", "hato.test"]);
    s.ok(&["account", "add", "山田@hato.test", "--password", "pw"]);
    let mut c = Raw::connect(s.mx);
    assert!(c.cmd("EHLO x.test").contains("SMTPUTF8"));
    assert!(c.cmd("MAIL FROM:<送信者@example.jp>").starts_with("553 5.6.7"), "non-ASCII needs SMTPUTF8");
    assert!(c.cmd("MAIL FROM:<送信者@example.jp> SMTPUTF8").starts_with("250"));
    assert!(c.cmd("RCPT TO:<山田@hato.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    c.send("Subject: =?UTF-8?B?5pel5pys6Kqe?=\r\nFrom: 送信者@example.jp\r\n\r\nこんにちは\r\n.\r\n".as_bytes());
    assert!(c.reply().starts_with("250"));
    let inbox = s.wait_mailbox("山田@hato.test", "INBOX", 1, Duration::from_secs(10));
    assert_eq!(inbox.len(), 1);
    assert!(s.cat("山田@hato.test", inbox[0]["uid"].as_i64().unwrap()).contains("こんにちは"));
}

/// A client that lost the answer to its DATA (its connection broke, or the
/// node died after committing) sends the message again. The same
/// Message-ID, sender, recipients and content within days is that resend:
/// it gets a 250 naming the first copy and is not delivered twice. A
/// different envelope or content, or a message without a Message-ID, is a
/// new message.
#[test]
fn a_resend_after_a_lost_answer_is_not_delivered_twice() {
    let s = Server::start("mx-resend", "");
    s.populate("hato.test", &["alice", "bob"]);
    let port = s.mx.to_string();
    let send = |to: &str, message_id: Option<&str>, body: &str| {
        let mut args = vec!["--server", "127.0.0.1", "--port", &port, "--from", "sender@example.org", "--to", to];
        args.extend(["--header", "Subject: once", "--header", "Date: Wed, 02 Dec 2026 10:00:00 +0900"]);
        // swaks makes up a Message-Id unless told one; an empty one is none.
        args.extend(["--header", message_id.unwrap_or("Message-Id:"), "--body", body]);
        let (ok, out) = swaks(&args);
        assert!(ok, "{out}");
        out.lines().rev().find(|l| l.contains(" 250 ") && l.contains("queued as")).unwrap_or_default().to_string()
    };
    let id = Some("Message-Id: <resend-1@example.org>");
    let first = send("alice@hato.test", id, "the text");
    let qid = first.split("queued as ").nth(1).expect("a queue id").trim().to_string();
    let again = send("alice@hato.test", id, "the text");
    assert!(again.contains(&format!("250 2.0.0 OK already queued as {qid}")), "{again}");
    assert!(s.wait_log("resend of an accepted message; not queued twice", T), "{}", s.log());
    // The same message to a different recipient list is another transaction's copy,
    // and other content under the same Message-ID is not the same message.
    assert!(!send("alice@hato.test,bob@hato.test", id, "the text").contains("already"));
    assert!(!send("alice@hato.test", id, "altered text").contains("already"));
    // Without a Message-ID nothing says two messages are one.
    send("alice@hato.test", None, "the text");
    assert!(!send("alice@hato.test", None, "the text").contains("already"));
    let inbox = s.wait_mailbox("alice@hato.test", "INBOX", 5, T);
    assert_eq!(s.wait_mailbox("bob@hato.test", "INBOX", 1, T).len(), 1);
    let deadline = std::time::Instant::now() + T;
    while !s.queue().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.mailbox("alice@hato.test", "INBOX").len(), 5, "{inbox:?}");
}

/// Mail to one account is filed in the order it was accepted: 150 messages
/// sent one after another over one smtplib connection, to two accounts in
/// turn, get UIDs in the order they were sent, though the queue files them
/// in batches and the two accounts at once.
#[test]
fn mail_is_filed_in_the_order_it_was_accepted() {
    let s = Server::start("mx-order", "");
    s.populate("hato.test", &["alice", "bob"]);
    let code = format!(
        "import smtplib\n\
         c = smtplib.SMTP('127.0.0.1', {})\n\
         for i in range(150):\n\
         \x20   to = 'bob@hato.test' if i % 3 == 0 else 'alice@hato.test'\n\
         \x20   c.sendmail('f@example.org', [to], 'Subject: n%d\\r\\nMessage-ID: <order-%d@example.org>\\r\\n\\r\\nx\\r\\n' % (i, i))\n\
         c.quit()\n",
        s.mx
    );
    let (ok, out) = run(PYTHON, &["-c", &code]);
    assert!(ok, "{out}");
    for (account, want) in [("alice@hato.test", 100), ("bob@hato.test", 50)] {
        let got = s.wait_mailbox(account, "INBOX", want, Duration::from_secs(60));
        assert_eq!(got.len(), want, "{account}");
        let mut by_uid: Vec<(i64, i64)> = got
            .iter()
            .map(|m| {
                let id = m["message_id"].as_str().unwrap();
                let n = id.trim_start_matches("<order-").trim_end_matches("@example.org>").parse().unwrap();
                (m["uid"].as_i64().unwrap(), n)
            })
            .collect();
        by_uid.sort();
        let sent: Vec<i64> = by_uid.iter().map(|(_, n)| *n).collect();
        let mut in_order = sent.clone();
        in_order.sort();
        assert_eq!(sent, in_order, "{account}: filed out of order");
    }
}
