//! The kernel command line, from /data/etc/boot.toml (seeded or written by
//! the administrator): which consoles the kernel and the status screen use —
//! many BMCs' serial-over-LAN is ttyS1, not ttyS0 — and any further kernel
//! options. The image ships it baked into the ESP's systemd-boot entries
//! (`scripts/build-image`); `hato init` rewrites their `options` line when
//! boot.toml asks for something else, and it takes effect at the next boot.
//!
//! Invariant: each entry keeps its own `hato.root=` (which root slot it
//! boots); only what comes before it is the administrator's.

use std::fs;
use std::path::Path;

use nix::mount::{MsFlags, mount, umount};
use serde::Deserialize;
use tracing::{error, info};

const CONFIG: &str = "/data/etc/boot.toml";
const MOUNT: &str = "/run/esp";
const ENTRIES: [&str; 2] = ["loader/entries/a.conf", "loader/entries/b.conf"];

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BootConfig {
    /// Kernel consoles, last one primary: `["tty0", "ttyS1,115200"]`.
    pub console: Vec<String>,
    /// Further kernel options, e.g. `"nomodeset"`.
    pub options: String,
}

impl Default for BootConfig {
    fn default() -> Self {
        BootConfig { console: vec!["tty0".into(), "ttyS0,115200".into()], options: String::new() }
    }
}

impl BootConfig {
    /// The command line before `hato.root=`.
    fn cmdline(&self) -> String {
        let mut words: Vec<String> = self.console.iter().map(|c| format!("console={c}")).collect();
        words.extend(["quiet".into(), "panic=10".into()]);
        words.extend(self.options.split_whitespace().map(String::from));
        words.join(" ")
    }
}

/// `entry` with its options line set to `cmdline` and its own `hato.root=`;
/// `None` when it already says that (or has no `hato.root=` to keep).
fn rewrite(entry: &str, cmdline: &str) -> Option<String> {
    let root = entry
        .lines()
        .find_map(|l| l.strip_prefix("options "))?
        .split_whitespace()
        .find(|w| w.starts_with("hato.root="))?;
    let options = format!("options {cmdline} {root}");
    let mut out = String::new();
    for line in entry.lines() {
        out.push_str(if line.starts_with("options ") { &options } else { line });
        out.push('\n');
    }
    (out != entry).then_some(out)
}

/// Applies boot.toml to the boot entries, if it exists and differs.
pub fn apply(esp_device: Option<String>) {
    let text = match fs::read_to_string(CONFIG) {
        Ok(t) => t,
        Err(_) => return,
    };
    let cfg: BootConfig = match toml::from_str(&text) {
        Ok(c) => c,
        Err(e) => {
            return crate::alert::raise(
                "boot.config",
                crate::alert::Severity::Warning,
                &format!("{CONFIG} ignored (the boot entries are unchanged): {e}"),
            );
        }
    };
    let Some(dev) = esp_device else { return error!(target: "hato::init", "no ESP partition: {CONFIG} not applied") };
    let _ = fs::create_dir_all(MOUNT);
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if let Err(e) = mount(Some(dev.as_str()), MOUNT, Some("vfat"), flags, None::<&str>) {
        return error!(target: "hato::init", "cannot mount the ESP {dev}: {e}; {CONFIG} not applied");
    }
    let cmdline = cfg.cmdline();
    for entry in ENTRIES {
        let path = Path::new(MOUNT).join(entry);
        let Ok(old) = fs::read_to_string(&path) else { continue };
        if let Some(new) = rewrite(&old, &cmdline) {
            match crate::files::write_private(&path, new.as_bytes()) {
                Ok(()) => info!(target: "hato::init", "kernel command line from the next boot on: {cmdline} ({entry})"),
                Err(e) => error!(target: "hato::init", "cannot write {entry} on the ESP: {e}"),
            }
        }
    }
    nix::unistd::sync();
    let _ = umount(MOUNT);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = "title Hato (slot B)\nlinux /vmlinuz\ninitrd /initrd.img\n\
                           options console=tty0 console=ttyS0,115200 quiet panic=10 hato.root=rootB\n";

    #[test]
    fn the_default_is_what_the_image_ships() {
        assert_eq!(rewrite(SHIPPED, &BootConfig::default().cmdline()), None);
    }

    #[test]
    fn consoles_and_options_change_and_the_slot_stays() {
        let cfg: BootConfig =
            toml::from_str("console = [\"tty0\", \"ttyS1,57600\"]\noptions = \"nomodeset\"\n").unwrap();
        let new = rewrite(SHIPPED, &cfg.cmdline()).unwrap();
        assert!(
            new.contains("options console=tty0 console=ttyS1,57600 quiet panic=10 nomodeset hato.root=rootB\n"),
            "{new}"
        );
        assert!(new.starts_with("title Hato (slot B)\nlinux /vmlinuz\ninitrd /initrd.img\n"));
        assert_eq!(rewrite(&new, &cfg.cmdline()), None, "applied once");
        assert_eq!(rewrite("title x\noptions quiet\n", "quiet"), None, "no slot to keep: left alone");
        assert!(toml::from_str::<BootConfig>("consoles = []").unwrap_err().to_string().contains("unknown field"));
    }
}
