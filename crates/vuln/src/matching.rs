//! The pure matcher: (OS, installed packages, OSV records) → findings, with Trivy-compatible
//! defaults.
//!
//! - Records are selected by the OS's OSV ecosystems (`Debian:12`, `Alpine:v3.18`, the Red Hat
//!   product streams of a RHEL image, …; [`crate::ecosystem`]); withdrawn records never match.
//! - Debian, Ubuntu, Alpine (origin), Azure Linux / Mariner, SUSE and openEuler packages are
//!   looked up by source name and compared by source version; the Red Hat family and Photon OS
//!   by binary name and version.
//! - A package is affected when its version is listed in `versions` or falls inside an
//!   `ECOSYSTEM` range (OSV schema "Evaluation": events sorted, `introduced` ≤ v opens,
//!   `fixed` ≤ v closes, `last_affected` < v closes; `introduced: "0"` is −∞).
//! - Findings are grouped by CVE across `DEBIAN-CVE-…`, DSA, DLA (and `UBUNTU-CVE-…`/USN)
//!   records: one finding per (binary package, CVE), the record IDs in `aliases`. A record
//!   without a CVE stands for itself.
//! - The fixed version is the smallest fix newer than the installed version among the
//!   grouped records; with none, the finding is unfixed ([`FixStatus::Affected`]) and still
//!   reported (filtering, e.g. `ignoreUnfixed`, is the caller's policy).
//! - Severity: vendor first, then CVSS, then the rating another record gives the same CVE
//!   ([`lend_ratings`]), else `UNKNOWN` (see [`crate::severity`]); per-CVE records
//!   (`DEBIAN-CVE-…`, which carry the tracker urgency) are consulted before advisories.
//!
//! Versions that do not parse under the OS's scheme (an installed package or a range event)
//! are skipped with a warning, as Trivy drops invalid versions, rather than failing the image.
//!
//! Records are first reduced to [`Advisory`] values (events parsed and sorted once); the
//! compiled index stores the same reduction, so [`match_packages`] over records and
//! [`crate::index::Index::match_packages`] give identical findings.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;

use crate::VersionScheme;
use crate::advisory::{Advisory, Event, EventKind, EventVersion, Range};
use crate::osv::OsvRecord;
use crate::severity::Severity;
use crate::version::Version;
use crate::{Os, Package};

/// Whether a fix exists for a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
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
    let ecosystems = os.osv_ecosystems();
    if ecosystems.is_empty() {
        tracing::warn!(family = %os.family, "no data in OSV for this OS; nothing matched");
        return Vec::new();
    }
    let scheme = os.version_scheme();
    let mut index: HashMap<&str, Vec<Advisory>> = HashMap::new();
    for record in records.iter().filter(|r| !r.is_withdrawn()) {
        for affected in &record.affected {
            if let Some(package) = affected
                .package
                .as_ref()
                .filter(|p| ecosystems.contains(&p.ecosystem))
            {
                index
                    .entry(package.name.as_str())
                    .or_default()
                    .push(Advisory::compile(record, affected, scheme));
            }
        }
    }
    let mut findings = match_advisories(os, packages, |name| index.get(name).map(Vec::as_slice));
    lend_ratings(&mut findings, records);
    findings
}

/// Gives each `UNKNOWN` finding the rating another of `records` gives its CVE
/// ([`crate::severity::record_rating`], the best per [`best_rating`]); findings no record
/// rates stay `UNKNOWN`.
pub fn lend_ratings(findings: &mut [Finding], records: &[OsvRecord]) {
    if findings.iter().all(|f| f.severity != Severity::Unknown) {
        return;
    }
    let mut by_cve: HashMap<String, Vec<(&str, Severity)>> = HashMap::new();
    for record in records.iter().filter(|r| !r.is_withdrawn()) {
        if let Some(rating) = crate::severity::record_rating(record) {
            for cve in record.cve_ids() {
                by_cve.entry(cve).or_default().push((&record.id, rating));
            }
        }
    }
    for finding in findings
        .iter_mut()
        .filter(|f| f.severity == Severity::Unknown)
    {
        if let Some(rating) = by_cve
            .get(&finding.id)
            .and_then(|ratings| best_rating(ratings.iter().copied()))
        {
            finding.severity = rating;
        }
    }
}

/// The rating to lend when several records rate one CVE: a record that is the CVE itself
/// (`CVE-…`, NVD's data as OSV republishes it) first, as Trivy falls back to NVD; among equals
/// the highest, so the choice does not depend on reading order.
pub fn best_rating<'a>(ratings: impl IntoIterator<Item = (&'a str, Severity)>) -> Option<Severity> {
    ratings
        .into_iter()
        .map(|(id, severity)| (id.starts_with("CVE-"), severity))
        .max()
        .map(|(_, severity)| severity)
}

