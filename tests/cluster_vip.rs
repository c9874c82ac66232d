//! The cluster's service address, held by real keepalived that `hato
//! vrrp-node` runs, on two nodes in network namespaces joined by a bridge
//! (a third namespace is the LAN, where a client pings the address):
//!
//! - exactly one node holds the address, and the LAN reaches it;
//! - the holder's hato serve dies: its health gate (`hato ctl gate`) fails,
//!   and the other node holds the address within seconds;
//! - the first node's server is back: the address stays where it is (equal
//!   priorities, no move back and forth);
//! - the holder's network goes dead (as a node that loses power): the other
//!   node takes over after the missed adverts;
//! - an orderly stop of the holder's vrrp-node hands the address over.
//!
//! Move times are printed (docs/benchmarks.md), not asserted. Needs root,
//! keepalived and iproute2 (scripts/deps); without them the test only says
//! so, unless HATO_REQUIRE_VRRP=1.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const VIP: &str = "10.213.0.100";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// A LAN namespace with a bridge, and one namespace per node plugged into it.
struct Net {
    lan: String,
    nodes: Vec<String>,
}

impl Net {
    fn new(n: usize) -> Net {
        let tag = std::process::id() % 100_000;
        let net = Net { lan: format!("hv{tag}lan"), nodes: (1..=n).map(|i| format!("hv{tag}n{i}")).collect() };
        ip(&["netns", "add", &net.lan]);
        ip(&["-n", &net.lan, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &net.lan, "addr", "add", "10.213.0.254/24", "dev", "br0"]);
        ip(&["-n", &net.lan, "link", "set", "br0", "up"]);
        for (i, ns) in net.nodes.iter().enumerate() {
            let port = format!("p{}", i + 1);
            ip(&["netns", "add", ns]);
            ip(&["-n", &net.lan, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", ns]);
            ip(&["-n", &net.lan, "link", "set", &port, "master", "br0", "up"]);
            ip(&["-n", ns, "addr", "add", &format!("{}/24", address(i + 1)), "dev", "eth0"]);
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        net
    }

    /// Which nodes (1-based) have the address on an interface now.
    fn holders(&self) -> Vec<usize> {
        (1..=self.nodes.len())
            .filter(|i| {
                let out = Command::new("ip").args(["-n", &self.nodes[i - 1], "-o", "addr", "show"]).output();
                out.map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!(" {VIP}/"))).unwrap_or(false)
            })
            .collect()
    }

    /// Waits until exactly `want` holds the address; how long that took.
    fn wait_holder(&self, want: usize, timeout: Duration) -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if self.holders() == [want] {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Whether a client on the LAN gets an answer from the address.
    fn lan_reaches_vip(&self) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.lan, "ping", "-c", "1", "-W", "2", VIP])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.nodes.iter().chain([&self.lan]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn address(i: usize) -> String {
    format!("10.213.0.{i}")
}

/// One node: its server (SQLite, on loopback: the gate asks it over its
/// control socket) and its vrrp-node inside the node's namespace.
struct Node {
    server: Server,
    cluster: PathBuf,
    vrrp: Option<KillOnDrop>,
    ns: String,
}

impl Node {
    fn new(i: usize, n: usize, ns: &str) -> Node {
        let server = Server::start(&format!("vip-{i}"), "");
        let cluster = server.dir.join("cluster");
        std::fs::create_dir_all(&cluster).unwrap();
        let members: Vec<String> = (1..=n).map(|m| format!("\"{}\"", address(m))).collect();
        std::fs::write(
            cluster.join("cluster.toml"),
            format!(
                "name = \"vip\"\nnode_name = \"n{i}\"\naddress = \"{}\"\nmembers = [{}]\n\
                 mysql_dir = \"{d}/mysql\"\nrun_dir = \"{d}/run\"\n\
                 [vrrp]\naddresses = [\"{VIP}/24\"]\nrouter_id = 213\n",
                address(i),
                members.join(", "),
                d = server.dir.display()
            ),
        )
        .unwrap();
        let mut node = Node { server, cluster, vrrp: None, ns: ns.to_string() };
        node.start_vrrp();
        node
    }

    fn start_vrrp(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.vrrp_log()).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, BIN, "vrrp-node", "--script-user", "root", "--dir"])
            .arg(&self.cluster)
            .arg("--config")
            .arg(&self.server.config)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start hato vrrp-node");
        self.vrrp = Some(KillOnDrop(child));
    }

    fn vrrp_log(&self) -> PathBuf {
        self.server.dir.join("vrrp-node.log")
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.vrrp_log()).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.vrrp.take();
        // keepalived is vrrp-node's child; one left behind by a killed parent names our directory.
        let _ = Command::new("pkill").args(["-9", "-f", &format!("{}/", self.cluster.display())]).status();
    }
}

