//! DANE for SMTP (RFC 7672): a receiving domain that signs its zone with
//! DNSSEC publishes TLSA records for its MX hosts, and a sender that finds
//! them (validated) must use TLS and accept only a certificate they match.
//!
//! Validation is the resolver's job: the appliance runs unbound, which
//! validates and sets the AD bit on what it could authenticate, and Hato
//! trusts that bit from the resolver it is configured with (RFC 7672 §1.3
//! asks for exactly this: a trusted, local validating resolver). hickory's
//! resolver API does not expose AD, so these few queries are made here
//! directly, with hickory-proto's message types.
//!
//! What a delivery does with it (`queue::Runner::apply_dane`):
//! - MX answer not authenticated: no DANE for the domain (MTA-STS may apply);
//! - TLSA lookup failed (SERVFAIL: bogus or unreachable): that host is
//!   skipped — never a downgrade to unauthenticated delivery;
//! - validated TLSA records: TLS required, and the certificate must match
//!   a DANE-EE(3) record, or chain for the host's name to a certificate
//!   matching a DANE-TA(2) record; expiry and name are not checked for
//!   DANE-EE (§3.1.1). PKIX usages (0, 1) are unusable for SMTP (§3.1.3);
//!   a set with no usable record still makes TLS mandatory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mail_auth::hickory_resolver::proto::op::{Edns, Message, Query, ResponseCode};
use mail_auth::hickory_resolver::proto::rr::{Name, RData, RecordType};
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

/// How long one query may take (per server, per transport).
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DaneError {
    #[error("no DNS server is configured to ask for DNSSEC-validated answers")]
    NoResolver,
    #[error("DNSSEC lookup of {name} {kind} failed ({why}); delivery to it waits")]
    Lookup { name: String, kind: &'static str, why: String },
}

/// One TLSA record (RFC 6698 §2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

impl Tlsa {
    /// DANE-TA or DANE-EE with a selector and matching type this side knows.
    fn usable(&self) -> bool {
        matches!(self.usage, 2 | 3) && self.selector <= 1 && self.matching <= 2
    }

    /// Whether the DER certificate `cert` is the one this record names.
    pub fn matches(&self, cert: &[u8]) -> bool {
        let content = match self.selector {
            0 => cert,
            1 => match crate::tls::spki(cert) {
                Some(s) => s,
                None => return false,
            },
            _ => return false,
        };
        match self.matching {
            0 => content == self.data.as_slice(),
            1 => ring::digest::digest(&ring::digest::SHA256, content).as_ref() == self.data.as_slice(),
            2 => ring::digest::digest(&ring::digest::SHA512, content).as_ref() == self.data.as_slice(),
            _ => false,
        }
    }
}

/// What DNSSEC says about one mail host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPolicy {
    /// No validated TLSA records: opportunistic TLS as for any host.
    None,
    /// Validated TLSA records (only the usable ones kept): TLS is required
    /// and, when any is usable, the certificate must match.
    Dane(Vec<Tlsa>),
}

/// One answer from the validating resolver.
struct Answer {
    authenticated: bool,
    code: ResponseCode,
    records: Vec<RData>,
}

/// The resolver's answer to one question, over UDP, or TCP when truncated.
async fn ask(servers: &[SocketAddr], name: &str, kind: RecordType) -> Result<Answer, String> {
    let name = Name::from_ascii(name).map_err(|e| format!("bad name: {e}"))?;
    let mut msg = Message::query();
    // A random id: an off-path forger must guess it (and the source port).
    let mut id = [0u8; 2];
    getrandom::fill(&mut id).map_err(|e| format!("no random source: {e}"))?;
    msg.metadata.id = u16::from_ne_bytes(id);
    msg.metadata.recursion_desired = true;
    // RFC 6840 §5.7: AD in a query asks for AD in the answer, without the signatures.
    msg.metadata.authentic_data = true;
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    msg.set_edns(edns);
    msg.add_query(Query::query(name, kind));
    let wire = msg.to_vec().map_err(|e| e.to_string())?;
    let mut last = "no DNS server".to_string();
    for server in servers {
        match ask_one(*server, &wire, msg.metadata.id).await {
            Ok(m) => {
                return Ok(Answer {
                    authenticated: m.metadata.authentic_data,
                    code: m.metadata.response_code,
                    records: m.answers.iter().filter(|r| r.record_type() == kind).map(|r| r.data.clone()).collect(),
                });
            }
            Err(e) => last = format!("{server}: {e}"),
        }
    }
    Err(last)
}

async fn ask_one(server: SocketAddr, wire: &[u8], id: u16) -> Result<Message, String> {
    let bind: SocketAddr = if server.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }.parse().map_err(|_| "bind")?;
    let udp = tokio::net::UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    udp.connect(server).await.map_err(|e| e.to_string())?;
    udp.send(wire).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65535];
    let answer = loop {
        let n = tokio::time::timeout(QUERY_TIMEOUT, udp.recv(&mut buf))
            .await
            .map_err(|_| "no answer in time".to_string())?
            .map_err(|e| e.to_string())?;
        let m = Message::from_vec(&buf[..n]).map_err(|e| format!("malformed answer: {e}"))?;
        // A stray datagram with another id is not our answer.
        if m.metadata.id == id {
            break m;
        }
    };
    if !answer.metadata.truncation {
        return Ok(answer);
    }
    let tcp = async {
        let mut s = tokio::net::TcpStream::connect(server).await?;
        let len = u16::try_from(wire.len()).map_err(|_| std::io::Error::other("query too long"))?;
        s.write_all(&len.to_be_bytes()).await?;
        s.write_all(wire).await?;
        let n = s.read_u16().await? as usize;
        let mut body = vec![0u8; n];
        s.read_exact(&mut body).await?;
        Ok::<_, std::io::Error>(body)
    };
    let body = tokio::time::timeout(QUERY_TIMEOUT, tcp)
        .await
        .map_err(|_| "no answer over TCP in time".to_string())?
        .map_err(|e| e.to_string())?;
    Message::from_vec(&body).map_err(|e| format!("malformed answer: {e}"))
}

