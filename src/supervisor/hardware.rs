//! Drivers for whatever the box turns out to be. The initramfs carries only
//! what finding the root needs (image/modules.list); everything else comes
//! from the kernel package's full module tree in the root filesystem, loaded
//! by modalias — what udev does elsewhere:
//! - `coldplug` at boot: every device's modalias under /sys/devices is handed
//!   to kmod's `modprobe`, in rounds, because a loaded driver brings devices
//!   of its own (a USB host controller, then the stick on it);
//! - `hotplug` afterwards: the kernel's uevents (netlink) name the modalias
//!   of each device that appears, and its driver is loaded the same way;
//! - `watchdog`: the hardware watchdog, whichever driver made it (i6300esb,
//!   iTCO, an IPMI BMC's), else the kernel's softdog, fed from a thread.
//!
//! `inventory` names each network interface and disk with its driver, for
//! the boot log and whoever checks that a server's parts were found.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tracing::{info, warn};

/// Rounds of coldplug: each may bring devices the next one loads drivers for.
const ROUNDS: usize = 4;

/// Every modalias under `sys` (/sys/devices), walked without following links.
fn modaliases(sys: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut dirs = vec![sys.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                dirs.push(e.path());
            } else if kind.is_file()
                && e.file_name() == "modalias"
                && let Ok(text) = fs::read_to_string(e.path())
            {
                found.extend(text.lines().map(str::trim).filter(|a| !a.is_empty()).map(String::from));
            }
        }
    }
    found
}

/// The modules the kernel has loaded now.
fn loaded() -> BTreeSet<String> {
    fs::read_to_string("/proc/modules")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

/// Loads the driver of every device present, and of the devices those
/// drivers bring; returns the modules it loaded. Runs before the supervisor
/// (which reaps every child), so it may wait for `modprobe`.
pub fn coldplug() -> Vec<String> {
    let before = loaded();
    let mut tried = BTreeSet::new();
    for _ in 0..ROUNDS {
        let new: Vec<String> = settled_modaliases().difference(&tried).cloned().collect();
        if new.is_empty() {
            break;
        }
        // Many aliases match no module (bridges, CPUs): -q keeps that quiet; -b honours blacklists.
        for chunk in new.chunks(200) {
            let _ = Command::new("modprobe").args(["-q", "-b", "-a", "--"]).args(chunk).stderr(Stdio::null()).status();
        }
        tried.extend(new);
    }
    let loaded: Vec<String> = loaded().difference(&before).cloned().collect();
    info!(target: "hato::init", "drivers loaded by modalias: {}", if loaded.is_empty() { "none".into() } else { loaded.join(", ") });
    loaded
}

/// The modaliases once they stop changing (a driver's probe adds devices
/// after `modprobe` returns: SCSI and USB scan in the background), waiting
/// at most 5 s.
fn settled_modaliases() -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = modaliases(Path::new("/sys/devices"));
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = modaliases(Path::new("/sys/devices"));
        if now == last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// Loads drivers for devices that appear from now on (a USB stick or
/// keyboard, a hot-plugged disk), from the kernel's uevents.
pub fn hotplug() {
    use nix::sys::socket::{AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, socket};
    let sock = match socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkKObjectUEvent,
    ) {
        Ok(s) => s,
        Err(e) => return warn!(target: "hato::init", "no hotplug: cannot open the uevent socket: {e}"),
    };
    // Group 1: the kernel's own events.
    if let Err(e) = bind(std::os::fd::AsRawFd::as_raw_fd(&sock), &NetlinkAddr::new(0, 1)) {
        return warn!(target: "hato::init", "no hotplug: cannot listen for uevents: {e}");
    }
    let started = std::thread::Builder::new().name("hotplug".into()).spawn(move || {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match recv(std::os::fd::AsRawFd::as_raw_fd(&sock), &mut buf, nix::sys::socket::MsgFlags::empty()) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::ENOBUFS) => continue,
                Err(e) => return warn!(target: "hato::init", "hotplug stopped: {e}"),
            };
            let Some(event) = Uevent::parse(&buf[..n]) else { continue };
            if let Some(alias) = event.modalias {
                // Not waited for: under the supervisor its reaper collects every child.
                let _ = Command::new("modprobe").args(["-q", "-b", "--", &alias]).stderr(Stdio::null()).spawn();
            }
            if let Some(what) = event.added {
                info!(target: "hato::init", "device added: {what}");
            }
        }
    });
    if let Err(e) = started {
        warn!(target: "hato::init", "no hotplug: {e}");
    }
}

/// What an "add" uevent asks for.
#[derive(Debug, PartialEq)]
struct Uevent {
    /// The driver to load for the new device.
    modalias: Option<String>,
    /// A new network interface or disk, named for the log ("disk sdb").
    added: Option<String>,
}

impl Uevent {
    /// `add@/devices/…\0ACTION=add\0MODALIAS=…\0…`; other actions and
    /// udev's own messages (which start "libudev") are not ours.
    fn parse(msg: &[u8]) -> Option<Uevent> {
        let mut fields = msg.split(|b| *b == 0).filter_map(|f| std::str::from_utf8(f).ok());
        if !fields.next()?.starts_with("add@") {
            return None;
        }
        let (mut modalias, mut subsystem, mut devtype, mut name) = (None, "", "", "");
        for f in fields {
            match f.split_once('=') {
                Some(("MODALIAS", v)) if !v.is_empty() => modalias = Some(v.to_string()),
                Some(("SUBSYSTEM", v)) => subsystem = v,
                Some(("DEVTYPE", v)) => devtype = v,
                Some(("INTERFACE" | "DEVNAME", v)) => name = v,
                _ => {}
            }
        }
        let added = match (subsystem, devtype) {
            ("net", _) if !name.is_empty() => Some(format!("network {name}")),
            ("block", "disk") if !name.is_empty() => Some(format!("disk {name}")),
            _ => None,
        };
        Some(Uevent { modalias, added })
    }
}

