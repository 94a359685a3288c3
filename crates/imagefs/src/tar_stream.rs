//! A bounded, streaming tar reader. The `tar` crate decodes each 512-byte header (octal and
//! base-256 sizes, ustar prefixes, PAX records); this module drives the stream itself because
//! `tar::Archive` reads GNU long names and PAX headers into memory without a size bound, which a
//! hostile layer turns into a multi-gigabyte allocation from a few megabytes of gzip.
//!
//! End of archive follows Go's `archive/tar` (what containerd and Trivy use): a zero block, or a
//! clean end of input at a header boundary. Input ending inside a header or entry is
//! [`Error::Truncated`].

use std::io::{self, BufRead};

use crate::limits::MAX_EXTENDED_HEADER;
use crate::{Error, Limit, Result};

/// Size of a tar block.
pub(crate) const BLOCK: u64 = 512;
/// Offset of the checksum field in a header.
const CHECKSUM_OFFSET: usize = 148;
/// Length of the checksum field in a header.
const CHECKSUM_LEN: usize = 8;
/// Offset of the `isextended` flag in a GNU sparse extension block (21 entries of 24 bytes).
const GNU_EXT_SPARSE_FLAG: usize = 504;

/// Input a [`TarReader`] can read from: buffered, able to skip, and aware of its position.
pub(crate) trait TarInput: BufRead {
    /// Skips `n` bytes; an `UnexpectedEof` error when the input ends first.
    fn skip(&mut self, mut n: u64) -> io::Result<()> {
        while n > 0 {
            let available = self.fill_buf()?.len();
            if available == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let step = usize::try_from(n).map_or(available, |n| n.min(available));
            self.consume(step);
            n -= step as u64;
        }
        Ok(())
    }

    /// Bytes consumed so far.
    fn position(&self) -> u64;
}

/// The kind of a tar entry, as far as merging cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    HardLink,
    Symlink,
    Dir,
    /// A GNU or PAX sparse file: its stored bytes are not its content.
    Sparse,
    /// Devices, FIFOs and anything else: hides what lies below, has no content.
    Other,
}

/// One entry's metadata; its path and link target are read through [`TarReader::path`] and
/// [`TarReader::link`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub kind: Kind,
    /// Content size in bytes.
    pub size: u64,
    /// The permission bits and file-type bits of the header's mode field (0 when unreadable).
    pub mode: u32,
    /// Offset of the content in the input.
    pub offset: u64,
}

/// Streams entries out of a tar. Buffers are reused across entries.
pub(crate) struct TarReader<R> {
    input: R,
    max_entries: u64,
    entries: u64,
    /// Content bytes of the current entry not yet consumed, and its padding.
    remaining: u64,
    padding: u64,
    path: Vec<u8>,
    link: Vec<u8>,
    scratch: Vec<u8>,
}

/// Extended-header values waiting for the entry they describe.
#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    sparse: bool,
}

// === impl TarReader ===

