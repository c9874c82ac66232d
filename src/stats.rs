//! Live counters of what this server has done since it started: the numbers
//! behind SNMP's MTA-MIB and HATO-MIB (read over the control socket by
//! `hato init`'s subagent) and the control socket's status.
//!
//! Plain relaxed atomics in one static: counting must never slow the mail
//! path, take a lock or fail. Gauges (sessions open now) are kept by `Open`
//! guards, so an early return or a panic in a session cannot leave them high.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

macro_rules! counters {
    ($($name:ident: $doc:literal,)*) => {
        /// Every counter the server keeps; see `STATS`.
        pub struct Stats {
            $(#[doc = $doc] pub $name: AtomicU64,)*
        }

        impl Stats {
            const fn new() -> Stats {
                Stats { $($name: AtomicU64::new(0),)* }
            }

            pub fn snapshot(&self) -> Snapshot {
                Snapshot { $($name: self.$name.load(Relaxed),)* }
            }
        }

        /// The counters at one moment, as the control socket sends them.
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct Snapshot {
            $(#[doc = $doc] pub $name: u64,)*
        }
    };
}

counters! {
    smtp_sessions: "SMTP sessions open now (MX and submission).",
    smtp_sessions_total: "SMTP sessions accepted since start.",
    connections_refused: "Connections refused by the connection guard (limits, rates, blocked networks).",
    received_messages: "Messages accepted with 250 after DATA (queued, quarantined or discarded by policy).",
    received_bytes: "Bytes of those messages.",
    received_recipients: "Recipients of those messages.",
    rejected_messages: "Messages refused at the end of DATA (4xx or 5xx).",
    loops_detected: "Messages refused because they had passed too many hops (a mail loop).",
    relayed_messages: "Messages handed to another server (at least one recipient accepted).",
    relayed_bytes: "Bytes of those messages.",
    relayed_recipients: "Recipients another server accepted.",
    relay_failures: "Delivery attempts to another server that failed (temporarily or for good).",
    outbound_sessions: "SMTP sessions to other servers open now.",
    outbound_sessions_total: "SMTP sessions to other servers since start.",
    local_deliveries: "Recipients delivered into a local mailbox.",
    verdict_virus: "Messages refused or held because clamd found malware.",
    verdict_blocked: "Messages refused or held by the attachment policy.",
    verdict_spam_junk: "Messages marked as spam and filed into Junk.",
    verdict_spam_quarantine: "Messages held as spam.",
    verdict_spam_reject: "Messages refused as spam.",
    verdict_auth_reject: "Messages refused by the sender domain's DMARC policy.",
    verdict_script_reject: "Messages refused by the server Sieve script.",
    imap_sessions: "IMAP sessions open now.",
    imap_sessions_total: "IMAP sessions since start.",
    pop3_sessions: "POP3 sessions open now.",
    pop3_sessions_total: "POP3 sessions since start.",
}

pub static STATS: Stats = Stats::new();

pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
}

/// Counts a session as open (and once in its total) until dropped.
pub struct Open(&'static AtomicU64);

pub fn open(now: &'static AtomicU64, total: &'static AtomicU64) -> Open {
    now.fetch_add(1, Relaxed);
    total.fetch_add(1, Relaxed);
    Open(now)
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// Upper bounds (milliseconds) of the latency histograms' buckets; the last is +Inf.
pub const BUCKETS_MS: [u64; 11] = [5, 10, 25, 50, 100, 250, 500, 1_000, 5_000, 30_000, 300_000];

/// A latency histogram in Prometheus' shape (cumulative on reading).
pub struct Histogram {
    buckets: [AtomicU64; 11],
    count: AtomicU64,
    sum_ms: AtomicU64,
}

impl Histogram {
    const fn new() -> Histogram {
        Histogram { buckets: [const { AtomicU64::new(0) }; 11], count: AtomicU64::new(0), sum_ms: AtomicU64::new(0) }
    }

    pub fn observe(&self, d: std::time::Duration) {
        let ms = d.as_millis() as u64;
        if let Some(i) = BUCKETS_MS.iter().position(|b| ms <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_ms.fetch_add(ms, Relaxed);
    }

    /// (cumulative counts per bucket, total count, sum in milliseconds)
    pub fn read(&self) -> (Vec<u64>, u64, u64) {
        let mut acc = 0;
        let cumulative = self.buckets.iter().map(|b| {
            acc += b.load(Relaxed);
            acc
        });
        (cumulative.collect(), self.count.load(Relaxed), self.sum_ms.load(Relaxed))
    }
}

/// From the end of DATA to the final reply: filters, scoring and the commit.
pub static ACCEPT_LATENCY: Histogram = Histogram::new();
/// From a message entering the queue to its delivery (local or remote), retries included.
pub static DELIVERY_LATENCY: Histogram = Histogram::new();

/// Counts a filter's verdict, named as the filter log line names it.
pub fn verdict(filter: &str, verdict: &str) {
    let s = &STATS;
    let counter = match (filter, verdict) {
        ("antivirus", _) => &s.verdict_virus,
        ("attachment", _) => &s.verdict_blocked,
        ("spam", "junk") => &s.verdict_spam_junk,
        ("spam", "quarantine") => &s.verdict_spam_quarantine,
        ("spam", "reject") => &s.verdict_spam_reject,
        ("dmarc", "reject") => &s.verdict_auth_reject,
        ("sieve", "reject") => &s.verdict_script_reject,
        _ => return,
    };
    add(counter, 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_close_when_dropped() {
        static NOW: AtomicU64 = AtomicU64::new(0);
        static TOTAL: AtomicU64 = AtomicU64::new(0);
        {
            let _a = open(&NOW, &TOTAL);
            let _b = open(&NOW, &TOTAL);
            assert_eq!(NOW.load(Relaxed), 2);
        }
        assert_eq!((NOW.load(Relaxed), TOTAL.load(Relaxed)), (0, 2));
    }

    #[test]
    fn histograms_are_cumulative() {
        static H: Histogram = Histogram::new();
        for ms in [3, 7, 7, 400, 999_999] {
            H.observe(std::time::Duration::from_millis(ms));
        }
        let (b, count, sum) = H.read();
        assert_eq!((b[0], b[1], b[6], b[10], count), (1, 3, 4, 4, 5), "the last one is only in +Inf");
        assert_eq!(sum, 3 + 7 + 7 + 400 + 999_999);
    }

    #[test]
    fn snapshot_round_trips_and_tolerates_missing_fields() {
        let s: Snapshot = serde_json::from_str(r#"{"received_messages": 3}"#).unwrap();
        assert_eq!(s.received_messages, 3);
        assert_eq!(s.relayed_messages, 0);
        let back: Snapshot = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
