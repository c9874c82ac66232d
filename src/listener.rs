//! Accepting connections for any line protocol: admission control by the
//! guard, TLS from the first byte where the port demands it, then the
//! protocol's own session. Each protocol supplies its words for "no".

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::connection::{Connection, Stream};
use crate::guard::{Guard, Refusal};

/// Connections the kernel completes and holds for us before we accept them.
/// tokio's default (1,024) overflowed when a thousand clients connected at
/// once: each dropped SYN costs that client a one-second retransmit, and a
/// client that opens connections one at a time (Postfix's smtp-source) stalls
/// entirely. Linux caps it at net.core.somaxconn (4,096 by default).
const BACKLOG: u32 = 4096;

pub fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let addr: SocketAddr = addr.parse().map_err(|e| std::io::Error::other(format!("bad address {addr}: {e}")))?;
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As TcpListener::bind does: a restarted server must not wait out TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// How one port greets, refuses and runs sessions.
pub struct Door<F> {
    pub name: &'static str,
    pub guard: Arc<Guard>,
    /// Some: TLS handshake before the first byte (465, 993, 995).
    pub tls: Option<TlsAcceptor>,
    /// A reply line for a client refused before its session starts.
    pub refuse: fn(Refusal) -> &'static [u8],
    /// Checked before admission; Some(reply) turns the client away.
    pub blocked: Box<dyn Fn(IpAddr) -> Option<&'static [u8]> + Send + Sync>,
    pub session: F,
}

impl<F> Door<F> {
    /// A door without an address reject list (the reject lists are SMTP policy).
    pub fn open(
        name: &'static str,
        guard: Arc<Guard>,
        tls: Option<TlsAcceptor>,
        refuse: fn(Refusal) -> &'static [u8],
        session: F,
    ) -> Door<F> {
        Door { name, guard, tls, refuse, blocked: Box::new(|_| None), session }
    }
}

/// Accepts connections forever, running `door.session` for each admitted one.
pub async fn serve<F, Fut>(listener: TcpListener, door: Arc<Door<F>>)
where
    F: Fn(Connection, IpAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Usually EMFILE: back off rather than spin.
                warn!(target: "hato::listener", door = door.name, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let door = door.clone();
        tokio::spawn(async move { admit(tcp, peer, door).await });
    }
}

async fn admit<F, Fut>(mut tcp: TcpStream, peer: SocketAddr, door: Arc<Door<F>>)
where
    F: Fn(Connection, IpAddr) -> Fut,
    Fut: Future<Output = ()>,
{
    let ip = crate::cidr::canonical(peer.ip());
    let _ = tcp.set_nodelay(true);
    if let Some(reply) = (door.blocked)(ip) {
        info!(target: "hato::listener", peer = %ip, door = door.name, "rejected: client address on reject list");
        crate::stats::add(&crate::stats::STATS.connections_refused, 1);
        let _ = tcp.write_all(reply).await;
        return;
    }
    let _permit = match door.guard.admit(ip) {
        Ok(p) => p,
        Err(r) => {
            info!(target: "hato::listener", peer = %ip, door = door.name, refusal = ?r, "refused at connect");
            crate::stats::add(&crate::stats::STATS.connections_refused, 1);
            let _ = tcp.write_all((door.refuse)(r)).await;
            return;
        }
    };
    let stream = match &door.tls {
        Some(acceptor) => match tokio::time::timeout(Duration::from_secs(30), acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
            Ok(Err(e)) => {
                info!(target: "hato::listener", peer = %ip, door = door.name, "TLS handshake failed: {e}");
                return;
            }
            Err(_) => {
                info!(target: "hato::listener", peer = %ip, door = door.name, "TLS handshake timed out");
                return;
            }
        },
        None => Stream::Plain(tcp),
    };
    (door.session)(Connection::new(stream), ip).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More clients than tokio's default backlog (1,024), connecting at once,
    /// all complete their handshake before the server accepts any: none of
    /// their SYNs is dropped (each would cost a retransmit of a second or more).
    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_backlog_without_a_dropped_syn() {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let burst = 1500;
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("read the open-file limit");
        if soft < burst + 100 {
            setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("raise the open-file limit");
        }
        let listener = bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let mut held = Vec::new();
        for n in 0..burst {
            let connect = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await;
            let tcp =
                connect.unwrap_or_else(|_| panic!("connection {n} was not taken into the backlog")).expect("connect");
            held.push(tcp);
        }
        let (first, _) = listener.accept().await.expect("accept");
        assert_eq!(first.peer_addr().expect("peer"), held[0].local_addr().expect("local"));
    }
}
