//! Where a remote domain's mail goes next: a fixed route, the smarthost, or its MX hosts.

use std::net::SocketAddr;

use mail_auth::hickory_resolver::proto::rr::RData;
use thiserror::Error;

use crate::config::DeliveryConfig;
use crate::dns::Dns;

#[derive(Debug, Error, Clone)]
pub enum RouteError {
    #[error("{0}")]
    Temporary(String),
    #[error("{0}")]
    Permanent(String),
}

/// A host to try, in order of preference.
#[derive(Debug, Clone)]
pub struct Hop {
    pub name: String,
    pub addr: SocketAddr,
    /// Validated TLSA records of the host (`Runner::apply_dane`): TLS is then required.
    pub dane: Option<Vec<crate::dane::Tlsa>>,
}

pub struct Router {
    cfg: DeliveryConfig,
    dns: Option<Dns>,
}

impl Router {
    pub fn new(cfg: DeliveryConfig, dns: Option<Dns>) -> Router {
        Router { cfg, dns }
    }

    /// The DNS servers asked (for DANE's validated lookups); empty when there are none.
    pub fn dns_servers(&self) -> &[SocketAddr] {
        self.dns.as_ref().map(Dns::servers).unwrap_or_default()
    }

    /// Whether this domain goes to its own MX hosts (no fixed route, no smarthost).
    pub fn via_mx(&self, domain: &str) -> bool {
        self.cfg.smarthost.is_none() && !self.cfg.routes.contains_key(domain)
    }

    /// Whether this domain goes to the smarthost (whose credentials then apply).
    pub fn via_smarthost(&self, domain: &str) -> bool {
        self.cfg.smarthost.is_some() && !self.cfg.routes.contains_key(domain)
    }

    pub async fn hops(&self, domain: &str) -> Result<Vec<Hop>, RouteError> {
        if let Some(fixed) = self.cfg.routes.get(domain) {
            return host_port(fixed).await;
        }
        if let Some(relay) = &self.cfg.smarthost {
            return host_port(&relay.address).await;
        }
        self.mx(domain).await
    }

    async fn mx(&self, domain: &str) -> Result<Vec<Hop>, RouteError> {
        let Some(resolver) = self.dns.as_ref().map(Dns::resolver) else {
            return Err(RouteError::Temporary("no DNS resolver is configured".into()));
        };
        let fqdn = format!("{domain}.");
        let names: Vec<String> = match resolver.mx_lookup(fqdn.as_str()).await {
            Ok(mx) => {
                let mut records: Vec<(u16, String)> = mx
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) => {
                            Some((mx.preference, mx.exchange.to_ascii().trim_end_matches('.').to_string()))
                        }
                        _ => None,
                    })
                    .collect();
                records.sort();
                // RFC 7505: a single "." MX means the domain accepts no mail.
                if records.len() == 1 && records[0].1.is_empty() {
                    return Err(RouteError::Permanent(format!("{domain} accepts no mail (null MX)")));
                }
                records.into_iter().map(|(_, n)| n).filter(|n| !n.is_empty()).collect()
            }
            Err(e) if e.is_nx_domain() => {
                return Err(RouteError::Permanent(format!("domain {domain} does not exist")));
            }
            // No MX: RFC 5321 §5.1 says use the domain's own address.
            Err(e) if e.is_no_records_found() => vec![domain.to_string()],
            Err(e) => return Err(RouteError::Temporary(format!("MX lookup for {domain} failed: {e}"))),
        };
        let mut hops = Vec::new();
        for name in names {
            match resolver.lookup_ip(format!("{name}.").as_str()).await {
                Ok(ips) => hops.extend(ips.iter().map(|ip| Hop {
                    name: name.clone(),
                    addr: SocketAddr::new(ip, self.cfg.mx_port),
                    dane: None,
                })),
                Err(e) => tracing::debug!(target: "hato::queue", "address lookup for {name} failed: {e}"),
            }
        }
        if hops.is_empty() {
            return Err(RouteError::Temporary(format!("no address found for any mail host of {domain}")));
        }
        Ok(hops)
    }
}

async fn host_port(spec: &str) -> Result<Vec<Hop>, RouteError> {
    if let Ok(addr) = spec.parse::<SocketAddr>() {
        return Ok(vec![Hop { name: addr.ip().to_string(), addr, dane: None }]);
    }
    let name = spec.rsplit_once(':').map(|(h, _)| h).unwrap_or(spec).to_string();
    let addrs = tokio::net::lookup_host(spec)
        .await
        .map_err(|e| RouteError::Temporary(format!("cannot resolve next hop {spec}: {e}")))?;
    let hops: Vec<Hop> = addrs.map(|addr| Hop { name: name.clone(), addr, dane: None }).collect();
    if hops.is_empty() {
        return Err(RouteError::Temporary(format!("next hop {spec} has no address")));
    }
    Ok(hops)
}
