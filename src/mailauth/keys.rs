//! DKIM keys: made by `hato ctl dkim generate`, kept in the store, published
//! by the administrator as a TXT record, used to sign submitted mail.

use base64::Engine;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use mail_auth::dkim::generate::DkimKeyPair;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer};
use thiserror::Error;

use crate::store::DkimKey;

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("unknown DKIM algorithm {0:?}; use rsa or ed25519")]
    Algorithm(String),
    #[error("RSA keys must have 2048 to 4096 bits (2048 is the usual choice), not {0}")]
    Bits(usize),
    #[error("the selector {0:?} is not a DNS label (letters, digits and '-')")]
    Selector(String),
    #[error("could not make or use the DKIM key: {0}")]
    Crypto(String),
}

/// Headers signed: what a reader sees and what replies and threads rely on.
const SIGNED: [&str; 11] = [
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
];

pub fn generate(domain: &str, selector: &str, algorithm: &str, bits: usize) -> Result<DkimKey, KeyError> {
    if selector.is_empty() || !selector.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(KeyError::Selector(selector.into()));
    }
    let pair = match algorithm {
        "rsa" if (2048..=4096).contains(&bits) => DkimKeyPair::generate_rsa(bits),
        "rsa" => return Err(KeyError::Bits(bits)),
        "ed25519" => DkimKeyPair::generate_ed25519(),
        other => return Err(KeyError::Algorithm(other.into())),
    }
    .map_err(|e| KeyError::Crypto(e.to_string()))?;
    let (private_key, public_key) = pair.into_inner();
    Ok(DkimKey {
        domain: domain.into(),
        selector: selector.into(),
        algorithm: algorithm.into(),
        private_key,
        public_key,
    })
}

/// The TXT record to publish: (name, value).
pub fn dns_record(k: &DkimKey) -> (String, String) {
    let (kind, public) = match k.algorithm.as_str() {
        // Published as SubjectPublicKeyInfo, the form every verifier reads.
        "rsa" => ("rsa", spki_rsa(&k.public_key)),
        _ => ("ed25519", k.public_key.clone()),
    };
    let p = base64::engine::general_purpose::STANDARD.encode(public);
    (format!("{}._domainkey.{}.", k.selector, k.domain), format!("v=DKIM1; k={kind}; p={p}"))
}

/// The DKIM-Signature header line(s) for a message.
pub fn sign(k: &DkimKey, message: &[u8]) -> Result<String, KeyError> {
    let crypto = |e: mail_auth::Error| KeyError::Crypto(e.to_string());
    let signature = match k.algorithm.as_str() {
        "rsa" => {
            let der = PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(k.private_key.as_slice()));
            let key = RsaKey::<Sha256>::from_key_der(der).map_err(crypto)?;
            DkimSigner::from_key(key)
                .domain(&k.domain)
                .selector(&k.selector)
                .headers(SIGNED)
                .sign(message)
                .map_err(crypto)?
        }
        "ed25519" => {
            let key = Ed25519Key::from_pkcs8_der(&k.private_key).map_err(crypto)?;
            DkimSigner::from_key(key)
                .domain(&k.domain)
                .selector(&k.selector)
                .headers(SIGNED)
                .sign(message)
                .map_err(crypto)?
        }
        other => return Err(KeyError::Algorithm(other.into())),
    };
    Ok(signature.to_header())
}

fn der_len(n: usize) -> Vec<u8> {
    match n {
        0..=127 => vec![n as u8],
        128..=255 => vec![0x81, n as u8],
        _ => vec![0x82, (n >> 8) as u8, n as u8],
    }
}

/// Wraps a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo (RFC 5280).
fn spki_rsa(pkcs1: &[u8]) -> Vec<u8> {
    // SEQUENCE { OID 1.2.840.113549.1.1.1 (rsaEncryption), NULL }
    const ALGORITHM: [u8; 15] =
        [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    let mut bits = vec![0x03];
    bits.extend(der_len(pkcs1.len() + 1));
    bits.push(0); // no unused bits
    bits.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    out.extend(der_len(ALGORITHM.len() + bits.len()));
    out.extend_from_slice(&ALGORITHM);
    out.extend(bits);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sign_and_publish() {
        for (alg, bits) in [("rsa", 2048), ("ed25519", 0)] {
            let k = generate("example.test", "s1", alg, bits).unwrap();
            let (name, value) = dns_record(&k);
            assert_eq!(name, "s1._domainkey.example.test.");
            assert!(value.starts_with(&format!("v=DKIM1; k={alg}; p=")), "{value}");
            let h = sign(&k, b"From: a@example.test\r\nSubject: hi\r\n\r\nbody\r\n").unwrap();
            assert!(h.starts_with("DKIM-Signature: ") && h.contains("d=example.test") && h.contains("s=s1"), "{h}");
        }
        assert!(matches!(generate("example.test", "bad selector", "rsa", 2048), Err(KeyError::Selector(_))));
        assert!(matches!(generate("example.test", "s", "dsa", 2048), Err(KeyError::Algorithm(_))));
        assert!(matches!(generate("example.test", "s", "rsa", 512), Err(KeyError::Bits(512))));
        // The SPKI wrapper around a PKCS#1 key of 270 bytes (2048-bit) has long-form lengths.
        let spki = spki_rsa(&[0u8; 270]);
        assert_eq!(&spki[..4], &[0x30, 0x82, 0x01, 0x22]);
    }
}
