//! Spam scoring of inbound mail: a score made of the Bayesian classifier's
//! verdict (`bayes`, counts kept in the store and learnt from users' Junk
//! moves and quarantine releases), header and content rules (`rules`) and
//! DNS blocklists (`blocklist`). The SMTP transaction turns the score into
//! an action by `[spam]` thresholds: headers only, Junk, quarantine, reject.
//! Invariant: scoring never fails a message — a store or DNS problem leaves
//! that part out of the score and says so in the log.

pub mod bayes;
pub mod blocklist;
pub mod rules;
pub mod tokens;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use tracing::warn;

use crate::config::SpamConfig;
use crate::dns::{Budget, Dns};
use crate::store::{LearnedMessage, Store};
pub use rules::Hit;

/// What scoring found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub score: f64,
    pub hits: Vec<Hit>,
    /// The classifier's 0..1 verdict, when it had learnt enough to give one.
    pub bayes: Option<f64>,
}

/// What the score means for the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Deliver as usual (with the X-Spam headers).
    Deliver,
    /// Mark it and file it into the recipient's Junk.
    Junk,
    Quarantine,
    Reject,
}

/// The headers Hato adds; copies arriving with a message are removed first so
/// a sender cannot mark its own mail as clean (or as spam).
pub const HEADERS: [&str; 3] = ["X-Spam-Flag", "X-Spam-Score", "X-Spam-Status"];

impl Report {
    pub fn action(&self, cfg: &SpamConfig) -> Action {
        let at = |t: f64| t > 0.0 && self.score >= t;
        if at(cfg.reject_at) {
            Action::Reject
        } else if at(cfg.quarantine_at) {
            Action::Quarantine
        } else if at(cfg.junk_at) {
            Action::Junk
        } else {
            Action::Deliver
        }
    }

    /// "BAYES_99=4.0,MISSING_DATE=1.0" — the tests that matched.
    pub fn tests(&self) -> String {
        self.hits.iter().map(|h| format!("{}={}", h.name, one_decimal(h.points))).collect::<Vec<_>>().join(",")
    }

    /// The X-Spam-* header lines for this report.
    pub fn headers(&self, cfg: &SpamConfig) -> String {
        let spam = self.score >= cfg.junk_at;
        let mut h = String::new();
        if spam {
            h.push_str("X-Spam-Flag: YES\r\n");
        }
        let score = one_decimal(self.score);
        h.push_str(&format!("X-Spam-Score: {score}\r\n"));
        h.push_str(&format!(
            "X-Spam-Status: {}, score={score} required={} tests={}\r\n",
            if spam { "Yes" } else { "No" },
            one_decimal(cfg.junk_at),
            if self.hits.is_empty() { "none".to_string() } else { self.tests() }
        ));
        h
    }
}

/// "4.0", "-1.5", and "0.0" rather than "-0.0" for a tiny negative sum.
pub fn one_decimal(x: f64) -> String {
    format!("{:.1}", (x * 10.0).round() / 10.0 + 0.0)
}

/// Points for the classifier's verdict (SpamAssassin's BAYES_* bands, a bit
/// stronger at the spam end because the classifier learns from this site's mail).
fn bayes_hit(p: f64) -> Option<Hit> {
    let (name, points) = match p {
        p if p >= 0.999 => ("BAYES_999", 5.0),
        p if p >= 0.99 => ("BAYES_99", 4.0),
        p if p >= 0.95 => ("BAYES_95", 3.0),
        p if p >= 0.80 => ("BAYES_80", 2.0),
        p if p <= 0.01 => ("BAYES_00", -1.5),
        p if p <= 0.05 => ("BAYES_05", -0.5),
        _ => return None,
    };
    Some(Hit::new(name, points))
}

pub struct Scorer {
    cfg: SpamConfig,
    store: Arc<Store>,
    dns: Option<Dns>,
}

impl Scorer {
    pub fn new(cfg: SpamConfig, store: Arc<Store>, dns: Option<Dns>) -> Scorer {
        let wants_dns = !cfg.dnsbl.is_empty() || !cfg.uribl.is_empty();
        let dns = dns.filter(|_| wants_dns);
        Scorer { cfg, store, dns }
    }

    pub fn config(&self) -> &SpamConfig {
        &self.cfg
    }

    /// Scores a raw message that came from `client`; `extra` are hits found
    /// before (SPF/DKIM/DMARC); `queue_id` is for the log. Blocklists are
    /// asked within what is left of the transaction's DNS `budget`.
    pub async fn score(
        &self,
        raw: &[u8],
        client: IpAddr,
        queue_id: &str,
        extra: Vec<Hit>,
        budget: &mut Budget,
    ) -> Report {
        let mut report = Report { hits: extra, ..Report::default() };
        let parsed = mail_parser::MessageParser::default().parse(raw);
        if let Some(m) = &parsed {
            report.hits.extend(rules::check(m, crate::clock::now()));
        }
        let hashes = tokens::hashes_of(parsed.as_ref(), raw);
        match self.store.spam_counts(hashes.clone()).await {
            Ok(c) if c.totals.spam.min(c.totals.ham) >= self.cfg.min_trained => {
                let p = bayes::Model::from_counts(c.tokens, c.totals.spam, c.totals.ham).score(&hashes);
                report.bayes = Some(p);
                report.hits.extend(bayes_hit(p));
            }
            Ok(_) => {}
            Err(e) => warn!(target: "hato::spam", queue_id, "classifier left out: {e}"),
        }
        if let Some(dns) = &self.dns {
            let asks = self.blocklist_queries(raw, client);
            if !asks.is_empty() {
                let resolver = dns.resolver().clone();
                let listed = budget.spend("blocklists", blocklist::ask(resolver, asks)).await;
                report.hits.extend(listed.unwrap_or_default());
            }
        }
        report.score = report.hits.iter().fold(0.0, |sum, h| sum + h.points);
        report
    }

