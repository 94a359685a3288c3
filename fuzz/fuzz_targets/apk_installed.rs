//! apk `installed` parser: any bytes give packages or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = drydock_vuln::inventory::apk::parse_installed("lib/apk/db/installed", data);
});
