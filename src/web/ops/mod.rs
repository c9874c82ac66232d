//! Every operation of the console, each with its permission check, used by
//! both the JSON API and the HTML pages. The rules:
//! - the server administrator may do everything;
//! - a domain administrator manages the accounts of their own domain (never
//!   roles above their own) and sees that domain's audit entries;
//! - everyone reads and writes only their own mail: mail operations take the
//!   account from the session, never from the request.
//!
//! Every administrative change is written to the audit log.

use crate::directory::Login;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::message::{self, Draft, Shown};
use super::session::Session;
use super::{App, WebError};
use crate::ids::Id;
use crate::store::{
    Account, AuditEntry, FlagOp, QuarantineEntry, QueueAction, QueueFilter, QueuedMessage, Role, Upload,
};

pub struct Ctx<'a> {
    pub app: &'a Arc<App>,
    pub s: &'a Session,
    pub ip: IpAddr,
}

impl Ctx<'_> {
    async fn audit(&self, action: &str, target: &str, detail: String) {
        let e = AuditEntry {
            at: crate::clock::now(),
            actor: self.s.user.clone(),
            ip: self.ip.to_string(),
            action: action.into(),
            target: target.into(),
            detail,
        };
        tracing::info!(target: "hato::audit", actor = %e.actor, ip = %e.ip, action = %e.action, target = %e.target, "{}", e.detail);
        if let Err(err) = self.app.store.audit(e).await {
            tracing::error!(target: "hato::audit", "could not write the audit log: {err}");
        }
    }

    fn admin(&self) -> Result<(), WebError> {
        if self.s.is_admin() { Ok(()) } else { Err(WebError::Forbidden) }
    }

    fn manage(&self, address: &str) -> Result<(), WebError> {
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        if self.s.manages(domain) { Ok(()) } else { Err(WebError::Forbidden) }
    }

    fn mailbox_owner(&self) -> Result<String, WebError> {
        if self.s.has_mailbox() {
            Ok(self.s.user.clone())
        } else {
            Err(WebError::BadRequest("the built-in administrator has no mailbox".into()))
        }
    }
}

/// Checks a login and opens a session. `admin` is the built-in administrator
/// (its hash in `[web] admin_hash_file`); anyone else is an account.
pub async fn login(app: &Arc<App>, ip: IpAddr, user: &str, password: &str) -> Result<(String, Session), WebError> {
    let user = user.trim().to_lowercase();
    let check = async {
        if user == "admin" {
            let hash = std::fs::read_to_string(app.cfg.admin_hash_file()).unwrap_or_default();
            let ok = !hash.trim().is_empty() && crate::directory::verify_hash(&user, password, hash.trim()).await;
            return Ok(ok.then(|| user.clone()));
        }
        crate::directory::authenticate(&app.store, &user, password).await
    };
    let role = match crate::directory::login(&app.store, app.guard.limits(), ip, &user, check).await? {
        Login::Locked => return Err(WebError::Locked),
        Login::Ok(_) if user == "admin" => Role::Admin,
        Login::Ok(address) => app.store.account(address).await?.map(|a| a.role).unwrap_or_default(),
        Login::Failed => {
            tracing::warn!(target: "hato::web", user = %user, %ip, "login failed");
            return Err(WebError::BadLogin);
        }
    };
    let (token, s) = app.sessions.create(user, role).await?;
    let ctx = Ctx { app, s: &s, ip };
    ctx.audit("login", &s.user, format!("role {}", role.as_str())).await;
    Ok((token, s))
}

mod cluster;
mod directory;
mod mail;
mod server;
pub use cluster::*;
pub use directory::*;
pub use mail::*;
pub use server::*;
