//! Email authentication (mail-auth underneath): SPF of the client at MAIL
//! FROM; DKIM signatures and the sender domain's DMARC policy at the end of
//! DATA, written into an Authentication-Results header and turned into spam
//! score hits and, when `dmarc_enforce` is on, the domain's own policy
//! (reject or Junk). Outbound: `keys` signs what users submit.
//! Invariant: a lookup that cannot be made (no DNS, a timeout, the
//! transaction's DNS budget spent — see `dns`) never fails a message by
//! itself; it shows as temperror/none and adds nothing.

pub mod keys;

use std::net::IpAddr;

use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, SpfOutput, SpfResult};

use crate::config::MailAuthConfig;
use crate::dns::{Budget, Dns};
use crate::spam::Hit;

pub struct Checker {
    cfg: MailAuthConfig,
    dns: Option<Dns>,
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
    pub fn new(cfg: MailAuthConfig, dns: Option<Dns>, hostname: &str) -> Checker {
        let dns = dns.filter(|_| cfg.verify);
        Checker { cfg, dns, hostname: hostname.to_string() }
    }

    pub fn config(&self) -> &MailAuthConfig {
        &self.cfg
    }

    /// SPF for the MAIL FROM identity (the HELO identity for a null sender)
    /// within the transaction's DNS budget: temperror when the budget is
    /// spent or the domain's lookups failed a moment ago; None when checks
    /// are off or there is no resolver.
    pub async fn spf(&self, ip: IpAddr, helo: &str, sender: &str, budget: &mut Budget) -> Option<SpfOutput> {
        let dns = self.dns.clone()?;
        let domain = sender.rsplit_once('@').map_or(helo, |(_, d)| d).to_lowercase();
        let key = format!("spf:{domain}");
        let temperror = SpfOutput::new(domain.clone()).with_result(SpfResult::TempError);
        if dns.failing(&key) {
            tracing::info!(target: "hato::dns", %domain, "SPF temperror: this domain's lookups failed a moment ago");
            return Some(temperror);
        }
        let (helo, sender, host) = (helo.to_string(), sender.to_string(), self.hostname.clone());
        let (marker, key_again) = (dns.clone(), key.clone());
        let step = async move {
            let params = if sender.is_empty() {
                SpfParameters::verify_ehlo(ip, &helo, &host)
            } else {
                SpfParameters::verify_mail_from(ip, &helo, &host, &sender)
            };
            let out = dns.authenticator().verify_spf(params).await;
            dns.outcome(&key, out.result() == SpfResult::TempError);
            out
        };
        let out = budget.spend("SPF", step).await;
        if out.is_none() {
            // Until the abandoned lookup ends, the next message need not wait for it either.
            marker.outcome(&key_again, true);
        }
        Some(out.unwrap_or(temperror))
    }

    /// DKIM and DMARC of a received message (see `verify`) within the
    /// transaction's DNS budget; when it is spent, both are temperror and
    /// add nothing.
    pub async fn check(
        &self,
        raw: &[u8],
        ip: IpAddr,
        helo: &str,
        sender: &str,
        spf: Option<&SpfOutput>,
        budget: &mut Budget,
    ) -> Option<Outcome> {
        let dns = self.dns.clone()?;
        let mail_from_domain = sender.rsplit_once('@').map_or(helo, |(_, d)| d).to_lowercase();
        let spf = spf.cloned().unwrap_or_else(|| SpfOutput::new(mail_from_domain.clone()));
        let key = format!("dmarc:{mail_from_domain}");
        let temperror = |spf: &SpfOutput| {
            let results = spf_results(&self.hostname, spf, ip, helo, sender);
            Outcome {
                header: format!(
                    "Authentication-Results: {results};\r\n\tdkim=temperror (DNS did not answer in time);\r\n\tdmarc=temperror\r\n"
                ),
                hits: spf_hits(spf),
                dmarc: Dmarc::Other,
            }
        };
        if dns.failing(&key) {
            tracing::info!(target: "hato::dns", domain = %mail_from_domain, "DKIM/DMARC temperror: lookups failed a moment ago");
            return Some(temperror(&spf));
        }
        let (raw_owned, helo_owned, sender_owned, host) =
            (raw.to_vec(), helo.to_string(), sender.to_string(), self.hostname.clone());
        let spf_owned = spf.clone();
        let (marker, key_again) = (dns.clone(), key.clone());
        let step = async move {
            let out =
                verify(&dns, &host, &raw_owned, ip, &helo_owned, &sender_owned, &mail_from_domain, &spf_owned).await;
            dns.outcome(&key, out.temporary);
            out.outcome
        };
        let out = budget.spend("DKIM/DMARC", step).await;
        if out.is_none() {
            marker.outcome(&key_again, true);
        }
        Some(out.unwrap_or_else(|| temperror(&spf)))
    }
}

/// The SPF part of an Authentication-Results header.
fn spf_results<'h>(host: &'h str, spf: &SpfOutput, ip: IpAddr, helo: &str, sender: &str) -> AuthenticationResults<'h> {
    let results = AuthenticationResults::new(host);
    if sender.is_empty() {
        results.with_spf_ehlo_result(spf, ip, helo)
    } else {
        results.with_spf_mailfrom_result(spf, ip, sender, helo)
    }
}

fn spf_hits(spf: &SpfOutput) -> Vec<Hit> {
    match spf.result() {
        SpfResult::Fail => vec![Hit::new("SPF_FAIL", 2.0)],
        SpfResult::SoftFail => vec![Hit::new("SPF_SOFTFAIL", 1.0)],
        _ => Vec::new(),
    }
}

/// What `verify` found, and whether a lookup failed temporarily on the way.
struct Verified {
    outcome: Outcome,
    temporary: bool,
}

/// DKIM and DMARC of a received message, with the SPF result from MAIL FROM.
#[allow(clippy::too_many_arguments)]
async fn verify(
    dns: &Dns,
    host: &str,
    raw: &[u8],
    ip: IpAddr,
    helo: &str,
    sender: &str,
    mail_from_domain: &str,
    spf: &SpfOutput,
) -> Verified {
    let mut hits = spf_hits(spf);
    let results = spf_results(host, spf, ip, helo, sender);
    let Some(message) = AuthenticatedMessage::parse(raw) else {
        return Verified {
            outcome: Outcome { header: results.to_header(), hits, dmarc: Dmarc::Other },
            temporary: false,
        };
    };
    let dns = dns.authenticator();
    let dkim = dns.verify_dkim(&message).await;
    // A signature that does not verify: fail (bad signature) or neutral
    // (body hash mismatch, as RFC 6376 §6.1.3 has it).
    if dkim.iter().any(|d| matches!(d.result(), DkimResult::Fail(_) | DkimResult::Neutral(_))) {
        hits.push(Hit::new("DKIM_INVALID", 1.0));
    }
    let header_from = message.from().to_string();
    let mut dmarc = dns.verify_dmarc(DmarcParameters::new(&message, &dkim, mail_from_domain, spf)).await;
    let (d, s) = (dmarc.dkim_result(), dmarc.spf_result());
    let temp = |r: &DmarcResult| matches!(r, DmarcResult::TempError(_));
    // The policy lookup failed (both results temperror and no record), or a key lookup did.
    let temporary = (dmarc.dmarc_record().is_none() && temp(d) && temp(s))
        || dkim.iter().any(|d| matches!(d.result(), DkimResult::TempError(_)));
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
    Verified { outcome: Outcome { header, hits, dmarc: verdict }, temporary }
}
