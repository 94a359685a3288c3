//! Severity for findings whose own records carry none: the rating another record of the index
//! gives the same CVE (fixtures in `fixtures/osv/severity`, see its README), identical through
//! the compiled index and the in-memory matcher, and counted per ecosystem by `Index::info`.

use std::path::{Path, PathBuf};

use drydock_vuln::index::{self, Index};
use drydock_vuln::severity::Severity;
use drydock_vuln::{Package, match_packages};
use jiff::Timestamp;

mod common;

use common::debian;

/// The shared status without libssl3: openssl, perl-base and zlib1g are what the severity
/// fixtures rate.
fn packages() -> Vec<Package> {
    debian::packages()
        .into_iter()
        .filter(|p| p.name != "libssl3")
        .collect()
}

fn build(dir: &Path) -> PathBuf {
    let out = dir.join("vuln.db");
    let now: Timestamp = "2026-11-22T10:00:00Z".parse().expect("valid timestamp");
    let fixtures = Path::new(debian::OSV_FIXTURES).join("severity");
    index::build(&[fixtures.as_path()], &out, now).expect("index builds");
    out
}

/// (CVE, severity) of each finding, sorted.
fn severities(findings: &[drydock_vuln::Finding]) -> Vec<(String, Severity)> {
    let mut out: Vec<_> = findings
        .iter()
        .map(|f| (f.id.clone(), f.severity))
        .collect();
    out.sort();
    out
}

#[test]
fn a_finding_without_a_rating_borrows_the_one_another_record_gives_its_cve() {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = Index::open(&build(dir.path())).expect("index opens");
    let from_index = index
        .match_packages(&debian::debian12(), &packages())
        .expect("index matches");
    let expected = vec![
        ("CVE-2099-0601".to_owned(), Severity::Critical), // a GHSA's CVSS v4.0 vector
        ("CVE-2099-0602".to_owned(), Severity::Medium),   // a GHSA's database severity
        ("CVE-2099-0603".to_owned(), Severity::Unknown),  // rated nowhere: nothing invented
        ("CVE-2099-0604".to_owned(), Severity::Low),      // the CVE's own record first
    ];
    assert_eq!(severities(&from_index), expected);
    let in_memory = match_packages(
        &debian::debian12(),
        &packages(),
        &debian::records("severity"),
    );
    assert_eq!(in_memory, from_index, "index and in-memory matcher agree");
}

#[test]
fn info_counts_per_ecosystem_the_advisories_rated_and_rated_through_their_cve() {
    let dir = tempfile::tempdir().expect("temp dir");
    let info = Index::open(&build(dir.path()))
        .expect("index opens")
        .info()
        .expect("info reads");
    let count = |name: &str| {
        info.ecosystems
            .iter()
            .find(|e| e.ecosystem == name)
            .unwrap_or_else(|| panic!("{name} in {:?}", info.ecosystems))
            .clone()
    };
    let debian = count("Debian:12");
    assert_eq!(
        (debian.advisories, debian.rated, debian.rated_by_cve),
        (4, 0, 3)
    );
    let pypi = count("PyPI");
    // Two GHSAs carry vectors; the third only GitHub's word, which its own CVE then lends.
    assert_eq!((pypi.advisories, pypi.rated, pypi.rated_by_cve), (3, 2, 1));
}
