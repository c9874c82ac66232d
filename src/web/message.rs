//! Messages as WebMail shows and writes them: a stored message parsed for
//! reading (its HTML made safe), and a new message built from the compose
//! form (MIME with attachments) for the submission path.

use std::collections::HashSet;

use base64::Engine;
use mail_parser::{MessageParser, MimeHeaders};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Attachment {
    pub index: usize,
    pub name: String,
    pub content_type: String,
    pub size: usize,
}

/// A message ready to show.
#[derive(Clone, Debug, Serialize)]
pub struct Shown {
    pub subject: String,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub date: Option<i64>,
    pub message_id: String,
    pub references: String,
    pub text: String,
    /// Sanitised HTML (no scripts, handlers, javascript: URLs, styles, forms or frames).
    pub html: Option<String>,
    /// Remote images removed from `html` because the reader has not allowed them.
    pub blocked_images: usize,
    pub attachments: Vec<Attachment>,
    /// The sender's bare address, for replies.
    pub reply_to: String,
    pub to_addrs: Vec<String>,
    pub cc_addrs: Vec<String>,
}

fn addrs(a: Option<&mail_parser::Address>) -> Vec<String> {
    a.map(|a| a.iter().filter_map(|x| x.address().map(str::to_string)).collect()).unwrap_or_default()
}

pub fn show(raw: &[u8], remote_images: bool) -> Option<Shown> {
    let m = MessageParser::default().parse(raw)?;
    // mail-parser lists a plain text part as an HTML body too (converted); only a real text/html part counts.
    let real_html = m.html_part(0).is_some_and(|p| matches!(p.body, mail_parser::PartType::Html(_)));
    let html = real_html.then(|| m.body_html(0)).flatten().map(|h| sanitize(&h, remote_images));
    let blocked_images = html.as_ref().map_or(0, |h| h.1);
    let text = m.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    let attachments = m
        .attachments()
        .enumerate()
        .map(|(index, p)| Attachment {
            index,
            name: p.attachment_name().unwrap_or("attachment").to_string(),
            content_type: p
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("octet-stream")))
                .unwrap_or_else(|| "application/octet-stream".into()),
            size: p.contents().len(),
        })
        .collect();
    let reply_to =
        addrs(m.reply_to()).into_iter().next().or_else(|| addrs(m.from()).into_iter().next()).unwrap_or_default();
    Some(Shown {
        subject: m.subject().unwrap_or("").to_string(),
        from: super::ops::tidy(&crate::summary::addresses(m.from())),
        to: super::ops::tidy(&crate::summary::addresses(m.to())),
        cc: super::ops::tidy(&crate::summary::addresses(m.cc())),
        date: m.date().map(|d| d.to_timestamp()),
        message_id: m.message_id().unwrap_or("").to_string(),
        references: crate::summary::header_values(&m, "References").join(" "),
        text,
        html: html.map(|h| h.0),
        blocked_images,
        attachments,
        reply_to,
        to_addrs: addrs(m.to()),
        cc_addrs: addrs(m.cc()),
    })
}

/// One attachment's name and bytes.
pub fn attachment(raw: &[u8], index: usize) -> Option<(String, Vec<u8>)> {
    let m = MessageParser::default().parse(raw)?;
    let p = m.attachments().nth(index)?;
    Some((p.attachment_name().unwrap_or("attachment").to_string(), p.contents().to_vec()))
}

/// Makes mail HTML safe to show: ammonia's allow-list (no script, style,
/// iframe, object, form, event handlers, javascript:/data: links), no
/// `style` attributes (CSS can hide or overlay content), and remote images
/// dropped unless allowed. Returns the HTML and how many images were dropped.
pub fn sanitize(html: &str, remote_images: bool) -> (String, usize) {
    let blocked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = blocked.clone();
    let cleaned = ammonia::Builder::default()
        .url_schemes(HashSet::from(["http", "https", "mailto", "cid"]))
        .link_rel(Some("noopener noreferrer nofollow"))
        .add_generic_attributes(["align", "width", "height"])
        .attribute_filter(move |element, attribute, value| {
            if element == "img" && attribute == "src" {
                let remote = value.starts_with("http:") || value.starts_with("https:") || value.starts_with("//");
                if remote && !remote_images {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return None;
                }
            }
            Some(value.into())
        })
        .clean(html)
        .to_string();
    (cleaned, blocked.load(std::sync::atomic::Ordering::Relaxed))
}

/// What the compose form sends.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub from: String,
    pub from_name: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub body: String,
    pub in_reply_to: String,
    pub references: String,
    /// (file name, content type, bytes)
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

/// Splits "a@x, b@y; c@z" into addresses; refuses anything that is not one.
pub fn address_list(s: &str) -> Result<Vec<String>, String> {
    s.split([',', ';'])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            let bare = a.rsplit_once('<').map(|(_, r)| r.trim_end_matches('>')).unwrap_or(a).trim();
            crate::address::Address::parse(bare).map(|_| bare.to_string()).map_err(|e| format!("{a}: {e}"))
        })
        .collect()
}

/// A header value in RFC 2047 words when it is not plain ASCII.
fn encode_word(s: &str) -> String {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return s.to_string();
    }
    // Chunks of whole characters, so no word splits a UTF-8 sequence.
    let mut out = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            out.push(format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        out.push(format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(&chunk)));
    }
    out.join("\r\n ")
}

