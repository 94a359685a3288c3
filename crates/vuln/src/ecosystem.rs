//! The ecosystem registry: every ecosystem Drydock scans, OS family or language, declared once.
//!
//! An OS family ([`OsFamilySpec`]) says how it is detected (`os-release` IDs and how its
//! release is derived), which OSV ecosystems hold its records and which OSV dumps carry them,
//! its version scheme, whether packages are looked up by source or binary name, and its
//! end-of-life data. The package databases an image may hold ([`PACKAGE_DATABASES`]) and the
//! release files detection reads ([`RELEASE_FILES`]) are listed here too, with their parsers. A
//! language ecosystem is listed in [`LANGUAGES`]; its OSV name, version scheme and parsers live
//! with its [`LanguageEcosystem`] variant (`inventory::language`), and the file patterns the
//! layer walk keeps for it in the cleaner's `language` module.
//!
//! Everything else reads these tables: OS detection ([`crate::os`]), which OSV ecosystems an
//! image is matched against and under which scheme ([`crate::matching`], [`crate::index`]),
//! the end-of-life table ([`crate::eol`]), the files the layer walk keeps and the inventory it
//! parses (the cleaner's `inventory`), and the OSV dumps the manager downloads by default
//! ([`default_osv_dumps`]). Adding an ecosystem is one entry here (plus, for a language, its
//! variant and parser).

use crate::eol;
use crate::inventory::language::LanguageEcosystem;
use crate::inventory::{Package, apk, dpkg, rpm};
use crate::os::{Os, OsFamily};
use crate::version::VersionScheme;

/// How a family's release (the part of the version that selects vulnerability data) is derived
/// from what detection found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseRule {
    /// Debian: the major number (`12.5` → `12`); testing/sid by name (`trixie/sid` → `sid`).
    Debian,
    /// Alpine: `major.minor`, or the highest release named in `etc/apk/repositories`.
    Alpine,
    /// The major number (`9.3` → `9`).
    Major,
    /// `VERSION_ID` as found (`22.04`, `3.0`).
    AsIs,
    /// The product name: `PRETTY_NAME` without the vendor word (`SUSE Linux Enterprise Server
    /// 15 SP5` → `Linux Enterprise Server 15 SP5`, `openSUSE Leap 15.6` → `Leap 15.6`), which
    /// OSV's SUSE and openSUSE ecosystems are named by.
    ProductName,
    /// openEuler: `VERSION` with the support level joined (`22.03 (LTS-SP1)` → `22.03-LTS-SP1`).
    OpenEuler,
}

/// How a family's OSV ecosystem names are formed from its release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsvNaming {
    /// `<prefix><release>` (`Debian:` + `12`).
    Prefixed(&'static str),
    /// `Ubuntu:<release>`, with `:LTS` for the April releases of even years.
    Ubuntu,
    /// `<prefix><major>` (`Azure Linux:` + `3`).
    PrefixedMajor(&'static str),
    /// One ecosystem whatever the release (rolling distributions: `Wolfi`).
    Fixed(&'static str),
    /// Red Hat's product streams: `Red Hat:<CPE>` of each content set of the image (the
    /// `content_sets` of its `root/buildinfo/content_manifests`), else the streams every
    /// release of that major ships (see [`red_hat_streams`]).
    RedHat,
    /// OSV publishes nothing for the family: detected, reported as "no data in OSV".
    None,
}

/// Where a family's end-of-life dates come from.
#[derive(Debug, Clone, Copy)]
pub enum EolData {
    /// A `distro-info-data` CSV: the first of `columns` that holds a date, keyed by version
    /// and series; rows with none never end (testing, sid).
    DistroInfo {
        /// The CSV text.
        csv: &'static str,
        /// Column indices, in order of preference.
        columns: &'static [usize],
    },
    /// A table of last supported days, and releases that never end.
    Dates {
        /// `(release, YYYY-MM-DD)`.
        dates: &'static [(&'static str, &'static str)],
        /// Releases never end-of-life.
        never: &'static [&'static str],
    },
    /// Every release is supported (no public end-of-life data, or rolling).
    Never,
    /// No data: every release is "unknown", treated as supported with a warning.
    Unknown,
}

/// Whether packages are looked up by source or binary name (and compared by that version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKey {
    /// Source name and version (the record names a source package).
    Source,
    /// Binary name and version.
    Binary,
}

