//! SPF, DKIM and DMARC end to end between two Hato servers, with a real DNS
//! server (dnsmasq) publishing the records: mail a user submits on one is
//! DKIM-signed with the key `hato ctl dkim generate` made, and the other
//! verifies SPF, DKIM and DMARC into Authentication-Results; a forged sender
//! whose domain says p=reject is refused, p=quarantine goes to Junk, and a
//! message altered after signing shows dkim=fail.

mod common;

use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(30);

fn cat(s: &Server, account: &str, mailbox: &str, uid: i64) -> String {
    let out = s.ctl(&["mailbox", "cat", account, &uid.to_string(), "--mailbox", mailbox]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dkim_signed_by_one_verified_by_the_other_with_spf_and_dmarc() {
    let dns_port = free_port();
    let receiver = Server::start(
        "mailauth-rx",
        &format!(
            "[delivery]\ndns_servers = [\"127.0.0.1:{dns_port}\"]\n[mail_auth]\nverify = true\ndmarc_enforce = true\n"
        ),
    );
    receiver.populate("example.net", &["bob"]);
    let sender = Server::start(
        "mailauth-tx",
        &format!("{FAST_QUEUE}[delivery.routes]\n\"example.net\" = \"127.0.0.1:{}\"\n", receiver.mx),
    );
    sender.populate("hato.test", &["alice"]);

    let made = sender.ctl_json(&["dkim", "generate", "hato.test", "--selector", "s2026"]);
    assert_eq!(made["name"], "s2026._domainkey.hato.test.", "{made}");
    let value = made["value"].as_str().unwrap().to_string();
    assert!(value.starts_with("v=DKIM1; k=rsa; p="), "{value}");
    assert_eq!(sender.ctl_json(&["dkim", "list"])[0]["domain"], "hato.test");
    let bad = sender.ctl(&["dkim", "generate", "hato.test", "--selector", "no good"]);
    assert_eq!(bad.status.code(), Some(2), "a bad selector is a usage error");

    // The records an administrator would publish, split into 255-byte strings.
    let chunks: Vec<String> = value.as_bytes().chunks(255).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    let dkim_record = format!("--txt-record=s2026._domainkey.hato.test,{}", chunks.join(","));
    let _dns = Dns::start_on(
        dns_port,
        &[
            &dkim_record,
            "--txt-record=hato.test,v=spf1 ip4:127.0.0.1 -all",
            "--txt-record=_dmarc.hato.test,v=DMARC1; p=reject",
            "--txt-record=forged.test,v=spf1 -all",
            "--txt-record=_dmarc.forged.test,v=DMARC1; p=reject",
            "--txt-record=quar.test,v=spf1 -all",
            "--txt-record=_dmarc.quar.test,v=DMARC1; p=quarantine",
            // Authoritative for all of .test: NXDOMAIN for everything else
            // (DMARC walks up the tree, SPF asks the HELO name).
            "--local=/test/",
        ],
    );

    // Submitted by alice (smtplib), signed by the sender, verified by the receiver.
    let (ok, out) = submit(&[
        "--port",
        &sender.submission.to_string(),
        "--user",
        "alice@hato.test",
        "--password",
        "pw-alice",
        "--sender",
        "alice@hato.test",
        "--to",
        "bob@example.net",
        "--subject",
        "signed",
        "--message-id",
        "<signed-1@hato.test>",
    ]);
    assert!(ok, "{out}");
    let got = receiver.wait_mailbox("bob@example.net", "INBOX", 1, T);
    assert_eq!(got.len(), 1, "sender log:\n{}\nreceiver log:\n{}", sender.log(), receiver.log());
    let m = cat(&receiver, "bob@example.net", "INBOX", 1);
    assert!(
        m.contains("DKIM-Signature: v=1; a=rsa-sha256;") && m.contains("d=hato.test") && m.contains("s=s2026"),
        "{m}"
    );
    let results = m
        .split("Authentication-Results: ")
        .nth(1)
        .unwrap_or_default()
        .split("\r\nX-Spam")
        .next()
        .unwrap_or_default()
        .to_string();
    for want in ["spf=pass", "dkim=pass", "header.d=hato.test", "dmarc=pass"] {
        assert!(results.contains(want), "{want} missing from {results}\n{m}");
    }
    assert!(sender.log().contains("DKIM-signed"), "{}", sender.log());

    // Altered after signing: the body hash no longer matches.
    let original = m.split_once("DKIM-Signature:").map(|(_, rest)| format!("DKIM-Signature:{rest}")).unwrap();
    let altered = original.replace("Hello from smtplib.", "Hello from someone else.");
    assert!(smtp_send(receiver.mx, "alice@hato.test", "bob@example.net", altered.as_bytes()).starts_with("250"));
    receiver.wait_mailbox("bob@example.net", "INBOX", 2, T);
    let m2 = cat(&receiver, "bob@example.net", "INBOX", 2);
    let first = m2.split("\r\n\r\n").next().unwrap_or_default().to_string();
    assert!(first.contains("dkim=neutral (body hash did not verify)") && first.contains("DKIM_INVALID"), "{m2}");

    // A forged sender whose domain publishes p=reject: refused at DATA.
    let forged = "From: CEO <ceo@forged.test>\r\nTo: bob@example.net\r\nSubject: wire transfer\r\n\r\nPay now.";
    let r = smtp_send(receiver.mx, "ceo@forged.test", "bob@example.net", forged.as_bytes());
    assert!(r.starts_with("550 5.7.1") && r.contains("DMARC"), "{r}\n{}", receiver.log());
    // p=quarantine: accepted into Junk.
    let q = format!(
        "From: <x@quar.test>\r\nTo: bob@example.net\r\nDate: {}\r\nMessage-ID: <q1@quar.test>\r\nSubject: hello\r\n\r\nhi",
        date_now()
    );
    assert!(smtp_send(receiver.mx, "x@quar.test", "bob@example.net", q.as_bytes()).starts_with("250"));
    let junk = receiver.wait_mailbox("bob@example.net", "Junk", 1, T);
    assert_eq!(junk.len(), 1, "{}", receiver.log());
    let j = cat(&receiver, "bob@example.net", "Junk", 1);
    assert!(j.contains("spf=fail") && j.contains("dmarc=fail") && j.contains("DMARC_QUARANTINE"), "{j}");

    sender.ok(&["dkim", "remove", "hato.test"]);
    assert_eq!(sender.ctl(&["dkim", "show", "hato.test"]).status.code(), Some(2));
}
