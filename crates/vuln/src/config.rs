//! The scanner's configuration: Eraser's `components.scanner.config` YAML string, read the way
//! Eraser's trivy-scanner reads it (`pkg/scanners/trivy/types.go` `DefaultConfig`, then the
//! document on top: omitted keys keep their defaults, lists replace), plus Drydock's keys.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `deleteFailedImages` | `true` | images that fail to scan are deleted |
//! | `deleteEOLImages` | `true` | images whose OS is end-of-life are non-compliant |
//! | `vulnerabilities.ignoreUnfixed` | `false` | drop findings without a fix |
//! | `vulnerabilities.types` | `[os, library]` | `os` matches OS packages; `library` matches Go binaries, Python, npm and Ruby packages |
//! | `vulnerabilities.securityChecks` | `[vuln]` | without `vuln`, nothing is matched |
//! | `vulnerabilities.severities` | `[CRITICAL, HIGH, MEDIUM, LOW]` | severities that count (`UNKNOWN` is not in the default) |
//! | `vulnerabilities.ignoredStatuses` | `[]` | statuses dropped; when set, `ignoreUnfixed` is ignored (Trivy) |
//! | `timeout.total`, `timeout.perImage` | `23h`, `1h` | Go durations |
//! | `dbPath` | [`DEFAULT_DB_PATH`] | the compiled index (Drydock) |
//! | `dbUrl` | none | where `drydock vulndb` fetches OSV dumps (Drydock) |
//! | `snapshotRoot` | none | containerd's overlayfs snapshot root, when blobs are gone (Drydock) |
//! | `eolDates` | `{}` | `family: {release: YYYY-MM-DD \| never}` overrides (Drydock) |
//! | `reportInUse` | `false` | also scan the images in use, for the in-use vulnerability report; never removed (Drydock) |
//!
//! Trivy-only keys (`cacheDir`, `dbRepo`) are accepted and reported as ignored; unknown keys
//! are reported too. A value of the wrong type or out of range is an [`Error::Config`] naming
//! the key. `null` keeps the default (Eraser's default config writes `ignoredStatuses:` empty).

use std::fmt;

use drydock_duration::GoDuration;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::eol::EolOverrides;
use crate::matching::FixStatus;
use crate::{Error, Result, Severity};

/// Where the compiled index lives when `dbPath` is not set: a path inside the scanner
/// container, typically a mounted volume.
pub const DEFAULT_DB_PATH: &str = "/var/lib/drydock/vuln.db";

/// Eraser's default `timeout.total` (23 h: a run must finish before the next daily one).
pub const DEFAULT_TOTAL_TIMEOUT: GoDuration = GoDuration::from_hours(23);
/// Eraser's default `timeout.perImage`.
pub const DEFAULT_PER_IMAGE_TIMEOUT: GoDuration = GoDuration::from_hours(1);

/// Keys Eraser's trivy-scanner reads that mean nothing to Drydock.
const TRIVY_ONLY_KEYS: [&str; 2] = ["cacheDir", "dbRepo"];

/// The scanner configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScannerConfig {
    /// Delete images that fail to scan.
    pub delete_failed_images: bool,
    /// Count end-of-life images as non-compliant.
    #[serde(rename = "deleteEOLImages")]
    pub delete_eol_images: bool,
    /// What counts as a vulnerability.
    pub vulnerabilities: VulnerabilityConfig,
    /// Time limits.
    pub timeout: TimeoutConfig,
    /// The compiled index; [`DEFAULT_DB_PATH`] when unset.
    pub db_path: Option<String>,
    /// Where OSV dumps are fetched from.
    pub db_url: Option<String>,
    /// containerd's overlayfs snapshot root, read when layer blobs are gone.
    pub snapshot_root: Option<String>,
    /// End-of-life overrides.
    pub eol_dates: EolOverrides,
    /// Scan the images in use too, for the in-use vulnerability report (Drydock's key; the
    /// manager reads it as well, to have the collector hand them over).
    pub report_in_use: bool,
}

/// `vulnerabilities.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VulnerabilityConfig {
    /// Drop findings without a fix (unless `ignoredStatuses` is set).
    pub ignore_unfixed: bool,
    /// Package types to match.
    pub types: Vec<VulnType>,
    /// Scanners to run (`securityChecks`, Trivy `--scanners`).
    pub security_checks: Vec<SecurityCheck>,
    /// Severities that count.
    pub severities: Vec<SeverityName>,
    /// Statuses dropped.
    pub ignored_statuses: Vec<Status>,
}

/// `timeout.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TimeoutConfig {
    /// For the whole run; images not scanned by then fail.
    pub total: GoDuration,
    /// Per image; an image taking longer fails.
    pub per_image: GoDuration,
}

