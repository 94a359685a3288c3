//! OSV records (ossf/osv-schema), reduced to the fields matching needs: identifiers and
//! aliases (`aliases`, `upstream`, `related`), `withdrawn`, top-level and per-package
//! `severity`, and per package the ecosystem, name, `ECOSYSTEM` range events, enumerated
//! `versions`, and the vendor severity fields in `ecosystem_specific` / `database_specific`.
//! Unknown fields are ignored, so newer schema versions still parse.

use serde::Deserialize;

use crate::{Error, Result};

/// One OSV record.
#[derive(Debug, Clone, Deserialize)]
pub struct OsvRecord {
    /// The record ID (`DEBIAN-CVE-2023-5363`, `DSA-5532-1`, `CVE-2023-5363`).
    pub id: String,
    /// Last modification time (RFC 3339), as written.
    #[serde(default)]
    pub modified: Option<String>,
    /// IDs of the same vulnerability in other databases.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Upstream IDs: distro records put the CVE here (OSV 1.7).
    #[serde(default)]
    pub upstream: Vec<String>,
    /// Related but not identical vulnerabilities.
    #[serde(default)]
    pub related: Vec<String>,
    /// When set, the record was withdrawn and must not match.
    #[serde(default)]
    pub withdrawn: Option<String>,
    /// Record-level severities (CVSS vectors copied from NVD for Debian).
    #[serde(default)]
    pub severity: Vec<OsvSeverity>,
    /// The affected packages.
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// Database-specific data, e.g. GitHub's `severity` word.
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// A severity entry: a type and a score, which for CVSS types is a vector string.
#[derive(Debug, Clone, Deserialize)]
pub struct OsvSeverity {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4` or `Ubuntu`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector (CVSS) or priority word (Ubuntu).
    pub score: String,
}

/// One affected package of a record.
#[derive(Debug, Clone, Deserialize)]
pub struct Affected {
    /// Which package; absent in some non-distro records.
    #[serde(default)]
    pub package: Option<OsvPackage>,
    /// Version ranges.
    #[serde(default)]
    pub ranges: Vec<OsvRange>,
    /// Enumerated affected versions.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Per-package severities (must not coexist with top-level ones).
    #[serde(default)]
    pub severity: Vec<OsvSeverity>,
    /// Ecosystem-specific data, e.g. Debian's `urgency` or Ubuntu's `ubuntu_priority`.
    #[serde(default)]
    pub ecosystem_specific: Option<serde_json::Value>,
    /// Database-specific data, e.g. the Red Hat family's `severity`.
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// The package an [`Affected`] entry is about.
#[derive(Debug, Clone, Deserialize)]
pub struct OsvPackage {
    /// The ecosystem with release, e.g. `Debian:12`, `Alpine:v3.18`.
    pub ecosystem: String,
    /// The package name (a source package for distros).
    pub name: String,
}

/// A version range.
#[derive(Debug, Clone, Deserialize)]
pub struct OsvRange {
    /// `ECOSYSTEM`, `SEMVER` or `GIT`; only `ECOSYSTEM` ranges apply to OS packages.
    #[serde(rename = "type")]
    pub kind: String,
    /// The events, in any order.
    #[serde(default)]
    pub events: Vec<OsvEvent>,
}

/// One range event; exactly one field is set in valid records.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OsvEvent {
    /// Affected from this version on (`0` means from the beginning).
    #[serde(default)]
    pub introduced: Option<String>,
    /// Not affected from this version on.
    #[serde(default)]
    pub fixed: Option<String>,
    /// Affected up to and including this version.
    #[serde(default)]
    pub last_affected: Option<String>,
    /// Upper bound for GIT ranges; ignored here.
    #[serde(default)]
    pub limit: Option<String>,
}

// === impl OsvRecord ===

impl OsvRecord {
    /// Whether the record was withdrawn.
    pub fn is_withdrawn(&self) -> bool {
        self.withdrawn.is_some()
    }

    /// The CVE IDs this record is about: its own ID when it is a CVE, then `aliases` and
    /// `upstream` entries, plus the CVE inside `DEBIAN-CVE-…`/`UBUNTU-CVE-…`/`ALPINE-CVE-…`
    /// IDs. Sorted and de-duplicated.
    pub fn cve_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::iter::once(&self.id)
            .chain(&self.aliases)
            .chain(&self.upstream)
            .filter_map(|id| id.find("CVE-").map(|at| &id[at..]))
            .filter(|id| is_cve_id(id))
            .map(str::to_owned)
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

// === impl Affected ===

impl Affected {
    /// A string field of `ecosystem_specific`.
    pub fn ecosystem_specific_str(&self, key: &str) -> Option<&str> {
        self.ecosystem_specific.as_ref()?.get(key)?.as_str()
    }

    /// A string field of `database_specific`.
    pub fn database_specific_str(&self, key: &str) -> Option<&str> {
        self.database_specific.as_ref()?.get(key)?.as_str()
    }
}

/// Parses one OSV JSON record.
///
/// # Errors
///
/// [`Error::InvalidOsvRecord`] naming `input` when the bytes are not a JSON OSV record.
pub fn parse_osv_record(input: &str, bytes: &[u8]) -> Result<OsvRecord> {
    serde_json::from_slice(bytes).map_err(|source| Error::InvalidOsvRecord {
        input: input.to_owned(),
        source,
    })
}

/// `CVE-YYYY-NNNN…`.
fn is_cve_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, number)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cve_ids_come_from_id_aliases_and_upstream() {
        let record = parse_osv_record(
            "DSA-5532-1.json",
            br#"{"id":"DSA-5532-1","aliases":["CVE-2023-5363"],"upstream":["CVE-2023-5678","DLA-1-1"]}"#,
        )
        .unwrap();
        assert_eq!(record.cve_ids(), ["CVE-2023-5363", "CVE-2023-5678"]);
        let record = parse_osv_record("x.json", br#"{"id":"DEBIAN-CVE-2024-0727"}"#).unwrap();
        assert_eq!(record.cve_ids(), ["CVE-2024-0727"]);
    }

    #[test]
    fn non_json_is_an_error_naming_the_input() {
        let err = parse_osv_record("broken.json", b"{\"id\": 3}").unwrap_err();
        assert!(err.to_string().contains("broken.json"), "{err}");
    }
}
