//! `[mail_auth]`: SPF, DKIM and DMARC checks of inbound mail, DKIM signing of outbound.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailAuthConfig {
    /// Check SPF (at MAIL FROM), DKIM and DMARC on the MX port and record
    /// them in an Authentication-Results header; failures add to the spam score.
    pub verify: bool,
    /// Refuse at MAIL FROM when the sender's SPF record says "-all" for this client.
    pub spf_reject_fail: bool,
    /// Follow the sender domain's DMARC policy when a message fails DMARC:
    /// p=reject refuses it (550), p=quarantine files it into Junk.
    pub dmarc_enforce: bool,
    /// DKIM-sign mail submitted by users when its From domain has a key (`hato ctl dkim generate`).
    pub sign: bool,
}

impl Default for MailAuthConfig {
    fn default() -> Self {
        MailAuthConfig { verify: true, spf_reject_fail: false, dmarc_enforce: true, sign: true }
    }
}
