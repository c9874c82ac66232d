//! Commands on mailboxes as a whole: LIST/LSUB (with LIST-EXTENDED and
//! LIST-STATUS), STATUS (with SIZE, DELETED, HIGHESTMODSEQ), QUOTA, and
//! APPEND (with MULTIAPPEND and CATENATE).

use imap_codec::imap_types::mailbox::Mailbox;
use tracing::{info, warn};

use super::{Session, quoted};
use crate::imap::append::{Message, Piece};
use crate::imap::extended::ListCommand;
use crate::imap::view::uid_set;
use crate::imap::{fetch, url};
use crate::store::{Appended, MailboxInfo, StoreError, Upload};

/// IMAP LIST wildcards: `*` matches anything, `%` anything but the delimiter.
/// Matched by dynamic programming over (pattern, name) positions, so a
/// pattern of many wildcards ("*a*a*a…b") costs pattern × name steps, not
/// the exponential backtracking a recursive matcher would do.
pub(super) fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // next[j]: whether p[i + 1..] matches n[j..]; row i is built from it.
    let mut next: Vec<bool> = (0..=n.len()).map(|j| j == n.len()).collect();
    for i in (0..p.len()).rev() {
        let mut row = vec![false; n.len() + 1];
        for j in (0..=n.len()).rev() {
            row[j] = match p[i] {
                '*' => next[j] || (j < n.len() && row[j + 1]),
                '%' => next[j] || (j < n.len() && n[j] != '/' && row[j + 1]),
                c => j < n.len() && n[j].eq_ignore_ascii_case(&c) && next[j + 1],
            };
        }
        next = row;
    }
    next[0]
}

/// Parents a subscribed listing must still name: a pattern matches them but
/// not their subscribed descendant ("%" against "a" for a subscribed "a/b"),
/// and they were not listed themselves.
fn subscribed_parents(subs: &[String], patterns: &[String], shown: &std::collections::HashSet<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in subs.iter().filter(|n| !patterns.iter().any(|p| matches(p, n))) {
        let mut end = 0;
        while let Some(i) = name[end..].find('/') {
            let parent = &name[..end + i];
            end += i + 1;
            if !shown.contains(parent)
                && patterns.iter().any(|p| matches(p, parent))
                && !out.iter().any(|o| o == parent)
            {
                out.push(parent.to_string());
            }
        }
    }
    out
}

/// Levels of hierarchy that are no mailbox of their own ("a" when only
/// "a/b" exists) and that a pattern ending in "%" matches: RFC 3501 and
/// RFC 9051 §6.3.9 have them listed, as not selectable. "*" does not ask for them.
fn implied_levels(list: &[crate::store::MailboxInfo], patterns: &[String]) -> Vec<String> {
    let wanted: Vec<&String> = patterns.iter().filter(|p| p.ends_with('%')).collect();
    let mut out: Vec<String> = Vec::new();
    for m in list {
        for (i, _) in m.name.match_indices('/') {
            let level = &m.name[..i];
            if !level.is_empty()
                && wanted.iter().any(|p| matches(p, level))
                && !list.iter().any(|o| o.name == level)
                && !out.iter().any(|o| o == level)
            {
                out.push(level.to_string());
            }
        }
    }
    out
}

