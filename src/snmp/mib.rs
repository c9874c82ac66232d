//! What the subagent answers: NETWORK-SERVICES-MIB's applTable (RFC 2788),
//! MTA-MIB's mtaTable and mtaGroupTable (RFC 2789) and HATO-MIB
//! (mibs/HATO-MIB.txt), built from the supervisor's board, the health
//! monitor's latest report and the mail server's counters.
//!
//! Every number here must match the MIB text's column numbers; the test in
//! tests/snmp.rs walks these tables through a real snmpd and translates the
//! answers with that MIB file.

use std::time::Instant;

use super::agentx::{Oid, Value};
use super::tree::Tree;
use crate::control::Status;
use crate::health::{Report, Severity};
use crate::supervisor::ServiceStatus;

/// Hato's enterprise arc. 99999 is a placeholder until IANA assigns Hato a
/// Private Enterprise Number; it is written here and in mibs/HATO-MIB.txt only.
pub const HATO: [u32; 7] = [1, 3, 6, 1, 4, 1, 99999];
pub const APPL_TABLE: [u32; 8] = [1, 3, 6, 1, 2, 1, 27, 1];
pub const MTA: [u32; 7] = [1, 3, 6, 1, 2, 1, 28];
/// snmpTrapOID.0: the first varbind of every notification.
pub const SNMP_TRAP_OID: [u32; 11] = [1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0];

/// The subtrees registered with the master agent.
pub fn subtrees() -> [Vec<u32>; 3] {
    [APPL_TABLE.to_vec(), MTA.to_vec(), HATO.to_vec()]
}

/// Everything the tables are built from, read at one moment.
pub struct Inputs<'a> {
    pub services: &'a [ServiceStatus],
    /// The mail server's status; None when it is not answering.
    pub server: Option<&'a Status>,
    pub health: Option<&'a Report>,
    /// When the master agent (snmpd) started: sysUpTime's zero, for TimeStamp columns.
    pub snmpd_started: Option<Instant>,
    pub now: Instant,
    pub unix_now: i64,
}

fn oid(base: &[u32], tail: &[u32]) -> Oid {
    let mut o = base.to_vec();
    o.extend_from_slice(tail);
    o
}

fn c32(n: u64) -> Value {
    // Counter32 wraps, as managers expect of it.
    Value::Counter32(n as u32)
}

fn g32(n: u64) -> Value {
    Value::Gauge32(n.min(u32::MAX as u64) as u32)
}

fn kbytes(n: u64) -> u64 {
    n / 1024
}

/// The service state as applOperStatus: up(1), down(2), halted(3).
fn oper_status(state: &str) -> i32 {
    match state {
        "running" => 1,
        "failed" => 3,
        _ => 2,
    }
}

/// HATO-MIB's HatoServiceState.
fn service_state(state: &str) -> i32 {
    match state {
        "waiting" => 1,
        "starting" => 2,
        "running" => 3,
        "restarting" => 4,
        "failed" => 5,
        "stopping" => 6,
        _ => 7,
    }
}

pub fn build(i: &Inputs) -> Tree {
    let mut t = Tree::default();
    network_services(&mut t, i);
    if let Some(s) = i.server {
        mta(&mut t, s, mail_index(i.services), i.unix_now);
        hato_mail(&mut t, s, i.unix_now);
        hato_cluster(&mut t, s);
    }
    hato_appliance(&mut t, i);
    t
}

/// The applIndex of the mail server: the supervised service named "hato", else 1.
fn mail_index(services: &[ServiceStatus]) -> u32 {
    services.iter().position(|s| s.name == "hato").map_or(1, |p| p as u32 + 1)
}

fn timestamp(i: &Inputs, at: Option<Instant>) -> Value {
    // TimeStamp: sysUpTime when it happened; 0 if before the agent started.
    let ticks = match (i.snmpd_started, at) {
        (Some(zero), Some(at)) if at > zero => (at - zero).as_millis() / 10,
        _ => 0,
    };
    Value::TimeTicks(ticks.min(u32::MAX as u128) as u32)
}

