//! One IMAP conversation: framing with imap-codec, the state machine of
//! RFC 3501 §3 (not authenticated → authenticated → selected → logout).
//! This file holds the loop, dispatch and login; `mailboxes` the commands on
//! mailboxes as a whole, `selected` those on a selected mailbox's messages,
//! `query` SEARCH, SORT and THREAD (and searches kept up to date), `notify`
//! NOTIFY and the wait for a command that tells changes meanwhile.

mod mailboxes;
mod notify;
mod query;
mod selected;

use crate::directory::Login;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer, LiteralAnnouncement};
use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::command::{Command, CommandBody, FetchModifier, StoreModifier};
use imap_codec::imap_types::core::LiteralMode;
use imap_codec::imap_types::extensions::enable::CapabilityEnable;
use imap_codec::imap_types::extensions::thread::ThreadingAlgorithm;
use imap_codec::imap_types::fetch::{Macro, MacroOrMessageDataItemNames, MessageDataItemName};
use imap_codec::imap_types::flag::{StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span, warn};

use super::append;
use super::extended::{self, Extended, ListCommand, SearchReturn};
use super::view::View;
use super::{Shared, utf7};
use crate::connection::{ConnError, Connection};
use crate::store::FlagOp;

/// Room for a command's own text around an APPENDed message.
const COMMAND_OVERHEAD: u32 = 64 * 1024;
const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// RFC 3501 §5.4: at least 30 minutes of inactivity once logged in.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

const CAPABILITIES: &str = "IMAP4rev1 IMAP4rev2 SASL-IR SEARCHRES UTF8=ACCEPT LITERAL+ IDLE UNSELECT UIDPLUS MOVE NAMESPACE ID ENABLE CONDSTORE QRESYNC \
     MULTIAPPEND CATENATE QUOTA QUOTA=RES-STORAGE ESEARCH LIST-EXTENDED LIST-STATUS STATUS=SIZE SPECIAL-USE BINARY \
     SORT SORT=DISPLAY ESORT CONTEXT=SEARCH CONTEXT=SORT NOTIFY THREAD=ORDEREDSUBJECT THREAD=REFERENCES COMPRESS=DEFLATE";

pub struct Session {
    sh: Arc<Shared>,
    conn: Connection,
    peer: IpAddr,
    frag: Fragmentizer,
    /// Largest command (with its literals): the SMTP message size limit plus room for the command.
    max_message: u32,
    user: Option<String>,
    selected: Option<View>,
    /// Wakes IDLE when the account's mailboxes change.
    watch: Option<watch::Receiver<u64>>,
    /// RFC 7162: once a client uses CONDSTORE, flag updates carry MODSEQ.
    condstore: bool,
    /// ENABLE QRESYNC: expunges are reported as VANISHED.
    qresync: bool,
    /// RETURN options of the SEARCH being run (ESEARCH), taken from the raw command.
    search_return: Option<SearchReturn>,
    /// ENABLE IMAP4rev2 (RFC 9051): no \Recent, SEARCH answers ESEARCH.
    rev2: bool,
    /// IMAP4rev2 or UTF8=ACCEPT: mailbox names travel as UTF-8, not modified UTF-7.
    utf8_names: bool,
    /// SEARCHRES (RFC 5182): the UIDs a SEARCH … RETURN (SAVE) kept for "$".
    saved: Vec<i64>,
    /// NOTIFY (RFC 5465): what the client asked to hear of between commands.
    notify: Option<notify::Notifying>,
    errors: u32,
}

enum Flow {
    Continue,
    Close,
}

