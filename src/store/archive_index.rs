//! The archive's full-text index in a SQLite file of its own, beside the
//! store: a derived copy, rebuilt from the archive rows whenever it is lost
//! or emptied (`hato ctl archive index --rebuild`).
//!
//! Why a file of its own: indexing is the costliest write the archive makes
//! (a trigram per character of up to `fulltext::BODY_MAX` of text). In the
//! SQLite store's own file it ran on the writer thread that commits mail, so
//! every SMTP transaction waited behind it (issue 15: a tenth of 100 KB
//! intake's CPU); here it has a writer of its own and `synchronous=NORMAL`,
//! and the store's readers attach the file to search it. And Galera
//! replicates InnoDB tables, while FTS5's trigram index (what finds Japanese
//! text without a word splitter; `store::fulltext`) has no InnoDB
//! equivalent, so each Galera node keeps this file for the cluster's archive.
//!
//! Which archive rows the file holds is recorded in it (`indexed`), so a
//! backend can tell what to index again after a crash or a restore: the
//! SQLite store marks a row indexed only after this file took it, and before
//! its indexer's first batch after an open marks again every row the file
//! does not hold. The Galera indexer follows
//! the archive by `archived_at` (when each row was written) with a cursor
//! that only moves past rows this index holds; every so often it also looks a
//! minute behind the cursor for rows whose transaction committed late.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::fulltext::{self, like};
use crate::store::{ArchiveText, StoreError};

pub struct LocalIndex {
    conn: Arc<Mutex<Connection>>,
}

impl LocalIndex {
    pub fn open(path: &Path) -> Result<LocalIndex, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Derived data: losing the last commits to a crash only means indexing them again.
        // A batch's index pages pass through the WAL (20 MB for 200 large messages), which
        // SQLite would keep at that size for good; after a checkpoint it is cut to 4 MiB.
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=4194304;")?;
        // An index written by an earlier Hato kept a copy of every text: it is started again.
        let old: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'archive_text'", [], |r| r.get(0))?;
        if old > 0 {
            conn.execute_batch("DROP TABLE archive_text; DROP TABLE IF EXISTS indexed; DROP TABLE IF EXISTS state;")?;
        }
        conn.execute_batch(fulltext::SCHEMA)?;
        fulltext::tune(&conn)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS indexed (id INTEGER PRIMARY KEY, created INTEGER NOT NULL, subject TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS indexed_created ON indexed(created);
             CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
        )?;
        Ok(LocalIndex { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Runs `f` on the index's connection off the async threads.
    pub async fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&conn.lock().unwrap_or_else(|p| p.into_inner())))
            .await
            .map_err(|e| StoreError::Backend(format!("archive index task failed: {e}")))?
    }
}

pub fn cursor(c: &Connection) -> Result<(i64, i64), StoreError> {
    let get = |name: &str| -> Result<i64, StoreError> {
        Ok(c.query_row("SELECT value FROM state WHERE name = ?1", [name], |r| r.get(0)).optional()?.unwrap_or(0))
    };
    Ok((get("cursor_at")?, get("cursor_id")?))
}

pub fn set_state(c: &Connection, name: &str, value: i64) -> Result<(), StoreError> {
    c.execute("INSERT OR REPLACE INTO state (name, value) VALUES (?1, ?2)", params![name, value])?;
    Ok(())
}

/// Which of `ids` this index does not hold.
pub fn missing(c: &Connection, ids: &[i64]) -> Result<Vec<i64>, StoreError> {
    let mut st = c.prepare_cached("SELECT 1 FROM indexed WHERE id = ?1")?;
    let mut out = Vec::new();
    for id in ids {
        if st.query_row([id], |_| Ok(())).optional()?.is_none() {
            out.push(*id);
        }
    }
    Ok(out)
}

pub fn add(c: &Connection, rows: &[ArchiveText]) -> Result<(), StoreError> {
    let tx = c.unchecked_transaction()?;
    for t in rows {
        fulltext::insert(&tx, t)?;
        tx.execute(
            "INSERT OR REPLACE INTO indexed (id, created, subject) VALUES (?1, ?2, ?3)",
            params![t.id.0, t.created, t.subject],
        )?;
    }
    tx.commit()?;
    Ok(())
}

pub fn count(c: &Connection) -> Result<u64, StoreError> {
    Ok(c.query_row("SELECT COUNT(*) FROM indexed", [], |r| r.get::<_, i64>(0))? as u64)
}

pub fn remove(c: &Connection, ids: &[i64]) -> Result<(), StoreError> {
    let tx = c.unchecked_transaction()?;
    for id in ids {
        fulltext::delete(&tx, *id)?;
        tx.execute("DELETE FROM indexed WHERE id = ?1", [id])?;
    }
    tx.commit()?;
    Ok(())
}

