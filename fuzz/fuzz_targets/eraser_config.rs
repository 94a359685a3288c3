//! EraserConfig files (and Go durations inside them): parse or error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = drydock_api::config::parse(text, "fuzz");
        let _ = text.parse::<drydock_api::GoDuration>();
    }
});
