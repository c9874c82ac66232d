//! `[spam]`: how the spam score is made and what each level of it does.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpamConfig {
    /// Score mail arriving on the MX port (submission from logged-in users is not scored).
    pub enabled: bool,
    /// From this score on, the message is marked (X-Spam-Flag: YES) and filed into Junk.
    pub junk_at: f64,
    /// From this score on, it is held in quarantine instead (0: never).
    pub quarantine_at: f64,
    /// From this score on, it is refused at DATA with 554 (0: never).
    pub reject_at: f64,
    /// The Bayesian classifier speaks only once it has learnt this many of each kind.
    pub min_trained: u32,
    /// DNS blocklists asked about the client's address (e.g. "zen.spamhaus.org"); empty: none.
    pub dnsbl: Vec<String>,
    /// Points per DNSBL listing.
    pub dnsbl_points: f64,
    /// Domain blocklists asked about the domains of links in the body (e.g. "dbl.spamhaus.org").
    pub uribl: Vec<String>,
    /// Points per URIBL listing (counted once per list).
    pub uribl_points: f64,
}

impl Default for SpamConfig {
    fn default() -> Self {
        SpamConfig {
            enabled: true,
            junk_at: 5.0,
            quarantine_at: 10.0,
            reject_at: 0.0,
            min_trained: 50,
            dnsbl: Vec::new(),
            dnsbl_points: 3.0,
            uribl: Vec::new(),
            uribl_points: 3.0,
        }
    }
}