impl Session {
    pub(super) async fn list(&mut self, tag: &str, cmd: ListCommand) {
        let verb = if cmd.lsub { "LSUB" } else { "LIST" };
        // A pattern that is not valid modified UTF-7 ("&" not starting an
        // &…- sequence) is matched as the characters it is, as Dovecot does.
        let decode = |b: &[u8]| self.name_from_wire(b).unwrap_or_else(|_| String::from_utf8_lossy(b).into_owned());
        let reference = decode(&cmd.reference);
        let patterns: Vec<String> = cmd.patterns.iter().map(|p| format!("{reference}{}", decode(p))).collect();
        if cmd.patterns.len() == 1 && cmd.patterns[0].is_empty() {
            self.send(&format!("* {verb} (\\Noselect) \"/\" \"\"\r\n{tag} OK {verb} completed\r\n"));
            return;
        }
        let has = |list: &[String], w: &str| list.iter().any(|x| x == w);
        let only_subscribed = cmd.lsub || has(&cmd.selection, "SUBSCRIBED");
        let only_special = has(&cmd.selection, "SPECIAL-USE");
        let show_subscribed = has(&cmd.selection, "SUBSCRIBED") || has(&cmd.returns, "SUBSCRIBED");
        let store = &self.sh.store;
        let subs = if only_subscribed { store.subscriptions(self.account()).await } else { Ok(Vec::new()) };
        let (list, subs) = match (store.mailboxes(self.account()).await, subs) {
            (Ok(l), Ok(s)) => (l, s),
            (Err(e), _) | (_, Err(e)) => {
                warn!(target: "hato::imap", "list failed: {e}");
                return self.send(&format!("{tag} NO [UNAVAILABLE] cannot list mailboxes\r\n"));
            }
        };
        let mut out = String::new();
        let mut shown = std::collections::HashSet::new();
        for m in &list {
            if !patterns.iter().any(|p| matches(p, &m.name)) || (only_subscribed && !m.subscribed) {
                continue;
            }
            shown.insert(m.name.as_str());
            if only_special && m.special_use.is_none() {
                continue;
            }
            let prefix = format!("{}/", m.name);
            let children = list.iter().any(|o| o.name.starts_with(&prefix));
            let mut attrs = vec![if children { "\\HasChildren" } else { "\\HasNoChildren" }.to_string()];
            if show_subscribed && m.subscribed {
                attrs.push("\\Subscribed".into());
            }
            if let Some(s) = &m.special_use {
                attrs.push(s.clone());
            }
            out.push_str(&format!("* {verb} ({}) \"/\" {}\r\n", attrs.join(" "), self.wire(&m.name)));
            if !cmd.status.is_empty() {
                match self.status_line(&m.name, &cmd.status).await {
                    Ok(line) => out.push_str(&line),
                    Err(e) => warn!(target: "hato::imap", "LIST-STATUS of {} failed: {e}", m.name),
                }
            }
        }
        if only_subscribed && !only_special {
            // Subscribed names whose mailbox is gone (RFC 5258 §3: \NonExistent; LSUB: \Noselect).
            let gone = subs.iter().filter(|n| !list.iter().any(|m| &m.name == *n));
            for name in gone.filter(|n| patterns.iter().any(|p| matches(p, n))) {
                shown.insert(name.as_str());
                let attrs = if cmd.lsub { "\\Noselect" } else { "\\NonExistent \\Subscribed" };
                out.push_str(&format!("* {verb} ({attrs}) \"/\" {}\r\n", self.wire(name)));
            }
        }
        if only_subscribed {
            let recursive = has(&cmd.selection, "RECURSIVEMATCH");
            // RETURN (CHILDREN): such a parent has children by definition.
            let attrs = if has(&cmd.returns, "CHILDREN") { "\\HasChildren" } else { "" };
            for parent in subscribed_parents(&subs, &patterns, &shown) {
                // RFC 3501 §6.3.9 (LSUB with %) and RFC 5258 §3.5 (CHILDINFO).
                match (cmd.lsub, recursive) {
                    (true, _) => out.push_str(&format!("* LSUB (\\Noselect) \"/\" {}\r\n", self.wire(&parent))),
                    (false, true) => out.push_str(&format!(
                        "* LIST ({attrs}) \"/\" {} (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n",
                        self.wire(&parent)
                    )),
                    (false, false) => {}
                }
            }
        } else if !only_special {
            // \NonExistent (RFC 5258) where the client used LIST-EXTENDED or IMAP4rev2, \Noselect for IMAP4rev1.
            let extended = self.rev2 || !cmd.selection.is_empty() || !cmd.returns.is_empty() || patterns.len() > 1;
            let absent = if extended { "\\NonExistent" } else { "\\Noselect" };
            for level in implied_levels(&list, &patterns) {
                out.push_str(&format!("* LIST ({absent} \\HasChildren) \"/\" {}\r\n", self.wire(&level)));
            }
        }
        out.push_str(&format!("{tag} OK {verb} completed\r\n"));
        self.send(&out);
    }

