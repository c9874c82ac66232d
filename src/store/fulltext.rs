//! The archive's full-text index, as both backends keep it: in a SQLite
//! file of its own beside the store (`store/archive_index.rs`).
//!
//! An FTS5 trigram table (it finds Japanese text without a word splitter)
//! that keeps no copy of the text (`content=''`): the message itself is in
//! the archive, and a second copy of its text doubled what the archive cost
//! on disk (issue 15: 294 MB of copies beside 311 MB of index for 300 MB of
//! mail). Of a message's body only the first `BODY_MAX` bytes are indexed.
//!
//! Trigrams cannot answer a word of one or two characters (会議) by
//! themselves, and without the text there is nothing to scan; such a word is
//! found through the index's vocabulary instead: every trigram that begins
//! with it, or-ed together. Each column's text ends with two newlines so
//! that a word at its very end begins a trigram too.

use rusqlite::{Connection, params};

use crate::store::{ArchiveText, StoreError};

/// How much of a message's body text is indexed: 16 KiB is some 2,500 English
/// words or 5,000 Japanese characters, more than nearly every mail says; the
/// trigram index of a text costs about as much disk as the text, so indexing
/// 100 KB of it would double what the message costs (attachments' names are
/// indexed whatever their size).
pub const BODY_MAX: usize = 16 * 1024;

/// Vocabulary terms a one- or two-character word may expand to before the
/// search is refused as too broad.
const EXPANSION_MAX: usize = 5_000;

/// How many rows a query is counted up to before it is called common (`common`).
const COMMON: i64 = 20_000;

/// Trigrams of a text whose rows `narrowing` counts, and how many of the
/// rarer ones it keeps.
const NARROW_PROBES: usize = 24;
const NARROW_TERMS: usize = 3;

/// Creates the table and its vocabulary view (idempotent).
pub const SCHEMA: &str = "
    CREATE VIRTUAL TABLE IF NOT EXISTS archive_fts USING fts5(subject, addresses, body, attachments,
        tokenize = 'trigram', content = '', contentless_delete = 1);
    CREATE VIRTUAL TABLE IF NOT EXISTS archive_fts_vocab USING fts5vocab(archive_fts, 'row');";

/// Makes indexing cheaper for the indexer's batches (kept in the table's
/// config; written once, so a later open needs no write lock). FTS5 writes a new segment each time its in-memory
/// hash passes `hashsize` (1 MB by default: several per batch of 200
/// messages) and merges levels of `automerge` (4) segments as it goes; a
/// 16 MiB hash and merges of 8 cut the time of indexing 1,200 texts of
/// 16 KiB by a fifth (4.7 s against 5.8 s) with no slower queries.
pub fn tune(c: &Connection) -> Result<(), StoreError> {
    let tuned: i64 =
        c.query_row("SELECT count(*) FROM archive_fts_config WHERE k = 'automerge' AND v = 8", [], |r| r.get(0))?;
    if tuned > 0 {
        return Ok(());
    }
    c.execute_batch(
        "INSERT INTO archive_fts (archive_fts, rank) VALUES ('hashsize', 16777216);
         INSERT INTO archive_fts (archive_fts, rank) VALUES ('automerge', 8);",
    )?;
    Ok(())
}

/// Indexes one message's text (replacing what was indexed under its id).
pub fn insert(c: &Connection, t: &ArchiveText) -> Result<(), StoreError> {
    // Two newlines after each column: a word of one or two characters at its very end begins a trigram too.
    let column = |s: &str| format!("{s}\n\n");
    c.execute(
        "INSERT OR REPLACE INTO archive_fts (rowid, subject, addresses, body, attachments) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![t.id.0, column(&t.subject), column(&t.addresses), column(truncated(&t.body)), column(&t.attachments)],
    )?;
    Ok(())
}

pub fn delete(c: &Connection, id: i64) -> Result<(), StoreError> {
    c.execute("DELETE FROM archive_fts WHERE rowid = ?1", [id])?;
    Ok(())
}

pub fn clear(c: &Connection) -> Result<(), StoreError> {
    c.execute("DELETE FROM archive_fts", [])?;
    Ok(())
}

/// The body up to `BODY_MAX` bytes, cut at a character boundary.
fn truncated(body: &str) -> &str {
    &body[..body.floor_char_boundary(BODY_MAX)]
}

