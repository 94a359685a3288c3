//! Severity, chosen the way Trivy's "auto" mode does: the vendor's per-package rating first
//! (Debian urgency, Ubuntu priority, Red Hat family severity), then the CVSS base score of the
//! record's vectors banded like trivy-db (v4 preferred, then v3.x, then v2), then the rating
//! another record of the index gives the same CVE ([`record_rating`]; Trivy falls back to NVD
//! the same way), else `UNKNOWN`. Nothing is invented: a CVE no record rates stays `UNKNOWN`.
//!
//! CVSS v3.x and v2 base scores are computed here from the vector (OSV stores vectors, not
//! scores). CVSS v4.0 scores use RustSec's `cvss` crate, which implements the specification's
//! macro-vector lookup table; the test suite checks it against every base vector scored by
//! Red Hat's Python `cvss` library and against FIRST's published examples.

use std::fmt;

use crate::osv::{Affected, OsvRecord, OsvSeverity};

/// Lower bound of the CRITICAL band (trivy-db `scoreToSeverity`).
const CRITICAL_FROM: f64 = 9.0;
/// Lower bound of the HIGH band.
const HIGH_FROM: f64 = 7.0;
/// Lower bound of the MEDIUM band.
const MEDIUM_FROM: f64 = 4.0;

/// OSV severity type carrying Ubuntu's priority word instead of a CVSS vector.
const UBUNTU_SEVERITY: &str = "Ubuntu";

/// `database_specific.severity` of GitHub's advisories (GHSA records, the language ecosystems'
/// source): `LOW`, `MODERATE`, `HIGH`, `CRITICAL`, the words of [`red_hat_severity`].
const DATABASE_SEVERITY: &str = "severity";

/// A finding's severity, ordered from `Unknown` to `Critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// No vendor rating and no usable CVSS vector.
    Unknown,
    /// LOW.
    Low,
    /// MEDIUM.
    Medium,
    /// HIGH.
    High,
    /// CRITICAL.
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unknown => "UNKNOWN",
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        })
    }
}

// === impl Severity ===

impl Severity {
    /// All severities, from `UNKNOWN` to `CRITICAL`.
    pub const ALL: [Self; 5] = [
        Self::Unknown,
        Self::Low,
        Self::Medium,
        Self::High,
        Self::Critical,
    ];

    /// The severity named `name` (`LOW`, `high`, ...), case-insensitively, as Trivy's
    /// `--severity` flag reads it.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|s| s.to_string().eq_ignore_ascii_case(name))
    }
}

/// The vendor's per-package severity, if the record carries one that maps to a band: Debian
/// `ecosystem_specific.urgency`; Ubuntu's `Ubuntu`-type severity (per package, else the
/// record's top-level one, where Canonical's records put it) or legacy
/// `ecosystem_specific.ubuntu_priority`; the Red Hat family's `database_specific.severity`.
pub fn vendor_severity(record: &OsvRecord, affected: &Affected) -> Option<Severity> {
    if let Some(urgency) = affected.ecosystem_specific_str("urgency") {
        return debian_urgency(urgency);
    }
    let ubuntu = affected
        .severity
        .iter()
        .chain(&record.severity)
        .find(|s| s.kind == UBUNTU_SEVERITY)
        .map(|s| s.score.as_str())
        .or_else(|| affected.ecosystem_specific_str("ubuntu_priority"));
    if let Some(priority) = ubuntu {
        return ubuntu_priority(priority);
    }
    affected
        .database_specific_str("severity")
        .and_then(red_hat_severity)
}

/// Severity for one (record, affected package): vendor first, then CVSS, else `Unknown`.
pub fn severity_of(record: &OsvRecord, affected: &Affected) -> Severity {
    vendor_severity(record, affected)
        .or_else(|| cvss_severity(&affected.severity))
        .or_else(|| cvss_severity(&record.severity))
        .unwrap_or(Severity::Unknown)
}

/// Debian tracker urgency (trivy-db `severityFromUrgency`); `*` suffixes are ignored.
pub fn debian_urgency(urgency: &str) -> Option<Severity> {
    let urgency = urgency.trim().trim_end_matches('*').to_ascii_lowercase();
    match urgency.as_str() {
        "unimportant" => Some(Severity::Low),
        u if u.starts_with("low") => Some(Severity::Low),
        u if u.starts_with("medium") => Some(Severity::Medium),
        u if u.starts_with("high") => Some(Severity::High),
        // "not yet assigned", "end-of-life": fall through to CVSS.
        _ => None,
    }
}

