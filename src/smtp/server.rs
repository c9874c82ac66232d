//! Listeners: accept, admit or refuse, wrap in TLS where the port demands it,
//! and hand the connection to a session.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

use super::session::Session;
use super::{Service, Shared, policy};
use crate::connection::{Connection, Stream};
use crate::guard::Refusal;

pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let addr: SocketAddr = addr.parse().map_err(|e| std::io::Error::other(format!("bad address {addr}: {e}")))?;
    TcpListener::bind(addr).await
}

/// Accepts connections forever.
pub async fn serve(listener: TcpListener, service: Service, sh: Arc<Shared>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Usually EMFILE: back off rather than spin.
                warn!(target: "hato::smtp", "accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let sh = sh.clone();
        tokio::spawn(async move { handle(tcp, peer, service, sh).await });
    }
}

async fn handle(mut tcp: TcpStream, peer: SocketAddr, service: Service, sh: Arc<Shared>) {
    let ip = crate::cidr::canonical(peer.ip());
    let _ = tcp.set_nodelay(true);
    if policy::ip_rejected(&sh.cfg.policy, ip) {
        info!(target: "hato::smtp", peer = %ip, svc = service.name(), "rejected: client address on reject list");
        let _ = tcp.write_all(b"554 5.7.1 Your address is refused by policy\r\n").await;
        return;
    }
    let _permit = match sh.guard.admit(ip) {
        Ok(p) => p,
        Err(r) => {
            let text: &[u8] = match r {
                Refusal::Busy => b"421 4.3.2 Too many connections; try again later\r\n",
                Refusal::TooManyConnections => b"421 4.7.0 Too many connections from your address\r\n",
                Refusal::TooFast => b"421 4.7.0 Connecting too fast; slow down\r\n",
            };
            info!(target: "hato::smtp", peer = %ip, svc = service.name(), refusal = ?r, "refused at connect");
            let _ = tcp.write_all(text).await;
            return;
        }
    };
    let stream = if service == Service::Submissions {
        let accept = tokio::time::timeout(std::time::Duration::from_secs(30), sh.tls.accept(tcp)).await;
        match accept {
            Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
            Ok(Err(e)) => {
                info!(target: "hato::smtp", peer = %ip, "TLS handshake failed: {e}");
                return;
            }
            Err(_) => {
                info!(target: "hato::smtp", peer = %ip, "TLS handshake timed out");
                return;
            }
        }
    } else {
        Stream::Plain(tcp)
    };
    Session::new(sh, service, Connection::new(stream), ip).run().await;
}
