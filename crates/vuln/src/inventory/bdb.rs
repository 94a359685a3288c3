//! A bounded reader for the Berkeley DB hash database rpm keeps its installed headers in
//! (`var/lib/rpm/Packages` on RHEL/CentOS ≤ 8, Amazon Linux 2, Oracle Linux ≤ 8).
//!
//! Only the values are needed (each is one rpm header blob), and their order does not matter,
//! so the reader walks the file's pages in order instead of the hash table: every hash page's
//! data items are either stored on the page (`H_KEYDATA`) or on a chain of overflow pages
//! (`H_OFFPAGE`, how rpm's headers, larger than a quarter page, are stored). Layouts follow
//! Berkeley DB's on-disk format (`dbinc/db_page.h`): a 72-byte metadata header on page 0, then
//! 26-byte page headers, item offsets after them, items stored from the page's end down.
//!
//! Everything is bounded: the page size must be one Berkeley DB allows, page numbers must lie
//! inside the file, an overflow chain may not be longer than the file has pages (a cycle ends
//! there) nor yield more than its declared length. Big-endian files (written on s390x or
//! POWER hosts) are refused by name.

use crate::inventory::corrupt;

/// The hash access method's magic number, at [`MAGIC_OFFSET`] of page 0.
const HASH_MAGIC: u32 = 0x0006_1561;

/// Offsets in the metadata page: magic, page size, page type, last page number.
const MAGIC_OFFSET: usize = 12;
const PAGE_SIZE_OFFSET: usize = 20;
const META_TYPE_OFFSET: usize = 25;
const LAST_PGNO_OFFSET: usize = 32;

/// Offsets in a page header: next page, entry count, free-area offset (for overflow pages:
/// the bytes used), page type; then the header's size.
const NEXT_PGNO_OFFSET: usize = 16;
const ENTRIES_OFFSET: usize = 20;
const HF_OFFSET_OFFSET: usize = 22;
const TYPE_OFFSET: usize = 25;
const PAGE_HEADER: usize = 26;

/// Page types (`P_*`).
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;

/// Hash item types (`H_*`), the first byte of an item.
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;

/// An `H_OFFPAGE` item: type, 3 unused bytes, first overflow page, total length.
const OFFPAGE_ITEM: usize = 12;
const OFFPAGE_PGNO: usize = 4;
const OFFPAGE_TLEN: usize = 8;

/// Page sizes Berkeley DB allows: powers of two from 512 B to 64 KiB.
const MIN_PAGE_SIZE: usize = 512;
const MAX_PAGE_SIZE: usize = 64 << 10;

/// The largest value read: rpm refuses headers over 256 MiB (`HEADER_DATA_MAX`), and no real
/// one comes near 16 MiB.
const MAX_VALUE: usize = 16 << 20;

/// The values (rpm header blobs) of a little-endian Berkeley DB hash database, in page order.
///
/// # Errors
///
/// [`crate::Error::CorruptPackageDb`] naming `input` (and the page) when the file is not a
/// hash database, is big-endian, or has a page, item or overflow chain that does not fit.
pub fn hash_values(input: &str, bytes: &[u8]) -> crate::Result<Vec<Vec<u8>>> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    match u32_at(MAGIC_OFFSET) {
        Some(HASH_MAGIC) => {}
        Some(m) if m.swap_bytes() == HASH_MAGIC => {
            return Err(corrupt(input, 0, "big-endian Berkeley DB is not supported"));
        }
        _ => return Err(corrupt(input, 0, "not a Berkeley DB hash database")),
    }
    let page_size = u32_at(PAGE_SIZE_OFFSET)
        .and_then(|s| usize::try_from(s).ok())
        .filter(|s| s.is_power_of_two() && (MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(s))
        .ok_or_else(|| corrupt(input, 0, "Berkeley DB page size out of range"))?;
    if bytes.get(META_TYPE_OFFSET) != Some(&P_HASHMETA) {
        return Err(corrupt(input, 0, "page 0 is not a hash metadata page"));
    }
    let pages = bytes.len() / page_size;
    let last = u32_at(LAST_PGNO_OFFSET)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n < pages)
        .ok_or_else(|| corrupt(input, 0, "Berkeley DB shorter than its last page"))?;
    let db = Db {
        input,
        bytes,
        page_size,
        pages: last + 1,
    };
    let mut values = Vec::new();
    for pgno in 1..=last {
        let page = db.page(pgno)?;
        if matches!(page[TYPE_OFFSET], P_HASH | P_HASH_UNSORTED) {
            db.page_values(pgno, page, &mut values)?;
        }
    }
    Ok(values)
}

/// The file, its page size and page count.
struct Db<'a> {
    input: &'a str,
    bytes: &'a [u8],
    page_size: usize,
    pages: usize,
}

