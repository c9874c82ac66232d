//! What can go wrong in the store, by kind rather than by backend.
//!
//! Callers decide by the kind: NotFound/Exists/Invalid/Quota are answers
//! about the request (IMAP NO, HTTP 4xx, exit code 3/4/2); Conflict and
//! Unavailable are temporary (SMTP 451, IMAP NO [UNAVAILABLE]): the backend
//! has already retried them and the client should try again later; Backend is
//! anything else the database reported.

use thiserror::Error;

#[derive(Clone, Debug, Error, PartialEq)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("over quota: {0}")]
    Quota(String),
    /// A concurrent write won (SQLite busy, Galera certification failure or
    /// deadlock) and retrying did not get through in time.
    #[error("the store is busy with conflicting writes ({0}); try again")]
    Conflict(String),
    /// The database cannot be reached or is not serving (a Galera node that
    /// is not Primary/Synced, a lost connection, a full or unwritable disk).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// Stored data broke a rule of the schema (a foreign key, a unique key
    /// nobody expected to meet): a bug or damaged data, not a bad request.
    #[error("the store refused inconsistent data: {0}")]
    Constraint(String),
    #[error("storage failure: {0} (check disk space and the data directory's permissions)")]
    Backend(String),
}

impl StoreError {
    /// Whether trying the same thing again later may work.
    pub fn is_temporary(&self) -> bool {
        matches!(self, StoreError::Conflict(_) | StoreError::Unavailable(_) | StoreError::Backend(_))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match &e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound("row".into()),
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                C::DatabaseBusy | C::DatabaseLocked => StoreError::Conflict(e.to_string()),
                C::ConstraintViolation => StoreError::Constraint(e.to_string()),
                C::DiskFull | C::CannotOpen | C::ReadOnly | C::SystemIoFailure | C::PermissionDenied => {
                    StoreError::Unavailable(e.to_string())
                }
                _ => StoreError::Backend(e.to_string()),
            },
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

impl From<mysql_async::Error> for StoreError {
    fn from(e: mysql_async::Error) -> Self {
        use mysql_async::Error as E;
        match &e {
            E::Server(s) => match s.code {
                // Deadlock (Galera reports a failed certification so), lock
                // wait timeout, error during commit.
                1213 | 1205 | 1180 => StoreError::Conflict(e.to_string()),
                // WSREP not ready (1047), shutting down, connection killed,
                // too many connections, read-only, server gone or lost.
                1047 | 1053 | 1927 | 1040 | 1290 | 2006 | 2013 => StoreError::Unavailable(e.to_string()),
                // Duplicate key, foreign key.
                1062 | 1451 | 1452 | 1216 | 1217 => StoreError::Constraint(e.to_string()),
                _ => StoreError::Backend(e.to_string()),
            },
            E::Io(_) | E::Driver(_) => StoreError::Unavailable(e.to_string()),
            E::Other(_) | E::Url(_) => StoreError::Backend(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_errors_keep_their_kind() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);").unwrap();
        let dup: StoreError = c.execute("INSERT INTO t VALUES (1)", []).unwrap_err().into();
        assert!(matches!(dup, StoreError::Constraint(_)), "{dup:?}");
        let none: StoreError =
            c.query_row("SELECT k FROM t WHERE k = 2", [], |r| r.get::<_, i64>(0)).unwrap_err().into();
        assert!(matches!(none, StoreError::NotFound(_)));
        assert!(StoreError::Unavailable("x".into()).is_temporary());
        assert!(!StoreError::Quota("x".into()).is_temporary());
    }
}
