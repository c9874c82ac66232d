//! Letting a node in: one-time join tokens and the node API's join call.
//!
//! A member makes a token (`hato ctl cluster token`): its node API address,
//! the SHA-256 of the cluster CA, and a secret, e.g.
//! `HATO1/10.0.0.1:7443/3f1c…/Xy7…`. Only the secret's hash is kept, with an
//! expiry; using it deletes it. The new node connects over TLS, accepts the
//! member only if its certificate chains to a CA with that fingerprint (so
//! nobody in the path learns the cluster's secrets), and sends the secret and
//! its address. The member answers with what a node needs: the CA (with its
//! key), a certificate for the new node's address, the database secrets, the
//! members and ports, and adds the node to its own member list.
//!
//! Wire format: one JSON line each way (`frame`), so the API stays readable
//! with `openssl s_client`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tracing::{info, warn};

use super::ClusterError;
use super::node::{Credentials, Dir, NodeFile, Ports};

/// How long a join token may wait to be used.
pub const TOKEN_LIFETIME_SECS: i64 = 3600;
/// The longest line either side reads: a certificate chain and keys fit with room.
const MAX_LINE: usize = 64 * 1024;

/// A join token as shown to the administrator.
#[derive(Debug, PartialEq)]
pub struct Token {
    pub api: SocketAddr,
    pub ca_fingerprint: String,
    pub secret: String,
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HATO1/{}/{}/{}", self.api, self.ca_fingerprint, self.secret)
    }
}

impl std::str::FromStr for Token {
    type Err = ClusterError;
    fn from_str(s: &str) -> Result<Token, ClusterError> {
        let bad =
            |why: &str| ClusterError::Token(format!("{why}; a token looks like HATO1/10.0.0.1:7443/<64 hex>/<secret>"));
        let parts: Vec<&str> = s.trim().split('/').collect();
        let [tag, api, fp, secret] = parts[..] else { return Err(bad("it does not have four parts")) };
        if tag != "HATO1" {
            return Err(bad("it does not start with HATO1"));
        }
        let api = api.parse().map_err(|_| bad("its address is not IP:port"))?;
        if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("its CA fingerprint is not 64 hex digits"));
        }
        if secret.len() < 16 {
            return Err(bad("its secret is too short"));
        }
        Ok(Token { api, ca_fingerprint: fp.to_ascii_lowercase(), secret: secret.into() })
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct Pending {
    hash: String,
    expires: i64,
}

/// Makes a token on this member, keeping only its hash.
pub fn new_token(dir: &Dir) -> Result<Token, ClusterError> {
    let node = dir.load()?;
    let secret = crate::ids::token(24);
    let now = crate::clock::now();
    let mut pending = pending(dir)?;
    pending.retain(|p| p.expires > now);
    pending.push(Pending { hash: crate::ids::sha256_hex(secret.as_bytes()), expires: now + TOKEN_LIFETIME_SECS });
    save_pending(dir, &pending)?;
    let ca_fingerprint = super::pki::fingerprint(&dir.read(&dir.ca_cert())?)?;
    Ok(Token { api: api_addr(&node), ca_fingerprint, secret })
}

