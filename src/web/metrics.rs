//! Numbers for the dashboard and for Prometheus: the server's counters
//! (`stats`), the queue, and a per-minute history of the last 24 hours kept
//! in memory for the dashboard's charts.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::App;
use crate::stats::Snapshot;

const MINUTES: usize = 24 * 60;

/// One minute's traffic (differences of the counters).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Minute {
    pub at: i64,
    pub received: u64,
    pub sent: u64,
    pub rejected: u64,
    pub spam: u64,
    pub virus: u64,
}

#[derive(Default)]
pub struct History {
    minutes: Mutex<VecDeque<Minute>>,
    /// The counters at the last sample, so the minute in progress can be shown too.
    last: Mutex<Option<Snapshot>>,
}

impl History {
    pub fn push(&self, m: Minute) {
        let mut q = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == MINUTES {
            q.pop_front();
        }
        q.push_back(m);
    }

    pub fn all(&self) -> Vec<Minute> {
        self.minutes.lock().unwrap_or_else(|p| p.into_inner()).iter().copied().collect()
    }

    /// The finished minutes and the one in progress (from the last sample to now).
    pub fn with_current(&self, now: &Snapshot) -> Vec<Minute> {
        let mut all = self.all();
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
        all.push(minute(crate::clock::now(), &last, now));
        if all.len() > MINUTES {
            all.remove(0);
        }
        all
    }
}

fn spam(s: &Snapshot) -> u64 {
    s.verdict_spam_junk + s.verdict_spam_quarantine + s.verdict_spam_reject
}

pub fn minute(at: i64, before: &Snapshot, now: &Snapshot) -> Minute {
    Minute {
        at,
        received: now.received_messages.saturating_sub(before.received_messages),
        sent: (now.relayed_messages + now.local_deliveries)
            .saturating_sub(before.relayed_messages + before.local_deliveries),
        rejected: now.rejected_messages.saturating_sub(before.rejected_messages),
        spam: spam(now).saturating_sub(spam(before)),
        virus: now.verdict_virus.saturating_sub(before.verdict_virus),
    }
}

/// Samples the counters once a minute into the history.
pub async fn sample(app: Arc<App>) {
    let mut before = crate::stats::STATS.snapshot();
    *app.history.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(before.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = crate::stats::STATS.snapshot();
        app.history.push(minute(crate::clock::now(), &before, &now));
        *app.history.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(now.clone());
        before = now;
    }
}

