//! The user's own mail: folders, lists, reading, flags, moves, sending
//! through submission, drafts, vacation and filter.

use super::*;

#[derive(Debug, Serialize)]
pub struct Folder {
    pub name: String,
    pub special_use: Option<String>,
    pub messages: i64,
    pub unseen: usize,
}

pub async fn folders(c: &Ctx<'_>) -> Result<Vec<Folder>, WebError> {
    let me = c.mailbox_owner()?;
    let mut out = Vec::new();
    for b in c.app.store.mailboxes(me.clone()).await? {
        let state = c.app.store.mailbox_state(me.clone(), b.name.clone()).await?;
        let unseen = state.messages.iter().filter(|m| !m.flags.split(' ').any(|f| f == "\\Seen")).count();
        out.push(Folder { name: b.name, special_use: b.special_use, messages: b.messages, unseen });
    }
    Ok(out)
}

#[derive(Debug, Serialize)]
pub struct ListItem {
    pub uid: i64,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub date: i64,
    pub size: i64,
    pub seen: bool,
    pub flagged: bool,
}

#[derive(Debug, Serialize)]
pub struct Listing {
    pub folder: String,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    pub items: Vec<ListItem>,
}

pub const PER_PAGE: usize = 50;

/// One page of a folder, newest first (or oldest first, or by subject/sender);
/// `query` keeps messages whose sender or subject contains it. Sorting and
/// filtering use the store's search summaries (case-folded); what is shown
/// comes from the page's own header blocks, as written.
pub async fn list(c: &Ctx<'_>, folder: &str, page: usize, sort: &str, query: &str) -> Result<Listing, WebError> {
    let me = c.mailbox_owner()?;
    let state = c.app.store.mailbox_state(me.clone(), folder.to_string()).await?;
    let q = query.trim().to_lowercase();
    let mut order: Vec<(i64, i64, String)> =
        state.messages.iter().map(|m| (m.uid, m.internal_date, String::new())).collect();
    if !q.is_empty() || sort == "subject" || sort == "from" {
        let uids: Vec<i64> = order.iter().map(|o| o.0).collect();
        let mut keys = std::collections::HashMap::new();
        for chunk in uids.chunks(512) {
            for crate::store::MessageSummary { uid, summary: s } in
                c.app.store.summaries(me.clone(), folder.to_string(), chunk.to_vec()).await?
            {
                let hit = q.is_empty() || s.subject.contains(&q) || s.from.contains(&q);
                keys.insert(uid, (hit, if sort == "from" { s.from } else { s.subject }));
            }
        }
        order.retain_mut(|o| match keys.remove(&o.0) {
            Some((true, key)) => {
                o.2 = key;
                true
            }
            _ => false,
        });
    }
    match sort {
        "oldest" => order.sort_by_key(|o| (o.1, o.0)),
        "subject" | "from" => order.sort_by(|a, b| a.2.cmp(&b.2).then(b.1.cmp(&a.1))),
        _ => order.sort_by_key(|o| std::cmp::Reverse((o.1, o.0))),
    }
    let total = order.len();
    let pages = total.div_ceil(PER_PAGE).max(1);
    let page = page.clamp(1, pages);
    let shown: Vec<i64> = order.iter().skip((page - 1) * PER_PAGE).take(PER_PAGE).map(|o| o.0).collect();
    let headers: std::collections::HashMap<i64, Vec<u8>> = c
        .app
        .store
        .headers(me, folder.to_string(), shown.clone())
        .await?
        .into_iter()
        .map(|m| (m.uid, m.data))
        .collect();
    let meta: std::collections::HashMap<i64, &crate::store::MessageMeta> =
        state.messages.iter().map(|m| (m.uid, m)).collect();
    let items = shown
        .iter()
        .filter_map(|uid| {
            let m = meta.get(uid)?;
            let parsed =
                headers.get(uid).and_then(|h| mail_parser::MessageParser::default().parse_headers(h.as_slice()));
            let (subject, from, to) = match &parsed {
                Some(p) => (
                    p.subject().unwrap_or("").to_string(),
                    tidy(&crate::summary::addresses(p.from())),
                    tidy(&crate::summary::addresses(p.to())),
                ),
                None => Default::default(),
            };
            let flags: Vec<&str> = m.flags.split(' ').collect();
            Some(ListItem {
                uid: *uid,
                from,
                to,
                subject,
                date: m.internal_date,
                size: m.size,
                seen: flags.contains(&"\\Seen"),
                flagged: flags.contains(&"\\Flagged"),
            })
        })
        .collect();
    Ok(Listing { folder: folder.to_string(), total, page, pages, items })
}

