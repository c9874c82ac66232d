//! What SEARCH BODY and TEXT remember of each message they have read: a
//! sketch of the short strings (n-grams) its searchable text holds, so that
//! the next search skips, without reading it, every message that cannot
//! hold the string asked for.
//!
//! A sketch is a Bloom filter over the message's character n-grams, taken
//! from the very strings `imap::search` looks in, lower-cased the same way:
//! the decoded body text, each header's decoded text and the raw message.
//! If the lower-cased needle is in one of them, so is each of its n-grams,
//! and a Bloom filter never forgets what was put in: **a sketch can only say
//! "maybe" to a message that matches**. The messages it lets through are
//! read and decided by `imap::search` as before, so results are those of
//! the full scan whatever the sketch says; it only decides how much is read.
//!
//! Trigrams serve needles of three characters or more. Shorter needles are
//! served where they hold a character outside ASCII (a two-character
//! Japanese word, 会議): the one- and two-character strings holding one are
//! kept too. A short ASCII needle ("re") is in nearly every message; no
//! sketch would narrow it, so none is kept for it and such a search reads
//! everything.
//!
//! Sketches live in memory only (`Cache`), per mailbox and UIDVALIDITY, up
//! to `BUDGET` bytes in all, and are made by the searches themselves: the
//! first BODY or TEXT search of a mailbox after a start reads every message,
//! later ones read only the candidates. A UID's message never changes
//! (RFC 3501 §2.3.1.1), so a sketch is never stale; a sketch of an
//! expunged message is dropped with its mailbox's entry.

use std::collections::HashMap;
use std::sync::Mutex;

/// Memory all mailboxes' sketches may take together; the mailbox searched
/// longest ago is dropped first. Some 40,000 messages like the ham corpus's
/// (1.5 KB of sketch each for 4.9 KB of mail).
pub const BUDGET: usize = 64 * 1024 * 1024;

/// Bits kept per distinct n-gram, at least, two of them set by each (a
/// filter's size is a power of two, so between this and twice this): a
/// needle of one trigram passes a message without it about one time in ten
/// at worst ((1 - e^(-2/5))²), one of three trigrams ("linux") one time in
/// a thousand.
const BITS_PER_GRAM: usize = 5;

/// A message with more distinct n-grams than this (a large attachment's
/// base64, mostly) gets no sketch that could narrow anything: it is always
/// read. Messages larger than `RAW_MAX` are not even looked at.
const GRAMS_MAX: usize = 64 * 1024;
const RAW_MAX: usize = 512 * 1024;

/// What a search may ask of a message's sketch.
#[derive(Clone, Debug)]
pub enum Sketch {
    /// A Bloom filter of `bits.len() * 64` bits, a power of two.
    Grams { bits: Box<[u64]> },
    /// Too large to sketch: every needle may be in it.
    Opaque,
}

/// A lower-cased needle's n-grams, hashed.
#[derive(Clone, Debug)]
pub struct Needle {
    hashes: Vec<u64>,
}

impl Needle {
    /// The needle as `imap::search` compares it, or None when no sketch can
    /// narrow a search for it (empty, or shorter than three characters and all ASCII).
    pub fn new(raw: &[u8]) -> Option<Needle> {
        // Every n-gram a sketch keeps of the needle is in the sketch of a text holding it:
        // a two-character word is looked for as its pair and each character of it.
        let mut hashes = Vec::new();
        grams(&crate::imap::search::fold(&String::from_utf8_lossy(raw)), |h| hashes.push(h));
        hashes.sort_unstable();
        hashes.dedup();
        (!hashes.is_empty()).then_some(Needle { hashes })
    }
}

/// An empty place in an n-gram shorter than three: no character is 0x1FFFFF.
const NONE: u64 = 0x1F_FFFF;

/// One n-gram (one to three characters, the first ones `NONE` when
/// shorter) as a 64-bit hash. A character needs 21 bits, so three fit in
/// 63 without colliding before the mix.
fn gram(a: u64, b: u64, c: u64) -> u64 {
    mix(a | b << 21 | c << 42)
}

/// splitmix64's finaliser: every input bit moves every output bit.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Calls `f` with the hash of every n-gram a sketch keeps of `text`: each
/// trigram, and the one- and two-character strings holding a character
/// outside ASCII. Taken as the strings ending at each character, which
/// covers every substring of one to three characters.
fn grams(text: &str, mut f: impl FnMut(u64)) {
    let (mut a, mut b) = (NONE, NONE);
    for c in text.chars().map(u64::from) {
        if a != NONE {
            f(gram(a, b, c));
        }
        if b != NONE && (b >= 0x80 || c >= 0x80) {
            f(gram(NONE, b, c));
        }
        if c >= 0x80 {
            f(gram(NONE, NONE, c));
        }
        (a, b) = (b, c);
    }
}

/// The two bits a hash sets in a filter of `len` bits (a power of two):
/// its low and its high half, each cut to the filter's size. A filter
/// folded in half (`fold`) keeps the bits the smaller one would have set.
fn positions(h: u64, len: usize) -> [usize; 2] {
    let mask = len as u64 - 1;
    [(h & mask) as usize, ((h >> 32) & mask) as usize]
}