/// Ubuntu priority (trivy-db `SeverityFromPriority`).
pub fn ubuntu_priority(priority: &str) -> Option<Severity> {
    match priority.trim().to_ascii_lowercase().as_str() {
        "negligible" | "low" => Some(Severity::Low),
        "medium" => Some(Severity::Medium),
        "high" => Some(Severity::High),
        "critical" => Some(Severity::Critical),
        _ => None,
    }
}

/// Red Hat family severity words (`Low`, `Moderate`, `Important`, `Critical`, and `High`).
pub fn red_hat_severity(severity: &str) -> Option<Severity> {
    match severity.trim().to_ascii_lowercase().as_str() {
        "low" => Some(Severity::Low),
        "moderate" | "medium" => Some(Severity::Medium),
        "important" | "high" => Some(Severity::High),
        "critical" => Some(Severity::Critical),
        _ => None,
    }
}

/// The band of the best CVSS vector among `severities` (v4, then v3.x, then v2); `None` when
/// none scores above 0.
pub fn cvss_severity(severities: &[OsvSeverity]) -> Option<Severity> {
    let by_kind = |kind: &str| severities.iter().find(|s| s.kind == kind);
    let score = by_kind("CVSS_V4")
        .and_then(|s| cvss4_base_score(&s.score))
        .or_else(|| by_kind("CVSS_V3").and_then(|s| cvss3_base_score(&s.score)))
        .or_else(|| by_kind("CVSS_V2").and_then(|s| cvss2_base_score(&s.score)))?;
    band(score)
}

/// The rating a record gives its CVEs as a whole, lent to records of the same CVE that carry
/// none: the band of its record-level CVSS vectors, else of any package's, else the severity
/// word of `database_specific` (GitHub's advisories). Vendor per-package ratings (Debian
/// urgency, Ubuntu priority) are not lent: they rate one distribution's package.
pub fn record_rating(record: &OsvRecord) -> Option<Severity> {
    cvss_severity(&record.severity)
        .or_else(|| {
            record
                .affected
                .iter()
                .find_map(|affected| cvss_severity(&affected.severity))
        })
        .or_else(|| {
            record
                .database_specific
                .as_ref()?
                .get(DATABASE_SEVERITY)?
                .as_str()
                .and_then(red_hat_severity)
        })
}

/// CVSS v4.0 base score (FIRST CVSS v4.0 specification, its macro-vector lookup table), `None`
/// for a vector that does not parse. Threat and environmental metrics in the vector count, as
/// the specification's score of such a vector does.
pub fn cvss4_base_score(vector: &str) -> Option<f64> {
    if !vector.starts_with("CVSS:4.") {
        return None;
    }
    let parsed: cvss::v4::Vector = vector.parse().ok()?;
    Some(parsed.score().value())
}

/// trivy-db bands: ≥9.0 CRITICAL, ≥7.0 HIGH, ≥4.0 MEDIUM, >0 LOW.
pub fn band(score: f64) -> Option<Severity> {
    if score >= CRITICAL_FROM {
        Some(Severity::Critical)
    } else if score >= HIGH_FROM {
        Some(Severity::High)
    } else if score >= MEDIUM_FROM {
        Some(Severity::Medium)
    } else if score > 0.0 {
        Some(Severity::Low)
    } else {
        None
    }
}

/// Parses `K:V/K:V...` metrics after an optional `CVSS:x.y/` prefix.
fn metrics(vector: &str) -> Vec<(&str, &str)> {
    vector
        .split('/')
        .filter(|part| !part.starts_with("CVSS:"))
        .filter_map(|part| part.split_once(':'))
        .collect()
}

/// CVSS v3.0/v3.1 base score (FIRST CVSS v3.1 specification §7), `None` for a bad vector.
pub fn cvss3_base_score(vector: &str) -> Option<f64> {
    if !vector.starts_with("CVSS:3.") {
        return None;
    }
    let m = metrics(vector);
    let get = |key: &str| m.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let changed = match get("S")? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let av: f64 = match get("AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match get("AC")? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (get("PR")?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match get("UI")? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |key: &str| match get(key)? {
        "H" => Some(0.56),
        "L" => Some(0.22),
        "N" => Some(0.0),
        _ => None,
    };
    let iss: f64 = 1.0 - (1.0 - cia("C")?) * (1.0 - cia("I")?) * (1.0 - cia("A")?);
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Some(0.0);
    }
    let raw: f64 = if changed {
        1.08 * (impact + exploitability)
    } else {
        impact + exploitability
    };
    Some(roundup(raw.min(10.0)))
}