/// One OS family, declared once.
#[derive(Debug, Clone, Copy)]
pub struct OsFamilySpec {
    /// The family.
    pub family: OsFamily,
    /// Its name in reports and `eolDates` overrides (`debian`, `redhat`).
    pub name: &'static str,
    /// `os-release` `ID` values (lower case) that identify it.
    pub os_release_ids: &'static [&'static str],
    /// Whether an `os-release` without `VERSION_ID` is still this family (rolling releases).
    pub rolling: bool,
    /// How its release is derived.
    pub release: ReleaseRule,
    /// How its OSV ecosystem names are formed.
    pub osv: OsvNaming,
    /// The OSV dumps (`<bucket>/<dump>/all.zip`) that hold its records.
    pub osv_dumps: &'static [&'static str],
    /// Its package version scheme.
    pub scheme: VersionScheme,
    /// Whether records name source or binary packages.
    pub match_key: MatchKey,
    /// Its end-of-life data.
    pub eol: EolData,
}

/// Every OS family Drydock detects. Order matters only for the default dumps' order.
pub const OS_FAMILIES: &[OsFamilySpec] = &[
    OsFamilySpec {
        family: OsFamily::Debian,
        name: "debian",
        os_release_ids: &["debian"],
        rolling: false,
        release: ReleaseRule::Debian,
        osv: OsvNaming::Prefixed("Debian:"),
        osv_dumps: &["Debian"],
        scheme: VersionScheme::Dpkg,
        match_key: MatchKey::Source,
        eol: EolData::DistroInfo {
            csv: eol::DEBIAN_CSV,
            columns: &[eol::DEBIAN_EOL_LTS, eol::DEBIAN_EOL],
        },
    },
    OsFamilySpec {
        family: OsFamily::Ubuntu,
        name: "ubuntu",
        os_release_ids: &["ubuntu"],
        rolling: false,
        release: ReleaseRule::AsIs,
        osv: OsvNaming::Ubuntu,
        osv_dumps: &["Ubuntu"],
        scheme: VersionScheme::Dpkg,
        match_key: MatchKey::Source,
        eol: EolData::DistroInfo {
            csv: eol::UBUNTU_CSV,
            columns: &[eol::UBUNTU_EOL],
        },
    },
    OsFamilySpec {
        family: OsFamily::Alpine,
        name: "alpine",
        os_release_ids: &["alpine"],
        rolling: false,
        release: ReleaseRule::Alpine,
        osv: OsvNaming::Prefixed("Alpine:v"),
        osv_dumps: &["Alpine"],
        scheme: VersionScheme::Apk,
        match_key: MatchKey::Source,
        eol: EolData::Dates {
            dates: eol::ALPINE,
            never: &["edge"],
        },
    },
    OsFamilySpec {
        family: OsFamily::AzureLinux,
        name: "azurelinux",
        os_release_ids: &["azurelinux"],
        rolling: false,
        release: ReleaseRule::AsIs,
        osv: OsvNaming::PrefixedMajor("Azure Linux:"),
        osv_dumps: &["Azure Linux"],
        scheme: VersionScheme::Rpm,
        match_key: MatchKey::Source,
        eol: EolData::Never,
    },
    OsFamilySpec {
        family: OsFamily::CblMariner,
        name: "cbl-mariner",
        os_release_ids: &["mariner"],
        rolling: false,
        release: ReleaseRule::AsIs,
        osv: OsvNaming::PrefixedMajor("Azure Linux:"),
        osv_dumps: &["Azure Linux"],
        scheme: VersionScheme::Rpm,
        match_key: MatchKey::Source,
        eol: EolData::Never,
    },
    OsFamilySpec {
        family: OsFamily::Rhel,
        name: "redhat",
        os_release_ids: &["rhel"],
        rolling: false,
        release: ReleaseRule::Major,
        osv: OsvNaming::RedHat,
        osv_dumps: &["Red Hat"],
        scheme: VersionScheme::Rpm,
        match_key: MatchKey::Binary,
        eol: EolData::Dates {
            dates: eol::RHEL,
            never: eol::RHEL_NEVER,
        },
    },
    // CentOS is matched against Red Hat's streams of its major, as Trivy matches it against
    // Red Hat's data.
    OsFamilySpec {
        family: OsFamily::CentOs,
        name: "centos",
        os_release_ids: &["centos"],
        rolling: false,
        release: ReleaseRule::Major,
        osv: OsvNaming::RedHat,
        osv_dumps: &["Red Hat"],
        scheme: VersionScheme::Rpm,
        match_key: MatchKey::Binary,
        eol: EolData::Dates {
            dates: eol::CENTOS,
            never: &[],
        },
    },
    OsFamilySpec {
        family: OsFamily::Alma,
        name: "alma",
        os_release_ids: &["almalinux"],
        rolling: false,
        release: ReleaseRule::Major,
        osv: OsvNaming::Prefixed("AlmaLinux:"),
        osv_dumps: &["AlmaLinux"],
        scheme: VersionScheme::Rpm,
        match_key: MatchKey::Binary,
        eol: EolData::Dates {
            dates: eol::ALMA,
            never: &[],
        },
    },
    OsFamilySpec {
        family: OsFamily::Rocky,
        name: "rocky",
        os_release_ids: &["rocky"],
        rolling: false,
        release: ReleaseRule::Major,
        osv: OsvNaming::Prefixed("Rocky Linux:"),
        osv_dumps: &["Rocky Linux"],
        scheme: VersionScheme::Rpm,
        match_key: MatchKey::Binary,
        eol: EolData::Dates {
            dates: eol::ROCKY,
            never: &[],
        },
    },
    OsFamilySpec {
        family: OsFamily::Sles,
        name: "sles",
        os_release_ids: &["sles", "sle-micro", "sles_sap"],
        rolling: false,
        release: ReleaseRule::ProductName,
        osv: OsvNaming::Prefixed("SUSE:"),
        osv_dumps: &["SUSE"],
        scheme: VersionScheme::Rpm,
        match_key: MatchKey::Source,
        eol: EolData::Unknown,
    },
    OsFamilySpec {
        family: OsFamily::OpenSuseLeap,
        name: "opensuse-leap",
        os_release_ids: &["opensuse-leap", "opensuse"],
        rolling: false,
        release: ReleaseRule::ProductName,
        osv: OsvNaming::Prefixed("openSUSE:"),
        osv_dumps: &["openSUSE"],
        scheme: VersionScheme::Rpm,
        match_key: MatchKey::Source,
        eol: EolData::Unknown,
    },
    OsFamilySpec {
        family: OsFamily::OpenSuseTumbleweed,
        name: "opensuse-tumbleweed",
        os_release_ids: &["opensuse-tumbleweed", "opensuse-slowroll"],
        rolling: true,
        release: ReleaseRule::ProductName,
        osv: OsvNaming::Prefixed("openSUSE:"),
        osv_dumps: &["openSUSE"],
        scheme: VersionScheme::Rpm,
        match_key: MatchKey::Source,
        eol: EolData::Never,
    },
    OsFamilySpec {
        family: OsFamily::Wolfi,
        name: "wolfi",
        os_release_ids: &["wolfi"],
        rolling: true,
        release: ReleaseRule::AsIs,
        osv: OsvNaming::Fixed("Wolfi"),
        osv_dumps: &["Wolfi"],
        scheme: VersionScheme::Apk,
        match_key: MatchKey::Source,
        eol: EolData::Never,
    },
    OsFamilySpec {
        family: OsFamily::Chainguard,
        name: "chainguard",
        os_release_ids: &["chainguard"],
        rolling: true,
        release: ReleaseRule::AsIs,
        osv: OsvNaming::Fixed("Chainguard"),
        osv_dumps: &["Chainguard"],
        scheme: VersionScheme::Apk,
        match_key: MatchKey::Source,
        eol: EolData::Never,
    },
    OsFamilySpec {
        family: OsFamily::Photon,
        name: "photon",
        os_release_ids: &["photon"],
        rolling: false,
        release: ReleaseRule::AsIs,
        osv: OsvNaming::Prefixed("Photon OS:"),
        osv_dumps: &["Photon OS"],
        scheme: VersionScheme::Rpm,
        match_key: MatchKey::Binary,
        eol: EolData::Unknown,
    },
    OsFamilySpec {
        family: OsFamily::OpenEuler,
        name: "openeuler",
        os_release_ids: &["openeuler"],
        rolling: false,
        release: ReleaseRule::OpenEuler,
        osv: OsvNaming::Prefixed("openEuler:"),
        osv_dumps: &["openEuler"],
        scheme: VersionScheme::Rpm,
        match_key: MatchKey::Source,
        eol: EolData::Unknown,
    },
    OsFamilySpec {
        family: OsFamily::Oracle,
        name: "oracle",
        os_release_ids: &["ol"],
        rolling: false,
        release: ReleaseRule::Major,
        osv: OsvNaming::None,
        osv_dumps: &[],
        scheme: VersionScheme::Rpm,
        match_key: MatchKey::Binary,
        eol: EolData::Dates {
            dates: eol::ORACLE,
            never: &[],
        },
    },
    OsFamilySpec {
        family: OsFamily::Fedora,
        name: "fedora",
        os_release_ids: &["fedora"],
        rolling: false,
        release: ReleaseRule::Major,
        osv: OsvNaming::None,
        osv_dumps: &[],
        scheme: VersionScheme::Rpm,
        match_key: MatchKey::Binary,
        eol: EolData::Unknown,
    },
    OsFamilySpec {
        family: OsFamily::Amazon,
        name: "amazon",
        os_release_ids: &["amzn"],
        rolling: false,
        release: ReleaseRule::Major,
        osv: OsvNaming::None,
        osv_dumps: &[],
        scheme: VersionScheme::Rpm,
        match_key: MatchKey::Binary,
        eol: EolData::Dates {
            dates: eol::AMAZON,
            never: &[],
        },
    },
];

