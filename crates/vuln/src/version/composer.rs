//! Composer versions (the `Packagist` OSV ecosystem) with the ordering Composer itself uses:
//! `Composer\Semver\VersionParser::normalize`, then PHP's `version_compare` on the normalised
//! strings (what `Composer\Semver\Comparator` does with them).
//!
//! Normalising (case-insensitive, surrounding whitespace ignored, `+build` metadata dropped):
//!
//! - **classical**: `[v]N[.N[.N[.N]]]` (the first number at most five digits) padded to four
//!   numbers (`v1.2` is `1.2.0.0`), then an optional modifier: `[._-]` and a stability word
//!   (`stable`, `alpha`/`a`, `beta`/`b`, `RC`, `patch`/`pl`/`p`) with optional numbers
//!   (`[.-]N`…), then an optional `[.-]dev` (`1.0-beta1` is `1.0.0.0-beta1`, `1.0b2-dev` is
//!   `1.0.0.0-beta2-dev`; `-stable`, in lower case only, is the release);
//! - **date**: four digits and one to six groups of two (`[.:-]` between), optionally one to
//!   three more digits (`2023.01.15`, `20230115`), with the same modifier;
//! - **numeric branch**: `[v]N[.N|x][.N|x][.N|x]` then `[.-]dev`, each `x`/`*` or missing
//!   part read as 9999999 (`1.x-dev` is `1.9999999.9999999.9999999-dev`).
//!
//! Named branches (`dev-main`, `master`) normalise to `dev-<name>`, which Composer never
//! orders against releases: they are refused here, as are constraint-only spellings (aliases
//! `1.0 as 2.0`, `@stable` flags).
//!
//! Ordering (`version_compare`): the normalised string is cut at `.`, `-`, `_`, `+` and at
//! every change between digits and non-digits; items compare left to right: numbers by value,
//! words by rank `dev < alpha < beta < RC < (a number) < patch`, a number above every word but
//! `patch`. When one side runs out, the other side's next item decides: a number or `patch`
//! is newer than nothing, the other words older (`1.0.0.0-RC1 < 1.0.0.0 < 1.0.0.0-patch1`).
//! Numbers compare by value whatever their length (PHP's `strtol` saturates beyond 64 bits; no
//! published version has such numbers).

use std::cmp::Ordering;

use super::cmp_digits;
use crate::{Error, Result, VersionScheme};

/// The longest Composer version parsed: real versions are a few dozen characters; the bound
/// keeps garbage from costing more than a glance.
pub const MAX_COMPOSER_VERSION_LEN: usize = 256;

/// The most digits of a classical version's first number (`\d{1,5}` in Composer's pattern;
/// longer runs are read as dates).
const MAX_MAJOR_DIGITS: usize = 5;

/// Digits of a date version's year.
const DATE_YEAR_DIGITS: usize = 4;

/// Most two-digit groups after a date version's year.
const DATE_MAX_PAIRS: usize = 6;

/// Most digits of a date version's optional last group.
const DATE_MAX_TAIL_DIGITS: usize = 3;

/// The release parts a classical version is padded to.
const CLASSICAL_PARTS: usize = 4;

/// What a numeric branch's `x` and missing parts read as (Composer's `9999999`).
const BRANCH_WILDCARD: &str = "9999999";

/// The stability words of Composer's modifier, in the order its pattern tries them.
const STABILITY_WORDS: [&str; 9] = [
    "stable", "beta", "b", "rc", "alpha", "a", "patch", "pl", "p",
];

/// `version_compare`'s rank of a number (its `#` special form).
const NUMBER_RANK: i8 = 4;

/// The special forms `version_compare` ranks, matched as prefixes of an item in this order.
const SPECIAL_FORMS: [(&str, i8); 10] = [
    ("dev", 0),
    ("alpha", 1),
    ("a", 1),
    ("beta", 2),
    ("b", 2),
    ("RC", 3),
    ("rc", 3),
    ("#", NUMBER_RANK),
    ("pl", 5),
    ("p", 5),
];

/// `version_compare`'s rank of a word that is no special form.
const UNKNOWN_RANK: i8 = -1;

/// One item of a normalised version.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// A number, leading zeros stripped (`""` is zero).
    Number(String),
    /// A word, by its `version_compare` rank.
    Word(i8),
}

