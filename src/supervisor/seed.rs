//! The seed disk: how a box is configured before anyone can reach it. A small
//! FAT disk or USB stick labelled `HATO-SEED` holds any of `hato.toml`,
//! `network.toml`, `boot.toml` (`supervisor::bootloader`), `admin-password`, `bootstrap.toml` (domains, accounts and
//! their passwords), `clamav/` signatures, and optionally `seed.toml` with
//! `serial = N` (0 when absent).
//!
//! Invariants:
//! - A seed is applied once. The serial of the seed last applied is kept in
//!   /data/etc/seed-applied; a seed is applied again only when its serial is
//!   higher, or when the administrator typed `reseed` at the console. A stick
//!   left in the slot is read at every boot and otherwise ignored, so nothing
//!   an administrator changed since is put back.
//! - Secrets are used once. After `admin-password` and `bootstrap.toml` are
//!   copied to the data disk they are overwritten with zeros and deleted from
//!   the stick; on the data disk `hato init` deletes each after using it. A
//!   stick that cannot be written (write-protected) raises an alert naming
//!   what is still on it.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount, umount};
use serde::Deserialize;
use tracing::{error, info, warn};

const LABEL: &[u8] = b"HATO-SEED";
const MOUNT: &str = "/run/seed";
/// Copied to /data/etc when a seed is applied.
const FILES: [&str; 5] = ["hato.toml", "network.toml", "boot.toml", "admin-password", "bootstrap.toml"];
/// What is wiped from the stick once copied.
const SECRETS: [&str; 2] = ["admin-password", "bootstrap.toml"];
/// The serial of the seed last applied.
const APPLIED: &str = "/data/etc/seed-applied";
/// Written by the console's `reseed`: apply the seed at the next boot whatever its serial.
const ASKED: &str = "/data/etc/seed-reapply";
/// Exists once the box has an administrator password (from a seed or shown on the console).
const ADMIN_HASH: &str = "/data/etc/admin.hash";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SeedInfo {
    serial: u64,
}

/// Whether a seed of `serial` is applied, given the serial applied last
/// (`None`: never) and whether the administrator asked for it.
fn wanted(serial: u64, applied: Option<u64>, asked: bool) -> bool {
    asked || applied.is_none_or(|last| serial > last)
}

/// The serial applied last. A box provisioned before serials were kept (it
/// has an administrator password but no record) counts as having applied 0.
fn applied() -> Option<u64> {
    match fs::read_to_string(APPLIED) {
        Ok(text) => text.trim().parse().ok().or(Some(0)),
        Err(_) => Path::new(ADMIN_HASH).exists().then_some(0),
    }
}

/// The device whose FAT volume label is HATO-SEED.
fn find() -> Option<String> {
    fs::read_dir("/sys/class/block").ok()?.flatten().find_map(|e| {
        let dev = format!("/dev/{}", e.file_name().to_string_lossy());
        // The volume label sits at offset 43 (FAT12/16) or 71 (FAT32).
        let mut boot = [0u8; 90];
        let read = fs::File::open(&dev).and_then(|mut f| f.read_exact(&mut boot));
        (read.is_ok() && (&boot[43..52] == LABEL || &boot[71..80] == LABEL)).then_some(dev)
    })
}

/// Applies the seed disk if there is one and it is wanted (see the module's
/// invariants); true when it was. Called by `hato init` with /data mounted,
/// before anything reads /data/etc.
pub fn apply() -> bool {
    let Some(dev) = find() else { return false };
    let _ = fs::create_dir_all(MOUNT);
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    // Read-write, to wipe the secrets; a write-protected stick is still read.
    let writable = mount(Some(dev.as_str()), MOUNT, Some("vfat"), flags, None::<&str>).is_ok();
    if !writable && mount(Some(dev.as_str()), MOUNT, Some("vfat"), flags | MsFlags::MS_RDONLY, None::<&str>).is_err() {
        warn!(target: "hato::init", "seed disk {dev} could not be mounted");
        return false;
    }
    let stick = Path::new(MOUNT);
    let mut applied_now = false;
    match read_serial(stick) {
        Ok(serial) => {
            let (last, asked) = (applied(), Path::new(ASKED).exists());
            if wanted(serial, last, asked) {
                copy_in(&dev, stick, serial);
                wipe_secrets(&dev, stick, writable);
                applied_now = true;
            } else {
                info!(target: "hato::init",
                    "seed disk {dev} (serial {serial}) ignored: serial {} was applied already; give its seed.toml a \
                     higher serial, or type `reseed` at the console, to apply it again", last.unwrap_or(0));
            }
        }
        Err(e) => crate::alert::raise(
            "seed.invalid",
            crate::alert::Severity::Warning,
            &format!("the seed disk {dev} was not applied: seed.toml: {e}"),
        ),
    }
    let _ = umount(MOUNT);
    applied_now
}