/// The language ecosystems Drydock inventories (`vulnerabilities.types: [library]`). Each
/// variant's OSV name is also the name of its OSV dump.
pub const LANGUAGES: &[LanguageEcosystem] = &[
    LanguageEcosystem::Go,
    LanguageEcosystem::PyPI,
    LanguageEcosystem::Npm,
    LanguageEcosystem::RubyGems,
    LanguageEcosystem::Maven,
    LanguageEcosystem::CratesIo,
    LanguageEcosystem::Packagist,
    LanguageEcosystem::NuGet,
];

/// The format of a package database, with its parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageDbFormat {
    /// dpkg's `status` file.
    DpkgStatus,
    /// One file of distroless images' `status.d` directory (checksum lists are skipped).
    DpkgStatusD,
    /// apk's `installed`.
    Apk,
    /// An rpmdb (sqlite, Berkeley DB or NDB).
    Rpm,
    /// The Mariner / Azure Linux distroless manifest.
    MarinerManifest,
}

/// Where a package database lies in an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbLocation {
    /// Files at these paths; with `first_only`, only the first present is read.
    Files {
        /// The paths, relative to the image root.
        paths: &'static [&'static str],
        /// Read only the first present (one database in several possible places).
        first_only: bool,
    },
    /// Every file directly in this directory.
    Dir(&'static str),
}

