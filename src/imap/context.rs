//! Searches kept up to date (RFC 5267 CONTEXT=SEARCH and CONTEXT=SORT): a
//! SEARCH or SORT with RETURN (UPDATE) leaves a `SearchContext` on the
//! selected mailbox, and whenever the mailbox changes the session evaluates
//! it again and tells the client what entered and left the result with
//! `ESEARCH … ADDTO` and `REMOVEFROM`. This file holds what is kept and how
//! a change is worded; the session (`session/query.rs`) evaluates.
//!
//! The result is kept as UIDs and numbered when a change is told, so a
//! sequence-number context stays right as expunges renumber the mailbox. A
//! message expunged is told gone (`forget`) before its EXPUNGE, while its
//! number is still valid (RFC 5267 §4.3).

use imap_codec::imap_types::extensions::sort::SortCriterion;
use imap_codec::imap_types::search::SearchKey;

use super::view::uid_set;

/// How many searches one session may keep updated; more get NOUPDATE.
pub const MAX_CONTEXTS: usize = 8;

pub struct SearchContext {
    /// The tag of the command that asked, which each update names.
    pub tag: String,
    /// Updates name UIDs (a UID SEARCH/SORT), else sequence numbers.
    pub uid: bool,
    pub keys: Vec<SearchKey<'static>>,
    /// SORT's criteria; None for a SEARCH, whose result is in UID order.
    pub sort: Option<Vec<SortCriterion>>,
    /// The result last told, as UIDs in result order.
    pub result: Vec<i64>,
}

impl SearchContext {
    /// The client learns that the expunged `gone` left the result. `number`
    /// gives a UID's sequence number before the expunge.
    pub fn forget(&mut self, gone: &[i64], number: &dyn Fn(i64) -> Option<i64>) -> Option<String> {
        let new: Vec<i64> = self.result.iter().copied().filter(|u| !gone.contains(u)).collect();
        self.update(new, number)
    }

    /// Moves the result to `new` and words the change, None if there is none.
    ///
    /// A SEARCH's result has no order, so each change is one set at
    /// position 0. A SORT's changes are positions in its order, to be applied
    /// in the order given: removals from the end backwards (each position
    /// valid where it is read), then additions from the front, each at its
    /// place in the new result. Sort keys never change, so what stays keeps
    /// its relative order.
    pub fn update(&mut self, new: Vec<i64>, number: &dyn Fn(i64) -> Option<i64>) -> Option<String> {
        let n = |u: i64| if self.uid { Some(u) } else { number(u) };
        let removed: Vec<(usize, i64)> =
            self.result.iter().enumerate().filter(|(_, u)| !new.contains(u)).map(|(i, u)| (i, *u)).collect();
        let added: Vec<(usize, i64)> =
            new.iter().enumerate().filter(|(_, u)| !self.result.contains(u)).map(|(i, u)| (i, *u)).collect();
        if removed.is_empty() && added.is_empty() {
            return None;
        }
        let mut items = String::new();
        if self.sort.is_none() {
            let set = |l: &[(usize, i64)]| {
                let mut nums: Vec<i64> = l.iter().filter_map(|(_, u)| n(*u)).collect();
                nums.sort_unstable();
                uid_set(&nums)
            };
            // A message the view no longer numbers has nothing to tell.
            let (removed, added) = (set(&removed), set(&added));
            if !removed.is_empty() {
                items.push_str(&format!(" REMOVEFROM (0 {removed})"));
            }
            if !added.is_empty() {
                items.push_str(&format!(" ADDTO (0 {added})"));
            }
        } else {
            for (i, u) in removed.iter().rev() {
                if let Some(num) = n(*u) {
                    items.push_str(&format!(" REMOVEFROM ({} {num})", i + 1));
                }
            }
            for (i, u) in &added {
                if let Some(num) = n(*u) {
                    items.push_str(&format!(" ADDTO ({} {num})", i + 1));
                }
            }
        }
        self.result = new;
        if items.is_empty() {
            return None;
        }
        let uid = if self.uid { " UID" } else { "" };
        Some(format!("* ESEARCH (TAG \"{}\"){uid}{items}\r\n", self.tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(uid: bool, sorted: bool, result: &[i64]) -> SearchContext {
        SearchContext { tag: "A1".into(), uid, keys: Vec::new(), sort: sorted.then(Vec::new), result: result.to_vec() }
    }

    #[test]
    fn a_search_change_is_one_set_each_way() {
        let mut c = context(true, false, &[3, 5, 9]);
        let none = |_| None;
        assert_eq!(c.update(vec![3, 5, 9], &none), None, "nothing changed, nothing said");
        assert_eq!(
            c.update(vec![3, 10, 11, 12], &none).unwrap(),
            "* ESEARCH (TAG \"A1\") UID REMOVEFROM (0 5,9) ADDTO (0 10:12)\r\n"
        );
        assert_eq!(c.result, [3, 10, 11, 12]);
    }

    #[test]
    fn sequence_numbers_are_those_before_the_expunge() {
        // UIDs 10, 20, 30 are messages 1, 2, 3; 20 is being expunged.
        let mut c = context(false, false, &[10, 20, 30]);
        let number = |u: i64| Some(u / 10);
        assert_eq!(c.forget(&[20], &number).unwrap(), "* ESEARCH (TAG \"A1\") REMOVEFROM (0 2)\r\n");
        assert_eq!(c.result, [10, 30]);
        assert_eq!(c.forget(&[99], &number), None);
    }

    #[test]
    fn a_sort_change_names_positions_applied_in_turn() {
        // Sorted 7 2 9 4; 2 and 4 leave, 5 comes second and 1 last.
        let mut c = context(true, true, &[7, 2, 9, 4]);
        let line = c.update(vec![7, 5, 9, 1], &|_| None).unwrap();
        assert_eq!(line, "* ESEARCH (TAG \"A1\") UID REMOVEFROM (4 4) REMOVEFROM (2 2) ADDTO (2 5) ADDTO (4 1)\r\n");
        // Applying the items in order to the old result gives the new one.
        let mut list = vec![7, 2, 9, 4];
        list.remove(3);
        list.remove(1);
        list.insert(1, 5);
        list.insert(3, 1);
        assert_eq!(list, c.result);
    }
}
