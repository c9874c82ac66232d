//! Commands on the selected mailbox: SELECT/EXAMINE (with CONDSTORE and
//! QRESYNC), the refresh that reports other sessions' changes, FETCH, STORE,
//! EXPUNGE, COPY/MOVE and IDLE.

use std::time::Duration;

use imap_codec::imap_types::command::SelectParameter;
use imap_codec::imap_types::fetch::MessageDataItemName;
use imap_codec::imap_types::sequence::SequenceSet;
use tracing::warn;

use super::{Flow, IDLE_TIMEOUT, Session};
use crate::connection::ConnError;
use crate::imap::fetch;
use crate::imap::search::in_set;
use crate::imap::view::{View, uid_set};
use crate::store::{FlagOp, MessageMeta, StoreError};

/// How often IDLE looks at the store without being woken: a last resort
/// (other cluster nodes' changes wake it through `Store::follow_changes`).
pub(super) const IDLE_POLL: Duration = Duration::from_secs(30);
/// Messages read from the store per round trip in FETCH.
const FETCH_BATCH: usize = 128;
/// Header blocks are small: larger batches mean fewer store round trips.
const HEADER_BATCH: usize = 256;

impl Session {
    /// The view of a mailbox and the first UID no session has claimed as
    /// \Recent: brought up to date from the view kept of it (`imap::kept`)
    /// when there is one, else read whole; kept in turn for the next SELECT.
    async fn open_view(&self, name: &str, read_only: bool) -> Result<(View, i64), StoreError> {
        let account = self.account();
        if let Some((uidvalidity, modseq, kept)) = self.sh.views.get(&account, name) {
            let ch = self.sh.store.changes(account.clone(), name.to_string(), modseq).await?;
            if ch.uidvalidity == uidvalidity {
                let unclaimed = ch.first_recent_uid;
                let v = View::resumed(name.to_string(), read_only, &kept, ch);
                if v.highestmodseq != modseq {
                    self.sh.views.keep(&account, name, v.uidvalidity, v.highestmodseq, v.msgs.clone());
                }
                return Ok((v, unclaimed));
            }
        }
        let state = self.sh.store.mailbox_state(account.clone(), name.to_string()).await?;
        let unclaimed = state.first_recent_uid;
        let v = View::new(name.to_string(), read_only, state);
        self.sh.views.keep(&account, name, v.uidvalidity, v.highestmodseq, v.msgs.clone());
        Ok((v, unclaimed))
    }

