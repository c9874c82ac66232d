//! IMAP4rev1 on the shared store. imap-codec parses (its `Fragmentizer`
//! frames lines and literals, `CommandCodec` decodes); `session` holds the
//! conversation; `view` keeps a selected mailbox's sequence numbers in step
//! with the store; `fetch` renders message data.
//!
//! Built so far: LOGIN and AUTHENTICATE PLAIN (after STARTTLS or on 993),
//! SELECT/EXAMINE, CREATE/DELETE/RENAME/SUBSCRIBE, LIST/LSUB, STATUS,
//! APPEND (quota enforced), FETCH and UID FETCH of flags, sizes, dates,
//! ENVELOPE, BODYSTRUCTURE and body sections (numbered parts too, via
//! `structure` on mail-parser's MIME tree), STORE, COPY/MOVE and UID EXPUNGE with UIDPLUS codes,
//! SEARCH over decoded text in any charset (`search`), EXPUNGE, CLOSE,
//! UNSELECT, IDLE, with other sessions' changes reported as
//! EXISTS/EXPUNGE/FETCH. The rest of issue 3 (ESEARCH, SORT/THREAD,
//! CONDSTORE/QRESYNC, QUOTA, NAMESPACE, ID, ENABLE,
//! BINARY) is answered with NO until built.

mod fetch;
mod search;
mod structure;
mod session;
mod view;

use std::sync::Arc;

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
}

fn refuse(r: Refusal) -> &'static [u8] {
    match r {
        Refusal::Busy => b"* BYE [UNAVAILABLE] too many connections; try again later\r\n",
        Refusal::TooManyConnections => b"* BYE [UNAVAILABLE] too many connections from your address\r\n",
        Refusal::TooFast => b"* BYE [UNAVAILABLE] connecting too fast\r\n",
    }
}

/// Accepts IMAP connections forever; `implicit_tls` for port 993.
pub async fn serve(l: TcpListener, implicit_tls: bool, sh: Arc<Shared>) {
    let session_sh = sh.clone();
    let name = if implicit_tls { "imaps" } else { "imap" };
    let door = Door::open(name, sh.guard.clone(), implicit_tls.then(|| sh.tls.clone()), refuse, move |conn, ip| {
        session::Session::new(session_sh.clone(), conn, ip).run()
    });
    listener::serve(l, Arc::new(door)).await;
}