/// One package database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageDatabase {
    /// Its format.
    pub format: PackageDbFormat,
    /// Where it lies.
    pub location: DbLocation,
}

/// Every OS package database the layer walk keeps and the inventory parses, in reading order.
pub const PACKAGE_DATABASES: &[PackageDatabase] = &[
    PackageDatabase {
        format: PackageDbFormat::DpkgStatus,
        location: DbLocation::Files {
            paths: &["var/lib/dpkg/status"],
            first_only: true,
        },
    },
    PackageDatabase {
        format: PackageDbFormat::DpkgStatusD,
        location: DbLocation::Dir("var/lib/dpkg/status.d"),
    },
    PackageDatabase {
        format: PackageDbFormat::Apk,
        location: DbLocation::Files {
            paths: &["lib/apk/db/installed", "usr/lib/apk/db/installed"],
            first_only: true,
        },
    },
    // rpm databases: BDB, NDB and sqlite, in the places Trivy looks.
    PackageDatabase {
        format: PackageDbFormat::Rpm,
        location: DbLocation::Files {
            paths: &[
                "var/lib/rpm/Packages",
                "var/lib/rpm/Packages.db",
                "var/lib/rpm/rpmdb.sqlite",
                "usr/lib/sysimage/rpm/Packages",
                "usr/lib/sysimage/rpm/Packages.db",
                "usr/lib/sysimage/rpm/rpmdb.sqlite",
                "usr/share/rpm/rpmdb.sqlite",
            ],
            first_only: false,
        },
    },
    PackageDatabase {
        format: PackageDbFormat::MarinerManifest,
        location: DbLocation::Files {
            paths: &["var/lib/rpmmanifest/container-manifest-2"],
            first_only: true,
        },
    },
];

