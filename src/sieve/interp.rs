//! Runs a checked script against one message and its envelope, giving the
//! actions to take. The implicit keep (RFC 5228 §2.10.2) stays unless
//! discard, fileinto, redirect (without :copy) or reject cancels it; the
//! imap4flags internal variable gives kept and filed messages their flags.

use std::collections::HashMap;

use mail_parser::{Message, MessageParser};

use super::script::{AddrPart, BodyPart, Cmd, Cmp, Cond, MatchType, Matcher, Modifier, Script, VacationArgs};

/// The SMTP envelope as the script's `envelope` test sees it.
#[derive(Clone, Debug, Default)]
pub struct Envelope {
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Keep {
        flags: Vec<String>,
    },
    FileInto {
        mailbox: String,
        flags: Vec<String>,
    },
    Redirect {
        address: String,
    },
    Reject {
        reason: String,
    },
    Vacation(VacationArgs),
    /// The message was explicitly discarded (nothing else is done with it).
    Discard,
}

/// Redirects one script may make; more are ignored (a loop is not worth it).
const MAX_REDIRECTS: usize = 5;
/// Longest value a variable may hold (RFC 5229 lets implementations limit it).
const MAX_VAR: usize = 4096;

struct Run<'a> {
    raw: &'a [u8],
    msg: Option<Message<'a>>,
    env: &'a Envelope,
    vars: HashMap<String, String>,
    matched: Vec<String>,
    expand: bool,
    flags: Vec<String>,
    actions: Vec<Action>,
    implicit_keep: bool,
    stopped: bool,
}

pub fn run(script: &Script, raw: &[u8], env: &Envelope) -> Vec<Action> {
    let mut r = Run {
        raw,
        msg: MessageParser::default().parse(raw),
        env,
        vars: HashMap::new(),
        matched: Vec::new(),
        expand: script.variables,
        flags: Vec::new(),
        actions: Vec::new(),
        implicit_keep: true,
        stopped: false,
    };
    r.block(&script.commands);
    if r.actions.iter().any(|a| matches!(a, Action::Reject { .. })) {
        // A refused message is neither kept nor filed (RFC 5429 §2.1).
        r.actions.retain(|a| matches!(a, Action::Reject { .. }));
        r.actions.truncate(1);
        return r.actions;
    }
    if r.implicit_keep && !r.actions.iter().any(|a| matches!(a, Action::Keep { .. })) {
        r.actions.push(Action::Keep { flags: r.flags.clone() });
    }
    if r.actions.is_empty() {
        r.actions.push(Action::Discard);
    }
    r.actions
}

fn lower(s: &str, cmp: Cmp) -> String {
    match cmp {
        Cmp::AsciiCasemap => s.to_ascii_lowercase(),
        Cmp::Octet => s.to_string(),
    }
}

/// One element of a :matches pattern.
#[derive(Clone, Copy, PartialEq)]
enum Pat {
    Star,
    One,
    Lit(char),
}

/// Text longer than this is matched on its first part only (a wildcard
/// match costs pattern × text steps).
const MAX_MATCH_TEXT: usize = 1 << 20;

/// `*` and `?` wildcards with `\` escapes, each wildcard matching as little
/// as it can, left to right; on success, what each wildcard matched. A table
/// of which (pattern, text) suffixes match keeps it to pattern × text steps
/// whatever the pattern, so a hostile "*a*a*a*b" costs no more than "*b".
fn glob(pattern: &[char], text: &[char]) -> Option<Vec<String>> {
    let mut pat = Vec::new();
    let mut i = 0;
    while i < pattern.len() {
        pat.push(match pattern[i] {
            '*' => Pat::Star,
            '?' => Pat::One,
            '\\' if i + 1 < pattern.len() => {
                i += 1;
                Pat::Lit(pattern[i])
            }
            c => Pat::Lit(c),
        });
        i += 1;
    }
    let text = &text[..text.len().min(MAX_MATCH_TEXT)];
    let (np, nt) = (pat.len(), text.len());
    // ok[pi * (nt + 1) + ti]: pat[pi..] matches text[ti..].
    let w = nt + 1;
    let mut ok = vec![false; (np + 1) * w];
    ok[np * w + nt] = true;
    for pi in (0..np).rev() {
        for ti in (0..=nt).rev() {
            ok[pi * w + ti] = match pat[pi] {
                Pat::Star => ok[(pi + 1) * w + ti] || (ti < nt && ok[pi * w + ti + 1]),
                Pat::One => ti < nt && ok[(pi + 1) * w + ti + 1],
                Pat::Lit(c) => ti < nt && text[ti] == c && ok[(pi + 1) * w + ti + 1],
            };
        }
    }
    if !ok[0] {
        return None;
    }
    let mut caps = Vec::new();
    let mut ti = 0;
    for (pi, p) in pat.iter().enumerate() {
        match p {
            Pat::Star => {
                let end = (ti..=nt).find(|e| ok[(pi + 1) * w + e])?;
                caps.push(text[ti..end].iter().collect());
                ti = end;
            }
            Pat::One => {
                caps.push(text[ti].to_string());
                ti += 1;
            }
            Pat::Lit(_) => ti += 1,
        }
    }
    Some(caps)
}

