//! Hostile input never panics: every parser and comparator over arbitrary bytes and strings
//! returns a value or an error.

use drydock_vuln::inventory::{apk, dotnet, dpkg, java, php, rpm, rust};
use drydock_vuln::version::{dpkg::DpkgVersion, rpm::Evr, rpm::rpmvercmp};
use drydock_vuln::{ReleaseFiles, VersionScheme, detect_os, parse_osv_record};
use proptest::prelude::*;

proptest! {
    #[test]
    fn version_parsers_and_comparators_never_panic(a in "\\PC{0,24}", b in "[0-9a-z.:~^+_-]{0,24}") {
        let _ = DpkgVersion::parse(&a);
        let _ = Evr::parse(&a);
        let _ = rpmvercmp(&a, &b);
        for scheme in [
            VersionScheme::Dpkg,
            VersionScheme::Rpm,
            VersionScheme::Apk,
            VersionScheme::Pep440,
            VersionScheme::SemVer,
            VersionScheme::Go,
            VersionScheme::RubyGems,
            VersionScheme::Maven,
            VersionScheme::Composer,
            VersionScheme::NuGet,
        ] {
            let _ = scheme.compare(&a, &b);
            let _ = scheme.compare(&b, &a);
        }
    }

    #[test]
    fn package_database_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = dpkg::parse_status("status", &bytes);
        let _ = apk::parse_installed("installed", &bytes);
        let _ = rpm::parse_mariner_manifest("container-manifest-2", &bytes);
        let _ = rpm::parse_rpmdb("Packages", &bytes);
        let _ = drydock_vuln::inventory::rpm_header::parse_header("blob", &bytes);
        let _ = parse_osv_record("record.json", &bytes);
        // Java archives (garbage behind the zip magic too) and cargo-auditable lists.
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend_from_slice(&bytes);
        for archive in [&bytes, &zip] {
            if let Some(blob) = java::archive_metadata(archive) {
                let _ = java::parse_archive_metadata("app.jar", &blob);
            }
        }
        let _ = rust::dep_info_candidate(&bytes);
        let mut deps = rust::RUST_DEP_INFO_MAGIC.to_vec();
        deps.extend_from_slice(&bytes);
        let _ = rust::parse_dep_info("bin", &deps);
        let _ = php::parse_composer_installed("installed.json", &bytes);
        let _ = dotnet::parse_deps_json("app.deps.json", &bytes);
    }

    #[test]
    fn structured_garbage_in_databases_never_panics(
        text in "(Package|Version|Source|Status|P|V|o|A)?[: ]?[ -~\t]{0,20}(\n|\n\n)?",
        repeat in 1_usize..20,
    ) {
        let input = text.repeat(repeat);
        let _ = dpkg::parse_status("status", input.as_bytes());
        let _ = apk::parse_installed("installed", input.as_bytes());
        let _ = rpm::parse_mariner_manifest("manifest", input.as_bytes());
    }

    #[test]
    fn os_detection_never_panics(content in "\\PC{0,64}") {
        let files = ReleaseFiles {
            os_release: Some(&content),
            debian_version: Some(&content),
            lsb_release: Some(&content),
            alpine_release: Some(&content),
            apk_repositories: Some(&content),
            redhat_release: Some(&content),
            system_release: Some(&content),
            content_manifests: &[&content],
        };
        let _ = detect_os(&files);
        let _ = detect_os(&ReleaseFiles { os_release: None, ..files });
    }
}
