//! What local delivery does with a message for one account: the spam flag
//! and the account's active Sieve script decide where it is filed (and with
//! which flags), and what else happens — redirects, a refusal sent back, a
//! vacation reply. The filing is one store transaction; the rest follows it.

use tracing::{info, warn};

use super::autoreply::{self, Pending};
use crate::ids::Id;
use crate::sieve::{self, Action};
use crate::store::{Filing, Folder, NewMessage, NewRecipient, QueueEntry, QueuedMessage, Resolution, Store, Target};
use crate::vacation::Vacation;

/// What to do, decided before the filing is committed.
#[derive(Default)]
pub struct Plan {
    pub filings: Vec<Filing>,
    pub redirects: Vec<String>,
    pub reject: Option<String>,
    pub vacation: Option<Pending>,
    /// The script that decided, for the log.
    pub script: Option<String>,
    /// The message and its envelope, read before the filing removes the
    /// queued copy: redirects and refusals need them afterwards.
    original: Option<(Vec<u8>, QueuedMessage)>,
}

pub async fn plan(store: &Store, e: &QueueEntry, fields: &[(String, String)]) -> Plan {
    let junk = crate::smtp::message::get(fields, "X-Spam-Flag").is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    let keep_folder = if junk { Folder::Junk } else { Folder::Inbox };
    let default = |vacation| Plan { filings: vec![Filing::to(keep_folder.clone())], vacation, ..Plan::default() };
    let Some(account) = e.local_account.clone() else { return default(None) };
    // Spam gets no vacation reply (RFC 5230 §4.6).
    let account_vacation = |fields| async move { if junk { None } else { autoreply::prepare(store, e, fields).await } };
    let script = match store.sieve_active(account.clone()).await {
        Ok(Some(s)) => s,
        Ok(None) => return default(account_vacation(fields).await),
        Err(err) => {
            warn!(target: "hato::sieve", queue_id = %e.message, account = %account, "script unreadable; delivering as if none: {err}");
            return default(account_vacation(fields).await);
        }
    };
    let compiled = match sieve::compile(&script.text) {
        Ok(c) => c,
        Err(err) => {
            warn!(target: "hato::sieve", queue_id = %e.message, account = %account, script = %script.name, "script does not compile ({err}); delivering as if none");
            return default(account_vacation(fields).await);
        }
    };
    let (raw, queued) = match (store.queued_body(e.message).await, store.queued_message(e.message).await) {
        (Ok(raw), Ok(Some(m))) => (raw, m),
        _ => return default(account_vacation(fields).await),
    };
    let sender = queued.sender.clone();
    let envelope = sieve::Envelope { from: sender.clone(), to: e.recipient.clone() };
    let mut plan = Plan { script: Some(script.name), ..Plan::default() };
    for action in sieve::run(&compiled, &raw, &envelope) {
        match action {
            Action::Keep { flags } => plan.filings.push(Filing { folder: keep_folder.clone(), flags }),
            Action::FileInto { mailbox, flags } => plan.filings.push(Filing { folder: Folder::Named(mailbox), flags }),
            Action::Redirect { address } => plan.redirects.push(address),
            Action::Reject { reason } => plan.reject = Some(reason),
            Action::Discard => {}
            Action::Vacation(v) if !junk => {
                let subject = v.subject.clone().unwrap_or_else(|| {
                    let original = crate::smtp::message::get(fields, "Subject").unwrap_or_default();
                    format!("Auto: {original}")
                });
                let vacation = Vacation { subject, body: v.reason.clone(), days: v.days.min(365) as u32 };
                plan.vacation = Some(Pending::new(vacation, account.clone(), sender.clone(), fields.to_vec()));
            }
            Action::Vacation(_) => {}
        }
    }
    if !plan.redirects.is_empty() || plan.reject.is_some() {
        plan.original = Some((raw, queued));
    }
    plan
}

/// A recipient for a message Hato itself sends (redirect, refusal, reply):
/// local accounts directly, anything else through the remote queue.
pub async fn recipient(store: &Store, address: &str) -> Option<NewRecipient> {
    let local_account = match store.resolve(address.to_string()).await {
        Ok(Resolution::NotLocal) => None,
        Ok(Resolution::Targets(t)) => match t.as_slice() {
            [Target::Account(a)] => Some(a.address.clone()),
            _ => return None,
        },
        _ => return None,
    };
    Some(NewRecipient::new(address.to_string(), local_account))
}

/// Sends what the plan asks for besides the filing, once that is committed.
pub async fn follow_up(store: &Store, hostname: &str, e: &QueueEntry, plan: Plan) {
    let qid = e.message;
    if let Some((raw, original)) = &plan.original {
        for to in &plan.redirects {
            let Some(rcpt) = recipient(store, to).await else {
                warn!(target: "hato::sieve", queue_id = %qid, to = %to, "redirect target cannot be resolved");
                continue;
            };
            // The original envelope sender stays (RFC 5228 §4.2), so bounces go to the author.
            let copy = NewMessage {
                id: Id::new(),
                body: raw.clone(),
                sender: original.sender.clone(),
                client_ip: "127.0.0.1".into(),
                helo: hostname.into(),
                auth_user: None,
                message_id: original.message_id.clone(),
                subject: original.subject.clone(),
                recipients: vec![rcpt],
                dsn: Default::default(),
            };
            let id = copy.id;
            match store.enqueue(copy).await {
                Ok(()) => info!(target: "hato::sieve", queue_id = %qid, redirect_id = %id, to = %to, "redirected"),
                Err(err) => warn!(target: "hato::sieve", queue_id = %qid, to = %to, "redirect failed: {err}"),
            }
        }
        if let (Some(reason), false, true) = (&plan.reject, original.sender.is_empty(), e.dsn.wants_failure()) {
            let report =
                super::dsn::Report::new(e, super::dsn::Action::Failed, "5.7.1".into(), format!("550 5.7.1 {reason}"));
            let now = crate::clock::now();
            let body = super::dsn::build(hostname, original, &[report], raw, now, now);
            if let Some(rcpt) = recipient(store, &original.sender).await {
                let notice = NewMessage::notice(hostname, body, "Undelivered Mail Returned to Sender".into(), rcpt);
                match store.enqueue(notice).await {
                    Ok(()) => {
                        info!(target: "hato::sieve", queue_id = %qid, to = %original.sender, "refused by the recipient's script; sender told")
                    }
                    Err(err) => warn!(target: "hato::sieve", queue_id = %qid, "could not send the refusal: {err}"),
                }
            }
        }
    }
    if let Some(p) = plan.vacation {
        autoreply::send(store, hostname, e, p).await;
    }
}
