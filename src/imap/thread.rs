//! THREAD (RFC 5256): ORDEREDSUBJECT and REFERENCES over `sort::Summary`s,
//! and the parenthesised form the THREAD response uses.

use std::collections::HashMap;

use super::sort::Summary;

/// One node of a thread tree; `n` is None for a message that is only known
/// from other messages' References (a "dummy").
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub n: Option<u64>,
    pub date: i64,
    pub children: Vec<Node>,
}

fn leaf(s: &Summary) -> Node {
    Node { n: Some(s.n), date: s.date, children: Vec::new() }
}

/// RFC 5256 §2.2 step 6: by sent date, then by order in the mailbox; a
/// dummy sorts as its first child.
fn sort_by_date(nodes: &mut [Node]) {
    nodes.sort_by_key(|x| (x.date, x.n.or_else(|| x.children.first().and_then(|c| c.n))));
}

pub fn ordered_subject(msgs: &[Summary]) -> Vec<Node> {
    let mut groups: Vec<(String, Vec<&Summary>)> = Vec::new();
    for m in msgs {
        match groups.iter_mut().find(|g| g.0 == m.base_subject) {
            Some(g) => g.1.push(m),
            None => groups.push((m.base_subject.clone(), vec![m])),
        }
    }
    let mut roots: Vec<Node> = groups
        .into_iter()
        .map(|(_, mut g)| {
            g.sort_by_key(|m| (m.date, m.n));
            let mut root = leaf(g[0]);
            root.children = g[1..].iter().map(|m| leaf(m)).collect();
            root
        })
        .collect();
    sort_by_date(&mut roots);
    roots
}

