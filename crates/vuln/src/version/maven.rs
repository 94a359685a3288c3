//! Maven versions (the `Maven` OSV ecosystem) with the ordering of Maven's own
//! `ComparableVersion` (maven-artifact 3.8).
//!
//! Parsing (case-insensitive; Maven refuses no version): the string is cut at `.`, at `-` and
//! at every change between digits and non-digits. A `.` separates items of the current list;
//! a `-`, and a change between digits and letters, starts a new list nested in the current one
//! (`1-rc1` is `[1, [rc, [1]]]`); a word that is followed by digits or ends the string also
//! opens a list when the current one is not empty (`1.x` is `1-x`, `1.a1` is `1-alpha-1`).
//! An empty item (`1..2`, a leading `-`) is `0`. Numbers compare by value. Words are qualifiers: `alpha < beta < milestone < rc < snapshot < "" < sp`, then
//! any other word in string order; `a1`, `b1`, `m1` (a single letter followed by a digit) mean
//! `alpha1`, `beta1`, `milestone1`; `ga`, `final` and `release` are the empty qualifier and `cr`
//! is `rc`. After parsing, trailing zeros, empty qualifiers and empty lists are dropped from
//! every list (`1.0.0 == 1 == 1-ga`).
//!
//! Ordering: lists compare item by item, a missing item counting as "nothing"; a number is
//! newer than a list, which is newer than a word (`1.1 > 1-1 > 1-sp`), and against nothing a
//! number is newer unless zero, a word older unless its qualifier sorts after the release
//! (`1-rc < 1 < 1-sp`), a list by its first item that is not equal to nothing.
//!
//! Only ASCII digits count as digits (Java's `Character.isDigit` also accepts other scripts'
//! digits; no published Maven version uses them). Versions longer than
//! [`MAX_MAVEN_VERSION_LEN`] are refused, bounding the nesting depth the comparison recurses
//! through.

use std::cmp::Ordering;

use super::cmp_digits;
use crate::{Error, Result, VersionScheme};

/// The longest Maven version parsed: each `-` or digit/letter change nests one list deeper,
/// and comparison recurses once per level. Published versions are far below this (Maven
/// Central's longest are under a hundred characters).
pub const MAX_MAVEN_VERSION_LEN: usize = 1024;

/// The known qualifiers, oldest first; the empty one is the release.
const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

/// The release's index in [`QUALIFIERS`].
const RELEASE_INDEX: usize = 5;

/// One item of a parsed Maven version.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// A number, leading zeros stripped (`""` is zero).
    Number(String),
    /// A qualifier word, lower case, aliases resolved (`ga` is `""`, `cr` is `rc`).
    Word(String),
    /// A nested list (after a `-` or a digit/letter change).
    List(Vec<Item>),
}

/// A parsed Maven version.
#[derive(Debug, Clone)]
pub struct MavenVersion {
    items: Vec<Item>,
}

// === impl MavenVersion ===

impl MavenVersion {
    /// Parses a Maven version.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidVersion`] naming the input when it is longer than
    /// [`MAX_MAVEN_VERSION_LEN`]; Maven itself accepts every string.
    pub fn parse(input: &str) -> Result<Self> {
        if input.len() > MAX_MAVEN_VERSION_LEN {
            return Err(Error::InvalidVersion {
                scheme: VersionScheme::Maven,
                input: input.chars().take(MAX_MAVEN_VERSION_LEN).collect(),
                reason: "longer than the longest Maven version read",
            });
        }
        Ok(Self {
            items: parse_items(&input.to_lowercase()),
        })
    }
}

/// The open lists while parsing: the innermost last. Each is attached to its parent when it
/// is closed, after being normalised, as Maven normalises every list once parsing ends.
struct Stack(Vec<Vec<Item>>);

// === impl Stack ===

impl Stack {
    fn top(&mut self) -> &mut Vec<Item> {
        if self.0.is_empty() {
            self.0.push(Vec::new());
        }
        let last = self.0.len() - 1;
        &mut self.0[last]
    }

    fn push_item(&mut self, item: Item) {
        self.top().push(item);
    }

    fn open(&mut self) {
        self.0.push(Vec::new());
    }

    fn close_all(mut self) -> Vec<Item> {
        while self.0.len() > 1 {
            let mut inner = self.0.pop().unwrap_or_default();
            normalize(&mut inner);
            self.push_item(Item::List(inner));
        }
        let mut root = self.0.pop().unwrap_or_default();
        normalize(&mut root);
        root
    }
}

fn parse_items(version: &str) -> Vec<Item> {
    let mut stack = Stack(vec![Vec::new()]);
    let mut is_digit = false;
    let mut start = 0;
    for (i, c) in version.char_indices() {
        match c {
            '.' | '-' => {
                stack.push_item(if i == start {
                    Item::Number(String::new())
                } else {
                    item(is_digit, &version[start..i], false)
                });
                start = i + 1;
                if c == '-' {
                    stack.open();
                }
            }
            _ if c.is_ascii_digit() => {
                if !is_digit && i > start {
                    // `1.0.0.X1 < 1.0.0-X2`: a word after a `.` opens a list like a `-`.
                    if !stack.top().is_empty() {
                        stack.open();
                    }
                    stack.push_item(item(false, &version[start..i], true));
                    start = i;
                    stack.open();
                }
                is_digit = true;
            }
            _ => {
                if is_digit && i > start {
                    stack.push_item(item(true, &version[start..i], false));
                    start = i;
                    stack.open();
                }
                is_digit = false;
            }
        }
    }
    if version.len() > start {
        // A final word after a `.` opens a list too (`1.x` is `1-x`).
        if !is_digit && !stack.top().is_empty() {
            stack.open();
        }
        stack.push_item(item(is_digit, &version[start..], false));
    }
    stack.close_all()
}

