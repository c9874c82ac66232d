//! Delivery status notifications as a sender asks for them (RFC 3461 RET,
//! ENVID, NOTIFY, ORCPT, given by Python's smtplib) and the delay warning.

mod common;

use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(30);

/// alice@hato.test submits one message to `to` with these MAIL and RCPT parameters.
fn send_with(s: &Server, to: &str, subject: &str, mail: &[&str], rcpt: &[&str]) {
    let port = s.submission.to_string();
    let mut args = vec!["--port", &port, "--user", "alice@hato.test", "--password", "pw-alice"];
    args.extend(["--sender", "alice@hato.test", "--to", to, "--subject", subject]);
    for m in mail {
        args.extend(["--mail-option", m]);
    }
    for r in rcpt {
        args.extend(["--rcpt-option", r]);
    }
    let (ok, out) = submit(&args);
    assert!(ok, "{out}");
}

/// The reports in alice's INBOX, as text, once there are `n`.
fn reports(s: &Server, n: usize) -> Vec<String> {
    let inbox = s.wait_mailbox("alice@hato.test", "INBOX", n, T);
    assert_eq!(inbox.len(), n, "{}", s.log());
    inbox.iter().map(|m| s.cat("alice@hato.test", m["uid"].as_i64().unwrap())).collect()
}

fn routes_to(port: u16, extra: &str) -> String {
    format!("{FAST_QUEUE}{extra}\n[delivery.routes]\n\"remote.example\" = \"127.0.0.1:{port}\"\n")
}

#[test]
fn the_server_offers_dsn_and_chunking() {
    let s = Server::start("dsn-ehlo", "");
    let mut c = Raw::connect(s.mx);
    let ehlo = c.cmd("EHLO client.test");
    assert!(ehlo.contains("250-DSN\r\n") && ehlo.contains("CHUNKING"), "{ehlo}");
    let r = c.cmd("MAIL FROM:<a@example.org> RET=SOMETIMES");
    assert!(r.starts_with("5"), "a bad RET is refused: {r}");
    assert!(c.cmd("MAIL FROM:<a@example.org> RET=HDRS ENVID=x+2By").starts_with("250"));
    let r = c.cmd("RCPT TO:<nobody@hato.test> NOTIFY=NEVER,SUCCESS");
    assert!(r.starts_with("555"), "NEVER with anything else is refused: {r}");
}

#[test]
fn notify_success_reports_a_local_delivery_with_the_envelope_id() {
    let s = Server::start("dsn-success", FAST_QUEUE);
    s.populate("hato.test", &["alice", "bob"]);
    send_with(&s, "bob@hato.test", "tell me", &["ENVID=QQ314159"], &["NOTIFY=SUCCESS", "ORCPT=rfc822;Bob@Hato.test"]);
    assert_eq!(s.wait_mailbox("bob@hato.test", "INBOX", 1, T).len(), 1);
    let r = &reports(&s, 1)[0];
    assert!(r.contains("Subject: Successful Mail Delivery Report"), "{r}");
    assert!(r.contains("Original-Envelope-Id: QQ314159\r\n"), "{r}");
    assert!(r.contains("Original-Recipient: rfc822; Bob@Hato.test\r\nFinal-Recipient: rfc822; bob@hato.test\r\nAction: delivered\r\nStatus: 2.0.0"), "{r}");
    assert!(r.starts_with("Return-Path: <>\r\n"), "a report has a null sender: {r}");
}

#[test]
fn ret_full_returns_the_message_and_notify_never_stays_silent() {
    let sink = Sink::start("reject-rcpt", None);
    let s = Server::start("dsn-failure", &routes_to(sink.port, ""));
    s.populate("hato.test", &["alice"]);
    send_with(&s, "bad-quiet@remote.example", "hush", &[], &["NOTIFY=NEVER"]);
    assert!(s.wait_queue_empty(T), "{}", s.log());
    send_with(&s, "bad@remote.example", "return it all", &["RET=FULL", "ENVID=env-7"], &["NOTIFY=FAILURE"]);
    let r = &reports(&s, 1)[0];
    assert!(r.contains("Subject: Undelivered Mail Returned to Sender"), "{r}");
    assert!(r.contains("Original-Envelope-Id: env-7\r\n"), "{r}");
    assert!(r.contains("Final-Recipient: rfc822; bad@remote.example\r\nAction: failed\r\nStatus: 5.1.1"), "{r}");
    assert!(r.contains("Content-Type: message/rfc822"), "RET=FULL returns the message: {r}");
    assert!(r.contains("Hello from smtplib."), "the body comes back with RET=FULL: {r}");
    assert!(!r.contains("bad-quiet"), "NOTIFY=NEVER gets no report: {r}");
    assert!(s.wait_queue_empty(T), "{}", s.log());
    assert_eq!(s.mailbox("alice@hato.test", "INBOX").len(), 1, "no report for the NOTIFY=NEVER message");
}

