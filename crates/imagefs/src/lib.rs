//! Drydock's image filesystems: it owns reading container images from an OCI layout directory,
//! an OCI archive tar, a docker-archive tar (`docker save`), containerd's content store and
//! unpacked overlay snapshot directories, and merging their layers into one view that holds only
//! the files a caller asked for (an [`Interest`]). Layers are detected as gzip, zstd or plain by
//! their magic bytes, streamed once, and merged with OCI whiteouts (`.wh.name`, `.wh..wh..opq`)
//! or overlay whiteouts (0/0 character devices, the `overlay.opaque` xattr); the few symlinks and
//! hard links that lead to kept files are resolved inside the image, never on the host.
//!
//! This crate must not interpret file contents (OS detection and package databases belong to
//! `drydock-vuln`, which depends on this crate, never the reverse), talk to containerd's API or
//! the network, or write anything to disk. Hostile input (path traversal, absurd sizes,
//! decompression bombs, truncated or corrupt streams) is bounded by [`Limits`] and yields an
//! [`Error`] naming the image and layer, never a panic or a read outside the image.

mod archive;
mod digest;
mod extract;
mod interest;
mod layer;
mod limits;
mod merge;
mod oci;
mod snapshot;
mod tar_stream;

pub use archive::{DockerArchive, OciArchive};
pub use digest::{Digest, Platform, chain_ids, hex};
pub use extract::Extractor;
pub use interest::{Interest, Pattern, SniffSink, Sniffer};
pub use layer::{Compression, LayerFiles, read_layer};
pub use limits::{
    Limits, MAX_EXTENDED_HEADER, MAX_INDEX_DEPTH, MAX_JSON_BLOB, MAX_LAYERS, MAX_SYMLINK_HOPS,
};
pub use merge::{ImageFiles, merge_layers};
pub use oci::{BlobSource, ContentStore, Image, Layer, OciLayout};
pub use snapshot::{SnapshotLayer, read_snapshot_layer};

use std::fmt;

