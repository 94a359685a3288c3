//! Alpine/Wolfi package versions with apk-tools 3 `version.c` semantics.
//!
//! Grammar: `digits{.digits}[letter]{_suffix[digits]}[~hex][-rdigits]`, where `suffix` is one
//! of `alpha beta pre rc cvs svn git hg p`. Tokens are compared left to right:
//! - the initial digit run numerically;
//! - later digit runs numerically, unless either starts with `0`: then both compare as strings
//!   (the Gentoo rule: `1.01 < 1.1`, `8.2.0 < 8.2.001`);
//! - the letter as a byte; a suffix by its rank (alpha < beta < pre < rc < *none* < cvs < svn <
//!   git < hg < p), its number numerically; the `~hash` as a string; the `-rN` numerically.
//!
//! When one side runs out or the token kinds differ, a pre-release suffix (alpha, beta, pre,
//! rc) makes its side older (`1.0_rc1 < 1.0`); otherwise the side whose next token comes
//! earlier in the grammar is newer (`1.0.1 > 1.0a > 1.0_p1 > 1.0-r1 > 1.0`).
//!
//! An invalid version makes apk-tools fall back to byte-wise string ordering; [`compare`] does
//! the same, while [`ApkVersion::parse`] reports the error.
//!
//! Divergence from Trivy (documented, deliberate): Trivy's go-apk-version orders `6.0_pre1 >
//! 6.0` and `8.2.0 > 8.2.001`, and rejects `~hash`; apk-tools, and this module, do not.

use std::cmp::Ordering;
use std::fmt;

use crate::{Error, Result, VersionScheme};

/// Suffixes in apk-tools order. The first [`PRE_RELEASE_SUFFIXES`] are pre-releases and sort
/// before the bare version; the rest sort after it.
const SUFFIXES: [&str; 9] = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"];

/// How many of [`SUFFIXES`] are pre-release markers (`alpha beta pre rc`).
const PRE_RELEASE_SUFFIXES: usize = 4;

/// One token of an apk version, in grammar order (the derive order is the grammar order, which
/// decides comparisons between different token kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Digit,
    Letter,
    Suffix,
    SuffixNumber,
    Hash,
    Revision,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    /// The suffix rank, for [`Kind::Suffix`] only.
    rank: usize,
}

/// A validated apk version.
#[derive(Debug, Clone)]
pub struct ApkVersion {
    raw: String,
}

// === impl ApkVersion ===

impl ApkVersion {
    /// Validates an apk version.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidVersion`] naming the input when it does not follow the grammar.
    pub fn parse(input: &str) -> Result<Self> {
        tokenize(input).map_err(|reason| Error::InvalidVersion {
            scheme: VersionScheme::Apk,
            input: input.to_owned(),
            reason,
        })?;
        Ok(Self {
            raw: input.to_owned(),
        })
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

impl Ord for ApkVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(&self.raw, &other.raw)
    }
}

super::eq_by_order!(ApkVersion);

impl fmt::Display for ApkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Compares two apk version strings as apk-tools does; invalid strings fall back to byte-wise
/// ordering, like apk-tools' "do string sort".
pub fn compare(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (Ok(ta), Ok(tb)) = (tokenize(a), tokenize(b)) else {
        return a.as_bytes().cmp(b.as_bytes());
    };
    for (index, (x, y)) in ta.iter().zip(tb.iter()).enumerate() {
        if x.kind != y.kind {
            return differing_kinds(*x, *y);
        }
        let decided = match x.kind {
            Kind::Digit if index > 0 && (x.text.starts_with('0') || y.text.starts_with('0')) => {
                x.text.cmp(y.text)
            }
            Kind::Digit | Kind::SuffixNumber | Kind::Revision => super::cmp_digits(x.text, y.text),
            Kind::Suffix => x.rank.cmp(&y.rank),
            Kind::Letter | Kind::Hash => x.text.cmp(y.text),
            Kind::End => Ordering::Equal,
        };
        if decided != Ordering::Equal {
            return decided;
        }
    }
    // Both token lists end with `End`, so a tie means equal versions (`1.0-r01 == 1.0-r1`).
    Ordering::Equal
}

