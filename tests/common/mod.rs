//! Starts a real `hato serve` on free loopback ports for black-box tests.
#![allow(dead_code)]

pub mod clamd;
pub mod imap;
pub mod pki;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_hato");

/// A loopback port nobody listens on, never the same one twice in this test
/// process (the kernel may hand a just-released port out again).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A directory of the test's own under /tmp, removed when it is dropped —
/// unless the test is failing, so what it held can be read afterwards.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn temp_dir(tag: &str) -> TempDir {
    let mut raw = [0u8; 6];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut raw).unwrap();
    let name: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("hato-test-{tag}-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// The Galera cluster `scripts/test` started (`HATO_TEST_GALERA`,
/// host:port,…), if any; with `HATO_REQUIRE_GALERA=1` its absence fails the
/// test instead of skipping the Galera part.
pub fn test_galera() -> Option<Vec<String>> {
    let list = std::env::var("HATO_TEST_GALERA").ok().filter(|v| !v.is_empty());
    if list.is_none() && std::env::var("HATO_REQUIRE_GALERA").is_ok_and(|v| v == "1") {
        panic!("HATO_REQUIRE_GALERA=1 but HATO_TEST_GALERA names no cluster (scripts/test starts one)");
    }
    Some(list?.split(',').map(str::to_string).collect())
}

/// The `[store]` table of a test server: SQLite by default; with
/// `HATO_TEST_BACKEND=galera`, a database of its own (named after the test
/// directory) on the test cluster, so every protocol test runs unchanged on
/// the cluster store.
pub fn store_section(dir: &Path) -> String {
    if std::env::var("HATO_TEST_BACKEND").as_deref() != Ok("galera") {
        return String::new();
    }
    let nodes = test_galera().expect("HATO_TEST_BACKEND=galera needs HATO_TEST_GALERA=host:port,...");
    let name = dir.file_name().unwrap().to_string_lossy().replace('-', "_");
    let ca = std::env::var_os("HATO_TEST_GALERA_CA").map(PathBuf::from);
    galera_section(&name, &name, &nodes, ca.as_deref())
}

/// `[store]` for Galera database `database` as node `node_name`, with
/// `nodes` in that order (the first is the server's local node), trusting
/// the cluster's CA `ca`.
pub fn galera_section(database: &str, node_name: &str, nodes: &[String], ca: Option<&Path>) -> String {
    let list: Vec<String> = nodes.iter().map(|n| format!("\"{n}\"")).collect();
    let ca = ca.map(|c| format!("tls_ca = \"{}\"\n", c.display())).unwrap_or_default();
    format!(
        "[store]\nbackend = \"galera\"\nnode_name = \"{node_name}\"\n[store.galera]\nnodes = [{}]\n\
         database = \"{database}\"\npassword = \"hato\"\n{ca}",
        list.join(", ")
    )
}

/// A Galera cluster of a test's own (`scripts/galera-cluster`, nodes on
/// PREFIX.11-13), for tests that kill its nodes; stopped by pid when dropped.
pub struct PrivateCluster {
    pub dir: TempDir,
    pub nodes: Vec<String>,
}

impl PrivateCluster {
    /// `suspect`: evs.suspect_timeout (how soon a dead node is noticed).
    pub fn start(prefix: &str, port: u16, suspect: &str) -> PrivateCluster {
        let dir = temp_dir("galera");
        let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/galera-cluster"))
            .args(["start", dir.to_str().unwrap(), "3", prefix, &port.to_string()])
            .env("GALERA_SUSPECT", suspect)
            .output()
            .expect("run scripts/galera-cluster");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        // Made before the check, so a half-started cluster is stopped too.
        let mut cluster = PrivateCluster { dir, nodes: Vec::new() };
        assert!(out.status.success(), "galera-cluster start failed: {text}{}", String::from_utf8_lossy(&out.stderr));
        cluster.nodes =
            text.lines().find_map(|l| l.strip_prefix("NODES=")).unwrap().split(',').map(String::from).collect();
        cluster
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn script(&self, args: &[&str]) {
        let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/galera-cluster"))
            .args(args)
            .output()
            .expect("run scripts/galera-cluster");
        assert!(out.status.success(), "galera-cluster {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// SIGKILLs node `i` (1-based).
    pub fn kill(&self, i: usize) {
        self.script(&["kill", self.dir.to_str().unwrap(), &i.to_string()]);
    }

    /// Starts node `i` again (recovering its position) and waits until it is Synced.
    pub fn start_node(&self, i: usize) {
        self.script(&["start-node", self.dir.to_str().unwrap(), &i.to_string()]);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/galera-cluster"))
            .args(["stop", self.dir.to_str().unwrap()])
            .output();
    }
}

pub struct Server {
    pub dir: TempDir,
    pub config: PathBuf,
    pub mx: u16,
    pub submission: u16,
    pub submissions: u16,
    pub pop3: u16,
    pub pop3s: u16,
    pub imap: u16,
    pub imaps: u16,
    pub managesieve: u16,
    /// The web console (HTTPS).
    pub web: u16,
    child: Option<Child>,
    /// Everything the server wrote to stderr (its log), shared with a reader thread.
    pub log: Arc<Mutex<String>>,
}

impl Server {
    /// Writes a config (ports, data dir, plus `extra` TOML appended) and starts the server.
    pub fn start(tag: &str, extra: &str) -> Server {
        let mut s = Server::prepare(tag, extra);
        s.spawn();
        s
    }

    /// Writes the config without starting the server (for a supervisor to start it).
    pub fn prepare(tag: &str, extra: &str) -> Server {
        let dir = temp_dir(tag);
        let (mx, submission, submissions, pop3, pop3s) =
            (free_port(), free_port(), free_port(), free_port(), free_port());
        let (imap, imaps, managesieve, web) = (free_port(), free_port(), free_port(), free_port());
        let config = dir.join("hato.toml");
        // Each table gets its ports, merged into `extra` when it opens the same table.
        let mut text = format!("hostname = \"mx.hato.test\"\ndata_dir = \"data\"\n{extra}\n");
        if !extra.contains("[store]") {
            text.push_str(&store_section(&dir));
        }
        // Tests stay off the machine's own DNS unless they bring a server (tests/mailauth.rs).
        if !extra.contains("[mail_auth]") {
            text.push_str("[mail_auth]\nverify = false\n");
        }
        for (table, lines) in [
            (
                "[smtp]",
                format!(
                    "mx_listen = \"127.0.0.1:{mx}\"\nsubmission_listen = \"127.0.0.1:{submission}\"\nsubmissions_listen = \"127.0.0.1:{submissions}\""
                ),
            ),
            ("[pop3]", format!("listen = \"127.0.0.1:{pop3}\"\ntls_listen = \"127.0.0.1:{pop3s}\"")),
            ("[imap]", format!("listen = \"127.0.0.1:{imap}\"\ntls_listen = \"127.0.0.1:{imaps}\"")),
            ("[sieve]", format!("managesieve_listen = \"127.0.0.1:{managesieve}\"")),
            ("[web]", format!("listen = \"127.0.0.1:{web}\"")),
        ] {
            if text.contains(&format!("{table}\n")) {
                text = text.replacen(&format!("{table}\n"), &format!("{table}\n{lines}\n"), 1);
            } else {
                text.push_str(&format!("{table}\n{lines}\n"));
            }
        }
        std::fs::write(&config, text).unwrap();
        Server {
            dir,
            config,
            mx,
            submission,
            submissions,
            pop3,
            pop3s,
            imap,
            imaps,
            managesieve,
            web,
            child: None,
            log: Arc::new(Mutex::new(String::new())),
        }
    }

    pub fn spawn(&mut self) {
        self.spawn_under(&[]);
    }

    /// Starts `hato serve` as the last arguments of `wrapper` (e.g. `prlimit …`).
    pub fn spawn_under(&mut self, wrapper: &[&str]) {
        let from = self.log.lock().unwrap().len();
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let mut child = command
            .args(["serve", "--config"])
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hato serve");
        let stderr = child.stderr.take().unwrap();
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        self.child = Some(child);
        self.wait_ready(from);
    }

    /// Waits for the "ready" line written after log offset `from` (this run's, not an earlier one's).
    fn wait_ready(&mut self, from: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.log.lock().unwrap()[from..].contains("Hato is ready") {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("hato serve exited with {status}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("hato serve did not become ready:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle`, returning whether it appeared.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        false
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn ctl(&self, args: &[&str]) -> Output {
        ctl_in(&self.config, args, None)
    }

    pub fn ctl_json(&self, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self.ctl(&full);
        assert!(out.status.success(), "ctl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("ctl {args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }

    pub fn ok(&self, args: &[&str]) {
        let out = self.ctl(args);
        assert!(out.status.success(), "ctl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A domain plus accounts, each with password "pw-<local part>".
    pub fn populate(&self, domain: &str, users: &[&str]) {
        self.ok(&["domain", "add", domain]);
        for u in users {
            let addr = format!("{u}@{domain}");
            let pw = format!("pw-{u}");
            self.ok(&["account", "add", &addr, "--password", &pw]);
        }
    }

    /// Message-IDs (or whole messages) in an account's mailbox, via `hato ctl`.
    pub fn mailbox(&self, account: &str, mailbox: &str) -> Vec<serde_json::Value> {
        self.ctl_json(&["mailbox", "messages", account, "--mailbox", mailbox]).as_array().unwrap().clone()
    }

    pub fn cat(&self, account: &str, uid: i64) -> String {
        let out = self.ctl(&["mailbox", "cat", account, &uid.to_string()]);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the queue is empty (a delivery is logged a moment before its row goes).
    pub fn wait_queue_empty(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.queue().is_empty() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn queue(&self) -> Vec<serde_json::Value> {
        self.ctl_json(&["queue", "list"]).as_array().unwrap().clone()
    }

    /// Waits for a mailbox to hold at least `n` messages.
    pub fn wait_mailbox(&self, account: &str, mailbox: &str, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.mailbox(account, mailbox);
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn ctl_in(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("ctl").arg("--config").arg(config).args(args);
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Runs a program and returns (exit ok, stdout+stderr).
pub fn run(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} (run scripts/deps)"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The Python that has Debian's aiosmtpd (and the standard library clients).
pub const PYTHON: &str = "/usr/bin/python3";

pub fn py_script(name: &str) -> String {
    format!("{}/tests/py/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A raw SMTP line conversation for bad-input tests.
pub struct Raw {
    pub r: BufReader<TcpStream>,
    pub w: TcpStream,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut raw = Raw { r: BufReader::new(s.try_clone().unwrap()), w: s };
        let greeting = raw.reply();
        assert!(greeting.starts_with("220"), "{greeting}");
        raw
    }

    /// Reads one (possibly multi-line) reply; "" when the server closed.
    pub fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            match self.r.read_line(&mut line) {
                Ok(0) | Err(_) => return all,
                Ok(_) => {}
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        let _ = self.w.write_all(bytes);
    }

    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }
}

/// The aiosmtpd receiver of tests/py/sink.py, on its own port.
pub struct Sink {
    pub port: u16,
    pub dir: TempDir,
    child: Child,
}

impl Sink {
    pub fn start(mode: &str, tls: Option<(&Path, &Path)>) -> Sink {
        Sink::start_on(free_port(), mode, tls)
    }

    pub fn start_on(port: u16, mode: &str, tls: Option<(&Path, &Path)>) -> Sink {
        Sink::start_at("127.0.0.1", port, mode, tls)
    }

    /// On another loopback address (several sinks on one port).
    pub fn start_at(host: &str, port: u16, mode: &str, tls: Option<(&Path, &Path)>) -> Sink {
        let dir = temp_dir("sink");
        let mut cmd = Command::new(PYTHON);
        cmd.env("SINK_HOST", host);
        cmd.arg(py_script("sink.py")).arg(port.to_string()).arg(&*dir).arg(mode);
        if let Some((c, k)) = tls {
            cmd.arg(c).arg(k);
        }
        let mut child =
            cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start sink.py (run scripts/deps)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "sink did not start");
        Sink { port, dir, child }
    }

    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names.iter().map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()).collect()
    }

    pub fn wait_messages(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs tests/py/submit.py with the given arguments; returns (ok, output).
pub fn submit(args: &[&str]) -> (bool, String) {
    let script = py_script("submit.py");
    let mut full = vec![script.as_str()];
    full.extend_from_slice(args);
    run(PYTHON, &full)
}

/// Queue settings that make retries happen within a test's patience.
pub const FAST_QUEUE: &str = "[queue]\nretry_schedule_secs = [1]\nscan_interval_ms = 200\n";

/// alice@hato.test (password pw-alice) submits a message to `to` with smtplib.
pub fn send_as_alice(s: &Server, to: &str, subject: &str) {
    let port = s.submission.to_string();
    let args = ["--port", &port, "--user", "alice@hato.test", "--password", "pw-alice", "--sender", "alice@hato.test"];
    let (ok, out) = submit(&[&args[..], &["--to", to, "--subject", subject]].concat());
    assert!(ok, "{out}");
}

/// Delivers `n` small messages to `to` through the MX port and waits until
/// they are filed: "message i" gets the i-th UID, as mail to one account is
/// filed in the order it was accepted.
pub fn deliver(s: &Server, to: &str, n: usize) {
    let mut c = Raw::connect(s.mx);
    c.cmd("EHLO fill.test");
    for i in 0..n {
        assert!(c.cmd("MAIL FROM:<filler@example.org>").starts_with("250"));
        assert!(c.cmd(&format!("RCPT TO:<{to}>")).starts_with("250"));
        assert!(c.cmd("DATA").starts_with("354"));
        c.send(format!("Subject: message {i}\r\nMessage-ID: <fill-{i}@example.org>\r\n\r\nbody line 1 of {i}\r\n..dot line\r\nbody line 3\r\n.\r\n").as_bytes());
        assert!(c.reply().starts_with("250"));
    }
    c.cmd("QUIT");
    let got = s.wait_mailbox(to, "INBOX", n, Duration::from_secs(15));
    assert!(got.len() >= n, "only {} of {n} messages filed", got.len());
}

/// A real DNS server (Debian's dnsmasq) on a loopback port, for `[delivery]
/// dns_servers`. `records` are dnsmasq options (`--host-record=…`,
/// `--mx-host=…`, `--txt-record=…`, `--local=/zone/` for NXDOMAIN).
pub struct Dns {
    pub port: u16,
    child: Child,
}

impl Dns {
    pub fn start(records: &[&str]) -> Dns {
        Dns::start_on(free_port(), records)
    }

    /// On a port chosen earlier (a server configured before its records existed).
    pub fn start_on(port: u16, records: &[&str]) -> Dns {
        let child = Command::new("/usr/sbin/dnsmasq")
            .args(["--no-daemon", "--conf-file=/dev/null", "--listen-address=127.0.0.1", "--bind-interfaces"])
            .args(["--no-resolv", "--no-hosts", "--user=root", &format!("--port={port}")])
            .args(records)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq (run scripts/deps)");
        std::thread::sleep(Duration::from_millis(300));
        Dns { port, child }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Now as an RFC 5322 date (for messages that must not look stale or future).
pub fn date_now() -> String {
    let out = Command::new("date").arg("-R").output().expect("run date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One SMTP transaction on `port` (EHLO, MAIL, RCPT, DATA) with `message`
/// as the data (dot-stuffing is the caller's); returns the reply to the
/// end of DATA.
pub fn smtp_send(port: u16, from: &str, to: &str, message: &[u8]) -> String {
    let mut c = Raw::connect(port);
    c.cmd("EHLO client.test");
    assert!(c.cmd(&format!("MAIL FROM:<{from}>")).starts_with("250"));
    assert!(c.cmd(&format!("RCPT TO:<{to}>")).starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(message);
    c.send(if message.ends_with(b"\r\n") { b".\r\n" } else { b"\r\n.\r\n" });
    c.reply()
}

/// A child process stopped when the test ends, however it ends: SIGTERM
/// first (a supervisor then stops its own services), SIGKILL after 10 s.
/// The appliance's unbound, run with its own configuration file
/// (rootfs/etc/hato/unbound.conf) on a free port; `site` stands in for what
/// `hato init` writes to /run/hato/unbound-forward.conf. Returns its port.
pub fn appliance_unbound(site: &str) -> (u16, Unbound) {
    let dir = temp_dir("unbound");
    let port = free_port();
    let forward = dir.join("forward.conf");
    let conf = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rootfs/etc/hato/unbound.conf"))
        .unwrap()
        .replace("port: 53", &format!("port: {port}"))
        .replace("/run/hato/unbound-forward.conf", forward.to_str().unwrap());
    assert!(conf.contains(&format!("port: {port}")), "the appliance's unbound.conf has 'port: 53'");
    std::fs::write(dir.join("unbound.conf"), conf).unwrap();
    // The test's servers are on loopback, which unbound does not ask unless told.
    std::fs::write(&forward, format!("{site}server:\n    do-not-query-localhost: no\n")).unwrap();
    let unbound = Command::new("/usr/sbin/unbound")
        .args(["-d", "-p", "-c"])
        .arg(dir.join("unbound.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start unbound (scripts/deps installs it)");
    let unbound = Unbound { _process: KillOnDrop(unbound), _dir: dir };
    wait_listening(port, "unbound");
    (port, unbound)
}

/// A running unbound and its directory, stopped and then removed.
pub struct Unbound {
    _process: KillOnDrop,
    _dir: TempDir,
}

/// Waits (up to 20 s) until a server the test started accepts TCP on `port`.
pub fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
