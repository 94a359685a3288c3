//! Exclusion files: any bytes give a set of patterns or an error naming the file, never a
//! panic; a parsed set can be matched against an image.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut set = drydock_cri::ExclusionSet::default();
    if drydock_cleaner::exclusions::parse_file(text, std::path::Path::new("fuzz.json"), &mut set).is_ok() {
        let image = drydock_cri::ImageRecord {
            id: "sha256:1111111111111111111111111111111111111111111111111111111111111111".into(),
            repo_tags: vec!["docker.io/library/nginx:latest".into(), "myreg:5000/app:v1".into()],
            repo_digests: vec!["docker.io/library/nginx@sha256:2222222222222222222222222222222222222222222222222222222222222222".into()],
            ..Default::default()
        };
        let _ = set.matching(&image);
    }
});
