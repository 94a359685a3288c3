//! Mariner distroless manifest and rpmdb format detection: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = drydock_vuln::inventory::rpm::parse_mariner_manifest("container-manifest-2", data);
    let _ = drydock_vuln::inventory::rpm::parse_rpmdb("var/lib/rpm/Packages", data);
});
