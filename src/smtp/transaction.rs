//! The mail transaction: MAIL FROM, RCPT TO, and the commit that earns a 250
//! once the body is in (`body.rs`).
//!
//! Invariant: "250 queued" is written only after `Store::enqueue` returned,
//! i.e. after the message and every queue entry are durably committed.

use std::time::Duration;

use tracing::{info, warn};

use super::session::{Flow, Session};
use super::{Service, message, policy};
use crate::address::{Address, AddressError};
use crate::dns::Budget;
use crate::filter::Verdict;
use crate::ids::Id;
use crate::store::{EnvelopeDsn, NewMessage, NewRecipient, RecipientDsn, Resolution, Target};

pub struct Transaction {
    sender: String,
    /// RET and ENVID of MAIL FROM.
    dsn: EnvelopeDsn,
    /// The message as BDAT chunks brought it so far (RFC 3030); None before
    /// the first chunk. A transaction that began with BDAT takes no DATA.
    pub(super) chunks: Option<Vec<u8>>,
    /// SPF of the client for this sender, checked at MAIL FROM (MX only).
    spf: Option<mail_auth::SpfOutput>,
    /// The DNS time its checks may still take (SPF, DKIM, DMARC, blocklists).
    dns: Budget,
    /// Addresses as the client gave them (for the Received header and logs).
    rcpt_given: Vec<String>,
    recipients: Vec<NewRecipient>,
}

impl Transaction {
    /// How many recipients DATA or BDAT would deliver to.
    pub(super) fn recipients(&self) -> usize {
        self.recipients.len()
    }
}

impl Session {
    pub(super) async fn mail(&mut self, from: String, size: Option<usize>, smtputf8: bool, dsn: EnvelopeDsn) -> Flow {
        if self.helo.is_none() {
            self.reply(503, "5.5.1", "Send EHLO/HELO first");
            return self.client_error().await;
        }
        if self.tx.is_some() {
            self.reply(503, "5.5.1", "Nested MAIL command");
            return self.client_error().await;
        }
        if self.service != Service::Mx && self.auth_user.is_none() {
            self.reply(530, "5.7.0", "Authentication required");
            return self.client_error().await;
        }
        let max = self.sh.cfg.smtp.max_message_size;
        if size.is_some_and(|s| s > max) {
            self.reply(552, "5.3.4", &format!("Message too big; the limit is {max} bytes"));
            return Flow::Continue;
        }
        if !smtputf8 && !from.is_ascii() {
            self.reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
            return Flow::Continue;
        }
        let sender = if from.is_empty() {
            if self.service != Service::Mx {
                self.reply(553, "5.1.7", "A null sender is not allowed on submission");
                return self.client_error().await;
            }
            String::new()
        } else {
            match Address::parse(&from) {
                Ok(a) => a.to_string(),
                Err(e) => {
                    self.reply(553, "5.1.7", &format!("Bad sender address: {e}"));
                    return self.client_error().await;
                }
            }
        };
        if let Some(rule) = policy::sender_rejected(&self.sh.cfg.policy, &sender) {
            info!(target: "hato::smtp", from = %sender, rule, "rejected: sender on reject list");
            self.reply(550, "5.7.1", &format!("Sender <{sender}> refused by policy"));
            return Flow::Continue;
        }
        if let (Some(user), true) = (&self.auth_user, self.sh.cfg.smtp.enforce_sender) {
            let owner = self.sh.store.owner_of(sender.clone()).await;
            match owner {
                Ok(Some(o)) if &o == user => {}
                Ok(_) => {
                    info!(target: "hato::smtp", from = %sender, user = %user, "rejected: sender not owned by the login");
                    self.reply(553, "5.7.1", &format!("Sender <{sender}> is not an address of {user}"));
                    return Flow::Continue;
                }
                Err(e) => {
                    warn!(target: "hato::smtp", "sender lookup failed: {e}");
                    self.reply(451, "4.3.0", "Temporary lookup failure; try again");
                    return Flow::Continue;
                }
            }
        }
        if !self.sh.guard.allow_message(self.peer) {
            warn!(target: "hato::smtp", "rejected: message rate limit");
            self.reply(451, "4.7.1", "Too many messages from your address; slow down and retry later");
            return Flow::Continue;
        }
        let mut dns = Budget::new(Duration::from_millis(self.sh.cfg.smtp.dns_budget_ms));
        let spf = match self.service {
            Service::Mx => self.sh.mailauth.spf(self.peer, self.helo.as_deref().unwrap_or(""), &sender, &mut dns).await,
            _ => None,
        };
        if let Some(out) = spf.as_ref().filter(|o| o.result() == mail_auth::SpfResult::Fail) {
            info!(target: "hato::smtp", from = %sender, spf = "fail", domain = out.domain(), "SPF fail at MAIL FROM");
            if self.sh.mailauth.config().spf_reject_fail {
                self.reply(550, "5.7.23", &format!("SPF of {} does not allow mail from [{}]", out.domain(), self.peer));
                return Flow::Continue;
            }
        }
        self.tx =
            Some(Transaction { sender, dsn, chunks: None, spf, dns, rcpt_given: Vec::new(), recipients: Vec::new() });
        self.reply(250, "2.1.0", "Sender OK");
        Flow::Continue
    }

