//! Remote delivery through the durable queue to a real SMTP server (aiosmtpd).

mod common;

use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(30);

/// Fast queue settings (plus `queue_extra` lines) and a route for remote.example to `port`.
fn config(port: u16, queue_extra: &str) -> String {
    format!("{FAST_QUEUE}{queue_extra}\n[delivery.routes]\n\"remote.example\" = \"127.0.0.1:{port}\"\n")
}

fn routes(port: u16) -> String {
    config(port, "")
}

#[test]
fn opportunistic_starttls_to_the_next_hop() {
    // The sink borrows a certificate made by a first Hato, so it can offer STARTTLS.
    let certs = Server::start("dl-certs", "");
    let cert = certs.dir.join("data/tls/cert.pem");
    let key = certs.dir.join("data/tls/key.pem");
    let sink = Sink::start("accept", Some((&cert, &key)));
    let s = Server::start("dl-tls", &routes(sink.port));
    s.populate("hato.test", &["alice"]);
    send_as_alice(&s, "friend@remote.example", "secret");
    let got = sink.wait_messages(1, T);
    assert_eq!(got.len(), 1, "{}", s.log());
    assert_eq!(got[0]["tls"], true, "delivery must use STARTTLS when offered");
    assert!(s.wait_log("delivered: 127.0.0.1 [127.0.0.1:", T));
    assert!(s.wait_queue_empty(T), "{}", s.log());
}

#[test]
fn retries_after_a_temporary_failure() {
    let sink = Sink::start("tempfail:1", None);
    let s = Server::start("dl-retry", &routes(sink.port));
    s.populate("hato.test", &["alice"]);
    send_as_alice(&s, "friend@remote.example", "try twice");
    let got = sink.wait_messages(1, T);
    assert_eq!(got.len(), 1, "{}", s.log());
    // The sink has the message a moment before Hato reads its 250 and logs the delivery.
    assert!(s.wait_log("delivered:", T), "{}", s.log());
    let log = s.log();
    assert!(
        log.contains("deferred: 127.0.0.1 [127.0.0.1:") && log.contains("451 4.3.0 sink says try again later"),
        "{log}"
    );
    assert!(log.find("deferred:").unwrap() < log.find("delivered:").unwrap());
    assert!(s.wait_queue_empty(T), "{}", s.log());
}

#[test]
fn permanent_failure_bounces_to_the_sender_at_once() {
    let sink = Sink::start("reject-rcpt", None);
    let s = Server::start("dl-perm", &routes(sink.port));
    s.populate("hato.test", &["alice"]);
    let port = s.submission.to_string();
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
        "bad@remote.example",
        "--to",
        "good@remote.example",
        "--subject",
        "half",
    ]);
    assert!(ok, "{out}");
    let got = sink.wait_messages(1, T);
    assert_eq!(got[0]["to"], serde_json::json!(["good@remote.example"]));
    let inbox = s.wait_mailbox("alice@hato.test", "INBOX", 1, T);
    assert_eq!(inbox.len(), 1, "{}", s.log());
    assert_eq!(inbox[0]["subject"], "Undelivered Mail Returned to Sender");
    let dsn = s.cat("alice@hato.test", inbox[0]["uid"].as_i64().unwrap());
    assert!(dsn.starts_with("Return-Path: <>\r\n"), "a bounce has a null sender: {dsn}");
    assert!(dsn.contains("Final-Recipient: rfc822; bad@remote.example\r\nAction: failed\r\nStatus: 5.1.1"), "{dsn}");
    assert!(!dsn.contains("good@remote.example\r\nAction"), "{dsn}");
    assert!(dsn.contains("Subject: half"), "the original header is returned: {dsn}");
}

#[test]
fn expiry_sends_a_dsn() {
    let dead = free_port();
    let s = Server::start("dl-expire", &config(dead, "max_age_secs = 2"));
    s.populate("hato.test", &["alice"]);
    send_as_alice(&s, "friend@remote.example", "never arrives");
    let inbox = s.wait_mailbox("alice@hato.test", "INBOX", 1, T);
    assert_eq!(inbox.len(), 1, "{}", s.log());
    let dsn = s.cat("alice@hato.test", inbox[0]["uid"].as_i64().unwrap());
    assert!(dsn.contains("multipart/report; report-type=delivery-status"), "{dsn}");
    assert!(dsn.contains("Final-Recipient: rfc822; friend@remote.example"), "{dsn}");
    assert!(dsn.contains("gave up after"), "{dsn}");
    assert!(s.log().contains("expired:"));
    assert!(s.wait_queue_empty(T), "{}", s.log());
}

