//! The pure matcher: (OS, installed packages, OSV records) → findings, with Trivy-compatible
//! defaults.
//!
//! - Records are selected by the OS's OSV ecosystem (`Debian:12`, `Alpine:v3.18`, …); withdrawn
//!   records never match.
//! - Debian, Ubuntu, Alpine (origin) and Azure Linux / Mariner packages are looked up by source
//!   name and compared by source version; the Red Hat family by binary name and version.
//! - A package is affected when its version is listed in `versions` or falls inside an
//!   `ECOSYSTEM` range (OSV schema "Evaluation": events sorted, `introduced` ≤ v opens,
//!   `fixed` ≤ v closes, `last_affected` < v closes; `introduced: "0"` is −∞).
//! - Findings are grouped by CVE across `DEBIAN-CVE-…`, DSA, DLA (and `UBUNTU-CVE-…`/USN)
//!   records: one finding per (binary package, CVE), the record IDs in `aliases`. A record
//!   without a CVE stands for itself.
//! - The fixed version is the smallest fix newer than the installed version among the
//!   grouped records; with none, the finding is unfixed ([`FixStatus::Affected`]) and still
//!   reported (filtering, e.g. `ignoreUnfixed`, is the caller's policy).
//! - Severity: vendor first, then CVSS, else `UNKNOWN` (see [`crate::severity`]); per-CVE
//!   records (`DEBIAN-CVE-…`, which carry the tracker urgency) are consulted before advisories.
//!
//! Versions that do not parse under the OS's scheme (an installed package or a range event)
//! are skipped with a warning, as Trivy drops invalid versions, rather than failing the image.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use crate::osv::{Affected, OsvEvent, OsvRecord};
use crate::severity::{Severity, cvss_severity, vendor_severity};
use crate::{Os, Package, VersionScheme};

/// OSV range type that applies to distro package versions.
const ECOSYSTEM_RANGE: &str = "ECOSYSTEM";

/// `introduced` value meaning "from the first version" (OSV schema).
const INTRODUCED_FROM_START: &str = "0";

/// Whether a fix exists for a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FixStatus {
    /// A fixed version newer than the installed one exists.
    Fixed,
    /// Affected with no fix available (OSV: a range without `fixed`).
    Affected,
}

impl fmt::Display for FixStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fixed => "fixed",
            Self::Affected => "affected",
        })
    }
}

/// One vulnerability in one installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The CVE ID, or the record ID when the records name no CVE.
    pub id: String,
    /// The IDs of the records that reported it (`DEBIAN-CVE-…`, `DSA-…`), without `id`.
    pub aliases: Vec<String>,
    /// The binary package name (`libssl3`).
    pub package: String,
    /// The name the records were looked up by (`openssl`).
    pub source_package: String,
    /// The installed binary version, as Trivy's `InstalledVersion`.
    pub installed: String,
    /// The version that was compared (the source version where matching is by source).
    pub compared_version: String,
    /// The smallest fixed version newer than the installed one, if any.
    pub fixed: Option<String>,
    /// The severity.
    pub severity: Severity,
    /// Whether a fix exists.
    pub status: FixStatus,
}

/// Matches installed packages against OSV records for `os`. Findings are sorted by package and
/// ID. An OS without OSV data gives no findings (with a warning).
pub fn match_packages(os: &Os, packages: &[Package], records: &[OsvRecord]) -> Vec<Finding> {
    let Some(ecosystem) = os.osv_ecosystem() else {
        tracing::warn!(family = %os.family, "no OSV ecosystem for this OS; nothing matched");
        return Vec::new();
    };
    let scheme = os.version_scheme();
    let by_source = os.matches_by_source();

    let mut index: HashMap<&str, Vec<(&OsvRecord, &Affected)>> = HashMap::new();
    for record in records.iter().filter(|r| !r.is_withdrawn()) {
        for affected in &record.affected {
            if let Some(package) = affected
                .package
                .as_ref()
                .filter(|p| p.ecosystem == ecosystem)
            {
                index
                    .entry(package.name.as_str())
                    .or_default()
                    .push((record, affected));
            }
        }
    }

    let mut findings = Vec::new();
    for package in packages {
        let (name, version) = if by_source {
            (&package.source_name, &package.source_version)
        } else {
            (&package.name, &package.version)
        };
        let Some(candidates) = index.get(name.as_str()) else {
            continue;
        };
        if let Err(error) = scheme.validate(version) {
            tracing::warn!(package = %package.name, %error, "skipping package with invalid version");
            continue;
        }
        let mut groups: BTreeMap<String, Group<'_>> = BTreeMap::new();
        for (record, affected) in candidates {
            let Some(hit) = evaluate(scheme, affected, version, &record.id) else {
                continue;
            };
            let mut keys = record.cve_ids();
            if keys.is_empty() {
                keys.push(record.id.clone());
            }
            for key in keys {
                groups
                    .entry(key)
                    .or_default()
                    .add(scheme, record, affected, hit.clone());
            }
        }
        findings.extend(
            groups
                .into_iter()
                .map(|(id, group)| group.finish(id, package, name, version)),
        );
    }
    findings.sort_by(|a, b| (&a.package, &a.id).cmp(&(&b.package, &b.id)));
    findings
}

