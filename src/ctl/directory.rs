//! `hato ctl domain|account|alias|group`.

use std::io::BufRead;

use clap::Subcommand;

use super::{CtlError, Ctx, address_arg, domain_arg};
use crate::directory::hash_password;
use crate::store::Account;

#[derive(Debug, Subcommand)]
pub enum DomainCmd {
    List,
    Add {
        name: String,
    },
    Remove {
        name: String,
    },
    /// Send mail for unknown addresses of DOMAIN to TARGET (omit TARGET to turn it off).
    CatchAll {
        domain: String,
        target: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCmd {
    List {
        #[arg(long)]
        domain: Option<String>,
    },
    Show {
        address: String,
    },
    /// Create an account. Without --password or --password-stdin a random password is printed.
    Add {
        address: String,
        #[arg(long)]
        name: Option<String>,
        /// Mailbox quota in MiB (0 = unlimited).
        #[arg(long, default_value_t = 0)]
        quota_mb: i64,
        #[command(flatten)]
        password: PasswordArgs,
    },
    Remove {
        address: String,
    },
    /// Set a new password.
    Passwd {
        address: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Set the quota in MiB (0 = unlimited).
    Quota {
        address: String,
        mb: i64,
    },
    /// Set what the account may administer in the web console: user, domain_admin or admin.
    Role {
        address: String,
        role: String,
    },
    Enable {
        address: String,
    },
    Disable {
        address: String,
    },
    /// Show, set or turn off the account's vacation auto-reply.
    Vacation {
        address: String,
        /// Subject of the reply (default: "Auto: " and the original subject).
        #[arg(long)]
        subject: Option<String>,
        /// Text of the reply; setting it turns the reply on.
        #[arg(long)]
        body: Option<String>,
        /// Reply to the same sender at most once in this many days.
        #[arg(long, default_value_t = 7)]
        days: u32,
        #[arg(long, conflicts_with_all = ["subject", "body"])]
        off: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct PasswordArgs {
    /// The password (visible to other local users in the process list; prefer --password-stdin).
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

impl PasswordArgs {
    /// The password given, or a random one (second value true when generated).
    pub fn resolve(&self) -> Result<(String, bool), CtlError> {
        if let Some(p) = &self.password {
            return Ok((p.clone(), false));
        }
        if self.password_stdin {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map_err(CtlError::Stdin)?;
            let p = line.trim_end_matches(['\r', '\n']).to_string();
            if p.is_empty() {
                return Err(CtlError::Usage("the password read from standard input is empty".into()));
            }
            return Ok((p, false));
        }
        Ok((crate::ids::token(16), true))
    }
}

#[derive(Debug, Subcommand)]
pub enum LockoutCmd {
    /// The lockouts in force: addresses, accounts from one address, and
    /// accounts whose logins are slowed.
    List,
    /// Forget the failed logins behind a lockout: those from --ip, for
    /// --user, or for that user from that address.
    Clear {
        #[arg(long)]
        ip: Option<std::net::IpAddr>,
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AliasCmd {
    List {
        #[arg(long)]
        domain: Option<String>,
    },
    Add {
        address: String,
        target: String,
    },
    Remove {
        address: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    List {
        #[arg(long)]
        domain: Option<String>,
    },
    Add {
        address: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    Remove {
        address: String,
    },
    AddMember {
        group: String,
        member: String,
    },
    RemoveMember {
        group: String,
        member: String,
    },
}

pub async fn domain(ctx: &Ctx, cmd: DomainCmd) -> Result<(), CtlError> {
    let s = &ctx.store;
    match cmd {
        DomainCmd::List => {
            let list = s.domains().await?;
            ctx.out.show(&list, || {
                list.iter()
                    .map(|d| {
                        let ca = d.catch_all.as_deref().map(|t| format!("  catch-all → {t}")).unwrap_or_default();
                        format!("{}  ({} accounts){ca}\n", d.name, d.accounts)
                    })
                    .collect()
            });
        }
        DomainCmd::Add { name } => {
            let name = domain_arg(&name)?;
            s.add_domain(name.clone()).await?;
            ctx.out.done(&format!("domain {name} added"));
        }
        DomainCmd::Remove { name } => {
            let name = domain_arg(&name)?;
            s.remove_domain(name.clone()).await?;
            ctx.out.done(&format!("domain {name} removed"));
        }
        DomainCmd::CatchAll { domain, target } => {
            let domain = domain_arg(&domain)?;
            let target = target.map(|t| address_arg(&t)).transpose()?;
            s.set_catch_all(domain.clone(), target.clone()).await?;
            match target {
                Some(t) => ctx.out.done(&format!("unknown addresses of {domain} now go to {t}")),
                None => ctx.out.done(&format!("catch-all of {domain} turned off")),
            }
        }
    }
    Ok(())
}

async fn existing(ctx: &Ctx, address: &str) -> Result<Account, CtlError> {
    let address = address_arg(address)?;
    ctx.store
        .account(address.clone())
        .await?
        .ok_or_else(|| CtlError::Store(crate::store::StoreError::NotFound(format!("account {address}"))))
}

fn quota_bytes(mb: i64) -> Result<i64, CtlError> {
    if mb < 0 {
        return Err(CtlError::Usage("quota must be 0 (unlimited) or a positive number of MiB".into()));
    }
    Ok(mb.saturating_mul(1024 * 1024))
}

pub async fn account(ctx: &Ctx, cmd: AccountCmd) -> Result<(), CtlError> {
    let s = &ctx.store;
    match cmd {
        AccountCmd::List { domain } => {
            let domain = domain.map(|d| domain_arg(&d)).transpose()?;
            let list = s.accounts(domain).await?;
            ctx.out.show(&list, || list.iter().map(account_line).collect());
        }
        AccountCmd::Show { address } => {
            let a = existing(ctx, &address).await?;
            ctx.out.show(&a, || account_line(&a));
        }
        AccountCmd::Add { address, name, quota_mb, password } => {
            let address = address_arg(&address)?;
            let (pw, generated) = password.resolve()?;
            let account = Account {
                address: address.clone(),
                display_name: name.unwrap_or_default(),
                quota_bytes: quota_bytes(quota_mb)?,
                used_bytes: 0,
                enabled: true,
                password_hash: hash_password(&pw)?,
                role: Default::default(),
            };
            s.add_account(account).await?;
            let v = serde_json::json!({ "ok": true, "address": address, "password": generated.then_some(&pw) });
            ctx.out.show(&v, || {
                if generated {
                    format!("account {address} added; password: {pw}")
                } else {
                    format!("account {address} added")
                }
            });
        }
        AccountCmd::Remove { address } => {
            let address = address_arg(&address)?;
            s.remove_account(address.clone()).await?;
            s.session_remove_user(address.clone()).await?;
            ctx.out.done(&format!("account {address} and its mail removed"));
        }
        AccountCmd::Passwd { address, password } => {
            let mut a = existing(ctx, &address).await?;
            let (pw, generated) = password.resolve()?;
            a.password_hash = hash_password(&pw)?;
            s.update_account(a.clone()).await?;
            // Whoever was logged in with the old password is logged out.
            s.session_remove_user(a.address.clone()).await?;
            let v = serde_json::json!({ "ok": true, "address": a.address, "password": generated.then_some(&pw) });
            ctx.out.show(&v, || {
                if generated {
                    format!("new password for {}: {pw}", a.address)
                } else {
                    format!("password of {} changed", a.address)
                }
            });
        }
        AccountCmd::Quota { address, mb } => {
            let mut a = existing(ctx, &address).await?;
            a.quota_bytes = quota_bytes(mb)?;
            s.update_account(a.clone()).await?;
            ctx.out.done(&format!("quota of {} set to {mb} MiB", a.address));
        }
        AccountCmd::Role { address, role } => {
            let mut a = existing(ctx, &address).await?;
            a.role = match role.as_str() {
                "user" | "domain_admin" | "admin" => crate::store::Role::parse(&role),
                other => return Err(CtlError::Usage(format!("unknown role {other}; use user, domain_admin or admin"))),
            };
            s.update_account(a.clone()).await?;
            s.session_remove_user(a.address.clone()).await?;
            ctx.out.done(&format!("{} is now {}", a.address, a.role.as_str()));
        }
        AccountCmd::Vacation { address, subject, body, days, off } => {
            let a = existing(ctx, &address).await?;
            if off {
                s.set_vacation(a.address.clone(), None).await?;
                ctx.out.done(&format!("vacation reply of {} turned off", a.address));
            } else if let Some(body) = body {
                if !(1..=365).contains(&days) {
                    return Err(CtlError::Usage(format!("--days {days} is out of range (1 to 365)")));
                }
                let v = crate::vacation::Vacation { subject: subject.unwrap_or_default(), body, days };
                s.set_vacation(a.address.clone(), Some(v)).await?;
                ctx.out.done(&format!("vacation reply of {} turned on", a.address));
            } else {
                let v = s.vacation(a.address.clone()).await?;
                ctx.out.show(&v, || match &v {
                    Some(v) => {
                        format!("on, once per sender per {} days\nsubject: {}\n\n{}\n", v.days, v.subject, v.body)
                    }
                    None => "off\n".into(),
                });
            }
        }
        AccountCmd::Enable { address } => set_enabled(ctx, &address, true).await?,
        AccountCmd::Disable { address } => set_enabled(ctx, &address, false).await?,
    }
    Ok(())
}

async fn set_enabled(ctx: &Ctx, address: &str, enabled: bool) -> Result<(), CtlError> {
    let mut a = existing(ctx, address).await?;
    a.enabled = enabled;
    ctx.store.update_account(a.clone()).await?;
    if !enabled {
        ctx.store.session_remove_user(a.address.clone()).await?;
    }
    ctx.out.done(&format!("account {} {}", a.address, if enabled { "enabled" } else { "disabled" }));
    Ok(())
}

fn account_line(a: &Account) -> String {
    let quota = if a.quota_bytes > 0 { format!("{} MiB", a.quota_bytes / (1024 * 1024)) } else { "unlimited".into() };
    format!(
        "{}  {}  used {} KiB of {}{}\n",
        a.address,
        if a.display_name.is_empty() { "-" } else { &a.display_name },
        a.used_bytes / 1024,
        quota,
        if a.enabled { "" } else { "  [disabled]" }
    )
}

pub async fn alias(ctx: &Ctx, cmd: AliasCmd) -> Result<(), CtlError> {
    let s = &ctx.store;
    match cmd {
        AliasCmd::List { domain } => {
            let domain = domain.map(|d| domain_arg(&d)).transpose()?;
            let list = s.aliases(domain).await?;
            ctx.out.show(&list, || list.iter().map(|a| format!("{} → {}\n", a.address, a.target)).collect());
        }
        AliasCmd::Add { address, target } => {
            let (address, target) = (address_arg(&address)?, address_arg(&target)?);
            s.add_alias(address.clone(), target.clone()).await?;
            ctx.out.done(&format!("alias {address} → {target} added"));
        }
        AliasCmd::Remove { address } => {
            let address = address_arg(&address)?;
            s.remove_alias(address.clone()).await?;
            ctx.out.done(&format!("alias {address} removed"));
        }
    }
    Ok(())
}

pub async fn group(ctx: &Ctx, cmd: GroupCmd) -> Result<(), CtlError> {
    let s = &ctx.store;
    match cmd {
        GroupCmd::List { domain } => {
            let domain = domain.map(|d| domain_arg(&d)).transpose()?;
            let list = s.groups(domain).await?;
            ctx.out.show(&list, || {
                list.iter().map(|g| format!("{} ({}): {}\n", g.address, g.name, g.members.join(", "))).collect()
            });
        }
        GroupCmd::Add { address, name } => {
            let address = address_arg(&address)?;
            s.add_group(address.clone(), name).await?;
            ctx.out.done(&format!("group {address} added"));
        }
        GroupCmd::Remove { address } => {
            let address = address_arg(&address)?;
            s.remove_group(address.clone()).await?;
            ctx.out.done(&format!("group {address} removed"));
        }
        GroupCmd::AddMember { group, member } => {
            let (group, member) = (address_arg(&group)?, address_arg(&member)?);
            s.set_group_member(group.clone(), member.clone(), true).await?;
            ctx.out.done(&format!("{member} added to {group}"));
        }
        GroupCmd::RemoveMember { group, member } => {
            let (group, member) = (address_arg(&group)?, address_arg(&member)?);
            s.set_group_member(group.clone(), member.clone(), false).await?;
            ctx.out.done(&format!("{member} removed from {group}"));
        }
    }
    Ok(())
}

pub async fn lockouts(ctx: &Ctx, cmd: LockoutCmd) -> Result<(), CtlError> {
    match cmd {
        LockoutCmd::List => {
            let list = crate::directory::lockouts(&ctx.store, &ctx.cfg.limits).await?;
            ctx.out.show(&list, || {
                if list.is_empty() {
                    return "no lockouts".into();
                }
                list.iter()
                    .map(|l| {
                        let who = match l.kind {
                            crate::directory::LockoutKind::Address => format!("address {} locked out", l.ip),
                            crate::directory::LockoutKind::Account => format!("{} locked out of {}", l.ip, l.user),
                            crate::directory::LockoutKind::Slowed => {
                                format!("{} slowed (logins from anywhere)", l.user)
                            }
                        };
                        format!("{who}: {} failures, until {}", l.failures, crate::clock::rfc5322(l.until))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        LockoutCmd::Clear { ip, user } => {
            if ip.is_none() && user.is_none() {
                return Err(CtlError::Usage("name the lockout: --ip ADDRESS, --user NAME, or both".into()));
            }
            let ip = ip.map(|i| crate::cidr::canonical(i).to_string());
            let user = user.map(|u| u.trim().to_lowercase());
            let n = ctx.store.auth_failures_clear(ip, user).await?;
            ctx.out.show(&serde_json::json!({ "cleared": n }), || format!("{n} failed logins forgotten"));
        }
    }
    Ok(())
}
