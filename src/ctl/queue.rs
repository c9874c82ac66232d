//! `hato ctl queue`: list, inspect and act on queued messages.

use clap::Subcommand;

use super::{CtlError, Ctx};
use crate::ids::Id;
use crate::store::{QueueAction, QueueFilter, QueuedMessage, StoreError};

#[derive(Debug, Subcommand)]
pub enum QueueCmd {
    /// List queued messages (filters match substrings).
    List {
        #[arg(long)]
        sender: Option<String>,
        #[arg(long)]
        recipient: Option<String>,
        /// "ready" or "held".
        #[arg(long)]
        state: Option<String>,
    },
    /// Show one message's recipients, attempts and errors.
    Show {
        id: String,
    },
    /// Print the queued message as stored.
    Cat {
        id: String,
    },
    /// Try delivering now instead of waiting for the next retry.
    Retry {
        id: String,
    },
    /// Keep the message from being delivered until released.
    Hold {
        id: String,
    },
    Release {
        id: String,
    },
    /// Delete without telling the sender.
    Delete {
        id: String,
    },
    /// Give up now and send the sender a bounce.
    Bounce {
        id: String,
    },
}

pub(super) fn id_arg(raw: &str) -> Result<Id, CtlError> {
    Id::parse(raw.trim()).ok_or_else(|| {
        CtlError::Usage(format!("'{raw}' is not a queue id (16 hex digits, as `hato ctl queue list` shows)"))
    })
}

async fn get(ctx: &Ctx, id: Id) -> Result<QueuedMessage, CtlError> {
    ctx.store
        .queued_message(id)
        .await?
        .ok_or_else(|| CtlError::Store(StoreError::NotFound(format!("queued message {id}"))))
}

pub async fn run(ctx: &Ctx, cmd: QueueCmd) -> Result<(), CtlError> {
    let s = &ctx.store;
    match cmd {
        QueueCmd::List { sender, recipient, state } => {
            if let Some(st) = &state
                && st != "ready"
                && st != "held"
            {
                return Err(CtlError::Usage(format!("state '{st}' is unknown; use ready or held")));
            }
            let list = s.queue_list(QueueFilter { sender, recipient, state }).await?;
            ctx.out.show(&list, || {
                let mut t = String::new();
                for m in &list {
                    let from = if m.sender.is_empty() { "<>" } else { &m.sender };
                    t.push_str(&format!(
                        "{}  {}  {} bytes  from {from}\n",
                        m.id,
                        crate::clock::rfc5322(m.received),
                        m.size
                    ));
                    for e in &m.entries {
                        t.push_str(&format!(
                            "    {} [{}] attempts {} {}\n",
                            e.recipient, e.state, e.attempts, e.last_error
                        ));
                    }
                }
                if list.is_empty() { "the queue is empty".into() } else { t }
            });
        }
        QueueCmd::Show { id } => {
            let m = get(ctx, id_arg(&id)?).await?;
            ctx.out.show(&m, || {
                let mut t = format!(
                    "queue id   {}\nfrom       <{}>\nreceived   {}\nsize       {}\nclient     {} ({})\nmessage-id {}\nsubject    {}\n",
                    m.id, m.sender, crate::clock::rfc5322(m.received), m.size, m.client_ip, m.helo, m.message_id, m.subject
                );
                for e in &m.entries {
                    t.push_str(&format!(
                        "to <{}> [{}] attempts {} next {}\n   {}\n",
                        e.recipient, e.state, e.attempts, crate::clock::rfc5322(e.next_attempt), e.last_error
                    ));
                }
                t
            });
        }
        QueueCmd::Cat { id } => {
            let body = s.queued_body(id_arg(&id)?).await?;
            use std::io::Write;
            let _ = std::io::stdout().write_all(&body);
        }
        QueueCmd::Retry { id } => act(ctx, &id, QueueAction::Retry, "will be retried now").await?,
        QueueCmd::Hold { id } => act(ctx, &id, QueueAction::Hold, "held").await?,
        QueueCmd::Release { id } => act(ctx, &id, QueueAction::Release, "released").await?,
        QueueCmd::Delete { id } => act(ctx, &id, QueueAction::Delete, "deleted").await?,
        QueueCmd::Bounce { id } => {
            let m = get(ctx, id_arg(&id)?).await?;
            crate::queue::bounce_now(s, &ctx.cfg.hostname, &m).await?;
            ctx.wake_queue().await;
            ctx.out.done(&format!("{} bounced to <{}>", m.id, m.sender));
        }
    }
    Ok(())
}

async fn act(ctx: &Ctx, id: &str, action: QueueAction, what: &str) -> Result<(), CtlError> {
    let id = id_arg(id)?;
    let n = ctx.store.queue_action(id, action).await?;
    if n == 0 {
        return Err(CtlError::Store(StoreError::NotFound(format!(
            "a ready recipient of {id} (held ones need release)"
        ))));
    }
    ctx.wake_queue().await;
    ctx.out.done(&format!("{id}: {n} recipient(s) {what}"));
    Ok(())
}
