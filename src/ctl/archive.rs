//! `hato ctl archive`: search every message that passed through, export what
//! was found (mbox or .eml files), and put messages on legal hold.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::queue::id_arg;
use super::{CtlError, Ctx};
use crate::store::ArchiveQuery;

#[derive(Debug, Args)]
pub struct Filters {
    /// Envelope sender contains this.
    #[arg(long)]
    from: Option<String>,
    /// A recipient contains this.
    #[arg(long)]
    to: Option<String>,
    /// The (decoded) subject contains this.
    #[arg(long)]
    subject: Option<String>,
    /// Anywhere in the decoded text, addresses or attachment names (any language).
    #[arg(long)]
    text: Option<String>,
    #[arg(long)]
    message_id: Option<String>,
    /// inbound, outbound or internal.
    #[arg(long)]
    direction: Option<String>,
    /// From this day on (YYYY-MM-DD, UTC).
    #[arg(long)]
    since: Option<String>,
    /// Before this day (YYYY-MM-DD, UTC).
    #[arg(long)]
    until: Option<String>,
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

#[derive(Debug, Subcommand)]
pub enum ArchiveCmd {
    /// List archived messages matching every filter given, newest first.
    Search(Filters),
    /// Write the matching messages to an mbox file or a directory of .eml files.
    Export {
        #[command(flatten)]
        filters: Filters,
        #[arg(long, conflicts_with = "eml_dir")]
        mbox: Option<PathBuf>,
        #[arg(long)]
        eml_dir: Option<PathBuf>,
    },
    /// Print one archived message as received.
    Cat {
        id: String,
    },
    /// Bring in another system's archive: an mbox file (dates from each message's Date header).
    Import {
        mbox: PathBuf,
    },
    /// Build the full-text index of everything archived but not yet indexed
    /// (a running server does this in the background). On a cluster the
    /// index is this node's own.
    Index {
        /// Empty the index first and read the whole archive again.
        #[arg(long)]
        rebuild: bool,
    },
    /// Keep a message past the retention period until released.
    Hold {
        id: String,
    },
    Unhold {
        id: String,
    },
}

fn query(f: Filters) -> Result<ArchiveQuery, CtlError> {
    let day = |s: Option<String>, what: &str| -> Result<Option<i64>, CtlError> {
        s.map(|d| {
            crate::clock::parse_ymd(&d)
                .ok_or_else(|| CtlError::Usage(format!("--{what} '{d}' is not a date like 2026-11-28")))
        })
        .transpose()
    };
    if let Some(d) = &f.direction
        && !["inbound", "outbound", "internal"].contains(&d.as_str())
    {
        return Err(CtlError::Usage(format!("--direction '{d}' is unknown; use inbound, outbound or internal")));
    }
    Ok(ArchiveQuery {
        since: day(f.since, "since")?,
        until: day(f.until, "until")?,
        from: f.from,
        to: f.to,
        subject: f.subject,
        text: f.text.filter(|t| !t.is_empty()),
        message_id: f.message_id,
        direction: f.direction,
        limit: f.limit,
    })
}

pub async fn run(ctx: &Ctx, cmd: ArchiveCmd) -> Result<(), CtlError> {
    let s = &ctx.store;
    match cmd {
        ArchiveCmd::Search(f) => {
            let list = s.archive_search(query(f)?).await?;
            ctx.out.show(&list, || {
                list.iter()
                    .map(|a| {
                        format!(
                            "{}  {}  {:<8} {:<11} {} → {}\n    {}{}\n",
                            a.id,
                            crate::clock::rfc5322(a.created),
                            a.direction,
                            a.disposition,
                            if a.sender.is_empty() { "<>" } else { &a.sender },
                            a.recipients,
                            a.subject,
                            if a.legal_hold { "  [legal hold]" } else { "" }
                        )
                    })
                    .collect()
            });
        }
        ArchiveCmd::Export { filters, mbox, eml_dir } => {
            let list = s.archive_search(query(filters)?).await?;
            let mut file = Vec::new();
            if let Some(dir) = &eml_dir {
                std::fs::create_dir_all(dir)
                    .map_err(|e| CtlError::Usage(format!("cannot create {}: {e}", dir.display())))?;
            }
            for a in &list {
                let body = s.archive_body(a.id).await?;
                match &eml_dir {
                    Some(dir) => {
                        let path = dir.join(format!("{}.eml", a.id));
                        std::fs::write(&path, &body)
                            .map_err(|e| CtlError::Usage(format!("cannot write {}: {e}", path.display())))?;
                    }
                    None => crate::mbox::write(&mut file, &a.sender, a.created, &body),
                }
            }
            match (&mbox, &eml_dir) {
                (Some(path), _) => std::fs::write(path, &file)
                    .map_err(|e| CtlError::Usage(format!("cannot write {}: {e}", path.display())))?,
                (None, None) => {
                    use std::io::Write;
                    let _ = std::io::stdout().write_all(&file);
                    return Ok(());
                }
                _ => {}
            }
            ctx.out
                .show(&serde_json::json!({ "exported": list.len() }), || format!("exported {} messages\n", list.len()));
        }
        ArchiveCmd::Import { mbox } => {
            let data =
                std::fs::read(&mbox).map_err(|e| CtlError::Usage(format!("cannot read {}: {e}", mbox.display())))?;
            let messages = crate::mbox::split(&data);
            drop(data);
            let total = messages.len();
            let mut done = 0;
            // Thousands per commit: one transaction each, and progress as it goes.
            for chunk in messages.chunks(5000) {
                s.archive_import(chunk.iter().map(|raw| imported(raw)).collect()).await?;
                done += chunk.len();
                if !ctx.out.is_json() {
                    eprint!("\rimported {done} of {total}");
                }
            }
            if !ctx.out.is_json() {
                eprintln!();
            }
            ctx.out.show(&serde_json::json!({ "imported": total }), || {
                format!("imported {total} messages; run `hato ctl archive index` or let the server index them\n")
            });
        }
        ArchiveCmd::Index { rebuild } => {
            if rebuild {
                s.archive_reindex().await?;
            }
            let mut total = 0;
            loop {
                let n = crate::archive::index_pending(s, 1000).await?;
                if n == 0 {
                    break;
                }
                total += n;
                if !ctx.out.is_json() {
                    eprint!("\rindexed {total}");
                }
            }
            if !ctx.out.is_json() && total > 0 {
                eprintln!();
            }
            ctx.out.show(&serde_json::json!({ "indexed": total }), || format!("indexed {total} messages\n"));
        }
        ArchiveCmd::Cat { id } => {
            let body = s.archive_body(id_arg(&id)?).await?;
            use std::io::Write;
            let _ = std::io::stdout().write_all(&body);
        }
        ArchiveCmd::Hold { id } => {
            s.archive_hold(id_arg(&id)?, true).await?;
            ctx.out.show(&serde_json::json!({ "held": id }), || "on legal hold\n".into());
        }
        ArchiveCmd::Unhold { id } => {
            s.archive_hold(id_arg(&id)?, false).await?;
            ctx.out.show(&serde_json::json!({ "released": id }), || "legal hold lifted\n".into());
        }
    }
    Ok(())
}

/// An archive row for an imported message: envelope and date from its header.
fn imported(raw: &[u8]) -> crate::store::ImportedArchive {
    use crate::smtp::message;
    let fields = message::fields(raw);
    let get = |n: &str| message::get(&fields, n).unwrap_or_default();
    let address = |v: String| {
        v.rsplit_once('<').map(|(_, a)| a.trim_end_matches('>').to_string()).unwrap_or(v).trim().to_string()
    };
    let recipients = get("To")
        .split(',')
        .map(|a| address(a.to_string()))
        .filter(|a| !a.is_empty())
        .map(|a| crate::store::NewRecipient::new(a, None))
        .collect();
    let created = mail_parser::MessageParser::default()
        .parse_headers(raw)
        .and_then(|m| m.date().map(|d| d.to_timestamp()))
        .unwrap_or_else(crate::clock::now);
    let msg = crate::store::NewMessage {
        id: crate::ids::Id::new(),
        body: raw.to_vec(),
        sender: address(get("From")),
        client_ip: String::new(),
        helo: String::new(),
        auth_user: None,
        message_id: get("Message-ID"),
        subject: get("Subject").chars().take(200).collect(),
        recipients,
        dsn: Default::default(),
    };
    crate::store::ImportedArchive { message: msg, created }
}
