//! `hato init`: PID 1 of the appliance.
//!
//! Brings the box up (mounts, sysctls, data disk, hostname, network), then
//! runs the supervisor with the appliance's services, shows a status screen on
//! the console, feeds the watchdog, and on a stop request (SIGTERM, SIGPWR,
//! SIGINT from ctrl-alt-del, or the power button) stops the services in
//! reverse order, syncs, unmounts and powers off or reboots. It never exits:
//! a PID 1 that exits panics the kernel.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::mount::{MsFlags, mount};
use nix::sys::reboot::{RebootMode, reboot};
use serde::Deserialize;
use tracing::{error, info, warn};

use super::{StatusBoard, Supervisor};

const DATA: &str = "/data";
const SUPERVISOR_CONFIG: &str = "/etc/hato/supervisor.toml";
/// The hardening sysctls, applied at boot and read back by the console's `inspect`.
const SYSCTL_CONF: &str = "/etc/hato/sysctl.conf";
/// The appliance's state for the web console (`supervisor::status`).
pub const STATUS_FILE: &str = "/run/hato/status.json";

/// Network and identity, from /data/etc/network.toml (seeded on first boot).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    pub hostname: String,
    pub interface: String,
    /// "address/prefix"; empty means DHCP.
    pub address: String,
    pub gateway: String,
    /// DNS servers; empty with DHCP means the lease's.
    pub dns: Vec<String>,
    /// Zones the site's DNS servers serve that the public DNS does not know
    /// (e.g. "corp.example"): resolved without DNSSEC validation.
    pub dns_private_zones: Vec<String>,
    /// NTP servers; empty means the DHCP lease's, else Debian's pool.
    pub ntp: Vec<String>,
}

fn console(msg: &str) {
    if let Ok(mut c) = fs::OpenOptions::new().write(true).open("/dev/console") {
        let _ = c.write_all(msg.as_bytes());
    } else {
        eprint!("{msg}");
    }
}

fn run(cmd: &str, args: &[&str]) -> bool {
    match Command::new(cmd).args(args).status() {
        Ok(s) if s.success() => true,
        Ok(s) => {
            warn!(target: "hato::init", "{cmd} {args:?} failed: {s}");
            false
        }
        Err(e) => {
            warn!(target: "hato::init", "cannot run {cmd}: {e}");
            false
        }
    }
}

fn mnt(src: &str, target: &str, fstype: &str, flags: MsFlags, data: Option<&str>) {
    let _ = fs::create_dir_all(target);
    if let Err(e) = mount(Some(src), target, Some(fstype), flags, data) {
        // EBUSY: already mounted (the initramfs moved it here).
        if e != nix::errno::Errno::EBUSY {
            warn!(target: "hato::init", "mount {fstype} on {target} failed: {e}");
        }
    }
}

