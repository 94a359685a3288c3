//! OS detection from release-file contents, pure over what the caller read from the image.
//!
//! Primary source: `os-release` (the caller passes `etc/os-release`, or `usr/lib/os-release`
//! when the former is absent or a dangling symlink, as on Debian). Fallbacks, as in Trivy's
//! analyzers: `etc/debian_version`, `etc/lsb-release` (Ubuntu), `etc/alpine-release`,
//! `etc/redhat-release` and its siblings, and `etc/system-release` (Amazon).
//!
//! Differences from Trivy worth knowing:
//! - Trivy ignores os-release for Debian and Ubuntu; here os-release wins when it names them,
//!   and `debian_version` fills in testing/sid, whose os-release has no `VERSION_ID`.
//! - Alpine prefers the highest `vX.Y` (or `edge`) named in `etc/apk/repositories` over the
//!   release file, as Trivy does.

use std::fmt;

use crate::ecosystem::{self, MatchKey, OsFamilySpec, ReleaseRule};

/// Release files found in an image. Every field is the file's content, `None` when absent.
/// Their paths are [`crate::ecosystem::RELEASE_FILES`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ReleaseFiles<'a> {
    /// `etc/os-release`, else `usr/lib/os-release`.
    pub os_release: Option<&'a str>,
    /// `etc/debian_version`.
    pub debian_version: Option<&'a str>,
    /// `etc/lsb-release`.
    pub lsb_release: Option<&'a str>,
    /// `etc/alpine-release`.
    pub alpine_release: Option<&'a str>,
    /// `etc/apk/repositories`.
    pub apk_repositories: Option<&'a str>,
    /// The first found of `etc/redhat-release`, `etc/centos-release`, `etc/almalinux-release`,
    /// `etc/rocky-release`, `etc/oracle-release`, `etc/fedora-release`.
    pub redhat_release: Option<&'a str>,
    /// `etc/system-release` (else `usr/lib/system-release`).
    pub system_release: Option<&'a str>,
    /// Red Hat's content manifests (`root/buildinfo/content_manifests/*.json`).
    pub content_manifests: &'a [&'a str],
}

/// An OS family. What each is (detection, OSV ecosystems, version scheme, end-of-life data)
/// is declared in [`crate::ecosystem::OS_FAMILIES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OsFamily {
    /// Debian.
    Debian,
    /// Ubuntu.
    Ubuntu,
    /// Alpine Linux.
    Alpine,
    /// Wolfi (apk-based, rolling).
    Wolfi,
    /// Chainguard OS (apk-based, rolling).
    Chainguard,
    /// Red Hat Enterprise Linux (and UBI).
    Rhel,
    /// CentOS (including Stream).
    CentOs,
    /// Rocky Linux.
    Rocky,
    /// AlmaLinux.
    Alma,
    /// Oracle Linux.
    Oracle,
    /// Fedora.
    Fedora,
    /// Amazon Linux.
    Amazon,
    /// Azure Linux 3 and later (`ID=azurelinux`).
    AzureLinux,
    /// CBL-Mariner 1 and 2 (`ID=mariner`).
    CblMariner,
    /// openSUSE Leap.
    OpenSuseLeap,
    /// openSUSE Tumbleweed (rolling).
    OpenSuseTumbleweed,
    /// SUSE Linux Enterprise (Server, Micro).
    Sles,
    /// VMware Photon OS.
    Photon,
    /// openEuler.
    OpenEuler,
}

/// A detected operating system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Os {
    /// The family.
    pub family: OsFamily,
    /// The version as found (`12`, `22.04`, `3.18.4`, `9.3`, `trixie/sid`).
    pub version_id: String,
    /// The release codename, when known (`bookworm`, `jammy`).
    pub codename: Option<String>,
    /// The release used to select vulnerability data (`12`, `22.04`, `3.18`, `9`, `2023`,
    /// `Leap 15.6`).
    pub release: String,
    /// Red Hat content sets the image was built from (`rhel-9-for-x86_64-baseos-rpms`); empty
    /// elsewhere.
    pub content_sets: Vec<String>,
}

// === impl Os ===

impl Os {
    /// An OS of `family` at `release`, with no codename or content sets (for tests and
    /// callers that know the release).
    pub fn new(family: OsFamily, release: impl Into<String>) -> Self {
        let release = release.into();
        Self {
            family,
            version_id: release.clone(),
            codename: None,
            release,
            content_sets: Vec::new(),
        }
    }

