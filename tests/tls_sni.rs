//! One certificate per mail domain: `[tls] sni` entries are presented to
//! clients that ask for one of their names (SNI), on every TLS listener —
//! implicit TLS, STARTTLS and the web console; anyone else gets the main one.

mod common;

use std::process::Command;

use common::pki::{issue, make_ca};
use common::*;

/// The subject of the certificate `port` presents to a client asking for `name`.
fn subject(port: u16, name: &str, starttls: Option<&str>) -> String {
    let mut script = format!("openssl s_client -connect 127.0.0.1:{port} -servername {name}");
    if let Some(proto) = starttls {
        script.push_str(&format!(" -starttls {proto}"));
    }
    script.push_str(" </dev/null 2>/dev/null | openssl x509 -noout -subject");
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn each_domain_gets_its_own_certificate_by_sni() {
    let dir = temp_dir("sni-pki");
    make_ca(&dir);
    let (a_cert, a_key) = issue(&dir, "a", &["mail.a.test"]);
    let (b_cert, b_key) = issue(&dir, "b", &["mail.b.test", "imap.b.test"]);
    let s = Server::start(
        "sni",
        &format!(
            "[[tls.sni]]\nnames = [\"mail.a.test\"]\ncert = \"{}\"\nkey = \"{}\"\n\
             [[tls.sni]]\nnames = [\"*.b.test\"]\ncert = \"{}\"\nkey = \"{}\"\n",
            a_cert.display(),
            a_key.display(),
            b_cert.display(),
            b_key.display()
        ),
    );
    for (port, starttls) in [(s.imaps, None), (s.submissions, None), (s.web, None), (s.submission, Some("smtp"))] {
        assert!(subject(port, "mail.a.test", starttls).contains("CN = mail.a.test"), "port {port}");
        assert!(subject(port, "imap.b.test", starttls).contains("CN = mail.b.test"), "port {port}: wildcard");
        let other = subject(port, "other.example", starttls);
        assert!(!other.contains(".a.test") && !other.contains(".b.test") && !other.is_empty(), "port {port}: {other}");
    }
    // A missing file is a startup error naming it.
    let bad = Server::prepare(
        "sni-bad",
        "[[tls.sni]]\nnames = [\"x.test\"]\ncert = \"/nonexistent.pem\"\nkey = \"/nonexistent.key\"\n",
    );
    let out = Command::new(BIN).args(["serve", "--config"]).arg(&bad.config).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent.pem"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
