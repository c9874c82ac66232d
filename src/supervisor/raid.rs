//! The data RAID: a RAID1 (md, metadata 1.2) over two blank disks besides
//! the boot disk, made on first boot, assembled on every later one; and the
//! console's `raid add DEVICE`, which rebuilds a degraded array onto a new
//! disk.
//!
//! Invariants:
//! - A disk that carries an md superblock is never put into a new array: at
//!   boot the array is assembled from the disks that carry its superblock
//!   (degraded when one is missing), and created only when none does. (A new
//!   blank disk beside a surviving member once made `--create` overwrite the
//!   member, copying the blank disk over the data when it sorted first.)
//! - A disk joins an existing array only when the administrator says so, and
//!   only a blank one (no partitions, no filesystem, no superblock) at least
//!   as large as the array's members.
//! - An array that was assembled is never formatted: only one created in this
//!   boot may be. An assembled array without a filesystem is damage (seen
//!   under QEMU: disks behind an emulated MegaRAID lost their last writes at
//!   a power cut), and formatting it would destroy what recovery could save;
//!   `hato init` raises `data.unreadable` and leaves it alone. (A first boot
//!   cut short between creating the array and formatting it, a second or so,
//!   leaves the same picture and is refused too: its disks must be wiped.)

use std::fs;
use std::io::{Read, Seek};
use std::path::Path;

use tracing::{info, warn};

pub const MD: &str = "/dev/md0";
/// md's v1.2 superblock: its magic number, little-endian, 4 KiB into the disk.
const MD_MAGIC: [u8; 4] = [0xfc, 0x4e, 0x2b, 0xa9];
/// ext4's superblock magic, 1080 bytes into the device.
const EXT4_MAGIC: [u8; 2] = [0x53, 0xef];

fn read_at(dev: &str, offset: u64, buf: &mut [u8]) -> bool {
    fs::File::open(dev)
        .and_then(|mut f| {
            f.seek(std::io::SeekFrom::Start(offset))?;
            f.read_exact(buf)
        })
        .is_ok()
}

fn has_md_superblock(dev: &str) -> bool {
    let mut buf = [0u8; 4];
    read_at(dev, 4096, &mut buf) && buf == MD_MAGIC
}

pub fn has_filesystem(dev: &str) -> bool {
    let mut buf = [0u8; 2];
    read_at(dev, 1080, &mut buf) && buf == EXT4_MAGIC
}

/// Whole disks with no partitions, other than the boot disk and larger than
/// a seed stick (64 MiB): those the data RAID may use, by device path.
fn whole_disks(boot_disk: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/sys/block") else { return out };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !(name.starts_with("vd") || name.starts_with("sd") || name.starts_with("nvme")) || name == boot_disk {
            continue;
        }
        let has_parts = fs::read_dir(e.path())
            .map(|d| d.flatten().any(|c| c.file_name().to_string_lossy().starts_with(&name)))
            .unwrap_or(false);
        if !has_parts && sectors(&name) > 64 * 2048 {
            out.push(format!("/dev/{name}"));
        }
    }
    out.sort();
    out
}

