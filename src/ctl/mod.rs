//! `hato ctl`: every admin operation from the command line.
//!
//! Output is for people by default and JSON with `--json`. Exit codes are
//! stable for scripts: 0 done, 1 failed, 2 bad usage or config, 3 not found,
//! 4 already exists, 5 the running server could not be reached.

mod archive;
mod cluster;
mod directory;
mod dkim;
mod mailbox;
mod quarantine;
mod queue;
mod sieve;
mod spam;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;
use thiserror::Error;

use crate::config::{Config, ConfigError};
use crate::control::ControlError;
use crate::store::{Store, StoreError};

#[derive(Debug, Error)]
pub enum CtlError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("{0}")]
    Usage(String),
    #[error("cannot read the password from standard input: {0}")]
    Stdin(std::io::Error),
    #[error(transparent)]
    Directory(#[from] crate::directory::DirectoryError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error(transparent)]
    Shared(#[from] crate::cluster::shared::SharedError),
}

impl CtlError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CtlError::Usage(_) | CtlError::Config(_) => 2,
            CtlError::Store(StoreError::NotFound(_)) => 3,
            CtlError::Store(StoreError::Exists(_)) => 4,
            CtlError::Store(StoreError::Invalid(_)) => 2,
            CtlError::Control(ControlError::Connect { .. }) => 5,
            CtlError::Cluster(
                crate::cluster::ClusterError::Token(_)
                | crate::cluster::ClusterError::AlreadyMember(_)
                | crate::cluster::ClusterError::NotMember
                | crate::cluster::ClusterError::LastMember,
            ) => 2,
            _ => 1,
        }
    }
}

#[derive(Debug, Args)]
pub struct CtlArgs {
    /// Configuration file (the same one `hato serve` uses).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Mail domains this server receives for.
    #[command(subcommand)]
    Domain(directory::DomainCmd),
    /// User accounts.
    #[command(subcommand)]
    Account(directory::AccountCmd),
    /// Extra addresses that deliver to another address.
    #[command(subcommand)]
    Alias(directory::AliasCmd),
    /// Distribution groups: one address, many members.
    #[command(subcommand)]
    Group(directory::GroupCmd),
    /// The delivery queue.
    #[command(subcommand)]
    Queue(queue::QueueCmd),
    /// Every message that passed through: search, export, legal hold.
    #[command(subcommand)]
    Archive(archive::ArchiveCmd),
    /// The spam classifier.
    #[command(subcommand)]
    Spam(spam::SpamCmd),
    /// Sieve scripts: check one, manage users' scripts.
    #[command(subcommand)]
    Sieve(sieve::SieveCmd),
    /// DKIM signing keys of outgoing mail.
    #[command(subcommand)]
    Dkim(dkim::DkimCmd),
    /// Failed-login lockouts: list them, lift one.
    #[command(subcommand)]
    Lockouts(directory::LockoutCmd),
    /// Messages a content filter held back.
    #[command(subcommand)]
    Quarantine(quarantine::QuarantineCmd),
    /// Mailboxes and stored messages of an account.
    #[command(subcommand)]
    Mailbox(mailbox::MailboxCmd),
    /// Logging of the running server.
    #[command(subcommand)]
    Log(LogCmd),
    /// Live status of the running server.
    Status,
    /// The cluster as this node sees it.
    #[command(subcommand)]
    Cluster(cluster::ClusterCmd),
    /// Set the web console's built-in administrator (`admin`) password.
    AdminPassword(directory::PasswordArgs),
    /// Disk, RAID and filesystem health of this machine.
    Health,
    /// Whether this node is fit to serve: hato serve answers, its store
    /// serves here, the data directory takes writes. Exit 0 if so, else 1
    /// with the reason. keepalived asks this every second to decide who
    /// holds the service addresses.
    Gate,
}

#[derive(Debug, Subcommand)]
pub enum LogCmd {
    /// Show or change log levels, e.g. `hato ctl log level smtp=debug` or `info`.
    Level { spec: Option<String> },
}

/// Writes one block of output and a newline. A reader that went away
/// (`hato ctl mailbox list … | head -1`) ends the command quietly, as it
/// would any Unix tool; `println!` would panic there.
pub(crate) fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("hato ctl: cannot write the output: {e}");
        std::process::exit(1);
    }
}

/// Where command output goes, in the format asked for.
pub struct Out {
    json: bool,
}

impl Out {
    /// Prints `value` as JSON, or `text` for people.
    pub fn show<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        if self.json {
            emit(&serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into()));
        } else {
            let t = text();
            if !t.is_empty() {
                emit(t.trim_end());
            }
        }
    }

    /// Whether output is JSON (progress lines for people are left out then).
    pub fn is_json(&self) -> bool {
        self.json
    }

    pub fn done(&self, what: &str) {
        self.show(&serde_json::json!({ "ok": true, "done": what }), || what.to_string());
    }
}

pub struct Ctx {
    pub cfg: Config,
    pub store: Store,
    pub out: Out,
}

impl Ctx {
    /// Tells a running server to look at the queue now; it is fine if none runs.
    pub async fn wake_queue(&self) {
        let _ = crate::control::call(&self.cfg.control_socket(), &crate::control::Request::WakeQueue).await;
    }
}

