//! A raw IMAP conversation: commands written as the RFC shows them, the
//! server's answer read back whole (literals included), for conformance tests
//! that must see every untagged response.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Imap {
    r: BufReader<TcpStream>,
    w: TcpStream,
    tag: u32,
}

impl Imap {
    /// Connects to a plain IMAP port and logs in.
    pub fn login(port: u16, user: &str, password: &str) -> Imap {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = Imap { r: BufReader::new(s.try_clone().unwrap()), w: s, tag: 0 };
        let greeting = c.line();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        c.ok(&format!("LOGIN {user} {password}"));
        c
    }

    /// What the server sends unasked (NOTIFY), up to and including the first
    /// line that contains `needle`; a 30 s silence fails the test.
    pub fn unsolicited_until(&mut self, needle: &str) -> String {
        let mut all = String::new();
        loop {
            let line = self.line();
            all.push_str(&line);
            if line.contains(needle) {
                return all;
            }
        }
    }

    /// One line as sent, CRLF included; a literal it announces is read with it.
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.r.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the server closed the connection");
        // "... {12}\r\n" announces 12 bytes that belong to this response.
        while let Some(n) = literal_len(&line) {
            let mut data = vec![0; n];
            self.r.read_exact(&mut data).unwrap();
            line.push_str(&String::from_utf8_lossy(&data));
            let mut rest = String::new();
            self.r.read_line(&mut rest).unwrap();
            line.push_str(&rest);
        }
        line
    }

    /// Sends `command` with a fresh tag; returns everything up to and
    /// including the tagged completion.
    pub fn cmd(&mut self, command: &str) -> String {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        self.w.write_all(format!("{tag} {command}\r\n").as_bytes()).unwrap();
        self.until(&tag)
    }

    fn until(&mut self, tag: &str) -> String {
        let mut all = String::new();
        loop {
            let line = self.line();
            all.push_str(&line);
            if line.starts_with(&format!("{tag} ")) {
                return all;
            }
        }
    }

    /// As `cmd`, and the command must succeed.
    pub fn ok(&mut self, command: &str) -> String {
        let out = self.cmd(command);
        let last = out.lines().last().unwrap_or_default();
        assert!(last.split(' ').nth(1) == Some("OK"), "{command} →\n{out}");
        out
    }

    /// APPENDs `message` (a synchronising literal) to `mailbox` with `flags`.
    pub fn append(&mut self, mailbox: &str, flags: &str, message: &[u8]) -> String {
        self.append_as("", mailbox, flags, message)
    }

    /// APPEND with a literal8 (`~{n}`, RFC 3516's APPEND of binary content).
    pub fn append_binary(&mut self, mailbox: &str, flags: &str, message: &[u8]) -> String {
        self.append_as("~", mailbox, flags, message)
    }

    /// Sends `command` followed by literals, each after its own text (flags,
    /// a date) and as a non-synchronising literal (LITERAL+): one APPEND of
    /// several messages (MULTIAPPEND) is `("", m1), (" (\\Seen)", m2)`.
    pub fn cmd_literals(&mut self, command: &str, parts: &[(&str, &[u8])]) -> String {
        self.cmd_literals_then(command, parts, "")
    }

    /// As `cmd_literals`, with `tail` after the last literal.
    pub fn cmd_literals_then(&mut self, command: &str, parts: &[(&str, &[u8])], tail: &str) -> String {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        let mut bytes = format!("{tag} {command}").into_bytes();
        for (text, literal) in parts {
            bytes.extend_from_slice(format!("{text} {{{}+}}\r\n", literal.len()).as_bytes());
            bytes.extend_from_slice(literal);
        }
        bytes.extend_from_slice(format!("{tail}\r\n").as_bytes());
        self.w.write_all(&bytes).unwrap();
        self.until(&tag)
    }

    fn append_as(&mut self, literal: &str, mailbox: &str, flags: &str, message: &[u8]) -> String {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        let command = format!("{tag} APPEND {mailbox} ({flags}) {literal}{{{}}}\r\n", message.len());
        self.w.write_all(command.as_bytes()).unwrap();
        let go = self.line();
        assert!(go.starts_with('+'), "{go}");
        self.w.write_all(message).unwrap();
        self.w.write_all(b"\r\n").unwrap();
        let out = self.until(&tag);
        assert!(out.lines().last().unwrap_or_default().contains(" OK"), "APPEND →\n{out}");
        out
    }
}

fn literal_len(line: &str) -> Option<usize> {
    let body = line.strip_suffix("}\r\n")?;
    let open = body.rfind('{')?;
    body[open + 1..].trim_end_matches('+').parse().ok()
}
