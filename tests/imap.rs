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
        &[
            &py_script("imap_check.py"),
            &s.imap.to_string(),
            &s.imaps.to_string(),
            &s.mx.to_string(),
            "alice@hato.test",
            "pw-alice",
        ],
    );
    assert!(ok, "{out}\n{}", s.log());
    assert!(out.contains("imap scenario ok"), "{out}");
    // The expunge in IMAP is the store's: POP3 and ctl see two messages plus the IDLE delivery.
    let left: Vec<String> =
        s.mailbox("alice@hato.test", "INBOX").iter().map(|m| m["subject"].as_str().unwrap().to_string()).collect();
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
    let (ok, out) =
        run("curl", &["-s", "-k", "--ssl-reqd", "--max-time", "30", "-u", "alice@hato.test:pw-alice", &list]);
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
    // A non-synchronizing literal over the limit: refused and the connection closed,
    // so the bytes that follow are never read as commands.
    let stream = std::net::TcpStream::connect(("127.0.0.1", s.imap)).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let mut c = Raw { r: std::io::BufReader::new(stream.try_clone().unwrap()), w: stream };
    let mut l = String::new();
    std::io::BufRead::read_line(&mut c.r, &mut l).unwrap();
    c.send(b"b1 LOGIN alice@hato.test {999999999+}\r\nb2 LOGOUT\r\n");
    let mut all = String::new();
    let _ = std::io::Read::read_to_string(&mut c.r, &mut all);
    assert!(all.starts_with("b1 BAD literal of 999999999 bytes") && all.contains("* BYE literal too large"), "{all}");
    assert!(!all.contains("b2"), "nothing after the literal may be executed: {all}");
}

#[test]
fn append_copy_move_and_mailbox_management() {
    let s = Server::start("imap-manage", "");
    s.populate("hato.test", &["alice"]);
    // A quota that two small messages and one append fit in, a 20 KB append does not.
    s.ok(&["account", "quota", "alice@hato.test", "0"]);
    deliver(&s, "alice@hato.test", 2);
    let db_quota = std::process::Command::new(BIN)
        .args(["ctl", "--config"])
        .arg(&s.config)
        .args(["account", "show", "alice@hato.test", "--json"])
        .output()
        .unwrap();
    let used = serde_json::from_slice::<serde_json::Value>(&db_quota.stdout).unwrap()["used_bytes"].as_i64().unwrap();
    assert!(used > 0);
    // Quota is set in MiB from the CLI; 1 MiB is far more than we need, so fill it first.
    s.ok(&["account", "quota", "alice@hato.test", "1"]);
    let filler = format!("Subject: filler\r\n\r\n{}\r\n", "f".repeat(1024 * 1024 - used as usize - 3000));
    let mut c = Raw::connect(s.mx);
    c.cmd("EHLO f.test");
    c.cmd("MAIL FROM:<f@example.org>");
    assert!(c.cmd("RCPT TO:<alice@hato.test>").starts_with("250"));
    c.cmd("DATA");
    c.send(format!("{filler}.\r\n").as_bytes());
    assert!(c.reply().starts_with("250"));
    s.wait_mailbox("alice@hato.test", "INBOX", 3, std::time::Duration::from_secs(10));
    // Leave the two small messages in INBOX, the filler in Junk (it still counts).
    let (ok, out) = run(
        PYTHON,
        &[
            "-c",
            &format!(
                "import imaplib,ssl;c=ssl.create_default_context();c.check_hostname=False;c.verify_mode=ssl.CERT_NONE;m=imaplib.IMAP4_SSL('127.0.0.1',{},ssl_context=c);m.login('alice@hato.test','pw-alice');m.select('INBOX');print(m.uid('MOVE','3','Junk'))",
                s.imaps
            ),
        ],
    );
    assert!(ok && out.contains("'OK'"), "MOVE needs no quota headroom: {out}");
    let (ok, out) = run(PYTHON, &[&py_script("imap_manage.py"), &s.imaps.to_string(), "alice@hato.test", "pw-alice"]);
    assert!(ok, "{out}\n{}", s.log());
    assert_eq!(s.mailbox("alice@hato.test", "Archive").len(), 1);
    assert_eq!(s.mailbox("alice@hato.test", "Sent")[0]["subject"], "appended");
}

