//! The entry points of the fuzz targets (fuzz/fuzz_targets/, run with
//! `scripts/fuzz`): every parser that reads what a peer, a file or a DNS
//! answer controls. Each target is one line calling one of these, and the
//! smoke test below runs them all on mutated seeds in `cargo test`, so CI
//! exercises every target without a nightly toolchain.
//!
//! The web console's forms are decoded by axum (serde_urlencoded); `web`
//! covers what Hato itself parses of their values.
//!
//! Invariant: none of these panics on any input (libFuzzer and the smoke
//! test report a panic as a failure).

use crate::smtp::{auth, command, data, message};

/// SMTP: the command grammar (with DSN and BDAT parameters), SASL decoding,
/// address parsing, DATA framing — in one piece and in uneven chunks, which
/// must agree — and header reading.
pub fn smtp(input: &[u8]) {
    for line in input.split_inclusive(|b| *b == b'\n') {
        if let Err(e) = command::parse(line) {
            let _ = e.reply();
        }
        if let Ok(text) = std::str::from_utf8(line) {
            let _ = auth::decode_plain(text);
            let _ = auth::decode_text(text);
            let _ = crate::address::Address::parse(text);
        }
    }
    let mut whole = data::DotReader::new(1 << 20);
    let one = whole.feed(input);
    let mut pieces = data::DotReader::new(1 << 20);
    let mut consumed = 0;
    let mut split = None;
    for chunk in input.chunks(7) {
        if let data::Progress::Done(n) = pieces.feed(chunk) {
            split = Some(consumed + n);
            break;
        }
        consumed += chunk.len();
    }
    match one {
        data::Progress::Done(n) => assert_eq!(split, Some(n), "DATA end found at another place in chunks"),
        data::Progress::More => assert_eq!(split, None, "DATA end found only in chunks"),
    }
    assert_eq!(whole.into_body(), pieces.into_body(), "DATA body differs when read in chunks");
    let fields = message::fields(input);
    let _ = message::count(&fields, "Received");
}

pub fn imap(input: &[u8]) {
    crate::imap::fuzz_input(input);
}

pub fn pop3(input: &[u8]) {
    let _ = crate::pop3::command::parse(input);
}

pub fn managesieve(input: &[u8]) {
    crate::managesieve::fuzz_line(input);
}

pub fn sieve(input: &[u8]) {
    crate::sieve::fuzz_input(input);
}

pub fn agentx(input: &[u8]) {
    if let Ok(Some(n)) = crate::snmp::agentx::packet_len(input) {
        let _ = crate::snmp::agentx::decode(&input[..n.min(input.len())]);
    }
    let _ = crate::snmp::agentx::decode(input);
}

/// MIME walk, attachment names and the archive readers (zip, gzip, tar).
pub fn mime(input: &[u8]) {
    crate::filter::fuzz_attachments(input);
}

/// What DNS and HTTPS answers bring: MTA-STS policies, HTTP responses, and
/// the certificates DANE hashes.
pub fn dns_records(input: &[u8]) {
    crate::queue::fuzz_policy(&String::from_utf8_lossy(input));
    crate::https::fuzz_answer(input);
    let _ = crate::tls::spki(input);
}

/// The web console: the values a form or the API sends (dates, service
/// addresses, join tokens, recipient lists), and what WebMail shows of any
/// received message (MIME decoded, HTML sanitised).
pub fn web(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    for value in text.split('&') {
        let value = value.split_once('=').map_or(value, |(_, v)| v);
        let _ = crate::clock::parse_ymd(value);
        crate::web::fuzz_values(value);
        let _ = value.parse::<crate::cluster::vrrp::Vip>();
        let _ = value.parse::<crate::cluster::join::Token>();
        let _ = crate::web::message::address_list(value);
    }
    let _ = crate::web::message::show(input, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift): the same inputs every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// `seed` with a few random bytes flipped, inserted, cut or repeated.
    fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
        let mut v = seed.to_vec();
        for _ in 0..=rng.below(8) {
            let at = rng.below(v.len() + 1);
            match rng.below(5) {
                0 if at < v.len() => v[at] = rng.next() as u8,
                1 => v.insert(at, rng.next() as u8),
                2 if at < v.len() => {
                    v.truncate(at);
                }
                3 => {
                    let piece = v[at..].iter().take(16).copied().collect::<Vec<u8>>();
                    v.splice(at..at, piece);
                }
                _ => v.insert(at, [b'\r', b'\n', b'.', b'{', b'"', b'\\', 0][rng.below(7)]),
            }
        }
        v
    }

    /// A target's name, entry point and seeds.
    type Target<'a> = (&'static str, fn(&[u8]), Vec<&'a [u8]>);

    #[test]
    fn every_target_survives_a_smoke_run() {
        let mime_seed: &[u8] = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: application/zip; name=a.zip\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--x--\r\n";
        let targets: [Target; 9] = [
            ("smtp", smtp, vec![b"EHLO x\r\nMAIL FROM:<a@b> RET=FULL ENVID=x+2B\r\nRCPT TO:<c@d> NOTIFY=SUCCESS ORCPT=rfc822;c@d\r\nBDAT 5 LAST\r\n", b"Subject: s\r\n\r\nbody\r\n..x\r\n.\r\n"]),
            ("imap", imap, vec![b"a1 LOGIN u p\r\n", b"a2 UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n", b"a3 APPEND INBOX {5}\r\nhello\r\n", b"a4 APPEND INBOX CATENATE (URL \"/INBOX;UIDVALIDITY=1/;UID=1/;SECTION=2.1.MIME/;PARTIAL=1.9\" TEXT {2}\r\nhi)\r\n", b"/INBOX/;UID=7/;SECTION=HEADER.FIELDS%20(SUBJECT)", b"a5 SORT RETURN (UPDATE PARTIAL 1:9) (SUBJECT) UTF-8 ALL\r\n", b"a6 NOTIFY SET STATUS (selected (MessageNew (UID FLAGS) MessageExpunge)) (subtree (Lists \"Work\") (MessageNew MessageExpunge FlagChange))\r\n"]),
            ("pop3", pop3, vec![b"USER a\r\n", b"RETR 1\r\n", b"TOP 1 10\r\n"]),
            ("managesieve", managesieve, vec![b"PUTSCRIPT \"s\" {5+}\r\nkeep;\r\n", b"AUTHENTICATE \"PLAIN\" \"AGEAYg==\"\r\n"]),
            ("sieve", sieve, vec![b"require [\"fileinto\"]; if header :contains \"subject\" \"x\" { fileinto \"J\"; } else { keep; }"]),
            ("agentx", agentx, vec![&[1, 8, 0x10, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0]]),
            ("mime", mime, vec![mime_seed, b"PK\x03\x04\x14\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x05\0\0\0a.exePK\x05\x06", b"\x1f\x8b\x08\0\0\0\0\0\0\x03"]),
            ("web", web, vec![b"since=2026-11-29T09:30&until=2026-11-30&vips=192.0.2.10/24&to=a@b.example, \"C\" <c@d.example>", b"Content-Type: text/html\r\n\r\n<p onclick=x>hi<img src=http://x/y><script>z</script>"]),
            ("dns_records", dns_records, vec![b"version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 86400\n", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"]),
        ];
        for (name, target, seeds) in targets {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            for seed in &seeds {
                target(seed);
            }
            for i in 0..2000 {
                let input = mutate(&mut rng, seeds[i % seeds.len()]);
                let caught = std::panic::catch_unwind(|| target(&input));
                assert!(caught.is_ok(), "fuzz target {name} panicked on {input:?}");
            }
        }
    }
}
