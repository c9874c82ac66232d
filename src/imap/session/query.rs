//! SEARCH (with ESEARCH results and CONDSTORE's MODSEQ), SORT and THREAD on
//! the selected mailbox. Key evaluation is `imap::search`, over the messages
//! `imap::sketch` does not rule out; ordering is `imap::sort` and `imap::thread`.

use imap_codec::imap_types::ToStatic;
use imap_codec::imap_types::extensions::sort::SortCriterion;
use imap_codec::imap_types::search::SearchKey;
use tracing::warn;

use super::{Session, quoted};
use crate::imap::context::{MAX_CONTEXTS, SearchContext};
use crate::imap::search::{self, Candidate};
use crate::imap::sort::{self, Summary};
use crate::imap::thread;
use crate::imap::view::uid_set;
use crate::store::MessageMeta;

/// Charsets a search string may be declared in; every message is decoded to UTF-8 first.
pub(super) fn charset_ok(cs: &str) -> bool {
    cs.eq_ignore_ascii_case("UTF-8") || cs.eq_ignore_ascii_case("US-ASCII")
}

/// Messages read from the store per round trip.
const SEARCH_BATCH: usize = 256;

/// Numbers in the order given, each run of consecutive ones as a range
/// ("3:5,1,8:7" for 3 4 5 1 8 7): the ALL of an ESORT answer.
fn ordered_set(order: &[u64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        if let Some(&next) = order.get(i + 1) {
            // A run goes one way: up by one each step, or down by one.
            let up = next > order[i];
            let step = |a: u64, b: u64| if up { b.checked_sub(a) == Some(1) } else { a.checked_sub(b) == Some(1) };
            while j + 1 < order.len() && step(order[j], order[j + 1]) {
                j += 1;
            }
        }
        out.push(if i == j { order[i].to_string() } else { format!("{}:{}", order[i], order[j]) });
        i = j + 1;
    }
    out.join(",")
}

/// A message that matched: its sequence number, metadata and (when read) bytes.
struct Hit {
    seq: u64,
    meta: MessageMeta,
    content: Option<Vec<u8>>,
}

/// What SORT and THREAD order by, numbered by UID or sequence number.
fn summarise(hits: &[Hit], uid: bool) -> Vec<Summary> {
    hits.iter()
        .map(|h| {
            let parsed = h.content.as_deref().and_then(|c| mail_parser::MessageParser::default().parse(c));
            let n = if uid { h.meta.uid as u64 } else { h.seq };
            Summary::new(n, h.meta.internal_date, h.meta.size, parsed.as_ref())
        })
        .collect()
}

/// RFC 5267 PARTIAL: the numbers at positions lo..=hi of a result, as
/// `PARTIAL (lo:hi set)`, NIL when none are there.
fn partial(numbers: &[u64], (lo, hi): (u32, u32), sorted: bool) -> String {
    let from = (lo as usize - 1).min(numbers.len());
    let to = (hi as usize).min(numbers.len());
    let part = &numbers[from..to];
    let set = if part.is_empty() {
        "NIL".to_string()
    } else if sorted {
        ordered_set(part)
    } else {
        uid_set(&part.iter().map(|n| *n as i64).collect::<Vec<_>>())
    };
    format!(" PARTIAL ({lo}:{hi} {set})")
}

