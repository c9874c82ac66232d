//! APPEND of one message or of several (MULTIAPPEND, RFC 3502), each sent
//! whole or built from pieces (CATENATE, RFC 4469).
//!
//! imap-codec decodes an APPEND carrying one message. A command carrying
//! more is cut after each message's literal into one APPEND per message and
//! each is decoded by imap-codec, so flags, dates and the literal forms
//! (`{n}`, `{n+}`, `~{n}`) are read in one place. imap-codec knows no
//! CATENATE: `catenate` walks such a command itself and has imap-codec read
//! each message's flags and date from an APPEND of one made for it. The
//! session resolves the URL pieces; the messages are then stored in one
//! transaction: all or none, as RFC 3502 asks.

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer};
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox;

/// One message of an APPEND as the client sent it.
#[derive(Debug, PartialEq)]
pub struct Message {
    pub flags: Vec<String>,
    /// The internal date asked for, as a Unix time.
    pub date: Option<i64>,
    /// The message's text in order: one piece unless built by CATENATE.
    pub pieces: Vec<Piece>,
}

/// A piece of a message: bytes sent, or an IMAP URL naming bytes stored.
#[derive(Debug, PartialEq)]
pub enum Piece {
    Text(Vec<u8>),
    Url(String),
}

impl Message {
    pub fn new(flags: &[Flag], date: Option<&DateTime>, message: &LiteralOrLiteral8) -> Message {
        let body = match message {
            LiteralOrLiteral8::Literal(l) => l.as_ref().to_vec(),
            LiteralOrLiteral8::Literal8(l) => l.data.to_vec(),
        };
        Message {
            flags: flags.iter().map(|f| f.to_string()).collect(),
            date: date.map(|d| d.as_ref().timestamp()),
            pieces: vec![Piece::Text(body)],
        }
    }
}

/// An APPEND of two or more messages.
#[derive(Debug)]
pub struct Multi {
    pub mailbox: Mailbox<'static>,
    pub messages: Vec<Message>,
}

/// Where each literal of one framed command ends.
fn literal_ends(bytes: &[u8]) -> Vec<usize> {
    let mut frag = Fragmentizer::without_max_message_size();
    frag.enqueue_bytes(bytes);
    let mut ends = Vec::new();
    while let Some(f) = frag.progress() {
        match f {
            FragmentInfo::Literal { end, .. } => ends.push(end),
            FragmentInfo::Line { .. } if frag.is_message_complete() => break,
            FragmentInfo::Line { .. } => {}
        }
    }
    ends
}

fn decode_append(cmd: &[u8]) -> Option<(Mailbox<'static>, Message)> {
    match CommandCodec::default().decode(cmd) {
        Ok((b"", c)) => match c.body {
            CommandBody::Append { mailbox, flags, date, message } => {
                Some((mailbox.into_static(), Message::new(&flags, date.as_ref(), &message)))
            }
            _ => None,
        },
        _ => None,
    }
}

/// `bytes` (one framed command) as an APPEND that imap-codec cannot take:
/// several messages, or CATENATE. `None` when it is anything else — an
/// APPEND of one whole message included; `Some(Err)` names what is malformed.
pub fn recognise(bytes: &[u8]) -> Option<Result<Multi, String>> {
    catenate(bytes).or_else(|| multi(bytes))
}

