//! Grammar imap-codec does not cover: ESEARCH's `SEARCH RETURN (…)` (RFC 4731)
//! with CONTEXT's UPDATE and PARTIAL and its CANCELUPDATE (RFC 5267), and LIST-EXTENDED's selection/return options and pattern lists (RFC 5258,
//! RFC 5819 LIST-STATUS). Both are recognised on a command without literals;
//! anything else goes to imap-codec unchanged.

/// ESEARCH return options.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SearchReturn {
    pub min: bool,
    pub max: bool,
    pub count: bool,
    pub all: bool,
    /// SEARCHRES: keep the result for "$".
    pub save: bool,
    /// CONTEXT (RFC 5267): keep the result up to date with ADDTO/REMOVEFROM.
    pub update: bool,
    /// CONTEXT: the 1-based positions lo..=hi of the result only.
    pub partial: Option<(u32, u32)>,
}

/// A LIST or LSUB command in extended form. Names are still on-the-wire bytes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ListCommand {
    pub lsub: bool,
    /// Selection options, upper-cased (SUBSCRIBED, SPECIAL-USE, RECURSIVEMATCH, REMOTE).
    pub selection: Vec<String>,
    pub reference: Vec<u8>,
    pub patterns: Vec<Vec<u8>>,
    /// Return options, upper-cased (SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS).
    pub returns: Vec<String>,
    /// STATUS items asked for by RETURN (STATUS (…)).
    pub status: Vec<String>,
}

pub enum Extended {
    /// A SEARCH with its RETURN clause removed, to be decoded by imap-codec.
    Search {
        rewritten: Vec<u8>,
        ret: SearchReturn,
    },
    List {
        tag: String,
        cmd: ListCommand,
    },
    /// CANCELUPDATE (RFC 5267): stop updating the searches of these tags.
    CancelUpdate {
        tag: String,
        tags: Vec<String>,
    },
    /// Recognised but malformed: answer BAD with this text.
    Bad {
        tag: String,
        why: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Word(Vec<u8>),
    Open,
    Close,
}

/// Splits a command line into words, quoted strings and parentheses, with
/// each token's end offset. None if the line holds something else (a literal).
pub(super) fn tokens(line: &[u8]) -> Option<Vec<(Tok, usize)>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b' ' | b'\r' | b'\n' => i += 1,
            b'(' => {
                i += 1;
                out.push((Tok::Open, i));
            }
            b')' => {
                i += 1;
                out.push((Tok::Close, i));
            }
            b'{' => return None,
            b'"' => {
                let mut w = Vec::new();
                i += 1;
                loop {
                    match line.get(i)? {
                        b'"' => break,
                        b'\\' => {
                            w.push(*line.get(i + 1)?);
                            i += 2;
                        }
                        c => {
                            w.push(*c);
                            i += 1;
                        }
                    }
                }
                i += 1;
                out.push((Tok::Word(w), i));
            }
            _ => {
                let start = i;
                while i < line.len() && !matches!(line[i], b' ' | b'(' | b')' | b'\r' | b'\n' | b'"') {
                    i += 1;
                }
                out.push((Tok::Word(line[start..i].to_vec()), i));
            }
        }
    }
    Some(out)
}

fn word(t: Option<&(Tok, usize)>) -> Option<String> {
    match t {
        Some((Tok::Word(w), _)) => Some(String::from_utf8_lossy(w).to_ascii_uppercase()),
        _ => None,
    }
}

/// Reads a parenthesised list of words starting at `i` (which must be "(");
/// returns the upper-cased words and the index after ")".
fn word_list(t: &[(Tok, usize)], mut i: usize) -> Option<(Vec<String>, usize)> {
    if t.get(i)?.0 != Tok::Open {
        return None;
    }
    i += 1;
    let mut out = Vec::new();
    loop {
        match &t.get(i)?.0 {
            Tok::Close => return Some((out, i + 1)),
            Tok::Word(w) => out.push(String::from_utf8_lossy(w).to_ascii_uppercase()),
            Tok::Open => return None,
        }
        i += 1;
    }
}