    /// The family's declaration in the registry.
    pub fn spec(&self) -> &'static OsFamilySpec {
        ecosystem::spec(self.family)
    }

    /// The OSV ecosystems whose records apply to this OS (`Debian:12`; several Red Hat product
    /// streams), empty when OSV has no data for the family (Amazon, Oracle, Fedora).
    pub fn osv_ecosystems(&self) -> Vec<String> {
        self.spec().osv_ecosystems(self)
    }

    /// Whether packages are matched by source name and source version (Debian, Ubuntu,
    /// Alpine and its relatives, Azure Linux / CBL-Mariner, SUSE, openEuler), as Trivy does;
    /// otherwise by binary name and version (the Red Hat family, Photon OS).
    pub fn matches_by_source(&self) -> bool {
        self.spec().match_key == MatchKey::Source
    }

    /// The comparator for this OS's package versions.
    pub fn version_scheme(&self) -> crate::VersionScheme {
        self.spec().scheme
    }
}

impl fmt::Display for OsFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ecosystem::spec(*self).name)
    }
}

/// Detects the OS from release files: os-release first, then the fallbacks. `None` when
/// nothing identifies a supported family.
pub fn detect_os(files: &ReleaseFiles<'_>) -> Option<Os> {
    files
        .os_release
        .and_then(|content| from_os_release(content, files))
        .or_else(|| from_fallbacks(files))
}

fn from_os_release(content: &str, files: &ReleaseFiles<'_>) -> Option<Os> {
    let fields = parse_key_values(content);
    let get = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let id = get("ID")?.to_ascii_lowercase();
    let codename = get("VERSION_CODENAME");
    let spec = ecosystem::family_by_os_release_id(&id)?;
    let family = spec.family;
    let version_id = match (family, get("VERSION_ID")) {
        (_, Some(version)) => version,
        // Debian testing/sid has no VERSION_ID: debian_version says e.g. `trixie/sid`.
        (OsFamily::Debian, None) => first_line(files.debian_version?)?.to_owned(),
        // Rolling distributions have no version.
        (_, None) if spec.rolling => String::new(),
        (_, None) => return None,
    };
    let mut os = build(family, version_id, codename, files);
    match spec.release {
        ReleaseRule::ProductName => {
            os.release = product_name(get("PRETTY_NAME").as_deref(), get("NAME").as_deref())?;
        }
        ReleaseRule::OpenEuler => {
            if let Some(version) = get("VERSION") {
                os.release = open_euler_release(&version);
            }
        }
        _ => {}
    }
    Some(os)
}

/// SUSE and openSUSE products by `PRETTY_NAME` without the vendor word, as OSV names their
/// ecosystems (`SUSE Linux Enterprise Server 15 SP5` → `Linux Enterprise Server 15 SP5`,
/// `openSUSE Leap 15.6` → `Leap 15.6`, `openSUSE Tumbleweed` → `Tumbleweed`).
fn product_name(pretty: Option<&str>, name: Option<&str>) -> Option<String> {
    let full = pretty.or(name)?.trim();
    let product = ["openSUSE ", "SUSE "]
        .iter()
        .find_map(|vendor| full.strip_prefix(vendor))
        .unwrap_or(full);
    (!product.is_empty()).then(|| product.to_owned())
}

/// openEuler's release as OSV names it: `VERSION` with its parenthesised support level joined
/// by a dash (`22.03 (LTS-SP1)` → `22.03-LTS-SP1`, `24.03 (LTS)` → `24.03-LTS`).
fn open_euler_release(version: &str) -> String {
    match version.split_once('(') {
        Some((number, level)) => {
            let level = level.trim_end_matches(')').trim();
            format!("{}-{level}", number.trim())
        }
        None => version.trim().to_owned(),
    }
}

