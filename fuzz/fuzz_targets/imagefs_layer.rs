//! drydock-imagefs's layer walker on arbitrary bytes: compression detection, the bounded tar
//! reader, whiteout recording and the merge must return an error or a view, never panic, hang
//! or allocate past the limits.
#![no_main]

use drydock_imagefs::{Interest, Limits, merge_layers, read_layer};
use libfuzzer_sys::fuzz_target;

/// Small bounds so the fuzzer explores the limit paths instead of running out of memory.
const LIMITS: Limits = Limits {
    max_file_size: 64 << 10,
    max_layer_bytes: 8 << 20,
    max_entries: 4096,
    max_kept_bytes: 256 << 10,
};

fuzz_target!(|data: &[u8]| {
    let interest = Interest::new()
        .with_path("etc/os-release")
        .with_path("usr/lib/os-release")
        .with_path("var/lib/dpkg/status")
        .with_dir("var/lib/dpkg/status.d")
        .with_path("lib/apk/db/installed");
    if let Ok(layer) = read_layer(data, None, &interest, &LIMITS) {
        let merged = merge_layers([&layer, &layer], &interest);
        for (path, _) in merged.iter() {
            assert!(!path.starts_with('/') && !path.split('/').any(|c| c == ".."));
        }
    }
});
