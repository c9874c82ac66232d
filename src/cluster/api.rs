//! The node API: how nodes talk to a member's `hato serve` — to be let in
//! (`join`), to say they are going (`leave`), to ask it to restart in a
//! rolling restart (`restart`), to read its recent log lines (`logs`).
//!
//! TLS with the member's node certificate; the caller trusts it only if its
//! chain holds the cluster CA it pins by SHA-256 (from a join token, or its
//! own ca.pem), so nobody in the path learns the cluster's secrets. One
//! JSON line each way, so the API stays readable with `openssl s_client`:
//! a request `{"join": {...}}`, `{"leave": {...}}` or `{"restart": {...}}`, an answer
//! `{"status": "ok", ...}` or `{"status": "refused", "reason": "..."}`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tracing::warn;

use super::ClusterError;
use super::join::JoinRequest;
use super::leave::LeaveRequest;
use super::node::{Dir, NodeFile};
use super::rolling::RestartRequest;

/// The longest line either side reads: a certificate chain and keys fit with room.
const MAX_LINE: usize = 64 * 1024;
/// How long one call may take, either side.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Request {
    Join(JoinRequest),
    Leave(LeaveRequest),
    Restart(RestartRequest),
    Logs(super::logs::LogsRequest),
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum Answer<T> {
    Ok(T),
    Refused { reason: String },
}

/// What a member's node API needs besides its cluster directory.
#[derive(Clone, Debug)]
pub struct Member {
    pub dir: Dir,
    /// hato serve's configuration file, whose `[store]` lists the members.
    pub config: Option<PathBuf>,
    /// Where that file's backup goes when its directory is not ours.
    pub data_dir: PathBuf,
    /// Whether a supervisor starts hato serve again when it exits.
    pub supervised: bool,
}

/// Serves the node API on `listener` until the process ends.
pub async fn serve(member: Member, listener: tokio::net::TcpListener) {
    let acceptor = match crate::tls::Certificates::load(&member.dir.cert(), &member.dir.key())
        .and_then(crate::tls::acceptor)
    {
        Ok(a) => a,
        Err(e) => {
            crate::alert::raise("cluster.api", crate::alert::Severity::Critical, &format!("node API not started: {e}"));
            return;
        }
    };
    loop {
        let Ok((tcp, peer)) = listener.accept().await else { continue };
        let (acceptor, member) = (acceptor.clone(), member.clone());
        tokio::spawn(async move {
            let work = async {
                let tls = acceptor.accept(tcp).await.map_err(ClusterError::Api)?;
                let (r, mut w) = tokio::io::split(tls);
                let line = read_line(&mut BufReader::new(r)).await?;
                let answer = match serde_json::from_str::<Request>(&line) {
                    Err(e) => Err(format!("not a node API request: {e}")),
                    Ok(req) => match tokio::task::spawn_blocking(move || handle(&member, req)).await {
                        Ok(Ok(v)) => Ok(v),
                        Ok(Err(ClusterError::Refused(reason))) => Err(reason),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(e) => Err(format!("internal error: {e}")),
                    },
                };
                let answer = match answer {
                    Ok(v) => Answer::Ok(v),
                    Err(reason) => {
                        warn!(target: "hato::cluster", peer = %peer, "node API request refused: {reason}");
                        Answer::Refused { reason }
                    }
                };
                write_json(&mut w, &answer).await
            };
            if let Err(e) = tokio::time::timeout(CALL_TIMEOUT, work)
                .await
                .unwrap_or_else(|_| Err(ClusterError::Protocol("timed out".into())))
            {
                warn!(target: "hato::cluster", peer = %peer, "node API: {e}");
            }
        });
    }
}

