//! ManageSieve's command grammar (RFC 5804 §4): an atom (the command name),
//! then quoted strings or literals (`{n+}` CRLF and n bytes), numbers, atoms.

use thiserror::Error;

#[derive(Clone, Debug, PartialEq)]
pub enum Word {
    Atom(String),
    Str(String),
}

impl Word {
    pub fn text(&self) -> &str {
        match self {
            Word::Atom(s) | Word::Str(s) => s,
        }
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum ParseError {
    #[error("unterminated quoted string")]
    Unterminated,
    #[error("bad literal size")]
    BadLiteral,
    #[error("unexpected character {0:?}")]
    Unexpected(char),
    #[error("strings must be UTF-8")]
    Utf8,
}

/// What a line holds: the words so far, and whether it ends by announcing a
/// literal of that many bytes (which the caller reads, then the rest).
pub struct Line {
    pub words: Vec<Word>,
    pub literal: Option<usize>,
}

pub fn line(bytes: &[u8]) -> Result<Line, ParseError> {
    let s = std::str::from_utf8(bytes).map_err(|_| ParseError::Utf8)?;
    let s = s.trim_end_matches(['\r', '\n']);
    let mut words = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            ' ' => i += 1,
            '"' => {
                i += 1;
                let mut v = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(ParseError::Unterminated),
                        Some('"') => break,
                        Some('\\') => {
                            i += 1;
                            v.push(*chars.get(i).ok_or(ParseError::Unterminated)?);
                        }
                        Some(c) => v.push(*c),
                    }
                    i += 1;
                }
                i += 1;
                words.push(Word::Str(v));
            }
            '{' => {
                let end = chars[i..].iter().position(|c| *c == '}').ok_or(ParseError::BadLiteral)? + i;
                let inner: String = chars[i + 1..end].iter().collect();
                let n = inner.trim_end_matches('+').parse::<usize>().map_err(|_| ParseError::BadLiteral)?;
                if end + 1 != chars.len() {
                    return Err(ParseError::BadLiteral);
                }
                return Ok(Line { words, literal: Some(n) });
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' => {
                let start = i;
                while i < chars.len() && !matches!(chars[i], ' ' | '"' | '{') {
                    i += 1;
                }
                words.push(Word::Atom(chars[start..i].iter().collect()));
            }
            c => return Err(ParseError::Unexpected(c)),
        }
    }
    Ok(Line { words, literal: None })
}

/// A string as ManageSieve writes it: quoted when short and plain, else a literal.
pub fn string(s: &str) -> String {
    if s.len() < 1024 && !s.contains(['"', '\\', '\r', '\n']) {
        format!("\"{s}\"")
    } else {
        format!("{{{}}}\r\n{s}", s.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_literals() {
        let l = line(b"PUTSCRIPT \"my \\\"s\\\"\" {42+}\r\n").unwrap();
        assert_eq!(l.words, [Word::Atom("PUTSCRIPT".into()), Word::Str("my \"s\"".into())]);
        assert_eq!(l.literal, Some(42));
        assert_eq!(line(b"HAVESPACE \"x\" 100\r\n").unwrap().words[2], Word::Atom("100".into()));
        assert_eq!(line(b"X \"open\r\n").err(), Some(ParseError::Unterminated));
        assert_eq!(line(b"X {abc}\r\n").err(), Some(ParseError::BadLiteral));
        assert_eq!(string("a b"), "\"a b\"");
        assert_eq!(string("a\r\nb"), "{4}\r\na\r\nb");
    }
}
