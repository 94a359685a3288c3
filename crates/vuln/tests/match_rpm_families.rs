//! The Red Hat and SUSE families, Photon OS and openEuler: each detected from its
//! `os-release`, matched against the OSV ecosystems the registry names for it (RHEL: the
//! product streams of the image's content sets), by the package name its records use, with
//! rpm's ordering of epoch:version-release.

mod common;

use drydock_vuln::{
    FixStatus, OsvRecord, Package, ReleaseFiles, Severity, detect_os, match_packages,
};

use common::records::{record, rpm_package};

/// A record fixing `name` in `ecosystem` at `fixed`, rated by a CVSS v3.1 vector (9.8).
fn fix(id: &str, cve: &str, ecosystem: &str, name: &str, fixed: &str) -> OsvRecord {
    record(&format!(
        r#"{{"id":"{id}","upstream":["{cve}"],
            "severity":[{{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}],
            "affected":[{{"package":{{"ecosystem":"{ecosystem}","name":"{name}"}},
            "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"{fixed}"}}]}}]}}]}}"#
    ))
}

fn ids(findings: &[drydock_vuln::Finding]) -> Vec<(&str, &str)> {
    findings
        .iter()
        .map(|f| (f.package.as_str(), f.id.as_str()))
        .collect()
}

fn red_hat_records() -> Vec<OsvRecord> {
    vec![
        fix(
            "RHSA-2099:0001",
            "CVE-2099-1001",
            "Red Hat:enterprise_linux:9::baseos",
            "openssl-libs",
            "1:3.0.7-27.el9",
        ),
        fix(
            "RHSA-2099:0002",
            "CVE-2099-1002",
            "Red Hat:enterprise_linux:9::appstream",
            "python3.11",
            "3.11.7-1.el9",
        ),
        // Another major's stream never applies.
        fix(
            "RHSA-2099:0003",
            "CVE-2099-1003",
            "Red Hat:enterprise_linux:8::baseos",
            "openssl-libs",
            "1:9.9.9-1.el8",
        ),
    ]
}

fn rhel_packages() -> Vec<Package> {
    vec![
        // Matched by binary name: the source name (openssl) is not what Red Hat's records use.
        rpm_package("openssl-libs", "1:3.0.7-25.el9_3", "openssl"),
        rpm_package("python3.11", "3.11.5-1.el9_3", "python3.11"),
    ]
}

#[test]
fn ubi_is_matched_against_the_streams_of_its_content_sets_only() {
    let manifest =
        r#"{"metadata":{"icm_version":1},"content_sets":["rhel-9-for-x86_64-baseos-rpms"]}"#;
    let os = detect_os(&ReleaseFiles {
        os_release: Some("NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nVERSION_ID=\"9.3\"\n"),
        content_manifests: &[manifest],
        ..Default::default()
    })
    .expect("RHEL is detected");
    let findings = match_packages(&os, &rhel_packages(), &red_hat_records());
    assert_eq!(ids(&findings), [("openssl-libs", "CVE-2099-1001")]);
    assert_eq!(findings[0].fixed.as_deref(), Some("1:3.0.7-27.el9"));
    assert_eq!(findings[0].severity, Severity::Critical);
}

#[test]
fn rhel_without_content_manifests_is_matched_against_baseos_and_appstream() {
    let os = detect_os(&ReleaseFiles {
        os_release: Some("ID=\"rhel\"\nVERSION_ID=\"9.3\"\n"),
        ..Default::default()
    })
    .expect("RHEL is detected");
    let findings = match_packages(&os, &rhel_packages(), &red_hat_records());
    assert_eq!(
        ids(&findings),
        [
            ("openssl-libs", "CVE-2099-1001"),
            ("python3.11", "CVE-2099-1002")
        ]
    );
}

#[test]
fn an_epoch_orders_before_any_version_of_a_lower_epoch() {
    let os = detect_os(&ReleaseFiles {
        os_release: Some("ID=\"rhel\"\nVERSION_ID=\"9.3\"\n"),
        ..Default::default()
    })
    .expect("RHEL is detected");
    // 2:1.0 is newer than the fix 1:3.0.7-27.el9 despite the smaller version.
    let packages = [rpm_package("openssl-libs", "2:1.0-1.el9", "openssl")];
    assert!(match_packages(&os, &packages, &red_hat_records()).is_empty());
}

#[test]
fn suse_families_match_by_source_rpm_in_their_product_ecosystem() {
    let records = [
        fix(
            "SUSE-SU-2099:0001-1",
            "CVE-2099-2001",
            "SUSE:Linux Enterprise Server 15 SP5",
            "openssl-3",
            "3.0.8-150500.5.20.1",
        ),
        fix(
            "openSUSE-SU-2099:0002-1",
            "CVE-2099-2002",
            "openSUSE:Leap 15.6",
            "openssl-3",
            "3.1.4-150600.5.7.1",
        ),
        fix(
            "openSUSE-SU-2099:0003-1",
            "CVE-2099-2003",
            "openSUSE:Tumbleweed",
            "openssl-3",
            "3.2.3-1.1",
        ),
    ];
    let cases = [
        (
            "NAME=\"SLES\"\nVERSION_ID=\"15.5\"\nPRETTY_NAME=\"SUSE Linux Enterprise Server 15 SP5\"\nID=\"sles\"\n",
            "3.0.8-150500.5.14.1",
            "CVE-2099-2001",
        ),
        (
            "NAME=\"openSUSE Leap\"\nID=\"opensuse-leap\"\nVERSION_ID=\"15.6\"\nPRETTY_NAME=\"openSUSE Leap 15.6\"\n",
            "3.1.4-150600.5.3.1",
            "CVE-2099-2002",
        ),
        (
            "NAME=\"openSUSE Tumbleweed\"\nID=\"opensuse-tumbleweed\"\nVERSION_ID=\"20241201\"\nPRETTY_NAME=\"openSUSE Tumbleweed\"\n",
            "3.2.2-2.1",
            "CVE-2099-2003",
        ),
    ];
    for (os_release, installed, cve) in cases {
        let os = detect_os(&ReleaseFiles {
            os_release: Some(os_release),
            ..Default::default()
        })
        .expect("detected");
        let packages = [rpm_package("libopenssl3", installed, "openssl-3")];
        let findings = match_packages(&os, &packages, &records);
        assert_eq!(ids(&findings), [("libopenssl3", cve)], "{os:?}");
        assert_eq!(findings[0].status, FixStatus::Fixed);
    }
}

#[test]
fn photon_matches_by_binary_name_and_openeuler_by_source() {
    let records = [
        fix(
            "PHSA-2099-5.0-0001",
            "CVE-2099-3001",
            "Photon OS:5.0",
            "curl-libs",
            "8.1.2-5.ph5",
        ),
        fix(
            "OESA-2099-0001",
            "CVE-2099-3002",
            "openEuler:22.03-LTS-SP1",
            "curl",
            "7.79.1-25.oe2203sp1",
        ),
    ];
    let photon = detect_os(&ReleaseFiles {
        os_release: Some("NAME=\"VMware Photon OS\"\nVERSION=\"5.0\"\nID=photon\nVERSION_ID=5.0\n"),
        ..Default::default()
    })
    .expect("Photon is detected");
    let packages = [rpm_package("curl-libs", "8.1.2-3.ph5", "curl")];
    assert_eq!(
        ids(&match_packages(&photon, &packages, &records)),
        [("curl-libs", "CVE-2099-3001")]
    );
    let euler = detect_os(&ReleaseFiles {
        os_release: Some(
            "NAME=\"openEuler\"\nVERSION=\"22.03 (LTS-SP1)\"\nID=\"openEuler\"\nVERSION_ID=\"22.03\"\n",
        ),
        ..Default::default()
    })
    .expect("openEuler is detected");
    let packages = [rpm_package("libcurl", "7.79.1-20.oe2203sp1", "curl")];
    assert_eq!(
        ids(&match_packages(&euler, &packages, &records)),
        [("libcurl", "CVE-2099-3002")]
    );
}

#[test]
fn amazon_and_oracle_are_detected_but_have_no_data_in_osv() {
    let records = red_hat_records();
    for os_release in [
        "NAME=\"Amazon Linux\"\nID=\"amzn\"\nVERSION_ID=\"2\"\n",
        "NAME=\"Oracle Linux Server\"\nID=\"ol\"\nVERSION_ID=\"8.9\"\n",
    ] {
        let os = detect_os(&ReleaseFiles {
            os_release: Some(os_release),
            ..Default::default()
        })
        .expect("detected");
        assert!(os.osv_ecosystems().is_empty(), "{os:?}");
        assert!(match_packages(&os, &rhel_packages(), &records).is_empty());
    }
}
