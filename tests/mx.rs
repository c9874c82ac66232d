//! Remote delivery found through real DNS (dnsmasq on loopback): MX
//! preference, falling back to the next MX, A-record fallback, NXDOMAIN.

mod common;

use std::time::Duration;

use common::*;

fn dnsmasq() -> Dns {
    Dns::start(&[
        // Preferred MX has no server (127.0.0.2), the second one works.
        "--mx-host=remote.example,mx0.remote.example,10",
        "--mx-host=remote.example,mx1.remote.example,20",
        "--host-record=mx0.remote.example,127.0.0.2",
        "--host-record=mx1.remote.example,127.0.0.1",
        // No MX at all: deliver to the domain's own address.
        "--host-record=plain.example,127.0.0.1",
        "--local=/plain.example/",
        "--local=/nowhere.example/",
    ])
}

#[test]
fn delivers_by_mx_preference_and_a_fallback() {
    let dns = dnsmasq();
    let dns_port = dns.port;
    let sink = Sink::start("accept", None);
    let s = Server::start(
        "mx-dns",
        &format!(
            "{FAST_QUEUE}[delivery]\nmx_port = {}\ndns_servers = [\"127.0.0.1:{dns_port}\"]\nconnect_timeout_secs = 3\n",
            sink.port
        ),
    );
    s.populate("hato.test", &["alice"]);
    let port = s.submission.to_string();
    for to in ["friend@remote.example", "someone@plain.example", "ghost@nowhere.example"] {
        let (ok, out) = submit(&[
            "--port",
            &port,
            "--user",
            "alice@hato.test",
            "--password",
            "pw-alice",
            "--sender",
            "alice@hato.test",
            "--to",
            to,
        ]);
        assert!(ok, "{out}");
    }
    let got = sink.wait_messages(2, Duration::from_secs(30));
    let mut rcpts: Vec<String> = got.iter().map(|m| m["to"][0].as_str().unwrap().to_string()).collect();
    rcpts.sort();
    assert_eq!(rcpts, ["friend@remote.example", "someone@plain.example"], "{}", s.log());
    let log = s.log();
    assert!(log.contains("next hop failed") && log.contains("127.0.0.2"), "the preferred MX was tried first: {log}");
    assert!(log.contains("delivered: mx1.remote.example [127.0.0.1:"), "{log}");
    assert!(log.contains("delivered: plain.example [127.0.0.1:"), "{log}");
    let inbox = s.wait_mailbox("alice@hato.test", "INBOX", 1, Duration::from_secs(20));
    let dsn = s.cat("alice@hato.test", inbox[0]["uid"].as_i64().unwrap());
    assert!(dsn.contains("domain nowhere.example does not exist"), "NXDOMAIN bounces at once: {dsn}");
}