fn base64_lines(data: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = String::with_capacity(b.len() + b.len() / 76 * 2 + 2);
    for chunk in b.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

/// Quotes a file name for a MIME parameter (RFC 2231 when not ASCII).
fn filename_param(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control() && *c != '"' && *c != '\\').collect();
    if clean.is_ascii() {
        format!("filename=\"{clean}\"")
    } else {
        let enc: String = clean
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("filename*=UTF-8''{enc}")
    }
}

/// The RFC 5322 message for a draft.
pub fn build(d: &Draft, hostname: &str, now: i64) -> Vec<u8> {
    let mut h = String::new();
    let from =
        if d.from_name.is_empty() { d.from.clone() } else { format!("{} <{}>", encode_word(&d.from_name), d.from) };
    h.push_str(&format!("From: {from}\r\n"));
    if !d.to.is_empty() {
        h.push_str(&format!("To: {}\r\n", d.to.join(", ")));
    }
    if !d.cc.is_empty() {
        h.push_str(&format!("Cc: {}\r\n", d.cc.join(", ")));
    }
    h.push_str(&format!("Subject: {}\r\n", encode_word(&d.subject.replace(['\r', '\n'], " "))));
    h.push_str(&format!("Date: {}\r\n", crate::clock::rfc5322(now)));
    h.push_str(&format!("Message-ID: <{}@{hostname}>\r\n", crate::ids::token(20)));
    let safe = |s: &str| s.replace(['\r', '\n'], " ");
    if !d.in_reply_to.is_empty() {
        h.push_str(&format!("In-Reply-To: {}\r\n", safe(&d.in_reply_to)));
        h.push_str(&format!("References: {}\r\n", safe(format!("{} {}", d.references, d.in_reply_to).trim())));
    }
    h.push_str("MIME-Version: 1.0\r\nUser-Agent: Hato WebMail\r\n");
    let text_part = format!(
        "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        base64_lines(d.body.replace("\r\n", "\n").replace('\n', "\r\n").as_bytes())
    );
    if d.attachments.is_empty() {
        h.push_str(&text_part);
        return h.into_bytes();
    }
    let boundary = format!("=_hato_{}", crate::ids::token(16));
    h.push_str(&format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\nThis is a MIME message.\r\n--{boundary}\r\n{text_part}"));
    for (name, ctype, data) in &d.attachments {
        let ctype = if ctype.contains('/') && !ctype.contains(['\r', '\n', ';']) {
            ctype.as_str()
        } else {
            "application/octet-stream"
        };
        h.push_str(&format!(
            "--{boundary}\r\nContent-Type: {ctype}\r\nContent-Disposition: attachment; {}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            filename_param(name),
            base64_lines(data)
        ));
    }
    h.push_str(&format!("--{boundary}--\r\n"));
    h.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dangerous_html_is_defused() {
        let evil = r#"<p onclick="x()">hi<script>alert(1)</script><a href="javascript:alert(2)">j</a>
            <img src="x" onerror="alert(3)"><div style="position:fixed;top:0">cover</div><iframe src="https://e.test"></iframe>
            <form action="https://e.test"><input name=p></form><svg onload="alert(4)"></svg><style>body{display:none}</style>
            <img src="https://tracker.test/p.gif"><a href="https://ok.test/">ok</a></p>"#;
        let (clean, blocked) = sanitize(evil, false);
        for bad in [
            "script",
            "onclick",
            "onerror",
            "javascript:",
            "style",
            "iframe",
            "<form",
            "<input",
            "onload",
            "tracker.test",
            "position:fixed",
        ] {
            assert!(!clean.contains(bad), "{bad} survived: {clean}");
        }
        assert_eq!(blocked, 1);
        assert!(clean.contains(r#"href="https://ok.test/""#) && clean.contains("noopener"), "{clean}");
        let (with_images, blocked) = sanitize(evil, true);
        assert!(with_images.contains("tracker.test") && blocked == 0);
    }

    #[test]
    fn builds_a_message_that_parses_back_with_attachments_and_japanese() {
        let d = Draft {
            from: "alice@a.test".into(),
            from_name: "山田 花子".into(),
            to: vec!["bob@b.test".into()],
            subject: "会議の資料について (長い件名のテスト、途中で折り返されるべきもの)".into(),
            body: "こんにちは\nline two".into(),
            attachments: vec![("資料.pdf".into(), "application/pdf".into(), vec![0, 1, 2, 255])],
            ..Draft::default()
        };
        let raw = build(&d, "mx.a.test", 1_795_912_200);
        let shown = show(&raw, false).unwrap();
        assert_eq!(shown.subject, d.subject);
        assert!(shown.from.contains("山田 花子") && shown.from.contains("alice@a.test"), "{}", shown.from);
        assert_eq!(shown.text.replace("\r\n", "\n").trim_end(), "こんにちは\nline two");
        assert_eq!(shown.attachments.len(), 1);
        assert_eq!(shown.attachments[0].name, "資料.pdf");
        assert_eq!(attachment(&raw, 0).unwrap().1, vec![0, 1, 2, 255]);
        assert!(raw.split(|b| *b == b'\n').all(|l| l.len() <= 998));
    }

    #[test]
    fn address_lists_refuse_garbage() {
        assert_eq!(address_list("a@x.test, Bob <b@y.test>; ").unwrap(), ["a@x.test", "b@y.test"]);
        assert!(address_list("not an address").is_err());
        assert!(address_list("a@x.test\r\nBcc: evil@z.test").is_err());
    }
}
