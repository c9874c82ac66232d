//! Disk and RAID health: what `hato init` watches and `hato ctl health` shows.
//!
//! Health is a set of named conditions (e.g. `raid.md0.degraded`). The monitor
//! compares each reading with the previous one and logs an ALERT when a
//! condition appears and a notice when it clears, so an alert is raised once
//! per event, not once per poll. SMART comes from `smartctl -j` (`smart`);
//! Each transition is an `alert` (log line and SNMP trap).

pub mod clock;
pub mod mdstat;
pub mod smart;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub arrays: Vec<mdstat::Array>,
    pub filesystems: Vec<FsUsage>,
    pub disks: Vec<smart::Disk>,
    /// The clock as chronyd keeps it (the appliance's monitor only).
    pub clock: Option<clock::Clock>,
    /// Active conditions by key, with severity and text.
    pub conditions: BTreeMap<String, (Severity, String)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FsUsage {
    pub path: String,
    pub used_percent: u32,
    pub free_bytes: u64,
}

pub fn fs_usage(path: &Path) -> Option<FsUsage> {
    let st = nix::sys::statvfs::statvfs(path).ok()?;
    let total = st.blocks() as u64 * st.fragment_size() as u64;
    let free = st.blocks_available() as u64 * st.fragment_size() as u64;
    if total == 0 {
        return None;
    }
    let used = total.saturating_sub(st.blocks_free() as u64 * st.fragment_size() as u64);
    Some(FsUsage { path: path.display().to_string(), used_percent: (used * 100 / total) as u32, free_bytes: free })
}

/// Turns readings into conditions.
pub fn evaluate(arrays: Vec<mdstat::Array>, filesystems: Vec<FsUsage>, disks: Vec<smart::Disk>) -> Report {
    let mut c = BTreeMap::new();
    for d in &disks {
        let dev = d.device.trim_start_matches("/dev/");
        let who = format!("disk {} ({} {})", d.device, d.model, d.serial);
        if d.passed == Some(false) {
            c.insert(
                format!("smart.{dev}.failed"),
                (Severity::Critical, format!("{who}: SMART overall health check FAILED; replace it")),
            );
        }
        for a in &d.failing_now {
            c.insert(
                format!("smart.{dev}.prefail.{a}"),
                (Severity::Critical, format!("{who}: SMART attribute {a} is failing now")),
            );
        }
        for a in &d.failed_in_past {
            c.insert(
                format!("smart.{dev}.past.{a}"),
                (Severity::Warning, format!("{who}: SMART attribute {a} failed in the past")),
            );
        }
        for w in smart::nvme_warnings(d.nvme_critical_warning) {
            c.insert(
                format!("smart.{dev}.nvme.{}", w.split(' ').next().unwrap_or("warning")),
                (Severity::Critical, format!("{who}: NVMe critical warning: {w}")),
            );
        }
        if let Some(used) = d.nvme_percentage_used.filter(|u| *u >= 90) {
            c.insert(
                format!("smart.{dev}.wear"),
                (Severity::Warning, format!("{who}: {used}% of its rated endurance used")),
            );
        }
    }
    for a in &arrays {
        if a.degraded() {
            c.insert(
                format!("raid.{}.degraded", a.name),
                (
                    Severity::Critical,
                    format!(
                        "RAID {} is degraded: {}/{} members working [{}]",
                        a.name, a.working, a.raid_disks, a.slots
                    ),
                ),
            );
        }
        for m in a.members.iter().filter(|m| m.faulty) {
            c.insert(
                format!("raid.{}.failed.{}", a.name, m.device),
                (Severity::Critical, format!("RAID {} member {} has failed", a.name, m.device)),
            );
        }
        if let Some(s) = &a.sync {
            // Bucketed by 10 % so progress is reported, but not every poll.
            let bucket = (s.percent / 10.0).floor() as u32 * 10;
            c.insert(
                format!("raid.{}.{}.{}", a.name, s.kind, bucket),
                (Severity::Info, format!("RAID {} {} at {:.1}% (finish in {})", a.name, s.kind, s.percent, s.finish)),
            );
        }
    }
    for f in &filesystems {
        for (limit, sev) in [(95, Severity::Critical), (90, Severity::Warning), (85, Severity::Warning)] {
            if f.used_percent >= limit {
                c.insert(
                    format!("fs.{}.{limit}", f.path),
                    (sev, format!("filesystem {} is {}% full", f.path, f.used_percent)),
                );
                break;
            }
        }
    }
    Report { arrays, filesystems, disks, clock: None, conditions: c }
}

