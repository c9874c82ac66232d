//! One SMTP conversation: greeting, EHLO, STARTTLS, AUTH, and the command loop.
//! The mail transaction itself (MAIL, RCPT, DATA) lives in `transaction.rs`.

use crate::directory::Login;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tracing::{Instrument, debug, info, info_span, warn};

use super::command::{self, Command, Mechanism};
use super::transaction::Transaction;
use super::{Service, Shared, auth};
use crate::connection::{ConnError, Connection};

/// Longest command line accepted (RFC 5321 says 512; extensions and long AUTH
/// responses need more, and nothing legitimate needs more than this).
const MAX_LINE: usize = 4096;

pub struct Session {
    pub(super) sh: Arc<Shared>,
    pub(super) service: Service,
    pub(super) conn: Connection,
    pub(super) peer: IpAddr,
    pub(super) helo: Option<String>,
    pub(super) esmtp: bool,
    pub(super) auth_user: Option<String>,
    pub(super) tx: Option<Transaction>,
    errors: u32,
    /// The code of the latest reply, so DATA's outcome can be counted in one place.
    pub(super) last_code: u16,
}

/// Whether the loop goes on after a command.
pub(super) enum Flow {
    Continue,
    Close,
}

impl Session {
    pub fn new(sh: Arc<Shared>, service: Service, conn: Connection, peer: IpAddr) -> Session {
        Session {
            sh,
            service,
            conn,
            peer,
            helo: None,
            esmtp: false,
            auth_user: None,
            tx: None,
            errors: 0,
            last_code: 0,
        }
    }

    /// Runs the conversation to its end; every outcome is logged, none is returned.
    pub async fn run(mut self) {
        let _open = crate::stats::open(&crate::stats::STATS.smtp_sessions, &crate::stats::STATS.smtp_sessions_total);
        let sid = crate::ids::token(8);
        let span = info_span!(target: "hato::smtp", "smtp", sid = %sid, peer = %self.peer, svc = self.service.name());
        async move {
            info!(target: "hato::smtp", tls = self.conn.is_tls(), "connected");
            let host = self.sh.cfg.hostname.clone();
            self.reply(220, "", &format!("{host} ESMTP Hato"));
            match self.command_loop().await {
                Ok(()) => debug!(target: "hato::smtp", "closed"),
                Err(ConnError::Closed) => info!(target: "hato::smtp", "client disconnected"),
                Err(ConnError::Timeout(t)) => {
                    info!(target: "hato::smtp", "idle for {t:?}; closing");
                    self.reply(421, "4.4.2", &format!("{host} Timeout; closing connection"));
                }
                Err(e) => info!(target: "hato::smtp", "connection ended: {e}"),
            }
            self.conn.shutdown().await;
        }
        .instrument(span)
        .await
    }

    pub(super) fn reply(&mut self, code: u16, esc: &str, text: &str) {
        self.last_code = code;
        let line = if esc.is_empty() { format!("{code} {text}\r\n") } else { format!("{code} {esc} {text}\r\n") };
        self.conn.queue(line.as_bytes());
    }

