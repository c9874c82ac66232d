//! CHUNKING (RFC 3030): a message sent as BDAT chunks, pipelined as the RFC's
//! examples do. No common client here speaks BDAT (smtplib, swaks and curl
//! do not), so the conversation is written out byte by byte.

mod common;

use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(20);

/// Sends one BDAT command with its octets; returns the reply.
fn bdat(c: &mut Raw, data: &str, last: bool) -> String {
    let last = if last { " LAST" } else { "" };
    c.send(format!("BDAT {}{last}\r\n{data}", data.len()).as_bytes());
    c.reply()
}

fn server(tag: &str, extra: &str) -> Server {
    let s = Server::start(tag, extra);
    s.populate("hato.test", &["alice"]);
    s
}

#[test]
fn a_message_in_pipelined_chunks_arrives_byte_for_byte() {
    let s = server("bdat-ok", "");
    let mut c = Raw::connect(s.mx);
    assert!(c.cmd("EHLO client.test").contains("CHUNKING"));
    // No dot-stuffing in BDAT: a line holding one dot is message text.
    let part1 = "Subject: chunked\r\nMessage-ID: <chunk-1@example.org>\r\n\r\nfirst line\r\n";
    let part2 = ".\r\n..two dots stay two\r\nlast line\r\n";
    let mut burst =
        format!("MAIL FROM:<sender@example.org>\r\nRCPT TO:<alice@hato.test>\r\nBDAT {}\r\n{part1}", part1.len());
    burst.push_str(&format!("BDAT {} LAST\r\n{part2}", part2.len()));
    c.send(burst.as_bytes());
    assert!(c.reply().starts_with("250 2.1.0"));
    assert!(c.reply().starts_with("250 2.1.5"));
    let first = c.reply();
    assert!(first.starts_with("250") && first.contains(&format!("{} octets", part1.len())), "{first}");
    let done = c.reply();
    assert!(done.starts_with("250 2.0.0 OK queued as"), "{done}");
    assert!(c.cmd("QUIT").starts_with("221"));
    let inbox = s.wait_mailbox("alice@hato.test", "INBOX", 1, T);
    let text = s.cat("alice@hato.test", inbox[0]["uid"].as_i64().unwrap());
    assert!(text.ends_with(&format!("{part1}{part2}")), "{text}");
}

#[test]
fn a_chunk_without_a_transaction_is_read_and_refused_not_run_as_commands() {
    let s = server("bdat-refused", "");
    let mut c = Raw::connect(s.mx);
    c.cmd("EHLO client.test");
    let chunk = "QUIT\r\n";
    let r = bdat(&mut c, chunk, true);
    assert!(r.starts_with("503"), "{r}");
    assert!(c.cmd("NOOP").starts_with("250"), "the chunk's QUIT must not have ended the session");
    // A transaction that began with BDAT takes no DATA.
    c.cmd("MAIL FROM:<sender@example.org>");
    c.cmd("RCPT TO:<alice@hato.test>");
    assert!(bdat(&mut c, "abc", false).starts_with("250"));
    assert!(c.cmd("DATA").starts_with("503"));
    // RSET ends it; nothing was delivered.
    assert!(c.cmd("RSET").starts_with("250"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(s.mailbox("alice@hato.test", "INBOX").is_empty());
}

#[test]
fn an_oversized_chunked_message_is_refused_and_the_session_goes_on() {
    let s = server("bdat-big", "[smtp]\nmax_message_size = 1000\n");
    let mut c = Raw::connect(s.mx);
    c.cmd("EHLO client.test");
    c.cmd("MAIL FROM:<sender@example.org>");
    c.cmd("RCPT TO:<alice@hato.test>");
    let big = "x".repeat(1500);
    let r = bdat(&mut c, &big, true);
    assert!(r.starts_with("552 5.3.4"), "{r}");
    assert!(c.cmd("NOOP").starts_with("250"));
    // The next transaction is unaffected.
    c.cmd("MAIL FROM:<sender@example.org>");
    c.cmd("RCPT TO:<alice@hato.test>");
    let small = "Subject: small\r\n\r\nok\r\n";
    let r = bdat(&mut c, small, true);
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(s.wait_mailbox("alice@hato.test", "INBOX", 1, T).len(), 1);
}
