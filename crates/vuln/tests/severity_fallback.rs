//! Severity for findings whose own records carry none: the rating another record of the index
//! gives the same CVE (fixtures in `fixtures/osv/severity`, see its README), identical through
//! the compiled index and the in-memory matcher, and counted per ecosystem by `Index::info`.

use std::path::{Path, PathBuf};

use drydock_vuln::index::{self, Index};
use drydock_vuln::inventory::dpkg::parse_status;
use drydock_vuln::severity::Severity;
use drydock_vuln::{OsvRecord, Package, ReleaseFiles, detect_os, match_packages, parse_osv_record};
use jiff::Timestamp;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/osv/severity");

const STATUS: &str = "\
Package: openssl
Status: install ok installed
Architecture: amd64
Version: 3.0.11-1~deb12u2

Package: perl-base
Status: install ok installed
Architecture: amd64
Source: perl
Version: 5.36.0-7+deb12u1

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
";

fn records() -> Vec<OsvRecord> {
    let mut records = Vec::new();
    for entry in std::fs::read_dir(FIXTURES).expect("fixture dir exists") {
        let path = entry.expect("readable").path();
        if path.extension().is_some_and(|e| e == "json") {
            let bytes = std::fs::read(&path).expect("readable");
            records.push(parse_osv_record(&path.display().to_string(), &bytes).expect("valid"));
        }
    }
    records
}

fn debian12() -> drydock_vuln::Os {
    detect_os(&ReleaseFiles {
        os_release: Some("ID=debian\nVERSION_ID=\"12\"\n"),
        ..Default::default()
    })
    .expect("Debian 12 is detected")
}

fn packages() -> Vec<Package> {
    parse_status("var/lib/dpkg/status", STATUS.as_bytes()).expect("status parses")
}

fn build(dir: &Path) -> PathBuf {
    let out = dir.join("vuln.db");
    let now: Timestamp = "2026-11-22T10:00:00Z".parse().expect("valid timestamp");
    index::build(&[FIXTURES], &out, now).expect("index builds");
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
        .match_packages(&debian12(), &packages())
        .expect("index matches");
    let expected = vec![
        ("CVE-2099-0601".to_owned(), Severity::Critical), // a GHSA's CVSS v4.0 vector
        ("CVE-2099-0602".to_owned(), Severity::Medium),   // a GHSA's database severity
        ("CVE-2099-0603".to_owned(), Severity::Unknown),  // rated nowhere: nothing invented
        ("CVE-2099-0604".to_owned(), Severity::Low),      // the CVE's own record first
    ];
    assert_eq!(severities(&from_index), expected);
    let in_memory = match_packages(&debian12(), &packages(), &records());
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