fn read_serial(stick: &Path) -> Result<u64, String> {
    match fs::read_to_string(stick.join("seed.toml")) {
        Ok(text) => toml::from_str::<SeedInfo>(&text).map(|i| i.serial).map_err(|e| e.to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e.to_string()),
    }
}

/// Copies the seed's files over /data/etc's and records the serial, in that
/// order: a power cut between the two applies the same seed again.
fn copy_in(dev: &str, stick: &Path, serial: u64) {
    let etc = Path::new("/data/etc");
    let _ = fs::create_dir_all(etc);
    let mut copied = Vec::new();
    for f in FILES {
        let src = stick.join(f);
        if !src.exists() {
            continue;
        }
        // Private (0600) whatever it is: hato.toml may hold SNMPv3 passwords.
        match fs::read(&src).and_then(|data| crate::files::write_private(&etc.join(f), &data)) {
            Ok(()) => copied.push(f),
            Err(e) => error!(target: "hato::init", "seed {dev}: cannot copy {f}: {e}"),
        }
    }
    // Virus signatures for a machine that cannot reach ClamAV's mirrors.
    if let Ok(files) = fs::read_dir(stick.join("clamav")) {
        let _ = fs::create_dir_all("/data/clamav");
        for f in files.flatten() {
            if fs::copy(f.path(), Path::new("/data/clamav").join(f.file_name())).is_ok() {
                info!(target: "hato::init", "seeded virus signatures {} from {dev}", f.file_name().to_string_lossy());
            }
        }
    }
    if let Err(e) = crate::files::write_private(Path::new(APPLIED), format!("{serial}\n").as_bytes()) {
        error!(target: "hato::init", "cannot record that seed serial {serial} was applied: {e}");
    }
    let _ = fs::remove_file(ASKED);
    info!(target: "hato::init", "seed disk {dev} (serial {serial}) applied: {}", copied.join(", "));
}

/// Overwrites each secret on the stick with zeros and deletes it.
fn wipe_secrets(dev: &str, stick: &Path, writable: bool) {
    let present: Vec<PathBuf> = SECRETS.iter().map(|f| stick.join(f)).filter(|p| p.exists()).collect();
    if present.is_empty() {
        return;
    }
    let left: Vec<String> = present
        .iter()
        .filter(|p| !writable || wipe(p).map_err(|e| warn!(target: "hato::init", "wipe {}: {e}", p.display())).is_err())
        .map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned())
        .collect();
    if left.is_empty() {
        info!(target: "hato::init", "seed disk {dev}: secrets wiped from it after use");
    } else {
        crate::alert::raise(
            "seed.secrets",
            crate::alert::Severity::Warning,
            &format!(
                "the seed disk {dev} still holds {} (it could not be written): take it out and wipe it",
                left.join(" and ")
            ),
        );
    }
}

fn wipe(path: &Path) -> std::io::Result<()> {
    let len = fs::metadata(path)?.len();
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(&vec![0u8; len as usize])?;
    f.sync_all()?;
    drop(f);
    fs::remove_file(path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The console's `reseed`: the seed is applied again at the next boot.
pub fn ask_again() -> String {
    match crate::files::write_private(Path::new(ASKED), b"") {
        Ok(()) => "the seed disk will be applied at the next boot, whatever its serial (its secrets were wiped \
                   from it after their first use: put them back on it first)\n"
            .into(),
        Err(e) => format!("cannot note the request to apply the seed again: {e}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_is_applied_once_unless_its_serial_rises_or_the_admin_asks() {
        assert!(wanted(0, None, false), "first boot: any seed");
        assert!(wanted(7, None, false));
        assert!(!wanted(0, Some(0), false), "the same stick at the next boot");
        assert!(!wanted(3, Some(5), false), "an older stick");
        assert!(!wanted(5, Some(5), false));
        assert!(wanted(6, Some(5), false), "a newer serial");
        assert!(wanted(0, Some(5), true), "`reseed` at the console");
    }

    #[test]
    fn serial_from_seed_toml_and_its_errors_named() {
        let dir = std::env::temp_dir().join(format!("hato-seed-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(read_serial(&dir), Ok(0), "no seed.toml: serial 0");
        fs::write(dir.join("seed.toml"), "serial = 4\n").unwrap();
        assert_eq!(read_serial(&dir), Ok(4));
        fs::write(dir.join("seed.toml"), "serail = 4\n").unwrap();
        assert!(read_serial(&dir).unwrap_err().contains("unknown field `serail`"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wiping_leaves_nothing_of_the_secret() {
        let dir = std::env::temp_dir().join(format!("hato-seed-wipe-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("admin-password"), "hunter2\n").unwrap();
        fs::write(dir.join("hato.toml"), "hostname = \"x\"\n").unwrap();
        wipe_secrets("test", &dir, true);
        assert!(!dir.join("admin-password").exists());
        assert!(dir.join("hato.toml").exists(), "only secrets are wiped");
        fs::remove_dir_all(&dir).unwrap();
    }
}