fn network_services(t: &mut Tree, i: &Inputs) {
    let entry = oid(&APPL_TABLE, &[1]);
    let mail = mail_index(i.services);
    for (n, s) in i.services.iter().enumerate() {
        let idx = [n as u32 + 1];
        let col = |c: u32| oid(&entry, &[c]);
        t.cell(&col(2), &idx, Value::string(&s.name));
        t.cell(&col(3), &idx, Value::string(""));
        t.cell(&col(4), &idx, Value::string(if idx[0] == mail { env!("CARGO_PKG_VERSION") } else { "" }));
        let up = if s.state == "running" { s.since } else { None };
        t.cell(&col(5), &idx, timestamp(i, up));
        t.cell(&col(6), &idx, Value::Integer(oper_status(s.state)));
        t.cell(&col(7), &idx, timestamp(i, s.since));
        if let (true, Some(st)) = (idx[0] == mail, i.server) {
            let c = &st.stats;
            t.cell(&col(8), &idx, g32(c.smtp_sessions + c.imap_sessions + c.pop3_sessions));
            t.cell(&col(9), &idx, g32(c.outbound_sessions));
            t.cell(&col(10), &idx, c32(c.smtp_sessions_total + c.imap_sessions_total + c.pop3_sessions_total));
            t.cell(&col(11), &idx, c32(c.outbound_sessions_total));
            t.cell(&col(14), &idx, c32(c.connections_refused));
            t.cell(&col(15), &idx, c32(c.relay_failures));
        }
        t.cell(&col(16), &idx, Value::string(description(&s.name)));
    }
}

fn description(service: &str) -> &'static str {
    match service {
        "hato" => "Hato mail server: SMTP, submission, IMAP, POP3, ManageSieve",
        "snmpd" => "net-snmp master agent",
        "clamd" => "ClamAV virus scanner",
        "freshclam" => "ClamAV signature updates",
        "galera" => "MariaDB Galera cluster store",
        "vrrp" => "keepalived: the cluster's service addresses",
        _ => "",
    }
}

fn mta(t: &mut Tree, s: &Status, appl: u32, unix_now: i64) {
    let c = &s.stats;
    let q = s.queue.clone().unwrap_or_default();
    let entry = oid(&MTA, &[1, 1]);
    let idx = [appl];
    let transmitted = c.relayed_messages + c.local_deliveries;
    for (col, v) in [
        (1, c32(c.received_messages)),
        (2, g32(q.messages)),
        (3, c32(transmitted)),
        (4, c32(kbytes(c.received_bytes))),
        (5, g32(kbytes(q.bytes))),
        (6, c32(kbytes(c.relayed_bytes))),
        (7, c32(c.received_recipients)),
        (8, g32(q.recipients)),
        (9, c32(c.relayed_recipients + c.local_deliveries)),
        // Hato never converts messages between formats.
        (10, c32(0)),
        (11, c32(0)),
        (12, c32(c.loops_detected)),
    ] {
        t.cell(&oid(&entry, &[col]), &idx, v);
    }
    // Groups: 1 receives over SMTP, 2 relays to other servers, 3 files into local mailboxes.
    let oldest = q.oldest.map_or(0, |o| (unix_now - o).max(0) as u64 * 100);
    let groups: [(&str, [(u32, Value); 11]); 3] = [
        (
            "smtp-in",
            [
                (2, c32(c.received_messages)),
                (3, c32(c.rejected_messages)),
                (4, g32(q.messages)),
                (5, c32(0)),
                (6, c32(kbytes(c.received_bytes))),
                (9, c32(c.received_recipients)),
                (11, c32(0)),
                (12, g32(oldest)),
                (13, g32(c.smtp_sessions)),
                (15, c32(c.smtp_sessions_total)),
                (19, c32(c.connections_refused)),
            ],
        ),
        (
            "smtp-out",
            [
                (2, c32(0)),
                (3, c32(0)),
                (4, g32(0)),
                (5, c32(c.relayed_messages)),
                (6, c32(0)),
                (8, c32(kbytes(c.relayed_bytes))),
                (9, c32(0)),
                (11, c32(c.relayed_recipients)),
                (14, g32(c.outbound_sessions)),
                (16, c32(c.outbound_sessions_total)),
                (20, c32(c.relay_failures)),
            ],
        ),
        (
            "mailbox",
            [
                (2, c32(0)),
                (3, c32(0)),
                (4, g32(0)),
                (5, c32(c.local_deliveries)),
                (6, c32(0)),
                (8, c32(0)),
                (9, c32(0)),
                (11, c32(c.local_deliveries)),
                (13, g32(0)),
                (14, g32(0)),
                (15, c32(0)),
            ],
        ),
    ];
    let gentry = oid(&MTA, &[2, 1]);
    for (g, (name, cols)) in groups.into_iter().enumerate() {
        let idx = [appl, g as u32 + 1];
        for (col, v) in cols {
            t.cell(&oid(&gentry, &[col]), &idx, v);
        }
        t.cell(&oid(&gentry, &[25]), &idx, Value::string(name));
    }
}

