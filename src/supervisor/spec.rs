//! What the supervisor runs: services, their order, readiness and restart policy.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorConfig {
    /// Where each service's output goes (`<name>.log`, rotated).
    pub log_dir: PathBuf,
    #[serde(default)]
    pub rotate: RotateConfig,
    /// How long a service gets between SIGTERM and SIGKILL at shutdown.
    #[serde(default = "default_stop_timeout")]
    pub stop_timeout_secs: u64,
    #[serde(rename = "service", default)]
    pub services: Vec<ServiceSpec>,
    /// The AgentX subagent (NETWORK-SERVICES-MIB, MTA-MIB, HATO-MIB, alert traps); off when absent.
    #[serde(default)]
    pub snmp: Option<SubagentConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubagentConfig {
    /// snmpd's AgentX socket (`agentXSocket` in its config).
    pub agentx_socket: PathBuf,
    /// `hato serve`'s control socket, read for MTA-MIB's counters.
    #[serde(default)]
    pub control_socket: Option<PathBuf>,
}

fn default_stop_timeout() -> u64 {
    10
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RotateConfig {
    /// Rotate when a log grows past this size...
    pub max_bytes: u64,
    /// ...or when it is older than this.
    pub max_age_secs: u64,
    /// Rotated files kept (gzip-compressed), oldest dropped first.
    pub keep: usize,
}

impl Default for RotateConfig {
    fn default() -> Self {
        RotateConfig { max_bytes: 10 * 1024 * 1024, max_age_secs: 86_400, keep: 7 }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub name: String,
    /// Program and arguments.
    pub command: Vec<String>,
    /// Run as this user (and its primary group); needs the supervisor to be root.
    #[serde(default)]
    pub user: Option<String>,
    /// Services that must be ready before this one starts.
    #[serde(default)]
    pub after: Vec<String>,
    #[serde(default)]
    pub ready: Ready,
    #[serde(default)]
    pub restart: RestartPolicy,
    #[serde(default)]
    pub env: Vec<(String, String)>,
}

/// How the supervisor knows a service is up.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Ready {
    /// As soon as it is started.
    #[default]
    Started,
    /// When this TCP address accepts connections.
    Tcp(SocketAddr),
    /// When this unix socket accepts connections.
    Unix(PathBuf),
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RestartPolicy {
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// A run shorter than this counts as a fast failure.
    pub min_uptime_secs: u64,
    /// Consecutive fast failures after which the supervisor gives up and raises an alert.
    pub give_up_after: u32,
    /// How long readiness may take before the start counts as failed.
    pub ready_timeout_secs: u64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            initial_backoff_ms: 500,
            max_backoff_ms: 60_000,
            min_uptime_secs: 10,
            give_up_after: 5,
            ready_timeout_secs: 120,
        }
    }
}

impl SupervisorConfig {
    /// Checks names are unique and every `after` names an earlier-defined service,
    /// which also rules out dependency cycles.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen: Vec<&str> = Vec::new();
        for s in &self.services {
            if s.command.is_empty() {
                return Err(format!("service {} has an empty command", s.name));
            }
            if seen.contains(&s.name.as_str()) {
                return Err(format!("service {} is defined twice", s.name));
            }
            for dep in &s.after {
                if !seen.contains(&dep.as_str()) {
                    return Err(format!("service {} starts after {dep}, which is not defined before it", s.name));
                }
            }
            seen.push(&s.name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_appliance_services_are_valid() {
        let cfg: SupervisorConfig = toml::from_str(include_str!("../../rootfs/etc/hato/supervisor.toml")).unwrap();
        cfg.validate().unwrap();
        let names: Vec<&str> = cfg.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["unbound", "chronyd", "clamd", "freshclam", "galera", "vrrp", "hato", "snmpd"]);
        assert!(cfg.snmp.is_some());
    }
}
