//! SMART health of the machine's disks, read with `smartctl -j` (JSON
//! output of smartmontools ≥ 7): the overall verdict, pre-fail attributes
//! failing now or in the past, and NVMe critical warnings and wear.

use std::process::Command;

use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Disk {
    pub device: String,
    pub model: String,
    pub serial: String,
    /// The drive's own overall verdict; None when it gives none (virtual disks).
    pub passed: Option<bool>,
    /// Attributes whose value is at or below threshold now ("FAILING_NOW"), by name.
    pub failing_now: Vec<String>,
    /// Attributes that were at or below threshold at some time ("In_the_past").
    pub failed_in_past: Vec<String>,
    /// NVMe critical warning bits (0: none).
    pub nvme_critical_warning: u64,
    /// NVMe endurance used, percent (may exceed 100).
    pub nvme_percentage_used: Option<u64>,
    pub temperature_c: Option<u64>,
}

/// One `smartctl -j -a DEVICE` output; None when it names no device.
pub fn parse(json: &str) -> Option<Disk> {
    let v: Value = serde_json::from_str(json).ok()?;
    let device = v["device"]["name"].as_str()?.to_string();
    let text = |p: &Value| p.as_str().unwrap_or("").trim().to_string();
    let mut d = Disk {
        device,
        model: text(&v["model_name"]),
        serial: text(&v["serial_number"]),
        passed: v["smart_status"]["passed"].as_bool(),
        temperature_c: v["temperature"]["current"].as_u64(),
        ..Disk::default()
    };
    for a in v["ata_smart_attributes"]["table"].as_array().into_iter().flatten() {
        let name = a["name"].as_str().unwrap_or("unknown").to_string();
        match a["when_failed"].as_str() {
            Some("FAILING_NOW") => d.failing_now.push(name),
            Some("In_the_past") => d.failed_in_past.push(name),
            _ => {}
        }
    }
    let nvme = &v["nvme_smart_health_information_log"];
    d.nvme_critical_warning = nvme["critical_warning"].as_u64().unwrap_or(0);
    d.nvme_percentage_used = nvme["percentage_used"].as_u64();
    Some(d)
}

/// NVMe critical warning bits in words (NVMe base specification, SMART log byte 0).
pub fn nvme_warnings(bits: u64) -> Vec<&'static str> {
    [
        (0x01, "available spare below threshold"),
        (0x02, "temperature outside the allowed range"),
        (0x04, "reliability degraded by media or internal errors"),
        (0x08, "media placed in read-only mode"),
        (0x10, "volatile memory backup failed"),
        (0x20, "persistent memory region read-only"),
    ]
    .iter()
    .filter(|(bit, _)| bits & bit != 0)
    .map(|(_, text)| *text)
    .collect()
}

/// Physical disks worth asking: SATA/SAS (`sd*`) and NVMe namespaces, from
/// /sys/block. Virtual disks (vd*, xvd*) have no SMART and are left out.
pub fn devices() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("sd") || is_nvme_namespace(n))
        .map(|n| format!("/dev/{n}"))
        .collect();
    out.sort();
    out
}

/// A disk's state in one word, as the console and HATO-MIB show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// The overall check failed, an attribute fails now or an NVMe critical warning is set.
    Failed,
    /// The disk gives no verdict (virtual disks).
    Unknown,
}

impl Disk {
    pub fn verdict(&self) -> Verdict {
        match self.passed {
            Some(true) if self.failing_now.is_empty() && self.nvme_critical_warning == 0 => Verdict::Passed,
            Some(_) => Verdict::Failed,
            None => Verdict::Unknown,
        }
    }
}

/// "nvme0n1", not the controller ("nvme0") nor a multipath path ("nvme0c0n1").
fn is_nvme_namespace(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("nvme") else { return false };
    let Some((ctrl, ns)) = rest.split_once('n') else { return false };
    !ctrl.is_empty()
        && !ns.is_empty()
        && ctrl.bytes().all(|b| b.is_ascii_digit())
        && ns.bytes().all(|b| b.is_ascii_digit())
}

/// Reads every disk; disks smartctl cannot read (or no smartctl) are left out.
pub fn read_all() -> Vec<Disk> {
    raw_all().iter().filter_map(|(_, json)| parse(json)).collect()
}

/// smartctl's JSON for every disk, as it printed it (the console's `smart` command shows it).
pub fn raw_all() -> Vec<(String, String)> {
    devices()
        .into_iter()
        .filter_map(|dev| {
            // smartctl's exit status is a bit mask of findings, so the JSON is read whatever it is.
            let out = super::stdout_of(Command::new("smartctl").args(["-j", "-a", &dev]))?;
            Some((dev, String::from_utf8_lossy(&out).into_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_reports_from_qemu_disks() {
        // Captured with the console's `smart` command on the appliance under QEMU (qemu-tests/single-node).
        let sata = parse(include_str!("testdata/smart-qemu-sata.json")).unwrap();
        assert_eq!(
            (sata.device.as_str(), sata.model.as_str(), sata.serial.as_str()),
            ("/dev/sda", "QEMU HARDDISK", "HATO-SATA-1")
        );
        assert_eq!((sata.passed, sata.temperature_c, sata.verdict()), (Some(true), Some(31), Verdict::Passed));
        assert!(sata.failing_now.is_empty() && sata.failed_in_past.is_empty());
        let nvme = parse(include_str!("testdata/smart-qemu-nvme.json")).unwrap();
        assert_eq!(
            (nvme.model.as_str(), nvme.serial.as_str(), nvme.nvme_critical_warning),
            ("QEMU NVMe Ctrl", "HATO-NVME-1", 0)
        );
        assert_eq!((nvme.temperature_c, nvme.verdict()), (Some(50), Verdict::Passed));
        assert!(is_nvme_namespace("nvme0n1") && is_nvme_namespace("nvme12n3"));
        assert!(!is_nvme_namespace("nvme0") && !is_nvme_namespace("nvme0c0n1") && !is_nvme_namespace("nvme-fabrics"));
    }

    #[test]
    fn ata_verdict_and_attributes() {
        let d = parse(include_str!("testdata/smart-ata-failing.json")).unwrap();
        assert_eq!(d.device, "/dev/sda");
        assert_eq!(d.passed, Some(false));
        assert_eq!(d.failing_now, ["Reallocated_Sector_Ct"]);
        assert_eq!(d.failed_in_past, ["Spin_Retry_Count"]);
        assert_eq!(d.temperature_c, Some(41));
    }

    #[test]
    fn nvme_warnings_and_wear() {
        let d = parse(include_str!("testdata/smart-nvme-warning.json")).unwrap();
        assert_eq!(d.passed, Some(false));
        assert_eq!(
            nvme_warnings(d.nvme_critical_warning),
            ["available spare below threshold", "reliability degraded by media or internal errors"]
        );
        assert_eq!(d.nvme_percentage_used, Some(93));
        assert_eq!(parse("{\"smartctl\": {\"exit_status\": 2}}"), None, "no device: nothing to report");
        assert_eq!(parse("not json"), None);
    }
}
