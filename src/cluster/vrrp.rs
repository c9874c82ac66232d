//! `hato vrrp-node`: the cluster's service addresses, held by keepalived
//! (VRRP), as the supervisor runs it.
//!
//! Every member runs keepalived with one virtual router and the same
//! addresses; the member with the highest priority holds them. All start
//! equal, so an address stays where it is while its holder is well (no
//! move back and forth). A node whose health gate fails (`hato ctl gate`:
//! hato serve answers, its store serves on this node, the data directory
//! takes writes) drops out — keepalived's FAULT state, priority 0 — and
//! gives the addresses up at once, with an advert that tells the others
//! to take them without waiting; a dead node stops sending adverts and is
//! replaced after three missed ones. Only healthy members hold addresses:
//! when none is healthy nobody does, and clients retry (as they would
//! after the 4xx an unhealthy node answers).
//!
//! Peers are the cluster's members, by unicast: no multicast is needed on
//! the network, and only members take part. When the member list changes,
//! keepalived.conf is written again and keepalived reloads it (SIGHUP)
//! without letting go of the addresses. On SIGTERM keepalived is stopped
//! first, which hands the addresses over at once (priority 0 advert); so
//! it is when the node leaves the cluster (cluster.toml is gone).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::ClusterError;
use super::node::{Dir, NodeFile};

const KEEPALIVED: &str = "/usr/sbin/keepalived";

/// A service address: an IP with its prefix length (the network's, when not given).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Vip {
    pub addr: IpAddr,
    pub prefix: Option<u8>,
}

impl FromStr for Vip {
    type Err = String;
    fn from_str(s: &str) -> Result<Vip, String> {
        let (addr, prefix) = crate::cidr::parse_parts(s)?;
        Ok(Vip { addr, prefix })
    }
}

impl TryFrom<String> for Vip {
    type Error = String;
    fn try_from(s: String) -> Result<Vip, String> {
        s.parse()
    }
}

impl From<Vip> for String {
    fn from(v: Vip) -> String {
        v.to_string()
    }
}

impl std::fmt::Display for Vip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.prefix {
            Some(p) => write!(f, "{}/{p}", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

/// The cluster's service addresses (the same on every member; a joiner takes its peer's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Vrrp {
    pub addresses: Vec<Vip>,
    /// VRRP's virtual router id (1-255), unique among the routers on the network.
    pub router_id: u8,
    /// How often the holder says so; a holder silent for three adverts is
    /// replaced. Half a second moves an address in under two seconds
    /// (tests/cluster_vip.rs); raise it on a network that drops packets under load.
    pub advert_ms: u32,
}

impl Default for Vrrp {
    fn default() -> Vrrp {
        Vrrp::new("hato", Vec::new())
    }
}

impl Vrrp {
    /// Addresses for a cluster called `name`; its router id derived from the name.
    pub fn new(name: &str, addresses: Vec<Vip>) -> Vrrp {
        let sum = name.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
        Vrrp { addresses, router_id: (sum % 254 + 1) as u8, advert_ms: 500 }
    }
}

/// The interface that carries `addr` and that network's prefix length, from `ip -o addr` output.
pub fn interface_of(ip_addr_output: &str, addr: IpAddr) -> Option<(String, u8)> {
    ip_addr_output.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let iface = words.nth(1)?.trim_end_matches(':').split('@').next()?.to_string();
        let mut words = words.skip_while(|w| *w != "inet" && *w != "inet6");
        words.next()?;
        let (a, p) = words.next()?.split_once('/')?;
        (a.parse::<IpAddr>().ok()? == addr).then_some((iface, p.parse().ok()?))
    })
}

