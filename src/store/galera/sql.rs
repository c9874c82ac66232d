//! Small helpers over mysql_async: rows converted without panicking (a row
//! that does not fit its Rust type is a `StoreError::Backend`, never a panic
//! as mysql_async's own `FromRow` conversion would be), and the number of
//! rows a statement changed.

use mysql_async::prelude::{FromRow, Queryable};
use mysql_async::{Conn, Params, Row, Value};

use crate::store::StoreError;

/// What every area function works in: a transaction, or for a read of one
/// statement a bare connection (autocommit), which saves the two round
/// trips of START TRANSACTION and COMMIT (see `Cluster::lookup`).
pub enum Tx<'a> {
    Transaction(mysql_async::Transaction<'a>),
    Autocommit(&'a mut Conn),
}

/// Runs `$body` with `$q` bound to whichever queryable `$tx` holds.
macro_rules! on {
    ($tx:expr, $q:ident => $body:expr) => {
        match $tx {
            Tx::Transaction($q) => $body,
            Tx::Autocommit($q) => $body,
        }
    };
}

fn convert<T: FromRow>(row: Row) -> Result<T, StoreError> {
    mysql_async::from_row_opt(row).map_err(|e| StoreError::Backend(format!("unexpected row from MariaDB: {e}")))
}

/// Every row of a query.
pub async fn all<T: FromRow + Send + 'static>(
    tx: &mut Tx<'_>,
    sql: &str,
    params: impl Into<Params> + Send,
) -> Result<Vec<T>, StoreError> {
    let rows: Vec<Row> = on!(tx, q => q.exec(sql, params).await?);
    rows.into_iter().map(convert).collect()
}

/// The first row of a query, if any.
pub async fn one<T: FromRow + Send + 'static>(
    tx: &mut Tx<'_>,
    sql: &str,
    params: impl Into<Params> + Send,
) -> Result<Option<T>, StoreError> {
    let row: Option<Row> = on!(tx, q => q.exec_first(sql, params).await?);
    row.map(convert).transpose()
}

/// Runs a statement; returns how many rows it changed.
pub async fn run(tx: &mut Tx<'_>, sql: &str, params: impl Into<Params> + Send) -> Result<u64, StoreError> {
    on!(tx, q => {
        q.exec_drop(sql, params).await?;
        Ok(q.affected_rows())
    })
}

/// Positional parameters for statements with more than tuples allow.
pub fn values(v: Vec<Value>) -> Params {
    if v.is_empty() { Params::Empty } else { Params::Positional(v) }
}

/// `?, ?, …` for an `IN (…)` list of `n` values.
pub fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// A LIKE pattern matching `s` anywhere, with LIKE's own characters escaped
/// (`\` is MariaDB's default escape character).
pub fn contains(s: &str) -> String {
    format!("%{}%", s.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

/// One statement of a `batch`: SQL with `?` placeholders and their values.
pub struct Stmt {
    pub sql: String,
    pub values: Vec<Value>,
}

impl Stmt {
    pub fn new(sql: impl Into<String>, values: Vec<Value>) -> Stmt {
        Stmt { sql: sql.into(), values }
    }
}

/// Runs several statements in one round trip (a multi-statement query of
/// the text protocol, each value written out as a literal: numbers as they
/// are, text and bytes in hex, so nothing depends on escaping rules or the
/// server's sql_mode).
/// Each statement costs a round trip otherwise, and on a cluster the round
/// trips are what a transaction's time is made of. MariaDB stops at the
/// first statement that fails and returns its error. The SQL must have no
/// `?` other than the placeholders.
pub async fn batch(tx: &mut Tx<'_>, statements: &[Stmt]) -> Result<(), StoreError> {
    if statements.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for st in statements {
        let mut values = st.values.iter();
        for (i, part) in st.sql.split('?').enumerate() {
            if i > 0 {
                let v = values.next().ok_or_else(|| StoreError::Backend(format!("too few values for: {}", st.sql)))?;
                literal(&mut text, v)?;
            }
            text.push_str(part);
        }
        if values.next().is_some() {
            return Err(StoreError::Backend(format!("too many values for: {}", st.sql)));
        }
        text.push_str(";\n");
    }
    on!(tx, q => q.query_iter(text).await?.drop_result().await?);
    Ok(())
}

fn literal(out: &mut String, v: &Value) -> Result<(), StoreError> {
    use std::fmt::Write;
    match v {
        Value::NULL => out.push_str("NULL"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Bytes(b) if b.is_empty() => out.push_str("''"),
        Value::Bytes(b) => {
            out.reserve(b.len() * 2 + 3);
            out.push_str("X'");
            for byte in b {
                let _ = write!(out, "{byte:02X}");
            }
            out.push('\'');
        }
        other => return Err(StoreError::Backend(format!("no batch literal for {other:?}"))),
    }
    Ok(())
}

/// `(?, ?, …), (?, ?, …)`: `rows` groups of `width` placeholders.
pub fn rows(rows: usize, width: usize) -> String {
    let one = format!("({})", marks(width));
    vec![one; rows].join(", ")
}
