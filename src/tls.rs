//! Server TLS: the configured certificate, or a self-signed one made on first
//! start, and per-name certificates chosen by SNI (`[tls] sni`); and the
//! roots outbound TLS trusts when it verifies a certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::sync::RwLock;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, SniCertificate};

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("cannot write the self-signed certificate to {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
    #[error("the certificate and key do not form a usable TLS configuration: {0}")]
    Config(String),
    #[error("{path} holds no usable PEM CA certificate ({message}); give the CA's certificate in PEM form")]
    Roots { path: PathBuf, message: String },
}

/// The certificates outbound TLS trusts: the public web PKI (Mozilla's list,
/// built in, so the appliance needs no CA files) and those of `extra`, a
/// PEM file for a private CA (e.g. a company smarthost's).
pub fn client_roots(extra: Option<&Path>) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = extra {
        let pem = std::fs::read(path).map_err(|e| TlsError::Read { path: path.into(), message: e.to_string() })?;
        let roots_err = |message: String| TlsError::Roots { path: path.into(), message };
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(&pem).collect::<Result<_, _>>().map_err(|e| roots_err(e.to_string()))?;
        if certs.is_empty() {
            return Err(roots_err("no CERTIFICATE block".into()));
        }
        for c in certs {
            roots.add(c).map_err(|e| roots_err(e.to_string()))?;
        }
    }
    Ok(roots)
}

/// When the first certificate of a PEM chain expires (unix time): its
/// validity's notAfter, read straight from the DER (X.509 §4.1).
pub fn not_after(cert_pem: &[u8]) -> Option<i64> {
    let der = CertificateDer::pem_slice_iter(cert_pem).next()?.ok()?;
    let (_, cert) = der_take(der.as_ref(), 0x30)?;
    let (_, mut tbs) = der_take(cert, 0x30)?;
    if tbs.first() == Some(&0xa0) {
        tbs = der_take(tbs, 0xa0)?.0; // version
    }
    for tag in [0x02, 0x30, 0x30] {
        tbs = der_take(tbs, tag)?.0; // serial, signature algorithm, issuer
    }
    let (_, validity) = der_take(tbs, 0x30)?;
    let not_before_tag = *validity.first()?;
    let (rest, _) = der_take(validity, not_before_tag)?;
    let tag = *rest.first()?;
    let (_, t) = der_take(rest, tag)?;
    let t = std::str::from_utf8(t).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = t.get(..2)?.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, t.get(2..)?)
        }
        0x18 => (t.get(..4)?.parse().ok()?, t.get(4..)?),
        _ => return None,
    };
    let num = |r: std::ops::Range<usize>| rest.get(r)?.parse::<u32>().ok();
    let days = crate::clock::days_from_civil(year, num(0..2)?, num(2..4)?);
    Some(days * 86_400 + i64::from(num(4..6)?) * 3600 + i64::from(num(6..8)?) * 60 + i64::from(num(8..10)?))
}

/// Splits one DER element with `tag` off the front of `b`: (what follows, its content).
/// The SubjectPublicKeyInfo of a DER certificate, tag and length included
/// (what a DANE record with selector 1 hashes).
pub fn spki(cert_der: &[u8]) -> Option<&[u8]> {
    let (_, cert) = der_take(cert_der, 0x30)?;
    let (_, mut tbs) = der_take(cert, 0x30)?;
    if tbs.first() == Some(&0xa0) {
        tbs = der_take(tbs, 0xa0)?.0; // version
    }
    for tag in [0x02, 0x30, 0x30, 0x30, 0x30] {
        tbs = der_take(tbs, tag)?.0; // serial, signature algorithm, issuer, validity, subject
    }
    let (rest, _) = der_take(tbs, 0x30)?;
    tbs.get(..tbs.len() - rest.len())
}

fn der_take(b: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *b.first()? != tag {
        return None;
    }
    let first = *b.get(1)?;
    let (len, head) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        (b.get(2..2 + n)?.iter().fold(0usize, |acc, x| (acc << 8) | *x as usize), 2 + n)
    };
    let end = head.checked_add(len)?;
    Some((b.get(end..)?, b.get(head..end)?))
}

