//! Which TLS a remote delivery requires, decided per domain before the
//! hops are tried: DANE (`crate::dane`) where the domain's DNSSEC-validated
//! TLSA records say so, else the domain's MTA-STS policy (`mta_sts`); where
//! neither applies, opportunistic TLS as `[delivery]` configures it.

use std::collections::HashMap;

use tracing::info;

use super::{Runner, mta_sts, route};
use crate::smtp::client::{self, SendError};

impl Runner {
    /// A domain's MTA-STS policy in enforce mode narrows the hops to the MX
    /// hosts it names and requires TLS verified for them; in testing mode
    /// it only logs what enforcing would refuse.
    pub(super) async fn apply_sts(
        &self,
        domain: &str,
        hops: &mut Vec<route::Hop>,
        opts: &mut client::Options,
    ) -> Result<(), SendError> {
        let Some(policy) = self.sts.as_ref() else { return Ok(()) };
        let Some(policy) = policy.policy(domain).await else { return Ok(()) };
        let unlisted: Vec<String> = hops.iter().filter(|h| !policy.allows(&h.name)).map(|h| h.name.clone()).collect();
        match policy.mode {
            mta_sts::Mode::Enforce => {
                hops.retain(|h| policy.allows(&h.name));
                if hops.is_empty() {
                    return Err(SendError::Temporary(format!(
                        "MTA-STS: the policy of {domain} names none of its mail hosts ({}; policy: {})",
                        unlisted.join(", "),
                        policy.patterns()
                    )));
                }
                opts.verify = true;
                opts.opportunistic_tls = true;
                opts.require_tls = true;
            }
            mta_sts::Mode::Testing if !unlisted.is_empty() => {
                info!(target: "hato::queue", domain, hosts = %unlisted.join(", "), "MTA-STS testing: enforcing would skip these hosts");
            }
            mta_sts::Mode::Testing | mta_sts::Mode::None => {}
        }
        Ok(())
    }

    /// DANE (RFC 7672, `crate::dane`) for a domain whose MX answer DNSSEC
    /// validated: each host's validated TLSA records go with its hop; a host
    /// whose TLSA lookup failed is left out (mail waits rather than goes
    /// unauthenticated). True when DANE applies to some host.
    pub(super) async fn apply_dane(&self, domain: &str, hops: &mut Vec<route::Hop>) -> Result<bool, SendError> {
        let servers = self.router.dns_servers();
        if !self.cfg.delivery.dane || servers.is_empty() {
            return Ok(false);
        }
        if !crate::dane::mx_secure(servers, domain).await.map_err(|e| SendError::Temporary(e.to_string()))? {
            return Ok(false);
        }
        let mut policies: HashMap<String, Result<crate::dane::HostPolicy, crate::dane::DaneError>> = HashMap::new();
        for hop in hops.iter() {
            if !policies.contains_key(&hop.name) {
                let policy = crate::dane::host_policy(servers, &hop.name, hop.addr.port()).await;
                policies.insert(hop.name.clone(), policy);
            }
        }
        let mut failed = None;
        hops.retain_mut(|hop| match policies.get(&hop.name) {
            Some(Ok(crate::dane::HostPolicy::Dane(records))) => {
                tracing::debug!(target: "hato::queue", domain, host = %hop.name, records = records.len(), "DANE applies: TLS required, certificate checked against TLSA");
                hop.dane = Some(records.clone());
                true
            }
            Some(Ok(crate::dane::HostPolicy::None)) | None => true,
            Some(Err(e)) => {
                failed = Some(e.to_string());
                false
            }
        });
        if hops.is_empty() {
            return Err(SendError::Temporary(failed.unwrap_or_else(|| format!("no mail host of {domain} is usable"))));
        }
        Ok(hops.iter().any(|h| h.dane.is_some()))
    }
}