/// A command's standard output, read to its end. As PID 1 the supervisor's
/// reaper collects every child that exits (and would make `output()` fail
/// with ECHILD), so there the child is not waited for here.
pub(crate) fn stdout_of(cmd: &mut std::process::Command) -> Option<Vec<u8>> {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().ok()?;
    let mut out = Vec::new();
    let read = child.stdout.take()?.read_to_end(&mut out);
    if std::process::id() != 1 {
        let _ = child.wait();
    }
    read.ok().map(|_| out)
}

/// Reads the machine's current state.
pub fn read(paths: &[&Path]) -> Report {
    let arrays = std::fs::read_to_string("/proc/mdstat").map(|t| mdstat::parse(&t)).unwrap_or_default();
    evaluate(arrays, paths.iter().filter_map(|p| fs_usage(p)).collect(), smart::read_all())
}

/// A condition by its key: its severity and what it says.
pub type Condition<'a> = (&'a String, &'a (Severity, String));

/// What changed between two readings: (raised, cleared).
pub fn diff<'a>(before: &'a Report, now: &'a Report) -> (Vec<Condition<'a>>, Vec<&'a String>) {
    let raised = now.conditions.iter().filter(|(k, _)| !before.conditions.contains_key(*k)).collect();
    let cleared = before.conditions.keys().filter(|k| !now.conditions.contains_key(*k)).collect();
    (raised, cleared)
}