/// A parsed Composer version: its normalised form and the items it is compared by.
#[derive(Debug, Clone)]
pub struct ComposerVersion {
    normalized: String,
    items: Vec<Item>,
}

// === impl ComposerVersion ===

impl ComposerVersion {
    /// Parses a Composer version.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidVersion`] naming the input when Composer's `normalize` refuses it, or it
    /// is a named branch.
    pub fn parse(input: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidVersion {
            scheme: VersionScheme::Composer,
            input: input.to_owned(),
            reason,
        };
        if input.len() > MAX_COMPOSER_VERSION_LEN {
            return Err(invalid("longer than any Composer version"));
        }
        let normalized = normalize(input).map_err(invalid)?;
        let items = items(&normalized);
        Ok(Self { normalized, items })
    }

    /// The version as Composer normalises it (`v1.2-RC1` is `1.2.0.0-RC1`).
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

/// PHP's `trim` characters.
fn is_php_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\0' | '\x0B')
}

/// `VersionParser::normalize` for versions (not constraints).
fn normalize(input: &str) -> std::result::Result<String, &'static str> {
    let mut version = input.trim_matches(is_php_space);
    if matches!(version, "master" | "trunk" | "default")
        || version
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("dev-"))
    {
        return Err("a named branch, not a release");
    }
    if version.contains(char::is_whitespace) || version.contains('@') {
        return Err("not a version (an alias or a stability flag is a constraint)");
    }
    // Build metadata: `^([^,\s+]++)\+[^\s]++$`.
    if let Some((head, tail)) = version.split_once('+')
        && !head.is_empty()
        && !head.contains(',')
        && !tail.is_empty()
    {
        version = head;
    }
    let unprefixed = version
        .strip_prefix(['v', 'V'])
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(version);
    if let Some(normalized) = classical(unprefixed).or_else(|| date(unprefixed)) {
        return Ok(normalized);
    }
    numeric_branch(version).ok_or("not a Composer version (numbers, then a stability modifier)")
}

/// The length of the run of ASCII digits at the start of `s`.
fn digits(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

/// `[v]N(.N)?(.N)?(.N)?` and a modifier, normalised; `None` when it does not match.
fn classical(s: &str) -> Option<String> {
    let major = digits(s);
    if major == 0 || major > MAX_MAJOR_DIGITS {
        return None;
    }
    let mut out = s[..major].to_owned();
    let mut rest = &s[major..];
    let mut parts = 1;
    while parts < CLASSICAL_PARTS {
        let Some(after) = rest.strip_prefix('.') else {
            break;
        };
        let n = digits(after);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..=n]);
        rest = &after[n..];
        parts += 1;
    }
    for _ in parts..CLASSICAL_PARTS {
        out.push_str(".0");
    }
    with_modifier(out, rest)
}

/// `\d{4}([.:-]?\d{2}){1,6}([.:-]?\d{1,3})?` and a modifier, normalised (each separator a
/// `.`); `None` when it does not match.
fn date(s: &str) -> Option<String> {
    if digits(s) < DATE_YEAR_DIGITS {
        return None;
    }
    let mut ends = Vec::new();
    date_ends(s, DATE_YEAR_DIGITS, 0, &mut ends);
    ends.into_iter().find_map(|end| {
        let body: String = s[..end]
            .chars()
            .map(|c| if c.is_ascii_digit() { c } else { '.' })
            .collect();
        with_modifier(body, &s[end..])
    })
}

/// The ends the date pattern can reach from `at` after `pairs` two-digit groups, most
/// greedy first.
fn date_ends(s: &str, at: usize, pairs: usize, ends: &mut Vec<usize>) {
    let rest = &s[at..];
    let sep = usize::from(rest.starts_with(['.', ':', '-']));
    if pairs < DATE_MAX_PAIRS {
        for skip in [sep, 0] {
            if digits(&rest[skip..]) >= 2 {
                date_ends(s, at + skip + 2, pairs + 1, ends);
            }
            if sep == 0 {
                break;
            }
        }
    }
    if pairs >= 1 {
        for skip in [sep, 0] {
            let n = digits(&rest[skip..]).min(DATE_MAX_TAIL_DIGITS);
            for take in (1..=n).rev() {
                ends.push(at + skip + take);
            }
            if sep == 0 {
                break;
            }
        }
        ends.push(at);
    }
}