/// SEARCHRES (RFC 5182): replaces each "$" standing for a sequence set with
/// the saved result, `saved(true)` in UID form (after the UID search key or as
/// a UID command's set), `saved(false)` as sequence numbers. None if there is no "$".
pub fn substitute_saved(line: &[u8], saved: &dyn Fn(bool) -> String) -> Option<Vec<u8>> {
    let t = tokens(line)?;
    let is = |i: usize, w: &str| matches!(t.get(i), Some((Tok::Word(x), _)) if x.eq_ignore_ascii_case(w.as_bytes()));
    let uid_command = is(1, "UID");
    let mut out = Vec::with_capacity(line.len());
    let mut copied = 0;
    let mut any = false;
    for (i, (tok, end)) in t.iter().enumerate() {
        if !matches!(tok, Tok::Word(w) if w == b"$") {
            continue;
        }
        let start = end - 1;
        // A quoted "$" is a string, not a set.
        if line.get(start) != Some(&b'$') {
            continue;
        }
        let uid_form = (i > 0 && is(i - 1, "UID")) || (uid_command && i == 3);
        out.extend_from_slice(&line[copied..start]);
        out.extend_from_slice(saved(uid_form).as_bytes());
        copied = *end;
        any = true;
    }
    if !any {
        return None;
    }
    out.extend_from_slice(&line[copied..]);
    Some(out)
}

pub fn recognise(line: &[u8]) -> Option<Extended> {
    let t = tokens(line)?;
    let tag = match t.first()? {
        (Tok::Word(w), _) => String::from_utf8_lossy(w).to_string(),
        _ => return None,
    };
    let mut i = 1;
    if word(t.get(i)).as_deref() == Some("UID") {
        i += 1;
    }
    match word(t.get(i)).as_deref() {
        // ESEARCH (RFC 4731), and ESORT and CONTEXT (RFC 5267).
        Some(verb @ ("SEARCH" | "SORT")) if word(t.get(i + 1)).as_deref() == Some("RETURN") => {
            let Some((opts, next)) = word_list(&t, i + 2) else {
                return Some(Extended::Bad { tag, why: "RETURN needs a parenthesised list of options" });
            };
            let ret = match search_return(&opts) {
                Ok(r) if verb == "SORT" && r.save => {
                    return Some(Extended::Bad { tag, why: "SORT RETURN cannot SAVE" });
                }
                Ok(r) => r,
                Err(why) => return Some(Extended::Bad { tag, why }),
            };
            let search_end = t[i].1;
            let rest_start = t.get(next - 1)?.1;
            let mut rewritten = line[..search_end].to_vec();
            rewritten.extend_from_slice(&line[rest_start..]);
            Some(Extended::Search { rewritten, ret })
        }
        Some("CANCELUPDATE") if i == 1 => {
            let tags: Vec<String> = t[2..]
                .iter()
                .filter_map(|(tok, _)| match tok {
                    Tok::Word(w) => Some(String::from_utf8_lossy(w).into_owned()),
                    _ => None,
                })
                .collect();
            if tags.is_empty() || tags.len() != t.len() - 2 {
                return Some(Extended::Bad { tag, why: "CANCELUPDATE takes the tags of searches, as strings" });
            }
            Some(Extended::CancelUpdate { tag, tags })
        }
        Some(cmd @ ("LIST" | "LSUB")) if i == 1 => {
            let extended = t.get(2).is_some_and(|x| x.0 == Tok::Open)
                || t.get(3).is_some_and(|x| x.0 == Tok::Open)
                || t.iter().skip(4).any(|x| matches!(&x.0, Tok::Word(w) if w.eq_ignore_ascii_case(b"RETURN")));
            if !extended {
                return None;
            }
            Some(match list(cmd == "LSUB", &t) {
                Ok(cmd) => Extended::List { tag, cmd },
                Err(why) => Extended::Bad { tag, why },
            })
        }
        _ => None,
    }
}

/// The options of SEARCH/SORT RETURN (…), upper-cased. An empty list means ALL.
fn search_return(opts: &[String]) -> Result<SearchReturn, &'static str> {
    let mut ret = SearchReturn::default();
    let mut o = opts.iter();
    while let Some(opt) = o.next() {
        match opt.as_str() {
            "MIN" => ret.min = true,
            "MAX" => ret.max = true,
            "COUNT" => ret.count = true,
            "ALL" => ret.all = true,
            "SAVE" => ret.save = true,
            "UPDATE" => ret.update = true,
            // A hint that more is coming (RFC 5267 §4.2): nothing to do.
            "CONTEXT" => {}
            "PARTIAL" => {
                let range = o.next().ok_or("PARTIAL needs a range like 1:100")?;
                ret.partial = Some(partial_range(range).ok_or("PARTIAL takes two positions like 1:100")?);
            }
            _ => return Err("unknown SEARCH RETURN option"),
        }
    }
    if opts.is_empty() {
        ret.all = true;
    }
    Ok(ret)
}

