//! Content filters end to end: the attachment filter (reject and quarantine,
//! Japanese names, zips in zips, renamed executables) and the antivirus with a
//! real clamd. Each verdict must show in the log line for that queue id.

mod common;

use common::clamd::Clamd;
use common::*;

fn b64(data: &[u8]) -> String {
    let out = std::process::Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    out.stdin.as_ref().unwrap().write_all(data).unwrap();
    String::from_utf8(out.wait_with_output().unwrap().stdout).unwrap()
}

fn with_attachment(subject: &str, part_headers: &str, data: &[u8]) -> String {
    format!(
        "From: sender@example.org\r\nTo: alice@hato.test\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=BOUND\r\n\r\n--BOUND\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --BOUND\r\n{part_headers}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--BOUND--\r\n",
        b64(data)
    )
}

/// Sends one message over the MX port; returns the reply to the end of DATA.
fn send(s: &Server, body: &str) -> String {
    smtp_send(s.mx, "sender@example.org", "alice@hato.test", body.as_bytes())
}

/// A deflated zip of the given files (Python's zipfile).
fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\nfor n in sys.argv[2:]: z.write(n)\nz.close()";
    archive(&[PYTHON, "-c", script], "out.zip", files)
}

/// The log line that carries this verdict mentions a queue id and the reason.
fn assert_logged(s: &Server, verdict: &str, reason: &str) {
    let found = || {
        s.log()
            .lines()
            .any(|l| l.contains(&format!("verdict=\"{verdict}\"")) && l.contains("queue_id=") && l.contains(reason))
    };
    // The server writes its log as it goes; give the line a moment to land.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !found() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(found(), "no {verdict} line with {reason:?} in the log:\n{}", s.log());
}

#[test]
fn attachment_filter_rejects_blocked_types() {
    let s = Server::start("filter-ext", "");
    s.populate("hato.test", &["alice"]);
    let r = send(
        &s,
        &with_attachment(
            "renamed",
            "Content-Type: application/pdf; name=\"scan.pdf\"",
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00",
        ),
    );
    assert!(r.starts_with("554 5.7.1") && r.contains("scan.pdf: content is a Windows executable"), "{r}");
    assert_logged(&s, "reject", "Windows executable");
    let inner = zip(&[("readme.txt", b"hello"), ("tools/setup.vbs", b"MsgBox 1")]);
    let outer = zip(&[("inner.zip", &inner)]);
    let r = send(&s, &with_attachment("nested", "Content-Type: application/zip; name=\"docs.zip\"", &outer));
    assert!(r.starts_with("554") && r.contains("docs.zip/inner.zip/tools/setup.vbs: blocked file type .vbs"), "{r}");
    // RFC 2231 Japanese name: 請求書.js
    let r = send(
        &s,
        &with_attachment(
            "jp",
            "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.js",
            b"x",
        ),
    );
    assert!(r.starts_with("554") && r.contains("請求書.js"), "{r}");
    let ok = zip(&[("report.txt", b"quarterly numbers")]);
    let r = send(&s, &with_attachment("fine", "Content-Type: application/zip; name=\"report.zip\"", &ok));
    assert!(r.starts_with("250"), "{r}");
    let inbox = s.wait_mailbox("alice@hato.test", "INBOX", 1, std::time::Duration::from_secs(10));
    assert_eq!(inbox.len(), 1, "only the clean message is delivered");
    assert_eq!(inbox[0]["subject"], "fine");
}

#[test]
fn quarantine_holds_and_releases() {
    let s = Server::start("filter-quarantine", "[filter]\nextension_action = \"quarantine\"\n");
    s.populate("hato.test", &["alice"]);
    let r =
        send(&s, &with_attachment("held", "Content-Type: application/octet-stream; name=\"run.bat\"", b"@echo off"));
    assert!(r.starts_with("250"), "quarantine accepts: {r}");
    assert_logged(&s, "quarantine", "run.bat: blocked file type .bat");
    let list = s.ctl_json(&["quarantine", "list", "--json"]);
    let held = list.as_array().unwrap();
    assert_eq!(held.len(), 1, "{list}");
    assert_eq!(held[0]["filter"], "attachment");
    assert_eq!(held[0]["recipients"][0], "alice@hato.test");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(s.mailbox("alice@hato.test", "INBOX").is_empty(), "a held message is not delivered");
    let id = held[0]["id"].as_str().unwrap().to_string();
    let cat = s.ctl(&["quarantine", "cat", &id]);
    assert!(String::from_utf8_lossy(&cat.stdout).contains("Subject: held"));
    s.ok(&["quarantine", "release", &id]);
    let inbox = s.wait_mailbox("alice@hato.test", "INBOX", 1, std::time::Duration::from_secs(10));
    assert_eq!(inbox[0]["subject"], "held");
    assert!(s.ctl_json(&["quarantine", "list", "--json"]).as_array().unwrap().is_empty());
    let again = s.ctl(&["quarantine", "release", &id]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("not found"), "released twice");
}