/// HATO-MIB's mail objects: version, queue, traffic, filter verdicts.
fn hato_mail(t: &mut Tree, s: &Status, unix_now: i64) {
    let obj = oid(&HATO, &[1]);
    let c = &s.stats;
    t.set(oid(&obj, &[1, 1, 0]), Value::string(&s.version));
    if let Some(q) = &s.queue {
        let age = q.oldest.map_or(0, |o| (unix_now - o).max(0) as u64);
        for (n, v) in
            [(1, g32(q.messages)), (2, g32(q.recipients)), (3, g32(q.held)), (4, g32(kbytes(q.bytes))), (5, g32(age))]
        {
            t.set(oid(&obj, &[2, n, 0]), v);
        }
    }
    for (n, v) in [
        (1, c.received_messages),
        (2, c.rejected_messages),
        (3, c.relayed_messages),
        (4, c.local_deliveries),
        (8, c.connections_refused),
    ] {
        t.set(oid(&obj, &[3, n, 0]), Value::Counter64(v));
    }
    for (n, v) in [(5, c.smtp_sessions), (6, c.imap_sessions), (7, c.pop3_sessions)] {
        t.set(oid(&obj, &[3, n, 0]), g32(v));
    }
    for (n, v) in [
        (1, c.verdict_virus),
        (2, c.verdict_blocked),
        (3, c.verdict_spam_junk),
        (4, c.verdict_spam_quarantine),
        (5, c.verdict_spam_reject),
        (6, c.verdict_auth_reject),
        (7, c.verdict_script_reject),
    ] {
        t.set(oid(&obj, &[4, n, 0]), Value::Counter64(v));
    }
}

/// HATO-MIB's cluster objects: the store backend, whether this node serves,
/// its component's size, and every store node as this one sees it.
fn hato_cluster(t: &mut Tree, s: &Status) {
    let Some(st) = &s.store else { return };
    let obj = oid(&HATO, &[1, 10]);
    let galera = st.backend == "galera";
    let yes_no = |b: bool| Value::Integer(if b { 1 } else { 2 });
    let size = if galera { st.nodes.iter().find(|n| n.local).map_or(0, |n| n.cluster_size as u64) } else { 1 };
    t.set(oid(&obj, &[1, 0]), Value::Integer(if galera { 2 } else { 1 }));
    t.set(oid(&obj, &[2, 0]), yes_no(st.serving));
    t.set(oid(&obj, &[3, 0]), g32(size));
    let node = oid(&obj, &[4, 1]);
    for (n, x) in st.nodes.iter().enumerate() {
        let idx = [n as u32 + 1];
        t.cell(&oid(&node, &[2]), &idx, Value::string(&x.address));
        t.cell(&oid(&node, &[3]), &idx, Value::string(&x.state));
        t.cell(&oid(&node, &[4]), &idx, Value::string(&x.cluster));
        t.cell(&oid(&node, &[5]), &idx, yes_no(x.serving));
        t.cell(&oid(&node, &[6]), &idx, yes_no(x.local));
    }
}