/// Returns when the account's mailboxes change; never without a notifier
/// (or once it is gone), so a `select!` then waits on its other branches.
async fn changed(watch: &mut Option<watch::Receiver<u64>>) {
    let woken = match watch.as_mut() {
        Some(w) => w.changed().await.is_ok(),
        None => false,
    };
    if !woken {
        std::future::pending::<()>().await;
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Session {
    pub fn new(sh: Arc<Shared>, conn: Connection, peer: IpAddr) -> Session {
        let max_message =
            u32::try_from(sh.cfg.smtp.max_message_size).unwrap_or(u32::MAX).saturating_add(COMMAND_OVERHEAD);
        Session {
            sh,
            conn,
            peer,
            frag: Fragmentizer::new(max_message),
            max_message,
            user: None,
            selected: None,
            watch: None,
            condstore: false,
            qresync: false,
            search_return: None,
            rev2: false,
            utf8_names: false,
            saved: Vec::new(),
            notify: None,
            errors: 0,
        }
    }

    pub async fn run(mut self) {
        let _open = crate::stats::open(&crate::stats::STATS.imap_sessions, &crate::stats::STATS.imap_sessions_total);
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

    /// A mailbox name from the wire, in the store's UTF-8.
    fn mailbox_name(&self, m: &Mailbox) -> Result<String, &'static str> {
        match m {
            Mailbox::Inbox => Ok("INBOX".into()),
            Mailbox::Other(o) => self.name_from_wire(o.as_ref()),
        }
    }

    fn name_from_wire(&self, raw: &[u8]) -> Result<String, &'static str> {
        if self.utf8_names {
            std::str::from_utf8(raw).map(str::to_string).map_err(|_| "the mailbox name is not UTF-8")
        } else {
            utf7::decode(raw)
        }
    }

    /// A mailbox name for the wire, quoted: modified UTF-7, or UTF-8 once enabled.
    fn wire(&self, name: &str) -> String {
        if self.utf8_names { quoted(name) } else { quoted(&utf7::encode(name)) }
    }

    /// RFC 7162 §3.1: the first CONDSTORE-enabling command (FETCH MODSEQ or
    /// CHANGEDSINCE, STORE UNCHANGEDSINCE, SEARCH MODSEQ, STATUS
    /// HIGHESTMODSEQ) while a mailbox is selected also tells its HIGHESTMODSEQ.
    fn enable_condstore(&mut self) {
        if self.condstore {
            return;
        }
        self.condstore = true;
        if let Some(v) = &self.selected {
            let line = format!("* OK [HIGHESTMODSEQ {}] CONDSTORE enabled\r\n", v.highestmodseq);
            self.send(&line);
        }
    }

    fn send(&mut self, text: &str) {
        self.conn.queue(text.as_bytes());
    }

    fn timeout(&self) -> Duration {
        if self.user.is_some() { IDLE_TIMEOUT } else { LOGIN_TIMEOUT }
    }

    fn capabilities(&self) -> String {
        let mut c = String::from(CAPABILITIES);
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
        // Between a literal's announcement and its end the client is sending data in bulk.
        let mut in_literal = false;
        loop {
            let progress = self.frag.progress();
            in_literal = match progress {
                Some(FragmentInfo::Line { announcement, .. }) => announcement.is_some(),
                Some(FragmentInfo::Literal { .. }) => false,
                None => in_literal,
            };
            match progress {
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
                        in_literal = false;
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
                    let bytes = match self.notify {
                        Some(_) => self.read_notifying(selected::IDLE_POLL).await?,
                        None if in_literal => self.conn.read_bulk(self.timeout()).await?,
                        None => self.conn.read_some(self.timeout()).await?,
                    };
                    self.frag.enqueue_bytes(&bytes);
                }
            }
        }
    }

    async fn command_loop(&mut self) -> Result<(), ConnError> {
        loop {
            self.next_message().await?;
            // The command borrows this copy, so the session stays free to change itself.
            let mut bytes = self.frag.message_bytes().to_vec();
            let too_big = self.frag.is_max_message_size_exceeded();
            self.search_return = None;
            if !too_big
                && self.selected.is_some()
                && let Some(swapped) = extended::substitute_saved(&bytes, &|uid_form| self.saved_set(uid_form))
            {
                bytes = swapped;
            }
            if !too_big
                && self.user.is_some()
                && let Some(multi) = append::recognise(&bytes)
            {
                let tag = self.frag.decode_tag().map(|t| t.inner().to_string()).unwrap_or_else(|| "*".into());
                match multi {
                    Ok(m) => Box::pin(self.append(&tag, m.mailbox, m.messages)).await,
                    Err(why) => self.send(&format!("{tag} BAD {why}\r\n")),
                }
                continue;
            }
            if !too_big && self.user.is_some() && Box::pin(self.notify_command(&bytes)).await.is_some() {
                continue;
            }
            if !too_big && self.user.is_some() {
                match extended::recognise(&bytes) {
                    Some(Extended::Search { rewritten, ret }) => {
                        self.search_return = Some(ret);
                        bytes = rewritten;
                    }
                    Some(Extended::List { tag, cmd }) => {
                        Box::pin(self.list(&tag, cmd)).await;
                        continue;
                    }
                    Some(Extended::CancelUpdate { tag, tags }) => {
                        self.cancel_update(&tag, &tags);
                        continue;
                    }
                    Some(Extended::Bad { tag, why }) => {
                        self.send(&format!("{tag} BAD {why}\r\n"));
                        continue;
                    }
                    None => {}
                }
            }
            let decoded = if too_big {
                None
            } else {
                match CommandCodec::default().decode(&bytes) {
                    Ok((b"", cmd)) => Some(cmd),
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

    /// Runs one command. Handlers with large futures are boxed (`Box::pin`):
    /// a task is as large as its largest state, and each idle session's task
    /// would otherwise carry FETCH's or APPEND's all the time.
    async fn dispatch(&mut self, cmd: Command<'_>) -> Result<Flow, ConnError> {
        let tag = cmd.tag.inner().to_string();
        let authed = self.user.is_some();
        let selected = self.selected.is_some();
        let name = cmd.body.name();
        // Mailbox arguments in modified UTF-7; a damaged one is refused before anything runs.
        macro_rules! mailbox {
            ($m:expr) => {
                match self.mailbox_name(&$m) {
                    Ok(n) => n,
                    Err(why) => {
                        self.send(&format!("{tag} NO [CANNOT] {why}\r\n"));
                        return Ok(Flow::Continue);
                    }
                }
            };
        }
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
            CommandBody::Id { .. } => {
                let version = env!("CARGO_PKG_VERSION");
                self.send(&format!("* ID (\"name\" \"Hato\" \"version\" \"{version}\")\r\n{tag} OK ID completed\r\n"));
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
                Box::pin(self.login(&tag, &user, &pass)).await;
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
                    Ok((u, p)) => Box::pin(self.login(&tag, &u, &p)).await,
                    Err(_) => self.send(&format!("{tag} BAD malformed PLAIN response\r\n")),
                }
            }
            CommandBody::Authenticate { .. } => {
                self.send(&format!("{tag} NO [CANNOT] only AUTHENTICATE PLAIN is supported\r\n"))
            }
            _ if !authed => self.send(&format!("{tag} BAD {name} needs LOGIN first\r\n")),
            CommandBody::Enable { capabilities } => {
                let mut on = Vec::new();
                for c in capabilities.as_ref() {
                    match c {
                        CapabilityEnable::CondStore => {
                            self.condstore = true;
                            on.push("CONDSTORE");
                        }
                        CapabilityEnable::Other(_) if c.to_string().eq_ignore_ascii_case("QRESYNC") => {
                            (self.condstore, self.qresync) = (true, true);
                            on.push("QRESYNC");
                        }
                        CapabilityEnable::Other(_) if c.to_string().eq_ignore_ascii_case("IMAP4rev2") => {
                            (self.rev2, self.utf8_names) = (true, true);
                            on.push("IMAP4rev2");
                        }
                        CapabilityEnable::Utf8(_) => {
                            self.utf8_names = true;
                            on.push("UTF8=ACCEPT");
                        }
                        _ => {}
                    }
                }
                self.send(
                    &format!("* ENABLED {}\r\n{tag} OK ENABLE completed\r\n", on.join(" "))
                        .replace("ENABLED \r", "ENABLED\r"),
                );
            }
            CommandBody::Namespace => {
                self.send(&format!("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n{tag} OK NAMESPACE completed\r\n"))
            }
            CommandBody::GetQuotaRoot { mailbox } => {
                let name = mailbox!(mailbox);
                Box::pin(self.quota(&tag, Some(name))).await;
            }
            CommandBody::GetQuota { root } if root.as_ref().is_empty() => Box::pin(self.quota(&tag, None)).await,
            CommandBody::GetQuota { .. } => {
                self.send(&format!("{tag} NO [NONEXISTENT] the only quota root is \"\"\r\n"))
            }
            CommandBody::SetQuota { .. } => {
                self.send(&format!("{tag} NO [NOPERM] quotas are set by the administrator\r\n"))
            }
            CommandBody::Select { mailbox, parameters } => {
                let name = mailbox!(mailbox);
                Box::pin(self.select(&tag, name, false, &parameters)).await;
            }
            CommandBody::Examine { mailbox, parameters } => {
                let name = mailbox!(mailbox);
                Box::pin(self.select(&tag, name, true, &parameters)).await;
            }
            CommandBody::List { reference, mailbox_wildcard } | CommandBody::Lsub { reference, mailbox_wildcard } => {
                let pattern = match &mailbox_wildcard {
                    ListMailbox::Token(t) => t.as_ref().to_vec(),
                    ListMailbox::String(s) => s.as_ref().to_vec(),
                };
                let reference = match &reference {
                    Mailbox::Inbox => b"INBOX".to_vec(),
                    Mailbox::Other(o) => o.as_ref().to_vec(),
                };
                let cmd =
                    ListCommand { lsub: name == "LSUB", reference, patterns: vec![pattern], ..Default::default() };
                Box::pin(self.list(&tag, cmd)).await;
            }
            CommandBody::Status { mailbox, item_names } => {
                let name = mailbox!(mailbox);
                let items: Vec<String> = item_names.iter().map(|i| format!("{i:?}").to_ascii_uppercase()).collect();
                Box::pin(self.status(&tag, name, &items)).await;
            }
            CommandBody::Create { mailbox } => {
                let name = mailbox!(mailbox);
                let r = self.sh.store.create_mailbox(self.account(), name.trim_end_matches('/').to_string()).await;
                self.done(&tag, "CREATE", r);
            }
            CommandBody::Delete { mailbox } => {
                let name = mailbox!(mailbox);
                if self.selected.as_ref().is_some_and(|v| v.name == name) {
                    self.selected = None;
                }
                let r = self.sh.store.delete_mailbox(self.account(), name).await;
                self.done(&tag, "DELETE", r);
            }
            CommandBody::Rename { from, to } => {
                let (from, to) = (mailbox!(from), mailbox!(to));
                let r = self.sh.store.rename_mailbox(self.account(), from, to).await;
                self.done(&tag, "RENAME", r);
            }
            CommandBody::Subscribe { mailbox } | CommandBody::Unsubscribe { mailbox } => {
                let on = name == "SUBSCRIBE";
                let mailbox = mailbox!(mailbox);
                let r = self.sh.store.set_subscribed(self.account(), mailbox, on).await;
                self.done(&tag, name, r);
            }
            CommandBody::Append { mailbox, flags, date, message } => {
                Box::pin(self.append(&tag, mailbox, vec![append::Message::new(&flags, date.as_ref(), &message)])).await;
            }
            CommandBody::Compress { .. } if self.conn.is_compressed() => {
                self.send(&format!("{tag} NO [COMPRESSIONACTIVE] DEFLATE is already on\r\n"));
            }
            // DEFLATE is the only algorithm the grammar knows.
            CommandBody::Compress { .. } => {
                self.send(&format!("{tag} OK DEFLATE active\r\n"));
                self.conn.start_deflate().await?;
                info!(target: "hato::imap", "COMPRESS=DEFLATE on");
            }
            CommandBody::Idle => return self.idle(&tag).await,
            _ if !selected => self.send(&format!("{tag} BAD {name} needs a selected mailbox\r\n")),
            CommandBody::Fetch { sequence_set, macro_or_item_names, uid, modifiers } => {
                let mut items = match macro_or_item_names {
                    MacroOrMessageDataItemNames::Macro(m) => match m {
                        Macro::Fast => vec![
                            MessageDataItemName::Flags,
                            MessageDataItemName::InternalDate,
                            MessageDataItemName::Rfc822Size,
                        ],
                        // RFC 3501 §6.4.5: ALL plus BODY.
                        Macro::Full => vec![
                            MessageDataItemName::Flags,
                            MessageDataItemName::InternalDate,
                            MessageDataItemName::Rfc822Size,
                            MessageDataItemName::Envelope,
                            MessageDataItemName::Body,
                        ],
                        // ALL (the macro enum is non-exhaustive).
                        _ => vec![
                            MessageDataItemName::Flags,
                            MessageDataItemName::InternalDate,
                            MessageDataItemName::Rfc822Size,
                            MessageDataItemName::Envelope,
                        ],
                    },
                    MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
                };
                let mut changed_since = None;
                let mut vanished = false;
                for m in &modifiers {
                    match m {
                        FetchModifier::ChangedSince(n) => changed_since = Some(n.get() as i64),
                        FetchModifier::Vanished => vanished = true,
                    }
                }
                if vanished && (!uid || !self.qresync || changed_since.is_none()) {
                    self.send(&format!("{tag} BAD VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC\r\n"));
                    return Ok(Flow::Continue);
                }
                if changed_since.is_some() || items.contains(&MessageDataItemName::ModSeq) {
                    self.enable_condstore();
                    if !items.contains(&MessageDataItemName::ModSeq) {
                        items.push(MessageDataItemName::ModSeq);
                    }
                }
                Box::pin(self.fetch(&tag, &sequence_set, &items, uid, changed_since, vanished)).await;
            }
            CommandBody::Store { sequence_set, kind, response, flags, uid, modifiers } => {
                let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
                let op = match kind {
                    StoreType::Add => FlagOp::Add,
                    StoreType::Remove => FlagOp::Remove,
                    StoreType::Replace => FlagOp::Replace,
                };
                let unchanged_since = modifiers.iter().map(|StoreModifier::UnchangedSince(n)| *n as i64).next();
                if unchanged_since.is_some() {
                    self.enable_condstore();
                }
                let silent = response == StoreResponse::Silent;
                Box::pin(self.store(&tag, &sequence_set, op, flags, silent, uid, unchanged_since)).await;
            }
            CommandBody::Expunge => {
                Box::pin(self.expunge(None)).await;
                self.send(&format!("{tag} OK EXPUNGE completed\r\n"));
            }
            CommandBody::ExpungeUid { sequence_set } => {
                Box::pin(self.expunge(Some(&sequence_set))).await;
                self.send(&format!("{tag} OK UID EXPUNGE completed\r\n"));
            }
            CommandBody::Search { charset, criteria, uid } => {
                if let Some(cs) = charset.as_ref().map(|c| c.as_ref().to_string()).filter(|c| !query::charset_ok(c)) {
                    self.send(&format!("{tag} NO [BADCHARSET (UTF-8 US-ASCII)] cannot search in {cs}\r\n"));
                } else {
                    Box::pin(self.search(&tag, criteria.as_ref(), uid)).await;
                }
            }
            CommandBody::Sort { sort_criteria, charset, search_criteria, uid } => {
                if !query::charset_ok(charset.as_ref()) {
                    self.send(&format!(
                        "{tag} NO [BADCHARSET (UTF-8 US-ASCII)] cannot search in {}\r\n",
                        charset.as_ref()
                    ));
                } else {
                    Box::pin(self.sort(&tag, sort_criteria.as_ref(), search_criteria.as_ref(), uid)).await;
                }
            }
            CommandBody::Thread { algorithm, charset, search_criteria, uid } => {
                let references = match algorithm {
                    ThreadingAlgorithm::References => true,
                    ThreadingAlgorithm::OrderedSubject => false,
                    ThreadingAlgorithm::Other(_) => {
                        self.send(&format!("{tag} NO [CANNOT] only REFERENCES and ORDEREDSUBJECT threading\r\n"));
                        return Ok(Flow::Continue);
                    }
                };
                if !query::charset_ok(charset.as_ref()) {
                    self.send(&format!(
                        "{tag} NO [BADCHARSET (UTF-8 US-ASCII)] cannot search in {}\r\n",
                        charset.as_ref()
                    ));
                } else {
                    Box::pin(self.thread(&tag, references, search_criteria.as_ref(), uid)).await;
                }
            }
            CommandBody::Copy { sequence_set, mailbox, uid } => {
                let to = mailbox!(mailbox);
                Box::pin(self.copy(&tag, &sequence_set, to, uid, false)).await;
            }
            CommandBody::Move { sequence_set, mailbox, uid } => {
                let to = mailbox!(mailbox);
                Box::pin(self.copy(&tag, &sequence_set, to, uid, true)).await;
            }
            CommandBody::Close => {
                if self.selected.as_ref().is_some_and(|v| !v.read_only) {
                    Box::pin(self.remove_deleted(None, false)).await;
                }
                self.selected = None;
                self.saved.clear();
                self.send(&format!("{tag} OK CLOSE completed\r\n"));
            }
            CommandBody::Unselect => {
                self.selected = None;
                self.saved.clear();
                self.send(&format!("{tag} OK UNSELECT completed\r\n"));
            }
        }
        Ok(Flow::Continue)
    }

    async fn login(&mut self, tag: &str, user: &str, pass: &str) {
        let user = user.trim().to_lowercase();
        let check = crate::directory::authenticate(&self.sh.store, &user, pass);
        match crate::directory::login(&self.sh.store, self.sh.guard.limits(), self.peer, &user, check).await {
            Ok(Login::Locked) => {
                warn!(target: "hato::imap", user = %user, "login refused: locked out after repeated failures");
                self.send(&format!("{tag} NO [UNAVAILABLE] too many failed logins; try again later\r\n"));
            }
            Ok(Login::Ok(account)) => {
                info!(target: "hato::imap", user = %account, "logged in");
                self.watch = Some(self.sh.store.watch(&account));
                self.user = Some(account);
                let caps = self.capabilities();
                self.send(&format!("{tag} OK [CAPABILITY {caps}] logged in\r\n"));
            }
            Ok(Login::Failed) => {
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

    /// The SEARCHRES result as a sequence set, by UID or by current sequence
    /// number; a number that matches nothing when it is empty.
    fn saved_set(&self, uid_form: bool) -> String {
        let numbers: Vec<i64> = match (uid_form, self.selected.as_ref()) {
            (true, _) => self.saved.clone(),
            (false, Some(v)) => self.saved.iter().filter_map(|u| v.position(*u)).map(|i| i as i64 + 1).collect(),
            (false, None) => Vec::new(),
        };
        if numbers.is_empty() { u32::MAX.to_string() } else { super::view::uid_set(&numbers) }
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
}