fn from_fallbacks(files: &ReleaseFiles<'_>) -> Option<Os> {
    // Ubuntu also ships debian_version, so lsb-release is checked first (Trivy's merge rule).
    if let Some(lsb) = files.lsb_release {
        let fields = parse_key_values(lsb);
        let get = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
        };
        if get("DISTRIB_ID").is_some_and(|id| id.eq_ignore_ascii_case("ubuntu"))
            && let Some(release) = get("DISTRIB_RELEASE").filter(|r| !r.is_empty())
        {
            let codename = get("DISTRIB_CODENAME");
            return Some(build(OsFamily::Ubuntu, release, codename, files));
        }
    }
    if let Some(version) = files.debian_version.and_then(first_line) {
        return Some(build(OsFamily::Debian, version.to_owned(), None, files));
    }
    if let Some(version) = files.alpine_release.and_then(first_line) {
        return Some(build(OsFamily::Alpine, version.to_owned(), None, files));
    }
    if let Some((name, version)) = files.redhat_release.and_then(redhat_release) {
        let lower = name.to_ascii_lowercase();
        let family = if lower.starts_with("centos") {
            OsFamily::CentOs
        } else if lower.starts_with("rocky") {
            OsFamily::Rocky
        } else if lower.starts_with("almalinux") {
            OsFamily::Alma
        } else if lower.starts_with("oracle") {
            OsFamily::Oracle
        } else if lower.starts_with("fedora") {
            OsFamily::Fedora
        } else {
            OsFamily::Rhel
        };
        return Some(build(family, version, None, files));
    }
    let system = files.system_release.and_then(first_line)?;
    if system.starts_with("Amazon Linux release 2") || system.starts_with("Amazon Linux") {
        let version = redhat_release(system).map_or_else(|| "1".to_owned(), |(_, v)| v);
        // "Amazon Linux AMI release 2018.03" is Amazon Linux 1.
        let version = if system.starts_with("Amazon Linux AMI") {
            "1".to_owned()
        } else {
            version
        };
        return Some(build(OsFamily::Amazon, version, None, files));
    }
    None
}

fn build(
    family: OsFamily,
    version_id: String,
    codename: Option<String>,
    files: &ReleaseFiles<'_>,
) -> Os {
    let release = match ecosystem::spec(family).release {
        ReleaseRule::Debian => debian_release(&version_id, codename.as_deref()),
        ReleaseRule::Alpine => {
            let own = major_minor(&version_id);
            match files.apk_repositories.and_then(max_repository_release) {
                Some(repo) => repo,
                None => own,
            }
        }
        ReleaseRule::Major => major(&version_id).to_owned(),
        ReleaseRule::AsIs | ReleaseRule::ProductName | ReleaseRule::OpenEuler => version_id.clone(),
    };
    let content_sets = if matches!(ecosystem::spec(family).osv, ecosystem::OsvNaming::RedHat) {
        ecosystem::content_sets(files.content_manifests.iter().copied())
    } else {
        Vec::new()
    };
    Os {
        family,
        version_id,
        codename,
        release,
        content_sets,
    }
}

/// Debian releases are named by major number (`12.5` → `12`); testing and sid have no number
/// (`trixie/sid` → `sid`, as OSV's `Debian:sid`).
fn debian_release(version_id: &str, codename: Option<&str>) -> String {
    if version_id.starts_with(|c: char| c.is_ascii_digit()) {
        return major(version_id).to_owned();
    }
    match version_id.split_once('/') {
        Some((_, "sid")) => "sid".to_owned(),
        _ => codename.unwrap_or(version_id).to_owned(),
    }
}

fn major(version: &str) -> &str {
    ecosystem::major(version)
}

fn major_minor(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

fn first_line(content: &str) -> Option<&str> {
    content
        .lines()
        .next()
        .map(str::trim)
        .filter(|l| !l.is_empty())
}

/// The highest `vX.Y` in apk repository URLs, or `edge` when any repository is edge.
fn max_repository_release(repositories: &str) -> Option<String> {
    let mut best: Option<(u32, u32)> = None;
    for line in repositories.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        for segment in line.split('/') {
            if segment == "edge" {
                return Some("edge".to_owned());
            }
            let Some((maj, min)) = segment.strip_prefix('v').and_then(|v| v.split_once('.')) else {
                continue;
            };
            if let (Ok(maj), Ok(min)) = (maj.parse(), min.parse()) {
                best = best.max(Some((maj, min)));
            }
        }
    }
    best.map(|(maj, min)| format!("{maj}.{min}"))
}

/// `(.*) release (\d[\d\.]*)` over the first line, as Trivy's redhatbase analyzers.
fn redhat_release(content: &str) -> Option<(String, String)> {
    let line = first_line(content)?;
    let (name, rest) = line.split_once(" release ")?;
    let version: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let version = version.trim_end_matches('.').to_owned();
    version
        .starts_with(|c: char| c.is_ascii_digit())
        .then(|| (name.trim().to_owned(), version))
}

/// Parses shell-style `KEY=value` lines (os-release, lsb-release), unquoting values.
fn parse_key_values(content: &str) -> Vec<(&str, String)> {
    content
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim(), unquote(value.trim())))
        .collect()
}

