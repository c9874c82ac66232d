//! NOTIFY (RFC 5465): which mailboxes a client wants to hear about and of
//! what, and how a change is worded. `NOTIFY SET [STATUS] (filter (events))…`
//! is read here; the session (`session/notify.rs`) watches the account and
//! asks `changes` what to tell between commands.
//!
//! Other mailboxes are told by STATUS (messages in and out, flag changes as
//! HIGHESTMODSEQ) and LIST (a name that came or went, a subscription), from
//! two listings of the account's mailboxes: only what moved is said. The
//! selected mailbox is told as IMAP always tells it (EXISTS, EXPUNGE, FETCH),
//! just without waiting for a command — or, for `selected-delayed`, with its
//! expunges kept for a command that allows them.

use super::extended::{Tok, tokens};
use crate::store::MailboxInfo;

/// The events Hato can report, for BADEVENT.
pub const EVENTS: &str = "MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange";

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Selected,
    /// As Selected, but expunges wait for a command that may tell them.
    SelectedDelayed,
    Inboxes,
    Personal,
    Subscribed,
    Subtree(Vec<String>),
    Mailboxes(Vec<String>),
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Events {
    /// MessageNew and MessageExpunge (RFC 5465 §5: one is never without the other).
    pub messages: bool,
    /// FETCH attributes to send for each new message of the selected mailbox.
    pub fetch: Option<String>,
    pub flags: bool,
    pub names: bool,
    pub subscriptions: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub filter: Filter,
    pub events: Events,
}

#[derive(Debug, PartialEq)]
pub enum Command {
    None,
    Set { status: bool, groups: Vec<Group> },
}

/// Why a NOTIFY is refused: BAD for grammar, NO [BADEVENT] for an event
/// Hato does not report.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    Bad(&'static str),
    BadEvent,
}

/// `line` as a NOTIFY command: its tag and what it asks, None when it is
/// no NOTIFY. `decode` turns a mailbox name from the wire into the store's.
pub fn recognise(
    line: &[u8],
    decode: &dyn Fn(&[u8]) -> Result<String, &'static str>,
) -> Option<(String, Result<Command, Refusal>)> {
    let t = tokens(line)?;
    let word = |i: usize| match t.get(i) {
        Some((Tok::Word(w), _)) => Some(String::from_utf8_lossy(w).to_ascii_uppercase()),
        _ => None,
    };
    let tag = match t.first()? {
        (Tok::Word(w), _) => String::from_utf8_lossy(w).into_owned(),
        _ => return None,
    };
    if word(1).as_deref() != Some("NOTIFY") {
        return None;
    }
    let parsed = match word(2).as_deref() {
        Some("NONE") if t.len() == 3 => Ok(Command::None),
        Some("SET") => set(&t[3..], decode),
        _ => Err(Refusal::Bad("NOTIFY takes NONE or SET")),
    };
    Some((tag, parsed))
}

fn set(t: &[(Tok, usize)], decode: &dyn Fn(&[u8]) -> Result<String, &'static str>) -> Result<Command, Refusal> {
    let mut i = 0;
    let status = matches!(t.first(), Some((Tok::Word(w), _)) if w.eq_ignore_ascii_case(b"STATUS"));
    if status {
        i += 1;
    }
    let mut groups = Vec::new();
    while i < t.len() {
        let (g, next) = group(t, i, decode)?;
        groups.push(g);
        i = next;
    }
    if groups.is_empty() {
        return Err(Refusal::Bad("NOTIFY SET needs at least one (filter events) group"));
    }
    if groups.iter().filter(|g| matches!(g.filter, Filter::Selected | Filter::SelectedDelayed)).count() > 1 {
        return Err(Refusal::Bad("the selected mailbox may be named once"));
    }
    Ok(Command::Set { status, groups })
}

