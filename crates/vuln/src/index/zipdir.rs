//! A compact zip central directory: per entry only where its local header starts and how many
//! compressed bytes follow (24 bytes an entry), so that reading a dump of 60,000 records does
//! not hold the zip crate's full per-entry metadata (~250 bytes an entry) while the index is
//! built. Entries are then read one at a time with the zip crate's stream reader, given the
//! compressed size (OSV's dumps are written by Go's zip writer, whose data descriptors leave
//! the size out of the local header).
//!
//! Reads the end-of-central-directory record (and its zip64 form), then each central header;
//! anything inconsistent is an error naming the zip, never a panic.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

/// Signatures (little-endian on disk).
const EOCD_SIGNATURE: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIGNATURE: u32 = 0x0606_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
/// Fixed part of the end-of-central-directory record.
const EOCD_LEN: u64 = 22;
/// The longest zip comment, after which the EOCD record must have been found.
const MAX_COMMENT: u64 = 65_535;
/// Fixed part of a zip64 end-of-central-directory locator and record.
const ZIP64_LOCATOR_LEN: u64 = 20;
const ZIP64_EOCD_LEN: usize = 56;
/// Fixed part of a central directory header.
const CENTRAL_LEN: usize = 46;
/// The zip64 extended-information extra field.
const ZIP64_EXTRA_ID: u16 = 0x0001;
/// A 32-bit field saying "see the zip64 extra field".
const MAX_U32: u32 = u32::MAX;
const MAX_U16: u16 = u16::MAX;

/// One entry: where its local header starts, its compressed size and its CRC-32 (which a
/// local header followed by a data descriptor leaves at 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) offset: u64,
    pub(crate) compressed: u64,
    pub(crate) crc: u32,
}

/// Reads the central directory of `file` (`len` bytes long) into offsets and sizes.
pub(crate) fn read(file: &mut File, len: u64) -> Result<Vec<Entry>, String> {
    let tail_len = len.min(EOCD_LEN + MAX_COMMENT);
    let mut tail = vec![0_u8; usize::try_from(tail_len).map_err(|_| "too large")?];
    file.seek(SeekFrom::Start(len - tail_len))
        .map_err(|e| e.to_string())?;
    file.read_exact(&mut tail).map_err(|e| e.to_string())?;
    let at = (0..tail.len().saturating_sub(EOCD_LEN as usize - 1))
        .rev()
        .find(|&i| u32_at(&tail, i) == Some(EOCD_SIGNATURE))
        .ok_or("no end-of-central-directory record")?;
    let eocd_pos = len - tail_len + at as u64;
    let field16 = |o: usize| u16_at(&tail, at + o).ok_or("truncated end record");
    let field32 = |o: usize| u32_at(&tail, at + o).ok_or("truncated end record");
    let mut count = u64::from(field16(10)?);
    let mut cd_size = u64::from(field32(12)?);
    let mut cd_offset = u64::from(field32(16)?);
    if count == u64::from(MAX_U16)
        || cd_size == u64::from(MAX_U32)
        || cd_offset == u64::from(MAX_U32)
    {
        let locator_pos = eocd_pos
            .checked_sub(ZIP64_LOCATOR_LEN)
            .ok_or("no zip64 locator")?;
        let locator = read_at(file, locator_pos, ZIP64_LOCATOR_LEN as usize)?;
        if u32_at(&locator, 0) != Some(ZIP64_LOCATOR_SIGNATURE) {
            return Err("no zip64 locator".to_owned());
        }
        let record_pos = u64_at(&locator, 8).ok_or("truncated zip64 locator")?;
        let record = read_at(file, record_pos, ZIP64_EOCD_LEN)?;
        if u32_at(&record, 0) != Some(ZIP64_EOCD_SIGNATURE) {
            return Err("bad zip64 end record".to_owned());
        }
        count = u64_at(&record, 32).ok_or("truncated zip64 end record")?;
        cd_size = u64_at(&record, 40).ok_or("truncated zip64 end record")?;
        cd_offset = u64_at(&record, 48).ok_or("truncated zip64 end record")?;
    }
    if cd_offset.checked_add(cd_size).is_none_or(|end| end > len) {
        return Err("central directory beyond the end of the file".to_owned());
    }
    // Each header is at least CENTRAL_LEN bytes: a count beyond that is a lie.
    if count > cd_size / CENTRAL_LEN as u64 {
        return Err(format!("{count} entries cannot fit in {cd_size} bytes"));
    }
    file.seek(SeekFrom::Start(cd_offset))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(Read::take(&mut *file, cd_size));
    let mut entries = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut header = [0_u8; CENTRAL_LEN];
    let mut variable = Vec::new();
    for n in 0..count {
        reader
            .read_exact(&mut header)
            .map_err(|e| format!("central header {n}: {e}"))?;
        if u32_at(&header, 0) != Some(CENTRAL_SIGNATURE) {
            return Err(format!("central header {n}: bad signature"));
        }
        let h16 = |o| u16_at(&header, o).map_or(0, usize::from);
        let h32 = |o| u32_at(&header, o).unwrap_or(0);
        let (name_len, extra_len, comment_len) = (h16(28), h16(30), h16(32));
        variable.resize(name_len + extra_len + comment_len, 0);
        reader
            .read_exact(&mut variable)
            .map_err(|e| format!("central header {n}: {e}"))?;
        let extra = &variable[name_len..name_len + extra_len];
        let (uncompressed, compressed, offset) = (h32(24), h32(20), h32(42));
        let mut zip64 = zip64_fields(extra).into_iter();
        // The zip64 field holds, in this order, only the values whose 32-bit field is full.
        if uncompressed == MAX_U32 {
            zip64.next();
        }
        let compressed = if compressed == MAX_U32 {
            zip64
                .next()
                .ok_or(format!("central header {n}: no zip64 size"))?
        } else {
            u64::from(compressed)
        };
        let offset = if offset == MAX_U32 {
            zip64
                .next()
                .ok_or(format!("central header {n}: no zip64 offset"))?
        } else {
            u64::from(offset)
        };
        entries.push(Entry {
            offset,
            compressed,
            crc: h32(16),
        });
    }
    Ok(entries)
}

