//! SMTP: the inbound server (MX and submission) and the outbound client.
//!
//! - `command`: the grammar (one line → `Command`), no state.
//! - `data`: DATA dot-unstuffing and end detection.
//! - `auth`: SASL PLAIN/LOGIN decoding.
//! - `message`: the few header facts SMTP reads and the trace headers it adds.
//! - `policy`: reject lists.
//! - `resend`: a client's resend after a lost 250 is answered, not queued twice.
//! - `session` + `transaction` + `body`: the conversation, the envelope, the
//!   body (DATA or BDAT) and the commit before 250.
//! - `server`: listeners, admission control, TLS-on-connect.
//! - `client`: talking to other servers for remote delivery.

pub mod auth;
mod body;
pub mod client;
pub mod command;
pub mod data;
pub mod message;
pub mod policy;
mod resend;
pub mod server;
mod session;
mod transaction;

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::guard::Guard;
use crate::store::Store;

/// Which door a client came in by; decides AUTH and relay rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// Port 25: mail for local domains from anyone, no AUTH.
    Mx,
    /// Port 587: STARTTLS, then AUTH, then mail anywhere.
    Submission,
    /// Port 465: TLS from the first byte.
    Submissions,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Mx => "mx",
            Service::Submission => "submission",
            Service::Submissions => "submissions",
        }
    }
}

/// What every session needs from the running server.
pub struct Shared {
    pub cfg: Arc<Config>,
    pub store: Arc<Store>,
    pub guard: Arc<Guard>,
    pub tls: TlsAcceptor,
    /// Woken after each commit so the queue delivers without waiting for its next scan.
    pub queue_wake: Arc<Notify>,
    pub spam: Arc<crate::spam::Scorer>,
    pub mailauth: Arc<crate::mailauth::Checker>,
    /// `[sieve] server_script`, compiled at start-up.
    pub server_sieve: Arc<crate::sieve::server::ServerScript>,
}
