//! What the classifier looks at: words of the decoded subject and body (any
//! charset), character pairs of Japanese/Chinese text (which has no spaces),
//! sender and link domains, and a few header facts. Each message gives a set.

use std::collections::HashSet;

use mail_parser::{Message, MessageParser};

/// How much of a message's text the classifier reads. What tells spam from
/// ham is in the first pages; tokenising a 100 KB text body took a
/// millisecond of the accept path (issue 15) for words the model hardly
/// needs. Of the corpus's 4,185 messages, 47 are over 32 KiB even raw.
const TEXT_MAX: usize = 32 * 1024;

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xFF66..=0xFF9F)
}

/// Calls `emit(prefix, token)` for every word (3 to 20 characters, lower
/// case) and every pair of CJK characters in `text`, duplicates included.
/// Scoring runs this over every message's whole text in the accept path, so
/// it allocates nothing per token (issue 15: it was a quarter of the CPU of
/// 100 KB intake). A CJK character does not end a word; the model's tokens
/// were cut that way from the start, so it stays.
fn words(prefix: &str, text: &str, emit: &mut impl FnMut(&str, &str)) {
    let mut cjk: Vec<char> = Vec::new();
    let mut pair = String::new();
    let mut flush = |cjk: &mut Vec<char>, emit: &mut dyn FnMut(&str, &str)| {
        for w in cjk.windows(2) {
            pair.clear();
            pair.extend(w);
            emit(prefix, &pair);
        }
        if let [one] = cjk[..] {
            pair.clear();
            pair.push(one);
            emit(prefix, &pair);
        }
        cjk.clear();
    };
    let mut word = String::new();
    // Characters in `word`, counted past 20 without storing them: such a word is never a token.
    let mut chars = 0usize;
    for c in text.chars() {
        if is_cjk(c) {
            cjk.push(c);
            continue;
        }
        if !cjk.is_empty() {
            flush(&mut cjk, emit);
        }
        let in_word = if c.is_ascii() {
            c.is_ascii_alphanumeric() || matches!(c, '$' | '!' | '\'' | '-')
        } else {
            c.is_alphanumeric()
        };
        if !in_word {
            if (3..=20).contains(&chars) {
                emit(prefix, &word);
            }
            word.clear();
            chars = 0;
        } else if c.is_ascii() {
            chars += 1;
            if chars <= 20 {
                word.push(c.to_ascii_lowercase());
            }
        } else {
            for l in c.to_lowercase() {
                chars += 1;
                if chars <= 20 {
                    word.push(l);
                }
            }
        }
    }
    flush(&mut cjk, emit);
    if (3..=20).contains(&chars) {
        emit(prefix, &word);
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A token's key in the model: 64-bit FNV-1a, stable across versions and
/// machines (the counts are stored and shared by cluster nodes).
pub fn hash(token: &str) -> i64 {
    fnv(FNV_OFFSET, token.as_bytes()) as i64
}

/// The hashed token set of a raw message, sorted.
pub fn hashes(raw: &[u8]) -> Vec<i64> {
    hashes_of(MessageParser::default().parse(raw).as_ref(), raw)
}

/// `hashes` of a message parsed already: `m` is `raw` parsed, None when it
/// is not a message (the scorer parses it once for its rules and this).
pub fn hashes_of(m: Option<&Message>, raw: &[u8]) -> Vec<i64> {
    let mut v = Vec::new();
    each(m, raw, &mut |prefix, token| v.push(fnv(fnv(FNV_OFFSET, prefix.as_bytes()), token.as_bytes()) as i64));
    v.sort_unstable();
    v.dedup();
    v
}

/// The token set of a raw message.
pub fn of(raw: &[u8]) -> HashSet<String> {
    let mut out = HashSet::new();
    each(MessageParser::default().parse(raw).as_ref(), raw, &mut |prefix, token| {
        out.insert(format!("{prefix}{token}"));
    });
    out
}

/// Every token of a raw message (`m` if it parsed), as (prefix, rest),
/// duplicates included.
fn each(m: Option<&Message>, raw: &[u8], emit: &mut impl FnMut(&str, &str)) {
    let Some(m) = m else {
        let text = String::from_utf8_lossy(raw);
        words("", &text[..text.floor_char_boundary(TEXT_MAX)], emit);
        return;
    };
    words("s:", m.subject().unwrap_or(""), emit);
    if let Some(from) = m.from().and_then(|a| a.first()).and_then(|a| a.address())
        && let Some((_, domain)) = from.rsplit_once('@')
    {
        emit("from:", &domain.to_lowercase());
    }
    let mut body = String::new();
    for i in 0..m.text_body_count().max(m.html_body_count()) {
        if body.len() >= TEXT_MAX {
            break;
        }
        if let Some(t) = m.body_text(i) {
            body.push_str(&t);
            body.push('\n');
        }
    }
    body.truncate(body.floor_char_boundary(TEXT_MAX));
    for link in body.split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>') {
        if let Some(rest) = link.strip_prefix("http://").or_else(|| link.strip_prefix("https://")) {
            emit("url:", &rest.split(['/', ':', '?']).next().unwrap_or("").to_lowercase());
        }
    }
    words("", &body, emit);
    if m.html_body_count() > 0 && m.text_body_count() == 0 {
        emit("meta:", "html-only");
    }
    if m.attachment_count() > 0 {
        emit("meta:", "attachment");
    }
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

    /// The model stores hashes: `hashes` is exactly `hash` over `of`'s tokens,
    /// and `hash` is FNV-1a as it always was.
    #[test]
    fn hashes_are_the_tokens_hashed() {
        let raw = "From: a@Mail.Example\r\nSubject: İstanbul deal\r\n\r\nBUY now aaaaaaaaaaaaaaaaaaaaaaaaaaaaa 今日は https://x.example/ ok $$$ 19-20\r\n";
        let t = of(raw.as_bytes());
        let mut want: Vec<i64> = t.iter().map(|w| hash(w)).collect();
        want.sort_unstable();
        assert_eq!(hashes(raw.as_bytes()), want);
        assert!(
            t.contains("s:i\u{307}stanbul") && t.contains("buy") && t.contains("$$$") && t.contains("19-20"),
            "{t:?}"
        );
        assert!(!t.iter().any(|w| w.starts_with("aaaa")), "words over 20 characters are left out: {t:?}");
        assert_eq!(hash("s:free"), fnv(FNV_OFFSET, b"s:free") as i64);
        assert_eq!(hash(""), 0xcbf2_9ce4_8422_2325_u64 as i64);
        assert_eq!(hash("a"), 0xaf63_dc4c_8601_ec8c_u64 as i64, "FNV-1a of \"a\"");
    }

    /// Only the first `TEXT_MAX` bytes of text are read, whether the message
    /// parses or not, and a cut through a character does not panic.
    #[test]
    fn reads_the_first_pages_only() {
        let filler = "会議 ".repeat(TEXT_MAX / 7 + 1);
        for head in ["Subject: long\r\n\r\n", ""] {
            let raw = format!("{head}early {filler} late\r\n");
            let t = of(raw.as_bytes());
            assert!(t.contains("early") && t.contains("会議"), "{head:?}");
            assert!(!t.contains("late"), "a word past {TEXT_MAX} bytes of text is not read ({head:?})");
        }
    }
}
