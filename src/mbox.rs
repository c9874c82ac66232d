//! mbox files (the "mboxrd" variant): how mail is carried in and out in bulk —
//! importing a mailbox from another server, exporting archive search results.
//! Messages inside Hato are CRLF; mbox files are LF.

/// Splits an mbox into messages with CRLF line ends, undoing ">From " quoting.
pub fn split(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    for line in data.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b"From ") {
            if let Some(m) = cur.take() {
                out.push(m);
            }
            cur = Some(Vec::new());
            continue;
        }
        let Some(m) = cur.as_mut() else { continue };
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        // mboxrd: one '>' is taken off any run of '>' that precedes "From ".
        let unquoted = match body.iter().position(|b| *b != b'>') {
            Some(n) if n > 0 && body[n..].starts_with(b"From ") => &body[1..],
            _ => body,
        };
        m.extend_from_slice(unquoted);
        m.extend_from_slice(b"\r\n");
    }
    if let Some(m) = cur {
        out.push(m);
    }
    // The blank line that separates messages belongs to the file, not the message.
    for m in &mut out {
        if m.ends_with(b"\r\n\r\n") {
            m.truncate(m.len() - 2);
        }
    }
    out
}

/// Appends one message in mbox form (LF line ends, ">From " quoting, blank line after).
pub fn write(out: &mut Vec<u8>, sender: &str, date: i64, msg: &[u8]) {
    let sender = if sender.is_empty() { "MAILER-DAEMON" } else { sender };
    out.extend_from_slice(format!("From {sender} {}\n", asctime(date)).as_bytes());
    for line in msg.split_inclusive(|b| *b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if body.iter().position(|b| *b != b'>').is_some_and(|n| body[n..].starts_with(b"From ")) {
            out.push(b'>');
        }
        out.extend_from_slice(body);
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// "Sat Nov 28 21:34:41 2026", the date form of the "From " line.
fn asctime(unix: i64) -> String {
    // From the RFC 5322 form "Sat, 28 Nov 2026 21:34:41 +0000".
    let d = crate::clock::rfc5322(unix);
    let p: Vec<&str> = d.split_whitespace().collect();
    match p.as_slice() {
        [wd, day, mon, year, time, ..] => format!("{} {mon} {day:>2} {time} {year}", wd.trim_end_matches(',')),
        _ => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_from_quoting() {
        let a = b"Subject: one\r\n\r\nFrom here on\r\n>From quoted\r\nend\r\n".to_vec();
        let b = b"Subject: two\r\n\r\nbody\r\n".to_vec();
        let mut file = Vec::new();
        write(&mut file, "x@y", 0, &a);
        write(&mut file, "", 0, &b);
        let text = String::from_utf8_lossy(&file);
        assert!(text.starts_with("From x@y Thu Jan  1 00:00:00 1970\n"), "{text}");
        assert!(text.contains("\n>From here on\n>>From quoted\n"), "{text}");
        assert_eq!(split(&file), [a, b]);
    }
}
