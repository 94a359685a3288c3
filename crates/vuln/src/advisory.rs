//! Advisories: one OSV record's `affected` entry for one package, reduced to what matching
//! needs. Range events are parsed once under the ecosystem's version scheme and sorted, the
//! grouping keys (CVE IDs) are extracted and both severity candidates (vendor, CVSS) are
//! computed ahead of time, so matching an image compares parsed versions and nothing else.
//!
//! The same reduction feeds the in-memory matcher ([`crate::match_packages`]) and the compiled
//! index ([`crate::index`]), which stores the [`StoredAdvisory`] form (versions as written) and
//! parses it back on lookup. Both therefore give identical findings.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::VersionScheme;
use crate::osv::{Affected, OsvEvent, OsvRecord};
use crate::severity::{Severity, cvss_severity, vendor_severity};
use crate::version::Version;

/// OSV range type that applies to distro package versions (and PyPI's).
const ECOSYSTEM_RANGE: &str = "ECOSYSTEM";

/// OSV range type of SemVer ecosystems (Go, npm); its versions carry no `v`.
const SEMVER_RANGE: &str = "SEMVER";

/// `introduced` value meaning "from the first version" (OSV schema).
const INTRODUCED_FROM_START: &str = "0";

/// What a range event does (OSV schema "Evaluation").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// Affected from this version on.
    #[serde(rename = "i")]
    Introduced,
    /// Not affected from this version on.
    #[serde(rename = "f")]
    Fixed,
    /// Affected up to and including this version.
    #[serde(rename = "l")]
    LastAffected,
}

/// An advisory ready to match.
#[derive(Debug, Clone)]
pub struct Advisory {
    /// The OSV record ID (`DEBIAN-CVE-2023-5363`, `DSA-5532-1`).
    pub id: String,
    /// What findings are grouped by: the record's CVE IDs, else its own ID.
    pub group_keys: Vec<String>,
    /// The `ECOSYSTEM` ranges, in record order.
    pub ranges: Vec<Range>,
    /// The enumerated affected versions that parse under the scheme.
    pub versions: Vec<Version>,
    /// The vendor's per-package severity (Debian urgency, Ubuntu priority, Red Hat severity).
    pub vendor_severity: Option<Severity>,
    /// The CVSS band of the entry's vectors, else of the record's.
    pub cvss_severity: Option<Severity>,
}

/// One `ECOSYSTEM` range.
#[derive(Debug, Clone)]
pub enum Range {
    /// The events, sorted by version (`introduced: "0"` first).
    Events(Vec<Event>),
    /// A range holding this version, which does not parse: it never matches (as Trivy drops
    /// invalid versions) and is reported when evaluated.
    Invalid(String),
}

/// One range event.
#[derive(Debug, Clone)]
pub struct Event {
    /// What the event does.
    pub kind: EventKind,
    /// The version, `None` for `introduced: "0"` (−∞).
    pub version: Option<EventVersion>,
}

/// An event version, as written and parsed.
#[derive(Debug, Clone)]
pub struct EventVersion {
    /// As written in the record (reported as the fixed version).
    pub raw: String,
    /// Parsed under the ecosystem's scheme.
    pub parsed: Version,
}

/// The stored form of an [`Advisory`]: versions as written, events in record order. Field names
/// are short because the index holds one of these per (record, package); the record's ID and
/// grouping keys are the same for all of a record's rows, so the index stores them once per
/// record (its `records` table) and not in the serialised row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredAdvisory {
    #[serde(skip)]
    pub(crate) id: String,
    #[serde(skip)]
    pub(crate) group_keys: Vec<String>,
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) ranges: Vec<Vec<(EventKind, String)>>,
    #[serde(rename = "v", default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) versions: Vec<String>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub(crate) vendor_severity: Option<Severity>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub(crate) cvss_severity: Option<Severity>,
}

pub use crate::ecosystem::ecosystem_scheme;

