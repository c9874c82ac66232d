//! A 100,000-message mailbox: imported with `hato ctl mailbox import`, then
//! SELECT, FETCH 1:* (FLAGS UID), UID SEARCH and a CONDSTORE re-sync over
//! IMAPS with imaplib. Timings are printed (docs/benchmarks.md records them);
//! only the results are asserted.

mod common;

use common::*;

const COUNT: usize = 100_000;

#[test]
fn hundred_thousand_messages() {
    let s = Server::start("imap-large", "");
    s.populate("hato.test", &["alice"]);
    let mut mbox = Vec::with_capacity(COUNT * 400);
    for i in 0..COUNT {
        let msg = format!(
            "From: Sender {n} <sender{n}@example.org>\r\nTo: alice@hato.test\r\nSubject: message {i}\r\n\
             Message-ID: <large-{i}@example.org>\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\nbody of message {i}\r\n",
            n = i % 10
        );
        hato::mbox::write(&mut mbox, "sender@example.org", 0, msg.as_bytes());
    }
    let file = s.dir.join("large.mbox");
    std::fs::write(&file, &mbox).unwrap();
    let started = std::time::Instant::now();
    let out = s.ctl(&["mailbox", "import", "alice@hato.test", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("import {:.3} s for {COUNT} messages", started.elapsed().as_secs_f64());
    let (ok, out) = run(
        PYTHON,
        &[&py_script("imap_large.py"), &s.imaps.to_string(), "alice@hato.test", "pw-alice", &COUNT.to_string()],
    );
    eprintln!("{out}");
    assert!(ok && out.contains("large mailbox ok"), "{out}\n{}", s.log());
}
