//! Python package versions under PEP 440 (the `PyPI` OSV ecosystem), with the ordering of
//! PyPA's `packaging.version.Version`.
//!
//! Grammar (case-insensitive, surrounding whitespace ignored):
//! `[v][N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, with PEP 440's accepted spellings
//! normalised: `alpha`/`beta`/`c`/`pre`/`preview` for the pre-release letters, `rev`/`r` and a
//! bare `-N` for post-releases, an optional `.`, `-` or `_` before each part, and an implicit 0
//! when a part's number is omitted.
//!
//! Ordering, part by part: epoch; release with trailing zeros ignored (`1.0 == 1.0.0`); then
//! `X.devN < X.aN < X.bN < X.rcN < X < X.postN`, where a pre-release's own `.devN` and
//! `.postN` order inside it; finally the local label (`1.0 < 1.0+anything`), compared segment
//! by segment with numbers above words. Numbers of any length compare by value.

use std::cmp::Ordering;
use std::fmt;

use super::cmp_digits;
use crate::{Error, Result, VersionScheme};

/// Separators PEP 440 accepts before a pre, post or dev part and between local segments.
const SEPARATORS: [u8; 3] = [b'.', b'-', b'_'];

/// Pre-release spellings, longest first so a prefix never shadows a longer word, with the
/// letter each normalises to.
const PRE_SPELLINGS: [(&str, PreLetter); 7] = [
    ("preview", PreLetter::Rc),
    ("alpha", PreLetter::A),
    ("beta", PreLetter::B),
    ("pre", PreLetter::Rc),
    ("rc", PreLetter::Rc),
    ("a", PreLetter::A),
    ("b", PreLetter::B),
];

/// The `c` spelling of a release candidate, tried last: it is a prefix of nothing above.
const PRE_C: &str = "c";

/// Post-release spellings, longest first.
const POST_SPELLINGS: [&str; 3] = ["post", "rev", "r"];

/// A pre-release letter after normalisation, in PEP 440 order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PreLetter {
    A,
    B,
    Rc,
}

/// One segment of a local version label: words sort below numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LocalSegment {
    Word(String),
    Number(String),
}

/// A parsed PEP 440 version. Numbers keep their digits (leading zeros stripped) so any length
/// compares exactly.
#[derive(Debug, Clone)]
pub struct Pep440Version {
    epoch: String,
    /// Release numbers with trailing zeros removed (they do not affect ordering).
    release: Vec<String>,
    pre: Option<(PreLetter, String)>,
    post: Option<String>,
    dev: Option<String>,
    local: Option<Vec<LocalSegment>>,
}

/// A cursor over the lower-cased input.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

// === impl Cursor ===

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    /// Takes a run of ASCII digits, normalised (leading zeros stripped), if one starts here.
    fn digits(&mut self) -> Option<String> {
        let run = self
            .rest()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if run == 0 {
            return None;
        }
        let text = String::from_utf8_lossy(&self.rest()[..run]).into_owned();
        self.pos += run;
        Some(normalise_number(&text))
    }

    /// Takes `word` if the input continues with it.
    fn word(&mut self, word: &str) -> bool {
        if self.rest().starts_with(word.as_bytes()) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// At `[sep]word`: takes both and returns true; otherwise takes nothing.
    fn separated_word(&mut self, word: &str) -> bool {
        let start = self.pos;
        if self.peek().is_some_and(|b| SEPARATORS.contains(&b)) {
            self.pos += 1;
        }
        if self.word(word) {
            return true;
        }
        self.pos = start;
        false
    }

    /// The optional `[sep][N]` after a part's word: the grammar lets a separator follow the
    /// word even when no number does (`1.0a.` is `1.0a0`).
    fn part_number(&mut self) -> Option<String> {
        if self.peek().is_some_and(|b| SEPARATORS.contains(&b)) {
            self.pos += 1;
        }
        self.digits()
    }
}

