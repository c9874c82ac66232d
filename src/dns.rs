//! The DNS resolver every DNS user shares (MX routing, blocklists, SPF,
//! DKIM, DMARC): the servers of `[delivery] dns_servers`, or the system's
//! resolv.conf when that list is empty.

use std::net::SocketAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;

/// None when there is no resolver configuration at all (no resolv.conf and
/// no servers configured); callers then defer or skip what needs DNS.
pub fn resolver(servers: &[SocketAddr]) -> Option<TokioResolver> {
    if servers.is_empty() {
        return match TokioResolver::builder_tokio() {
            Ok(b) => Some(b.build()),
            Err(e) => {
                tracing::warn!(target: "hato::dns", "no DNS resolver configuration ({e}); lookups will fail");
                None
            }
        };
    }
    let mut group = NameServerConfigGroup::new();
    for s in servers {
        group.merge(NameServerConfigGroup::from_ips_clear(&[s.ip()], s.port(), true));
    }
    let config = ResolverConfig::from_parts(None, vec![], group);
    Some(TokioResolver::builder_with_config(config, TokioConnectionProvider::default()).build())
}
