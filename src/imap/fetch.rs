//! FETCH: rendering message data items for one message. ENVELOPE,
//! BODYSTRUCTURE and numbered sections come from `structure`.

use imap_codec::imap_types::fetch::{MessageDataItemName, Part, Section};

use crate::store::MessageMeta;

/// Why an item cannot be served.
pub struct Unsupported(pub &'static str);

/// Whether rendering these items needs the message's bytes.
pub fn needs_content(items: &[MessageDataItemName]) -> bool {
    items.iter().any(|i| {
        matches!(
            i,
            MessageDataItemName::BodyExt { .. }
                | MessageDataItemName::Rfc822
                | MessageDataItemName::Rfc822Header
                | MessageDataItemName::Rfc822Text
                | MessageDataItemName::Envelope
                | MessageDataItemName::BodyStructure
                | MessageDataItemName::Body
                | MessageDataItemName::Binary { .. }
                | MessageDataItemName::BinarySize { .. }
        )
    })
}

/// Whether every item that needs content needs only the header block.
pub fn header_only(items: &[MessageDataItemName]) -> bool {
    items.iter().all(|i| match i {
        MessageDataItemName::Rfc822Header => true,
        MessageDataItemName::BodyExt {
            section: Some(Section::Header(None) | Section::HeaderFields(None, _) | Section::HeaderFieldsNot(None, _)),
            ..
        } => true,
        other => !needs_content(std::slice::from_ref(other)),
    })
}

/// Whether rendering needs the MIME tree (mail-parser), not just the bytes.
pub fn needs_parse(items: &[MessageDataItemName]) -> bool {
    items.iter().any(|i| match i {
        MessageDataItemName::Envelope
        | MessageDataItemName::BodyStructure
        | MessageDataItemName::Body
        | MessageDataItemName::Binary { .. }
        | MessageDataItemName::BinarySize { .. } => true,
        MessageDataItemName::BodyExt { section, .. } => match section {
            None => false,
            Some(Section::Header(p) | Section::Text(p)) => p.is_some(),
            Some(Section::HeaderFields(p, _) | Section::HeaderFieldsNot(p, _)) => p.is_some(),
            Some(Section::Part(_) | Section::Mime(_)) => true,
        },
        _ => false,
    })
}

/// Whether these items set \Seen (a non-PEEK body fetch).
pub fn sets_seen(items: &[MessageDataItemName]) -> bool {
    items.iter().any(|i| {
        matches!(
            i,
            MessageDataItemName::BodyExt { peek: false, .. }
                | MessageDataItemName::Binary { peek: false, .. }
                | MessageDataItemName::Rfc822
                | MessageDataItemName::Rfc822Text
        )
    })
}

fn split(msg: &[u8]) -> usize {
    msg.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4).unwrap_or(msg.len())
}