/// The release files OS detection reads ([`crate::ReleaseFiles`]), each a list of paths of
/// which the first present counts.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseFilePaths {
    /// `os-release`: both forms, because Debian's `etc/os-release` is a symlink and symlinks
    /// resolve only between kept paths.
    pub os_release: &'static [&'static str],
    /// Debian's version file.
    pub debian_version: &'static [&'static str],
    /// Ubuntu's lsb-release.
    pub lsb_release: &'static [&'static str],
    /// Alpine's release file.
    pub alpine_release: &'static [&'static str],
    /// Alpine's repository list.
    pub apk_repositories: &'static [&'static str],
    /// The Red Hat family's release files, in [`crate::ReleaseFiles::redhat_release`] order.
    pub redhat_release: &'static [&'static str],
    /// Amazon's system-release.
    pub system_release: &'static [&'static str],
    /// The directory of Red Hat's content manifests (JSON, with the image's `content_sets`).
    pub content_manifests_dir: &'static str,
}

/// The release files OS detection reads.
pub const RELEASE_FILES: ReleaseFilePaths = ReleaseFilePaths {
    os_release: &["etc/os-release", "usr/lib/os-release"],
    debian_version: &["etc/debian_version"],
    lsb_release: &["etc/lsb-release"],
    alpine_release: &["etc/alpine-release"],
    apk_repositories: &["etc/apk/repositories"],
    redhat_release: &[
        "etc/redhat-release",
        "etc/centos-release",
        "etc/almalinux-release",
        "etc/rocky-release",
        "etc/oracle-release",
        "etc/fedora-release",
    ],
    system_release: &["etc/system-release", "usr/lib/system-release"],
    content_manifests_dir: "root/buildinfo/content_manifests",
};

// === impl ReleaseFilePaths ===

impl ReleaseFilePaths {
    /// Every single-file path (the content manifests directory aside).
    pub fn paths(&self) -> impl Iterator<Item = &'static str> {
        [
            self.os_release,
            self.debian_version,
            self.lsb_release,
            self.alpine_release,
            self.apk_repositories,
            self.redhat_release,
            self.system_release,
        ]
        .into_iter()
        .flatten()
        .copied()
    }
}

// === impl PackageDbFormat ===