    /// The names to look up, each with the hit a listing gives.
    fn blocklist_queries(&self, raw: &[u8], client: IpAddr) -> Vec<blocklist::Query> {
        let mut asks = Vec::new();
        if blocklist::worth_asking(client) {
            for zone in &self.cfg.dnsbl {
                let hit = Hit::new(&list_test("DNSBL", zone), self.cfg.dnsbl_points);
                asks.push(blocklist::Query { name: blocklist::query_name(client, zone), hit });
            }
        }
        if !self.cfg.uribl.is_empty() {
            let domains: BTreeSet<String> = tokens::of(raw)
                .into_iter()
                .filter_map(|t| t.strip_prefix("url:").map(str::to_string))
                .take(20)
                .collect();
            for zone in &self.cfg.uribl {
                let hit = Hit::new(&list_test("URIBL", zone), self.cfg.uribl_points);
                for d in &domains {
                    asks.push(blocklist::Query { name: format!("{d}.{zone}."), hit: hit.clone() });
                }
            }
        }
        asks
    }
}

/// A listing's test name: "URIBL_DBL_SPAMHAUS_ORG" for uribl zone dbl.spamhaus.org.
fn list_test(kind: &str, zone: &str) -> String {
    let zone: String =
        zone.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("{kind}_{zone}")
}

/// What a user moving mail teaches, by the two mailboxes' special use: into
/// Junk means spam; out of Junk means ham, unless it went to Trash.
pub fn lesson(from: Option<&str>, to: Option<&str>) -> Option<bool> {
    let junk = |u: Option<&str>| u == Some("\\Junk");
    match (junk(from), junk(to)) {
        (false, true) => Some(true),
        (true, false) if to != Some("\\Trash") => Some(false),
        _ => None,
    }
}

/// Learns from messages a user copied or moved from `from` to `to` (UIDs in
/// `to`); runs after the IMAP command has been answered.
pub async fn learn_moved(store: Arc<Store>, account: String, from: String, to: String, uids: Vec<i64>) {
    let boxes = match store.mailboxes(account.clone()).await {
        Ok(b) => b,
        Err(e) => return warn!(target: "hato::spam", account, "could not learn from a move: {e}"),
    };
    let use_of = |name: &str| boxes.iter().find(|b| b.name == name).and_then(|b| b.special_use.clone());
    let Some(is_spam) = lesson(use_of(&from).as_deref(), use_of(&to).as_deref()) else { return };
    for chunk in uids.chunks(128) {
        let learnt = match store.contents(account.clone(), to.clone(), chunk.to_vec()).await {
            Ok(msgs) => {
                let learned =
                    msgs.iter().map(|m| LearnedMessage { hashes: tokens::hashes(&m.data), spam: is_spam }).collect();
                store.spam_learn(learned).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = learnt {
            return warn!(target: "hato::spam", account, "could not learn from a move: {e}");
        }
    }
    tracing::info!(target: "hato::spam", account, messages = uids.len(), spam = is_spam, "learnt from a move {from} -> {to}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_teach_by_special_use() {
        let (junk, trash, none) = (Some("\\Junk"), Some("\\Trash"), None);
        assert_eq!(lesson(none, junk), Some(true));
        assert_eq!(lesson(junk, none), Some(false));
        assert_eq!(lesson(junk, Some("\\Archive")), Some(false));
        assert_eq!(lesson(junk, trash), None);
        assert_eq!(lesson(none, trash), None);
        assert_eq!(lesson(junk, junk), None);
    }

    #[test]
    fn thresholds_and_headers() {
        let cfg = SpamConfig { junk_at: 5.0, quarantine_at: 10.0, reject_at: 15.0, ..SpamConfig::default() };
        let r = |score: f64| Report {
            score,
            hits: vec![Hit::new("BAYES_99", 4.0), Hit::new("MISSING_DATE", 1.0)],
            bayes: Some(0.995),
        };
        assert_eq!(r(4.9).action(&cfg), Action::Deliver);
        assert_eq!(r(5.0).action(&cfg), Action::Junk);
        assert_eq!(r(12.0).action(&cfg), Action::Quarantine);
        assert_eq!(r(15.0).action(&cfg), Action::Reject);
        assert_eq!(r(30.0).action(&SpamConfig { reject_at: 0.0, quarantine_at: 0.0, ..cfg.clone() }), Action::Junk);
        let h = r(5.0).headers(&cfg);
        assert!(h.starts_with("X-Spam-Flag: YES\r\nX-Spam-Score: 5.0\r\n"), "{h}");
        assert!(
            h.contains("X-Spam-Status: Yes, score=5.0 required=5.0 tests=BAYES_99=4.0,MISSING_DATE=1.0\r\n"),
            "{h}"
        );
        assert!(!r(1.0).headers(&cfg).contains("X-Spam-Flag"));
        assert_eq!(bayes_hit(0.5), None);
        assert_eq!(bayes_hit(0.001).unwrap().name, "BAYES_00");
    }
}