/// HATO-MIB's appliance tables: services, RAID arrays, disks, active alerts.
fn hato_appliance(t: &mut Tree, i: &Inputs) {
    let obj = oid(&HATO, &[1]);
    let svc = oid(&obj, &[5, 1]);
    for (n, s) in i.services.iter().enumerate() {
        let idx = [n as u32 + 1];
        t.cell(&oid(&svc, &[2]), &idx, Value::string(&s.name));
        t.cell(&oid(&svc, &[3]), &idx, Value::Integer(service_state(s.state)));
        t.cell(&oid(&svc, &[4]), &idx, c32(s.restarts));
        t.cell(&oid(&svc, &[5]), &idx, Value::Integer(s.pid.unwrap_or(0)));
    }
    let Some(h) = i.health else { return };
    let raid = oid(&obj, &[6, 1]);
    for (n, a) in h.arrays.iter().enumerate() {
        let idx = [n as u32 + 1];
        // ok(1) degraded(2) rebuilding(3) inactive(4)
        let status = if !a.active {
            4
        } else if a.sync.is_some() && a.degraded() {
            3
        } else if a.degraded() {
            2
        } else {
            1
        };
        t.cell(&oid(&raid, &[2]), &idx, Value::string(&a.name));
        t.cell(&oid(&raid, &[3]), &idx, Value::string(&a.level));
        t.cell(&oid(&raid, &[4]), &idx, Value::Integer(status));
        t.cell(&oid(&raid, &[5]), &idx, g32(a.raid_disks as u64));
        t.cell(&oid(&raid, &[6]), &idx, g32(a.working as u64));
        t.cell(&oid(&raid, &[7]), &idx, g32(a.sync.as_ref().map_or(0, |s| (s.percent * 10.0) as u64)));
    }
    let disk = oid(&obj, &[7, 1]);
    for (n, d) in h.disks.iter().enumerate() {
        let idx = [n as u32 + 1];
        // passed(1) failed(2) unknown(3)
        let health = match d.verdict() {
            crate::health::smart::Verdict::Passed => 1,
            crate::health::smart::Verdict::Failed => 2,
            crate::health::smart::Verdict::Unknown => 3,
        };
        t.cell(&oid(&disk, &[2]), &idx, Value::string(&d.device));
        t.cell(&oid(&disk, &[3]), &idx, Value::string(&d.model));
        t.cell(&oid(&disk, &[4]), &idx, Value::string(&d.serial));
        t.cell(&oid(&disk, &[5]), &idx, Value::Integer(health));
        t.cell(&oid(&disk, &[6]), &idx, Value::Integer(d.temperature_c.map_or(-1, |c| c as i32)));
        t.cell(&oid(&disk, &[7]), &idx, g32(d.nvme_percentage_used.unwrap_or(0)));
    }
    let alert = oid(&obj, &[8, 1]);
    for (n, (key, (sev, text))) in h.conditions.iter().enumerate() {
        let idx = [n as u32 + 1];
        t.cell(&oid(&alert, &[2]), &idx, Value::string(key));
        t.cell(&oid(&alert, &[3]), &idx, Value::Integer(severity(sev)));
        t.cell(&oid(&alert, &[4]), &idx, Value::string(text));
    }
}

/// HatoSeverity: info(1) warning(2) critical(3).
pub fn severity(s: &Severity) -> i32 {
    match s {
        Severity::Info => 1,
        Severity::Warning => 2,
        Severity::Critical => 3,
    }
}

