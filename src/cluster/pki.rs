//! The cluster's certificate authority and the nodes' certificates.
//!
//! `init` makes a CA (ECDSA P-256) whose key every member holds, so any
//! member can let a new node in; each node gets a certificate for its IP
//! address, used for Galera replication, state transfer, client connections
//! to MariaDB and the node API. rcgen without x509 parsing cannot read a CA
//! certificate back, so the issuer is rebuilt from the same parameters and
//! key: same subject, same key identifier, so what it signs chains to the CA.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use super::ClusterError;

/// A PEM certificate and its PEM private key.
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
}

fn ca_params(cluster: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("Hato cluster {cluster} CA"));
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2074, 1, 1);
    p
}

fn pki(e: rcgen::Error) -> ClusterError {
    ClusterError::Pki(e.to_string())
}

/// A new CA for the cluster named `cluster`.
pub fn new_ca(cluster: &str) -> Result<Pair, ClusterError> {
    let key = KeyPair::generate().map_err(pki)?;
    let cert = ca_params(cluster).self_signed(&key).map_err(pki)?;
    Ok(Pair { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// A certificate for the node at `address`, signed by the cluster's CA.
/// It serves (Galera, MariaDB, the node API) and authenticates as a client
/// (Galera and state transfer connect both ways).
pub fn node_certificate(
    cluster: &str,
    ca_key_pem: &str,
    node_name: &str,
    address: IpAddr,
) -> Result<Pair, ClusterError> {
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(pki)?;
    let issuer = Issuer::new(ca_params(cluster), ca_key);
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, node_name);
    p.distinguished_name = dn;
    p.subject_alt_names = vec![SanType::IpAddress(address)];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2074, 1, 1);
    let key = KeyPair::generate().map_err(pki)?;
    let cert = p.signed_by(&key, &issuer).map_err(pki)?;
    Ok(Pair { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// SHA-256 of the first certificate in `pem`, hex: what a join token pins.
pub fn fingerprint(pem: &str) -> Result<String, ClusterError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| ClusterError::Pki(format!("the CA certificate is not PEM: {e}")))?;
    Ok(crate::ids::sha256_hex(&der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

    #[test]
    fn a_node_certificate_chains_to_the_ca_for_its_address_only() {
        let ca = new_ca("test").unwrap();
        let node = node_certificate("test", &ca.key_pem, "n1", "10.1.2.3".parse().unwrap()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).unwrap()).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots.into(), provider).build().unwrap();
        let leaf = CertificateDer::from_pem_slice(node.cert_pem.as_bytes()).unwrap();
        let now = UnixTime::now();
        let ok = ServerName::try_from("10.1.2.3").unwrap();
        verifier.verify_server_cert(&leaf, &[], &ok, &[], now).unwrap();
        let other = ServerName::try_from("10.1.2.4").unwrap();
        assert!(verifier.verify_server_cert(&leaf, &[], &other, &[], now).is_err());
        // Another cluster's CA does not vouch for it.
        let stranger = new_ca("test").unwrap();
        assert_ne!(fingerprint(&stranger.cert_pem).unwrap(), fingerprint(&ca.cert_pem).unwrap());
    }
}