/// Records that reported one CVE for one package.
#[derive(Debug, Default)]
struct Group<'a> {
    record_ids: BTreeSet<String>,
    fixed: Option<String>,
    contributions: Vec<(&'a OsvRecord, &'a Affected)>,
}

// === impl Group ===

impl<'a> Group<'a> {
    fn add(
        &mut self,
        scheme: VersionScheme,
        record: &'a OsvRecord,
        affected: &'a Affected,
        hit: Hit,
    ) {
        self.record_ids.insert(record.id.clone());
        self.contributions.push((record, affected));
        if let Some(fixed) = hit.fixed {
            let smaller = match &self.fixed {
                None => true,
                Some(current) => compare(scheme, &fixed, current) == Some(Ordering::Less),
            };
            if smaller {
                self.fixed = Some(fixed);
            }
        }
    }

    fn finish(mut self, id: String, package: &Package, name: &str, version: &str) -> Finding {
        // Per-CVE records carry the vendor's per-package rating; consult them first.
        self.contributions
            .sort_by_key(|(record, _)| (!is_per_cve_record(&record.id), record.id.clone()));
        let severity = self
            .contributions
            .iter()
            .find_map(|(record, affected)| vendor_severity(record, affected))
            .or_else(|| {
                self.contributions.iter().find_map(|(record, affected)| {
                    cvss_severity(&affected.severity).or_else(|| cvss_severity(&record.severity))
                })
            })
            .unwrap_or(Severity::Unknown);
        self.record_ids.remove(&id);
        Finding {
            aliases: self.record_ids.into_iter().collect(),
            package: package.name.clone(),
            source_package: name.to_owned(),
            installed: package.version.clone(),
            compared_version: version.to_owned(),
            status: if self.fixed.is_some() {
                FixStatus::Fixed
            } else {
                FixStatus::Affected
            },
            fixed: self.fixed,
            severity,
            id,
        }
    }
}

fn is_per_cve_record(id: &str) -> bool {
    id.starts_with("CVE-") || id.split_once("-CVE-").is_some()
}

/// An affected package: the smallest fix newer than the installed version, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hit {
    fixed: Option<String>,
}

fn compare(scheme: VersionScheme, a: &str, b: &str) -> Option<Ordering> {
    scheme.compare(a, b).ok()
}

