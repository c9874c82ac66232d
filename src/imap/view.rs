//! A selected mailbox as one session sees it: sequence number → message.
//! Sequence numbers only change when this session is told (EXPUNGE/EXISTS),
//! so the view is refreshed from the store only at points where RFC 3501
//! allows untagged updates. Refreshes are incremental, by modseq.

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

use super::context::SearchContext;
use crate::store::{Changes, MailboxState, MessageMeta};

/// One message in a view, packed: with 5,000 sessions on 10,000-message
/// mailboxes this is most of the server's memory, so 24 bytes, flags interned.
#[derive(Clone, Copy, Debug)]
struct Slot {
    modseq: u64,
    uid: u32,
    size: u32,
    /// Internal date, seconds since 1970 (u32 lasts until 2106).
    date: u32,
    /// Index into `Msgs::flagsets`.
    flags: u32,
}

/// The messages of a view in UID (= sequence) order.
#[derive(Clone, Debug, Default)]
pub struct Msgs {
    slots: Vec<Slot>,
    flagsets: Vec<String>,
    /// Keywords (flags without a backslash) of `flagsets[..keywords_seen]`:
    /// what the client has been told in FLAGS and PERMANENTFLAGS.
    keywords: std::collections::BTreeSet<String>,
    keywords_seen: usize,
}

impl Msgs {
    fn intern(&mut self, flags: &str) -> u32 {
        // Neighbours mostly share their flags (a SELECT interns every message in UID order).
        if let Some(s) = self.slots.last().filter(|s| self.flagsets[s.flags as usize] == flags) {
            return s.flags;
        }
        match self.flagsets.iter().position(|f| f == flags) {
            Some(i) => i as u32,
            None => {
                self.flagsets.push(flags.to_string());
                (self.flagsets.len() - 1) as u32
            }
        }
    }

    fn slot(&mut self, m: &MessageMeta) -> Slot {
        Slot {
            modseq: m.modseq.max(0) as u64,
            uid: u32::try_from(m.uid).unwrap_or(u32::MAX),
            size: u32::try_from(m.size).unwrap_or(u32::MAX),
            date: u32::try_from(m.internal_date.max(0)).unwrap_or(u32::MAX),
            flags: self.intern(&m.flags),
        }
    }

