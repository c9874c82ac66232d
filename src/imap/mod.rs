//! IMAP4rev1 on the shared store. imap-codec parses (its `Fragmentizer`
//! frames lines and literals, `CommandCodec` decodes); `extended` covers the
//! grammar imap-codec lacks (ESEARCH's RETURN, CONTEXT's options and
//! CANCELUPDATE, LIST-EXTENDED), `context` keeps searches up to date,
//! `notify` reads NOTIFY and words what it reports, `url` reads IMAP URLs, and
//! `append` cuts an APPEND of several messages into APPENDs of one; `session` holds
//! the conversation; `view` keeps a selected mailbox's sequence numbers in
//! step with the store, and `kept` the last view of each mailbox for the
//! next SELECT; `fetch` and `structure` render message data; `search`
//! evaluates SEARCH keys, skipping messages `sketch` rules out; `sort` and
//! `thread` order results; `utf7` converts mailbox names between the wire
//! (modified UTF-7) and the store (UTF-8).
//!
//! IMAP4rev1, and IMAP4rev2 after ENABLE (UTF-8 mailbox names, no \Recent,
//! SEARCH answered by ESEARCH). Extensions: LITERAL+, IDLE (woken by the
//! store's per-account notifier), UNSELECT, UIDPLUS, MOVE, NAMESPACE, ID,
//! ENABLE, CONDSTORE, QRESYNC, QUOTA, ESEARCH, SEARCHRES, LIST-EXTENDED,
//! LIST-STATUS, STATUS=SIZE, SPECIAL-USE, BINARY, SASL-IR, UTF8=ACCEPT,
//! MULTIAPPEND, CATENATE, NOTIFY, SORT (+DISPLAY), ESORT, CONTEXT=SEARCH/SORT, THREAD=ORDEREDSUBJECT/REFERENCES,
//! COMPRESS=DEFLATE.

mod append;
mod context;
mod extended;
mod fetch;
mod fuzz;
mod kept;
mod notify;
mod search;
mod session;
mod sketch;
mod sort;
mod structure;
mod thread;
mod url;
mod utf7;
mod view;

pub use fuzz::fuzz_input;

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
    /// What BODY and TEXT searches learnt of each message (`sketch`).
    pub sketches: sketch::Cache,
    /// The view of each mailbox selected lately, for the next SELECT (`kept`).
    pub views: kept::Views,
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
