//! SORT (RFC 5256, RFC 5957 DISPLAY): what each message is sorted by, and the
//! sort itself. THREAD (`thread`) uses the same summaries.

use std::cmp::Ordering;

use imap_codec::imap_types::extensions::sort::{SortCriterion, SortKey};
use mail_parser::{Address, Message};

/// The parts of one message SORT and THREAD look at. The string keys are
/// kept in the form SORT compares them: RFC 5256 sorts with the
/// i;ascii-casemap collation (a–z folded to A–Z, all else by octet), so
/// "_" and "[" sort after the letters and a key is folded once, here.
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

/// The first address structure of an ENVELOPE address list, as
/// (addr-name, addr-mailbox, addr-host). A group's first structure is its
/// start marker: no name, the group's name as mailbox, no host (RFC 3501
/// §7.4.2) — so a "To: team: a@x;" sorts by "team", as in Dovecot.
fn first_address<'a>(a: Option<&'a Address<'a>>) -> Option<(Option<&'a str>, &'a str, Option<&'a str>)> {
    let (group, members) = match a? {
        Address::List(list) => (None, &list[..]),
        Address::Group(groups) => groups.first().map(|g| (g.name.as_deref(), &g.addresses[..]))?,
    };
    if let Some(name) = group {
        return Some((None, name, None));
    }
    let first = members.first()?;
    let email = first.address().unwrap_or("");
    let (mailbox, host) = match email.rsplit_once('@') {
        Some((m, h)) => (m, Some(h)),
        None => (email, None),
    };
    Some((first.name(), mailbox, host))
}

/// RFC 5256: FROM, TO and CC sort by the addr-mailbox of the first address.
fn mailbox_key(a: Option<&Address>) -> String {
    first_address(a).map(|(_, mailbox, _)| mailbox.to_ascii_uppercase()).unwrap_or_default()
}

/// RFC 5957 §3: the display name when it is not empty, else
/// mailbox@host, else the mailbox, else nothing.
fn display_key(a: Option<&Address>) -> String {
    let Some((name, mailbox, host)) = first_address(a) else { return String::new() };
    let key = match (name.map(str::trim).filter(|n| !n.is_empty()), host.filter(|h| !h.is_empty())) {
        (Some(name), _) => name.to_string(),
        (None, Some(host)) => format!("{mailbox}@{host}"),
        (None, None) => mailbox.to_string(),
    };
    key.to_ascii_uppercase()
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
        s.from = mailbox_key(m.from());
        s.to = mailbox_key(m.to());
        s.cc = mailbox_key(m.cc());
        s.display_from = display_key(m.from());
        s.display_to = display_key(m.to());
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

/// subj-blob = "[" *BLOBCHAR "]" *WSP (RFC 5256 §5): what follows a blob
/// at the start of `s`. A blob holds no "[" or "]".
fn after_blob(s: &str) -> Option<&str> {
    let body = s.strip_prefix('[')?;
    let end = body.find(['[', ']'])?;
    body[end..].strip_prefix(']').map(str::trim_start)
}

/// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" on a folded
/// subject: what follows it.
fn after_refwd(s: &str) -> Option<&str> {
    ["RE", "FWD", "FW"].iter().find_map(|p| {
        let r = s.strip_prefix(p)?.trim_start();
        let r = after_blob(r).unwrap_or(r);
        r.strip_prefix(':').map(str::trim_start)
    })
}

/// Step 1 of §2.1 — blanks collapsed — and the i;ascii-casemap folding.
fn folded(subject: &str) -> String {
    subject.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_uppercase()
}

/// RFC 5256 §2.1: a subject is a reply or forward when extracting its base
/// subject removes a "Re:"/"Fw:"/"Fwd:" prefix (after any "[list]" blobs),
/// a "(fwd)" trailer, or a "[fwd: …]" wrapper — a list tag alone is not.
pub fn is_reply(subject: &str) -> bool {
    let s = folded(subject);
    if s.ends_with("(FWD)") || (s.starts_with("[FWD:") && s.ends_with(']')) {
        return true;
    }
    let mut rest = s.as_str();
    while let Some(after) = after_blob(rest) {
        rest = after;
    }
    after_refwd(rest).is_some()
}

/// RFC 5256 §2.1 base subject: without "Re:", "Fwd:", "[list]" prefixes,
/// "(fwd)" trailers and surrounding blanks; folded by i;ascii-casemap.
pub fn base_subject(subject: &str) -> String {
    let mut s = folded(subject);
    loop {
        let before = s.clone();
        // (2) subj-trailer.
        while let Some(t) = s.strip_suffix("(FWD)") {
            s = t.trim_end().to_string();
        }
        // (3)–(5): subj-leader (blobs then Re/Fw/Fwd), and a blob that leaves a non-empty base.
        loop {
            let mut rest = s.as_str();
            while let Some(after) = after_blob(rest) {
                rest = after;
            }
            let next = match after_refwd(rest) {
                Some(after) => after,
                None => after_blob(&s).filter(|after| !after.is_empty()).unwrap_or(&s),
            };
            if next.len() == s.len() {
                break;
            }
            s = next.to_string();
        }
        // (6) subj-fwd-hdr … subj-fwd-trl, then again from (2).
        if let Some(inner) = s.strip_prefix("[FWD:").and_then(|x| x.strip_suffix(']')) {
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
        assert_eq!(base_subject("Re: Fwd: [list] Hello  world (fwd)"), "HELLO WORLD");
        assert_eq!(base_subject("RE: re[2]: hello"), "HELLO");
        assert_eq!(base_subject("[Fwd: Lunch]"), "LUNCH");
        assert_eq!(base_subject("[only blob]"), "[ONLY BLOB]");
        assert_eq!(base_subject("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)"), "B");
        assert_eq!(base_subject("Re: [FWD: c]"), "C");
        assert_eq!(base_subject("ärger"), "äRGER", "only a–z are folded");
        assert_eq!(base_subject("[a[b] c"), "[A[B] C", "a blob holds no bracket");
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
