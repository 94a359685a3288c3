//! Version comparators for the three package ecosystems Drydock matches: dpkg, rpm and
//! apk-tools. Each is written from the tool's documented algorithm and differential-tested
//! against the real tool (dpkg/apt_pkg, rpm) or apk-tools' published vectors.
//!
//! The comparators never panic: garbage is rejected by `parse` with [`crate::Error::InvalidVersion`]
//! naming the input.

pub mod apk;
pub mod dpkg;
pub mod rpm;

use std::cmp::Ordering;
use std::fmt;

/// A versioning scheme, i.e. which comparator applies to an ecosystem's versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionScheme {
    /// Debian/Ubuntu `[epoch:]upstream[-revision]` (dpkg `verrevcmp`).
    Dpkg,
    /// RPM `[epoch:]version[-release]` (`rpmvercmp` per field).
    Rpm,
    /// Alpine/Wolfi apk-tools versions.
    Apk,
}

// === impl VersionScheme ===

impl VersionScheme {
    /// Compares two version strings under this scheme.
    ///
    /// # Errors
    ///
    /// [`crate::Error::InvalidVersion`] when either side does not parse. apk never fails: like
    /// apk-tools, invalid apk versions fall back to byte-wise string ordering.
    pub fn compare(self, a: &str, b: &str) -> crate::Result<Ordering> {
        match self {
            Self::Dpkg => Ok(dpkg::DpkgVersion::parse(a)?.cmp(&dpkg::DpkgVersion::parse(b)?)),
            Self::Rpm => Ok(rpm::Evr::parse(a)?.cmp(&rpm::Evr::parse(b)?)),
            Self::Apk => Ok(apk::compare(a, b)),
        }
    }

    /// Parses `version` under this scheme, once, for repeated comparisons.
    ///
    /// # Errors
    ///
    /// [`crate::Error::InvalidVersion`] naming the input.
    pub fn parse(self, version: &str) -> crate::Result<Version> {
        match self {
            Self::Dpkg => dpkg::DpkgVersion::parse(version).map(Version::Dpkg),
            Self::Rpm => rpm::Evr::parse(version).map(Version::Rpm),
            Self::Apk => apk::ApkVersion::parse(version).map(Version::Apk),
        }
    }

    /// Checks that `version` is valid under this scheme.
    ///
    /// # Errors
    ///
    /// [`crate::Error::InvalidVersion`] naming the input.
    pub fn validate(self, version: &str) -> crate::Result<()> {
        match self {
            Self::Dpkg => dpkg::DpkgVersion::parse(version).map(drop),
            Self::Rpm => rpm::Evr::parse(version).map(drop),
            Self::Apk => apk::ApkVersion::parse(version).map(drop),
        }
    }
}

/// A version parsed under one scheme. Versions of the same scheme are ordered by that scheme's
/// comparator; versions of different schemes are unordered.
#[derive(Debug, Clone)]
pub enum Version {
    /// A dpkg version.
    Dpkg(dpkg::DpkgVersion),
    /// An rpm EVR.
    Rpm(rpm::Evr),
    /// An apk version.
    Apk(apk::ApkVersion),
}

// === impl Version ===

impl Version {
    /// The scheme this version was parsed under.
    pub fn scheme(&self) -> VersionScheme {
        match self {
            Self::Dpkg(_) => VersionScheme::Dpkg,
            Self::Rpm(_) => VersionScheme::Rpm,
            Self::Apk(_) => VersionScheme::Apk,
        }
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.partial_cmp(other) == Some(Ordering::Equal)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Self::Dpkg(a), Self::Dpkg(b)) => Some(a.cmp(b)),
            (Self::Rpm(a), Self::Rpm(b)) => Some(a.cmp(b)),
            (Self::Apk(a), Self::Apk(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

impl fmt::Display for VersionScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dpkg => "dpkg",
            Self::Rpm => "rpm",
            Self::Apk => "apk",
        })
    }
}
