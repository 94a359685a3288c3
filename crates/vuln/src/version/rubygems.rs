//! Ruby gem versions (the `RubyGems` OSV ecosystem) with the ordering of `Gem::Version`.
//!
//! Grammar (surrounding whitespace ignored): `N(.[0-9A-Za-z]+)*[-[0-9A-Za-z-]+(.[0-9A-Za-z-]+)*]`;
//! an empty string means `0`. A `-` is read as `.pre.`, so `1.0-rc1` is `1.0.pre.rc1`.
//!
//! Ordering: the version is cut into segments, each a run of digits (a number) or of letters
//! (a word); everything from the first word on is the pre-release part. Trailing zeros are
//! dropped from the release part and from the pre-release part (`1.0 == 1`). Segments compare
//! left to right, a missing one counting as 0; a word is older than a number (`1.0.a < 1.0`,
//! so any pre-release sorts before its release); words compare byte-wise, numbers by value.

use std::cmp::Ordering;

use super::cmp_digits;
use crate::{Error, Result, VersionScheme};

/// One segment of a gem version.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Number(String),
    Word(String),
}

/// The segment that stands for a missing one.
const ZERO: &str = "0";

/// A parsed gem version: its canonical segments (trailing zeros dropped per part).
#[derive(Debug, Clone)]
pub struct GemVersion {
    segments: Vec<Segment>,
}

// === impl GemVersion ===

impl GemVersion {
    /// Parses a gem version.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidVersion`] naming the input when `Gem::Version.correct?` would refuse it.
    pub fn parse(input: &str) -> Result<Self> {
        let text = input.trim();
        if !is_correct(text) {
            return Err(Error::InvalidVersion {
                scheme: VersionScheme::RubyGems,
                input: input.to_owned(),
                reason: "not a gem version (digits, then dot-separated alphanumerics)",
            });
        }
        let text = text.replace('-', ".pre.");
        let mut segments = Vec::new();
        let bytes = text.as_bytes();
        let mut pos = 0;
        while pos < bytes.len() {
            let digit = bytes[pos].is_ascii_digit();
            let run = bytes[pos..]
                .iter()
                .take_while(|b| {
                    if digit {
                        b.is_ascii_digit()
                    } else {
                        b.is_ascii_alphabetic()
                    }
                })
                .count();
            if run == 0 {
                pos += 1;
                continue;
            }
            let part = String::from_utf8_lossy(&bytes[pos..pos + run]).into_owned();
            segments.push(if digit {
                let trimmed = part.trim_start_matches('0');
                Segment::Number(if trimmed.is_empty() { ZERO } else { trimmed }.to_owned())
            } else {
                Segment::Word(part)
            });
            pos += run;
        }
        Ok(Self {
            segments: canonical(segments),
        })
    }
}

/// `Gem::Version.correct?`: digits first, then dot-separated alphanumerics, then an optional
/// `-` part of dot-separated `[0-9A-Za-z-]` runs. Empty means version 0.
fn is_correct(text: &str) -> bool {
    if text.is_empty() {
        return true;
    }
    let (release, pre) = match text.split_once('-') {
        Some((release, pre)) => (release, Some(pre)),
        None => (text, None),
    };
    let mut parts = release.split('.');
    let first_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let rest_ok = parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    let pre_ok = pre.is_none_or(|pre| {
        pre.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    });
    first_ok && rest_ok && pre_ok
}

/// Drops trailing zeros from the release part (before the first word) and from the rest.
fn canonical(segments: Vec<Segment>) -> Vec<Segment> {
    let split = segments
        .iter()
        .position(|s| matches!(s, Segment::Word(_)))
        .unwrap_or(segments.len());
    let (release, pre) = segments.split_at(split);
    let trim = |part: &[Segment]| {
        let keep = part
            .iter()
            .rposition(|s| *s != Segment::Number(ZERO.to_owned()))
            .map_or(0, |i| i + 1);
        part[..keep].to_vec()
    };
    let mut out = trim(release);
    out.extend(trim(pre));
    out
}

impl Ord for GemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let zero = Segment::Number(ZERO.to_owned());
        let len = self.segments.len().max(other.segments.len());
        for i in 0..len {
            let a = self.segments.get(i).unwrap_or(&zero);
            let b = other.segments.get(i).unwrap_or(&zero);
            let order = match (a, b) {
                (Segment::Number(x), Segment::Number(y)) => cmp_digits(x, y),
                (Segment::Word(x), Segment::Word(y)) => x.cmp(y),
                (Segment::Word(_), Segment::Number(_)) => Ordering::Less,
                (Segment::Number(_), Segment::Word(_)) => Ordering::Greater,
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }
}

super::eq_by_order!(GemVersion);

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        GemVersion::parse(a)
            .expect(a)
            .cmp(&GemVersion::parse(b).expect(b))
    }

    #[test]
    fn prereleases_sort_before_their_release() {
        assert_eq!(cmp("1.0.a", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0-rc1", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0.0.rc1", "1.0.rc1"), Ordering::Equal);
        assert_eq!(cmp("1.0", "1"), Ordering::Equal);
        assert_eq!(cmp("", "0"), Ordering::Equal);
        assert_eq!(cmp("1.10", "1.9"), Ordering::Greater);
    }

    #[test]
    fn garbage_is_refused_naming_the_input() {
        for bad in ["a", "1..0", "1.0-", "1.0.", ".1", "1 0", "1.0+x"] {
            let err = GemVersion::parse(bad).expect_err(bad).to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