fn sectors(name: &str) -> u64 {
    fs::read_to_string(Path::new("/sys/block").join(name).join("size"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// A disk as the boot sees it.
#[derive(Debug, Clone, PartialEq)]
struct Disk {
    path: String,
    superblock: bool,
    filesystem: bool,
}

#[derive(Debug, PartialEq)]
enum Plan {
    /// From the disks that carry the array's superblock.
    Assemble(Vec<String>),
    /// Over two blank disks, on first boot.
    Create(Vec<String>),
    /// No array: the boot disk's data partition.
    None,
}

fn plan(disks: &[Disk]) -> Plan {
    let members: Vec<String> = disks.iter().filter(|d| d.superblock).map(|d| d.path.clone()).collect();
    if !members.is_empty() {
        return Plan::Assemble(members);
    }
    let blank: Vec<String> = disks.iter().filter(|d| !d.filesystem).map(|d| d.path.clone()).take(2).collect();
    if blank.len() == 2 { Plan::Create(blank) } else { Plan::None }
}

/// The data array, and whether it was made in this boot (and so may be formatted).
pub struct Array {
    pub path: String,
    pub created: bool,
}

/// What to do with the data device at boot.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstUse {
    Mount,
    Format,
    /// It should hold a filesystem and does not: leave it for recovery.
    Refuse,
}

/// `may_format`: the device was made in this boot (an array just created, or
/// the boot disk's data partition, blank until its first boot).
pub fn first_use(may_format: bool, filesystem: bool) -> FirstUse {
    match (filesystem, may_format) {
        (true, _) => FirstUse::Mount,
        (false, true) => FirstUse::Format,
        (false, false) => FirstUse::Refuse,
    }
}

/// Assembles or makes the data RAID; `None` when there is none to use (the
/// boot disk's data partition is then the data disk). `run` runs a command
/// and says whether it succeeded (init's, before the supervisor starts).
pub fn data_device(boot_disk: &str, run: impl Fn(&str, &[&str]) -> bool) -> Option<Array> {
    let disks: Vec<Disk> = whole_disks(boot_disk)
        .into_iter()
        .map(|path| Disk { superblock: has_md_superblock(&path), filesystem: has_filesystem(&path), path })
        .collect();
    match plan(&disks) {
        Plan::Assemble(members) => {
            let mut args = vec!["--assemble", MD, "--run"];
            args.extend(members.iter().map(String::as_str));
            if !run("mdadm", &args) {
                crate::alert::raise(
                    "data.raid_assemble",
                    crate::alert::Severity::Critical,
                    &format!(
                        "cannot assemble the data RAID from {}: its mail is not reachable; the boot disk's data \
                         partition is used meanwhile",
                        members.join(", ")
                    ),
                );
                return None;
            }
            for d in disks.iter().filter(|d| !d.superblock && !d.filesystem) {
                let name = d.path.trim_start_matches("/dev/");
                info!(target: "hato::init", "{name} is blank: type `raid add {name}` at the console to rebuild onto it");
            }
            Some(Array { path: MD.into(), created: false })
        }
        Plan::Create(members) => {
            info!(target: "hato::init", "creating RAID1 on {members:?}");
            let mut args =
                vec!["--create", MD, "--level=1", "--raid-devices=2", "--metadata=1.2", "--run", "--name=hato-data"];
            args.extend(members.iter().map(String::as_str));
            if run("mdadm", &args) {
                Some(Array { path: MD.into(), created: true })
            } else {
                crate::alert::raise(
                    "data.raid_create",
                    crate::alert::Severity::Critical,
                    "cannot create the data RAID; falling back to the boot disk",
                );
                None
            }
        }
        Plan::None => None,
    }
}

/// Why `name` may not join the array, if it may not.
fn refusal(name: &str) -> Option<String> {
    let md = Path::new("/sys/block/md0/md");
    if !md.exists() {
        return Some("there is no data RAID (md0) on this box".into());
    }
    let degraded = fs::read_to_string(md.join("degraded")).unwrap_or_default();
    if degraded.trim() == "0" {
        return Some("md0 is not degraded: it needs no new disk".into());
    }
    let path = format!("/dev/{name}");
    if !whole_disks("").contains(&path) {
        return Some(format!("{name} is not a whole disk without partitions larger than 64 MiB"));
    }
    if has_md_superblock(&path) || has_filesystem(&path) {
        return Some(format!("{name} is not blank (it holds a RAID superblock or a filesystem): wipe it first"));
    }
    let member_kib: u64 =
        fs::read_to_string(md.join("component_size")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    if sectors(name) / 2 < member_kib {
        return Some(format!("{name} is smaller than md0's members ({} MiB)", member_kib / 1024));
    }
    None
}

/// The console's `raid add DEVICE`: adds a blank disk to the degraded array,
/// which then rebuilds onto it (the status screen and HATO-MIB show it).
pub fn add(device: &str) -> String {
    let name = device.trim_start_matches("/dev/");
    if let Some(why) = refusal(name) {
        return format!("raid add {name}: refused: {why}\n");
    }
    // The supervisor's reaper collects mdadm: its result is read from sysfs.
    let path = format!("/dev/{name}");
    let _ = crate::health::stdout_of(std::process::Command::new("mdadm").args(["--manage", MD, "--add", &path]));
    if Path::new("/sys/block/md0/md").join(format!("dev-{name}")).exists() {
        info!(target: "hato::init", "{name} added to md0 at the console: rebuilding onto it");
        format!("{name} added to md0: the array is rebuilding onto it (the status screen shows how far)\n")
    } else {
        warn!(target: "hato::init", "mdadm did not add {name} to md0");
        format!("raid add {name}: mdadm did not add it (see the log)\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(path: &str, superblock: bool, filesystem: bool) -> Disk {
        Disk { path: path.into(), superblock, filesystem }
    }

    #[test]
    fn a_member_is_assembled_never_created_over() {
        // First boot: two blank disks.
        let first = [disk("/dev/sda", false, false), disk("/dev/vdb", false, false)];
        assert_eq!(plan(&first), Plan::Create(vec!["/dev/sda".into(), "/dev/vdb".into()]));
        // Later boots: both members.
        let later = [disk("/dev/sda", true, false), disk("/dev/vdb", true, false)];
        assert_eq!(plan(&later), Plan::Assemble(vec!["/dev/sda".into(), "/dev/vdb".into()]));
        // One member was replaced by a blank disk that sorts first: the survivor is
        // assembled alone (degraded), the blank disk waits for `raid add`.
        let replaced = [disk("/dev/sda", false, false), disk("/dev/vdb", true, false)];
        assert_eq!(plan(&replaced), Plan::Assemble(vec!["/dev/vdb".into()]));
        // A disk with a filesystem is never made a member; one blank disk is no array.
        assert_eq!(plan(&[disk("/dev/sda", false, true), disk("/dev/vdb", false, false)]), Plan::None);
        assert_eq!(plan(&[disk("/dev/sda", false, false)]), Plan::None);
    }

    #[test]
    fn only_what_this_boot_made_is_formatted() {
        assert_eq!(first_use(true, false), FirstUse::Format, "an array created just now");
        assert_eq!(first_use(false, false), FirstUse::Refuse, "an assembled array that lost its filesystem");
        assert_eq!(first_use(false, true), FirstUse::Mount);
        assert_eq!(first_use(true, true), FirstUse::Mount);
    }
}