    pub(super) async fn rcpt(&mut self, to: String, dsn: RecipientDsn) -> Flow {
        let Some(count) = self.tx.as_ref().map(|t| t.rcpt_given.len()) else {
            self.reply(503, "5.5.1", "Need MAIL before RCPT");
            return self.client_error().await;
        };
        if count >= self.sh.cfg.smtp.max_recipients {
            self.reply(452, "4.5.3", "Too many recipients; send the rest in another transaction");
            return Flow::Continue;
        }
        let addr = match Address::parse(&to) {
            Ok(a) => a,
            Err(AddressError::Routed(_)) => {
                info!(target: "hato::smtp", to = %to, "rejected: routed address (relay attempt)");
                self.reply(550, "5.7.1", "Relaying denied: routed addresses are not accepted");
                return self.client_error().await;
            }
            Err(e) => {
                self.reply(501, "5.1.3", &format!("Bad recipient address: {e}"));
                return self.client_error().await;
            }
        };
        let address = addr.to_string();
        let resolution = match self.sh.store.resolve(address.clone()).await {
            Ok(r) => r,
            Err(e) => {
                warn!(target: "hato::smtp", "recipient lookup failed: {e}");
                self.reply(451, "4.3.0", "Temporary lookup failure; try again");
                return Flow::Continue;
            }
        };
        let new: Vec<NewRecipient> = match resolution {
            Resolution::NotLocal if self.auth_user.is_some() => {
                vec![NewRecipient::new(address.clone(), None)]
            }
            Resolution::NotLocal => {
                info!(target: "hato::smtp", to = %address, "rejected: relay attempt");
                self.reply(550, "5.7.1", "Relaying denied: authenticate on the submission port to send elsewhere");
                return self.client_error().await;
            }
            Resolution::Unknown => {
                info!(target: "hato::smtp", to = %address, "rejected: unknown recipient");
                self.reply(550, "5.1.1", &format!("<{address}>: no such user here"));
                return self.client_error().await;
            }
            Resolution::Targets(targets) => {
                let mut out = Vec::new();
                for t in targets {
                    match t {
                        Target::Remote(r) => out.push(NewRecipient::new(r, None)),
                        Target::Account(a) if !a.enabled => {}
                        Target::Account(a) if a.over_quota(0) => {
                            info!(target: "hato::smtp", to = %a.address, "deferred: mailbox over quota");
                            self.reply(452, "4.2.2", &format!("<{address}>: mailbox full"));
                            return Flow::Continue;
                        }
                        Target::Account(a) => out.push(NewRecipient::new(a.address.clone(), Some(a.address))),
                    }
                }
                if out.is_empty() {
                    info!(target: "hato::smtp", to = %address, "rejected: mailbox disabled");
                    self.reply(550, "5.2.1", &format!("<{address}>: mailbox disabled"));
                    return Flow::Continue;
                }
                out
            }
        };
        let Some(tx) = self.tx.as_mut() else { return Flow::Continue };
        tx.rcpt_given.push(address);
        for mut r in new {
            r.dsn = dsn.clone();
            let dup = tx.recipients.iter().any(|x| x.address == r.address && x.local_account == r.local_account);
            if !dup {
                tx.recipients.push(r);
            }
        }
        self.reply(250, "2.1.5", "Recipient OK");
        Flow::Continue
    }

