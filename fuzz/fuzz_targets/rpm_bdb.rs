//! Berkeley DB rpmdbs (`var/lib/rpm/Packages`) only: the hash-page reader and the headers in
//! it, never the other rpmdb formats. Never a panic, whatever the pages say.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Half the inputs get a valid-looking metadata page, so the fuzzer reaches the hash pages.
    let mut with_meta = vec![0_u8; 512];
    with_meta[12..16].copy_from_slice(&0x0006_1561_u32.to_le_bytes());
    with_meta[20..24].copy_from_slice(&512_u32.to_le_bytes());
    with_meta[25] = 8;
    let pages = u32::try_from(data.len() / 512).unwrap_or(u32::MAX);
    with_meta[32..36].copy_from_slice(&pages.to_le_bytes());
    with_meta.extend_from_slice(data);
    for input in [data, &with_meta[..]] {
        let _ = drydock_vuln::inventory::rpm::read_bdb_headers("Packages", input);
    }
});