/// keepalived.conf for `node`, whose address is on `iface` (a /`prefix` network).
/// `gate` is the health command, run as `script_user`.
pub fn render(node: &NodeFile, iface: &str, prefix: u8, gate: &str, script_user: &str) -> String {
    let v = &node.vrrp;
    let peers: String = node.peers().map(|p| format!("        {p}\n")).collect();
    let addresses: String = v
        .addresses
        .iter()
        .map(|a| format!("        {}/{} dev {iface}\n", a.addr, a.prefix.unwrap_or(prefix)))
        .collect();
    let advert = format!("{:.2}", v.advert_ms.max(10) as f64 / 1000.0);
    format!(
        "# Written by hato vrrp-node from cluster.toml; edits here are overwritten.
global_defs {{
    router_id {name}
    enable_script_security
    script_user {script_user}
}}
vrrp_script hato_gate {{
    script \"{gate}\"
    interval 1
    timeout 3
    fall 2
    rise 2
}}
vrrp_instance hato {{
    state BACKUP
    interface {iface}
    virtual_router_id {id}
    version 3
    priority 100
    advert_int {advert}
    unicast_src_ip {src}
    unicast_peer {{
{peers}    }}
    virtual_ipaddress {{
{addresses}    }}
    track_script {{
        hato_gate
    }}
}}
",
        name = node.node_name,
        id = v.router_id,
        src = node.address,
    )
}

/// Where keepalived's files go: a directory of root's beside the cluster directory's files.
fn run_dir(dir: &Dir) -> PathBuf {
    dir.0.join("vrrp")
}

/// The rendered configuration for this node now, or None while there is
/// nothing to hold (no cluster yet, or no service addresses).
fn current(dir: &Dir, gate: &str, script_user: &str) -> Result<Option<String>, ClusterError> {
    if !dir.exists() {
        return Ok(None);
    }
    let node = dir.load()?;
    if node.vrrp.addresses.is_empty() {
        return Ok(None);
    }
    let (iface, prefix) = interface_of(&addresses_here()?, node.address).ok_or_else(|| {
        ClusterError::Start(format!("no interface has this node's address {}; check cluster.toml", node.address))
    })?;
    Ok(Some(render(&node, &iface, prefix, gate, script_user)))
}

/// `ip -o addr show`: every address on this machine's interfaces.
fn addresses_here() -> Result<String, ClusterError> {
    let out = std::process::Command::new("ip")
        .args(["-o", "addr", "show"])
        .output()
        .map_err(|e| ClusterError::Start(format!("cannot run `ip addr`: {e}")))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The service addresses this node holds now (on one of its interfaces).
pub fn held_here(node: &NodeFile) -> Vec<Vip> {
    let Ok(here) = addresses_here() else { return Vec::new() };
    node.vrrp.addresses.iter().filter(|v| interface_of(&here, v.addr).is_some()).copied().collect()
}

/// Runs keepalived for the cluster in `dir` until told to stop; returns why it stopped.
/// `config` is hato serve's configuration file (for the health gate).
pub async fn run(dir: &Dir, config: &Path, script_user: &str) -> ClusterError {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/usr/sbin/hato"));
    let gate = format!("{} ctl --config {} gate", exe.display(), config.display());
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => return ClusterError::Start(format!("cannot watch for SIGTERM: {e}")),
    };
    let mut waiting_said = false;
    let mut conf = loop {
        match current(dir, &gate, script_user) {
            Ok(Some(c)) => break c,
            Ok(None) if !waiting_said => {
                info!(target: "hato::cluster", "no service addresses to hold yet; waiting for cluster.toml to name some");
                waiting_said = true;
            }
            Ok(None) => {}
            Err(e) => warn!(target: "hato::cluster", "{e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = term.recv() => return ClusterError::Start("stopped before there was anything to hold".into()),
        }
    };
    let run = run_dir(dir);
    let file = run.join("keepalived.conf");
    if let Err(e) = write_conf(&run, &file, &conf) {
        return e;
    }
    let mut child = match tokio::process::Command::new(KEEPALIVED)
        .args(["--dont-fork", "--log-console", "--vrrp", "--use-file"])
        .arg(&file)
        .arg("--pid")
        .arg(run.join("keepalived.pid"))
        .arg("--vrrp_pid")
        .arg(run.join("vrrp.pid"))
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return ClusterError::Start(format!("cannot start {KEEPALIVED}: {e}")),
    };
    info!(target: "hato::cluster", file = %file.display(), "keepalived started");
    loop {
        tokio::select! {
            status = child.wait() => {
                return ClusterError::Start(format!("keepalived exited ({})", status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string())));
            }
            _ = term.recv() => {
                signal(&child, nix::sys::signal::Signal::SIGTERM);
                let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
                return ClusterError::Start("stopped".into());
            }
            _ = tokio::time::sleep(Duration::from_secs(5)) => {
                match current(dir, &gate, script_user) {
                    Ok(Some(c)) if c != conf => {
                        if let Err(e) = write_conf(&run, &file, &c) {
                            warn!(target: "hato::cluster", "{e}");
                            continue;
                        }
                        conf = c;
                        info!(target: "hato::cluster", "members or addresses changed; keepalived reloads");
                        signal(&child, nix::sys::signal::Signal::SIGHUP);
                    }
                    Ok(Some(_)) => {}
                    // The node left the cluster, or the addresses were removed: let them go.
                    Ok(None) => {
                        signal(&child, nix::sys::signal::Signal::SIGTERM);
                        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
                        return ClusterError::Start("no service addresses to hold any more; keepalived stopped".into());
                    }
                    Err(e) => warn!(target: "hato::cluster", "{e}"),
                }
            }
        }
    }
}

