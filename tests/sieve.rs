//! Sieve end to end: a user uploads a script with a real ManageSieve client
//! (sievelib, over STARTTLS); mail delivered to the account is then filed,
//! flagged, redirected, refused, discarded and answered as the script says.
//! The server's own script refuses and discards before queueing.

mod common;

use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(20);

const SCRIPT: &str = r#"require ["fileinto", "imap4flags", "reject", "copy", "vacation", "variables", "envelope", "body"];
# Mailing lists into the Archive folder, flagged.
if header :contains "List-Id" "dev.lists.example.org" {
    addflag "\\Flagged";
    fileinto "Archive";
    stop;
}
if header :matches "subject" "forward to *" {
    redirect "${1}@hato.test";
    stop;
}
if address :domain :is "from" "bad.example" {
    reject "I do not take mail from bad.example.";
    stop;
}
if body :text :contains "unsubscribe-me-quietly" {
    discard;
    stop;
}
if envelope :localpart :is "from" "bob" {
    vacation :days 1 :subject "Away until Monday" "I am away and will answer on Monday.";
}
"#;

fn send(s: &Server, from: &str, headers: &str, body: &str) -> String {
    smtp_send(
        s.mx,
        from,
        "alice@hato.test",
        format!("From: <{from}>\r\nTo: alice@hato.test\r\n{headers}\r\n\r\n{body}\r\n").as_bytes(),
    )
}

