//! Mail addresses as Hato stores and compares them.
//!
//! Addresses are kept lower-cased: local parts are case-insensitive in practice
//! for every mail system a company runs, and comparing one form everywhere keeps
//! the directory, the queue and the logs in agreement.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AddressError {
    #[error("'{0}' is not an address: it needs exactly one local part, an '@' and a domain")]
    Malformed(String),
    #[error("'{0}' routes through another host (%, ! or a quoted '@'); Hato does not relay that way")]
    Routed(String),
    #[error("'{0}' has an invalid domain: use letters, digits, '-' and dots")]
    BadDomain(String),
}

/// A parsed, lower-cased `local@domain`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    pub local: String,
    pub domain: String,
}

impl Address {
    /// Parses an address from an envelope or from an admin, refusing the
    /// forms relay abusers use (percent hack, bang paths, quoted `@`).
    pub fn parse(raw: &str) -> Result<Address, AddressError> {
        let raw = raw.trim();
        let at = raw.rfind('@').ok_or_else(|| AddressError::Malformed(raw.into()))?;
        let (local, domain) = (&raw[..at], &raw[at + 1..]);
        if local.is_empty() || local.len() > 64 || raw.len() > 254 {
            return Err(AddressError::Malformed(raw.into()));
        }
        if local.contains(['@', '%', '!']) {
            return Err(AddressError::Routed(raw.into()));
        }
        if local.chars().any(|c| c.is_control() || c == ' ' || c == '<' || c == '>') {
            return Err(AddressError::Malformed(raw.into()));
        }
        let domain = normalize_domain(domain)?;
        Ok(Address { local: local.to_lowercase(), domain })
    }

    pub fn as_string(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// Lower-cases a domain and checks it is a plausible host name (UTF-8 labels allowed for SMTPUTF8).
pub fn normalize_domain(domain: &str) -> Result<String, AddressError> {
    let d = domain.trim().trim_end_matches('.').to_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-' || !c.is_ascii())
        });
    if ok { Ok(d) } else { Err(AddressError::BadDomain(domain.into())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_lowercases() {
        let a = Address::parse("Alice.Smith@Example.COM").unwrap();
        assert_eq!(a.local, "alice.smith");
        assert_eq!(a.domain, "example.com");
        assert_eq!(a.to_string(), "alice.smith@example.com");
    }

    #[test]
    fn refuses_relay_tricks() {
        assert!(matches!(Address::parse("bob%evil.com@example.com"), Err(AddressError::Routed(_))));
        assert!(matches!(Address::parse("evil.com!bob@example.com"), Err(AddressError::Routed(_))));
        assert!(matches!(Address::parse("bob@evil.com@example.com"), Err(AddressError::Routed(_))));
    }

    #[test]
    fn refuses_malformed() {
        for bad in ["", "@x.com", "bob@", "bob", "a b@x.com", "bob@-x.com", "bob@x..com"] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
        assert!(Address::parse("日本@例え.jp").is_ok());
    }
}
