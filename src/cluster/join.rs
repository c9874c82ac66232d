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
//! members and ports, and adds the node to its own member list. The
//! transport is the node API (`api`).

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};
use tracing::info;

use super::ClusterError;
use super::api::Request;
use super::node::{Credentials, Dir, Ports};

/// How long a join token may wait to be used.
pub const TOKEN_LIFETIME_SECS: i64 = 3600;

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
    Ok(Token { api: super::api::addr_of(&node, node.address), ca_fingerprint, secret })
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

/// The member's side of a join.
pub(super) fn admit(dir: &Dir, req: &JoinRequest) -> Result<Welcome, ClusterError> {
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

/// Asks the member named in `token` to let this node in.
pub async fn request(token: &Token, node_name: &str, address: IpAddr) -> Result<Welcome, ClusterError> {
    let req = Request::Join(JoinRequest { secret: token.secret.clone(), node_name: node_name.into(), address });
    let welcome: Box<Welcome> = super::api::call(token.api, &token.ca_fingerprint, &req).await?;
    Ok(*welcome)
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
        let member =
            crate::cluster::api::Member { dir: d1.clone(), config: None, data_dir: base.clone(), supervised: false };
        tokio::spawn(crate::cluster::api::serve(member, listener));
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
