//! Debian package versions (`man 7 deb-version`, Debian Policy §5.6.12), compared exactly as
//! dpkg's `verrevcmp`: epochs numerically, then upstream, then revision, each by alternating
//! non-digit runs (`~` < end < letters < other characters) and digit runs (numeric, any
//! length).
//!
//! Parsing follows dpkg's `parseversion`: its hard errors are errors here too. Where dpkg only
//! warns, this parser is stricter in one way and equal in another: characters outside
//! dpkg's allowed set are rejected (no real package can carry them, and Trivy's go-deb-version
//! drops them too), while an upstream that does not start with a digit is accepted and compared
//! exactly as `dpkg --compare-versions` does (`a1.0 > 1.0`).

use std::cmp::Ordering;
use std::fmt;

use crate::{Error, Result, VersionScheme};

/// dpkg stores the epoch in a C `int` and rejects anything above `INT_MAX` ("epoch in version is
/// too big").
const MAX_EPOCH: u64 = i32::MAX as u64;

/// A parsed Debian version. Equality and ordering are dpkg's: `1.01 == 1.1`, `1.0-0 == 1.0`.
#[derive(Debug, Clone)]
pub struct DpkgVersion {
    epoch: u64,
    upstream: String,
    revision: String,
}

// === impl DpkgVersion ===

impl DpkgVersion {
    /// Parses `[epoch:]upstream[-revision]`; surrounding whitespace is ignored, as in dpkg.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidVersion`] naming the input: empty, embedded whitespace, a non-numeric or
    /// too big epoch, an empty upstream or revision, or a character dpkg does not allow.
    pub fn parse(input: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidVersion {
            scheme: VersionScheme::Dpkg,
            input: input.to_owned(),
            reason,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(invalid("version string is empty"));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(invalid("version string has embedded spaces"));
        }
        let (epoch, rest) = match s.split_once(':') {
            Some((epoch, rest)) => {
                if epoch.is_empty() {
                    return Err(invalid("epoch in version is empty"));
                }
                if !epoch.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid("epoch in version is not number"));
                }
                let epoch = epoch
                    .parse::<u64>()
                    .ok()
                    .filter(|e| *e <= MAX_EPOCH)
                    .ok_or_else(|| invalid("epoch in version is too big"))?;
                if rest.is_empty() {
                    return Err(invalid("nothing after colon in version number"));
                }
                (epoch, rest)
            }
            None => (0, s),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((_, "")) => return Err(invalid("revision number is empty")),
            Some((upstream, revision)) => (upstream, revision),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(invalid("version number is empty"));
        }
        if !upstream
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-+~:".contains(&b))
        {
            return Err(invalid("invalid character in version number"));
        }
        if !revision
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+~".contains(&b))
        {
            return Err(invalid("invalid character in revision number"));
        }
        Ok(Self {
            epoch,
            upstream: upstream.to_owned(),
            revision: revision.to_owned(),
        })
    }

    /// The epoch (0 when absent).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The upstream part.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The Debian revision (empty when absent, which compares equal to `0`).
    pub fn revision(&self) -> &str {
        &self.revision
    }
}

impl Ord for DpkgVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream.as_bytes(), other.upstream.as_bytes()))
            .then_with(|| verrevcmp(self.revision.as_bytes(), other.revision.as_bytes()))
    }
}

super::eq_by_order!(DpkgVersion);

impl fmt::Display for DpkgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(&self.upstream)?;
        if !self.revision.is_empty() {
            write!(f, "-{}", self.revision)?;
        }
        Ok(())
    }
}

/// The weight of one byte in a non-digit run (`None` is the end of the part). Order:
/// `~` < end (and digits, which end a run) < letters < every other character.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        // Other characters sort after every letter: dpkg adds 256 to them.
        Some(c) => i32::from(c) + 256,
    }
}

/// Skips leading zeros, then returns the digit run starting at `*k` and moves past it.
fn digit_run<'s>(s: &'s [u8], k: &mut usize) -> &'s [u8] {
    while s.get(*k) == Some(&b'0') {
        *k += 1;
    }
    let start = *k;
    while s.get(*k).is_some_and(u8::is_ascii_digit) {
        *k += 1;
    }
    &s[start..*k]
}

/// dpkg's `verrevcmp` over one version part.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let is_non_digit = |s: &[u8], k: usize| s.get(k).is_some_and(|c| !c.is_ascii_digit());
    while i < a.len() || j < b.len() {
        while is_non_digit(a, i) || is_non_digit(b, j) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        let (da, db) = (digit_run(a, &mut i), digit_run(b, &mut j));
        let by_value = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
        if by_value != Ordering::Equal {
            return by_value;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        DpkgVersion::parse(a)
            .unwrap()
            .cmp(&DpkgVersion::parse(b).unwrap())
    }

    #[test]
    fn tilde_sorts_before_the_end_of_a_part() {
        assert_eq!(cmp("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0~~", "1.0~"), Ordering::Less);
    }

    #[test]
    fn missing_revision_equals_revision_zero() {
        assert_eq!(cmp("1.0-0", "1.0"), Ordering::Equal);
    }

    #[test]
    fn epoch_outweighs_everything_else() {
        assert_eq!(cmp("1:0.9", "2.0"), Ordering::Greater);
    }

    #[test]
    fn revision_is_split_at_the_last_hyphen() {
        let v = DpkgVersion::parse("1:2.0-beta-3").unwrap();
        assert_eq!(
            (v.epoch(), v.upstream(), v.revision()),
            (1, "2.0-beta", "3")
        );
        assert_eq!(v.to_string(), "1:2.0-beta-3");
    }

    #[test]
    fn garbage_is_rejected_with_the_input_named() {
        for bad in [
            "", "  ", "1 0", ":1.0", "a:1.0", "1:", "1.0-", "-1", "1.0_x", "1.0-1_2",
        ] {
            let err = DpkgVersion::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn epoch_above_int_max_is_rejected_like_dpkg() {
        assert!(DpkgVersion::parse("2147483647:1").is_ok());
        assert!(DpkgVersion::parse("2147483648:1").is_err());
        assert!(DpkgVersion::parse("99999999999999999999999:1").is_err());
    }
}