/// One item: a number, or a word (`followed_by_digit` expands `a`, `b`, `m`).
fn item(is_digit: bool, text: &str, followed_by_digit: bool) -> Item {
    if is_digit {
        return Item::Number(text.trim_start_matches('0').to_owned());
    }
    let text = match text {
        "a" if followed_by_digit => "alpha",
        "b" if followed_by_digit => "beta",
        "m" if followed_by_digit => "milestone",
        "ga" | "final" | "release" => "",
        "cr" => "rc",
        other => other,
    };
    Item::Word(text.to_owned())
}

/// Drops trailing "null" items (zero, the release qualifier, an empty list) from the end of
/// `list`, looking past non-null nested lists as Maven's `ListItem.normalize` does.
fn normalize(list: &mut Vec<Item>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if is_null(&list[i]) {
            list.remove(i);
        } else if !matches!(list[i], Item::List(_)) {
            break;
        }
    }
}

fn is_null(item: &Item) -> bool {
    match item {
        Item::Number(n) => n.is_empty(),
        Item::Word(w) => qualifier_rank(w) == QualifierRank::Known(RELEASE_INDEX),
        Item::List(l) => l.is_empty(),
    }
}

/// Where a word sorts: a known qualifier by its index, any other word after all of them, in
/// string order.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum QualifierRank<'a> {
    Known(usize),
    Other(Utf16<'a>),
}

/// A string ordered as Java orders strings (by UTF-16 code unit).
#[derive(Debug, PartialEq, Eq)]
struct Utf16<'a>(&'a str);

impl PartialOrd for Utf16<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Utf16<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.encode_utf16().cmp(other.0.encode_utf16())
    }
}

fn qualifier_rank(word: &str) -> QualifierRank<'_> {
    match QUALIFIERS.iter().position(|q| *q == word) {
        Some(i) => QualifierRank::Known(i),
        None => QualifierRank::Other(Utf16(word)),
    }
}

/// Compares `item` with `other`, `None` standing for a missing item.
fn compare(item: &Item, other: Option<&Item>) -> Ordering {
    match (item, other) {
        (Item::Number(n), None) => {
            if n.is_empty() {
                Ordering::Equal
            } else {
                Ordering::Greater
            }
        }
        (Item::Word(w), None) => qualifier_rank(w).cmp(&QualifierRank::Known(RELEASE_INDEX)),
        // Every item against nothing, the first that differs decides (MNG-6964).
        (Item::List(l), None) => l
            .iter()
            .map(|i| compare(i, None))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal),
        (Item::Number(a), Some(Item::Number(b))) => cmp_digits(a, b),
        (Item::Word(a), Some(Item::Word(b))) => qualifier_rank(a).cmp(&qualifier_rank(b)),
        // `1.1 > 1-1 > 1-sp`: number, then list, then word.
        (Item::Number(_), Some(_)) | (Item::List(_), Some(Item::Word(_))) => Ordering::Greater,
        (Item::Word(_), Some(_)) | (Item::List(_), Some(Item::Number(_))) => Ordering::Less,
        (Item::List(a), Some(Item::List(b))) => compare_lists(a, b),
    }
}

fn compare_lists(a: &[Item], b: &[Item]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let order = match (a.get(i), b.get(i)) {
            (Some(l), r) => compare(l, r),
            (None, Some(r)) => compare(r, None).reverse(),
            (None, None) => Ordering::Equal,
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

super::eq_by_order!(MavenVersion);

impl Ord for MavenVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_lists(&self.items, &other.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        MavenVersion::parse(a)
            .unwrap()
            .cmp(&MavenVersion::parse(b).unwrap())
    }

    #[test]
    fn qualifiers_and_trailing_zeros_order_as_maven_documents() {
        use Ordering::{Equal, Greater, Less};
        for (a, b, want) in [
            ("1", "1.0.0", Equal),
            ("1-ga", "1", Equal),
            ("1-final", "1.0", Equal),
            ("1-cr1", "1-rc-1", Equal),
            ("1-a1", "1-alpha-1", Equal),
            ("1-alpha", "1-beta", Less),
            ("1-rc", "1-snapshot", Less),
            ("1-snapshot", "1", Less),
            ("1", "1-sp", Less),
            ("1-sp", "1-abc", Less),
            ("1-1", "1-sp", Greater),
            ("1.1", "1-1", Greater),
            ("1.0-1", "1-1", Equal),
            ("1.10", "1.9", Greater),
            ("1.RELEASE", "1", Equal),
            ("2.0.0.Final", "2.0.0", Equal),
            ("1..2", "1.0.2", Equal),
        ] {
            assert_eq!(cmp(a, b), want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn overlong_versions_are_refused_naming_the_scheme() {
        let long = "1-".repeat(MAX_MAVEN_VERSION_LEN);
        let err = MavenVersion::parse(&long).unwrap_err();
        assert!(err.to_string().contains("Maven"), "{err}");
        let deepest = "1-".repeat(MAX_MAVEN_VERSION_LEN / 2);
        assert_eq!(cmp(&deepest, &deepest), Ordering::Equal);
    }
}
