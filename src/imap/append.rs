//! APPEND of one message or of several (MULTIAPPEND, RFC 3502).
//!
//! imap-codec decodes an APPEND carrying one message. A command carrying
//! more is cut after each message's literal into one APPEND per message and
//! each is decoded by imap-codec, so flags, dates and the literal forms
//! (`{n}`, `{n+}`, `~{n}`) are read in one place. The messages are then
//! stored in one transaction: all or none, as RFC 3502 asks.

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
    pub body: Vec<u8>,
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
            body,
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

/// `bytes` (one framed command) as an APPEND of several messages. `None`
/// when it is anything else — an APPEND of one message included, which
/// imap-codec takes as it is; `Some(Err)` names what is malformed.
pub fn multi(bytes: &[u8]) -> Option<Result<Multi, String>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_messages_each_with_its_flags_and_date() {
        let cmd = b"A1 APPEND Drafts (\\Seen) {3}\r\none (\\Flagged $x) \"01-Feb-2024 10:00:00 +0000\" {3}\r\ntwo {5}\r\nthree\r\n";
        let Some(Ok(m)) = multi(cmd) else { panic!("not read as a MULTIAPPEND") };
        assert_eq!(m.mailbox, Mailbox::try_from("Drafts").unwrap());
        let got: Vec<_> = m.messages.iter().map(|x| (x.flags.join(" "), x.date, x.body.clone())).collect();
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
        assert_eq!(m.messages[0].body, b"\x00a");
    }

    #[test]
    fn one_message_and_other_commands_are_left_to_imap_codec() {
        assert!(multi(b"A APPEND INBOX {3}\r\none\r\n").is_none());
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
