//! A slowloris attacker on every port — connections that trickle a byte at a
//! time and never finish a line or a TLS handshake — does not stop Hato from
//! serving other clients: the attacker's address gets its per-address share
//! of connections and no more, and every other client is greeted and
//! answered while the attack goes on.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;

/// A connection from 127.0.0.2 (not exempt from the per-address limits).
fn from_attacker(port: u16) -> Option<TcpStream> {
    let socket = connect_from("127.0.0.2", port)?;
    socket.set_write_timeout(Some(Duration::from_secs(1))).ok()?;
    Some(socket)
}

/// Connects from `source` (a loopback address) to 127.0.0.1:`port`.
fn connect_from(source: &str, port: u16) -> Option<TcpStream> {
    // std cannot bind before connecting; nix can, on a raw socket we then wrap.
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, socket};
    use std::os::fd::{FromRawFd, IntoRawFd};
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::empty(), None).ok()?;
    let src: SocketAddr = format!("{source}:0").parse().ok()?;
    let dst: SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
    let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (src, dst) else { return None };
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(src)).ok()?;
    connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(dst)).ok()?;
    // SAFETY: the descriptor was just made by socket() and is owned by nothing else.
    Some(unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) })
}

/// A client from 127.0.0.1 is greeted and gets an answer to one command.
fn served(port: u16, greeting: &str, command: &[u8], answer: &str) -> Result<(), String> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
    let mut line = String::new();
    r.read_line(&mut line).map_err(|e| format!("greeting: {e}"))?;
    if !line.starts_with(greeting) {
        return Err(format!("greeting {line:?}"));
    }
    (&s).write_all(command).map_err(|e| e.to_string())?;
    line.clear();
    r.read_line(&mut line).map_err(|e| format!("answer: {e}"))?;
    if line.contains(answer) { Ok(()) } else { Err(format!("answer {line:?}")) }
}

#[test]
fn a_slowloris_on_every_port_leaves_the_others_served() {
    let s = Server::start("slowloris", "[limits]\nmax_connections_per_ip = 20\n");
    let plain = [s.mx, s.submission, s.pop3, s.imap, s.managesieve];
    let tls = [s.submissions, s.pop3s, s.imaps, s.web];
    // The attack: as many connections as it can get on every port, each fed a
    // byte of an endless line (or of a TLS record) every 200 ms.
    let attacking = Arc::new(AtomicBool::new(true));
    let mut held = 0;
    let mut trickles = Vec::new();
    for port in plain.iter().chain(&tls) {
        let mut mine = Vec::new();
        for _ in 0..40 {
            if let Some(c) = from_attacker(*port) {
                mine.push(c);
            }
        }
        held += mine.len();
        let on = attacking.clone();
        let is_tls = tls.contains(port);
        trickles.push(std::thread::spawn(move || {
            // A TLS record header promising 16 KB, or the start of a command line.
            let first: &[u8] = if is_tls { b"\x16\x03\x01\x40\x00" } else { b"NOOP " };
            for c in &mut mine {
                let _ = c.write_all(first);
            }
            while on.load(Ordering::Relaxed) {
                for c in &mut mine {
                    let _ = c.write_all(b"a");
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }));
    }
    assert!(held > 0);
    // Meanwhile, for several seconds, every port serves others at once.
    for round in 0..5 {
        for (port, greeting, command, answer) in [
            (s.mx, "220", &b"NOOP\r\n"[..], "250"),
            (s.submission, "220", b"NOOP\r\n", "250"),
            (s.pop3, "+OK", b"CAPA\r\n", "+OK"),
            (s.imap, "* OK", b"a NOOP\r\n", "a OK"),
            (s.managesieve, "\"IMPLEMENTATION\"", b"NOOP\r\n", "\""),
        ] {
            served(port, greeting, command, answer).unwrap_or_else(|e| panic!("round {round}, port {port}: {e}"));
        }
        for port in tls {
            let out = std::process::Command::new("openssl")
                .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-brief"])
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stderr);
            assert!(text.contains("CONNECTION ESTABLISHED"), "round {round}, TLS port {port}: {text}");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    attacking.store(false, Ordering::Relaxed);
    for t in trickles {
        t.join().unwrap();
    }
    let log = s.log();
    assert!(
        log.lines().any(|l| l.contains("peer=127.0.0.2") && l.contains("refusal=TooManyConnections")),
        "the attacker was capped: {log}"
    );
}