/// A package type (`vulnerabilities.types`, Trivy `--vuln-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VulnType {
    /// OS packages (dpkg, apk, rpm).
    Os,
    /// Language packages: Go binaries (modules and the standard library), Python, npm, Ruby.
    Library,
}

/// A scanner (`vulnerabilities.securityChecks`, Trivy `--scanners` and its old names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecurityCheck {
    /// Vulnerabilities: the only check Drydock runs.
    Vuln,
    /// Misconfigurations (`config` in Trivy before 0.37): accepted, not run.
    #[serde(alias = "config")]
    Misconfig,
    /// Secrets: accepted, not run.
    Secret,
    /// Licenses: accepted, not run.
    License,
}

/// A severity in configuration: the names Trivy's `--severity` accepts, any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SeverityName(pub Severity);

/// A vulnerability status (`vulnerabilities.ignoredStatuses`, Trivy `--ignore-status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Status unknown.
    Unknown,
    /// Not affected.
    NotAffected,
    /// Affected, no fix yet.
    Affected,
    /// A fix exists.
    Fixed,
    /// Under investigation.
    UnderInvestigation,
    /// The vendor will not fix it.
    WillNotFix,
    /// The fix is postponed.
    FixDeferred,
    /// The package is end-of-life.
    EndOfLife,
}

/// A parsed configuration and what was ignored in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The configuration.
    pub config: ScannerConfig,
    /// Keys accepted but without effect (`cacheDir`, unknown keys, `ignoreUnfixed` overridden
    /// by `ignoredStatuses`, `library` scanning), one sentence each.
    pub warnings: Vec<String>,
}

// === impl ScannerConfig ===

impl Default for ScannerConfig {
    fn default() -> Self {
        Self {
            delete_failed_images: true,
            delete_eol_images: true,
            vulnerabilities: VulnerabilityConfig::default(),
            timeout: TimeoutConfig::default(),
            db_path: None,
            db_url: None,
            snapshot_root: None,
            eol_dates: EolOverrides::new(),
            report_in_use: false,
        }
    }
}

impl ScannerConfig {
    /// The index path: `dbPath`, else [`DEFAULT_DB_PATH`].
    pub fn db_path(&self) -> &str {
        self.db_path.as_deref().unwrap_or(DEFAULT_DB_PATH)
    }

    /// Whether language packages are inventoried and matched (`library` in `types`, `vuln` in
    /// `securityChecks`).
    pub fn scans_library_vulnerabilities(&self) -> bool {
        self.vulnerabilities.types.contains(&VulnType::Library)
            && self
                .vulnerabilities
                .security_checks
                .contains(&SecurityCheck::Vuln)
    }

    /// Whether OS packages are matched at all (`os` in `types`, `vuln` in `securityChecks`).
    pub fn scans_os_vulnerabilities(&self) -> bool {
        self.vulnerabilities.types.contains(&VulnType::Os)
            && self
                .vulnerabilities
                .security_checks
                .contains(&SecurityCheck::Vuln)
    }

    /// The statuses whose findings are dropped. Trivy's rule: `ignoredStatuses` when set, else
    /// every status but `fixed` when `ignoreUnfixed`, else none.
    pub fn ignored_statuses(&self) -> Vec<Status> {
        let v = &self.vulnerabilities;
        if !v.ignored_statuses.is_empty() {
            v.ignored_statuses.clone()
        } else if v.ignore_unfixed {
            Status::ALL
                .into_iter()
                .filter(|s| *s != Status::Fixed)
                .collect()
        } else {
            Vec::new()
        }
    }

    /// Whether findings of `severity` count.
    pub fn counts_severity(&self, severity: Severity) -> bool {
        self.vulnerabilities
            .severities
            .iter()
            .any(|s| s.0 == severity)
    }
}

impl Default for VulnerabilityConfig {
    fn default() -> Self {
        Self {
            ignore_unfixed: false,
            types: vec![VulnType::Os, VulnType::Library],
            security_checks: vec![SecurityCheck::Vuln],
            severities: [
                Severity::Critical,
                Severity::High,
                Severity::Medium,
                Severity::Low,
            ]
            .into_iter()
            .map(SeverityName)
            .collect(),
            ignored_statuses: Vec::new(),
        }
    }
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            total: DEFAULT_TOTAL_TIMEOUT,
            per_image: DEFAULT_PER_IMAGE_TIMEOUT,
        }
    }
}

impl<'de> Deserialize<'de> for SeverityName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Severity::from_name(&text).map(Self).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown severity {text:?} (expected UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL)"
            ))
        })
    }
}

// === impl Status ===

impl Status {
    /// Every status Trivy knows.
    pub const ALL: [Self; 8] = [
        Self::Unknown,
        Self::NotAffected,
        Self::Affected,
        Self::Fixed,
        Self::UnderInvestigation,
        Self::WillNotFix,
        Self::FixDeferred,
        Self::EndOfLife,
    ];