struct Container {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// RFC 5256 §2.2 REFERENCES: link messages by Message-ID/References, drop
/// empty links, gather roots with the same base subject, sort by date.
pub fn references(msgs: &[Summary]) -> Vec<Node> {
    let mut arena: Vec<Container> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut id_of = |arena: &mut Vec<Container>, id: &str| -> usize {
        *by_id.entry(id.to_string()).or_insert_with(|| {
            arena.push(Container { msg: None, parent: None, children: Vec::new() });
            arena.len() - 1
        })
    };
    let is_ancestor = |arena: &[Container], a: usize, mut b: usize| -> bool {
        // Whether `a` is `b` or one of its ancestors.
        loop {
            if a == b {
                return true;
            }
            match arena[b].parent {
                Some(p) => b = p,
                None => return false,
            }
        }
    };
    fn unlink(arena: &mut [Container], c: usize) {
        if let Some(p) = arena[c].parent.take() {
            arena[p].children.retain(|x| *x != c);
        }
    }
    for (i, m) in msgs.iter().enumerate() {
        let mut c = m.message_id.as_deref().map(|id| id_of(&mut arena, id));
        if c.is_some_and(|c| arena[c].msg.is_some()) {
            c = None; // A duplicate Message-ID: this one is threaded on its own.
        }
        let c = c.unwrap_or_else(|| {
            arena.push(Container { msg: None, parent: None, children: Vec::new() });
            arena.len() - 1
        });
        arena[c].msg = Some(i);
        let refs: Vec<usize> = m.references.iter().map(|r| id_of(&mut arena, r)).collect();
        for pair in refs.windows(2) {
            let (p, ch) = (pair[0], pair[1]);
            if arena[ch].parent.is_none() && !is_ancestor(&arena, ch, p) {
                arena[ch].parent = Some(p);
                arena[p].children.push(ch);
            }
        }
        unlink(&mut arena, c);
        if let Some(&last) = refs.last()
            && !is_ancestor(&arena, c, last)
        {
            arena[c].parent = Some(last);
            arena[last].children.push(c);
        }
    }
    fn build(arena: &[Container], msgs: &[Summary], c: usize) -> Vec<Node> {
        let mut kids: Vec<Node> = arena[c].children.iter().flat_map(|k| build(arena, msgs, *k)).collect();
        match arena[c].msg {
            Some(i) => {
                sort_by_date(&mut kids);
                vec![Node { n: Some(msgs[i].n), date: msgs[i].date, children: kids }]
            }
            // An empty container gives way to its children.
            None => kids,
        }
    }
    let mut roots: Vec<Node> = Vec::new();
    for c in (0..arena.len()).filter(|c| arena[*c].parent.is_none()) {
        let kids: Vec<Node> = arena[c].children.iter().flat_map(|k| build(&arena, msgs, *k)).collect();
        match arena[c].msg {
            Some(_) => roots.extend(build(&arena, msgs, c)),
            // A missing root with several replies stays as their common (dummy) parent.
            None if kids.len() > 1 => {
                let mut kids = kids;
                sort_by_date(&mut kids);
                roots.push(Node { n: None, date: kids[0].date, children: kids });
            }
            None => roots.extend(kids),
        }
    }
    gather_by_subject(roots, msgs)
}

/// RFC 5256 §2.2 step 5: roots with the same base subject are put together.
/// Each subject's representative is a dummy if there is one, else a root
/// that is not a reply; a reply joins a non-reply as its child, and
/// anything else shares a new dummy parent with the representative.
fn gather_by_subject(roots: Vec<Node>, msgs: &[Summary]) -> Vec<Node> {
    let summary =
        |n: &Node| n.n.or_else(|| n.children.first().and_then(|c| c.n)).and_then(|x| msgs.iter().find(|m| m.n == x));
    let subject = |n: &Node| summary(n).map(|m| m.base_subject.clone()).unwrap_or_default();
    let reply = |n: &Node| n.n.is_some() && summary(n).is_some_and(|m| m.reply);
    let mut table: HashMap<String, usize> = HashMap::new();
    for (i, r) in roots.iter().enumerate() {
        let s = subject(r);
        if s.is_empty() {
            continue;
        }
        match table.get(&s) {
            None => {
                table.insert(s, i);
            }
            Some(&j) => {
                let held = &roots[j];
                if (held.n.is_some() && r.n.is_none()) || (reply(held) && r.n.is_some() && !reply(r)) {
                    table.insert(s, i);
                }
            }
        }
    }
    let mut slots: Vec<Option<Node>> = roots.into_iter().map(Some).collect();
    for i in 0..slots.len() {
        let Some(s) = slots[i].as_ref().map(subject) else { continue };
        let Some(&j) = table.get(&s) else { continue };
        if i == j {
            continue;
        }
        let (Some(node), Some(held)) = (slots[i].take(), slots[j].take()) else { continue };
        let held = match (held.n.is_some(), node.n.is_some()) {
            (false, false) => Node { children: [held.children, node.children].concat(), ..held },
            (false, true) => Node { children: [held.children, vec![node]].concat(), ..held },
            (true, false) => Node { children: [node.children, vec![held]].concat(), ..node },
            (true, true) if !reply(&held) && reply(&node) => {
                let mut held = held;
                held.children.push(node);
                held
            }
            (true, true) => Node { n: None, date: 0, children: vec![held, node] },
        };
        let mut held = held;
        sort_by_date(&mut held.children);
        if held.n.is_none() {
            held.date = held.children.first().map_or(0, |c| c.date);
        }
        slots[j] = Some(held);
    }
    let mut merged: Vec<Node> = slots.into_iter().flatten().collect();
    sort_by_date(&mut merged);
    merged
}

fn inner(n: &Node, out: &mut String) {
    match n.n {
        Some(x) => {
            out.push_str(&x.to_string());
            match n.children.as_slice() {
                [] => {}
                [only] => {
                    out.push(' ');
                    inner(only, out);
                }
                many => {
                    out.push(' ');
                    for c in many {
                        out.push('(');
                        inner(c, out);
                        out.push(')');
                    }
                }
            }
        }
        None => {
            for c in &n.children {
                out.push('(');
                inner(c, out);
                out.push(')');
            }
        }
    }
}

/// The THREAD response's data: "(1 2)(3 (4)(5))".
pub fn render(threads: &[Node]) -> String {
    let mut out = String::new();
    for t in threads {
        out.push('(');
        inner(t, &mut out);
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u64, date: i64, subject: &str, id: &str, refs: &[&str]) -> Summary {
        Summary {
            n,
            date,
            base_subject: super::super::sort::base_subject(subject),
            reply: super::super::sort::is_reply(subject),
            message_id: Some(id.into()),
            references: refs.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn references_threads_replies_and_missing_parents() {
        let msgs = vec![
            msg(1, 10, "plan", "a", &[]),
            msg(2, 20, "Re: plan", "b", &["a"]),
            msg(3, 30, "Re: plan", "c", &["a"]),
            msg(4, 40, "Re: plan", "d", &["a", "c"]),
            msg(5, 15, "other", "e", &[]),
            // Two replies to a message this mailbox does not hold.
            msg(6, 50, "Re: lost", "f", &["zz"]),
            msg(7, 60, "Re: lost", "g", &["zz"]),
        ];
        assert_eq!(render(&references(&msgs)), "(1 (2)(3 4))(5)((6)(7))");
    }

    #[test]
    fn a_dummy_sorts_as_its_first_child_on_equal_dates() {
        // Message 1 and the dummy over 2 and 3 share a date: 1 comes first,
        // as the dummy sorts as message 2.
        let msgs =
            vec![msg(1, 5, "solo", "a", &[]), msg(2, 5, "Re: lost", "b", &["zz"]), msg(3, 9, "Re: lost", "c", &["zz"])];
        assert_eq!(render(&references(&msgs)), "(1)((2)(3))");
    }

    #[test]
    fn references_survives_loops_and_duplicate_ids() {
        let msgs = vec![msg(1, 10, "x", "a", &["b"]), msg(2, 20, "y", "b", &["a"]), msg(3, 30, "z", "a", &[])];
        let out = render(&references(&msgs));
        for n in ["1", "2", "3"] {
            assert!(out.contains(n), "{out}");
        }
    }

    #[test]
    fn references_gathers_same_subject_roots() {
        // RFC 5256 §2.2 (5C): a reply joins the non-reply with its subject.
        let msgs = vec![msg(1, 10, "Lunch", "a", &[]), msg(2, 20, "Re: lunch", "b", &["unknown"])];
        assert_eq!(render(&references(&msgs)), "(1 2)");
        let msgs = vec![msg(1, 10, "Re: lunch", "a", &[]), msg(2, 20, "Lunch", "b", &[])];
        assert_eq!(render(&references(&msgs)), "(2 1)");
        // Neither (or both) a reply: siblings under a dummy.
        let msgs = vec![msg(1, 10, "Lunch", "a", &[]), msg(2, 20, "lunch", "b", &[])];
        assert_eq!(render(&references(&msgs)), "((1)(2))");
        let msgs = vec![msg(1, 10, "Re: lunch", "a", &[]), msg(2, 20, "Re: lunch", "b", &[])];
        assert_eq!(render(&references(&msgs)), "((1)(2))");
    }

    #[test]
    fn ordered_subject_groups_by_base_subject() {
        let msgs = vec![
            msg(1, 10, "a", "1", &[]),
            msg(2, 5, "b", "2", &[]),
            msg(3, 30, "Re: a", "3", &[]),
            msg(4, 40, "re: a", "4", &[]),
        ];
        assert_eq!(render(&ordered_subject(&msgs)), "(2)(1 (3)(4))");
    }
}
