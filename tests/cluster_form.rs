//! Forming a cluster as an administrator does, with real MariaDB Galera
//! servers that Hato itself starts (`hato galera-node`), on three loopback
//! addresses:
//!
//! - `cluster init` on the first node, `cluster token` there, `cluster join`
//!   on the second; the third joins through the second (any member lets
//!   nodes in), by the web console's API; a used token is refused, and so is
//!   a second join. Each joiner gets a full copy by
//!   mariabackup over TLS. Mail sent to one node is read over IMAP on another.
//! - A node's database is killed (-9) while mail keeps coming through the
//!   others; started again, it recovers its position and catches up by IST,
//!   and its server shows the mail.
//! - A message trace in the first node's console covers every member.
//! - The first node learns of the third (let in by the second) from Galera.
//! - A rolling restart from the first node: each database stops in order
//!   and joins again, the first node's last, each once all three are back.
//! - An orderly stop of every node, then all started at once: the last one
//!   stopped starts the cluster again, the others join it, nobody is told to.
//! - A power loss (every database killed at once), then all started: the
//!   cluster re-forms by itself and every acknowledged message is there.
//! - The third node leaves (web console): the others forget it and go on
//!   as two (with a warning), its copy of the database is deleted, and it
//!   starts again on its own, empty store.
//!
//! Needs root (MariaDB runs as its own user) and mariadb-server, galera-4,
//! mariadb-backup, socat (scripts/deps installs them); without them the
//! test only says so, unless HATO_REQUIRE_GALERA=1.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// sql, gcomm, ist, sst, api: the same on every node, each node on its own address.
const PORTS: &str = "33306,34567,34568,34444,37443";

fn address(i: usize) -> String {
    format!("127.0.10.{i}")
}

