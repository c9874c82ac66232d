//! The AgentX session with snmpd: open, register Hato's subtrees, answer
//! the master's Get/GetNext/GetBulk from a snapshot, and turn alerts into
//! notifications (snmpd sends them to its trap sinks). Reconnects with
//! backoff whenever snmpd goes away; it restarts under the same supervisor.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedReadHalf;
use tokio::sync::{broadcast, mpsc};
use tracing::{info, warn};

use super::agentx::{self, AgentxError, Pdu, error};
use super::mib;
use super::source::Source;
use super::tree::Tree;
use crate::alert::Alert;

#[derive(Debug, Error)]
pub enum SubagentError {
    #[error("cannot reach snmpd's AgentX socket {path}: {source} (is snmpd running with `master agentx`?)")]
    Connect { path: String, source: std::io::Error },
    #[error("AgentX connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Protocol(#[from] AgentxError),
    #[error("snmpd refused to open the session (AgentX error {0})")]
    OpenRefused(u16),
    #[error("snmpd closed the session")]
    Closed,
}

/// A snapshot is reused for this long, so one walk costs one rebuild.
const SNAPSHOT_TTL: Duration = Duration::from_secs(1);
/// The master is pinged this often, so a dead session is noticed.
const PING_EVERY: Duration = Duration::from_secs(30);

/// Runs forever: one session after another.
pub async fn run(socket: PathBuf, source: Arc<Source>, mut alerts: broadcast::Receiver<Alert>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let began = Instant::now();
        match session(&socket, &source, &mut alerts).await {
            Ok(()) => {}
            Err(e @ SubagentError::Connect { .. }) => tracing::debug!(target: "hato::snmp", "{e}"),
            Err(e) => warn!(target: "hato::snmp", "AgentX session ended: {e}"),
        }
        if began.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

struct Conn {
    w: tokio::net::unix::OwnedWriteHalf,
    pdus: mpsc::Receiver<Result<Pdu, SubagentError>>,
    session: u32,
    next_packet: u32,
}

impl Conn {
    fn packet_id(&mut self) -> u32 {
        self.next_packet = self.next_packet.wrapping_add(1);
        self.next_packet
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), SubagentError> {
        self.w.write_all(bytes).await?;
        Ok(())
    }

    /// Waits for the master's answer to our request `packet`, serving
    /// whatever requests come first (none should, before registration).
    async fn answer_to(&mut self, packet: u32) -> Result<u16, SubagentError> {
        loop {
            match self.pdus.recv().await.ok_or(SubagentError::Closed)?? {
                Pdu::Response { header, error, .. } if header.packet == packet => return Ok(error),
                Pdu::Close { .. } => return Err(SubagentError::Closed),
                _ => {}
            }
        }
    }
}

async fn session(socket: &Path, source: &Source, alerts: &mut broadcast::Receiver<Alert>) -> Result<(), SubagentError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| SubagentError::Connect { path: socket.display().to_string(), source: e })?;
    let (r, w) = stream.into_split();
    let (tx, pdus) = mpsc::channel(16);
    let reader = tokio::spawn(read_pdus(r, tx));
    let mut c = Conn { w, pdus, session: 0, next_packet: 0 };
    let result = serve(&mut c, source, alerts).await;
    reader.abort();
    if !matches!(result, Err(SubagentError::Closed)) {
        let id = c.packet_id();
        let _ = c.send(&agentx::close(c.session, id)).await;
    }
    result
}