/// RFC 5267 partial-range: two positions from 1, either order, no "*".
fn partial_range(w: &str) -> Option<(u32, u32)> {
    let (a, b) = w.split_once(':')?;
    let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
    (a > 0 && b > 0).then(|| (a.min(b), a.max(b)))
}

/// LIST selection options Hato knows (RFC 5258, RFC 6154's SPECIAL-USE).
const SELECTION: &[&str] = &["SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"];
/// LIST return options Hato knows (RFC 5258, RFC 6154, RFC 5819's STATUS).
const RETURNS: &[&str] = &["SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"];

fn list(lsub: bool, t: &[(Tok, usize)]) -> Result<ListCommand, &'static str> {
    let mut cmd = ListCommand { lsub, ..Default::default() };
    let mut i = 2;
    if t.get(i).is_some_and(|x| x.0 == Tok::Open) {
        let (opts, next) = word_list(t, i).ok_or("bad LIST selection options")?;
        // RFC 5258 §3: an unknown selection option is an error, and
        // RECURSIVEMATCH only qualifies another option.
        if opts.iter().any(|o| !SELECTION.contains(&o.as_str())) {
            return Err("unknown LIST selection option");
        }
        if opts.iter().any(|o| o == "RECURSIVEMATCH") && opts.iter().all(|o| o == "RECURSIVEMATCH" || o == "REMOTE") {
            return Err("RECURSIVEMATCH needs another selection option");
        }
        cmd.selection = opts;
        i = next;
    }
    match t.get(i) {
        Some((Tok::Word(w), _)) => cmd.reference = w.clone(),
        _ => return Err("LIST needs a reference name"),
    }
    i += 1;
    match t.get(i) {
        Some((Tok::Word(w), _)) => {
            cmd.patterns.push(w.clone());
            i += 1;
        }
        Some((Tok::Open, _)) => {
            i += 1;
            loop {
                match t.get(i) {
                    Some((Tok::Word(w), _)) => cmd.patterns.push(w.clone()),
                    Some((Tok::Close, _)) => break,
                    _ => return Err("bad LIST pattern list"),
                }
                i += 1;
            }
            i += 1;
        }
        _ => return Err("LIST needs a mailbox pattern"),
    }
    if let Some(w) = word(t.get(i)) {
        if w != "RETURN" {
            return Err("unexpected words after the LIST pattern");
        }
        i += 1;
        if t.get(i).map(|x| &x.0) != Some(&Tok::Open) {
            return Err("RETURN needs a parenthesised list");
        }
        i += 1;
        loop {
            match t.get(i).map(|x| &x.0) {
                Some(Tok::Close) => {
                    i += 1;
                    break;
                }
                Some(Tok::Word(w)) => {
                    let w = String::from_utf8_lossy(w).to_ascii_uppercase();
                    if !RETURNS.contains(&w.as_str()) {
                        return Err("unknown LIST return option");
                    }
                    if w == "STATUS" {
                        let (items, next) = word_list(t, i + 1).ok_or("STATUS needs a parenthesised item list")?;
                        cmd.status = items;
                        i = next - 1;
                    }
                    cmd.returns.push(w);
                }
                _ => return Err("bad LIST return options"),
            }
            i += 1;
        }
    }
    if i < t.len() {
        return Err("unexpected text after the LIST command");
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_return_is_stripped() {
        let Some(Extended::Search { rewritten, ret }) =
            recognise(b"a1 UID SEARCH RETURN (MIN COUNT) UNSEEN FROM \"x y\"\r\n")
        else {
            panic!()
        };
        assert_eq!(rewritten, b"a1 UID SEARCH UNSEEN FROM \"x y\"\r\n");
        assert_eq!(ret, SearchReturn { min: true, count: true, ..Default::default() });
        let Some(Extended::Search { ret, .. }) = recognise(b"a2 SEARCH RETURN () ALL\r\n") else { panic!() };
        assert!(ret.all);
        let Some(Extended::Search { ret, .. }) = recognise(b"a3 SEARCH RETURN (SAVE) ALL\r\n") else { panic!() };
        assert!(ret.save && !ret.all);
        assert!(matches!(recognise(b"a3 SEARCH RETURN (FROB) ALL\r\n"), Some(Extended::Bad { .. })));
        assert!(recognise(b"a4 SEARCH ALL\r\n").is_none());
    }

    #[test]
    fn context_options_and_cancelupdate() {
        let Some(Extended::Search { rewritten, ret }) =
            recognise(b"a1 SORT RETURN (UPDATE PARTIAL 4:2) (ARRIVAL) US-ASCII ALL\r\n")
        else {
            panic!()
        };
        assert_eq!(rewritten, b"a1 SORT (ARRIVAL) US-ASCII ALL\r\n");
        assert_eq!(ret, SearchReturn { update: true, partial: Some((2, 4)), ..Default::default() });
        let Some(Extended::Search { ret, .. }) = recognise(b"a2 SEARCH RETURN (CONTEXT COUNT) ALL\r\n") else {
            panic!()
        };
        assert!(ret.count && !ret.all && !ret.update);
        for bad in [
            &b"b SEARCH RETURN (PARTIAL 1) ALL\r\n"[..],
            b"b SEARCH RETURN (PARTIAL 1:*) ALL\r\n",
            b"b SEARCH RETURN (PARTIAL) ALL\r\n",
            b"b SEARCH RETURN (PARTIAL 0:3) ALL\r\n",
        ] {
            assert!(matches!(recognise(bad), Some(Extended::Bad { .. })), "{}", String::from_utf8_lossy(bad));
        }
        let Some(Extended::CancelUpdate { tag, tags }) = recognise(b"c CANCELUPDATE \"a1\" \"a2\"\r\n") else {
            panic!()
        };
        assert_eq!((tag.as_str(), tags), ("c", vec!["a1".to_string(), "a2".to_string()]));
        assert!(matches!(recognise(b"c CANCELUPDATE\r\n"), Some(Extended::Bad { .. })));
    }

    #[test]
    fn saved_results_replace_dollar() {
        let f = |uid: bool| if uid { "10:12".to_string() } else { "3:5".to_string() };
        let sub = |l: &[u8]| substitute_saved(l, &f).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(sub(b"a FETCH $ (FLAGS)\r\n").unwrap(), "a FETCH 3:5 (FLAGS)\r\n");
        assert_eq!(sub(b"a UID FETCH $ (FLAGS)\r\n").unwrap(), "a UID FETCH 10:12 (FLAGS)\r\n");
        assert_eq!(sub(b"a SEARCH UID $ SEEN\r\n").unwrap(), "a SEARCH UID 10:12 SEEN\r\n");
        assert_eq!(sub(b"a SEARCH $ SUBJECT \"$\"\r\n").unwrap(), "a SEARCH 3:5 SUBJECT \"$\"\r\n");
        assert!(sub(b"a FETCH 1 (FLAGS)\r\n").is_none());
    }

    #[test]
    fn list_extended_forms() {
        let Some(Extended::List { tag, cmd }) = recognise(
            b"t LIST (SUBSCRIBED) \"\" (\"INBOX\" Sent*) RETURN (CHILDREN STATUS (MESSAGES UNSEEN SIZE))\r\n",
        ) else {
            panic!()
        };
        assert_eq!(tag, "t");
        assert_eq!(cmd.selection, ["SUBSCRIBED"]);
        assert_eq!(cmd.patterns, [b"INBOX".to_vec(), b"Sent*".to_vec()]);
        assert_eq!(cmd.returns, ["CHILDREN", "STATUS"]);
        assert_eq!(cmd.status, ["MESSAGES", "UNSEEN", "SIZE"]);
        assert!(recognise(b"t LIST \"\" *\r\n").is_none(), "the classic form stays with imap-codec");
        let Some(Extended::List { cmd, .. }) = recognise(b"t LIST \"\" % RETURN (SPECIAL-USE)\r\n") else { panic!() };
        assert_eq!(cmd.returns, ["SPECIAL-USE"]);
        assert!(matches!(recognise(b"t LIST (SUBSCRIBED \"\" *\r\n"), Some(Extended::Bad { .. })));
        assert!(recognise(b"t LIST \"\" {5}\r\n").is_none());
    }
}