fn early_mounts() {
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mnt("proc", "/proc", "proc", nosuid, None);
    mnt("sysfs", "/sys", "sysfs", nosuid, None);
    mnt("devtmpfs", "/dev", "devtmpfs", MsFlags::MS_NOSUID, Some("mode=0755"));
    mnt("devpts", "/dev/pts", "devpts", MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC, Some("gid=5,mode=620,ptmxmode=000"));
    mnt("tmpfs", "/dev/shm", "tmpfs", nosuid, Some("mode=1777"));
    mnt("tmpfs", "/run", "tmpfs", MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=0755"));
    mnt("tmpfs", "/tmp", "tmpfs", MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=1777"));
    let _ = fs::create_dir_all("/run/lock");
}

/// Applies `key = value` lines to /proc/sys (the KSPP-style hardening baseline).
fn apply_sysctls(path: &Path) {
    let Ok(text) = fs::read_to_string(path) else { return };
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let Some((k, v)) = line.split_once('=') else { continue };
        let file = format!("/proc/sys/{}", k.trim().replace('.', "/"));
        if let Err(e) = fs::write(&file, v.trim()) {
            warn!(target: "hato::init", "sysctl {} failed: {e}", k.trim());
        }
    }
}

/// The block device of a GPT partition by its name (PARTNAME in uevent).
fn partition(name: &str) -> Option<String> {
    for e in fs::read_dir("/sys/class/block").ok()?.flatten() {
        let uevent = fs::read_to_string(e.path().join("uevent")).unwrap_or_default();
        if uevent.lines().any(|l| l == format!("PARTNAME={name}")) {
            return uevent.lines().find_map(|l| l.strip_prefix("DEVNAME=")).map(|d| format!("/dev/{d}"));
        }
    }
    None
}

/// The data filesystem's device: the data RAID (`raid`), else the boot
/// disk's data partition; and whether `mount_data` may format it when it
/// has no filesystem (an array only when this boot created it).
fn data_device() -> Option<(String, bool)> {
    let root = partition("rootA")?;
    let boot_disk =
        root.trim_start_matches("/dev/").trim_end_matches(char::is_numeric).trim_end_matches('p').to_string();
    match super::raid::data_device(&boot_disk, run) {
        Some(array) => Some((array.path, array.created)),
        None => partition("data").map(|p| (p, true)),
    }
}

fn mount_data() -> bool {
    let Some((dev, may_format)) = data_device() else {
        crate::alert::raise(
            "data.missing",
            crate::alert::Severity::Critical,
            "no data partition or disk found; mail cannot be stored",
        );
        return false;
    };
    match super::raid::first_use(may_format, super::raid::has_filesystem(&dev)) {
        super::raid::FirstUse::Mount => {}
        super::raid::FirstUse::Format => {
            info!(target: "hato::init", "first boot: formatting {dev}");
            if !run("mkfs.ext4", &["-q", "-F", "-L", "hato-data", &dev]) {
                return false;
            }
        }
        super::raid::FirstUse::Refuse => {
            crate::alert::raise(
                "data.unreadable",
                crate::alert::Severity::Critical,
                &format!(
                    "the data RAID {dev} was assembled but holds no filesystem: it is left as it is (not \
                     formatted) so that its data can be recovered; mail cannot be stored until it is, or \
                     until its disks are wiped or replaced to start afresh"
                ),
            );
            return false;
        }
    }
    let _ = fs::create_dir_all(DATA);
    if let Err(e) = mount(Some(dev.as_str()), DATA, Some("ext4"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, None::<&str>)
    {
        crate::alert::raise(
            "data.mount",
            crate::alert::Severity::Critical,
            &format!("cannot mount {dev} on {DATA}: {e}"),
        );
        return false;
    }
    info!(target: "hato::init", "data on {dev}");
    true
}

/// /var is the read-only image's /var with a writable layer on the data disk.
fn mount_var(persistent: bool) {
    let base = if persistent { "/data/var" } else { "/run/var" };
    for d in ["upper", "work"] {
        let _ = fs::create_dir_all(format!("{base}/{d}"));
    }
    let opts = format!("lowerdir=/var,upperdir={base}/upper,workdir={base}/work");
    mnt("overlay", "/var", "overlay", MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(&opts));
}

/// Brings the interface up and returns the DNS and NTP servers it names.
fn network(cfg: &NetworkConfig) -> super::lease::Servers {
    let host = if cfg.hostname.is_empty() { "hato" } else { &cfg.hostname };
    let _ = nix::unistd::sethostname(host);
    run("ip", &["link", "set", "lo", "up"]);
    let iface = if cfg.interface.is_empty() { "eth0" } else { &cfg.interface };
    run("ip", &["link", "set", iface, "up"]);
    if cfg.address.is_empty() {
        // busybox udhcpc applies the lease with /etc/hato/udhcpc.script; NTP servers are asked for too.
        // It returns once it has a lease (or has tried 5 times) and stays behind to renew it: a lease
        // left to expire hands this box's address to the next machine that asks.
        run("busybox", &["udhcpc", "-i", iface, "-b", "-t", "5", "-O", "ntpsrv", "-s", "/etc/hato/udhcpc.script"]);
    } else {
        run("ip", &["addr", "add", &cfg.address, "dev", iface]);
        if !cfg.gateway.is_empty() {
            run("ip", &["route", "add", "default", "via", &cfg.gateway]);
        }
    }
    // Configured servers win; otherwise a DHCP lease has written its own.
    if !cfg.dns.is_empty() || !cfg.address.is_empty() {
        let resolv: String = cfg.dns.iter().map(|d| format!("nameserver {d}\n")).collect();
        let _ = fs::write(super::lease::RESOLV_CONF, resolv);
    }
    let servers = super::lease::Servers::read(cfg);
    servers.write(cfg);
    servers
}

/// The hato user owns the mail data; created in the image, given the data directory here.
fn prepare_data_dirs() {
    let _ = fs::create_dir_all("/data/hato");
    let _ = fs::create_dir_all("/data/log");
    if let Ok(Some(u)) = nix::unistd::User::from_name("hato") {
        let _ = nix::unistd::chown("/data/hato", Some(u.uid), Some(u.gid));
    }
    // MariaDB's data and runtime files, for when this node is part of a cluster (`hato galera-node`),
    // and the cluster directory: hato serve's, readable by MariaDB's group. Set-group-ID, so what
    // hato serve writes there is in that group without hato being a member.
    if let Ok(Some(u)) = nix::unistd::User::from_name("mysql") {
        for dir in ["/data/hato/mysql", "/data/hato/mysql-run"] {
            let _ = fs::create_dir_all(dir);
            let _ = nix::unistd::chown(dir, Some(u.uid), Some(u.gid));
        }
        if let Ok(Some(h)) = nix::unistd::User::from_name("hato") {
            let _ = fs::create_dir_all("/data/hato/cluster");
            let _ = nix::unistd::chown("/data/hato/cluster", Some(h.uid), Some(u.gid));
            let _ = fs::set_permissions("/data/hato/cluster", std::os::unix::fs::PermissionsExt::from_mode(0o2750));
            // Anything that left the group (written while the directory was not set-group-ID) goes back.
            for f in fs::read_dir("/data/hato/cluster").into_iter().flatten().flatten() {
                let _ = nix::unistd::chown(&f.path(), None, Some(u.gid));
            }
        }
    }
    // clamd's signatures (kept across updates of the image) and its socket's directory.
    let _ = fs::create_dir_all("/data/clamav");
    let _ = fs::create_dir_all("/run/clamav");
    if let Ok(Some(u)) = nix::unistd::User::from_name("clamav") {
        for dir in ["/data/clamav", "/run/clamav"] {
            let _ = nix::unistd::chown(dir, Some(u.uid), Some(u.gid));
        }
        for f in fs::read_dir("/data/clamav").into_iter().flatten().flatten() {
            let _ = nix::unistd::chown(&f.path(), Some(u.uid), Some(u.gid));
        }
    }
    // The appliance config: the admin's copy on the data disk, else the image default.
    if !Path::new("/data/etc/hato.toml").exists() {
        let _ = fs::copy("/etc/hato/hato.toml", "/data/etc/hato.toml");
    }
    // The web console's settings page rewrites it (the rest of /data/etc stays root's).
    if let Ok(Some(u)) = nix::unistd::User::from_name("hato") {
        let _ = nix::unistd::chown("/data/etc/hato.toml", Some(u.uid), Some(u.gid));
    }
}

/// Writes snmpd's configuration from hato.toml, and its v3 user once.
fn configure_snmpd() {
    let _ = fs::create_dir_all("/run/hato");
    let cfg = match crate::config::Config::load(Some(Path::new("/data/etc/hato.toml"))) {
        Ok(c) => c,
        Err(e) => {
            error!(target: "hato::init", "SNMP left unconfigured: {e}");
            return;
        }
    };
    let _ = fs::write("/run/hato/snmpd.conf", super::snmpd::config(&cfg.snmp, &cfg.hostname));
    if let Some(line) = super::snmpd::create_user(&cfg.snmp) {
        let store = Path::new("/var/lib/snmp/snmpd.conf");
        let marker = Path::new("/data/etc/.snmp-user-created");
        if !marker.exists() {
            let _ = fs::create_dir_all("/var/lib/snmp");
            let mut existing = fs::read_to_string(store).unwrap_or_default();
            existing.push_str(&line);
            let _ = fs::write(store, existing);
            if let Ok(Some(u)) = nix::unistd::User::from_name("Debian-snmp") {
                let _ = nix::unistd::chown(store, Some(u.uid), Some(u.gid));
            }
            let _ = fs::write(marker, b"");
        }
    }
    if let Ok(Some(u)) = nix::unistd::User::from_name("Debian-snmp") {
        let _ = nix::unistd::chown("/run/hato", None, Some(u.gid));
        let _ = fs::set_permissions("/run/hato", std::os::unix::fs::PermissionsExt::from_mode(0o775));
    }
}

/// The administrator password: the seed's when one was applied at this boot,
/// else on first boot one shown once on the console. An `admin-password`
/// not just seeded (left by versions that copied the seed at every boot) is
/// deleted unused: it must not undo a password the administrator changed.
fn admin_password(seeded_now: bool) {
    let marker = Path::new("/data/etc/admin.hash");
    let file = Path::new("/data/etc/admin-password");
    let seeded = fs::read_to_string(file).ok().map(|s| s.trim().to_string()).filter(|s| seeded_now && !s.is_empty());
    let _ = fs::remove_file(file);
    let (password, shown) = match seeded {
        Some(p) => (p, false),
        None if marker.exists() => return,
        None => (crate::ids::token(16), true),
    };
    if let Ok(hash) = crate::directory::hash_password(&password) {
        let _ = fs::write(marker, hash);
    }
    if shown {
        console(&format!(
            "\n  First boot: the administrator password is  {password}\n  It is shown only this once.\n\n"
        ));
    }
}

/// IPv4 addresses of the box, read without spawning a process: after the
/// supervisor starts, the reaper owns every child's exit status.
fn addresses() -> Vec<String> {
    let Ok(ifs) = nix::ifaddrs::getifaddrs() else { return Vec::new() };
    ifs.filter(|i| i.interface_name != "lo")
        .filter_map(|i| i.address.and_then(|a| a.as_sockaddr_in().map(|v4| v4.ip().to_string())))
        .collect()
}

fn memory_used_mib() -> u64 {
    let info = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kb = |key: &str| {
        info.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    kb("MemTotal:").saturating_sub(kb("MemAvailable:")) / 1024
}

fn status_screen(board: &StatusBoard, health: Option<&crate::health::Report>) -> String {
    let mut s =
        format!("\n==== Hato {} ====  {}\n", env!("CARGO_PKG_VERSION"), crate::clock::rfc5322(crate::clock::now()));
    let addrs = addresses();
    s.push_str(&format!("addresses: {}\n", if addrs.is_empty() { "none yet".into() } else { addrs.join(", ") }));
    if let Some(a) = addrs.first() {
        s.push_str(&format!("web console: https://{a}/\n"));
    }
    s.push_str(&format!("memory used: {} MiB    (type `help` here for console commands)\n", memory_used_mib()));
    s.push_str(&format!("hardware: {}\n", super::hardware::inventory()));
    match health.and_then(|h| h.clock.as_ref()) {
        Some(c) if c.synchronised => s.push_str(&format!("time: synchronised to {}\n", c.source)),
        Some(_) => s.push_str("time: NOT synchronised (no NTP server answers yet)\n"),
        None => {}
    }
    for svc in board.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        s.push_str(&format!("  {:<12} {:<11} restarts {}\n", svc.name, svc.state, svc.restarts));
    }
    let Some(health) = health else { return s };
    for a in &health.arrays {
        let sync = a.sync.as_ref().map(|x| format!(" {} {:.1}%", x.kind, x.percent)).unwrap_or_default();
        s.push_str(&format!(
            "  RAID {:<7} {} [{}]{}{}\n",
            a.name,
            a.level,
            a.slots,
            if a.degraded() { " DEGRADED" } else { "" },
            sync
        ));
    }
    for (_, (_, text)) in health.conditions.iter().filter(|(_, (sev, _))| *sev != crate::health::Severity::Info) {
        s.push_str(&format!("  ! {text}\n"));
    }
    s
}

/// First-boot provisioning from the seed: domains, accounts and aliases.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Bootstrap {
    domains: Vec<String>,
    accounts: Vec<BootstrapAccount>,
    aliases: Vec<(String, String)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BootstrapAccount {
    address: String,
    password: String,
}

/// Applies /data/etc/bootstrap.toml once, then deletes it (it holds passwords).
async fn bootstrap() {
    let path = Path::new("/data/etc/bootstrap.toml");
    let Ok(text) = fs::read_to_string(path) else { return };
    let _ = fs::remove_file(path);
    let b: Bootstrap = match toml::from_str(&text) {
        Ok(b) => b,
        Err(e) => {
            error!(target: "hato::init", "bootstrap.toml ignored: {e}");
            return;
        }
    };
    let cfg = match crate::config::Config::load(Some(Path::new("/data/etc/hato.toml"))) {
        Ok(c) => c,
        Err(e) => {
            error!(target: "hato::init", "bootstrap skipped: {e}");
            return;
        }
    };
    let store = match crate::store::Store::open(&cfg).await {
        Ok(s) => s,
        Err(e) => {
            error!(target: "hato::init", "bootstrap skipped: {e}");
            return;
        }
    };
    for d in b.domains {
        if let Err(e) = store.add_domain(d.to_lowercase()).await {
            warn!(target: "hato::init", "bootstrap domain {d}: {e}");
        }
    }
    for a in b.accounts {
        let Ok(hash) = crate::directory::hash_password(&a.password) else { continue };
        let account = crate::store::Account {
            address: a.address.to_lowercase(),
            display_name: String::new(),
            quota_bytes: 0,
            used_bytes: 0,
            enabled: true,
            password_hash: hash,
            role: Default::default(),
        };
        if let Err(e) = store.add_account(account).await {
            warn!(target: "hato::init", "bootstrap account {}: {e}", a.address);
        }
    }
    for (from, to) in b.aliases {
        if let Err(e) = store.add_alias(from.to_lowercase(), to.to_lowercase()).await {
            warn!(target: "hato::init", "bootstrap alias {from}: {e}");
        }
    }
    // The store was opened as root; the service runs as hato.
    if let Ok(Some(u)) = nix::unistd::User::from_name("hato") {
        for base in [cfg.db_path(), cfg.db_index_path()] {
            for suffix in ["", "-wal", "-shm"] {
                let _ = nix::unistd::chown(format!("{}{suffix}", base.display()).as_str(), Some(u.uid), Some(u.gid));
            }
        }
    }
    info!(target: "hato::init", "bootstrap applied");
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    PowerOff,
    Reboot,
}

/// Waits for a stop request: signals, or the ACPI power button (evdev KEY_POWER).
/// Waits for a signal, the power button, or `poweroff`/`reboot` typed at the
/// console (sent on `console`).
async fn stop_request(console: Option<tokio::sync::mpsc::UnboundedReceiver<Stop>>) -> Stop {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    if let Some(mut typed) = console {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(how) = typed.recv().await {
                let _ = tx.send(how);
            }
        });
    }
    for (kind, what) in [
        (SignalKind::terminate(), Stop::PowerOff),
        (SignalKind::from_raw(libc_sigpwr()), Stop::PowerOff),
        (SignalKind::interrupt(), Stop::Reboot),
    ] {
        if let Ok(mut s) = signal(kind) {
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    let _ = tx.send(what);
                }
            });
        }
    }
    power_button(tx);
    rx.recv().await.unwrap_or(Stop::PowerOff)
}