    async fn status_line(&self, name: &str, items: &[String]) -> Result<String, crate::store::StoreError> {
        let st = self.sh.store.mailbox_state(self.account(), name.to_string()).await?;
        let mut parts = Vec::new();
        for i in items {
            let value = match i.as_str() {
                "MESSAGES" => st.messages.len() as i64,
                "RECENT" => st.messages.iter().filter(|m| m.uid >= st.first_recent_uid).count() as i64,
                "UIDNEXT" => st.uidnext,
                "UIDVALIDITY" => st.uidvalidity,
                "UNSEEN" => st.messages.iter().filter(|m| !m.flags.contains("\\Seen")).count() as i64,
                "DELETED" => st.messages.iter().filter(|m| m.flags.contains("\\Deleted")).count() as i64,
                "SIZE" => st.messages.iter().map(|m| m.size).sum(),
                "HIGHESTMODSEQ" => st.highestmodseq,
                _ => continue,
            };
            parts.push(format!("{i} {value}"));
        }
        Ok(format!("* STATUS {} ({})\r\n", self.wire(name), parts.join(" ")))
    }

    pub(super) async fn status(&mut self, tag: &str, name: String, items: &[String]) {
        if items.iter().any(|i| i == "HIGHESTMODSEQ") {
            self.enable_condstore();
        }
        match self.status_line(&name, items).await {
            Ok(line) => self.send(&format!("{line}{tag} OK STATUS completed\r\n")),
            Err(crate::store::StoreError::NotFound(_)) => {
                self.send(&format!("{tag} NO [NONEXISTENT] no mailbox {}\r\n", self.wire(&name)))
            }
            Err(e) => {
                warn!(target: "hato::imap", "status failed: {e}");
                self.send(&format!("{tag} NO [UNAVAILABLE] cannot read the mailbox\r\n"));
            }
        }
    }

    /// APPEND of one message or several (RFC 3502): stored together or not
    /// at all, and answered with APPENDUID for each (RFC 4315).
    pub(super) async fn append(&mut self, tag: &str, mailbox: Mailbox<'_>, messages: Vec<Message>) {
        let mailbox = match self.mailbox_name(&mailbox) {
            Ok(n) => n,
            Err(why) => return self.send(&format!("{tag} NO [CANNOT] {why}\r\n")),
        };
        let now = crate::clock::now();
        let mut uploads = Vec::with_capacity(messages.len());
        for m in messages {
            match self.assemble(&mailbox, m.pieces).await {
                Ok(body) => uploads.push(Upload { flags: m.flags.join(" "), date: m.date.unwrap_or(now), body }),
                Err(refusal) => return self.send(&format!("{tag} {refusal}\r\n")),
            }
        }
        match self.sh.store.append(self.account(), mailbox.clone(), uploads).await {
            Ok(Appended { uidvalidity, uids }) => {
                info!(target: "hato::imap", mailbox = %mailbox, uids = ?uids, "appended");
                self.refresh().await;
                self.send(&format!("{tag} OK [APPENDUID {uidvalidity} {}] APPEND completed\r\n", uid_set(&uids)));
            }
            Err(StoreError::NotFound(_)) => {
                self.send(&format!("{tag} NO [TRYCREATE] no mailbox {}\r\n", self.wire(&mailbox)));
            }
            Err(e) => self.done(tag, "APPEND", Err(e)),
        }
    }