#[test]
fn mbsync_syncs_both_ways() {
    let s = Server::start("imap-mbsync", "");
    s.populate("hato.test", &["alice"]);
    deliver(&s, "alice@hato.test", 3);
    let local = s.dir.join("Maildir");
    std::fs::create_dir_all(&local).unwrap();
    let rc = s.dir.join("mbsyncrc");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount hato\nHost localhost\nPort {port}\nUser alice@hato.test\nPass pw-alice\nSSLType IMAPS\nCertificateFile {cert}\n\n\
             IMAPStore hato-remote\nAccount hato\n\n\
             MaildirStore local\nPath {local}/\nInbox {local}/INBOX\nSubFolders Verbatim\n\n\
             Channel hato\nFar :hato-remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
            port = s.imaps,
            cert = s.dir.join("data/tls/cert.pem").display(),
            local = local.display()
        ),
    )
    .unwrap();
    let sync = || run("mbsync", &["-c", rc.to_str().unwrap(), "-a"]);
    let (ok, out) = sync();
    assert!(ok, "first sync: {out}\n{}", s.log());
    let files = |dir: &str| -> Vec<std::path::PathBuf> {
        ["cur", "new"]
            .iter()
            .flat_map(|sub| {
                std::fs::read_dir(local.join(dir).join(sub)).into_iter().flatten().map(|e| e.unwrap().path())
            })
            .collect()
    };
    assert_eq!(files("INBOX").len(), 3, "server → local: {out}");
    assert!(local.join("Sent").exists() && local.join("Trash").exists(), "folders came down too");

    // Local changes go up: a new message appears, one is deleted (flag T), one is read (flag S).
    let mut inbox = files("INBOX");
    inbox.sort();
    std::fs::write(
        local.join("INBOX/new/1700000000.local.hato"),
        "Subject: written locally\r\nFrom: alice@hato.test\r\n\r\nhi\r\n",
    )
    .unwrap();
    let trash = inbox[0].to_str().unwrap().to_string();
    std::fs::rename(&inbox[0], if trash.contains(":2,") { format!("{trash}T") } else { format!("{trash}:2,T") })
        .unwrap();
    let seen = inbox[1].to_str().unwrap().to_string();
    std::fs::rename(&inbox[1], if seen.contains(":2,") { format!("{seen}S") } else { format!("{seen}:2,S") }).unwrap();
    let (ok, out) = sync();
    assert!(ok, "second sync: {out}\n{}", s.log());
    let server: Vec<serde_json::Value> = s.mailbox("alice@hato.test", "INBOX");
    let subjects: Vec<&str> = server.iter().map(|m| m["subject"].as_str().unwrap()).collect();
    assert_eq!(server.len(), 3, "{subjects:?}\n{out}");
    assert!(subjects.contains(&"written locally"), "{subjects:?}");
    assert_eq!(server.iter().filter(|m| m["flags"].as_str().unwrap().contains("\\Seen")).count(), 1, "{server:?}");
    // mbsync asks for COMPRESS=DEFLATE when offered (RFC 4978): every sync above ran compressed.
    assert!(s.log().contains("COMPRESS=DEFLATE on"), "{}", s.log());
    // And a third sync with nothing to do changes nothing.
    let (ok, out) = sync();
    assert!(ok, "{out}");
    assert_eq!(s.mailbox("alice@hato.test", "INBOX").len(), 3);
    assert_eq!(files("INBOX").len(), 3);
}

#[test]
fn search_finds_japanese_mail_in_any_charset() {
    let s = Server::start("imap-search", "");
    s.populate("hato.test", &["alice"]);
    let (ok, out) = run(
        PYTHON,
        &[&py_script("imap_search.py"), &s.imaps.to_string(), &s.mx.to_string(), "alice@hato.test", "pw-alice"],
    );
    assert!(ok, "{out}\n{}", s.log());
}

#[test]
fn envelope_bodystructure_and_sections_on_real_mail() {
    let corpus = format!("{}/../shared/corpus/spamassassin-dev/ham", env!("CARGO_MANIFEST_DIR"));
    assert!(std::path::Path::new(&corpus).is_dir(), "the shared corpus is missing at {corpus}");
    let s = Server::start("imap-structure", "");
    s.populate("hato.test", &["alice"]);
    let (ok, out) = run(
        PYTHON,
        &[&py_script("imap_structure.py"), &s.imaps.to_string(), "alice@hato.test", "pw-alice", &corpus, "150"],
    );
    assert!(ok, "{out}\n{}", s.log().lines().rev().take(20).collect::<Vec<_>>().join("\n"));
    assert!(out.contains("structure ok for 150"), "{out}");
}

/// BODY and TEXT skip messages whose sketch (`imap::sketch`) rules the
/// needle out: on 300 real messages and a few encoded Japanese ones, each
/// search answers the same on the sketched INBOX as on a fresh copy of it,
/// where every message is read.
#[test]
fn sketched_searches_answer_as_reading_everything() {
    let corpus = format!("{}/../shared/corpus/spamassassin-dev/ham", env!("CARGO_MANIFEST_DIR"));
    assert!(std::path::Path::new(&corpus).is_dir(), "the shared corpus is missing at {corpus}");
    let s = Server::start("imap-sketch", "");
    s.populate("hato.test", &["alice"]);
    let (ok, out) = run(
        PYTHON,
        &[&py_script("imap_search_sketch.py"), &s.imaps.to_string(), "alice@hato.test", "pw-alice", &corpus, "300"],
    );
    assert!(ok, "{out}\n{}", s.log().lines().rev().take(20).collect::<Vec<_>>().join("\n"));
    assert!(out.contains("imap search sketch ok"), "{out}");
}

