//! The Debian 12 fixture the matching and index tests share: a hand-written dpkg status, the
//! detected OS, and the OSV records of a fixture directory.

use std::path::Path;

use drydock_vuln::inventory::dpkg::parse_status;
use drydock_vuln::{Os, OsvRecord, Package, ReleaseFiles, detect_os, parse_osv_record};

/// The OSV fixture directories (`debian12/`, `handwritten/`, `severity/`, …).
pub const OSV_FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/osv");

/// Debian 12's os-release, as the image carries it.
pub const OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
    VERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";

/// A dpkg status: openssl's two binaries (one through `Source:`), perl-base at the version a
/// record fixed, and zlib1g, which no record names.
pub const STATUS: &str = "\
Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2

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

/// Debian 12, detected from [`OS_RELEASE`].
pub fn debian12() -> Os {
    detect_os(&ReleaseFiles {
        os_release: Some(OS_RELEASE),
        ..Default::default()
    })
    .expect("Debian 12 is detected")
}

/// The packages of [`STATUS`].
pub fn packages() -> Vec<Package> {
    parse_status("var/lib/dpkg/status", STATUS.as_bytes()).expect("status parses")
}

/// Every `*.json` record of `dir` (a path below [`OSV_FIXTURES`], or absolute).
pub fn records(dir: &str) -> Vec<OsvRecord> {
    let dir = Path::new(OSV_FIXTURES).join(dir);
    let mut records = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixture dir exists") {
        let path = entry.expect("fixture dir is readable").path();
        if path.extension().is_some_and(|e| e == "json") {
            let bytes = std::fs::read(&path).expect("fixture is readable");
            records.push(
                parse_osv_record(&path.display().to_string(), &bytes)
                    .expect("fixture is a valid record"),
            );
        }
    }
    records
}
