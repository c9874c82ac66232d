//! IMAP URLs (RFC 5092) naming one message or part of one, as CATENATE
//! (RFC 4469) takes them: `/INBOX;UIDVALIDITY=7/;UID=20/;SECTION=1.2`
//! `/;PARTIAL=0.1024`, or the same after `imap://user@host`. Only the
//! session's own account is reachable: the authority is not consulted, as
//! every name resolves in the logged-in user's mailboxes.

/// What an IMAP URL names.
#[derive(Debug, PartialEq)]
pub struct MessageUrl {
    /// The mailbox name, %-decoded (UTF-8).
    pub mailbox: String,
    pub uidvalidity: Option<i64>,
    pub uid: i64,
    /// A FETCH section as written inside BODY[…] ("HEADER", "1.2.MIME").
    pub section: Option<String>,
    /// Offset and optional length, as BODY[…]<offset.length>.
    pub partial: Option<(u32, Option<u32>)>,
}

/// Reads a URL; the error names what is wrong for a `NO [BADURL]`.
pub fn parse(url: &str) -> Result<MessageUrl, &'static str> {
    let path = match url.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("imap://") => {
            let rest = &url[7..];
            &rest[rest.find('/').ok_or("the URL names no mailbox")?..]
        }
        _ => url,
    };
    let path = path.strip_prefix('/').ok_or("a URL must start with / or imap://")?;
    let mut segments = path.split("/;");
    let first = segments.next().unwrap_or_default();
    let (name, uidvalidity) = match first.split_once(';') {
        Some((name, param)) => {
            let v = param_value(param, "UIDVALIDITY").ok_or("unknown parameter after the mailbox name")?;
            (name, Some(number(v).ok_or("UIDVALIDITY must be a number")?))
        }
        None => (first, None),
    };
    let name = name.strip_suffix('/').unwrap_or(name);
    if name.is_empty() {
        return Err("the URL names no mailbox");
    }
    let mut mailbox = percent_decode(name).ok_or("the mailbox name is not %-encoded UTF-8")?;
    if mailbox.eq_ignore_ascii_case("INBOX") {
        mailbox = "INBOX".into();
    }
    let mut url = MessageUrl { mailbox, uidvalidity, uid: 0, section: None, partial: None };
    for seg in segments {
        let seg = seg.strip_suffix('/').unwrap_or(seg);
        if let Some(v) = param_value(seg, "UID") {
            url.uid = number(v).filter(|u| *u > 0).ok_or("UID must be a number above 0")?;
        } else if let Some(v) = param_value(seg, "SECTION") {
            url.section = Some(percent_decode(v).ok_or("the section is not %-encoded")?.to_ascii_uppercase());
        } else if let Some(v) = param_value(seg, "PARTIAL") {
            url.partial = Some(partial(v).ok_or("PARTIAL must be offset or offset.length")?);
        } else if param_value(seg, "URLAUTH").is_some() {
            return Err("URLAUTH is not supported");
        } else {
            return Err("unknown part of the URL");
        }
    }
    if url.uid == 0 {
        return Err("the URL names no message (;UID=)");
    }
    Ok(url)
}

/// The value of `NAME=value`, the name in any case.
fn param_value<'a>(seg: &'a str, name: &str) -> Option<&'a str> {
    let (k, v) = seg.split_once('=')?;
    k.eq_ignore_ascii_case(name).then_some(v)
}

fn number(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

fn partial(s: &str) -> Option<(u32, Option<u32>)> {
    let (offset, length) = match s.split_once('.') {
        Some((o, l)) => (o, Some(l)),
        None => (s, None),
    };
    let n = |x: &str| u32::try_from(number(x)?).ok();
    Some((
        n(offset)?,
        match length {
            Some(l) => Some(n(l).filter(|l| *l > 0)?),
            None => None,
        },
    ))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_urls() {
        let u = parse("/Sent%20Items;UIDVALIDITY=385759045/;UID=20/;SECTION=1.2.mime/;PARTIAL=0.1024").unwrap();
        assert_eq!(
            u,
            MessageUrl {
                mailbox: "Sent Items".into(),
                uidvalidity: Some(385759045),
                uid: 20,
                section: Some("1.2.MIME".into()),
                partial: Some((0, Some(1024))),
            }
        );
        let u = parse("imap://alice@mail.example/inbox/;uid=3").unwrap();
        assert_eq!((u.mailbox.as_str(), u.uid, u.section, u.partial), ("INBOX", 3, None, None));
        assert_eq!(parse("/a/;UID=1/;PARTIAL=100000").unwrap().partial, Some((100000, None)));
        assert_eq!(parse("/%E6%97%A5%E6%9C%AC/;UID=1").unwrap().mailbox, "日本");
    }

    #[test]
    fn what_is_refused() {
        for bad in [
            "INBOX/;UID=1",
            "/INBOX",
            "/INBOX/;UID=0",
            "/INBOX/;UID=x",
            "/INBOX;UIDVALIDITY=/;UID=1",
            "/INBOX/;UID=1/;PARTIAL=1.0",
            "/INBOX/;UID=1/;URLAUTH=anonymous",
            "/INBOX/;UID=1/;FOO=1",
            "/%ZZ/;UID=1",
            "imap://host",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