/// Strips leading zeros, keeping one digit for zero.
fn normalise_number(digits: &str) -> String {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

// === impl Pep440Version ===

impl Pep440Version {
    /// Parses a PEP 440 version.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidVersion`] naming the input when it is not a PEP 440 version.
    pub fn parse(input: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidVersion {
            scheme: VersionScheme::Pep440,
            input: input.to_owned(),
            reason,
        };
        let lowered = input.trim().to_ascii_lowercase();
        let mut cur = Cursor {
            bytes: lowered.as_bytes(),
            pos: 0,
        };
        cur.word("v");
        let first = cur
            .digits()
            .ok_or_else(|| invalid("expected a release number"))?;
        let (epoch, first) = if cur.peek() == Some(b'!') {
            cur.pos += 1;
            let release = cur
                .digits()
                .ok_or_else(|| invalid("expected a release number after the epoch"))?;
            (first, release)
        } else {
            ("0".to_owned(), first)
        };
        let mut release = vec![first];
        while cur.peek() == Some(b'.') && cur.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
            cur.pos += 1;
            release.extend(cur.digits());
        }
        while release.len() > 1 && release.last().is_some_and(|n| n == "0") {
            release.pop();
        }
        let pre = Self::parse_pre(&mut cur);
        let post = Self::parse_post(&mut cur);
        let dev = cur
            .separated_word("dev")
            .then(|| cur.part_number().unwrap_or_else(|| "0".to_owned()));
        let local = if cur.peek() == Some(b'+') {
            cur.pos += 1;
            Some(
                Self::parse_local(&mut cur)
                    .ok_or_else(|| invalid("invalid local version label"))?,
            )
        } else {
            None
        };
        if cur.peek().is_some() {
            return Err(invalid("unexpected text after the version"));
        }
        Ok(Self {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    fn parse_pre(cur: &mut Cursor<'_>) -> Option<(PreLetter, String)> {
        let letter = PRE_SPELLINGS
            .iter()
            .find(|(spelling, _)| cur.separated_word(spelling))
            .map(|(_, letter)| *letter)
            .or_else(|| cur.separated_word(PRE_C).then_some(PreLetter::Rc))?;
        Some((letter, cur.part_number().unwrap_or_else(|| "0".to_owned())))
    }

    fn parse_post(cur: &mut Cursor<'_>) -> Option<String> {
        if cur.peek() == Some(b'-') && cur.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
            cur.pos += 1;
            return cur.digits();
        }
        POST_SPELLINGS
            .iter()
            .any(|spelling| cur.separated_word(spelling))
            .then(|| cur.part_number().unwrap_or_else(|| "0".to_owned()))
    }

    /// `[a-z0-9]+([-_.][a-z0-9]+)*`, to the end of the input.
    fn parse_local(cur: &mut Cursor<'_>) -> Option<Vec<LocalSegment>> {
        let text = std::str::from_utf8(cur.rest()).ok()?;
        cur.pos = cur.bytes.len();
        text.split(|c: char| c.is_ascii() && SEPARATORS.contains(&(c as u8)))
            .map(|segment| {
                if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    None
                } else if segment.bytes().all(|b| b.is_ascii_digit()) {
                    Some(LocalSegment::Number(normalise_number(segment)))
                } else {
                    Some(LocalSegment::Word(segment.to_owned()))
                }
            })
            .collect()
    }

    /// Where the pre-release part places this version among its release's versions:
    /// a bare `.devN` comes first, then the pre-releases, then the final release.
    fn pre_rank(&self) -> (u8, Option<&(PreLetter, String)>) {
        match (&self.pre, &self.post, &self.dev) {
            (None, None, Some(_)) => (0, None),
            (Some(pre), _, _) => (1, Some(pre)),
            (None, _, _) => (2, None),
        }
    }
}

fn cmp_release(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let order = cmp_digits(x, y);
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// `None` sorts before any number (a release without a post part is older than its posts).
fn cmp_post(a: Option<&String>, b: Option<&String>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => cmp_digits(x, y),
    }
}

/// `None` sorts after any number (a version without a dev part is newer than its devs).
fn cmp_dev(a: Option<&String>, b: Option<&String>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => cmp_digits(x, y),
    }
}

