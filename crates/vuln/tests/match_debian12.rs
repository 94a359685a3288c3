//! End-to-end matching over a hand-written dpkg status against real Debian 12 OSV records
//! (copied from the changelog-derived set) plus synthetic records for grouping and severity.

use drydock_vuln::{FixStatus, OsvRecord, Severity, match_packages};

mod common;

use common::debian;

/// CVEs fixed in openssl after 3.0.11-1~deb12u2, with their fixed versions, per the real
/// records (the four fixed at or before it must not appear).
const OPENSSL_EXPECTED: [(&str, &str); 11] = [
    ("CVE-2023-5678", "3.0.13-1~deb12u1"),
    ("CVE-2023-6129", "3.0.13-1~deb12u1"),
    ("CVE-2023-6237", "3.0.13-1~deb12u1"),
    ("CVE-2024-0727", "3.0.13-1~deb12u1"),
    ("CVE-2024-13176", "3.0.16-1~deb12u1"),
    ("CVE-2024-2511", "3.0.14-1~deb12u1"),
    ("CVE-2024-4603", "3.0.14-1~deb12u1"),
    ("CVE-2024-4741", "3.0.14-1~deb12u1"),
    ("CVE-2024-5535", "3.0.15-1~deb12u1"),
    ("CVE-2024-6119", "3.0.14-1~deb12u2"),
    ("CVE-2024-9143", "3.0.15-1~deb12u1"),
];

fn findings(dirs: &[&str]) -> Vec<drydock_vuln::Finding> {
    let records: Vec<OsvRecord> = dirs.iter().flat_map(|d| debian::records(d)).collect();
    match_packages(&debian::debian12(), &debian::packages(), &records)
}

#[test]
fn libssl3_matches_openssl_records_by_source_with_their_fixed_versions() {
    let all = findings(&["debian12"]);
    let libssl3: Vec<(&str, Option<&str>)> = all
        .iter()
        .filter(|f| f.package == "libssl3")
        .map(|f| (f.id.as_str(), f.fixed.as_deref()))
        .collect();
    let expected: Vec<(&str, Option<&str>)> = OPENSSL_EXPECTED
        .iter()
        .map(|(id, fixed)| (*id, Some(*fixed)))
        .collect();
    assert_eq!(libssl3, expected);
    for finding in all.iter().filter(|f| f.package == "libssl3") {
        assert_eq!(finding.source_package, "openssl");
        assert_eq!(finding.installed, "3.0.11-1~deb12u2");
        assert_eq!(finding.status, FixStatus::Fixed);
        // The real records carry no severity at all.
        assert_eq!(finding.severity, Severity::Unknown);
        assert_eq!(
            finding.aliases,
            [format!("DEBIAN-CVE-{}", &finding.id[4..])]
        );
    }
}

#[test]
fn every_binary_of_a_source_package_gets_its_own_findings() {
    let all = findings(&["debian12"]);
    let openssl = all.iter().filter(|f| f.package == "openssl").count();
    assert_eq!(openssl, OPENSSL_EXPECTED.len());
}

#[test]
fn fix_equal_to_the_installed_version_is_not_a_finding() {
    let all = findings(&["debian12"]);
    let perl: Vec<(&str, Option<&str>)> = all
        .iter()
        .filter(|f| f.package == "perl-base")
        .map(|f| (f.id.as_str(), f.fixed.as_deref()))
        .collect();
    // CVE-2023-47038 was fixed in 5.36.0-7+deb12u1, the installed version.
    assert_eq!(perl, [("CVE-2024-56406", Some("5.36.0-7+deb12u2"))]);
}

#[test]
fn package_without_records_has_no_findings() {
    assert!(
        findings(&["debian12", "handwritten"])
            .iter()
            .all(|f| f.package != "zlib1g")
    );
}

#[test]
fn dsa_and_debian_cve_records_group_into_one_finding_per_cve() {
    let all = findings(&["debian12", "handwritten"]);
    let libssl3: Vec<_> = all.iter().filter(|f| f.package == "libssl3").collect();
    let cve_5678: Vec<_> = libssl3.iter().filter(|f| f.id == "CVE-2023-5678").collect();
    assert_eq!(cve_5678.len(), 1);
    assert_eq!(cve_5678[0].aliases, ["DEBIAN-CVE-2023-5678", "DSA-9001-1"]);
    assert_eq!(cve_5678[0].fixed.as_deref(), Some("3.0.13-1~deb12u1"));
    let cve_0727 = libssl3.iter().find(|f| f.id == "CVE-2024-0727").unwrap();
    assert_eq!(cve_0727.aliases, ["DEBIAN-CVE-2024-0727", "DSA-9001-1"]);
}

#[test]
fn unfixed_record_is_reported_as_affected_with_vendor_urgency_before_cvss() {
    let all = findings(&["debian12", "handwritten"]);
    let unfixed = all
        .iter()
        .find(|f| f.package == "libssl3" && f.id == "CVE-2099-0001")
        .unwrap();
    assert_eq!(unfixed.status, FixStatus::Affected);
    assert_eq!(unfixed.fixed, None);
    // Debian says low although the CVSS vector scores 9.8: the vendor wins, as in Trivy.
    assert_eq!(unfixed.severity, Severity::Low);
}

#[test]
fn withdrawn_records_are_skipped() {
    let all = findings(&["debian12", "handwritten"]);
    assert!(all.iter().all(|f| f.id != "CVE-2099-0002"));
}

#[test]
fn untriaged_urgency_falls_back_to_the_cvss_band() {
    let all = findings(&["debian12", "handwritten"]);
    let perl = all
        .iter()
        .find(|f| f.package == "perl-base" && f.id == "CVE-2099-0003")
        .unwrap();
    assert_eq!(perl.severity, Severity::Critical);
    assert_eq!(perl.fixed.as_deref(), Some("5.36.0-7+deb12u9"));
}

#[test]
fn records_for_another_release_do_not_match() {
    let all = findings(&["debian12", "handwritten"]);
    assert!(all.iter().all(|f| f.id != "CVE-2099-0004"));
    // The Debian 11 entry of CVE-2099-0003 (urgency medium) did not set the severity.
    assert!(all.iter().all(|f| f.severity != Severity::Medium));
}
