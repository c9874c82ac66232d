//! POP3 (RFC 1939) on the same store as IMAP: `command` is the grammar,
//! `session` the conversation. Deleting here removes the message for IMAP
//! too: both read the INBOX rows of the store.

pub mod command;
mod session;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::guard::{Guard, Refusal};
use crate::listener::{self, Door};
use crate::store::Store;

pub struct Shared {
    pub cfg: Arc<Config>,
    pub store: Arc<Store>,
    pub guard: Arc<Guard>,
    pub tls: TlsAcceptor,
    /// Accounts with an open POP3 session: RFC 1939 gives one session the maildrop.
    pub locks: Mutex<HashSet<String>>,
}

fn refuse(r: Refusal) -> &'static [u8] {
    match r {
        Refusal::Busy => b"-ERR [SYS/TEMP] too many connections; try again later\r\n",
        Refusal::TooManyConnections => b"-ERR [SYS/TEMP] too many connections from your address\r\n",
        Refusal::TooFast => b"-ERR [SYS/TEMP] connecting too fast\r\n",
    }
}

/// Accepts POP3 connections forever; `implicit_tls` for port 995.
pub async fn serve(l: TcpListener, implicit_tls: bool, sh: Arc<Shared>) {
    let session_sh = sh.clone();
    let name = if implicit_tls { "pop3s" } else { "pop3" };
    let door = Door::open(name, sh.guard.clone(), implicit_tls.then(|| sh.tls.clone()), refuse, move |conn, ip| {
        session::Session::new(session_sh.clone(), conn, ip).run()
    });
    listener::serve(l, Arc::new(door)).await;
}
