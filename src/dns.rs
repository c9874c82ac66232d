//! The DNS resolver every DNS user shares (MX routing, blocklists, SPF,
//! DKIM, DMARC): the servers of `[delivery] dns_servers`, or the system's
//! resolv.conf when that list is empty. It is mail-auth's authenticator,
//! whose hickory resolver the MX and blocklist lookups use too, so there is
//! one resolver implementation (and one hickory version) in Hato.

use std::net::SocketAddr;

use mail_auth::MessageAuthenticator;
use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};

pub use mail_auth::hickory_resolver::TokioResolver;

/// None when there is no resolver configuration at all (no resolv.conf and
/// no servers configured); callers then defer or skip what needs DNS.
pub fn authenticator(servers: &[SocketAddr]) -> Option<MessageAuthenticator> {
    let made = if servers.is_empty() {
        MessageAuthenticator::new_system_conf()
    } else {
        let name_servers = servers
            .iter()
            .map(|s| {
                let mut ns = NameServerConfig::udp_and_tcp(s.ip());
                for c in &mut ns.connections {
                    c.port = s.port();
                }
                ns
            })
            .collect();
        MessageAuthenticator::new(ResolverConfig::from_name_servers(name_servers), ResolverOpts::default())
    };
    match made {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::warn!(target: "hato::dns", "no DNS resolver configuration ({e}); lookups will fail");
            None
        }
    }
}
