//! Reading one layer blob: compression detection, the decompression-bomb guard, digest
//! verification, and the walk that keeps only interesting entries.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

use sha2::Digest as _;

use crate::digest::{Algorithm, hex};
use crate::interest::{Interest, Normalised, normalise_into};
use crate::tar_stream::{Kind, LayerBytesExceeded, TarInput, TarReader, stream_error};
use crate::{Digest, Error, Limit, Limits, Result};

/// gzip's magic bytes (RFC 1952).
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// A zstd frame's magic number, little-endian (RFC 8878).
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// bzip2's magic; Docker once accepted bzip2 layers, OCI never did.
const BZIP2_MAGIC: &[u8] = b"BZh";
/// xz's magic; likewise.
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];
/// Buffer for the compressed input: large enough that a gzip or zstd decoder rarely waits on a
/// read system call.
const INPUT_BUFFER: usize = 128 << 10;
/// Buffer for the decompressed tar stream; skipped content is consumed straight from it.
const OUTPUT_BUFFER: usize = 128 << 10;
/// Whiteout prefix of an OCI layer (`.wh.name` deletes `name` from lower layers).
pub(crate) const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Opaque-directory marker of an OCI layer: hides everything below its directory.
pub(crate) const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// Other `.wh..wh.` names (aufs hard-link bookkeeping) are metadata, not whiteouts.
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";

/// How a layer blob is compressed, detected from its first bytes (media types lie).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Uncompressed tar.
    #[default]
    None,
    /// gzip, possibly several members (eStargz).
    Gzip,
    /// zstd, possibly several frames.
    Zstd,
}

/// A merged-tree node kept from a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    File(Arc<[u8]>),
    Symlink(String),
    /// A hard link to a path (normalised) kept in a lower layer.
    HardLink(String),
    Dir,
    /// A device, FIFO, or a file where a directory is expected: hides what lies below.
    Other,
}

/// The interesting part of one layer: kept files, the symlinks, directories and whiteouts that
/// can change what is kept, and counters. Cheap to share: file contents are `Arc`ed.
#[derive(Debug, Clone, Default)]
pub struct LayerFiles {
    pub(crate) nodes: BTreeMap<String, Node>,
    pub(crate) whiteouts: Vec<String>,
    pub(crate) opaque_dirs: Vec<String>,
    pub(crate) compression: Compression,
    pub(crate) stream_bytes: u64,
    pub(crate) entries: u64,
    pub(crate) kept_bytes: u64,
}

// === impl Compression ===

