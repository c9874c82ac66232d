//! A resolver that answers late or never does not hold inbound mail: all DNS
//! lookups of one transaction (SPF at MAIL FROM, DKIM and DMARC at the end
//! of DATA, blocklists) share one time budget (`[smtp] dns_budget_ms`, 3 s
//! by default), after which the checks left are temperror and the message is
//! accepted. The late answers still reach the cache for the next message,
//! and a check that failed is answered temperror without asking for a while.
//! The resolvers are dnsmasq behind `tests/py/slow_dns.py`, which holds
//! every answer 4 s or drops it.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The bound: a transaction completes in at most 4 s whatever DNS does.
const HELD_AT_MOST: Duration = Duration::from_secs(4);

fn slow_resolver(delay: &str, upstream: Option<u16>) -> (u16, KillOnDrop) {
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.arg(py_script("slow_dns.py")).arg(port.to_string()).arg(delay);
    if let Some(u) = upstream {
        cmd.arg(u.to_string());
    }
    let child = cmd.stdout(Stdio::null()).spawn().expect("start slow_dns.py");
    std::thread::sleep(Duration::from_millis(500));
    (port, KillOnDrop(child))
}

/// An MX on the default budget, with a URI blocklist so that every kind of
/// DNS check is made.
fn server(tag: &str, dns_port: u16) -> Server {
    let s = Server::start(
        tag,
        &format!(
            "[delivery]\ndns_servers = [\"127.0.0.1:{dns_port}\"]\n[spam]\nuribl = [\"uribl.test\"]\n[mail_auth]\nverify = true\n"
        ),
    );
    s.populate("example.net", &["bob"]);
    s
}

/// Sends one message from `from` and returns the reply to DATA and how long the transaction took.
fn send_timed(s: &Server, from: &str, n: usize) -> (String, Duration) {
    let domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let message = format!(
        "From: <{from}>\r\nTo: <bob@example.net>\r\nDate: {}\r\nMessage-ID: <budget-{n}@{domain}>\r\nSubject: budget {n}\r\n\r\nSee http://www.{domain}/offer\r\n",
        date_now()
    );
    let began = Instant::now();
    let reply = smtp_send(s.mx, from, "bob@example.net", message.as_bytes());
    (reply, began.elapsed())
}

fn authentication_results(s: &Server, uid: i64) -> String {
    let m = s.cat("bob@example.net", uid);
    m.split("\r\n\r\n").next().unwrap_or_default().to_string()
}

#[test]
fn a_resolver_that_never_answers_costs_a_transaction_at_most_its_budget() {
    let (dns_port, _dns) = slow_resolver("never", None);
    let s = server("dns-dead", dns_port);

    let (reply, took) = send_timed(&s, "alice@dead.test", 1);
    assert!(reply.starts_with("250"), "{reply}\n{}", s.log());
    assert!(took < HELD_AT_MOST, "held {took:?} by a dead resolver\n{}", s.log());
    s.wait_mailbox("bob@example.net", "INBOX", 1, Duration::from_secs(15));
    let head = authentication_results(&s, 1);
    assert!(head.contains("spf=temperror") && head.contains("dkim=temperror"), "{head}");
    assert!(!head.contains("SPF_FAIL") && !head.contains("DMARC_FAIL"), "a temperror adds no penalty: {head}");
    assert!(s.log().contains("within the transaction's time budget"), "{}", s.log());

    // When the abandoned lookups finally fail, the failure is remembered:
    // the next message from that domain does not wait at all.
    assert!(s.wait_log("key=spf:dead.test", Duration::from_secs(40)), "{}", s.log());
    let (reply, took) = send_timed(&s, "alice@dead.test", 2);
    assert!(reply.starts_with("250") && took < HELD_AT_MOST, "{reply} after {took:?}");
    assert!(s.log().contains("lookups failed a moment ago"), "{}", s.log());
    s.wait_mailbox("bob@example.net", "INBOX", 2, Duration::from_secs(15));
    assert!(authentication_results(&s, 2).contains("spf=temperror"));
}