    pub(super) async fn commit(&mut self, mut tx: Transaction, body: Vec<u8>) -> Flow {
        // DKIM is checked on the message exactly as it arrived.
        let auth = match self.service {
            Service::Mx => {
                let helo = self.helo.clone().unwrap_or_default();
                self.sh.mailauth.check(&body, self.peer, &helo, &tx.sender, tx.spf.as_ref(), &mut tx.dns).await
            }
            _ => None,
        };
        // Only Hato's own spam verdict may travel in these headers.
        let body = message::strip(&body, &crate::spam::HEADERS).unwrap_or(body);
        let fields = message::fields(&body);
        let hops = message::count(&fields, "Received");
        if hops >= self.sh.cfg.smtp.max_hops {
            warn!(target: "hato::smtp", hops, "rejected: mail loop");
            crate::stats::add(&crate::stats::STATS.loops_detected, 1);
            self.reply(554, "5.4.6", &format!("Too many hops ({hops}); mail loop suspected"));
            return Flow::Continue;
        }
        let id = Id::new();
        let qid = id.to_string();
        let now = crate::clock::now();
        let date = crate::clock::rfc5322(now);
        let mut head = String::new();
        let protocol = match (self.esmtp, self.conn.is_tls(), self.auth_user.is_some()) {
            (false, _, _) => "SMTP",
            (true, false, false) => "ESMTP",
            (true, true, false) => "ESMTPS",
            (true, false, true) => "ESMTPA",
            (true, true, true) => "ESMTPSA",
        };
        let helo = self.helo.clone().unwrap_or_default();
        let client_ip = self.peer.to_string();
        head.push_str(&message::received(&message::Trace {
            helo: &helo,
            client_ip: &client_ip,
            hostname: &self.sh.cfg.hostname,
            protocol,
            queue_id: &qid,
            for_rcpt: (tx.rcpt_given.len() == 1).then(|| tx.rcpt_given[0].as_str()),
            date: &date,
        }));
        if let Some(a) = &auth {
            head.push_str(&a.header);
        }
        let client_message_id = message::get(&fields, "Message-ID").unwrap_or_default();
        let mut message_id = client_message_id.clone();
        // Submission is where a message is born: give it what RFC 5322 requires.
        if self.service != Service::Mx {
            if message_id.is_empty() {
                message_id = format!("<{}.{}@{}>", qid, crate::ids::token(8), self.sh.cfg.hostname);
                head.push_str(&format!("Message-ID: {message_id}\r\n"));
            }
            if message::get(&fields, "Date").is_none() {
                head.push_str(&format!("Date: {date}\r\n"));
            }
        }
        let head_len = head.len();
        let mut full = head.into_bytes();
        full.extend_from_slice(&body);
        let size = full.len();
        let rcpts = tx.recipients.len();
        let mut msg = NewMessage {
            id,
            body: full,
            sender: tx.sender.clone(),
            client_ip,
            helo,
            auth_user: self.auth_user.clone(),
            message_id: message_id.clone(),
            subject: message::get(&fields, "Subject").unwrap_or_default().chars().take(200).collect(),
            recipients: tx.recipients,
            dsn: tx.dsn.clone(),
        };
        if let Some(first) = self.resent(&msg, &client_message_id, head_len, now).await {
            self.reply(250, "2.0.0", &format!("OK already queued as {first}"));
            return Flow::Continue;
        }
        if let Some(crate::mailauth::Dmarc::Reject(domain)) = auth.as_ref().map(|a| &a.dmarc)
            && self.sh.mailauth.config().dmarc_enforce
        {
            warn!(target: "hato::filter", queue_id = %qid, from = %tx.sender, filter = "dmarc", verdict = "reject", reason = %format!("DMARC policy of {domain}"), "rejected");
            crate::stats::verdict("dmarc", "reject");
            let reason = format!("dmarc: the DMARC policy of {domain} rejects it");
            if let Err(e) = self.sh.store.archive_rejected(msg, reason).await {
                warn!(target: "hato::archive", queue_id = %qid, "could not archive the refused message: {e}");
            }
            self.reply(550, "5.7.1", &format!("Message refused: it fails DMARC and the policy of {domain} is reject"));
            return Flow::Continue;
        }
        // The content filters, before anything is promised to the client.
        match crate::filter::check(&self.sh.cfg.filter, &msg.body).await {
            Verdict::Clean => {}
            Verdict::Reject { filter, reason } => {
                warn!(target: "hato::filter", queue_id = %qid, from = %tx.sender, filter, verdict = "reject", reason = %reason, "rejected");
                crate::stats::verdict(filter, "reject");
                if let Err(e) = self.sh.store.archive_rejected(msg, format!("{filter}: {reason}")).await {
                    warn!(target: "hato::archive", queue_id = %qid, "could not archive the refused message: {e}");
                }
                self.reply(554, "5.7.1", &format!("Message refused: {}", reason.replace(['\r', '\n'], " ")));
                return Flow::Continue;
            }
            Verdict::TempFail { filter, reason } => {
                warn!(target: "hato::filter", queue_id = %qid, filter, verdict = "tempfail", reason = %reason, "could not check the message");
                self.reply(451, "4.7.1", "The message could not be scanned now; try again later");
                return Flow::Continue;
            }
            Verdict::Quarantine { filter, reason } => return self.hold(msg, &tx.sender, filter, reason).await,
        }
        if self.service == Service::Mx && self.sh.cfg.spam.enabled {
            let cfg = self.sh.spam.config();
            let mut extra = Vec::new();
            if let Some(a) = auth {
                // p=quarantine means Junk when enforced: worth the Junk threshold by itself.
                if matches!(a.dmarc, crate::mailauth::Dmarc::Quarantine(_)) && self.sh.mailauth.config().dmarc_enforce {
                    extra.push(crate::spam::Hit::new("DMARC_QUARANTINE", cfg.junk_at));
                }
                extra.splice(0..0, a.hits);
            }
            let report = self.sh.spam.score(&msg.body, self.peer, &qid, extra, &mut tx.dns).await;
            let action = report.action(cfg);
            let verdict = match action {
                crate::spam::Action::Deliver => "pass",
                crate::spam::Action::Junk => "junk",
                crate::spam::Action::Quarantine => "quarantine",
                crate::spam::Action::Reject => "reject",
            };
            let reason = format!("score {} ({})", crate::spam::one_decimal(report.score), report.tests());
            info!(target: "hato::filter", queue_id = %qid, from = %tx.sender, filter = "spam", verdict, score = report.score, reason = %reason, "scored");
            crate::stats::verdict("spam", verdict);
            match action {
                crate::spam::Action::Reject => {
                    if let Err(e) = self.sh.store.archive_rejected(msg, format!("spam: {reason}")).await {
                        warn!(target: "hato::archive", queue_id = %qid, "could not archive the refused message: {e}");
                    }
                    self.reply(
                        554,
                        "5.7.1",
                        &format!("Message refused as spam (score {})", crate::spam::one_decimal(report.score)),
                    );
                    return Flow::Continue;
                }
                crate::spam::Action::Quarantine => return self.hold(msg, &tx.sender, "spam", reason).await,
                crate::spam::Action::Junk | crate::spam::Action::Deliver => {
                    let headers = report.headers(cfg);
                    msg.body.splice(head_len..head_len, headers.bytes());
                }
            }
        }
        if let Some(script) = self.sh.server_sieve.get()
            && let Some(flow) = self.server_script(&script, &mut msg, &qid).await
        {
            return flow;
        }
        if self.service != Service::Mx && self.sh.mailauth.config().sign {
            self.dkim_sign(&mut msg, &fields, &qid).await;
        }
        match self.sh.store.enqueue(msg).await {
            Ok(()) => {
                info!(target: "hato::smtp", queue_id = %qid, from = %tx.sender, rcpts, size, message_id = %message_id, "accepted");
                self.sh.queue_wake.notify_one();
                self.reply(250, "2.0.0", &format!("OK queued as {qid}"));
            }
            Err(e) => {
                warn!(target: "hato::smtp", queue_id = %qid, "could not store message: {e}");
                self.reply(451, "4.3.0", "Could not store the message; try again later");
            }
        }
        Flow::Continue
    }

