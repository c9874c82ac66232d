//! The archive: every message that passes through is kept — delivered,
//! quarantined or refused — survives the user deleting it, and is found by
//! sender, subject, message-id, direction and by Japanese full text in
//! ISO-2022-JP, Shift_JIS and UTF-8; results export as mbox or .eml files.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn send(s: &Server, from: &str, body: &[u8]) -> String {
    smtp_send(s.mx, from, "alice@hato.test", body)
}

fn search(s: &Server, args: &[&str]) -> Vec<serde_json::Value> {
    let mut full = vec!["archive", "search", "--json"];
    full.extend_from_slice(args);
    s.ctl_json(&full).as_array().cloned().unwrap_or_default()
}

/// Full-text rows are filled by the indexer shortly after acceptance.
fn search_eventually(s: &Server, args: &[&str], want: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = search(s, args);
        if r.len() >= want || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn archive_keeps_and_finds_everything() {
    let s = Server::start("archive", "");
    s.populate("hato.test", &["alice"]);
    let jis = b"From: tanaka@example.jp\r\nTo: alice@hato.test\r\nSubject: =?ISO-2022-JP?B?GyRCMnE1RBsoQg==?=\r\nMessage-ID: <jis-1@example.jp>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\r\n\x1b$B5D;vO?$rAw$j$^$9\x1b(B\r\n";
    assert!(send(&s, "tanaka@example.jp", jis).starts_with("250"));
    let mut sjis = b"From: suzuki@example.jp\r\nTo: alice@hato.test\r\nSubject: quote\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".to_vec();
    sjis.extend_from_slice(&[0x8c, 0xa9, 0x90, 0xcf, 0x8f, 0x91, 0x82, 0xcc, 0x8c, 0x8f, 0x82, 0xc5, 0x82, 0xb7]);
    sjis.extend_from_slice(b"\r\n");
    assert!(send(&s, "suzuki@example.jp", &sjis).starts_with("250"));
    let utf8 = "From: sato@example.jp\r\nTo: alice@hato.test\r\nSubject: =?UTF-8?B?5aCx5ZGK?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n月次の数字です\r\n--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=UTF-8''%E5%A0%B1%E5%91%8A%E6%9B%B8.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--B--\r\n";
    assert!(send(&s, "sato@example.jp", utf8.as_bytes()).starts_with("250"));
    let bad = "From: x@example.org\r\nSubject: tool\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: application/octet-stream; name=\"tool.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAM=\r\n--B--\r\n";
    assert!(send(&s, "x@example.org", bad.as_bytes()).starts_with("554"));
    s.wait_mailbox("alice@hato.test", "INBOX", 3, Duration::from_secs(10));

    // The user deletes everything; the archive is not theirs to delete.
    let (ok, out) = run(
        PYTHON,
        &[
            "-c",
            &format!(
                "import imaplib,ssl;c=ssl.create_default_context();c.check_hostname=False;c.verify_mode=ssl.CERT_NONE;m=imaplib.IMAP4_SSL('127.0.0.1',{},ssl_context=c);m.login('alice@hato.test','pw-alice');m.select('INBOX');m.store('1:*','+FLAGS','(\\\\Deleted)');print(m.expunge())",
                s.imaps
            ),
        ],
    );
    assert!(ok, "{out}");
    assert!(s.mailbox("alice@hato.test", "INBOX").is_empty());

    let all = search_eventually(&s, &["--text", "議事録"], 1);
    assert_eq!(all.len(), 1, "ISO-2022-JP body found by a UTF-8 query: {all:?}");
    assert_eq!(all[0]["subject"], "会議");
    assert_eq!(all[0]["direction"], "inbound");
    let two = search_eventually(&s, &["--text", "見積"], 1);
    assert_eq!(two.len(), 1, "a two-character word in Shift_JIS: {two:?}");
    assert_eq!(two[0]["sender"], "suzuki@example.jp");
    let att = search_eventually(&s, &["--text", "報告書.pdf"], 1);
    assert_eq!(att.len(), 1, "attachment names are indexed: {att:?}");
    assert_eq!(search(&s, &["--subject", "会議"]).len(), 1);
    assert_eq!(search(&s, &["--message-id", "<jis-1@example.jp>"]).len(), 1);
    assert_eq!(search(&s, &["--from", "suzuki"]).len(), 1);
    // Sender searches of any length, and the recipient (in the same index column) is not the sender.
    assert_eq!(search(&s, &["--from", "zu"]).len(), 1);
    assert_eq!(search(&s, &["--from", "a"]).len(), 4, "every sender has an a");
    assert_eq!(search(&s, &["--from", "example.jp"]).len(), 3);
    assert_eq!(search(&s, &["--from", "alice"]).len(), 0);
    assert_eq!(search(&s, &["--direction", "outbound"]).len(), 0);
    let everything = search(&s, &[]);
    assert_eq!(everything.len(), 4, "{everything:?}");
    let refused: Vec<_> = everything.iter().filter(|a| a["disposition"] == "rejected").collect();
    assert_eq!(refused.len(), 1);
    assert!(refused[0]["reason"].as_str().unwrap().contains("tool.exe"));
    let today = crate_today();
    assert_eq!(search(&s, &["--since", &today]).len(), 4);
    assert_eq!(search(&s, &["--until", &today]).len(), 0);
    let bad_date = s.ctl(&["archive", "search", "--since", "someday"]);
    assert!(!bad_date.status.success() && String::from_utf8_lossy(&bad_date.stderr).contains("not a date"));

    // Export: mbox and .eml files hold the messages as received.
    let mbox = s.dir.join("export.mbox");
    s.ok(&["archive", "export", "--from", "example.jp", "--mbox", mbox.to_str().unwrap()]);
    let text = std::fs::read(&mbox).unwrap();
    assert_eq!(hato::mbox::split(&text).len(), 3);
    let dir = s.dir.join("eml");
    s.ok(&["archive", "export", "--text", "議事録", "--eml-dir", dir.to_str().unwrap()]);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(files.len(), 1);
    let id = all[0]["id"].as_str().unwrap();
    s.ok(&["archive", "hold", id]);
    assert_eq!(search(&s, &["--message-id", "<jis-1@example.jp>"])[0]["legal_hold"], true);
}

/// The full-text index is a file apart from the mail, derived from the
/// archive (`hato.db.archive-index` beside SQLite's database, each Galera
/// node's `archive-index.db`): lost, it is filled again after a restart.
#[test]
fn a_lost_index_file_is_filled_again() {
    let mut s = Server::start("archive-index", "");
    s.populate("hato.test", &["alice"]);
    let body =
        b"From: tanaka@example.jp\r\nTo: alice@hato.test\r\nSubject: minutes\r\n\r\nquarterly figures attached\r\n";
    assert!(send(&s, "tanaka@example.jp", body).starts_with("250"));
    assert_eq!(search_eventually(&s, &["--text", "quarterly"], 1).len(), 1);
    s.kill9();
    let data = s.dir.join("data");
    let files = ["hato.db.archive-index", "archive-index.db"];
    let index = files.iter().map(|f| data.join(f)).find(|p| p.exists()).expect("an index file in the data directory");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", index.display()));
    }
    s.spawn();
    let found = search_eventually(&s, &["--text", "quarterly"], 1);
    assert_eq!(found.len(), 1, "indexed again: {found:?}");
    assert_eq!(found[0]["subject"], "minutes");
    assert!(index.exists());
}

fn crate_today() -> String {
    let (y, m, d) = hato::clock::civil_from_days(hato::clock::now().div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}
