//! `[acme]`: a certificate for the mail services and the console from an
//! ACME CA (RFC 8555), renewed before it expires.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    /// The CA's directory URL (e.g. Let's Encrypt's
    /// "https://acme-v02.api.letsencrypt.org/directory"); empty: ACME off.
    pub directory: String,
    /// The names the certificate is for (the first one is its subject);
    /// each must reach this server's `[web] http_listen` on port 80.
    pub domains: Vec<String>,
    /// Where the CA may write about the account (expiry notices).
    pub contact: Option<String>,
    /// Renew when the certificate has fewer days left than this.
    pub renew_days: u32,
    /// Seconds between looks at the certificate's expiry (and retries).
    pub check_interval_secs: u64,
    /// PEM CA certificate(s) to trust for the ACME server besides the public roots (a private CA; tests).
    pub ca_file: Option<PathBuf>,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            directory: String::new(),
            domains: Vec::new(),
            contact: None,
            renew_days: 30,
            check_interval_secs: 12 * 3600,
            ca_file: None,
        }
    }
}