/// `[._-]?((stable|beta|b|RC|alpha|a|patch|pl|p)((?:[.-]?\d+)*))?([.-]?dev)?$` matched on
/// `rest` and appended to `version` as Composer does; `None` when `rest` does not match.
fn with_modifier(mut version: String, rest: &str) -> Option<String> {
    let lower = rest.to_ascii_lowercase();
    let body = lower.strip_prefix(['.', '_', '-']).unwrap_or(&lower);
    // Lower-casing keeps byte offsets: the word as written is at the same place in `rest`.
    let written_body = &rest[rest.len() - body.len()..];
    let (stability, after_word) = STABILITY_WORDS
        .iter()
        .find_map(|word| {
            let after = body.strip_prefix(word)?;
            let numbers = numbers_len(after);
            is_dev_suffix(&after[numbers..]).then_some((Some((*word, &after[..numbers])), after))
        })
        .unwrap_or((None, body));
    let after_numbers = match stability {
        Some((_, numbers)) => &after_word[numbers.len()..],
        None => after_word,
    };
    if !is_dev_suffix(after_numbers) {
        // Without a word, the separator may belong to `[.-]?dev` instead.
        if stability.is_some() || !is_dev_suffix(&lower) {
            return None;
        }
    }
    if let Some((word, numbers)) = stability {
        // Composer compares the word as written: only a lower-case `stable` is the release
        // (`STABLE` becomes the unknown word `-stable`, older than the release).
        if written_body.starts_with("stable") {
            return Some(version);
        }
        version.push('-');
        version.push_str(match word {
            "a" | "alpha" => "alpha",
            "b" | "beta" => "beta",
            "p" | "pl" | "patch" => "patch",
            "stable" => "stable",
            _ => "RC",
        });
        version.push_str(numbers.trim_start_matches(['.', '-']));
    }
    if !after_numbers.is_empty() && lower.ends_with("dev") {
        version.push_str("-dev");
    }
    Some(version)
}

/// The length of `(?:[.-]?\d+)*` at the start of `s`.
fn numbers_len(s: &str) -> usize {
    let mut at = 0;
    loop {
        let rest = &s[at..];
        let sep = usize::from(rest.starts_with(['.', '-']));
        let n = digits(&rest[sep..]);
        if n == 0 {
            return at;
        }
        at += sep + n;
    }
}

/// Whether `s` is `([.-]?dev)?` (lower case).
fn is_dev_suffix(s: &str) -> bool {
    matches!(s, "" | "dev" | ".dev" | "-dev")
}

/// `(.*?)[.-]?dev$` whose prefix `normalizeBranch` reads as a numeric branch
/// (`^v?\d+(\.(\d+|[xX*])){0,3}$`), normalised; `None` otherwise.
fn numeric_branch(version: &str) -> Option<String> {
    let lower = version.to_ascii_lowercase();
    let stem = lower.strip_suffix("dev")?;
    let name = stem.strip_suffix(['.', '-']).unwrap_or(stem);
    let name = name.strip_prefix('v').unwrap_or(name);
    let mut parts = name.split('.');
    let first = parts.next()?;
    if first.is_empty() || digits(first) != first.len() {
        return None;
    }
    let mut out = first.to_owned();
    let mut count = 1;
    for part in parts {
        count += 1;
        if count > CLASSICAL_PARTS {
            return None;
        }
        out.push('.');
        if matches!(part, "x" | "*") {
            out.push_str(BRANCH_WILDCARD);
        } else if !part.is_empty() && digits(part) == part.len() {
            out.push_str(part);
        } else {
            return None;
        }
    }
    for _ in count..CLASSICAL_PARTS {
        out.push('.');
        out.push_str(BRANCH_WILDCARD);
    }
    out.push_str("-dev");
    Some(out)
}

/// The items `version_compare` cuts a normalised version into.
fn items(normalized: &str) -> Vec<Item> {
    let mut out = Vec::new();
    let bytes = normalized.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if !bytes[at].is_ascii_alphanumeric() {
            at += 1;
            continue;
        }
        let digit = bytes[at].is_ascii_digit();
        let len = bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() && b.is_ascii_digit() == digit)
            .count();
        let text = &normalized[at..at + len];
        out.push(if digit {
            Item::Number(text.trim_start_matches('0').to_owned())
        } else {
            Item::Word(rank(text))
        });
        at += len;
    }
    out
}