impl PackageDbFormat {
    /// Parses the database at `path` (its path in the image, for errors). A `status.d` entry
    /// that is not a package file gives no packages.
    ///
    /// # Errors
    ///
    /// [`crate::Error::CorruptPackageDb`] naming `path`.
    pub fn parse(self, path: &str, bytes: &[u8]) -> crate::Result<Vec<Package>> {
        match self {
            Self::DpkgStatus => dpkg::parse_status(path, bytes),
            Self::DpkgStatusD => {
                let name = path.rsplit('/').next().unwrap_or(path);
                if dpkg::is_status_d_package_file(name) {
                    dpkg::parse_status(path, bytes)
                } else {
                    Ok(Vec::new())
                }
            }
            Self::Apk => apk::parse_installed(path, bytes),
            Self::Rpm => rpm::parse_rpmdb(path, bytes),
            Self::MarinerManifest => rpm::parse_mariner_manifest(path, bytes),
        }
    }
}

// === impl OsFamilySpec ===

impl OsFamilySpec {
    /// The OSV ecosystems whose records apply to `os` (empty when OSV has no data for it).
    pub fn osv_ecosystems(&self, os: &Os) -> Vec<String> {
        match self.osv {
            OsvNaming::Prefixed(prefix) => vec![format!("{prefix}{}", os.release)],
            OsvNaming::Ubuntu => vec![if is_ubuntu_lts(&os.release) {
                format!("Ubuntu:{}:LTS", os.release)
            } else {
                format!("Ubuntu:{}", os.release)
            }],
            OsvNaming::PrefixedMajor(prefix) => vec![format!("{prefix}{}", major(&os.release))],
            OsvNaming::Fixed(name) => vec![name.to_owned()],
            OsvNaming::RedHat => red_hat_streams(&os.release, &os.content_sets),
            OsvNaming::None => Vec::new(),
        }
    }
}

/// The spec of `family`.
pub fn spec(family: OsFamily) -> &'static OsFamilySpec {
    OS_FAMILIES
        .iter()
        .find(|spec| spec.family == family)
        .unwrap_or(&OS_FAMILIES[0])
}

/// The family whose `os-release` IDs include `id` (lower case).
pub fn family_by_os_release_id(id: &str) -> Option<&'static OsFamilySpec> {
    OS_FAMILIES
        .iter()
        .find(|spec| spec.os_release_ids.contains(&id))
}

/// The version scheme of an OSV ecosystem (`Debian:12`, `Alpine:v3.18`, `Red
/// Hat:enterprise_linux:9::baseos`, `PyPI`), or `None` for ecosystems Drydock does not match.
pub fn ecosystem_scheme(ecosystem: &str) -> Option<VersionScheme> {
    let base = ecosystem.split(':').next().unwrap_or(ecosystem);
    OS_FAMILIES
        .iter()
        .find(|spec| spec.osv_dumps.contains(&base))
        .map(|spec| spec.scheme)
        .or_else(|| {
            LANGUAGES
                .iter()
                .find(|language| language.osv_name() == base)
                .map(|language| language.scheme())
        })
}

/// The OSV dumps the manager downloads by default: every OS family's that OSV publishes, then
/// every language's, each once, in registry order.
pub fn default_osv_dumps() -> Vec<&'static str> {
    let mut dumps: Vec<&'static str> = Vec::new();
    let os = OS_FAMILIES
        .iter()
        .flat_map(|spec| spec.osv_dumps.iter().copied());
    let languages = LANGUAGES.iter().map(|language| language.osv_name());
    for dump in os.chain(languages) {
        if !dumps.contains(&dump) {
            dumps.push(dump);
        }
    }
    dumps
}

/// RHEL majors whose default product streams are `server` (Red Hat's CPE
/// `enterprise_linux:<major>::server`) rather than `baseos` and `appstream`.
const RHEL_SERVER_STREAM_MAJORS: &[&str] = &["5", "6", "7"];