impl Session {
    /// Runs the keys over the selected mailbox. None after a NO was sent.
    async fn matching(&mut self, tag: &str, keys: &[SearchKey<'_>], want_content: bool) -> Option<Vec<Hit>> {
        let hits = self.evaluate(keys, want_content).await;
        if hits.is_none() && self.selected.is_some() {
            self.send(&format!("{tag} NO [UNAVAILABLE] cannot read messages\r\n"));
        }
        hits
    }

    /// Runs the keys over the selected mailbox; None if there is none or the
    /// store could not be read (logged).
    async fn evaluate(&mut self, keys: &[SearchKey<'_>], want_content: bool) -> Option<Vec<Hit>> {
        let v = self.selected.as_ref()?;
        let (mailbox, account) = (v.name.clone(), self.account());
        let sketched = (account.clone(), mailbox.clone(), v.uidvalidity);
        let msgs = v.msgs.clone();
        let max_seq = msgs.len() as u64;
        let max_uid = msgs.last_uid() as u64;
        let need = search::needs(keys);
        let read_raw = want_content || need.raw;
        let headers_only = !want_content && !need.body;
        // Header keys alone are answered from stored summaries, without reading bodies.
        let read_summaries = need.summary && !read_raw;
        // A message whose sketch lacks a BODY or TEXT needle cannot match and is
        // not read; one read whole without a sketch gets one for the next search.
        let needles = if headers_only { Vec::new() } else { search::needles(keys) };
        let sketching = !needles.is_empty() && self.sh.sketches.has_room(&sketched);
        let mut hits = Vec::new();
        for start in (0..msgs.len()).step_by(SEARCH_BATCH) {
            let mut batch: Vec<(u64, MessageMeta, bool)> = (start..(start + SEARCH_BATCH).min(msgs.len()))
                .filter_map(|i| msgs.get(i).map(|m| (i as u64 + 1, m, true)))
                .collect();
            if !needles.is_empty() {
                let uids: Vec<i64> = batch.iter().map(|(_, m, _)| m.uid).collect();
                let maybe = self.sh.sketches.ask(&sketched, &uids, |s| needles.iter().all(|n| s.may_contain(n)));
                batch = batch
                    .into_iter()
                    .zip(maybe)
                    .filter(|(_, maybe)| *maybe != Some(false))
                    .map(|((seq, meta, _), maybe)| (seq, meta, maybe.is_none()))
                    .collect();
            }
            let uids: Vec<i64> = batch.iter().map(|(_, m, _)| m.uid).collect();
            let (contents, summaries) = match (read_raw, read_summaries) {
                _ if uids.is_empty() => (Ok(Vec::new()), Ok(Vec::new())),
                (true, _) => (self.sh.store.contents(account.clone(), mailbox.clone(), uids).await, Ok(Vec::new())),
                (false, true) => {
                    (Ok(Vec::new()), self.sh.store.summaries(account.clone(), mailbox.clone(), uids).await)
                }
                _ => (Ok(Vec::new()), Ok(Vec::new())),
            };
            let (mut contents, mut summaries) = match (contents, summaries) {
                (Ok(c), Ok(s)) => (c.into_iter().peekable(), s.into_iter().peekable()),
                (Err(e), _) | (_, Err(e)) => {
                    warn!(target: "hato::imap", "search failed: {e}");
                    return None;
                }
            };
            let mut sketches = Vec::new();
            for (seq, meta, unsketched) in &batch {
                let content = match contents.peek() {
                    Some(c) if c.uid == meta.uid => contents.next().map(|c| c.data),
                    _ => None,
                };
                let summary = match summaries.peek() {
                    Some(s) if s.uid == meta.uid => summaries.next().map(|s| s.summary),
                    _ => None,
                };
                if (read_raw && content.is_none()) || (read_summaries && summary.is_none()) {
                    continue; // expunged meanwhile
                }
                let mut c = Candidate::new(*seq, max_seq, max_uid, meta, v.is_recent(meta.uid));
                if let Some(s) = summary.as_ref() {
                    c = c.with_summary(s);
                }
                if let Some(raw) = content.as_deref() {
                    c = c.with_raw(raw, headers_only);
                }
                let matched = keys.iter().all(|k| search::matches(k, &c));
                if *unsketched && sketching {
                    sketches.push((meta.uid, search::sketch(&c)));
                }
                if matched {
                    drop(c);
                    hits.push(Hit {
                        seq: *seq,
                        meta: meta.clone(),
                        content: if want_content { content } else { None },
                    });
                }
            }
            self.sh.sketches.keep(&sketched, sketches);
        }
        Some(hits)
    }

    pub(super) async fn search(&mut self, tag: &str, keys: &[SearchKey<'_>], uid: bool) {
        let Some(hits) = self.matching(tag, keys, false).await else { return };
        let numbers: Vec<i64> = hits.iter().map(|h| if uid { h.meta.uid } else { h.seq as i64 }).collect();
        let modseq = search::uses_modseq(keys).then(|| hits.iter().map(|h| h.meta.modseq).max()).flatten();
        if search::uses_modseq(keys) {
            self.enable_condstore();
        }
        let verb = if uid { "UID " } else { "" };
        let mut ret = self.search_return.take();
        if let Some(r) = &ret {
            if r.save {
                self.saved = hits.iter().map(|h| h.meta.uid).collect();
            }
            if r.save && !(r.min || r.max || r.count || r.all) {
                // RFC 5182: SAVE alone answers nothing but the tagged OK.
                self.send(&format!("{tag} OK {verb}SEARCH completed, result saved\r\n"));
                return;
            }
        }
        if ret.is_none() && self.rev2 {
            // RFC 9051: an IMAP4rev2 client always gets ESEARCH.
            ret = Some(crate::imap::extended::SearchReturn { all: true, ..Default::default() });
        }
        let mut out = match ret {
            // RFC 4731 ESEARCH.
            Some(ret) => {
                let mut line = format!("* ESEARCH (TAG \"{tag}\"){}", if uid { " UID" } else { "" });
                if !numbers.is_empty() {
                    if ret.min {
                        line.push_str(&format!(" MIN {}", numbers[0]));
                    }
                    if ret.max {
                        line.push_str(&format!(" MAX {}", numbers[numbers.len() - 1]));
                    }
                    if ret.all {
                        line.push_str(&format!(" ALL {}", uid_set(&numbers)));
                    }
                }
                if let Some(range) = ret.partial {
                    let numbers: Vec<u64> = numbers.iter().map(|n| *n as u64).collect();
                    line.push_str(&partial(&numbers, range, false));
                }
                if ret.count {
                    line.push_str(&format!(" COUNT {}", numbers.len()));
                }
                // RFC 7162 §3.1.5: with only MIN and/or MAX asked for, the
                // MODSEQ is of the messages returned, not of every match.
                let modseq = match (ret.all || ret.count, hits.first(), hits.last()) {
                    (false, Some(first), Some(last)) if ret.min || ret.max => modseq.map(|_| {
                        let of = |h: Option<&Hit>| h.map_or(0, |h| h.meta.modseq);
                        of(ret.min.then_some(first)).max(of(ret.max.then_some(last)))
                    }),
                    _ => modseq,
                };
                if let Some(m) = modseq {
                    line.push_str(&format!(" MODSEQ {m}"));
                }
                line.push_str("\r\n");
                if ret.update {
                    let result = hits.iter().map(|h| h.meta.uid).collect();
                    line.push_str(&self.keep_context(tag, uid, keys, None, result));
                }
                line
            }
            None => {
                let list: Vec<String> = numbers.iter().map(i64::to_string).collect();
                let sep = if list.is_empty() { "" } else { " " };
                let modseq = modseq.map(|m| format!(" (MODSEQ {m})")).unwrap_or_default();
                format!("* SEARCH{sep}{}{modseq}\r\n", list.join(" "))
            }
        };
        out.push_str(&format!("{tag} OK {verb}SEARCH completed\r\n"));
        self.send(&out);
    }

    async fn summaries(&mut self, tag: &str, keys: &[SearchKey<'_>], uid: bool) -> Option<Vec<Summary>> {
        let hits = self.matching(tag, keys, true).await?;
        Some(summarise(&hits, uid))
    }

    pub(super) async fn sort(&mut self, tag: &str, criteria: &[SortCriterion], keys: &[SearchKey<'_>], uid: bool) {
        let Some(hits) = self.matching(tag, keys, true).await else { return };
        let order = sort::sort(summarise(&hits, uid), criteria);
        let verb = if uid { "UID " } else { "" };
        // RFC 5267 ESORT: MIN and MAX are the first and last in sort order,
        // ALL keeps the sort order (runs of consecutive numbers as ranges).
        if let Some(ret) = self.search_return.take() {
            let mut line = format!("* ESEARCH (TAG \"{tag}\"){}", if uid { " UID" } else { "" });
            if let (Some(first), Some(last)) = (order.first(), order.last()) {
                if ret.min {
                    line.push_str(&format!(" MIN {first}"));
                }
                if ret.max {
                    line.push_str(&format!(" MAX {last}"));
                }
                if ret.all {
                    line.push_str(&format!(" ALL {}", ordered_set(&order)));
                }
            }
            if let Some(range) = ret.partial {
                line.push_str(&partial(&order, range, true));
            }
            if ret.count {
                line.push_str(&format!(" COUNT {}", order.len()));
            }
            line.push_str("\r\n");
            if ret.update {
                let by_uid = if uid { order } else { sort::sort(summarise(&hits, true), criteria) };
                let result = by_uid.iter().map(|u| *u as i64).collect();
                line.push_str(&self.keep_context(tag, uid, keys, Some(criteria), result));
            }
            return self.send(&format!("{line}{tag} OK {verb}SORT completed\r\n"));
        }
        let list: Vec<String> = order.iter().map(u64::to_string).collect();
        let sep = if list.is_empty() { "" } else { " " };
        self.send(&format!("* SORT{sep}{}\r\n{tag} OK {verb}SORT completed\r\n", list.join(" ")));
    }

    pub(super) async fn thread(&mut self, tag: &str, references: bool, keys: &[SearchKey<'_>], uid: bool) {
        let Some(msgs) = self.summaries(tag, keys, uid).await else { return };
        let threads = if references { thread::references(&msgs) } else { thread::ordered_subject(&msgs) };
        let body = thread::render(&threads);
        let sep = if body.is_empty() { "" } else { " " };
        self.send(&format!("* THREAD{sep}{body}\r\n{tag} OK {}THREAD completed\r\n", if uid { "UID " } else { "" }));
    }
}

/// Searches kept up to date (RFC 5267 CONTEXT; see `imap::context`).
impl Session {
    /// Keeps a SEARCH or SORT's result up to date; the untagged NO to send
    /// instead when the session keeps as many as it may.
    fn keep_context(
        &mut self,
        tag: &str,
        uid: bool,
        keys: &[SearchKey<'_>],
        sort: Option<&[SortCriterion]>,
        result: Vec<i64>,
    ) -> String {
        let Some(v) = self.selected.as_mut() else { return String::new() };
        v.contexts.retain(|c| c.tag != tag);
        if v.contexts.len() >= MAX_CONTEXTS {
            return format!(
                "* NO [NOUPDATE {}] no more than {MAX_CONTEXTS} searches are kept up to date\r\n",
                quoted(tag)
            );
        }
        let keys = keys.iter().map(ToStatic::to_static).collect();
        let sort = sort.map(<[SortCriterion]>::to_vec);
        v.contexts.push(SearchContext { tag: tag.to_string(), uid, keys, sort, result });
        String::new()
    }

    /// CANCELUPDATE: the searches of these tags are no longer updated.
    pub(super) fn cancel_update(&mut self, tag: &str, tags: &[String]) {
        match self.selected.as_mut() {
            Some(v) => {
                v.contexts.retain(|c| !tags.contains(&c.tag));
                self.send(&format!("{tag} OK CANCELUPDATE completed\r\n"));
            }
            None => self.send(&format!("{tag} BAD CANCELUPDATE needs a selected mailbox\r\n")),
        }
    }

    /// Evaluates each kept search again after the mailbox changed and tells
    /// the client what entered and left its result.
    pub(super) async fn update_contexts(&mut self) {
        let Some(v) = self.selected.as_mut() else { return };
        if v.contexts.is_empty() {
            return;
        }
        let mut contexts = std::mem::take(&mut v.contexts);
        let mut out = String::new();
        for c in &mut contexts {
            let Some(hits) = self.evaluate(&c.keys, c.sort.is_some()).await else { continue };
            let new: Vec<i64> = match &c.sort {
                None => hits.iter().map(|h| h.meta.uid).collect(),
                Some(criteria) => sort::sort(summarise(&hits, true), criteria).iter().map(|u| *u as i64).collect(),
            };
            let Some(v) = self.selected.as_ref() else { return };
            let number = |u: i64| v.position(u).map(|i| i as i64 + 1);
            out.extend(c.update(new, &number));
        }
        if let Some(v) = self.selected.as_mut() {
            v.contexts = contexts;
        }
        self.send(&out);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ordered_set_keeps_the_order() {
        assert_eq!(super::ordered_set(&[3, 4, 5, 1, 8, 7]), "3:5,1,8:7");
        assert_eq!(super::ordered_set(&[2, 9, 4]), "2,9,4");
        assert_eq!(super::ordered_set(&[1]), "1");
        assert_eq!(super::ordered_set(&[]), "");
    }
}
