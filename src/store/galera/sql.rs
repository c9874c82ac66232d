//! Small helpers over mysql_async: rows converted without panicking (a row
//! that does not fit its Rust type is a `StoreError::Backend`, never a panic
//! as mysql_async's own `FromRow` conversion would be), and the number of
//! rows a statement changed.

use mysql_async::prelude::{FromRow, Queryable};
use mysql_async::{Params, Row, Value};

use crate::store::StoreError;

/// The transaction every area function works in.
pub type Tx<'a> = mysql_async::Transaction<'a>;

fn convert<T: FromRow>(row: Row) -> Result<T, StoreError> {
    mysql_async::from_row_opt(row).map_err(|e| StoreError::Backend(format!("unexpected row from MariaDB: {e}")))
}

/// Every row of a query.
pub async fn all<T: FromRow + Send + 'static>(
    tx: &mut Tx<'_>,
    sql: &str,
    params: impl Into<Params> + Send,
) -> Result<Vec<T>, StoreError> {
    let rows: Vec<Row> = tx.exec(sql, params).await?;
    rows.into_iter().map(convert).collect()
}

/// The first row of a query, if any.
pub async fn one<T: FromRow + Send + 'static>(
    tx: &mut Tx<'_>,
    sql: &str,
    params: impl Into<Params> + Send,
) -> Result<Option<T>, StoreError> {
    let row: Option<Row> = tx.exec_first(sql, params).await?;
    row.map(convert).transpose()
}

/// Runs a statement; returns how many rows it changed.
pub async fn run(tx: &mut Tx<'_>, sql: &str, params: impl Into<Params> + Send) -> Result<u64, StoreError> {
    tx.exec_drop(sql, params).await?;
    Ok(tx.affected_rows())
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
