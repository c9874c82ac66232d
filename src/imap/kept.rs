//! The view of each mailbox selected lately, kept for the next SELECT of it
//! by any session: that SELECT asks the store only what changed since
//! (`Store::changes`, two index probes when nothing did) instead of every
//! message's row (3 ms for 10,000 messages; issue 15 asks for no slower than
//! Dovecot).
//!
//! A kept view is the mailbox as it was at its HIGHESTMODSEQ, and every
//! change after that modseq is in `Store::changes` (added and re-flagged
//! rows by modseq, expunges from the `expunged` log, or every gap below
//! UIDNEXT once the log was cut): `View::resumed` applies them as a
//! session's refresh does and yields the view `View::new` would make now.
//! A different UIDVALIDITY means another mailbox: it is read whole.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::view::Msgs;

/// Messages all kept views may hold together (24 bytes each: 48 MB); the
/// view selected longest ago is dropped first.
const MESSAGES_MAX: usize = 2_000_000;

/// One kept view.
struct Kept {
    uidvalidity: i64,
    highestmodseq: i64,
    msgs: Arc<Msgs>,
    used: u64,
}

#[derive(Default)]
pub struct Views {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    views: HashMap<(String, String), Kept>,
    messages: usize,
    clock: u64,
}

impl Views {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kept view of an account's mailbox: (UIDVALIDITY, HIGHESTMODSEQ, messages).
    pub fn get(&self, account: &str, mailbox: &str) -> Option<(i64, i64, Arc<Msgs>)> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let k = inner.views.get_mut(&(account.to_string(), mailbox.to_string()))?;
        k.used = now;
        Some((k.uidvalidity, k.highestmodseq, k.msgs.clone()))
    }

    /// Keeps a view just built (its messages compacted as `View::new` would
    /// make them), dropping those selected longest ago to make room.
    pub fn keep(&self, account: &str, mailbox: &str, uidvalidity: i64, highestmodseq: i64, msgs: Msgs) {
        if msgs.len() > MESSAGES_MAX {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let used = inner.clock;
        let key = (account.to_string(), mailbox.to_string());
        if let Some(old) = inner.views.remove(&key) {
            inner.messages -= old.msgs.len();
        }
        while inner.messages + msgs.len() > MESSAGES_MAX {
            let Some(oldest) = inner.views.iter().min_by_key(|(_, k)| k.used).map(|(k, _)| k.clone()) else { break };
            if let Some(k) = inner.views.remove(&oldest) {
                inner.messages -= k.msgs.len();
            }
        }
        inner.messages += msgs.len();
        inner.views.insert(key, Kept { uidvalidity, highestmodseq, msgs: Arc::new(msgs), used });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MessageMeta;

    fn msgs(n: usize) -> Msgs {
        let meta = |uid| MessageMeta { uid, size: 1, flags: String::new(), internal_date: 0, modseq: 1 };
        Msgs::from_metas((1..=n as i64).map(meta).collect())
    }

    #[test]
    fn the_view_selected_longest_ago_goes_first() {
        let views = Views::default();
        views.keep("a", "one", 1, 5, msgs(MESSAGES_MAX / 2));
        views.keep("a", "two", 1, 5, msgs(MESSAGES_MAX / 2));
        assert!(views.get("a", "one").is_some());
        views.keep("a", "three", 7, 9, msgs(10));
        assert!(views.get("a", "two").is_none(), "selected longest ago");
        let (uidvalidity, modseq, kept) = views.get("a", "three").expect("kept");
        assert_eq!((uidvalidity, modseq, kept.len()), (7, 9, 10));
    }
}
