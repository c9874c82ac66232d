//! MTA-STS (RFC 8461) end to end: dnsmasq publishes the domains' MX and
//! `_mta-sts` records, a Python HTTPS server their policies, and aiosmtpd
//! sinks with certificates from a test CA (openssl) stand in for their mail
//! hosts. A domain in `enforce` mode gets its mail only over TLS verified
//! for an MX host its policy names; otherwise the message waits in the
//! queue. A domain without a policy still gets opportunistic TLS.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::pki::{issue, make_ca};
use common::*;

const T: Duration = Duration::from_secs(30);

/// The policies' HTTPS server: `policies` are (host, policy text).
fn policy_server(dir: &Path, cert: &Path, key: &Path, policies: &[(&str, &str)]) -> (u16, KillOnDrop) {
    let root = dir.join("policies");
    std::fs::create_dir_all(&root).unwrap();
    for (host, text) in policies {
        std::fs::write(root.join(host), text).unwrap();
    }
    let port = free_port();
    let mut child = Command::new(PYTHON)
        .arg(py_script("policy_server.py"))
        .arg(port.to_string())
        .arg(cert)
        .arg(key)
        .arg(&root)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start policy_server.py");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    (port, KillOnDrop(child))
}

#[test]
fn an_enforced_policy_gets_verified_tls_to_a_listed_host_or_the_mail_waits() {
    let dir = temp_dir("mta-sts-pki");
    let ca = make_ca(&dir);
    let (web_cert, web_key) = issue(&dir, "web", &["mta-sts.sts.test", "mta-sts.bad.test", "mta-sts.other.test"]);
    let (good_cert, good_key) = issue(&dir, "good", &["mx.sts.test", "mx.other.test"]);
    // Trusted, but for a name none of these domains uses.
    let (wrong_cert, wrong_key) = issue(&dir, "wrong", &["mx.wrong.test"]);
    let enforce = |mx: &str| format!("version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 86400\n");
    let (https_port, _web) = policy_server(
        &dir,
        &web_cert,
        &web_key,
        &[
            ("mta-sts.sts.test", &enforce("mx.sts.test")),
            ("mta-sts.bad.test", &enforce("*.bad.test")),
            ("mta-sts.other.test", &enforce("elsewhere.other.test")),
        ],
    );
    let mut records = vec!["--local=/test/".to_string(), "--local-ttl=60".to_string()];
    for d in ["sts.test", "bad.test", "other.test", "plain.test"] {
        records.push(format!("--mx-host={d},mx.{d},10"));
        records.push(format!("--host-record=mx.{d},127.0.0.1"));
        if d != "plain.test" {
            records.push(format!("--txt-record=_mta-sts.{d},v=STSv1; id=20261203"));
            records.push(format!("--host-record=mta-sts.{d},127.0.0.1"));
        }
    }
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    let dns = Dns::start(&records);

    let good = Sink::start("accept", Some((&good_cert, &good_key)));
    let wrong = Sink::start("accept", Some((&wrong_cert, &wrong_key)));
    let hato = |tag: &str, mx_port: u16| {
        let s = Server::start(
            tag,
            &format!(
                "{FAST_QUEUE}[delivery]\ndns_servers = [\"127.0.0.1:{}\"]\nmx_port = {mx_port}\nmta_sts_port = {https_port}\nca_file = \"{}\"\n",
                dns.port,
                ca.display()
            ),
        );
        s.populate("hato.test", &["alice"]);
        s
    };

    // Enforced, listed host, certificate valid for it: delivered over TLS.
    let a = hato("sts-good", good.port);
    send_as_alice(&a, "bob@sts.test", "by the policy");
    let got = good.wait_messages(1, T);
    assert_eq!(got.len(), 1, "{}", a.log());
    assert_eq!(got[0]["tls"], true);
    assert!(a.log().contains("MTA-STS policy fetched") && a.log().contains("domain=\"sts.test\""), "{}", a.log());

    // Enforced, but the policy names none of the domain's MX hosts: waits.
    send_as_alice(&a, "carol@other.test", "no listed host");
    assert!(a.wait_log("MTA-STS: the policy of other.test names none of its mail hosts", T), "{}", a.log());
    assert_eq!(good.messages().len(), 1, "nothing went to the unlisted host");

    // Enforced, listed host, certificate for another name: waits.
    let b = hato("sts-wrong", wrong.port);
    send_as_alice(&b, "dave@bad.test", "wrong certificate");
    assert!(b.wait_log("TLS with a verified certificate failed", T), "{}", b.log());
    assert!(wrong.messages().is_empty());
    assert_eq!(b.queue().len(), 1, "deferred, kept for the next attempt");

    // No policy: opportunistic TLS as before, whatever the certificate.
    send_as_alice(&b, "erin@plain.test", "no policy");
    let got = wrong.wait_messages(1, T);
    assert_eq!(got.len(), 1, "{}", b.log());
    assert_eq!((got[0]["to"][0].as_str(), got[0]["tls"].as_bool()), (Some("erin@plain.test"), Some(true)));
}