fn signal(child: &tokio::process::Child, sig: nix::sys::signal::Signal) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
    }
}

fn write_conf(run: &Path, file: &Path, conf: &str) -> Result<(), ClusterError> {
    std::fs::create_dir_all(run).map_err(|source| ClusterError::Write { path: run.into(), source })?;
    crate::files::write_private(file, conf.as_bytes())
        .map_err(|source| ClusterError::Write { path: file.into(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_addresses_parse_with_or_without_a_prefix_and_refuse_nonsense() {
        assert_eq!("192.0.2.10/24".parse::<Vip>().unwrap().to_string(), "192.0.2.10/24");
        assert_eq!("192.0.2.10".parse::<Vip>().unwrap().prefix, None);
        assert_eq!("2001:db8::10/64".parse::<Vip>().unwrap().prefix, Some(64));
        assert!("192.0.2.10/33".parse::<Vip>().unwrap_err().contains("0-32"));
        assert!("mail.example.com".parse::<Vip>().unwrap_err().contains("not an IP address"));
    }

    #[test]
    fn the_interface_is_the_one_carrying_the_node_address() {
        let out = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.77.0.1/24 brd 10.77.0.255 scope global eth0\\       valid_lft forever preferred_lft forever
3: veth1@if4    inet 10.78.0.2/16 scope global veth1\\       valid_lft forever
3: veth1@if4    inet6 fd00::2/64 scope global \\       valid_lft forever";
        assert_eq!(interface_of(out, "10.77.0.1".parse().unwrap()), Some(("eth0".into(), 24)));
        assert_eq!(interface_of(out, "10.78.0.2".parse().unwrap()), Some(("veth1".into(), 16)));
        assert_eq!(interface_of(out, "fd00::2".parse().unwrap()), Some(("veth1".into(), 64)));
        assert_eq!(interface_of(out, "10.77.0.9".parse().unwrap()), None);
    }

    #[test]
    fn keepalived_conf_names_the_peers_addresses_and_the_gate() {
        let node = NodeFile {
            name: "c".into(),
            node_name: "n1".into(),
            address: "10.77.0.1".parse().unwrap(),
            members: ["10.77.0.1", "10.77.0.2", "10.77.0.3"].iter().map(|a| a.parse().unwrap()).collect(),
            bootstrap: false,
            mysql_dir: "/m".into(),
            run_dir: "/r".into(),
            ports: Default::default(),
            suspect_timeout: "PT2S".into(),
            vrrp: Vrrp::new("c", vec!["10.77.0.100".parse().unwrap(), "10.77.1.100/24".parse().unwrap()]),
        };
        let conf = render(&node, "eth0", 16, "/usr/sbin/hato ctl --config /h.toml gate", "hato");
        assert!(conf.contains("unicast_src_ip 10.77.0.1\n"), "{conf}");
        assert!(conf.contains("        10.77.0.2\n        10.77.0.3\n"), "{conf}");
        assert!(!conf.contains("        10.77.0.1\n"), "not its own peer: {conf}");
        assert!(conf.contains("10.77.0.100/16 dev eth0\n        10.77.1.100/24 dev eth0\n"), "{conf}");
        assert!(conf.contains(&format!("virtual_router_id {}\n", node.vrrp.router_id)));
        assert!((1..=255).contains(&node.vrrp.router_id));
        assert!(conf.contains("script \"/usr/sbin/hato ctl --config /h.toml gate\""), "{conf}");
        assert!(conf.contains("advert_int 0.50\n"), "{conf}");
    }
}
