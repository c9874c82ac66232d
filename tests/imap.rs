//! IMAP with real clients: Python's imaplib (two sessions, IDLE) and curl.

mod common;

use common::*;

#[test]
fn imaplib_scenario_two_sessions_and_idle() {
    let s = Server::start("imap-imaplib", "");
    s.populate("hato.test", &["alice"]);
    deliver(&s, "alice@hato.test", 3);
    let (ok, out) = run(
        PYTHON,
        &[&py_script("imap_check.py"), &s.imap.to_string(), &s.imaps.to_string(), &s.mx.to_string(), "alice@hato.test", "pw-alice"],
    );
    assert!(ok, "{out}\n{}", s.log());
    assert!(out.contains("imap scenario ok"), "{out}");
    // The expunge in IMAP is the store's: POP3 and ctl see two messages plus the IDLE delivery.
    let left: Vec<String> = s.mailbox("alice@hato.test", "INBOX").iter().map(|m| m["subject"].as_str().unwrap().to_string()).collect();
    assert_eq!(left, ["message 0", "message 2", "while idle"]);
}

#[test]
fn curl_fetches_over_imaps() {
    let s = Server::start("imap-curl", "");
    s.populate("hato.test", &["alice"]);
    deliver(&s, "alice@hato.test", 2);
    let url = format!("imaps://127.0.0.1:{}/INBOX;UID=2", s.imaps);
    let (ok, out) = run("curl", &["-s", "-k", "--max-time", "30", "-u", "alice@hato.test:pw-alice", &url]);
    assert!(ok, "{out}\n{}", s.log());
    assert!(out.contains("Subject: message 1"), "{out}");
    let list = format!("imap://127.0.0.1:{}/", s.imap);
    let (ok, out) = run("curl", &["-s", "-k", "--ssl-reqd", "--max-time", "30", "-u", "alice@hato.test:pw-alice", &list]);
    assert!(ok, "{out}");
    assert!(out.contains("\"INBOX\"") && out.contains("\"Trash\""), "{out}");
}

#[test]
fn imap_bad_input() {
    let s = Server::start("imap-bad", "[imap]\nallow_plaintext_auth = true\n");
    s.populate("hato.test", &["alice"]);
    let stream = std::net::TcpStream::connect(("127.0.0.1", s.imap)).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let mut c = Raw { r: std::io::BufReader::new(stream.try_clone().unwrap()), w: stream };
    let mut line = String::new();
    std::io::BufRead::read_line(&mut c.r, &mut line).unwrap();
    assert!(line.starts_with("* OK"), "{line}");
    let mut ask = |cmd: &str| {
        c.send(format!("{cmd}\r\n").as_bytes());
        let mut l = String::new();
        std::io::BufRead::read_line(&mut c.r, &mut l).unwrap();
        l
    };
    assert!(ask("a1 FROBNICATE").starts_with("a1 BAD"));
    assert!(ask("a2 SELECT INBOX").starts_with("a2 BAD SELECT needs LOGIN"));
    assert!(ask("garbage without tag \u{1}\u{2}").contains("BAD"));
    assert!(ask("a3 LOGIN alice@hato.test {99999999}").starts_with("a3 BAD literal of 99999999 bytes"));
    assert!(ask("a4 LOGIN alice@hato.test pw-alice").starts_with("a4 OK"));
    assert!(ask("a5 FETCH 1 (FLAGS)").starts_with("a5 BAD FETCH needs a selected mailbox"));
    assert!(ask("a6 SELECT \"&Jjo-\"").starts_with("a6 NO [NONEXISTENT]"));
    assert!(ask("a7 LOGOUT").starts_with("* BYE"));
}
