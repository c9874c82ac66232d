//! MTA-STS (RFC 8461): a domain that publishes `_mta-sts.<domain>` TXT and
//! a policy at `https://mta-sts.<domain>/.well-known/mta-sts.txt` asks
//! senders to deliver only to the MX hosts the policy names, over TLS with a
//! certificate valid for that host. In `enforce` mode Hato does exactly
//! that and defers otherwise; in `testing` mode it delivers as before and
//! logs what enforcing would have refused.
//! Policies are fetched over verified HTTPS (no redirects), kept for their
//! `max_age` and fetched again when the TXT record's id changes. A policy
//! that cannot be fetched, with none cached, is as if the domain had none
//! (RFC 8461 §3.3). The cache lives in memory: a restart fetches again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mail_auth::hickory_resolver::proto::rr::RData;
use thiserror::Error;
use tokio_rustls::TlsConnector;

use crate::dns::Dns;
use crate::https::{self, Target};

/// Largest policy read (RFC 8461 §3.3 suggests senders limit it to 64 KiB).
const MAX_POLICY: usize = 64 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);
/// RFC 8461 §3.2: max_age is at most a year.
const MAX_AGE: u64 = 31_557_600;

#[derive(Debug, Error, PartialEq)]
pub enum StsError {
    #[error("the MTA-STS policy of {domain} is invalid: {why}")]
    Invalid { domain: String, why: String },
    #[error("the MTA-STS policy of {domain} could not be fetched: {why}")]
    Fetch { domain: String, why: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Testing,
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub mode: Mode,
    mx: Vec<String>,
    max_age: u64,
}

impl Policy {
    /// RFC 8461 §3.2: `key: value` lines; version STSv1, a mode, MX patterns
    /// (unless mode none) and max_age.
    pub fn parse(domain: &str, text: &str) -> Result<Policy, StsError> {
        let invalid = |why: &str| StsError::Invalid { domain: domain.into(), why: why.into() };
        let (mut version, mut mode, mut mx, mut max_age) = (None, None, Vec::new(), None);
        for line in text.lines() {
            let Some((k, v)) = line.split_once(':') else { continue };
            let v = v.trim();
            match k.trim() {
                "version" => version = Some(v.to_string()),
                "mode" => {
                    mode = Some(match v {
                        "enforce" => Mode::Enforce,
                        "testing" => Mode::Testing,
                        "none" => Mode::None,
                        _ => return Err(invalid("mode is not enforce, testing or none")),
                    })
                }
                "mx" => mx.push(v.to_ascii_lowercase()),
                "max_age" => max_age = v.parse::<u64>().ok(),
                _ => {}
            }
        }
        if version.as_deref() != Some("STSv1") {
            return Err(invalid("version is not STSv1"));
        }
        let mode = mode.ok_or_else(|| invalid("no mode"))?;
        let max_age = max_age.ok_or_else(|| invalid("no max_age"))?.min(MAX_AGE);
        if mode != Mode::None && mx.is_empty() {
            return Err(invalid("no mx"));
        }
        Ok(Policy { mode, mx, max_age })
    }

    /// Whether `host` is one the policy names: exactly, or under a `*.`
    /// pattern by one leftmost label (RFC 8461 §4.1).
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(parent) => host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
            None => *p == host,
        })
    }

    pub fn patterns(&self) -> String {
        self.mx.join(", ")
    }
}

struct Cached {
    id: String,
    policy: Policy,
    until: Instant,
}

/// The policies of the domains Hato delivers to.
pub struct Sts {
    dns: Option<Dns>,
    https: TlsConnector,
    /// 443 but in tests.
    port: u16,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Sts {
    pub fn new(dns: Option<Dns>, https: TlsConnector, port: u16) -> Sts {
        Sts { dns, https, port, cache: Mutex::default() }
    }

    /// The policy in force for `domain`, if it has one.
    pub async fn policy(&self, domain: &str) -> Option<Policy> {
        let dns = self.dns.as_ref()?;
        let cached = {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.retain(|_, c| c.until > Instant::now());
            cache.get(domain).map(|c| (c.id.clone(), c.policy.clone()))
        };
        // No record, or it cannot be read now: a cached policy still holds.
        let Some(id) = record_id(dns, domain).await else { return cached.map(|(_, p)| p) };
        if let Some((cached_id, policy)) = &cached
            && *cached_id == id
        {
            return Some(policy.clone());
        }
        match self.fetch(dns, domain).await {
            Ok(policy) => {
                tracing::info!(target: "hato::queue", domain, mode = ?policy.mode, mx = %policy.patterns(), "MTA-STS policy fetched");
                let until = Instant::now() + Duration::from_secs(policy.max_age);
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                cache.insert(domain.to_string(), Cached { id, policy: policy.clone(), until });
                Some(policy)
            }
            Err(e) => {
                tracing::warn!(target: "hato::queue", domain, "{e}");
                cached.map(|(_, p)| p)
            }
        }
    }

    async fn fetch(&self, dns: &Dns, domain: &str) -> Result<Policy, StsError> {
        let fail = |why: String| StsError::Fetch { domain: domain.into(), why };
        let host = format!("mta-sts.{domain}");
        let ip = dns
            .resolver()
            .lookup_ip(format!("{host}.").as_str())
            .await
            .map_err(|e| fail(format!("{host}: {e}")))?
            .iter()
            .next()
            .ok_or_else(|| fail(format!("{host} has no address")))?;
        let target = Target { host, port: self.port, path: "/.well-known/mta-sts.txt".into() };
        let addr = SocketAddr::new(ip, self.port);
        let answer = https::request(&self.https, Some(addr), "GET", &target, None, MAX_POLICY, FETCH_TIMEOUT)
            .await
            .map_err(|e| fail(e.to_string()))?;
        // Only 200: senders must not follow redirects (RFC 8461 §3.3).
        if answer.status != 200 {
            return Err(fail(format!("the server answered {}", answer.status)));
        }
        Policy::parse(domain, &String::from_utf8_lossy(&answer.body))
    }
}

/// The id of `_mta-sts.<domain>`'s STSv1 record, if it has one.
async fn record_id(dns: &Dns, domain: &str) -> Option<String> {
    let answer = dns.resolver().txt_lookup(format!("_mta-sts.{domain}.").as_str()).await.ok()?;
    answer.answers().iter().find_map(|r| match &r.data {
        RData::TXT(txt) => {
            let text: String = txt.txt_data.iter().map(|s| String::from_utf8_lossy(s)).collect();
            if !text.starts_with("v=STSv1") {
                return None;
            }
            text.split(';').find_map(|f| f.trim().strip_prefix("id=").map(str::to_string))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_as_rfc_8461_writes_them() {
        let p = Policy::parse(
            "example.com",
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n",
        )
        .unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert!(p.allows("mail.example.com") && p.allows("MAIL.example.com."));
        assert!(p.allows("mx1.example.net") && !p.allows("a.b.example.net") && !p.allows("example.net"));
        assert!(!p.allows("mail.example.org"));
        let bad = Policy::parse("example.com", "version: STSv1\nmode: enforce\nmax_age: 10\n");
        assert!(matches!(bad, Err(StsError::Invalid { why, .. }) if why == "no mx"));
        assert!(Policy::parse("example.com", "<html>not found</html>").is_err());
        assert_eq!(Policy::parse("e", "version: STSv1\nmode: none\nmax_age: 99999999999\n").unwrap().max_age, MAX_AGE);
    }
}