    pub(super) async fn select(&mut self, tag: &str, name: String, read_only: bool, params: &[SelectParameter]) {
        self.saved.clear();
        if self.selected.take().is_some() && (self.qresync || self.rev2) {
            self.send("* OK [CLOSED] previous mailbox closed\r\n");
        }
        let mut resync = None;
        for p in params {
            match p {
                SelectParameter::CondStore => self.condstore = true,
                SelectParameter::QResync { .. } if !self.qresync => {
                    self.send(&format!("{tag} BAD QRESYNC needs ENABLE QRESYNC first\r\n"));
                    return;
                }
                SelectParameter::QResync { uid_validity, mod_sequence_value, known_uids, .. } => {
                    resync = Some((i64::from(uid_validity.get()), mod_sequence_value.get() as i64, known_uids.clone()));
                }
            }
        }
        let (mut v, unclaimed) = match self.open_view(&name, read_only).await {
            Ok(opened) => opened,
            Err(crate::store::StoreError::NotFound(_)) => {
                self.send(&format!("{tag} NO [NONEXISTENT] no mailbox {}\r\n", self.wire(&name)));
                return;
            }
            Err(e) => {
                warn!(target: "hato::imap", "select failed: {e}");
                self.send(&format!("{tag} NO [UNAVAILABLE] cannot open the mailbox\r\n"));
                return;
            }
        };
        let state_uidnext = v.uidnext;
        // IMAP4rev2 has no \Recent; such a session leaves the messages recent for others.
        if !self.rev2 {
            // RFC 3501 §2.3.2: a read-only session sees them recent and leaves them so.
            let first = match read_only {
                true => Some(unclaimed),
                // Nothing arrived since the last claim: skip a write (and its fsync) per SELECT.
                // A message arriving meanwhile is claimed at this session's next refresh.
                false if unclaimed >= state_uidnext => None,
                false => match self.sh.store.claim_recent(self.account(), v.name.clone()).await {
                    Ok(first) => Some(first),
                    Err(e) => {
                        warn!(target: "hato::imap", "could not claim \\Recent messages: {e}");
                        None
                    }
                },
            };
            if let Some(first) = first {
                v.claim_recent_from(first);
            }
        }
        let recent = v.recent_count();
        v.msgs.learn_keywords();
        let mut out = v.flags_responses();
        out.push_str(&format!("* {} EXISTS\r\n", v.msgs.len()));
        if !self.rev2 {
            out.push_str(&format!("* {recent} RECENT\r\n"));
        }
        if let Some(i) = (0..v.msgs.len()).find(|i| !v.msgs.flags(*i).contains("\\Seen")) {
            out.push_str(&format!("* OK [UNSEEN {}] first unseen\r\n", i + 1));
        }
        out.push_str(&format!(
            "* OK [UIDVALIDITY {}] UIDs valid\r\n* OK [UIDNEXT {}] predicted next UID\r\n",
            v.uidvalidity, v.uidnext
        ));
        out.push_str(&format!("* OK [HIGHESTMODSEQ {}] modseq\r\n", v.highestmodseq));
        // RFC 7162 §3.2.5: what the client's cache is missing, without a full re-read.
        if let Some((validity, since, known)) = resync.filter(|r| r.0 == v.uidvalidity) {
            match self.sh.store.changes(self.account(), v.name.clone(), since).await {
                Ok(ch) => {
                    let max = v.msgs.last_uid().max(ch.vanished.last().copied().unwrap_or(0)) as u64;
                    let gone: Vec<i64> = ch
                        .vanished
                        .iter()
                        .copied()
                        .filter(|u| known.as_ref().is_none_or(|k| in_set(k, *u as u64, max)))
                        .collect();
                    if !gone.is_empty() {
                        out.push_str(&format!("* VANISHED (EARLIER) {}\r\n", uid_set(&gone)));
                    }
                    for m in &ch.changed {
                        if let Some(i) = v.position(m.uid) {
                            out.push_str(&format!(
                                "* {} FETCH (UID {} FLAGS ({}) MODSEQ ({}))\r\n",
                                i + 1,
                                m.uid,
                                m.flags,
                                m.modseq
                            ));
                        }
                    }
                }
                Err(e) => warn!(target: "hato::imap", "QRESYNC of uidvalidity {validity} failed: {e}"),
            }
        }
        let mode = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        out.push_str(&format!("{tag} OK [{mode}] {} completed\r\n", if read_only { "EXAMINE" } else { "SELECT" }));
        self.send(&out);
        self.selected = Some(v);
    }

    /// Reports other sessions' changes to the selected mailbox. Messages that
    /// arrived are claimed as \Recent for this session (IMAP4rev1, read-write)
    /// and the new RECENT count follows their EXISTS.
    pub(super) async fn refresh(&mut self) {
        self.refresh_holding(false).await;
    }

