//! Mailbox names on the wire (RFC 3501 §5.1.3, modified UTF-7). The store
//! keeps names in UTF-8; IMAP4rev1 clients see and send the modified UTF-7
//! form, so "受信" travels as "&U9dP4Q-".

use base64::Engine;
use base64::alphabet::IMAP_MUTF7;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const B64: GeneralPurpose = GeneralPurpose::new(
    &IMAP_MUTF7,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if !pending.is_empty() {
            let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
            out.push('&');
            out.push_str(&B64.encode(bytes));
            out.push('-');
            pending.clear();
        }
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes a name a client sent. Raw UTF-8 is accepted as it is (clients that
/// never learned modified UTF-7 send it); damaged `&…-` runs are refused.
pub fn decode(wire: &[u8]) -> Result<String, &'static str> {
    let s = std::str::from_utf8(wire).map_err(|_| "the mailbox name is neither modified UTF-7 nor UTF-8")?;
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find('-').ok_or("unterminated &-sequence in the mailbox name")?;
        let run = &after[..end];
        if run.is_empty() {
            out.push('&');
        } else {
            let bytes = B64.decode(run).map_err(|_| "bad base64 in the mailbox name's &-sequence")?;
            if bytes.len() % 2 != 0 {
                return Err("odd byte count in the mailbox name's &-sequence");
            }
            let units: Vec<u16> = bytes.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
            let text = String::from_utf16(&units).map_err(|_| "broken UTF-16 in the mailbox name's &-sequence")?;
            if text.chars().any(|c| (' '..='~').contains(&c)) {
                return Err("printable ASCII must not be encoded in a mailbox name");
            }
            out.push_str(&text);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for name in ["INBOX", "受信箱", "Tom & Jerry", "日本語/サブ", "~peter/mail/台北/日本語", "a😀b"]
        {
            assert_eq!(decode(encode(name).as_bytes()).unwrap(), name);
        }
        assert_eq!(encode("&"), "&-");
        // RFC 3501 §5.1.3's example.
        assert_eq!(encode("~peter/mail/台北/日本語"), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
    }

    #[test]
    fn refuses_damage() {
        assert!(decode(b"&U,BTFw").is_err());
        assert!(decode(b"&U,B-").is_err());
        assert!(decode(b"&AGE-").is_err(), "encoded 'a'");
        assert!(decode(b"\xff\xfe").is_err());
        assert_eq!(decode("生UTF-8".as_bytes()).unwrap(), "生UTF-8");
    }
}