/// ORs a filter's upper half into its lower half: the same filter at half
/// the size, as if built at that size.
fn fold(bits: &mut Vec<u64>) {
    let half = bits.len() / 2;
    for i in 0..half {
        bits[i] |= bits[i + half];
    }
    bits.truncate(half);
}

impl Sketch {
    /// A sketch of these lower-cased texts, or `Opaque` when the message
    /// (`raw_len` bytes) is too large to narrow anything.
    ///
    /// Built without counting distinct n-grams (a sort was half the cost):
    /// in a filter of 16 bits for every n-gram the texts could hold, whose
    /// set bits then tell how many distinct ones there were, and which is
    /// folded down to `BITS_PER_GRAM` for each.
    pub fn of<S: AsRef<str>>(raw_len: usize, texts: &[S]) -> Sketch {
        if raw_len > RAW_MAX {
            return Sketch::Opaque;
        }
        // A character gives at most three n-grams, and one of more than one byte (UTF-8) only can give more than one.
        let bytes: usize = texts.iter().map(|t| t.as_ref().len()).sum();
        let len = (bytes * 3 / 2 * 16).next_power_of_two().max(64);
        let mut bits = vec![0u64; len / 64];
        for t in texts {
            grams(t.as_ref(), |h| {
                for p in positions(h, len) {
                    bits[p / 64] |= 1 << (p % 64);
                }
            });
        }
        // Expected set bits after n insertions of two bits each: len * (1 - e^(-2n/len)).
        let set: usize = bits.iter().map(|w| w.count_ones() as usize).sum();
        let distinct =
            if set >= len { f64::INFINITY } else { -(len as f64) / 2.0 * (1.0 - set as f64 / len as f64).ln() };
        if distinct > GRAMS_MAX as f64 {
            return Sketch::Opaque;
        }
        let want = ((distinct * BITS_PER_GRAM as f64) as usize).max(64);
        while bits.len() > 1 && bits.len() * 64 / 2 >= want {
            fold(&mut bits);
        }
        Sketch::Grams { bits: bits.into_boxed_slice() }
    }

    /// False only when the needle is certainly not in the sketched texts.
    pub fn may_contain(&self, needle: &Needle) -> bool {
        let Sketch::Grams { bits } = self else { return true };
        let len = bits.len() * 64;
        needle.hashes.iter().all(|h| positions(*h, len).iter().all(|p| bits[p / 64] & (1 << (p % 64)) != 0))
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<Sketch>()
            + match self {
                Sketch::Grams { bits } => bits.len() * 8,
                Sketch::Opaque => 0,
            }
    }
}

/// A mailbox as sketches know it: its account, name and UIDVALIDITY.
pub type MailboxKey = (String, String, i64);

/// The sketches of every mailbox searched lately, shared by all sessions.
#[derive(Default)]
pub struct Cache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    mailboxes: HashMap<MailboxKey, Entry>,
    bytes: usize,
    clock: u64,
}

