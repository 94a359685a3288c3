//! Version comparators: the three OS package ecosystems Drydock matches (dpkg, rpm and
//! apk-tools) and the language ecosystems' schemes (PEP 440, SemVer as npm, Cargo and Go read
//! it, RubyGems, Maven, Composer, NuGet). Each is written from the tool's documented algorithm and
//! differential-tested against the real tool (dpkg/apt_pkg, rpm, Python's `packaging`, npm's
//! `semver`, Go's `x/mod/semver`, Ruby's `Gem::Version`, Maven's `ComparableVersion`,
//! `Composer\Semver`) or apk-tools' published vectors; NuGet's, which has no reference runnable
//! here, against tables.
//!
//! The comparators never panic: garbage is rejected by `parse` with [`crate::Error::InvalidVersion`]
//! naming the input.

pub mod apk;
pub mod composer;
pub mod dpkg;
pub mod maven;
pub mod nuget;
pub mod pep440;
pub mod rpm;
pub mod rubygems;
pub mod semver;

use std::cmp::Ordering;
use std::fmt;

/// Implements `PartialOrd`, `PartialEq` and `Eq` of a version type from its `Ord`: two
/// versions are equal when neither sorts first (`1.0` and `1.0.0` in most schemes), which a
/// derived `PartialEq` over the parsed fields or the text would deny.
macro_rules! eq_by_order {
    ($version:ty) => {
        impl PartialOrd for $version {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl PartialEq for $version {
            fn eq(&self, other: &Self) -> bool {
                self.cmp(other) == std::cmp::Ordering::Equal
            }
        }

        impl Eq for $version {}
    };
}
use eq_by_order;

/// A versioning scheme, i.e. which comparator applies to an ecosystem's versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionScheme {
    /// Debian/Ubuntu `[epoch:]upstream[-revision]` (dpkg `verrevcmp`).
    Dpkg,
    /// RPM `[epoch:]version[-release]` (`rpmvercmp` per field).
    Rpm,
    /// Alpine/Wolfi apk-tools versions.
    Apk,
    /// Python's PEP 440 (`packaging.version`).
    Pep440,
    /// Strict SemVer 2.0.0 (npm, crates.io).
    SemVer,
    /// Go module versions (SemVer with `v1`/`v1.2` shorthands).
    Go,
    /// RubyGems' `Gem::Version`.
    RubyGems,
    /// Maven's `ComparableVersion`.
    Maven,
    /// Composer's normalised versions under PHP's `version_compare` (Packagist).
    Composer,
    /// `NuGet.Versioning`'s `NuGetVersion`.
    NuGet,
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
            _ => Ok(self.parse(a)?.cmp_same(&self.parse(b)?)),
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
            Self::Pep440 => pep440::Pep440Version::parse(version).map(Version::Pep440),
            Self::SemVer => {
                semver::SemVersion::parse(version, semver::Flavour::Strict).map(Version::SemVer)
            }
            Self::Go => semver::SemVersion::parse(version, semver::Flavour::Go).map(Version::Go),
            Self::RubyGems => rubygems::GemVersion::parse(version).map(Version::RubyGems),
            Self::Maven => maven::MavenVersion::parse(version).map(Version::Maven),
            Self::Composer => composer::ComposerVersion::parse(version).map(Version::Composer),
            Self::NuGet => nuget::NuGetVersion::parse(version).map(Version::NuGet),
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
            _ => self.parse(version).map(drop),
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
    /// A PEP 440 version.
    Pep440(pep440::Pep440Version),
    /// A strict semantic version.
    SemVer(semver::SemVersion),
    /// A Go module version.
    Go(semver::SemVersion),
    /// A gem version.
    RubyGems(rubygems::GemVersion),
    /// A Maven version.
    Maven(maven::MavenVersion),
    /// A Composer version.
    Composer(composer::ComposerVersion),
    /// A NuGet version.
    NuGet(nuget::NuGetVersion),
}

// === impl Version ===

impl Version {
    /// The scheme this version was parsed under.
    pub fn scheme(&self) -> VersionScheme {
        match self {
            Self::Dpkg(_) => VersionScheme::Dpkg,
            Self::Rpm(_) => VersionScheme::Rpm,
            Self::Apk(_) => VersionScheme::Apk,
            Self::Pep440(_) => VersionScheme::Pep440,
            Self::SemVer(_) => VersionScheme::SemVer,
            Self::Go(_) => VersionScheme::Go,
            Self::RubyGems(_) => VersionScheme::RubyGems,
            Self::Maven(_) => VersionScheme::Maven,
            Self::Composer(_) => VersionScheme::Composer,
            Self::NuGet(_) => VersionScheme::NuGet,
        }
    }

    /// Orders two versions of the same scheme; different schemes compare equal, which
    /// [`PartialOrd`] reports as unordered instead.
    fn cmp_same(&self, other: &Self) -> Ordering {
        self.partial_cmp(other).unwrap_or(Ordering::Equal)
    }
}

/// Compares two digit strings as unbounded non-negative integers (leading zeros ignored).
pub(crate) fn cmp_digits(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
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
            (Self::Pep440(a), Self::Pep440(b)) => Some(a.cmp(b)),
            (Self::SemVer(a), Self::SemVer(b)) | (Self::Go(a), Self::Go(b)) => Some(a.cmp(b)),
            (Self::RubyGems(a), Self::RubyGems(b)) => Some(a.cmp(b)),
            (Self::Maven(a), Self::Maven(b)) => Some(a.cmp(b)),
            (Self::Composer(a), Self::Composer(b)) => Some(a.cmp(b)),
            (Self::NuGet(a), Self::NuGet(b)) => Some(a.cmp(b)),
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
            Self::Pep440 => "PEP 440",
            Self::SemVer => "SemVer",
            Self::Go => "Go",
            Self::RubyGems => "RubyGems",
            Self::Maven => "Maven",
            Self::Composer => "Composer",
            Self::NuGet => "NuGet",
        })
    }
}