/// One `(filter events)` at `i`; the group and the index after it.
fn group(
    t: &[(Tok, usize)],
    mut i: usize,
    decode: &dyn Fn(&[u8]) -> Result<String, &'static str>,
) -> Result<(Group, usize), Refusal> {
    let bad = Refusal::Bad;
    if !matches!(t.get(i), Some((Tok::Open, _))) {
        return Err(bad("each NOTIFY group is parenthesised"));
    }
    i += 1;
    let Some((Tok::Word(f), _)) = t.get(i) else { return Err(bad("a NOTIFY group starts with a filter")) };
    let f = String::from_utf8_lossy(f).to_ascii_uppercase();
    i += 1;
    let mut names = || -> Result<Vec<String>, Refusal> {
        let raw: Vec<&[u8]> = match t.get(i) {
            Some((Tok::Word(w), _)) => {
                i += 1;
                vec![w]
            }
            Some((Tok::Open, _)) => {
                let mut v = Vec::new();
                i += 1;
                while let Some((Tok::Word(w), _)) = t.get(i) {
                    v.push(w.as_slice());
                    i += 1;
                }
                if !matches!(t.get(i), Some((Tok::Close, _))) || v.is_empty() {
                    return Err(bad("a list of mailboxes is parenthesised names"));
                }
                i += 1;
                v
            }
            _ => return Err(bad("the filter needs a mailbox name")),
        };
        raw.into_iter().map(|n| decode(n).map_err(Refusal::Bad)).collect()
    };
    let filter = match f.as_str() {
        "SELECTED" => Filter::Selected,
        "SELECTED-DELAYED" => Filter::SelectedDelayed,
        "INBOXES" => Filter::Inboxes,
        "PERSONAL" => Filter::Personal,
        "SUBSCRIBED" => Filter::Subscribed,
        "SUBTREE" => Filter::Subtree(names()?),
        "MAILBOXES" => Filter::Mailboxes(names()?),
        _ => return Err(bad("unknown NOTIFY filter")),
    };
    let selected = matches!(filter, Filter::Selected | Filter::SelectedDelayed);
    let mut events = Events::default();
    let (mut new, mut expunge) = (false, false);
    match t.get(i) {
        Some((Tok::Word(w), _)) if w.eq_ignore_ascii_case(b"NONE") => i += 1,
        Some((Tok::Open, _)) => {
            i += 1;
            loop {
                match t.get(i) {
                    Some((Tok::Close, _)) => break,
                    Some((Tok::Word(w), _)) => match String::from_utf8_lossy(w).to_ascii_uppercase().as_str() {
                        "MESSAGENEW" => {
                            new = true;
                            if let Some((Tok::Open, _)) = t.get(i + 1) {
                                if !selected {
                                    return Err(bad("FETCH attributes are for the selected mailbox only"));
                                }
                                let close = (i + 2..t.len())
                                    .find(|k| matches!(t[*k].0, Tok::Close))
                                    .ok_or(bad("unclosed FETCH attributes"))?;
                                events.fetch = Some(format!("({})", fetch_text(&t[i + 2..close])));
                                i = close;
                            }
                        }
                        "MESSAGEEXPUNGE" => expunge = true,
                        "FLAGCHANGE" => events.flags = true,
                        "MAILBOXNAME" => events.names = true,
                        "SUBSCRIPTIONCHANGE" => events.subscriptions = true,
                        _ => return Err(Refusal::BadEvent),
                    },
                    _ => return Err(bad("unclosed NOTIFY event list")),
                }
                i += 1;
            }
            i += 1;
        }
        _ => return Err(bad("a NOTIFY group ends with its events")),
    }
    // RFC 5465 §5: MessageNew and MessageExpunge come together, and
    // FlagChange only with them.
    if new != expunge || (events.flags && !new) {
        return Err(bad("MessageNew and MessageExpunge go together, and FlagChange needs them"));
    }
    events.messages = new;
    if !matches!(t.get(i), Some((Tok::Close, _))) {
        return Err(bad("a NOTIFY group ends after its events"));
    }
    Ok((Group { filter, events }, i + 1))
}

/// The FETCH attributes between two token positions, as written. A flat
/// list: nested parentheses (BODY[HEADER.FIELDS (…)]) end it early, and the
/// session's check of the attributes with imap-codec refuses what is left.
fn fetch_text(t: &[(Tok, usize)]) -> String {
    let words: Vec<String> = t
        .iter()
        .filter_map(|x| match &x.0 {
            Tok::Word(w) => Some(String::from_utf8_lossy(w).into_owned()),
            _ => None,
        })
        .collect();
    words.join(" ")
}

