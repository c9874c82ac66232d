//! Outbound SMTP: hand one message to one next-hop host.
//!
//! TLS to MX hosts is opportunistic (RFC 3207 without authentication, as in
//! Postfix's `smtp_tls_security_level = may`): used whenever offered,
//! certificate not checked, because the alternative for most MX hosts is
//! plaintext. TLS to the smarthost is always verified (`Options::verify`):
//! the certificate must chain to the public roots or `ca_file` and name the
//! host, or the message is deferred before anything — the relay password
//! above all — is sent. A relay marked `require_tls` refuses to continue
//! without TLS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{auth, data};
use crate::connection::{ConnError, Connection, Stream};
use crate::store::dsn::{EnvelopeDsn, RecipientDsn, xtext};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Try again later (or another host): connection trouble or a 4xx for the whole transaction.
    #[error("{0}")]
    Temporary(String),
    /// The receiver refused the whole transaction with a 5xx.
    #[error("{0}")]
    Permanent(String),
}

/// What the receiver said about one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptResult {
    Accepted(String),
    Temporary(String),
    Permanent(String),
}

/// Who a message is from and for, with what its sender asked to be told
/// (RFC 3461): passed on when the receiver offers DSN.
pub struct Envelope<'a> {
    pub sender: &'a str,
    pub dsn: &'a EnvelopeDsn,
    pub recipients: Vec<(&'a str, &'a RecipientDsn)>,
}

/// What a transaction that reached RCPT achieved.
pub struct Sent {
    /// One per recipient, in the envelope's order.
    pub results: Vec<RcptResult>,
    /// The receiver offered DSN and was given the sender's requests, so
    /// reporting on the accepted recipients is its job now (RFC 3461 §5.2.2).
    pub dsn_passed_on: bool,
}

pub struct Options {
    pub helo: String,
    /// Check the certificate (smarthost) rather than take any (MX).
    pub verify: bool,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub opportunistic_tls: bool,
    pub require_tls: bool,
    pub credentials: Option<(String, String)>,
    /// The host's validated TLSA records: TLS required, certificate matched against them.
    pub dane: Option<Vec<crate::dane::Tlsa>>,
}

struct Reply {
    code: u16,
    text: String,
}

impl Reply {
    fn summary(&self) -> String {
        format!("{} {}", self.code, self.text.replace('\n', " "))
    }
}

struct Client<'a> {
    conn: Connection,
    opts: &'a Options,
    host: String,
}

impl Client<'_> {
    async fn read_reply(&mut self) -> Result<Reply, SendError> {
        let mut text = Vec::new();
        loop {
            let line = self.conn.read_line(4096, self.opts.command_timeout).await.map_err(|e| self.net(e))?;
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok()).filter(|c| (200..600).contains(c));
            let Some(code) = code else {
                return Err(SendError::Temporary(format!("{}: malformed reply '{line}'", self.host)));
            };
            text.push(line.get(4..).unwrap_or("").to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code, text: text.join("\n") });
            }
        }
    }

    fn net(&self, e: ConnError) -> SendError {
        SendError::Temporary(format!("{}: {e}", self.host))
    }

    async fn command(&mut self, line: &str) -> Result<Reply, SendError> {
        self.conn.queue(line.as_bytes());
        self.conn.queue(b"\r\n");
        self.conn.flush().await.map_err(|e| self.net(e))?;
        self.read_reply().await
    }

    /// A reply outside 2xx/3xx ends the whole transaction.
    fn fail(&self, stage: &str, r: &Reply) -> SendError {
        let msg = format!("{} said at {stage}: {}", self.host, r.summary());
        if r.code >= 500 { SendError::Permanent(msg) } else { SendError::Temporary(msg) }
    }

    async fn ehlo(&mut self) -> Result<Vec<String>, SendError> {
        let r = self.command(&format!("EHLO {}", self.opts.helo)).await?;
        if r.code == 250 {
            return Ok(r.text.lines().skip(1).map(|l| l.to_uppercase()).collect());
        }
        let r = self.command(&format!("HELO {}", self.opts.helo)).await?;
        if r.code != 250 {
            return Err(self.fail("HELO", &r));
        }
        Ok(Vec::new())
    }
}

