//! Content filters run on every message at the end of DATA, before it is
//! queued: the attachment filter first (cheap), then the antivirus (clamd).
//! Each gives a verdict; the SMTP transaction turns it into 250, 554 or 451,
//! or quarantines the message. Invariant: a message the antivirus could not
//! scan is never accepted (451, the sender retries).

mod attachments;
mod clamd;
mod sniff;
mod unpack;
mod zip;

use std::time::Duration;

pub use attachments::Finding;

use crate::config::{Action, FilterConfig};

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Clean,
    /// Refuse with this reason (554).
    Reject {
        filter: &'static str,
        reason: String,
    },
    /// Accept into quarantine with this reason.
    Quarantine {
        filter: &'static str,
        reason: String,
    },
    /// Cannot decide now (451); the sender tries again.
    TempFail {
        filter: &'static str,
        reason: String,
    },
}

fn act(action: Action, filter: &'static str, reason: String) -> Verdict {
    match action {
        Action::Reject => Verdict::Reject { filter, reason },
        Action::Quarantine => Verdict::Quarantine { filter, reason },
    }
}

pub async fn check(cfg: &FilterConfig, raw: &[u8]) -> Verdict {
    let rules = attachments::Rules { blocked: &cfg.blocked_extensions, depth: cfg.archive_depth };
    if let Some(f) = rules.scan(raw) {
        let action = if f.unreadable { cfg.archive_action } else { cfg.extension_action };
        return act(action, "attachment", format!("{}: {}", f.file, f.why));
    }
    if let Some(av) = &cfg.antivirus {
        match clamd::scan(&av.clamd, raw, av.max_scan_bytes, Duration::from_secs(av.timeout_secs)).await {
            Ok(clamd::Scan::Clean) => {}
            Ok(clamd::Scan::Infected(name)) => return act(av.action, "antivirus", format!("virus {name}")),
            Err(e) => return Verdict::TempFail { filter: "antivirus", reason: e.to_string() },
        }
    }
    Verdict::Clean
}

/// Exercises the attachment walk for `cargo fuzz` (fuzz/fuzz_targets/mime_walk.rs).
#[doc(hidden)]
pub fn fuzz_attachments(raw: &[u8]) {
    let cfg = FilterConfig::default();
    let _ = attachments::Rules { blocked: &cfg.blocked_extensions, depth: cfg.archive_depth }.scan(raw);
    if let Some(kind) = unpack::kind(raw) {
        let _ = unpack::open(kind, raw, &mut unpack::Budget::default());
    }
}
