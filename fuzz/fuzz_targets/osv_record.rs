//! OSV reader, and the matcher over whatever parsed: never a panic.
#![no_main]

use drydock_vuln::{Package, ReleaseFiles, detect_os, match_packages, parse_osv_record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = parse_osv_record("record.json", data) else {
        return;
    };
    let Some(os) = detect_os(&ReleaseFiles {
        os_release: Some("ID=debian\nVERSION_ID=\"12\"\n"),
        ..Default::default()
    }) else {
        return;
    };
    let names: Vec<String> = record
        .affected
        .iter()
        .filter_map(|a| a.package.as_ref().map(|p| p.name.clone()))
        .collect();
    let packages: Vec<Package> = names
        .into_iter()
        .map(|name| Package {
            version: "1.0-1".into(),
            source_name: name.clone(),
            source_version: "1.0-1".into(),
            name,
            arch: None,
        })
        .collect();
    let _ = match_packages(&os, &packages, &[record]);
});
