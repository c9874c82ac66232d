//! One POP3 conversation: AUTHORIZATION, TRANSACTION, UPDATE (RFC 1939 §3).

use crate::directory::Login;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tracing::{Instrument, debug, info, info_span, warn};

use super::Shared;
use super::command::{self, Command};
use crate::connection::{ConnError, Connection};
use crate::smtp::auth;

const MAX_LINE: usize = 1024;

struct Msg {
    uid: i64,
    size: i64,
    deleted: bool,
}

/// The maildrop while a session holds it: a snapshot taken at login.
struct Maildrop {
    account: String,
    uidvalidity: i64,
    msgs: Vec<Msg>,
}

/// Releases the maildrop lock however the session ends.
struct Lock {
    sh: Arc<Shared>,
    account: String,
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.sh.locks.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.account);
    }
}

pub struct Session {
    sh: Arc<Shared>,
    conn: Connection,
    peer: IpAddr,
    user: Option<String>,
    drop: Option<(Maildrop, Lock)>,
    errors: u32,
}

enum Flow {
    Continue,
    Close,
}

impl Session {
    pub fn new(sh: Arc<Shared>, conn: Connection, peer: IpAddr) -> Session {
        Session { sh, conn, peer, user: None, drop: None, errors: 0 }
    }

    pub async fn run(mut self) {
        let _open = crate::stats::open(&crate::stats::STATS.pop3_sessions, &crate::stats::STATS.pop3_sessions_total);
        let sid = crate::ids::token(8);
        let span = info_span!(target: "hato::pop3", "pop3", sid = %sid, peer = %self.peer);
        async move {
            info!(target: "hato::pop3", tls = self.conn.is_tls(), "connected");
            self.ok("Hato POP3 ready");
            match self.command_loop().await {
                Ok(()) | Err(ConnError::Closed) => debug!(target: "hato::pop3", "closed"),
                Err(ConnError::Timeout(t)) => {
                    info!(target: "hato::pop3", "idle for {t:?}; closing without deleting anything");
                    self.err("[SYS/TEMP] idle timeout; closing");
                }
                Err(e) => info!(target: "hato::pop3", "connection ended: {e}"),
            }
            self.conn.shutdown().await;
        }
        .instrument(span)
        .await
    }

    fn ok(&mut self, text: &str) {
        self.conn.queue(format!("+OK {text}\r\n").as_bytes());
    }

    fn err(&mut self, text: &str) {
        self.conn.queue(format!("-ERR {text}\r\n").as_bytes());
    }

    fn timeout(&self) -> Duration {
        let p = &self.sh.cfg.pop3;
        Duration::from_secs(if self.drop.is_some() { p.idle_timeout_secs } else { p.login_timeout_secs })
    }

    async fn client_error(&mut self) -> Flow {
        self.errors += 1;
        if self.errors > self.sh.cfg.smtp.max_errors {
            self.err("too many errors; closing");
            return Flow::Close;
        }
        Flow::Continue
    }