/// The varbinds of hatoAlertRaised / hatoAlertCleared.
pub fn alert_notification(raised: bool, key: &str, sev: &Severity, text: &str) -> Vec<(Oid, Value)> {
    let trap = oid(&HATO, &[0, if raised { 1 } else { 2 }]);
    let objs = oid(&HATO, &[1, 9]);
    vec![
        (SNMP_TRAP_OID.to_vec(), Value::ObjectId(trap)),
        (oid(&objs, &[1, 0]), Value::string(key)),
        (oid(&objs, &[2, 0]), Value::Integer(severity(sev))),
        (oid(&objs, &[3, 0]), Value::string(text)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Snapshot;
    use crate::store::QueueSummary;

    #[test]
    fn tables_carry_the_counters() {
        let now = Instant::now();
        let services = vec![
            ServiceStatus { name: "snmpd".into(), state: "running", pid: Some(10), restarts: 0, since: Some(now) },
            ServiceStatus { name: "hato".into(), state: "failed", pid: None, restarts: 4, since: Some(now) },
        ];
        let status = Status {
            version: "1.2.3".into(),
            started: 0,
            connections: 0,
            stats: Snapshot {
                received_messages: 5,
                received_bytes: 4096,
                local_deliveries: 3,
                verdict_virus: 1,
                ..Snapshot::default()
            },
            queue: Some(QueueSummary { messages: 2, recipients: 3, bytes: 2048, held: 1, oldest: Some(1000) }),
            ..Status::default()
        };
        let i = Inputs {
            services: &services,
            server: Some(&status),
            health: None,
            snmpd_started: Some(now),
            now,
            unix_now: 1060,
        };
        let t = build(&i);
        // applOperStatus of hato (index 2) is halted(3); its version is ours.
        assert_eq!(t.get(&[1, 3, 6, 1, 2, 1, 27, 1, 1, 6, 2]), Value::Integer(3));
        assert_eq!(t.get(&[1, 3, 6, 1, 2, 1, 27, 1, 1, 4, 2]), Value::string(env!("CARGO_PKG_VERSION")));
        // mtaReceivedMessages and mtaReceivedVolume (KB) at the hato row.
        assert_eq!(t.get(&[1, 3, 6, 1, 2, 1, 28, 1, 1, 1, 2]), Value::Counter32(5));
        assert_eq!(t.get(&[1, 3, 6, 1, 2, 1, 28, 1, 1, 4, 2]), Value::Counter32(4));
        // mtaGroupOldestMessageStored of smtp-in: 60 s in hundredths.
        assert_eq!(t.get(&[1, 3, 6, 1, 2, 1, 28, 2, 1, 12, 2, 1]), Value::Gauge32(6000));
        assert_eq!(t.get(&[1, 3, 6, 1, 2, 1, 28, 2, 1, 25, 2, 3]), Value::string("mailbox"));
        // HATO-MIB: queue held, virus verdicts, service restarts.
        assert_eq!(t.get(&oid(&HATO, &[1, 2, 3, 0])), Value::Gauge32(1));
        assert_eq!(t.get(&oid(&HATO, &[1, 4, 1, 0])), Value::Counter64(1));
        assert_eq!(t.get(&oid(&HATO, &[1, 5, 1, 4, 2])), Value::Counter32(4));
    }

    #[test]
    fn the_cluster_objects_show_the_store_nodes_as_this_one_sees_them() {
        let node = |address: &str, state: &str, serving, local| crate::store::NodeStatus {
            address: address.into(),
            state: state.into(),
            cluster: if serving { "Primary".into() } else { String::new() },
            cluster_size: 2,
            local,
            serving,
            members: Vec::new(),
        };
        let status = Status {
            store: Some(crate::store::StoreStatus {
                backend: "galera".into(),
                serving: true,
                detail: String::new(),
                nodes: vec![node("10.0.0.1:3306", "Synced", true, true), node("10.0.0.3:3306", "down", false, false)],
            }),
            ..Status::default()
        };
        let now = Instant::now();
        let i = Inputs { services: &[], server: Some(&status), health: None, snmpd_started: None, now, unix_now: 0 };
        let t = build(&i);
        let c = oid(&HATO, &[1, 10]);
        assert_eq!(t.get(&oid(&c, &[1, 0])), Value::Integer(2), "galera(2)");
        assert_eq!(t.get(&oid(&c, &[2, 0])), Value::Integer(1), "serving");
        assert_eq!(t.get(&oid(&c, &[3, 0])), Value::Gauge32(2), "the local node's component");
        assert_eq!(t.get(&oid(&c, &[4, 1, 2, 2])), Value::string("10.0.0.3:3306"));
        assert_eq!(t.get(&oid(&c, &[4, 1, 3, 2])), Value::string("down"));
        assert_eq!(t.get(&oid(&c, &[4, 1, 5, 2])), Value::Integer(2), "not serving");
        assert_eq!(t.get(&oid(&c, &[4, 1, 6, 1])), Value::Integer(1), "this machine's node");
    }

    #[test]
    fn without_the_mail_server_only_service_rows_remain() {
        let services =
            vec![ServiceStatus { name: "hato".into(), state: "restarting", pid: None, restarts: 1, since: None }];
        let now = Instant::now();
        let t =
            build(&Inputs { services: &services, server: None, health: None, snmpd_started: None, now, unix_now: 0 });
        assert_eq!(t.get(&[1, 3, 6, 1, 2, 1, 27, 1, 1, 6, 1]), Value::Integer(2));
        assert_eq!(t.get(&[1, 3, 6, 1, 2, 1, 28, 1, 1, 1, 1]), Value::NoSuchObject);
    }
}