    /// A message's text from its pieces, each URL read from the account's
    /// own mailboxes (CATENATE, RFC 4469); Err is the refusal to send.
    async fn assemble(&mut self, target: &str, pieces: Vec<Piece>) -> Result<Vec<u8>, String> {
        let max = self.sh.cfg.smtp.max_message_size;
        let mut body = Vec::new();
        let mut boxes: Option<Vec<MailboxInfo>> = None;
        for piece in pieces {
            match piece {
                Piece::Text(t) if body.is_empty() => body = t,
                Piece::Text(t) => body.extend_from_slice(&t),
                Piece::Url(u) => {
                    if boxes.is_none() {
                        let list = self.sh.store.mailboxes(self.account()).await;
                        boxes = Some(list.map_err(|_| "NO [UNAVAILABLE] cannot read the mailboxes".to_string())?);
                    }
                    let boxes = boxes.as_deref().unwrap_or_default();
                    // RFC 4469 §5: a missing target is TRYCREATE, whatever the URLs say.
                    if !boxes.iter().any(|b| b.name == target) {
                        return Err(format!("NO [TRYCREATE] no mailbox {}", self.wire(target)));
                    }
                    body.extend(self.url_piece(boxes, &u).await?);
                }
            }
            if body.len() > max {
                return Err(format!("NO [TOOBIG] the message would exceed {max} bytes"));
            }
        }
        Ok(body)
    }

    /// The bytes one IMAP URL names, or a BADURL refusal saying why not.
    async fn url_piece(&mut self, boxes: &[MailboxInfo], u: &str) -> Result<Vec<u8>, String> {
        let bad = |why: &str| format!("NO [BADURL {}] {why}", quoted(u));
        let url = url::parse(u).map_err(bad)?;
        let mailbox = boxes.iter().find(|b| b.name == url.mailbox).ok_or_else(|| bad("no such mailbox"))?;
        if url.uidvalidity.is_some_and(|v| v != mailbox.uidvalidity) {
            return Err(bad("the mailbox's UIDVALIDITY is not the URL's"));
        }
        let content = match self.sh.store.content(self.account(), url.mailbox.clone(), url.uid).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(bad("no such message")),
            Err(_) => return Err("NO [UNAVAILABLE] cannot read the message a URL names".into()),
        };
        fetch::url_piece(&content, url.section.as_deref(), url.partial).map_err(|e| bad(e.0))
    }

    /// QUOTA (RFC 9208): one root, "", holding every mailbox of the account;
    /// STORAGE in KiB from the account's quota. `mailbox` for GETQUOTAROOT.
    pub(super) async fn quota(&mut self, tag: &str, mailbox: Option<String>) {
        let account = match self.sh.store.account(self.account()).await {
            Ok(Some(a)) => a,
            Ok(None) | Err(_) => return self.send(&format!("{tag} NO [UNAVAILABLE] cannot read the quota\r\n")),
        };
        let mut out = String::new();
        if let Some(m) = &mailbox {
            if self.sh.store.mailbox_state(self.account(), m.clone()).await.is_err() {
                return self.send(&format!("{tag} NO [NONEXISTENT] no mailbox {}\r\n", self.wire(m)));
            }
            out.push_str(&format!("* QUOTAROOT {} \"\"\r\n", self.wire(m)));
        }
        let resources = if account.quota_bytes > 0 {
            format!("STORAGE {} {}", account.used_bytes.max(0) / 1024, account.quota_bytes / 1024)
        } else {
            String::new()
        };
        out.push_str(&format!("* QUOTA {} ({resources})\r\n", quoted("")));
        out.push_str(&format!(
            "{tag} OK {} completed\r\n",
            if mailbox.is_some() { "GETQUOTAROOT" } else { "GETQUOTA" }
        ));
        self.send(&out);
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
        assert!(matches("*/%", "a/b/c"));
        assert!(!matches("%/%", "a/b/c"));
        assert!(matches("", "") && !matches("", "x"));
    }

    /// A pattern built to make a backtracking matcher take forever (30
    /// wildcards against a 60-letter name with no match) answers at once.
    #[test]
    fn many_wildcards_are_cheap() {
        let pattern = "*a".repeat(30) + "b";
        assert!(!matches(&pattern, &"a".repeat(60)));
        assert!(matches(&pattern, &("a".repeat(60) + "b")));
    }
}