/// The 64-bit values of the zip64 extra field, if any.
fn zip64_fields(mut extra: &[u8]) -> Vec<u64> {
    while let (Some(id), Some(size)) = (u16_at(extra, 0), u16_at(extra, 2)) {
        let size = usize::from(size);
        let Some(body) = extra.get(4..4 + size) else {
            break;
        };
        if id == ZIP64_EXTRA_ID {
            return body.chunks_exact(8).filter_map(|c| u64_at(c, 0)).collect();
        }
        extra = &extra[4 + size..];
    }
    Vec::new()
}

fn read_at(file: &mut File, pos: u64, len: usize) -> Result<Vec<u8>, String> {
    let mut bytes = vec![0_u8; len];
    file.seek(SeekFrom::Start(pos)).map_err(|e| e.to_string())?;
    file.read_exact(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_of(entries: &[(&str, &str)], options: zip::write::SimpleFileOptions) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, text) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    fn entries_of(bytes: &[u8]) -> Result<Vec<Entry>, String> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        read(&mut file, bytes.len() as u64)
    }

    #[test]
    fn offsets_and_sizes_match_the_zip_crates_including_zip64() {
        let names = [("a.json", "{\"id\":\"A\"}"), ("b.json", "{\"id\":\"B\"}")];
        for large in [false, true] {
            let options = zip::write::SimpleFileOptions::default().large_file(large);
            let bytes = zip_of(&names, options);
            let entries = entries_of(&bytes).unwrap();
            let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
            assert_eq!(entries.len(), 2);
            for (i, entry) in entries.iter().enumerate() {
                let file = archive.by_index(i).unwrap();
                assert_eq!(entry.offset, file.header_start(), "large={large}");
                assert_eq!(entry.compressed, file.compressed_size(), "large={large}");
                assert_eq!(entry.crc, file.crc32(), "large={large}");
            }
        }
    }

    #[test]
    fn garbage_and_truncated_zips_are_errors_not_panics() {
        let bytes = zip_of(
            &[("a.json", "{}")],
            zip::write::SimpleFileOptions::default(),
        );
        for cut in 0..bytes.len() {
            let _ = entries_of(&bytes[..cut]);
        }
        assert!(entries_of(b"not a zip").is_err());
        let mut lying = bytes.clone();
        let at = lying.len() - 12;
        lying[at..at + 2].copy_from_slice(&60_000_u16.to_le_bytes());
        assert!(
            entries_of(&lying).is_err(),
            "an entry count that cannot fit"
        );
    }
}
