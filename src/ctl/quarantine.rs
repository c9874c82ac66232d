//! `hato ctl quarantine`: messages a filter held — list, look, release, delete.

use clap::Subcommand;

use super::queue::id_arg;
use super::{CtlError, Ctx};

#[derive(Debug, Subcommand)]
pub enum QuarantineCmd {
    /// Held messages, newest first, with the filter and reason.
    List {
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Only what was held for this account (what its user may see).
        #[arg(long)]
        account: Option<String>,
    },
    /// Print a held message as received (to inspect it; nothing is run).
    Cat { id: String },
    /// Deliver a held message to its recipients after all.
    Release { id: String },
    /// Delete a held message.
    Delete { id: String },
}

pub async fn run(ctx: &Ctx, cmd: QuarantineCmd) -> Result<(), CtlError> {
    let s = &ctx.store;
    match cmd {
        QuarantineCmd::List { limit, account } => {
            let account = account.map(|a| super::address_arg(&a)).transpose()?;
            let list = s.quarantine_list(limit, account).await?;
            ctx.out.show(&list, || {
                list.iter()
                    .map(|q| {
                        let from = if q.sender.is_empty() { "<>" } else { &q.sender };
                        format!(
                            "{}  {}  from {from} to {}\n    {}: {}\n    subject: {}\n",
                            q.id,
                            crate::clock::rfc5322(q.created),
                            q.recipients.join(", "),
                            q.filter,
                            q.reason,
                            q.subject
                        )
                    })
                    .collect()
            });
        }
        QuarantineCmd::Cat { id } => {
            let body = s.quarantine_body(id_arg(&id)?).await?;
            use std::io::Write;
            let _ = std::io::stdout().write_all(&body);
        }
        QuarantineCmd::Release { id } => {
            let id = id_arg(&id)?;
            let queued = s.quarantine_release(id).await?;
            tracing::info!(target: "hato::filter", quarantine_id = %id, queue_id = %queued, "released from quarantine by an administrator");
            ctx.wake_queue().await;
            #[derive(serde::Serialize)]
            struct Released {
                queue_id: String,
            }
            ctx.out.show(&Released { queue_id: queued.to_string() }, || format!("released; queued as {queued}\n"));
        }
        QuarantineCmd::Delete { id } => {
            s.quarantine_delete(id_arg(&id)?).await?;
            ctx.out.show(&serde_json::json!({"deleted": id}), || "deleted\n".into());
        }
    }
    Ok(())
}
