//! The header facts of a message that searches look at, decoded once when its
//! body is stored: subject and addresses in UTF-8 (whatever charset they came
//! in), lower-cased, and the date it was sent. IMAP SEARCH on these keys then
//! reads a small row instead of parsing every message.

use mail_parser::{Addr, Address, HeaderValue, MessageParser};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub subject: String,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub bcc: String,
    /// The Date header's calendar day as written (yyyymmdd), for SENTON and friends.
    pub sent_ymd: Option<i64>,
}

/// Addresses as one searchable line: "Name <addr>, Name <addr>", a group
/// as "group: Name <addr>;" (so SEARCH TO finds the group's name too).
pub fn addresses(a: Option<&Address>) -> String {
    let list = |l: &[Addr]| {
        l.iter()
            .map(|x| format!("{} <{}>", x.name().unwrap_or(""), x.address().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match a {
        None => String::new(),
        Some(Address::List(l)) => list(l),
        Some(Address::Group(groups)) => groups
            .iter()
            .map(|g| match &g.name {
                Some(name) => format!("{name}: {};", list(&g.addresses)),
                None => list(&g.addresses),
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Each instance of a header field as decoded text (RFC 2047 words decoded,
/// addresses as "Name <addr>"), in order.
pub fn header_values(m: &mail_parser::Message, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for h in m.headers().iter().filter(|h| h.name().eq_ignore_ascii_case(name)) {
        match h.value() {
            HeaderValue::Text(t) => out.push(t.to_string()),
            HeaderValue::TextList(l) => out.push(l.iter().map(|t| t.as_ref()).collect::<Vec<_>>().join(", ")),
            // Addresses as written, unless encoded words need decoding.
            HeaderValue::Address(a) => match m.raw_message().get(h.offset_start() as usize..h.offset_end() as usize) {
                Some(raw) if !raw.windows(2).any(|w| w == b"=?") => out.push(unfold(raw)),
                _ => out.push(addresses(Some(a))),
            },
            _ => {
                if let Some(raw) = m.raw_message().get(h.offset_start() as usize..h.offset_end() as usize) {
                    out.push(unfold(raw));
                }
            }
        }
    }
    out
}

fn unfold(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The decoded text of a message's text and HTML parts (any charset), for
/// body searches: each text part (an HTML-only message's HTML made text),
/// then each HTML part as written. mail-parser also offers a plain part as
/// HTML it makes up; that holds nothing the sender wrote and is left out.
pub fn body_text(m: &mail_parser::Message) -> String {
    let mut out = String::new();
    for i in 0..m.text_body_count() {
        if let Some(t) = m.body_text(i) {
            out.push_str(&t);
            out.push('\n');
        }
    }
    for i in 0..m.html_body_count() {
        let written = m.html_part(i as u32).is_some_and(|p| matches!(p.body, mail_parser::PartType::Html(_)));
        if let Some(t) = written.then(|| m.body_html(i)).flatten() {
            out.push_str(&t);
            out.push('\n');
        }
    }
    out
}

/// The header block of a message (up to and including the blank line).
pub fn header_of(raw: &[u8]) -> &[u8] {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let end = end.or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 2));
    &raw[..end.unwrap_or(raw.len())]
}

impl Summary {
    pub fn of(raw: &[u8]) -> Summary {
        let Some(m) = MessageParser::default().parse_headers(header_of(raw)) else { return Summary::default() };
        Summary {
            subject: m.subject().unwrap_or("").to_lowercase(),
            from: addresses(m.from()).to_lowercase(),
            to: addresses(m.to()).to_lowercase(),
            cc: addresses(m.cc()).to_lowercase(),
            bcc: addresses(m.bcc()).to_lowercase(),
            sent_ymd: m.date().map(|d| i64::from(d.year) * 10_000 + i64::from(d.month) * 100 + i64::from(d.day)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_japanese_subject_and_addresses() {
        let raw = b"From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.jp>\r\nTo: a@b.test, C <c@d.test>\r\nSubject: =?UTF-8?B?5Lya6K2w?= Report\r\nDate: Sat, 28 Nov 2026 23:00:00 -0500\r\n\r\nbody\r\n";
        let s = Summary::of(raw);
        assert_eq!(s.subject, "会議 report");
        assert_eq!(s.from, "山田 <yamada@example.jp>");
        assert_eq!(s.to, " <a@b.test>, c <c@d.test>");
        assert_eq!(s.sent_ymd, Some(20261128));
        assert_eq!(Summary::of(b"garbage"), Summary { sent_ymd: None, ..Default::default() });
    }
}