    /// As `refresh`; with `hold`, expunges wait for a later refresh (NOTIFY's
    /// selected-delayed between commands, when EXPUNGE may not be sent).
    /// The UIDs of messages that arrived, for NOTIFY's MessageNew FETCH.
    pub(super) async fn refresh_holding(&mut self, hold: bool) -> Vec<i64> {
        let Some(v) = &self.selected else { return Vec::new() };
        let (name, since, before) = (v.name.clone(), v.highestmodseq, v.msgs.last_uid());
        let Ok(ch) = self.sh.store.changes(self.account(), name.clone(), since).await else { return Vec::new() };
        let (condstore, qresync) = (self.condstore, self.qresync);
        let Some(v) = self.selected.as_mut() else { return Vec::new() };
        let told = v.sync(ch, condstore, qresync, hold);
        let arrivals: Vec<i64> = (0..v.msgs.len()).rev().map(|i| v.msgs.uid(i)).take_while(|u| *u > before).collect();
        for l in &told {
            self.conn.queue(l.as_bytes());
        }
        let (arrived, read_only) = (v.msgs.last_uid() > before, v.read_only);
        if arrived && !read_only && !self.rev2 {
            match self.sh.store.claim_recent(self.account(), name).await {
                Ok(first) => {
                    if let Some(v) = self.selected.as_mut() {
                        v.claim_recent_from(first.max(before + 1));
                        let recent = v.recent_count();
                        self.send(&format!("* {recent} RECENT\r\n"));
                    }
                }
                Err(e) => warn!(target: "hato::imap", "could not claim \\Recent messages: {e}"),
            }
        }
        if !told.is_empty() {
            self.update_contexts().await;
        }
        arrivals
    }

