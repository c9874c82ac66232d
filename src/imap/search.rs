//! SEARCH (RFC 3501 §6.4.4): evaluating search keys against one message.
//!
//! Text keys match case-insensitively against decoded text: mail-parser turns
//! RFC 2047 headers and bodies in any charset (ISO-2022-JP, Shift_JIS, UTF-8 …)
//! into UTF-8 first, so a Japanese query finds Japanese mail however it was sent.

use std::sync::LazyLock;

use imap_codec::imap_types::datetime::NaiveDate;
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use mail_parser::{HeaderName, Message, MessageParser, MimeHeaders};

use crate::imap::sketch::{Needle, Sketch};
use crate::store::MessageMeta;
use crate::summary::Summary;

/// What evaluating some keys needs besides flags and sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Need {
    /// The decoded header summary (SUBJECT, FROM, TO, CC, BCC, SENT*).
    pub summary: bool,
    /// The message's bytes (HEADER needs the header, BODY and TEXT all of it).
    pub raw: bool,
    /// The body, not just the header.
    pub body: bool,
}

pub fn needs(keys: &[SearchKey]) -> Need {
    let mut n = Need::default();
    for k in keys {
        let inner = match k {
            SearchKey::And(v) => needs(v.as_ref()),
            SearchKey::Not(k) => needs(std::slice::from_ref(k.as_ref())),
            SearchKey::Or(a, b) => {
                let (x, y) = (needs(std::slice::from_ref(a.as_ref())), needs(std::slice::from_ref(b.as_ref())));
                Need { summary: x.summary || y.summary, raw: x.raw || y.raw, body: x.body || y.body }
            }
            SearchKey::Bcc(_) | SearchKey::Cc(_) | SearchKey::From(_) | SearchKey::Subject(_) | SearchKey::To(_) => {
                Need { summary: true, ..Default::default() }
            }
            SearchKey::SentBefore(_) | SearchKey::SentOn(_) | SearchKey::SentSince(_) => {
                Need { summary: true, ..Default::default() }
            }
            SearchKey::Header(..) => Need { raw: true, ..Default::default() },
            SearchKey::Body(_) | SearchKey::Text(_) => Need { raw: true, body: true, ..Default::default() },
            _ => Need::default(),
        };
        n = Need { summary: n.summary || inner.summary, raw: n.raw || inner.raw, body: n.body || inner.body };
    }
    n
}

/// mail-parser's own choice of parser for each header, except that Received
/// is not taken apart (a fifth of a BODY search's time went to it): search
/// sees any header it does not parse as its raw text, and saw Received so.
static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    use HeaderName as H;
    let mut p = MessageParser::new().ignore_header(H::Received).header_raw(H::MimeVersion);
    for h in [H::Subject, H::Comments, H::ContentDescription, H::ContentLocation, H::ContentTransferEncoding] {
        p = p.header_text(h);
    }
    for h in [
        H::From,
        H::To,
        H::Cc,
        H::Bcc,
        H::ReplyTo,
        H::Sender,
        H::ResentTo,
        H::ResentFrom,
        H::ResentBcc,
        H::ResentCc,
        H::ResentSender,
        H::ListArchive,
        H::ListHelp,
        H::ListId,
        H::ListOwner,
        H::ListPost,
        H::ListSubscribe,
        H::ListUnsubscribe,
    ] {
        p = p.header_address(h);
    }
    for h in [H::MessageId, H::References, H::InReplyTo, H::ReturnPath, H::ContentId, H::ResentMessageId] {
        p = p.header_id(h);
    }
    for h in [H::Keywords, H::ContentLanguage] {
        p = p.header_comma_separated(h);
    }
    p.header_date(H::Date)
        .header_date(H::ResentDate)
        .header_content_type(H::ContentType)
        .header_content_type(H::ContentDisposition)
});

/// Only what says how a body is written and which parts are the body: what
/// BODY reads (mail-parser sorts parts into body and attachments by these
/// three headers alone). Parsing every other header was some 15 % of a BODY
/// search's time (`perf`); the test `body_text_needs_only_the_mime_headers`
/// checks that the body texts agree.
static MIME_ONLY: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .header_content_type(HeaderName::ContentType)
        .header_content_type(HeaderName::ContentDisposition)
        .header_text(HeaderName::ContentTransferEncoding)
        .default_header_ignore()
});