    pub fn from_metas(metas: Vec<MessageMeta>) -> Msgs {
        let mut m = Msgs::default();
        m.slots.reserve_exact(metas.len());
        for x in &metas {
            let s = m.slot(x);
            m.slots.push(s);
        }
        m
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The same messages with only the flag sets in use and no keyword
    /// learnt yet: what `from_metas` makes of the same rows.
    pub fn compacted(&self) -> Msgs {
        let mut renumbered = vec![None; self.flagsets.len()];
        let mut m = Msgs { slots: Vec::with_capacity(self.slots.len()), ..Msgs::default() };
        for s in &self.slots {
            let to = *renumbered[s.flags as usize].get_or_insert_with(|| {
                m.flagsets.push(self.flagsets[s.flags as usize].clone());
                (m.flagsets.len() - 1) as u32
            });
            m.slots.push(Slot { flags: to, ..*s });
        }
        m
    }

    /// Takes in the keywords of flag sets not looked at yet; true if one is
    /// new. Flag sets are interned and only added, so each is read once.
    pub fn learn_keywords(&mut self) -> bool {
        let mut new = false;
        for set in &self.flagsets[self.keywords_seen..] {
            for k in set.split_whitespace().filter(|f| !f.starts_with('\\')) {
                new |= self.keywords.insert(k.to_string());
            }
        }
        self.keywords_seen = self.flagsets.len();
        new
    }

    pub fn uid(&self, i: usize) -> i64 {
        i64::from(self.slots[i].uid)
    }

    pub fn flags(&self, i: usize) -> &str {
        &self.flagsets[self.slots[i].flags as usize]
    }

    pub fn modseq(&self, i: usize) -> i64 {
        self.slots[i].modseq as i64
    }

    pub fn last_uid(&self) -> i64 {
        self.slots.last().map(|s| i64::from(s.uid)).unwrap_or(0)
    }

    /// The full metadata of message `i` (0-based), if there is one.
    pub fn get(&self, i: usize) -> Option<MessageMeta> {
        let s = self.slots.get(i)?;
        Some(MessageMeta {
            uid: i64::from(s.uid),
            size: i64::from(s.size),
            flags: self.flagsets[s.flags as usize].clone(),
            internal_date: i64::from(s.date),
            modseq: s.modseq as i64,
        })
    }

    pub fn set_flags(&mut self, i: usize, flags: &str, modseq: i64) {
        let f = self.intern(flags);
        let s = &mut self.slots[i];
        (s.flags, s.modseq) = (f, modseq.max(0) as u64);
    }

    pub fn push(&mut self, m: &MessageMeta) {
        let s = self.slot(m);
        self.slots.push(s);
    }

    pub fn remove(&mut self, i: usize) {
        self.slots.remove(i);
    }

    fn position(&self, uid: i64) -> Option<usize> {
        let uid = u32::try_from(uid).ok()?;
        self.slots.binary_search_by_key(&uid, |s| s.uid).ok()
    }

    /// Indices of UIDs in lo..=hi.
    fn uid_range(&self, lo: i64, hi: i64) -> std::ops::Range<usize> {
        let start = self.slots.partition_point(|s| i64::from(s.uid) < lo);
        let end = self.slots.partition_point(|s| i64::from(s.uid) <= hi);
        start..end.max(start)
    }
}

pub struct View {
    pub name: String,
    pub read_only: bool,
    pub uidvalidity: i64,
    pub uidnext: i64,
    pub highestmodseq: i64,
    /// The UID ranges (inclusive) \Recent in this session: those it was the
    /// first to see (RFC 3501 §2.3.2), at SELECT and as they arrived since.
    recent: Vec<(i64, i64)>,
    pub msgs: Msgs,
    /// Searches kept up to date for the client (RFC 5267), ended with the view.
    pub contexts: Vec<SearchContext>,
    /// UIDs expunged elsewhere whose EXPUNGE waits for a command that may
    /// tell it (NOTIFY's selected-delayed, RFC 5465).
    held: Vec<i64>,
}

/// Compresses sorted UIDs into an IMAP sequence set: "1:3,7,9:10".
pub fn uid_set(uids: &[i64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let mut j = i;
        while j + 1 < uids.len() && uids[j + 1] == uids[j] + 1 {
            j += 1;
        }
        out.push(if i == j { uids[i].to_string() } else { format!("{}:{}", uids[i], uids[j]) });
        i = j + 1;
    }
    out.join(",")
}

impl View {
    pub fn new(name: String, read_only: bool, st: MailboxState) -> View {
        View {
            name,
            read_only,
            uidvalidity: st.uidvalidity,
            uidnext: st.uidnext,
            highestmodseq: st.highestmodseq,
            recent: Vec::new(),
            msgs: Msgs::from_metas(st.messages),
            contexts: Vec::new(),
            held: Vec::new(),
        }
    }

    /// A view made from one kept at an earlier modseq (`imap::kept`) and
    /// what changed since, as a refresh would bring it up to date: the same
    /// view `new` makes of the mailbox's state now.
    pub fn resumed(name: String, read_only: bool, kept: &Msgs, ch: Changes) -> View {
        let (uidvalidity, uidnext, highestmodseq) = (ch.uidvalidity, ch.uidnext, ch.highestmodseq);
        let first_recent_uid = ch.first_recent_uid;
        let st = MailboxState { uidvalidity, uidnext, highestmodseq, first_recent_uid, messages: Vec::new() };
        let mut v = View::new(name, read_only, st);
        v.msgs = kept.clone();
        v.sync(ch, false, false, false);
        v.msgs = v.msgs.compacted();
        v
    }

    /// Tells each kept search that `gone` are being expunged, numbered as
    /// they are before the view lets them go.
    pub fn forget_in_contexts(&mut self, gone: &[i64]) -> Vec<String> {
        let msgs = &self.msgs;
        let number = |u: i64| msgs.position(u).map(|i| i as i64 + 1);
        self.contexts.iter_mut().filter_map(|c| c.forget(gone, &number)).collect()
    }

    /// The untagged FLAGS and PERMANENTFLAGS responses (RFC 3501 §7.2.6,
    /// §7.1): the system flags and every keyword in use; a client may make
    /// new keywords (`\*`) unless the mailbox is read-only.
    pub fn flags_responses(&self) -> String {
        let keywords: String = self.msgs.keywords.iter().map(|k| format!(" {k}")).collect();
        let mut out = format!("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{keywords})\r\n");
        if self.read_only {
            out.push_str("* OK [PERMANENTFLAGS ()] read-only mailbox\r\n");
        } else {
            out.push_str(&format!(
                "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{keywords} \\*)] flags permitted\r\n"
            ));
        }
        out
    }

    /// FLAGS and PERMANENTFLAGS again if the view holds a keyword the client
    /// has not been told of (after a STORE, or another session's change).
    pub fn announce_keywords(&mut self) -> Option<String> {
        self.msgs.learn_keywords().then(|| self.flags_responses())
    }

