//! Pipe payloads (`collectScan`, `scanErase`): decode or error, and re-encoding what decoded
//! decodes to the same images.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(images) = drydock_api::pipe::decode(data, "fuzz") {
        let bytes = drydock_api::pipe::encode(&images).expect("encoding strings cannot fail");
        assert_eq!(drydock_api::pipe::decode(&bytes, "fuzz").expect("round trip"), images);
    }
});