fn available() -> bool {
    let root = nix_is_root();
    let tools = Path::new("/usr/sbin/keepalived").exists() && Command::new("ip").arg("-V").output().is_ok();
    if !(root && tools) {
        assert!(
            std::env::var("HATO_REQUIRE_VRRP").as_deref() != Ok("1"),
            "HATO_REQUIRE_VRRP=1 but root or keepalived is missing (run scripts/deps as root)"
        );
        eprintln!("skipped: needs root and keepalived (scripts/deps)");
    }
    root && tools
}

fn nix_is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

#[test]
fn the_service_address_moves_to_a_healthy_node() {
    if !available() {
        return;
    }
    let net = Net::new(2);
    let mut nodes: Vec<Node> = (1..=2).map(|i| Node::new(i, 2, &net.nodes[i - 1])).collect();
    let logs = |nodes: &[Node]| nodes.iter().map(|n| n.logs()).collect::<Vec<_>>().join("\n----\n");

    // One holder, reachable from the LAN.
    let t = Instant::now();
    let mut first = 0;
    while t.elapsed() < Duration::from_secs(30) {
        if let [h] = net.holders()[..] {
            first = h;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(first > 0, "nobody holds {VIP} after 30 s:\n{}", logs(&nodes));
    assert!(net.lan_reaches_vip(), "the LAN does not reach {VIP}");
    let other = 3 - first;
    assert!(nodes[first - 1].server.ctl(&["gate"]).status.success(), "a healthy node's gate passes");

    // The holder's mail server dies: its gate fails and the address moves.
    nodes[first - 1].server.kill9();
    let gate = nodes[first - 1].server.ctl(&["gate"]);
    assert_eq!(gate.status.code(), Some(5), "a dead server's gate fails (5: no server to ask)");
    assert!(String::from_utf8_lossy(&gate.stderr).contains("cannot reach the running server"));
    let moved = net.wait_holder(other, Duration::from_secs(20));
    assert!(moved.is_some(), "{VIP} did not move to node {other}:\n{}", logs(&nodes));
    assert!(net.lan_reaches_vip(), "the LAN does not reach {VIP} on node {other}");
    eprintln!("VRRP: gate failure to address moved: {:.1}s", moved.unwrap().as_secs_f64());

    // The server is back: the address stays (no move back).
    nodes[first - 1].server.spawn();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(net.holders(), [other], "the address moved back to a recovered node:\n{}", logs(&nodes));

    // The holder's network dies (as a powered-off node): the first node takes over.
    ip(&["-n", &net.nodes[other - 1], "link", "set", "eth0", "down"]);
    let t = Instant::now();
    let mut took = None;
    while t.elapsed() < Duration::from_secs(20) {
        if net.holders().contains(&first) {
            took = Some(t.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(took.is_some(), "node {first} did not take {VIP} from a silent node:\n{}", logs(&nodes));
    assert!(net.lan_reaches_vip(), "the LAN does not reach {VIP} after the holder fell silent");
    eprintln!("VRRP: holder silent to address taken: {:.1}s", took.unwrap().as_secs_f64());
    ip(&["-n", &net.nodes[other - 1], "link", "set", "eth0", "up"]);
    assert!(net.wait_holder(first, Duration::from_secs(20)).is_some(), "two holders after the network came back");

    // An orderly stop hands the address over.
    nodes[first - 1].vrrp.take();
    let handed = net.wait_holder(other, Duration::from_secs(20));
    assert!(handed.is_some(), "an orderly stop did not hand {VIP} over:\n{}", logs(&nodes));
    eprintln!("VRRP: orderly stop to address handed over: {:.1}s", handed.unwrap().as_secs_f64());
    nodes[first - 1].start_vrrp();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(net.holders(), [other], "a restarted node took the address back");
}