/// "Name <a@x>, <b@y>" as people write it: a bare address where there is no name.
pub fn tidy(list: &str) -> String {
    list.split(", ")
        .map(|a| {
            let a = a.trim();
            match a.strip_prefix('<').and_then(|x| x.strip_suffix('>')) {
                Some(bare) => bare.to_string(),
                None => a.to_string(),
            }
        })
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn raw(c: &Ctx<'_>, folder: &str, uid: i64) -> Result<Vec<u8>, WebError> {
    let me = c.mailbox_owner()?;
    let msgs = c.app.store.contents(me, folder.to_string(), vec![uid]).await?;
    msgs.into_iter().next().map(|m| m.data).ok_or_else(|| WebError::NotFound(format!("message {uid} in {folder}")))
}

/// A message to read; reading it marks it \Seen.
pub async fn read(c: &Ctx<'_>, folder: &str, uid: i64, remote_images: bool) -> Result<Shown, WebError> {
    let body = raw(c, folder, uid).await?;
    let shown = message::show(&body, remote_images)
        .ok_or_else(|| WebError::BadRequest("the message cannot be parsed".into()))?;
    set_flags(c, folder, uid, &["\\Seen"], &[]).await?;
    Ok(shown)
}

pub async fn attachment(c: &Ctx<'_>, folder: &str, uid: i64, index: usize) -> Result<(String, Vec<u8>), WebError> {
    let body = raw(c, folder, uid).await?;
    message::attachment(&body, index).ok_or_else(|| WebError::NotFound(format!("attachment {index}")))
}

pub async fn set_flags(c: &Ctx<'_>, folder: &str, uid: i64, add: &[&str], remove: &[&str]) -> Result<(), WebError> {
    let me = c.mailbox_owner()?;
    let ok = |f: &&str| matches!(*f, "\\Seen" | "\\Flagged" | "\\Answered" | "\\Draft");
    if !add.iter().chain(remove).all(ok) {
        return Err(WebError::BadRequest("only \\Seen, \\Flagged, \\Answered and \\Draft can be set here".into()));
    }
    for (op, flags) in [(FlagOp::Add, add), (FlagOp::Remove, remove)] {
        if !flags.is_empty() {
            c.app
                .store
                .set_flags(
                    me.clone(),
                    folder.to_string(),
                    vec![uid],
                    op,
                    flags.iter().map(|f| f.to_string()).collect(),
                    None,
                )
                .await?;
        }
    }
    Ok(())
}

/// Moves a message (copy + expunge in the store); moving into or out of
/// Junk teaches the spam filter, as it does over IMAP.
pub async fn move_message(c: &Ctx<'_>, folder: &str, uid: i64, to: &str) -> Result<(), WebError> {
    let me = c.mailbox_owner()?;
    if folder == to {
        return Ok(());
    }
    let copied = c.app.store.copy(me.clone(), folder.to_string(), to.to_string(), vec![uid], true).await?;
    if copied.uids.is_empty() {
        return Err(WebError::NotFound(format!("message {uid} in {folder}")));
    }
    c.app.store.expunge(me.clone(), folder.to_string(), vec![uid]).await?;
    let new: Vec<i64> = copied.uids.iter().map(|p| p.1).collect();
    tokio::spawn(crate::spam::learn_moved(c.app.store.clone(), me, folder.to_string(), to.to_string(), new));
    Ok(())
}

async fn special(c: &Ctx<'_>, use_: &str) -> Result<String, WebError> {
    let me = c.mailbox_owner()?;
    let boxes = c.app.store.mailboxes(me).await?;
    boxes
        .into_iter()
        .find(|b| b.special_use.as_deref() == Some(use_))
        .map(|b| b.name)
        .ok_or_else(|| WebError::NotFound(format!("a {use_} folder")))
}

/// Delete: into Trash; from Trash, for good.
pub async fn delete_message(c: &Ctx<'_>, folder: &str, uid: i64) -> Result<(), WebError> {
    let trash = special(c, "\\Trash").await?;
    if folder == trash {
        let me = c.mailbox_owner()?;
        c.app.store.expunge(me, folder.to_string(), vec![uid]).await?;
        Ok(())
    } else {
        move_message(c, folder, uid, &trash).await
    }
}

pub async fn mark_spam(c: &Ctx<'_>, folder: &str, uid: i64, spam: bool) -> Result<(), WebError> {
    let to = if spam { special(c, "\\Junk").await? } else { "INBOX".to_string() };
    move_message(c, folder, uid, &to).await
}

/// Sends through this server's submission port, as any mail client would:
/// the same policy, DKIM signing, filters and archive apply. A copy goes to Sent.
pub async fn send(c: &Ctx<'_>, mut d: Draft) -> Result<(), WebError> {
    let me = c.mailbox_owner()?;
    let acct = c.app.store.account(me.clone()).await?.ok_or_else(|| WebError::NotFound("your account".into()))?;
    d.from = me.clone();
    d.from_name = acct.display_name;
    let rcpts: Vec<String> = d.to.iter().chain(&d.cc).cloned().collect();
    if rcpts.is_empty() {
        return Err(WebError::BadRequest("give at least one recipient".into()));
    }
    let raw = message::build(&d, &c.app.cfg.hostname, crate::clock::now());
    let addr = submission_addr(&c.app.cfg)?;
    let opts = crate::smtp::client::Options {
        helo: "webmail.localhost".into(),
        // Our own submission port on this host.
        verify: false,
        connect_timeout: Duration::from_secs(10),
        command_timeout: Duration::from_secs(120),
        opportunistic_tls: true,
        require_tls: true,
        credentials: Some((me.clone(), crate::directory::tokens::issue(&me))),
        dane: None,
    };
    let tls = crate::smtp::client::Connectors::new(rustls::RootCertStore::empty());
    let no_dsn = Default::default();
    let env = crate::smtp::client::Envelope {
        sender: &me,
        dsn: &Default::default(),
        recipients: rcpts.iter().map(|r| (r.as_str(), &no_dsn)).collect(),
    };
    let results = crate::smtp::client::send(&opts, &tls, "localhost", addr, &env, &raw)
        .await
        .map_err(|e| WebError::Send(e.to_string()))?
        .results;
    let refused: Vec<String> = rcpts
        .iter()
        .zip(&results)
        .filter_map(|(r, res)| match res {
            crate::smtp::client::RcptResult::Accepted(_) => None,
            crate::smtp::client::RcptResult::Temporary(m) | crate::smtp::client::RcptResult::Permanent(m) => {
                Some(format!("{r}: {m}"))
            }
        })
        .collect();
    if refused.len() == rcpts.len() {
        return Err(WebError::Send(refused.join("; ")));
    }
    let sent = special(c, "\\Sent").await?;
    let upload = Upload { body: raw, flags: "\\Seen".into(), date: crate::clock::now() };
    c.app.store.append(me, sent, vec![upload]).await?;
    if !refused.is_empty() {
        return Err(WebError::Send(format!("sent, but refused for: {}", refused.join("; "))));
    }
    Ok(())
}

pub async fn save_draft(c: &Ctx<'_>, mut d: Draft) -> Result<(), WebError> {
    let me = c.mailbox_owner()?;
    d.from = me.clone();
    let drafts = special(c, "\\Drafts").await?;
    let raw = message::build(&d, &c.app.cfg.hostname, crate::clock::now());
    let upload = Upload { body: raw, flags: "\\Draft \\Seen".into(), date: crate::clock::now() };
    c.app.store.append(me, drafts, vec![upload]).await?;
    Ok(())
}

/// Removes a draft that was sent or saved anew (only from the Drafts folder).
pub async fn discard_draft(c: &Ctx<'_>, folder: &str, uid: i64) -> Result<(), WebError> {
    if special(c, "\\Drafts").await? != folder {
        return Err(WebError::BadRequest(format!("{folder} is not the Drafts folder")));
    }
    c.app.store.expunge(c.mailbox_owner()?, folder.to_string(), vec![uid]).await?;
    Ok(())
}

/// This server's submission port, reached on loopback when it listens on every address.
fn submission_addr(cfg: &crate::config::Config) -> Result<std::net::SocketAddr, WebError> {
    let s = cfg.web.submission.clone().unwrap_or_else(|| cfg.smtp.submission_listen.clone());
    let mut a: std::net::SocketAddr =
        s.parse().map_err(|_| WebError::Send(format!("submission address {s} is not ip:port")))?;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() { IpAddr::from([127, 0, 0, 1]) } else { IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]) });
    }
    Ok(a)
}

