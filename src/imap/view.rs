//! A selected mailbox as one session sees it: sequence number → message.
//! Sequence numbers only change when this session is told (EXPUNGE/EXISTS),
//! so the view is refreshed from the store only at points where RFC 3501
//! allows untagged updates. Refreshes are incremental, by modseq.

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

use crate::store::{Changes, MailboxState, MessageMeta};

pub struct View {
    pub name: String,
    pub read_only: bool,
    pub uidvalidity: i64,
    pub uidnext: i64,
    pub highestmodseq: i64,
    /// Messages from this UID on are \Recent in this session.
    pub recent_from: i64,
    /// In UID order (so sequence order too).
    pub msgs: Vec<MessageMeta>,
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
            recent_from: i64::MAX,
            msgs: st.messages,
        }
    }

    pub fn is_recent(&self, uid: i64) -> bool {
        uid >= self.recent_from
    }

    pub fn position(&self, uid: i64) -> Option<usize> {
        self.msgs.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// Indices (0-based) of the messages a sequence set names.
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Vec<usize> {
        let max_seq = self.msgs.len() as u64;
        let max_uid = self.msgs.last().map(|m| m.uid as u64).unwrap_or(0);
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
                let start = self.msgs.partition_point(|m| m.uid < lo);
                let end = self.msgs.partition_point(|m| m.uid <= hi);
                out.extend(start..end);
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
    pub fn sync(&mut self, ch: Changes, condstore: bool, qresync: bool) -> Vec<String> {
        let mut out = Vec::new();
        let mut gone: Vec<usize> = ch.vanished.iter().filter_map(|u| self.position(*u)).collect();
        if !gone.is_empty() {
            if qresync {
                let uids: Vec<i64> = gone.iter().map(|i| self.msgs[*i].uid).collect();
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
        let last = self.msgs.last().map(|m| m.uid).unwrap_or(0);
        let before = self.msgs.len();
        for m in ch.changed {
            if m.uid > last {
                self.msgs.push(m);
            } else if let Some(i) = self.position(m.uid) {
                let known = &mut self.msgs[i];
                if known.flags != m.flags || (condstore && known.modseq != m.modseq) {
                    let modseq = if condstore { format!(" MODSEQ ({})", m.modseq) } else { String::new() };
                    out.push(format!("* {} FETCH (UID {} FLAGS ({}){modseq})\r\n", i + 1, m.uid, m.flags));
                }
                *known = m;
            }
        }
        if self.msgs.len() != before {
            out.push(format!("* {} EXISTS\r\n", self.msgs.len()));
        }
        self.uidnext = ch.uidnext;
        self.highestmodseq = self.highestmodseq.max(ch.highestmodseq);
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
        MailboxState { uidvalidity: 1, uidnext: 100, highestmodseq: 5, first_recent_uid: 1, messages: uids.iter().map(|u| meta(*u, "", 1)).collect() }
    }

    fn changes(changed: Vec<MessageMeta>, vanished: Vec<i64>) -> Changes {
        Changes { uidvalidity: 1, uidnext: 100, highestmodseq: 9, changed, vanished }
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
        let out = v.sync(changes(vec![meta(3, "\\Seen", 7), meta(7, "", 8)], vec![2, 4, 50]), false, false);
        assert_eq!(out, ["* 4 EXPUNGE\r\n", "* 2 EXPUNGE\r\n", "* 2 FETCH (UID 3 FLAGS (\\Seen))\r\n", "* 3 EXISTS\r\n"]);
        assert_eq!(v.msgs.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 3, 7]);
        assert!(v.sync(changes(vec![meta(3, "\\Seen", 7)], vec![2]), false, false).is_empty(), "nothing new to tell");
        assert_eq!(v.highestmodseq, 9);
    }

    #[test]
    fn sync_under_qresync_says_vanished_with_modseq() {
        let mut v = View::new("INBOX".into(), false, state(&[1, 2, 3, 4, 5]));
        let out = v.sync(changes(vec![meta(5, "\\Flagged", 9)], vec![1, 2, 4]), true, true);
        assert_eq!(out, ["* VANISHED 1:2,4\r\n", "* 2 FETCH (UID 5 FLAGS (\\Flagged) MODSEQ (9))\r\n"]);
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
    }
}
