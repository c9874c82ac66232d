//! Bad input gets a reply code or a clean close, and the server keeps serving others.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::*;

fn healthy(s: &Server) {
    let port = s.mx.to_string();
    let (ok, out) = run(
        "swaks",
        &[
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--from",
            "x@example.org",
            "--to",
            "alice@hato.test",
            "--timeout",
            "20",
        ],
    );
    assert!(ok, "the server must still serve after bad input: {out}\n{}", s.log());
}

#[test]
fn malformed_commands_get_reply_codes() {
    let s = Server::start("bad-cmds", "[smtp]\nmax_errors = 50\n");
    s.populate("hato.test", &["alice"]);
    let mut c = Raw::connect(s.mx);
    assert!(c.cmd("FROBNICATE").starts_with("500 5.5.1"));
    assert!(c.cmd("MAIL FROM:<a@b.c>").starts_with("503 5.5.1 Send EHLO"));
    assert!(c.cmd("EHLO x.test").starts_with("250"));
    assert!(c.cmd("RCPT TO:<alice@hato.test>").starts_with("503 5.5.1 Need MAIL"));
    assert!(c.cmd("DATA").starts_with("503"));
    assert!(c.cmd("MAIL FROM:bogus").starts_with("501"));
    assert!(c.cmd("MAIL FROM:<a@b.c> SIZE=notanumber").starts_with("555"));
    assert!(c.cmd("MAIL FROM:<a@b.c> SIZE=999999999999").starts_with("552 5.3.4"));
    assert!(c.cmd("MAIL FROM:<a@b.c>").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<a@b.c>").starts_with("503 5.5.1 Nested"));
    assert!(c.cmd("RCPT TO:<not an address>").starts_with("501"));
    assert!(c.cmd("DATA").starts_with("554 5.5.1 No valid recipients"));
    assert!(c.cmd("ETRN hato.test").starts_with("502"));
    assert!(c.cmd("VRFY alice").starts_with("252"));
    assert!(c.cmd("EXPN team").starts_with("502"));
    assert!(c.cmd("AUTH CRAM-MD5").starts_with("504 5.5.4"));
    assert!(c.cmd("QUIT").starts_with("221"));
    healthy(&s);
}

#[test]
fn oversize_lines_and_messages() {
    let s = Server::start("bad-size", "[smtp]\nmax_message_size = 10000\n");
    s.populate("hato.test", &["alice"]);
    let mut c = Raw::connect(s.mx);
    let long = format!("EHLO {}", "x".repeat(100_000));
    assert!(c.cmd(&long).starts_with("500 5.5.2 Line too long"));
    assert!(c.cmd("EHLO ok.test").starts_with("250"), "the session goes on after an overlong line");
    assert!(c.cmd("MAIL FROM:<a@b.c>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<alice@hato.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    let body = format!("Subject: big\r\n\r\n{}\r\n.\r\n", "y".repeat(50_000));
    c.send(body.as_bytes());
    assert!(c.reply().starts_with("552 5.3.4 Message too big"));
    // The transaction is over; a new one works on the same connection.
    assert!(c.cmd("MAIL FROM:<a@b.c>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<alice@hato.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(b"Subject: small\r\n\r\nok\r\n.\r\n");
    assert!(c.reply().starts_with("250 2.0.0"));
    let inbox = s.wait_mailbox("alice@hato.test", "INBOX", 1, Duration::from_secs(10));
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["subject"], "small");
}

#[test]
fn bad_base64_in_auth() {
    let s = Server::start("bad-auth", "[smtp]\nallow_plaintext_auth = true\n");
    s.populate("hato.test", &["alice"]);
    let mut c = Raw::connect(s.submission);
    assert!(c.cmd("EHLO x.test").contains("AUTH PLAIN LOGIN"));
    assert!(c.cmd("AUTH PLAIN !!!not-base64!!!").starts_with("501 5.5.2 Invalid base64"));
    assert!(c.cmd("AUTH LOGIN").starts_with("334 VXNlcm5hbWU6"));
    assert!(c.cmd("%%%").starts_with("501 5.5.2 Invalid base64"));
    assert!(c.cmd("AUTH PLAIN").starts_with("334"));
    assert!(c.cmd("*").starts_with("501 5.7.0 Authentication cancelled"));
    // authzid naming someone else is refused, not honoured.
    let b64 = "Ym9zc0BoYXRvLnRlc3QAYWxpY2VAaGF0by50ZXN0AHB3LWFsaWNl"; // boss@hato.test \0 alice@hato.test \0 pw-alice
    assert!(c.cmd(&format!("AUTH PLAIN {b64}")).starts_with("501 5.5.2 Malformed"));
    assert!(c.cmd("AUTH PLAIN AGFsaWNlQGhhdG8udGVzdABwdy1hbGljZQ==").starts_with("235"));
}

#[test]
fn binary_garbage_and_too_many_errors() {
    let s = Server::start("bad-garbage", "[smtp]\nmax_errors = 5\n");
    s.populate("hato.test", &["alice"]);
    let mut c = Raw::connect(s.mx);
    let mut last = String::new();
    for i in 0..10u8 {
        c.send(&[0xff, 0x00, 0xfe, i, b'\r', b'\n']);
        last = c.reply();
        if last.starts_with("421") || last.is_empty() {
            break;
        }
        assert!(last.starts_with("500"), "{last}");
    }
    assert!(last.starts_with("421 4.7.0 Too many errors"), "{last}");
    assert_eq!(c.reply(), "", "the server closes after 421");
    // Pure noise without line ends, then a hang-up.
    let mut n = TcpStream::connect(("127.0.0.1", s.mx)).unwrap();
    let noise: Vec<u8> =
        (0..200_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8 | 1).filter(|b| *b != b'\n').collect();
    let _ = n.write_all(&noise);
    drop(n);
    healthy(&s);
}

#[test]
fn dropping_the_connection_mid_data_stores_nothing() {
    let s = Server::start("bad-drop", "");
    s.populate("hato.test", &["alice"]);
    for _ in 0..3 {
        let mut c = Raw::connect(s.mx);
        c.cmd("EHLO x.test");
        c.cmd("MAIL FROM:<a@b.c>");
        c.cmd("RCPT TO:<alice@hato.test>");
        assert!(c.cmd("DATA").starts_with("354"));
        c.send(b"Subject: half\r\n\r\nthe first half of a message");
        drop(c);
    }
    assert!(s.wait_log("connection lost during DATA; nothing was accepted", Duration::from_secs(10)));
    healthy(&s);
    let inbox = s.wait_mailbox("alice@hato.test", "INBOX", 1, Duration::from_secs(10));
    assert_eq!(inbox.len(), 1, "only the complete message is stored");
    assert!(s.queue().is_empty());
}

#[test]
fn pipelined_commands_and_smuggling_attempt() {
    let s = Server::start("bad-pipe", "");
    s.populate("hato.test", &["alice"]);
    let mut c = Raw::connect(s.mx);
    c.cmd("EHLO x.test");
    // One write with the whole transaction, as PIPELINING allows; the body
    // hides a bare-LF "end of data" that must not end it (SMTP smuggling).
    c.send(b"MAIL FROM:<a@b.c>\r\nRCPT TO:<alice@hato.test>\r\nDATA\r\n");
    assert!(c.reply().starts_with("250"));
    assert!(c.reply().starts_with("250"));
    assert!(c.reply().starts_with("354"));
    c.send(b"Subject: outer\r\n\r\nhello\n.\nMAIL FROM:<evil@b.c>\nRCPT TO:<alice@hato.test>\nDATA\nSubject: smuggled\n\nbody\r\n.\r\n");
    assert!(c.reply().starts_with("250 2.0.0"));
    assert!(c.cmd("QUIT").starts_with("221"));
    let inbox = s.wait_mailbox("alice@hato.test", "INBOX", 1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    let inbox2 = s.mailbox("alice@hato.test", "INBOX");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox2.len(), 1, "the smuggled message must not exist on its own");
    assert_eq!(inbox2[0]["subject"], "outer");
}