#[test]
fn user_scripts_managed_over_managesieve_and_run_at_delivery() {
    let s = Server::start("sieve", FAST_QUEUE);
    s.populate("hato.test", &["alice", "bob", "carol"]);
    let dir = temp_dir("sieve-client");
    std::fs::write(dir.join("good.sieve"), SCRIPT).unwrap();
    std::fs::write(dir.join("bad.sieve"), "require \"fileinto\";\nif true {\n  fileinto;\n}\n").unwrap();
    let pydeps = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("build/pydeps");
    assert!(pydeps.join("sievelib/managesieve.py").exists(), "sievelib is missing: run scripts/deps");
    let out = std::process::Command::new(PYTHON)
        .arg(py_script("sieve_client.py"))
        .args([&s.managesieve.to_string(), "alice@hato.test", "pw-alice"])
        .arg(dir.join("good.sieve"))
        .arg(dir.join("bad.sieve"))
        .env("PYTHONPATH", &pydeps)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), s.log());
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["login"], true, "{r}");
    assert_eq!(r["implementation"], "Hato");
    assert!(r["extensions"].as_array().unwrap().iter().any(|e| e == "imap4flags"), "{r}");
    assert_eq!((r["check_good"].as_bool(), r["check_bad"].as_bool()), (Some(true), Some(false)), "{r}");
    assert!(r["check_bad_error"].as_str().unwrap().contains("line 3, column 3"), "errors name the place: {r}");
    assert_eq!(
        (r["put_bad"].as_bool(), r["put"].as_bool(), r["havespace"].as_bool()),
        (Some(false), Some(true), Some(true)),
        "{r}"
    );
    assert_eq!(r["activate"], true);
    assert_eq!(r["get_same"], true, "{r}");
    assert_eq!(r["delete_active"], false, "the active script cannot be deleted");
    assert_eq!((r["rename"].as_bool(), r["delete_spare"].as_bool()), (Some(true), Some(true)), "{r}");
    // sievelib gives (active, [others]).
    assert_eq!(r["list_after"], serde_json::json!(["main", []]), "{r}");

    // A list message: into Archive, flagged.
    assert!(
        send(&s, "dev@lists.example.org", "List-Id: <dev.lists.example.org>\r\nSubject: release", "notes")
            .starts_with("250")
    );
    let archived = s.wait_mailbox("alice@hato.test", "Archive", 1, T);
    assert_eq!(archived.len(), 1, "{}", s.log());
    assert!(archived[0]["flags"].as_str().unwrap_or_default().contains("\\Flagged"), "{archived:?}");
    // Redirect with a variable from :matches: carol gets it, alice does not.
    assert!(send(&s, "dave@remote.example", "Subject: forward to carol", "for carol").starts_with("250"));
    assert_eq!(s.wait_mailbox("carol@hato.test", "INBOX", 1, T).len(), 1, "{}", s.log());
    // Refused: the sender (bob's address stands in for a remote one) gets a bounce with the reason.
    assert!(send(&s, "bob@hato.test", "From: <x@bad.example>\r\nSubject: offer", "buy").starts_with("250"));
    // Discarded: nothing filed anywhere.
    assert!(send(&s, "erin@remote.example", "Subject: list", "unsubscribe-me-quietly").starts_with("250"));
    // bob's own mail gets the vacation reply (once) and is kept.
    assert!(send(&s, "bob@hato.test", "Subject: lunch?", "noon?").starts_with("250"));
    assert!(send(&s, "bob@hato.test", "Subject: lunch again?", "one?").starts_with("250"));
    // bob has the refusal and one vacation reply.
    let bobs = s.wait_mailbox("bob@hato.test", "INBOX", 2, T);
    assert_eq!(bobs.len(), 2, "{}", s.log());
    let all: String = (1..=2)
        .map(|uid| {
            let out = s.ctl(&["mailbox", "cat", "bob@hato.test", &uid.to_string()]);
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .collect();
    assert!(all.contains("I do not take mail from bad.example."), "{all}");
    assert!(all.contains("Subject: Away until Monday") && all.contains("Auto-Submitted: auto-replied"), "{all}");
    std::thread::sleep(Duration::from_secs(1));
    let inbox = s.mailbox("alice@hato.test", "INBOX");
    assert_eq!(inbox.len(), 2, "alice's INBOX gets only bob's two: {inbox:?}\n{}", s.log());
    assert_eq!(s.mailbox("bob@hato.test", "INBOX").len(), 2, "one vacation reply, not two");
    assert!(s.log().contains("script=main"), "deliveries name the script:\n{}", s.log());
    // Administrators see and change the same scripts with hato ctl.
    let listed = s.ctl_json(&["sieve", "list", "alice@hato.test"]);
    assert_eq!(listed, serde_json::json!([{"name": "main", "active": true}]));
    s.ok(&["sieve", "activate", "alice@hato.test"]);
    assert_eq!(s.ctl_json(&["sieve", "list", "alice@hato.test"])[0]["active"], false);
}

#[test]
fn server_script_refuses_and_discards_before_queueing() {
    let dir = temp_dir("sieve-server");
    let path = dir.join("server.sieve");
    std::fs::write(&path, "require \"reject\";\nif header :contains \"subject\" \"FORBIDDEN\" { reject \"Forbidden subjects are refused here.\"; }\nelsif address :domain \"from\" \"blackhole.example\" { discard; }\n").unwrap();
    let s = Server::start("sieve-server", &format!("{FAST_QUEUE}[sieve]\nserver_script = \"{}\"\n", path.display()));
    s.populate("hato.test", &["alice"]);
    let r = send(&s, "x@remote.example", "Subject: FORBIDDEN fruit", "no");
    assert!(r.starts_with("550 5.7.1") && r.contains("Forbidden subjects are refused here."), "{r}");
    assert!(send(&s, "y@remote.example", "From: <y@blackhole.example>\r\nSubject: hello", "gone").starts_with("250"));
    assert!(send(&s, "z@remote.example", "Subject: fine", "kept").starts_with("250"));
    assert_eq!(s.wait_mailbox("alice@hato.test", "INBOX", 1, T).len(), 1);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(s.mailbox("alice@hato.test", "INBOX").len(), 1, "only the fine one is delivered");
    let log = s.log();
    assert!(
        log.contains("verdict=\"reject\"") && log.contains("verdict=\"discard\"") && log.contains("filter=\"sieve\""),
        "{log}"
    );
    // The archive still holds both, marked.
    let archived = s.ctl_json(&["archive", "search"]);
    let dispositions: Vec<&str> =
        archived.as_array().unwrap().iter().filter_map(|a| a["disposition"].as_str()).collect();
    assert!(dispositions.contains(&"rejected") && dispositions.contains(&"discarded"), "{archived}");

    // A broken server script is refused by hato ctl sieve check, and stops
    // the server from starting, naming the place.
    std::fs::write(&path, "if true {\n  frobnicate;\n}\n").unwrap();
    let check = s.ctl(&["sieve", "check", path.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(2), "hato ctl sieve check refuses it");
    assert!(
        String::from_utf8_lossy(&check.stderr).contains("line 2, column 3"),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut s = s;
    s.kill9();
    let config = s.config.clone();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hato"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2, column 3: unknown command \"frobnicate\""), "{err}");
}
