//! Email authentication (mail-auth underneath): SPF of the client at MAIL
//! FROM; DKIM signatures and the sender domain's DMARC policy at the end of
//! DATA, written into an Authentication-Results header and turned into spam
//! score hits and, when `dmarc_enforce` is on, the domain's own policy
//! (reject or Junk). Outbound: `keys` signs what users submit.
//! Invariant: a lookup that cannot be made (no DNS, a timeout) never fails
//! a message by itself; it shows as temperror/none and adds nothing.

pub mod keys;

use std::net::IpAddr;

use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, MessageAuthenticator, SpfOutput, SpfResult,
};

use crate::config::MailAuthConfig;
use crate::spam::Hit;

pub struct Checker {
    cfg: MailAuthConfig,
    dns: Option<MessageAuthenticator>,
    hostname: String,
}

/// What the sender domain's DMARC policy asks for a message that failed it.
#[derive(Clone, Debug, PartialEq)]
pub enum Dmarc {
    Pass,
    /// Failed, and the domain asks for quarantine (Hato: Junk) or rejection.
    Quarantine(String),
    Reject(String),
    /// Failed with policy none, or not evaluated.
    Other,
}

/// The checks of one message.
pub struct Outcome {
    /// The Authentication-Results header line(s).
    pub header: String,
    pub hits: Vec<Hit>,
    pub dmarc: Dmarc,
}

impl Checker {
    pub fn new(cfg: MailAuthConfig, dns_servers: &[std::net::SocketAddr], hostname: &str) -> Checker {
        let dns = if cfg.verify { crate::dns::authenticator(dns_servers) } else { None };
        Checker { cfg, dns, hostname: hostname.to_string() }
    }

    pub fn config(&self) -> &MailAuthConfig {
        &self.cfg
    }

    /// SPF for the MAIL FROM identity (the HELO identity for a null sender);
    /// None when checks are off or there is no resolver.
    pub async fn spf(&self, ip: IpAddr, helo: &str, sender: &str) -> Option<SpfOutput> {
        let dns = self.dns.as_ref()?;
        let params = if sender.is_empty() {
            SpfParameters::verify_ehlo(ip, helo, &self.hostname)
        } else {
            SpfParameters::verify_mail_from(ip, helo, &self.hostname, sender)
        };
        let out = tokio::time::timeout(self.timeout(), dns.verify_spf(params)).await;
        if out.is_err() {
            tracing::warn!(target: "hato::smtp", sender, "SPF check timed out; going on without it");
        }
        out.ok()
    }

    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.cfg.timeout_secs)
    }

    /// DKIM and DMARC of a received message (see `verify`), within the timeout.
    pub async fn check(
        &self,
        raw: &[u8],
        ip: IpAddr,
        helo: &str,
        sender: &str,
        spf: Option<&SpfOutput>,
    ) -> Option<Outcome> {
        let out = tokio::time::timeout(self.timeout(), self.verify(raw, ip, helo, sender, spf)).await;
        if out.is_err() {
            tracing::warn!(target: "hato::smtp", sender, "DKIM/DMARC checks timed out; going on without them");
        }
        out.ok().flatten()
    }

    /// DKIM and DMARC of a received message, with the SPF result from MAIL FROM.
    async fn verify(
        &self,
        raw: &[u8],
        ip: IpAddr,
        helo: &str,
        sender: &str,
        spf: Option<&SpfOutput>,
    ) -> Option<Outcome> {
        let dns = self.dns.as_ref()?;
        let mail_from_domain = sender.rsplit_once('@').map_or(helo, |(_, d)| d).to_lowercase();
        let none = SpfOutput::new(mail_from_domain.clone());
        let spf = spf.unwrap_or(&none);
        let mut hits = Vec::new();
        match spf.result() {
            SpfResult::Fail => hits.push(Hit::new("SPF_FAIL", 2.0)),
            SpfResult::SoftFail => hits.push(Hit::new("SPF_SOFTFAIL", 1.0)),
            _ => {}
        }
        let results = AuthenticationResults::new(&self.hostname);
        let results = if sender.is_empty() {
            results.with_spf_ehlo_result(spf, ip, helo)
        } else {
            results.with_spf_mailfrom_result(spf, ip, sender, helo)
        };
        let Some(message) = AuthenticatedMessage::parse(raw) else {
            return Some(Outcome { header: results.to_header(), hits, dmarc: Dmarc::Other });
        };
        let dkim = dns.verify_dkim(&message).await;
        // A signature that does not verify: fail (bad signature) or neutral
        // (body hash mismatch, as RFC 6376 §6.1.3 has it).
        if dkim.iter().any(|d| matches!(d.result(), DkimResult::Fail(_) | DkimResult::Neutral(_))) {
            hits.push(Hit::new("DKIM_INVALID", 1.0));
        }
        let header_from = message.from().to_string();
        let mut dmarc = dns.verify_dmarc(DmarcParameters::new(&message, &dkim, &mail_from_domain, spf)).await;
        let (d, s) = (dmarc.dkim_result(), dmarc.spf_result());
        let temp = |r: &DmarcResult| matches!(r, DmarcResult::TempError(_));
        let verdict = if dmarc.dmarc_record().is_none() || temp(d) || temp(s) {
            // No policy published, or it could not be read now: nothing to enforce.
            Dmarc::Other
        } else if *d == DmarcResult::Pass || *s == DmarcResult::Pass {
            Dmarc::Pass
        } else {
            // A policy exists and no identifier passed aligned (RFC 9989): fail,
            // also when neither SPF passed nor a signature verified at all —
            // say so in the header, which would otherwise read "none".
            if *s == DmarcResult::None && *d == DmarcResult::None {
                dmarc = dmarc.with_spf_result(DmarcResult::Fail(mail_auth::Error::NotAligned));
            }
            hits.push(Hit::new("DMARC_FAIL", 2.0));
            match dmarc.policy() {
                Policy::Reject => Dmarc::Reject(dmarc.domain().to_string()),
                Policy::Quarantine => Dmarc::Quarantine(dmarc.domain().to_string()),
                Policy::None | Policy::Unspecified => Dmarc::Other,
            }
        };
        let header = results.with_dkim_results(&dkim, &header_from).with_dmarc_result(&dmarc).to_header();
        Some(Outcome { header, hits, dmarc: verdict })
    }
}
