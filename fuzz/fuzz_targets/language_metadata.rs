//! Language package metadata: Go build information blocks, Python `METADATA`, npm
//! `package.json`, Java archives (the zip reader and the metadata blob it makes) and
//! cargo-auditable dependency lists (the zlib stream check and the JSON), Composer's
//! `installed.json` and .NET `*.deps.json`. Never a
//! panic; a block whose length is known parses or is refused, and every package read has a name
//! and a version.
#![no_main]

use drydock_vuln::inventory::language::{
    GO_BUILDINFO_MAGIC, go_buildinfo_len, parse_go_buildinfo, parse_package_json,
    parse_python_metadata,
};
use drydock_vuln::inventory::java::{JAVA_METADATA_MAGIC, archive_metadata, parse_archive_metadata};
use drydock_vuln::inventory::dotnet::parse_deps_json;
use drydock_vuln::inventory::php::parse_composer_installed;
use drydock_vuln::inventory::rust::{RUST_DEP_INFO_MAGIC, dep_info_candidate, parse_dep_info};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Half the inputs start with the magic, so the fuzzer reaches the block's fields quickly.
    let mut block = GO_BUILDINFO_MAGIC.to_vec();
    block.extend_from_slice(data);
    for input in [data, &block[..]] {
        let _ = go_buildinfo_len(input);
        if let Ok(packages) = parse_go_buildinfo("bin", input) {
            assert!(packages.iter().all(|p| !p.name.is_empty()));
        }
    }
    if let Ok(p) = parse_python_metadata("METADATA", data) {
        assert!(!p.name.is_empty() && !p.version.is_empty());
    }
    if let Ok(Some(p)) = parse_package_json("package.json", data) {
        assert!(!p.name.is_empty() && !p.version.is_empty());
    }
    // A zip archive as found in a layer, and a metadata blob as kept from one.
    let mut blob = JAVA_METADATA_MAGIC.to_vec();
    blob.extend_from_slice(data);
    for kept in archive_metadata(data).into_iter().chain([blob]) {
        if let Ok(packages) = parse_archive_metadata("app.jar", &kept) {
            assert!(
                packages
                    .iter()
                    .all(|p| p.name.contains(':') && !p.version.is_empty())
            );
        }
    }
    for parsed in [
        parse_composer_installed("installed.json", data),
        parse_deps_json("app.deps.json", data),
    ] {
        if let Ok(packages) = parsed {
            assert!(packages.iter().all(|p| !p.name.is_empty() && !p.version.is_empty()));
        }
    }
    let _ = dep_info_candidate(data);
    let mut deps = RUST_DEP_INFO_MAGIC.to_vec();
    deps.extend_from_slice(data);
    if let Ok(packages) = parse_dep_info("bin", &deps) {
        assert!(packages.iter().all(|p| !p.name.is_empty() && !p.version.is_empty()));
    }
});