    pub fn is_recent(&self, uid: i64) -> bool {
        self.recent.iter().any(|(lo, hi)| (*lo..=*hi).contains(&uid))
    }

    /// Makes the messages in view from UID `first` on recent in this session
    /// (the store says this session claimed them).
    pub fn claim_recent_from(&mut self, first: i64) {
        let last = self.msgs.last_uid();
        if first <= last {
            self.recent.push((first, last));
        }
    }

    /// How many messages in view are \Recent in this session.
    pub fn recent_count(&self) -> usize {
        (0..self.msgs.len()).filter(|i| self.is_recent(self.msgs.uid(*i))).count()
    }

    pub fn position(&self, uid: i64) -> Option<usize> {
        self.msgs.position(uid)
    }

    /// Indices (0-based) of the messages a sequence set names.
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Vec<usize> {
        let max_seq = self.msgs.len() as u64;
        let max_uid = self.msgs.last_uid() as u64;
        let val = |v: &SeqOrUid, max: u64| match v {
            SeqOrUid::Value(n) => u64::from(n.get()),
            SeqOrUid::Asterisk => max,
        };
        let mut out = Vec::new();
        for seq in set.0.as_ref() {
            let (a, b) = match seq {
                Sequence::Single(v) => (v, v),
                Sequence::Range(a, b) => (a, b),
            };
            if uid {
                let (x, y) = (val(a, max_uid), val(b, max_uid));
                let (lo, hi) = (x.min(y) as i64, x.max(y) as i64);
                out.extend(self.msgs.uid_range(lo, hi));
            } else {
                let (x, y) = (val(a, max_seq), val(b, max_seq));
                let (lo, hi) = (x.min(y).max(1), x.max(y).min(max_seq));
                out.extend((lo..=hi).map(|s| (s - 1) as usize));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Applies changes from the store and returns the untagged responses that
    /// tell the client: EXPUNGE (or VANISHED under QRESYNC), FETCH for flag
    /// changes (with MODSEQ under CONDSTORE), EXISTS for new messages.
    /// With `hold`, expunges are kept for a later sync without it.
    pub fn sync(&mut self, ch: Changes, condstore: bool, qresync: bool, hold: bool) -> Vec<String> {
        self.held.extend(&ch.vanished);
        let vanished = if hold { Vec::new() } else { std::mem::take(&mut self.held) };
        let mut out = self.forget_in_contexts(&vanished);
        let mut gone: Vec<usize> = vanished.iter().filter_map(|u| self.position(*u)).collect();
        if !gone.is_empty() {
            if qresync {
                let uids: Vec<i64> = gone.iter().map(|i| self.msgs.uid(*i)).collect();
                out.push(format!("* VANISHED {}\r\n", uid_set(&uids)));
            }
            // Highest first, so each number is valid when the client reads it.
            gone.sort_unstable_by(|a, b| b.cmp(a));
            for i in gone {
                if !qresync {
                    out.push(format!("* {} EXPUNGE\r\n", i + 1));
                }
                self.msgs.remove(i);
            }
        }
        let last = self.msgs.last_uid();
        let before = self.msgs.len();
        for m in ch.changed {
            if m.uid > last {
                self.msgs.push(&m);
            } else if let Some(i) = self.position(m.uid) {
                if self.msgs.flags(i) != m.flags || (condstore && self.msgs.modseq(i) != m.modseq) {
                    let modseq = if condstore { format!(" MODSEQ ({})", m.modseq) } else { String::new() };
                    out.push(format!("* {} FETCH (UID {} FLAGS ({}){modseq})\r\n", i + 1, m.uid, m.flags));
                }
                self.msgs.set_flags(i, &m.flags, m.modseq);
            }
        }
        if self.msgs.len() != before {
            out.push(format!("* {} EXISTS\r\n", self.msgs.len()));
        }
        self.uidnext = ch.uidnext;
        self.highestmodseq = self.highestmodseq.max(ch.highestmodseq);
        if let Some(flags) = self.announce_keywords() {
            out.insert(0, flags);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(uid: i64, flags: &str, modseq: i64) -> MessageMeta {
        MessageMeta { uid, size: 10, flags: flags.into(), internal_date: 0, modseq }
    }

    fn state(uids: &[i64]) -> MailboxState {
        MailboxState {
            uidvalidity: 1,
            uidnext: 100,
            highestmodseq: 5,
            first_recent_uid: 1,
            messages: uids.iter().map(|u| meta(*u, "", 1)).collect(),
        }
    }

    fn changes(changed: Vec<MessageMeta>, vanished: Vec<i64>) -> Changes {
        Changes { uidvalidity: 1, uidnext: 100, highestmodseq: 9, first_recent_uid: 1, changed, vanished }
    }

    #[test]
    fn a_resumed_view_is_the_view_of_the_state_now() {
        let then =
            MailboxState { messages: vec![meta(1, "\\Seen", 1), meta(2, "$Old", 2), meta(3, "", 3)], ..state(&[]) };
        let mut kept = View::new("INBOX".into(), false, then);
        kept.msgs.learn_keywords();
        let ch = changes(vec![meta(1, "\\Seen $New", 6), meta(2, "", 7), meta(8, "\\Draft", 8)], vec![3]);
        let now = MailboxState {
            highestmodseq: 9,
            messages: vec![meta(1, "\\Seen $New", 6), meta(2, "", 7), meta(8, "\\Draft", 8)],
            ..state(&[])
        };
        let mut resumed = View::resumed("INBOX".into(), false, &kept.msgs, ch);
        let mut fresh = View::new("INBOX".into(), false, now);
        resumed.msgs.learn_keywords();
        fresh.msgs.learn_keywords();
        let all = |v: &View| (0..v.msgs.len()).filter_map(|i| v.msgs.get(i)).collect::<Vec<_>>();
        assert_eq!(all(&resumed), all(&fresh));
        assert_eq!(resumed.flags_responses(), fresh.flags_responses(), "$Old is no longer in use: not announced");
        assert_eq!((resumed.uidnext, resumed.highestmodseq), (fresh.uidnext, fresh.highestmodseq));
    }

    #[test]
    fn resolves_sequence_and_uid_sets() {
        let v = View::new("INBOX".into(), false, state(&[3, 5, 9]));
        let set: SequenceSet = "2:*".try_into().unwrap();
        assert_eq!(v.resolve(&set, false), [1, 2]);
        let set: SequenceSet = "4:9".try_into().unwrap();
        assert_eq!(v.resolve(&set, true), [1, 2]);
        let set: SequenceSet = "*".try_into().unwrap();
        assert_eq!(v.resolve(&set, true), [2]);
        let set: SequenceSet = "7:100".try_into().unwrap();
        assert_eq!(v.resolve(&set, false), Vec::<usize>::new());
    }

    #[test]
    fn sync_reports_expunge_flags_and_exists() {
        let mut v = View::new("INBOX".into(), false, state(&[1, 2, 3, 4]));
        let out = v.sync(changes(vec![meta(3, "\\Seen", 7), meta(7, "", 8)], vec![2, 4, 50]), false, false, false);
        assert_eq!(
            out,
            ["* 4 EXPUNGE\r\n", "* 2 EXPUNGE\r\n", "* 2 FETCH (UID 3 FLAGS (\\Seen))\r\n", "* 3 EXISTS\r\n"]
        );
        assert_eq!((0..v.msgs.len()).map(|i| v.msgs.uid(i)).collect::<Vec<_>>(), [1, 3, 7]);
        assert_eq!(v.msgs.get(1).unwrap().flags, "\\Seen");
        assert_eq!(std::mem::size_of::<Slot>(), 24);
        assert!(
            v.sync(changes(vec![meta(3, "\\Seen", 7)], vec![2]), false, false, false).is_empty(),
            "nothing new to tell"
        );
        assert_eq!(v.highestmodseq, 9);
    }

    #[test]
    fn held_expunges_wait_for_a_sync_that_may_tell_them() {
        let mut v = View::new("INBOX".into(), false, state(&[1, 2, 3]));
        let out = v.sync(changes(vec![meta(9, "", 8)], vec![2]), false, false, true);
        assert_eq!(out, ["* 4 EXISTS\r\n"], "the new message is told, the expunge is not");
        assert_eq!(v.msgs.len(), 4);
        let out = v.sync(changes(vec![], vec![]), false, false, false);
        assert_eq!(out, ["* 2 EXPUNGE\r\n"]);
        assert_eq!((0..v.msgs.len()).map(|i| v.msgs.uid(i)).collect::<Vec<_>>(), [1, 3, 9]);
    }

    #[test]
    fn sync_under_qresync_says_vanished_with_modseq() {
        let mut v = View::new("INBOX".into(), false, state(&[1, 2, 3, 4, 5]));
        let out = v.sync(changes(vec![meta(5, "\\Flagged", 9)], vec![1, 2, 4]), true, true, false);
        assert_eq!(out, ["* VANISHED 1:2,4\r\n", "* 2 FETCH (UID 5 FLAGS (\\Flagged) MODSEQ (9))\r\n"]);
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
    }
}
