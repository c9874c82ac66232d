//! `hato ctl sieve`: check a script (the server's, before it is deployed)
//! and manage users' scripts as ManageSieve would.

use std::path::PathBuf;

use clap::Subcommand;

use super::{CtlError, Ctx, address_arg};

#[derive(Debug, Subcommand)]
pub enum SieveCmd {
    /// Check a script file; errors name the line and column.
    Check { file: PathBuf },
    /// An account's scripts; the active one is marked.
    List { account: String },
    /// Print one of an account's scripts.
    Show { account: String, name: String },
    /// Store a script for an account (checked first).
    Put {
        account: String,
        name: String,
        file: PathBuf,
        #[arg(long)]
        activate: bool,
    },
    /// Make a script the active one; without a name, none is.
    Activate { account: String, name: Option<String> },
    /// Delete a script (not the active one).
    Delete { account: String, name: String },
}

fn read(file: &PathBuf) -> Result<String, CtlError> {
    let text =
        std::fs::read_to_string(file).map_err(|e| CtlError::Usage(format!("cannot read {}: {e}", file.display())))?;
    crate::sieve::compile(&text).map_err(|e| CtlError::Usage(format!("{}: {e}", file.display())))?;
    Ok(text)
}

pub async fn run(ctx: &Ctx, cmd: SieveCmd) -> Result<(), CtlError> {
    match cmd {
        SieveCmd::Check { file } => {
            read(&file)?;
            ctx.out.done(&format!("{} is a valid script", file.display()));
        }
        SieveCmd::List { account } => {
            let list = ctx.store.sieve_list(address_arg(&account)?).await?;
            ctx.out.show(&list, || {
                list.iter().map(|l| format!("{}{}\n", l.name, if l.active { "  (active)" } else { "" })).collect()
            });
        }
        SieveCmd::Show { account, name } => {
            let text = ctx
                .store
                .sieve_get(address_arg(&account)?, name.clone())
                .await?
                .ok_or_else(|| CtlError::Usage(format!("no script {name}")))?;
            ctx.out.show(&text, || text.clone());
        }
        SieveCmd::Put { account, name, file, activate } => {
            let account = address_arg(&account)?;
            ctx.store.sieve_put(account.clone(), name.clone(), read(&file)?).await?;
            if activate {
                ctx.store.sieve_set_active(account.clone(), Some(name.clone())).await?;
            }
            ctx.out.done(&format!("script {name} stored for {account}{}", if activate { " and active" } else { "" }));
        }
        SieveCmd::Activate { account, name } => {
            ctx.store.sieve_set_active(address_arg(&account)?, name.clone()).await?;
            ctx.out.done(&match name {
                Some(n) => format!("{n} is the active script"),
                None => "no script is active".into(),
            });
        }
        SieveCmd::Delete { account, name } => {
            ctx.store.sieve_delete(address_arg(&account)?, name.clone()).await?;
            ctx.out.done(&format!("script {name} deleted"));
        }
    }
    Ok(())
}
