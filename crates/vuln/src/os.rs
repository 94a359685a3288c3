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

/// Release files found in an image. Every field is the file's content, `None` when absent.
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
}

/// An OS family; each maps to one vulnerability data source.
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
    /// Red Hat Enterprise Linux.
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
    /// openSUSE (Leap or Tumbleweed).
    OpenSuse,
    /// SUSE Linux Enterprise Server.
    Sles,
    /// VMware Photon OS.
    Photon,
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
    /// The release used to select vulnerability data (`12`, `22.04`, `3.18`, `9`, `2023`).
    pub release: String,
}

// === impl Os ===

impl Os {
    /// The OSV ecosystem string whose records apply to this OS, or `None` when OSV has no data
    /// for the family (Amazon, Oracle, Fedora, ...).
    ///
    /// Azure Linux / CBL-Mariner use the major version (`Azure Linux:3`); the reference marks
    /// that suffix form as unverified against real records.
    pub fn osv_ecosystem(&self) -> Option<String> {
        match self.family {
            OsFamily::Debian => Some(format!("Debian:{}", self.release)),
            OsFamily::Ubuntu => Some(if is_ubuntu_lts(&self.release) {
                format!("Ubuntu:{}:LTS", self.release)
            } else {
                format!("Ubuntu:{}", self.release)
            }),
            OsFamily::Alpine => Some(format!("Alpine:v{}", self.release)),
            OsFamily::Alma => Some(format!("AlmaLinux:{}", self.release)),
            OsFamily::Rocky => Some(format!("Rocky Linux:{}", self.release)),
            OsFamily::AzureLinux | OsFamily::CblMariner => {
                Some(format!("Azure Linux:{}", major(&self.release)))
            }
            OsFamily::Wolfi => Some("Wolfi".to_owned()),
            OsFamily::Chainguard => Some("Chainguard".to_owned()),
            _ => None,
        }
    }

    /// Whether packages are matched by source name and source version (Debian, Ubuntu,
    /// Alpine and its relatives, Azure Linux / CBL-Mariner), as Trivy does; otherwise by binary
    /// name and version (the Red Hat family, Amazon).
    pub fn matches_by_source(&self) -> bool {
        matches!(
            self.family,
            OsFamily::Debian
                | OsFamily::Ubuntu
                | OsFamily::Alpine
                | OsFamily::Wolfi
                | OsFamily::Chainguard
                | OsFamily::AzureLinux
                | OsFamily::CblMariner
        )
    }

    /// The comparator for this OS's package versions.
    pub fn version_scheme(&self) -> crate::VersionScheme {
        match self.family {
            OsFamily::Debian | OsFamily::Ubuntu => crate::VersionScheme::Dpkg,
            OsFamily::Alpine | OsFamily::Wolfi | OsFamily::Chainguard => crate::VersionScheme::Apk,
            _ => crate::VersionScheme::Rpm,
        }
    }
}

impl fmt::Display for OsFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Debian => "debian",
            Self::Ubuntu => "ubuntu",
            Self::Alpine => "alpine",
            Self::Wolfi => "wolfi",
            Self::Chainguard => "chainguard",
            Self::Rhel => "redhat",
            Self::CentOs => "centos",
            Self::Rocky => "rocky",
            Self::Alma => "alma",
            Self::Oracle => "oracle",
            Self::Fedora => "fedora",
            Self::Amazon => "amazon",
            Self::AzureLinux => "azurelinux",
            Self::CblMariner => "cbl-mariner",
            Self::OpenSuse => "opensuse",
            Self::Sles => "sles",
            Self::Photon => "photon",
        })
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
    let family = match id.as_str() {
        "debian" => OsFamily::Debian,
        "ubuntu" => OsFamily::Ubuntu,
        "alpine" => OsFamily::Alpine,
        "wolfi" => OsFamily::Wolfi,
        "chainguard" => OsFamily::Chainguard,
        "rhel" => OsFamily::Rhel,
        "centos" => OsFamily::CentOs,
        "rocky" => OsFamily::Rocky,
        "almalinux" => OsFamily::Alma,
        "ol" => OsFamily::Oracle,
        "fedora" => OsFamily::Fedora,
        "amzn" => OsFamily::Amazon,
        "azurelinux" => OsFamily::AzureLinux,
        "mariner" => OsFamily::CblMariner,
        "sles" => OsFamily::Sles,
        "photon" => OsFamily::Photon,
        other if other.starts_with("opensuse") => OsFamily::OpenSuse,
        _ => return None,
    };
    let version_id = match (family, get("VERSION_ID")) {
        (_, Some(version)) => version,
        // Debian testing/sid has no VERSION_ID: debian_version says e.g. `trixie/sid`.
        (OsFamily::Debian, None) => first_line(files.debian_version?)?.to_owned(),
        // Rolling distributions have no version.
        (OsFamily::Wolfi | OsFamily::Chainguard, None) => String::new(),
        (_, None) => return None,
    };
    Some(build(family, version_id, codename, files))
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
    let release = match family {
        OsFamily::Debian => debian_release(&version_id, codename.as_deref()),
        OsFamily::Alpine => {
            let own = major_minor(&version_id);
            match files.apk_repositories.and_then(max_repository_release) {
                Some(repo) => repo,
                None => own,
            }
        }
        OsFamily::Rhel
        | OsFamily::CentOs
        | OsFamily::Rocky
        | OsFamily::Alma
        | OsFamily::Oracle
        | OsFamily::Fedora
        | OsFamily::Amazon => major(&version_id).to_owned(),
        _ => version_id.clone(),
    };
    Os {
        family,
        version_id,
        codename,
        release,
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

/// Ubuntu LTS releases are the April releases of even years (`22.04`).
fn is_ubuntu_lts(release: &str) -> bool {
    match release.split_once('.') {
        Some((year, "04")) => year.parse::<u32>().is_ok_and(|y| y % 2 == 0),
        _ => false,
    }
}

fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
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
        assert_eq!(os.osv_ecosystem().as_deref(), Some("Debian:12"));
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
        assert_eq!(os.osv_ecosystem().as_deref(), Some("Debian:sid"));
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
        assert_eq!(os.osv_ecosystem().as_deref(), Some("Ubuntu:22.04:LTS"));
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
        assert_eq!(os.osv_ecosystem().as_deref(), Some("Alpine:v3.19"));
    }

    #[test]
    fn alpine_release_file_alone_gives_major_minor() {
        let os = detect_os(&ReleaseFiles {
            alpine_release: Some("3.20.1\n"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(os.osv_ecosystem().as_deref(), Some("Alpine:v3.20"));
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
        assert_eq!(azl.osv_ecosystem().as_deref(), Some("Azure Linux:3"));
        assert_eq!(cbl.family, OsFamily::CblMariner);
        assert_eq!(cbl.osv_ecosystem().as_deref(), Some("Azure Linux:2"));
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