/// Delivers one message to one host. Per-recipient results are returned when
/// the transaction got as far as RCPT; an error means it applies to all.
pub async fn send(
    opts: &Options,
    tls: &Connectors,
    host: &str,
    addr: SocketAddr,
    env: &Envelope<'_>,
    body: &[u8],
) -> Result<Sent, SendError> {
    let sender = env.sender;
    let tcp = tokio::time::timeout(opts.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| SendError::Temporary(format!("{host} [{addr}]: connection timed out")))?
        .map_err(|e| SendError::Temporary(format!("{host} [{addr}]: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let mut c = Client { conn: Connection::new(Stream::Plain(tcp)), opts, host: format!("{host} [{addr}]") };
    let greeting = c.read_reply().await?;
    if greeting.code != 220 {
        return Err(c.fail("greeting", &greeting));
    }
    let mut caps = c.ehlo().await?;
    let has = |caps: &[String], cap: &str| caps.iter().any(|c| c == cap || c.starts_with(&format!("{cap} ")));
    if (opts.opportunistic_tls || opts.dane.is_some()) && has(&caps, "STARTTLS") {
        let r = c.command("STARTTLS").await?;
        if r.code == 220 {
            let name =
                ServerName::try_from(host.to_string()).unwrap_or_else(|_| ServerName::IpAddress(addr.ip().into()));
            let connector = match &opts.dane {
                Some(records) => crate::dane::connector(records),
                None if opts.verify => tls.verified.clone(),
                None => tls.any.clone(),
            };
            c.conn.start_tls_client(&connector, name).await.map_err(|e| match e {
                ConnError::Tls(e) if opts.dane.is_some() => {
                    SendError::Temporary(format!("{}: TLS failed the host's DANE TLSA records ({e})", c.host))
                }
                ConnError::Tls(e) if opts.verify => SendError::Temporary(format!(
                    "{}: TLS with a verified certificate failed ({e}); for a private CA set [delivery] ca_file",
                    c.host
                )),
                e => c.net(e),
            })?;
            caps = c.ehlo().await?;
        }
    }
    if (opts.require_tls || opts.dane.is_some()) && !c.conn.is_tls() {
        let why = if opts.dane.is_some() { "its DANE TLSA records require TLS" } else { "TLS is required" };
        return Err(SendError::Temporary(format!("{}: {why}, but TLS was not established", c.host)));
    }
    if let Some((user, pass)) = &opts.credentials {
        if !c.conn.is_tls() {
            return Err(SendError::Temporary(format!("{}: refusing to send the relay password without TLS", c.host)));
        }
        let token = auth::encode_b64(format!("\0{user}\0{pass}").as_bytes());
        let r = c.command(&format!("AUTH PLAIN {token}")).await?;
        if r.code != 235 {
            // A refused relay login is a configuration problem, not the message's:
            // keep the mail queued until an admin fixes the credentials.
            return Err(SendError::Temporary(format!("{} said at AUTH: {}", c.host, r.summary())));
        }
    }
    let mut mail = format!("MAIL FROM:<{sender}>");
    if has(&caps, "SIZE") {
        mail.push_str(&format!(" SIZE={}", body.len()));
    }
    if has(&caps, "8BITMIME") && !body.is_ascii() {
        mail.push_str(" BODY=8BITMIME");
    }
    let needs_utf8 = !sender.is_ascii() || env.recipients.iter().any(|(r, _)| !r.is_ascii());
    if needs_utf8 {
        if !has(&caps, "SMTPUTF8") {
            return Err(SendError::Permanent(format!(
                "{}: does not support SMTPUTF8, needed for these addresses",
                c.host
            )));
        }
        mail.push_str(" SMTPUTF8");
    }
    let dsn = has(&caps, "DSN");
    if dsn {
        if let Some(ret) = env.dsn.ret {
            mail.push_str(&format!(" RET={}", ret.as_str()));
        }
        if let Some(id) = &env.dsn.envid {
            mail.push_str(&format!(" ENVID={}", xtext(id)));
        }
    }
    let r = c.command(&mail).await?;
    if r.code != 250 {
        return Err(c.fail("MAIL FROM", &r));
    }
    let mut results = Vec::with_capacity(env.recipients.len());
    for (rcpt, rdsn) in &env.recipients {
        let mut line = format!("RCPT TO:<{rcpt}>");
        if dsn {
            if let Some(n) = rdsn.notify {
                line.push_str(&format!(" NOTIFY={n}"));
            }
            if let Some(o) = &rdsn.orcpt {
                line.push_str(&format!(" ORCPT=rfc822;{}", xtext(o)));
            }
        }
        let r = c.command(&line).await?;
        results.push(match r.code {
            200..=299 => RcptResult::Accepted(r.summary()),
            500..=599 => RcptResult::Permanent(format!("{} said at RCPT: {}", c.host, r.summary())),
            _ => RcptResult::Temporary(format!("{} said at RCPT: {}", c.host, r.summary())),
        });
    }
    if results.iter().any(|r| matches!(r, RcptResult::Accepted(_))) {
        let r = c.command("DATA").await?;
        if r.code != 354 {
            return Err(c.fail("DATA", &r));
        }
        c.conn.queue(&data::stuff(body));
        c.conn.flush().await.map_err(|e| c.net(e))?;
        let r = c.read_reply().await?;
        if !(200..300).contains(&r.code) {
            return Err(c.fail("end of DATA", &r));
        }
        for res in &mut results {
            if matches!(res, RcptResult::Accepted(_)) {
                *res = RcptResult::Accepted(r.summary());
            }
        }
    }
    let _ = c.command("QUIT").await;
    c.conn.shutdown().await;
    Ok(Sent { results, dsn_passed_on: dsn })
}

/// The two ways outbound TLS checks a certificate, made once.
#[derive(Clone)]
pub struct Connectors {
    any: TlsConnector,
    verified: TlsConnector,
}

impl Connectors {
    /// The connector that verifies certificates (MTA-STS policy fetches use it too).
    pub fn verified(&self) -> TlsConnector {
        self.verified.clone()
    }

    /// `roots`: what a verified certificate must chain to (`tls::client_roots`).
    pub fn new(roots: rustls::RootCertStore) -> Connectors {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = || {
            rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .unwrap_or_else(|_| unreachable!("ring supports the default TLS versions"))
        };
        let any = builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(provider.clone())))
            .with_no_client_auth();
        let verified = builder().with_root_certificates(roots).with_no_client_auth();
        Connectors { any: TlsConnector::from(Arc::new(any)), verified: TlsConnector::from(Arc::new(verified)) }
    }
}

/// Accepts any certificate but still checks the handshake signatures, so the
/// session is encrypted to whoever holds the key the server presented.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    crate::verify_signatures_with!(0);
}