/// Cuts an APPEND of several whole messages after each literal.
fn multi(bytes: &[u8]) -> Option<Result<Multi, String>> {
    let tag_end = bytes.iter().position(|b| *b == b' ')?;
    let verb = bytes.get(tag_end + 1..tag_end + 8)?;
    if !verb.eq_ignore_ascii_case(b"APPEND ") {
        return None;
    }
    let ends = literal_ends(bytes);
    if ends.len() < 2 {
        return None;
    }
    // The first message is the first literal after which the command reads as
    // an APPEND; a mailbox name sent as a literal comes before it.
    let with_crlf = |b: &[u8]| [b, b"\r\n"].concat();
    let (first, (mailbox, message)) =
        ends.iter().enumerate().find_map(|(i, end)| decode_append(&with_crlf(&bytes[..*end])).map(|m| (i, m)))?;
    if first + 1 == ends.len() {
        return None;
    }
    let mut messages = vec![message];
    for pair in ends[first..].windows(2) {
        // " [flags] [date] {n}\r\n<bytes>" after the previous message, read as an APPEND of its own.
        // imapclient sends two spaces between two literals; one is enough.
        let part = &bytes[pair[0]..pair[1]];
        let part = &part[part.iter().position(|b| *b != b' ').unwrap_or(0)..];
        let one = [&bytes[..tag_end], b" APPEND X ", part, b"\r\n"].concat();
        match decode_append(&one) {
            Some((_, m)) => messages.push(m),
            None => return Some(Err(format!("message {} of the APPEND is malformed", messages.len() + 1))),
        }
    }
    let rest = ends.last().map_or(&bytes[..0], |e| &bytes[*e..]);
    if rest != b"\r\n" && rest != b"\n" {
        return Some(Err("APPEND must end after its last message".into()));
    }
    Some(Ok(Multi { mailbox, messages }))
}

/// A position in one framed command, for reading CATENATE's grammar.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// One or more spaces (imapclient sends two between literals).
    fn spaces(&mut self) -> bool {
        let start = self.i;
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
        self.i > start
    }

    fn atom(&mut self) -> &[u8] {
        let start = self.i;
        while self.peek().is_some_and(|c| !matches!(c, b' ' | b'(' | b')' | b'\r' | b'\n' | b'{' | b'"')) {
            self.i += 1;
        }
        &self.b[start..self.i]
    }

    fn is_literal(&self) -> bool {
        self.peek() == Some(b'{') || (self.peek() == Some(b'~') && self.b.get(self.i + 1) == Some(&b'{'))
    }

    /// `{n}`, `{n+}` or `~{n}`, its CRLF and its n bytes.
    fn literal(&mut self) -> Option<&[u8]> {
        if self.peek() == Some(b'~') {
            self.i += 1;
        }
        let close = self.i + self.b[self.i..].iter().position(|c| *c == b'}')?;
        let n = std::str::from_utf8(&self.b[self.i + 1..close]).ok()?.trim_end_matches('+').parse::<usize>().ok()?;
        let start = close + 1 + self.b[close + 1..].iter().position(|c| *c == b'\n')? + 1;
        let end = start.checked_add(n).filter(|e| *e <= self.b.len())?;
        self.i = end;
        Some(&self.b[start..end])
    }

    fn quoted(&mut self) -> Option<Vec<u8>> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(out);
                }
                b'\\' => {
                    out.push(*self.b.get(self.i + 1)?);
                    self.i += 2;
                }
                c => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn astring(&mut self) -> Option<Vec<u8>> {
        match self.peek()? {
            b'"' => self.quoted(),
            _ if self.is_literal() => self.literal().map(<[u8]>::to_vec),
            _ => Some(self.atom().to_vec()).filter(|a| !a.is_empty()),
        }
    }
}

