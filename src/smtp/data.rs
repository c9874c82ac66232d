//! The DATA body: dot-unstuffing and end-of-data detection (RFC 5321 §4.5.2).
//!
//! Only `CRLF . CRLF` ends the body. Bare-LF variants (`LF . LF`, `LF . CRLF`)
//! are body text here: treating them as the end is what SMTP smuggling
//! exploits when two servers disagree.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    LineStart,
    Mid,
    Cr,
    Dot,
    DotCr,
}

pub struct DotReader {
    state: State,
    body: Vec<u8>,
    limit: usize,
    oversize: bool,
}

/// What feeding a chunk found.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// More body to come.
    More,
    /// The end marker was found after this many bytes of the chunk; the rest belongs to the next command.
    Done(usize),
}

impl DotReader {
    pub fn new(limit: usize) -> DotReader {
        DotReader { state: State::LineStart, body: Vec::with_capacity(limit.min(64 * 1024)), limit, oversize: false }
    }

    fn push(&mut self, b: u8) {
        if self.body.len() < self.limit {
            self.body.push(b);
        } else {
            self.oversize = true;
        }
    }

    fn push_all(&mut self, bytes: &[u8]) {
        let take = bytes.len().min(self.limit.saturating_sub(self.body.len()));
        self.body.extend_from_slice(&bytes[..take]);
        if take < bytes.len() {
            self.oversize = true;
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Progress {
        let mut i = 0;
        while i < chunk.len() {
            if self.state == State::Mid {
                // Inside a line only CR can change anything: take the bytes before it at once.
                let end = memchr::memchr(b'\r', &chunk[i..]).map_or(chunk.len(), |k| i + k);
                self.push_all(&chunk[i..end]);
                i = end;
                if i == chunk.len() {
                    break;
                }
            }
            let b = chunk[i];
            i += 1;
            self.state = match (self.state, b) {
                (State::LineStart, b'.') => State::Dot,
                (State::LineStart | State::Mid, b'\r') => {
                    self.push(b);
                    State::Cr
                }
                (State::LineStart | State::Mid, _) => {
                    self.push(b);
                    State::Mid
                }
                (State::Cr, b'\n') => {
                    self.push(b);
                    State::LineStart
                }
                (State::Cr, b'\r') => {
                    self.push(b);
                    State::Cr
                }
                (State::Cr, _) => {
                    self.push(b);
                    State::Mid
                }
                (State::Dot, b'\r') => State::DotCr,
                // A stuffed dot: drop the first, keep the rest of the line.
                (State::Dot, _) => {
                    self.push(b);
                    State::Mid
                }
                (State::DotCr, b'\n') => return Progress::Done(i),
                (State::DotCr, b'\r') => {
                    self.push(b'\r');
                    State::DotCr
                }
                (State::DotCr, _) => {
                    self.push(b'\r');
                    self.push(b);
                    State::Mid
                }
            };
        }
        Progress::More
    }

    pub fn oversize(&self) -> bool {
        self.oversize
    }

    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

/// Dot-stuffs a body for sending and appends the end marker; a missing final CRLF is added.
pub fn stuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 50 + 5);
    let mut line_start = true;
    for &b in body {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !body.is_empty() && !body.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8], limit: usize) -> (Vec<u8>, Option<usize>, bool) {
        let mut r = DotReader::new(limit);
        let done = match r.feed(input) {
            Progress::Done(n) => Some(n),
            Progress::More => None,
        };
        let over = r.oversize();
        (r.into_body(), done, over)
    }

    #[test]
    fn unstuffs_and_finds_the_end() {
        let (body, done, _) = read_all(b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n", 1000);
        assert_eq!(body, b"Subject: x\r\n\r\n.leading dot\r\n");
        assert_eq!(done, Some(32));
    }

    #[test]
    fn bare_lf_dot_is_not_the_end() {
        let (body, done, _) = read_all(b"a\n.\nb\r\n.\r\n", 1000);
        assert_eq!(body, b"a\n.\nb\r\n");
        assert!(done.is_some());
    }

    #[test]
    fn end_split_across_chunks() {
        let mut r = DotReader::new(100);
        assert_eq!(r.feed(b"hello\r"), Progress::More);
        assert_eq!(r.feed(b"\n."), Progress::More);
        assert_eq!(r.feed(b"\r"), Progress::More);
        assert_eq!(r.feed(b"\nNEXT"), Progress::Done(1));
        assert_eq!(r.into_body(), b"hello\r\n");
    }

    #[test]
    fn empty_body_and_oversize() {
        assert_eq!(read_all(b".\r\n", 10), (vec![], Some(3), false));
        let (body, done, over) = read_all(b"0123456789abcdef\r\n.\r\n", 8);
        assert_eq!(body.len(), 8);
        assert!(over);
        assert!(done.is_some());
    }

    #[test]
    fn stuff_round_trips() {
        for body in [&b"a\r\n.b\r\n..c\r\n"[..], b"no final newline", b".\r\n", b""] {
            let wire = stuff(body);
            let (back, done, _) = read_all(&wire, 1000);
            assert_eq!(done, Some(wire.len()));
            let mut expect = body.to_vec();
            if !expect.is_empty() && !expect.ends_with(b"\r\n") {
                expect.extend_from_slice(b"\r\n");
            }
            assert_eq!(back, expect);
        }
    }

    /// However the wire is cut into reads, the body, the end and the limit come out the same.
    #[test]
    fn any_split_gives_the_same_body() {
        let wire = b"a\r\r\n.\r.x\r\n..\r\nline\rmid\nlf\r\n\r\n.\r\rz\r\n.\r\nNEXT";
        for limit in [1000, 20] {
            let whole = read_all(wire, limit);
            assert_eq!(whole.1, Some(wire.len() - 4));
            for cut in 1..wire.len() {
                let mut r = DotReader::new(limit);
                let mut done = None;
                for (k, piece) in wire.chunks(cut).enumerate() {
                    if let Progress::Done(n) = r.feed(piece) {
                        done = Some(k * cut + n);
                        break;
                    }
                }
                let over = r.oversize();
                assert_eq!((r.into_body(), done, over), whole, "limit {limit}, reads of {cut}");
            }
        }
    }
}
