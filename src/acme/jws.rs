//! The ACME account key and the JSON Web Signatures (RFC 7515, ES256) every
//! ACME request is wrapped in (RFC 8555 §6.2). The key is ECDSA P-256,
//! made once and kept (PKCS#8) beside the certificate it obtains.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use super::AcmeError;

pub fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub struct AccountKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl AccountKey {
    /// The key in `path`, made and written there (mode 0600) the first time.
    pub fn load_or_create(path: &Path) -> Result<AccountKey, AcmeError> {
        let rng = SystemRandom::new();
        let file = |e: std::io::Error| AcmeError::File { path: path.into(), message: e.to_string() };
        let pkcs8 = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let made = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| AcmeError::Key("cannot generate an account key".into()))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(file)?;
                }
                crate::files::write_private(path, made.as_ref()).map_err(file)?;
                made.as_ref().to_vec()
            }
            Err(e) => return Err(file(e)),
        };
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng).map_err(|e| {
            AcmeError::Key(format!("{} is not a P-256 key ({e}); remove it to make a new one", path.display()))
        })?;
        Ok(AccountKey { pair, rng })
    }

    /// The public key as a JWK, members in the order RFC 7638 hashes them.
    pub fn jwk(&self) -> Value {
        // An uncompressed point: 0x04, then X and Y (32 bytes each).
        let point = self.pair.public_key().as_ref();
        json!({ "crv": "P-256", "kty": "EC", "x": b64(&point[1..33]), "y": b64(&point[33..65]) })
    }

    /// RFC 7638 thumbprint: what key authorizations end with.
    pub fn thumbprint(&self) -> String {
        let jwk = self.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap_or_default(),
            jwk["y"].as_str().unwrap_or_default()
        );
        b64(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// A flattened JWS of `payload` (None: the empty POST-as-GET payload)
    /// for `url`, naming the account by `kid` or, before there is one, by its key.
    pub fn sign(
        &self,
        url: &str,
        nonce: &str,
        kid: Option<&str>,
        payload: Option<&Value>,
    ) -> Result<Vec<u8>, AcmeError> {
        let mut protected = json!({ "alg": "ES256", "nonce": nonce, "url": url });
        match kid {
            Some(k) => protected["kid"] = json!(k),
            None => protected["jwk"] = self.jwk(),
        }
        let protected = b64(protected.to_string().as_bytes());
        let payload = payload.map(|p| b64(p.to_string().as_bytes())).unwrap_or_default();
        let input = format!("{protected}.{payload}");
        let sig = self.pair.sign(&self.rng, input.as_bytes()).map_err(|_| AcmeError::Key("cannot sign".into()))?;
        Ok(json!({ "protected": protected, "payload": payload, "signature": b64(sig.as_ref()) })
            .to_string()
            .into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    #[test]
    fn signatures_verify_with_the_published_key() {
        let dir = std::env::temp_dir().join(format!("hato-acme-key-{}", std::process::id()));
        let key = AccountKey::load_or_create(&dir.join("account.pk8")).unwrap();
        let again = AccountKey::load_or_create(&dir.join("account.pk8")).unwrap();
        assert_eq!(key.thumbprint(), again.thumbprint(), "the key is kept");
        let body: Value =
            serde_json::from_slice(&key.sign("https://ca/new", "n1", None, Some(&json!({"a": 1}))).unwrap()).unwrap();
        let input = format!("{}.{}", body["protected"].as_str().unwrap(), body["payload"].as_str().unwrap());
        let sig = URL_SAFE_NO_PAD.decode(body["signature"].as_str().unwrap()).unwrap();
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.pair.public_key().as_ref().to_vec());
        assert!(public.verify(input.as_bytes(), &sig).is_ok());
        let protected: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body["protected"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!((protected["alg"].as_str(), protected["jwk"]["crv"].as_str()), (Some("ES256"), Some("P-256")));
        let with_kid: Value = serde_json::from_slice(&key.sign("u", "n", Some("acct"), None).unwrap()).unwrap();
        assert_eq!(with_kid["payload"], "", "POST-as-GET");
        let _ = std::fs::remove_dir_all(dir);
    }
}