/// The name and version `package` is matched by on `os`: source for Debian, Ubuntu, Alpine and
/// Azure Linux; binary for the Red Hat family.
pub(crate) fn lookup_key<'p>(os: &Os, package: &'p Package) -> (&'p str, &'p str) {
    if os.matches_by_source() {
        (&package.source_name, &package.source_version)
    } else {
        (&package.name, &package.version)
    }
}

/// Matches `packages` against the advisories `lookup` returns for each lookup name (already
/// restricted to `os`'s ecosystem and parsed under its scheme).
pub(crate) fn match_advisories<'a>(
    os: &Os,
    packages: &[Package],
    lookup: impl Fn(&str) -> Option<&'a [Advisory]>,
) -> Vec<Finding> {
    match_by(os.version_scheme(), packages, |p| lookup_key(os, p), lookup)
}

/// Matches `packages` under `scheme`, each by the (name, version) `key` picks, against the
/// advisories `lookup` returns for that name.
pub(crate) fn match_by<'a>(
    scheme: VersionScheme,
    packages: &[Package],
    key: impl for<'p> Fn(&'p Package) -> (&'p str, &'p str),
    lookup: impl Fn(&str) -> Option<&'a [Advisory]>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for package in packages {
        let (name, version) = key(package);
        let Some(candidates) = lookup(name) else {
            continue;
        };
        let installed = match scheme.parse(version) {
            Ok(installed) => installed,
            Err(error) => {
                tracing::warn!(package = %package.name, %error, "skipping package with invalid version");
                continue;
            }
        };
        let mut groups: BTreeMap<&str, Group<'_>> = BTreeMap::new();
        for advisory in candidates {
            let Some(hit) = evaluate(advisory, &installed) else {
                continue;
            };
            for key in &advisory.group_keys {
                groups.entry(key).or_default().add(advisory, &hit);
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

/// Advisories that reported one CVE for one package.
#[derive(Debug, Default)]
struct Group<'a> {
    record_ids: BTreeSet<&'a str>,
    fixed: Option<&'a EventVersion>,
    contributions: Vec<&'a Advisory>,
}

// === impl Group ===

impl<'a> Group<'a> {
    fn add(&mut self, advisory: &'a Advisory, hit: &Hit<'a>) {
        self.record_ids.insert(&advisory.id);
        self.contributions.push(advisory);
        if let Some(fixed) = hit.fixed {
            let smaller = self.fixed.is_none_or(|current| {
                fixed.parsed.partial_cmp(&current.parsed) == Some(Ordering::Less)
            });
            if smaller {
                self.fixed = Some(fixed);
            }
        }
    }

    fn finish(mut self, id: &str, package: &Package, name: &str, version: &str) -> Finding {
        // Per-CVE records carry the vendor's per-package rating; consult them first.
        self.contributions
            .sort_by_key(|advisory| (!is_per_cve_record(&advisory.id), advisory.id.as_str()));
        let severity = self
            .contributions
            .iter()
            .find_map(|advisory| advisory.vendor_severity)
            .or_else(|| {
                self.contributions
                    .iter()
                    .find_map(|advisory| advisory.cvss_severity)
            })
            .unwrap_or(Severity::Unknown);
        self.record_ids.remove(id);
        Finding {
            id: id.to_owned(),
            aliases: self.record_ids.into_iter().map(str::to_owned).collect(),
            package: package.name.clone(),
            source_package: name.to_owned(),
            installed: package.version.clone(),
            compared_version: version.to_owned(),
            status: if self.fixed.is_some() {
                FixStatus::Fixed
            } else {
                FixStatus::Affected
            },
            fixed: self.fixed.map(|f| f.raw.clone()),
            severity,
        }
    }
}

fn is_per_cve_record(id: &str) -> bool {
    id.starts_with("CVE-") || id.split_once("-CVE-").is_some()
}

/// An affected package: the smallest fix newer than the installed version, if any.
#[derive(Debug, Clone, Copy)]
struct Hit<'a> {
    fixed: Option<&'a EventVersion>,
}

