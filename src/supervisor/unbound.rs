//! The appliance's DNS resolver: unbound (Debian), caching and validating
//! DNSSEC, on 127.0.0.1:53, which Hato asks for everything (`[delivery]
//! dns_servers` in the appliance's hato.toml). Its fixed configuration is
//! /etc/hato/unbound.conf; `hato init` writes the part that depends on the
//! site: the network's DNS servers (static ones from network.toml or those
//! of the DHCP lease, as /run/resolv.conf has them, followed by `lease.rs`
//! when a renewal changes them) become forwarders, so a
//! network that allows DNS only to its own servers still works; with none,
//! unbound resolves from the root. Private zones those servers serve that
//! the public DNS does not know (`dns_private_zones`) are asked without
//! DNSSEC validation, which would otherwise reject them as forged (and
//! through the forwarders even where unbound would answer them itself).

/// Where `hato init` writes the site part (included by /etc/hato/unbound.conf).
pub const FORWARD_CONF: &str = "/run/hato/unbound-forward.conf";

/// The nameserver addresses of a resolv.conf.
pub fn nameservers(resolv_conf: &str) -> Vec<String> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(str::trim)
        .filter(|a| a.parse::<std::net::IpAddr>().is_ok_and(|ip| !ip.is_loopback()))
        .map(str::to_string)
        .collect()
}

/// The site part of unbound's configuration.
pub fn forward_config(servers: &[String], private_zones: &[String]) -> String {
    let mut out = String::from("# Written by hato init from the network's DNS servers; edits here are lost.\n");
    let names: Vec<&String> = private_zones.iter().filter(|z| is_zone_name(z)).collect();
    if !names.is_empty() {
        out.push_str("server:\n");
        for z in names {
            // transparent: resolved through the forwarders even where unbound
            // would answer itself (its defaults for RFC 6761 names such as "test").
            out.push_str(&format!("    domain-insecure: \"{z}\"\n    local-zone: \"{z}.\" transparent\n"));
        }
    }
    if !servers.is_empty() {
        out.push_str("forward-zone:\n    name: \".\"\n");
        for s in servers {
            out.push_str(&format!("    forward-addr: {s}\n"));
        }
    }
    out
}

/// A DNS name safe to write into the configuration.
fn is_zone_name(z: &str) -> bool {
    !z.is_empty() && z.len() < 254 && z.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sites_servers_become_forwarders() {
        let resolv = "# lease\nnameserver 192.0.2.53\nnameserver 127.0.0.1\nnameserver  2001:db8::53\nsearch x\nnameserver bogus\n";
        let servers = nameservers(resolv);
        assert_eq!(servers, ["192.0.2.53", "2001:db8::53"], "loopback (unbound itself) and junk are left out");
        let conf = forward_config(&servers, &["corp.example".into(), "bad\"zone".into()]);
        assert!(conf.contains("domain-insecure: \"corp.example\"") && !conf.contains("bad"), "{conf}");
        assert!(conf.contains(
            "forward-zone:\n    name: \".\"\n    forward-addr: 192.0.2.53\n    forward-addr: 2001:db8::53\n"
        ));
        assert!(!forward_config(&[], &[]).contains("forward-zone"), "no servers: resolve from the root");
    }
}