    /// The queue id of an earlier accepted copy when `msg` is a client's
    /// resend after a lost answer (`resend`). A failed lookup is logged and
    /// treated as "not a resend": the commit that follows will fail the same way if the store is down.
    async fn resent(&self, msg: &NewMessage, client_message_id: &str, head_len: usize, now: i64) -> Option<Id> {
        let data = msg.body.get(head_len..).unwrap_or_default();
        match super::resend::earlier_copy(&self.sh.store, msg, client_message_id, data, now).await {
            Ok(Some(first)) => {
                info!(target: "hato::smtp", queue_id = %first, from = %msg.sender, message_id = %client_message_id, "resend of an accepted message; not queued twice");
                Some(first)
            }
            Ok(None) => None,
            Err(e) => {
                warn!(target: "hato::smtp", message_id = %client_message_id, "could not look for an earlier copy: {e}");
                None
            }
        }
    }

    /// Accepts a message into quarantine (250: it is safely kept, just not delivered).
    async fn hold(&mut self, msg: NewMessage, sender: &str, filter: &'static str, reason: String) -> Flow {
        let qid = msg.id.to_string();
        match self.sh.store.quarantine(msg, filter.to_string(), reason.clone()).await {
            Ok(()) => {
                warn!(target: "hato::filter", queue_id = %qid, from = %sender, filter, verdict = "quarantine", reason = %reason, "quarantined");
                crate::stats::verdict(filter, "quarantine");
                self.reply(250, "2.0.0", &format!("OK queued as {qid}"));
            }
            Err(e) => {
                warn!(target: "hato::filter", queue_id = %qid, "could not quarantine the message: {e}");
                self.reply(451, "4.3.0", "Could not store the message; try again later");
            }
        }
        Flow::Continue
    }