async fn serve(c: &mut Conn, source: &Source, alerts: &mut broadcast::Receiver<Alert>) -> Result<(), SubagentError> {
    let id = c.packet_id();
    c.send(&agentx::open(id, 10, &mib::HATO, "Hato subagent")).await?;
    let (session, err) = loop {
        match c.pdus.recv().await.ok_or(SubagentError::Closed)?? {
            Pdu::Response { header, error, .. } if header.packet == id => break (header.session, error),
            _ => {}
        }
    };
    if err != error::NONE {
        return Err(SubagentError::OpenRefused(err));
    }
    c.session = session;
    for subtree in mib::subtrees() {
        let id = c.packet_id();
        c.send(&agentx::register(session, id, &subtree, 127)).await?;
        match c.answer_to(id).await? {
            error::NONE => {}
            e => {
                warn!(target: "hato::snmp", subtree = %dotted(&subtree), "snmpd refused the registration (AgentX error {e}); that subtree is not served")
            }
        }
    }
    info!(target: "hato::snmp", session, "AgentX session open; serving NETWORK-SERVICES-MIB, MTA-MIB and HATO-MIB");
    let mut snapshot: Option<(Instant, Arc<Tree>)> = None;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            pdu = c.pdus.recv() => {
                let pdu = pdu.ok_or(SubagentError::Closed)??;
                answer(c, pdu, source, &mut snapshot).await?;
            }
            alert = alerts.recv() => match alert {
                Ok(a) => {
                    let id = c.packet_id();
                    let binds = mib::alert_notification(a.raised, &a.key, &a.severity, &a.text);
                    c.send(&agentx::notify(c.session, id, &binds)).await?;
                    info!(target: "hato::snmp", condition = %a.key, raised = a.raised, "notification sent");
                }
                Err(broadcast::error::RecvError::Lagged(n)) => warn!(target: "hato::snmp", "{n} alerts were not sent as traps (too many at once); the log has them"),
                Err(broadcast::error::RecvError::Closed) => {}
            },
            _ = ping.tick() => {
                let id = c.packet_id();
                c.send(&agentx::ping(c.session, id)).await?;
            }
        }
    }
}

async fn answer(
    c: &mut Conn,
    pdu: Pdu,
    source: &Source,
    snapshot: &mut Option<(Instant, Arc<Tree>)>,
) -> Result<(), SubagentError> {
    let needs_tree = matches!(pdu, Pdu::Get { .. } | Pdu::GetNext { .. } | Pdu::GetBulk { .. });
    let tree = if needs_tree {
        match snapshot {
            Some((at, t)) if at.elapsed() < SNAPSHOT_TTL => t.clone(),
            _ => {
                let t = Arc::new(source.snapshot().await);
                *snapshot = Some((Instant::now(), t.clone()));
                t
            }
        }
    } else {
        Arc::new(Tree::default())
    };
    let reply = match pdu {
        Pdu::Get { header, ranges } => {
            let binds: Vec<_> = ranges.iter().map(|r| (r.start.clone(), tree.get(&r.start))).collect();
            agentx::response(header, error::NONE, 0, &binds)
        }
        Pdu::GetNext { header, ranges } => {
            let binds: Vec<_> = ranges.iter().map(|r| tree.next(r)).collect();
            agentx::response(header, error::NONE, 0, &binds)
        }
        Pdu::GetBulk { header, non_repeaters, max_repetitions, ranges } => {
            let binds = tree.bulk(non_repeaters as usize, max_repetitions as usize, &ranges);
            agentx::response(header, error::NONE, 0, &binds)
        }
        // Read-only: every set fails its test; the rest of the set dance is acknowledged.
        Pdu::Set { header, kind: agentx::Kind::TestSet } => agentx::response(header, error::NOT_WRITABLE, 1, &[]),
        Pdu::Set { kind: agentx::Kind::CleanupSet, .. } => return Ok(()),
        Pdu::Set { header, .. } => agentx::response(header, error::NONE, 0, &[]),
        Pdu::Close { .. } => return Err(SubagentError::Closed),
        Pdu::Response { error: e, .. } if e != error::NONE => {
            warn!(target: "hato::snmp", "snmpd answered a notification or ping with AgentX error {e}");
            return Ok(());
        }
        Pdu::Response { .. } | Pdu::Other { .. } => return Ok(()),
    };
    c.send(&reply).await
}

/// Reads whole packets off the socket; ends the session on the first bad one.
async fn read_pdus(mut r: OwnedReadHalf, tx: mpsc::Sender<Result<Pdu, SubagentError>>) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        loop {
            match agentx::packet_len(&buf) {
                Ok(Some(n)) if buf.len() >= n => {
                    let pdu = agentx::decode(&buf[..n]).map_err(SubagentError::from);
                    buf.drain(..n);
                    let bad = pdu.is_err();
                    if tx.send(pdu).await.is_err() || bad {
                        return;
                    }
                }
                Ok(_) => break,
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            }
        }
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn dotted(oid: &[u32]) -> String {
    oid.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(".")
}
