//! The newest log lines, kept in memory for the web console: searched by
//! time, level, module and text, and followed for a message trace (every line
//! of every queue id a Message-ID or address led to). Files on disk (the
//! supervisor's rotated logs) stay the record; this is the live view.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Lines kept; the oldest go first.
pub const CAPACITY: usize = 20_000;

#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Line {
    /// The cluster member whose log this is (its address); empty for this node's own.
    #[serde(default)]
    pub node: String,
    /// Unix milliseconds.
    pub at: i64,
    pub level: String,
    /// The module, e.g. `hato::smtp`.
    pub target: String,
    pub message: String,
    /// Span and event fields as `key=value`, e.g. `sid=… peer=… queue_id=…`.
    pub fields: String,
}

impl Line {
    fn text(&self) -> String {
        format!("{} {} {} {}", self.target, self.message, self.fields, self.level)
    }
}

static LINES: Mutex<VecDeque<Line>> = Mutex::new(VecDeque::new());

pub fn push(line: Line) {
    let mut q = LINES.lock().unwrap_or_else(|p| p.into_inner());
    if q.len() >= CAPACITY {
        q.pop_front();
    }
    q.push_back(line);
}

/// What to look for; empty parts match everything.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Search {
    /// The least severe level shown: error, warn, info, debug, trace.
    pub level: String,
    /// A module name or part of it (`smtp`, `hato::queue`).
    pub module: String,
    /// Text anywhere in the line: an address, an IP, a queue id, words.
    pub q: String,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: Option<usize>,
}

fn rank(level: &str) -> u8 {
    match level.to_ascii_uppercase().as_str() {
        "ERROR" => 0,
        "WARN" => 1,
        "INFO" => 2,
        "DEBUG" => 3,
        _ => 4,
    }
}

/// Newest first.
pub fn search(s: &Search) -> Vec<Line> {
    let q = LINES.lock().unwrap_or_else(|p| p.into_inner());
    let max = if s.level.is_empty() { 4 } else { rank(&s.level) };
    let needle = s.q.to_lowercase();
    q.iter()
        .rev()
        .filter(|l| rank(&l.level) <= max)
        .filter(|l| s.module.is_empty() || l.target.contains(s.module.as_str()))
        .filter(|l| s.since_ms.is_none_or(|t| l.at >= t) && s.until_ms.is_none_or(|t| l.at <= t))
        .filter(|l| needle.is_empty() || l.text().to_lowercase().contains(&needle))
        .take(s.limit.unwrap_or(500).min(CAPACITY))
        .cloned()
        .collect()
}

/// Every step a message took: the lines naming `term` (a Message-ID or an
/// address), then every line of the queue ids those lines carry, oldest first.
pub fn trace(term: &str) -> Vec<Line> {
    let term = term.trim().to_lowercase();
    if term.is_empty() {
        return Vec::new();
    }
    let q = LINES.lock().unwrap_or_else(|p| p.into_inner());
    let mut ids: Vec<String> = Vec::new();
    for l in q.iter().filter(|l| l.text().to_lowercase().contains(&term)) {
        if let Some(id) = field(&l.fields, "queue_id")
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    q.iter()
        .filter(|l| {
            l.text().to_lowercase().contains(&term) || field(&l.fields, "queue_id").is_some_and(|id| ids.contains(&id))
        })
        .cloned()
        .collect()
}

fn field(fields: &str, name: &str) -> Option<String> {
    fields
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .map(|v| v.trim_matches('"').to_string())
}

/// The tracing layer that fills the buffer (installed by `logs::init`).
pub struct Recent;

struct Visitor {
    message: String,
    fields: String,
}

impl Visit for Visitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Recent {
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut v = Visitor { message: String::new(), fields: String::new() };
        event.record(&mut v);
        let mut spans = String::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<FormattedFields<DefaultFields>>()
                    && !f.is_empty()
                {
                    let _ = write!(spans, " {}", f.fields);
                }
            }
        }
        let level = match *event.metadata().level() {
            Level::ERROR => "ERROR",
            Level::WARN => "WARN",
            Level::INFO => "INFO",
            Level::DEBUG => "DEBUG",
            Level::TRACE => "TRACE",
        };
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        push(Line {
            node: String::new(),
            at,
            level: level.into(),
            target: event.metadata().target().into(),
            message: v.message,
            fields: format!("{}{}", spans.trim(), v.fields).trim().to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(at: i64, level: &str, target: &str, message: &str, fields: &str) -> Line {
        Line {
            node: String::new(),
            at,
            level: level.into(),
            target: target.into(),
            message: message.into(),
            fields: fields.into(),
        }
    }

    #[test]
    fn search_and_trace_follow_queue_ids() {
        // Tests in this binary share the buffer: use markers nobody else logs.
        push(line(
            1,
            "INFO",
            "hato::smtp",
            "accepted",
            "sid=zz1 queue_id=QTRACE1 from=a@trace.test message_id=<m1@trace.test>",
        ));
        push(line(2, "DEBUG", "hato::queue", "attempt", "queue_id=QTRACE1"));
        push(line(3, "INFO", "hato::queue", "delivered to INBOX", "queue_id=QTRACE1 to=b@trace.test"));
        push(line(4, "WARN", "hato::smtp", "rejected", "queue_id=QTRACE2 from=c@trace.test"));
        let t = trace("<m1@trace.test>");
        assert_eq!(t.iter().map(|l| l.at).collect::<Vec<_>>(), [1, 2, 3]);
        let by_addr = trace("b@trace.test");
        assert_eq!(by_addr.len(), 3, "the delivery line names b, and its queue id brings the rest");
        let warn = search(&Search { level: "warn".into(), q: "trace.test".into(), ..Search::default() });
        assert_eq!(warn.iter().map(|l| l.at).collect::<Vec<_>>(), [4]);
        let queue = search(&Search { module: "queue".into(), q: "QTRACE1".into(), ..Search::default() });
        assert_eq!(queue.iter().map(|l| l.at).collect::<Vec<_>>(), [3, 2], "newest first");
        assert!(trace("  ").is_empty());
    }
}