/// One node's `hato galera-node`, which becomes its mariadbd.
struct Db {
    cluster_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Db {
    fn new(server: &Server) -> Db {
        Db { cluster_dir: server.dir.join("data/cluster"), log: server.dir.join("galera-node.log"), child: None }
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(BIN)
            .args(["galera-node", "--dir"])
            .arg(&self.cluster_dir)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start hato galera-node");
        self.child = Some(child);
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM (an orderly shutdown) and wait for the exit.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// wsrep status variables through the node's own socket (as root).
    fn status(&self, name: &str) -> String {
        let cnf = self.cluster_dir.parent().unwrap().join("mysql-run/my.cnf");
        let out = Command::new("mariadb")
            .arg(format!("--defaults-file={}", cnf.display()))
            .args(["-N", "-B", "-e", &format!("SHOW STATUS LIKE '{name}'")])
            .output();
        match out {
            Ok(o) => String::from_utf8_lossy(&o.stdout).split_whitespace().nth(1).unwrap_or("").to_string(),
            Err(_) => String::new(),
        }
    }

    /// Waits until the node is Synced in a cluster of `size`.
    fn wait_synced(&mut self, size: u32, within: Duration) {
        wait_all_synced(std::slice::from_mut(self), size, within);
    }

    fn synced(&self, size: u32) -> bool {
        self.status("wsrep_local_state_comment") == "Synced" && self.status("wsrep_cluster_size") == size.to_string()
    }

    /// Starts the database again if it has exited, as the appliance's supervisor does; counts it.
    fn restart_if_exited(&mut self) -> bool {
        let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) else { return false };
        // Why it stopped, so a run that fails later says what went wrong first.
        let log = self.log();
        let this_run = log.rfind("starting MariaDB Galera").map_or(&log[..], |i| &log[i..]);
        let errors: Vec<&str> = this_run.lines().filter(|l| l.contains("[ERROR]")).collect();
        eprintln!("galera-node of {} exited ({st}); started again", self.cluster_dir.display());
        for line in &errors[errors.len().saturating_sub(6)..] {
            eprintln!("  {line}");
        }
        self.start();
        true
    }

    /// The last "starting MariaDB Galera start=…" decision in the log.
    fn last_start(&self) -> String {
        self.starts_since(0).pop().unwrap_or_default()
    }

    /// Every start decision logged after byte `from` of the log.
    fn starts_since(&self, from: usize) -> Vec<String> {
        let log = self.log();
        log.get(from..)
            .unwrap_or("")
            .lines()
            .filter_map(|l| l.split_once("start=").map(|(_, r)| r.split_whitespace().next().unwrap_or("").to_string()))
            .collect()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Waits until every node is Synced in a cluster of `size`. A database that
/// gives up is started again, up to three times each: a node started at the
/// same moment as the one that restarts the cluster can miss it and stop
/// after 30 s, and the appliance's supervisor would start it again.
fn wait_all_synced(dbs: &mut [Db], size: u32, within: Duration) {
    let deadline = Instant::now() + within;
    let mut restarts = vec![0; dbs.len()];
    while Instant::now() < deadline {
        if dbs.iter().all(|d| d.synced(size)) {
            return;
        }
        for (db, n) in dbs.iter_mut().zip(restarts.iter_mut()) {
            if db.restart_if_exited() {
                *n += 1;
                assert!(*n <= 3, "galera-node exited {n} times:\n{}", tail(&db.log()));
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let logs: Vec<String> = dbs.iter().filter(|d| !d.synced(size)).map(|d| tail(&d.log())).collect();
    panic!("not Synced in a cluster of {size} after {within:?}:\n{}", logs.join("\n----\n"));
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn can_run() -> bool {
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
    let tools = ["/usr/sbin/mariadbd", "/usr/bin/mariabackup", "/usr/bin/socat", "/usr/lib/galera/libgalera_smm.so"]
        .iter()
        .all(|p| Path::new(p).exists());
    if root && tools {
        return true;
    }
    if std::env::var("HATO_REQUIRE_GALERA").is_ok_and(|v| v == "1") {
        panic!("HATO_REQUIRE_GALERA=1 but this test needs root and MariaDB Galera with mariabackup and socat");
    }
    eprintln!("skipped: needs root and mariadb-server, galera-4, mariadb-backup, socat (scripts/deps)");
    false
}

fn ctl_out(s: &Server, args: &[&str]) -> (bool, String) {
    let out = s.ctl(args);
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// A logged-in administrator of one server's web console, through curl.
struct Console {
    base: String,
    jar: PathBuf,
    csrf: String,
}

impl Console {
    fn login(s: &Server) -> Console {
        let out = ctl_in(&s.config, &["admin-password", "--password-stdin"], Some("admin-secret-1\n"));
        assert!(out.status.success(), "{out:?}");
        // A new session each time: a cookie of a live session would need its CSRF token.
        let _ = std::fs::remove_file(s.dir.join("cookies"));
        let mut c =
            Console { base: format!("https://127.0.0.1:{}", s.web), jar: s.dir.join("cookies"), csrf: String::new() };
        let (code, v) = c.call("POST", "/api/v1/login", Some(r#"{"user":"admin","password":"admin-secret-1"}"#));
        assert_eq!(code, 200, "{v}");
        c.csrf = v["csrf"].as_str().unwrap().to_string();
        c
    }

    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        let mut c = Command::new("curl");
        c.args(["-sk", "-o", "-", "-w", "\n%{http_code}", "-X", method, "-b"]).arg(&self.jar).arg("-c").arg(&self.jar);
        c.args(["-H", &format!("x-csrf-token: {}", self.csrf)]);
        if let Some(b) = body {
            c.args(["-H", "content-type: application/json", "--data-binary", b]);
        }
        let out = c.arg(format!("{}{path}", self.base)).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
    }
}

/// Waits up to 30 s for `check`, saying `what` if it never holds.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn shared_changes_reach_every_member(servers: &[Server]) {
    let (code, v) =
        Console::login(&servers[1]).call("PATCH", "/api/v1/settings", Some(r#"{"junk_at":7.5,"max_recipients":77}"#));
    assert_eq!(code, 200, "{v}");
    assert!(v["applies"].as_str().unwrap().contains("every member"), "{v}");
    for s in [&servers[0], &servers[2]] {
        eventually(&format!("{} never got n2's settings", s.config.display()), || {
            let text = std::fs::read_to_string(&s.config).unwrap();
            text.contains("junk_at = 7.5") && text.contains("max_recipients = 77")
        });
    }
    let n1 = Console::login(&servers[0]);
    let script = "require \"fileinto\";\nif header :contains \"subject\" \"[cluster-test]\" { fileinto \"Junk\"; }\n";
    let body = serde_json::json!({ "script": script }).to_string();
    let (code, v) = Console::login(&servers[2]).call("PUT", "/api/v1/rules", Some(&body));
    assert_eq!(code, 204, "{v}");
    eventually("n3's server script never reached n1", || n1.call("GET", "/api/v1/rules", None).1["script"] == script);

    // Service addresses: set with ctl on n3, cleared through n1's console.
    let (ok, out) = ctl_out(&servers[2], &["cluster", "vips", "10.99.0.5/24,10.99.0.6/24"]);
    assert!(ok && out.contains("10.99.0.5/24, 10.99.0.6/24"), "{out}");
    let cluster_toml = |s: &Server| std::fs::read_to_string(s.dir.join("data/cluster/cluster.toml")).unwrap();
    for s in &servers[..2] {
        eventually("n3's service addresses never reached every member", || {
            cluster_toml(s).contains(r#"addresses = ["10.99.0.5/24", "10.99.0.6/24"]"#)
        });
    }
    let (code, v) = n1.call("PUT", "/api/v1/cluster/vips", Some(r#"{"vips":[]}"#));
    assert_eq!(code, 200, "{v}");
    eventually("n3 never let go of the service addresses", || !cluster_toml(&servers[2]).contains("10.99.0.5"));
    let (code, v) = n1.call("PUT", "/api/v1/cluster/vips", Some(r#"{"vips":["mail.example"]}"#));
    assert!(code == 400 || code == 422, "{code} {v}");

    let dir = servers[0].dir.join("new-cert");
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=mail.cluster.test"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{out:?}");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let body = serde_json::json!({ "cert": read("cert.pem"), "key": read("key.pem") }).to_string();
    let (code, v) = n1.call("PUT", "/api/v1/tls", Some(&body));
    assert_eq!(code, 200, "{v}");
    let sha = v["sha256"].as_str().unwrap().to_string();
    for s in &servers[1..] {
        let console = Console::login(s);
        eventually(&format!("{} never put n1's certificate in force", s.config.display()), || {
            console.call("GET", "/api/v1/settings", None).1["tls"]["sha256"] == sha.as_str()
        });
    }
}

fn token(s: &Server) -> String {
    s.ctl_json(&["cluster", "token"])["token"].as_str().unwrap().to_string()
}

fn join(s: &Server, token: &str, i: usize) {
    let (ok, out) = ctl_out(s, &["cluster", "join", token, "--address", &address(i), "--node-name", &format!("n{i}")]);
    assert!(ok, "join of n{i}: {out}");
}

/// Message-IDs in an account's INBOX as one server's IMAPS shows them
/// (imaplib), or why not (a server whose node is not yet serving says so).
fn message_ids(s: &Server) -> Result<Vec<String>, String> {
    let (ok, out) = run(PYTHON, &[&py_script("imap_list.py"), &s.imaps.to_string(), "u@c.test", "pw-u"]);
    if !ok {
        return Err(out);
    }
    let list: Vec<(i64, String)> = serde_json::from_str(out.trim()).map_err(|e| format!("{e}: {out}"))?;
    Ok(list.into_iter().map(|(_, mid)| mid).collect())
}

fn send(s: &Server, n: usize) {
    let reply = smtp_send(
        s.mx,
        "a@ext.test",
        "u@c.test",
        format!("Subject: m{n}\r\nMessage-ID: <m{n}@ext.test>\r\n\r\nbody {n}\r\n.\r\n").as_bytes(),
    );
    assert!(reply.starts_with("250"), "message {n} refused: {reply}");
}

/// Waits until a server's IMAP shows `n` messages.
fn wait_messages(s: &Server, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match message_ids(s) {
            Ok(got) if got.len() >= n => return got,
            Ok(got) if Instant::now() > deadline => return got,
            Err(e) if Instant::now() > deadline => panic!("IMAP on {}: {e}", s.imaps),
            _ => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

#[test]
fn three_nodes_form_a_cluster_and_survive_a_crash_an_orderly_restart_and_a_power_loss() {
    if !can_run() {
        return;
    }
    let servers: Vec<Server> = (1..=3).map(|i| Server::prepare(&format!("form{i}"), FAST_QUEUE)).collect();
    let mut dbs: Vec<Db> = servers.iter().map(Db::new).collect();
    let mut servers = servers;

    // The first node: a new cluster.
    let (ok, out) = ctl_out(
        &servers[0],
        &["cluster", "init", "--address", &address(1), "--node-name", "n1", "--ports", PORTS, "--name", "formtest"],
    );
    assert!(ok, "init: {out}");
    assert!(out.contains("member of cluster formtest"), "{out}");
    dbs[0].start();
    dbs[0].wait_synced(1, Duration::from_secs(120));
    assert_eq!(dbs[0].last_start(), "NewCluster");
    servers[0].spawn();
    servers[0].populate("c.test", &["u"]);

    // The second joins through the first, the third through the second.
    let t = token(&servers[0]);
    join(&servers[1], &t, 2);
    let (ok, out) = ctl_out(&servers[2], &["cluster", "join", &t, "--address", &address(3), "--node-name", "n3"]);
    assert!(!ok && out.contains("unknown, used or expired"), "a used token must be refused: {out}");
    dbs[1].start();
    dbs[1].wait_synced(2, Duration::from_secs(180));
    assert!(dbs[1].log().contains("mariabackup"), "the copy is made by mariabackup");
    assert!(dbs[1].log().contains("openssl"), "the copy is encrypted:\n{}", tail(&dbs[1].log()));
    servers[1].spawn();
    // The third through the web console (what an appliance without a shell uses):
    // a token from n2's console, the join in n3's, which runs on SQLite until then.
    servers[2].spawn();
    let (code, v) = Console::login(&servers[1]).call("POST", "/api/v1/cluster/token", None);
    assert_eq!(code, 200, "{v}");
    let t3 = v["token"].as_str().unwrap().to_string();
    let n3 = Console::login(&servers[2]);
    let body = format!(r#"{{"token":"{t3}","address":"{}"}}"#, address(3));
    let (code, v) = n3.call("POST", "/api/v1/cluster/join", Some(&body));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["members"].as_array().unwrap().len(), 3, "{v}");
    let (code, v) = n3.call("POST", "/api/v1/cluster/join", Some(&body));
    assert!(code == 400 && v.to_string().contains("already part of a cluster"), "{code} {v}");
    dbs[2].start();
    dbs[2].wait_synced(3, Duration::from_secs(180));
    // Not under a supervisor here: restarted by hand onto the cluster store.
    servers[2].kill9();
    servers[2].spawn();
    let (code, v) = Console::login(&servers[0]).call("GET", "/api/v1/cluster", None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["node"]["node_name"], "n1", "{v}");
    assert_eq!(v["store"]["backend"], "galera", "{v}");

    send(&servers[1], 1);
    assert_eq!(wait_messages(&servers[2], 1), ["<m1@ext.test>"], "mail sent to n2 is read on n3");
    // n1's console traces it over every member: n2 accepted it, each line names its node.
    let (code, v) = Console::login(&servers[0]).call("GET", "/api/v1/trace?q=%3Cm1@ext.test%3E", None);
    assert_eq!(code, 200, "{v}");
    let lines = v.as_array().unwrap();
    assert!(
        lines.iter().any(|l| l["node"] == address(2).as_str() && l["message"] == "accepted"),
        "n2's accept line is in n1's trace: {v}"
    );
    assert!(lines.iter().all(|l| l["level"] != "WARN" || l["target"] != "hato::cluster"), "every member answered: {v}");

    // A crash of n2's database while mail comes in through n1.
    dbs[1].kill9();
    send(&servers[0], 2);
    dbs[1].start();
    dbs[1].wait_synced(3, Duration::from_secs(180));
    assert_eq!(dbs[1].last_start(), "RecoverThenJoin");
    assert!(dbs[1].log().contains("Running IST"), "caught up by IST:\n{}", tail(&dbs[1].log()));
    assert_eq!(wait_messages(&servers[1], 2).len(), 2, "n2's server shows what arrived while its database was down");
    // n1's console says when it last saw the membership change.
    let (_, v) = Console::login(&servers[0]).call("GET", "/api/v1/cluster", None);
    let change = v["last_change"]["text"].as_str().unwrap_or("");
    assert!(change.contains(&address(2)) || change.contains("nodes"), "{v}");

    // n1 let n2 in, n2 let n3 in: n1 hears of n3 from Galera.
    let n1_file = servers[0].dir.join("data/cluster/cluster.toml");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&n1_file).unwrap().contains(&address(3)) {
        assert!(Instant::now() < deadline, "n1 never learned of n3:\n{}", std::fs::read_to_string(&n1_file).unwrap());
        std::thread::sleep(Duration::from_millis(500));
    }

    // What the console changes on one member holds on all: settings into each hato.toml, the
    // server script and the certificate in force at once.
    shared_changes_reach_every_member(&servers);

    // A rolling restart from n1: each database in turn, n1's last, each once all three are back
    // (this loop starts an exited database again, as the appliance's supervisor does).
    let from: Vec<usize> = dbs.iter().map(|d| d.log().len()).collect();
    let mut ctl = Command::new(BIN)
        .args(["ctl", "--config"])
        .arg(&servers[0].config)
        .args(["cluster", "restart-rolling"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hato ctl");
    let deadline = Instant::now() + Duration::from_secs(600);
    while ctl.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the rolling restart did not finish in 10 minutes");
        for db in dbs.iter_mut() {
            db.restart_if_exited();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let out = ctl.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches("is back, Synced and serving").count(), 3, "{text}");
    let turn = |i: usize| text.find(&format!("restarting {}", address(i))).unwrap_or(0);
    assert!(turn(1) > turn(2) && turn(1) > turn(3), "this node last: {text}");
    let starts: Vec<Vec<String>> = dbs.iter().zip(&from).map(|(d, f)| d.starts_since(*f)).collect();
    assert_eq!(starts, vec![vec!["Join".to_string()]; 3], "each database stopped in order and joined again");
    send(&servers[1], 4);

    // Every node stopped in order, then all started at once: the last one stopped restarts the
    // cluster, and only it. (One that gave up waiting and was started again recovers its position first.)
    for db in dbs.iter_mut() {
        db.stop();
    }
    let from: Vec<usize> = dbs.iter().map(|d| d.log().len()).collect();
    for db in dbs.iter_mut() {
        db.start();
    }
    wait_all_synced(&mut dbs, 3, Duration::from_secs(240));
    let starts: Vec<Vec<String>> = dbs.iter().zip(&from).map(|(d, f)| d.starts_since(*f)).collect();
    assert_eq!(starts[2], ["Restart"], "{starts:?}");
    for s in &starts[..2] {
        assert!(
            s.iter().all(|d| d == "Join" || d == "RecoverThenJoin"),
            "only the last node restarts the cluster: {starts:?}"
        );
    }
    send(&servers[2], 3);

    // A power loss: every database killed at once, then all started.
    for db in dbs.iter_mut() {
        db.kill9();
    }
    for db in dbs.iter_mut() {
        db.start();
    }
    wait_all_synced(&mut dbs, 3, Duration::from_secs(240));
    let starts: Vec<String> = dbs.iter().map(Db::last_start).collect();
    assert_eq!(starts, ["RecoverThenJoin", "RecoverThenJoin", "RecoverThenJoin"]);
    for s in &servers {
        let got = wait_messages(s, 4);
        assert_eq!(
            got,
            ["<m1@ext.test>", "<m2@ext.test>", "<m4@ext.test>", "<m3@ext.test>"],
            "every acknowledged message, once"
        );
    }
    // Nodes that took a state transfer at the same time each listened on their own address.
    for db in &dbs {
        assert!(!db.log().contains("Address already in use"), "{}", tail(&db.log()));
    }

    // n3 leaves, through its console: its database leaves Galera, the others forget it, its
    // copy of the database is deleted, and its server starts again on a new, empty store.
    let (code, v) = Console::login(&servers[2]).call("POST", "/api/v1/cluster/leave", None);
    assert_eq!(code, 200, "{v}");
    let mut told: Vec<String> = v["told"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
    told.sort();
    assert_eq!(told, [address(1), address(2)], "{v}");
    wait_all_synced(&mut dbs[..2], 2, Duration::from_secs(60));
    let exited = dbs[2].child.as_mut().map(|c| c.try_wait());
    assert!(matches!(exited, Some(Ok(Some(_)))), "n3's database stopped:\n{}", tail(&dbs[2].log()));
    dbs[2].start();
    let mysql = servers[2].dir.join("data/mysql");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_dir(&mysql).map(|d| d.count()).unwrap_or(0) > 0 {
        assert!(Instant::now() < deadline, "n3's copy of the database was not deleted:\n{}", tail(&dbs[2].log()));
        std::thread::sleep(Duration::from_millis(250));
    }
    for s in &servers[..2] {
        let file = std::fs::read_to_string(s.dir.join("data/cluster/cluster.toml")).unwrap();
        let config = std::fs::read_to_string(&s.config).unwrap();
        assert!(!file.contains(&address(3)) && !config.contains(&address(3)), "n3 forgotten:\n{file}\n{config}");
    }
    let (_, v) = Console::login(&servers[0]).call("GET", "/api/v1/cluster", None);
    assert!(v["warnings"][0].as_str().unwrap_or("").contains("two members"), "{v}");
    servers[2].kill9();
    servers[2].spawn();
    let (_, v) = Console::login(&servers[2]).call("GET", "/api/v1/cluster", None);
    assert!(v["node"].is_null() && v["store"]["backend"] == "sqlite", "n3 is on its own: {v}");
    let (ok, out) = ctl_out(&servers[2], &["cluster", "leave"]);
    assert!(!ok && out.contains("not part of a cluster"), "{out}");
    assert_eq!(wait_messages(&servers[0], 4).len(), 4, "the mail stays with the cluster");
    for s in servers.iter_mut() {
        s.kill9();
    }
}