/// Whether the domain's MX answer (or its authenticated absence) is DNSSEC-validated.
pub async fn mx_secure(servers: &[SocketAddr], domain: &str) -> Result<bool, DaneError> {
    if servers.is_empty() {
        return Err(DaneError::NoResolver);
    }
    let name = format!("{}.", domain.trim_end_matches('.'));
    let lookup = |why| DaneError::Lookup { name: name.clone(), kind: "MX", why };
    let a = ask(servers, &name, RecordType::MX).await.map_err(lookup)?;
    match a.code {
        ResponseCode::NoError | ResponseCode::NXDomain => Ok(a.authenticated),
        code => Err(lookup(code.to_string())),
    }
}

/// The TLSA policy of one mail host on `port`.
pub async fn host_policy(servers: &[SocketAddr], host: &str, port: u16) -> Result<HostPolicy, DaneError> {
    let name = format!("_{port}._tcp.{}.", host.trim_end_matches('.'));
    let lookup = |why| DaneError::Lookup { name: name.clone(), kind: "TLSA", why };
    let a = ask(servers, &name, RecordType::TLSA).await.map_err(lookup)?;
    match a.code {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        code => return Err(lookup(code.to_string())),
    }
    let records: Vec<Tlsa> = a
        .records
        .into_iter()
        .filter_map(|r| match r {
            RData::TLSA(t) => Some(Tlsa {
                usage: t.cert_usage.into(),
                selector: t.selector.into(),
                matching: t.matching.into(),
                data: t.cert_data,
            }),
            _ => None,
        })
        .collect();
    if !a.authenticated || records.is_empty() {
        return Ok(HostPolicy::None);
    }
    Ok(HostPolicy::Dane(records.into_iter().filter(Tlsa::usable).collect()))
}

/// A TLS connector that accepts only a certificate matching `records` (any
/// certificate when none is usable: encryption without authentication).
pub fn connector(records: &[Tlsa]) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|_| unreachable!("ring supports the default TLS versions"))
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier { records: records.to_vec(), provider }))
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

#[derive(Debug)]
struct Verifier {
    records: Vec<Tlsa>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl Verifier {
    /// DANE-TA: some certificate the server sent matches a record, and the
    /// chain verifies up to it for the host's name.
    fn chains_to_anchor(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> bool {
        let anchors = self.records.iter().filter(|r| r.usage == 2);
        for record in anchors {
            for ta in intermediates.iter().chain(std::iter::once(end_entity)).filter(|c| record.matches(c)) {
                let mut roots = rustls::RootCertStore::empty();
                if roots.add(ta.clone().into_owned()).is_err() {
                    continue;
                }
                let verifier =
                    rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                        .build();
                if let Ok(v) = verifier
                    && v.verify_server_cert(end_entity, intermediates, name, &[], now).is_ok()
                {
                    return true;
                }
            }
        }
        false
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.records.is_empty()
            || self.records.iter().any(|r| r.usage == 3 && r.matches(end_entity))
            || self.chains_to_anchor(end_entity, intermediates, name, now)
        {
            return Ok(ServerCertVerified::assertion());
        }
        Err(rustls::Error::General("DANE: the certificate matches none of the host's TLSA records".into()))
    }

    crate::verify_signatures_with!(provider);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert() -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["mx.example".into()]).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn records_match_by_spki_or_whole_certificate() {
        let der = cert();
        let spki = crate::tls::spki(&der).unwrap().to_vec();
        let sha256 = |b: &[u8]| ring::digest::digest(&ring::digest::SHA256, b).as_ref().to_vec();
        let sha512 = |b: &[u8]| ring::digest::digest(&ring::digest::SHA512, b).as_ref().to_vec();
        for (selector, matching, data) in
            [(1, 1, sha256(&spki)), (0, 1, sha256(&der)), (1, 2, sha512(&spki)), (0, 0, der.clone())]
        {
            let r = Tlsa { usage: 3, selector, matching, data };
            assert!(r.matches(&der), "{r:?}");
        }
        let other = cert();
        assert!(!Tlsa { usage: 3, selector: 1, matching: 1, data: sha256(&spki) }.matches(&other));
    }

    #[test]
    fn pkix_usages_are_unusable_for_smtp() {
        let r = |usage, selector, matching| Tlsa { usage, selector, matching, data: vec![] }.usable();
        assert!(r(3, 1, 1) && r(2, 0, 1));
        assert!(!r(1, 1, 1) && !r(0, 0, 1) && !r(3, 2, 1) && !r(3, 1, 3));
    }
}
