//! Kill -9 while clients send: every acknowledged message survives, none twice.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn kill_9_loses_no_acknowledged_message() {
    let mut s = Server::start("crash", "");
    s.populate("hato.test", &["alice"]);
    let ackfile = s.dir.join("acked.txt");
    let port = s.mx.to_string();
    let blast = Command::new(PYTHON)
        .args([&py_script("blast.py"), &port, "alice@hato.test", ackfile.to_str().unwrap(), "6", "12"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start blast.py");
    let started = Instant::now();
    let mut kills = 0;
    // Kill at uneven moments so some land mid-DATA, some mid-commit, some mid-delivery.
    let pauses = [700u64, 350, 900, 450, 1100, 300, 800];
    for p in pauses {
        std::thread::sleep(Duration::from_millis(p));
        if started.elapsed() > Duration::from_secs(10) {
            break;
        }
        s.kill9();
        kills += 1;
        std::thread::sleep(Duration::from_millis(100));
        s.spawn();
    }
    let out = blast.wait_with_output().unwrap();
    let attempted = String::from_utf8_lossy(&out.stdout).to_string();

    // Let the queue drain, then count.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !s.queue().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(s.queue().is_empty(), "queue did not drain:\n{}", s.log());
    let acked: Vec<String> = std::fs::read_to_string(&ackfile).unwrap().lines().map(String::from).collect();
    let mut stored: HashMap<String, usize> = HashMap::new();
    for m in s.mailbox("alice@hato.test", "INBOX") {
        *stored.entry(m["message_id"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert!(kills >= 5, "the test must actually crash the server");
    assert!(acked.len() > 50, "too few messages were acknowledged to mean anything ({attempted})");
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains_key(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged messages lost after {kills} kills: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    let twice: Vec<(&String, &usize)> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "messages stored twice: {twice:?}");
    eprintln!("crash test: {kills} kills, {} acknowledged, {} stored, {attempted}", acked.len(), stored.len());
}