/// CVSS v3.1 `Roundup`: the smallest one-decimal number ≥ the input, robust to float noise.
fn roundup(value: f64) -> f64 {
    // Work in units of 1e-5 as the specification's reference implementation does.
    const SCALE: f64 = 100_000.0;
    let int_input = (value * SCALE).round();
    if int_input % 10_000.0 == 0.0 {
        int_input / SCALE
    } else {
        ((int_input / 10_000.0).floor() + 1.0) / 10.0
    }
}

/// CVSS v2 base score (CVSS v2 guide §3.2.1), `None` for a bad vector.
pub fn cvss2_base_score(vector: &str) -> Option<f64> {
    let m = metrics(vector);
    let get = |key: &str| m.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let av = match get("AV")? {
        "L" => 0.395,
        "A" => 0.646,
        "N" => 1.0,
        _ => return None,
    };
    let ac = match get("AC")? {
        "H" => 0.35,
        "M" => 0.61,
        "L" => 0.71,
        _ => return None,
    };
    let au = match get("Au")? {
        "M" => 0.45,
        "S" => 0.56,
        "N" => 0.704,
        _ => return None,
    };
    let cia = |key: &str| match get(key)? {
        "N" => Some(0.0),
        "P" => Some(0.275),
        "C" => Some(0.660),
        _ => None,
    };
    let impact: f64 = 10.41 * (1.0 - (1.0 - cia("C")?) * (1.0 - cia("I")?) * (1.0 - cia("A")?));
    let exploitability = 20.0 * av * ac * au;
    let f_impact = if impact == 0.0 { 0.0 } else { 1.176 };
    let score: f64 = (0.6 * impact + 0.4 * exploitability - 1.5) * f_impact;
    Some((score * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss3_scores_match_nvd_published_values() {
        // Scores as published by NVD for these vectors.
        for (vector, score) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),
            ("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
        ] {
            assert_eq!(cvss3_base_score(vector), Some(score), "{vector}");
        }
    }

    #[test]
    fn cvss2_scores_match_nvd_published_values() {
        for (vector, score) in [
            ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5),
            ("AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3),
            ("AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0),
            ("AV:L/AC:L/Au:N/C:P/I:N/A:N", 2.1),
        ] {
            assert_eq!(cvss2_base_score(vector), Some(score), "{vector}");
        }
    }

    #[test]
    fn cvss4_scores_match_first_calculator_values() {
        // FIRST's CVSS v4.0 calculator values for these vectors.
        for (vector, score) in [
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                9.3,
            ),
            (
                "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                8.5,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H",
                10.0,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
                0.0,
            ),
        ] {
            assert_eq!(cvss4_base_score(vector), Some(score), "{vector}");
        }
        assert_eq!(
            cvss4_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            None
        );
        assert_eq!(cvss4_base_score("CVSS:4.0/AV:N"), None);
    }

    #[test]
    fn a_v4_vector_wins_over_v3_and_v2() {
        let severities = [
            OsvSeverity {
                kind: "CVSS_V3".into(),
                score: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N".into(),
            },
            OsvSeverity {
                kind: "CVSS_V4".into(),
                score: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N".into(),
            },
        ];
        assert_eq!(cvss_severity(&severities), Some(Severity::Critical));
        assert_eq!(cvss_severity(&severities[..1]), Some(Severity::Medium));
    }

    #[test]
    fn malformed_vectors_give_no_score() {
        assert_eq!(cvss3_base_score("CVSS:3.1/AV:X"), None);
        assert_eq!(cvss2_base_score("garbage"), None);
    }

    #[test]
    fn debian_urgency_maps_like_trivy_db() {
        assert_eq!(debian_urgency("unimportant"), Some(Severity::Low));
        assert_eq!(debian_urgency("low**"), Some(Severity::Low));
        assert_eq!(debian_urgency("medium*"), Some(Severity::Medium));
        assert_eq!(debian_urgency("high"), Some(Severity::High));
        assert_eq!(debian_urgency("not yet assigned"), None);
        assert_eq!(debian_urgency("end-of-life"), None);
    }

    #[test]
    fn scores_band_like_trivy_db() {
        assert_eq!(band(9.0), Some(Severity::Critical));
        assert_eq!(band(8.9), Some(Severity::High));
        assert_eq!(band(4.0), Some(Severity::Medium));
        assert_eq!(band(0.1), Some(Severity::Low));
        assert_eq!(band(0.0), None);
    }
}
