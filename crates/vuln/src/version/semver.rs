//! Semantic versions (SemVer 2.0.0) as three language ecosystems read them: npm (the `semver`
//! package's strict parser), crates.io (Cargo) and Go modules (`golang.org/x/mod/semver`).
//!
//! Grammar: `[v]MAJOR.MINOR.PATCH[-PRE(.PRE)*][+BUILD(.BUILD)*]`; numbers have no leading
//! zeros; a pre-release identifier is digits without a leading zero or `[0-9A-Za-z-]+` with a
//! non-digit; build identifiers are `[0-9A-Za-z-]+`. Go also accepts the shorthands `vMAJOR`
//! and `vMAJOR.MINOR` (meaning `.0`), without pre-release or build; OSV writes Go versions
//! without the `v`, so it is optional here for every flavour.
//!
//! Ordering: major, minor, patch by value; a version with a pre-release sorts before the same
//! version without; pre-release identifiers left to right, numeric ones by value and below
//! alphanumeric ones, alphanumeric ones byte-wise, a shorter list first when it is a prefix.
//! Build metadata never affects ordering (`1.0.0+a == 1.0.0+b`, and Go's `+incompatible`).
//! Numbers of any length compare by value (npm rejects majors above 2^53 − 1, which no
//! registry publishes).

use std::cmp::Ordering;

use super::cmp_digits;
use crate::{Error, Result, VersionScheme};

/// Which ecosystem's reading of SemVer applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// npm's and Cargo's strict SemVer 2.0.0: all three numbers required.
    Strict,
    /// Go modules: `v1` and `v1.2` are shorthands for `v1.0.0` and `v1.2.0`.
    Go,
}

/// One pre-release identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Identifier {
    Numeric(String),
    Alphanumeric(String),
}

/// A parsed semantic version (build metadata dropped: it does not order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemVersion {
    major: String,
    minor: String,
    patch: String,
    pre: Vec<Identifier>,
}

// === impl SemVersion ===

impl SemVersion {
    /// Parses `input` under `flavour`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidVersion`] naming the input when it is not a semantic version.
    pub fn parse(input: &str, flavour: Flavour) -> Result<Self> {
        let scheme = match flavour {
            Flavour::Strict => VersionScheme::SemVer,
            Flavour::Go => VersionScheme::Go,
        };
        let invalid = |reason| Error::InvalidVersion {
            scheme,
            input: input.to_owned(),
            reason,
        };
        // npm trims surrounding whitespace; Go's parser does not.
        let text = match flavour {
            Flavour::Strict => input.trim(),
            Flavour::Go => input,
        };
        let text = text.strip_prefix('v').unwrap_or(text);
        let (text, build) = match text.split_once('+') {
            Some((head, build)) => (head, Some(build)),
            None => (text, None),
        };
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (text, None),
        };
        let mut numbers = core.split('.');
        let mut number = |what| match numbers.next() {
            Some(n) if is_number(n) => Ok(Some(n.to_owned())),
            Some(_) => Err(invalid(what)),
            None => Ok(None),
        };
        let major = number("invalid major version")?.ok_or_else(|| invalid("empty version"))?;
        let minor = number("invalid minor version")?;
        let patch = number("invalid patch version")?;
        if numbers.next().is_some() {
            return Err(invalid("more than three version numbers"));
        }
        let shorthand = minor.is_none() || patch.is_none();
        if shorthand && (flavour == Flavour::Strict || pre.is_some() || build.is_some()) {
            return Err(invalid("expected MAJOR.MINOR.PATCH"));
        }
        if let Some(build) = build
            && !build.split('.').all(is_identifier)
        {
            return Err(invalid("invalid build metadata"));
        }
        let pre = match pre {
            None => Vec::new(),
            Some(pre) => pre
                .split('.')
                .map(|id| {
                    if is_number(id) {
                        Ok(Identifier::Numeric(id.to_owned()))
                    } else if is_identifier(id) && !id.bytes().all(|b| b.is_ascii_digit()) {
                        Ok(Identifier::Alphanumeric(id.to_owned()))
                    } else {
                        Err(invalid("invalid pre-release identifier"))
                    }
                })
                .collect::<Result<_>>()?,
        };
        Ok(Self {
            major,
            minor: minor.unwrap_or_else(|| "0".to_owned()),
            patch: patch.unwrap_or_else(|| "0".to_owned()),
            pre,
        })
    }
}

/// Digits without a leading zero (`0` itself allowed).
fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

/// A non-empty run of `[0-9A-Za-z-]`.
fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn cmp_pre(a: &[Identifier], b: &[Identifier]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    for (x, y) in a.iter().zip(b) {
        let order = match (x, y) {
            (Identifier::Numeric(x), Identifier::Numeric(y)) => cmp_digits(x, y),
            (Identifier::Alphanumeric(x), Identifier::Alphanumeric(y)) => x.cmp(y),
            (Identifier::Numeric(_), Identifier::Alphanumeric(_)) => Ordering::Less,
            (Identifier::Alphanumeric(_), Identifier::Numeric(_)) => Ordering::Greater,
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

impl Ord for SemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_digits(&self.major, &other.major)
            .then_with(|| cmp_digits(&self.minor, &other.minor))
            .then_with(|| cmp_digits(&self.patch, &other.patch))
            .then_with(|| cmp_pre(&self.pre, &other.pre))
    }
}

impl PartialOrd for SemVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str, flavour: Flavour) -> Ordering {
        let a = SemVersion::parse(a, flavour).expect(a);
        a.cmp(&SemVersion::parse(b, flavour).expect(b))
    }

    #[test]
    fn the_specification_examples_order() {
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
        ];
        for pair in chain.windows(2) {
            assert_eq!(
                cmp(pair[0], pair[1], Flavour::Strict),
                Ordering::Less,
                "{pair:?}"
            );
        }
        assert_eq!(cmp("1.0.0+a", "v1.0.0+b", Flavour::Strict), Ordering::Equal);
    }

    #[test]
    fn go_shorthands_and_incompatible() {
        assert_eq!(cmp("v1", "v1.0.0", Flavour::Go), Ordering::Equal);
        assert_eq!(cmp("1.2", "1.2.0", Flavour::Go), Ordering::Equal);
        assert_eq!(
            cmp("v2.0.0+incompatible", "v2.0.0", Flavour::Go),
            Ordering::Equal
        );
        assert!(SemVersion::parse("1.2", Flavour::Strict).is_err());
        assert!(SemVersion::parse("v1.2-pre", Flavour::Go).is_err());
    }

    #[test]
    fn garbage_is_refused_naming_the_input() {
        for bad in [
            "",
            "1.0.01",
            "1.0.0-",
            "1.0.0-01",
            "1.0.0+",
            "1.0.0.0",
            "1.x.0",
            "1.0.0-a..b",
        ] {
            let err = SemVersion::parse(bad, Flavour::Strict)
                .expect_err(bad)
                .to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