// === impl Db ===

impl<'a> Db<'a> {
    fn fail(&self, pgno: usize, reason: &str) -> crate::Error {
        corrupt(self.input, 0, format!("Berkeley DB page {pgno}: {reason}"))
    }

    fn page(&self, pgno: usize) -> crate::Result<&'a [u8]> {
        if pgno >= self.pages {
            return Err(self.fail(pgno, "page number past the last page"));
        }
        let start = pgno * self.page_size;
        self.bytes
            .get(start..start + self.page_size)
            .ok_or_else(|| self.fail(pgno, "page past the end of the file"))
    }

    fn u16_at(page: &[u8], at: usize) -> usize {
        usize::from(u16::from_le_bytes([page[at], page[at + 1]]))
    }

    fn u32_at(page: &[u8], at: usize) -> usize {
        let raw = u32::from_le_bytes([page[at], page[at + 1], page[at + 2], page[at + 3]]);
        usize::try_from(raw).unwrap_or(usize::MAX)
    }

    /// The data items (odd entries; even ones are keys) of one hash page.
    fn page_values(&self, pgno: usize, page: &[u8], out: &mut Vec<Vec<u8>>) -> crate::Result<()> {
        let entries = Self::u16_at(page, ENTRIES_OFFSET);
        if PAGE_HEADER + 2 * entries > self.page_size {
            return Err(self.fail(pgno, "more entries than the page holds"));
        }
        let offset = |i: usize| Self::u16_at(page, PAGE_HEADER + 2 * i);
        for i in (1..entries).step_by(2) {
            let start = offset(i);
            // Items are stored from the page's end down: each ends where the previous begins.
            let end = offset(i - 1);
            if start < PAGE_HEADER + 2 * entries || start >= end || end > self.page_size {
                return Err(self.fail(pgno, "item outside the page"));
            }
            let item = &page[start..end];
            match item[0] {
                H_KEYDATA => out.push(item[1..].to_vec()),
                H_OFFPAGE if item.len() >= OFFPAGE_ITEM => {
                    let first = Self::u32_at(item, OFFPAGE_PGNO);
                    let len = Self::u32_at(item, OFFPAGE_TLEN);
                    out.push(self.overflow(first, len)?);
                }
                _ => return Err(self.fail(pgno, "unknown or short hash item")),
            }
        }
        Ok(())
    }

    /// Reads `len` bytes from the overflow chain starting at `pgno`.
    fn overflow(&self, mut pgno: usize, len: usize) -> crate::Result<Vec<u8>> {
        if len > MAX_VALUE {
            return Err(self.fail(pgno, "overflow item larger than the bound"));
        }
        let mut value = Vec::with_capacity(len);
        for _ in 0..self.pages {
            let page = self.page(pgno)?;
            if page[TYPE_OFFSET] != P_OVERFLOW {
                return Err(self.fail(pgno, "overflow chain reaches a page of another type"));
            }
            let used = Self::u16_at(page, HF_OFFSET_OFFSET);
            let data = page
                .get(PAGE_HEADER..PAGE_HEADER + used)
                .ok_or_else(|| self.fail(pgno, "overflow length past the page"))?;
            value.extend_from_slice(data);
            if value.len() > len {
                return Err(self.fail(pgno, "overflow chain longer than its item"));
            }
            let next = Self::u32_at(page, NEXT_PGNO_OFFSET);
            if next == 0 {
                return if value.len() == len {
                    Ok(value)
                } else {
                    Err(self.fail(pgno, "overflow chain shorter than its item"))
                };
            }
            pgno = next;
        }
        Err(self.fail(pgno, "overflow chain loops"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_naming_the_input() {
        let mut meta = vec![0_u8; 4096];
        for bytes in [vec![], vec![0; 100], meta.clone()] {
            let err = hash_values("var/lib/rpm/Packages", &bytes).unwrap_err();
            assert!(err.to_string().contains("var/lib/rpm/Packages"), "{err}");
        }
        meta[MAGIC_OFFSET..MAGIC_OFFSET + 4].copy_from_slice(&HASH_MAGIC.to_be_bytes());
        let err = hash_values("P", &meta).unwrap_err();
        assert!(err.to_string().contains("big-endian"), "{err}");
        meta[MAGIC_OFFSET..MAGIC_OFFSET + 4].copy_from_slice(&HASH_MAGIC.to_le_bytes());
        meta[PAGE_SIZE_OFFSET..PAGE_SIZE_OFFSET + 4].copy_from_slice(&1000_u32.to_le_bytes());
        let err = hash_values("P", &meta).unwrap_err();
        assert!(err.to_string().contains("page size"), "{err}");
    }
}
