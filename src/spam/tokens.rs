//! What the classifier looks at: words of the decoded subject and body (any
//! charset), character pairs of Japanese/Chinese text (which has no spaces),
//! sender and link domains, and a few header facts. Each message gives a set.

use std::collections::HashSet;

use mail_parser::MessageParser;

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xFF66..=0xFF9F)
}

fn words(prefix: &str, text: &str, out: &mut HashSet<String>) {
    let mut cjk: Vec<char> = Vec::new();
    let flush = |cjk: &mut Vec<char>, out: &mut HashSet<String>| {
        for pair in cjk.windows(2) {
            out.insert(format!("{prefix}{}{}", pair[0], pair[1]));
        }
        if cjk.len() == 1 {
            out.insert(format!("{prefix}{}", cjk[0]));
        }
        cjk.clear();
    };
    let mut word = String::new();
    for c in text.chars() {
        if is_cjk(c) {
            cjk.push(c);
            continue;
        }
        flush(&mut cjk, out);
        if c.is_alphanumeric() || matches!(c, '$' | '!' | '\'' | '-') {
            word.extend(c.to_lowercase());
        } else {
            if (3..=20).contains(&word.chars().count()) {
                out.insert(format!("{prefix}{word}"));
            }
            word.clear();
        }
    }
    flush(&mut cjk, out);
    if (3..=20).contains(&word.chars().count()) {
        out.insert(format!("{prefix}{word}"));
    }
}

/// A token's key in the model: 64-bit FNV-1a, stable across versions and
/// machines (the counts are stored and shared by cluster nodes).
pub fn hash(token: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in token.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// The hashed token set of a raw message, sorted.
pub fn hashes(raw: &[u8]) -> Vec<i64> {
    let mut v: Vec<i64> = of(raw).iter().map(|t| hash(t)).collect();
    v.sort_unstable();
    v
}

/// The token set of a raw message.
pub fn of(raw: &[u8]) -> HashSet<String> {
    let mut out = HashSet::new();
    let Some(m) = MessageParser::default().parse(raw) else {
        words("", &String::from_utf8_lossy(raw), &mut out);
        return out;
    };
    words("s:", m.subject().unwrap_or(""), &mut out);
    if let Some(from) = m.from().and_then(|a| a.first()).and_then(|a| a.address())
        && let Some((_, domain)) = from.rsplit_once('@')
    {
        out.insert(format!("from:{}", domain.to_lowercase()));
    }
    let mut body = String::new();
    for i in 0..m.text_body_count().max(m.html_body_count()) {
        if let Some(t) = m.body_text(i) {
            body.push_str(&t);
            body.push('\n');
        }
    }
    for link in body.split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>') {
        if let Some(rest) = link.strip_prefix("http://").or_else(|| link.strip_prefix("https://")) {
            let host = rest.split(['/', ':', '?']).next().unwrap_or("").to_lowercase();
            out.insert(format!("url:{host}"));
        }
    }
    words("", &body, &mut out);
    if m.html_body_count() > 0 && m.text_body_count() == 0 {
        out.insert("meta:html-only".into());
    }
    if m.attachment_count() > 0 {
        out.insert("meta:attachment".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_pairs_and_domains() {
        let raw = "From: Shop <deals@cheap.example>\r\nSubject: =?UTF-8?B?5Lya6K2w?= FREE offer\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n今すぐ登録 click http://cheap.example/x now!\r\n";
        let t = of(raw.as_bytes());
        for want in
            ["s:free", "s:offer", "s:会議", "from:cheap.example", "url:cheap.example", "click", "今す", "すぐ", "登録"]
        {
            assert!(t.contains(want), "{want} missing from {t:?}");
        }
        assert!(!t.contains("s:fr"), "words shorter than 3 are left out");
    }
}