/// `version_compare`'s rank of a word: the first special form it starts with.
fn rank(word: &str) -> i8 {
    SPECIAL_FORMS
        .iter()
        .find(|(form, _)| word.starts_with(form))
        .map_or(UNKNOWN_RANK, |(_, rank)| *rank)
}

/// Orders two items; `None` stands for the end of a version (a number is newer than nothing,
/// a word by its rank against a number's).
fn cmp_item(a: Option<&Item>, b: Option<&Item>) -> Ordering {
    match (a, b) {
        (Some(Item::Number(x)), Some(Item::Number(y))) => cmp_digits(x, y),
        (Some(Item::Word(x)), Some(Item::Word(y))) => x.cmp(y),
        (Some(Item::Number(_)), Some(Item::Word(w))) => NUMBER_RANK.cmp(w),
        (Some(Item::Word(w)), Some(Item::Number(_))) => w.cmp(&NUMBER_RANK),
        (Some(Item::Number(_)), None) => Ordering::Greater,
        (None, Some(Item::Number(_))) => Ordering::Less,
        (Some(Item::Word(w)), None) => w.cmp(&NUMBER_RANK),
        (None, Some(Item::Word(w))) => NUMBER_RANK.cmp(w),
        (None, None) => Ordering::Equal,
    }
}

impl Ord for ComposerVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.items.len().max(other.items.len());
        for i in 0..len {
            let order = cmp_item(self.items.get(i), other.items.get(i));
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }
}

super::eq_by_order!(ComposerVersion);

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(s: &str) -> String {
        ComposerVersion::parse(s).expect(s).normalized().to_owned()
    }

    fn cmp(a: &str, b: &str) -> Ordering {
        ComposerVersion::parse(a)
            .expect(a)
            .cmp(&ComposerVersion::parse(b).expect(b))
    }

    #[test]
    fn normalises_like_composer() {
        for (input, want) in [
            ("v1.2", "1.2.0.0"),
            ("1.0.0-beta1", "1.0.0.0-beta1"),
            ("1.0b2-dev", "1.0.0.0-beta2-dev"),
            ("1.0-rc.1", "1.0.0.0-RC1"),
            ("1.0.0-pl3", "1.0.0.0-patch3"),
            ("1.0-stable", "1.0.0.0"),
            ("1.0-STABLE2", "1.0.0.0-stable2"),
            ("1.0-dev", "1.0.0.0-dev"),
            ("1.0+build.5", "1.0.0.0"),
            ("1.2.3.4", "1.2.3.4"),
            ("2023.01.15", "2023.01.15.0"),
            ("20230115", "20230115"),
            ("2023-01-15", "2023.01.15"),
            ("1.x-dev", "1.9999999.9999999.9999999-dev"),
            ("v2.1.*-dev", "2.1.9999999.9999999-dev"),
        ] {
            assert_eq!(normal(input), want, "{input}");
        }
    }

    #[test]
    fn stabilities_order_around_the_release() {
        assert_eq!(cmp("1.0-dev", "1.0-alpha"), Ordering::Less);
        assert_eq!(cmp("1.0-alpha2", "1.0-beta1"), Ordering::Less);
        assert_eq!(cmp("1.0-RC1", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0-patch1", "1.0"), Ordering::Greater);
        assert_eq!(cmp("1.0-patch1", "1.0.0.1"), Ordering::Less);
        assert_eq!(cmp("v1.0.0", "1.0"), Ordering::Equal);
        assert_eq!(cmp("1.10", "1.9"), Ordering::Greater);
        assert_eq!(cmp("1.x-dev", "1.99"), Ordering::Greater);
    }

    #[test]
    fn garbage_and_branches_are_refused_naming_the_input() {
        for bad in [
            "",
            "dev-main",
            "master",
            "1.0 as 2.0",
            "1.0@beta",
            "1.2.3.4.5",
            "1.0-foo",
            "x1.0",
            "1..0",
            &"1".repeat(MAX_COMPOSER_VERSION_LEN + 1),
        ] {
            let err = ComposerVersion::parse(bad).expect_err(bad).to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