fn libc_sigpwr() -> i32 {
    nix::sys::signal::Signal::SIGPWR as i32
}

fn power_button(tx: tokio::sync::mpsc::UnboundedSender<Stop>) {
    let Ok(entries) = fs::read_dir("/sys/class/input") else { return };
    for e in entries.flatten() {
        let name = fs::read_to_string(e.path().join("device/name")).unwrap_or_default();
        let ev = e.file_name().to_string_lossy().to_string();
        if !ev.starts_with("event") || !name.contains("Power Button") {
            continue;
        }
        let tx = tx.clone();
        std::thread::spawn(move || {
            let Ok(mut f) = fs::File::open(format!("/dev/input/{ev}")) else { return };
            // struct input_event: 16 bytes of time, u16 type, u16 code, i32 value.
            let mut buf = [0u8; 24];
            while f.read_exact(&mut buf).is_ok() {
                let (kind, code, value) = (
                    u16::from_ne_bytes([buf[16], buf[17]]),
                    u16::from_ne_bytes([buf[18], buf[19]]),
                    i32::from_ne_bytes([buf[20], buf[21], buf[22], buf[23]]),
                );
                if kind == 1 && code == 116 && value == 1 {
                    let _ = tx.send(Stop::PowerOff);
                }
            }
        });
    }
}