/// One request, answered by the module that owns it (as JSON, flattened into the answer).
fn handle(member: &Member, req: Request) -> Result<serde_json::Value, ClusterError> {
    match req {
        Request::Join(r) => to_json(&super::join::admit(&member.dir, &r)?),
        Request::Leave(r) => to_json(&super::leave::forget(member, &r)?),
        Request::Restart(r) => to_json(&super::rolling::restart(member, &r)?),
        Request::Logs(r) => to_json(&super::logs::lines(member, &r)?),
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<serde_json::Value, ClusterError> {
    serde_json::to_value(v).map_err(|e| ClusterError::Protocol(e.to_string()))
}

/// Sends `req` to the node API at `api`, trusting it only with a chain to
/// the CA whose SHA-256 is `ca_fingerprint`.
pub async fn call<T: DeserializeOwned>(
    api: SocketAddr,
    ca_fingerprint: &str,
    req: &Request,
) -> Result<T, ClusterError> {
    let verifier = Arc::new(PinnedCa::new(ca_fingerprint.to_string()));
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClusterError::Pki(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let work = async {
        let tcp = tokio::net::TcpStream::connect(api).await.map_err(ClusterError::Api)?;
        let tls = connector.connect(ServerName::IpAddress(api.ip().into()), tcp).await.map_err(ClusterError::Api)?;
        let (r, mut w) = tokio::io::split(tls);
        write_json(&mut w, req).await?;
        let line = read_line(&mut BufReader::new(r)).await?;
        match serde_json::from_str::<Answer<T>>(&line) {
            Ok(Answer::Ok(v)) => Ok(v),
            Ok(Answer::Refused { reason }) => Err(ClusterError::Refused(reason)),
            Err(e) => Err(ClusterError::Protocol(format!("unreadable answer: {e}"))),
        }
    };
    tokio::time::timeout(CALL_TIMEOUT, work)
        .await
        .map_err(|_| ClusterError::Protocol(format!("{api} did not answer within {} s", CALL_TIMEOUT.as_secs())))?
}

async fn read_line<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> Result<String, ClusterError> {
    let mut line = String::new();
    let n = (&mut *r).take(MAX_LINE as u64).read_line(&mut line).await.map_err(ClusterError::Api)?;
    if n == 0 || !line.ends_with('\n') {
        return Err(ClusterError::Protocol("the other side closed or sent an over-long line".into()));
    }
    Ok(line)
}

async fn write_json<W: AsyncWrite + Unpin, T: Serialize>(w: &mut W, v: &T) -> Result<(), ClusterError> {
    let mut text = serde_json::to_string(v).map_err(|e| ClusterError::Protocol(e.to_string()))?;
    text.push('\n');
    w.write_all(text.as_bytes()).await.map_err(ClusterError::Api)?;
    w.flush().await.map_err(ClusterError::Api)
}

/// Trusts a server whose chain holds the CA with the pinned fingerprint and
/// whose certificate that CA signed for the address connected to.
#[derive(Debug)]
struct PinnedCa {
    fingerprint: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl PinnedCa {
    fn new(fingerprint: String) -> PinnedCa {
        PinnedCa { fingerprint, provider: Arc::new(rustls::crypto::ring::default_provider()) }
    }
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(ca) = intermediates.iter().find(|c| crate::ids::sha256_hex(c) == self.fingerprint) else {
            return Err(rustls::Error::General(
                "the member's certificate is not from the cluster CA named in the token".into(),
            ));
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(roots.into(), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        inner.verify_server_cert(end_entity, &[], server_name, ocsp, now)
    }

    crate::verify_signatures_with!(provider);
}

/// What a member needs to ask other members: the database secret (for
/// proofs) and the cluster CA's fingerprint (to trust their answers).
pub struct Caller {
    pub password: String,
    pub fingerprint: String,
}

impl Caller {
    pub fn of(dir: &Dir) -> Result<Caller, ClusterError> {
        Ok(Caller {
            password: dir.secret(&dir.db_password())?,
            fingerprint: super::pki::fingerprint(&dir.read(&dir.ca_cert())?)?,
        })
    }

    /// The proof for asking `address` to do `what`.
    pub fn proof(&self, what: &str, address: std::net::IpAddr) -> String {
        proof(&self.password, what, address)
    }
}

/// Proof that the sender of a request holds the cluster's database secret
/// (only members do), bound to what it asks (`what`) and for which node.
pub fn proof(db_password: &str, what: &str, address: std::net::IpAddr) -> String {
    crate::ids::sha256_hex(format!("hato-{what}\0{address}\0{db_password}").as_bytes())
}

/// Refuses a request whose proof this member's secret does not give.
pub fn check_proof(dir: &Dir, what: &str, address: std::net::IpAddr, given: &str) -> Result<(), ClusterError> {
    let expected = proof(&dir.secret(&dir.db_password())?, what, address);
    // Compared in constant time: the timing must not tell how much of a guess was right.
    let same = expected.len() == given.len()
        && expected.bytes().zip(given.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
    if same {
        Ok(())
    } else {
        Err(ClusterError::Refused(format!("the {what} request does not prove membership of this cluster")))
    }
}

/// Where the node API of the member at `addr` listens (every member uses `node`'s ports).
pub fn addr_of(node: &NodeFile, addr: std::net::IpAddr) -> SocketAddr {
    SocketAddr::new(addr, node.ports.api)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_cluster_secret_proves_a_request_and_only_for_its_kind_and_node() {
        let dir = std::env::temp_dir().join(format!("hato-api-proof-{}", std::process::id()));
        let d = Dir(dir.clone());
        std::fs::create_dir_all(&dir).unwrap();
        d.write(&d.db_password(), "secret\n").unwrap();
        let a: std::net::IpAddr = "10.0.0.3".parse().unwrap();
        assert!(check_proof(&d, "leave", a, &proof("secret", "leave", a)).is_ok());
        for wrong in [
            proof("other", "leave", a),
            proof("secret", "restart", a),
            proof("secret", "leave", "10.0.0.2".parse().unwrap()),
            String::new(),
        ] {
            let e = check_proof(&d, "leave", a, &wrong).unwrap_err().to_string();
            assert!(e.contains("does not prove membership"), "{e}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
