//! Certificates from an ACME CA (RFC 8555) against Debian's pebble, a real
//! ACME server that validates http-01 challenges by connecting to the names
//! ordered (resolved by dnsmasq) on Hato's plain-HTTP port. Hato orders,
//! answers the challenges, puts the certificate in force on its TLS
//! listeners, renews when due, and raises the `acme` alert when the CA
//! cannot be reached.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pki::{issue, make_ca};
use common::*;

const T: Duration = Duration::from_secs(120);

struct Pebble {
    directory: String,
    ca: std::path::PathBuf,
    http_port: u16,
    _child: KillOnDrop,
    // After the child: pebble is stopped before its files go.
    _dir: TempDir,
}

/// pebble with its listener's certificate from a test CA, validating
/// http-01 on `http_port` of the addresses `dns` gives.
fn pebble(dns: &Dns) -> Pebble {
    let dir = temp_dir("pebble");
    let ca = make_ca(&dir);
    let (cert, key) = issue(&dir, "pebble", &["localhost"]);
    let (port, management, http_port, tls_port) = (free_port(), free_port(), free_port(), free_port());
    let config = serde_json::json!({ "pebble": {
        "listenAddress": format!("127.0.0.1:{port}"),
        "managementListenAddress": format!("127.0.0.1:{management}"),
        "certificate": cert, "privateKey": key,
        "httpPort": http_port, "tlsPort": tls_port,
        "ocspResponderURL": "", "externalAccountBindingRequired": false,
    }});
    std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();
    let child = Command::new("/usr/bin/pebble")
        .args(["-config", dir.join("pebble.json").to_str().unwrap(), "-dnsserver", &format!("127.0.0.1:{}", dns.port)])
        // No random wait before validating (pebble's default is up to 15 s).
        .env("PEBBLE_VA_NOSLEEP", "1")
        .stdout(std::fs::File::create(dir.join("pebble.log")).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pebble (scripts/deps installs it)");
    wait_listening(port, "pebble");
    Pebble { directory: format!("https://localhost:{port}/dir"), ca, http_port, _child: KillOnDrop(child), _dir: dir }
}

fn acme_config(directory: &str, ca: &Path, http_port: u16, extra: &str) -> String {
    format!(
        "[web]\nhttp_listen = \"127.0.0.1:{http_port}\"\n[acme]\ndirectory = \"{directory}\"\n\
         domains = [\"mail.acme.test\", \"www.acme.test\"]\ncontact = \"postmaster@acme.test\"\n\
         ca_file = \"{}\"\ncheck_interval_secs = 2\n{extra}",
        ca.display()
    )
}

/// The certificate a TLS listener of `s` presents: its issuer and names.
fn served_certificate(port: u16) -> String {
    let script = format!(
        "openssl s_client -connect 127.0.0.1:{port} -servername mail.acme.test </dev/null 2>/dev/null \
         | openssl x509 -noout -issuer -ext subjectAltName"
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_certificate_is_obtained_put_in_force_and_renewed_when_due() {
    let dns = Dns::start(&["--host-record=mail.acme.test,127.0.0.1", "--host-record=www.acme.test,127.0.0.1"]);
    let ca = pebble(&dns);
    let s = Server::start("acme", &acme_config(&ca.directory, &ca.ca, ca.http_port, ""));
    let before = served_certificate(s.imaps);
    assert!(!before.contains("Pebble"), "self-signed at first: {before}");
    assert!(s.wait_log("certificate obtained and in force", T), "{}", s.log());
    assert!(s.log().contains("http-01 challenge answered"), "pebble asked on port 80's stand-in: {}", s.log());
    let now = served_certificate(s.imaps);
    assert!(now.contains("Pebble Intermediate CA"), "{now}");
    assert!(now.contains("DNS:mail.acme.test") && now.contains("DNS:www.acme.test"), "{now}");

    // Looked at again every 2 s: not due, so not ordered again.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(s.log().matches("ordering a certificate").count(), 1, "{}", s.log());
    // Plain HTTP answers nothing but the challenges: the rest is sent to HTTPS.
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"])
        .arg(format!("http://127.0.0.1:{}/admin?x=1", ca.http_port))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "308 https://127.0.0.1/admin?x=1");

    // Due as soon as it has fewer days left than renew_days: renewed.
    drop(s);
    let renewing =
        Server::start("acme-renew", &acme_config(&ca.directory, &ca.ca, ca.http_port, "renew_days = 100000\n"));
    let deadline = Instant::now() + T;
    while renewing.log().matches("certificate obtained and in force").count() < 2 {
        assert!(Instant::now() < deadline, "not renewed: {}", renewing.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(served_certificate(renewing.imaps).contains("Pebble Intermediate CA"));
}

#[test]
fn an_unreachable_ca_raises_the_acme_alert_and_the_certificate_stays() {
    let dir = temp_dir("acme-ca");
    let ca = make_ca(&dir);
    let closed = free_port();
    let s = Server::start("acme-down", &acme_config(&format!("https://localhost:{closed}/dir"), &ca, free_port(), ""));
    assert!(s.wait_log("condition=acme", T), "{}", s.log());
    assert!(s.log().contains("ACME renewal failed: cannot reach localhost"), "{}", s.log());
    let served = served_certificate(s.imaps);
    assert!(served.contains("issuer=") && !served.contains("Pebble"), "the self-signed one stays: {served}");

    // A directory that is not https:// is refused when the server starts.
    let bad = Server::prepare("acme-bad", &acme_config("http://plain.example/dir", &ca, free_port(), ""));
    let out = Command::new(BIN).args(["serve", "--config"]).arg(&bad.config).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("acme.directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