// === impl Advisory ===

impl Advisory {
    /// Reduces one `affected` entry of `record` and parses it under `scheme`.
    pub fn compile(record: &OsvRecord, affected: &Affected, scheme: VersionScheme) -> Self {
        Self::from_stored(StoredAdvisory::compile(record, affected), scheme)
    }

    /// Parses a stored advisory under `scheme`, sorting each range's events.
    pub(crate) fn from_stored(stored: StoredAdvisory, scheme: VersionScheme) -> Self {
        let ranges = stored
            .ranges
            .into_iter()
            .map(|events| parse_range(events, scheme))
            .collect();
        let versions = stored
            .versions
            .iter()
            .filter_map(|v| scheme.parse(v).ok())
            .collect();
        Self {
            id: stored.id,
            group_keys: stored.group_keys,
            ranges,
            versions,
            vendor_severity: stored.vendor_severity,
            cvss_severity: stored.cvss_severity,
        }
    }
}

fn parse_range(events: Vec<(EventKind, String)>, scheme: VersionScheme) -> Range {
    let mut parsed = Vec::with_capacity(events.len());
    for (kind, raw) in events {
        if kind == EventKind::Introduced && raw == INTRODUCED_FROM_START {
            parsed.push(Event {
                kind,
                version: None,
            });
            continue;
        }
        match scheme.parse(&raw) {
            Ok(version) => parsed.push(Event {
                kind,
                version: Some(EventVersion {
                    raw,
                    parsed: version,
                }),
            }),
            Err(_) => return Range::Invalid(raw),
        }
    }
    // A stable sort: equal versions keep record order, as the OSV evaluation expects.
    parsed.sort_by(|a, b| match (&a.version, &b.version) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => a.parsed.partial_cmp(&b.parsed).unwrap_or(Ordering::Equal),
    });
    Range::Events(parsed)
}

/// What a record's findings are grouped by: its CVE IDs, else its own ID.
pub(crate) fn group_keys(record: &OsvRecord) -> Vec<String> {
    let mut keys = record.cve_ids();
    if keys.is_empty() {
        keys.push(record.id.clone());
    }
    keys
}

// === impl StoredAdvisory ===

impl StoredAdvisory {
    /// Reduces one `affected` entry of `record`: `ECOSYSTEM` and `SEMVER` ranges, `limit` events
    /// dropped, grouping keys and severities computed.
    pub(crate) fn compile(record: &OsvRecord, affected: &Affected) -> Self {
        let group_keys = group_keys(record);
        let ranges = affected
            .ranges
            .iter()
            .filter(|r| r.kind == ECOSYSTEM_RANGE || r.kind == SEMVER_RANGE)
            .map(|r| r.events.iter().filter_map(event).collect())
            .collect();
        Self {
            id: record.id.clone(),
            group_keys,
            ranges,
            versions: affected.versions.clone(),
            vendor_severity: vendor_severity(record, affected),
            cvss_severity: cvss_severity(&affected.severity)
                .or_else(|| cvss_severity(&record.severity)),
        }
    }
}

