//! Parser for /proc/mdstat (Linux software RAID status).

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Array {
    pub name: String,
    pub active: bool,
    pub level: String,
    pub members: Vec<Member>,
    /// Devices the array should have, and how many work (`[2/1]`).
    pub raid_disks: u32,
    pub working: u32,
    /// Per-slot state, e.g. "U_".
    pub slots: String,
    pub sync: Option<Sync>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Member {
    pub device: String,
    pub faulty: bool,
    pub spare: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sync {
    /// recovery (rebuild onto a new member), resync, check, reshape.
    pub kind: String,
    pub percent: f32,
    pub finish: String,
}

impl Array {
    pub fn degraded(&self) -> bool {
        self.raid_disks > 0 && self.working < self.raid_disks
    }
}

pub fn parse(text: &str) -> Vec<Array> {
    let mut arrays: Vec<Array> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some((name, rest)) = line.split_once(" : ").filter(|(n, _)| n.starts_with("md") && !n.contains(' ')) {
            let mut words = rest.split_whitespace();
            let state = words.next().unwrap_or("");
            let mut level = String::new();
            let mut members = Vec::new();
            for w in words {
                if w.starts_with("raid") || w == "linear" || w == "multipath" {
                    level = w.to_string();
                } else if let Some(dev) = w.split('[').next().filter(|_| w.contains('[')) {
                    members.push(Member {
                        device: dev.to_string(),
                        faulty: w.ends_with("(F)"),
                        spare: w.ends_with("(S)"),
                    });
                } else if w.starts_with('(') {
                    continue; // (auto-read-only) and the like
                }
            }
            arrays.push(Array {
                name: name.trim().to_string(),
                active: state == "active",
                level,
                members,
                raid_disks: 0,
                working: 0,
                slots: String::new(),
                sync: None,
            });
            continue;
        }
        let Some(a) = arrays.last_mut() else { continue };
        if t.contains("blocks") {
            // "... [2/1] [U_]"
            for w in t.split_whitespace() {
                if let Some(inner) = w.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
                    if let Some((n, m)) = inner.split_once('/') {
                        a.raid_disks = n.parse().unwrap_or(0);
                        a.working = m.parse().unwrap_or(0);
                    } else if inner.chars().all(|c| c == 'U' || c == '_') {
                        a.slots = inner.to_string();
                    }
                }
            }
        } else if let Some(kind) =
            ["recovery", "resync", "check", "reshape"].iter().find(|k| t.contains(&format!("{k} =")))
        {
            let after = t.split(&format!("{kind} =")).nth(1).unwrap_or("");
            let percent = after.split('%').next().unwrap_or("").trim().parse().unwrap_or(0.0);
            let finish = t.split("finish=").nth(1).and_then(|f| f.split_whitespace().next()).unwrap_or("").to_string();
            a.sync = Some(Sync { kind: kind.to_string(), percent, finish });
        } else if t.contains("resync=DELAYED") || t.contains("recovery=DELAYED") {
            a.sync = Some(Sync { kind: "delayed".into(), percent: 0.0, finish: String::new() });
        }
    }
    arrays
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEALTHY: &str = "Personalities : [raid1] \nmd0 : active raid1 vdc[1] vdb[0]\n      1046528 blocks super 1.2 [2/2] [UU]\n      \nunused devices: <none>\n";
    // Captured on the appliance under QEMU after `device_del` of a data disk.
    const FAILED: &str = include_str!("testdata/mdstat-failed.txt");
    // Captured on the appliance during the first-boot resync.
    const RESYNC_REAL: &str = include_str!("testdata/mdstat-resync.txt");
    const REBUILDING: &str = "Personalities : [raid1] \nmd127 : active raid1 sdc[2] sdb[0]\n      976630464 blocks super 1.2 [2/1] [U_]\n      [=>...................]  recovery =  5.2% (50887552/976630464) finish=79.7min speed=193394K/sec\n      bitmap: 0/8 pages [0KB], 65536KB chunk\n\nunused devices: <none>\n";
    const RESYNC: &str = "Personalities : [raid1] \nmd0 : active raid1 vdc[1] vdb[0]\n      1046528 blocks super 1.2 [2/2] [UU]\n      [==>..................]  resync = 12.5% (131072/1046528) finish=0.3min speed=43690K/sec\n      \nunused devices: <none>\n";
    const NONE: &str = "Personalities : \nunused devices: <none>\n";

    #[test]
    fn healthy_array() {
        let a = parse(HEALTHY);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].name, "md0");
        assert_eq!(a[0].level, "raid1");
        assert_eq!((a[0].raid_disks, a[0].working, a[0].slots.as_str()), (2, 2, "UU"));
        assert!(!a[0].degraded());
        assert_eq!(a[0].members.len(), 2);
        assert!(a[0].sync.is_none());
    }

    #[test]
    fn failed_member() {
        let a = parse(FAILED);
        assert!(a[0].degraded());
        assert_eq!((a[0].raid_disks, a[0].working, a[0].slots.as_str()), (2, 1, "U_"));
        assert_eq!(a[0].members.iter().filter(|m| m.faulty).map(|m| m.device.as_str()).collect::<Vec<_>>(), ["vdb"]);
    }

    #[test]
    fn real_first_boot_resync() {
        let a = parse(RESYNC_REAL);
        assert!(!a[0].degraded());
        let s = a[0].sync.as_ref().unwrap();
        assert_eq!((s.kind.as_str(), s.percent, s.finish.as_str()), ("resync", 38.2, "0.0min"));
        assert_eq!(a[0].members.iter().map(|m| m.device.as_str()).collect::<Vec<_>>(), ["vdb", "vda"]);
    }

    #[test]
    fn rebuilding_and_resync() {
        let a = parse(REBUILDING);
        assert_eq!(a[0].name, "md127");
        assert!(a[0].degraded());
        let s = a[0].sync.as_ref().unwrap();
        assert_eq!((s.kind.as_str(), s.percent, s.finish.as_str()), ("recovery", 5.2, "79.7min"));
        let r = parse(RESYNC);
        assert!(!r[0].degraded());
        assert_eq!(r[0].sync.as_ref().unwrap().kind, "resync");
    }

    #[test]
    fn no_arrays_and_garbage() {
        assert!(parse(NONE).is_empty());
        assert!(parse("").is_empty());
        assert!(parse("md0 : \n\x00\x01 [9/x] [UU\n").len() <= 1);
    }
}