impl Compression {
    /// Detects the compression from a blob's first bytes.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for bzip2 and xz.
    pub fn detect(head: &[u8]) -> Result<Self> {
        if head.starts_with(GZIP_MAGIC) {
            Ok(Compression::Gzip)
        } else if head.starts_with(ZSTD_MAGIC) {
            Ok(Compression::Zstd)
        } else if head.starts_with(BZIP2_MAGIC) || head.starts_with(XZ_MAGIC) {
            Err(Error::Unsupported {
                detail: "layer compression (bzip2 or xz); only gzip, zstd and plain tar are read"
                    .to_owned(),
            })
        } else {
            Ok(Compression::None)
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "tar",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

// === impl LayerFiles ===

impl LayerFiles {
    /// The regular files kept from this layer (hard links to kept files included), by path.
    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.nodes.iter().filter_map(|(p, n)| match n {
            Node::File(data) => Some((p.as_str(), &data[..])),
            _ => None,
        })
    }

    /// Paths this layer deletes from the layers below (`.wh.name` or 0/0 character devices).
    pub fn whiteouts(&self) -> impl Iterator<Item = &str> {
        self.whiteouts.iter().map(String::as_str)
    }

    /// Directories whose lower content this layer hides (`.wh..wh..opq` or the opaque xattr);
    /// `""` is the root.
    pub fn opaque_dirs(&self) -> impl Iterator<Item = &str> {
        self.opaque_dirs.iter().map(String::as_str)
    }

    /// The symlink at `path` kept from this layer, if any (its raw target).
    pub fn symlink(&self, path: &str) -> Option<&str> {
        match self.nodes.get(path) {
            Some(Node::Symlink(target)) => Some(target),
            _ => None,
        }
    }

    /// How the blob was compressed (`None` for snapshot directories).
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Decompressed tar bytes read (0 for snapshot directories).
    pub fn decompressed_bytes(&self) -> u64 {
        self.stream_bytes
    }

    /// Tar headers (or snapshot directory entries) read.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Bytes of file content kept.
    pub fn kept_bytes(&self) -> u64 {
        self.kept_bytes
    }

    /// Records a kept file, enforcing the per-file and per-layer bounds.
    pub(crate) fn keep_file(&mut self, path: String, data: Vec<u8>, limits: &Limits) -> Result<()> {
        self.add_kept(data.len() as u64, limits)?;
        self.nodes.insert(path, Node::File(data.into()));
        Ok(())
    }

    pub(crate) fn add_kept(&mut self, size: u64, limits: &Limits) -> Result<()> {
        if size > limits.max_file_size {
            return Err(Error::limit(Limit::FileSize, limits.max_file_size));
        }
        self.kept_bytes += size;
        if self.kept_bytes > limits.max_kept_bytes {
            return Err(Error::limit(Limit::KeptBytes, limits.max_kept_bytes));
        }
        Ok(())
    }
}

/// Reads one layer blob (gzip, zstd or plain tar, detected from its magic bytes) in a single
/// streaming pass and keeps what `interest` asks for. With `expected`, the raw blob must hash to
/// that digest.
///
/// # Errors
/// [`Error::Truncated`], [`Error::Corrupt`], [`Error::LimitExceeded`], [`Error::PathTraversal`],
/// [`Error::Unsupported`], [`Error::DigestMismatch`] or [`Error::Io`]; never a panic, whatever the
/// bytes.
pub fn read_layer<R: Read>(
    blob: R,
    expected: Option<&Digest>,
    interest: &Interest,
    limits: &Limits,
) -> Result<LayerFiles> {
    let hashing = Hashing::new(blob, expected.map(Digest::kind));
    let mut input = BufReader::with_capacity(INPUT_BUFFER, hashing);
    let compression = Compression::detect(input.fill_buf().map_err(stream_error)?)?;
    let (mut files, input) = match compression {
        Compression::None => {
            let (files, counting) = walk(
                Counting::new(input, limits.max_layer_bytes),
                interest,
                limits,
            )?;
            (files, counting.inner)
        }
        Compression::Gzip => {
            let decoder = flate2::bufread::MultiGzDecoder::new(input);
            let tar = BufReader::with_capacity(OUTPUT_BUFFER, decoder);
            let (files, counting) =
                walk(Counting::new(tar, limits.max_layer_bytes), interest, limits)?;
            (files, counting.inner.into_inner().into_inner())
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(input).map_err(stream_error)?;
            let tar = BufReader::with_capacity(OUTPUT_BUFFER, decoder);
            let (files, counting) =
                walk(Counting::new(tar, limits.max_layer_bytes), interest, limits)?;
            (files, counting.inner.into_inner().finish())
        }
    };
    files.compression = compression;
    // Whatever follows the compressed stream still belongs to the blob and to its digest.
    let mut input = input;
    drain(&mut input).map_err(stream_error)?;
    if let Some(expected) = expected {
        let actual = input.into_inner().finish();
        if actual != expected.as_str() {
            return Err(Error::DigestMismatch {
                expected: expected.clone(),
                actual,
            });
        }
    }
    Ok(files)
}

/// Walks a decompressed tar stream, then drains it so the decompressor checks its trailer.
fn walk<R: TarInput>(input: R, interest: &Interest, limits: &Limits) -> Result<(LayerFiles, R)> {
    let mut tar = TarReader::new(input, limits.max_entries);
    let mut files = LayerFiles::default();
    let mut path = Vec::new();
    let mut link = Vec::new();
    while let Some(entry) = tar.next_entry()? {
        if normalise_into(tar.path(), &mut path) == Normalised::Escapes {
            return Err(traversal(tar.path()));
        }
        if path.is_empty() {
            continue;
        }
        let (parent, name) = split_parent(&path);
        if name.starts_with(WHITEOUT_PREFIX) {
            record_whiteout(&mut files, interest, parent, name);
            continue;
        }
        match entry.kind {
            Kind::File if interest.wants_bytes(&path) => {
                files.add_kept(entry.size, limits)?;
                let mut data = Vec::new();
                tar.read_data(&mut data)?;
                files.kept_bytes -= entry.size;
                files.keep_file(lossy(&path), data, limits)?;
            }
            Kind::Sparse if interest.wants_bytes(&path) => {
                return Err(Error::Unsupported {
                    detail: format!("sparse tar entry at kept path {:?}", lossy(&path)),
                });
            }
            Kind::HardLink if interest.wants_bytes(&path) => {
                if normalise_into(tar.link(), &mut link) == Normalised::Escapes {
                    return Err(traversal(tar.link()));
                }
                let target = lossy(&link);
                let node = match files.nodes.get(&target) {
                    Some(Node::File(data)) => Node::File(Arc::clone(data)),
                    _ => Node::HardLink(target),
                };
                files.nodes.insert(lossy(&path), node);
            }
            Kind::File if !interest.is_relevant(&path) => {
                if let Some(mut sink) = interest.sniff(entry.mode, entry.size) {
                    tar.feed_data(|chunk| sink.feed(chunk))?;
                    match sink.finish() {
                        Some(data) => files.keep_file(lossy(&path), data, limits)?,
                        // A file the sniffer passed over still hides a lower layer's kept one.
                        None => {
                            files.nodes.insert(lossy(&path), Node::Other);
                        }
                    }
                }
            }
            Kind::Symlink if interest.is_relevant(&path) => {
                files
                    .nodes
                    .insert(lossy(&path), Node::Symlink(lossy(tar.link())));
            }
            Kind::Dir if interest.is_relevant(&path) => {
                files.nodes.insert(lossy(&path), Node::Dir);
            }
            Kind::Other | Kind::File | Kind::Sparse | Kind::HardLink
                if interest.is_relevant(&path) =>
            {
                // A non-directory at an ancestor of a kept path hides what lies below.
                files.nodes.insert(lossy(&path), Node::Other);
            }
            _ => {}
        }
    }
    files.entries = tar.entries();
    let mut input = tar.into_inner();
    drain(&mut input).map_err(stream_error)?;
    files.stream_bytes = input.position();
    Ok((files, input))
}

fn record_whiteout(files: &mut LayerFiles, interest: &Interest, parent: &[u8], name: &[u8]) {
    if name == OPAQUE_MARKER {
        if parent.is_empty() || interest.is_open_ended() || interest.is_relevant(parent) {
            files.opaque_dirs.push(lossy(parent));
        }
        return;
    }
    if name.starts_with(AUFS_META_PREFIX) {
        return;
    }
    let target = &name[WHITEOUT_PREFIX.len()..];
    if target.is_empty() || target == b"." || target == b".." {
        return;
    }
    let mut path = parent.to_vec();
    if !path.is_empty() {
        path.push(b'/');
    }
    path.extend_from_slice(target);
    if interest.is_open_ended() || interest.is_relevant(&path) {
        files.whiteouts.push(lossy(&path));
    }
}

/// Splits a normalised path into (parent, name); the parent of a top-level name is empty.
pub(crate) fn split_parent(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn traversal(raw: &[u8]) -> Error {
    Error::PathTraversal {
        path: String::from_utf8_lossy(&raw[..raw.len().min(4096)]).into_owned(),
    }
}

fn drain<R: BufRead>(input: &mut R) -> io::Result<()> {
    loop {
        let n = input.fill_buf()?.len();
        if n == 0 {
            return Ok(());
        }
        input.consume(n);
    }
}

/// Counts consumed bytes of the decompressed stream and refuses to go past the bound.
struct Counting<R> {
    inner: R,
    count: u64,
    max: u64,
}

impl<R> Counting<R> {
    fn new(inner: R, max: u64) -> Self {
        Counting {
            inner,
            count: 0,
            max,
        }
    }
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let buf = self.fill_buf()?;
        let n = buf.len().min(out.len());
        out[..n].copy_from_slice(&buf[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.count > self.max {
            return Err(io::Error::other(LayerBytesExceeded(self.max)));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.count += n as u64;
        self.inner.consume(n);
    }
}

impl<R: BufRead> TarInput for Counting<R> {
    fn position(&self) -> u64 {
        self.count
    }
}

/// Hashes everything read through it.
struct Hashing<R> {
    inner: R,
    hasher: Option<Hasher>,
}

enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl<R> Hashing<R> {
    fn new(inner: R, algorithm: Option<Algorithm>) -> Self {
        let hasher = algorithm.map(|a| match a {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        });
        Hashing { inner, hasher }
    }

    /// `algorithm:hex` of what was read (empty without a hasher).
    fn finish(self) -> String {
        match self.hasher {
            Some(Hasher::Sha256(h)) => format!("sha256:{}", hex(&h.finalize())),
            Some(Hasher::Sha512(h)) => format!("sha512:{}", hex(&h.finalize())),
            None => String::new(),
        }
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        match &mut self.hasher {
            Some(Hasher::Sha256(h)) => h.update(&out[..n]),
            Some(Hasher::Sha512(h)) => h.update(&out[..n]),
            None => {}
        }
        Ok(n)
    }
}
