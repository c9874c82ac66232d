//! Resends after a lost answer.
//!
//! A client whose connection broke after the end of DATA cannot know whether
//! its message was accepted, so it sends it again later (RFC 5321 §4.1.1.4
//! warns of the duplicate this makes; RFC 1047 describes it). On a cluster
//! it is the common case of a node loss: the node commits the message —
//! the cluster holds it — and dies before its 250 reaches the client, which
//! then tries the next MX. Without this check the recipient gets two copies.
//!
//! A message is a resend when the archive holds one accepted (not refused)
//! within `WINDOW` with the same Message-ID — given by the client, never one
//! Hato made up — the same envelope sender and recipients, and the same
//! content: the archived copy ends with the data the client sent now (Hato
//! only adds header fields at the top). So a list copy, a second Bcc batch
//! or an altered message with the same Message-ID is not folded into the
//! first. The resend gets 250 with the first copy's queue id and nothing is
//! stored twice.

use crate::ids::Id;
use crate::store::{ArchiveQuery, NewMessage, Store, StoreError};

/// How far back a resend is looked for: a sending MTA retries for up to
/// five days (Postfix's `maximal_queue_lifetime`, sendmail's `Timeout.queuereturn`).
pub const WINDOW: i64 = 5 * 86_400;

/// The id of an earlier accepted copy of `msg`, if it is a resend.
/// `client_message_id` is the Message-ID the client sent (empty if none),
/// `client_data` the message as the client sent it.
pub async fn earlier_copy(
    store: &Store,
    msg: &NewMessage,
    client_message_id: &str,
    client_data: &[u8],
    now: i64,
) -> Result<Option<Id>, StoreError> {
    if client_message_id.is_empty() {
        return Ok(None);
    }
    let query = ArchiveQuery {
        message_id: Some(client_message_id.to_string()),
        since: Some(now - WINDOW),
        limit: 20,
        ..ArchiveQuery::default()
    };
    let recipients = msg.recipient_list();
    let found = store.archive_search(query).await?;
    for e in found {
        if e.disposition != "rejected"
            && e.sender == msg.sender
            && e.recipients == recipients
            && store.archive_body(e.id).await?.ends_with(client_data)
        {
            return Ok(Some(e.id));
        }
    }
    Ok(None)
}
