//! The attachment filter: file names in MIME parts (RFC 2231 and encoded-word
//! names decoded by mail-parser, so Japanese names work), names and contents
//! inside archives (`unpack`: zip, tar, gzip, nested), and content sniffing
//! so a renamed executable is caught. It looks at every part, in attached
//! messages too; it never runs anything.
//! Invariant: an archive whose contents could not be checked is never
//! passed as clean — it is a finding of its own (`Finding::unreadable`),
//! and a blocked file found elsewhere in the message takes precedence.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use super::sniff;
use super::unpack::{self, Budget};

/// Why a message is caught: the file (path inside archives) and the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub file: String,
    pub why: String,
    /// An archive that could not be looked into, rather than a blocked file.
    pub unreadable: bool,
}

pub struct Rules<'a> {
    pub blocked: &'a [String],
    /// Archives in archives are opened this deep.
    pub depth: u32,
}

/// What one scan has found so far: a blocked file ends it, the first
/// unreadable archive is kept while the rest is searched.
#[derive(Default)]
struct Scan {
    unreadable: Option<Finding>,
    budget: Budget,
}

impl Scan {
    fn cannot_check(&mut self, file: &str, why: String) {
        if self.unreadable.is_none() {
            let why = format!("cannot check inside: {why}");
            self.unreadable = Some(Finding { file: file.into(), why, unreadable: true });
        }
    }
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
                unreadable: false,
            });
        }
        let ext = extension(name)?;
        self.blocked.iter().any(|b| b.eq_ignore_ascii_case(&ext)).then(|| Finding {
            file: path.into(),
            why: format!("blocked file type .{ext}"),
            unreadable: false,
        })
    }

    fn check_content(&self, path: &str, data: &[u8], depth: u32, scan: &mut Scan) -> Option<Finding> {
        if let Some(kind) = sniff::executable(data) {
            return Some(Finding { file: path.into(), why: format!("content is {kind}"), unreadable: false });
        }
        let kind = unpack::kind(data)?;
        if depth >= self.depth {
            scan.cannot_check(path, format!("archives nested more than {} deep", self.depth));
            return None;
        }
        let members = match unpack::open(kind, data, &mut scan.budget) {
            Ok(m) => m,
            Err(why) => {
                scan.cannot_check(path, why);
                return None;
            }
        };
        for m in &members {
            let inner = format!("{path}/{}", m.name);
            if let Some(f) = self.check_name(&inner, &m.name) {
                return Some(f);
            }
            match &m.data {
                Err(why) => scan.cannot_check(&inner, why.clone()),
                Ok((bytes, truncated)) => {
                    if let Some(f) = self.check_content(&inner, bytes, depth + 1, scan) {
                        return Some(f);
                    }
                    if *truncated && unpack::kind(bytes).is_some() {
                        scan.cannot_check(&inner, format!("archive larger than {} MB", unpack::MAX_MEMBER >> 20));
                    }
                }
            }
        }
        None
    }

    fn walk(&self, m: &Message, prefix: &str, depth: u32, scan: &mut Scan) -> Option<Finding> {
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
                    if let Some(f) = self.check_content(&path, b, 0, scan) {
                        return Some(f);
                    }
                }
                PartType::Message(inner) if depth < 5 => {
                    if let Some(f) = self.walk(inner, &format!("{path}/"), depth + 1, scan) {
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
        let mut scan = Scan::default();
        self.walk(&m, "", 0, &mut scan).or(scan.unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FilterConfig;
    use crate::filter::zip;

    fn scan(raw: &str) -> Option<Finding> {
        let cfg = FilterConfig::default();
        Rules { blocked: &cfg.blocked_extensions, depth: cfg.archive_depth }.scan(raw.as_bytes())
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
    fn archives_that_cannot_be_checked_are_findings_of_their_own() {
        let zip_part = |z: &[u8]| with_attachment("Content-Type: application/zip; name=\"a.zip\"", &b64(z));
        // Encrypted: the names are readable, the contents are not.
        let mut locked = zip::tests::build(&[("report.pdf", b"%PDF")]);
        let cd = locked.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        locked[cd + 8] |= 1;
        let f = scan(&zip_part(&locked)).unwrap();
        assert!(f.unreadable && f.file == "a.zip/report.pdf" && f.why.contains("encrypted"), "{f:?}");
        // …but a blocked name inside is still a blocked file.
        let mut locked_exe = zip::tests::build(&[("setup.exe", b"MZ")]);
        let cd = locked_exe.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        locked_exe[cd + 8] |= 1;
        assert!(!scan(&zip_part(&locked_exe)).unwrap().unreadable);
        // Damaged: the directory is cut off.
        let whole = zip::tests::build(&[("a.txt", b"hello")]);
        let f = scan(&zip_part(&whole[..whole.len() - 30])).unwrap();
        assert!(f.unreadable && f.why.contains("damaged"), "{f:?}");
        // Nested past the depth: four zips in one another, three are opened.
        let mut z = zip::tests::build(&[("note.txt", b"hi")]);
        for level in 0..4 {
            z = zip::tests::build(&[(&format!("level{level}.zip"), &z)]);
        }
        let f = scan(&zip_part(&z)).unwrap();
        assert!(f.unreadable && f.why.contains("nested more than 3 deep"), "{f:?}");
        // A blocked file anywhere in the message wins over an unreadable archive.
        let both = format!(
            "From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: application/zip; name=\"a.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--B\r\nContent-Type: application/octet-stream; name=\"x.js\"\r\n\r\nalert(1)\r\n--B--\r\n",
            b64(&locked)
        );
        assert_eq!(scan(&both).unwrap().why, "blocked file type .js");
        // tar.gz is opened all the way down.
        let tgz = {
            let t = crate::filter::unpack::tests::tar_of(&[("docs/a.txt", b"hello"), ("docs/tool.vbs", b"MsgBox 1")]);
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut gz, &t).unwrap();
            gz.finish().unwrap()
        };
        let f = scan(&with_attachment("Content-Type: application/gzip; name=\"d.tgz\"", &b64(&tgz))).unwrap();
        assert_eq!((f.file.as_str(), f.unreadable), ("d.tgz/(gzip content)/docs/tool.vbs", false));
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