fn finish(how: Stop, dog: Option<fs::File>) -> ! {
    console("hato init: services stopped; syncing and unmounting\n");
    nix::unistd::sync();
    let _ = Command::new("mdadm").args(["--wait-clean", "--scan"]).status();
    for m in ["/var", DATA] {
        if nix::mount::umount(m).is_err() {
            let _ = mount(None::<&str>, m, None::<&str>, MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None::<&str>);
        }
    }
    nix::unistd::sync();
    if let Some(mut d) = dog {
        // The magic close: stop the watchdog so it does not reset the powered-off box.
        let _ = d.write_all(b"V");
    }
    console(&format!("hato init: {}\n", if how == Stop::PowerOff { "power off" } else { "reboot" }));
    let mode = if how == Stop::PowerOff { RebootMode::RB_POWER_OFF } else { RebootMode::RB_AUTOBOOT };
    let _ = reboot(mode);
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Open files allowed to every service (connections, for the mail server).
const OPEN_FILES: u64 = 262_144;

/// PID 1's main. Never returns.
pub fn main() -> ! {
    early_mounts();
    let _ = crate::logs::init("info");
    info!(target: "hato::init", "Hato {} starting as PID {}", env!("CARGO_PKG_VERSION"), std::process::id());
    let cmdline = fs::read_to_string("/proc/cmdline").unwrap_or_default();
    info!(target: "hato::init", "kernel command line: {}", cmdline.trim());
    // ctrl-alt-del sends SIGINT to us instead of rebooting at once.
    let _ = nix::sys::reboot::set_cad_enabled(false);
    apply_sysctls(Path::new(SYSCTL_CONF));
    // The kernel gives PID 1 1024 open files, and every service inherits
    // that; the mail server holds one per connection.
    if let Err(e) = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, OPEN_FILES, OPEN_FILES) {
        warn!(target: "hato::init", "cannot raise the open-file limit: {e}");
    }
    // Drivers first: the data disks may sit on a controller only the full module tree has.
    super::hardware::hotplug();
    super::hardware::coldplug();
    let persistent = mount_data();
    mount_var(persistent);
    if persistent {
        let seeded = super::seed::apply();
        prepare_data_dirs();
        admin_password(seeded);
        super::bootloader::apply(partition("esp"));
        configure_snmpd();
    }
    let net: NetworkConfig = fs::read_to_string("/data/etc/network.toml")
        .ok()
        .and_then(|t| toml::from_str(&t).map_err(|e| error!(target: "hato::init", "network.toml: {e}")).ok())
        .unwrap_or_default();
    // The firewall goes up before the interfaces do, so no port is ever open unguarded.
    if !run("nft", &["-f", "/etc/hato/firewall.nft"]) {
        crate::alert::raise("firewall", crate::alert::Severity::Critical, "the firewall could not be loaded");
    } else {
        info!(target: "hato::init", "firewall loaded");
    }
    let servers = network(&net);
    info!(target: "hato::init", "hardware: {}", super::hardware::inventory());
    let dog = super::hardware::watchdog();

    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            console(&format!("hato init: cannot start the runtime: {e}\n"));
            finish(Stop::Reboot, dog);
        }
    };
    let how = rt.block_on(async {
        let cfg = match super::load(Path::new(SUPERVISOR_CONFIG)) {
            Ok(c) => c,
            Err(e) => {
                crate::alert::raise("supervisor.config", crate::alert::Severity::Critical, &e.to_string());
                return stop_request(None).await;
            }
        };
        if persistent {
            bootstrap().await;
        }
        let mut sup = Supervisor::new(cfg);
        let (health_tx, health_rx) = tokio::sync::watch::channel(None);
        sup.health = Some(health_rx);
        let board = sup.board.clone();
        let (typed_tx, typed_rx) = tokio::sync::mpsc::unbounded_channel();
        let (handle, console_board, console_health) = (sup.handle(), board.clone(), sup.health.clone());
        super::console::read_commands(
            move |cmd| match cmd {
                super::console::Command::Status => {
                    let health = console_health.as_ref().and_then(|h| h.borrow().clone());
                    console(&status_screen(&console_board, health.as_ref()))
                }
                super::console::Command::Smart => {
                    for (dev, json) in crate::health::smart::raw_all() {
                        console(&format!("---- smartctl -j -a {dev} ----\n{}\n---- end {dev} ----\n", json.trim_end()));
                    }
                }
                super::console::Command::Inspect => console(&super::inspect::report(Path::new(SYSCTL_CONF))),
                super::console::Command::Restart(name) => handle.restart(&name),
                super::console::Command::Signal(name, sig) => handle.signal(&name, sig),
                super::console::Command::Reseed => console(&super::seed::ask_again()),
                super::console::Command::HangWatchdog => console(super::hardware::hang_watchdog()),
                super::console::Command::RaidAdd(disk) => console(&super::raid::add(&disk)),
                super::console::Command::PowerOff => drop(typed_tx.send(Stop::PowerOff)),
                super::console::Command::Reboot => drop(typed_tx.send(Stop::Reboot)),
                super::console::Command::Help | super::console::Command::Nothing => console(super::console::HELP),
            },
            console,
        );
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let screen_board = board.clone();
        let screen_health = sup.health.clone();
        tokio::spawn(async move {
            let mut last = String::new();
            loop {
                let health = screen_health.as_ref().and_then(|h| h.borrow().clone());
                let services = screen_board.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let status = super::status::of(&services, health.as_ref(), memory_used_mib());
                if let Err(e) = super::status::write(Path::new(STATUS_FILE), &status) {
                    warn!(target: "hato::init", "cannot write {STATUS_FILE}: {e}");
                }
                let now = status_screen(&screen_board, health.as_ref());
                // Redraw when something changed (the date line aside), at most every 2 s.
                let key: String = now.lines().skip(2).filter(|l| !l.starts_with("memory used")).collect();
                if key != last {
                    console(&now);
                    last = key;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
        if persistent {
            tokio::spawn(crate::health::monitor(DATA.into(), Duration::from_secs(5), health_tx));
        }
        if net.address.is_empty() {
            tokio::spawn(super::lease::follow(net, sup.handle(), servers));
        }
        let run = tokio::spawn(sup.run(async move {
            let _ = stop_rx.await;
        }));
        let how = stop_request(Some(typed_rx)).await;
        info!(target: "hato::init", "{how:?} requested");
        let _ = stop_tx.send(());
        let _ = run.await;
        how
    });
    drop(rt);
    finish(how, dog)
}