impl<R: TarInput> TarReader<R> {
    pub(crate) fn new(input: R, max_entries: u64) -> Self {
        TarReader {
            input,
            max_entries,
            entries: 0,
            remaining: 0,
            padding: 0,
            path: Vec::new(),
            link: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Headers read so far, extension headers included.
    pub(crate) fn entries(&self) -> u64 {
        self.entries
    }

    /// The raw path of the current entry.
    pub(crate) fn path(&self) -> &[u8] {
        &self.path
    }

    /// The raw link target of the current entry (empty when none).
    pub(crate) fn link(&self) -> &[u8] {
        &self.link
    }

    pub(crate) fn into_inner(self) -> R {
        self.input
    }

    /// The next entry, or `None` at the end of the archive.
    pub(crate) fn next_entry(&mut self) -> Result<Option<Entry>> {
        self.skip_data()?;
        let mut pending = Pending::default();
        let mut header = [0u8; BLOCK as usize];
        loop {
            if !self.read_block(&mut header)? {
                if pending.path.is_some() || pending.link.is_some() || pending.size.is_some() {
                    return Err(truncated("extended header without the entry it describes"));
                }
                return Ok(None);
            }
            if header.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            self.entries += 1;
            if self.entries > self.max_entries {
                return Err(Error::limit(Limit::Entries, self.max_entries));
            }
            verify_checksum(&header)?;
            let h = tar::Header::from_byte_slice(&header);
            let size = h.entry_size().map_err(corrupt)?;
            let typeflag = header[156];
            match typeflag {
                b'L' => pending.path = Some(self.read_extended(size, true)?),
                b'K' => pending.link = Some(self.read_extended(size, true)?),
                b'x' => {
                    let data = self.read_extended(size, false)?;
                    apply_pax(&data, &mut pending)?;
                }
                b'g' => self.skip_padded(size)?,
                _ => return self.start_entry(&header, size, pending).map(Some),
            }
        }
    }

    fn start_entry(&mut self, header: &[u8; 512], size: u64, pending: Pending) -> Result<Entry> {
        let h = tar::Header::from_byte_slice(header);
        self.path.clear();
        match pending.path {
            Some(p) => self.path.extend_from_slice(&p),
            None => self.path.extend_from_slice(&h.path_bytes()),
        }
        self.link.clear();
        match pending.link {
            Some(l) => self.link.extend_from_slice(&l),
            None => {
                if let Some(l) = h.link_name_bytes() {
                    self.link.extend_from_slice(&l);
                }
            }
        }
        let size = pending.size.unwrap_or(size);
        let kind = match header[156] {
            b'0' | b'\0' | b'7' if pending.sparse => Kind::Sparse,
            b'0' | b'\0' | b'7' => Kind::File,
            b'1' => Kind::HardLink,
            b'2' => Kind::Symlink,
            b'5' => Kind::Dir,
            b'S' => {
                // Old GNU sparse: extension blocks follow the header when `isextended` is set.
                let mut extended = header[482] != 0;
                let mut block = [0u8; BLOCK as usize];
                while extended {
                    if !self.read_block(&mut block)? {
                        return Err(truncated("GNU sparse extension header"));
                    }
                    extended = block[GNU_EXT_SPARSE_FLAG] != 0;
                }
                Kind::Sparse
            }
            _ => Kind::Other,
        };
        // Links, directories, devices and FIFOs carry no content whatever their size field says
        // (Go's `isHeaderOnlyType`, GNU tar).
        let size = if matches!(header[156], b'1'..=b'6') {
            0
        } else {
            size
        };
        self.remaining = size;
        self.padding = padding(size);
        Ok(Entry {
            kind,
            size,
            mode: h.mode().unwrap_or(0),
            offset: self.input.position(),
        })
    }

    /// Reads the current entry's whole content into `out` (replacing it).
    pub(crate) fn read_data(&mut self, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        out.reserve_exact(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        while self.remaining > 0 {
            let buf = self.input.fill_buf().map_err(stream_error)?;
            if buf.is_empty() {
                return Err(truncated("inside an entry's content"));
            }
            let n = usize::try_from(self.remaining).map_or(buf.len(), |r| r.min(buf.len()));
            out.extend_from_slice(&buf[..n]);
            self.input.consume(n);
            self.remaining -= n as u64;
        }
        Ok(())
    }

    /// Feeds the current entry's content to `feed` chunk by chunk, until it is all read or
    /// `feed` returns `false`; the rest is skipped by the next [`Self::next_entry`].
    pub(crate) fn feed_data(&mut self, mut feed: impl FnMut(&[u8]) -> bool) -> Result<()> {
        while self.remaining > 0 {
            let buf = self.input.fill_buf().map_err(stream_error)?;
            if buf.is_empty() {
                return Err(truncated("inside an entry's content"));
            }
            let n = usize::try_from(self.remaining).map_or(buf.len(), |r| r.min(buf.len()));
            let more = feed(&buf[..n]);
            self.input.consume(n);
            self.remaining -= n as u64;
            if !more {
                break;
            }
        }
        Ok(())
    }

    /// Skips the rest of the current entry's content and padding.
    pub(crate) fn skip_data(&mut self) -> Result<()> {
        let n = self.remaining + self.padding;
        self.remaining = 0;
        self.padding = 0;
        self.input.skip(n).map_err(stream_error)
    }

    fn skip_padded(&mut self, size: u64) -> Result<()> {
        self.input.skip(size + padding(size)).map_err(stream_error)
    }

    /// Reads an extended header's content (bounded), trimming trailing NULs for names.
    fn read_extended(&mut self, size: u64, name: bool) -> Result<Vec<u8>> {
        if size > MAX_EXTENDED_HEADER {
            return Err(Error::limit(Limit::ExtendedHeader, MAX_EXTENDED_HEADER));
        }
        self.remaining = size;
        self.padding = padding(size);
        let mut data = std::mem::take(&mut self.scratch);
        self.read_data(&mut data)?;
        self.skip_data()?;
        if name {
            while data.last() == Some(&0) {
                data.pop();
            }
        }
        let out = data.clone();
        self.scratch = data;
        Ok(out)
    }

    /// Reads one block; `false` on a clean end of input before its first byte.
    fn read_block(&mut self, block: &mut [u8; 512]) -> Result<bool> {
        let mut filled = 0;
        while filled < block.len() {
            let buf = self.input.fill_buf().map_err(stream_error)?;
            if buf.is_empty() {
                if filled == 0 {
                    return Ok(false);
                }
                return Err(truncated("inside a tar header"));
            }
            let n = buf.len().min(block.len() - filled);
            block[filled..filled + n].copy_from_slice(&buf[..n]);
            self.input.consume(n);
            filled += n;
        }
        Ok(true)
    }
}

/// Bytes of padding after `size` bytes of content.
fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

fn verify_checksum(header: &[u8; 512]) -> Result<()> {
    let stored = tar::Header::from_byte_slice(header)
        .cksum()
        .map_err(corrupt)?;
    let spaces = u32::from(b' ') * CHECKSUM_LEN as u32;
    let (before, rest) = header.split_at(CHECKSUM_OFFSET);
    let after = &rest[CHECKSUM_LEN..];
    let unsigned: u32 = before
        .iter()
        .chain(after)
        .map(|&b| u32::from(b))
        .sum::<u32>()
        + spaces;
    // Some historic writers summed signed bytes; accept either, as GNU tar and Go do.
    let signed: i64 = before
        .iter()
        .chain(after)
        .map(|&b| i64::from(b as i8))
        .sum::<i64>()
        + i64::from(spaces);
    if stored == unsigned || i64::from(stored) == signed {
        Ok(())
    } else {
        Err(Error::Corrupt {
            detail: "tar header checksum mismatch".to_owned(),
        })
    }
}

fn apply_pax(data: &[u8], pending: &mut Pending) -> Result<()> {
    for ext in tar::PaxExtensions::new(data) {
        let ext = ext.map_err(corrupt)?;
        match ext.key_bytes() {
            b"path" => pending.path = Some(ext.value_bytes().to_vec()),
            b"linkpath" => pending.link = Some(ext.value_bytes().to_vec()),
            b"size" => {
                let size = std::str::from_utf8(ext.value_bytes())
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| Error::Corrupt {
                        detail: "PAX size is not a number".to_owned(),
                    })?;
                pending.size = Some(size);
            }
            key if key.starts_with(b"GNU.sparse.") => pending.sparse = true,
            _ => {}
        }
    }
    Ok(())
}

fn truncated(detail: &str) -> Error {
    Error::Truncated {
        detail: format!("tar stream ended {detail}"),
    }
}

fn corrupt(e: io::Error) -> Error {
    Error::Corrupt {
        detail: format!("tar header: {e}"),
    }
}

/// A marker carried inside an `io::Error` when the decompressed-size bound is hit below the
/// tar reader.
#[derive(Debug)]
pub(crate) struct LayerBytesExceeded(pub u64);

impl std::fmt::Display for LayerBytesExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "decompressed layer exceeds {} bytes", self.0)
    }
}

impl std::error::Error for LayerBytesExceeded {}

/// Maps an error from the (decompressed) input to this crate's error.
pub(crate) fn stream_error(e: io::Error) -> Error {
    if let Some(LayerBytesExceeded(max)) = e.get_ref().and_then(|i| i.downcast_ref()) {
        return Error::limit(Limit::LayerBytes, *max);
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => Error::Truncated {
            detail: format!("compressed stream ended early ({e})"),
        },
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::Other => {
            Error::Corrupt {
                detail: e.to_string(),
            }
        }
        _ => Error::io("reading layer", e),
    }
}