fn pending(dir: &Dir) -> Result<Vec<Pending>, ClusterError> {
    match std::fs::read_to_string(dir.tokens()) {
        Ok(t) => {
            serde_json::from_str(&t).map_err(|e| ClusterError::Invalid { path: dir.tokens(), message: e.to_string() })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(ClusterError::Read { path: dir.tokens(), source }),
    }
}

fn save_pending(dir: &Dir, p: &[Pending]) -> Result<(), ClusterError> {
    let text =
        serde_json::to_string(p).map_err(|e| ClusterError::Invalid { path: dir.tokens(), message: e.to_string() })?;
    dir.write(&dir.tokens(), &text)
}

/// Uses up a token's secret: true if it was pending and unexpired.
fn redeem(dir: &Dir, secret: &str) -> Result<bool, ClusterError> {
    let now = crate::clock::now();
    let hash = crate::ids::sha256_hex(secret.as_bytes());
    let mut pending = pending(dir)?;
    let found = pending.iter().any(|p| p.hash == hash && p.expires > now);
    pending.retain(|p| p.expires > now && p.hash != hash);
    save_pending(dir, &pending)?;
    Ok(found)
}

#[derive(Debug, Deserialize, Serialize)]
pub struct JoinRequest {
    pub secret: String,
    pub node_name: String,
    pub address: IpAddr,
}

/// What a new node needs to become a member.
#[derive(Debug, Deserialize, Serialize)]
pub struct Welcome {
    pub name: String,
    pub members: Vec<IpAddr>,
    pub ports: Ports,
    pub suspect_timeout: String,
    #[serde(default)]
    pub vrrp: super::vrrp::Vrrp,
    #[serde(flatten)]
    pub credentials: Credentials,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum Answer {
    Ok(Box<Welcome>),
    Refused { reason: String },
}

/// The member's side of a join.
fn admit(dir: &Dir, req: &JoinRequest) -> Result<Welcome, ClusterError> {
    // One join at a time: a token is used once, and the member list is read, changed and written.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if !redeem(dir, &req.secret)? {
        return Err(ClusterError::Refused(
            "the join token is unknown, used or expired: make a new one with `hato ctl cluster token`".into(),
        ));
    }
    let mut node = dir.load()?;
    let ca = super::pki::Pair { cert_pem: dir.read(&dir.ca_cert())?, key_pem: dir.read(&dir.ca_key())? };
    let (db, sst) = (dir.secret(&dir.db_password())?, dir.secret(&dir.sst_password())?);
    let credentials = Credentials::issue(&node.name, ca, &req.node_name, req.address, db, sst)?;
    if !node.members.contains(&req.address) {
        node.members.push(req.address);
        dir.save(&node)?;
    }
    info!(target: "hato::cluster", node = %req.node_name, address = %req.address, "a node joined the cluster");
    Ok(Welcome {
        name: node.name.clone(),
        members: node.members.clone(),
        ports: node.ports,
        suspect_timeout: node.suspect_timeout.clone(),
        vrrp: node.vrrp.clone(),
        credentials,
    })
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

/// Serves the node API on `listener` until the process ends.
pub async fn serve(dir: Dir, listener: tokio::net::TcpListener) {
    let acceptor = match crate::tls::Certificates::load(&dir.cert(), &dir.key()).and_then(crate::tls::acceptor) {
        Ok(a) => a,
        Err(e) => {
            crate::alert::raise("cluster.api", crate::alert::Severity::Critical, &format!("node API not started: {e}"));
            return;
        }
    };
    loop {
        let Ok((tcp, peer)) = listener.accept().await else { continue };
        let (acceptor, dir) = (acceptor.clone(), dir.clone());
        tokio::spawn(async move {
            let work = async {
                let tls = acceptor.accept(tcp).await.map_err(ClusterError::Api)?;
                let (r, mut w) = tokio::io::split(tls);
                let mut r = BufReader::new(r);
                let line = read_line(&mut r).await?;
                let answer = match serde_json::from_str::<JoinRequest>(&line) {
                    Err(e) => Answer::Refused { reason: format!("not a join request: {e}") },
                    Ok(req) => {
                        let d = dir.clone();
                        match tokio::task::spawn_blocking(move || admit(&d, &req)).await {
                            Ok(Ok(w)) => Answer::Ok(Box::new(w)),
                            Ok(Err(ClusterError::Refused(reason))) => Answer::Refused { reason },
                            Ok(Err(e)) => Answer::Refused { reason: e.to_string() },
                            Err(e) => Answer::Refused { reason: format!("internal error: {e}") },
                        }
                    }
                };
                if let Answer::Refused { reason } = &answer {
                    warn!(target: "hato::cluster", peer = %peer, "join refused: {reason}");
                }
                write_json(&mut w, &answer).await
            };
            if let Err(e) = tokio::time::timeout(Duration::from_secs(30), work)
                .await
                .unwrap_or_else(|_| Err(ClusterError::Protocol("timed out".into())))
            {
                warn!(target: "hato::cluster", peer = %peer, "node API: {e}");
            }
        });
    }
}

/// Asks the member named in `token` to let this node in.
pub async fn request(token: &Token, node_name: &str, address: IpAddr) -> Result<Welcome, ClusterError> {
    let verifier = Arc::new(PinnedCa::new(token.ca_fingerprint.clone()));
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClusterError::Pki(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let work = async {
        let tcp = tokio::net::TcpStream::connect(token.api).await.map_err(ClusterError::Api)?;
        let name = ServerName::IpAddress(token.api.ip().into());
        let tls = connector.connect(name, tcp).await.map_err(ClusterError::Api)?;
        let (r, mut w) = tokio::io::split(tls);
        let req = JoinRequest { secret: token.secret.clone(), node_name: node_name.into(), address };
        write_json(&mut w, &req).await?;
        let line = read_line(&mut BufReader::new(r)).await?;
        match serde_json::from_str::<Answer>(&line) {
            Ok(Answer::Ok(w)) => Ok(*w),
            Ok(Answer::Refused { reason }) => Err(ClusterError::Refused(reason)),
            Err(e) => Err(ClusterError::Protocol(format!("unreadable answer: {e}"))),
        }
    };
    tokio::time::timeout(Duration::from_secs(30), work)
        .await
        .map_err(|_| ClusterError::Protocol(format!("{} did not answer within 30 s", token.api)))?
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

/// Where the node API of `node` listens.
pub fn api_addr(node: &NodeFile) -> SocketAddr {
    SocketAddr::new(node.address, node.ports.api)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Layout, accept, init};

    #[tokio::test]
    async fn a_token_lets_one_node_in_once_over_a_pinned_tls_connection() {
        let base = std::env::temp_dir().join(format!("hato-join-{}", std::process::id()));
        let layout = |n: &str| Layout { mysql_dir: base.join(n).join("mysql"), run_dir: base.join(n).join("run") };
        let (d1, d2) = (Dir(base.join("n1/cluster")), Dir(base.join("n2/cluster")));
        let a1: IpAddr = "127.0.0.1".parse().unwrap();
        init(&d1, "c", "n1", a1, Ports::default(), vec![], layout("n1")).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(serve(d1.clone(), listener));
        let mut token = new_token(&d1).unwrap();
        token.api.set_port(port);

        let a2: IpAddr = "127.0.0.2".parse().unwrap();
        let welcome = request(&token, "n2", a2).await.unwrap();
        let n2 = accept(&d2, welcome, "n2", a2, layout("n2")).unwrap();
        assert_eq!(n2.members, vec![a1, a2]);
        assert!(!n2.bootstrap);
        assert_eq!(d1.load().unwrap().members, vec![a1, a2], "the member adds the new node to its list");
        assert_eq!(d2.read(&d2.ca_cert()).unwrap(), d1.read(&d1.ca_cert()).unwrap());
        assert_eq!(d2.secret(&d2.db_password()).unwrap(), d1.secret(&d1.db_password()).unwrap());

        let again = request(&token, "n3", "127.0.0.3".parse().unwrap()).await.unwrap_err();
        assert!(again.to_string().contains("unknown, used or expired"), "{again}");
        // A member whose CA is not the one the token names is not trusted with the secret.
        let mut forged = new_token(&d1).unwrap();
        forged.api.set_port(port);
        forged.ca_fingerprint = "0".repeat(64);
        let e = request(&forged, "n3", "127.0.0.3".parse().unwrap()).await.unwrap_err();
        assert!(e.to_string().contains("not from the cluster CA"), "{e}");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
