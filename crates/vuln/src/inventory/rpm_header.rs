//! rpm package headers as rpm stores them in its databases: the `blob` of a sqlite rpmdb's
//! `Packages` row (and the value of a BDB/NDB record). The layout is rpm's `headerImport` input
//! without the lead or magic:
//!
//! ```text
//! be32 il | be32 dl | il × (be32 tag, be32 type, be32 offset, be32 count) | dl data bytes
//! ```
//!
//! Only the tags the inventory needs are decoded. Every length and offset is checked against the
//! blob before it is used; anything out of bounds is a [`crate::Error::CorruptPackageDb`] naming
//! the input, never a panic.

use super::corrupt;
use crate::Result;

/// Bytes of the two big-endian counts (`il`, `dl`) that start a header blob.
const PREAMBLE: usize = 8;
/// Bytes of one index entry (tag, type, offset, count; four big-endian u32).
const ENTRY_SIZE: usize = 16;
/// rpm's own bound on index entries per header (`HEADER_TAGS_MAX`, 0xffff).
const MAX_ENTRIES: usize = 0xffff;
/// rpm's own bound on a header's data store (`HEADER_DATA_MAX`, 256 MiB − 1).
const MAX_DATA: usize = 0x0fff_ffff;

/// Tag of the package name (`RPMTAG_NAME`).
const TAG_NAME: u32 = 1000;
/// Tag of the upstream version (`RPMTAG_VERSION`).
const TAG_VERSION: u32 = 1001;
/// Tag of the release (`RPMTAG_RELEASE`).
const TAG_RELEASE: u32 = 1002;
/// Tag of the epoch, an INT32 (`RPMTAG_EPOCH`).
const TAG_EPOCH: u32 = 1003;
/// Tag of the vendor (`RPMTAG_VENDOR`).
const TAG_VENDOR: u32 = 1011;
/// Tag of the architecture (`RPMTAG_ARCH`).
const TAG_ARCH: u32 = 1022;
/// Tag of the source rpm file name (`RPMTAG_SOURCERPM`).
const TAG_SOURCERPM: u32 = 1044;
/// Tag of the module stream label (`RPMTAG_MODULARITYLABEL`).
const TAG_MODULARITYLABEL: u32 = 5096;

/// rpm tag data type of a 32-bit integer (`RPM_INT32_TYPE`).
const TYPE_INT32: u32 = 4;
/// rpm tag data type of a NUL-terminated string (`RPM_STRING_TYPE`).
const TYPE_STRING: u32 = 6;
/// rpm tag data type of a string array (`RPM_STRING_ARRAY_TYPE`); the first string is used.
const TYPE_STRING_ARRAY: u32 = 8;
/// rpm tag data type of a translatable string (`RPM_I18NSTRING_TYPE`); the first one is used.
const TYPE_I18NSTRING: u32 = 9;

/// The fields of one installed rpm the inventory uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RpmHeader {
    /// `NAME`.
    pub name: String,
    /// `VERSION`.
    pub version: String,
    /// `RELEASE`.
    pub release: String,
    /// `EPOCH`, when the package has one.
    pub epoch: Option<u32>,
    /// `ARCH` (absent for `gpg-pubkey` pseudo-packages).
    pub arch: Option<String>,
    /// `SOURCERPM` (`openssl-3.0.7-24.el9.src.rpm`); absent for source packages and keys.
    pub source_rpm: Option<String>,
    /// `VENDOR`.
    pub vendor: Option<String>,
    /// `MODULARITYLABEL` (RHEL 8+ module streams).
    pub modularity_label: Option<String>,
}

/// Parses one header blob. `input` names it in errors (`var/lib/rpm/rpmdb.sqlite (hnum 12)`).
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] when the counts exceed rpm's bounds or disagree with the
/// blob's length, an entry points outside the data store, a needed string is not NUL-terminated
/// UTF-8, or `NAME`, `VERSION` or `RELEASE` is missing or empty.
pub fn parse_header(input: &str, blob: &[u8]) -> Result<RpmHeader> {
    let fail = |reason: String| corrupt(input, 0, reason);
    let (Some(il), Some(dl)) = (be32(blob, 0), be32(blob, 4)) else {
        return Err(fail(format!(
            "rpm header of {} bytes is shorter than its {PREAMBLE}-byte preamble",
            blob.len()
        )));
    };
    let (il, dl) = (il as usize, dl as usize);
    if il == 0 || il > MAX_ENTRIES {
        return Err(fail(format!(
            "rpm header claims {il} index entries (1..={MAX_ENTRIES} allowed)"
        )));
    }
    if dl > MAX_DATA {
        return Err(fail(format!(
            "rpm header claims {dl} data bytes (at most {MAX_DATA} allowed)"
        )));
    }
    let data_start = PREAMBLE + il * ENTRY_SIZE;
    if blob.len() != data_start + dl {
        return Err(fail(format!(
            "rpm header claims {il} entries and {dl} data bytes ({} in all), blob has {}",
            data_start + dl,
            blob.len()
        )));
    }
    let data = &blob[data_start..];
    let mut header = RpmHeader::default();
    let (mut name, mut version, mut release) = (None, None, None);
    for entry in blob[PREAMBLE..data_start].chunks_exact(ENTRY_SIZE) {
        let field = |at| be32(entry, at).unwrap_or_default();
        let (tag, kind, offset, count) = (field(0), field(4), field(8) as usize, field(12));
        let string = || read_string(data, tag, kind, offset, count).map_err(&fail);
        match tag {
            TAG_NAME => name = Some(string()?),
            TAG_VERSION => version = Some(string()?),
            TAG_RELEASE => release = Some(string()?),
            TAG_ARCH => header.arch = Some(string()?),
            TAG_SOURCERPM => header.source_rpm = Some(string()?),
            TAG_VENDOR => header.vendor = Some(string()?),
            TAG_MODULARITYLABEL => header.modularity_label = Some(string()?),
            TAG_EPOCH => {
                if kind != TYPE_INT32 || count == 0 {
                    return Err(fail(format!(
                        "rpm tag {tag} (EPOCH) has type {kind} and count {count}, expected INT32"
                    )));
                }
                header.epoch = Some(be32(data, offset).ok_or_else(|| {
                    fail(format!(
                        "rpm tag {tag} (EPOCH) at offset {offset} is outside the {dl}-byte data"
                    ))
                })?);
            }
            _ => {}
        }
    }
    let required = |value: Option<String>, what: &str| {
        value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| fail(format!("rpm header has no {what}")))
    };
    header.name = required(name, "NAME")?;
    header.version = required(version, "VERSION")?;
    header.release = required(release, "RELEASE")?;
    Ok(header)
}

