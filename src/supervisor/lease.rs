//! The site's DNS and NTP servers, and keeping to them when a DHCP renewal
//! changes them.
//!
//! `hato init` writes unbound's forwarders (`unbound.rs`) and chronyd's
//! servers (`chrony.rs`) before it starts them: network.toml's `dns` and
//! `ntp` when set, else those the DHCP lease named. udhcpc stays to renew
//! the lease and its script (/etc/hato/udhcpc.script) rewrites
//! /run/resolv.conf and /run/hato/dhcp-ntp at every renewal, so a site that
//! moves its DNS or NTP servers tells the appliance at the next renewal.
//! `follow` looks at those files every few seconds and, when the servers in
//! them are not the ones in force, writes the configuration again and has
//! unbound reload it (SIGHUP, which also empties its cache: answers of the
//! old servers go with them) or chronyd restarted (it has no reload).
//! Servers set in network.toml are never replaced by a lease's.

use std::fs;
use std::time::Duration;

use nix::sys::signal::Signal;
use tracing::{info, warn};

use super::init::NetworkConfig;

/// Where udhcpc's script writes the lease's DNS servers (and where
/// network.toml's are written for a static address).
pub const RESOLV_CONF: &str = "/run/resolv.conf";
/// How often the lease's files are looked at: a renewal comes at half the
/// lease time, minutes at least on any real network.
const LOOK_EVERY: Duration = Duration::from_secs(5);

/// The DNS and NTP servers the appliance follows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Servers {
    pub dns: Vec<String>,
    pub ntp: Vec<String>,
}

impl Servers {
    /// The servers in force for this network.toml, given the texts of
    /// /run/resolv.conf and /run/hato/dhcp-ntp: settings win over the lease.
    pub fn of(cfg: &NetworkConfig, resolv_conf: &str, dhcp_ntp: &str) -> Servers {
        let dns = if cfg.dns.is_empty() {
            super::unbound::nameservers(resolv_conf)
        } else {
            super::unbound::nameservers(&cfg.dns.iter().map(|d| format!("nameserver {d}\n")).collect::<String>())
        };
        let ntp =
            if cfg.ntp.is_empty() { dhcp_ntp.split_whitespace().map(String::from).collect() } else { cfg.ntp.clone() };
        Servers { dns, ntp }
    }

    /// The servers as the files show them now.
    pub fn read(cfg: &NetworkConfig) -> Servers {
        let text = |p: &str| fs::read_to_string(p).unwrap_or_default();
        Servers::of(cfg, &text(RESOLV_CONF), &text(super::chrony::DHCP_SERVERS))
    }

    /// Writes unbound's site part and chronyd's configuration for these servers.
    pub fn write(&self, cfg: &NetworkConfig) {
        let _ = fs::create_dir_all("/run/hato");
        let forward = super::unbound::forward_config(&self.dns, &cfg.dns_private_zones);
        if let Err(e) = fs::write(super::unbound::FORWARD_CONF, forward) {
            warn!(target: "hato::init", "cannot write {}: {e}", super::unbound::FORWARD_CONF);
        }
        info!(target: "hato::init", servers = %self.dns.join(" "), "DNS: unbound forwards to the network's servers (none: from the root)");
        if let Err(e) = fs::write(super::chrony::CONF, super::chrony::config(&self.ntp)) {
            warn!(target: "hato::init", "cannot write {}: {e}", super::chrony::CONF);
        }
        info!(target: "hato::init", servers = %self.ntp.join(" "), "time: chronyd follows these NTP servers (none: Debian's pool)");
    }
}

/// What a change of servers asks of the services.
#[derive(Debug, PartialEq, Eq)]
struct Tell {
    unbound: bool,
    chronyd: bool,
}

fn tell(before: &Servers, now: &Servers) -> Tell {
    Tell { unbound: before.dns != now.dns, chronyd: before.ntp != now.ntp }
}

/// Keeps unbound and chronyd on the lease's servers for as long as the
/// appliance runs (started only when the address comes from DHCP).
pub async fn follow(cfg: NetworkConfig, services: super::Handle, mut in_force: Servers) {
    loop {
        tokio::time::sleep(LOOK_EVERY).await;
        let now = Servers::read(&cfg);
        // Nothing at all is a lease being replaced (the script writes each file whole): wait for the next look.
        let Tell { unbound, chronyd } = tell(&in_force, &now);
        if !(unbound || chronyd) || (now.dns.is_empty() && now.ntp.is_empty()) {
            continue;
        }
        info!(target: "hato::init", "the DHCP lease changed the site's servers: DNS {:?} -> {:?}, NTP {:?} -> {:?}",
            in_force.dns, now.dns, in_force.ntp, now.ntp);
        now.write(&cfg);
        if unbound {
            services.signal("unbound", Signal::SIGHUP);
        }
        if chronyd {
            services.restart("chronyd");
        }
        in_force = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_names_the_servers_unless_settings_do() {
        let lease_dns = "nameserver 10.0.0.53\nnameserver 127.0.0.1\n";
        let dhcp = NetworkConfig::default();
        let s = Servers::of(&dhcp, lease_dns, "10.0.0.123\n10.0.0.124\n");
        assert_eq!(s.dns, ["10.0.0.53"], "unbound itself is never its own forwarder");
        assert_eq!(s.ntp, ["10.0.0.123", "10.0.0.124"]);
        let set = NetworkConfig { dns: vec!["192.0.2.1".into()], ntp: vec!["ntp.corp.example".into()], ..dhcp };
        let s = Servers::of(&set, lease_dns, "10.0.0.123\n");
        assert_eq!(s, Servers { dns: vec!["192.0.2.1".into()], ntp: vec!["ntp.corp.example".into()] });
    }

    #[test]
    fn only_the_service_whose_servers_moved_is_told() {
        let before = Servers { dns: vec!["10.0.0.53".into()], ntp: vec!["10.0.0.123".into()] };
        let moved_dns = Servers { dns: vec!["10.0.1.53".into()], ..before.clone() };
        assert_eq!(tell(&before, &moved_dns), Tell { unbound: true, chronyd: false });
        let moved_ntp = Servers { ntp: vec![], ..before.clone() };
        assert_eq!(tell(&before, &moved_ntp), Tell { unbound: false, chronyd: true });
        assert_eq!(tell(&before, &before.clone()), Tell { unbound: false, chronyd: false });
    }
}