/// Everything that can go wrong in this crate. Errors about one layer of one image arrive
/// wrapped in [`Error::Layer`], whose message names both, so a caller can build a
/// `Failed(reason)` verdict from `to_string()` alone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading a file of the image source failed.
    #[error("{what}: {source}")]
    Io {
        /// The file or stream, e.g. `blobs/sha256/… in /path/to/layout`.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A blob named by a manifest is not in the source (e.g. discarded by containerd after
    /// unpacking): the caller may fall back to the unpacked snapshots.
    #[error("blob {digest} not found in {source_name}")]
    BlobNotFound {
        /// The source that was asked.
        source_name: String,
        /// The missing blob.
        digest: Digest,
    },

    /// A string is not a digest this crate accepts (`sha256:` or `sha512:` with lowercase hex).
    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest {
        /// The rejected string.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// A platform string is not `os/arch[/variant]`.
    #[error("invalid platform {input:?}: expected os/arch[/variant]")]
    InvalidPlatform {
        /// The rejected string.
        input: String,
    },

    /// A JSON document (index, manifest, config, `manifest.json`) does not parse.
    #[error("{what}: invalid JSON: {source}")]
    Json {
        /// The document.
        what: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// The source is well-formed JSON/tar but not a usable image (missing fields, a layer count
    /// that disagrees with the config, an artifact that is not a container image, …).
    #[error("{what}: {reason}")]
    InvalidImage {
        /// The image or document.
        what: String,
        /// What is wrong.
        reason: String,
    },

    /// No manifest of an index matches the wanted platform.
    #[error("{image}: no manifest for platform {platform} (available: {available})")]
    NoMatchingPlatform {
        /// The image.
        image: String,
        /// The wanted platform.
        platform: Platform,
        /// The platforms the index offers, comma-separated.
        available: String,
    },

    /// No image in an archive or layout matches the wanted reference.
    #[error("{source_name}: no image named {reference:?} (available: {available})")]
    NoSuchImage {
        /// The archive or layout.
        source_name: String,
        /// The wanted reference.
        reference: String,
        /// The names the source holds, comma-separated.
        available: String,
    },

    /// A blob's content does not hash to its digest.
    #[error("digest mismatch: expected {expected}, content hashes to {actual}")]
    DigestMismatch {
        /// The digest the manifest promised.
        expected: Digest,
        /// The digest of what was read.
        actual: String,
    },

    /// A hostile-input bound was hit.
    #[error("{limit} exceeds the limit of {max} {unit}", unit = limit.unit())]
    LimitExceeded {
        /// Which bound.
        limit: Limit,
        /// The bound's value.
        max: u64,
    },

    /// A compressed or tar stream ended early.
    #[error("truncated stream: {detail}")]
    Truncated {
        /// Where it ended.
        detail: String,
    },

    /// A compressed or tar stream is corrupt.
    #[error("corrupt layer: {detail}")]
    Corrupt {
        /// What is wrong.
        detail: String,
    },

    /// A tar entry's path (or hard link target) leaves the image root through `..`.
    #[error("tar entry path {path:?} escapes the image root")]
    PathTraversal {
        /// The raw path, lossily decoded.
        path: String,
    },

    /// A construct this crate does not read (encrypted layers, sparse kept files, compressed
    /// archives, …).
    #[error("unsupported {detail}")]
    Unsupported {
        /// What was found.
        detail: String,
    },

    /// An error while reading one layer of one image.
    #[error("image {image} layer {layer}: {source}")]
    Layer {
        /// The image, as named by the source (reference or manifest digest).
        image: String,
        /// The layer's digest (blob digest, or the caller's key for snapshot layers).
        layer: String,
        /// What went wrong. NB: boxed because the enum contains itself.
        #[source]
        source: Box<Error>,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The hostile-input bounds that [`Error::LimitExceeded`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// The size of one kept file ([`Limits::max_file_size`]).
    FileSize,
    /// The decompressed size of one layer ([`Limits::max_layer_bytes`]).
    LayerBytes,
    /// The number of tar entries (or snapshot directory entries) in one layer
    /// ([`Limits::max_entries`]).
    Entries,
    /// The bytes kept from one layer ([`Limits::max_kept_bytes`]).
    KeptBytes,
    /// A PAX header or GNU long name ([`MAX_EXTENDED_HEADER`]).
    ExtendedHeader,
    /// A JSON document ([`MAX_JSON_BLOB`]).
    JsonBlob,
    /// The number of layers of an image ([`MAX_LAYERS`]).
    Layers,
    /// The nesting of image indexes ([`MAX_INDEX_DEPTH`]).
    IndexDepth,
}

// === impl Limit ===

impl Limit {
    fn unit(self) -> &'static str {
        match self {
            Limit::FileSize
            | Limit::LayerBytes
            | Limit::KeptBytes
            | Limit::ExtendedHeader
            | Limit::JsonBlob => "bytes",
            Limit::Entries => "entries",
            Limit::Layers => "layers",
            Limit::IndexDepth => "levels",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::FileSize => "kept file size",
            Limit::LayerBytes => "decompressed layer size",
            Limit::Entries => "layer entry count",
            Limit::KeptBytes => "bytes kept from one layer",
            Limit::ExtendedHeader => "tar extended header size",
            Limit::JsonBlob => "JSON document size",
            Limit::Layers => "layer count",
            Limit::IndexDepth => "image index nesting",
        })
    }
}

// === impl Error ===

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidImage {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn limit(limit: Limit, max: u64) -> Self {
        Error::LimitExceeded { limit, max }
    }

    /// The innermost error, looking through [`Error::Layer`].
    pub fn root_cause(&self) -> &Error {
        match self {
            Error::Layer { source, .. } => source.root_cause(),
            other => other,
        }
    }
}
