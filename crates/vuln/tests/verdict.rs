//! Verdicts over a Debian 12 image against the fixture index: every scanner-config key that
//! shapes a verdict, end-of-life handling, deletion, and the JSON form.
//!
//! With the fixtures, the image has two findings that carry a severity (CVE-2099-0001 on
//! openssl: unfixed, LOW; CVE-2099-0003 on perl: fixed, CRITICAL) and many with none (the real
//! Debian records carry no severity: UNKNOWN).

use std::path::Path;

use drydock_vuln::config::{ScannerConfig, parse};
use drydock_vuln::index::{self, Index};
use drydock_vuln::inventory::dpkg::parse_status;
use drydock_vuln::verdict::{assess, verdict};
use drydock_vuln::{EolStatus, FixStatus, Os, Package, ReleaseFiles, Severity, Verdict, detect_os};
use jiff::Timestamp;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/osv");

const STATUS: &str = "\
Package: libssl3
Status: install ok installed
Source: openssl
Version: 3.0.11-1~deb12u2

Package: perl-base
Status: install ok installed
Source: perl
Version: 5.36.0-7+deb12u1
";

/// Before Debian 12's end of life (2028-06-30, distro-info `eol-lts`).
const BEFORE_EOL: &str = "2026-11-22T10:00:00Z";
/// After it.
const AFTER_EOL: &str = "2028-07-01T00:00:00Z";

struct Fixture {
    _dir: tempfile::TempDir,
    index: Index,
    os: Os,
    packages: Vec<Package>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("vuln.db");
    index::build(
        &[
            Path::new(FIXTURES).join("debian12"),
            Path::new(FIXTURES).join("handwritten"),
        ],
        &out,
        now(BEFORE_EOL),
    )
    .expect("index builds");
    Fixture {
        index: Index::open(&out).expect("index opens"),
        os: detect_os(&ReleaseFiles {
            os_release: Some("ID=debian\nVERSION_ID=\"12\"\n"),
            ..Default::default()
        })
        .expect("Debian 12"),
        packages: parse_status("status", STATUS.as_bytes()).expect("status parses"),
        _dir: dir,
    }
}

fn now(text: &str) -> Timestamp {
    text.parse().expect("valid timestamp")
}

fn config(yaml: &str) -> ScannerConfig {
    parse(yaml).expect("config parses").config
}

impl Fixture {
    fn verdict(&self, config: &ScannerConfig, at: &str) -> Verdict {
        verdict(Some(&self.os), &self.packages, &self.index, config, now(at))
    }

    /// The IDs of the counted findings, or `None` when the verdict is not non-compliant.
    fn ids(&self, config: &ScannerConfig) -> Option<Vec<String>> {
        match self.verdict(config, BEFORE_EOL) {
            Verdict::NonCompliant { findings, .. } => {
                Some(findings.into_iter().map(|f| f.id).collect())
            }
            _ => None,
        }
    }
}

#[test]
fn default_config_counts_low_to_critical_findings_and_ignores_unknown_severity() {
    let f = fixture();
    assert_eq!(
        f.ids(&ScannerConfig::default()),
        Some(vec!["CVE-2099-0001".into(), "CVE-2099-0003".into()])
    );
}

#[test]
fn severities_select_which_findings_count() {
    let f = fixture();
    let critical = config("vulnerabilities:\n  severities: [CRITICAL]\n");
    assert_eq!(f.ids(&critical), Some(vec!["CVE-2099-0003".into()]));
    let with_unknown = config("vulnerabilities:\n  severities: [UNKNOWN, LOW]\n");
    let ids = f.ids(&with_unknown).expect("non-compliant");
    assert!(ids.len() > 10, "the UNKNOWN findings count too: {ids:?}");
    assert!(
        !ids.contains(&"CVE-2099-0003".to_owned()),
        "CRITICAL is not selected"
    );
    let medium = config("vulnerabilities:\n  severities: [MEDIUM]\n");
    assert_eq!(f.verdict(&medium, BEFORE_EOL), Verdict::Ok);
}

#[test]
fn ignore_unfixed_drops_findings_without_a_fix() {
    let f = fixture();
    let c = config("vulnerabilities:\n  ignoreUnfixed: true\n");
    assert_eq!(f.ids(&c), Some(vec!["CVE-2099-0003".into()]));
}

#[test]
fn ignored_statuses_drop_their_findings_and_override_ignore_unfixed() {
    let f = fixture();
    let fixed = config("vulnerabilities:\n  ignoredStatuses: [fixed]\n");
    assert_eq!(f.ids(&fixed), Some(vec!["CVE-2099-0001".into()]));
    // Trivy's quirk: with ignoredStatuses set, ignoreUnfixed has no effect.
    let both = config("vulnerabilities:\n  ignoreUnfixed: true\n  ignoredStatuses: [fixed]\n");
    assert_eq!(f.ids(&both), Some(vec!["CVE-2099-0001".into()]));
}

