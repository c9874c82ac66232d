//! What the running box is, as the kernel tells it: mounts, the hardening
//! sysctls, every process with its user and groups, and every listening
//! socket with the process that holds it. The console's `inspect` prints it
//! so that an administrator (and qemu-tests/single-node) can check each
//! claim of docs/security.md on the machine itself — read-only root, /data
//! nosuid,nodev, one user per service, clamd on a unix socket only — rather
//! than trust the image build.
//!
//! Raw facts only, one per line, no verdicts: whoever reads them decides
//! whether they are right, so a mistake here cannot hide a wrong one.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// The report: `mount`, `sysctl`, `process` and `listen` lines between
/// markers. `sysctl_conf` names the sysctls to read back (the image's
/// /etc/hato/sysctl.conf, which `hato init` applied).
pub fn report(sysctl_conf: &Path) -> String {
    let mut out = String::from("---- inspect ----\n");
    match fs::read_to_string("/proc/self/mounts") {
        Ok(t) => {
            for (target, fstype, options) in t.lines().filter_map(mount_line) {
                let _ = writeln!(out, "mount {target} {fstype} {options}");
            }
        }
        Err(e) => {
            let _ = writeln!(out, "mount: cannot read /proc/self/mounts: {e}");
        }
    }
    for key in fs::read_to_string(sysctl_conf).unwrap_or_default().lines().filter_map(sysctl_key) {
        let file = format!("/proc/sys/{}", key.replace('.', "/"));
        let value =
            fs::read_to_string(&file).map(|v| v.trim().to_string()).unwrap_or_else(|e| format!("unreadable ({e})"));
        let _ = writeln!(out, "sysctl {key} = {value}");
    }
    let users = names("/etc/passwd");
    let groups = names("/etc/group");
    let name = |map: &HashMap<u32, String>, id: u32| map.get(&id).cloned().unwrap_or_else(|| id.to_string());
    let procs = processes();
    for p in &procs {
        let extra: Vec<String> = p.groups.iter().map(|g| name(&groups, *g)).collect();
        let _ = writeln!(
            out,
            "process {} {} group={} groups={} {}",
            p.pid,
            name(&users, p.uid),
            name(&groups, p.gid),
            extra.join(","),
            p.cmdline
        );
    }
    let owner: HashMap<u64, &str> =
        procs.iter().flat_map(|p| p.sockets.iter().map(move |inode| (*inode, p.name()))).collect();
    for l in listening() {
        let by = owner.get(&l.inode).copied().unwrap_or("?");
        let _ = writeln!(out, "listen {} {} {by}", l.proto, l.address);
    }
    out.push_str("---- end inspect ----\n");
    out
}

/// `target fstype options` of one /proc/mounts line (spaces in paths are
/// escaped there as \040, so splitting on whitespace is safe).
fn mount_line(line: &str) -> Option<(&str, &str, &str)> {
    let mut f = line.split_whitespace();
    let (_source, target, fstype, options) = (f.next()?, f.next()?, f.next()?, f.next()?);
    Some((target, fstype, options))
}

/// The key of a `key = value` line of sysctl.conf.
fn sysctl_key(line: &str) -> Option<&str> {
    let line = line.trim();
    if line.starts_with('#') {
        return None;
    }
    line.split_once('=').map(|(k, _)| k.trim()).filter(|k| !k.is_empty())
}

/// Id → name from /etc/passwd or /etc/group (`name:x:id:...`).
fn names(file: &str) -> HashMap<u32, String> {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id = f.nth(1)?.parse().ok()?;
            Some((id, name.to_string()))
        })
        .collect()
}

struct Process {
    pid: u32,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    cmdline: String,
    sockets: Vec<u64>,
}

impl Process {
    /// The program's file name (`hato`, `clamd`), for socket owners.
    fn name(&self) -> &str {
        let program = self.cmdline.split(' ').next().unwrap_or("");
        program.rsplit('/').next().unwrap_or(program)
    }
}

/// Every user-space process (kernel threads have no command line).
fn processes() -> Vec<Process> {
    let Ok(dir) = fs::read_dir("/proc") else { return Vec::new() };
    let mut found: Vec<Process> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            if cmdline.is_empty() {
                return None;
            }
            let cmdline: String = String::from_utf8_lossy(&cmdline)
                .split('\0')
                .filter(|a| !a.is_empty())
                .take(4)
                .collect::<Vec<_>>()
                .join(" ");
            let (uid, gid, groups) = ids(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)?;
            Some(Process { pid, uid, gid, groups, cmdline, sockets: sockets(pid) })
        })
        .collect();
    found.sort_by_key(|p| p.pid);
    found
}

/// Effective uid, effective gid and supplementary groups from /proc/PID/status.
fn ids(status: &str) -> Option<(u32, u32, Vec<u32>)> {
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::split_whitespace);
    let uid = field("Uid:")?.nth(1)?.parse().ok()?;
    let gid = field("Gid:")?.nth(1)?.parse().ok()?;
    let groups = field("Groups:").map(|g| g.filter_map(|n| n.parse().ok()).collect()).unwrap_or_default();
    Some((uid, gid, groups))
}

