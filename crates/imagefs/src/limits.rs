//! Hostile-input bounds. The configurable ones live in [`Limits`]; the rest are constants whose
//! values no legitimate image comes near.

/// Default [`Limits::max_file_size`]: 64 MiB. The largest package databases seen in real images
/// (an RPM sqlite rpmdb of a full Fedora install) are around 30 MiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 << 20;

/// Default [`Limits::max_layer_bytes`]: 16 GiB decompressed. Layers that large exist (CUDA and
/// model images); a gzip bomb expands far beyond it from a few megabytes.
pub const DEFAULT_MAX_LAYER_BYTES: u64 = 16 << 30;

/// Default [`Limits::max_entries`]: one million tar entries per layer. A Debian base layer has
/// about 10 000 and the largest distribution images a few hundred thousand; the bound stops an
/// endless stream of empty headers.
pub const DEFAULT_MAX_ENTRIES: u64 = 1_000_000;

/// Default [`Limits::max_kept_bytes`]: 256 MiB kept from one layer, so a layer with many large
/// files under an interesting directory cannot exhaust memory.
pub const DEFAULT_MAX_KEPT_BYTES: u64 = 256 << 20;

/// The largest PAX extended header or GNU long name/link read into memory: 1 MiB, the same bound
/// Go's `archive/tar` (and so containerd and Docker) applies (`maxSpecialFileSize`).
pub const MAX_EXTENDED_HEADER: u64 = 1 << 20;

/// The largest index, manifest, config or `manifest.json` read: 4 MiB, the manifest size limit
/// of the Docker registry and containerd.
pub const MAX_JSON_BLOB: u64 = 4 << 20;

/// The most layers an image may have: overlayfs stacks at most 500 lower layers
/// (`OVL_MAX_STACK`), so an image with more cannot run on a node anyway.
pub const MAX_LAYERS: usize = 500;

/// How deep image indexes may nest. Real images nest at most two levels (an OCI layout's
/// `index.json` pointing at a multi-platform index); the bound stops runaway recursion.
pub const MAX_INDEX_DEPTH: usize = 8;

/// Symlinks followed while resolving one path: Linux's `MAXSYMLINKS`, 40.
pub const MAX_SYMLINK_HOPS: usize = 40;

/// How deep a snapshot directory walk under an interesting directory descends.
pub(crate) const MAX_SNAPSHOT_DEPTH: usize = 32;

/// Configurable hostile-input bounds for reading one layer. `Default` gives production values;
/// tests use small ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest file kept; a larger interesting file fails the layer.
    pub max_file_size: u64,
    /// The most decompressed bytes read from one layer (decompression-bomb guard).
    pub max_layer_bytes: u64,
    /// The most tar entries in one layer.
    pub max_entries: u64,
    /// The most bytes kept from one layer, all kept files together.
    pub max_kept_bytes: u64,
}

// === impl Limits ===

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_layer_bytes: DEFAULT_MAX_LAYER_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
            max_kept_bytes: DEFAULT_MAX_KEPT_BYTES,
        }
    }
}
