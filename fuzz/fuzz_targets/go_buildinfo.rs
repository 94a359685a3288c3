//! Go build information blocks only (the `language_metadata` target also covers them, among
//! other formats): never a panic; a block whose length is known parses or is refused naming
//! the binary, and every package read has a name.
#![no_main]

use drydock_vuln::inventory::language::{GO_BUILDINFO_MAGIC, go_buildinfo_len, parse_go_buildinfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Half the inputs start with the magic, so the fuzzer reaches the block's fields quickly.
    let mut block = GO_BUILDINFO_MAGIC.to_vec();
    block.extend_from_slice(data);
    for input in [data, &block[..]] {
        let _ = go_buildinfo_len(input);
        match parse_go_buildinfo("usr/local/bin/app", input) {
            Ok(packages) => assert!(packages.iter().all(|p| !p.name.is_empty())),
            Err(error) => assert!(error.to_string().contains("usr/local/bin/app"), "{error}"),
        }
    }
});
