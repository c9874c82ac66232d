//! The appliance's clock: chronyd (Debian), run by the supervisor, keeps it
//! in step — TLS certificates, DKIM signatures, lockout windows and the logs
//! of a cluster's nodes all need the right time. `hato init` writes its
//! configuration from network.toml's `ntp` servers, else those the DHCP
//! lease named (option 42, written by /etc/hato/udhcpc.script), else
//! Debian's public pool. chronyd serves no one (`port 0`) and takes
//! commands only on its local socket; `health::clock` asks it whether the
//! clock is synchronised and raises `clock.unsynchronised` when it is not.

/// Where `hato init` writes chronyd's configuration (the supervisor's
/// `chronyd` service reads it).
pub const CONF: &str = "/run/hato/chrony.conf";
/// The NTP servers of the DHCP lease, one per line.
pub const DHCP_SERVERS: &str = "/run/hato/dhcp-ntp";

/// chronyd's configuration for these servers (host names or addresses).
pub fn config(servers: &[String]) -> String {
    let mut out = String::from("# Written by hato init from network.toml's `ntp`; edits here are lost.\n");
    let usable: Vec<&String> = servers.iter().filter(|s| is_server_name(s)).collect();
    if usable.is_empty() {
        out.push_str("pool 2.debian.pool.ntp.org iburst\n");
    }
    for s in usable {
        out.push_str(&format!("server {s} iburst\n"));
    }
    out.push_str(
        "driftfile /var/lib/chrony/chrony.drift\n\
         # Step a clock that is far off in the first updates after boot, slew afterwards.\n\
         makestep 1 3\n\
         # The kernel keeps the RTC in step (and knows the clock is synchronised).\n\
         rtcsync\n\
         # A client only: no NTP service, no command port beyond the local socket.\n\
         port 0\n\
         cmdport 0\n\
         user _chrony\n",
    );
    out
}

/// A host name or address, nothing that could add a directive.
fn is_server_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_from_settings_else_the_pool() {
        let c = config(&["10.0.0.1".into(), "ntp.corp.example".into()]);
        assert!(c.contains("server 10.0.0.1 iburst\nserver ntp.corp.example iburst\n"), "{c}");
        assert!(!c.contains("pool "));
        assert!(c.contains("port 0\n") && c.contains("cmdport 0\n") && c.contains("rtcsync\n"));
        assert!(config(&[]).contains("pool 2.debian.pool.ntp.org iburst\n"));
        // A value that would smuggle a directive in is left out.
        let c = config(&["10.0.0.1\nallow all".into()]);
        assert!(!c.contains("allow") && c.contains("pool "), "{c}");
    }
}
