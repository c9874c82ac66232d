//! Vacation replies at local delivery: the account's auto-reply (if any) is
//! looked up before the message is filed (its envelope and header are needed),
//! and the reply is queued once the delivery is committed.

use tracing::{debug, info, warn};

use crate::store::{NewMessage, QueueEntry, Store};
use crate::vacation::{self, Vacation};

/// What the reply needs, read before delivery.
pub struct Pending {
    vacation: Vacation,
    account: String,
    sender: String,
    fields: Vec<(String, String)>,
}

impl Pending {
    /// A reply a Sieve script asked for (vacation action).
    pub fn new(vacation: Vacation, account: String, sender: String, fields: Vec<(String, String)>) -> Pending {
        Pending { vacation, account, sender, fields }
    }
}

/// `fields`: the delivered message's header fields.
pub async fn prepare(store: &Store, e: &QueueEntry, fields: &[(String, String)]) -> Option<Pending> {
    let account = e.local_account.clone()?;
    let vacation = store.vacation(account.clone()).await.ok()??;
    let msg = store.queued_message(e.message).await.ok()??;
    Some(Pending { vacation, account, sender: msg.sender, fields: fields.to_vec() })
}

pub async fn send(store: &Store, hostname: &str, e: &QueueEntry, p: Pending) {
    if let Err(why) = vacation::decide(&p.account, &e.recipient, &p.sender, &p.fields) {
        debug!(target: "hato::queue", queue_id = %e.message, account = %p.account, "no vacation reply: {why}");
        return;
    }
    let Some(rcpt) = super::local::recipient(store, &p.sender).await else { return };
    let display = store.account(p.account.clone()).await.ok().flatten().map(|a| a.display_name).unwrap_or_default();
    let body = vacation::reply(&p.vacation, &p.account, &display, &p.sender, &p.fields, hostname);
    // RFC 5230 §5.1: the null reverse-path, so nothing ever answers a reply.
    let reply = NewMessage::notice(hostname, body, p.vacation.subject.clone(), rcpt);
    let rid = reply.id;
    match store.send_vacation(p.account.clone(), p.sender.clone(), p.vacation.days, reply).await {
        Ok(true) => {
            info!(target: "hato::queue", queue_id = %rid, account = %p.account, to = %p.sender, "vacation reply queued")
        }
        Ok(false) => {
            debug!(target: "hato::queue", account = %p.account, to = %p.sender, "vacation reply already sent within {} days", p.vacation.days)
        }
        Err(err) => warn!(target: "hato::queue", account = %p.account, "vacation reply failed: {err}"),
    }
}
