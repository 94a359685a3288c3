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

impl fmt::Display for VersionScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dpkg => "dpkg",
            Self::Rpm => "rpm",
            Self::Apk => "apk",
        })
    }
}
