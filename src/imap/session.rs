//! One IMAP conversation: framing with imap-codec, the state machine of
//! RFC 3501 §3 (not authenticated → authenticated → selected → logout).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer, LiteralAnnouncement};
use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::LiteralMode;
use imap_codec::imap_types::fetch::{Macro, MacroOrMessageDataItemNames, MessageDataItemName};
use imap_codec::imap_types::flag::{StoreResponse, StoreType};
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::sequence::SequenceSet;
use imap_codec::imap_types::status::StatusDataItemName;
use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use tracing::{Instrument, debug, info, info_span, warn};

use super::view::View;
use super::{Shared, fetch};
use crate::connection::{ConnError, Connection};
use crate::store::FlagOp;

/// Room for a command's own text around an APPENDed message.
const COMMAND_OVERHEAD: u32 = 64 * 1024;
const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// RFC 3501 §5.4: at least 30 minutes of inactivity once logged in.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub struct Session {
    sh: Arc<Shared>,
    conn: Connection,
    peer: IpAddr,
    frag: Fragmentizer,
    /// Largest command (with its literals): the SMTP message size limit plus room for the command.
    max_message: u32,
    user: Option<String>,
    selected: Option<View>,
    errors: u32,
}

enum Flow {
    Continue,
    Close,
}

fn mailbox_name(m: &Mailbox) -> String {
    match m {
        Mailbox::Inbox => "INBOX".into(),
        Mailbox::Other(o) => String::from_utf8_lossy(o.as_ref()).to_string(),
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// IMAP LIST wildcards: `*` matches anything, `%` anything but the delimiter.
fn matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('%') => (0..=n.len()).take_while(|i| *i == 0 || n[i - 1] != '/').any(|i| go(&p[1..], &n[i..])),
            Some(c) => n.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(&p[1..], &n[1..]),
        }
    }
    go(&pattern.chars().collect::<Vec<_>>(), &name.chars().collect::<Vec<_>>())
}

impl Session {
    pub fn new(sh: Arc<Shared>, conn: Connection, peer: IpAddr) -> Session {
        let max_message = u32::try_from(sh.cfg.smtp.max_message_size).unwrap_or(u32::MAX).saturating_add(COMMAND_OVERHEAD);
        Session { sh, conn, peer, frag: Fragmentizer::new(max_message), max_message, user: None, selected: None, errors: 0 }
    }

    pub async fn run(mut self) {
        let sid = crate::ids::token(8);
        let span = info_span!(target: "hato::imap", "imap", sid = %sid, peer = %self.peer);
        async move {
            info!(target: "hato::imap", tls = self.conn.is_tls(), "connected");
            let caps = self.capabilities();
            self.send(&format!("* OK [CAPABILITY {caps}] Hato IMAP ready\r\n"));
            match self.command_loop().await {
                Ok(()) | Err(ConnError::Closed) => debug!(target: "hato::imap", "closed"),
                Err(ConnError::Timeout(t)) => {
                    info!(target: "hato::imap", "idle for {t:?}; closing");
                    self.send("* BYE idle timeout\r\n");
                }
                Err(e) => info!(target: "hato::imap", "connection ended: {e}"),
            }
            self.conn.shutdown().await;
        }
        .instrument(span)
        .await
    }

    fn send(&mut self, text: &str) {
        self.conn.queue(text.as_bytes());
    }

    fn timeout(&self) -> Duration {
        if self.user.is_some() { IDLE_TIMEOUT } else { LOGIN_TIMEOUT }
    }

    fn capabilities(&self) -> String {
        let mut c = String::from("IMAP4rev1 LITERAL+ IDLE UNSELECT UIDPLUS MOVE");
        if !self.conn.is_tls() {
            c.push_str(" STARTTLS");
        }
        if self.user.is_none() {
            c.push_str(if self.auth_allowed() { " AUTH=PLAIN" } else { " LOGINDISABLED" });
        }
        c
    }

    fn auth_allowed(&self) -> bool {
        self.conn.is_tls() || self.sh.cfg.imap.allow_plaintext_auth
    }

