//! Java archives only (the `language_metadata` target also covers them, among other formats):
//! the zip reader that makes a metadata blob from a JAR, and the parser of such blobs. Never a
//! panic; a blob the reader made always carries the blob magic, and every package read is a
//! `group:artifact` with a version, every refusal names the archive.
#![no_main]

use drydock_vuln::inventory::java::{
    JAVA_METADATA_MAGIC, ZIP_MAGIC, archive_metadata, parse_archive_metadata,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Inputs are tried as they are and behind a zip signature; a metadata blob as kept from
    // a layer is tried too.
    let mut zip = ZIP_MAGIC.to_vec();
    zip.extend_from_slice(data);
    let mut blobs: Vec<Vec<u8>> = [data, &zip[..]]
        .into_iter()
        .filter_map(archive_metadata)
        .inspect(|blob| assert!(blob.starts_with(JAVA_METADATA_MAGIC)))
        .collect();
    let mut kept = JAVA_METADATA_MAGIC.to_vec();
    kept.extend_from_slice(data);
    blobs.push(kept);
    for blob in &blobs {
        match parse_archive_metadata("app/lib/app.jar", blob) {
            Ok(packages) => assert!(
                packages
                    .iter()
                    .all(|p| p.name.contains(':') && !p.version.is_empty())
            ),
            Err(error) => assert!(error.to_string().contains("app/lib/app.jar"), "{error}"),
        }
    }
});