/// The inodes of the sockets a process has open.
fn sockets(pid: u32) -> Vec<u64> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    fds.flatten()
        .filter_map(|fd| {
            let target = fs::read_link(fd.path()).ok()?;
            target.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

struct Listening {
    proto: &'static str,
    address: String,
    inode: u64,
}

/// TCP sockets in LISTEN, bound UDP sockets and listening unix sockets.
fn listening() -> Vec<Listening> {
    let mut found = Vec::new();
    for (proto, file, state) in [
        ("tcp", "/proc/net/tcp", "0A"),
        ("tcp6", "/proc/net/tcp6", "0A"),
        ("udp", "/proc/net/udp", "07"),
        ("udp6", "/proc/net/udp6", "07"),
    ] {
        let text = fs::read_to_string(file).unwrap_or_default();
        found.extend(text.lines().skip(1).filter_map(|l| inet_line(l, state)).map(|(address, inode)| Listening {
            proto,
            address,
            inode,
        }));
    }
    let unix = fs::read_to_string("/proc/net/unix").unwrap_or_default();
    found.extend(unix.lines().skip(1).filter_map(unix_line).map(|(address, inode)| Listening {
        proto: "unix",
        address,
        inode,
    }));
    found
}

/// `address:port` and inode of a /proc/net/{tcp,udp}[6] line in `state`.
fn inet_line(line: &str, state: &str) -> Option<(String, u64)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.get(3)? != &state {
        return None;
    }
    let (addr, port) = f.get(1)?.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let inode = f.get(9)?.parse().ok()?;
    let address = match addr.len() {
        8 => Ipv4Addr::from(u32::from_str_radix(addr, 16).ok()?.swap_bytes()).to_string(),
        // Four 32-bit words, each in the kernel's (little-endian) byte order.
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.swap_bytes().to_be_bytes());
            }
            format!("[{}]", Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((format!("{address}:{port}"), inode))
}

/// Path (or `@name` for the abstract namespace) and inode of a listening
/// socket's line in /proc/net/unix.
fn unix_line(line: &str) -> Option<(String, u64)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    // Flags 00010000: __SO_ACCEPTCON, set on a socket that listen() was called on.
    let flags = u32::from_str_radix(f.get(3)?, 16).ok()?;
    if flags & 0x0001_0000 == 0 {
        return None;
    }
    Some((f.get(7)?.to_string(), f.get(6)?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_addresses_as_the_kernel_writes_them() {
        let tcp = "   0: 0100007F:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000   105        0 23456 1";
        assert_eq!(inet_line(tcp, "0A"), Some(("127.0.0.1:25".into(), 23456)));
        assert_eq!(inet_line(tcp, "07"), None, "another state is not this one");
        let tcp6 = "   1: 00000000000000000000000001000000:03E1 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   105        0 777 1";
        assert_eq!(inet_line(tcp6, "0A"), Some(("[::1]:993".into(), 777)));
        assert_eq!(inet_line("garbage", "0A"), None);
        let unix = "0000000000000000: 00000002 00000000 00010000 0001 01 4242 /run/clamav/clamd.ctl";
        assert_eq!(unix_line(unix), Some(("/run/clamav/clamd.ctl".into(), 4242)));
        let connected = "0000000000000000: 00000003 00000000 00000000 0001 03 4243";
        assert_eq!(unix_line(connected), None);
    }

    #[test]
    fn reports_this_process_its_listening_socket_and_a_sysctl() {
        let conf = std::env::temp_dir().join(format!("hato-inspect-{}.conf", crate::ids::token(8)));
        fs::write(&conf, "# the kernel's name\nkernel.ostype = Linux\n").expect("write");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let report = report(&conf);
        let _ = fs::remove_file(&conf);
        assert!(report.contains("sysctl kernel.ostype = Linux\n"), "{report}");
        assert!(report.lines().any(|l| l.starts_with("mount / ")), "{report}");
        let me = std::process::id();
        let line = report.lines().find(|l| l.starts_with(&format!("process {me} "))).expect("this process");
        let exe = std::env::current_exe().expect("exe");
        let name = exe.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(line.contains(name), "{line}");
        assert!(report.contains(&format!("listen tcp 127.0.0.1:{port} {name}\n")), "{report}");
    }

    #[test]
    fn reads_ids_mounts_and_sysctl_keys() {
        let status = "Name:\tclamd\nUid:\t0\t105\t105\t105\nGid:\t0\t110\t110\t110\nGroups:\t4 27 \n";
        assert_eq!(ids(status), Some((105, 110, vec![4, 27])));
        assert_eq!(ids("Name:\tx\n"), None);
        assert_eq!(
            mount_line("/dev/md0 /data ext4 rw,nosuid,nodev,relatime 0 0"),
            Some(("/data", "ext4", "rw,nosuid,nodev,relatime"))
        );
        assert_eq!(sysctl_key("kernel.sysrq = 0"), Some("kernel.sysrq"));
        assert_eq!(sysctl_key("# kernel.sysrq = 1"), None);
        assert_eq!(sysctl_key(""), None);
    }
}