    /// The status of a finding with this fix status.
    pub fn of(status: FixStatus) -> Self {
        match status {
            FixStatus::Fixed => Self::Fixed,
            FixStatus::Affected => Self::Affected,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = serde_json::to_value(self).ok();
        f.write_str(value.as_ref().and_then(Value::as_str).unwrap_or("unknown"))
    }
}

/// Parses `components.scanner.config` (YAML). An empty document gives the defaults.
///
/// # Errors
///
/// [`Error::Config`] naming the key for invalid YAML, a value of the wrong type, an unknown
/// enum value (severity, status, type, check) or a negative timeout.
pub fn parse(text: &str) -> Result<Parsed> {
    let document: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_saphyr::from_str(text)
            .map_err(|e| config_error("(document)", format!("not valid YAML: {e}")))?
    };
    let mut document = match document {
        Value::Null => Value::Object(serde_json::Map::new()),
        Value::Object(map) => Value::Object(map),
        other => {
            return Err(config_error(
                "(document)",
                format!("expected a mapping, got {other}"),
            ));
        }
    };
    strip_nulls(&mut document);
    let mut warnings = Vec::new();
    let mut ignored: Vec<String> = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| ignored.push(path.to_string());
    let ignoring = serde_ignored::Deserializer::new(&document, &mut record);
    let config: ScannerConfig = serde_path_to_error::deserialize(ignoring).map_err(|e| {
        let key = e.path().to_string();
        config_error(&key, e.into_inner().to_string())
    })?;
    for key in ignored {
        if TRIVY_ONLY_KEYS.contains(&key.as_str()) {
            warnings.push(format!("{key} is a Trivy setting; ignored by Drydock"));
        } else {
            warnings.push(format!("unknown key {key} ignored"));
        }
    }
    for (key, value) in [
        ("timeout.total", config.timeout.total),
        ("timeout.perImage", config.timeout.per_image),
    ] {
        if value.is_negative() {
            return Err(config_error(
                key,
                format!("must not be negative, got {value}"),
            ));
        }
    }
    let v = &config.vulnerabilities;
    if v.ignore_unfixed && !v.ignored_statuses.is_empty() {
        warnings.push(
            "vulnerabilities.ignoreUnfixed is ignored because vulnerabilities.ignoredStatuses is set (as in Trivy)"
                .to_owned(),
        );
    }
    if v.types.contains(&VulnType::Library) {
        warnings.push(
            "vulnerabilities.types: library covers Go binaries, Python, npm and Ruby packages so far (not Java, Rust, PHP or .NET)"
                .to_owned(),
        );
    }
    if let Some(check) = v
        .security_checks
        .iter()
        .find(|c| **c != SecurityCheck::Vuln)
    {
        warnings.push(format!(
            "vulnerabilities.securityChecks: {} is not run; only vuln is",
            serde_json::to_value(check)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ));
    }
    Ok(Parsed { config, warnings })
}

