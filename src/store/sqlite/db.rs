//! SQLite connections: one writer thread with group commit, a pool of readers.
//!
//! Why a writer thread: SQLite allows one writer at a time, and the cost of a
//! durable commit is the fsync of the WAL. The writer takes every job waiting
//! in its channel, runs each inside its own SAVEPOINT (so one failing job does
//! not undo the others), commits once, and only then answers the callers.
//! Twenty concurrent SMTP sessions thus share one fsync instead of queuing
//! for twenty. Invariant: no job's result reaches its caller before COMMIT
//! returned; with `synchronous=FULL` that means the data is on disk.
//!
//! Readers also see the archive's index file (`store::archive_index`),
//! attached as `fts`; the writer never touches it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::{mailbox, schema};
use crate::store::StoreError;

/// Largest number of jobs folded into one transaction; bounds commit latency.
const MAX_BATCH: usize = 256;

type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A job runs inside a savepoint (or is told why it cannot) and says whether it
/// succeeded, plus what to do once the commit's outcome is known.
type Job = Box<dyn FnOnce(Result<&Connection, StoreError>) -> (bool, Completion) + Send>;

pub struct Db {
    path: PathBuf,
    index: PathBuf,
    jobs: Mutex<mpsc::Sender<Job>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Bounds concurrent reads, and with them the reader connections (each has
    /// its own page cache): thousands of sessions must not mean thousands of caches.
    read_slots: Arc<tokio::sync::Semaphore>,
}

/// Concurrent readers: enough to keep the cores busy and ride out fsync stalls.
fn reader_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get() * 2).unwrap_or(4).clamp(4, 16)
}

fn open_conn(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // FULL: a commit that returned is on disk, which is what lets SMTP say 250.
    // journal_size_limit: a burst of large mail grows the WAL file, and SQLite
    // would keep it that size for good; after a checkpoint it is cut to 16 MiB.
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
         PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16000; PRAGMA mmap_size=1073741824;
         PRAGMA journal_size_limit=16777216;",
    )?;
    Ok(conn)
}

fn attach_index(conn: &Connection, index: &Path) -> Result<(), StoreError> {
    let name = index.to_str().ok_or_else(|| {
        StoreError::Unavailable(format!(
            "the archive index path {} is not UTF-8; move the data directory",
            index.display()
        ))
    })?;
    conn.execute("ATTACH DATABASE ?1 AS fts", [name])?;
    Ok(())
}

impl Db {
    /// Opens (creating if needed) and migrates the database, then starts the
    /// writer. `index` is the archive's index file, already opened.
    pub fn open(path: &Path, index: &Path) -> Result<Db, StoreError> {
        let mut conn = open_conn(path)?;
        schema::migrate(&mut conn)?;
        let filled = mailbox::backfill_summaries(&conn)?;
        if filled > 0 {
            tracing::info!(target: "hato::store", "summarised {filled} stored messages");
        }
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| StoreError::Backend(format!("cannot start the store writer thread: {e}")))?;
        Ok(Db {
            path: path.to_path_buf(),
            index: index.to_path_buf(),
            jobs: Mutex::new(tx),
            readers: Arc::new(Mutex::new(Vec::new())),
            read_slots: Arc::new(tokio::sync::Semaphore::new(reader_count())),
        })
    }

    /// Runs `f` in a write transaction; returns once it is durably committed.
    pub async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = conn.and_then(f);
            let ok = result.is_ok();
            let completion: Completion = Box::new(move |commit| {
                let _ = tx.send(commit.and(result));
            });
            (ok, completion)
        });
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| StoreError::Backend("the store writer has stopped".into()))?;
        rx.await.map_err(|_| StoreError::Backend("the store writer dropped a job".into()))?
    }

    /// Runs `f` on a read connection (a consistent snapshot for its duration).
    pub async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let readers = self.readers.clone();
        let (path, index) = (self.path.clone(), self.index.clone());
        let slot = self
            .read_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("the store is closed".into()))?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let pooled = readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match pooled {
                Some(c) => c,
                None => {
                    let c = open_conn(&path)?;
                    attach_index(&c, &index)?;
                    c
                }
            };
            let result = (|| {
                let tx = conn.unchecked_transaction()?;
                let r = f(&tx);
                tx.finish()?;
                r
            })();
            readers.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let err = StoreError::Backend(format!("cannot begin a write transaction: {e}"));
            tracing::error!(target: "hato::store", "{err}");
            for job in batch {
                let (_, done) = job(Err(err.clone()));
                done(Err(err.clone()));
            }
            continue;
        }
        let mut completions = Vec::with_capacity(batch.len());
        for job in batch {
            if let Err(e) = conn.execute_batch("SAVEPOINT job") {
                let err = StoreError::Backend(format!("cannot open a savepoint: {e}"));
                completions.push(job(Err(err)).1);
                continue;
            }
            let (ok, done) = job(Ok(&conn));
            let end = if ok { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
            if let Err(e) = conn.execute_batch(end) {
                tracing::error!(target: "hato::store", "savepoint end failed: {e}");
            }
            completions.push(done);
        }
        let commit = conn.execute_batch("COMMIT").map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            StoreError::Backend(format!("commit failed, nothing in this batch was stored: {e}"))
        });
        for done in completions {
            done(commit.clone());
        }
    }
}
