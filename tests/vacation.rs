//! Vacation auto-replies end to end: a remote sender (a real aiosmtpd) gets
//! one reply, from the null sender, marked Auto-Submitted; not a second one in
//! the period, even after a restart; none to lists, automatic mail or Bcc.

mod common;

use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(20);

fn send(s: &Server, from: &str, headers: &str) -> String {
    smtp_send(s.mx, from, "alice@hato.test", format!("From: <{from}>\r\n{headers}\r\nbody\r\n").as_bytes())
}

#[test]
fn vacation_replies_once_and_minds_its_manners() {
    let sink = Sink::start("accept", None);
    let mut s = Server::start(
        "vacation",
        &format!("{FAST_QUEUE}\n[delivery.routes]\n\"remote.example\" = \"127.0.0.1:{}\"\n", sink.port),
    );
    s.populate("hato.test", &["alice"]);
    s.ok(&[
        "account",
        "vacation",
        "alice@hato.test",
        "--subject",
        "不在のお知らせ",
        "--body",
        "12月7日まで不在です。",
        "--days",
        "7",
    ]);
    let shown = s.ctl_json(&["account", "vacation", "alice@hato.test", "--json"]);
    assert_eq!(shown["days"], 7, "{shown}");

    assert!(
        send(&s, "bob@remote.example", "To: alice@hato.test\r\nSubject: plan\r\nMessage-ID: <p1@remote.example>\r\n")
            .starts_with("250")
    );
    let got = sink.wait_messages(1, T);
    assert_eq!(got.len(), 1, "{}", s.log());
    assert_eq!(got[0]["from"], "<>", "the reply has the null reverse-path");
    assert_eq!(got[0]["to"][0], "bob@remote.example");
    let data = got[0]["data"].as_str().unwrap_or_default().to_string();
    assert!(
        data.contains("Auto-Submitted: auto-replied") && data.contains("In-Reply-To: <p1@remote.example>"),
        "{data}"
    );

    // Once per sender per period — and the period survives a restart.
    assert!(send(&s, "bob@remote.example", "To: alice@hato.test\r\nSubject: again\r\n").starts_with("250"));
    s.kill9();
    s.spawn();
    assert!(send(&s, "bob@remote.example", "To: alice@hato.test\r\nSubject: third\r\n").starts_with("250"));
    // No reply to automatic mail, lists, bulk, Bcc, no-reply senders.
    assert!(
        send(&s, "carol@remote.example", "To: alice@hato.test\r\nAuto-Submitted: auto-generated\r\n")
            .starts_with("250")
    );
    assert!(
        send(&s, "dave@remote.example", "To: dev@lists.remote.example\r\nList-Id: <dev.remote.example>\r\n")
            .starts_with("250")
    );
    assert!(send(&s, "erin@remote.example", "To: alice@hato.test\r\nPrecedence: bulk\r\n").starts_with("250"));
    assert!(send(&s, "frank@remote.example", "To: someone@remote.example\r\n").starts_with("250"));
    assert!(send(&s, "no-reply@remote.example", "To: alice@hato.test\r\n").starts_with("250"));
    // A sender who qualifies still gets one, so the rules above are what held the others back.
    assert!(send(&s, "grace@remote.example", "To: Alice <alice@hato.test>\r\n").starts_with("250"));
    let got = sink.wait_messages(2, T);
    std::thread::sleep(Duration::from_secs(2));
    let got2 = sink.messages();
    assert_eq!(got2.len(), 2, "exactly bob and grace: {got:?}\n{}", s.log());
    assert_eq!(got2[1]["to"][0], "grace@remote.example");
    assert_eq!(s.mailbox("alice@hato.test", "INBOX").len(), 9, "every message is still delivered");
    s.ok(&["account", "vacation", "alice@hato.test", "--off"]);
    assert_eq!(s.ctl_json(&["account", "vacation", "alice@hato.test", "--json"]), serde_json::Value::Null);
}
