//! Records and packages written inline by the matching tests.

use drydock_vuln::{OsvRecord, Package, parse_osv_record};

/// An OSV record from JSON text (named `inline.json` in errors).
pub fn record(json: &str) -> OsvRecord {
    parse_osv_record("inline.json", json.as_bytes()).expect("test record is valid")
}

/// An x86_64 rpm package of source `source`, binary and source at `version`.
pub fn rpm_package(name: &str, version: &str, source: &str) -> Package {
    Package {
        name: name.into(),
        version: version.into(),
        source_name: source.into(),
        source_version: version.into(),
        arch: Some("x86_64".into()),
    }
}