/// Paths of the certificate and key in use, generating a self-signed pair when none is configured.
pub fn ensure_certificate(cfg: &Config) -> Result<(PathBuf, PathBuf), TlsError> {
    if let (Some(c), Some(k)) = (&cfg.tls.cert, &cfg.tls.key) {
        return Ok((c.clone(), k.clone()));
    }
    let dir = cfg.data_dir.join("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(&dir).map_err(|source| TlsError::Write { path: dir.clone(), source })?;
    let names = vec![cfg.hostname.clone(), "localhost".to_string()];
    let generated = rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    write_private(&key, generated.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert, generated.cert.pem()).map_err(|source| TlsError::Write { path: cert.clone(), source })?;
    tracing::warn!(target: "hato::tls", cert = %cert.display(), "no certificate configured; generated a self-signed one");
    Ok((cert, key))
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), TlsError> {
    crate::files::write_private(path, data).map_err(|source| TlsError::Write { path: path.into(), source })
}

fn certified(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Config(format!("the certificate is not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Config("no CERTIFICATE block found".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError::Config(format!("the private key is not PEM: {e}")))?;
    CertifiedKey::from_der(certs, key, &rustls::crypto::ring::default_provider())
        .map_err(|e| TlsError::Config(e.to_string()))
}

/// The certificate every TLS listener presents. An administrator can replace
/// it while the server runs (the web console's settings page): the new pair
/// is checked (it parses, the key matches the certificate), saved over the
/// files in use, and served from the next handshake on.
#[derive(Debug)]
pub struct Certificates {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// `[tls] sni`: certificates for the clients that name one of their names.
    by_name: Vec<(Vec<String>, Arc<CertifiedKey>)>,
}

fn read_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_pem = std::fs::read(cert).map_err(|e| TlsError::Read { path: cert.into(), message: e.to_string() })?;
    let key_pem = std::fs::read(key).map_err(|e| TlsError::Read { path: key.into(), message: e.to_string() })?;
    certified(&cert_pem, &key_pem)
}

/// Whether `pattern` ("mail.example.com" or "*.example.com", one label) names `host`.
fn names(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => {
            host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(parent))
        }
        None => pattern.eq_ignore_ascii_case(host),
    }
}

impl Certificates {
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Certificates>, TlsError> {
        Certificates::load_with_sni(cert, key, &[])
    }

    pub fn load_with_sni(cert: &Path, key: &Path, sni: &[SniCertificate]) -> Result<Arc<Certificates>, TlsError> {
        let ck = read_pair(cert, key)?;
        let by_name = sni
            .iter()
            .map(|s| Ok((s.names.clone(), Arc::new(read_pair(&s.cert, &s.key)?))))
            .collect::<Result<_, TlsError>>()?;
        Ok(Arc::new(Certificates {
            cert_path: cert.into(),
            key_path: key.into(),
            current: RwLock::new(Arc::new(ck)),
            by_name,
        }))
    }

    pub fn replace(&self, cert_pem: &[u8], key_pem: &[u8]) -> Result<(), TlsError> {
        let ck = certified(cert_pem, key_pem)?;
        write_private(&self.key_path, key_pem)?;
        let tmp = self.cert_path.with_extension("tmp");
        std::fs::write(&tmp, cert_pem)
            .and_then(|_| std::fs::rename(&tmp, &self.cert_path))
            .map_err(|source| TlsError::Write { path: self.cert_path.clone(), source })?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ck);
        tracing::info!(target: "hato::tls", cert = %self.cert_path.display(), "certificate replaced");
        Ok(())
    }

    /// SHA-256 of the certificate in use, as hex pairs (what browsers show).
    pub fn fingerprint(&self) -> String {
        let ck = self.current.read().unwrap_or_else(|p| p.into_inner()).clone();
        let der = ck.cert.first().map(|c| c.as_ref().to_vec()).unwrap_or_default();
        ring::digest::digest(&ring::digest::SHA256, &der)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(host) = hello.server_name()
            && let Some((_, ck)) = self.by_name.iter().find(|(n, _)| n.iter().any(|p| names(p, host)))
        {
            return Some(ck.clone());
        }
        Some(self.current.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// The handshake-signature half of a client's `ServerCertVerifier`: checked
/// with the algorithms of the `CryptoProvider` in field `$provider`, whatever
/// the verifier decides about the certificate itself.
#[macro_export]
macro_rules! verify_signatures_with {
    ($provider:tt) => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.$provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.$provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.$provider.signature_verification_algorithms.supported_schemes()
        }
    };
}

pub fn acceptor(certs: Arc<Certificates>) -> Result<TlsAcceptor, TlsError> {
    let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_read_from_the_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["a.example".to_string()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 7, 9);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(not_after(cert.pem().as_bytes()), Some(crate::clock::days_from_civil(2031, 7, 9) * 86_400));
        params.not_after = rcgen::date_time_ymd(2051, 1, 2); // GeneralizedTime from 2050 on
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(not_after(cert.pem().as_bytes()), Some(crate::clock::days_from_civil(2051, 1, 2) * 86_400));
        assert_eq!(not_after(b"not a certificate"), None);
    }

    #[test]
    fn a_new_pair_replaces_the_old_and_a_mismatched_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("hato-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let make = |name: &str| {
            let g = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
            (g.cert.pem(), g.signing_key.serialize_pem())
        };
        let (c1, k1) = make("one.test");
        let (c2, k2) = make("two.test");
        std::fs::write(dir.join("c.pem"), &c1).unwrap();
        std::fs::write(dir.join("k.pem"), &k1).unwrap();
        let certs = Certificates::load(&dir.join("c.pem"), &dir.join("k.pem")).unwrap();
        let before = certs.fingerprint();
        let err = certs.replace(c2.as_bytes(), k1.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("match") || err.to_string().contains("Inconsistent"), "{err}");
        assert_eq!(certs.fingerprint(), before, "a refused pair changes nothing");
        assert!(certs.replace(b"not pem", k2.as_bytes()).is_err());
        certs.replace(c2.as_bytes(), k2.as_bytes()).unwrap();
        assert_ne!(certs.fingerprint(), before);
        assert_eq!(std::fs::read_to_string(dir.join("c.pem")).unwrap(), c2);
        std::fs::remove_dir_all(dir).ok();
    }
}
