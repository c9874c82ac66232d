//! SMTP-level reject lists: refuse known-bad clients, HELO names and senders
//! before a message is ever received. Each check returns the rule that matched,
//! so the log says why.

use std::net::IpAddr;

use crate::config::PolicyConfig;

pub fn ip_rejected(p: &PolicyConfig, ip: IpAddr) -> bool {
    p.reject_ips.iter().any(|c| c.contains(ip))
}

/// Entries match exactly, or as a suffix when they start with '.' (".spam.example").
pub fn helo_rejected<'a>(p: &'a PolicyConfig, helo: &str) -> Option<&'a str> {
    let helo = helo.to_lowercase();
    p.reject_helo.iter().map(String::as_str).find(|rule| {
        let rule_l = rule.to_lowercase();
        if rule_l.starts_with('.') { helo.ends_with(&rule_l) } else { helo == rule_l }
    })
}

/// Entries are a full address or "@domain".
pub fn sender_rejected<'a>(p: &'a PolicyConfig, sender: &str) -> Option<&'a str> {
    let sender = sender.to_lowercase();
    let domain = sender.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    p.reject_senders.iter().map(String::as_str).find(|rule| {
        let rule_l = rule.to_lowercase();
        match rule_l.strip_prefix('@') {
            Some(d) => !domain.is_empty() && domain == d,
            None => sender == rule_l,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PolicyConfig {
        PolicyConfig {
            reject_ips: vec!["203.0.113.0/24".parse().unwrap()],
            reject_helo: vec!["localhost.localdomain".into(), ".bad.example".into()],
            reject_senders: vec!["spammer@example.com".into(), "@junk.example".into()],
        }
    }

    #[test]
    fn matches_rules() {
        let p = policy();
        assert!(ip_rejected(&p, "203.0.113.9".parse().unwrap()));
        assert!(!ip_rejected(&p, "198.51.100.1".parse().unwrap()));
        assert_eq!(helo_rejected(&p, "LOCALHOST.localdomain"), Some("localhost.localdomain"));
        assert_eq!(helo_rejected(&p, "host.bad.example"), Some(".bad.example"));
        assert_eq!(helo_rejected(&p, "good.example"), None);
        assert_eq!(sender_rejected(&p, "Spammer@Example.com"), Some("spammer@example.com"));
        assert_eq!(sender_rejected(&p, "anyone@junk.example"), Some("@junk.example"));
        assert_eq!(sender_rejected(&p, "anyone@notjunk.example"), None);
        assert_eq!(sender_rejected(&p, ""), None);
    }
}
