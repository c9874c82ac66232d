//! A parsed script checked command by command (RFC 5228 and the extensions
//! Hato implements): known names, argument types, tags, and `require` for
//! every extension used. The result is what `interp` runs.

use super::SieveError;
use super::lexer::Pos;
use super::parse::{Arg, Command, Test};

/// Extensions a script may `require`.
pub const EXTENSIONS: &[&str] = &[
    "fileinto",
    "reject",
    "ereject",
    "envelope",
    "body",
    "imap4flags",
    "variables",
    "copy",
    "vacation",
    "comparator-i;octet",
    "comparator-i;ascii-casemap",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    AsciiCasemap,
    Octet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchType {
    Is,
    Contains,
    Matches,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrPart {
    All,
    Local,
    Domain,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyPart {
    Raw,
    Text,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Matcher {
    pub cmp: Cmp,
    pub mt: MatchType,
    pub keys: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    Address { part: AddrPart, m: Matcher, headers: Vec<String> },
    Envelope { part: AddrPart, m: Matcher, which: Vec<String> },
    Header { m: Matcher, headers: Vec<String> },
    Exists(Vec<String>),
    Size { over: bool, limit: u64 },
    AllOf(Vec<Cond>),
    AnyOf(Vec<Cond>),
    Not(Box<Cond>),
    True,
    False,
    Body { part: BodyPart, m: Matcher },
    HasFlag { m: Matcher },
    Str { m: Matcher, source: Vec<String> },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Modifier {
    Lower,
    Upper,
    LowerFirst,
    UpperFirst,
    QuoteWildcard,
    Length,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VacationArgs {
    pub days: u64,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub addresses: Vec<String>,
    pub handle: Option<String>,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Cmd {
    If { branches: Vec<(Cond, Vec<Cmd>)>, otherwise: Option<Vec<Cmd>> },
    Stop,
    Keep { flags: Option<Vec<String>> },
    Discard,
    FileInto { mailbox: String, copy: bool, flags: Option<Vec<String>> },
    Redirect { address: String, copy: bool },
    Reject { reason: String },
    SetFlag(Vec<String>),
    AddFlag(Vec<String>),
    RemoveFlag(Vec<String>),
    Set { name: String, value: String, modifiers: Vec<Modifier> },
    Vacation(VacationArgs),
}

/// A checked script and whether it uses variables (so strings get `${…}` expanded).
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub commands: Vec<Cmd>,
    pub variables: bool,
}

struct Ctx {
    required: Vec<String>,
}

impl Ctx {
    fn need(&self, ext: &str, what: &str, pos: Pos) -> Result<(), SieveError> {
        if self.required.iter().any(|r| r == ext) {
            Ok(())
        } else {
            Err(SieveError::at(pos, &format!("{what} needs require \"{ext}\"")))
        }
    }
}

/// The arguments of one command or test, consumed as they are recognised.
struct Args {
    name: String,
    pos: Pos,
    items: Vec<(Arg, Pos)>,
}

impl Args {
    fn tag(&mut self, tag: &str) -> bool {
        match self.items.iter().position(|(a, _)| *a == Arg::Tag(tag.into())) {
            Some(i) => {
                self.items.remove(i);
                true
            }
            None => false,
        }
    }
    /// A tag followed by its value (e.g. `:days 7`).
    fn tagged(&mut self, tag: &str) -> Result<Option<(Arg, Pos)>, SieveError> {
        let Some(i) = self.items.iter().position(|(a, _)| *a == Arg::Tag(tag.into())) else { return Ok(None) };
        if i + 1 >= self.items.len() || matches!(self.items[i + 1].0, Arg::Tag(_)) {
            return Err(SieveError::at(self.items[i].1, &format!(":{tag} needs a value")));
        }
        self.items.remove(i);
        Ok(Some(self.items.remove(i)))
    }
    /// A tag followed by a string or string list (e.g. `:flags ["a", "b"]`).
    fn tagged_list(&mut self, tag: &str) -> Result<Option<Vec<String>>, SieveError> {
        match self.tagged(tag)? {
            None => Ok(None),
            Some((Arg::Str(s), _)) => Ok(Some(vec![s])),
            Some((Arg::List(l), _)) => Ok(Some(l)),
            Some((_, p)) => Err(SieveError::at(p, &format!(":{tag} needs a string list"))),
        }
    }
    fn one_of(&mut self, tags: &[&str]) -> Result<Option<String>, SieveError> {
        let found: Vec<&str> =
            tags.iter().copied().filter(|t| self.items.iter().any(|(a, _)| *a == Arg::Tag(t.to_string()))).collect();
        if found.len() > 1 {
            return Err(SieveError::at(
                self.pos,
                &format!("{}: only one of :{} may be given", self.name, found.join(", :")),
            ));
        }
        Ok(found.first().map(|t| {
            self.tag(t);
            t.to_string()
        }))
    }
    fn next_pos(&self) -> Pos {
        self.items.first().map(|a| a.1).unwrap_or(self.pos)
    }
    /// Takes the next positional argument if `pick` accepts it.
    fn take<T>(&mut self, expected: &str, pick: impl Fn(&Arg) -> Option<T>) -> Result<T, SieveError> {
        match self.items.first().and_then(|(a, _)| pick(a)) {
            Some(v) => {
                self.items.remove(0);
                Ok(v)
            }
            None => Err(SieveError::at(self.next_pos(), &format!("{}: expected {expected}", self.name))),
        }
    }
    fn strings(&mut self, what: &str) -> Result<Vec<String>, SieveError> {
        self.take(what, |a| match a {
            Arg::Str(s) => Some(vec![s.clone()]),
            Arg::List(l) => Some(l.clone()),
            _ => None,
        })
    }
    fn string(&mut self, what: &str) -> Result<String, SieveError> {
        self.take(&format!("{what} (a string)"), |a| match a {
            Arg::Str(s) => Some(s.clone()),
            _ => None,
        })
    }
    fn number(&mut self, what: &str) -> Result<u64, SieveError> {
        self.take(&format!("{what} (a number)"), |a| match a {
            Arg::Number(n) => Some(*n),
            _ => None,
        })
    }
    fn done(self) -> Result<(), SieveError> {
        match self.items.first() {
            None => Ok(()),
            Some((Arg::Tag(t), p)) => Err(SieveError::at(*p, &format!("{}: unknown tag :{t}", self.name))),
            Some((_, p)) => Err(SieveError::at(*p, &format!("{}: too many arguments", self.name))),
        }
    }
    fn matcher(&mut self, cx: &Ctx) -> Result<(Cmp, MatchType), SieveError> {
        let cmp = match self.tagged("comparator")? {
            None => Cmp::AsciiCasemap,
            Some((Arg::Str(c), p)) => match c.as_str() {
                "i;ascii-casemap" => Cmp::AsciiCasemap,
                "i;octet" => Cmp::Octet,
                other => return Err(SieveError::at(p, &format!("unknown comparator {other:?}"))),
            },
            Some((_, p)) => return Err(SieveError::at(p, ":comparator needs a string")),
        };
        let mt = match self.one_of(&["is", "contains", "matches"])?.as_deref() {
            Some("contains") => MatchType::Contains,
            Some("matches") => MatchType::Matches,
            _ => MatchType::Is,
        };
        for t in ["count", "value", "regex"] {
            if self.items.iter().any(|(a, _)| *a == Arg::Tag(t.into())) {
                return Err(SieveError::at(self.pos, &format!("{}: :{t} is not supported by Hato", self.name)));
            }
        }
        let _ = cx;
        Ok((cmp, mt))
    }
}

fn args(name: &str, pos: Pos, items: &[(Arg, Pos)]) -> Args {
    Args { name: name.to_string(), pos, items: items.to_vec() }
}

pub fn check(commands: &[Command]) -> Result<Script, SieveError> {
    let mut cx = Ctx { required: Vec::new() };
    let leading = commands.iter().take_while(|c| c.name == "require").count();
    for c in &commands[..leading] {
        let mut a = args("require", c.pos, &c.args);
        for ext in a.strings("a list of extensions")? {
            if !EXTENSIONS.contains(&ext.as_str()) {
                return Err(SieveError::at(c.pos, &format!("unsupported extension {ext:?}")));
            }
            cx.required.push(ext);
        }
        a.done()?;
    }
    let out = self::commands(&cx, &commands[leading..])?;
    let variables = cx.required.iter().any(|r| r == "variables");
    Ok(Script { commands: out, variables })
}

fn block(cx: &Ctx, c: &Command) -> Result<Vec<Cmd>, SieveError> {
    let b = c.block.as_ref().ok_or_else(|| SieveError::at(c.pos, &format!("{} needs a {{ block }}", c.name)))?;
    commands(cx, b)
}

fn command(cx: &Ctx, c: &Command) -> Result<Cmd, SieveError> {
    if c.block.is_some() && !matches!(c.name.as_str(), "if" | "elsif" | "else") {
        return Err(SieveError::at(c.pos, &format!("{} takes no block", c.name)));
    }
    if !c.tests.is_empty() && !matches!(c.name.as_str(), "if" | "elsif") {
        return Err(SieveError::at(c.pos, &format!("{} takes no test", c.name)));
    }
    let mut a = args(&c.name, c.pos, &c.args);
    let cmd = match c.name.as_str() {
        "if" => {
            let [t] = c.tests.as_slice() else { return Err(SieveError::at(c.pos, "if needs exactly one test")) };
            Cmd::If { branches: vec![(cond(cx, t)?, block(cx, c)?)], otherwise: None }
        }
        "elsif" | "else" => return Err(SieveError::at(c.pos, &format!("{} without an if before it", c.name))),
        "stop" => Cmd::Stop,
        "keep" => {
            let flags = a.tagged_list("flags")?;
            if flags.is_some() {
                cx.need("imap4flags", "keep :flags", c.pos)?;
            }
            Cmd::Keep { flags }
        }
        "discard" => Cmd::Discard,
        "fileinto" => {
            cx.need("fileinto", "fileinto", c.pos)?;
            let copy = a.tag("copy");
            if copy {
                cx.need("copy", ":copy", c.pos)?;
            }
            let flags = a.tagged_list("flags")?;
            if flags.is_some() {
                cx.need("imap4flags", "fileinto :flags", c.pos)?;
            }
            Cmd::FileInto { mailbox: a.string("a mailbox name")?, copy, flags }
        }
        "redirect" => {
            let copy = a.tag("copy");
            if copy {
                cx.need("copy", ":copy", c.pos)?;
            }
            Cmd::Redirect { address: a.string("an address")?, copy }
        }
        "reject" | "ereject" => {
            cx.need(&c.name, &c.name, c.pos)?;
            Cmd::Reject { reason: a.string("a reason")? }
        }
        "setflag" | "addflag" | "removeflag" => {
            cx.need("imap4flags", &c.name, c.pos)?;
            let flags = a.strings("a list of flags")?;
            match c.name.as_str() {
                "setflag" => Cmd::SetFlag(flags),
                "addflag" => Cmd::AddFlag(flags),
                _ => Cmd::RemoveFlag(flags),
            }
        }
        "set" => {
            cx.need("variables", "set", c.pos)?;
            let mut modifiers = Vec::new();
            for (tag, m) in [
                ("length", Modifier::Length),
                ("quotewildcard", Modifier::QuoteWildcard),
                ("upperfirst", Modifier::UpperFirst),
                ("lowerfirst", Modifier::LowerFirst),
                ("upper", Modifier::Upper),
                ("lower", Modifier::Lower),
            ] {
                if a.tag(tag) {
                    modifiers.push(m);
                }
            }
            let name = a.string("a variable name")?;
            if name.is_empty() || !name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '.') {
                return Err(SieveError::at(c.pos, &format!("set: {name:?} is not a variable name")));
            }
            Cmd::Set { name: name.to_lowercase(), value: a.string("a value")?, modifiers }
        }
        "vacation" => {
            cx.need("vacation", "vacation", c.pos)?;
            let days = match a.tagged("days")? {
                None => 7,
                Some((Arg::Number(n), _)) => n.clamp(1, 365),
                Some((_, p)) => return Err(SieveError::at(p, ":days needs a number")),
            };
            let text = |a: &mut Args, tag: &str| -> Result<Option<String>, SieveError> {
                match a.tagged(tag)? {
                    None => Ok(None),
                    Some((Arg::Str(s), _)) => Ok(Some(s)),
                    Some((_, p)) => Err(SieveError::at(p, &format!(":{tag} needs a string"))),
                }
            };
            let (subject, from, handle) = (text(&mut a, "subject")?, text(&mut a, "from")?, text(&mut a, "handle")?);
            let addresses = a.tagged_list("addresses")?.unwrap_or_default();
            if a.tag("mime") {
                return Err(SieveError::at(c.pos, "vacation :mime is not supported by Hato"));
            }
            Cmd::Vacation(VacationArgs { days, subject, from, addresses, handle, reason: a.string("the reply text")? })
        }
        other => return Err(SieveError::at(c.pos, &format!("unknown command {other:?}"))),
    };
    a.done()?;
    Ok(cmd)
}

/// A sequence of commands; `elsif` and `else` join the `if` chain before them.
fn commands(cx: &Ctx, list: &[Command]) -> Result<Vec<Cmd>, SieveError> {
    let mut out: Vec<Cmd> = Vec::new();
    // Whether the last command pushed is an if chain that may still grow.
    let mut open_chain = false;
    for c in list {
        if c.name == "require" {
            return Err(SieveError::at(c.pos, "require must come before any other command"));
        }
        if c.name == "elsif" || c.name == "else" {
            let Some(Cmd::If { branches, otherwise }) = out.last_mut().filter(|_| open_chain) else {
                return Err(SieveError::at(c.pos, &format!("{} without an if before it", c.name)));
            };
            if c.name == "elsif" {
                let [t] = c.tests.as_slice() else { return Err(SieveError::at(c.pos, "elsif needs exactly one test")) };
                args("elsif", c.pos, &c.args).done()?;
                branches.push((cond(cx, t)?, block(cx, c)?));
            } else {
                if !c.tests.is_empty() {
                    return Err(SieveError::at(c.pos, "else takes no test"));
                }
                args("else", c.pos, &c.args).done()?;
                *otherwise = Some(block(cx, c)?);
                open_chain = false;
            }
            continue;
        }
        let cmd = command(cx, c)?;
        open_chain = matches!(cmd, Cmd::If { .. });
        out.push(cmd);
    }
    Ok(out)
}

fn cond(cx: &Ctx, t: &Test) -> Result<Cond, SieveError> {
    let mut a = args(&t.name, t.pos, &t.args);
    let no_tests = |name: &str| -> Result<(), SieveError> {
        if t.tests.is_empty() { Ok(()) } else { Err(SieveError::at(t.pos, &format!("{name} takes no nested test"))) }
    };
    let part = |a: &mut Args| -> Result<AddrPart, SieveError> {
        Ok(match a.one_of(&["all", "localpart", "domain"])?.as_deref() {
            Some("localpart") => AddrPart::Local,
            Some("domain") => AddrPart::Domain,
            _ => AddrPart::All,
        })
    };
    let c = match t.name.as_str() {
        "true" => Cond::True,
        "false" => Cond::False,
        "not" => {
            let [x] = t.tests.as_slice() else { return Err(SieveError::at(t.pos, "not needs exactly one test")) };
            Cond::Not(Box::new(cond(cx, x)?))
        }
        "allof" | "anyof" => {
            if t.tests.is_empty() {
                return Err(SieveError::at(t.pos, &format!("{} needs a list of tests", t.name)));
            }
            let list = t.tests.iter().map(|x| cond(cx, x)).collect::<Result<Vec<_>, _>>()?;
            if t.name == "allof" { Cond::AllOf(list) } else { Cond::AnyOf(list) }
        }
        "exists" => {
            no_tests("exists")?;
            Cond::Exists(a.strings("a list of header names")?)
        }
        "size" => {
            no_tests("size")?;
            let over = match a.one_of(&["over", "under"])? {
                Some(t) => t == "over",
                None => return Err(SieveError::at(t.pos, "size needs :over or :under")),
            };
            Cond::Size { over, limit: a.number("a size")? }
        }
        "address" | "envelope" | "header" | "body" | "hasflag" | "string" => {
            no_tests(&t.name)?;
            match t.name.as_str() {
                "envelope" => cx.need("envelope", "envelope", t.pos)?,
                "body" => cx.need("body", "body", t.pos)?,
                "hasflag" => cx.need("imap4flags", "hasflag", t.pos)?,
                "string" => cx.need("variables", "string", t.pos)?,
                _ => {}
            }
            let p = if matches!(t.name.as_str(), "address" | "envelope") { part(&mut a)? } else { AddrPart::All };
            let bp = if t.name == "body" {
                match a.one_of(&["raw", "text", "content"])?.as_deref() {
                    Some("raw") => BodyPart::Raw,
                    Some("content") => {
                        return Err(SieveError::at(t.pos, "body :content is not supported by Hato; use :text"));
                    }
                    _ => BodyPart::Text,
                }
            } else {
                BodyPart::Text
            };
            let (cmp, mt) = a.matcher(cx)?;
            let first =
                if matches!(t.name.as_str(), "body" | "hasflag") { Vec::new() } else { a.strings("a list of names")? };
            let keys = a.strings("a list of keys")?;
            let m = Matcher { cmp, mt, keys };
            match t.name.as_str() {
                "address" => Cond::Address { part: p, m, headers: first },
                "envelope" => Cond::Envelope { part: p, m, which: first },
                "header" => Cond::Header { m, headers: first },
                "body" => Cond::Body { part: bp, m },
                "hasflag" => Cond::HasFlag { m },
                _ => Cond::Str { m, source: first },
            }
        }
        other => return Err(SieveError::at(t.pos, &format!("unknown test {other:?}"))),
    };
    a.done()?;
    Ok(c)
}