    pub(super) async fn fetch(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        items: &[MessageDataItemName<'_>],
        uid: bool,
        changed_since: Option<i64>,
        vanished: bool,
    ) {
        let Some(v) = self.selected.as_ref() else { return };
        let mut idx = v.resolve(set, uid);
        if let Some(cs) = changed_since {
            idx.retain(|i| v.msgs.modseq(*i) > cs);
        }
        let (mailbox, read_only) = (v.name.clone(), v.read_only);
        let account = self.account();
        if let (true, Some(cs)) = (vanished, changed_since)
            && let Ok(ch) = self.sh.store.changes(account.clone(), mailbox.clone(), cs).await
        {
            let max = ch.uidnext.max(1) as u64 - 1;
            let gone: Vec<i64> = ch.vanished.into_iter().filter(|u| in_set(set, *u as u64, max)).collect();
            if !gone.is_empty() {
                self.send(&format!("* VANISHED (EARLIER) {}\r\n", uid_set(&gone)));
            }
        }
        // RFC 3501 §6.4.5: flags the fetch changes (the implicit \Seen) go out
        // in its responses even when FLAGS was not asked for.
        let mut newly_seen = std::collections::HashSet::new();
        if fetch::sets_seen(items) && !read_only {
            let uids: Vec<i64> = match self.selected.as_ref() {
                Some(v) => {
                    idx.iter().filter(|i| !v.msgs.flags(**i).contains("\\Seen")).map(|i| v.msgs.uid(*i)).collect()
                }
                None => Vec::new(),
            };
            if !uids.is_empty() {
                let r = self
                    .sh
                    .store
                    .set_flags(account.clone(), mailbox.clone(), uids, FlagOp::Add, vec!["\\Seen".into()], None)
                    .await;
                if let (Ok(changed), Some(v)) = (r, self.selected.as_mut()) {
                    for c in changed.updated {
                        if let Some(i) = v.position(c.uid) {
                            v.msgs.set_flags(i, &c.flags, c.modseq);
                            newly_seen.insert(c.uid);
                        }
                    }
                }
            }
        }
        // The items plus FLAGS, for the messages this fetch marked \Seen.
        let with_flags: Vec<MessageDataItemName> =
            match newly_seen.is_empty() || items.contains(&MessageDataItemName::Flags) {
                true => Vec::new(),
                false => items.iter().cloned().chain([MessageDataItemName::Flags]).collect(),
            };
        let (need, parse) = (fetch::needs_content(items), fetch::needs_parse(items));
        let header_only = fetch::header_only(items);
        // Contents come from the store a batch at a time: one read per batch,
        // not per message, and the next batch is read while this one is
        // rendered and sent. The view does not change during the command, so
        // the UIDs of every batch are known up front.
        let batches: Vec<&[usize]> = idx.chunks(if header_only { HEADER_BATCH } else { FETCH_BATCH }).collect();
        let read = |n: usize| {
            let uids: Vec<i64> = match (self.selected.as_ref(), batches.get(n)) {
                (Some(v), Some(b)) if need => b.iter().filter_map(|i| v.msgs.get(*i)).map(|m| m.uid).collect(),
                _ => Vec::new(),
            };
            let (sh, account, mailbox) = (self.sh.clone(), account.clone(), mailbox.clone());
            tokio::spawn(async move {
                match uids.is_empty() {
                    true => Ok(Vec::new()),
                    false if header_only => sh.store.headers(account, mailbox, uids).await,
                    false => sh.store.contents(account, mailbox, uids).await,
                }
            })
        };
        let mut ahead = read(0);
        for (n, batch) in batches.iter().enumerate() {
            let read_now = std::mem::replace(&mut ahead, read(n + 1));
            let Some(v) = self.selected.as_ref() else { return };
            let metas: Vec<(usize, MessageMeta, bool)> = batch
                .iter()
                .filter_map(|i| v.msgs.get(*i).map(|m| (*i, v.is_recent(m.uid), m)))
                .map(|(i, r, m)| (i, m, r))
                .collect();
            let mut contents = match read_now.await {
                Ok(Ok(c)) => c.into_iter(),
                Ok(Err(e)) => {
                    warn!(target: "hato::imap", "fetch failed: {e}");
                    self.send(&format!("{tag} NO [UNAVAILABLE] cannot read the message\r\n"));
                    return;
                }
                Err(e) => {
                    warn!(target: "hato::imap", "fetch failed: the store read ended abnormally: {e}");
                    self.send(&format!("{tag} NO [UNAVAILABLE] cannot read the message\r\n"));
                    return;
                }
            };
            let mut pending = contents.next();
            for (i, meta, recent) in metas {
                let content = match &pending {
                    Some(p) if p.uid == meta.uid => pending.take().map(|p| p.data),
                    // Expunged by another session meanwhile: nothing to show for it.
                    _ if need => continue,
                    _ => None,
                };
                if content.is_some() {
                    pending = contents.next();
                }
                let mut out = format!("* {} FETCH (", i + 1).into_bytes();
                let parsed = if parse {
                    content.as_deref().and_then(|c| mail_parser::MessageParser::default().parse(c))
                } else {
                    None
                };
                let shown = match !with_flags.is_empty() && newly_seen.contains(&meta.uid) {
                    true => &with_flags[..],
                    false => items,
                };
                if let Err(fetch::Unsupported(why)) =
                    fetch::render(&mut out, shown, &meta, recent, content.as_deref(), parsed.as_ref(), uid)
                {
                    self.send(&format!("{tag} NO [CANNOT] {why}\r\n"));
                    return;
                }
                out.extend_from_slice(b")\r\n");
                self.conn.queue(&out);
            }
            // Large results go out as they are made instead of piling up in memory.
            if let Err(e) = self.conn.flush().await {
                warn!(target: "hato::imap", "fetch aborted: {e}");
                return;
            }
        }
        self.send(&format!("{tag} OK {}FETCH completed\r\n", if uid { "UID " } else { "" }));
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn store(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        op: FlagOp,
        flags: Vec<String>,
        silent: bool,
        uid: bool,
        unchanged_since: Option<i64>,
    ) {
        let Some(v) = self.selected.as_ref() else { return };
        if v.read_only {
            self.send(&format!("{tag} NO [READ-ONLY] the mailbox was opened with EXAMINE\r\n"));
            return;
        }
        let idx = v.resolve(set, uid);
        let uids: Vec<i64> = idx.iter().map(|i| v.msgs.uid(*i)).collect();
        let mailbox = v.name.clone();
        match self.sh.store.set_flags(self.account(), mailbox, uids, op, flags, unchanged_since).await {
            Ok(crate::store::FlagsChanged { updated, modified }) => {
                let mut out = String::new();
                let condstore = self.condstore;
                if let Some(v) = self.selected.as_mut() {
                    let mut fetches = String::new();
                    for c in updated {
                        let Some(i) = v.position(c.uid) else { continue };
                        let moved = v.msgs.modseq(i) != c.modseq;
                        v.msgs.set_flags(i, &c.flags, c.modseq);
                        let uid_part = if uid { format!("UID {} ", c.uid) } else { String::new() };
                        let modseq = if condstore { format!(" MODSEQ ({})", c.modseq) } else { String::new() };
                        if !silent {
                            fetches.push_str(&format!("* {} FETCH ({uid_part}FLAGS ({}){modseq})\r\n", i + 1, c.flags));
                        } else if unchanged_since.is_some() && moved {
                            // RFC 7162 §3.1.3: even a silent conditional STORE reports the new modseq.
                            fetches.push_str(&format!("* {} FETCH ({uid_part}MODSEQ ({}))\r\n", i + 1, c.modseq));
                        }
                    }
                    // A new keyword is announced before the FETCH that shows it.
                    out.extend(v.announce_keywords());
                    out.push_str(&fetches);
                }
                self.send(&out);
                self.update_contexts().await;
                let mut out = String::new();
                if modified.is_empty() {
                    out.push_str(&format!("{tag} OK STORE completed\r\n"));
                } else {
                    let list: Vec<i64> = match self.selected.as_ref() {
                        Some(v) if !uid => {
                            modified.iter().filter_map(|u| v.position(*u)).map(|i| i as i64 + 1).collect()
                        }
                        _ => modified,
                    };
                    out.push_str(&format!(
                        "{tag} OK [MODIFIED {}] conditional STORE failed for some messages\r\n",
                        uid_set(&list)
                    ));
                }
                self.send(&out);
            }
            Err(e) => {
                warn!(target: "hato::imap", "store failed: {e}");
                self.send(&format!("{tag} NO [UNAVAILABLE] cannot change flags\r\n"));
            }
        }
    }

    /// Removes \Deleted messages (only those of `within`, for UID EXPUNGE) and
    /// tells the client. Sequence numbers go highest first so each is valid when read.
    pub(super) async fn remove_deleted(&mut self, within: Option<&SequenceSet>, report: bool) {
        let Some(v) = self.selected.as_ref() else { return };
        let allowed: Option<Vec<usize>> = within.map(|set| v.resolve(set, true));
        let doomed: Vec<i64> = (0..v.msgs.len())
            .filter(|i| {
                v.msgs.flags(*i).contains("\\Deleted") && allowed.as_ref().is_none_or(|a| a.binary_search(i).is_ok())
            })
            .map(|i| v.msgs.uid(i))
            .collect();
        if doomed.is_empty() {
            return;
        }
        if let Err(e) = self.sh.store.expunge(self.account(), v.name.clone(), doomed.clone()).await {
            warn!(target: "hato::imap", "expunge failed: {e}");
            return;
        }
        self.forget(&doomed, report);
    }

    /// Drops removed messages from the view, reporting EXPUNGE or VANISHED.
    fn forget(&mut self, uids: &[i64], report: bool) {
        let qresync = self.qresync;
        let Some(v) = self.selected.as_mut() else { return };
        let mut seqs: Vec<usize> = uids.iter().filter_map(|u| v.position(*u)).collect();
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        // REMOVEFROM before EXPUNGE: its numbers are those before it.
        let mut out: String = v.forget_in_contexts(uids).concat();
        if qresync && !seqs.is_empty() {
            out.push_str(&format!("* VANISHED {}\r\n", uid_set(uids)));
        }
        for i in seqs {
            if !qresync {
                out.push_str(&format!("* {} EXPUNGE\r\n", i + 1));
            }
            v.msgs.remove(i);
        }
        if report {
            self.send(&out);
        }
    }

    pub(super) async fn expunge(&mut self, within: Option<&SequenceSet>) {
        if self.selected.as_ref().is_some_and(|v| v.read_only) {
            return;
        }
        self.remove_deleted(within, true).await;
        self.refresh().await;
    }

    /// COPY and MOVE (RFC 6851), with COPYUID (RFC 4315).
    pub(super) async fn copy(&mut self, tag: &str, set: &SequenceSet, to: String, uid: bool, moving: bool) {
        let Some(v) = self.selected.as_ref() else { return };
        if moving && v.read_only {
            self.send(&format!("{tag} NO [READ-ONLY] the mailbox was opened with EXAMINE\r\n"));
            return;
        }
        let idx = v.resolve(set, uid);
        let uids: Vec<i64> = idx.iter().map(|i| v.msgs.uid(*i)).collect();
        let from = v.name.clone();
        let what = if moving { "MOVE" } else { "COPY" };
        let (from_name, to_name) = (from.clone(), to.clone());
        let (validity, pairs) = match self.sh.store.copy(self.account(), from.clone(), to.clone(), uids, !moving).await
        {
            Ok(copied) => (copied.uidvalidity, copied.uids),
            Err(crate::store::StoreError::NotFound(_)) => {
                self.send(&format!("{tag} NO [TRYCREATE] no mailbox {}\r\n", self.wire(&to)));
                return;
            }
            Err(e) => return self.done(tag, what, Err(e)),
        };
        if !pairs.is_empty() {
            let (sh, account, dst) = (self.sh.clone(), self.account(), pairs.iter().map(|p| p.1).collect());
            tokio::spawn(
                async move { crate::spam::learn_moved(sh.store.clone(), account, from_name, to_name, dst).await },
            );
        }
        let code = if pairs.is_empty() {
            String::new()
        } else {
            let src: Vec<i64> = pairs.iter().map(|p| p.0).collect();
            let dst: Vec<i64> = pairs.iter().map(|p| p.1).collect();
            format!("[COPYUID {validity} {} {}] ", uid_set(&src), uid_set(&dst))
        };
        if moving {
            self.send(&format!("* OK {code}moved\r\n"));
            let moved: Vec<i64> = pairs.iter().map(|p| p.0).collect();
            if let Err(e) = self.sh.store.expunge(self.account(), from, moved.clone()).await {
                warn!(target: "hato::imap", "MOVE could not remove the originals: {e}");
            }
            self.forget(&moved, true);
            // Into the selected mailbox itself: the copies are new messages
            // there, told with EXISTS before the command completes.
            self.refresh().await;
            self.send(&format!("{tag} OK MOVE completed\r\n"));
        } else {
            self.refresh().await;
            self.send(&format!("{tag} OK {code}COPY completed\r\n"));
        }
    }

    /// IDLE (RFC 2177): report changes as they happen until the client says DONE.
    /// The store's per-account notifier wakes the session; no polling per message.
    pub(super) async fn idle(&mut self, tag: &str) -> Result<Flow, ConnError> {
        self.send("+ idling\r\n");
        self.conn.flush().await?;
        let started = std::time::Instant::now();
        let mut watch = self.watch.take();
        let result = loop {
            let left = IDLE_TIMEOUT.saturating_sub(started.elapsed());
            if left.is_zero() {
                break Err(ConnError::Timeout(IDLE_TIMEOUT));
            }
            let line = tokio::select! {
                r = self.conn.read_line(1024, left.min(IDLE_POLL)) => Some(r),
                _ = super::changed(&mut watch) => None,
            };
            match line {
                Some(Ok(line)) if line.trim_ascii().eq_ignore_ascii_case(b"DONE") => {
                    self.send(&format!("{tag} OK IDLE terminated\r\n"));
                    break Ok(Flow::Continue);
                }
                Some(Ok(_)) => {
                    self.send(&format!("{tag} BAD expected DONE\r\n"));
                    break Ok(Flow::Continue);
                }
                Some(Err(ConnError::Timeout(_))) | None => {
                    self.refresh().await;
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
