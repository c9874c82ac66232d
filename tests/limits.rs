//! Flow control against abuse: connection and message limits, timeouts, loops.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn per_ip_connection_limit() {
    let s = Server::start("lim-conn", "[limits]\nmax_connections_per_ip = 2\n");
    let _a = Raw::connect(s.mx);
    let _b = Raw::connect(s.mx);
    let mut c = std::io::BufReader::new(std::net::TcpStream::connect(("127.0.0.1", s.mx)).unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut c, &mut line).unwrap();
    assert!(line.starts_with("421 4.7.0 Too many connections from your address"), "{line}");
    drop((_a, _b));
    std::thread::sleep(Duration::from_millis(200));
    let _d = Raw::connect(s.mx);
}

#[test]
fn message_rate_and_recipient_limits() {
    let s = Server::start("lim-rate", "[limits]\nmessages_per_ip_per_minute = 2\n[smtp]\nmax_recipients = 2\n");
    s.populate("hato.test", &["a", "b", "c"]);
    let mut c = Raw::connect(s.mx);
    c.cmd("EHLO x.test");
    assert!(c.cmd("MAIL FROM:<x@y.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<a@hato.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<b@hato.test>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<c@hato.test>").starts_with("452 4.5.3 Too many recipients"));
    assert!(c.cmd("RSET").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<x@y.test>").starts_with("250"));
    assert!(c.cmd("RSET").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<x@y.test>").starts_with("451 4.7.1 Too many messages"));
}

#[test]
fn idle_clients_are_timed_out() {
    let s = Server::start("lim-timeout", "[smtp]\ncommand_timeout_secs = 1\n");
    let mut c = Raw::connect(s.mx);
    let started = std::time::Instant::now();
    let r = c.reply();
    assert!(r.starts_with("421 4.4.2"), "{r}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(c.reply(), "", "closed after the timeout");
}

#[test]
fn slow_data_is_cut_off_by_the_data_deadline() {
    let s = Server::start("lim-slow", "[smtp]\ndata_timeout_secs = 2\ncommand_timeout_secs = 30\n");
    s.populate("hato.test", &["a"]);
    let mut c = Raw::connect(s.mx);
    c.cmd("EHLO x.test");
    c.cmd("MAIL FROM:<x@y.test>");
    c.cmd("RCPT TO:<a@hato.test>");
    assert!(c.cmd("DATA").starts_with("354"));
    // One byte every 300 ms never finishes within 2 s.
    let mut closed = false;
    for _ in 0..30 {
        c.send(b"x");
        std::thread::sleep(Duration::from_millis(300));
        if s.log().contains("idle for") || s.log().contains("closing") {
            closed = true;
            break;
        }
    }
    assert!(closed, "the trickle must be cut off: {}", s.log());
    assert!(s.mailbox("a@hato.test", "INBOX").is_empty());
}

#[test]
fn mail_loops_are_refused() {
    let s = Server::start("lim-loop", "[smtp]\nmax_hops = 30\n");
    s.populate("hato.test", &["a"]);
    let mut c = Raw::connect(s.mx);
    c.cmd("EHLO x.test");
    c.cmd("MAIL FROM:<x@y.test>");
    c.cmd("RCPT TO:<a@hato.test>");
    assert!(c.cmd("DATA").starts_with("354"));
    let mut msg = String::new();
    for i in 0..30 {
        msg.push_str(&format!("Received: from hop{i}.test by hop{}.test; Thu, 1 Jan 2026 00:00:00 +0000\r\n", i + 1));
    }
    msg.push_str("Subject: loop\r\n\r\nround and round\r\n.\r\n");
    c.send(msg.as_bytes());
    let r = c.reply();
    assert!(r.starts_with("554 5.4.6 Too many hops (30)"), "{r}");
}

/// Thousands of open IMAP connections (IDLE clients of a few thousand users)
/// are held even when Hato is started with the usual soft limit of 1024 open
/// files, which it raises to the hard limit; other protocols are served
/// meanwhile.
#[test]
fn thousands_of_connections_are_held_from_a_low_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    const OPEN: usize = 3000;
    let (_, mut hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let want = 2 * OPEN as u64;
    if hard < want && setrlimit(Resource::RLIMIT_NOFILE, want, want).is_ok() {
        hard = want; // root may raise its hard limit
    }
    assert!(hard >= want, "this test needs an open-file hard limit of {want} (is {hard}; run as root)");
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    let mut s = Server::prepare("lim-many", "[limits]\nexempt = [\"127.0.0.0/8\"]\nmax_connections = 5000\n");
    s.spawn_under(&["prlimit", &format!("--nofile=1024:{hard}")]);
    s.populate("hato.test", &["bob"]);
    let mut held = Vec::with_capacity(OPEN);
    for i in 0..OPEN {
        let mut c = std::io::BufReader::new(std::net::TcpStream::connect(("127.0.0.1", s.imap)).unwrap());
        c.get_ref().set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut c, &mut line).unwrap();
        assert!(line.starts_with("* OK"), "connection {i}: {line:?}\n{}", s.log());
        held.push(c);
    }
    // With all of them open, mail is still taken and POP3 still answers.
    let reply = smtp_send(s.mx, "a@example.org", "bob@hato.test", b"Subject: x\r\n\r\nx\r\n");
    assert!(reply.starts_with("250"), "{reply}");
    let mut pop = std::io::BufReader::new(std::net::TcpStream::connect(("127.0.0.1", s.pop3)).unwrap());
    let mut greeting = String::new();
    std::io::BufRead::read_line(&mut pop, &mut greeting).unwrap();
    assert!(greeting.starts_with("+OK"), "{greeting}");
    assert!(!s.log().contains("accept failed"), "{}", s.log());
    assert!(!s.log().contains("open-file limit is below"), "raised to the hard limit: {}", s.log());
}
