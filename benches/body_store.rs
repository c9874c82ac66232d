//! Durable body storage: in SQLite (what Hato does) vs one file per body.
//!
//! Each variant stores N bodies the way an SMTP accept must: durably, one
//! commit per message (no group commit, to compare the raw cost).
//!   in-db:  INSERT the body into a WAL database with synchronous=FULL, COMMIT.
//!   files:  write the body to its own file, fsync it, fsync the directory,
//!           then INSERT a row naming the file and COMMIT (the row is needed
//!           to know the message exists).
//! Run: cargo bench --bench body_store

use std::io::Write;
use std::time::Instant;

use rusqlite::{Connection, params};

fn db(path: &std::path::Path) -> Connection {
    let c = Connection::open(path).unwrap();
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE IF NOT EXISTS b (id INTEGER PRIMARY KEY, data BLOB, file TEXT);")
        .unwrap();
    c
}

fn in_db(dir: &std::path::Path, body: &[u8], n: usize) -> f64 {
    let c = db(&dir.join("in.db"));
    let t = Instant::now();
    for i in 0..n {
        c.execute("INSERT INTO b (id, data) VALUES (?1, ?2)", params![i as i64, body]).unwrap();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn files(dir: &std::path::Path, body: &[u8], n: usize) -> f64 {
    let c = db(&dir.join("files.db"));
    let bodies = dir.join("bodies");
    std::fs::create_dir_all(&bodies).unwrap();
    let dirf = std::fs::File::open(&bodies).unwrap();
    let t = Instant::now();
    for i in 0..n {
        let p = bodies.join(format!("{i}"));
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(body).unwrap();
        f.sync_all().unwrap();
        dirf.sync_all().unwrap();
        c.execute("INSERT INTO b (id, file) VALUES (?1, ?2)", params![i as i64, p.to_str().unwrap()]).unwrap();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let base = std::env::temp_dir().join(format!("hato-body-bench-{}", std::process::id()));
    println!("| body | in SQLite (msg/s) | file per body (msg/s) | ratio |");
    println!("|---|---|---|---|");
    for (label, size, n) in [("1 KB", 1024, 2000), ("100 KB", 100 * 1024, 500), ("1 MB", 1024 * 1024, 100)] {
        let body = vec![b'x'; size];
        let d1 = base.join(format!("db-{size}"));
        let d2 = base.join(format!("f-{size}"));
        std::fs::create_dir_all(&d1).unwrap();
        std::fs::create_dir_all(&d2).unwrap();
        let a = in_db(&d1, &body, n);
        let b = files(&d2, &body, n);
        println!("| {label} | {a:.0} | {b:.0} | {:.2} |", a / b);
    }
    std::fs::remove_dir_all(&base).ok();
}