/// An APPEND in which some message is built by CATENATE (RFC 4469):
/// `CATENATE (TEXT {n}… URL "/INBOX/;UID=3/;SECTION=1" …)`.
fn catenate(bytes: &[u8]) -> Option<Result<Multi, String>> {
    let mut c = Cursor { b: bytes, i: 0 };
    c.atom();
    let tag_end = c.i;
    if !c.spaces() || !c.atom().eq_ignore_ascii_case(b"APPEND") || !c.spaces() {
        return None;
    }
    let mailbox_start = c.i;
    c.astring()?;
    let mailbox_raw = &bytes[mailbox_start..c.i];
    let mut prefixes = Vec::new();
    let mut bodies = Vec::new();
    let mut any = false;
    while c.spaces() {
        let start = c.i;
        if c.peek() == Some(b'(') {
            c.i += bytes[c.i..].iter().position(|b| *b == b')')? + 1;
            c.spaces();
        }
        if c.peek() == Some(b'"') {
            c.quoted()?;
            c.spaces();
        }
        let prefix = &bytes[start..c.i];
        if c.is_literal() {
            bodies.push(vec![Piece::Text(c.literal()?.to_vec())]);
        } else if c.atom().eq_ignore_ascii_case(b"CATENATE") {
            any = true;
            match pieces(&mut c) {
                Some(p) => bodies.push(p),
                None => return Some(Err(format!("CATENATE of message {} is malformed", bodies.len() + 1))),
            }
        } else if any {
            return Some(Err("APPEND must end after its last message".into()));
        } else {
            return None;
        }
        prefixes.push(prefix);
    }
    if !any {
        return None;
    }
    if !matches!(&bytes[c.i..], b"\r\n" | b"\n") {
        return Some(Err("APPEND must end after its last message".into()));
    }
    let mut messages = Vec::with_capacity(bodies.len());
    let mut mailbox = None;
    for (n, (prefix, pieces)) in prefixes.iter().zip(bodies).enumerate() {
        // The flags and date, read by imap-codec from an APPEND of one.
        let one = [&bytes[..tag_end], b" APPEND ", mailbox_raw, b" ", prefix, b"{1}\r\nx\r\n"].concat();
        let Some((name, m)) = decode_append(&one) else {
            return Some(Err(format!("the flags or date of message {} are malformed", n + 1)));
        };
        mailbox = Some(name);
        messages.push(Message { pieces, ..m });
    }
    Some(Ok(Multi { mailbox: mailbox?, messages }))
}