    /// Signs submitted mail with the key of its From domain, if there is one.
    /// A signing problem is logged and the message goes unsigned: refusing a
    /// user's mail for it would help no one.
    async fn dkim_sign(&self, msg: &mut NewMessage, fields: &[(String, String)], qid: &str) {
        let from = message::get(fields, "From").unwrap_or_default();
        let domain =
            from.rsplit_once('@').map(|(_, d)| d.trim_end_matches(['>', ' ', '"']).to_lowercase()).unwrap_or_default();
        if domain.is_empty() {
            return;
        }
        match self.sh.store.dkim_key(domain.clone()).await {
            Ok(Some(key)) => match crate::mailauth::keys::sign(&key, &msg.body) {
                Ok(header) => {
                    msg.body.splice(0..0, header.into_bytes());
                    info!(target: "hato::smtp", queue_id = %qid, domain = %domain, selector = %key.selector, "DKIM-signed");
                }
                Err(e) => warn!(target: "hato::smtp", queue_id = %qid, domain = %domain, "not DKIM-signed: {e}"),
            },
            Ok(None) => {}
            Err(e) => warn!(target: "hato::smtp", queue_id = %qid, domain = %domain, "not DKIM-signed: {e}"),
        }
    }

    /// The server's Sieve script, before queueing: it may refuse the message,
    /// discard it (archived, not delivered) or redirect it. Some(flow) when
    /// the transaction ends here.
    async fn server_script(&mut self, script: &crate::sieve::Script, msg: &mut NewMessage, qid: &str) -> Option<Flow> {
        use crate::sieve::Action;
        let envelope = crate::sieve::Envelope {
            from: msg.sender.clone(),
            to: msg.recipients.first().map(|r| r.address.clone()).unwrap_or_default(),
        };
        let actions = crate::sieve::run(script, &msg.body, &envelope);
        let mut keep = false;
        let mut redirects = Vec::new();
        for a in &actions {
            match a {
                Action::Reject { reason } => {
                    let reason = reason.replace(['\r', '\n'], " ").trim().to_string();
                    warn!(target: "hato::filter", queue_id = %qid, from = %msg.sender, filter = "sieve", verdict = "reject", reason = %reason, "rejected by the server script");
                    crate::stats::verdict("sieve", "reject");
                    let copy = msg.clone();
                    if let Err(e) = self.sh.store.archive_rejected(copy, format!("sieve: {reason}")).await {
                        warn!(target: "hato::archive", queue_id = %qid, "could not archive the refused message: {e}");
                    }
                    self.reply(550, "5.7.1", &format!("Message refused: {reason}"));
                    return Some(Flow::Continue);
                }
                Action::Keep { .. } => keep = true,
                Action::Redirect { address } => redirects.push(address.clone()),
                Action::FileInto { mailbox, .. } => {
                    warn!(target: "hato::sieve", queue_id = %qid, mailbox = %mailbox, "fileinto in the server script is ignored (users' scripts file mail); kept instead");
                    keep = true;
                }
                Action::Vacation(_) => {
                    warn!(target: "hato::sieve", queue_id = %qid, "vacation in the server script is ignored")
                }
                Action::Discard => {}
            }
        }
        let mut targets = Vec::new();
        for to in &redirects {
            match crate::queue::recipient(&self.sh.store, to).await {
                Some(r) => targets.push(r),
                None => warn!(target: "hato::sieve", queue_id = %qid, to = %to, "redirect target cannot be resolved"),
            }
        }
        if !keep {
            msg.recipients.clear();
        }
        msg.recipients.extend(targets);
        if msg.recipients.is_empty() {
            info!(target: "hato::filter", queue_id = %qid, from = %msg.sender, filter = "sieve", verdict = "discard", reason = "server script", "discarded");
            let copy = msg.clone();
            if let Err(e) =
                self.sh.store.archive_unqueued(copy, "discarded", "sieve: discarded by the server script".into()).await
            {
                warn!(target: "hato::archive", queue_id = %qid, "could not archive the discarded message: {e}");
            }
            self.reply(250, "2.0.0", &format!("OK queued as {qid}"));
            return Some(Flow::Continue);
        }
        if !redirects.is_empty() {
            info!(target: "hato::filter", queue_id = %qid, filter = "sieve", verdict = "redirect", reason = %redirects.join(", "), "redirected by the server script");
        }
        None
    }
}