#[derive(Default)]
struct Entry {
    sketches: HashMap<i64, Sketch>,
    bytes: usize,
    used: u64,
    /// A sketch of it was not kept for want of room.
    full: bool,
}

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// For each UID, what `f` says of its sketch; None where there is none.
    pub fn ask<R>(&self, mailbox: &MailboxKey, uids: &[i64], f: impl Fn(&Sketch) -> R) -> Vec<Option<R>> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let Some(entry) = inner.mailboxes.get_mut(mailbox) else { return uids.iter().map(|_| None).collect() };
        entry.used = now;
        uids.iter().map(|u| entry.sketches.get(u).map(&f)).collect()
    }

    /// Whether sketches of this mailbox may still be kept: not once one was
    /// not for want of room (it alone fills the budget; the messages beyond
    /// are always read, and sketching them would be work thrown away).
    pub fn has_room(&self, mailbox: &MailboxKey) -> bool {
        self.lock().mailboxes.get(mailbox).is_none_or(|e| !e.full)
    }

    /// Keeps these sketches, dropping the mailboxes searched longest ago
    /// to make room; what does not fit even then is not kept.
    pub fn keep(&self, mailbox: &MailboxKey, sketches: Vec<(i64, Sketch)>) {
        if sketches.is_empty() {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let new: usize = sketches.iter().map(|(_, s)| s.bytes()).sum();
        while inner.bytes + new > BUDGET {
            let oldest = inner.mailboxes.iter().filter(|(k, _)| *k != mailbox).min_by_key(|(_, e)| e.used);
            let Some(key) = oldest.map(|(k, _)| k.clone()) else { break };
            if let Some(e) = inner.mailboxes.remove(&key) {
                inner.bytes -= e.bytes;
            }
        }
        let mut bytes = inner.bytes;
        let entry = inner.mailboxes.entry(mailbox.clone()).or_default();
        entry.used = now;
        for (uid, s) in sketches {
            if bytes + s.bytes() > BUDGET {
                entry.full = true;
                break;
            }
            bytes += s.bytes();
            entry.bytes += s.bytes();
            if let Some(old) = entry.sketches.insert(uid, s) {
                bytes -= old.bytes();
                entry.bytes -= old.bytes();
            }
        }
        inner.bytes = bytes;
    }

    /// Bytes held.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch(texts: &[&str]) -> Sketch {
        let lower: Vec<String> = texts.iter().map(|t| t.to_lowercase()).collect();
        Sketch::of(1, &lower)
    }

    fn may(s: &Sketch, needle: &str) -> bool {
        s.may_contain(&Needle::new(needle.as_bytes()).expect("a needle a sketch can narrow"))
    }

    #[test]
    fn every_substring_of_the_text_may_be_there() {
        let text = "Réunion du comité: 会議は明日です。Linux kernel ΟΔΟΣ";
        let s = sketch(&["Subject line", text]);
        let chars: Vec<char> = text.to_lowercase().chars().collect();
        for i in 0..chars.len() {
            for j in i + 1..=chars.len() {
                let needle: String = chars[i..j].iter().collect();
                if let Some(n) = Needle::new(needle.as_bytes()) {
                    assert!(s.may_contain(&n), "{needle:?} is in the text");
                }
            }
        }
        assert!(may(&s, "LINUX"), "case is folded as the search folds it");
        assert!(may(&s, "会議"), "a two-character Japanese word");
        assert!(may(&s, "明"), "one Japanese character");
        assert!(may(&s, "す。"), "the text's last two characters");
    }

    #[test]
    fn most_absent_needles_are_ruled_out() {
        let body: String = (0..400).map(|i| format!("word{i} ")).collect();
        let s = sketch(&[&body]);
        let absent = ["zyxwvut", "linux kernel", "会議室", "meeting", "quarterly report"];
        assert!(absent.iter().all(|n| !may(&s, n)), "none of {absent:?} gets through");
        assert!(may(&s, "word399 "));
    }

    #[test]
    fn a_sketch_keeps_five_to_ten_bits_for_each_distinct_gram() {
        for text in ["Linux kernel mailing list digest, volume 7 ".repeat(50), "明日の会議は十時からです。".repeat(40)]
        {
            let mut distinct = std::collections::HashSet::new();
            grams(&text, |h| {
                distinct.insert(h);
            });
            let Sketch::Grams { bits } = Sketch::of(1, &[&text, &text]) else { panic!("a small text is sketched") };
            let per_gram = (bits.len() * 64) as f64 / distinct.len() as f64;
            assert!((5.0..10.5).contains(&per_gram), "{per_gram} bits for each of {} n-grams", distinct.len());
        }
    }

    #[test]
    fn short_ascii_needles_are_not_narrowed() {
        assert!(Needle::new(b"re").is_none());
        assert!(Needle::new(b"").is_none());
        assert!(Needle::new("会".as_bytes()).is_some());
    }

    #[test]
    fn a_large_message_is_always_read() {
        assert!(matches!(Sketch::of(RAW_MAX + 1, &["anything"]), Sketch::Opaque));
        // Kanji in no order: nearly every trigram new.
        let noise: String = (0..100_000u64).filter_map(|i| char::from_u32(0x4E00 + (mix(i) % 20_000) as u32)).collect();
        let s = Sketch::of(1, &[noise]);
        assert!(matches!(s, Sketch::Opaque), "too many distinct n-grams to narrow anything");
        assert!(may(&s, "zyxwvut"));
    }

    #[test]
    fn the_cache_drops_the_mailbox_searched_longest_ago() {
        let cache = Cache::default();
        let key = |n: &str| (String::from("a@b"), n.to_string(), 1);
        let big = || Sketch::Grams { bits: vec![0; BUDGET / 8 / 3].into_boxed_slice() };
        cache.keep(&key("one"), vec![(1, big())]);
        cache.keep(&key("two"), vec![(1, big())]);
        assert_eq!(cache.ask(&key("one"), &[1, 2], |_| ()), vec![Some(()), None]);
        cache.keep(&key("three"), vec![(1, big())]);
        assert!(cache.bytes() <= BUDGET);
        assert_eq!(cache.ask(&key("two"), &[1], |_| ()), vec![None], "searched longest ago");
        assert_eq!(cache.ask(&key("one"), &[1], |_| ()), vec![Some(())]);
        assert_eq!(cache.ask(&key("three"), &[1], |_| ()), vec![Some(())]);
    }

    #[test]
    fn a_mailbox_larger_than_the_budget_keeps_what_fits() {
        let cache = Cache::default();
        let key = (String::from("a@b"), String::from("huge"), 1);
        let big = || Sketch::Grams { bits: vec![0; BUDGET / 8 / 3].into_boxed_slice() };
        for uid in 1..=5 {
            assert!(cache.has_room(&key) || uid > 3, "room for the first three");
            cache.keep(&key, vec![(uid, big())]);
        }
        assert!(!cache.has_room(&key));
        assert!(cache.bytes() <= BUDGET);
        let held = cache.ask(&key, &[1, 2, 3, 4, 5], |_| ());
        assert_eq!(held, vec![Some(()), Some(()), None, None, None], "the first sketches stay, the rest is read");
    }
}
