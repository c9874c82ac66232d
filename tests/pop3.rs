//! POP3 with real clients: Python's poplib, curl and fetchmail.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn poplib_scenario_and_deletes_reach_the_store() {
    let s = Server::start("pop3-poplib", "");
    s.populate("hato.test", &["alice"]);
    deliver(&s, "alice@hato.test", 3);
    let (ok, out) = run(
        PYTHON,
        &[&py_script("pop3_check.py"), &s.pop3.to_string(), &s.pop3s.to_string(), "alice@hato.test", "pw-alice"],
    );
    assert!(ok, "{out}\n{}", s.log());
    // DELE + QUIT in POP3 removed the message from the store IMAP reads.
    let left: Vec<String> =
        s.mailbox("alice@hato.test", "INBOX").iter().map(|m| m["subject"].as_str().unwrap().to_string()).collect();
    assert_eq!(left, ["message 1", "message 2"]);
    assert!(s.log().contains("messages deleted at QUIT"));
}

#[test]
fn curl_reads_over_pop3s() {
    let s = Server::start("pop3-curl", "");
    s.populate("hato.test", &["alice"]);
    deliver(&s, "alice@hato.test", 2);
    let url = format!("pop3s://127.0.0.1:{}/2", s.pop3s);
    let (ok, out) = run("curl", &["-s", "-k", "--max-time", "30", "-u", "alice@hato.test:pw-alice", &url]);
    assert!(ok, "{out}");
    assert!(out.contains("Subject: message 1") && out.contains(".dot line"), "{out}");
    let list = format!("pop3://127.0.0.1:{}/", s.pop3);
    let (ok, out) =
        run("curl", &["-s", "-k", "--ssl-reqd", "--max-time", "30", "-u", "alice@hato.test:pw-alice", &list]);
    assert!(ok, "{out}");
    assert_eq!(out.lines().count(), 2, "LIST over STLS: {out}");
}

#[test]
fn fetchmail_downloads_and_deletes() {
    let s = Server::start("pop3-fetchmail", "");
    s.populate("hato.test", &["alice"]);
    deliver(&s, "alice@hato.test", 3);
    let out_dir = s.dir.join("fetched");
    std::fs::create_dir_all(&out_dir).unwrap();
    let rc = s.dir.join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "poll 127.0.0.1 protocol POP3 port {}\n  user \"alice@hato.test\" password \"pw-alice\" sslproto TLS1.2+ no sslcertck fetchall nokeep\n  mda \"/bin/sh -c 'cat > {}/$$.eml'\"\n",
            s.pop3,
            out_dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rc, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let (ok, out) = run(
        "fetchmail",
        &["--nodetach", "--silent", "-f", rc.to_str().unwrap(), "--pidfile", s.dir.join("fm.pid").to_str().unwrap()],
    );
    assert!(ok, "fetchmail failed: {out}\n{}", s.log());
    let files: Vec<String> =
        std::fs::read_dir(&out_dir).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
    assert_eq!(files.len(), 3, "{out}");
    assert!(files.iter().any(|f| f.contains("Subject: message 2")));
    let left = s.wait_mailbox("alice@hato.test", "INBOX", 0, Duration::from_secs(1));
    assert!(left.is_empty(), "fetchmail deletes what it fetched: {left:?}");
}

#[test]
fn pop3_bad_input_and_auth_plain() {
    let s = Server::start("pop3-bad", "[pop3]\nallow_plaintext_auth = true\n");
    s.populate("hato.test", &["alice"]);
    let mut c = PopRaw::connect(s.pop3);
    assert!(c.cmd("RETR 1").starts_with("-ERR log in first"));
    assert!(c.cmd("FROB").starts_with("-ERR unknown command"));
    assert!(c.cmd(&format!("USER {}", "x".repeat(5000))).starts_with("-ERR line too long"));
    assert!(c.cmd("PASS nouser").starts_with("-ERR send USER first"));
    assert!(c.cmd("AUTH PLAIN !!!").starts_with("-ERR malformed"));
    assert!(c.cmd("AUTH CRAM-MD5").starts_with("-ERR unsupported"));
    assert!(
        c.cmd("AUTH PLAIN AGFsaWNlQGhhdG8udGVzdABwdy1hbGljZQ==").starts_with("+OK"),
        "alice / pw-alice via SASL PLAIN"
    );
    assert!(c.cmd("STAT").starts_with("+OK 0 0"));
    assert!(c.cmd("RETR 7").starts_with("-ERR no such message"));
    assert!(c.cmd("DELE 0").starts_with("-ERR"));
    assert!(c.cmd("QUIT").starts_with("+OK"));
}

/// A raw POP3 line conversation.
struct PopRaw(Raw);

impl PopRaw {
    fn connect(port: u16) -> PopRaw {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut raw = Raw { r: std::io::BufReader::new(s.try_clone().unwrap()), w: s };
        let mut greeting = String::new();
        std::io::BufRead::read_line(&mut raw.r, &mut greeting).unwrap();
        assert!(greeting.starts_with("+OK"), "{greeting}");
        PopRaw(raw)
    }

    fn cmd(&mut self, line: &str) -> String {
        self.0.send(format!("{line}\r\n").as_bytes());
        let mut out = String::new();
        std::io::BufRead::read_line(&mut self.0.r, &mut out).unwrap();
        out
    }
}