/// Removes `null` values so that they keep their defaults.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn config_error(key: &str, reason: impl Into<String>) -> Error {
    Error::Config {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eol::EolDate;

    #[test]
    fn empty_config_gives_eraser_defaults() {
        let parsed = parse("").unwrap();
        let c = &parsed.config;
        assert!(c.delete_failed_images);
        assert!(c.delete_eol_images);
        assert!(!c.vulnerabilities.ignore_unfixed);
        assert_eq!(c.vulnerabilities.types, [VulnType::Os, VulnType::Library]);
        assert_eq!(c.vulnerabilities.security_checks, [SecurityCheck::Vuln]);
        assert!(c.counts_severity(Severity::Low));
        assert!(!c.counts_severity(Severity::Unknown));
        assert!(c.ignored_statuses().is_empty());
        assert_eq!(c.timeout.total.to_string(), "23h0m0s");
        assert_eq!(c.timeout.per_image.to_string(), "1h0m0s");
        assert_eq!(c.db_path(), DEFAULT_DB_PATH);
    }

    #[test]
    fn erasers_default_scanner_config_parses_to_the_defaults_with_trivy_keys_reported() {
        let parsed = parse(drydock_api::config::DEFAULT_SCANNER_CONFIG).unwrap();
        assert_eq!(parsed.config, ScannerConfig::default());
        assert!(
            parsed
                .warnings
                .iter()
                .any(|w| w.starts_with("cacheDir is a Trivy setting"))
        );
        assert!(
            parsed
                .warnings
                .iter()
                .any(|w| w.starts_with("dbRepo is a Trivy setting"))
        );
    }

    #[test]
    fn every_key_is_read() {
        let parsed = parse(
            "deleteFailedImages: false\ndeleteEOLImages: false\nvulnerabilities:\n  ignoreUnfixed: true\n  \
             types: [os]\n  securityChecks: [vuln, secret]\n  severities: [critical, HIGH]\n  \
             ignoredStatuses: [will_not_fix]\ntimeout:\n  total: 2h30m\n  perImage: 90s\n\
             dbPath: /data/vuln.db\ndbUrl: https://osv.example/\nsnapshotRoot: /snapshots\n\
             eolDates:\n  debian:\n    \"12\": 2020-01-01\n  alpine:\n    \"3.99\": never\n",
        )
        .unwrap();
        let c = parsed.config;
        assert!(!c.delete_failed_images);
        assert!(!c.delete_eol_images);
        assert!(c.vulnerabilities.ignore_unfixed);
        assert_eq!(c.vulnerabilities.types, [VulnType::Os]);
        assert_eq!(
            c.vulnerabilities.security_checks,
            [SecurityCheck::Vuln, SecurityCheck::Secret]
        );
        assert_eq!(
            c.vulnerabilities.severities,
            [
                SeverityName(Severity::Critical),
                SeverityName(Severity::High)
            ]
        );
        assert_eq!(c.ignored_statuses(), [Status::WillNotFix]);
        assert_eq!(c.timeout.total.to_string(), "2h30m0s");
        assert_eq!(c.timeout.per_image.to_string(), "1m30s");
        assert_eq!(c.db_path(), "/data/vuln.db");
        assert_eq!(c.db_url.as_deref(), Some("https://osv.example/"));
        assert_eq!(c.snapshot_root.as_deref(), Some("/snapshots"));
        assert_eq!(c.eol_dates["debian"]["12"], "2020-01-01".parse().unwrap());
        assert_eq!(c.eol_dates["alpine"]["3.99"], EolDate::Never);
        assert!(
            parsed
                .warnings
                .iter()
                .any(|w| w.contains("ignoreUnfixed is ignored")),
            "{:?}",
            parsed.warnings
        );
        assert!(
            parsed
                .warnings
                .iter()
                .any(|w| w.contains("secret is not run"))
        );
    }

    #[test]
    fn the_in_use_report_is_drydocks_key_and_off_by_default() {
        assert!(!parse("").unwrap().config.report_in_use);
        let parsed = parse("reportInUse: true\n").unwrap();
        assert!(parsed.config.report_in_use);
        assert!(
            !parsed.warnings.iter().any(|w| w.contains("reportInUse")),
            "{:?}",
            parsed.warnings
        );
    }

    #[test]
    fn ignore_unfixed_alone_ignores_every_status_but_fixed() {
        let c = parse("vulnerabilities:\n  ignoreUnfixed: true\n")
            .unwrap()
            .config;
        let ignored = c.ignored_statuses();
        assert!(ignored.contains(&Status::Affected));
        assert!(!ignored.contains(&Status::Fixed));
    }

    #[test]
    fn null_values_keep_their_defaults() {
        let c = parse("vulnerabilities:\n  severities:\n  ignoredStatuses:\ntimeout:\n")
            .unwrap()
            .config;
        assert_eq!(c, ScannerConfig::default());
    }

    #[test]
    fn unknown_keys_are_reported_not_rejected() {
        let parsed = parse("vulnerabilities:\n  ignoreUnfixd: true\n").unwrap();
        assert!(
            parsed
                .warnings
                .contains(&"unknown key vulnerabilities.ignoreUnfixd ignored".to_owned()),
            "{:?}",
            parsed.warnings
        );
    }

    #[test]
    fn bad_values_are_errors_naming_the_key() {
        for (text, key) in [
            ("deleteFailedImages: maybe", "deleteFailedImages"),
            (
                "vulnerabilities:\n  severities: [HIGH, SEVERE]",
                "vulnerabilities.severities[1]",
            ),
            (
                "vulnerabilities:\n  ignoredStatuses: [wontfix]",
                "vulnerabilities.ignoredStatuses[0]",
            ),
            (
                "vulnerabilities:\n  types: [os, go]",
                "vulnerabilities.types[1]",
            ),
            ("timeout:\n  perImage: 1 hour", "timeout.perImage"),
            ("timeout:\n  total: -1h", "timeout.total"),
            ("reportInUse: sometimes", "reportInUse"),
            (
                "eolDates:\n  debian:\n    \"12\": soon",
                "eolDates.debian.12",
            ),
            ("- just\n- a list", "(document)"),
            ("key: [unclosed", "(document)"),
        ] {
            match parse(text) {
                Err(Error::Config { key: got, .. }) => assert_eq!(got, key, "{text}"),
                other => panic!("{text}: expected an error naming {key}, got {other:?}"),
            }
        }
    }
}