fn unquote(value: &str) -> String {
    let inner = ['"', '\'']
        .iter()
        .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
        .unwrap_or(value);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(escaped) = chars.next() {
                out.push(escaped);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_12: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
        VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";

    #[test]
    fn debian_os_release_gives_major_release_and_codename() {
        let os = detect_os(&ReleaseFiles {
            os_release: Some(DEBIAN_12),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(os.family, OsFamily::Debian);
        assert_eq!(os.codename.as_deref(), Some("bookworm"));
        assert_eq!(os.osv_ecosystems(), ["Debian:12"]);
    }

    #[test]
    fn debian_sid_without_version_id_falls_back_to_debian_version() {
        let os = detect_os(&ReleaseFiles {
            os_release: Some("ID=debian\nVERSION_CODENAME=trixie\n"),
            debian_version: Some("trixie/sid\n"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(os.version_id, "trixie/sid");
        assert_eq!(os.osv_ecosystems(), ["Debian:sid"]);
    }

    #[test]
    fn missing_os_release_falls_back_to_debian_version_point_release() {
        let os = detect_os(&ReleaseFiles {
            debian_version: Some("12.5\n"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((os.family, os.release.as_str()), (OsFamily::Debian, "12"));
    }

    #[test]
    fn ubuntu_lsb_release_beats_debian_version() {
        let os = detect_os(&ReleaseFiles {
            lsb_release: Some("DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\nDISTRIB_CODENAME=jammy\n"),
            debian_version: Some("bookworm/sid\n"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(os.family, OsFamily::Ubuntu);
        assert_eq!(os.osv_ecosystems(), ["Ubuntu:22.04:LTS"]);
    }

    #[test]
    fn alpine_prefers_the_highest_repository_release() {
        let os = detect_os(&ReleaseFiles {
            os_release: Some("ID=alpine\nVERSION_ID=3.18.4\n"),
            apk_repositories: Some(
                "https://dl-cdn.alpinelinux.org/alpine/v3.18/main\n\
                 https://dl-cdn.alpinelinux.org/alpine/v3.19/community\n",
            ),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(os.version_id, "3.18.4");
        assert_eq!(os.osv_ecosystems(), ["Alpine:v3.19"]);
    }

    #[test]
    fn alpine_release_file_alone_gives_major_minor() {
        let os = detect_os(&ReleaseFiles {
            alpine_release: Some("3.20.1\n"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(os.osv_ecosystems(), ["Alpine:v3.20"]);
    }

    #[test]
    fn redhat_release_siblings_are_recognised_by_name() {
        let os = detect_os(&ReleaseFiles {
            redhat_release: Some("Rocky Linux release 9.3 (Blue Onyx)\n"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((os.family, os.release.as_str()), (OsFamily::Rocky, "9"));
        let os = detect_os(&ReleaseFiles {
            redhat_release: Some("CentOS Linux release 7.9.2009 (Core)\n"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (os.family, os.version_id.as_str()),
            (OsFamily::CentOs, "7.9.2009")
        );
    }

    #[test]
    fn amazon_system_release_gives_2_or_2023() {
        for (content, release) in [
            ("Amazon Linux release 2 (Karoo)\n", "2"),
            (
                "Amazon Linux release 2023.4.20240416 (Amazon Linux)\n",
                "2023",
            ),
            ("Amazon Linux AMI release 2018.03\n", "1"),
        ] {
            let os = detect_os(&ReleaseFiles {
                system_release: Some(content),
                ..Default::default()
            })
            .unwrap();
            assert_eq!(
                (os.family, os.release.as_str()),
                (OsFamily::Amazon, release)
            );
        }
    }

    #[test]
    fn azure_linux_and_mariner_share_the_osv_ecosystem() {
        let azl = detect_os(&ReleaseFiles {
            os_release: Some("ID=azurelinux\nVERSION_ID=\"3.0\"\n"),
            ..Default::default()
        })
        .unwrap();
        let cbl = detect_os(&ReleaseFiles {
            os_release: Some("ID=mariner\nVERSION_ID=\"2.0\"\n"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(azl.osv_ecosystems(), ["Azure Linux:3"]);
        assert_eq!(cbl.family, OsFamily::CblMariner);
        assert_eq!(cbl.osv_ecosystems(), ["Azure Linux:2"]);
    }

    #[test]
    fn unknown_os_release_id_tries_the_fallbacks() {
        let os = detect_os(&ReleaseFiles {
            os_release: Some("ID=plan9\nVERSION_ID=4\n"),
            alpine_release: Some("3.19.0"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(os.family, OsFamily::Alpine);
    }

    fn os_release(content: &str) -> Os {
        detect_os(&ReleaseFiles {
            os_release: Some(content),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn suse_and_opensuse_are_named_by_their_product_as_osv_names_them() {
        let sles = os_release(
            "NAME=\"SLES\"\nVERSION=\"15-SP5\"\nVERSION_ID=\"15.5\"\n\
             PRETTY_NAME=\"SUSE Linux Enterprise Server 15 SP5\"\nID=\"sles\"\n",
        );
        assert_eq!(sles.family, OsFamily::Sles);
        assert_eq!(
            sles.osv_ecosystems(),
            ["SUSE:Linux Enterprise Server 15 SP5"]
        );
        assert!(sles.matches_by_source());
        let leap = os_release(
            "NAME=\"openSUSE Leap\"\nVERSION=\"15.6\"\nID=\"opensuse-leap\"\n\
             VERSION_ID=\"15.6\"\nPRETTY_NAME=\"openSUSE Leap 15.6\"\n",
        );
        assert_eq!(leap.family, OsFamily::OpenSuseLeap);
        assert_eq!(leap.osv_ecosystems(), ["openSUSE:Leap 15.6"]);
        let tumbleweed = os_release(
            "NAME=\"openSUSE Tumbleweed\"\nID=\"opensuse-tumbleweed\"\n\
             VERSION_ID=\"20241201\"\nPRETTY_NAME=\"openSUSE Tumbleweed\"\n",
        );
        assert_eq!(tumbleweed.family, OsFamily::OpenSuseTumbleweed);
        assert_eq!(tumbleweed.osv_ecosystems(), ["openSUSE:Tumbleweed"]);
    }

    #[test]
    fn photon_and_openeuler_map_to_their_osv_releases() {
        let photon =
            os_release("NAME=\"VMware Photon OS\"\nVERSION=\"5.0\"\nID=photon\nVERSION_ID=5.0\n");
        assert_eq!(photon.osv_ecosystems(), ["Photon OS:5.0"]);
        assert_eq!(photon.version_scheme(), crate::VersionScheme::Rpm);
        let euler = os_release(
            "NAME=\"openEuler\"\nVERSION=\"22.03 (LTS-SP1)\"\nID=\"openEuler\"\nVERSION_ID=\"22.03\"\n",
        );
        assert_eq!(euler.family, OsFamily::OpenEuler);
        assert_eq!(euler.osv_ecosystems(), ["openEuler:22.03-LTS-SP1"]);
    }

    #[test]
    fn rhel_is_matched_against_the_content_sets_of_its_image() {
        let manifest = r#"{"content_sets":["rhel-9-for-x86_64-baseos-rpms"]}"#;
        let ubi = detect_os(&ReleaseFiles {
            os_release: Some("ID=\"rhel\"\nVERSION_ID=\"9.4\"\n"),
            content_manifests: &[manifest],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ubi.release, "9");
        assert_eq!(ubi.osv_ecosystems(), ["Red Hat:enterprise_linux:9::baseos"]);
        assert!(!ubi.matches_by_source());
        let bare = os_release("ID=\"rhel\"\nVERSION_ID=\"8.10\"\n");
        assert_eq!(
            bare.osv_ecosystems(),
            [
                "Red Hat:enterprise_linux:8::appstream",
                "Red Hat:enterprise_linux:8::baseos"
            ]
        );
    }

    #[test]
    fn amazon_oracle_and_fedora_are_detected_with_no_osv_data() {
        for (content, family) in [
            ("ID=\"amzn\"\nVERSION_ID=\"2\"\n", OsFamily::Amazon),
            ("ID=\"ol\"\nVERSION_ID=\"8.9\"\n", OsFamily::Oracle),
            ("ID=fedora\nVERSION_ID=40\n", OsFamily::Fedora),
        ] {
            let os = os_release(content);
            assert_eq!(os.family, family);
            assert!(os.osv_ecosystems().is_empty(), "{family}");
        }
    }

    #[test]
    fn nothing_recognisable_detects_no_os() {
        assert_eq!(detect_os(&ReleaseFiles::default()), None);
        assert_eq!(
            detect_os(&ReleaseFiles {
                os_release: Some("garbage\0\u{fffd}"),
                ..Default::default()
            }),
            None
        );
    }
}
