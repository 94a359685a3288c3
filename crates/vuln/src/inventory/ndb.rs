//! A bounded reader for rpm's NDB package database (`Packages.db`, SUSE and openSUSE's rpmdb
//! since 2021), the format of rpm's `lib/backend/ndb/rpmpkg.c`. Every integer is little-endian:
//!
//! ```text
//! header (32 B, in slot page 0): "RpmP" | version 0 | generation | slot page count | next index
//! slot pages (4 KiB each):       16-byte slots "Slot" | package index | block offset | blocks
//! blobs (16-byte blocks):        "BlbS" | package index | generation | length
//!                                | header blob | zero padding | adler32 | length | "BlbE"
//! ```
//!
//! A slot whose block offset is 0 is free. Each used slot points at one blob past the slot
//! pages; the blob's header blob is the rpm header [`super::rpm_header`] parses. Blobs are
//! returned in file order, as rpm lists them.
//!
//! Everything is checked against the file before it is read: the slot pages must lie in it,
//! every used slot's blocks must too, start after the slot pages and not overlap another's
//! (so the blobs together are never longer than the file), the blob's head and tail must agree
//! with the slot and each other, and its Adler-32 checksum must match (rpm's `--verifydb`
//! check; a flipped byte in a header is corruption, not a different package).

use crate::inventory::corrupt;

/// The file's magic, at offset 0.
const MAGIC: &[u8; 4] = b"RpmP";
/// The only format version rpm writes (`PKGDB_VERSION`).
const VERSION: u32 = 0;
/// Offsets in the file header: format version, number of slot pages.
const VERSION_OFFSET: usize = 4;
const SLOT_PAGES_OFFSET: usize = 12;
/// The file header's size: it takes the first two slots of slot page 0.
const HEADER_SIZE: usize = 32;

/// Size of a slot page (`PAGE_SIZE` in rpmpkg.c, fixed whatever the host's page size).
const PAGE_SIZE: usize = 4096;
/// Size of one slot: magic, package index, block offset, block count.
const SLOT_SIZE: usize = 16;
/// Every slot starts with this magic, used or free.
const SLOT_MAGIC: &[u8; 4] = b"Slot";
/// Offsets in a slot: package index, block offset, block count.
const SLOT_PKGIDX: usize = 4;
const SLOT_BLKOFF: usize = 8;
const SLOT_BLKCNT: usize = 12;

/// Blobs are allocated in 16-byte blocks; slots count in blocks.
const BLOCK_SIZE: usize = 16;
/// A blob's head: magic, package index, generation, header blob length.
const BLOB_HEAD: usize = 16;
const BLOB_HEAD_MAGIC: &[u8; 4] = b"BlbS";
const BLOB_HEAD_PKGIDX: usize = 4;
const BLOB_HEAD_LENGTH: usize = 12;
/// A blob's tail, after the padding: Adler-32 of everything before it, length, magic.
const BLOB_TAIL: usize = 12;
const BLOB_TAIL_LENGTH: usize = 4;
const BLOB_TAIL_MAGIC: &[u8; 4] = b"BlbE";

/// The largest header blob read: rpm refuses headers over 256 MiB (`HEADER_DATA_MAX`), and no
/// real one comes near 16 MiB.
const MAX_BLOB: usize = 16 << 20;

/// Adler-32's modulus (RFC 1950).
const ADLER_MOD: u32 = 65_521;
/// The most bytes Adler-32's sums take before they must be reduced to stay within a u32
/// (RFC 1950's NMAX).
const ADLER_NMAX: usize = 5552;

/// One package's header blob and the index rpm numbers it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdbBlob<'a> {
    /// rpm's package index (its `hnum`), unique in the database.
    pub pkgidx: u32,
    /// The rpm header blob ([`super::rpm_header::parse_header`]'s input).
    pub blob: &'a [u8],
}

/// A used slot: the package index and the blob's first block and block count.
#[derive(Debug, Clone, Copy)]
struct Slot {
    number: usize,
    pkgidx: u32,
    blkoff: usize,
    blkcnt: usize,
}

