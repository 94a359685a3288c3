//! Rust binaries built with cargo-auditable: the crates they were built from, OSV's
//! `crates.io` ecosystem.
//!
//! cargo-auditable embeds the dependency tree as zlib-compressed JSON in the binary's
//! `.dep-v0` section: `{"packages":[{"name":…,"version":…,"source":…,"kind":…,…},…]}`. The
//! layer walk streams the binary past a search for a zlib stream whose first inflated bytes
//! are [`DEP_INFO_START`] ([`dep_info_candidate`]), inflates only that stream and keeps the JSON
//! behind [`RUST_DEP_INFO_MAGIC`]; the section headers are not needed, and the binary is never
//! kept. [`parse_dep_info`] lists every runtime package (the root crate included; build
//! dependencies are not in the binary), as syft and Trivy do.

use serde::Deserialize;

use crate::inventory::corrupt;
use crate::inventory::language::{LanguageEcosystem, LanguagePackage};

/// What the inflated dependency information starts with.
pub const DEP_INFO_START: &[u8] = br#"{"packages":["#;

/// The start of the kept dependency information. The leading NUL keeps it from being
/// mistaken for any text file kept under the same name.
pub const RUST_DEP_INFO_MAGIC: &[u8] = b"\0drydock cargo-auditable\n";

/// The largest inflated dependency information read: cargo-auditable's own reader refuses
/// more than 8 MiB, and the largest real trees (a few thousand crates) are a few hundred KiB.
pub const MAX_DEP_INFO: usize = 8 << 20;

/// A zlib stream's two header bytes: deflate with a 32 KiB window (`0x78`), and a flags byte
/// that makes the pair a multiple of 31 without a preset dictionary.
pub const ZLIB_CMF: u8 = 0x78;

/// The zlib header check: `(CMF * 256 + FLG)` is a multiple of this.
const ZLIB_CHECK: u16 = 31;

/// Flag bit: a preset dictionary follows (cargo-auditable never uses one).
const ZLIB_FDICT: u8 = 0x20;

/// The zlib header's length.
pub const ZLIB_HEADER: usize = 2;

/// Whether `bytes` start with a zlib header cargo-auditable could have written.
pub fn is_zlib_header(bytes: &[u8]) -> bool {
    match bytes {
        [cmf, flg, ..] => {
            *cmf == ZLIB_CMF
                && flg & ZLIB_FDICT == 0
                && (u16::from(*cmf) * 256 + u16::from(*flg)) % ZLIB_CHECK == 0
        }
        _ => false,
    }
}

/// Whether the zlib stream at the start of `bytes` inflates to something starting with
/// [`DEP_INFO_START`]; `None` while `bytes` are too few to tell.
pub fn dep_info_candidate(bytes: &[u8]) -> Option<bool> {
    if bytes.len() <= ZLIB_HEADER {
        // Too short to tell, unless the first byte already rules it out.
        return match bytes {
            [first, ..] if *first != ZLIB_CMF => Some(false),
            [_, flg] if !is_zlib_header(&[ZLIB_CMF, *flg]) => Some(false),
            _ => None,
        };
    }
    if !is_zlib_header(bytes) {
        return Some(false);
    }
    let mut inflate = flate2::Decompress::new(false);
    let mut out = [0_u8; DEP_INFO_START.len()];
    let status = inflate.decompress(
        &bytes[ZLIB_HEADER..],
        &mut out,
        flate2::FlushDecompress::None,
    );
    let produced = usize::try_from(inflate.total_out()).unwrap_or(0);
    match status {
        Err(_) => Some(false),
        Ok(_) if !DEP_INFO_START.starts_with(&out[..produced]) => Some(false),
        Ok(_) if produced == out.len() => Some(true),
        Ok(flate2::Status::StreamEnd) => Some(false),
        Ok(_) => None,
    }
}

/// One package of the dependency information (fields Drydock reads).
#[derive(Debug, Deserialize)]
struct DepPackage {
    name: String,
    version: String,
    #[serde(default)]
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DepInfo {
    packages: Vec<DepPackage>,
}

/// The runtime crates of kept dependency information (after [`RUST_DEP_INFO_MAGIC`]).
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` when the blob is not dependency
/// information (the stream was cut, or the JSON is not cargo-auditable's).
pub fn parse_dep_info(input: &str, blob: &[u8]) -> crate::Result<Vec<LanguagePackage>> {
    let json = blob
        .strip_prefix(RUST_DEP_INFO_MAGIC)
        .ok_or_else(|| corrupt(input, 0, "not cargo-auditable dependency information"))?;
    let info: DepInfo = serde_json::from_slice(json).map_err(|e| {
        corrupt(
            input,
            0,
            format!("cargo-auditable dependency information not readable: {e}"),
        )
    })?;
    Ok(info
        .packages
        .into_iter()
        .filter(|p| p.kind.as_deref().is_none_or(|k| k == "runtime"))
        .filter(|p| !p.name.is_empty() && !p.version.is_empty())
        .map(|p| LanguagePackage {
            ecosystem: LanguageEcosystem::CratesIo,
            name: p.name,
            version: p.version,
            path: input.to_owned(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(bytes).unwrap();
        z.finish().unwrap()
    }

    const INFO: &str = r#"{"packages":[{"name":"app","version":"0.1.0","source":"local","dependencies":[1,2],"root":true},{"name":"itoa","version":"1.0.9","source":"crates.io"},{"name":"cc","version":"1.0.83","source":"crates.io","kind":"build"}]}"#;

    #[test]
    fn the_stream_is_recognised_from_its_first_bytes() {
        let stream = zlib(INFO.as_bytes());
        assert_eq!(dep_info_candidate(&stream), Some(true));
        assert_eq!(dep_info_candidate(&stream[..1]), None);
        assert_eq!(dep_info_candidate(&stream[..3]), None);
        assert_eq!(dep_info_candidate(b"\x78\x78"), Some(false));
        assert_eq!(dep_info_candidate(&zlib(b"{\"other\":1}")), Some(false));
        assert_eq!(dep_info_candidate(b"\x78\x9c\xff\xff\xff\xff"), Some(false));
        assert_eq!(dep_info_candidate(b"\x7fELF"), Some(false));
    }

    #[test]
    fn runtime_packages_are_listed_and_build_ones_are_not() {
        let mut blob = RUST_DEP_INFO_MAGIC.to_vec();
        blob.extend_from_slice(INFO.as_bytes());
        let got: Vec<(String, String)> = parse_dep_info("usr/bin/app", &blob)
            .unwrap()
            .into_iter()
            .map(|p| (p.name, p.version))
            .collect();
        assert_eq!(
            got,
            [
                ("app".to_owned(), "0.1.0".to_owned()),
                ("itoa".to_owned(), "1.0.9".to_owned())
            ]
        );
        blob.truncate(40);
        let err = parse_dep_info("usr/bin/app", &blob).unwrap_err();
        assert!(err.to_string().contains("usr/bin/app"), "{err}");
    }
}