    /// Reads until one whole command (with its literals) is framed.
    async fn next_message(&mut self) -> Result<(), ConnError> {
        loop {
            match self.frag.progress() {
                Some(FragmentInfo::Line { announcement: Some(LiteralAnnouncement { mode, length }), .. }) => {
                    if length > self.max_message {
                        let tag = self.frag.decode_tag().map(|t| t.inner().to_string()).unwrap_or_else(|| "*".into());
                        self.frag.skip_message();
                        let max = self.max_message;
                        self.send(&format!("{tag} BAD literal of {length} bytes is over the {max}-byte limit\r\n"));
                        if mode == LiteralMode::NonSync {
                            // The client sends the bytes without waiting; read as lines they could
                            // pass for commands. The only safe answer is to hang up.
                            self.send("* BYE literal too large\r\n");
                            return Err(ConnError::LineTooLong(max as usize));
                        }
                        continue;
                    }
                    if mode == LiteralMode::Sync {
                        self.send("+ Ready for literal data\r\n");
                        self.conn.flush().await?;
                    }
                }
                Some(_) if self.frag.is_message_complete() => return Ok(()),
                Some(_) => {}
                None => {
                    self.conn.flush_if_idle().await?;
                    let bytes = self.conn.read_some(self.timeout()).await?;
                    self.frag.enqueue_bytes(&bytes);
                }
            }
        }
    }