#[test]
fn a_delay_is_reported_once_and_delivery_goes_on() {
    let dead = free_port();
    let s = Server::start("dsn-delay", &routes_to(dead, "delay_warning_secs = 1"));
    s.populate("hato.test", &["alice"]);
    send_with(&s, "late@remote.example", "slow road", &[], &[]);
    let r = &reports(&s, 1)[0];
    assert!(r.contains("Subject: Delayed Mail (still being retried)"), "{r}");
    assert!(r.contains("Final-Recipient: rfc822; late@remote.example\r\nAction: delayed\r\nStatus: 4."), "{r}");
    assert!(r.contains("Will-Retry-Until: "), "{r}");
    assert!(r.contains("Subject: slow road"), "the header is returned: {r}");
    // Several more attempts fail; the sender hears nothing more of them.
    let deferred = |s: &Server| s.log().matches("deferred:").count();
    let deadline = std::time::Instant::now() + T;
    while deferred(&s) < 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(deferred(&s) >= 4, "{}", s.log());
    assert_eq!(s.mailbox("alice@hato.test", "INBOX").len(), 1, "one delay report, not one per attempt");
    assert_eq!(s.queue().len(), 1, "the message is still queued");
}

#[test]
fn without_dsn_at_the_next_hop_success_is_reported_as_relayed() {
    // aiosmtpd offers no DSN and refuses parameters it does not know (555),
    // so its accepting the message also shows none were sent to it.
    let sink = Sink::start("accept", None);
    let s = Server::start("dsn-relayed", &routes_to(sink.port, ""));
    s.populate("hato.test", &["alice"]);
    send_with(&s, "friend@remote.example", "handed on", &["ENVID=e1"], &["NOTIFY=SUCCESS,FAILURE"]);
    assert_eq!(sink.wait_messages(1, T).len(), 1, "{}", s.log());
    let r = &reports(&s, 1)[0];
    assert!(r.contains("Final-Recipient: rfc822; friend@remote.example\r\nAction: relayed\r\nStatus: 2.0.0"), "{r}");
}

#[test]
fn dsn_requests_travel_to_a_next_hop_that_offers_dsn() {
    // Two Hatos: hato.test on the first, remote.example on the second, each routing the other's domain to it.
    let (first_mx, second_mx) = (free_port(), free_port());
    let route =
        |domain: &str, port: u16| format!("{FAST_QUEUE}\n[delivery.routes]\n\"{domain}\" = \"127.0.0.1:{port}\"\n");
    let mut first = Server::prepare("dsn-hop1", &route("remote.example", second_mx));
    let mut second = Server::prepare("dsn-hop2", &route("hato.test", first_mx));
    for (s, port) in [(&mut first, first_mx), (&mut second, second_mx)] {
        let text = std::fs::read_to_string(&s.config).unwrap();
        let text =
            text.replace(&format!("mx_listen = \"127.0.0.1:{}\"", s.mx), &format!("mx_listen = \"127.0.0.1:{port}\""));
        std::fs::write(&s.config, text).unwrap();
        s.mx = port;
        s.spawn();
    }
    first.populate("hato.test", &["alice"]);
    second.populate("remote.example", &["friend"]);
    send_with(
        &first,
        "friend@remote.example",
        "two hops",
        &["ENVID=travelled"],
        &["NOTIFY=SUCCESS", "ORCPT=rfc822;Friend@Remote.example"],
    );
    assert_eq!(second.wait_mailbox("friend@remote.example", "INBOX", 1, T).len(), 1, "{}", second.log());
    // The second Hato delivered it and reports so, with the ENVID and ORCPT the first passed on;
    // the first sends no "relayed" report of its own.
    let r = &reports(&first, 1)[0];
    assert!(r.contains("Original-Envelope-Id: travelled\r\n"), "{r}");
    assert!(r.contains("Original-Recipient: rfc822; Friend@Remote.example\r\nFinal-Recipient: rfc822; friend@remote.example\r\nAction: delivered"), "{r}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(first.mailbox("alice@hato.test", "INBOX").len(), 1, "no second report from the first hop");
}
