//! Sieve's generic grammar (RFC 5228 §8.2) into a tree of commands and
//! tests with their arguments; `script` then checks each by name.

use super::SieveError;
use super::lexer::{Pos, Tok};

#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Str(String),
    List(Vec<String>),
    Number(u64),
    Tag(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    pub name: String,
    pub args: Vec<(Arg, Pos)>,
    pub tests: Vec<Test>,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    pub name: String,
    pub args: Vec<(Arg, Pos)>,
    pub tests: Vec<Test>,
    pub block: Option<Vec<Command>>,
    pub pos: Pos,
}

/// A command's or test's arguments, and the tests it holds.
type Arguments = (Vec<(Arg, Pos)>, Vec<Test>);

/// Nesting deeper than this is refused (a script is data from a user).
const MAX_DEPTH: usize = 64;

struct Parser {
    toks: Vec<(Tok, Pos)>,
    i: usize,
    end: Pos,
}

pub fn parse(toks: Vec<(Tok, Pos)>) -> Result<Vec<Command>, SieveError> {
    let end = toks.last().map(|t| t.1).unwrap_or(Pos { line: 1, col: 1 });
    let mut p = Parser { toks, i: 0, end };
    let cmds = p.commands(0)?;
    if let Some((t, at)) = p.toks.get(p.i) {
        return Err(SieveError::at(*at, &format!("unexpected {}", describe(t))));
    }
    Ok(cmds)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Tag(s) => format!("':{s}'"),
        Tok::Number(n) => format!("number {n}"),
        Tok::Str(_) => "string".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBrace => "'{'".into(),
        Tok::RBrace => "'}'".into(),
        Tok::Comma => "','".into(),
        Tok::Semicolon => "';'".into(),
    }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.0)
    }
    fn pos(&self) -> Pos {
        self.toks.get(self.i).map(|t| t.1).unwrap_or(self.end)
    }
    fn next(&mut self) -> Option<(Tok, Pos)> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }
    fn expect(&mut self, want: Tok, what: &str) -> Result<(), SieveError> {
        match self.next() {
            Some((t, _)) if t == want => Ok(()),
            Some((t, at)) => Err(SieveError::at(at, &format!("expected {what}, found {}", describe(&t)))),
            None => Err(SieveError::at(self.end, &format!("expected {what} at the end of the script"))),
        }
    }

    fn commands(&mut self, depth: usize) -> Result<Vec<Command>, SieveError> {
        if depth > MAX_DEPTH {
            return Err(SieveError::at(self.pos(), "blocks are nested too deeply"));
        }
        let mut out = Vec::new();
        while let Some(Tok::Ident(_)) = self.peek() {
            out.push(self.command(depth)?);
        }
        Ok(out)
    }

    fn command(&mut self, depth: usize) -> Result<Command, SieveError> {
        let Some((Tok::Ident(name), pos)) = self.next() else {
            return Err(SieveError::at(self.pos(), "expected a command"));
        };
        let (args, tests) = self.arguments(depth)?;
        let block = match self.peek() {
            Some(Tok::Semicolon) => {
                self.i += 1;
                None
            }
            Some(Tok::LBrace) => {
                self.i += 1;
                let b = self.commands(depth + 1)?;
                self.expect(Tok::RBrace, "'}' to close the block")?;
                Some(b)
            }
            Some(t) => {
                return Err(SieveError::at(self.pos(), &format!("expected ';' after {name}, found {}", describe(t))));
            }
            None => {
                return Err(SieveError::at(self.end, &format!("expected ';' after {name} at the end of the script")));
            }
        };
        Ok(Command { name, args, tests, block, pos })
    }

    fn arguments(&mut self, depth: usize) -> Result<Arguments, SieveError> {
        let mut args = Vec::new();
        loop {
            let at = self.pos();
            match self.peek() {
                Some(Tok::Str(_)) => {
                    if let Some((Tok::Str(s), _)) = self.next() {
                        args.push((Arg::Str(s), at));
                    }
                }
                Some(Tok::Number(n)) => {
                    args.push((Arg::Number(*n), at));
                    self.i += 1;
                }
                Some(Tok::Tag(t)) => {
                    args.push((Arg::Tag(t.clone()), at));
                    self.i += 1;
                }
                Some(Tok::LBracket) => {
                    self.i += 1;
                    let mut list = Vec::new();
                    loop {
                        match self.next() {
                            Some((Tok::Str(s), _)) => list.push(s),
                            Some((t, p)) => {
                                return Err(SieveError::at(
                                    p,
                                    &format!("expected a string in the list, found {}", describe(&t)),
                                ));
                            }
                            None => return Err(SieveError::at(self.end, "unterminated string list")),
                        }
                        match self.next() {
                            Some((Tok::Comma, _)) => continue,
                            Some((Tok::RBracket, _)) => break,
                            Some((t, p)) => {
                                return Err(SieveError::at(p, &format!("expected ',' or ']', found {}", describe(&t))));
                            }
                            None => return Err(SieveError::at(self.end, "unterminated string list")),
                        }
                    }
                    args.push((Arg::List(list), at));
                }
                _ => break,
            }
        }
        let tests = match self.peek() {
            Some(Tok::LParen) => {
                self.i += 1;
                let mut tests = vec![self.test(depth + 1)?];
                loop {
                    match self.next() {
                        Some((Tok::Comma, _)) => tests.push(self.test(depth + 1)?),
                        Some((Tok::RParen, _)) => break,
                        Some((t, p)) => {
                            return Err(SieveError::at(
                                p,
                                &format!("expected ',' or ')' in the test list, found {}", describe(&t)),
                            ));
                        }
                        None => return Err(SieveError::at(self.end, "unterminated test list")),
                    }
                }
                tests
            }
            Some(Tok::Ident(_)) => vec![self.test(depth + 1)?],
            _ => Vec::new(),
        };
        Ok((args, tests))
    }

    fn test(&mut self, depth: usize) -> Result<Test, SieveError> {
        if depth > MAX_DEPTH {
            return Err(SieveError::at(self.pos(), "tests are nested too deeply"));
        }
        match self.next() {
            Some((Tok::Ident(name), pos)) => {
                let (args, tests) = self.arguments(depth)?;
                Ok(Test { name, args, tests, pos })
            }
            Some((t, p)) => Err(SieveError::at(p, &format!("expected a test, found {}", describe(&t)))),
            None => Err(SieveError::at(self.end, "expected a test at the end of the script")),
        }
    }
}
