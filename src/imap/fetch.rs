//! FETCH: rendering message data items for one message. ENVELOPE,
//! BODYSTRUCTURE and numbered sections come from `structure`.

use imap_codec::imap_types::fetch::{MessageDataItemName, Section};

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
        )
    })
}

/// Whether these items set \Seen (a non-PEEK body fetch).
pub fn sets_seen(items: &[MessageDataItemName]) -> bool {
    items.iter().any(|i| matches!(i, MessageDataItemName::BodyExt { peek: false, .. } | MessageDataItemName::Rfc822 | MessageDataItemName::Rfc822Text))
}

fn split(msg: &[u8]) -> usize {
    msg.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4).unwrap_or(msg.len())
}

fn header_fields(msg: &[u8], names: &[String], keep: bool) -> Vec<u8> {
    let head = &msg[..split(msg)];
    let mut out = Vec::new();
    let mut keeping = false;
    for line in head.split_inclusive(|b| *b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if line[0] != b' ' && line[0] != b'\t' {
            let name = line.split(|b| *b == b':').next().unwrap_or(b"");
            let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
            keeping = names.iter().any(|n| n.eq_ignore_ascii_case(&name)) == keep;
        }
        if keeping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn literal(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    out.extend_from_slice(format!("{name} {{{}}}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
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

/// Renders the items of one message into `out` (inside the parentheses).
pub fn render(
    out: &mut Vec<u8>,
    items: &[MessageDataItemName],
    meta: &MessageMeta,
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
            MessageDataItemName::Flags => p.extend_from_slice(format!("FLAGS {}", flag_list(&meta.flags)).as_bytes()),
            MessageDataItemName::Rfc822Size => p.extend_from_slice(format!("RFC822.SIZE {}", meta.size).as_bytes()),
            MessageDataItemName::InternalDate => p.extend_from_slice(format!("INTERNALDATE \"{}\"", imap_date(meta.internal_date)).as_bytes()),
            MessageDataItemName::ModSeq => p.extend_from_slice(format!("MODSEQ ({})", meta.modseq).as_bytes()),
            MessageDataItemName::Rfc822 => literal(&mut p, "RFC822", body),
            MessageDataItemName::Rfc822Header => literal(&mut p, "RFC822.HEADER", &body[..split(body)]),
            MessageDataItemName::Rfc822Text => literal(&mut p, "RFC822.TEXT", &body[split(body)..]),
            MessageDataItemName::BodyExt { section, partial, .. } => {
                let (label, data): (String, Vec<u8>) = match section {
                    None => (String::new(), body.to_vec()),
                    Some(Section::Header(None)) => ("HEADER".into(), body[..split(body)].to_vec()),
                    Some(Section::Text(None)) => ("TEXT".into(), body[split(body)..].to_vec()),
                    Some(Section::HeaderFields(None, names)) | Some(Section::HeaderFieldsNot(None, names)) => {
                        let keep = matches!(section, Some(Section::HeaderFields(..)));
                        let names: Vec<String> = names.as_ref().iter().map(|n| String::from_utf8_lossy(n.as_ref()).to_string()).collect();
                        let label = format!("HEADER.FIELDS{} ({})", if keep { "" } else { ".NOT" }, names.join(" "));
                        (label, header_fields(body, &names, keep))
                    }
                    Some(Section::Part(part)) | Some(Section::Mime(part)) => {
                        let path: Vec<u32> = part.0.as_ref().iter().map(|n| n.get()).collect();
                        let mime = matches!(section, Some(Section::Mime(_)));
                        let label = path.iter().map(u32::to_string).collect::<Vec<_>>().join(".") + if mime { ".MIME" } else { "" };
                        let data = parsed.and_then(|m| structure::section(m, &path, mime)).unwrap_or_default();
                        (label, data)
                    }
                    _ => return Err(Unsupported("HEADER and TEXT of nested parts are not implemented yet")),
                };
                let (origin, data) = match partial {
                    Some((start, len)) => {
                        let s = (*start as usize).min(data.len());
                        let e = (s + len.get() as usize).min(data.len());
                        (format!("<{start}>"), data[s..e].to_vec())
                    }
                    None => (String::new(), data),
                };
                literal(&mut p, &format!("BODY[{label}]{origin}"), &data);
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
            MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. } => {
                return Err(Unsupported("BINARY is not implemented yet"));
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
        assert_eq!(header_fields(m, &["subject".into(), "x-long".into()], true), b"Subject: hi\r\nX-Long: one\r\n two\r\n\r\n");
        assert_eq!(header_fields(m, &["subject".into()], false), b"From: a@b\r\nX-Long: one\r\n two\r\n\r\n");
        assert_eq!(imap_date(0), "01-Jan-1970 00:00:00 +0000");
    }
}
