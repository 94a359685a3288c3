//! NDB rpmdbs (`Packages.db`) only: the slot and blob reader and the headers in the blobs.
//! Never a panic, whatever the slots say; a well-formed file fails, if at all, only on a blob
//! that is no rpm header, naming the package.
#![no_main]

use drydock_vuln::inventory::rpm::read_ndb_headers;
use libfuzzer_sys::fuzz_target;

/// NDB's slot page size, slot size and block size (rpm's `lib/backend/ndb/rpmpkg.c`).
const PAGE: usize = 4096;
const SLOT: usize = 16;
const BLOCK: usize = 16;
/// The file header's size (the first two slots of page 0).
const HEADER: usize = 32;
/// A blob's head (magic, package index, generation, length) and tail (checksum, length, magic).
const BLOB_HEAD: usize = 16;
const BLOB_TAIL: usize = 12;

/// The 32-byte file header: magic, version 0, generation 1, `pages` slot pages.
fn header(pages: usize) -> Vec<u8> {
    let mut header = b"RpmP".to_vec();
    for word in [0, 1, u32::try_from(pages).unwrap_or(u32::MAX), 1] {
        header.extend_from_slice(&word.to_le_bytes());
    }
    header.resize(HEADER, 0);
    header
}

/// A free slot: the slot magic and zeros.
fn free_slot() -> [u8; SLOT] {
    let mut slot = [0; SLOT];
    slot[..4].copy_from_slice(b"Slot");
    slot
}

/// Adler-32 (RFC 1950), written plainly: fuzz inputs are small.
fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1_u32, 0_u32);
    for byte in bytes {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// `data` as blobs: each a little-endian u16 length and that many bytes (the last one cut
/// short where the data ends).
fn split(mut data: &[u8]) -> Vec<&[u8]> {
    let mut blobs = Vec::new();
    while let [lo, hi, rest @ ..] = data {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(rest.len());
        blobs.push(&rest[..len]);
        data = &rest[len..];
    }
    blobs
}

/// An NDB file as rpm writes it, holding `blobs` as packages 1, 2, ...
fn ndb_file(blobs: &[&[u8]]) -> Vec<u8> {
    let pages = (HEADER + blobs.len() * SLOT).div_ceil(PAGE);
    let mut file = header(pages);
    while file.len() < pages * PAGE {
        file.extend_from_slice(&free_slot());
    }
    for (n, blob) in blobs.iter().enumerate() {
        let start = file.len();
        let blocks = (BLOB_HEAD + blob.len() + BLOB_TAIL).div_ceil(BLOCK);
        let words = |pkgidx: usize, a: usize, b: usize| {
            [pkgidx, a, b].map(|w| u32::try_from(w).unwrap_or(u32::MAX).to_le_bytes())
        };
        file.extend_from_slice(b"BlbS");
        for word in words(n + 1, 1, blob.len()) {
            file.extend_from_slice(&word);
        }
        file.extend_from_slice(blob);
        file.resize(start + blocks * BLOCK - BLOB_TAIL, 0);
        let sum = adler32(&file[start..]);
        file.extend_from_slice(&sum.to_le_bytes());
        file.extend_from_slice(&words(blob.len(), 0, 0)[0]);
        file.extend_from_slice(b"BlbE");
        let slot = HEADER + n * SLOT + 4;
        for (i, word) in words(n + 1, start / BLOCK, blocks).iter().enumerate() {
            file[slot + 4 * i..slot + 4 * i + 4].copy_from_slice(word);
        }
    }
    file
}

fuzz_target!(|data: &[u8]| {
    // As it is, whatever it says.
    let _ = read_ndb_headers("Packages.db", data);

    // Behind a valid file header, padded with free slots to one slot page and to whole blocks,
    // so the fuzzer works on the slots and blobs.
    let mut file = header(1);
    file.extend_from_slice(data);
    file.resize(file.len().next_multiple_of(BLOCK), 0);
    while file.len() < PAGE {
        file.extend_from_slice(&free_slot());
    }
    let _ = read_ndb_headers("Packages.db", &file);

    // A well-formed file of the blobs `data` spells: every blob is read, or the error names the
    // package whose blob is no rpm header.
    let blobs = split(data);
    match read_ndb_headers("Packages.db", &ndb_file(&blobs)) {
        Ok(headers) => assert_eq!(headers.len(), blobs.len()),
        Err(error) => assert!(
            error.to_string().contains("Packages.db (package "),
            "{error}"
        ),
    }
});
