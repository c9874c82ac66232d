//! SORT (RFC 5256, RFC 5957 DISPLAY): what each message is sorted by, and the
//! sort itself. THREAD (`thread`) uses the same summaries.

use std::cmp::Ordering;

use imap_codec::imap_types::extensions::sort::{SortCriterion, SortKey};
use mail_parser::{Address, Message};

/// The parts of one message SORT and THREAD look at.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// What the response names it by: a sequence number or a UID.
    pub n: u64,
    pub arrival: i64,
    /// The Date header, or the arrival time when it is missing.
    pub date: i64,
    pub size: i64,
    pub base_subject: String,
    /// Whether the subject marks a reply or forward (RFC 5256 §2.1).
    pub reply: bool,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub display_from: String,
    pub display_to: String,
    pub message_id: Option<String>,
    pub references: Vec<String>,
}

fn first_mailbox(a: Option<&Address>) -> (String, String) {
    let Some(first) = a.and_then(|a| a.first()) else { return (String::new(), String::new()) };
    let addr = first.address().unwrap_or("").to_lowercase();
    let local = addr.split('@').next().unwrap_or("").to_string();
    // RFC 5957: the display name, or the address when there is none.
    let display = first.name().map(str::to_lowercase).unwrap_or_else(|| addr.clone());
    (local, display)
}

impl Summary {
    pub fn new(n: u64, arrival: i64, size: i64, m: Option<&Message>) -> Summary {
        let mut s = Summary { n, arrival, date: arrival, size, ..Default::default() };
        let Some(m) = m else { return s };
        if let Some(d) = m.date() {
            s.date = d.to_timestamp();
        }
        s.base_subject = base_subject(m.subject().unwrap_or(""));
        s.reply = is_reply(m.subject().unwrap_or(""));
        (s.from, s.display_from) = first_mailbox(m.from());
        (s.to, s.display_to) = first_mailbox(m.to());
        s.cc = first_mailbox(m.cc()).0;
        s.message_id = m.message_id().map(str::to_string);
        s.references =
            m.references().as_text_list().map(|l| l.iter().map(|x| x.to_string()).collect()).unwrap_or_default();
        if s.references.is_empty() {
            // RFC 5256 §2.2: without References, the first In-Reply-To id stands in.
            if let Some(first) = m.in_reply_to().as_text_list().and_then(|l| l.first().map(|x| x.to_string())) {
                s.references.push(first);
            }
        }
        s
    }
}

/// RFC 5256 §2.1: a subject is a reply or forward when extracting its base
/// subject removes a "Re:"/"Fw:"/"Fwd:" prefix (after any "[list]" blobs),
/// a "(fwd)" trailer, or a "[fwd: …]" wrapper — a list tag alone is not.
pub fn is_reply(subject: &str) -> bool {
    let s = subject.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    if s.ends_with("(fwd)") || (s.starts_with("[fwd:") && s.ends_with(']')) {
        return true;
    }
    let mut rest = s.as_str();
    while let Some(after) = rest.strip_prefix('[').and_then(|r| r.find(']').map(|e| r[e + 1..].trim_start())) {
        rest = after;
    }
    ["re", "fwd", "fw"].iter().any(|p| {
        rest.strip_prefix(p).is_some_and(|r| {
            let r = r.trim_start();
            let r = match r.strip_prefix('[') {
                Some(x) => x.find(']').map_or(x, |e| x[e + 1..].trim_start()),
                None => r,
            };
            r.starts_with(':')
        })
    })
}

/// RFC 5256 §2.1 base subject: without "Re:", "Fwd:", "[list]" prefixes,
/// "(fwd)" trailers and surrounding blanks; compared case-insensitively.
pub fn base_subject(subject: &str) -> String {
    let mut s: String = subject.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    loop {
        let before = s.clone();
        while let Some(t) = s.strip_suffix("(fwd)") {
            s = t.trim_end().to_string();
        }
        loop {
            let inner = s.clone();
            // subj-blob: "[...]" followed by more text.
            if s.starts_with('[')
                && let Some(end) = s.find(']')
            {
                let rest = s[end + 1..].trim_start();
                if !rest.is_empty() {
                    s = rest.to_string();
                }
            }
            for prefix in ["re", "fwd", "fw"] {
                if let Some(rest) = s.strip_prefix(prefix) {
                    let rest = rest.trim_start();
                    let rest = if rest.starts_with('[') {
                        rest.find(']').map(|e| rest[e + 1..].trim_start()).unwrap_or(rest)
                    } else {
                        rest
                    };
                    if let Some(after) = rest.strip_prefix(':') {
                        s = after.trim_start().to_string();
                        break;
                    }
                }
            }
            if s == inner {
                break;
            }
        }
        if let Some(inner) = s.strip_prefix("[fwd:").and_then(|x| x.strip_suffix(']')) {
            s = inner.trim().to_string();
        }
        if s == before {
            return s;
        }
    }
}

fn compare(a: &Summary, b: &Summary, key: &SortKey) -> Ordering {
    match key {
        SortKey::Arrival => a.arrival.cmp(&b.arrival),
        SortKey::Date => a.date.cmp(&b.date),
        SortKey::Size => a.size.cmp(&b.size),
        SortKey::Subject => a.base_subject.cmp(&b.base_subject),
        SortKey::From => a.from.cmp(&b.from),
        SortKey::To => a.to.cmp(&b.to),
        SortKey::Cc => a.cc.cmp(&b.cc),
        SortKey::DisplayFrom => a.display_from.cmp(&b.display_from),
        SortKey::DisplayTo => a.display_to.cmp(&b.display_to),
    }
}

/// Sorts by the criteria in order; ties keep sequence (arrival) order, as RFC 5256 asks.
pub fn sort(mut msgs: Vec<Summary>, criteria: &[SortCriterion]) -> Vec<u64> {
    msgs.sort_by(|a, b| {
        for c in criteria {
            let o = compare(a, b, &c.key);
            let o = if c.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    msgs.into_iter().map(|m| m.n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects() {
        assert_eq!(base_subject("Re: Fwd: [list] Hello  world (fwd)"), "hello world");
        assert_eq!(base_subject("RE: re[2]: hello"), "hello");
        assert_eq!(base_subject("[Fwd: Lunch]"), "lunch");
        assert_eq!(base_subject("[only blob]"), "[only blob]");
        assert_eq!(base_subject("Re: 会議の件"), "会議の件");
        assert!(is_reply("Re: x") && is_reply("[list] FWD[2]: x") && is_reply("x (fwd)") && is_reply("[Fwd: x]"));
        assert!(!is_reply("[list] x") && !is_reply("Regarding: x") && !is_reply("report"));
    }

    #[test]
    fn multi_key_sort_with_reverse() {
        let m = |n, size, subject: &str| Summary { n, size, base_subject: subject.into(), ..Default::default() };
        let msgs = vec![m(1, 30, "b"), m(2, 10, "a"), m(3, 20, "b"), m(4, 10, "c")];
        let by = |key, reverse| SortCriterion { reverse, key };
        assert_eq!(sort(msgs.clone(), &[by(SortKey::Size, false)]), [2, 4, 3, 1]);
        assert_eq!(sort(msgs.clone(), &[by(SortKey::Subject, false), by(SortKey::Size, true)]), [2, 1, 3, 4]);
    }
}