/// The driver bound to a sysfs device, or to the nearest parent that has one
/// other than the generic SCSI disk driver ("ahci", "megaraid_sas", "usb-storage").
fn driver_of(device: &Path) -> Option<String> {
    let mut dir = fs::canonicalize(device).ok()?;
    loop {
        if let Ok(link) = fs::read_link(dir.join("driver")) {
            let name = link.file_name()?.to_string_lossy().into_owned();
            if name != "sd" {
                return Some(name);
            }
        }
        if !dir.pop() || dir == Path::new("/sys/devices") {
            return None;
        }
    }
}

/// "network eth0 (virtio_net), eth1 (igb); disks sda (ahci), vda (virtio_blk)".
pub fn inventory() -> String {
    let list = |class: &str, keep: &dyn Fn(&str) -> bool| -> String {
        let mut names: Vec<String> = fs::read_dir(class)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| keep(n))
            .collect();
        names.sort();
        let named: Vec<String> = names
            .iter()
            .map(|n| {
                let driver = driver_of(&Path::new(class).join(n).join("device"));
                format!("{n} ({})", driver.as_deref().unwrap_or("no driver"))
            })
            .collect();
        if named.is_empty() { "none".into() } else { named.join(", ") }
    };
    let net = list("/sys/class/net", &|n| n != "lo");
    let disks = list("/sys/block", &|n| !["loop", "ram", "md", "zram", "dm-"].iter().any(|p| n.starts_with(p)));
    format!("network {net}; disks {disks}")
}

static HANG: AtomicBool = AtomicBool::new(false);

/// Opens the watchdog and feeds it from a thread; `hato init` writes the
/// magic close on the returned handle before it powers off. With no hardware
/// watchdog, an IPMI BMC's is tried, then the kernel's softdog (which cannot
/// catch a kernel hang, but does catch PID 1's).
pub fn watchdog() -> Option<fs::File> {
    if !Path::new("/dev/watchdog").exists() {
        for module in ["ipmi_watchdog", "softdog"] {
            let _ = Command::new("modprobe").args(["-q", module]).status();
            if Path::new("/dev/watchdog").exists() {
                break;
            }
        }
    }
    let dog = fs::OpenOptions::new().write(true).open("/dev/watchdog").ok();
    let Some(dog) = dog else {
        crate::alert::raise("watchdog", crate::alert::Severity::Warning, "no watchdog: nothing resets a hung box");
        return None;
    };
    let mut feeder = dog.try_clone().ok()?;
    std::thread::spawn(move || {
        while !HANG.load(Ordering::Relaxed) && feeder.write_all(b"k").is_ok() {
            std::thread::sleep(Duration::from_secs(5));
        }
    });
    let identity = fs::read_to_string("/sys/class/watchdog/watchdog0/identity").unwrap_or_default();
    let timeout = fs::read_to_string("/sys/class/watchdog/watchdog0/timeout").unwrap_or_default();
    info!(target: "hato::init", "hardware watchdog armed: {} (timeout {} s)", identity.trim(), timeout.trim());
    Some(dog)
}

/// The console's `watchdog hang`: stops feeding, as a hung PID 1 would, so
/// the watchdog's reset can be seen working.
pub fn hang_watchdog() -> &'static str {
    HANG.store(true, Ordering::Relaxed);
    "the watchdog is no longer fed: the box resets when it fires\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uevents_name_the_driver_to_load_and_the_device_added() {
        let usb = b"add@/devices/pci0000:00/0000:00:05.0/usb1/1-1/1-1:1.0\0ACTION=add\0SUBSYSTEM=usb\0\
                    DEVTYPE=usb_interface\0MODALIAS=usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00\0SEQNUM=1";
        assert_eq!(
            Uevent::parse(usb),
            Some(Uevent { modalias: Some("usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00".into()), added: None })
        );
        let disk = b"add@/devices/.../block/sdc\0ACTION=add\0SUBSYSTEM=block\0DEVTYPE=disk\0DEVNAME=sdc\0";
        assert_eq!(Uevent::parse(disk), Some(Uevent { modalias: None, added: Some("disk sdc".into()) }));
        let nic = b"add@/devices/.../net/eth1\0ACTION=add\0SUBSYSTEM=net\0INTERFACE=eth1\0IFINDEX=3\0";
        assert_eq!(Uevent::parse(nic).unwrap().added.as_deref(), Some("network eth1"));
        assert_eq!(Uevent::parse(b"remove@/devices/x\0ACTION=remove\0MODALIAS=pci:v1\0"), None);
        assert_eq!(Uevent::parse(b"libudev\0\xfe\xed"), None);
        assert_eq!(Uevent::parse(b""), None);
    }

    #[test]
    fn modaliases_are_read_from_the_tree_without_following_links() {
        let dir = std::env::temp_dir().join(format!("hato-sysfs-{}", std::process::id()));
        let dev = dir.join("pci0000:00/0000:00:03.0");
        fs::create_dir_all(dev.join("net/eth1")).unwrap();
        fs::write(dev.join("modalias"), "pci:v00008086d000010C9sv*\n").unwrap();
        fs::write(dir.join("pci0000:00/modalias"), "\n").unwrap();
        // A link back up the tree (as sysfs's `subsystem` and `driver` are) is not followed.
        std::os::unix::fs::symlink(&dir, dev.join("subsystem")).unwrap();
        assert_eq!(modaliases(&dir).into_iter().collect::<Vec<_>>(), ["pci:v00008086d000010C9sv*"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