/// Ids of indexed messages dated before `before` that are not in `keep`.
pub fn older_than(c: &Connection, before: i64, keep: &std::collections::HashSet<i64>) -> Result<Vec<i64>, StoreError> {
    let mut st = c.prepare("SELECT id FROM indexed WHERE created < ?1")?;
    let ids: Vec<i64> = st.query_map([before], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(ids.into_iter().filter(|i| !keep.contains(i)).collect())
}

/// Forgets everything; the indexer reads the whole archive again.
pub fn clear(c: &Connection) -> Result<(), StoreError> {
    fulltext::clear(c)?;
    c.execute_batch("DELETE FROM indexed; DELETE FROM state;")?;
    Ok(())
}

/// One page of the ids whose text (and subject) match, newest first.
pub fn matches(
    c: &Connection,
    text: Option<&str>,
    subject: Option<&str>,
    limit: usize,
    offset: usize,
) -> Result<Vec<i64>, StoreError> {
    let mut sql = String::from("SELECT i.id FROM indexed i WHERE 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(text) = text {
        let Some(q) = fulltext::query(c, text)? else { return Ok(Vec::new()) };
        let common = fulltext::common(c, &q)?;
        args.push(q.into());
        sql.push_str(&fulltext::condition("i.id", &format!("?{}", args.len()), common));
    }
    if let Some(s) = subject {
        args.push(like(s).into());
        sql.push_str(&format!(" AND i.subject LIKE ?{} ESCAPE '\\'", args.len()));
    }
    sql.push_str(&format!(" ORDER BY i.created DESC, i.id DESC LIMIT {limit} OFFSET {offset}"));
    let mut st = c.prepare(&sql)?;
    let ids = st.query_map(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(ids)
}

/// The decoded subjects of these messages, where the index holds them.
pub fn subjects(c: &Connection, ids: &[i64]) -> Result<std::collections::HashMap<i64, String>, StoreError> {
    let mut st = c.prepare_cached("SELECT subject FROM indexed WHERE id = ?1")?;
    let mut out = std::collections::HashMap::new();
    for id in ids {
        if let Some(s) = st.query_row([id], |r| r.get::<_, String>(0)).optional()? {
            out.insert(*id, s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Id;

    /// A word in more rows than `fulltext::common` counts is searched by
    /// walking the rows newest first, a rarer one by gathering its matches:
    /// both give the rows that hold it, newest first, page after page.
    #[tokio::test]
    async fn common_and_rare_words_are_found_alike() {
        let path = std::env::temp_dir().join(format!("hato-index-{}.sqlite", crate::ids::token(8)));
        let index = LocalIndex::open(&path).expect("open the index");
        // Ids out of date order, and dates shared by three rows each.
        let rows: Vec<(i64, i64, bool, bool)> =
            (0..21_000).map(|i| ((i * 7919) % 21_013 + 1, i / 3, i % 21 != 0, i % 97 == 0)).collect();
        let texts: Vec<ArchiveText> = rows
            .iter()
            .map(|&(id, created, shared, needle)| ArchiveText {
                id: Id(id),
                created,
                subject: "s".into(),
                body: format!("{} {}", if shared { "shared" } else { "other" }, if needle { "needle" } else { "" }),
                ..Default::default()
            })
            .collect();
        let expected = |pick: fn(&(i64, i64, bool, bool)) -> bool, limit: usize, offset: usize| {
            let mut held: Vec<(i64, i64)> = rows.iter().filter(|r| pick(r)).map(|r| (r.1, r.0)).collect();
            held.sort_by(|a, b| b.cmp(a));
            held.into_iter().skip(offset).take(limit).map(|(_, id)| id).collect::<Vec<i64>>()
        };
        let found = index
            .with(move |c| {
                add(c, &texts)?;
                let common = |w: &str| fulltext::query(c, w).map(|q| q.map(|q| fulltext::common(c, &q)));
                Ok((
                    (common("shared")?.transpose()?, common("needle")?.transpose()?),
                    matches(c, Some("shared"), None, 30, 0)?,
                    matches(c, Some("shared"), None, 30, 12_000)?,
                    matches(c, Some("needle"), None, 30, 100)?,
                ))
            })
            .await
            .expect("index and search");
        assert_eq!(found.0, (Some(true), Some(false)), "20,000 rows are common, 217 are not");
        assert_eq!(found.1, expected(|r| r.2, 30, 0));
        assert_eq!(found.2, expected(|r| r.2, 30, 12_000));
        assert_eq!(found.3, expected(|r| r.3, 30, 100));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    /// An index file written by an earlier Hato (with a copy of every text) is started again.
    #[tokio::test]
    async fn an_index_with_copies_of_the_text_is_started_again() {
        let path = std::env::temp_dir().join(format!("hato-index-{}.sqlite", crate::ids::token(8)));
        {
            let c = Connection::open(&path).expect("open");
            c.execute_batch(
                "CREATE VIRTUAL TABLE archive_text USING fts5(subject, addresses, body, attachments, tokenize = 'trigram');
                 CREATE TABLE indexed (id INTEGER PRIMARY KEY, created INTEGER NOT NULL);
                 CREATE TABLE state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                 INSERT INTO archive_text (rowid, subject, addresses, body, attachments) VALUES (1, 's', '', 'text', '');
                 INSERT INTO indexed (id, created) VALUES (1, 5);
                 INSERT INTO state (name, value) VALUES ('cursor_at', 5);",
            )
            .expect("old schema");
        }
        let index = LocalIndex::open(&path).expect("open the index");
        let (held, at) = index.with(|c| Ok((count(c)?, cursor(c)?.0))).await.expect("read");
        assert_eq!((held, at), (0, 0), "nothing held, the cursor back at the start");
        let text = ArchiveText {
            id: Id(1),
            created: 5,
            subject: "報告".into(),
            body: "会議の議事録".into(),
            ..Default::default()
        };
        let found = index
            .with(move |c| {
                add(c, &[text])?;
                Ok((matches(c, Some("会議"), None, 10, 0)?, subjects(c, &[1])?))
            })
            .await
            .expect("index and search");
        assert_eq!(found.0, vec![1]);
        assert_eq!(found.1.get(&1).map(String::as_str), Some("報告"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
