//! What a sender asked to be told about its message (RFC 3461 DSN
//! parameters): kept with the queued message and each recipient, read by
//! the queue runner when it reports a failure, a delay or a delivery, and
//! passed on to a next hop that offers DSN.

use serde::Serialize;

/// RET: how much of the message a failure report returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Ret {
    Full,
    Headers,
}

impl Ret {
    /// The parameter value, as written in MAIL FROM and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Ret::Full => "FULL",
            Ret::Headers => "HDRS",
        }
    }

    pub fn parse(s: &str) -> Option<Ret> {
        match s {
            "FULL" => Some(Ret::Full),
            "HDRS" => Some(Ret::Headers),
            _ => None,
        }
    }
}

/// MAIL FROM's DSN parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EnvelopeDsn {
    pub ret: Option<Ret>,
    /// ENVID, decoded from xtext: the sender's own name for the transaction.
    pub envid: Option<String>,
}

/// NOTIFY: which events the sender wants reported for one recipient. All
/// false is NEVER.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Notify {
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

impl Notify {
    pub const NEVER: Notify = Notify { success: false, failure: false, delay: false };

    /// Parses the stored or written form: "NEVER" or a comma list of SUCCESS, FAILURE, DELAY.
    pub fn parse(s: &str) -> Option<Notify> {
        if s.eq_ignore_ascii_case("NEVER") {
            return Some(Notify::NEVER);
        }
        let mut n = Notify::NEVER;
        for word in s.split(',') {
            match word.trim().to_ascii_uppercase().as_str() {
                "SUCCESS" => n.success = true,
                "FAILURE" => n.failure = true,
                "DELAY" => n.delay = true,
                _ => return None,
            }
        }
        Some(n)
    }
}

impl std::fmt::Display for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words: Vec<&str> = [(self.success, "SUCCESS"), (self.failure, "FAILURE"), (self.delay, "DELAY")]
            .into_iter()
            .filter_map(|(on, w)| on.then_some(w))
            .collect();
        if words.is_empty() { f.write_str("NEVER") } else { f.write_str(&words.join(",")) }
    }
}

/// RCPT TO's DSN parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RecipientDsn {
    /// None: the sender did not say, which RFC 3461 §4.1 reads as FAILURE,DELAY.
    pub notify: Option<Notify>,
    /// ORCPT's address (type rfc822), decoded from xtext.
    pub orcpt: Option<String>,
}

impl RecipientDsn {
    pub fn wants_failure(&self) -> bool {
        self.notify.is_none_or(|n| n.failure)
    }

    pub fn wants_delay(&self) -> bool {
        self.notify.is_none_or(|n| n.delay)
    }

    pub fn wants_success(&self) -> bool {
        self.notify.is_some_and(|n| n.success)
    }
}

/// RFC 3461 §4 xtext: what ENVID and ORCPT values look like on the wire.
/// Everything outside "!".."~", and "+" and "=", is written as +XX.
pub fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_round_trips() {
        for s in ["NEVER", "SUCCESS", "FAILURE,DELAY", "SUCCESS,FAILURE,DELAY"] {
            assert_eq!(Notify::parse(s).map(|n| n.to_string()).as_deref(), Some(s));
        }
        assert_eq!(Notify::parse("delay, success").map(|n| n.to_string()).as_deref(), Some("SUCCESS,DELAY"));
        assert_eq!(Notify::parse("SOMETIMES"), None);
    }

    #[test]
    fn unspecified_notify_means_failure_and_delay() {
        let d = RecipientDsn::default();
        assert!(d.wants_failure() && d.wants_delay() && !d.wants_success());
        let never = RecipientDsn { notify: Some(Notify::NEVER), orcpt: None };
        assert!(!never.wants_failure() && !never.wants_delay() && !never.wants_success());
    }

    #[test]
    fn xtext_encodes_plus_equals_and_controls() {
        assert_eq!(xtext("a+b=c d@x.example"), "a+2Bb+3Dc+20d@x.example");
    }
}