#[test]
fn a_resolver_that_answers_after_four_seconds_is_not_waited_for_and_its_answers_serve_later_mail() {
    let real = Dns::start(&[
        "--txt-record=slow.test,v=spf1 ip4:127.0.0.1 -all",
        "--txt-record=_dmarc.slow.test,v=DMARC1; p=none",
        "--local=/test/",
        // dnsmasq's own records have TTL 0 unless told: nothing would be cached.
        "--local-ttl=300",
    ]);
    let (dns_port, _dns) = slow_resolver("4", Some(real.port));
    let s = server("dns-slow", dns_port);

    let (reply, took) = send_timed(&s, "alice@slow.test", 1);
    assert!(reply.starts_with("250"), "{reply}\n{}", s.log());
    assert!(took < HELD_AT_MOST, "held {took:?} by a slow resolver\n{}", s.log());
    s.wait_mailbox("bob@example.net", "INBOX", 1, Duration::from_secs(15));
    assert!(authentication_results(&s, 1).contains("spf=temperror"), "{}", authentication_results(&s, 1));

    // The answers arrive after the first transaction moved on and are kept:
    // a later message from the same domain passes SPF without waiting.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut n = 1;
    loop {
        std::thread::sleep(Duration::from_secs(2));
        n += 1;
        let (reply, took) = send_timed(&s, "alice@slow.test", n);
        assert!(reply.starts_with("250") && took < HELD_AT_MOST, "{reply} after {took:?}\n{}", s.log());
        s.wait_mailbox("bob@example.net", "INBOX", n, Duration::from_secs(15));
        let head = authentication_results(&s, n as i64);
        if head.contains("spf=pass") && !head.contains("temperror") {
            assert!(head.contains("dmarc=pass"), "{head}");
            break;
        }
        assert!(Instant::now() < deadline, "the late answers never served a message:\n{head}\n{}", s.log());
    }
}

/// The appliance's unbound, run with its own configuration file
/// (rootfs/etc/hato/unbound.conf) on a free port, forwarding as `hato init`
/// makes it forward: to the site's DNS server (dnsmasq), its private zone
/// asked without DNSSEC validation.
#[test]
fn the_appliances_resolver_forwards_to_the_sites_dns_and_serves_hatos_checks() {
    let site = Dns::start(&[
        "--txt-record=corp.test,v=spf1 ip4:127.0.0.1 -all",
        "--txt-record=_dmarc.corp.test,v=DMARC1; p=reject",
        "--local=/test/",
        "--local-ttl=300",
    ]);
    let mut servers = hato::supervisor::unbound::nameservers("nameserver 127.0.0.1\nnameserver 127.0.0.2\n");
    assert!(servers.is_empty(), "loopback servers are never forwarders");
    servers.push(format!("127.0.0.1@{}", site.port));
    let site_part = hato::supervisor::unbound::forward_config(&servers, &["test".into()]);
    let (port, _unbound) = appliance_unbound(&site_part);

    let s = server("dns-unbound", port);
    let (reply, _) = send_timed(&s, "alice@corp.test", 1);
    assert!(reply.starts_with("250"), "{reply}\n{}", s.log());
    s.wait_mailbox("bob@example.net", "INBOX", 1, Duration::from_secs(15));
    let head = authentication_results(&s, 1);
    assert!(head.contains("spf=pass") && head.contains("dmarc=pass"), "{head}\n{}", s.log());
    // A forged sender of that domain is refused: its p=reject came through unbound too.
    let forged = "From: <ceo@corp.test>\r\nTo: <bob@example.net>\r\nSubject: pay\r\n\r\nnow\r\n";
    let reply = smtp_send(s.mx, "ceo@forged.test", "bob@example.net", forged.as_bytes());
    assert!(reply.starts_with("550") && reply.contains("DMARC"), "{reply}\n{}", s.log());
}