/// Whether `affected` covers `installed`, per the OSV evaluation rules.
fn evaluate(
    scheme: VersionScheme,
    affected: &Affected,
    installed: &str,
    record: &str,
) -> Option<Hit> {
    let mut hit: Option<Hit> = None;
    for range in affected.ranges.iter().filter(|r| r.kind == ECOSYSTEM_RANGE) {
        match evaluate_range(scheme, &range.events, installed) {
            Ok(None) => {}
            Ok(Some(range_hit)) => {
                hit = match hit {
                    Some(Hit {
                        fixed: Some(current),
                    }) if range_hit
                        .fixed
                        .as_ref()
                        .is_none_or(|f| compare(scheme, f, &current) != Some(Ordering::Less)) =>
                    {
                        Some(Hit {
                            fixed: Some(current),
                        })
                    }
                    _ => Some(range_hit),
                };
            }
            Err(bad) => {
                tracing::warn!(
                    record,
                    version = bad,
                    "skipping range with an invalid version"
                );
            }
        }
    }
    if hit.is_none()
        && affected
            .versions
            .iter()
            .any(|v| compare(scheme, v, installed) == Some(Ordering::Equal))
    {
        hit = Some(Hit { fixed: None });
    }
    hit
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventKind {
    Introduced,
    Fixed,
    LastAffected,
}

/// Evaluates one range; `Err` carries a version that does not parse.
fn evaluate_range<'e>(
    scheme: VersionScheme,
    events: &'e [OsvEvent],
    installed: &str,
) -> Result<Option<Hit>, &'e str> {
    // `None` version = −∞ (`introduced: "0"`).
    let mut sorted: Vec<(EventKind, Option<&str>)> = Vec::with_capacity(events.len());
    for event in events {
        let (kind, version) = match event {
            OsvEvent {
                introduced: Some(v),
                ..
            } => (EventKind::Introduced, v),
            OsvEvent { fixed: Some(v), .. } => (EventKind::Fixed, v),
            OsvEvent {
                last_affected: Some(v),
                ..
            } => (EventKind::LastAffected, v),
            // `limit` applies to GIT ranges only.
            _ => continue,
        };
        if kind == EventKind::Introduced && version == INTRODUCED_FROM_START {
            sorted.push((kind, None));
            continue;
        }
        if scheme.validate(version).is_err() {
            return Err(version.as_str());
        }
        sorted.push((kind, Some(version.as_str())));
    }
    sorted.sort_by(|(_, a), (_, b)| match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => compare(scheme, a, b).unwrap_or(Ordering::Equal),
    });

    let cmp_installed = |v: Option<&str>| match v {
        None => Ordering::Less,
        Some(v) => compare(scheme, v, installed).unwrap_or(Ordering::Greater),
    };
    let mut affected = false;
    for (kind, version) in &sorted {
        let order = cmp_installed(*version);
        match kind {
            EventKind::Introduced if order != Ordering::Greater => affected = true,
            EventKind::Fixed if order != Ordering::Greater => affected = false,
            EventKind::LastAffected if order == Ordering::Less => affected = false,
            _ => {}
        }
    }
    if !affected {
        return Ok(None);
    }
    let fixed = sorted
        .iter()
        .find(|(kind, v)| *kind == EventKind::Fixed && cmp_installed(*v) == Ordering::Greater)
        .and_then(|(_, v)| v.map(str::to_owned));
    Ok(Some(Hit { fixed }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(json: &str) -> Vec<OsvEvent> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn version_between_introduced_and_fixed_is_affected_with_that_fix() {
        let e = events(r#"[{"introduced":"0"},{"fixed":"1.2-1"}]"#);
        let hit = evaluate_range(VersionScheme::Dpkg, &e, "1.1-1").unwrap();
        assert_eq!(
            hit,
            Some(Hit {
                fixed: Some("1.2-1".into())
            })
        );
        assert_eq!(
            evaluate_range(VersionScheme::Dpkg, &e, "1.2-1").unwrap(),
            None
        );
    }

    #[test]
    fn introduced_only_range_is_affected_without_a_fix() {
        let e = events(r#"[{"introduced":"0"}]"#);
        let hit = evaluate_range(VersionScheme::Dpkg, &e, "9.9").unwrap();
        assert_eq!(hit, Some(Hit { fixed: None }));
    }

    #[test]
    fn last_affected_includes_its_own_version_only() {
        let e = events(r#"[{"introduced":"1.0"},{"last_affected":"1.5"}]"#);
        assert!(
            evaluate_range(VersionScheme::Rpm, &e, "1.5")
                .unwrap()
                .is_some()
        );
        assert!(
            evaluate_range(VersionScheme::Rpm, &e, "1.6")
                .unwrap()
                .is_none()
        );
        assert!(
            evaluate_range(VersionScheme::Rpm, &e, "0.9")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn unsorted_events_with_two_intervals_are_evaluated_in_version_order() {
        let e = events(
            r#"[{"fixed":"4.0-r0"},{"introduced":"3.0-r0"},{"fixed":"2.0-r0"},{"introduced":"1.0-r0"}]"#,
        );
        let eval = |v| evaluate_range(VersionScheme::Apk, &e, v).unwrap();
        assert_eq!(
            eval("1.5-r0"),
            Some(Hit {
                fixed: Some("2.0-r0".into())
            })
        );
        assert_eq!(eval("2.5-r0"), None);
        assert_eq!(
            eval("3.5-r0"),
            Some(Hit {
                fixed: Some("4.0-r0".into())
            })
        );
    }

    #[test]
    fn range_with_an_unparseable_version_is_reported_not_matched() {
        let e = events(r#"[{"introduced":"0"},{"fixed":"not a version"}]"#);
        assert_eq!(
            evaluate_range(VersionScheme::Dpkg, &e, "1.0"),
            Err("not a version")
        );
    }
}