/// The `Red Hat:<CPE>` ecosystems of a RHEL (or CentOS) `release` (its major): one per content
/// set of the image Drydock can name (`rhel-9-for-x86_64-appstream-rpms` →
/// `Red Hat:enterprise_linux:9::appstream`, `codeready-builder-for-rhel-9-…` → `…::crb`,
/// `rhel-7-server-rpms` → `…:7::server`), else the streams every image of that major is built
/// from: `baseos` and `appstream` (8 and later), `server` (7 and before), as Trivy's defaults.
/// Sorted, without duplicates.
pub fn red_hat_streams(release: &str, content_sets: &[String]) -> Vec<String> {
    let major = major(release);
    let mut streams: Vec<String> = content_sets
        .iter()
        .filter_map(|set| content_set_stream(set))
        .filter(|(set_major, _)| *set_major == major)
        .map(|(set_major, stream)| format!("Red Hat:enterprise_linux:{set_major}::{stream}"))
        .collect();
    if streams.is_empty() {
        let defaults: &[&str] = if RHEL_SERVER_STREAM_MAJORS.contains(&major) {
            &["server"]
        } else {
            &["appstream", "baseos"]
        };
        streams = defaults
            .iter()
            .map(|stream| format!("Red Hat:enterprise_linux:{major}::{stream}"))
            .collect();
    }
    streams.sort();
    streams.dedup();
    streams
}

/// `(major, stream)` of a Red Hat content set, `None` for sets Drydock cannot name.
fn content_set_stream(set: &str) -> Option<(&str, &str)> {
    let set = set.strip_suffix("-rpms")?;
    if let Some(rest) = set.strip_prefix("codeready-builder-for-rhel-") {
        let major = rest.split('-').next()?;
        return Some((major, "crb"));
    }
    let rest = set.strip_prefix("rhel-")?;
    let (major, rest) = rest.split_once('-')?;
    if !major.bytes().all(|b| b.is_ascii_digit()) || major.is_empty() {
        return None;
    }
    if rest == "server" {
        return Some((major, "server"));
    }
    // `for-<arch>-<stream>`; the architecture itself may hold `_` but no `-`.
    let rest = rest.strip_prefix("for-")?;
    let (_, stream) = rest.split_once('-')?;
    matches!(stream, "baseos" | "appstream" | "crb" | "supplementary").then_some((major, stream))
}

/// The `content_sets` of Red Hat content manifests (JSON files of an image's
/// `root/buildinfo/content_manifests`), in order, without duplicates. Files that are not JSON
/// or hold no list give nothing.
pub fn content_sets<'a>(manifests: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut sets: Vec<String> = Vec::new();
    for manifest in manifests {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(manifest) else {
            continue;
        };
        let listed = value
            .get("content_sets")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_str);
        for set in listed {
            if !sets.iter().any(|s| s == set) {
                sets.push(set.to_owned());
            }
        }
    }
    sets
}

/// Ubuntu LTS releases are the April releases of even years (`22.04`).
fn is_ubuntu_lts(release: &str) -> bool {
    match release.split_once('.') {
        Some((year, "04")) => year.parse::<u32>().is_ok_and(|y| y % 2 == 0),
        _ => false,
    }
}