/// Prometheus text format. Served to loopback callers and logged-in
/// administrators (a scraper on another host goes through a local agent
/// or an admin session token).
pub async fn prometheus(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
) -> Response {
    let local = crate::cidr::canonical(peer.ip()).is_loopback();
    let admin = match super::session::cookie(&headers, super::session::COOKIE) {
        Some(t) => app.sessions.get(&t).await.is_some_and(|s| s.is_admin()),
        None => false,
    };
    if !local && !admin {
        return (StatusCode::FORBIDDEN, "metrics are served to loopback and to administrators\n").into_response();
    }
    let s = crate::stats::STATS.snapshot();
    let (q, store_up) = match app.store.queue_summary().await {
        Ok(q) => (q, true),
        Err(_) => (Default::default(), false),
    };
    let oldest = q.oldest.map_or(0, |o| (crate::clock::now() - o).max(0));
    let mut text = render(&s, &q, oldest, app.guard.open_connections());
    text.push_str(&format!("# HELP hato_store_up Whether the mail store answered just now.\n# TYPE hato_store_up gauge\nhato_store_up {}\n", store_up as u8));
    if let Ok(st) = app.store.status().await {
        text.push_str(&format!(
            "# HELP hato_store_serving Whether the store accepts writes (Galera: the local node is Primary and Synced).\n\
             # TYPE hato_store_serving gauge\nhato_store_serving{{backend=\"{}\"}} {}\n",
            st.backend, st.serving as u8
        ));
        if let Some(size) = st.nodes.iter().find(|n| n.local).map(|n| n.cluster_size) {
            text.push_str(&format!(
                "# HELP hato_cluster_size Galera nodes in this node's component.\n# TYPE hato_cluster_size gauge\nhato_cluster_size {size}\n"
            ));
        }
    }
    if let Ok(ix) = app.store.archive_index_status().await {
        text.push_str(&format!(
            "# HELP hato_archive_index_pending Archived messages this node's full-text index lacks.\n\
             # TYPE hato_archive_index_pending gauge\nhato_archive_index_pending {}\n",
            ix.pending
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

pub fn render(s: &Snapshot, q: &crate::store::QueueSummary, oldest_age: i64, connections: u32) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, v) in samples {
            out.push_str(&format!("{name}{labels} {v}\n"));
        }
    };
    metric("hato_messages_received_total", "counter", "Messages accepted over SMTP.", &[("", s.received_messages)]);
    metric("hato_messages_received_bytes_total", "counter", "Bytes of accepted messages.", &[("", s.received_bytes)]);
    metric(
        "hato_messages_rejected_total",
        "counter",
        "Messages refused at the end of DATA.",
        &[("", s.rejected_messages)],
    );
    metric(
        "hato_messages_delivered_total",
        "counter",
        "Deliveries, by where they went.",
        &[("{to=\"remote\"}", s.relayed_messages), ("{to=\"local\"}", s.local_deliveries)],
    );
    metric(
        "hato_relay_failures_total",
        "counter",
        "Delivery attempts to other servers that failed.",
        &[("", s.relay_failures)],
    );
    metric(
        "hato_filter_verdicts_total",
        "counter",
        "Filter verdicts.",
        &[
            ("{verdict=\"virus\"}", s.verdict_virus),
            ("{verdict=\"attachment\"}", s.verdict_blocked),
            ("{verdict=\"spam_junk\"}", s.verdict_spam_junk),
            ("{verdict=\"spam_quarantine\"}", s.verdict_spam_quarantine),
            ("{verdict=\"spam_reject\"}", s.verdict_spam_reject),
            ("{verdict=\"dmarc_reject\"}", s.verdict_auth_reject),
            ("{verdict=\"script_reject\"}", s.verdict_script_reject),
        ],
    );
    metric(
        "hato_sessions",
        "gauge",
        "Sessions open now, by protocol.",
        &[
            ("{protocol=\"smtp\"}", s.smtp_sessions),
            ("{protocol=\"imap\"}", s.imap_sessions),
            ("{protocol=\"pop3\"}", s.pop3_sessions),
            ("{protocol=\"smtp_out\"}", s.outbound_sessions),
        ],
    );
    metric(
        "hato_sessions_total",
        "counter",
        "Sessions since start, by protocol.",
        &[
            ("{protocol=\"smtp\"}", s.smtp_sessions_total),
            ("{protocol=\"imap\"}", s.imap_sessions_total),
            ("{protocol=\"pop3\"}", s.pop3_sessions_total),
        ],
    );
    metric(
        "hato_connections_refused_total",
        "counter",
        "Connections refused at connect.",
        &[("", s.connections_refused)],
    );
    metric("hato_connections", "gauge", "Client connections open now.", &[("", connections as u64)]);
    metric("hato_queue_messages", "gauge", "Messages in the queue.", &[("", q.messages)]);
    metric("hato_queue_recipients", "gauge", "Recipients left to deliver (held included).", &[("", q.recipients)]);
    metric("hato_queue_held", "gauge", "Recipients on hold.", &[("", q.held)]);
    metric(
        "hato_queue_oldest_seconds",
        "gauge",
        "Age of the oldest queued message.",
        &[("", oldest_age.max(0) as u64)],
    );
    histogram(
        &mut out,
        "hato_smtp_accept_seconds",
        "From the end of DATA to the final reply (filters and commit).",
        &crate::stats::ACCEPT_LATENCY,
    );
    histogram(
        &mut out,
        "hato_delivery_seconds",
        "From entering the queue to delivery, retries included.",
        &crate::stats::DELIVERY_LATENCY,
    );
    out
}

fn histogram(out: &mut String, name: &str, help: &str, h: &crate::stats::Histogram) {
    let (buckets, count, sum_ms) = h.read();
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} histogram\n"));
    for (le, n) in crate::stats::BUCKETS_MS.iter().zip(&buckets) {
        out.push_str(&format!("{name}_bucket{{le=\"{}\"}} {n}\n", *le as f64 / 1000.0));
    }
    out.push_str(&format!(
        "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {}\n{name}_count {count}\n",
        sum_ms as f64 / 1000.0
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_are_differences_and_history_is_bounded() {
        let a = Snapshot { received_messages: 10, relayed_messages: 1, verdict_spam_junk: 2, ..Snapshot::default() };
        let b = Snapshot {
            received_messages: 15,
            relayed_messages: 2,
            local_deliveries: 3,
            verdict_spam_junk: 3,
            verdict_spam_reject: 1,
            ..Snapshot::default()
        };
        let m = minute(60, &a, &b);
        assert_eq!((m.received, m.sent, m.spam), (5, 4, 2));
        let h = History::default();
        for i in 0..(MINUTES + 5) {
            h.push(Minute { at: i as i64, ..Minute::default() });
        }
        let all = h.all();
        assert_eq!(all.len(), MINUTES);
        assert_eq!(all[0].at, 5);
    }

    #[test]
    fn prometheus_text_has_types_and_labels() {
        let s = Snapshot { received_messages: 3, smtp_sessions: 1, ..Snapshot::default() };
        let text = render(&s, &crate::store::QueueSummary { messages: 2, ..Default::default() }, 30, 4);
        assert!(text.contains("# TYPE hato_messages_received_total counter\nhato_messages_received_total 3\n"));
        assert!(text.contains("hato_sessions{protocol=\"smtp\"} 1\n"));
        assert!(text.contains("hato_queue_messages 2\n") && text.contains("hato_queue_oldest_seconds 30\n"));
    }
}
