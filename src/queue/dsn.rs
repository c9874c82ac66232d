//! Delivery status notifications (RFC 3464): the bounce a sender gets when
//! their message could not be delivered.

use crate::store::QueuedMessage;

pub struct Failure {
    pub recipient: String,
    pub status: String,
    pub diagnostic: String,
}

/// Builds the bounce body. Only the original header is returned, never the
/// body: it is enough to identify the message and leaks nothing large back.
pub fn build(hostname: &str, msg: &QueuedMessage, failures: &[Failure], original: &[u8], now: i64) -> Vec<u8> {
    let boundary = format!("=_hato_{}", crate::ids::token(16));
    let date = crate::clock::rfc5322(now);
    let mut out = String::new();
    out.push_str(&format!("From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n"));
    out.push_str(&format!("To: <{}>\r\n", msg.sender));
    out.push_str("Subject: Undelivered Mail Returned to Sender\r\n");
    out.push_str(&format!("Date: {date}\r\n"));
    out.push_str(&format!("Message-ID: <{}.dsn.{}@{hostname}>\r\n", msg.id, crate::ids::token(8)));
    out.push_str("Auto-Submitted: auto-replied\r\n");
    out.push_str("MIME-Version: 1.0\r\n");
    out.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    ));
    out.push_str(&format!("--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"));
    out.push_str(&format!(
        "This is the mail system at {hostname}.\r\n\r\nYour message could not be delivered to the following recipients:\r\n\r\n"
    ));
    for f in failures {
        out.push_str(&format!("<{}>: {}\r\n", f.recipient, one_line(&f.diagnostic)));
    }
    out.push_str(&format!("\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"));
    out.push_str(&format!("Reporting-MTA: dns; {hostname}\r\n"));
    out.push_str(&format!("X-Hato-Queue-ID: {}\r\n", msg.id));
    out.push_str(&format!("Arrival-Date: {}\r\n", crate::clock::rfc5322(msg.received)));
    for f in failures {
        out.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {}\r\nDiagnostic-Code: smtp; {}\r\n",
            f.recipient,
            f.status,
            one_line(&f.diagnostic)
        ));
    }
    out.push_str(&format!("\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(header_of(original));
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    bytes
}

fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn header_of(msg: &[u8]) -> &[u8] {
    match msg.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => &msg[..i + 2],
        None => msg,
    }
}

/// The RFC 3463 status for a diagnostic: taken from a remote reply when it has
/// one ("550 5.1.1 ..."), otherwise a generic permanent failure.
pub fn status_of(diagnostic: &str) -> String {
    diagnostic
        .split_whitespace()
        .find(|w| {
            let p: Vec<&str> = w.split('.').collect();
            p.len() == 3
                && (p[0] == "5" || p[0] == "4")
                && p.iter().all(|x| !x.is_empty() && x.chars().all(|c| c.is_ascii_digit()))
        })
        .map(|s| s.replacen('4', "5", 1))
        .unwrap_or_else(|| "5.0.0".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Id;

    #[test]
    fn builds_a_report() {
        let msg = QueuedMessage {
            id: Id(42),
            sender: "alice@example.test".into(),
            received: 0,
            size: 10,
            client_ip: "127.0.0.1".into(),
            helo: "h".into(),
            auth_user: None,
            message_id: "<m@x>".into(),
            subject: "s".into(),
            entries: vec![],
        };
        let failures = vec![Failure {
            recipient: "bob@far.test".into(),
            status: "5.1.1".into(),
            diagnostic: "far.test said at RCPT: 550 5.1.1 no\nsuch user".into(),
        }];
        let body = build("mx.example.test", &msg, &failures, b"Subject: s\r\nFrom: a\r\n\r\nsecret body\r\n", 0);
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("report-type=delivery-status"));
        assert!(text.contains("Final-Recipient: rfc822; bob@far.test\r\nAction: failed\r\nStatus: 5.1.1"));
        assert!(text.contains("Subject: s\r\nFrom: a\r\n"));
        assert!(!text.contains("secret body"));
        assert!(text.contains("no such user"));
    }

    #[test]
    fn status_from_diagnostic() {
        assert_eq!(status_of("mx said: 550 5.1.1 unknown"), "5.1.1");
        assert_eq!(status_of("451 4.7.1 try later (expired)"), "5.7.1");
        assert_eq!(status_of("connection refused"), "5.0.0");
    }
}