impl Run<'_> {
    fn block(&mut self, cmds: &[Cmd]) {
        for c in cmds {
            if self.stopped {
                return;
            }
            self.command(c);
        }
    }

    /// `${name}` and `${1}` replaced when the script requires variables.
    fn x(&self, s: &str) -> String {
        if !self.expand || !s.contains("${") {
            return s.to_string();
        }
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            match after.find('}') {
                Some(j) => {
                    let name = after[..j].to_ascii_lowercase();
                    let valid =
                        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
                    if !valid {
                        out.push_str(&rest[i..i + 2 + j + 1]);
                    } else if let Ok(n) = name.parse::<usize>() {
                        out.push_str(self.matched.get(n).map(String::as_str).unwrap_or(""));
                    } else {
                        out.push_str(self.vars.get(&name).map(String::as_str).unwrap_or(""));
                    }
                    rest = &after[j + 1..];
                }
                None => {
                    out.push_str(&rest[i..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn xs(&self, list: &[String]) -> Vec<String> {
        list.iter().map(|s| self.x(s)).collect()
    }

    fn command(&mut self, c: &Cmd) {
        match c {
            Cmd::If { branches, otherwise } => {
                for (cond, body) in branches {
                    if self.test(cond) {
                        return self.block(body);
                    }
                }
                if let Some(body) = otherwise {
                    self.block(body);
                }
            }
            Cmd::Stop => self.stopped = true,
            Cmd::Keep { flags } => {
                let flags = flags.as_ref().map(|f| self.flag_list(f)).unwrap_or_else(|| self.flags.clone());
                self.actions.retain(|a| !matches!(a, Action::Keep { .. }));
                self.actions.push(Action::Keep { flags });
            }
            Cmd::Discard => self.implicit_keep = false,
            Cmd::FileInto { mailbox, copy, flags } => {
                let mailbox = self.x(mailbox);
                let flags = flags.as_ref().map(|f| self.flag_list(f)).unwrap_or_else(|| self.flags.clone());
                if !self.actions.iter().any(|a| matches!(a, Action::FileInto { mailbox: m, .. } if *m == mailbox)) {
                    self.actions.push(Action::FileInto { mailbox, flags });
                }
                if !copy {
                    self.implicit_keep = false;
                }
            }
            Cmd::Redirect { address, copy } => {
                let address = self.x(address);
                let count = self.actions.iter().filter(|a| matches!(a, Action::Redirect { .. })).count();
                if count < MAX_REDIRECTS
                    && !self.actions.iter().any(|a| *a == Action::Redirect { address: address.clone() })
                {
                    self.actions.push(Action::Redirect { address });
                }
                if !copy {
                    self.implicit_keep = false;
                }
            }
            Cmd::Reject { reason } => {
                let reason = self.x(reason);
                self.actions.push(Action::Reject { reason });
                self.implicit_keep = false;
            }
            Cmd::SetFlag(f) => self.flags = self.flag_list(f),
            Cmd::AddFlag(f) => {
                for flag in self.flag_list(f) {
                    if !self.flags.iter().any(|x| x.eq_ignore_ascii_case(&flag)) {
                        self.flags.push(flag);
                    }
                }
            }
            Cmd::RemoveFlag(f) => {
                let gone = self.flag_list(f);
                self.flags.retain(|x| !gone.iter().any(|g| g.eq_ignore_ascii_case(x)));
            }
            Cmd::Set { name, value, modifiers } => {
                let mut v = self.x(value);
                for m in modifiers {
                    v = match m {
                        Modifier::Lower => v.to_lowercase(),
                        Modifier::Upper => v.to_uppercase(),
                        Modifier::LowerFirst => first_char(&v, |c| c.to_lowercase().collect()),
                        Modifier::UpperFirst => first_char(&v, |c| c.to_uppercase().collect()),
                        Modifier::QuoteWildcard => v.replace('\\', "\\\\").replace('*', "\\*").replace('?', "\\?"),
                        Modifier::Length => v.chars().count().to_string(),
                    };
                }
                v.truncate(v.char_indices().nth(MAX_VAR).map_or(v.len(), |(i, _)| i));
                self.vars.insert(name.clone(), v);
            }
            Cmd::Vacation(v) => {
                if !self.actions.iter().any(|a| matches!(a, Action::Vacation(_))) {
                    let mut v = v.clone();
                    v.reason = self.x(&v.reason);
                    v.subject = v.subject.map(|s| self.x(&s));
                    self.actions.push(Action::Vacation(v));
                }
            }
        }
    }

    /// Flags as a list, each string split on spaces (RFC 5232 §3).
    fn flag_list(&self, f: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.xs(f) {
            for flag in s.split_whitespace() {
                if !out.iter().any(|x| x.eq_ignore_ascii_case(flag)) {
                    out.push(flag.to_string());
                }
            }
        }
        out
    }

    /// Whether any value matches any key; a :matches success sets ${0}…${9}.
    fn matches(&mut self, m: &Matcher, values: &[String]) -> bool {
        let keys = self.xs(&m.keys);
        for v in values {
            let v = lower(v, m.cmp);
            for k in &keys {
                let k = lower(k, m.cmp);
                let hit = match m.mt {
                    MatchType::Is => v == k,
                    MatchType::Contains => v.contains(&k),
                    MatchType::Matches => {
                        let (p, t): (Vec<char>, Vec<char>) = (k.chars().collect(), v.chars().collect());
                        match glob(&p, &t) {
                            Some(caps) => {
                                if self.expand {
                                    self.matched = std::iter::once(v.clone()).chain(caps).take(10).collect();
                                }
                                true
                            }
                            None => false,
                        }
                    }
                };
                if hit {
                    return true;
                }
            }
        }
        false
    }

    fn header_values(&self, names: &[String]) -> Vec<String> {
        let Some(m) = &self.msg else { return Vec::new() };
        self.xs(names).iter().flat_map(|n| crate::summary::header_values(m, n)).collect()
    }

    fn addresses(&self, names: &[String], part: AddrPart) -> Vec<String> {
        let Some(m) = &self.msg else { return Vec::new() };
        let mut out = Vec::new();
        for name in self.xs(names) {
            for h in m.headers().iter().filter(|h| h.name().eq_ignore_ascii_case(&name)) {
                if let Some(list) = h.value().as_address() {
                    out.extend(list.iter().filter_map(|a| a.address()).map(|a| addr_part(a, part)));
                }
            }
        }
        out
    }

    fn test(&mut self, c: &Cond) -> bool {
        match c {
            Cond::True => true,
            Cond::False => false,
            Cond::Not(x) => !self.test(x),
            Cond::AllOf(list) => list.iter().all(|x| self.test(x)),
            Cond::AnyOf(list) => list.iter().any(|x| self.test(x)),
            Cond::Exists(names) => {
                let names = self.xs(names);
                self.msg
                    .as_ref()
                    .is_some_and(|m| names.iter().all(|n| m.headers().iter().any(|h| h.name().eq_ignore_ascii_case(n))))
            }
            Cond::Size { over, limit } => {
                let size = self.raw.len() as u64;
                if *over { size > *limit } else { size < *limit }
            }
            Cond::Header { m, headers } => {
                let values = self.header_values(headers);
                self.matches(m, &values)
            }
            Cond::Address { part, m, headers } => {
                let values = self.addresses(headers, *part);
                self.matches(m, &values)
            }
            Cond::Envelope { part, m, which } => {
                let values: Vec<String> = self
                    .xs(which)
                    .iter()
                    .filter_map(|w| match w.to_ascii_lowercase().as_str() {
                        "from" => Some(addr_part(&self.env.from, *part)),
                        "to" => Some(addr_part(&self.env.to, *part)),
                        _ => None,
                    })
                    .collect();
                self.matches(m, &values)
            }
            Cond::Body { part, m } => {
                let text = match (part, &self.msg) {
                    (BodyPart::Text, Some(msg)) => crate::summary::body_text(msg),
                    _ => String::from_utf8_lossy(&self.raw[crate::summary::header_of(self.raw).len()..]).into_owned(),
                };
                // Body tests are "contains"-like over the whole text (RFC 5173 §5).
                self.matches(m, &[text])
            }
            Cond::HasFlag { m } => {
                let flags = self.flags.clone();
                self.matches(m, &flags)
            }
            Cond::Str { m, source } => {
                let values = self.xs(source);
                self.matches(m, &values)
            }
        }
    }
}

fn first_char(s: &str, f: impl Fn(char) -> String) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => f(c) + chars.as_str(),
        None => String::new(),
    }
}

fn addr_part(a: &str, part: AddrPart) -> String {
    match (part, a.rsplit_once('@')) {
        (AddrPart::All, _) => a.to_string(),
        (AddrPart::Local, Some((l, _))) => l.to_string(),
        (AddrPart::Domain, Some((_, d))) => d.to_string(),
        (AddrPart::Local, None) => a.to_string(),
        (AddrPart::Domain, None) => String::new(),
    }
}
