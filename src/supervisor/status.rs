//! The appliance's state as one JSON file (`/run/hato/status.json`), written
//! by `hato init` every few seconds and read by the web console, which runs
//! inside `hato serve` and cannot see the supervisor or the disks itself.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ServiceStatus;
use crate::health::Report;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ApplianceStatus {
    /// When it was written (unix seconds); an old file means init stopped writing.
    pub updated: i64,
    pub version: String,
    pub memory_used_mib: u64,
    pub services: Vec<Service>,
    pub arrays: Vec<Array>,
    pub disks: Vec<Disk>,
    pub filesystems: Vec<(String, u32)>,
    /// (key, severity, text)
    pub alerts: Vec<(String, String, String)>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Service {
    pub name: String,
    pub state: String,
    pub pid: Option<i32>,
    pub restarts: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Array {
    pub name: String,
    pub level: String,
    pub slots: String,
    pub degraded: bool,
    pub sync: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Disk {
    pub device: String,
    pub model: String,
    pub serial: String,
    pub health: String,
    pub temperature_c: Option<u64>,
}

pub fn of(services: &[ServiceStatus], health: Option<&Report>, memory_used_mib: u64) -> ApplianceStatus {
    let mut s = ApplianceStatus {
        updated: crate::clock::now(),
        version: env!("CARGO_PKG_VERSION").into(),
        memory_used_mib,
        services: services
            .iter()
            .map(|x| Service { name: x.name.clone(), state: x.state.into(), pid: x.pid, restarts: x.restarts })
            .collect(),
        ..ApplianceStatus::default()
    };
    if let Some(h) = health {
        s.arrays = h
            .arrays
            .iter()
            .map(|a| Array {
                name: a.name.clone(),
                level: a.level.clone(),
                slots: a.slots.clone(),
                degraded: a.degraded(),
                sync: a.sync.as_ref().map(|x| format!("{} {:.1}%", x.kind, x.percent)).unwrap_or_default(),
            })
            .collect();
        s.disks = h
            .disks
            .iter()
            .map(|d| Disk {
                device: d.device.clone(),
                model: d.model.clone(),
                serial: d.serial.clone(),
                health: format!("{:?}", d.verdict()).to_lowercase(),
                temperature_c: d.temperature_c,
            })
            .collect();
        s.filesystems = h.filesystems.iter().map(|f| (f.path.clone(), f.used_percent)).collect();
        s.alerts = h
            .conditions
            .iter()
            .map(|(k, (sev, text))| (k.clone(), format!("{sev:?}").to_lowercase(), text.clone()))
            .collect();
    }
    s
}

/// Written whole and renamed, so a reader never sees half a file; readable by `hato serve`.
pub fn write(path: &Path, s: &ApplianceStatus) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(s).unwrap_or_default())?;
    std::fs::rename(tmp, path)
}

pub fn read(path: &Path) -> Option<ApplianceStatus> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_file() {
        let svc = vec![ServiceStatus { name: "hato".into(), state: "running", pid: Some(7), restarts: 1, since: None }];
        let arrays = crate::health::mdstat::parse(include_str!("../health/testdata/mdstat-failed.txt"));
        let report = crate::health::evaluate(arrays, vec![], vec![]);
        let s = of(&svc, Some(&report), 200);
        let dir = std::env::temp_dir().join(format!("hato-status-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("status.json");
        write(&p, &s).unwrap();
        let back = read(&p).unwrap();
        assert_eq!(back.services[0].state, "running");
        assert!(
            back.arrays[0].degraded && back.alerts.iter().any(|a| a.0.ends_with(".degraded") && a.1 == "critical"),
            "{back:?}"
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
