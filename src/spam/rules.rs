//! Header and content rules: facts about a message that spam shows more
//! often than mail people write. Each is worth a few points; none decides
//! alone. Names follow SpamAssassin's where the idea is the same.

use mail_parser::{HeaderValue, Message};

/// One rule (or other test) that matched, and what it added to the score.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub name: String,
    pub points: f64,
}

impl Hit {
    pub fn new(name: &str, points: f64) -> Hit {
        Hit { name: name.to_string(), points }
    }
}

/// The rules that match a parsed message; `now` is the Unix time it arrived.
pub fn check(m: &Message, now: i64) -> Vec<Hit> {
    let mut hits = Vec::new();
    match m.date() {
        None => hits.push(Hit::new("MISSING_DATE", 1.0)),
        Some(d) if d.to_timestamp() > now + 86_400 => hits.push(Hit::new("DATE_IN_FUTURE", 1.5)),
        Some(d) if d.to_timestamp() < now - 30 * 86_400 => hits.push(Hit::new("DATE_IN_PAST", 1.0)),
        Some(_) => {}
    }
    if m.message_id().is_none() {
        hits.push(Hit::new("MISSING_MID", 0.5));
    }
    if matches!(m.header("To"), None | Some(HeaderValue::Empty)) {
        hits.push(Hit::new("MISSING_TO", 0.5));
    }
    let subject = m.subject().unwrap_or("");
    let letters: Vec<char> = subject.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() >= 10 && letters.iter().all(|c| c.is_uppercase()) {
        hits.push(Hit::new("SUBJ_ALL_CAPS", 1.0));
    }
    if m.html_body_count() > 0 && m.text_body_count() == m.html_body_count() && m.parts.iter().all(|p| !is_plain(p)) {
        hits.push(Hit::new("MIME_HTML_ONLY", 0.5));
    }
    if let Some(from) = m.from().and_then(|a| a.first()) {
        // "PayPal <billing@paypal.com>" <x@elsewhere.example>: a display name
        // that is itself an address of another domain is how phishing looks.
        let shown_domain = from
            .name()
            .and_then(|n| n.rsplit_once('@'))
            .map(|(_, d)| d.trim_end_matches(['>', '"', ' ']).to_lowercase());
        let real_domain = from.address().and_then(|a| a.rsplit_once('@')).map(|(_, d)| d.to_lowercase());
        if let (Some(shown), Some(real)) = (shown_domain, real_domain)
            && !shown.is_empty()
            && shown != real
        {
            hits.push(Hit::new("FROM_NAME_SPOOF", 2.0));
        }
    }
    hits
}

fn is_plain(p: &mail_parser::MessagePart) -> bool {
    matches!(&p.body, mail_parser::PartType::Text(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(raw: &str, now: i64) -> Vec<String> {
        let m = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        check(&m, now).into_iter().map(|h| h.name).collect()
    }

    #[test]
    fn rules_match_what_they_say() {
        let now = 1_790_000_000; // 2026-09
        let good = "From: Ann <ann@example.org>\r\nTo: bob@example.org\r\nDate: Sun, 20 Sep 2026 10:00:00 +0000\r\nMessage-ID: <1@x>\r\nSubject: Lunch on Friday?\r\n\r\nHi\r\n";
        assert!(names(good, now).is_empty(), "{:?}", names(good, now));
        let bad = "From: \"service@paypal.com\" <x@phish.example>\r\nSubject: URGENT ACCOUNT NOTICE\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n";
        let n = names(bad, now);
        for want in ["MISSING_DATE", "MISSING_MID", "MISSING_TO", "SUBJ_ALL_CAPS", "MIME_HTML_ONLY", "FROM_NAME_SPOOF"]
        {
            assert!(n.iter().any(|x| x == want), "{want} not in {n:?}");
        }
        let future = good.replace("20 Sep 2026", "20 Sep 2027");
        assert_eq!(names(&future, now), ["DATE_IN_FUTURE"]);
    }
}
