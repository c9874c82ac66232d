//! A selected mailbox as one session sees it: sequence number → message.
//! Sequence numbers only change when this session is told (EXPUNGE/EXISTS),
//! so the view is refreshed from the store only at points where RFC 3501
//! allows untagged updates.

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

use crate::store::{MailboxState, MessageMeta};

pub struct View {
    pub name: String,
    pub read_only: bool,
    pub uidvalidity: i64,
    pub uidnext: i64,
    pub highestmodseq: i64,
    pub msgs: Vec<MessageMeta>,
}

impl View {
    pub fn new(name: String, read_only: bool, st: MailboxState) -> View {
        View { name, read_only, uidvalidity: st.uidvalidity, uidnext: st.uidnext, highestmodseq: st.highestmodseq, msgs: st.messages }
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
                let (lo, hi) = (x.min(y), x.max(y));
                out.extend(self.msgs.iter().enumerate().filter(|(_, m)| (lo..=hi).contains(&(m.uid as u64))).map(|(i, _)| i));
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

    /// Brings the view up to date and returns the untagged responses that tell the client.
    pub fn sync(&mut self, fresh: MailboxState) -> Vec<String> {
        let mut out = Vec::new();
        // Expunged: report from the highest sequence number down so each number is valid when sent.
        let mut i = self.msgs.len();
        while i > 0 {
            i -= 1;
            if !fresh.messages.iter().any(|m| m.uid == self.msgs[i].uid) {
                out.push(format!("* {} EXPUNGE\r\n", i + 1));
                self.msgs.remove(i);
            }
        }
        // Flag changes on the messages we both know.
        for (i, m) in self.msgs.iter_mut().enumerate() {
            if let Some(f) = fresh.messages.iter().find(|x| x.uid == m.uid) {
                if f.flags != m.flags {
                    out.push(format!("* {} FETCH (UID {} FLAGS ({}))\r\n", i + 1, m.uid, f.flags));
                    m.flags = f.flags.clone();
                    m.modseq = f.modseq;
                }
            }
        }
        let last = self.msgs.last().map(|m| m.uid).unwrap_or(0);
        let before = self.msgs.len();
        self.msgs.extend(fresh.messages.into_iter().filter(|m| m.uid > last));
        if self.msgs.len() != before {
            out.push(format!("* {} EXISTS\r\n", self.msgs.len()));
        }
        self.uidnext = fresh.uidnext;
        self.highestmodseq = fresh.highestmodseq;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(uid: i64, flags: &str) -> MessageMeta {
        MessageMeta { uid, size: 10, flags: flags.into(), internal_date: 0, modseq: 1 }
    }

    fn state(uids: &[(i64, &str)]) -> MailboxState {
        MailboxState { uidvalidity: 1, uidnext: 100, highestmodseq: 5, messages: uids.iter().map(|(u, f)| meta(*u, f)).collect() }
    }

    #[test]
    fn resolves_sequence_and_uid_sets() {
        let v = View::new("INBOX".into(), false, state(&[(3, ""), (5, ""), (9, "")]));
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
        let mut v = View::new("INBOX".into(), false, state(&[(1, ""), (2, ""), (3, ""), (4, "")]));
        let out = v.sync(state(&[(1, ""), (3, "\\Seen"), (7, "")]));
        assert_eq!(out, ["* 4 EXPUNGE\r\n", "* 2 EXPUNGE\r\n", "* 2 FETCH (UID 3 FLAGS (\\Seen))\r\n", "* 3 EXISTS\r\n"]);
        assert_eq!(v.msgs.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 3, 7]);
        assert!(v.sync(state(&[(1, ""), (3, "\\Seen"), (7, "")])).is_empty());
    }
}