/// The event's kind and version; `limit` (GIT ranges only) and empty events give `None`.
fn event(event: &OsvEvent) -> Option<(EventKind, String)> {
    match event {
        OsvEvent {
            introduced: Some(v),
            ..
        } => Some((EventKind::Introduced, v.clone())),
        OsvEvent { fixed: Some(v), .. } => Some((EventKind::Fixed, v.clone())),
        OsvEvent {
            last_affected: Some(v),
            ..
        } => Some((EventKind::LastAffected, v.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_osv_record;

    #[test]
    fn matched_ecosystems_map_to_their_version_scheme_and_others_to_none() {
        assert_eq!(ecosystem_scheme("Debian:12"), Some(VersionScheme::Dpkg));
        assert_eq!(
            ecosystem_scheme("Ubuntu:Pro:18.04:LTS"),
            Some(VersionScheme::Dpkg)
        );
        assert_eq!(ecosystem_scheme("Alpine:v3.18"), Some(VersionScheme::Apk));
        assert_eq!(ecosystem_scheme("Rocky Linux:9"), Some(VersionScheme::Rpm));
        assert_eq!(ecosystem_scheme("PyPI"), Some(VersionScheme::Pep440));
        assert_eq!(ecosystem_scheme("Go"), Some(VersionScheme::Go));
        assert_eq!(ecosystem_scheme("npm"), Some(VersionScheme::SemVer));
        assert_eq!(ecosystem_scheme("Maven"), Some(VersionScheme::Maven));
        assert_eq!(ecosystem_scheme("crates.io"), Some(VersionScheme::SemVer));
        assert_eq!(ecosystem_scheme("Hex"), None);
    }

    #[test]
    fn stored_form_round_trips_through_json_with_short_keys() {
        let record = parse_osv_record(
            "x.json",
            br#"{"id":"DSA-1-1","upstream":["CVE-2024-1"],"affected":[{"package":{"ecosystem":"Debian:12","name":"x"},
                "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.2-1"}]},
                          {"type":"GIT","events":[{"introduced":"abc"}]}],
                "ecosystem_specific":{"urgency":"high"}}]}"#,
        )
        .unwrap();
        let stored = StoredAdvisory::compile(&record, &record.affected[0]);
        assert_eq!(stored.group_keys, ["CVE-2024-1"]);
        assert_eq!(stored.ranges.len(), 1, "GIT ranges are dropped");
        assert_eq!(stored.vendor_severity, Some(Severity::High));
        let json = serde_json::to_string(&stored).unwrap();
        // The record's ID and grouping keys are stored once per record, not in the row.
        assert_eq!(json, r#"{"r":[[["i","0"],["f","1.2-1"]]],"s":"HIGH"}"#);
        let mut back = serde_json::from_str::<StoredAdvisory>(&json).unwrap();
        assert!(back.id.is_empty() && back.group_keys.is_empty());
        back.id.clone_from(&stored.id);
        back.group_keys.clone_from(&stored.group_keys);
        assert_eq!(back, stored);
    }

    #[test]
    fn events_are_sorted_by_parsed_version_with_introduced_zero_first() {
        let stored = StoredAdvisory {
            id: "X".into(),
            group_keys: vec!["X".into()],
            ranges: vec![vec![
                (EventKind::Fixed, "1.10".into()),
                (EventKind::Introduced, "1.9".into()),
                (EventKind::Fixed, "1.2".into()),
                (EventKind::Introduced, "0".into()),
            ]],
            versions: vec!["1.0".into(), "not a version".into()],
            vendor_severity: None,
            cvss_severity: None,
        };
        let advisory = Advisory::from_stored(stored, VersionScheme::Dpkg);
        let Range::Events(events) = &advisory.ranges[0] else {
            panic!("range parses");
        };
        let order: Vec<Option<&str>> = events
            .iter()
            .map(|e| e.version.as_ref().map(|v| v.raw.as_str()))
            .collect();
        assert_eq!(order, [None, Some("1.2"), Some("1.9"), Some("1.10")]);
        assert_eq!(
            advisory.versions.len(),
            1,
            "unparseable versions are dropped"
        );
    }

    #[test]
    fn range_with_an_unparseable_version_is_kept_as_invalid() {
        let stored = StoredAdvisory {
            id: "X".into(),
            group_keys: vec!["X".into()],
            ranges: vec![vec![
                (EventKind::Introduced, "0".into()),
                (EventKind::Fixed, "not a version".into()),
            ]],
            versions: Vec::new(),
            vendor_severity: None,
            cvss_severity: None,
        };
        let advisory = Advisory::from_stored(stored, VersionScheme::Dpkg);
        assert!(matches!(&advisory.ranges[0], Range::Invalid(v) if v == "not a version"));
    }
}
