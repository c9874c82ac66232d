//! Sieve's lexical grammar (RFC 5228 §8.1): identifiers, :tags, numbers
//! with K/M/G, quoted strings with \ escapes, multi-line `text:` strings,
//! brackets and punctuation; `#` and `/* */` comments are skipped. Every
//! token knows its line and column so errors can point at it.

use super::SieveError;

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Ident(String),
    Tag(String),
    Number(u64),
    Str(String),
    LBracket,
    RBracket,
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Semicolon,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line, self.col)
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
    pos: Pos,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn peek_at(&self, n: usize) -> Option<u8> {
        self.s.get(self.i + n).copied()
    }
    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        if b == b'\n' {
            self.pos.line += 1;
            self.pos.col = 1;
        } else if b & 0xC0 != 0x80 {
            // Columns count characters, not the continuation bytes of UTF-8.
            self.pos.col += 1;
        }
        Some(b)
    }
    fn rest_starts_with(&self, p: &[u8]) -> bool {
        self.s[self.i..].starts_with(p)
    }
}

pub fn tokens(script: &str) -> Result<Vec<(Tok, Pos)>, SieveError> {
    let mut c = Cursor { s: script.as_bytes(), i: 0, pos: Pos { line: 1, col: 1 } };
    let mut out = Vec::new();
    while let Some(b) = c.peek() {
        let at = c.pos;
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => {
                c.bump();
            }
            b'#' => {
                while c.peek().is_some_and(|b| b != b'\n') {
                    c.bump();
                }
            }
            b'/' if c.peek_at(1) == Some(b'*') => {
                c.bump();
                c.bump();
                loop {
                    if c.rest_starts_with(b"*/") {
                        c.bump();
                        c.bump();
                        break;
                    }
                    if c.bump().is_none() {
                        return Err(SieveError::at(at, "unterminated /* comment"));
                    }
                }
            }
            b'[' | b']' | b'(' | b')' | b'{' | b'}' | b',' | b';' => {
                c.bump();
                out.push((
                    match b {
                        b'[' => Tok::LBracket,
                        b']' => Tok::RBracket,
                        b'(' => Tok::LParen,
                        b')' => Tok::RParen,
                        b'{' => Tok::LBrace,
                        b'}' => Tok::RBrace,
                        b',' => Tok::Comma,
                        _ => Tok::Semicolon,
                    },
                    at,
                ));
            }
            b'"' => {
                c.bump();
                let mut v = Vec::new();
                loop {
                    match c.bump() {
                        None => return Err(SieveError::at(at, "unterminated string")),
                        Some(b'"') => break,
                        // RFC 5228 §2.4.2: a backslash quotes the next character.
                        Some(b'\\') => match c.bump() {
                            Some(x) => v.push(x),
                            None => return Err(SieveError::at(at, "unterminated string")),
                        },
                        Some(x) => v.push(x),
                    }
                }
                out.push((Tok::Str(utf8(v, at)?), at));
            }
            b':' => {
                c.bump();
                let name = ident(&mut c);
                if name.is_empty() {
                    return Err(SieveError::at(at, "':' must start a tag such as :is"));
                }
                out.push((Tok::Tag(name), at));
            }
            b'0'..=b'9' => {
                let mut n: u64 = 0;
                while let Some(d @ b'0'..=b'9') = c.peek() {
                    c.bump();
                    n = n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(d - b'0')))
                        .ok_or_else(|| SieveError::at(at, "number too large"))?;
                }
                let mult = match c.peek() {
                    Some(b'K' | b'k') => 1 << 10,
                    Some(b'M' | b'm') => 1 << 20,
                    Some(b'G' | b'g') => 1 << 30,
                    _ => 1,
                };
                if mult > 1 {
                    c.bump();
                }
                out.push((Tok::Number(n.checked_mul(mult).ok_or_else(|| SieveError::at(at, "number too large"))?), at));
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let name = ident(&mut c);
                if name == "text" && c.peek() == Some(b':') {
                    c.bump();
                    out.push((Tok::Str(multiline(&mut c, at)?), at));
                } else {
                    out.push((Tok::Ident(name), at));
                }
            }
            other => return Err(SieveError::at(at, &format!("unexpected character {:?}", other as char))),
        }
    }
    Ok(out)
}

fn ident(c: &mut Cursor) -> String {
    let mut s = String::new();
    while let Some(b) = c.peek().filter(|b| b.is_ascii_alphanumeric() || *b == b'_') {
        c.bump();
        s.push(b.to_ascii_lowercase() as char);
    }
    s
}

fn utf8(v: Vec<u8>, at: Pos) -> Result<String, SieveError> {
    String::from_utf8(v).map_err(|_| SieveError::at(at, "strings must be UTF-8"))
}

/// `text:` then the rest of the line (spaces or a comment), then lines up to
/// one holding only "."; a leading ".." is "." (dot-stuffing).
fn multiline(c: &mut Cursor, at: Pos) -> Result<String, SieveError> {
    while c.peek().is_some_and(|b| b == b' ' || b == b'\t') {
        c.bump();
    }
    if c.peek() == Some(b'#') {
        while c.peek().is_some_and(|b| b != b'\n') {
            c.bump();
        }
    }
    if c.peek() == Some(b'\r') {
        c.bump();
    }
    if c.bump() != Some(b'\n') {
        return Err(SieveError::at(at, "text: must be followed by a line break"));
    }
    let mut v = Vec::new();
    loop {
        let mut line = Vec::new();
        loop {
            match c.bump() {
                None => return Err(SieveError::at(at, "text: block without its closing \".\" line")),
                Some(b'\n') => break,
                Some(x) => line.push(x),
            }
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line == b"." {
            break;
        }
        let line = if line.starts_with(b"..") { &line[1..] } else { &line[..] };
        v.extend_from_slice(line);
        v.extend_from_slice(b"\r\n");
    }
    utf8(v, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_with_positions() {
        let t = tokens("require [\"fileinto\"]; # c\nif size :over 10K { /* x */ fileinto \"a\\\"b\"; }").unwrap();
        let kinds: Vec<&Tok> = t.iter().map(|x| &x.0).collect();
        assert_eq!(kinds[0], &Tok::Ident("require".into()));
        assert_eq!(kinds[2], &Tok::Str("fileinto".into()));
        assert_eq!(t[5].1, Pos { line: 2, col: 1 });
        assert!(kinds.contains(&&Tok::Number(10240)));
        assert!(kinds.contains(&&Tok::Tag("over".into())));
        assert!(kinds.contains(&&Tok::Str("a\"b".into())));
        let m = tokens("vacation text:\r\nhi\r\n..dot\r\n.\r\n;").unwrap();
        assert_eq!(m[1].0, Tok::Str("hi\r\n.dot\r\n".into()));
        let e = tokens("if true {\n  \"open").unwrap_err();
        assert_eq!(e.to_string(), "line 2, column 3: unterminated string");
    }
}
