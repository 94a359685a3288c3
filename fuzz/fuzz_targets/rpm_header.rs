//! rpm header blobs (the rows of a sqlite rpmdb): never a panic, and a header that parses has
//! the fields the inventory relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = drydock_vuln::inventory::rpm_header::parse_header("blob", data) {
        assert!(!header.name.is_empty() && !header.version.is_empty());
        assert!(!header.release.is_empty());
    }
});