impl Filter {
    /// Whether a mailbox other than the selected one falls under this filter.
    fn covers(&self, m: &MailboxInfo) -> bool {
        match self {
            Filter::Selected | Filter::SelectedDelayed => false,
            Filter::Inboxes => m.name == "INBOX",
            Filter::Personal => true,
            Filter::Subscribed => m.subscribed,
            Filter::Subtree(names) => names
                .iter()
                .any(|n| m.name == *n || m.name.strip_prefix(n.as_str()).is_some_and(|r| r.starts_with('/'))),
            Filter::Mailboxes(names) => names.contains(&m.name),
        }
    }
}

/// The events asked for a mailbox other than the selected one: the first
/// group whose filter covers it decides.
pub fn events_for<'a>(groups: &'a [Group], m: &MailboxInfo) -> Option<&'a Events> {
    groups.iter().find(|g| g.filter.covers(m)).map(|g| &g.events)
}

/// The events asked for the selected mailbox, and whether its expunges wait.
pub fn selected_events(groups: &[Group]) -> Option<(&Events, bool)> {
    groups.iter().find_map(|g| match g.filter {
        Filter::Selected => Some((&g.events, false)),
        Filter::SelectedDelayed => Some((&g.events, true)),
        _ => None,
    })
}

/// The STATUS a NOTIFY SET STATUS sends first for a mailbox with message events.
pub fn initial_status(e: &Events, m: &MailboxInfo, wire: &str) -> Option<String> {
    if !e.messages {
        return None;
    }
    let modseq = if e.flags { format!(" HIGHESTMODSEQ {}", m.highestmodseq) } else { String::new() };
    Some(format!(
        "* STATUS {wire} (MESSAGES {} UIDNEXT {} UIDVALIDITY {}{modseq})\r\n",
        m.messages, m.uidnext, m.uidvalidity
    ))
}

/// What to tell about the mailboxes other than `selected` between two
/// listings of them. `wire` gives a name as the client reads it.
pub fn changes(
    groups: &[Group],
    before: &[MailboxInfo],
    after: &[MailboxInfo],
    selected: Option<&str>,
    wire: &dyn Fn(&str) -> String,
) -> Vec<String> {
    let mut out = Vec::new();
    for m in after {
        let Some(e) = events_for(groups, m) else { continue };
        let old = before.iter().find(|b| b.name == m.name);
        if Some(m.name.as_str()) != selected
            && let Some(old) = old
        {
            let mut items = Vec::new();
            if e.messages && (old.messages, old.uidnext, old.uidvalidity) != (m.messages, m.uidnext, m.uidvalidity) {
                items.push(format!("MESSAGES {} UIDNEXT {}", m.messages, m.uidnext));
                if old.uidvalidity != m.uidvalidity {
                    items.push(format!("UIDVALIDITY {}", m.uidvalidity));
                }
            }
            if e.flags && old.highestmodseq != m.highestmodseq {
                items.push(format!("HIGHESTMODSEQ {}", m.highestmodseq));
            }
            if !items.is_empty() {
                out.push(format!("* STATUS {} ({})\r\n", wire(&m.name), items.join(" ")));
            }
        }
        match old {
            None if e.names => out.push(format!("* LIST ({}) \"/\" {}\r\n", subscribed(m), wire(&m.name))),
            Some(old) if e.subscriptions && old.subscribed != m.subscribed => {
                out.push(format!("* LIST ({}) \"/\" {}\r\n", subscribed(m), wire(&m.name)))
            }
            _ => {}
        }
    }
    for gone in before.iter().filter(|b| !after.iter().any(|a| a.name == b.name)) {
        if events_for(groups, gone).is_some_and(|e| e.names) {
            out.push(format!("* LIST (\\NonExistent) \"/\" {}\r\n", wire(&gone.name)));
        }
    }
    out
}

