//! The attachment filter: file names in MIME parts (RFC 2231 and encoded-word
//! names decoded by mail-parser, so Japanese names work), names inside zip
//! archives (nested), and content sniffing so a renamed executable is caught.
//! It looks at every part, in attached messages too; it never runs anything.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use super::{sniff, zip};

/// Why a message is caught: the file (path inside archives) and the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub file: String,
    pub why: String,
}

/// Largest archive entry unpacked to look inside it (zip in zip).
const MAX_UNPACK: usize = 20 * 1024 * 1024;

pub struct Rules<'a> {
    pub blocked: &'a [String],
    pub zip_depth: u32,
}

/// The extension that counts: after the last dot, ignoring the trailing dots
/// and blanks Windows ignores too.
fn extension(name: &str) -> Option<String> {
    let trimmed = name.trim_end_matches(['.', ' ']);
    let base = trimmed.rsplit(['/', '\\']).next().unwrap_or(trimmed);
    base.rsplit_once('.').map(|(_, e)| e.to_lowercase())
}

impl Rules<'_> {
    fn check_name(&self, path: &str, name: &str) -> Option<Finding> {
        if name.contains('\u{202E}') {
            return Some(Finding {
                file: path.into(),
                why: "file name hides its extension with a right-to-left override".into(),
            });
        }
        let ext = extension(name)?;
        self.blocked
            .iter()
            .any(|b| b.eq_ignore_ascii_case(&ext))
            .then(|| Finding { file: path.into(), why: format!("blocked file type .{ext}") })
    }

    fn check_content(&self, path: &str, data: &[u8], depth: u32) -> Option<Finding> {
        if let Some(kind) = sniff::executable(data) {
            return Some(Finding { file: path.into(), why: format!("content is {kind}") });
        }
        if zip::is_zip(data) && depth < self.zip_depth {
            let entries = zip::entries(data)?;
            for e in &entries {
                let inner = format!("{path}/{}", e.name);
                if let Some(f) = self.check_name(&inner, &e.name) {
                    return Some(f);
                }
                if let Some(bytes) = zip::read(data, e, MAX_UNPACK)
                    && let Some(f) = self.check_content(&inner, &bytes, depth + 1)
                {
                    return Some(f);
                }
            }
        }
        None
    }

    fn walk(&self, m: &Message, prefix: &str, depth: u32) -> Option<Finding> {
        for (i, part) in m.parts.iter().enumerate() {
            let name = part.attachment_name().map(str::to_string);
            let path = format!("{prefix}{}", name.clone().unwrap_or_else(|| format!("part {i}")));
            if let Some(n) = &name
                && let Some(f) = self.check_name(&path, n)
            {
                return Some(f);
            }
            match &part.body {
                PartType::Binary(b) | PartType::InlineBinary(b) => {
                    if let Some(f) = self.check_content(&path, b, 0) {
                        return Some(f);
                    }
                }
                PartType::Message(inner) if depth < 5 => {
                    if let Some(f) = self.walk(inner, &format!("{path}/"), depth + 1) {
                        return Some(f);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The first thing in the message these rules refuse, if any.
    pub fn scan(&self, raw: &[u8]) -> Option<Finding> {
        let m = MessageParser::default().parse(raw)?;
        self.walk(&m, "", 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FilterConfig;

    fn scan(raw: &str) -> Option<Finding> {
        let cfg = FilterConfig::default();
        Rules { blocked: &cfg.blocked_extensions, zip_depth: cfg.zip_depth }.scan(raw.as_bytes())
    }

    fn with_attachment(headers: &str, body_b64: &str) -> String {
        format!(
            "From: a@b\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--B\r\n{headers}\r\nContent-Transfer-Encoding: base64\r\n\r\n{body_b64}\r\n--B--\r\n"
        )
    }

    fn b64(data: &[u8]) -> String {
        crate::smtp::auth::encode_b64(data)
    }

    #[test]
    fn plain_and_encoded_names() {
        let doc = b64(b"%PDF-1.4 harmless");
        assert_eq!(scan(&with_attachment("Content-Type: application/pdf; name=\"report.pdf\"", &doc)), None);
        let f = scan(&with_attachment("Content-Disposition: attachment; filename=\"invoice.PDF.exe\"", &doc)).unwrap();
        assert_eq!(f.why, "blocked file type .exe");
        // RFC 2231, UTF-8, Japanese: 請求書.js
        let f = scan(&with_attachment(
            "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.js",
            &doc,
        ))
        .unwrap();
        assert_eq!((f.file.as_str(), f.why.as_str()), ("請求書.js", "blocked file type .js"));
        // RFC 2047 encoded word in the name parameter (ISO-2022-JP): 見積.scr
        let f = scan(&with_attachment(
            "Content-Type: application/octet-stream; name=\"=?ISO-2022-JP?B?GyRCOCtAURsoQg==?=.scr\"",
            &doc,
        ))
        .unwrap();
        assert_eq!(f.file, "見積.scr");
        // Trailing dots and blanks do not hide the extension.
        assert!(scan(&with_attachment("Content-Type: application/octet-stream; name=\"run.bat. . \"", &doc)).is_some());
        assert!(
            scan(&with_attachment("Content-Type: application/octet-stream; name=\"photo\u{202E}gpj.exe\"", &doc))
                .is_some()
        );
    }

    #[test]
    fn renamed_executables_and_archives() {
        let f = scan(&with_attachment(
            "Content-Type: application/pdf; name=\"scan.pdf\"",
            &b64(b"MZ\x90\x00\x03\x00\x00\x00"),
        ))
        .unwrap();
        assert!(f.why.contains("Windows executable"), "{f:?}");
        let inner = zip::tests::build(&[("readme.txt", b"hi"), ("setup.vbs", b"MsgBox 1")]);
        let outer = zip::tests::build(&[("docs/inner.zip", &inner)]);
        let f = scan(&with_attachment("Content-Type: application/zip; name=\"docs.zip\"", &b64(&outer))).unwrap();
        assert_eq!(f.file, "docs.zip/docs/inner.zip/setup.vbs");
        let ok = zip::tests::build(&[("a.txt", b"hi")]);
        assert_eq!(scan(&with_attachment("Content-Type: application/zip; name=\"ok.zip\"", &b64(&ok))), None);
        // An executable inside a zip, named harmlessly.
        let sneaky = zip::tests::build(&[("photo.jpg", b"MZ\x90\x00")]);
        assert!(scan(&with_attachment("Content-Type: application/zip; name=\"p.zip\"", &b64(&sneaky))).is_some());
    }

    #[test]
    fn attached_messages_are_searched() {
        let inner = with_attachment("Content-Type: application/octet-stream; name=\"x.hta\"", &b64(b"<html>"));
        let outer = format!(
            "From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=O\r\n\r\n--O\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--O--\r\n"
        );
        assert_eq!(scan(&outer).unwrap().why, "blocked file type .hta");
    }
}
