//! Image references: any text parses or errors, never panics, and a parsed reference's normal
//! form parses to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(reference) = drydock_cri::Reference::parse(text)
    {
        let normal = reference.to_string();
        let again = drydock_cri::Reference::parse(&normal).expect("a normal form parses");
        assert_eq!(again.to_string(), normal);
    }
});