#[test]
fn antivirus_with_real_clamd() {
    let mut clamd = Clamd::start();
    let s = Server::start("filter-clamd", &format!("[filter.antivirus]\nclamd = \"{}\"\n", clamd.socket.display()));
    s.populate("hato.test", &["alice"]);
    let eicar = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    let r = send(&s, &with_attachment("eicar", "Content-Type: application/octet-stream; name=\"eicar.txt\"", eicar));
    assert!(r.starts_with("554 5.7.1") && r.contains("virus Hato.Test.EICAR"), "{r}");
    assert_logged(&s, "reject", "Hato.Test.EICAR");
    // The project's own signature, inside a zip: clamd unpacks it.
    let z = zip(&[("notes.txt", b"before HATO-TEST-VIRUS-MARKER-7d2f after")]);
    let r = send(&s, &with_attachment("marker", "Content-Type: application/zip; name=\"notes.zip\"", &z));
    assert!(r.starts_with("554") && r.contains("Hato.Test.Marker"), "{r}");
    let r = send(&s, &with_attachment("clean", "Content-Type: text/plain; name=\"notes.txt\"", b"nothing to see"));
    assert!(r.starts_with("250"), "{r}");
    // No clamd: never pass unscanned.
    clamd.stop();
    let r = send(&s, &with_attachment("unscanned", "Content-Type: text/plain; name=\"a.txt\"", b"hello"));
    assert!(r.starts_with("451 4.7.1"), "{r}");
    assert_logged(&s, "tempfail", "cannot reach clamd");
    let inbox = s.wait_mailbox("alice@hato.test", "INBOX", 1, std::time::Duration::from_secs(10));
    assert_eq!(inbox.iter().map(|m| m["subject"].as_str().unwrap()).collect::<Vec<_>>(), ["clean"]);
}

/// An archive made by a real archiver: `tool` run in a directory holding
/// `files`, writing `out`.
fn archive(tool: &[&str], out: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let dir = temp_dir("archive");
    for (name, data) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let names: Vec<&str> = files.iter().map(|f| f.0).collect();
    let st = std::process::Command::new(tool[0])
        .args(&tool[1..])
        .arg(out)
        .args(&names)
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("run {} (scripts/deps installs it): {e}", tool[0]));
    assert!(st.success(), "{tool:?}");
    std::fs::read(dir.join(out)).unwrap()
}

#[test]
fn archives_are_opened_and_those_that_cannot_be_are_quarantined() {
    let s = Server::start("filter-archives", "");
    s.populate("hato.test", &["alice"]);
    let part = |name: &str| format!("Content-Type: application/octet-stream; name=\"{name}\"");

    // Looked inside: zip64 (Info-ZIP -fz), tar.gz (Python's tarfile).
    let zip64 = archive(&["zip", "-q", "-fz"], "z.zip", &[("readme.txt", b"hello"), ("tools/setup.vbs", b"MsgBox 1")]);
    let r = send(&s, &with_attachment("zip64", &part("tools.zip"), &zip64));
    assert!(r.starts_with("554") && r.contains("tools.zip/tools/setup.vbs: blocked file type .vbs"), "{r}");
    let tgz = archive(
        &[
            PYTHON,
            "-c",
            "import sys, tarfile\nt = tarfile.open(sys.argv[1], 'w:gz')\nfor n in sys.argv[2:]: t.add(n)\nt.close()",
        ],
        "d.tar.gz",
        &[("docs/a.txt", b"hello"), ("docs/run.js", b"alert(1)")],
    );
    let r = send(&s, &with_attachment("tgz", &part("docs.tar.gz"), &tgz));
    assert!(
        r.starts_with("554") && r.contains("docs.tar.gz/") && r.contains("docs/run.js: blocked file type .js"),
        "{r}"
    );
    let clean = archive(&["zip", "-q", "-fz"], "c.zip", &[("report.txt", b"quarterly numbers")]);
    assert!(send(&s, &with_attachment("clean zip64", &part("report.zip"), &clean)).starts_with("250"));

    // Not readable: held for an administrator, never delivered unchecked.
    let encrypted = archive(&["zip", "-q", "-P", "secret"], "e.zip", &[("invoice.pdf", b"%PDF-1.4")]);
    let seven = archive(&["7zz", "a", "-bd"], "s.7z", &[("invoice.pdf", b"%PDF-1.4")]);
    let damaged = &clean[..clean.len() - 40];
    for (subject, name, data, why) in [
        ("encrypted", "invoice.zip", &encrypted[..], "invoice.zip/invoice.pdf: cannot check inside: encrypted"),
        ("seven", "invoice.7z", &seven[..], "invoice.7z: cannot check inside: 7z archive"),
        ("damaged", "report.zip", damaged, "report.zip: cannot check inside: damaged zip"),
    ] {
        let r = send(&s, &with_attachment(subject, &part(name), data));
        assert!(r.starts_with("250"), "{subject}: quarantine accepts: {r}");
        assert_logged(&s, "quarantine", why);
    }
    let held = s.ctl_json(&["quarantine", "list", "--json"]);
    assert_eq!(held.as_array().unwrap().len(), 3, "{held}");
    let inbox = s.wait_mailbox("alice@hato.test", "INBOX", 1, std::time::Duration::from_secs(10));
    assert_eq!(inbox.len(), 1, "only the clean archive is delivered");
    assert_eq!(inbox[0]["subject"], "clean zip64");

    // The action is the administrator's: reject instead.
    let strict = Server::start("filter-archives-strict", "[filter]\narchive_action = \"reject\"\n");
    strict.populate("hato.test", &["alice"]);
    let r = send(&strict, &with_attachment("encrypted", &part("invoice.zip"), &encrypted));
    assert!(r.starts_with("554") && r.contains("encrypted"), "{r}");
}