/// The major number of a version (`9.3` → `9`).
pub(crate) fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_declared_exactly_once() {
        for (i, spec) in OS_FAMILIES.iter().enumerate() {
            assert!(
                OS_FAMILIES[i + 1..].iter().all(|s| s.family != spec.family),
                "{} twice",
                spec.name
            );
            assert_eq!(spec.family.to_string(), spec.name);
        }
    }

    #[test]
    fn every_language_is_in_the_registry() {
        // A new variant fails to compile here until it is added to LANGUAGES.
        fn listed(language: LanguageEcosystem) -> bool {
            match language {
                LanguageEcosystem::Go
                | LanguageEcosystem::PyPI
                | LanguageEcosystem::Npm
                | LanguageEcosystem::RubyGems
                | LanguageEcosystem::Maven
                | LanguageEcosystem::CratesIo
                | LanguageEcosystem::Packagist
                | LanguageEcosystem::NuGet => LANGUAGES.contains(&language),
            }
        }
        for language in LANGUAGES {
            assert!(listed(*language));
            assert_eq!(
                ecosystem_scheme(language.osv_name()),
                Some(language.scheme())
            );
        }
    }

    #[test]
    fn os_release_ids_are_unique_and_lower_case() {
        let mut ids: Vec<&str> = OS_FAMILIES
            .iter()
            .flat_map(|s| s.os_release_ids.iter().copied())
            .collect();
        assert!(ids.iter().all(|id| id.to_ascii_lowercase() == *id));
        let all = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all);
    }

    #[test]
    fn matched_ecosystems_map_to_their_version_scheme_and_others_to_none() {
        for (ecosystem, scheme) in [
            ("Debian:12", Some(VersionScheme::Dpkg)),
            ("Ubuntu:Pro:18.04:LTS", Some(VersionScheme::Dpkg)),
            ("Alpine:v3.18", Some(VersionScheme::Apk)),
            ("Rocky Linux:9", Some(VersionScheme::Rpm)),
            (
                "Red Hat:enterprise_linux:9::baseos",
                Some(VersionScheme::Rpm),
            ),
            (
                "SUSE:Linux Enterprise Server 15 SP5",
                Some(VersionScheme::Rpm),
            ),
            ("openSUSE:Tumbleweed", Some(VersionScheme::Rpm)),
            ("Photon OS:5.0", Some(VersionScheme::Rpm)),
            ("openEuler:22.03-LTS-SP1", Some(VersionScheme::Rpm)),
            ("PyPI", Some(VersionScheme::Pep440)),
            ("Go", Some(VersionScheme::Go)),
            ("npm", Some(VersionScheme::SemVer)),
            ("Packagist", Some(VersionScheme::Composer)),
            ("NuGet", Some(VersionScheme::NuGet)),
            ("Mageia:9", None),
            ("GHC", None),
        ] {
            assert_eq!(ecosystem_scheme(ecosystem), scheme, "{ecosystem}");
        }
    }

    #[test]
    fn default_dumps_hold_every_published_os_family_and_every_language_once() {
        let dumps = default_osv_dumps();
        for dump in [
            "Debian",
            "Red Hat",
            "SUSE",
            "openSUSE",
            "Photon OS",
            "openEuler",
            "Go",
            "PyPI",
            "npm",
            "RubyGems",
            "Packagist",
            "NuGet",
        ] {
            assert_eq!(dumps.iter().filter(|d| **d == dump).count(), 1, "{dump}");
        }
        assert!(
            !dumps
                .iter()
                .any(|d| d.contains("Amazon") || d.contains("Oracle"))
        );
    }

    #[test]
    fn red_hat_streams_come_from_content_sets_else_the_major_defaults() {
        let sets = content_sets([
            r#"{"content_sets":["rhel-8-for-x86_64-baseos-rpms","rhel-8-for-x86_64-appstream-rpms",
                "codeready-builder-for-rhel-8-x86_64-rpms","rhel-8-for-x86_64-sap-rpms"]}"#,
            "not json",
            r#"{"content_sets":["rhel-8-for-x86_64-baseos-rpms"]}"#,
        ]);
        assert_eq!(sets.len(), 4);
        assert_eq!(
            red_hat_streams("8", &sets),
            [
                "Red Hat:enterprise_linux:8::appstream",
                "Red Hat:enterprise_linux:8::baseos",
                "Red Hat:enterprise_linux:8::crb"
            ]
        );
        assert_eq!(
            red_hat_streams("9", &[]),
            [
                "Red Hat:enterprise_linux:9::appstream",
                "Red Hat:enterprise_linux:9::baseos"
            ]
        );
        assert_eq!(
            red_hat_streams("7", &["rhel-7-server-rpms".to_owned()]),
            ["Red Hat:enterprise_linux:7::server"]
        );
        // Content sets of another major do not count; the defaults apply.
        assert_eq!(
            red_hat_streams("7", &sets),
            ["Red Hat:enterprise_linux:7::server"]
        );
    }
}