/// One message as the search sees it.
pub struct Candidate<'a> {
    pub seq: u64,
    pub max_seq: u64,
    pub max_uid: u64,
    pub meta: &'a MessageMeta,
    pub recent: bool,
    /// Parsed on first use: a BODY search that the raw bytes already answer never parses.
    parsed: std::cell::OnceCell<Option<Message<'a>>>,
    /// Parsed for its body alone (`MIME_ONLY`), when BODY is all that needs reading.
    body_only: std::cell::OnceCell<Option<Message<'a>>>,
    pub raw: &'a [u8],
    stored: Option<&'a Summary>,
    /// Made from the raw header on first use, when no stored summary was given.
    made: std::cell::OnceCell<Option<Summary>>,
}

impl<'a> Candidate<'a> {
    pub fn new(seq: u64, max_seq: u64, max_uid: u64, meta: &'a MessageMeta, recent: bool) -> Candidate<'a> {
        Candidate {
            seq,
            max_seq,
            max_uid,
            meta,
            recent,
            parsed: std::cell::OnceCell::new(),
            body_only: std::cell::OnceCell::new(),
            raw: b"",
            stored: None,
            made: std::cell::OnceCell::new(),
        }
    }

    /// The message's bytes; with `headers_only` just the header is parsed.
    pub fn with_raw(mut self, raw: &'a [u8], headers_only: bool) -> Candidate<'a> {
        let raw = if headers_only { crate::summary::header_of(raw) } else { raw };
        self.parsed = std::cell::OnceCell::new();
        self.body_only = std::cell::OnceCell::new();
        self.raw = raw;
        self.made = std::cell::OnceCell::new();
        self
    }

    pub fn with_summary(mut self, s: &'a Summary) -> Candidate<'a> {
        self.stored = Some(s);
        self
    }

    fn summary(&self) -> Option<&Summary> {
        let made = || (!self.raw.is_empty()).then(|| Summary::of(self.raw));
        self.stored.or_else(|| self.made.get_or_init(made).as_ref())
    }

    fn parsed(&self) -> Option<&Message<'a>> {
        self.parsed.get_or_init(|| if self.raw.is_empty() { None } else { PARSER.parse(self.raw) }).as_ref()
    }

    /// The message parsed at least as far as its body text: the whole parse
    /// if one was made already, else one of the MIME headers alone.
    fn body_parsed(&self) -> Option<&Message<'a>> {
        if let Some(whole) = self.parsed.get() {
            return whole.as_ref();
        }
        self.body_only.get_or_init(|| if self.raw.is_empty() { None } else { MIME_ONLY.parse(self.raw) }).as_ref()
    }
}

/// What the raw bytes alone tell of an ASCII needle, lower-casing them once:
/// - absent (`Some(false)`) when nothing in the message is transfer-encoded,
///   in a charset that spells ASCII differently, written as HTML (whose
///   text loses tags and character references), and (for TEXT) no header
///   has encoded words, and the bytes lack it: the decoded text cannot have
///   it either;
/// - for TEXT, present (`Some(true)`) when the bytes have it: TEXT looks in
///   the raw message too, and lower-casing leaves ASCII runs as they are;
/// - for BODY, present when the body has it and is one plain text part
///   that decoding leaves byte for byte (`plain_body`).
///
/// Anything else (`None`) means "parse and look".
fn raw_verdict(raw: &[u8], needle: &[u8], text: bool) -> Option<bool> {
    if needle.is_empty() || !needle.is_ascii() {
        return None;
    }
    let lower = raw.to_ascii_lowercase();
    let has = |p: &[u8]| memchr::memmem::find(&lower, p).is_some();
    let needle = needle.to_ascii_lowercase();
    if has(&needle) {
        if text {
            return Some(true);
        }
        let in_body = |at: usize| memchr::memmem::find(&lower[at..], &needle).is_some();
        return plain_body(raw)
            .filter(|&at| !needle.contains(&b'\n') && !needle.contains(&b'\r') && in_body(at))
            .map(|_| true);
    }
    let disguised = has(b"base64")
        || has(b"quoted-printable")
        || has(b"utf-7")
        || has(b"utf-16")
        || has(b"&#")
        || has(b"text/html")
        || (text && has(b"=?"));
    (!disguised).then_some(false)
}

/// Where the body starts, when the message is one text/plain part that
/// decoding leaves as it is for ASCII: no transfer encoding, a charset that
/// writes ASCII as ASCII, not format=flowed (which joins lines).
fn plain_body(raw: &[u8]) -> Option<usize> {
    let header = crate::summary::header_of(raw);
    let m = MIME_ONLY.parse_headers(header)?;
    if let Some(ct) = m.content_type() {
        let plain =
            ct.ctype().eq_ignore_ascii_case("text") && ct.subtype().is_none_or(|s| s.eq_ignore_ascii_case("plain"));
        let charset = ct.attribute("charset").unwrap_or("us-ascii").to_ascii_lowercase();
        let ascii = ["us-ascii", "ascii", "utf-8", "utf8"].contains(&charset.as_str())
            || charset.starts_with("iso-8859-")
            || charset.starts_with("windows-125");
        let flowed = ct.attribute("format").is_some_and(|f| f.eq_ignore_ascii_case("flowed"));
        if !plain || !ascii || flowed {
            return None;
        }
    }
    let cte = m.content_transfer_encoding().unwrap_or("7bit");
    ["7bit", "8bit", "binary"].iter().any(|e| cte.eq_ignore_ascii_case(e)).then_some(header.len())
}

/// BODY (or TEXT) decided by reading the decoded message: what
/// `raw_verdict` stands in for wherever it can.
fn read(c: &Candidate, needle: &[u8], text: bool) -> bool {
    if !text {
        return c.body_parsed().is_some_and(|m| contains(&crate::summary::body_text(m), needle));
    }
    // The raw bytes first: a TEXT match there needs no parse.
    contains(&String::from_utf8_lossy(c.raw), needle)
        || c.parsed().is_some_and(|m| {
            contains(&crate::summary::body_text(m), needle)
                || m.headers().iter().any(|h| contains(&header_text(m, h.name()), needle))
        })
}

pub fn in_set(set: &SequenceSet, n: u64, max: u64) -> bool {
    let val = |v: &SeqOrUid| match v {
        SeqOrUid::Value(x) => u64::from(x.get()),
        SeqOrUid::Asterisk => max,
    };
    set.0.as_ref().iter().any(|s| match s {
        Sequence::Single(v) => val(v) == n,
        Sequence::Range(a, b) => {
            let (x, y) = (val(a), val(b));
            (x.min(y)..=x.max(y)).contains(&n)
        }
    })
}

fn contains(hay: &str, needle: &[u8]) -> bool {
    if needle.is_ascii() {
        // `fold` turns nothing outside ASCII into ASCII, so for an ASCII
        // needle it is ASCII lower-casing: a byte copy, not a walk through
        // Unicode's tables (a tenth of a BODY search's time).
        return memchr::memmem::find(&hay.as_bytes().to_ascii_lowercase(), &needle.to_ascii_lowercase()).is_some();
    }
    fold(hay).contains(&fold(&String::from_utf8_lossy(needle)))
}

/// Lower-cases text as BODY and TEXT compare it, except that a character
/// outside ASCII never becomes ASCII (the Kelvin sign would become `k`, the
/// dotted capital I an `i` and a dot; no other character lower-cases into
/// ASCII, as a test checks): then the raw bytes' ASCII alone tells what
/// ASCII the decoded text holds (`raw_verdict`).
pub fn fold(s: &str) -> String {
    if !s.contains(['\u{130}', '\u{212a}']) {
        return s.to_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        let lower = ch.to_lowercase();
        if ch.is_ascii() || !lower.clone().any(|l| l.is_ascii()) {
            out.extend(lower);
        } else {
            out.push(ch);
        }
    }
    out
}

fn header_text(m: &Message, name: &str) -> String {
    crate::summary::header_values(m, name).join("\n")
}

fn ymd(d: &NaiveDate) -> (i64, u32, u32) {
    let s = d.as_ref().format("%Y-%m-%d").to_string();
    let mut p = s.split('-').map(|x| x.parse::<i64>().unwrap_or(0));
    (p.next().unwrap_or(0), p.next().unwrap_or(0) as u32, p.next().unwrap_or(0) as u32)
}

fn internal_ymd(unix: i64) -> (i64, u32, u32) {
    crate::clock::civil_from_days(unix.div_euclid(86_400))
}

fn has_flag(meta: &MessageMeta, flag: &str) -> bool {
    meta.flags.split_whitespace().any(|f| f.eq_ignore_ascii_case(flag))
}

fn summary_has(c: &Candidate, field: impl Fn(&Summary) -> &String, needle: &[u8]) -> bool {
    let needle = String::from_utf8_lossy(needle).to_lowercase();
    c.summary().is_some_and(|s| field(s).contains(&needle))
}

pub fn matches(key: &SearchKey, c: &Candidate) -> bool {
    let text = |f: &dyn Fn(&Message) -> String, needle: &[u8]| c.parsed().is_some_and(|m| contains(&f(m), needle));
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().all(|k| matches(k, c)),
        SearchKey::Or(a, b) => matches(a, c) || matches(b, c),
        SearchKey::Not(k) => !matches(k, c),
        SearchKey::All => true,
        SearchKey::SequenceSet(s) => in_set(s, c.seq, c.max_seq),
        SearchKey::Uid(s) => in_set(s, c.meta.uid as u64, c.max_uid),
        SearchKey::Answered => has_flag(c.meta, "\\Answered"),
        SearchKey::Deleted => has_flag(c.meta, "\\Deleted"),
        SearchKey::Draft => has_flag(c.meta, "\\Draft"),
        SearchKey::Flagged => has_flag(c.meta, "\\Flagged"),
        SearchKey::Seen => has_flag(c.meta, "\\Seen"),
        SearchKey::Unanswered => !has_flag(c.meta, "\\Answered"),
        SearchKey::Undeleted => !has_flag(c.meta, "\\Deleted"),
        SearchKey::Undraft => !has_flag(c.meta, "\\Draft"),
        SearchKey::Unflagged => !has_flag(c.meta, "\\Flagged"),
        SearchKey::Unseen => !has_flag(c.meta, "\\Seen"),
        SearchKey::New => c.recent && !has_flag(c.meta, "\\Seen"),
        SearchKey::Recent => c.recent,
        SearchKey::Old => !c.recent,
        SearchKey::Keyword(k) => has_flag(c.meta, k.inner()),
        SearchKey::Unkeyword(k) => !has_flag(c.meta, k.inner()),
        SearchKey::Larger(n) => c.meta.size > i64::from(*n),
        SearchKey::Smaller(n) => c.meta.size < i64::from(*n),
        SearchKey::Before(d) => internal_ymd(c.meta.internal_date) < ymd(d),
        SearchKey::On(d) => internal_ymd(c.meta.internal_date) == ymd(d),
        SearchKey::Since(d) => internal_ymd(c.meta.internal_date) >= ymd(d),
        SearchKey::SentBefore(d) | SearchKey::SentOn(d) | SearchKey::SentSince(d) => {
            let Some(sent) = c.summary().and_then(|s| s.sent_ymd) else { return false };
            let (y, m, day) = ymd(d);
            let want = y * 10_000 + i64::from(m) * 100 + i64::from(day);
            match key {
                SearchKey::SentBefore(_) => sent < want,
                SearchKey::SentOn(_) => sent == want,
                _ => sent >= want,
            }
        }
        // The summary is lower-cased already, so only the needle is.
        SearchKey::Subject(s) => summary_has(c, |x| &x.subject, s.as_ref()),
        SearchKey::From(s) => summary_has(c, |x| &x.from, s.as_ref()),
        SearchKey::To(s) => summary_has(c, |x| &x.to, s.as_ref()),
        SearchKey::Cc(s) => summary_has(c, |x| &x.cc, s.as_ref()),
        SearchKey::Bcc(s) => summary_has(c, |x| &x.bcc, s.as_ref()),
        SearchKey::Header(name, value) => {
            let name = String::from_utf8_lossy(name.as_ref()).to_string();
            c.parsed().is_some_and(|m| {
                let h = header_text(m, &name);
                !h.is_empty() || m.headers().iter().any(|x| x.name().eq_ignore_ascii_case(&name))
            }) && text(&|m| header_text(m, &name), value.as_ref())
        }
        SearchKey::Body(s) => raw_verdict(c.raw, s.as_ref(), false).unwrap_or_else(|| read(c, s.as_ref(), false)),
        SearchKey::Text(s) => raw_verdict(c.raw, s.as_ref(), true).unwrap_or_else(|| read(c, s.as_ref(), true)),
        // RFC 7162 MODSEQ: per-flag entries share the message's one modseq here.
        SearchKey::ModSequence { modseq, .. } => c.meta.modseq as u64 >= *modseq,
    }
}