fn cmp_local(a: Option<&Vec<LocalSegment>>, b: Option<&Vec<LocalSegment>>) -> Ordering {
    let (a, b) = match (a, b) {
        (None, None) => return Ordering::Equal,
        (None, Some(_)) => return Ordering::Less,
        (Some(_), None) => return Ordering::Greater,
        (Some(a), Some(b)) => (a, b),
    };
    for (x, y) in a.iter().zip(b) {
        let order = match (x, y) {
            (LocalSegment::Number(x), LocalSegment::Number(y)) => cmp_digits(x, y),
            (LocalSegment::Word(x), LocalSegment::Word(y)) => x.cmp(y),
            (LocalSegment::Word(_), LocalSegment::Number(_)) => Ordering::Less,
            (LocalSegment::Number(_), LocalSegment::Word(_)) => Ordering::Greater,
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

impl Ord for Pep440Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let (rank, pre) = self.pre_rank();
        let (other_rank, other_pre) = other.pre_rank();
        cmp_digits(&self.epoch, &other.epoch)
            .then_with(|| cmp_release(&self.release, &other.release))
            .then_with(|| rank.cmp(&other_rank))
            .then_with(|| match (pre, other_pre) {
                (Some((l, n)), Some((m, o))) => l.cmp(m).then_with(|| cmp_digits(n, o)),
                _ => Ordering::Equal,
            })
            .then_with(|| cmp_post(self.post.as_ref(), other.post.as_ref()))
            .then_with(|| cmp_dev(self.dev.as_ref(), other.dev.as_ref()))
            .then_with(|| cmp_local(self.local.as_ref(), other.local.as_ref()))
    }
}

super::eq_by_order!(Pep440Version);

impl fmt::Display for Pep440Version {
    /// The normalised form (`1!2.0rc1.post0.dev0+ubuntu.1`), release zeros trimmed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != "0" {
            write!(f, "{}!", self.epoch)?;
        }
        f.write_str(&self.release.join("."))?;
        if let Some((letter, n)) = &self.pre {
            let letter = match letter {
                PreLetter::A => "a",
                PreLetter::B => "b",
                PreLetter::Rc => "rc",
            };
            write!(f, "{letter}{n}")?;
        }
        if let Some(n) = &self.post {
            write!(f, ".post{n}")?;
        }
        if let Some(n) = &self.dev {
            write!(f, ".dev{n}")?;
        }
        if let Some(local) = &self.local {
            let parts: Vec<&str> = local
                .iter()
                .map(|s| match s {
                    LocalSegment::Word(w) | LocalSegment::Number(w) => w.as_str(),
                })
                .collect();
            write!(f, "+{}", parts.join("."))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Pep440Version {
        Pep440Version::parse(s).expect(s)
    }

    #[test]
    fn spellings_normalise() {
        assert_eq!(v("1.0-ALPHA.1").to_string(), "1a1");
        assert_eq!(v("1.0c").to_string(), "1rc0");
        assert_eq!(v("1.0-1").to_string(), "1.post1");
        assert_eq!(
            v("v2!1.0.0_preview-2.rev3-dev").to_string(),
            "2!1rc2.post3.dev0"
        );
        assert_eq!(v(" 1.0+Ubuntu-1 ").to_string(), "1+ubuntu.1");
    }

    #[test]
    fn garbage_is_refused_naming_the_input() {
        for bad in [
            "",
            "v",
            "1.0+",
            "1.0+a..b",
            "1.0.",
            "1.0a..",
            "1.0 extra",
            "1!",
            "a1",
        ] {
            let err = Pep440Version::parse(bad).expect_err(bad).to_string();
            assert!(
                err.contains(&format!("{bad:?}")) || err.contains(bad),
                "{err}"
            );
        }
    }
}
