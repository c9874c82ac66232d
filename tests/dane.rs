//! DANE (RFC 7672) end to end: a DNSSEC-signed zone (ldns-signzone) served
//! by NSD, validated by the appliance's own unbound with a trust anchor for
//! it, and aiosmtpd sinks with openssl-made certificates as the domains'
//! mail hosts. A host whose TLSA records match its certificate gets the
//! mail; one whose records do not match gets nothing and the mail waits.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::pki::{issue, make_ca};
use common::*;

const T: Duration = Duration::from_secs(30);

fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(script).current_dir(dir).output().expect("run sh");
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// SHA-256 of a certificate's public key (TLSA selector 1, matching 1).
fn spki_sha256(dir: &Path, cert: &Path) -> String {
    let c = cert.display();
    sh(
        dir,
        &format!("openssl x509 -in {c} -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1"),
    )
}

/// SHA-256 of a whole certificate (selector 0, matching 1).
fn cert_sha256(dir: &Path, cert: &Path) -> String {
    sh(dir, &format!("openssl x509 -in {} -outform DER | sha256sum | cut -d' ' -f1", cert.display()))
}

/// Signs `zone` for dane.test and serves it with NSD; returns NSD's port and
/// the DS record file to trust.
fn signed_zone(dir: &Path, zone: &str) -> (u16, std::path::PathBuf, KillOnDrop) {
    std::fs::write(dir.join("dane.test.zone"), zone).unwrap();
    let key = sh(dir, "ldns-keygen -a ECDSAP256SHA256 -k dane.test");
    sh(dir, &format!("ldns-signzone -f dane.test.signed dane.test.zone {key}"));
    let port = free_port();
    let d = dir.display();
    std::fs::write(
        dir.join("nsd.conf"),
        format!(
            "server:\n  ip-address: 127.0.0.1@{port}\n  do-ip6: no\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  \
             database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  xfrdfile: \"{d}/xfrd.state\"\n  pidfile: \"{d}/nsd.pid\"\n  \
             logfile: \"{d}/nsd.log\"\n  server-count: 1\nremote-control:\n  control-enable: no\n\
             zone:\n  name: dane.test\n  zonefile: \"{d}/dane.test.signed\"\n"
        ),
    )
    .unwrap();
    let nsd = Command::new("/usr/sbin/nsd")
        .args(["-d", "-c"])
        .arg(dir.join("nsd.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nsd (scripts/deps installs it)");
    let nsd = KillOnDrop(nsd);
    wait_listening(port, "nsd (its log is nsd.log in the test's directory)");
    (port, dir.join(format!("{key}.ds")), nsd)
}

#[test]
fn tlsa_records_decide_which_host_gets_the_mail() {
    let dir = temp_dir("dane-pki");
    let ca = make_ca(&dir);
    let (ee_cert, ee_key) = issue(&dir, "ee", &["mx.ee.dane.test"]);
    let (ta_cert, ta_key) = issue(&dir, "ta", &["mx.ta.dane.test"]);
    // DANE-TA needs the anchor in the chain the server sends.
    let ta_chain = dir.join("ta-chain.pem");
    std::fs::write(&ta_chain, [std::fs::read(&ta_cert).unwrap(), std::fs::read(&ca).unwrap()].concat()).unwrap();
    let (other_cert, _) = issue(&dir, "other", &["mx.bad.dane.test"]);
    let (bad_cert, bad_key) = issue(&dir, "bad", &["mx.bad.dane.test"]);

    let port = free_port();
    let mut zone = String::from(
        "$ORIGIN dane.test.\n$TTL 300\n@ SOA ns.dane.test. admin.dane.test. 1 3600 600 86400 300\n@ NS ns.dane.test.\nns A 127.0.0.1\n",
    );
    for (i, d) in ["ee", "ta", "bad"].iter().enumerate() {
        zone.push_str(&format!("{d} MX 10 mx.{d}.dane.test.\nmx.{d} A 127.0.0.{}\n", i + 1));
    }
    zone.push_str(&format!("_{port}._tcp.mx.ee TLSA 3 1 1 {}\n", spki_sha256(&dir, &ee_cert)));
    zone.push_str(&format!("_{port}._tcp.mx.ta TLSA 2 0 1 {}\n", cert_sha256(&dir, &ca)));
    // The bad host's record names another key than the one it serves.
    zone.push_str(&format!("_{port}._tcp.mx.bad TLSA 3 1 1 {}\n", spki_sha256(&dir, &other_cert)));
    let (nsd_port, ds, _nsd) = signed_zone(&dir, &zone);
    let site = format!(
        "server:\n    trust-anchor-file: \"{}\"\n    local-zone: \"test.\" transparent\nstub-zone:\n    name: \"dane.test\"\n    stub-addr: 127.0.0.1@{nsd_port}\n",
        ds.display()
    );
    let (resolver, _unbound) = appliance_unbound(&site);

    let ee = Sink::start_at("127.0.0.1", port, "accept", Some((&ee_cert, &ee_key)));
    let ta = Sink::start_at("127.0.0.2", port, "accept", Some((&ta_chain, &ta_key)));
    let bad = Sink::start_at("127.0.0.3", port, "accept", Some((&bad_cert, &bad_key)));
    // No ca_file: DANE does not need the CA to be trusted.
    let s = Server::start(
        "dane",
        &format!(
            "{FAST_QUEUE}[delivery]\ndns_servers = [\"127.0.0.1:{resolver}\"]\nmx_port = {port}\nmta_sts = false\n\
             [log]\nlevel = \"info,hato::queue=debug\"\n"
        ),
    );
    s.populate("hato.test", &["alice"]);
    send_as_alice(&s, "user@ee.dane.test", "to a DANE-EE host");
    send_as_alice(&s, "user@ta.dane.test", "to a DANE-TA host");
    send_as_alice(&s, "user@bad.dane.test", "to a host its records do not match");

    for (sink, what) in [(&ee, "DANE-EE"), (&ta, "DANE-TA")] {
        let got = sink.wait_messages(1, T);
        assert_eq!(got.len(), 1, "{what}: {}", s.log());
        assert_eq!(got[0]["tls"], true, "{what}: DANE delivery is over TLS");
    }
    assert!(s.wait_log("TLS failed the host's DANE TLSA records", T), "{}", s.log());
    for host in ["mx.ee.dane.test", "mx.ta.dane.test", "mx.bad.dane.test"] {
        let applied = |l: &&str| l.contains("DANE applies") && l.contains(&format!("host={host} records=1"));
        assert!(s.log().lines().any(|l| applied(&l)), "{host}: {}", s.log());
    }
    std::thread::sleep(Duration::from_secs(2));
    assert!(bad.messages().is_empty(), "the host whose certificate matches no TLSA record got the mail");
    let queue = s.queue();
    assert_eq!(queue.len(), 1, "the message for the mismatched host waits: {queue:?}");
    assert_eq!(queue[0]["entries"][0]["recipient"], "user@bad.dane.test");
}