/// The big-endian u32 at `at`, if the slice holds four bytes there.
fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let four: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(four))
}

/// The first string of a string-typed tag: from `offset` up to the next NUL, inside `data`.
fn read_string(
    data: &[u8],
    tag: u32,
    kind: u32,
    offset: usize,
    count: u32,
) -> std::result::Result<String, String> {
    if !matches!(kind, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) || count == 0 {
        return Err(format!(
            "rpm tag {tag} has type {kind} and count {count}, expected a string"
        ));
    }
    let rest = data
        .get(offset..)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            format!(
                "rpm tag {tag} at offset {offset} is outside the {}-byte data",
                data.len()
            )
        })?;
    let end = rest
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| format!("rpm tag {tag} string at offset {offset} is not NUL-terminated"))?;
    std::str::from_utf8(&rest[..end])
        .map(str::to_owned)
        .map_err(|_| format!("rpm tag {tag} string at offset {offset} is not UTF-8"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a header blob from (tag, type, data) entries, the way rpm lays them out.
    pub(crate) fn header_blob(entries: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, kind, bytes) in entries {
            if *kind == TYPE_INT32 {
                while data.len() % 4 != 0 {
                    data.push(0);
                }
            }
            for value in [*tag, *kind, data.len() as u32, 1] {
                index.extend_from_slice(&value.to_be_bytes());
            }
            data.extend_from_slice(bytes);
        }
        let mut blob = Vec::new();
        blob.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
        blob.extend(index);
        blob.extend(data);
        blob
    }

    /// A string entry.
    pub(crate) fn s(tag: u32, value: &str) -> (u32, u32, Vec<u8>) {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        (tag, TYPE_STRING, bytes)
    }

    /// An INT32 entry.
    pub(crate) fn int(tag: u32, value: u32) -> (u32, u32, Vec<u8>) {
        (tag, TYPE_INT32, value.to_be_bytes().to_vec())
    }

    #[test]
    fn a_header_yields_its_fields() {
        let blob = header_blob(&[
            s(TAG_NAME, "openssl-libs"),
            s(TAG_VERSION, "3.0.7"),
            s(TAG_RELEASE, "24.el9"),
            int(TAG_EPOCH, 1),
            s(TAG_ARCH, "x86_64"),
            s(TAG_SOURCERPM, "openssl-3.0.7-24.el9.src.rpm"),
            s(TAG_VENDOR, "Red Hat, Inc."),
        ]);
        let header = parse_header("db", &blob).unwrap();
        assert_eq!(header.name, "openssl-libs");
        assert_eq!(header.version, "3.0.7");
        assert_eq!(header.release, "24.el9");
        assert_eq!(header.epoch, Some(1));
        assert_eq!(header.arch.as_deref(), Some("x86_64"));
        assert_eq!(
            header.source_rpm.as_deref(),
            Some("openssl-3.0.7-24.el9.src.rpm")
        );
        assert_eq!(header.vendor.as_deref(), Some("Red Hat, Inc."));
        assert_eq!(header.modularity_label, None);
    }

    #[test]
    fn garbage_is_rejected_with_the_input_name() {
        let good = header_blob(&[s(TAG_NAME, "a"), s(TAG_VERSION, "1"), s(TAG_RELEASE, "1")]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0, 0, 0], "preamble"),
            (vec![0xff; 8], "index entries"),
            (good[..good.len() - 1].to_vec(), "blob has"),
            (
                header_blob(&[s(TAG_NAME, "a"), s(TAG_VERSION, "1")]),
                "no RELEASE",
            ),
            (
                header_blob(&[(TAG_NAME, TYPE_STRING, b"abc".to_vec())]),
                "not NUL-terminated",
            ),
            (
                header_blob(&[(TAG_NAME, TYPE_INT32, vec![0; 4])]),
                "expected a string",
            ),
            (
                header_blob(&[(TAG_EPOCH, TYPE_STRING, b"1\0".to_vec())]),
                "expected INT32",
            ),
        ];
        for (blob, expected) in cases {
            let err = parse_header("rpmdb.sqlite (hnum 7)", &blob)
                .unwrap_err()
                .to_string();
            assert!(err.contains("rpmdb.sqlite (hnum 7)"), "{err}");
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn offsets_past_the_data_store_are_rejected() {
        let mut blob = header_blob(&[s(TAG_NAME, "a"), s(TAG_VERSION, "1"), s(TAG_RELEASE, "1")]);
        // Point NAME's offset (bytes 16..20 of the blob) far outside the data.
        blob[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        let err = parse_header("db", &blob).unwrap_err().to_string();
        assert!(err.contains("outside"), "{err}");
    }
}
