//! ENVELOPE, BODYSTRUCTURE and numbered body sections (RFC 3501 §7.4.2),
//! from mail-parser's MIME tree. Header strings go out as sent (encoded
//! words stay encoded, as clients expect); anything not plain printable
//! ASCII is sent as a literal.

use mail_parser::{Addr, Address, Message, MessagePart, MimeHeaders, PartType};

/// An IMAP nstring: NIL, a quoted string, or a literal.
pub fn nstring(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.extend_from_slice(b"NIL"),
        Some(s) if s.bytes().all(|b| (0x20..0x7f).contains(&b)) && s.len() < 1000 => {
            out.push(b'"');
            for b in s.bytes() {
                if b == b'"' || b == b'\\' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'"');
        }
        Some(s) => {
            out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn raw_header<'a>(m: &'a Message, name: &'a str) -> Option<&'a str> {
    m.header_raw(name).map(str::trim).filter(|s| !s.is_empty())
}

/// An address list of the ENVELOPE. RFC 3501 §7.4.2: a group is a start
/// marker (NIL NIL "name" NIL), its members, and an end marker
/// (NIL NIL NIL NIL) — also when it has no members ("undisclosed:;").
fn addresses(out: &mut Vec<u8>, a: Option<&Address>) {
    let groups: Vec<(Option<&str>, &[Addr])> = match a {
        None => Vec::new(),
        Some(Address::List(list)) => vec![(None, &list[..])],
        Some(Address::Group(groups)) => groups.iter().map(|g| (g.name.as_deref(), &g.addresses[..])).collect(),
    };
    if groups.iter().all(|(name, members)| name.is_none() && members.is_empty()) {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (name, members) in groups {
        if let Some(name) = name {
            out.extend_from_slice(b"(NIL NIL ");
            nstring(out, Some(name));
            out.extend_from_slice(b" NIL)");
        }
        for addr in members {
            let email = addr.address().unwrap_or("");
            let (mailbox, host) = email.rsplit_once('@').unwrap_or((email, ""));
            out.push(b'(');
            nstring(out, addr.name());
            out.extend_from_slice(b" NIL ");
            nstring(out, Some(mailbox));
            out.push(b' ');
            nstring(out, Some(host));
            out.push(b')');
        }
        if name.is_some() {
            out.extend_from_slice(b"(NIL NIL NIL NIL)");
        }
    }
    out.push(b')');
}

pub fn envelope(out: &mut Vec<u8>, m: &Message) {
    out.push(b'(');
    nstring(out, raw_header(m, "Date"));
    out.push(b' ');
    nstring(out, raw_header(m, "Subject"));
    let from = m.from();
    for a in [from, m.sender().or(from), m.reply_to().or(from), m.to(), m.cc(), m.bcc()] {
        out.push(b' ');
        addresses(out, a);
    }
    out.push(b' ');
    nstring(out, raw_header(m, "In-Reply-To"));
    out.push(b' ');
    nstring(out, raw_header(m, "Message-ID"));
    out.push(b')');
}

fn params(out: &mut Vec<u8>, part: &MessagePart, is_text: bool) {
    let attrs: Vec<(String, String)> = part
        .content_type()
        .and_then(|ct| ct.attributes())
        .map(|a| a.iter().map(|x| (x.name.to_ascii_uppercase(), x.value.to_string())).collect())
        .unwrap_or_default();
    let attrs = if attrs.is_empty() && is_text { vec![("CHARSET".to_string(), "us-ascii".to_string())] } else { attrs };
    if attrs.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        nstring(out, Some(k));
        out.push(b' ');
        nstring(out, Some(v));
    }
    out.push(b')');
}

fn disposition(out: &mut Vec<u8>, part: &MessagePart) {
    let Some(d) = part.content_disposition() else {
        out.extend_from_slice(b"NIL");
        return;
    };
    out.push(b'(');
    nstring(out, Some(&d.ctype().to_ascii_uppercase()));
    out.push(b' ');
    match d.attributes().filter(|a| !a.is_empty()) {
        Some(attrs) => {
            out.push(b'(');
            for (i, a) in attrs.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                nstring(out, Some(&a.name.to_ascii_uppercase()));
                out.push(b' ');
                nstring(out, Some(&a.value));
            }
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b')');
}

/// BODYSTRUCTURE (`extended`) or BODY of part `id` of `m`.
pub fn body_structure(out: &mut Vec<u8>, m: &Message, id: u32, extended: bool) {
    let Some(part) = m.part(id) else {
        out.extend_from_slice(b"NIL");
        return;
    };
    let (ctype, subtype) = part
        .content_type()
        .map(|c| (c.ctype().to_ascii_uppercase(), c.subtype().unwrap_or("plain").to_ascii_uppercase()))
        .unwrap_or_else(|| ("TEXT".into(), "PLAIN".into()));
    if let PartType::Multipart(children) = &part.body {
        out.push(b'(');
        for c in children {
            body_structure(out, m, *c, extended);
        }
        out.push(b' ');
        nstring(out, Some(&subtype));
        if extended {
            out.push(b' ');
            params(out, part, false);
            out.push(b' ');
            disposition(out, part);
            out.extend_from_slice(b" NIL NIL");
        }
        out.push(b')');
        return;
    }
    let raw = m.raw_message().get(part.offset_body as usize..part.offset_end as usize).unwrap_or(b"");
    // The CRLF before a boundary belongs to the boundary (RFC 2046), so a last line may lack one.
    let lines = raw.iter().filter(|b| **b == b'\n').count() + usize::from(!raw.is_empty() && !raw.ends_with(b"\n"));
    out.push(b'(');
    nstring(out, Some(&ctype));
    out.push(b' ');
    nstring(out, Some(&subtype));
    out.push(b' ');
    params(out, part, ctype == "TEXT");
    out.push(b' ');
    nstring(out, part.content_id());
    out.push(b' ');
    nstring(out, part.content_description());
    out.push(b' ');
    nstring(out, Some(&part.content_transfer_encoding().unwrap_or("7BIT").to_ascii_uppercase()));
    out.extend_from_slice(format!(" {}", raw.len()).as_bytes());
    if let PartType::Message(inner) = &part.body {
        out.push(b' ');
        envelope(out, inner);
        out.push(b' ');
        body_structure(out, inner, 0, extended);
        out.extend_from_slice(format!(" {lines}").as_bytes());
    } else if ctype == "TEXT" {
        out.extend_from_slice(format!(" {lines}").as_bytes());
    }
    if extended {
        out.extend_from_slice(b" NIL ");
        disposition(out, part);
        out.extend_from_slice(b" NIL NIL");
    }
    out.push(b')');
}

/// Bytes of a numbered section (`BODY[1.2]`, or its MIME header with `mime`).
/// RFC 3501 §6.4.5: every message has a part 1 (a single-part body is its
/// own part 1), and a message/rfc822 part's message has numbered parts of its
/// own, where a single-part message again has only part 1.
pub fn section(m: &Message, path: &[u32], mime: bool) -> Option<Vec<u8>> {
    let mut msg = m;
    let mut id = 0u32;
    for (depth, n) in path.iter().enumerate() {
        let part = msg.part(id)?;
        let nth = |children: &[u32]| children.get((*n as usize).checked_sub(1)?).copied();
        match &part.body {
            PartType::Multipart(children) => id = nth(children)?,
            // Inside an attached message, numbering continues in its own tree.
            PartType::Message(inner) if depth > 0 => {
                msg = inner;
                id = match &msg.part(0)?.body {
                    PartType::Multipart(children) => nth(children)?,
                    _ if *n == 1 => 0,
                    _ => return None,
                };
            }
            _ if *n == 1 && depth == 0 => {}
            _ => return None,
        }
    }
    let part = msg.part(id)?;
    let range = if mime { part.offset_header..part.offset_body } else { part.offset_body..part.offset_end };
    let base = origin(msg);
    let (start, end) = (range.start.checked_sub(base)?, range.end.checked_sub(base)?);
    msg.raw_message().get(start as usize..end as usize).map(<[u8]>::to_vec)
}

/// Where a message's part offsets count from in its `raw_message`. mail-parser
/// gives a message/rfc822 part parsed in place offsets into the outermost
/// message while its `raw_message` holds only its own bytes; then the offsets
/// start at its first header. An encoded attached message (or the outermost)
/// counts from 0.
fn origin(msg: &Message) -> u32 {
    match msg.part(0) {
        Some(root) if msg.raw_message().len() as u32 == root.offset_end.saturating_sub(root.offset_header) => {
            root.offset_header
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    const MIXED: &[u8] = b"From: =?UTF-8?B?5bGx55Sw?= <yamada@example.jp>\r\nTo: a@b.test\r\nSubject: report\r\nMessage-ID: <m1@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\nworld\r\n--XX\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n";

    fn render(f: impl Fn(&mut Vec<u8>, &Message)) -> String {
        let m = MessageParser::default().parse(MIXED).unwrap();
        let mut out = Vec::new();
        f(&mut out, &m);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn envelope_of_a_mixed_message() {
        let e = render(envelope);
        assert!(e.starts_with("(NIL \"report\" (({6}\r\n山田 NIL \"yamada\" \"example.jp\"))"), "{e}");
        assert!(e.ends_with(" ((NIL NIL \"a\" \"b.test\")) NIL NIL NIL \"<m1@x>\")"), "{e}");
    }

    #[test]
    fn envelope_address_groups() {
        let raw = b"From: a@x.test\r\nTo: friends: b@y.test, C <c@y.test>;, d@z.test\r\nCc: undisclosed-recipients:;\r\nSubject: g\r\n\r\nhi\r\n";
        let m = MessageParser::default().parse(&raw[..]).unwrap();
        let mut out = Vec::new();
        envelope(&mut out, &m);
        let e = String::from_utf8(out).unwrap();
        assert!(
            e.contains(
                "((NIL NIL \"friends\" NIL)(NIL NIL \"b\" \"y.test\")(\"C\" NIL \"c\" \"y.test\")(NIL NIL NIL NIL)(NIL NIL \"d\" \"z.test\"))"
            ),
            "{e}"
        );
        assert!(e.contains(" ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "), "{e}");
    }

    #[test]
    fn bodystructure_of_a_mixed_message() {
        let b = render(|o, m| body_structure(o, m, 0, false));
        assert_eq!(
            b,
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 12 2)(\"APPLICATION\" \"PDF\" (\"NAME\" \"r.pdf\") NIL NIL \"BASE64\" 12) \"MIXED\")"
        );
        let x = render(|o, m| body_structure(o, m, 0, true));
        assert!(x.contains("(\"ATTACHMENT\" (\"FILENAME\" \"r.pdf\"))"), "{x}");
        assert!(x.contains("\"MIXED\" (\"BOUNDARY\" \"XX\")"), "{x}");
    }

    #[test]
    fn numbered_sections() {
        let m = MessageParser::default().parse(MIXED).unwrap();
        assert_eq!(section(&m, &[1], false).unwrap(), b"hello\r\nworld");
        assert_eq!(section(&m, &[2], false).unwrap(), b"JVBERi0xLjQK");
        assert!(
            String::from_utf8(section(&m, &[2], true).unwrap()).unwrap().contains("Content-Disposition: attachment")
        );
        assert!(section(&m, &[3], false).is_none());
        assert!(section(&m, &[1, 1], false).is_none());
        let single = MessageParser::default().parse(&b"Subject: x\r\n\r\nbody\r\n"[..]).unwrap();
        assert_eq!(section(&single, &[1], false).unwrap(), b"body\r\n");
    }
}