/// Orders two versions that agree so far but continue with different token kinds.
fn differing_kinds(x: Token<'_>, y: Token<'_>) -> Ordering {
    let is_pre = |t: Token<'_>| t.kind == Kind::Suffix && t.rank < PRE_RELEASE_SUFFIXES;
    if is_pre(x) {
        return Ordering::Less;
    }
    if is_pre(y) {
        return Ordering::Greater;
    }
    // The token earlier in the grammar continues the version further: that side is newer.
    y.kind.cmp(&x.kind)
}

/// Splits a version into tokens ending with [`Kind::End`], or says why it is invalid.
fn tokenize(s: &str) -> Result<Vec<Token<'_>>, &'static str> {
    let bytes = s.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    let take = |pos: &mut usize, pred: fn(&u8) -> bool| {
        let start = *pos;
        while bytes.get(*pos).is_some_and(pred) {
            *pos += 1;
        }
        &s[start..*pos]
    };
    let mut push = |kind, text, rank| tokens.push(Token { kind, text, rank });

    let first = take(&mut pos, u8::is_ascii_digit);
    if first.is_empty() {
        return Err("version must start with a digit");
    }
    push(Kind::Digit, first, 0);
    let mut last = Kind::Digit;
    while let Some(&c) = bytes.get(pos) {
        match c {
            b'.' if last == Kind::Digit => {
                pos += 1;
                let digits = take(&mut pos, u8::is_ascii_digit);
                if digits.is_empty() {
                    return Err("expected digits after '.'");
                }
                push(Kind::Digit, digits, 0);
                last = Kind::Digit;
            }
            b'a'..=b'z' if last == Kind::Digit => {
                push(Kind::Letter, &s[pos..=pos], 0);
                pos += 1;
                last = Kind::Letter;
            }
            b'_' if last <= Kind::SuffixNumber => {
                pos += 1;
                let name = take(&mut pos, u8::is_ascii_lowercase);
                let rank = SUFFIXES
                    .iter()
                    .position(|known| *known == name)
                    .ok_or("unknown '_' suffix")?;
                push(Kind::Suffix, name, rank);
                last = Kind::Suffix;
                let number = take(&mut pos, u8::is_ascii_digit);
                if !number.is_empty() {
                    push(Kind::SuffixNumber, number, 0);
                    last = Kind::SuffixNumber;
                }
            }
            b'~' if last < Kind::Hash => {
                pos += 1;
                let hash = take(&mut pos, u8::is_ascii_hexdigit);
                if hash.is_empty() {
                    return Err("expected a hex commit hash after '~'");
                }
                push(Kind::Hash, hash, 0);
                last = Kind::Hash;
            }
            b'-' if last < Kind::Revision => {
                if bytes.get(pos + 1) != Some(&b'r') {
                    return Err("expected '-r' before the revision");
                }
                pos += 2;
                let digits = take(&mut pos, u8::is_ascii_digit);
                if digits.is_empty() {
                    return Err("expected digits after '-r'");
                }
                push(Kind::Revision, digits, 0);
                last = Kind::Revision;
            }
            _ => return Err("unexpected character"),
        }
    }
    push(Kind::End, "", 0);
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_rejected_with_the_input_named() {
        for bad in [
            "", "a1", "1.", "1..2", "1.0bc", "23_foo", "1.0-1", "1.0-r", "1~", "1.0 ",
        ] {
            let err = ApkVersion::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn real_alpine_versions_are_valid() {
        for good in [
            "006",
            "021109-r3",
            "02.08.01b",
            "1.0_git20240101-r0",
            "0.1_pre2~1234abcd",
        ] {
            assert!(ApkVersion::parse(good).is_ok(), "{good}");
        }
    }
}
