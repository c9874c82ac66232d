//! `hato ctl mailbox`: look into an account's mailboxes (support and tests).

use clap::Subcommand;

use super::{CtlError, Ctx, address_arg};

#[derive(Debug, Subcommand)]
pub enum MailboxCmd {
    /// Mailboxes of an account with message counts.
    List { account: String },
    /// Messages in a mailbox.
    Messages {
        account: String,
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
    },
    /// Import an mbox file (e.g. exported from the previous server) into a mailbox.
    Import {
        account: String,
        file: std::path::PathBuf,
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
    },
    /// Print one message as stored.
    Cat {
        account: String,
        uid: i64,
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: MailboxCmd) -> Result<(), CtlError> {
    match cmd {
        MailboxCmd::List { account } => {
            let list = ctx.store.mailboxes(address_arg(&account)?).await?;
            ctx.out
                .show(&list, || list.iter().map(|m| format!("{:<10} {:>6} messages\n", m.name, m.messages)).collect());
        }
        MailboxCmd::Messages { account, mailbox } => {
            let list = ctx.store.messages(address_arg(&account)?, mailbox, true).await?;
            let rows: Vec<Row> = list.iter().map(Row::from).collect();
            ctx.out.show(&rows, || {
                rows.iter()
                    .map(|m| {
                        format!(
                            "{:>6}  {}  {:>8} bytes  {:<30}  {}\n",
                            m.uid,
                            crate::clock::rfc5322(m.internal_date),
                            m.size,
                            m.from,
                            m.subject
                        )
                    })
                    .collect()
            });
        }
        MailboxCmd::Import { account, file, mailbox } => {
            let data =
                std::fs::read(&file).map_err(|e| CtlError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let msgs = crate::mbox::split(&data);
            if msgs.is_empty() {
                return Err(CtlError::Usage(format!("{} holds no messages (expected an mbox file)", file.display())));
            }
            let account = address_arg(&account)?;
            let mut done = 0;
            // Batches keep each transaction (and the writer's memory) bounded.
            for chunk in msgs.chunks(1000) {
                done += ctx.store.import(account.clone(), mailbox.clone(), chunk.to_vec()).await?;
            }
            #[derive(serde::Serialize)]
            struct Imported {
                imported: usize,
            }
            ctx.out.show(&Imported { imported: done }, || format!("imported {done} messages into {mailbox}\n"));
        }
        MailboxCmd::Cat { account, uid, mailbox } => {
            let list = ctx.store.messages(address_arg(&account)?, mailbox.clone(), true).await?;
            let m = list.into_iter().find(|m| m.uid == uid).ok_or_else(|| {
                CtlError::Store(crate::store::StoreError::NotFound(format!("message {uid} in {mailbox}")))
            })?;
            use std::io::Write;
            let _ = std::io::stdout().write_all(&m.content);
        }
    }
    Ok(())
}

/// A message as listed: store facts plus the header fields people look for.
#[derive(serde::Serialize)]
struct Row {
    uid: i64,
    size: i64,
    flags: String,
    internal_date: i64,
    from: String,
    subject: String,
    message_id: String,
}

impl From<&crate::store::StoredMessage> for Row {
    fn from(m: &crate::store::StoredMessage) -> Row {
        let f = crate::smtp::message::fields(&m.content);
        let get = |n| crate::smtp::message::get(&f, n).unwrap_or_default();
        Row {
            uid: m.uid,
            size: m.size,
            flags: m.flags.clone(),
            internal_date: m.internal_date,
            from: get("From"),
            subject: get("Subject"),
            message_id: get("Message-ID"),
        }
    }
}
