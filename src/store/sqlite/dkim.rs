//! DKIM signing keys per domain, and the settings a cluster shares.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{DkimKey, SharedItem, StoreError};

pub fn put(c: &Connection, k: &DkimKey, now: i64) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO dkim_keys (domain, selector, algorithm, private_key, public_key, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (domain) DO UPDATE SET selector = excluded.selector, algorithm = excluded.algorithm,
           private_key = excluded.private_key, public_key = excluded.public_key, created = excluded.created",
        params![k.domain, k.selector, k.algorithm, k.private_key, k.public_key, now],
    )?;
    Ok(())
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<DkimKey> {
    Ok(DkimKey {
        domain: r.get(0)?,
        selector: r.get(1)?,
        algorithm: r.get(2)?,
        private_key: r.get(3)?,
        public_key: r.get(4)?,
    })
}

pub fn get(c: &Connection, domain: &str) -> Result<Option<DkimKey>, StoreError> {
    Ok(c.query_row(
        "SELECT domain, selector, algorithm, private_key, public_key FROM dkim_keys WHERE domain = ?1",
        [domain],
        row,
    )
    .optional()?)
}

pub fn list(c: &Connection) -> Result<Vec<DkimKey>, StoreError> {
    let mut st =
        c.prepare("SELECT domain, selector, algorithm, private_key, public_key FROM dkim_keys ORDER BY domain")?;
    Ok(st.query_map([], row)?.collect::<Result<_, _>>()?)
}

pub fn remove(c: &Connection, domain: &str) -> Result<bool, StoreError> {
    Ok(c.execute("DELETE FROM dkim_keys WHERE domain = ?1", [domain])? > 0)
}

pub fn shared_put(c: &Connection, name: &str, value: &[u8], node: &str, now: i64) -> Result<i64, StoreError> {
    Ok(c.query_row(
        "INSERT INTO shared_settings (name, version, value, node, at) VALUES (?1, 1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET version = version + 1, value = excluded.value, node = excluded.node,
           at = excluded.at
         RETURNING version",
        params![name, value, node, now],
        |r| r.get(0),
    )?)
}

pub fn shared_items(c: &Connection) -> Result<Vec<SharedItem>, StoreError> {
    let mut st = c.prepare("SELECT name, version, value, node, at FROM shared_settings ORDER BY name")?;
    let rows = st.query_map([], |r| {
        Ok(SharedItem { name: r.get(0)?, version: r.get(1)?, value: r.get(2)?, node: r.get(3)?, at: r.get(4)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