    fn reply_multi(&mut self, code: u16, lines: &[String]) {
        self.last_code = code;
        for (i, l) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            self.conn.queue(format!("{code}{sep}{l}\r\n").as_bytes());
        }
    }

    pub(super) fn timeout(&self) -> Duration {
        Duration::from_secs(self.sh.cfg.smtp.command_timeout_secs)
    }

    /// Counts a client error; too many end the session. Each error also costs
    /// the client a growing delay, which slows down scanners and brute force.
    pub(super) async fn client_error(&mut self) -> Flow {
        self.errors += 1;
        if self.errors > self.sh.cfg.smtp.max_errors {
            warn!(target: "hato::smtp", errors = self.errors, "too many errors; closing");
            self.reply(421, "4.7.0", "Too many errors; closing connection");
            return Flow::Close;
        }
        let delay = Duration::from_millis(100 * u64::from(self.errors.saturating_sub(2)).min(30));
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Flow::Continue
    }

    async fn command_loop(&mut self) -> Result<(), ConnError> {
        loop {
            self.conn.flush_if_idle().await?;
            let line = match self.conn.read_line(MAX_LINE, self.timeout()).await {
                Ok(l) => l,
                Err(ConnError::LineTooLong(max)) => {
                    self.reply(500, "5.5.2", &format!("Line too long (limit {max} bytes)"));
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
                    let (code, esc, text) = e.reply();
                    debug!(target: "hato::smtp", "bad command: {text}");
                    self.reply(code, esc, &text);
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
        match cmd {
            Command::Ehlo(host) => Ok(self.hello(host, true)),
            Command::Helo(host) => Ok(self.hello(host, false)),
            Command::StartTls => self.start_tls().await,
            Command::Auth { mechanism, initial } => self.authenticate(mechanism, initial).await,
            Command::Mail { from, size, smtputf8, dsn } => Ok(self.mail(from, size, smtputf8, dsn).await),
            Command::Rcpt { to, dsn } => Ok(self.rcpt(to, dsn).await),
            Command::Data => self.data().await,
            Command::Bdat { size, last } => self.bdat(size, last).await,
            Command::Rset => {
                self.tx = None;
                self.reply(250, "2.0.0", "OK");
                Ok(Flow::Continue)
            }
            Command::Noop => {
                self.reply(250, "2.0.0", "OK");
                Ok(Flow::Continue)
            }
            Command::Quit => {
                let host = self.sh.cfg.hostname.clone();
                self.reply(221, "2.0.0", &format!("{host} closing connection"));
                Ok(Flow::Close)
            }
            // Answering VRFY/EXPN truthfully would let anyone list the accounts.
            Command::Vrfy => {
                self.reply(252, "2.5.2", "Cannot VRFY user; send mail and see");
                Ok(Flow::Continue)
            }
            Command::Expn => {
                self.reply(502, "5.5.1", "EXPN not available");
                Ok(Flow::Continue)
            }
            Command::Help => {
                self.reply(214, "2.0.0", "Hato SMTP; see RFC 5321");
                Ok(Flow::Continue)
            }
            Command::NotImplemented(name) => {
                self.reply(502, "5.5.1", &format!("{name} not implemented"));
                Ok(self.client_error().await)
            }
        }
    }

    fn hello(&mut self, host: String, esmtp: bool) -> Flow {
        if let Some(rule) = super::policy::helo_rejected(&self.sh.cfg.policy, &host) {
            info!(target: "hato::smtp", helo = %host, rule, "rejected: HELO on reject list");
            self.reply(550, "5.7.1", &format!("HELO name {host} refused by policy"));
            return Flow::Continue;
        }
        self.esmtp = esmtp;
        self.tx = None;
        self.helo = Some(host.clone());
        let me = self.sh.cfg.hostname.clone();
        if !esmtp {
            self.reply(250, "", &format!("{me} Hello {host}"));
            return Flow::Continue;
        }
        let mut lines = vec![
            format!("{me} Hello {host} [{}]", self.peer),
            "PIPELINING".into(),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            format!("SIZE {}", self.sh.cfg.smtp.max_message_size),
            "ENHANCEDSTATUSCODES".into(),
            "DSN".into(),
            "CHUNKING".into(),
        ];
        if !self.conn.is_tls() {
            lines.push("STARTTLS".into());
        }
        if self.auth_offered() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        self.reply_multi(250, &lines);
        Flow::Continue
    }

    fn auth_offered(&self) -> bool {
        self.service != Service::Mx
            && self.auth_user.is_none()
            && (self.conn.is_tls() || self.sh.cfg.smtp.allow_plaintext_auth)
    }

    async fn start_tls(&mut self) -> Result<Flow, ConnError> {
        if self.conn.is_tls() {
            self.reply(503, "5.5.1", "TLS already active");
            return Ok(Flow::Continue);
        }
        self.reply(220, "2.0.0", "Ready to start TLS");
        let acceptor = self.sh.tls.clone();
        if let Err(e) = self.conn.start_tls(&acceptor).await {
            info!(target: "hato::smtp", "STARTTLS failed: {e}");
            return Err(e);
        }
        // RFC 3207 §4.2: forget everything learnt before the handshake.
        self.helo = None;
        self.esmtp = false;
        self.tx = None;
        self.auth_user = None;
        debug!(target: "hato::smtp", "TLS established");
        Ok(Flow::Continue)
    }

    /// Reads one SASL continuation response; None when the client cancelled with "*".
    async fn sasl_response(&mut self, challenge: &str) -> Result<Option<String>, ConnError> {
        self.conn.queue(format!("334 {challenge}\r\n").as_bytes());
        self.conn.flush().await?;
        let line = self.conn.read_line(MAX_LINE, self.timeout()).await?;
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        Ok((text != "*").then_some(text))
    }

    async fn authenticate(&mut self, mech: Mechanism, initial: Option<String>) -> Result<Flow, ConnError> {
        if self.service == Service::Mx {
            self.reply(503, "5.5.1", "AUTH is not available on this port; use submission (587/465)");
            return Ok(self.client_error().await);
        }
        if !self.conn.is_tls() && !self.sh.cfg.smtp.allow_plaintext_auth {
            self.reply(538, "5.7.11", "Encryption required: issue STARTTLS first");
            return Ok(self.client_error().await);
        }
        if self.auth_user.is_some() || self.tx.is_some() || self.helo.is_none() {
            self.reply(503, "5.5.1", "AUTH not allowed now (send EHLO first, once, outside a transaction)");
            return Ok(self.client_error().await);
        }
        let creds = match mech {
            Mechanism::Plain => {
                let resp = match initial {
                    Some(r) => Some(r),
                    None => self.sasl_response("").await?,
                };
                resp.map(|r| auth::decode_plain(&r))
            }
            Mechanism::Login => {
                let user = match initial {
                    Some(r) => Some(r),
                    None => self.sasl_response("VXNlcm5hbWU6").await?,
                };
                match user.map(|u| auth::decode_text(&u)) {
                    None => None,
                    Some(Err(e)) => Some(Err(e)),
                    Some(Ok(user)) => {
                        self.sasl_response("UGFzc3dvcmQ6").await?.map(|p| auth::decode_text(&p).map(|p| (user, p)))
                    }
                }
            }
        };
        let (user, pass) = match creds {
            None => {
                self.reply(501, "5.7.0", "Authentication cancelled");
                return Ok(Flow::Continue);
            }
            Some(Err(auth::SaslError::BadBase64)) => {
                self.reply(501, "5.5.2", "Invalid base64 in AUTH response");
                return Ok(self.client_error().await);
            }
            Some(Err(auth::SaslError::Malformed)) => {
                self.reply(501, "5.5.2", "Malformed AUTH response");
                return Ok(self.client_error().await);
            }
            Some(Ok(c)) => c,
        };
        let user = user.to_lowercase();
        let check = async {
            if self.service != Service::Mx && crate::directory::tokens::redeem(&user, &pass) {
                return Ok(Some(user.clone()));
            }
            crate::directory::authenticate(&self.sh.store, &user, &pass).await
        };
        match crate::directory::login(&self.sh.store, self.sh.guard.limits(), self.peer, &user, check).await {
            Ok(Login::Locked) => {
                warn!(target: "hato::smtp", user = %user, "AUTH refused: locked out after repeated failures");
                self.reply(454, "4.7.0", "Too many failed logins; try again later");
                Ok(self.client_error().await)
            }
            Ok(Login::Ok(account)) => {
                info!(target: "hato::smtp", user = %account, "authenticated");
                self.auth_user = Some(account);
                self.reply(235, "2.7.0", "Authentication successful");
                Ok(Flow::Continue)
            }
            Ok(Login::Failed) => {
                warn!(target: "hato::smtp", user = %user, "authentication failed");
                self.reply(535, "5.7.8", "Authentication credentials invalid");
                Ok(self.client_error().await)
            }
            Err(e) => {
                warn!(target: "hato::smtp", "authentication lookup failed: {e}");
                self.reply(454, "4.7.0", "Temporary authentication failure");
                Ok(Flow::Continue)
            }
        }
    }
}
