//! NuGet versions (the `NuGet` OSV ecosystem) with the ordering of `NuGet.Versioning`'s
//! `NuGetVersion` and its default `VersionComparer`.
//!
//! Grammar: one to four dot-separated numbers (each fits a 32-bit signed integer; leading zeros
//! allowed, `1` is `1.0.0`), then an optional `-` pre-release of dot-separated non-empty
//! `[0-9A-Za-z-]` labels, then an optional `+` build metadata of the same shape, which is
//! ignored.
//!
//! Ordering: major, minor, patch and revision by value (a missing part is 0, so
//! `1.0 == 1.0.0.0`); a release is newer than its pre-releases; pre-release labels compare
//! left to right, a label that is a number (fitting a 32-bit signed integer) by value and older
//! than any other label, other labels case-insensitively (ordinal, `RC1 == rc1`); when all
//! labels of the shorter side are equal, it is the older.
//!
//! No reference implementation of NuGet's comparer runs on this machine (it is .NET code): the
//! ordering is checked against tables written from its source and documentation.

use std::cmp::Ordering;

use crate::{Error, Result, VersionScheme};

/// The longest NuGet version parsed: real versions are a few dozen characters; the bound keeps
/// garbage from costing more than a glance.
pub const MAX_NUGET_VERSION_LEN: usize = 256;

/// The most release numbers (`major.minor.patch.revision`).
const MAX_RELEASE_PARTS: usize = 4;

/// A parsed NuGet version.
#[derive(Debug, Clone)]
pub struct NuGetVersion {
    /// Major, minor, patch, revision; missing parts are 0.
    release: [u32; MAX_RELEASE_PARTS],
    /// The pre-release labels; empty for a release.
    pre: Vec<String>,
}

// === impl NuGetVersion ===

impl NuGetVersion {
    /// Parses a NuGet version.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidVersion`] naming the input when `NuGetVersion.TryParse` would refuse it.
    pub fn parse(input: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidVersion {
            scheme: VersionScheme::NuGet,
            input: input.to_owned(),
            reason,
        };
        if input.len() > MAX_NUGET_VERSION_LEN {
            return Err(invalid("longer than any NuGet version"));
        }
        let (rest, metadata) = match input.split_once('+') {
            Some((rest, metadata)) => (rest, Some(metadata)),
            None => (input, None),
        };
        if metadata.is_some_and(|m| !labels_ok(m)) {
            return Err(invalid(
                "build metadata is not dot-separated [0-9A-Za-z-] labels",
            ));
        }
        let (numbers, pre) = match rest.split_once('-') {
            Some((numbers, pre)) => (numbers, Some(pre)),
            None => (rest, None),
        };
        if pre.is_some_and(|p| !labels_ok(p)) {
            return Err(invalid(
                "pre-release is not dot-separated [0-9A-Za-z-] labels",
            ));
        }
        let mut release = [0; MAX_RELEASE_PARTS];
        for (count, part) in numbers.split('.').enumerate() {
            let slot = release
                .get_mut(count)
                .ok_or_else(|| invalid("more than four release numbers"))?;
            *slot = number(part)
                .ok_or_else(|| invalid("a release part is not a 32-bit non-negative number"))?;
        }
        Ok(Self {
            release,
            pre: pre
                .map(|p| p.split('.').map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }
}

/// Whether `s` is dot-separated non-empty `[0-9A-Za-z-]` labels.
fn labels_ok(s: &str) -> bool {
    s.split('.')
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// A run of ASCII digits that fits a 32-bit signed integer (`int.TryParse` on digits).
fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i32>().ok().and_then(|n| u32::try_from(n).ok())
}

/// Orders two pre-release labels as `VersionComparer.CompareRelease` does.
fn cmp_label(a: &str, b: &str) -> Ordering {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a
            .bytes()
            .map(|c| c.to_ascii_uppercase())
            .cmp(b.bytes().map(|c| c.to_ascii_uppercase())),
    }
}

impl Ord for NuGetVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.release.cmp(&other.release).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let order = cmp_label(a, b);
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            }
        })
    }
}

super::eq_by_order!(NuGetVersion);

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        NuGetVersion::parse(a)
            .expect(a)
            .cmp(&NuGetVersion::parse(b).expect(b))
    }

    /// `a op b` lines, written from NuGet.Versioning's comparer and its documented examples.
    const TRICKY: &[(&str, Ordering, &str)] = &[
        ("1.0", Ordering::Equal, "1.0.0.0"),
        ("1", Ordering::Equal, "1.0.0"),
        ("01.002.0003", Ordering::Equal, "1.2.3"),
        ("1.0.0.1", Ordering::Greater, "1.0.0"),
        ("1.0.0.10", Ordering::Greater, "1.0.0.9"),
        ("1.0.0.1-beta", Ordering::Greater, "1.0.0"),
        ("1.0.0-beta", Ordering::Less, "1.0.0"),
        ("1.0.0-RC1", Ordering::Equal, "1.0.0-rc1"),
        ("1.0.0-Beta", Ordering::Equal, "1.0.0-bEtA"),
        ("1.0.0-alpha", Ordering::Less, "1.0.0-alpha.1"),
        ("1.0.0-alpha.1", Ordering::Less, "1.0.0-alpha.beta"),
        ("1.0.0-beta.2", Ordering::Less, "1.0.0-beta.11"),
        ("1.0.0-beta.01", Ordering::Equal, "1.0.0-beta.1"),
        ("1.0.0-rc.1", Ordering::Less, "1.0.0"),
        ("1.0.0-a-b", Ordering::Less, "1.0.0-a-c"),
        ("1.0.0-9", Ordering::Less, "1.0.0-a"),
        ("1.0.0-Z", Ordering::Greater, "1.0.0-a1"),
        ("1.0.0-beta1", Ordering::Greater, "1.0.0-beta"),
        ("1.0.0-beta10", Ordering::Less, "1.0.0-beta9"),
        ("1.0.0+build.5", Ordering::Equal, "1.0.0"),
        ("1.0.0-rc.1+abc", Ordering::Equal, "1.0.0-RC.1+def"),
        ("2.0.0", Ordering::Greater, "1.99.99.99"),
        ("1.0.0-99999999999", Ordering::Greater, "1.0.0-2"),
    ];

    #[test]
    fn the_table_holds() {
        for (a, want, b) in TRICKY {
            assert_eq!(cmp(a, b), *want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn garbage_is_refused_naming_the_input() {
        for bad in [
            "",
            "v1.0",
            "1.0.0.0.0",
            "1..0",
            "1.0-",
            "1.0-a..b",
            "1.0+",
            "1.0-beta_1",
            "1.a",
            "-1.0",
            " 1.0",
            "2147483648.0",
            &"1".repeat(MAX_NUGET_VERSION_LEN + 1),
        ] {
            let err = NuGetVersion::parse(bad).expect_err(bad).to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