fn subscribed(m: &MailboxInfo) -> &'static str {
    if m.subscribed { "\\Subscribed" } else { "" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(b: &[u8]) -> Result<String, &'static str> {
        String::from_utf8(b.to_vec()).map_err(|_| "not UTF-8")
    }

    fn parse(line: &str) -> Result<Command, Refusal> {
        recognise(line.as_bytes(), &decode).expect("a NOTIFY").1
    }

    fn info(name: &str, messages: i64, uidnext: i64, modseq: i64, subscribed: bool) -> MailboxInfo {
        MailboxInfo {
            name: name.into(),
            special_use: None,
            subscribed,
            messages,
            uidvalidity: 7,
            uidnext,
            highestmodseq: modseq,
        }
    }

    #[test]
    fn reads_groups_and_refuses_what_the_rfc_forbids() {
        let Ok(Command::Set { status, groups }) = parse(
            "a NOTIFY SET STATUS (selected (MessageNew (UID FLAGS) MessageExpunge)) (subtree (Lists \"Work\") (MessageNew MessageExpunge FlagChange)) (personal (MailboxName SubscriptionChange))\r\n",
        ) else {
            panic!()
        };
        assert!(status);
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].filter, Filter::Selected);
        assert_eq!(groups[0].events.fetch.as_deref(), Some("(UID FLAGS)"));
        assert_eq!(groups[1].filter, Filter::Subtree(vec!["Lists".into(), "Work".into()]));
        assert!(groups[1].events.messages && groups[1].events.flags);
        assert!(groups[2].events.names && groups[2].events.subscriptions && !groups[2].events.messages);
        assert_eq!(parse("a NOTIFY NONE\r\n"), Ok(Command::None));
        assert!(matches!(parse("a NOTIFY SET (inboxes NONE)\r\n"), Ok(Command::Set { .. })));
        assert_eq!(parse("a NOTIFY SET (inboxes (AnnotationChange))\r\n"), Err(Refusal::BadEvent));
        for bad in [
            "a NOTIFY SET (inboxes (MessageNew))\r\n",
            "a NOTIFY SET (inboxes (FlagChange))\r\n",
            "a NOTIFY SET (inboxes (MessageNew (UID) MessageExpunge))\r\n",
            "a NOTIFY SET (nowhere (MessageNew MessageExpunge))\r\n",
            "a NOTIFY SET (selected NONE) (selected-delayed NONE)\r\n",
            "a NOTIFY SET\r\n",
            "a NOTIFY SET (mailboxes (MessageNew MessageExpunge))\r\n",
            "a NOTIFY SET (inboxes (MessageNew MessageExpunge)\r\n",
            "a NOTIFY MAYBE\r\n",
        ] {
            assert!(matches!(parse(bad), Err(Refusal::Bad(_))), "{bad}");
        }
        assert!(recognise(b"a NOOP\r\n", &decode).is_none());
    }

    #[test]
    fn tells_only_what_moved_in_the_mailboxes_asked_for() {
        let Ok(Command::Set { groups, .. }) = parse(
            "a NOTIFY SET (mailboxes (INBOX Lists) (MessageNew MessageExpunge FlagChange)) (personal (MailboxName SubscriptionChange))\r\n",
        ) else {
            panic!()
        };
        let before = [info("INBOX", 1, 2, 5, true), info("Lists", 3, 4, 9, false), info("Old", 0, 1, 1, false)];
        let after = [
            info("INBOX", 2, 3, 6, true),
            info("Lists", 3, 4, 10, true),
            info("New", 0, 1, 1, false),
            info("Quiet", 0, 1, 1, false),
        ];
        let wire = |n: &str| format!("\"{n}\"");
        let told = changes(&groups, &before, &after, Some("INBOX"), &wire);
        assert_eq!(
            told,
            [
                "* STATUS \"Lists\" (HIGHESTMODSEQ 10)\r\n",
                "* LIST () \"/\" \"New\"\r\n",
                "* LIST () \"/\" \"Quiet\"\r\n",
                "* LIST (\\NonExistent) \"/\" \"Old\"\r\n",
            ],
            "the selected INBOX is told as selected; Lists' subscription is not asked for (first group wins)"
        );
        let told = changes(&groups, &before, &after, None, &wire);
        assert_eq!(told[0], "* STATUS \"INBOX\" (MESSAGES 2 UIDNEXT 3 HIGHESTMODSEQ 6)\r\n");
        assert_eq!(
            initial_status(&groups[0].events, &after[0], "INBOX").unwrap(),
            "* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UIDVALIDITY 7 HIGHESTMODSEQ 6)\r\n"
        );
    }
}