/// `(TEXT literal / URL astring …)` after CATENATE.
fn pieces(c: &mut Cursor) -> Option<Vec<Piece>> {
    c.spaces();
    if c.peek() != Some(b'(') {
        return None;
    }
    c.i += 1;
    let mut out = Vec::new();
    loop {
        c.spaces();
        if c.peek() == Some(b')') {
            c.i += 1;
            return (!out.is_empty()).then_some(out);
        }
        let kind = c.atom().to_ascii_uppercase();
        if !c.spaces() {
            return None;
        }
        match kind.as_slice() {
            b"TEXT" if c.is_literal() => out.push(Piece::Text(c.literal()?.to_vec())),
            b"URL" => out.push(Piece::Url(String::from_utf8(c.astring()?).ok()?)),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole message's text.
    fn text(m: &Message) -> Vec<u8> {
        match m.pieces.as_slice() {
            [Piece::Text(t)] => t.clone(),
            other => panic!("not one piece of text: {other:?}"),
        }
    }

    #[test]
    fn catenate_pieces_with_flags_dates_and_whole_messages_beside() {
        let cmd = b"A APPEND Drafts (\\Seen) CATENATE (URL \"/INBOX/;UID=3/;SECTION=HEADER\" TEXT {5}\r\nhello URL /a/;UID=1)  \"01-Feb-2024 10:00:00 +0000\" {3}\r\ntwo CATENATE (TEXT ~{2}\r\n\x00x)\r\n";
        let Some(Ok(m)) = recognise(cmd) else { panic!("not read as CATENATE") };
        assert_eq!(m.mailbox, Mailbox::try_from("Drafts").unwrap());
        assert_eq!(m.messages.len(), 3);
        assert_eq!(m.messages[0].flags, ["\\Seen"]);
        assert_eq!(
            m.messages[0].pieces,
            [
                Piece::Url("/INBOX/;UID=3/;SECTION=HEADER".into()),
                Piece::Text(b"hello".to_vec()),
                Piece::Url("/a/;UID=1".into())
            ]
        );
        assert_eq!((m.messages[1].date, text(&m.messages[1])), (Some(1_706_781_600), b"two".to_vec()));
        assert_eq!(m.messages[2].pieces, [Piece::Text(b"\x00x".to_vec())]);
    }

    #[test]
    fn malformed_catenate_is_named_and_plain_appends_pass_by() {
        for (cmd, why) in [
            (&b"A APPEND INBOX CATENATE ()\r\n"[..], "malformed"),
            (b"A APPEND INBOX CATENATE (TEXT \"x\")\r\n", "malformed"),
            (b"A APPEND INBOX CATENATE (FILE {1}\r\nx)\r\n", "malformed"),
            (b"A APPEND INBOX \"99-Foo-2024 10:00:00 +0000\" CATENATE (TEXT {1}\r\nx)\r\n", "flags or date"),
            (b"A APPEND INBOX CATENATE (TEXT {1}\r\nx) junk\r\n", "end after"),
        ] {
            match recognise(cmd) {
                Some(Err(e)) => assert!(e.contains(why), "{e}"),
                _ => panic!("{}", String::from_utf8_lossy(cmd)),
            }
        }
        assert!(recognise(b"A APPEND INBOX {8}\r\nCATENATE\r\n").is_none(), "the word inside a message");
        assert!(catenate(b"A APPEND INBOX {3}\r\none {3}\r\ntwo\r\n").is_none());
    }

    #[test]
    fn several_messages_each_with_its_flags_and_date() {
        let cmd = b"A1 APPEND Drafts (\\Seen) {3}\r\none (\\Flagged $x) \"01-Feb-2024 10:00:00 +0000\" {3}\r\ntwo {5}\r\nthree\r\n";
        let Some(Ok(m)) = multi(cmd) else { panic!("not read as a MULTIAPPEND") };
        assert_eq!(m.mailbox, Mailbox::try_from("Drafts").unwrap());
        let got: Vec<_> = m.messages.iter().map(|x| (x.flags.join(" "), x.date, text(x))).collect();
        assert_eq!(
            got,
            [
                ("\\Seen".into(), None, b"one".to_vec()),
                ("\\Flagged $x".into(), Some(1_706_781_600), b"two".to_vec()),
                (String::new(), None, b"three".to_vec()),
            ]
        );
    }

    #[test]
    fn a_mailbox_sent_as_a_literal_and_binary_literals() {
        // Two spaces between the literals, as imapclient sends them.
        let cmd = b"A2 APPEND {6}\r\nSent 1 ~{2}\r\n\x00a  ~{1}\r\nb\r\n";
        let Some(Ok(m)) = multi(cmd) else { panic!("not read as a MULTIAPPEND") };
        assert!(matches!(&m.mailbox, Mailbox::Other(o) if o.as_ref() == b"Sent 1"), "{:?}", m.mailbox);
        assert_eq!(m.messages.len(), 2);
        assert_eq!(text(&m.messages[0]), b"\x00a");
    }

    #[test]
    fn one_message_and_other_commands_are_left_to_imap_codec() {
        assert!(recognise(b"A APPEND INBOX {3}\r\none\r\n").is_none());
        assert!(multi(b"A APPEND {5}\r\nINBOX {3}\r\none\r\n").is_none());
        assert!(multi(b"A LOGIN {1}\r\na {1}\r\nb\r\n").is_none());
        assert!(multi(b"A NOOP\r\n").is_none());
    }

    #[test]
    fn a_malformed_later_message_is_named() {
        let cmd = b"A APPEND INBOX {3}\r\none (\\Bad flag {3}\r\ntwo\r\n";
        assert!(matches!(multi(cmd), Some(Err(e)) if e.contains("message 2")));
        let cmd = b"A APPEND INBOX {3}\r\none {3}\r\ntwo junk\r\n";
        assert!(matches!(multi(cmd), Some(Err(e)) if e.contains("end after")));
    }
}
