//! The AgentX subagent against a real net-snmp: `hato supervise` runs snmpd
//! (master agent) and `hato serve`; net-snmp's own tools (snmpget, snmpwalk,
//! snmpbulkwalk, snmpset, snmptranslate) ask the questions, snmptrapd
//! receives the alert notifications.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const COMMUNITY: &str = "hato-test";

fn mib_dirs() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    format!("{}:{}", root.join("tests/mibs").display(), root.join("mibs").display())
}

/// Runs a net-snmp tool with only HATO-MIB (and the test base modules) loaded.
fn snmp(tool: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(tool).env("MIBDIRS", mib_dirs()).env("MIBS", "HATO-MIB").args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn spawn_logged(cmd: &mut Command) -> (KillOnDrop, Arc<Mutex<String>>) {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let l2 = log.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            l2.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    (KillOnDrop(child), log)
}

#[test]
fn mta_and_hato_mibs_through_a_real_snmpd_and_alerts_as_traps() {
    // The MIB file itself loads in net-snmp without a single complaint.
    let (ok, text) = snmp("snmptranslate", &["-Tp"]);
    assert!(ok && text.contains("hatoAlertRaised(1)") && !text.contains("Cannot") && !text.contains("rror"), "{text}");

    let server = Server::prepare("snmp", "");
    server.populate("snmp.test", &["ops"]);
    let dir = temp_dir("snmp-agent");
    let (agent_port, trap_port) = (free_port(), free_port());
    let agentx = dir.join("agentx.sock");
    let traps = dir.join("traps.log");

    std::fs::write(dir.join("snmptrapd.conf"), "disableAuthorization yes\n").unwrap();
    let _trapd = KillOnDrop(
        Command::new("/usr/sbin/snmptrapd")
            .env("SNMP_PERSISTENT_DIR", dir.join("trapd-state"))
            .args(["-f", "-On", "-C", "-c"])
            .arg(dir.join("snmptrapd.conf"))
            .arg("-Lf")
            .arg(&traps)
            .arg(format!("udp:127.0.0.1:{trap_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    std::fs::write(
        dir.join("snmpd.conf"),
        format!(
            "agentAddress udp:127.0.0.1:{agent_port}\nrocommunity {COMMUNITY} 127.0.0.1\n\
             trap2sink 127.0.0.1:{trap_port} {COMMUNITY}\nmaster agentx\nagentXSocket {}\n",
            agentx.display()
        ),
    )
    .unwrap();
    let sup_cfg = dir.join("supervisor.toml");
    std::fs::write(
        &sup_cfg,
        format!(
            r#"log_dir = "{logs}"
stop_timeout_secs = 5

[snmp]
agentx_socket = "{agentx}"
control_socket = "{control}"

[[service]]
name = "snmpd"
command = ["/usr/sbin/snmpd", "-f", "-Lo", "-I", "-mta_sendmail", "-C", "-c", "{snmpd_conf}", "-p", "{dir}/snmpd.pid"]
env = [["SNMP_PERSISTENT_DIR", "{dir}/snmpd-state"], ["MIBS", ""]]
ready = {{ unix = "{agentx}" }}
restart = {{ initial_backoff_ms = 200, max_backoff_ms = 1000, min_uptime_secs = 1, give_up_after = 10, ready_timeout_secs = 30 }}

[[service]]
name = "hato"
after = ["snmpd"]
command = ["{bin}", "serve", "--config", "{hato_conf}"]
ready = {{ tcp = "127.0.0.1:{mx}" }}

[[service]]
name = "flaky"
after = ["hato"]
command = ["/bin/sh", "-c", "exit 1"]
restart = {{ initial_backoff_ms = 50, max_backoff_ms = 100, min_uptime_secs = 5, give_up_after = 2, ready_timeout_secs = 5 }}
"#,
            logs = dir.join("logs").display(),
            agentx = agentx.display(),
            control = server.dir.join("data/control.sock").display(),
            snmpd_conf = dir.join("snmpd.conf").display(),
            dir = dir.display(),
            bin = BIN,
            hato_conf = server.config.display(),
            mx = server.mx,
        ),
    )
    .unwrap();
    let (sup, log) = spawn_logged(Command::new(BIN).args(["supervise", "--config"]).arg(&sup_cfg));
    let sup_log = || log.lock().unwrap().clone();
    assert!(
        until(Duration::from_secs(60), || sup_log().contains("AgentX session open")),
        "no AgentX session:\n{}",
        sup_log()
    );
    assert!(until(Duration::from_secs(30), || sup_log().contains("ready service=hato")), "{}", sup_log());

    // One message in over SMTP, delivered to a local mailbox.
    let date = date_now();
    let reply = smtp_send(server.mx, "someone@example.org", "ops@snmp.test", format!("From: someone@example.org\r\nTo: ops@snmp.test\r\nSubject: counted\r\nDate: {date}\r\nMessage-ID: <snmp-1@example.org>\r\n\r\nhello\r\n").as_bytes());
    assert!(reply.starts_with("250"), "{reply}");
    server.wait_mailbox("ops@snmp.test", "INBOX", 1, Duration::from_secs(20));

    let agent = format!("127.0.0.1:{agent_port}");
    let get = |oid: &str| snmp("snmpget", &["-v2c", "-c", COMMUNITY, "-On", "-t", "3", "-r", "2", &agent, oid]).1;
    // applIndex 2 is "hato" (services in start order). mtaReceivedMessages and
    // mtaTransmittedRecipients (local delivery) count the message.
    assert!(
        until(Duration::from_secs(10), || get("1.3.6.1.2.1.28.1.1.1.2").contains("Counter32: 1")),
        "{}\n{}",
        get("1.3.6.1.2.1.28.1.1.1.2"),
        sup_log()
    );
    assert!(get("1.3.6.1.2.1.28.1.1.9.2").contains("Counter32: 1"), "{}", get("1.3.6.1.2.1.28.1.1.9.2"));

    // applTable: a row per service; applOperStatus up(1) for hato, halted(3) for the one that gave up.
    assert!(until(Duration::from_secs(20), || sup_log().contains("service.flaky.failed")), "{}", sup_log());
    let (ok, names) = snmp("snmpwalk", &["-v2c", "-c", COMMUNITY, "-On", &agent, "1.3.6.1.2.1.27.1.1.2"]);
    assert!(ok && names.contains("\"snmpd\"") && names.contains("\"hato\"") && names.contains("\"flaky\""), "{names}");
    let (_, status) = snmp("snmpwalk", &["-v2c", "-c", COMMUNITY, "-On", &agent, "1.3.6.1.2.1.27.1.1.6"]);
    assert!(
        status.contains(".1.3.6.1.2.1.27.1.1.6.2 = INTEGER: 1")
            && status.contains(".1.3.6.1.2.1.27.1.1.6.3 = INTEGER: 3"),
        "{status}"
    );

    // HATO-MIB by name: what is served matches the shipped MIB file.
    let (ok, hato) = snmp("snmpwalk", &["-v2c", "-c", COMMUNITY, &agent, "HATO-MIB::hatoMIB"]);
    assert!(ok, "{hato}");
    for want in [
        "HATO-MIB::hatoReceivedMessages.0 = Counter64: 1",
        "HATO-MIB::hatoLocalDeliveries.0 = Counter64: 1",
        "HATO-MIB::hatoServiceName.3 = STRING: \"flaky\"",
        "HATO-MIB::hatoServiceState.3 = INTEGER: failed(5)",
        "HATO-MIB::hatoServiceState.2 = INTEGER: running(3)",
        "HATO-MIB::hatoQueueMessages.0 = Gauge32: 0",
        // A node on its own store: standalone, serving, a cluster of one.
        "HATO-MIB::hatoClusterBackend.0 = INTEGER: standalone(1)",
        "HATO-MIB::hatoClusterServing.0 = INTEGER: yes(1)",
        "HATO-MIB::hatoClusterSize.0 = Gauge32: 1",
    ] {
        assert!(hato.contains(want), "missing {want} in:\n{hato}");
    }
    // GetBulk answers the same objects as GetNext.
    let (_, walked) = snmp("snmpwalk", &["-v2c", "-c", COMMUNITY, "-On", &agent, "1.3.6.1.2.1.28"]);
    let (_, bulk) = snmp("snmpbulkwalk", &["-v2c", "-c", COMMUNITY, "-On", "-Cr7", &agent, "1.3.6.1.2.1.28"]);
    let oids = |t: &str| t.lines().filter_map(|l| l.split(" = ").next().map(str::to_string)).collect::<Vec<_>>();
    assert!(oids(&walked).len() > 20 && oids(&walked) == oids(&bulk), "walk:\n{walked}\nbulk:\n{bulk}");
    // Read-only.
    let (ok, set) = snmp("snmpset", &["-v2c", "-c", COMMUNITY, &agent, "HATO-MIB::hatoVersion.0", "s", "x"]);
    assert!(!ok && (set.contains("notWritable") || set.contains("noAccess") || set.contains("not writable")), "{set}");

    // The give-up alert arrived at the trap receiver as hatoAlertRaised with its key.
    let trap_text = || std::fs::read_to_string(&traps).unwrap_or_default();
    assert!(
        until(Duration::from_secs(20), || trap_text().contains(".1.3.6.1.4.1.99999.0.1")
            && trap_text().contains("service.flaky.failed")),
        "traps:\n{}\nsupervisor:\n{}",
        trap_text(),
        sup_log()
    );

    // snmpd dies; the supervisor restarts it and the subagent finds it again.
    let pid: i32 = std::fs::read_to_string(dir.join("snmpd.pid")).unwrap().trim().parse().unwrap();
    Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(
        until(Duration::from_secs(60), || sup_log().matches("AgentX session open").count() >= 2
            && get("1.3.6.1.2.1.28.1.1.1.2").contains("Counter32: 1")),
        "subagent did not come back:\n{}",
        sup_log()
    );
    drop(sup);
    drop(server);
}
