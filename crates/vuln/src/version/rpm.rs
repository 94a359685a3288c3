//! RPM versions: `rpmvercmp` (rpm 4.18 `rpmio/rpmvercmp.c` semantics, including `~` and `^`)
//! and EVR comparison (`rpmverCmp`: epoch, then version, then release).
//!
//! `rpmvercmp` walks both strings segment by segment: separators (anything but ASCII
//! alphanumerics, `~` and `^`) are skipped; `~` sorts before everything, even the end; `^` sorts
//! after the end but before anything else; digit runs compare numerically (leading zeros
//! dropped, any length) and beat letter runs; letter runs compare byte-wise; when everything
//! matched, the side with characters left is newer.
//!
//! EVR split follows rpm's `parseEVR`: the epoch is a leading digit run followed by `:`; the
//! release is after the last `-`. A missing release sorts before a present one (measured with
//! rpm 4.18: `1.0 < 1.0-1`).

use std::cmp::Ordering;
use std::fmt;

use crate::{Error, Result, VersionScheme};

/// Compares two version (or release) strings exactly as rpm's `rpmvercmp`. Any string is
/// accepted.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a == b {
        return Ordering::Equal;
    }
    let is_kept = |c: u8| c.is_ascii_alphanumeric() || c == b'~' || c == b'^';
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while a.get(i).is_some_and(|c| !is_kept(*c)) {
            i += 1;
        }
        while b.get(j).is_some_and(|c| !is_kept(*c)) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());

        // `~` sorts before everything else, the end included.
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }

        // `^` sorts before everything else except the end of the string.
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }

        let (Some(first), Some(_)) = (ca, cb) else {
            break;
        };

        let is_num = first.is_ascii_digit();
        let (mut ra, mut rb) = (segment(a, i, is_num), segment(b, j, is_num));
        i += ra.len();
        j += rb.len();

        // The other side has a segment of the other type: numbers are newer than letters.
        if rb.is_empty() {
            return if is_num {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }

        if is_num {
            (ra, rb) = (strip_zeros(ra), strip_zeros(rb));
            match ra.len().cmp(&rb.len()) {
                Ordering::Equal => {}
                longer_wins => return longer_wins,
            }
        }
        match ra.cmp(rb) {
            Ordering::Equal => {}
            decided => return decided,
        }
    }
    match (i < a.len(), j < b.len()) {
        (false, false) => Ordering::Equal,
        (true, _) => Ordering::Greater,
        (false, true) => Ordering::Less,
    }
}

/// The run of digits (or of letters) starting at `start`.
fn segment(s: &[u8], start: usize, digits: bool) -> &[u8] {
    let len = s[start..]
        .iter()
        .take_while(|c| {
            if digits {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        })
        .count();
    &s[start..start + len]
}

fn strip_zeros(s: &[u8]) -> &[u8] {
    let zeros = s.iter().take_while(|c| **c == b'0').count();
    &s[zeros..]
}

/// A parsed `[epoch:]version[-release]`. Equality and ordering are rpm's (`1.01 == 1.1`).
#[derive(Debug, Clone)]
pub struct Evr {
    epoch: Option<String>,
    version: String,
    release: Option<String>,
}

// === impl Evr ===

impl Evr {
    /// Parses an EVR string the way rpm's `parseEVR` splits it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidVersion`] naming the input when it is empty, contains whitespace,
    /// control or non-ASCII characters, or has an empty version or release.
    pub fn parse(input: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidVersion {
            scheme: VersionScheme::Rpm,
            input: input.to_owned(),
            reason,
        };
        if input.is_empty() {
            return Err(invalid("version string is empty"));
        }
        if !input.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "whitespace, control or non-ASCII character in version",
            ));
        }
        let digits = input.bytes().take_while(u8::is_ascii_digit).count();
        let (epoch, rest) = match input[digits..].strip_prefix(':') {
            // An empty epoch before the colon means 0, as in rpm.
            Some(rest) if digits == 0 => (Some("0".to_owned()), rest),
            Some(rest) => (Some(input[..digits].to_owned()), rest),
            None => (None, input),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((_, "")) => return Err(invalid("release is empty")),
            Some((version, release)) => (version, Some(release.to_owned())),
            None => (rest, None),
        };
        if version.is_empty() {
            return Err(invalid("version is empty"));
        }
        Ok(Self {
            epoch,
            version: version.to_owned(),
            release,
        })
    }

    /// The epoch as written, if any (compared as 0 when absent).
    pub fn epoch(&self) -> Option<&str> {
        self.epoch.as_deref()
    }

    /// The version field.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The release field, if any.
    pub fn release(&self) -> Option<&str> {
        self.release.as_deref()
    }
}

impl Ord for Evr {
    fn cmp(&self, other: &Self) -> Ordering {
        let epoch = |e: &Option<String>| e.as_deref().unwrap_or("0").to_owned();
        rpmvercmp(&epoch(&self.epoch), &epoch(&other.epoch))
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| match (&self.release, &other.release) {
                (Some(a), Some(b)) => rpmvercmp(a, b),
                // A missing release sorts before a present one (rpm 4.18 `rpmverCmp`).
                (a, b) => a.is_some().cmp(&b.is_some()),
            })
    }
}

super::eq_by_order!(Evr);

impl fmt::Display for Evr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(epoch) = &self.epoch {
            write!(f, "{epoch}:")?;
        }
        f.write_str(&self.version)?;
        if let Some(release) = &self.release {
            write!(f, "-{release}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_is_newer_than_the_end_but_older_than_more_version() {
        assert_eq!(rpmvercmp("1.0^git1", "1.0"), Ordering::Greater);
        assert_eq!(rpmvercmp("1.0^git1", "1.0.1"), Ordering::Less);
        assert_eq!(rpmvercmp("1.0^", "1.0"), Ordering::Greater);
    }

    #[test]
    fn tilde_is_older_than_the_end() {
        assert_eq!(rpmvercmp("1.0~rc1", "1.0"), Ordering::Less);
    }

    #[test]
    fn non_ascii_bytes_are_separators_and_do_not_panic() {
        assert_eq!(rpmvercmp("1.é0", "1.0"), Ordering::Equal);
    }

    #[test]
    fn evr_splits_epoch_only_on_a_leading_digit_run() {
        let evr = Evr::parse("a:1.0-1").unwrap();
        assert_eq!(
            (evr.epoch(), evr.version(), evr.release()),
            (None, "a:1.0", Some("1"))
        );
        let evr = Evr::parse(":1.0").unwrap();
        assert_eq!(evr.epoch(), Some("0"));
    }

    #[test]
    fn garbage_is_rejected_with_the_input_named() {
        for bad in ["", "1.0 1", "1.0-", "-1", "1:", "1:-2", "1.0\u{7f}"] {
            let err = Evr::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
