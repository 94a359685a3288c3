//! Matching rules per family beyond Debian: Alpine by origin with apk ordering, the Red Hat
//! family by binary name and EVR, the smallest newer fix across grouped records, enumerated
//! `versions`, and OSes without OSV data.

mod common;

use drydock_vuln::inventory::{apk::parse_installed, rpm::parse_mariner_manifest};
use drydock_vuln::{FixStatus, Package, ReleaseFiles, Severity, detect_os, match_packages};

use common::records::{record, rpm_package};

#[test]
fn alpine_packages_match_by_origin_with_apk_ordering() {
    let os = detect_os(&ReleaseFiles {
        os_release: Some("ID=alpine\nVERSION_ID=3.18.4\n"),
        ..Default::default()
    })
    .unwrap();
    let db = "P:libcrypto3\nV:3.1.4-r0\nA:x86_64\no:openssl\n\nP:musl\nV:1.2.4-r2\no:musl\n";
    let packages = parse_installed("lib/apk/db/installed", db.as_bytes()).unwrap();
    let records = [record(
        r#"{"id":"ALPINE-CVE-2023-5678","upstream":["CVE-2023-5678"],
            "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"}],
            "affected":[{"package":{"ecosystem":"Alpine:v3.18","name":"openssl"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.1.4-r1"}]}]}]}"#,
    )];
    let findings = match_packages(&os, &packages, &records);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].package, "libcrypto3");
    assert_eq!(findings[0].id, "CVE-2023-5678");
    assert_eq!(findings[0].fixed.as_deref(), Some("3.1.4-r1"));
    assert_eq!(findings[0].severity, Severity::Medium);
}

#[test]
fn rocky_packages_match_by_binary_name_and_evr() {
    let os = detect_os(&ReleaseFiles {
        os_release: Some("ID=\"rocky\"\nVERSION_ID=\"9.3\"\n"),
        ..Default::default()
    })
    .unwrap();
    let packages = [
        rpm_package("openssl-libs", "1:3.0.7-24.el9", "openssl"),
        rpm_package("openssl", "1:3.0.7-27.el9", "openssl"),
    ];
    let records = [record(
        r#"{"id":"RLSA-2024:0001","aliases":["CVE-2024-0001"],
            "affected":[
              {"package":{"ecosystem":"Rocky Linux:9","name":"openssl-libs"},
               "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:3.0.7-25.el9"}]}],
               "database_specific":{"severity":"Important"}},
              {"package":{"ecosystem":"Rocky Linux:9","name":"openssl"},
               "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:3.0.7-25.el9"}]}]}]}"#,
    )];
    let findings = match_packages(&os, &packages, &records);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].package, "openssl-libs");
    assert_eq!(findings[0].aliases, ["RLSA-2024:0001"]);
    assert_eq!(findings[0].severity, Severity::High);
}

#[test]
fn grouped_records_report_the_smallest_fix_newer_than_installed() {
    let os = detect_os(&ReleaseFiles {
        os_release: Some("ID=debian\nVERSION_ID=\"12\"\n"),
        ..Default::default()
    })
    .unwrap();
    let packages = [rpm_package("curl", "7.88.1-10", "curl")];
    let range = |fixed: &str| {
        format!(
            r#""affected":[{{"package":{{"ecosystem":"Debian:12","name":"curl"}},
               "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"{fixed}"}}]}}]}}]"#
        )
    };
    let records = [
        record(&format!(
            r#"{{"id":"DEBIAN-CVE-2099-1","upstream":["CVE-2099-1"],{}}}"#,
            range("7.88.1-10+deb12u5")
        )),
        record(&format!(
            r#"{{"id":"DSA-9002-1","upstream":["CVE-2099-1"],{}}}"#,
            range("7.88.1-10+deb12u1")
        )),
        record(&format!(
            r#"{{"id":"DLA-9003-1","upstream":["CVE-2099-1"],{}}}"#,
            range("7.88.1-9")
        )),
    ];
    let findings = match_packages(&os, &packages, &records);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].fixed.as_deref(), Some("7.88.1-10+deb12u1"));
    // The DLA's fix is older than the installed version: it does not affect, so not an alias.
    assert_eq!(findings[0].aliases, ["DEBIAN-CVE-2099-1", "DSA-9002-1"]);
}

#[test]
fn enumerated_versions_match_without_a_fix() {
    let os = detect_os(&ReleaseFiles {
        os_release: Some("ID=azurelinux\nVERSION_ID=\"3.0\"\n"),
        ..Default::default()
    })
    .unwrap();
    let manifest = "openssl-libs\t3.3.2-1.azl3\t1\t1\tMicrosoft Corporation\t(none)\t1\tx86_64\t0\topenssl-3.3.2-1.azl3.src.rpm\n";
    let packages = parse_mariner_manifest("container-manifest-2", manifest.as_bytes()).unwrap();
    let records = [record(
        r#"{"id":"AZL-1","aliases":["CVE-2099-7"],
            "affected":[{"package":{"ecosystem":"Azure Linux:3","name":"openssl"},
            "versions":["3.3.2-1.azl3"]}]}"#,
    )];
    let findings = match_packages(&os, &packages, &records);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].status, FixStatus::Affected);
    assert_eq!(findings[0].source_package, "openssl");
}

#[test]
fn os_without_osv_data_matches_nothing() {
    let os = detect_os(&ReleaseFiles {
        system_release: Some("Amazon Linux release 2 (Karoo)\n"),
        ..Default::default()
    })
    .unwrap();
    let packages = [rpm_package("openssl", "1.0.2k-1.amzn2", "openssl")];
    let records = [record(
        r#"{"id":"X","affected":[{"package":{"ecosystem":"Amazon Linux:2","name":"openssl"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}"#,
    )];
    assert!(match_packages(&os, &packages, &records).is_empty());
}

#[test]
fn package_with_an_invalid_version_is_skipped_not_fatal() {
    let os = detect_os(&ReleaseFiles {
        os_release: Some("ID=debian\nVERSION_ID=\"12\"\n"),
        ..Default::default()
    })
    .unwrap();
    let packages = [rpm_package("bad", "not a version", "bad")];
    let records = [record(
        r#"{"id":"DEBIAN-CVE-2099-9","affected":[{"package":{"ecosystem":"Debian:12","name":"bad"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}"#,
    )];
    assert!(match_packages(&os, &packages, &records).is_empty());
}

#[test]
fn ubuntu_priority_in_the_record_severity_beats_its_cvss_vector() {
    let os = detect_os(&ReleaseFiles {
        os_release: Some("ID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\n"),
        ..Default::default()
    })
    .unwrap();
    let packages = [Package {
        name: "libssl3".into(),
        version: "3.0.2-0ubuntu1.10".into(),
        source_name: "openssl".into(),
        source_version: "3.0.2-0ubuntu1.10".into(),
        arch: Some("amd64".into()),
    }];
    let records = [record(
        r#"{"id":"UBUNTU-CVE-2099-5","upstream":["CVE-2099-5"],
            "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
                        {"type":"Ubuntu","score":"medium"}],
            "affected":[{"package":{"ecosystem":"Ubuntu:22.04:LTS","name":"openssl"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.2-0ubuntu1.12"}]}]}]}"#,
    )];
    let findings = match_packages(&os, &packages, &records);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].severity, Severity::Medium);
    assert_eq!(findings[0].fixed.as_deref(), Some("3.0.2-0ubuntu1.12"));
}
