//! SMTP's doors: the MX, submission and submissions ports.

use std::sync::Arc;

use tokio::net::TcpListener;

use super::session::Session;
use super::{Service, Shared, policy};
use crate::guard::Refusal;
use crate::listener::{self, Door};

fn refuse(r: Refusal) -> &'static [u8] {
    match r {
        Refusal::Busy => b"421 4.3.2 Too many connections; try again later\r\n",
        Refusal::TooManyConnections => b"421 4.7.0 Too many connections from your address\r\n",
        Refusal::TooFast => b"421 4.7.0 Connecting too fast; slow down\r\n",
    }
}

/// Accepts SMTP connections forever.
pub async fn serve(l: TcpListener, service: Service, sh: Arc<Shared>) {
    let policy_sh = sh.clone();
    let session_sh = sh.clone();
    let door = Door {
        name: service.name(),
        guard: sh.guard.clone(),
        tls: (service == Service::Submissions).then(|| sh.tls.clone()),
        refuse,
        blocked: Box::new(move |ip| {
            policy::ip_rejected(&policy_sh.cfg.policy, ip)
                .then_some(&b"554 5.7.1 Your address is refused by policy\r\n"[..])
        }),
        session: move |conn, ip| Session::new(session_sh.clone(), service, conn, ip).run(),
    };
    listener::serve(l, Arc::new(door)).await;
}
