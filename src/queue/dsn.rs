//! Delivery status notifications (RFC 3464): what the sender is told when a
//! recipient failed, is delayed, or — if they asked with NOTIFY=SUCCESS —
//! was delivered. One report covers every recipient of one message that a
//! delivery round had news of.
//!
//! Only the original header is returned, except in a failure report for a
//! message sent with RET=FULL (RFC 3461 §4.3): enough to identify the
//! message, nothing large sent back unasked.

use crate::store::{QueuedMessage, Ret};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Failed,
    Delayed,
    /// Filed into a local mailbox.
    Delivered,
    /// Handed to a next hop that does not offer DSN: no more reports will come.
    Relayed,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
        }
    }
}

/// The news about one recipient.
pub struct Report {
    pub recipient: String,
    /// ORCPT as the sender gave it.
    pub orcpt: Option<String>,
    pub action: Action,
    pub status: String,
    pub diagnostic: String,
}

impl Report {
    /// A permanent failure, its status taken from the diagnostic.
    pub fn failed(entry: &crate::store::QueueEntry, diagnostic: String) -> Report {
        Report::new(entry, Action::Failed, status_of(&diagnostic), diagnostic)
    }

    pub fn new(entry: &crate::store::QueueEntry, action: Action, status: String, diagnostic: String) -> Report {
        Report { recipient: entry.recipient.clone(), orcpt: entry.dsn.orcpt.clone(), action, status, diagnostic }
    }
}

/// The report's subject: the worst news in it.
pub fn subject(reports: &[Report]) -> &'static str {
    if reports.iter().any(|r| r.action == Action::Failed) {
        "Undelivered Mail Returned to Sender"
    } else if reports.iter().any(|r| r.action == Action::Delayed) {
        "Delayed Mail (still being retried)"
    } else {
        "Successful Mail Delivery Report"
    }
}

fn preface(reports: &[Report], hostname: &str, retry_until: i64) -> String {
    let mut out = format!("This is the mail system at {hostname}.\r\n\r\n");
    let group = |action: Action, text: &str, out: &mut String| {
        let these: Vec<&Report> = reports.iter().filter(|r| r.action == action).collect();
        if these.is_empty() {
            return;
        }
        out.push_str(text);
        out.push_str("\r\n\r\n");
        for r in these {
            out.push_str(&format!("<{}>: {}\r\n", r.recipient, one_line(&r.diagnostic)));
        }
        out.push_str("\r\n");
    };
    group(Action::Failed, "Your message could not be delivered to the following recipients:", &mut out);
    let delayed = format!(
        "Your message has not been delivered yet to the following recipients. Nothing needs to be done: \
         delivery is retried until {}, and you will be told if it fails.",
        crate::clock::rfc5322(retry_until)
    );
    group(Action::Delayed, &delayed, &mut out);
    group(Action::Delivered, "Your message was delivered to the following recipients:", &mut out);
    group(
        Action::Relayed,
        "Your message was handed on to the following recipients' mail systems, which send no further reports:",
        &mut out,
    );
    out
}