    async fn command_loop(&mut self) -> Result<(), ConnError> {
        loop {
            self.next_message().await?;
            // The command borrows this copy, so the session stays free to change itself.
            let bytes = self.frag.message_bytes().to_vec();
            let decoded = if self.frag.is_max_message_size_exceeded() {
                None
            } else {
                match CommandCodec::default().decode(&bytes) {
                    Ok((rest, cmd)) if rest.is_empty() => Some(cmd),
                    _ => None,
                }
            };
            let flow = match decoded {
                Some(cmd) => self.dispatch(cmd).await?,
                None => {
                    let tag = self.frag.decode_tag().map(|t| t.inner().to_string()).unwrap_or_else(|| "*".into());
                    debug!(target: "hato::imap", "bad command: {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(200)]));
                    self.send(&format!("{tag} BAD command not understood\r\n"));
                    self.errors += 1;
                    if self.errors > 20 {
                        self.send("* BYE too many errors\r\n");
                        Flow::Close
                    } else {
                        Flow::Continue
                    }
                }
            };
            if let Flow::Close = flow {
                self.conn.flush().await?;
                return Ok(());
            }
        }
    }

    async fn dispatch(&mut self, cmd: Command<'_>) -> Result<Flow, ConnError> {
        let tag = cmd.tag.inner().to_string();
        let authed = self.user.is_some();
        let selected = self.selected.is_some();
        let name = cmd.body.name();
        match cmd.body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                self.send(&format!("* CAPABILITY {caps}\r\n{tag} OK CAPABILITY completed\r\n"));
            }
            CommandBody::Noop | CommandBody::Check => {
                self.refresh().await;
                self.send(&format!("{tag} OK {name} completed\r\n"));
            }
            CommandBody::Logout => {
                self.send(&format!("* BYE Hato IMAP logging out\r\n{tag} OK LOGOUT completed\r\n"));
                return Ok(Flow::Close);
            }
            CommandBody::StartTLS if self.conn.is_tls() => self.send(&format!("{tag} BAD TLS is already active\r\n")),
            CommandBody::StartTLS => {
                self.send(&format!("{tag} OK Begin TLS negotiation now\r\n"));
                let acceptor = self.sh.tls.clone();
                self.conn.start_tls(&acceptor).await?;
                // Anything pipelined before the handshake is dropped with the old framing state.
                self.frag = Fragmentizer::new(self.max_message);
            }
            CommandBody::Login { .. } | CommandBody::Authenticate { .. } if authed => {
                self.send(&format!("{tag} BAD already authenticated\r\n"));
            }
            CommandBody::Login { .. } | CommandBody::Authenticate { .. } if !self.auth_allowed() => {
                self.send(&format!("{tag} NO [PRIVACYREQUIRED] use STARTTLS (or port 993) first\r\n"));
            }
            CommandBody::Login { username, password } => {
                let user = String::from_utf8_lossy(username.as_ref()).to_string();
                let pass = String::from_utf8_lossy(password.declassify().as_ref()).to_string();
                self.login(&tag, &user, &pass).await;
            }
            CommandBody::Authenticate { mechanism: AuthMechanism::Plain, initial_response } => {
                let raw = match initial_response {
                    Some(r) => r.declassify().to_vec(),
                    None => {
                        self.send("+ \r\n");
                        self.conn.flush().await?;
                        let line = self.conn.read_line(8192, self.timeout()).await?;
                        let text = String::from_utf8_lossy(&line).trim_end().to_string();
                        if text == "*" {
                            self.send(&format!("{tag} BAD authentication cancelled\r\n"));
                            return Ok(Flow::Continue);
                        }
                        match crate::smtp::auth::decode_b64(&text) {
                            Ok(b) => b,
                            Err(_) => {
                                self.send(&format!("{tag} BAD invalid base64\r\n"));
                                return Ok(Flow::Continue);
                            }
                        }
                    }
                };
                match crate::smtp::auth::decode_plain(&crate::smtp::auth::encode_b64(&raw)) {
                    Ok((u, p)) => self.login(&tag, &u, &p).await,
                    Err(_) => self.send(&format!("{tag} BAD malformed PLAIN response\r\n")),
                }
            }
            CommandBody::Authenticate { .. } => self.send(&format!("{tag} NO [CANNOT] only AUTHENTICATE PLAIN is supported\r\n")),
            _ if !authed => self.send(&format!("{tag} BAD {name} needs LOGIN first\r\n")),
            CommandBody::Select { mailbox, .. } => self.select(&tag, mailbox_name(&mailbox), false).await,
            CommandBody::Examine { mailbox, .. } => self.select(&tag, mailbox_name(&mailbox), true).await,
            CommandBody::List { reference, mailbox_wildcard } | CommandBody::Lsub { reference, mailbox_wildcard } => {
                let pattern = match &mailbox_wildcard {
                    ListMailbox::Token(t) => String::from_utf8_lossy(t.as_ref()).to_string(),
                    ListMailbox::String(s) => String::from_utf8_lossy(s.as_ref()).to_string(),
                };
                let reference = mailbox_name(&reference);
                self.list(&tag, name, &reference, &pattern).await;
            }
            CommandBody::Status { mailbox, item_names } => self.status(&tag, mailbox_name(&mailbox), &item_names).await,
            CommandBody::Create { mailbox } => {
                let name = mailbox_name(&mailbox);
                let r = self.sh.store.create_mailbox(self.account(), name.trim_end_matches('/').to_string()).await;
                self.done(&tag, "CREATE", r);
            }
            CommandBody::Delete { mailbox } => {
                let name = mailbox_name(&mailbox);
                if self.selected.as_ref().is_some_and(|v| v.name == name) {
                    self.selected = None;
                }
                let r = self.sh.store.delete_mailbox(self.account(), name).await;
                self.done(&tag, "DELETE", r);
            }
            CommandBody::Rename { from, to } => {
                let r = self.sh.store.rename_mailbox(self.account(), mailbox_name(&from), mailbox_name(&to)).await;
                self.done(&tag, "RENAME", r);
            }
            CommandBody::Subscribe { mailbox } | CommandBody::Unsubscribe { mailbox } => {
                let on = name == "SUBSCRIBE";
                let r = self.sh.store.set_subscribed(self.account(), mailbox_name(&mailbox), on).await;
                self.done(&tag, name, r);
            }
            CommandBody::Append { mailbox, flags, date, message } => {
                let body = match &message {
                    LiteralOrLiteral8::Literal(l) => l.as_ref().to_vec(),
                    LiteralOrLiteral8::Literal8(l) => l.data.to_vec(),
                };
                let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
                let date = date.map(|d| d.as_ref().timestamp()).unwrap_or_else(crate::clock::now);
                let mailbox = mailbox_name(&mailbox);
                match self.sh.store.append(self.account(), mailbox.clone(), body, flags.join(" "), date).await {
                    Ok((validity, uid)) => {
                        info!(target: "hato::imap", mailbox = %mailbox, uid, "appended");
                        self.refresh().await;
                        self.send(&format!("{tag} OK [APPENDUID {validity} {uid}] APPEND completed\r\n"));
                    }
                    Err(e) => self.done(&tag, "APPEND", Err(e)),
                }
            }
            CommandBody::Idle => return self.idle(&tag).await,
            _ if !selected => self.send(&format!("{tag} BAD {name} needs a selected mailbox\r\n")),
            CommandBody::Fetch { sequence_set, macro_or_item_names, uid, .. } => {
                let items = match macro_or_item_names {
                    MacroOrMessageDataItemNames::Macro(m) => match m {
                        Macro::Fast => vec![MessageDataItemName::Flags, MessageDataItemName::InternalDate, MessageDataItemName::Rfc822Size],
                        _ => vec![MessageDataItemName::Flags, MessageDataItemName::InternalDate, MessageDataItemName::Rfc822Size, MessageDataItemName::Envelope],
                    },
                    MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
                };
                self.fetch(&tag, &sequence_set, &items, uid).await;
            }
            CommandBody::Store { sequence_set, kind, response, flags, uid, .. } => {
                let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
                let op = match kind {
                    StoreType::Add => FlagOp::Add,
                    StoreType::Remove => FlagOp::Remove,
                    StoreType::Replace => FlagOp::Replace,
                };
                self.store(&tag, &sequence_set, op, flags, response == StoreResponse::Silent, uid).await;
            }
            CommandBody::Expunge => {
                self.expunge(None).await;
                self.send(&format!("{tag} OK EXPUNGE completed\r\n"));
            }
            CommandBody::ExpungeUid { sequence_set } => {
                self.expunge(Some(&sequence_set)).await;
                self.send(&format!("{tag} OK UID EXPUNGE completed\r\n"));
            }
            CommandBody::Search { charset, criteria, uid } => {
                let cs = charset.as_ref().map(|c| c.as_ref().to_ascii_uppercase());
                if cs.as_deref().is_some_and(|c| c != "UTF-8" && c != "US-ASCII") {
                    self.send(&format!("{tag} NO [BADCHARSET (UTF-8 US-ASCII)] search in UTF-8\r\n"));
                } else {
                    self.search(&tag, criteria.as_ref(), uid).await;
                }
            }
            CommandBody::Copy { sequence_set, mailbox, uid } => self.copy(&tag, &sequence_set, mailbox_name(&mailbox), uid, false).await,
            CommandBody::Move { sequence_set, mailbox, uid } => self.copy(&tag, &sequence_set, mailbox_name(&mailbox), uid, true).await,
            CommandBody::Close => {
                if self.selected.as_ref().is_some_and(|v| !v.read_only) {
                    let _ = self.remove_deleted(None).await;
                }
                self.selected = None;
                self.send(&format!("{tag} OK CLOSE completed\r\n"));
            }
            CommandBody::Unselect => {
                self.selected = None;
                self.send(&format!("{tag} OK UNSELECT completed\r\n"));
            }
            _ => self.send(&format!("{tag} NO [CANNOT] {name} is not implemented yet\r\n")),
        }
        Ok(Flow::Continue)
    }

    async fn login(&mut self, tag: &str, user: &str, pass: &str) {
        let user = user.trim().to_lowercase();
        if self.sh.guard.auth_locked(self.peer, &user) {
            warn!(target: "hato::imap", user = %user, "login refused: locked out after repeated failures");
            self.send(&format!("{tag} NO [UNAVAILABLE] too many failed logins; try again later\r\n"));
            return;
        }
        match crate::directory::authenticate(&self.sh.store, &user, pass).await {
            Ok(Some(account)) => {
                self.sh.guard.auth_succeeded(&account);
                info!(target: "hato::imap", user = %account, "logged in");
                self.user = Some(account);
                let caps = self.capabilities();
                self.send(&format!("{tag} OK [CAPABILITY {caps}] logged in\r\n"));
            }
            Ok(None) => {
                self.sh.guard.auth_failed(self.peer, &user);
                warn!(target: "hato::imap", user = %user, "authentication failed");
                self.send(&format!("{tag} NO [AUTHENTICATIONFAILED] authentication failed\r\n"));
            }
            Err(e) => {
                warn!(target: "hato::imap", "authentication lookup failed: {e}");
                self.send(&format!("{tag} NO [UNAVAILABLE] temporary failure; try again\r\n"));
            }
        }
    }

    fn account(&self) -> String {
        self.user.clone().unwrap_or_default()
    }

    async fn select(&mut self, tag: &str, name: String, read_only: bool) {
        self.selected = None;
        let state = match self.sh.store.mailbox_state(self.account(), name.clone()).await {
            Ok(s) => s,
            Err(crate::store::StoreError::NotFound(_)) => {
                self.send(&format!("{tag} NO [NONEXISTENT] no mailbox {}\r\n", quoted(&name)));
                return;
            }
            Err(e) => {
                warn!(target: "hato::imap", "select failed: {e}");
                self.send(&format!("{tag} NO [UNAVAILABLE] cannot open the mailbox\r\n"));
                return;
            }
        };
        let v = View::new(name, read_only, state);
        let mut out = String::from("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n");
        out.push_str("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags permitted\r\n");
        out.push_str(&format!("* {} EXISTS\r\n* 0 RECENT\r\n", v.msgs.len()));
        if let Some(i) = v.msgs.iter().position(|m| !m.flags.contains("\\Seen")) {
            out.push_str(&format!("* OK [UNSEEN {}] first unseen\r\n", i + 1));
        }
        out.push_str(&format!("* OK [UIDVALIDITY {}] UIDs valid\r\n* OK [UIDNEXT {}] predicted next UID\r\n", v.uidvalidity, v.uidnext));
        out.push_str(&format!("* OK [HIGHESTMODSEQ {}] modseq\r\n", v.highestmodseq));
        let mode = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        out.push_str(&format!("{tag} OK [{mode}] {} completed\r\n", if read_only { "EXAMINE" } else { "SELECT" }));
        self.send(&out);
        self.selected = Some(v);
    }

    async fn list(&mut self, tag: &str, cmd: &str, reference: &str, pattern: &str) {
        if pattern.is_empty() {
            self.send(&format!("* {cmd} (\\Noselect) \"/\" \"\"\r\n{tag} OK {cmd} completed\r\n"));
            return;
        }
        let full = format!("{reference}{pattern}");
        match self.sh.store.mailboxes(self.account()).await {
            Ok(list) => {
                let mut out = String::new();
                for m in list.iter().filter(|m| matches(&full, &m.name) && (cmd != "LSUB" || m.subscribed)) {
                    let mut attrs = vec!["\\HasNoChildren".to_string()];
                    if let Some(s) = &m.special_use {
                        attrs.push(s.clone());
                    }
                    out.push_str(&format!("* {cmd} ({}) \"/\" {}\r\n", attrs.join(" "), quoted(&m.name)));
                }
                out.push_str(&format!("{tag} OK {cmd} completed\r\n"));
                self.send(&out);
            }
            Err(e) => {
                warn!(target: "hato::imap", "list failed: {e}");
                self.send(&format!("{tag} NO [UNAVAILABLE] cannot list mailboxes\r\n"));
            }
        }
    }

    async fn status(&mut self, tag: &str, name: String, items: &[StatusDataItemName]) {
        let st = match self.sh.store.mailbox_state(self.account(), name.clone()).await {
            Ok(s) => s,
            Err(_) => {
                self.send(&format!("{tag} NO [NONEXISTENT] no mailbox {}\r\n", quoted(&name)));
                return;
            }
        };
        let mut parts = Vec::new();
        for i in items {
            match i {
                StatusDataItemName::Messages => parts.push(format!("MESSAGES {}", st.messages.len())),
                StatusDataItemName::Recent => parts.push("RECENT 0".into()),
                StatusDataItemName::UidNext => parts.push(format!("UIDNEXT {}", st.uidnext)),
                StatusDataItemName::UidValidity => parts.push(format!("UIDVALIDITY {}", st.uidvalidity)),
                StatusDataItemName::Unseen => parts.push(format!("UNSEEN {}", st.messages.iter().filter(|m| !m.flags.contains("\\Seen")).count())),
                StatusDataItemName::HighestModSeq => parts.push(format!("HIGHESTMODSEQ {}", st.highestmodseq)),
                _ => {}
            }
        }
        self.send(&format!("* STATUS {} ({})\r\n{tag} OK STATUS completed\r\n", quoted(&name), parts.join(" ")));
    }

    /// Reports other sessions' changes to the selected mailbox.
    async fn refresh(&mut self) {
        let Some(v) = &self.selected else { return };
        let name = v.name.clone();
        if let Ok(fresh) = self.sh.store.mailbox_state(self.account(), name).await {
            if let Some(v) = self.selected.as_mut() {
                let lines = v.sync(fresh);
                for l in lines {
                    self.conn.queue(l.as_bytes());
                }
            }
        }
    }

    async fn fetch(&mut self, tag: &str, set: &SequenceSet, items: &[MessageDataItemName<'_>], uid: bool) {
        let Some(v) = self.selected.as_ref() else { return };
        let idx = v.resolve(set, uid);
        let (mailbox, read_only) = (v.name.clone(), v.read_only);
        let account = self.account();
        if fetch::sets_seen(items) && !read_only {
            let uids: Vec<i64> = idx.iter().filter_map(|i| v.msgs.get(*i)).filter(|m| !m.flags.contains("\\Seen")).map(|m| m.uid).collect();
            if !uids.is_empty() {
                if let Ok(changed) = self.sh.store.set_flags(account.clone(), mailbox.clone(), uids, FlagOp::Add, vec!["\\Seen".into()]).await {
                    if let Some(v) = self.selected.as_mut() {
                        for (u, f) in changed {
                            if let Some(m) = v.msgs.iter_mut().find(|m| m.uid == u) {
                                m.flags = f;
                            }
                        }
                    }
                }
            }
        }
        let need = fetch::needs_content(items);
        for i in idx {
            let Some(meta) = self.selected.as_ref().and_then(|v| v.msgs.get(i).cloned()) else { continue };
            let content = if need {
                match self.sh.store.content(account.clone(), mailbox.clone(), meta.uid).await {
                    Ok(Some(c)) => Some(c),
                    // Expunged by another session meanwhile: nothing to show for it.
                    Ok(None) => continue,
                    Err(e) => {
                        warn!(target: "hato::imap", "fetch failed: {e}");
                        self.send(&format!("{tag} NO [UNAVAILABLE] cannot read the message\r\n"));
                        return;
                    }
                }
            } else {
                None
            };
            let mut out = format!("* {} FETCH (", i + 1).into_bytes();
            let parsed = content.as_deref().and_then(|c| mail_parser::MessageParser::default().parse(c));
            if let Err(fetch::Unsupported(why)) = fetch::render(&mut out, items, &meta, content.as_deref(), parsed.as_ref(), uid) {
                self.send(&format!("{tag} NO [CANNOT] {why}\r\n"));
                return;
            }
            out.extend_from_slice(b")\r\n");
            self.conn.queue(&out);
        }
        self.send(&format!("{tag} OK {}FETCH completed\r\n", if uid { "UID " } else { "" }));
    }

    async fn store(&mut self, tag: &str, set: &SequenceSet, op: FlagOp, flags: Vec<String>, silent: bool, uid: bool) {
        let Some(v) = self.selected.as_ref() else { return };
        if v.read_only {
            self.send(&format!("{tag} NO [READ-ONLY] the mailbox was opened with EXAMINE\r\n"));
            return;
        }
        let idx = v.resolve(set, uid);
        let uids: Vec<i64> = idx.iter().filter_map(|i| v.msgs.get(*i)).map(|m| m.uid).collect();
        let mailbox = v.name.clone();
        match self.sh.store.set_flags(self.account(), mailbox, uids, op, flags).await {
            Ok(changed) => {
                let mut out = String::new();
                if let Some(v) = self.selected.as_mut() {
                    for (u, f) in changed {
                        if let Some((i, m)) = v.msgs.iter_mut().enumerate().find(|(_, m)| m.uid == u) {
                            m.flags = f.clone();
                            if !silent {
                                let uid_part = if uid { format!("UID {u} ") } else { String::new() };
                                out.push_str(&format!("* {} FETCH ({uid_part}FLAGS ({f}))\r\n", i + 1));
                            }
                        }
                    }
                }
                out.push_str(&format!("{tag} OK STORE completed\r\n"));
                self.send(&out);
            }
            Err(e) => {
                warn!(target: "hato::imap", "store failed: {e}");
                self.send(&format!("{tag} NO [UNAVAILABLE] cannot change flags\r\n"));
            }
        }
    }

    /// Removes \Deleted messages (only those of `within`, for UID EXPUNGE);
    /// returns the sequence numbers removed, highest first.
    async fn remove_deleted(&mut self, within: Option<&SequenceSet>) -> Vec<usize> {
        let Some(v) = self.selected.as_ref() else { return Vec::new() };
        let allowed: Option<Vec<usize>> = within.map(|set| v.resolve(set, true));
        let doomed: Vec<(usize, i64)> = v
            .msgs
            .iter()
            .enumerate()
            .filter(|(i, m)| m.flags.contains("\\Deleted") && allowed.as_ref().is_none_or(|a| a.contains(i)))
            .map(|(i, m)| (i, m.uid))
            .collect();
        if doomed.is_empty() {
            return Vec::new();
        }
        let uids = doomed.iter().map(|d| d.1).collect();
        if let Err(e) = self.sh.store.expunge(self.account(), v.name.clone(), uids).await {
            warn!(target: "hato::imap", "expunge failed: {e}");
            return Vec::new();
        }
        let mut seqs: Vec<usize> = doomed.iter().map(|d| d.0).collect();
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(v) = self.selected.as_mut() {
            for i in &seqs {
                v.msgs.remove(*i);
            }
        }
        seqs
    }

    async fn expunge(&mut self, within: Option<&SequenceSet>) {
        if self.selected.as_ref().is_some_and(|v| v.read_only) {
            return;
        }
        for i in self.remove_deleted(within).await {
            self.send(&format!("* {} EXPUNGE\r\n", i + 1));
        }
        self.refresh().await;
    }

    async fn search(&mut self, tag: &str, keys: &[imap_codec::imap_types::search::SearchKey<'_>], uid: bool) {
        let Some(v) = self.selected.as_ref() else { return };
        let (mailbox, account) = (v.name.clone(), self.account());
        let msgs = v.msgs.clone();
        let max_seq = msgs.len() as u64;
        let max_uid = msgs.last().map(|m| m.uid as u64).unwrap_or(0);
        let need = super::search::needs_content(keys);
        let mut hits = Vec::new();
        for (i, meta) in msgs.iter().enumerate() {
            let content = if need {
                match self.sh.store.content(account.clone(), mailbox.clone(), meta.uid).await {
                    Ok(c) => c,
                    Err(e) => {
                        warn!(target: "hato::imap", "search failed: {e}");
                        self.send(&format!("{tag} NO [UNAVAILABLE] cannot read messages\r\n"));
                        return;
                    }
                }
            } else {
                None
            };
            let c = super::search::Candidate::new(i as u64 + 1, max_seq, max_uid, meta, content.as_deref());
            if keys.iter().all(|k| super::search::matches(k, &c)) {
                hits.push(if uid { meta.uid as u64 } else { i as u64 + 1 });
            }
        }
        let list: Vec<String> = hits.iter().map(u64::to_string).collect();
        let sep = if list.is_empty() { "" } else { " " };
        self.send(&format!("* SEARCH{sep}{}\r\n{tag} OK {}SEARCH completed\r\n", list.join(" "), if uid { "UID " } else { "" }));
    }

    /// Answers a mailbox-management command from its store result.
    fn done(&mut self, tag: &str, what: &str, r: Result<(), crate::store::StoreError>) {
        use crate::store::StoreError as E;
        let line = match r {
            Ok(()) => format!("{tag} OK {what} completed\r\n"),
            Err(E::NotFound(m)) => format!("{tag} NO [NONEXISTENT] {m} not found\r\n"),
            Err(E::Exists(m)) => format!("{tag} NO [ALREADYEXISTS] {m} already exists\r\n"),
            Err(E::Invalid(m)) => format!("{tag} NO [CANNOT] {m}\r\n"),
            Err(E::Quota(m)) => format!("{tag} NO [OVERQUOTA] {m}\r\n"),
            Err(e) => {
                warn!(target: "hato::imap", "{what} failed: {e}");
                format!("{tag} NO [UNAVAILABLE] {what} failed; try again\r\n")
            }
        };
        self.send(&line);
    }

    /// COPY and MOVE (RFC 6851), with COPYUID (RFC 4315).
    async fn copy(&mut self, tag: &str, set: &SequenceSet, to: String, uid: bool, moving: bool) {
        let Some(v) = self.selected.as_ref() else { return };
        if moving && v.read_only {
            self.send(&format!("{tag} NO [READ-ONLY] the mailbox was opened with EXAMINE\r\n"));
            return;
        }
        let idx = v.resolve(set, uid);
        let uids: Vec<i64> = idx.iter().filter_map(|i| v.msgs.get(*i)).map(|m| m.uid).collect();
        let from = v.name.clone();
        let what = if moving { "MOVE" } else { "COPY" };
        let (validity, pairs) = match self.sh.store.copy(self.account(), from.clone(), to.clone(), uids, !moving).await {
            Ok(x) => x,
            Err(crate::store::StoreError::NotFound(_)) => {
                self.send(&format!("{tag} NO [TRYCREATE] no mailbox {}\r\n", quoted(&to)));
                return;
            }
            Err(e) => return self.done(tag, what, Err(e)),
        };
        let code = if pairs.is_empty() {
            String::new()
        } else {
            let src: Vec<String> = pairs.iter().map(|p| p.0.to_string()).collect();
            let dst: Vec<String> = pairs.iter().map(|p| p.1.to_string()).collect();
            format!("[COPYUID {validity} {} {}] ", src.join(","), dst.join(","))
        };
        if moving {
            self.send(&format!("* OK {code}moved\r\n"));
            let moved: Vec<i64> = pairs.iter().map(|p| p.0).collect();
            if let Err(e) = self.sh.store.expunge(self.account(), from, moved.clone()).await {
                warn!(target: "hato::imap", "MOVE could not remove the originals: {e}");
            }
            if let Some(v) = self.selected.as_mut() {
                let mut i = v.msgs.len();
                let mut lines = String::new();
                while i > 0 {
                    i -= 1;
                    if moved.contains(&v.msgs[i].uid) {
                        lines.push_str(&format!("* {} EXPUNGE\r\n", i + 1));
                        v.msgs.remove(i);
                    }
                }
                self.send(&lines);
            }
            self.send(&format!("{tag} OK MOVE completed\r\n"));
        } else {
            self.send(&format!("{tag} OK {code}COPY completed\r\n"));
        }
    }

    /// IDLE (RFC 2177): report changes as they happen until the client says DONE.
    async fn idle(&mut self, tag: &str) -> Result<Flow, ConnError> {
        self.send("+ idling\r\n");
        self.conn.flush().await?;
        let started = std::time::Instant::now();
        loop {
            match self.conn.read_line(1024, Duration::from_millis(500)).await {
                Ok(line) => {
                    if line.trim_ascii().eq_ignore_ascii_case(b"DONE") {
                        self.send(&format!("{tag} OK IDLE terminated\r\n"));
                        return Ok(Flow::Continue);
                    }
                    self.send(&format!("{tag} BAD expected DONE\r\n"));
                    return Ok(Flow::Continue);
                }
                Err(ConnError::Timeout(_)) => {
                    if started.elapsed() > IDLE_TIMEOUT {
                        return Err(ConnError::Timeout(IDLE_TIMEOUT));
                    }
                    self.refresh().await;
                    self.conn.flush().await?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn list_wildcards() {
        assert!(matches("*", "INBOX"));
        assert!(matches("inbox", "INBOX"));
        assert!(matches("%", "Sent"));
        assert!(!matches("%", "Archive/2026"));
        assert!(matches("Archive/%", "Archive/2026"));
        assert!(matches("S*", "Sent"));
        assert!(!matches("T*", "Sent"));
    }
}