/// The FTS5 query that finds `text` anywhere in the indexed columns, or
/// None when no indexed message can hold it.
pub fn query(c: &Connection, text: &str) -> Result<Option<String>, StoreError> {
    if text.chars().count() >= 3 {
        return Ok(Some(quote(text)));
    }
    // The trigram tokenizer folds case; its vocabulary holds the folded trigrams.
    let word = text.to_lowercase();
    if word.is_empty() {
        return Ok(None);
    }
    let mut st = c.prepare_cached("SELECT term FROM archive_fts_vocab WHERE term >= ?1 AND term < ?2 LIMIT ?3")?;
    let terms: Vec<String> = st
        .query_map(params![word, format!("{word}\u{10FFFF}"), (EXPANSION_MAX + 1) as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if terms.len() > EXPANSION_MAX {
        return Err(StoreError::Invalid(format!(
            "`{text}` is part of too many words to search for; give at least {} characters",
            word.chars().count() + 1
        )));
    }
    Ok((!terms.is_empty()).then(|| terms.iter().map(|t| quote(t)).collect::<Vec<_>>().join(" OR ")))
}

/// Whether the FTS5 query `fts` matches at least `COMMON` rows. Counting
/// stops there, so the answer costs a few milliseconds where reading the
/// whole list of a word in a third of a million messages took 0.3 s; a
/// search for a common word walks the archive newest first and asks the
/// index about each row instead of gathering every match first.
pub fn common(c: &Connection, fts: &str) -> Result<bool, StoreError> {
    Ok(rows_up_to_common(c, fts)? >= COMMON)
}

/// How many rows the FTS5 query `fts` matches, counted up to `COMMON`.
fn rows_up_to_common(c: &Connection, fts: &str) -> Result<i64, StoreError> {
    let mut st =
        c.prepare_cached("SELECT count(*) FROM (SELECT 1 FROM archive_fts WHERE archive_fts MATCH ?1 LIMIT ?2)")?;
    Ok(st.query_row(params![fts, COMMON], |r| r.get(0))?)
}

/// The SQL condition that row `id` matches the FTS5 query bound at
/// `placeholder`: for a `common` query each row (newest first, the search
/// stops at its limit) is looked up in the index; otherwise the matches are
/// gathered first, fewer than the rows a walk would look at.
pub fn condition(id: &str, placeholder: &str, common: bool) -> String {
    if common {
        format!(" AND EXISTS (SELECT 1 FROM archive_fts WHERE archive_fts MATCH {placeholder} AND rowid = {id})")
    } else {
        format!(" AND {id} IN (SELECT rowid FROM archive_fts WHERE archive_fts MATCH {placeholder})")
    }
}

/// What the index can tell of the rows whose `column` holds `text`, for a
/// LIKE on the rows themselves to decide.
#[derive(Debug, PartialEq)]
pub enum Narrowing {
    /// An FTS5 query matching at least every indexed row that holds it.
    Query(String),
    /// No indexed row holds it.
    Nothing,
    /// Every part of it is too common to narrow anything.
    Unnarrowed,
}

/// Narrows a search for `text` in `column` by the index: the AND of the
/// text's rarest trigrams (among its first `NARROW_PROBES`, those in fewer
/// than `COMMON` rows). Not the phrase of them all, which decides but reads
/// every trigram's positions, the common ones too: an address's domain is
/// in every message, and a sender's phrase took 0.15 s on a million.
pub fn narrowing(c: &Connection, column: &str, text: &str) -> Result<Narrowing, StoreError> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() < 3 {
        return match query(c, text) {
            Ok(Some(q)) => Ok(Narrowing::Query(format!("{{{column}}} : ({q})"))),
            Ok(None) if text.is_empty() => Ok(Narrowing::Unnarrowed),
            Ok(None) => Ok(Narrowing::Nothing),
            Err(StoreError::Invalid(_)) => Ok(Narrowing::Unnarrowed),
            Err(e) => Err(e),
        };
    }
    let mut rare: Vec<(i64, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for w in chars.windows(3).take(NARROW_PROBES) {
        let term = quote(&w.iter().collect::<String>());
        if !seen.insert(term.clone()) {
            continue;
        }
        let n = rows_up_to_common(c, &term)?;
        if n == 0 {
            return Ok(Narrowing::Nothing);
        }
        if n < COMMON {
            rare.push((n, term));
        }
    }
    if rare.is_empty() {
        return Ok(Narrowing::Unnarrowed);
    }
    rare.sort();
    let terms: Vec<String> = rare.into_iter().take(NARROW_TERMS).map(|(_, t)| t).collect();
    Ok(Narrowing::Query(format!("{{{column}}} : ({})", terms.join(" AND "))))
}

/// `s` as one FTS5 string (the tokenizer cuts it into trigrams).
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A LIKE pattern finding `s` anywhere (with `ESCAPE '\'`).
pub fn like(s: &str) -> String {
    format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Id;

    fn index(texts: &[(i64, &str, &str)]) -> Connection {
        let c = Connection::open_in_memory().expect("open");
        c.execute_batch(SCHEMA).expect("schema");
        for (id, subject, body) in texts {
            let t =
                ArchiveText { id: Id(*id), subject: subject.to_string(), body: body.to_string(), ..Default::default() };
            insert(&c, &t).expect("insert");
        }
        c
    }

    /// The tuning is kept in the table and written once: opening an index
    /// again (every `hato ctl` does) takes no write lock for it.
    #[test]
    fn tuning_is_written_once() {
        let c = index(&[]);
        tune(&c).expect("tune");
        let v: i64 =
            c.query_row("SELECT v FROM archive_fts_config WHERE k = 'hashsize'", [], |r| r.get(0)).expect("hashsize");
        assert_eq!(v, 16 * 1024 * 1024);
        let before = c.total_changes();
        tune(&c).expect("tune again");
        assert_eq!(c.total_changes(), before, "nothing written the second time");
    }

    fn found(c: &Connection, text: &str) -> Vec<i64> {
        let Some(q) = query(c, text).expect("query") else { return Vec::new() };
        let mut st =
            c.prepare("SELECT rowid FROM archive_fts WHERE archive_fts MATCH ?1 ORDER BY rowid").expect("prepare");
        st.query_map([q], |r| r.get(0)).expect("match").collect::<Result<_, _>>().expect("rows")
    }

    #[test]
    fn finds_words_of_any_length_wherever_they_stand() {
        let c = index(&[
            (1, "明日の会議", "十時から"),
            (2, "予定", "ここで会議"),
            (3, "Budget", "the Q3 numbers"),
            (4, "x", "会"),
        ]);
        assert_eq!(found(&c, "会議"), vec![1, 2], "two characters, at the end of subject and body");
        assert_eq!(found(&c, "会"), vec![1, 2, 4], "one character, even as a whole column");
        assert_eq!(found(&c, "十時から"), vec![1]);
        assert_eq!(found(&c, "bud"), vec![3], "case folded");
        assert_eq!(found(&c, "q3"), vec![3]);
        assert_eq!(found(&c, "zz"), Vec::<i64>::new());
        assert_eq!(found(&c, "議事"), Vec::<i64>::new());
        let Narrowing::Query(subject_only) = narrowing(&c, "subject", "会議").expect("query") else { panic!() };
        let mut st = c.prepare("SELECT rowid FROM archive_fts WHERE archive_fts MATCH ?1").expect("prepare");
        let ids: Vec<i64> =
            st.query_map([subject_only], |r| r.get(0)).expect("match").map(|r| r.expect("row")).collect();
        assert_eq!(ids, vec![1], "in the subject only");
        delete(&c, 1).expect("delete");
        assert_eq!(found(&c, "会議"), vec![2], "a deleted message is not found");
    }

    /// A narrowing finds at least the rows holding the text (the LIKE then
    /// decides), and says so when a trigram of it is in no row at all.
    #[test]
    fn a_narrowing_keeps_every_row_that_holds_the_text() {
        let c = index(&[(1, "alice@example.com", ""), (2, "bob@example.com", ""), (3, "alice@other.org", "")]);
        let Narrowing::Query(q) = narrowing(&c, "subject", "Alice@Example.com").expect("narrow") else {
            panic!("every trigram is in some row")
        };
        let mut st = c.prepare("SELECT rowid FROM archive_fts WHERE archive_fts MATCH ?1").expect("prepare");
        let ids: Vec<i64> = st.query_map([q], |r| r.get(0)).expect("match").map(|r| r.expect("row")).collect();
        assert!(ids.contains(&1), "{ids:?}");
        assert_eq!(narrowing(&c, "subject", "zed@example.com").expect("narrow"), Narrowing::Nothing);
        assert_eq!(narrowing(&c, "subject", "").expect("narrow"), Narrowing::Unnarrowed);
        assert!(!common(&c, "\"example\"").expect("count"), "three rows are not common");
    }

    #[test]
    fn indexes_only_the_first_part_of_a_long_body() {
        let long = format!("{}終わりの言葉", "あ".repeat(BODY_MAX));
        let c = index(&[(1, "s", &format!("冒頭の言葉{long}"))]);
        assert_eq!(found(&c, "冒頭の言葉"), vec![1]);
        assert_eq!(found(&c, "終わりの言葉"), Vec::<i64>::new());
        assert!(truncated(&long).len() <= BODY_MAX && long.starts_with(truncated(&long)));
    }

    #[test]
    fn a_single_common_character_is_refused_with_a_reason() {
        // More distinct trigrams beginning with `e` than a search may expand to.
        let cjk = |n: usize| char::from_u32(0x4E00 + n as u32).expect("a CJK character");
        let words: Vec<String> =
            (0..EXPANSION_MAX + 10).map(|i| format!("e{}{}", cjk(i / 100), cjk(i % 100))).collect();
        // A thousand words (8 KB) per message, within what a body has indexed.
        let bodies: Vec<String> = words.chunks(1000).map(|w| w.join(" ")).collect();
        let rows: Vec<(i64, &str, &str)> =
            bodies.iter().enumerate().map(|(i, b)| (i as i64 + 1, "s", b.as_str())).collect();
        let c = index(&rows);
        assert!(query(&c, "e丁").expect("two characters").is_some());
        let Err(e) = query(&c, "e") else { panic!("a search for `e` expanded to every word") };
        assert!(e.to_string().contains("at least 2 characters"), "{e}");
    }
}
