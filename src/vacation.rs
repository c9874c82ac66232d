//! Vacation auto-replies with RFC 5230's manners: at most one reply per
//! sender per period (remembered in the store, so across restarts), never to
//! automatic mail, mailing lists, bounces or no-reply senders, and only when
//! the account was addressed directly (To/Cc), not via Bcc or a list.
//! The Sieve `vacation` action will reuse `decide` and `reply`.

use crate::smtp::message;

/// An account's auto-reply.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Vacation {
    pub subject: String,
    pub body: String,
    /// Reply to the same sender at most once in this many days.
    pub days: u32,
}

/// Whether a message gets an auto-reply; Err says why not (for the log).
pub fn decide(account: &str, rcpt: &str, sender: &str, fields: &[(String, String)]) -> Result<(), &'static str> {
    let s = sender.to_ascii_lowercase();
    let local = s.split('@').next().unwrap_or("");
    if s.is_empty() {
        return Err("a bounce (null sender)");
    }
    if s == account.to_ascii_lowercase() {
        return Err("the account's own mail");
    }
    let robot =
        ["mailer-daemon", "postmaster", "listserv", "majordomo", "noreply", "no-reply", "do-not-reply", "donotreply"];
    if robot.contains(&local)
        || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.ends_with("-bounces")
    {
        return Err("an automatic sender");
    }
    if message::get(fields, "Auto-Submitted").is_some_and(|v| !v.trim().eq_ignore_ascii_case("no")) {
        return Err("Auto-Submitted mail");
    }
    if ["List-Id", "List-Post", "List-Unsubscribe"].iter().any(|h| message::get(fields, h).is_some()) {
        return Err("mailing-list mail");
    }
    if message::get(fields, "Precedence")
        .is_some_and(|p| ["bulk", "list", "junk"].contains(&p.trim().to_ascii_lowercase().as_str()))
    {
        return Err("bulk mail");
    }
    let direct = ["To", "Cc"].iter().filter_map(|h| message::get(fields, h)).any(|v| {
        let v = v.to_ascii_lowercase();
        v.contains(&account.to_ascii_lowercase()) || v.contains(&rcpt.to_ascii_lowercase())
    });
    if !direct {
        return Err("not addressed directly (Bcc or a list)");
    }
    Ok(())
}

/// RFC 2047 for a header value that is not plain ASCII.
fn encode_word(s: &str) -> String {
    if s.is_ascii() { s.to_string() } else { format!("=?UTF-8?B?{}?=", crate::smtp::auth::encode_b64(s.as_bytes())) }
}

/// The reply message (RFC 5230 §5): Auto-Submitted: auto-replied, threaded to the original.
pub fn reply(
    v: &Vacation,
    account: &str,
    display: &str,
    to: &str,
    fields: &[(String, String)],
    hostname: &str,
) -> Vec<u8> {
    let now = crate::clock::now();
    let original_subject = message::get(fields, "Subject").unwrap_or_default();
    let subject = if v.subject.is_empty() { format!("Auto: {original_subject}") } else { v.subject.clone() };
    let msgid = message::get(fields, "Message-ID").unwrap_or_default();
    let refs = message::get(fields, "References").map(|r| format!("{r} {msgid}")).unwrap_or_else(|| msgid.clone());
    let from =
        if display.is_empty() { format!("<{account}>") } else { format!("{} <{account}>", encode_word(display)) };
    let mut out = format!(
        "From: {from}\r\nTo: <{to}>\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{}.vacation@{hostname}>\r\n",
        encode_word(&subject),
        crate::clock::rfc5322(now),
        crate::ids::token(16)
    );
    if !msgid.is_empty() {
        out.push_str(&format!("In-Reply-To: {msgid}\r\nReferences: {}\r\n", refs.trim()));
    }
    out.push_str("Auto-Submitted: auto-replied (vacation)\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
    for line in v.body.lines() {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(h: &str) -> Vec<(String, String)> {
        message::fields(h.as_bytes())
    }

    #[test]
    fn who_gets_a_reply() {
        let direct = f("To: Alice <alice@hato.test>\r\nSubject: hi\r\n\r\n");
        assert_eq!(decide("alice@hato.test", "alice@hato.test", "bob@example.org", &direct), Ok(()));
        assert!(decide("alice@hato.test", "alice@hato.test", "", &direct).is_err());
        assert!(decide("alice@hato.test", "alice@hato.test", "MAILER-DAEMON@example.org", &direct).is_err());
        assert!(decide("alice@hato.test", "alice@hato.test", "no-reply@shop.example", &direct).is_err());
        assert!(decide("alice@hato.test", "alice@hato.test", "list-request@example.org", &direct).is_err());
        let auto = f("To: alice@hato.test\r\nAuto-Submitted: auto-replied\r\n\r\n");
        assert_eq!(decide("alice@hato.test", "alice@hato.test", "bob@example.org", &auto), Err("Auto-Submitted mail"));
        let list = f("To: dev@lists.example\r\nList-Id: <dev.lists.example>\r\n\r\n");
        assert_eq!(decide("alice@hato.test", "alice@hato.test", "bob@example.org", &list), Err("mailing-list mail"));
        let bulk = f("To: alice@hato.test\r\nPrecedence: bulk\r\n\r\n");
        assert!(decide("alice@hato.test", "alice@hato.test", "bob@example.org", &bulk).is_err());
        let bcc = f("To: someone@else.example\r\n\r\n");
        assert_eq!(
            decide("alice@hato.test", "alice@hato.test", "bob@example.org", &bcc),
            Err("not addressed directly (Bcc or a list)")
        );
        let alias = f("To: info@hato.test\r\n\r\n");
        assert_eq!(decide("alice@hato.test", "info@hato.test", "bob@example.org", &alias), Ok(()));
    }

    #[test]
    fn reply_is_marked_and_threaded() {
        let v = Vacation {
            subject: "不在のお知らせ".into(), body: "12月1日まで不在です。\nThanks".into(), days: 7
        };
        let orig = f("Subject: plan\r\nMessage-ID: <m1@example.org>\r\n\r\n");
        let r =
            String::from_utf8(reply(&v, "alice@hato.test", "山田", "bob@example.org", &orig, "mx.hato.test")).unwrap();
        assert!(r.contains("Auto-Submitted: auto-replied"), "{r}");
        assert!(r.contains("In-Reply-To: <m1@example.org>\r\nReferences: <m1@example.org>\r\n"), "{r}");
        assert!(r.contains("Subject: =?UTF-8?B?"), "{r}");
        assert!(r.ends_with("12月1日まで不在です。\r\nThanks\r\n"), "{r}");
    }
}
