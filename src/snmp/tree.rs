//! A snapshot of every object the subagent serves, sorted by OID, and the
//! Get / GetNext / GetBulk lookups over it. The snapshot is rebuilt from
//! live state (at most once a second), so a walk sees one consistent moment.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::agentx::{Oid, Range, Value};

#[derive(Clone, Debug, Default)]
pub struct Tree(BTreeMap<Oid, Value>);

impl Tree {
    pub fn set(&mut self, oid: Oid, v: Value) {
        self.0.insert(oid, v);
    }

    /// Sets `column.index` for a table column.
    pub fn cell(&mut self, column: &[u32], index: &[u32], v: Value) {
        let mut oid = column.to_vec();
        oid.extend_from_slice(index);
        self.0.insert(oid, v);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An exact match, or the exception SNMP asks for: noSuchInstance when
    /// the object (the OID minus its last sub-identifier) exists with other
    /// instances, noSuchObject otherwise.
    pub fn get(&self, oid: &[u32]) -> Value {
        if let Some(v) = self.0.get(oid) {
            return v.clone();
        }
        let object = &oid[..oid.len().saturating_sub(1)];
        let known = self
            .0
            .range::<[u32], _>((Bound::Included(object), Bound::Unbounded))
            .next()
            .is_some_and(|(k, _)| k.starts_with(object) && !object.is_empty());
        if known { Value::NoSuchInstance } else { Value::NoSuchObject }
    }

    /// The first object after (or at, when `include`) the range's start and
    /// before its end; endOfMibView named by the start when there is none.
    pub fn next(&self, r: &Range) -> (Oid, Value) {
        let lower = if r.include { Bound::Included(r.start.as_slice()) } else { Bound::Excluded(r.start.as_slice()) };
        match self.0.range::<[u32], _>((lower, Bound::Unbounded)).next() {
            Some((k, v)) if r.end.is_empty() || *k < r.end => (k.clone(), v.clone()),
            _ => (r.start.clone(), Value::EndOfMibView),
        }
    }

    /// GetBulk (RFC 2741 §7.2.3.3): the first `non_repeaters` ranges once,
    /// the rest up to `max_repetitions` times each, interleaved by repetition.
    pub fn bulk(&self, non_repeaters: usize, max_repetitions: usize, ranges: &[Range]) -> Vec<(Oid, Value)> {
        let split = non_repeaters.min(ranges.len());
        let mut out: Vec<(Oid, Value)> = ranges[..split].iter().map(|r| self.next(r)).collect();
        let mut cursors: Vec<Range> = ranges[split..].to_vec();
        for _ in 0..max_repetitions {
            if cursors.is_empty() {
                break;
            }
            let mut all_ended = true;
            for c in cursors.iter_mut() {
                let (oid, v) = self.next(c);
                if v != Value::EndOfMibView {
                    all_ended = false;
                    c.start = oid.clone();
                    c.include = false;
                }
                out.push((oid, v));
            }
            if all_ended {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        let mut t = Tree::default();
        for (oid, n) in [
            (vec![1, 3, 6, 1, 2, 1, 28, 1, 1, 1, 1], 10),
            (vec![1, 3, 6, 1, 2, 1, 28, 1, 1, 1, 2], 20),
            (vec![1, 3, 6, 1, 2, 1, 28, 1, 1, 2, 1], 30),
        ] {
            t.set(oid, Value::Counter32(n));
        }
        t
    }

    fn range(start: &[u32], include: bool, end: &[u32]) -> Range {
        Range { start: start.to_vec(), include, end: end.to_vec() }
    }

    #[test]
    fn get_exact_and_exceptions() {
        let t = tree();
        assert_eq!(t.get(&[1, 3, 6, 1, 2, 1, 28, 1, 1, 1, 2]), Value::Counter32(20));
        assert_eq!(t.get(&[1, 3, 6, 1, 2, 1, 28, 1, 1, 1, 9]), Value::NoSuchInstance);
        assert_eq!(t.get(&[1, 3, 6, 1, 2, 1, 28, 1, 1, 7, 1]), Value::NoSuchObject);
        assert_eq!(t.get(&[]), Value::NoSuchObject);
    }

    #[test]
    fn next_respects_include_and_end() {
        let t = tree();
        let first = [1, 3, 6, 1, 2, 1, 28, 1, 1, 1, 1];
        assert_eq!(t.next(&range(&[1, 3, 6, 1, 2, 1, 28], false, &[])).0, first);
        assert_eq!(t.next(&range(&first, true, &[])).0, first);
        assert_eq!(t.next(&range(&first, false, &[])).1, Value::Counter32(20));
        let (oid, v) = t.next(&range(&first, false, &[1, 3, 6, 1, 2, 1, 28, 1, 1, 1, 2]));
        assert_eq!((oid.as_slice(), v), (first.as_slice(), Value::EndOfMibView));
        assert_eq!(t.next(&range(&[1, 3, 6, 1, 2, 1, 29], false, &[])).1, Value::EndOfMibView);
    }

    #[test]
    fn bulk_interleaves_and_stops_at_the_end() {
        let t = tree();
        let start = [1, 3, 6, 1, 2, 1, 28];
        let got = t.bulk(1, 5, &[range(&start, false, &[]), range(&start, false, &[])]);
        let values: Vec<Value> = got.into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            values,
            [
                Value::Counter32(10),
                Value::Counter32(10),
                Value::Counter32(20),
                Value::Counter32(30),
                Value::EndOfMibView
            ]
        );
    }
}
