//! Version parsers and comparators of every scheme over two fuzzed strings: never a panic, and
//! comparison is antisymmetric.
#![no_main]

use drydock_vuln::VersionScheme;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str)| {
    let (a, b) = input;
    for scheme in [
        VersionScheme::Dpkg,
        VersionScheme::Rpm,
        VersionScheme::Apk,
        VersionScheme::Maven,
    ] {
        if let (Ok(ab), Ok(ba)) = (scheme.compare(a, b), scheme.compare(b, a)) {
            assert_eq!(ab, ba.reverse(), "{scheme}: {a:?} vs {b:?}");
        }
    }
});