/// The header blobs of an NDB `Packages.db`, in file order.
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` (and the slot or package) when the file
/// header, a slot or a blob is not what rpm writes, lies outside the file, overlaps another
/// blob or fails its checksum.
pub fn package_blobs<'a>(input: &str, bytes: &'a [u8]) -> crate::Result<Vec<NdbBlob<'a>>> {
    let fail = |reason: String| corrupt(input, 0, format!("NDB {reason}"));
    if bytes.len() < HEADER_SIZE || !bytes.starts_with(MAGIC) {
        return Err(fail("file header missing".to_owned()));
    }
    let version = u32_at(bytes, VERSION_OFFSET);
    if version != VERSION {
        return Err(fail(format!(
            "format version {version}, expected {VERSION}"
        )));
    }
    // rpm itself refuses a file that does not end on a block boundary.
    if !bytes.len().is_multiple_of(BLOCK_SIZE) {
        return Err(fail(format!(
            "file length {} is not a whole number of {BLOCK_SIZE}-byte blocks",
            bytes.len()
        )));
    }
    let slot_pages = usize::try_from(u32_at(bytes, SLOT_PAGES_OFFSET)).unwrap_or(usize::MAX);
    let slots_end = slot_pages
        .checked_mul(PAGE_SIZE)
        .filter(|end| slot_pages > 0 && *end <= bytes.len())
        .ok_or_else(|| fail(format!("{slot_pages} slot pages do not fit in the file")))?;
    let mut slots = Vec::new();
    for (number, slot) in bytes[..slots_end]
        .chunks_exact(SLOT_SIZE)
        .enumerate()
        .skip(HEADER_SIZE / SLOT_SIZE)
    {
        if !slot.starts_with(SLOT_MAGIC) {
            return Err(fail(format!("slot {number}: bad magic")));
        }
        let blkoff = to_usize(u32_at(slot, SLOT_BLKOFF));
        if blkoff == 0 {
            continue;
        }
        let (pkgidx, blkcnt) = (
            u32_at(slot, SLOT_PKGIDX),
            to_usize(u32_at(slot, SLOT_BLKCNT)),
        );
        if pkgidx == 0 || blkcnt == 0 {
            return Err(fail(format!("slot {number}: zero package index or length")));
        }
        let in_file = blkoff
            .checked_add(blkcnt)
            .and_then(|end| end.checked_mul(BLOCK_SIZE))
            .is_some_and(|end| end <= bytes.len());
        if !in_file || blkoff * BLOCK_SIZE < slots_end {
            return Err(fail(format!(
                "slot {number}: blocks {blkoff}+{blkcnt} outside the blob area"
            )));
        }
        slots.push(Slot {
            number,
            pkgidx,
            blkoff,
            blkcnt,
        });
    }
    slots.sort_unstable_by_key(|slot| slot.blkoff);
    for pair in slots.windows(2) {
        if pair[0].blkoff + pair[0].blkcnt > pair[1].blkoff {
            return Err(fail(format!(
                "slots {} and {} overlap",
                pair[0].number, pair[1].number
            )));
        }
    }
    let mut indexes: Vec<u32> = slots.iter().map(|slot| slot.pkgidx).collect();
    indexes.sort_unstable();
    if let Some(pair) = indexes.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(fail(format!("two slots for package {}", pair[0])));
    }
    slots
        .iter()
        .map(|slot| {
            let area = &bytes[slot.blkoff * BLOCK_SIZE..(slot.blkoff + slot.blkcnt) * BLOCK_SIZE];
            blob_of(area, slot.pkgidx)
                .map(|blob| NdbBlob {
                    pkgidx: slot.pkgidx,
                    blob,
                })
                .map_err(|reason| fail(format!("package {}: {reason}", slot.pkgidx)))
        })
        .collect()
}

/// The header blob in a slot's blocks, checked against its head, tail and checksum.
fn blob_of(area: &[u8], pkgidx: u32) -> Result<&[u8], String> {
    if area.len() < BLOB_HEAD + BLOB_TAIL || !area.starts_with(BLOB_HEAD_MAGIC) {
        return Err("blob head missing".to_owned());
    }
    let owner = u32_at(area, BLOB_HEAD_PKGIDX);
    if owner != pkgidx {
        return Err(format!("blob belongs to package {owner}"));
    }
    let length = to_usize(u32_at(area, BLOB_HEAD_LENGTH));
    if length > MAX_BLOB {
        return Err(format!("blob of {length} bytes exceeds {MAX_BLOB}"));
    }
    if (BLOB_HEAD + length + BLOB_TAIL).div_ceil(BLOCK_SIZE) * BLOCK_SIZE != area.len() {
        return Err(format!(
            "blob of {length} bytes does not fill its {} blocks",
            area.len() / BLOCK_SIZE
        ));
    }
    let (body, tail) = area.split_at(area.len() - BLOB_TAIL);
    if !tail.ends_with(BLOB_TAIL_MAGIC) || to_usize(u32_at(tail, BLOB_TAIL_LENGTH)) != length {
        return Err("blob tail does not match its head".to_owned());
    }
    if adler32(body) != u32_at(tail, 0) {
        return Err("blob checksum mismatch".to_owned());
    }
    Ok(&body[BLOB_HEAD..BLOB_HEAD + length])
}

/// The little-endian u32 at `at`; callers have checked `at + 4 <= bytes.len()`.
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

/// A u32 as usize (lossless on the 32- and 64-bit targets this crate builds for).
fn to_usize(value: u32) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// Adler-32 (RFC 1950) of `bytes`, as rpm checksums its blobs.
fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1_u32, 0_u32);
    for chunk in bytes.chunks(ADLER_NMAX) {
        for byte in chunk {
            a += u32::from(*byte);
            b += a;
        }
        a %= ADLER_MOD;
        b %= ADLER_MOD;
    }
    (b << 16) | a
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An NDB file with one slot page and one blob per entry of `blobs` (package indexes from
    /// 1), laid out as rpm writes them.
    pub(crate) fn ndb_file(blobs: &[&[u8]]) -> Vec<u8> {
        let mut file = vec![0_u8; PAGE_SIZE];
        file[..4].copy_from_slice(MAGIC);
        file[SLOT_PAGES_OFFSET..SLOT_PAGES_OFFSET + 4].copy_from_slice(&1_u32.to_le_bytes());
        for slot in file[HEADER_SIZE..].chunks_exact_mut(SLOT_SIZE) {
            slot[..4].copy_from_slice(SLOT_MAGIC);
        }
        for (n, blob) in blobs.iter().enumerate() {
            let pkgidx = u32::try_from(n + 1).unwrap();
            let start = file.len();
            let blocks = (BLOB_HEAD + blob.len() + BLOB_TAIL).div_ceil(BLOCK_SIZE);
            let len = u32::try_from(blob.len()).unwrap();
            file.extend_from_slice(BLOB_HEAD_MAGIC);
            file.extend_from_slice(&pkgidx.to_le_bytes());
            file.extend_from_slice(&1_u32.to_le_bytes());
            file.extend_from_slice(&len.to_le_bytes());
            file.extend_from_slice(blob);
            file.resize(start + blocks * BLOCK_SIZE - BLOB_TAIL, 0);
            let sum = adler32(&file[start..]);
            file.extend_from_slice(&sum.to_le_bytes());
            file.extend_from_slice(&len.to_le_bytes());
            file.extend_from_slice(BLOB_TAIL_MAGIC);
            let slot = HEADER_SIZE + n * SLOT_SIZE;
            let words = [
                pkgidx,
                u32::try_from(start / BLOCK_SIZE).unwrap(),
                u32::try_from(blocks).unwrap(),
            ];
            for (i, word) in words.iter().enumerate() {
                let at = slot + 4 + 4 * i;
                file[at..at + 4].copy_from_slice(&word.to_le_bytes());
            }
        }
        file
    }

    #[test]
    fn adler32_matches_rfc_1950_examples() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        // Past one NMAX chunk, where the sums must have been reduced.
        let long = vec![0xff_u8; 3 * ADLER_NMAX + 7];
        let (mut a, mut b) = (1_u64, 0_u64);
        for byte in &long {
            a = (a + u64::from(*byte)) % u64::from(ADLER_MOD);
            b = (b + a) % u64::from(ADLER_MOD);
        }
        assert_eq!(u64::from(adler32(&long)), (b << 16) | a);
    }

    #[test]
    fn blobs_come_back_in_file_order_with_their_indexes() {
        let file = ndb_file(&[b"first header", b"", b"third"]);
        let blobs = package_blobs("Packages.db", &file).unwrap();
        let got: Vec<(u32, &[u8])> = blobs.iter().map(|b| (b.pkgidx, b.blob)).collect();
        assert_eq!(
            got,
            [(1, &b"first header"[..]), (2, &b""[..]), (3, &b"third"[..])]
        );
    }

    #[test]
    fn an_empty_database_has_no_blobs() {
        assert_eq!(package_blobs("Packages.db", &ndb_file(&[])).unwrap(), []);
    }

    /// The error of `file`, which must fail, as text.
    fn error(file: &[u8]) -> String {
        let err = package_blobs("usr/lib/sysimage/rpm/Packages.db", file).unwrap_err();
        assert!(
            matches!(err, crate::Error::CorruptPackageDb { .. }),
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains("usr/lib/sysimage/rpm/Packages.db"), "{text}");
        text
    }

    #[test]
    fn every_inconsistency_is_corruption_naming_the_input() {
        let good = ndb_file(&[b"header one", b"header two"]);
        let slot0 = HEADER_SIZE;
        let blob0 = PAGE_SIZE;
        let mut cases: Vec<(Vec<u8>, &str)> = Vec::new();
        let mut with = |edit: &dyn Fn(&mut Vec<u8>), expect: &'static str| {
            let mut copy = good.clone();
            edit(&mut copy);
            cases.push((copy, expect));
        };
        with(&|f| f.truncate(20), "file header missing");
        with(&|f| f[VERSION_OFFSET] = 1, "format version 1");
        with(&|f| f.truncate(f.len() - 1), "whole number");
        with(&|f| f[SLOT_PAGES_OFFSET] = 0, "0 slot pages");
        with(&|f| f[SLOT_PAGES_OFFSET] = 9, "9 slot pages");
        with(
            &|f| f[SLOT_PAGES_OFFSET + 3] = 0xff,
            "slot pages do not fit",
        );
        with(&|f| f[slot0 + SLOT_SIZE * 7] = b'X', "slot 9: bad magic");
        with(
            &|f| f[slot0 + SLOT_PKGIDX..][..4].fill(0),
            "zero package index",
        );
        with(
            &|f| f[slot0 + SLOT_BLKCNT..][..4].fill(0),
            "zero package index or length",
        );
        with(
            &|f| f[slot0 + SLOT_BLKOFF..][..4].copy_from_slice(&5_u32.to_le_bytes()),
            "outside the blob area",
        );
        with(
            &|f| f[slot0 + SLOT_BLKCNT + 3] = 0xff,
            "outside the blob area",
        );
        with(&|f| f[slot0 + SLOT_BLKCNT] = 40, "outside the blob area");
        with(&|f| f[slot0 + SLOT_BLKCNT] += 1, "overlap");
        with(
            &|f| f[slot0 + SLOT_SIZE + SLOT_PKGIDX] = 1,
            "two slots for package 1",
        );
        with(&|f| f[blob0] = b'X', "package 1: blob head missing");
        with(&|f| f[blob0 + BLOB_HEAD_PKGIDX] = 7, "belongs to package 7");
        with(&|f| f[blob0 + BLOB_HEAD_LENGTH] = 40, "does not fill");
        with(&|f| f[blob0 + BLOB_HEAD_LENGTH + 3] = 0x7f, "exceeds");
        with(&|f| f[blob0 + BLOB_HEAD + 2] ^= 1, "checksum mismatch");
        with(
            &|f| f[blob0 + 3 * BLOCK_SIZE - 1] = b'X',
            "tail does not match",
        );
        for (file, expect) in &cases {
            let text = error(file);
            assert!(text.contains(expect), "expected {expect:?}: {text}");
        }
    }
}
