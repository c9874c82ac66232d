//! What the SMTP layer reads from and adds to a message's header.
//!
//! Only the header is inspected, and only enough to trace and loop-protect:
//! the MIME walk belongs to the filter pipeline.

/// The header block (up to the first empty line), or the whole message if none.
fn header(msg: &[u8]) -> &[u8] {
    let end = find(msg, b"\r\n\r\n").map(|i| i + 2).or_else(|| find(msg, b"\n\n").map(|i| i + 1));
    &msg[..end.unwrap_or(msg.len())]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Unfolded header fields as (name, value), in order.
pub fn fields(msg: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in header(msg).split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(line);
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(text.trim());
            }
        } else if let Some((name, value)) = text.split_once(':') {
            out.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

/// The message without the header fields named (with their continuation
/// lines); None when it has none of them, so nothing is copied.
pub fn strip(msg: &[u8], names: &[&str]) -> Option<Vec<u8>> {
    let head = header(msg);
    let named = |line: &[u8]| {
        let name = line.split(|b| *b == b':').next().unwrap_or(b"").trim_ascii();
        names.iter().any(|n| n.as_bytes().eq_ignore_ascii_case(name))
    };
    if !head.split(|b| *b == b'\n').any(|l| !l.is_empty() && named(l)) {
        return None;
    }
    let mut out = Vec::with_capacity(msg.len());
    let mut dropping = false;
    for line in head.split_inclusive(|b| *b == b'\n') {
        if line[0] != b' ' && line[0] != b'\t' {
            dropping = named(line);
        }
        if !dropping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(&msg[head.len()..]);
    Some(out)
}

pub fn get(fields: &[(String, String)], name: &str) -> Option<String> {
    fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
}

pub fn count(fields: &[(String, String)], name: &str) -> usize {
    fields.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count()
}

/// The trace facts a Received header records.
pub struct Trace<'a> {
    pub helo: &'a str,
    pub client_ip: &'a str,
    pub hostname: &'a str,
    pub protocol: &'a str,
    pub queue_id: &'a str,
    /// Named only for single-recipient messages, so a Bcc list is not disclosed.
    pub for_rcpt: Option<&'a str>,
    pub date: &'a str,
}

pub fn received(t: &Trace) -> String {
    let for_part = t.for_rcpt.map(|r| format!("\r\n\tfor <{r}>")).unwrap_or_default();
    format!(
        "Received: from {} ([{}])\r\n\tby {} (Hato) with {} id {}{};\r\n\t{}\r\n",
        sanitize(t.helo),
        t.client_ip,
        t.hostname,
        t.protocol,
        t.queue_id,
        for_part,
        t.date
    )
}

/// Keeps a peer-supplied name from breaking the header it is written into.
fn sanitize(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).take(255).collect();
    if clean.is_empty() { "unknown".into() } else { clean }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_unfolded_fields() {
        let m = b"Received: a\r\nReceived: b\r\nSubject: hello\r\n world\r\nMessage-ID: <x@y>\r\n\r\nReceived: not a header\r\n";
        let f = fields(m);
        assert_eq!(count(&f, "received"), 2);
        assert_eq!(get(&f, "subject").as_deref(), Some("hello world"));
        assert_eq!(get(&f, "Message-Id").as_deref(), Some("<x@y>"));
        assert_eq!(get(&f, "date"), None);
        assert!(fields(b"").is_empty());
        assert_eq!(fields(b"no colon here\n\nbody").len(), 0);
    }

    #[test]
    fn strips_named_fields_with_their_continuations() {
        let m =
            b"X-Spam-Flag: NO\r\nSubject: hi\r\nx-spam-status: No,\r\n tests=none\r\n\r\nX-Spam-Flag: body stays\r\n";
        let out = strip(m, &["X-Spam-Flag", "X-Spam-Status"]).unwrap();
        assert_eq!(out, b"Subject: hi\r\n\r\nX-Spam-Flag: body stays\r\n");
        assert_eq!(strip(b"Subject: hi\r\n\r\nbody", &["X-Spam-Flag"]), None);
    }

    #[test]
    fn received_header_is_safe() {
        let r = received(&Trace {
            helo: "evil\r\nBcc: x",
            client_ip: "192.0.2.1",
            hostname: "mx.example",
            protocol: "ESMTPS",
            queue_id: "ABC",
            for_rcpt: Some("u@example"),
            date: "Thu, 1 Jan 1970 00:00:00 +0000",
        });
        assert!(r.starts_with("Received: from evilBcc: x ([192.0.2.1])\r\n\tby mx.example"));
        assert!(r.ends_with("+0000\r\n"));
        assert_eq!(r.matches("\r\n").count(), 4);
    }
}
