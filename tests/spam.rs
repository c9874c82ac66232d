//! Spam scoring: the Bayesian classifier cross-validated by `hato ctl spam
//! eval` on a slice of the labelled corpus (the full run is
//! scripts/eval-spam), and the score at work on the MX port.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn classifier_separates_the_corpus() {
    let corpus = format!("{}/../shared/corpus/spamassassin-dev", env!("CARGO_MANIFEST_DIR"));
    let dir = temp_dir("spam-eval");
    for (label, n) in [("ham", 300), ("spam", 150)] {
        let to = dir.join(label);
        std::fs::create_dir_all(&to).unwrap();
        let mut names: Vec<_> =
            std::fs::read_dir(format!("{corpus}/{label}")).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        // Every k-th file, so each of the corpus's source folders is represented.
        let step = (names.len() / n).max(1);
        for p in names.iter().step_by(step).take(n) {
            std::fs::copy(p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
    let config = dir.join("hato.toml");
    std::fs::write(&config, format!("data_dir = \"{}\"\n", dir.join("data").display())).unwrap();
    let out = ctl_in(
        &config,
        &[
            "spam",
            "eval",
            "--ham",
            dir.join("ham").to_str().unwrap(),
            "--spam",
            dir.join("spam").to_str().unwrap(),
            "--json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let at = |t: f64| {
        report["rows"].as_array().unwrap().iter().find(|r| r["threshold"].as_f64() == Some(t)).cloned().unwrap()
    };
    let r = at(0.9);
    eprintln!("{report}");
    assert!(r["spam_recall"].as_f64().unwrap() > 0.7, "{report}");
    assert!(r["ham_false_positive_rate"].as_f64().unwrap() < 0.03, "{report}");
    let bad = ctl_in(&config, &["spam", "eval", "--ham", "/nonexistent", "--spam", "/nonexistent"], None);
    assert_eq!(bad.status.code(), Some(2), "a missing directory is a usage error");
}

const T: Duration = Duration::from_secs(20);

/// Sends one message to alice over the MX port; returns the final reply.
fn send(s: &Server, message: &str) -> String {
    smtp_send(s.mx, "sender@remote.example", "alice@hato.test", message.as_bytes())
}

fn cat(s: &Server, mailbox: &str, uid: i64) -> String {
    let out = s.ctl(&["mailbox", "cat", "alice@hato.test", &uid.to_string(), "--mailbox", mailbox]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stats(s: &Server) -> (i64, i64) {
    let v = s.ctl_json(&["spam", "stats"]);
    (v["spam"].as_i64().unwrap(), v["ham"].as_i64().unwrap())
}

fn wait_stats(s: &Server, want: (i64, i64)) -> (i64, i64) {
    let deadline = std::time::Instant::now() + T;
    while stats(s) != want && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    stats(s)
}

/// A message that trips every header rule (5.5 points) and links to `link`.
fn rules_spam(subject: &str, link: &str) -> String {
    format!(
        "From: \"security@bank.example\" <x@phish.example>\r\nSubject: {subject}\r\nContent-Type: text/html\r\n\r\n<p>Confirm at <a href=\"http://{link}/login\">http://{link}/login</a></p>"
    )
}

fn good(subject: &str, body: &str) -> String {
    // Now, so no date rule fires whenever the test runs.
    let date = date_now();
    format!(
        "From: Bob <bob@remote.example>\r\nTo: alice@hato.test\r\nDate: {date}\r\nMessage-ID: <{}@remote.example>\r\nSubject: {subject}\r\n\r\n{body}",
        subject.replace(' ', ".")
    )
}

/// Spam scoring end to end: header rules, URIBL answers from a real resolver
/// talking to a test DNS server, the classifier taught by `hato ctl spam
/// learn`; each threshold's action (X-Spam headers, Junk, quarantine, 554);
/// forged X-Spam headers removed; learning from IMAP moves and from a release.
#[test]
fn spam_is_scored_filed_held_refused_and_learnt() {
    let dns = Dns::start(&[
        "--host-record=held-link.example.uribl-a.test,127.0.0.2",
        "--host-record=refused-link.example.uribl-a.test,127.0.0.2",
        "--host-record=refused-link.example.uribl-b.test,127.0.0.2",
        "--local=/uribl-a.test/",
        "--local=/uribl-b.test/",
    ]);
    let s = Server::start(
        "spam-path",
        &format!(
            "{FAST_QUEUE}[delivery]\ndns_servers = [\"127.0.0.1:{}\"]\n[spam]\njunk_at = 5.0\nquarantine_at = 8.0\nreject_at = 11.0\nmin_trained = 20\nuribl = [\"uribl-a.test\", \"uribl-b.test\"]\n[imap]\nallow_plaintext_auth = true\n",
            dns.port
        ),
    );
    s.populate("hato.test", &["alice"]);

    // Below every threshold: delivered to INBOX with the verdict in headers; forged ones gone.
    let forged = good("Lunch", "See you at noon.").replacen(
        "\r\n\r\n",
        "\r\nX-Spam-Flag: YES\r\nX-Spam-Status: Yes, forged\r\n\r\n",
        1,
    );
    assert!(send(&s, &forged).starts_with("250"));
    s.wait_mailbox("alice@hato.test", "INBOX", 1, T);
    let m = cat(&s, "INBOX", 1);
    assert!(m.contains("X-Spam-Score: 0.0\r\nX-Spam-Status: No, score=0.0 required=5.0 tests=none\r\n"), "{m}");
    assert!(!m.contains("X-Spam-Flag") && !m.contains("forged"), "forged headers must be removed: {m}");

    // Rules alone (5.5): marked and filed into Junk.
    assert!(send(&s, &rules_spam("URGENT ACCOUNT NOTICE", "plain-link.example")).starts_with("250"));
    let junk = s.wait_mailbox("alice@hato.test", "Junk", 1, T);
    assert_eq!(junk.len(), 1, "{}", s.log());
    let m = cat(&s, "Junk", 1);
    assert!(
        m.contains("X-Spam-Flag: YES\r\n")
            && m.contains("tests=MISSING_DATE=1.0,MISSING_MID=0.5,MISSING_TO=0.5,SUBJ_ALL_CAPS=1.0"),
        "{m}"
    );

    // One URIBL listing more (8.5): quarantined, still 250.
    assert!(send(&s, &rules_spam("URGENT ACCOUNT NOTICE", "held-link.example")).starts_with("250"));
    let held = s.ctl_json(&["quarantine", "list"]);
    assert_eq!(held.as_array().map(Vec::len), Some(1), "{held}\n{}", s.log());
    assert_eq!(held[0]["filter"], "spam");
    // A user's view holds only what was held for them.
    assert_eq!(s.ctl_json(&["quarantine", "list", "--account", "alice@hato.test"]).as_array().map(Vec::len), Some(1));
    assert_eq!(s.ctl_json(&["quarantine", "list", "--account", "bob@hato.test"]).as_array().map(Vec::len), Some(0));
    assert!(held[0]["reason"].as_str().unwrap().contains("URIBL_URIBL_A_TEST=3.0"), "{held}");

    // Listed on both (11.5): refused at DATA, archived as refused.
    let r = send(&s, &rules_spam("URGENT ACCOUNT NOTICE", "refused-link.example"));
    assert!(r.starts_with("554 5.7.1") && r.contains("spam (score 11.5)"), "{r}");

    // Each verdict is in a log line with the queue id.
    for verdict in ["pass", "junk", "quarantine", "reject"] {
        assert!(
            s.log().lines().any(|l| l.contains("filter=\"spam\"")
                && l.contains(&format!("verdict=\"{verdict}\""))
                && l.contains("queue_id=")),
            "no spam verdict {verdict} in the log:\n{}",
            s.log()
        );
    }

    // The classifier: silent until it knows 20 of each, then it speaks.
    let dir = temp_dir("spam-learn");
    for (kind, text) in
        [("spam", "cheap pills discount pharmacy order now"), ("ham", "quarterly budget review meeting agenda")]
    {
        std::fs::create_dir_all(dir.join(kind)).unwrap();
        for i in 0..20 {
            std::fs::write(dir.join(kind).join(i.to_string()), good(&format!("{kind} {i}"), &format!("{text} {i}")))
                .unwrap();
        }
    }
    let learnt = s.ctl_json(&["spam", "learn", "--spam", dir.join("spam").to_str().unwrap()]);
    assert_eq!((learnt["spam"].as_i64(), learnt["ham"].as_i64()), (Some(20), Some(0)));
    s.ok(&["spam", "learn", "--ham", dir.join("ham").to_str().unwrap()]);
    assert_eq!(stats(&s), (20, 20));
    assert!(send(&s, &good("Offer", "cheap pills from our discount pharmacy, order now")).starts_with("250"));
    assert!(send(&s, &good("Agenda", "the agenda for the quarterly budget review meeting")).starts_with("250"));
    let inbox = s.wait_mailbox("alice@hato.test", "INBOX", 2, T);
    let junk = s.wait_mailbox("alice@hato.test", "Junk", 2, T);
    assert_eq!((inbox.len(), junk.len()), (2, 2), "{}", s.log());
    assert!(cat(&s, "Junk", 2).contains("BAYES_999=5.0"), "{}", cat(&s, "Junk", 2));
    assert!(cat(&s, "INBOX", 2).contains("BAYES_00=-1.5"), "{}", cat(&s, "INBOX", 2));

    // Users teach it: moving into Junk is spam, out of Junk is ham.
    let script = "import imaplib,sys\nm=imaplib.IMAP4('127.0.0.1',int(sys.argv[1]))\nm.login('alice@hato.test','pw-alice')\n\
                  m.select('INBOX'); t,_=m.uid('MOVE','1','Junk'); assert t=='OK'\n\
                  m.select('Junk'); t,_=m.uid('MOVE','1','INBOX'); assert t=='OK'\nm.logout()\n";
    let (ok, out) = run(PYTHON, &["-c", script, &s.imap.to_string()]);
    assert!(ok, "{out}");
    assert_eq!(wait_stats(&s, (21, 21)), (21, 21), "{}", s.log());

    // Releasing what the spam filter held teaches ham, and delivers it.
    let id = held[0]["id"].as_str().unwrap().to_string();
    s.ok(&["quarantine", "release", &id]);
    assert_eq!(stats(&s), (21, 22));
}