/// Builds the report body. `retry_until`: when delivery of a delayed recipient will be given up.
pub fn build(
    hostname: &str,
    msg: &QueuedMessage,
    reports: &[Report],
    original: &[u8],
    now: i64,
    retry_until: i64,
) -> Vec<u8> {
    let boundary = format!("=_hato_{}", crate::ids::token(16));
    let date = crate::clock::rfc5322(now);
    let mut out = String::new();
    out.push_str(&format!("From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n"));
    out.push_str(&format!("To: <{}>\r\n", msg.sender));
    out.push_str(&format!("Subject: {}\r\n", subject(reports)));
    out.push_str(&format!("Date: {date}\r\n"));
    out.push_str(&format!("Message-ID: <{}.dsn.{}@{hostname}>\r\n", msg.id, crate::ids::token(8)));
    out.push_str("Auto-Submitted: auto-replied\r\n");
    out.push_str("MIME-Version: 1.0\r\n");
    out.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    ));
    out.push_str(&format!("--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"));
    out.push_str(&preface(reports, hostname, retry_until));
    out.push_str(&format!("--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"));
    if let Some(envid) = &msg.dsn.envid {
        out.push_str(&format!("Original-Envelope-Id: {}\r\n", one_line(envid)));
    }
    out.push_str(&format!("Reporting-MTA: dns; {hostname}\r\n"));
    out.push_str(&format!("X-Hato-Queue-ID: {}\r\n", msg.id));
    out.push_str(&format!("Arrival-Date: {}\r\n", crate::clock::rfc5322(msg.received)));
    for r in reports {
        out.push_str("\r\n");
        if let Some(o) = &r.orcpt {
            out.push_str(&format!("Original-Recipient: rfc822; {}\r\n", one_line(o)));
        }
        out.push_str(&format!(
            "Final-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\n",
            r.recipient,
            r.action.as_str(),
            r.status
        ));
        if !r.diagnostic.is_empty() {
            out.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", one_line(&r.diagnostic)));
        }
        if r.action == Action::Delayed {
            out.push_str(&format!("Will-Retry-Until: {}\r\n", crate::clock::rfc5322(retry_until)));
        }
    }
    let full = msg.dsn.ret == Some(Ret::Full) && reports.iter().any(|r| r.action == Action::Failed);
    let (kind, returned) =
        if full { ("message/rfc822", original) } else { ("text/rfc822-headers", header_of(original)) };
    out.push_str(&format!("\r\n--{boundary}\r\nContent-Type: {kind}\r\n\r\n"));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(returned);
    if !returned.ends_with(b"\r\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
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
    use crate::store::EnvelopeDsn;

    fn queued(dsn: EnvelopeDsn) -> QueuedMessage {
        QueuedMessage {
            id: Id(42),
            sender: "alice@example.test".into(),
            received: 0,
            size: 10,
            client_ip: "127.0.0.1".into(),
            helo: "h".into(),
            auth_user: None,
            message_id: "<m@x>".into(),
            subject: "s".into(),
            dsn,
            entries: vec![],
        }
    }

    fn report(action: Action, orcpt: Option<&str>) -> Report {
        Report {
            recipient: "bob@far.test".into(),
            orcpt: orcpt.map(String::from),
            action,
            status: "5.1.1".into(),
            diagnostic: "far.test said at RCPT: 550 5.1.1 no\nsuch user".into(),
        }
    }

    const ORIGINAL: &[u8] = b"Subject: s\r\nFrom: a\r\n\r\nsecret body\r\n";

    #[test]
    fn a_failure_returns_the_header_only() {
        let body =
            build("mx.example.test", &queued(EnvelopeDsn::default()), &[report(Action::Failed, None)], ORIGINAL, 0, 0);
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("Subject: Undelivered Mail Returned to Sender"));
        assert!(text.contains("report-type=delivery-status"));
        assert!(text.contains("Final-Recipient: rfc822; bob@far.test\r\nAction: failed\r\nStatus: 5.1.1"));
        assert!(text.contains("Content-Type: text/rfc822-headers\r\n\r\nSubject: s\r\nFrom: a\r\n"));
        assert!(!text.contains("secret body"));
        assert!(text.contains("no such user"));
        assert!(!text.contains("Original-Envelope-Id"));
    }

    #[test]
    fn ret_full_envid_and_orcpt_are_honoured() {
        let dsn = EnvelopeDsn { ret: Some(Ret::Full), envid: Some("QQ314159".into()) };
        let body = build("mx", &queued(dsn), &[report(Action::Failed, Some("Bob@Far.test"))], ORIGINAL, 0, 0);
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("Original-Envelope-Id: QQ314159\r\n"));
        assert!(text.contains("Original-Recipient: rfc822; Bob@Far.test\r\nFinal-Recipient: rfc822; bob@far.test"));
        assert!(text.contains("Content-Type: message/rfc822\r\n\r\nSubject: s\r\nFrom: a\r\n\r\nsecret body\r\n"));
    }

    #[test]
    fn a_delay_report_says_until_when_and_returns_headers_even_with_ret_full() {
        let dsn = EnvelopeDsn { ret: Some(Ret::Full), envid: None };
        let mut r = report(Action::Delayed, None);
        r.status = "4.4.1".into();
        let body = build("mx", &queued(dsn), &[r], ORIGINAL, 0, 86_400);
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("Subject: Delayed Mail (still being retried)"));
        assert!(text.contains("Action: delayed\r\nStatus: 4.4.1\r\n"));
        assert!(text.contains("Will-Retry-Until: Fri, 2 Jan 1970"));
        assert!(!text.contains("secret body"));
    }

    #[test]
    fn status_from_diagnostic() {
        assert_eq!(status_of("mx said: 550 5.1.1 unknown"), "5.1.1");
        assert_eq!(status_of("451 4.7.1 try later (expired)"), "5.7.1");
        assert_eq!(status_of("connection refused"), "5.0.0");
    }
}