pub async fn run(args: CtlArgs) -> Result<(), CtlError> {
    let cfg = Config::load(args.config.as_deref())?;
    let out = Out { json: args.json };
    match args.command {
        CtlCommand::Log(LogCmd::Level { spec }) => {
            let data = crate::control::call(&cfg.control_socket(), &crate::control::Request::LogLevel { spec }).await?;
            out.show(&data, || format!("log level: {}", data["level"].as_str().unwrap_or("?")));
            return Ok(());
        }
        CtlCommand::Gate => {
            let data = crate::control::call(&cfg.control_socket(), &crate::control::Request::Gate).await?;
            out.show(&data, || "fit to serve".into());
            return Ok(());
        }
        CtlCommand::Health => {
            let report = crate::health::read(&[cfg.data_dir.as_path()]);
            out.show(&report, || {
                let mut t = String::new();
                for a in &report.arrays {
                    t.push_str(&format!(
                        "RAID {} {} [{}] {}/{} working\n",
                        a.name, a.level, a.slots, a.working, a.raid_disks
                    ));
                }
                for f in &report.filesystems {
                    t.push_str(&format!("{} {}% used\n", f.path, f.used_percent));
                }
                for d in &report.disks {
                    let verdict = match d.passed {
                        Some(true) => "SMART passed",
                        Some(false) => "SMART FAILED",
                        None => "no SMART verdict",
                    };
                    t.push_str(&format!("{} {} {}: {verdict}\n", d.device, d.model, d.serial));
                }
                for (k, (sev, text)) in &report.conditions {
                    t.push_str(&format!("{sev:?}: {text} ({k})\n"));
                }
                if report.conditions.is_empty() {
                    t.push_str("no alerts\n");
                }
                t
            });
            return Ok(());
        }
        CtlCommand::AdminPassword(p) => {
            let (pw, generated) = p.resolve()?;
            let path = cfg.admin_hash_file();
            let hash = crate::directory::hash_password(&pw)?;
            crate::files::write_private(&path, hash.as_bytes())
                .map_err(|e| CtlError::Usage(format!("cannot write {}: {e}", path.display())))?;
            let v = serde_json::json!({ "ok": true, "password": generated.then_some(&pw) });
            out.show(&v, || {
                if generated {
                    format!("web administrator password: {pw}")
                } else {
                    "web administrator password set".into()
                }
            });
            return Ok(());
        }
        CtlCommand::Cluster(c) if c.forms() => return cluster::form(&cfg, args.config.as_deref(), &out, c).await,
        CtlCommand::Status => {
            let data = crate::control::call(&cfg.control_socket(), &crate::control::Request::Status).await?;
            out.show(&data, || {
                let s: crate::control::Status = serde_json::from_value(data.clone()).unwrap_or_default();
                let q = s.queue.map(|q| format!("{} messages, {} recipients ({} held)", q.messages, q.recipients, q.held)).unwrap_or_else(|| "unreadable".into());
                let c = &s.stats;
                let mut text = format!(
                    "version {}\nopen connections {}\nqueue {q}\nreceived {} messages ({} rejected), relayed {}, delivered locally {}\nsessions now: smtp {} imap {} pop3 {}",
                    s.version, s.connections, c.received_messages, c.rejected_messages, c.relayed_messages, c.local_deliveries, c.smtp_sessions, c.imap_sessions, c.pop3_sessions
                );
                if let Some(st) = &s.store {
                    let serving = if st.serving { "serving" } else { "NOT SERVING" };
                    text.push_str(&format!("\nstore {} {serving}: {}", st.backend, st.detail));
                    for n in &st.nodes {
                        let local = if n.local { " (this machine)" } else { "" };
                        text.push_str(&format!("\n  node {}{local}: {} {} size {}", n.address, n.state, n.cluster, n.cluster_size));
                    }
                }
                if let Some(ix) = &s.archive_index {
                    text.push_str(&format!("\narchive index: {} messages, {} pending", ix.indexed, ix.pending));
                }
                text
            });
            return Ok(());
        }
        _ => {}
    }
    let store = Store::open(&cfg).await?;
    let ctx = Ctx { cfg, store, out };
    match args.command {
        CtlCommand::Domain(c) => directory::domain(&ctx, c).await,
        CtlCommand::Account(c) => directory::account(&ctx, c).await,
        CtlCommand::Alias(c) => directory::alias(&ctx, c).await,
        CtlCommand::Group(c) => directory::group(&ctx, c).await,
        CtlCommand::Lockouts(c) => directory::lockouts(&ctx, c).await,
        CtlCommand::Queue(c) => queue::run(&ctx, c).await,
        CtlCommand::Quarantine(c) => quarantine::run(&ctx, c).await,
        CtlCommand::Archive(c) => archive::run(&ctx, c).await,
        CtlCommand::Spam(c) => spam::run(&ctx, c).await,
        CtlCommand::Dkim(c) => dkim::run(&ctx, c).await,
        CtlCommand::Sieve(c) => sieve::run(&ctx, c).await,
        CtlCommand::Mailbox(c) => mailbox::run(&ctx, c).await,
        CtlCommand::Cluster(c) => cluster::run(&ctx, c).await,
        CtlCommand::Log(_)
        | CtlCommand::Status
        | CtlCommand::Health
        | CtlCommand::Gate
        | CtlCommand::AdminPassword(_) => Ok(()),
    }
}

/// Normalises an address typed by an admin, with a usage error naming the problem.
pub fn address_arg(raw: &str) -> Result<String, CtlError> {
    crate::address::Address::parse(raw).map(|a| a.to_string()).map_err(|e| CtlError::Usage(e.to_string()))
}

pub fn domain_arg(raw: &str) -> Result<String, CtlError> {
    crate::address::normalize_domain(raw).map_err(|e| CtlError::Usage(e.to_string()))
}