/// Polls forever, logging alerts on transitions. Writes and syncs a probe file
/// on the data disk each round: a RAID member that vanished is only noticed
/// by md on I/O, and this also proves the data disk still takes writes.
/// Each round's report goes to `publish` (the SNMP subagent reads it).
pub async fn monitor(
    data: std::path::PathBuf,
    interval: std::time::Duration,
    publish: tokio::sync::watch::Sender<Option<Report>>,
) {
    let mut last = evaluate(Vec::new(), Vec::new(), Vec::new());
    let mut unwritable = false;
    let mut clock_asked: Option<std::time::Instant> = None;
    loop {
        let probe = data.join(".health-probe");
        let wrote = std::fs::write(&probe, crate::clock::now().to_string().as_bytes())
            .and_then(|_| std::fs::File::open(&probe).and_then(|f| f.sync_all()));
        match (&wrote, unwritable) {
            (Err(e), false) => crate::alert::raise(
                "data.unwritable",
                Severity::Critical,
                &format!("the data disk does not take writes: {e}"),
            ),
            (Ok(()), true) => crate::alert::clear("data.unwritable"),
            _ => {}
        }
        unwritable = wrote.is_err();
        let data_path = data.clone();
        // chronyd is asked every 30 s; its answer is carried between.
        let ask_clock = clock_asked.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(30));
        if ask_clock {
            clock_asked = Some(std::time::Instant::now());
        }
        let carried = last.clock.clone();
        let mut now = tokio::task::spawn_blocking(move || {
            let mut report = read(&[&data_path]);
            report.clock = if ask_clock { clock::read() } else { carried };
            report
        })
        .await
        .unwrap_or_else(|_| evaluate(Vec::new(), Vec::new(), Vec::new()));
        if let Some((key, condition)) = clock::condition(now.clock.as_ref(), clock::uptime_secs()) {
            now.conditions.insert(key, condition);
        }
        {
            let (raised, cleared) = diff(&last, &now);
            for (key, (sev, text)) in &raised {
                crate::alert::raise(key, sev.clone(), text);
            }
            for key in &cleared {
                crate::alert::clear(key);
            }
            // Keep the raw state beside every RAID change, for whoever reads the log later.
            if raised.iter().any(|(k, _)| k.starts_with("raid.")) || cleared.iter().any(|k| k.starts_with("raid.")) {
                let raw = std::fs::read_to_string("/proc/mdstat").unwrap_or_default();
                tracing::info!(target: "hato::health", "mdstat now:\n{raw}");
            }
        }
        publish.send_replace(Some(now.clone()));
        last = now;
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(working: u32, faulty: bool, sync: Option<f32>) -> mdstat::Array {
        mdstat::Array {
            name: "md0".into(),
            active: true,
            level: "raid1".into(),
            members: vec![
                mdstat::Member { device: "vdb".into(), faulty: false, spare: false },
                mdstat::Member { device: "vdc".into(), faulty, spare: false },
            ],
            raid_disks: 2,
            working,
            slots: if working == 2 { "UU".into() } else { "U_".into() },
            sync: sync.map(|p| mdstat::Sync { kind: "recovery".into(), percent: p, finish: "1.0min".into() }),
        }
    }

    #[test]
    fn alerts_on_transitions_only() {
        let ok = evaluate(vec![array(2, false, None)], vec![], vec![]);
        assert!(ok.conditions.is_empty());
        let broken = evaluate(vec![array(1, true, None)], vec![], vec![]);
        let (raised, cleared) = diff(&ok, &broken);
        let keys: Vec<&str> = raised.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["raid.md0.degraded", "raid.md0.failed.vdc"]);
        assert!(cleared.is_empty());
        let still = evaluate(vec![array(1, true, None)], vec![], vec![]);
        let (again, _) = diff(&broken, &still);
        assert!(again.is_empty(), "a standing condition is not re-raised");
        let rebuilding = evaluate(vec![array(1, false, Some(23.0))], vec![], vec![]);
        let (raised, cleared) = diff(&broken, &rebuilding);
        assert_eq!(raised.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["raid.md0.recovery.20"]);
        assert_eq!(cleared, [&"raid.md0.failed.vdc".to_string()]);
        let (_, cleared) = diff(&rebuilding, &ok);
        assert_eq!(cleared.len(), 2, "degraded and recovery both clear when the rebuild finishes");
    }

    #[test]
    fn smart_conditions() {
        let ata = smart::parse(include_str!("testdata/smart-ata-failing.json")).unwrap();
        let nvme = smart::parse(include_str!("testdata/smart-nvme-warning.json")).unwrap();
        let c = evaluate(vec![], vec![], vec![ata, nvme]).conditions;
        let keys: Vec<&str> = c.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "smart.nvme0n1.failed",
                "smart.nvme0n1.nvme.available",
                "smart.nvme0n1.nvme.reliability",
                "smart.nvme0n1.wear",
                "smart.sda.failed",
                "smart.sda.past.Spin_Retry_Count",
                "smart.sda.prefail.Reallocated_Sector_Ct",
            ]
        );
        assert_eq!(c["smart.sda.prefail.Reallocated_Sector_Ct"].0, Severity::Critical);
        assert!(c["smart.nvme0n1.wear"].1.contains("93% of its rated endurance"));
    }

    #[test]
    fn filesystem_thresholds() {
        let fs = |p| FsUsage { path: "/data".into(), used_percent: p, free_bytes: 0 };
        assert!(evaluate(vec![], vec![fs(84)], vec![]).conditions.is_empty());
        assert!(evaluate(vec![], vec![fs(86)], vec![]).conditions.contains_key("fs./data.85"));
        assert!(evaluate(vec![], vec![fs(91)], vec![]).conditions.contains_key("fs./data.90"));
        let c = evaluate(vec![], vec![fs(97)], vec![]).conditions;
        assert_eq!(c.get("fs./data.95").map(|x| x.0.clone()), Some(Severity::Critical));
        assert_eq!(c.len(), 1);
    }
}