#[test]
fn without_os_type_or_vuln_check_nothing_is_matched() {
    let f = fixture();
    assert_eq!(
        f.verdict(
            &config("vulnerabilities:\n  types: [library]\n"),
            BEFORE_EOL
        ),
        Verdict::Ok
    );
    assert_eq!(
        f.verdict(
            &config("vulnerabilities:\n  securityChecks: [secret]\n"),
            BEFORE_EOL
        ),
        Verdict::Ok
    );
}

#[test]
fn end_of_life_os_is_non_compliant_only_with_delete_eol_images() {
    let f = fixture();
    // Only MEDIUM counts, so no finding does: the EOL status alone decides.
    let c = config("vulnerabilities:\n  severities: [MEDIUM]\n");
    assert_eq!(
        f.verdict(&c, AFTER_EOL),
        Verdict::NonCompliant {
            findings: Vec::new(),
            eol: true
        }
    );
    assert_eq!(f.verdict(&c, BEFORE_EOL), Verdict::Ok);
    let keep_eol = config("deleteEOLImages: false\nvulnerabilities:\n  severities: [MEDIUM]\n");
    assert_eq!(f.verdict(&keep_eol, AFTER_EOL), Verdict::Ok);
}

#[test]
fn eol_dates_override_the_built_in_table() {
    let f = fixture();
    let c = config(
        "vulnerabilities:\n  severities: [MEDIUM]\neolDates:\n  debian:\n    \"12\": 2025-01-01\n",
    );
    assert!(matches!(
        f.verdict(&c, BEFORE_EOL),
        Verdict::NonCompliant { eol: true, .. }
    ));
    let never = config(
        "vulnerabilities:\n  severities: [MEDIUM]\neolDates:\n  debian:\n    \"12\": never\n",
    );
    assert_eq!(f.verdict(&never, AFTER_EOL), Verdict::Ok);
}

#[test]
fn failed_images_are_deleted_only_with_delete_failed_images() {
    let failed = Verdict::failed("layer sha256:ab is truncated");
    assert!(failed.should_delete(&ScannerConfig::default()));
    assert!(!failed.should_delete(&config("deleteFailedImages: false\n")));
    assert!(!Verdict::Ok.should_delete(&ScannerConfig::default()));
    let eol_only = Verdict::NonCompliant {
        findings: Vec::new(),
        eol: true,
    };
    assert!(eol_only.should_delete(&config("deleteFailedImages: false\n")));
}

#[test]
fn image_without_a_detected_os_is_ok() {
    let f = fixture();
    let assessment = assess(
        None,
        &f.packages,
        &f.index,
        &ScannerConfig::default(),
        now(BEFORE_EOL),
    );
    assert_eq!(assessment.verdict, Verdict::Ok);
    assert_eq!(assessment.eol_status, None);
}

#[test]
fn assessment_reports_eol_status_and_unfiltered_count_and_serialises_to_json() {
    let f = fixture();
    let assessment = assess(
        Some(&f.os),
        &f.packages,
        &f.index,
        &config("vulnerabilities:\n  severities: [CRITICAL]\n"),
        now(BEFORE_EOL),
    );
    assert!(assessment.matched > 10);
    assert!(matches!(
        assessment.eol_status,
        Some(EolStatus::Supported { until: Some(_) })
    ));
    let Verdict::NonCompliant { findings, eol } = &assessment.verdict else {
        panic!("non-compliant: {:?}", assessment.verdict);
    };
    assert!(!eol);
    assert_eq!(findings[0].severity, Severity::Critical);
    assert_eq!(findings[0].status, FixStatus::Fixed);

    let json = serde_json::to_value(&assessment).expect("serialises");
    assert_eq!(json["verdict"], "nonCompliant");
    assert_eq!(json["eol"], false);
    assert_eq!(json["eolStatus"]["state"], "supported");
    assert_eq!(json["eolStatus"]["until"], "2028-06-30");
    let finding = &json["findings"][0];
    assert_eq!(finding["id"], "CVE-2099-0003");
    assert_eq!(finding["package"], "perl-base");
    assert_eq!(finding["sourcePackage"], "perl");
    assert_eq!(finding["installed"], "5.36.0-7+deb12u1");
    assert_eq!(finding["fixed"], "5.36.0-7+deb12u9");
    assert_eq!(finding["severity"], "CRITICAL");
    assert_eq!(finding["status"], "fixed");
    assert_eq!(
        serde_json::to_value(Verdict::failed("bad layer")).expect("serialises"),
        serde_json::json!({"verdict": "failed", "reason": "bad layer"})
    );
}
