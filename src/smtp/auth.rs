//! SASL PLAIN (RFC 4616) and LOGIN decoding. Pure functions; the session
//! decides when they are allowed and what a failure costs.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

#[derive(Debug, PartialEq, Eq)]
pub enum SaslError {
    BadBase64,
    Malformed,
}

pub fn decode_b64(s: &str) -> Result<Vec<u8>, SaslError> {
    let s = s.trim();
    if s == "=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(s).map_err(|_| SaslError::BadBase64)
}

pub fn encode_b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// PLAIN: `authzid NUL authcid NUL password`. An authzid other than the
/// login itself would mean acting as another user, which Hato does not allow.
pub fn decode_plain(b64: &str) -> Result<(String, String), SaslError> {
    let raw = decode_b64(b64)?;
    let parts: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
    let [authz, user, pass] = parts[..] else { return Err(SaslError::Malformed) };
    let user = std::str::from_utf8(user).map_err(|_| SaslError::Malformed)?;
    let pass = std::str::from_utf8(pass).map_err(|_| SaslError::Malformed)?;
    let authz = std::str::from_utf8(authz).map_err(|_| SaslError::Malformed)?;
    if user.is_empty() || (!authz.is_empty() && !authz.eq_ignore_ascii_case(user)) {
        return Err(SaslError::Malformed);
    }
    Ok((user.to_string(), pass.to_string()))
}

pub fn decode_text(b64: &str) -> Result<String, SaslError> {
    String::from_utf8(decode_b64(b64)?).map_err(|_| SaslError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain() {
        assert_eq!(decode_plain(&encode_b64(b"\0u@x\0pw")), Ok(("u@x".into(), "pw".into())));
        assert_eq!(decode_plain(&encode_b64(b"u@x\0u@x\0pw")), Ok(("u@x".into(), "pw".into())));
        assert_eq!(decode_plain(&encode_b64(b"admin\0u@x\0pw")), Err(SaslError::Malformed));
        assert_eq!(decode_plain(&encode_b64(b"u@x\0pw")), Err(SaslError::Malformed));
        assert_eq!(decode_plain("!!notbase64"), Err(SaslError::BadBase64));
        assert_eq!(decode_plain(&encode_b64(b"\0\xff\0pw")), Err(SaslError::Malformed));
    }

    #[test]
    fn login_text() {
        assert_eq!(decode_text("dXNlcg=="), Ok("user".into()));
        assert_eq!(decode_text("="), Ok(String::new()));
        assert!(decode_text("***").is_err());
    }
}
