//! NOTIFY (RFC 5465) in the session: `NOTIFY SET`/`NONE`, and telling the
//! client between commands what changed. The grammar and the wording are
//! `imap::notify`; this file reads the store and sends.
//!
//! While NOTIFY is set, the wait for the next command also waits on the
//! account's change notifier (and looks every `IDLE_POLL` for changes made
//! through other cluster nodes), as IDLE does: the client hears of new mail
//! without asking.

use std::time::{Duration, Instant};

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName};
use tracing::warn;

use super::Session;
use crate::connection::ConnError;
use crate::imap::fetch;
use crate::imap::notify::{self, Command, EVENTS, Group, Refusal};
use crate::store::MailboxInfo;

/// What a NOTIFY SET asked for, and the mailboxes as last told.
pub(super) struct Notifying {
    groups: Vec<Group>,
    known: Vec<MailboxInfo>,
}

/// The FETCH attributes of MessageNew as imap-codec reads them, or None.
fn fetch_items(atts: &str) -> Option<Vec<MessageDataItemName<'static>>> {
    use imap_codec::imap_types::IntoStatic;
    match CommandCodec::default().decode(format!("x FETCH 1 {atts}\r\n").as_bytes()) {
        Ok((b"", c)) => match c.body {
            CommandBody::Fetch { macro_or_item_names, .. } => Some(match macro_or_item_names {
                MacroOrMessageDataItemNames::Macro(m) => m.expand().into_static(),
                MacroOrMessageDataItemNames::MessageDataItemNames(n) => n.into_static(),
            }),
            _ => None,
        },
        _ => None,
    }
}

impl Session {
    /// Answers a NOTIFY command, or says None when `bytes` is none.
    pub(super) async fn notify_command(&mut self, bytes: &[u8]) -> Option<()> {
        let decode = |raw: &[u8]| self.name_from_wire(raw);
        let (tag, parsed) = notify::recognise(bytes, &decode)?;
        let (status, groups) = match parsed {
            Ok(Command::None) => {
                self.notify = None;
                self.send(&format!("{tag} OK NOTIFY NONE completed\r\n"));
                return Some(());
            }
            Ok(Command::Set { status, groups }) => (status, groups),
            Err(Refusal::BadEvent) => {
                self.send(&format!("{tag} NO [BADEVENT ({EVENTS})] an event asked for is not reported\r\n"));
                return Some(());
            }
            Err(Refusal::Bad(why)) => {
                self.send(&format!("{tag} BAD {why}\r\n"));
                return Some(());
            }
        };
        if groups.iter().filter_map(|g| g.events.fetch.as_deref()).any(|f| fetch_items(f).is_none()) {
            self.send(&format!("{tag} BAD MessageNew's FETCH attributes are not ones FETCH takes\r\n"));
            return Some(());
        }
        let known = match self.sh.store.mailboxes(self.account()).await {
            Ok(k) => k,
            Err(e) => {
                warn!(target: "hato::imap", "NOTIFY could not list mailboxes: {e}");
                self.send(&format!("{tag} NO [UNAVAILABLE] cannot read the mailboxes\r\n"));
                return Some(());
            }
        };
        let mut out = String::new();
        if status {
            let selected = self.selected.as_ref().map(|v| v.name.clone());
            for m in known.iter().filter(|m| Some(&m.name) != selected.as_ref()) {
                if let Some(line) =
                    notify::events_for(&groups, m).and_then(|e| notify::initial_status(e, m, &self.wire(&m.name)))
                {
                    out.push_str(&line);
                }
            }
        }
        self.notify = Some(Notifying { groups, known });
        self.send(&format!("{out}{tag} OK NOTIFY completed\r\n"));
        Some(())
    }

    /// Tells what changed since the last time: the selected mailbox as its
    /// group asks, the others by STATUS and LIST.
    pub(super) async fn notify_tick(&mut self) {
        let Some(n) = self.notify.as_ref() else { return };
        if let Some((events, hold)) = notify::selected_events(&n.groups)
            && events.messages
        {
            let fetch = events.fetch.clone();
            let arrived = self.refresh_holding(hold).await;
            if let Some(items) = fetch.as_deref().and_then(fetch_items)
                && !arrived.is_empty()
            {
                self.fetch_arrivals(&arrived, &items).await;
            }
        }
        let after = match self.sh.store.mailboxes(self.account()).await {
            Ok(a) => a,
            Err(e) => return warn!(target: "hato::imap", "NOTIFY could not list mailboxes: {e}"),
        };
        let selected = self.selected.as_ref().map(|v| v.name.as_str());
        let Some(n) = self.notify.as_ref() else { return };
        let lines = notify::changes(&n.groups, &n.known, &after, selected, &|name| self.wire(name)).concat();
        if let Some(n) = self.notify.as_mut() {
            n.known = after;
        }
        self.send(&lines);
    }

    /// MessageNew's FETCH for messages that just arrived in the selected
    /// mailbox (never setting \Seen: nobody asked to read them).
    async fn fetch_arrivals(&mut self, uids: &[i64], items: &[MessageDataItemName<'_>]) {
        let Some(v) = self.selected.as_ref() else { return };
        let mailbox = v.name.clone();
        let contents = match fetch::needs_content(items) {
            true => match self.sh.store.contents(self.account(), mailbox, uids.to_vec()).await {
                Ok(c) => c,
                Err(e) => return warn!(target: "hato::imap", "NOTIFY could not read new messages: {e}"),
            },
            false => Vec::new(),
        };
        let Some(v) = self.selected.as_ref() else { return };
        let mut out = Vec::new();
        for uid in uids.iter().rev() {
            let Some(i) = v.position(*uid) else { continue };
            let Some(meta) = v.msgs.get(i) else { continue };
            let content = contents.iter().find(|c| c.uid == *uid).map(|c| c.data.as_slice());
            let parsed = content.and_then(|c| mail_parser::MessageParser::default().parse(c));
            let mut line = format!("* {} FETCH (", i + 1).into_bytes();
            if fetch::render(&mut line, items, &meta, v.is_recent(*uid), content, parsed.as_ref(), false).is_ok() {
                line.extend_from_slice(b")\r\n");
                out.extend_from_slice(&line);
            }
        }
        self.conn.queue(&out);
    }

    /// The next bytes from the client, telling NOTIFY's changes while waiting
    /// for them. Ends with the session's inactivity timeout, as a plain read does.
    pub(super) async fn read_notifying(&mut self, poll: Duration) -> Result<Vec<u8>, ConnError> {
        let started = Instant::now();
        let limit = self.timeout();
        let mut watch = self.watch.take();
        let result = loop {
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                break Err(ConnError::Timeout(limit));
            }
            let read = tokio::select! {
                r = self.conn.read_some(left.min(poll)) => Some(r),
                _ = super::changed(&mut watch) => None,
            };
            match read {
                Some(Ok(bytes)) => break Ok(bytes),
                Some(Err(ConnError::Timeout(_))) | None => {
                    self.notify_tick().await;
                    if let Err(e) = self.conn.flush().await {
                        break Err(e);
                    }
                }
                Some(Err(e)) => break Err(e),
            }
        };
        self.watch = watch;
        result
    }
}