/// A SELECT of a mailbox selected before starts from the view kept of it
/// (`imap::kept`) and what changed since, and shows the mailbox as it is.
#[test]
fn a_kept_view_shows_what_changed_since() {
    let s = Server::start("imap-kept", "");
    s.populate("hato.test", &["alice"]);
    let (ok, out) =
        run(PYTHON, &[&py_script("imap_select_kept.py"), &s.imaps.to_string(), "alice@hato.test", "pw-alice"]);
    assert!(ok, "{out}\n{}", s.log());
    assert!(out.contains("imap select kept ok"), "{out}");
}

#[test]
fn extensions_with_imaplib() {
    let s = Server::start("imap-ext", "");
    s.populate("hato.test", &["alice"]);
    s.ok(&["account", "quota", "alice@hato.test", "10"]);
    let (ok, out) =
        run(PYTHON, &[&py_script("imap_extensions.py"), &s.imaps.to_string(), "alice@hato.test", "pw-alice"]);
    assert!(ok, "{out}\n{}", s.log());
    assert!(out.contains("imap extensions ok"), "{out}");
    // The store keeps the UTF-8 name; modified UTF-7 exists only on the wire.
    let boxes = s.ctl_json(&["mailbox", "list", "alice@hato.test", "--json"]);
    assert!(boxes.to_string().contains("日本語/受信"), "{boxes}");
}

/// imapclient's own live test suite against Hato. Failures that come from the
/// suite itself (not from Hato) are listed with the reason in `LIVETEST_KNOWN`;
/// any other failure fails this test.
#[test]
fn imapclient_livetest() {
    let pydeps = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("build/pydeps");
    assert!(
        pydeps.join("imapclient/livetest.py").exists(),
        "imapclient is missing: run scripts/deps (it installs it into build/pydeps)"
    );
    let s = Server::start("imap-livetest", "");
    s.populate("hato.test", &["alice"]);
    let ini = s.dir.join("livetest.ini");
    std::fs::write(
        &ini,
        format!(
            "[DEFAULT]\nhost = 127.0.0.1\nport = {}\nssl = true\nssl_check_hostname = false\nssl_verify_cert = false\nusername = alice@hato.test\npassword = pw-alice\ntimeout = 60\n",
            s.imaps
        ),
    )
    .unwrap();
    let out = std::process::Command::new(PYTHON)
        .args(["-m", "imapclient.livetest", ini.to_str().unwrap()])
        .env("PYTHONPATH", &pydeps)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let failed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("FAIL: ").or_else(|| l.strip_prefix("ERROR: ")))
        .map(|l| l.split(' ').next().unwrap_or(l))
        .collect();
    let ran = text.lines().find(|l| l.starts_with("Ran ")).unwrap_or("");
    eprintln!("imapclient livetest: {ran}; failed: {failed:?}");
    assert!(ran.starts_with("Ran ") && !ran.starts_with("Ran 0 "), "{text}");
    let unexpected: Vec<&&str> = failed.iter().filter(|f| !LIVETEST_KNOWN.iter().any(|(k, _)| k == *f)).collect();
    assert!(unexpected.is_empty(), "unexpected livetest failures {unexpected:?}\n{text}\n{}", s.log());
}

/// MULTIAPPEND (RFC 3502) as imapclient's multiappend() sends it: three
/// messages with their own flags and dates in one APPEND, APPENDUID 1:3.
#[test]
fn multiappend_with_imapclient() {
    let pydeps = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("build/pydeps");
    assert!(pydeps.join("imapclient").exists(), "imapclient is missing: run scripts/deps");
    let s = Server::start("imap-multiappend", "");
    s.populate("hato.test", &["alice"]);
    let out = std::process::Command::new(PYTHON)
        .args([&py_script("imap_multiappend.py"), &s.imaps.to_string(), "alice@hato.test", "pw-alice"])
        .env("PYTHONPATH", &pydeps)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("multiappend ok"), "{text}\n{}", s.log());
}

/// Livetest cases that fail for reasons outside Hato, with the reason.
const LIVETEST_KNOWN: &[(&str, &str)] = &[];

#[test]
fn imap4rev2_after_enable() {
    let s = Server::start("imap-rev2", "");
    s.populate("hato.test", &["alice"]);
    let (ok, out) = run(PYTHON, &[&py_script("imap_rev2.py"), &s.imaps.to_string(), "alice@hato.test", "pw-alice"]);
    assert!(ok && out.contains("imap4rev2 ok"), "{out}\n{}", s.log());
}

#[test]
fn compress_deflate_by_hand() {
    let s = Server::start("imap-compress", "[imap]\nallow_plaintext_auth = true\n");
    s.populate("hato.test", &["alice"]);
    deliver(&s, "alice@hato.test", 20);
    let (ok, out) = run(PYTHON, &[&py_script("imap_compress.py"), &s.imap.to_string(), "alice@hato.test", "pw-alice"]);
    assert!(ok, "{out}\n{}", s.log());
    eprintln!("{out}");
}