pub async fn vacation(c: &Ctx<'_>) -> Result<Option<crate::vacation::Vacation>, WebError> {
    Ok(c.app.store.vacation(c.mailbox_owner()?).await?)
}

pub async fn set_vacation(c: &Ctx<'_>, v: Option<crate::vacation::Vacation>) -> Result<(), WebError> {
    Ok(c.app.store.set_vacation(c.mailbox_owner()?, v).await?)
}

/// The account's active Sieve script (the one ManageSieve clients see too).
pub async fn my_filter(c: &Ctx<'_>) -> Result<String, WebError> {
    Ok(c.app.store.sieve_active(c.mailbox_owner()?).await?.map(|s| s.text).unwrap_or_default())
}

/// Checks and saves the account's filter as the script "webmail" and makes it
/// active (empty: no active script). A broken one is refused with its place.
pub async fn set_my_filter(c: &Ctx<'_>, text: &str) -> Result<(), WebError> {
    let me = c.mailbox_owner()?;
    if text.trim().is_empty() {
        c.app.store.sieve_set_active(me, None).await?;
        return Ok(());
    }
    crate::sieve::compile(text).map_err(|e| WebError::BadRequest(e.to_string()))?;
    c.app.store.sieve_put(me.clone(), "webmail".into(), text.to_string()).await?;
    c.app.store.sieve_set_active(me, Some("webmail".into())).await?;
    Ok(())
}