/// Whether `advisory` covers `installed`, per the OSV evaluation rules.
fn evaluate<'a>(advisory: &'a Advisory, installed: &Version) -> Option<Hit<'a>> {
    let mut hit: Option<Hit<'a>> = None;
    for range in &advisory.ranges {
        match range {
            Range::Events(events) => {
                let Some(range_hit) = evaluate_range(events, installed) else {
                    continue;
                };
                hit = match hit {
                    Some(Hit {
                        fixed: Some(current),
                    }) if range_hit.fixed.is_none_or(|f| {
                        f.parsed.partial_cmp(&current.parsed) != Some(Ordering::Less)
                    }) =>
                    {
                        Some(Hit {
                            fixed: Some(current),
                        })
                    }
                    _ => Some(range_hit),
                };
            }
            Range::Invalid(bad) => {
                tracing::warn!(
                    record = %advisory.id,
                    version = %bad,
                    "skipping range with an invalid version"
                );
            }
        }
    }
    if hit.is_none() && advisory.versions.iter().any(|v| v == installed) {
        hit = Some(Hit { fixed: None });
    }
    hit
}

/// Evaluates one range whose events are sorted by version.
fn evaluate_range<'a>(events: &'a [Event], installed: &Version) -> Option<Hit<'a>> {
    // `None` version = −∞ (`introduced: "0"`).
    let cmp_installed = |v: &Option<EventVersion>| match v {
        None => Ordering::Less,
        Some(v) => v.parsed.partial_cmp(installed).unwrap_or(Ordering::Greater),
    };
    let mut affected = false;
    for event in events {
        let order = cmp_installed(&event.version);
        match event.kind {
            EventKind::Introduced if order != Ordering::Greater => affected = true,
            EventKind::Fixed if order != Ordering::Greater => affected = false,
            EventKind::LastAffected if order == Ordering::Less => affected = false,
            _ => {}
        }
    }
    if !affected {
        return None;
    }
    let fixed = events
        .iter()
        .find(|e| e.kind == EventKind::Fixed && cmp_installed(&e.version) == Ordering::Greater)
        .and_then(|e| e.version.as_ref());
    Some(Hit { fixed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::StoredAdvisory;

    /// Evaluates one range (events as JSON pairs) for `installed`: `None` when not affected,
    /// else the fix.
    fn eval(
        scheme: VersionScheme,
        events: &[(EventKind, &str)],
        installed: &str,
    ) -> Option<Option<String>> {
        let stored = StoredAdvisory {
            id: "X".into(),
            group_keys: vec!["X".into()],
            ranges: vec![events.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()],
            versions: Vec::new(),
            vendor_severity: None,
            cvss_severity: None,
        };
        let advisory = Advisory::from_stored(stored, scheme);
        let installed = scheme.parse(installed).unwrap();
        evaluate(&advisory, &installed).map(|hit| hit.fixed.map(|f| f.raw.clone()))
    }

    use EventKind::{Fixed, Introduced, LastAffected};

    #[test]
    fn version_between_introduced_and_fixed_is_affected_with_that_fix() {
        let e = [(Introduced, "0"), (Fixed, "1.2-1")];
        assert_eq!(
            eval(VersionScheme::Dpkg, &e, "1.1-1"),
            Some(Some("1.2-1".into()))
        );
        assert_eq!(eval(VersionScheme::Dpkg, &e, "1.2-1"), None);
    }

    #[test]
    fn introduced_only_range_is_affected_without_a_fix() {
        assert_eq!(
            eval(VersionScheme::Dpkg, &[(Introduced, "0")], "9.9"),
            Some(None)
        );
    }

    #[test]
    fn last_affected_includes_its_own_version_only() {
        let e = [(Introduced, "1.0"), (LastAffected, "1.5")];
        assert!(eval(VersionScheme::Rpm, &e, "1.5").is_some());
        assert!(eval(VersionScheme::Rpm, &e, "1.6").is_none());
        assert!(eval(VersionScheme::Rpm, &e, "0.9").is_none());
    }

    #[test]
    fn unsorted_events_with_two_intervals_are_evaluated_in_version_order() {
        let e = [
            (Fixed, "4.0-r0"),
            (Introduced, "3.0-r0"),
            (Fixed, "2.0-r0"),
            (Introduced, "1.0-r0"),
        ];
        assert_eq!(
            eval(VersionScheme::Apk, &e, "1.5-r0"),
            Some(Some("2.0-r0".into()))
        );
        assert_eq!(eval(VersionScheme::Apk, &e, "2.5-r0"), None);
        assert_eq!(
            eval(VersionScheme::Apk, &e, "3.5-r0"),
            Some(Some("4.0-r0".into()))
        );
    }

    #[test]
    fn range_with_an_unparseable_version_is_reported_not_matched() {
        let e = [(Introduced, "0"), (Fixed, "not a version")];
        assert_eq!(eval(VersionScheme::Dpkg, &e, "1.0"), None);
    }
}
