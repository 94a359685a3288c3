//! dpkg `status` / `status.d` parser: any bytes give packages or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = drydock_vuln::inventory::dpkg::parse_status("var/lib/dpkg/status", data);
});