fn header_fields(msg: &[u8], names: &[String], keep: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut keeping = false;
    // One pass over the header lines; the blank line ends the header block.
    let mut start = 0;
    while start < msg.len() {
        let end = memchr::memchr(b'\n', &msg[start..]).map_or(msg.len(), |i| start + i + 1);
        let line = &msg[start..end];
        start = end;
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if line[0] != b' ' && line[0] != b'\t' {
            let name = memchr::memchr(b':', line).map_or(line, |i| &line[..i]).trim_ascii();
            keeping = names.iter().any(|n| n.as_bytes().eq_ignore_ascii_case(name)) == keep;
        }
        if keeping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A message's bytes as an IMAP literal. A literal cannot carry NUL (RFC 3501
/// §4.3, CHAR8), which a message appended as binary (RFC 3516) may hold: as
/// Dovecot does, each NUL goes out as 0x80, keeping every offset and size.
/// BINARY fetches send the true bytes in a literal8.
fn literal(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    out.extend_from_slice(format!("{name} {{{}}}\r\n", data.len()).as_bytes());
    let start = out.len();
    out.extend_from_slice(data);
    for b in &mut out[start..] {
        if *b == 0 {
            *b = 0x80;
        }
    }
}

pub fn imap_date(unix: i64) -> String {
    // "28-Nov-2026 21:34:41 +0000" from the RFC 5322 form "Sat, 28 Nov 2026 21:34:41 +0000".
    let d = crate::clock::rfc5322(unix);
    let p: Vec<&str> = d.split_whitespace().collect();
    format!("{:0>2}-{}-{} {} +0000", p[1], p[2], p[3], p[4])
}

pub fn flag_list(flags: &str) -> String {
    format!("({})", flags)
}

fn part_label(part: Option<&Part>) -> String {
    part.map(|p| p.0.as_ref().iter().map(|n| n.get().to_string()).collect::<Vec<_>>().join(".") + ".")
        .unwrap_or_default()
}

/// The bytes a BODY[section] names, and the section's label for the response.
/// HEADER/TEXT/HEADER.FIELDS of a numbered part apply to the message/rfc822 held in that part.
fn section_data(section: Option<&Section>, body: &[u8], parsed: Option<&mail_parser::Message>) -> (String, Vec<u8>) {
    let inner = |part: Option<&Part>| -> std::borrow::Cow<[u8]> {
        match part {
            None => body.into(),
            Some(p) => {
                let path: Vec<u32> = p.0.as_ref().iter().map(|n| n.get()).collect();
                parsed.and_then(|m| super::structure::section(m, &path, false)).unwrap_or_default().into()
            }
        }
    };
    match section {
        None => (String::new(), body.to_vec()),
        Some(Section::Header(part)) => {
            let m = inner(part.as_ref());
            (format!("{}HEADER", part_label(part.as_ref())), m[..split(&m)].to_vec())
        }
        Some(Section::Text(part)) => {
            let m = inner(part.as_ref());
            (format!("{}TEXT", part_label(part.as_ref())), m[split(&m)..].to_vec())
        }
        Some(Section::HeaderFields(part, names)) | Some(Section::HeaderFieldsNot(part, names)) => {
            let keep = matches!(section, Some(Section::HeaderFields(..)));
            let names: Vec<String> =
                names.as_ref().iter().map(|n| String::from_utf8_lossy(n.as_ref()).to_string()).collect();
            let label = format!(
                "{}HEADER.FIELDS{} ({})",
                part_label(part.as_ref()),
                if keep { "" } else { ".NOT" },
                names.join(" ")
            );
            (label, header_fields(&inner(part.as_ref()), &names, keep))
        }
        Some(Section::Part(part)) | Some(Section::Mime(part)) => {
            let path: Vec<u32> = part.0.as_ref().iter().map(|n| n.get()).collect();
            let mime = matches!(section, Some(Section::Mime(_)));
            let label = path.iter().map(u32::to_string).collect::<Vec<_>>().join(".") + if mime { ".MIME" } else { "" };
            (label, parsed.and_then(|m| super::structure::section(m, &path, mime)).unwrap_or_default())
        }
    }
}

/// The bytes an IMAP URL's `;SECTION=` and `;PARTIAL=` name in a message
/// (CATENATE): the section as BODY[…] reads it. Err when the section is no
/// FETCH section.
pub fn url_piece(
    content: &[u8],
    section: Option<&str>,
    partial: Option<(u32, Option<u32>)>,
) -> Result<Vec<u8>, Unsupported> {
    use imap_codec::CommandCodec;
    use imap_codec::decode::Decoder;
    use imap_codec::imap_types::command::CommandBody;
    use imap_codec::imap_types::fetch::MacroOrMessageDataItemNames;
    let parsed = mail_parser::MessageParser::default().parse(content);
    let data = match section {
        None => content.to_vec(),
        Some(section) => {
            // The one grammar of sections: imap-codec's, on a FETCH made for it.
            let fetch = format!("x FETCH 1 BODY.PEEK[{section}]\r\n");
            let names = match CommandCodec::default().decode(fetch.as_bytes()) {
                Ok((b"", c)) => match c.body {
                    CommandBody::Fetch {
                        macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(n),
                        ..
                    } => n,
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            match names.as_slice() {
                [MessageDataItemName::BodyExt { section, .. }] => {
                    section_data(section.as_ref(), content, parsed.as_ref()).1
                }
                _ => return Err(Unsupported("the URL's section is not one FETCH knows")),
            }
        }
    };
    Ok(match partial {
        None => data,
        Some((offset, length)) => {
            let s = (offset as usize).min(data.len());
            let e = length.map_or(data.len(), |l| s.saturating_add(l as usize).min(data.len()));
            data[s..e].to_vec()
        }
    })
}

/// Applies a <start.length> partial; returns the origin label and the slice.
fn cut(data: &[u8], partial: Option<(u32, std::num::NonZeroU32)>) -> (String, &[u8]) {
    match partial {
        Some((start, len)) => {
            let s = (start as usize).min(data.len());
            let e = s.saturating_add(len.get() as usize).min(data.len());
            (format!("<{start}>"), &data[s..e])
        }
        None => (String::new(), data),
    }
}

/// BINARY[path] (RFC 3516): the part's content with its transfer encoding undone.
fn binary(path: &[u32], body: &[u8], parsed: Option<&mail_parser::Message>) -> Result<Vec<u8>, Unsupported> {
    let m = parsed.ok_or(Unsupported("the message could not be parsed"))?;
    let (raw, encoding) = if path.is_empty() {
        (body.to_vec(), String::new())
    } else {
        let mime = super::structure::section(m, path, true).ok_or(Unsupported("no such body part"))?;
        let raw = super::structure::section(m, path, false).ok_or(Unsupported("no such body part"))?;
        let cte = header_fields(&mime, &["content-transfer-encoding".into()], true);
        let value = String::from_utf8_lossy(&cte)
            .split_once(':')
            .map(|(_, v)| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        (raw, value)
    };
    match encoding.as_str() {
        "base64" => {
            let text: String = String::from_utf8_lossy(&raw).chars().filter(|c| !c.is_whitespace()).collect();
            crate::smtp::auth::decode_b64(&text).map_err(|_| Unsupported("[UNKNOWN-CTE] the part's base64 is damaged"))
        }
        "quoted-printable" => Ok(quoted_printable(&raw)),
        "" | "7bit" | "8bit" | "binary" => Ok(raw),
        _ => Err(Unsupported("[UNKNOWN-CTE] unknown content transfer encoding")),
    }
}

/// Quoted-printable decoded as RFC 2045 §6.7 says: whitespace at the end of
/// an encoded line is transport padding, not content (rule 3), and "=" that
/// ends a line — whitespace may follow it — is a soft line break (rule 5).
/// Malformed escapes are kept as they are.
fn quoted_printable(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    for line in raw.split_inclusive(|&b| b == b'\n') {
        let (text, eol): (&[u8], &[u8]) = match line.strip_suffix(b"\r\n") {
            Some(t) => (t, b"\r\n"),
            None => match line.strip_suffix(b"\n") {
                Some(t) => (t, b"\n"),
                None => (line, b""),
            },
        };
        let text = text.trim_ascii_end();
        let (text, soft) = match text.strip_suffix(b"=") {
            Some(t) => (t, true),
            None => (text, false),
        };
        let mut i = 0;
        while i < text.len() {
            let escape = (text.get(i + 1).and_then(|b| hex(*b)), text.get(i + 2).and_then(|b| hex(*b)));
            if let (b'=', (Some(h), Some(l))) = (text[i], escape) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            out.push(text[i]);
            i += 1;
        }
        if !soft {
            out.extend_from_slice(eol);
        }
    }
    out
}

/// Renders the items of one message into `out` (inside the parentheses).
pub fn render(
    out: &mut Vec<u8>,
    items: &[MessageDataItemName],
    meta: &MessageMeta,
    recent: bool,
    content: Option<&[u8]>,
    parsed: Option<&mail_parser::Message>,
    include_uid: bool,
) -> Result<(), Unsupported> {
    use super::structure;
    let mut parts: Vec<Vec<u8>> = Vec::new();
    if include_uid && !items.iter().any(|i| matches!(i, MessageDataItemName::Uid)) {
        parts.push(format!("UID {}", meta.uid).into_bytes());
    }
    let body = content.unwrap_or(b"");
    for item in items {
        let mut p = Vec::new();
        match item {
            MessageDataItemName::Uid => p.extend_from_slice(format!("UID {}", meta.uid).as_bytes()),
            MessageDataItemName::Flags => {
                let flags = if recent {
                    format!("{} \\Recent", meta.flags).trim_start().to_string()
                } else {
                    meta.flags.clone()
                };
                p.extend_from_slice(format!("FLAGS {}", flag_list(&flags)).as_bytes())
            }
            MessageDataItemName::Rfc822Size => p.extend_from_slice(format!("RFC822.SIZE {}", meta.size).as_bytes()),
            MessageDataItemName::InternalDate => {
                p.extend_from_slice(format!("INTERNALDATE \"{}\"", imap_date(meta.internal_date)).as_bytes())
            }
            MessageDataItemName::ModSeq => p.extend_from_slice(format!("MODSEQ ({})", meta.modseq).as_bytes()),
            MessageDataItemName::Rfc822 => literal(&mut p, "RFC822", body),
            MessageDataItemName::Rfc822Header => literal(&mut p, "RFC822.HEADER", &body[..split(body)]),
            MessageDataItemName::Rfc822Text => literal(&mut p, "RFC822.TEXT", &body[split(body)..]),
            MessageDataItemName::BodyExt { section, partial, .. } => {
                let (label, data) = section_data(section.as_ref(), body, parsed);
                let (origin, data) = cut(&data, *partial);
                literal(&mut p, &format!("BODY[{label}]{origin}"), data);
            }
            MessageDataItemName::Envelope | MessageDataItemName::BodyStructure | MessageDataItemName::Body => {
                let Some(m) = parsed else { return Err(Unsupported("the message could not be parsed")) };
                match item {
                    MessageDataItemName::Envelope => {
                        p.extend_from_slice(b"ENVELOPE ");
                        structure::envelope(&mut p, m);
                    }
                    MessageDataItemName::BodyStructure => {
                        p.extend_from_slice(b"BODYSTRUCTURE ");
                        structure::body_structure(&mut p, m, 0, true);
                    }
                    _ => {
                        p.extend_from_slice(b"BODY ");
                        structure::body_structure(&mut p, m, 0, false);
                    }
                }
            }
            MessageDataItemName::Binary { section, partial, .. } => {
                let path: Vec<u32> = section.iter().map(|n| n.get()).collect();
                let data = binary(&path, body, parsed)?;
                let (origin, data) = cut(&data, *partial);
                let label = path.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
                // RFC 3516: decoded content may hold NULs, so it goes as a literal8.
                p.extend_from_slice(format!("BINARY[{label}]{origin} ~{{{}}}\r\n", data.len()).as_bytes());
                p.extend_from_slice(data);
            }
            MessageDataItemName::BinarySize { section } => {
                let path: Vec<u32> = section.iter().map(|n| n.get()).collect();
                let data = binary(&path, body, parsed)?;
                let label = path.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
                p.extend_from_slice(format!("BINARY.SIZE[{label}] {}", data.len()).as_bytes());
            }
        }
        parts.push(p);
    }
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(p);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_field_selection() {
        let m = b"Subject: hi\r\nFrom: a@b\r\nX-Long: one\r\n two\r\n\r\nbody\r\n";
        assert_eq!(
            header_fields(m, &["subject".into(), "x-long".into()], true),
            b"Subject: hi\r\nX-Long: one\r\n two\r\n\r\n"
        );
        assert_eq!(header_fields(m, &["subject".into()], false), b"From: a@b\r\nX-Long: one\r\n two\r\n\r\n");
        assert_eq!(imap_date(0), "01-Jan-1970 00:00:00 +0000");
    }

    #[test]
    fn quoted_printable_decoding() {
        assert_eq!(quoted_printable(b"caf=C3=A9 soft=\r\nbreak =3D ok=ZZ"), "café softbreak = ok=ZZ".as_bytes());
        // Rule 3: trailing blanks are padding; rule 5: blanks may follow a soft break.
        assert_eq!(quoted_printable(b"a  \r\nb= \t\r\nc=\nd\r\n"), b"a\r\nbcd\r\n");
        assert_eq!(quoted_printable(b"last="), b"last");
    }

    #[test]
    fn nested_message_header_and_binary_part() {
        let raw = b"Subject: outer\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nAAFoaQ==\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nFrom: x@y\r\n\r\ninner body\r\n--b--\r\n";
        let m = mail_parser::MessageParser::default().parse(&raw[..]).unwrap();
        let part = |n: u32| Part(vec![std::num::NonZeroU32::new(n).unwrap()].try_into().unwrap());
        let (label, data) = section_data(Some(&Section::Header(Some(part(2)))), raw, Some(&m));
        assert_eq!(label, "2.HEADER");
        assert_eq!(data, b"Subject: inner\r\nFrom: x@y\r\n\r\n");
        let (label, data) = section_data(Some(&Section::Text(Some(part(2)))), raw, Some(&m));
        assert_eq!(label, "2.TEXT");
        assert!(data.starts_with(b"inner body"));
        assert_eq!(binary(&[1], raw, Some(&m)).ok().unwrap(), b"\x00\x01hi");
    }
}