/// The BODY and TEXT needles every match must hold (those of the keys and
/// of ANDs within them), as sketches know them: a message whose sketch
/// lacks one of them cannot match.
pub fn needles(keys: &[SearchKey]) -> Vec<Needle> {
    let mut out = Vec::new();
    for k in keys {
        match k {
            SearchKey::Body(s) | SearchKey::Text(s) => out.extend(Needle::new(s.as_ref())),
            SearchKey::And(v) => out.extend(needles(v.as_ref())),
            _ => {}
        }
    }
    out
}

/// The sketch of a message read whole: the strings BODY and TEXT look in,
/// folded as `contains` folds them.
pub fn sketch(c: &Candidate) -> Sketch {
    let mut texts = vec![fold(&String::from_utf8_lossy(c.raw))];
    if let Some(m) = c.parsed() {
        texts.push(fold(&crate::summary::body_text(m)));
        let mut names: Vec<&str> = m.headers().iter().map(|h| h.name()).collect();
        names.sort_unstable();
        names.dedup();
        texts.extend(names.into_iter().map(|n| fold(&header_text(m, n))));
    }
    Sketch::of(c.raw.len(), &texts)
}

/// Whether the keys use MODSEQ, which makes SEARCH report the highest modseq found.
pub fn uses_modseq(keys: &[SearchKey]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::ModSequence { .. } => true,
        SearchKey::And(v) => uses_modseq(v.as_ref()),
        SearchKey::Not(k) => uses_modseq(std::slice::from_ref(k.as_ref())),
        SearchKey::Or(a, b) => {
            uses_modseq(std::slice::from_ref(a.as_ref())) || uses_modseq(std::slice::from_ref(b.as_ref()))
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use mail_parser::MessageParser;

    use super::{Candidate, raw_verdict, read};
    use crate::store::MessageMeta;

    /// The shortcut never changes an answer: wherever the raw bytes decide,
    /// reading the decoded message decides the same, over the ham corpus and
    /// messages made to trip it.
    #[test]
    fn raw_verdicts_agree_with_reading_the_message() {
        let dir = format!("{}/../shared/corpus/spamassassin-dev/ham", env!("CARGO_MANIFEST_DIR"));
        let mut names: Vec<_> =
            std::fs::read_dir(&dir).expect("the shared corpus").flatten().map(|e| e.path()).collect();
        names.sort();
        let mut messages: Vec<Vec<u8>> = names.iter().take(400).filter_map(|p| std::fs::read(p).ok()).collect();
        let made: [&[u8]; 5] = [
            b"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>Lin<b>ux</b> a&amp;b</p>\r\n",
            b"Subject: x\r\nContent-Type: text/plain; format=flowed\r\n\r\nsoft \r\nbreak\r\n From here\r\n",
            b"Subject: x\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b$B$3$s\x1b(B linux\r\n",
            b"Subject: linux\r\n\r\nno word here\r\n",
            b"Subject: x\nContent-Type: text/plain; charset=utf-8\n\nKernel \xe2\x84\xaaelvin Linux\n",
        ];
        messages.extend(made.iter().map(|m| m.to_vec()));
        let needles: [&[u8]; 16] = [
            b"<br",
            b"html",
            b"linux",
            b"LINUX",
            b"ux",
            b"a&b",
            b"the",
            b"from here",
            b"soft break",
            b"kelvin",
            b"subject",
            b"zzzqqq",
            b"$s",
            b"http://",
            b"list",
            b"e",
        ];
        let meta = MessageMeta { uid: 1, size: 0, flags: String::new(), internal_date: 0, modseq: 1 };
        let mut decided = 0;
        for raw in &messages {
            for needle in needles {
                for text in [false, true] {
                    if let Some(v) = raw_verdict(raw, needle, text) {
                        decided += 1;
                        let c = Candidate::new(1, 1, 1, &meta, false).with_raw(raw, false);
                        let what = if text { "TEXT" } else { "BODY" };
                        assert_eq!(
                            v,
                            read(&c, needle, text),
                            "{what} {:?} in {:?}",
                            String::from_utf8_lossy(needle),
                            String::from_utf8_lossy(&raw[..raw.len().min(300)])
                        );
                    }
                }
            }
        }
        assert!(decided > 4000, "the raw bytes decided only {decided} answers");
    }

    /// BODY parses with the MIME headers alone; every message of the corpus
    /// (ham and spam: multipart, HTML, attachments, forwarded mail) has the
    /// same body text as the whole parse gives.
    #[test]
    fn body_text_needs_only_the_mime_headers() {
        let corpus = format!("{}/../shared/corpus/spamassassin-dev", env!("CARGO_MANIFEST_DIR"));
        let mut compared = 0;
        for kind in ["ham", "spam"] {
            for entry in std::fs::read_dir(format!("{corpus}/{kind}")).expect("the shared corpus").flatten() {
                let Ok(raw) = std::fs::read(entry.path()) else { continue };
                let text = |p: &MessageParser| p.parse(&raw[..]).map(|m| crate::summary::body_text(&m));
                assert_eq!(text(&super::PARSER), text(&super::MIME_ONLY), "{}", entry.path().display());
                compared += 1;
            }
        }
        assert!(compared > 3000, "only {compared} messages compared");
    }

    /// The ASCII shortcut of `contains` finds what folding both sides finds.
    #[test]
    fn ascii_needles_are_found_as_folding_finds_them() {
        let hays = [
            "KELVIN \u{212a}elvin",
            "\u{130}stanbul ISTANBUL",
            "Stra\u{df}e STRASSE",
            "\u{3a3}\u{391}\u{3a3} sas",
            "x",
        ];
        let needles = ["kelvin", "Kelvin", "istanbul", "strasse", "sas", "", "x", "\u{3c3}\u{3b1}\u{3c2}"];
        for hay in hays {
            for needle in needles {
                let folded = super::fold(hay).contains(&super::fold(needle));
                assert_eq!(super::contains(hay, needle.as_bytes()), folded, "{needle:?} in {hay:?}");
            }
        }
        assert!(!super::contains("\u{212a}elvin", b"kelvin"), "the Kelvin sign is not a k");
        assert!(!super::contains("Stra\u{df}e", b"strasse"), "lower-casing, not full case folding");
    }

    #[test]
    fn only_two_characters_outside_ascii_lower_case_into_it() {
        let into_ascii: Vec<char> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| !c.is_ascii() && c.to_lowercase().any(|l| l.is_ascii()))
            .collect();
        assert_eq!(into_ascii, ['\u{130}', '\u{212a}']);
        assert_eq!(super::fold("KELVIN \u{212a} \u{130}stanbul Äb"), "kelvin \u{212a} \u{130}stanbul äb");
    }

    #[test]
    fn raw_bytes_decide_only_when_nothing_is_disguised() {
        let plain = b"Subject: hi\r\n\r\nAbout Linux kernels\r\n";
        assert_eq!(raw_verdict(plain, b"windows", false), Some(false));
        assert_eq!(raw_verdict(plain, b"LINUX", false), Some(true), "one plain part: the bytes are the body");
        let in_header = b"Subject: Linux\r\n\r\nkernels\r\n";
        assert_eq!(raw_verdict(in_header, b"linux", false), None, "only in the header: BODY must look in the body");
        assert_eq!(raw_verdict(plain, b"LINUX", true), Some(true), "TEXT looks in the raw bytes too");
        let b64 = b"Content-Transfer-Encoding: base64\r\n\r\nTGludXg=\r\n";
        assert_eq!(raw_verdict(b64, b"linux", false), None, "encoded: must be decoded to know");
        assert_eq!(raw_verdict(b"\r\n\r\n&#76;inux", b"linux", false), None);
        assert_eq!(raw_verdict(b"Subject: =?utf-8?q?Linux?=\r\n\r\nx", b"zzz", true), None);
        assert_eq!(raw_verdict(plain, "日本".as_bytes(), false), None, "non-ASCII needles always decode");
    }
}