    async fn command_loop(&mut self) -> Result<(), ConnError> {
        loop {
            self.conn.flush_if_idle().await?;
            let line = match self.conn.read_line(MAX_LINE, self.timeout()).await {
                Ok(l) => l,
                Err(ConnError::LineTooLong(max)) => {
                    self.err(&format!("line too long (limit {max} bytes)"));
                    if let Flow::Close = self.client_error().await {
                        self.conn.flush().await?;
                        return Ok(());
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let flow = match command::parse(&line) {
                Ok(cmd) => self.dispatch(cmd).await?,
                Err(e) => {
                    self.err(&e);
                    self.client_error().await
                }
            };
            if let Flow::Close = flow {
                self.conn.flush().await?;
                return Ok(());
            }
        }
    }

    async fn dispatch(&mut self, cmd: Command) -> Result<Flow, ConnError> {
        if self.drop.is_none() {
            return self.authorization(cmd).await;
        }
        Ok(self.transaction(cmd).await)
    }

    fn auth_allowed(&self) -> bool {
        self.conn.is_tls() || self.sh.cfg.pop3.allow_plaintext_auth
    }

    fn capa(&mut self) {
        let mut caps =
            vec!["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER", "IMPLEMENTATION Hato"];
        if self.drop.is_none() {
            if self.auth_allowed() {
                caps.extend(["USER", "SASL PLAIN"]);
            }
            if !self.conn.is_tls() {
                caps.push("STLS");
            }
        }
        let mut text = String::from("+OK capability list follows\r\n");
        for c in caps {
            text.push_str(c);
            text.push_str("\r\n");
        }
        text.push_str(".\r\n");
        self.conn.queue(text.as_bytes());
    }

    async fn authorization(&mut self, cmd: Command) -> Result<Flow, ConnError> {
        match cmd {
            Command::Capa => self.capa(),
            Command::Quit => {
                self.ok("Hato POP3 signing off");
                return Ok(Flow::Close);
            }
            Command::Noop => self.ok(""),
            Command::Stls if self.conn.is_tls() => self.err("TLS already active"),
            Command::Stls => {
                self.ok("begin TLS negotiation");
                let acceptor = self.sh.tls.clone();
                self.conn.start_tls(&acceptor).await?;
                self.user = None;
            }
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } if !self.auth_allowed() => {
                self.err("[AUTH] use STLS (or port 995) before sending credentials");
                return Ok(self.client_error().await);
            }
            Command::User(u) => {
                self.user = Some(u);
                self.ok("send PASS");
            }
            Command::Pass(p) => {
                let Some(user) = self.user.take() else {
                    self.err("send USER first");
                    return Ok(self.client_error().await);
                };
                return Ok(self.login(&user, &p).await);
            }
            Command::Auth { mechanism, initial } => {
                if mechanism != "PLAIN" {
                    self.err("unsupported mechanism; use PLAIN");
                    return Ok(self.client_error().await);
                }
                let resp = match initial {
                    Some(i) => i,
                    None => {
                        self.conn.queue(b"+ \r\n");
                        self.conn.flush().await?;
                        let line = self.conn.read_line(MAX_LINE, self.timeout()).await?;
                        String::from_utf8_lossy(&line).trim_end().to_string()
                    }
                };
                if resp == "*" {
                    self.err("authentication cancelled");
                    return Ok(Flow::Continue);
                }
                match auth::decode_plain(&resp) {
                    Ok((u, p)) => return Ok(self.login(&u, &p).await),
                    Err(_) => {
                        self.err("malformed or non-base64 AUTH response");
                        return Ok(self.client_error().await);
                    }
                }
            }
            _ => {
                self.err("log in first");
                return Ok(self.client_error().await);
            }
        }
        Ok(Flow::Continue)
    }

    async fn login(&mut self, user: &str, pass: &str) -> Flow {
        let user = user.to_lowercase();
        let check = crate::directory::authenticate(&self.sh.store, &user, pass);
        let account =
            match crate::directory::login(&self.sh.store, self.sh.guard.limits(), self.peer, &user, check).await {
                Ok(Login::Ok(a)) => a,
                Ok(Login::Locked) => {
                    warn!(target: "hato::pop3", user = %user, "login refused: locked out after repeated failures");
                    self.err("[LOGIN-DELAY] too many failed logins; try again later");
                    return self.client_error().await;
                }
                Ok(Login::Failed) => {
                    warn!(target: "hato::pop3", user = %user, "authentication failed");
                    self.err("[AUTH] authentication failed");
                    return self.client_error().await;
                }
                Err(e) => {
                    warn!(target: "hato::pop3", "authentication lookup failed: {e}");
                    self.err("[SYS/TEMP] temporary failure; try again");
                    return Flow::Continue;
                }
            };
        if !self.sh.locks.lock().unwrap_or_else(|p| p.into_inner()).insert(account.clone()) {
            self.err("[IN-USE] another POP3 session has this mailbox open");
            return Flow::Continue;
        }
        let lock = Lock { sh: self.sh.clone(), account: account.clone() };
        match self.sh.store.snapshot(account.clone(), "INBOX".into()).await {
            Ok(snap) => {
                let msgs: Vec<Msg> =
                    snap.messages.into_iter().map(|m| Msg { uid: m.uid, size: m.size, deleted: false }).collect();
                let total: i64 = msgs.iter().map(|m| m.size).sum();
                info!(target: "hato::pop3", user = %account, messages = msgs.len(), "logged in");
                self.ok(&format!("{account} has {} messages ({total} octets)", msgs.len()));
                self.drop = Some((Maildrop { account, uidvalidity: snap.uidvalidity, msgs }, lock));
            }
            Err(e) => {
                warn!(target: "hato::pop3", "cannot open the maildrop: {e}");
                self.err("[SYS/TEMP] cannot open the mailbox; try again");
            }
        }
        Flow::Continue
    }

    /// The message numbered `n` (1-based), unless deleted.
    fn msg(&self, n: usize) -> Option<&Msg> {
        self.drop.as_ref()?.0.msgs.get(n.checked_sub(1)?).filter(|m| !m.deleted)
    }

    async fn transaction(&mut self, cmd: Command) -> Flow {
        let Some((md, _)) = self.drop.as_mut() else { return Flow::Close };
        let live = |md: &Maildrop| {
            md.msgs.iter().filter(|m| !m.deleted).map(|m| m.size).fold((0usize, 0i64), |(n, s), z| (n + 1, s + z))
        };
        match cmd {
            Command::Stat => {
                let (n, s) = live(md);
                self.ok(&format!("{n} {s}"));
            }
            Command::List(None) | Command::Uidl(None) => {
                let uidl = matches!(cmd, Command::Uidl(None));
                let mut text = String::from("+OK\r\n");
                for (i, m) in md.msgs.iter().enumerate().filter(|(_, m)| !m.deleted) {
                    if uidl {
                        text.push_str(&format!("{} {}.{}\r\n", i + 1, md.uidvalidity, m.uid));
                    } else {
                        text.push_str(&format!("{} {}\r\n", i + 1, m.size));
                    }
                }
                text.push_str(".\r\n");
                self.conn.queue(text.as_bytes());
            }
            Command::List(Some(n)) | Command::Uidl(Some(n)) => {
                let uidl = matches!(cmd, Command::Uidl(_));
                let uidvalidity = md.uidvalidity;
                match self.msg(n).map(|m| (m.uid, m.size)) {
                    Some((uid, _)) if uidl => self.ok(&format!("{n} {uidvalidity}.{uid}")),
                    Some((_, size)) => self.ok(&format!("{n} {size}")),
                    None => self.err("no such message"),
                }
            }
            Command::Retr(n) | Command::Top(n, _) => {
                let account = md.account.clone();
                let Some(uid) = self.msg(n).map(|m| m.uid) else {
                    self.err("no such message");
                    return self.client_error().await;
                };
                match self.sh.store.content(account, "INBOX".into(), uid).await {
                    Ok(Some(body)) => {
                        let (text, size) = match cmd {
                            Command::Top(_, lines) => (top(&body, lines), body.len()),
                            _ => (body.clone(), body.len()),
                        };
                        self.ok(&format!("{size} octets"));
                        self.conn.queue(&crate::smtp::data::stuff(&text));
                    }
                    Ok(None) => self.err("message was removed by another session"),
                    Err(e) => {
                        warn!(target: "hato::pop3", "cannot read message: {e}");
                        self.err("[SYS/TEMP] cannot read the message; try again");
                    }
                }
            }
            Command::Dele(n) => {
                let idx = n - 1;
                match md.msgs.get_mut(idx) {
                    Some(m) if !m.deleted => {
                        m.deleted = true;
                        self.ok(&format!("message {n} deleted"));
                    }
                    _ => self.err("no such message"),
                }
            }
            Command::Rset => {
                md.msgs.iter_mut().for_each(|m| m.deleted = false);
                let (n, s) = live(md);
                self.ok(&format!("maildrop has {n} messages ({s} octets)"));
            }
            Command::Noop => self.ok(""),
            Command::Capa => self.capa(),
            Command::Quit => return self.update().await,
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } | Command::Stls => {
                self.err("already logged in");
                return self.client_error().await;
            }
        }
        Flow::Continue
    }

    /// The UPDATE state: remove what was deleted, then say goodbye.
    async fn update(&mut self) -> Flow {
        let Some((md, _lock)) = self.drop.take() else { return Flow::Close };
        let uids: Vec<i64> = md.msgs.iter().filter(|m| m.deleted).map(|m| m.uid).collect();
        if uids.is_empty() {
            self.ok("Hato POP3 signing off");
            return Flow::Close;
        }
        match self.sh.store.expunge(md.account.clone(), "INBOX".into(), uids.clone()).await {
            Ok(n) => {
                info!(target: "hato::pop3", user = %md.account, deleted = n, "messages deleted at QUIT");
                self.ok(&format!("Hato POP3 signing off ({n} messages deleted)"));
            }
            Err(e) => {
                warn!(target: "hato::pop3", "delete at QUIT failed: {e}");
                self.err("[SYS/TEMP] some deleted messages were not removed");
            }
        }
        Flow::Close
    }
}

/// The header, the blank line, and the first `lines` lines of the body.
fn top(msg: &[u8], lines: usize) -> Vec<u8> {
    let split = msg.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4).unwrap_or(msg.len());
    let mut out = msg[..split].to_vec();
    for line in msg[split..].split_inclusive(|b| *b == b'\n').take(lines) {
        out.extend_from_slice(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::top;

    #[test]
    fn top_takes_header_and_n_lines() {
        let m = b"Subject: x\r\nFrom: y\r\n\r\none\r\ntwo\r\nthree\r\n";
        assert_eq!(top(m, 0), b"Subject: x\r\nFrom: y\r\n\r\n");
        assert_eq!(top(m, 2), b"Subject: x\r\nFrom: y\r\n\r\none\r\ntwo\r\n");
        assert_eq!(top(m, 99), m);
        assert_eq!(top(b"no body", 3), b"no body");
    }
}
