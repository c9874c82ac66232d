//! Submission (587 STARTTLS, 465 TLS) with Python's smtplib and swaks, and delivery to a real remote server.

mod common;

use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn starttls_and_implicit_tls_with_plain_and_login() {
    let sink = Sink::start("accept", None);
    let s = Server::start("sub-tls", &format!("[delivery.routes]\n\"remote.example\" = \"127.0.0.1:{}\"\n", sink.port));
    s.populate("hato.test", &["alice", "bob"]);
    let (sub, subs) = (s.submission.to_string(), s.submissions.to_string());
    let (ok, out) = submit(&[
        "--port",
        &sub,
        "--mode",
        "starttls",
        "--user",
        "alice@hato.test",
        "--password",
        "pw-alice",
        "--mech",
        "PLAIN",
        "--sender",
        "alice@hato.test",
        "--to",
        "friend@remote.example",
        "--subject",
        "via 587",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = submit(&[
        "--port",
        &subs,
        "--mode",
        "ssl",
        "--user",
        "alice@hato.test",
        "--password",
        "pw-alice",
        "--mech",
        "LOGIN",
        "--sender",
        "alice@hato.test",
        "--to",
        "bob@hato.test",
        "--subject",
        "via 465",
    ]);
    assert!(ok, "{out}");

    let got = sink.wait_messages(1, T);
    assert_eq!(got.len(), 1, "{}", s.log());
    assert_eq!(got[0]["from"], "alice@hato.test");
    assert_eq!(got[0]["to"][0], "friend@remote.example");
    let data = got[0]["data"].as_str().unwrap();
    assert!(data.contains("with ESMTPSA id"), "{data}");
    // smtplib's EmailMessage sets neither Message-ID nor Date: submission adds both.
    assert!(data.contains("\nMessage-ID: <") && data.contains("@mx.hato.test>"), "{data}");
    assert!(data.contains("\nDate: "), "{data}");
    assert!(!data.contains("Return-Path"), "Return-Path belongs to final delivery only");

    let bob = s.wait_mailbox("bob@hato.test", "INBOX", 1, T);
    assert_eq!(bob[0]["subject"], "via 465");
    assert!(!bob[0]["message_id"].as_str().unwrap().is_empty());
}

#[test]
fn swaks_submission_with_starttls() {
    let s = Server::start("sub-swaks", "");
    s.populate("hato.test", &["alice"]);
    let port = s.submission.to_string();
    let (ok, out) = run(
        "swaks",
        &[
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "-tls",
            "--auth",
            "LOGIN",
            "--auth-user",
            "alice@hato.test",
            "--auth-password",
            "pw-alice",
            "--from",
            "alice@hato.test",
            "--to",
            "alice@hato.test",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("235 2.7.0 Authentication successful"), "{out}");
    let port = s.submissions.to_string();
    let (ok, out) = run(
        "swaks",
        &[
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--tls-on-connect",
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
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(s.wait_mailbox("alice@hato.test", "INBOX", 2, T).len(), 2);
}

#[test]
fn sender_must_own_the_envelope_from() {
    let s = Server::start("sub-owner", "");
    s.populate("hato.test", &["alice", "bob"]);
    s.ok(&["alias", "add", "sales@hato.test", "alice@hato.test"]);
    let port = s.submission.to_string();
    let base = ["--port", &port, "--user", "alice@hato.test", "--password", "pw-alice", "--to", "bob@hato.test"];
    let (ok, out) = submit(&[&base[..], &["--sender", "bob@hato.test"]].concat());
    assert!(!ok);
    assert!(out.contains("ERR 553 5.7.1 Sender <bob@hato.test> is not an address of alice@hato.test"), "{out}");
    let (ok, out) = submit(&[&base[..], &["--sender", "sales@hato.test"]].concat());
    assert!(ok, "an alias of the login is the login's own address: {out}");
}

#[test]
fn repeated_auth_failures_lock_the_address_out_of_the_account_and_nobody_else() {
    let s = Server::start("sub-lockout", "[limits]\nauth_failures_per_account = 3\n");
    s.populate("hato.test", &["alice"]);
    let port = s.submission.to_string();
    let attempt_from = |source: &str, pw: &str| {
        submit(&[
            "--source",
            source,
            "--port",
            &port,
            "--user",
            "alice@hato.test",
            "--password",
            pw,
            "--sender",
            "alice@hato.test",
            "--to",
            "alice@hato.test",
        ])
    };
    let attempt = |pw: &str| attempt_from("127.0.0.1", pw);
    for _ in 0..3 {
        let (ok, out) = attempt("wrong");
        assert!(!ok && out.contains("ERR 535 5.7.8"), "{out}");
    }
    let (ok, out) = attempt("pw-alice");
    assert!(
        !ok && out.contains("ERR 454 4.7.0 Too many failed logins"),
        "the right password must not help during lockout: {out}"
    );
    assert!(s.log().contains("AUTH refused: locked out"));
    // Whoever failed from 127.0.0.1 did not lock alice out: from another address she logs in.
    let (ok, out) = attempt_from("127.0.0.2", "pw-alice");
    assert!(ok, "alice from elsewhere: {out}");
    // The administrator sees the lockout and lifts it.
    let list = s.ctl_json(&["lockouts", "list"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        (list[0]["kind"].as_str(), list[0]["ip"].as_str(), list[0]["user"].as_str(), list[0]["failures"].as_u64()),
        (Some("account"), Some("127.0.0.1"), Some("alice@hato.test"), Some(3))
    );
    let out = s.ctl(&["lockouts", "clear"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--ip"), "{out:?}");
    assert_eq!(s.ctl_json(&["lockouts", "clear", "--ip", "127.0.0.1", "--user", "alice@hato.test"])["cleared"], 3);
    let (ok, out) = attempt("pw-alice");
    assert!(ok, "lifted: {out}");
    assert_eq!(s.ctl_json(&["lockouts", "list"]), serde_json::json!([]));
}

#[test]
fn disabled_accounts_cannot_log_in_or_receive() {
    let s = Server::start("sub-disabled", "");
    s.populate("hato.test", &["alice", "bob"]);
    s.ok(&["account", "disable", "bob@hato.test"]);
    let port = s.submission.to_string();
    let (ok, out) = submit(&[
        "--port",
        &port,
        "--user",
        "bob@hato.test",
        "--password",
        "pw-bob",
        "--sender",
        "bob@hato.test",
        "--to",
        "alice@hato.test",
    ]);
    assert!(!ok && out.contains("ERR 535"), "{out}");
    let (ok, out) = submit(&[
        "--port",
        &port,
        "--user",
        "alice@hato.test",
        "--password",
        "pw-alice",
        "--sender",
        "alice@hato.test",
        "--to",
        "bob@hato.test",
    ]);
    assert!(!ok && out.contains("550 5.2.1"), "{out}");
}