#[test]
fn queue_management_and_restart_resume() {
    let port = free_port();
    let mut s = Server::start("dl-manage", &routes(port));
    s.populate("hato.test", &["alice"]);
    send_as_alice(&s, "one@remote.example", "one");
    send_as_alice(&s, "two@remote.example", "two");
    send_as_alice(&s, "three@remote.example", "three");
    assert!(s.wait_log("deferred:", T));
    let q = s.queue();
    assert_eq!(q.len(), 3);
    let id = |subject: &str| q.iter().find(|m| m["subject"] == subject).unwrap()["id"].as_str().unwrap().to_string();
    let (one, two, three) = (id("one"), id("two"), id("three"));

    s.ok(&["queue", "hold", &one]);
    let held = s.ctl_json(&["queue", "list", "--state", "held"]);
    assert_eq!(held.as_array().unwrap().len(), 1);
    s.ok(&["queue", "delete", &two]);
    s.ok(&["queue", "bounce", &three]);
    let show = s.ctl_json(&["queue", "show", &one]);
    assert_eq!(show["entries"][0]["state"], "held");
    assert!(show["entries"][0]["last_error"].as_str().unwrap().contains("Connection refused"), "{show}");
    let missing = s.ctl(&["queue", "show", "0000000000000001"]);
    assert_eq!(missing.status.code(), Some(3));
    let bad = s.ctl(&["queue", "show", "not-an-id"]);
    assert_eq!(bad.status.code(), Some(2));
    // The administrator's bounce reached alice.
    let inbox = s.wait_mailbox("alice@hato.test", "INBOX", 1, T);
    assert!(s.cat("alice@hato.test", inbox[0]["uid"].as_i64().unwrap()).contains("returned by the administrator"));

    // Crash with a held message, bring the receiver up, restart: the queue resumes.
    s.kill9();
    let sink = Sink::start_on(port, "accept", None);
    s.spawn();
    assert_eq!(s.queue().len(), 1);
    assert!(sink.wait_messages(1, Duration::from_secs(2)).is_empty(), "held mail must stay put");
    s.ok(&["queue", "release", &one]);
    let got = sink.wait_messages(1, T);
    assert_eq!(got.len(), 1, "{}", s.log());
    assert_eq!(got[0]["to"][0], "one@remote.example");
    assert!(s.wait_queue_empty(T), "{}", s.log());
}

/// A smarthost section for `address` with the relay account's password, trusting the CA in `ca`.
fn smarthost(address: &str, ca: Option<&std::path::Path>) -> String {
    let ca = ca.map(|p| format!("[delivery]\nca_file = \"{}\"\n", p.display())).unwrap_or_default();
    format!(
        "{FAST_QUEUE}{ca}[delivery.smarthost]\naddress = \"{address}\"\nusername = \"relay@far.test\"\npassword = \"pw-relay\"\nrequire_tls = true\n"
    )
}

#[test]
fn smarthost_with_starttls_and_auth() {
    // The relay is a second Hato: its submission port insists on STARTTLS,
    // then AUTH. Its certificate (self-signed, for "localhost") is trusted
    // through ca_file, and the relay is addressed by that name.
    let relay = Server::start("dl-relay", "[smtp]\nenforce_sender = false\n");
    relay.populate("far.test", &["bob", "relay"]);
    let ca = relay.dir.join("data/tls/cert.pem");
    let s = Server::start("dl-smarthost", &smarthost(&format!("localhost:{}", relay.submission), Some(&ca)));
    s.populate("hato.test", &["alice"]);
    send_as_alice(&s, "bob@far.test", "through the relay");
    let inbox = relay.wait_mailbox("bob@far.test", "INBOX", 1, T);
    assert_eq!(inbox.len(), 1, "{}\n---\n{}", s.log(), relay.log());
    let text = relay.cat("bob@far.test", inbox[0]["uid"].as_i64().unwrap());
    assert!(text.starts_with("Return-Path: <alice@hato.test>"), "{text}");
    assert!(text.contains("with ESMTPSA"), "the relay saw TLS and AUTH: {text}");
    assert!(relay.log().contains("authenticated user=relay@far.test"));

    // A wrong relay password is a deferral, not a silent loss.
    let bad = Server::start(
        "dl-smarthost-bad",
        &smarthost(&format!("localhost:{}", relay.submission), Some(&ca)).replace("pw-relay", "wrong"),
    );
    bad.populate("hato.test", &["alice"]);
    send_as_alice(&bad, "bob@far.test", "bad password");
    assert!(bad.wait_log("said at AUTH: 535", T), "{}", bad.log());
    assert_eq!(bad.queue().len(), 1, "a 5xx at AUTH is the relay's problem, not the message's");
}

#[test]
fn a_smarthost_whose_certificate_does_not_verify_gets_no_mail_and_no_password() {
    let relay = Server::start("dl-relay-untrusted", "[smtp]\nenforce_sender = false\n");
    relay.populate("far.test", &["bob", "relay"]);
    let ca = relay.dir.join("data/tls/cert.pem");
    let cases = [
        // Self-signed and not trusted: someone in the path could be presenting it.
        ("dl-untrusted", smarthost(&format!("localhost:{}", relay.submission), None)),
        // Trusted, but issued for another name than the one dialled.
        ("dl-wrong-name", smarthost(&format!("127.0.0.1:{}", relay.submission), Some(&ca))),
    ];
    for (tag, config) in cases {
        let s = Server::start(tag, &config);
        s.populate("hato.test", &["alice"]);
        send_as_alice(&s, "bob@far.test", "must not leave unverified");
        assert!(s.wait_log("TLS with a verified certificate failed", T), "{tag}: {}", s.log());
        assert_eq!(s.queue().len(), 1, "{tag}: deferred, kept for when the certificate is fixed");
    }
    assert!(!relay.log().contains("relay@far.test"), "no login was attempted: {}", relay.log());
    assert!(relay.mailbox("bob@far.test", "INBOX").is_empty());

    // A CA file that is not a certificate is refused when the server starts.
    let junk_dir = temp_dir("dl-bad-ca");
    let junk = junk_dir.join("ca.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let bad = Server::prepare("dl-bad-ca", &smarthost("localhost:25", Some(&junk)));
    let out = std::process::Command::new(BIN).args(["serve", "--config"]).arg(&bad.config).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("delivery.ca_file") && err.contains("no usable PEM CA certificate"), "{err}");
}
