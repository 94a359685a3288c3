//! Blob sources, OCI/Docker manifests and indexes, and the two directory sources: an OCI image
//! layout and containerd's content store. Hand-written minimal serde structs: only the fields
//! this crate uses, unknown fields ignored.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::limits::{MAX_INDEX_DEPTH, MAX_JSON_BLOB, MAX_LAYERS};
use crate::{Digest, Error, Limit, Platform, Result};

/// Annotation naming an image in an OCI layout's `index.json` (often only the tag).
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation containerd's exporter adds with the full image name.
const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// Config media types of container images (OCI and Docker schema 2).
const IMAGE_CONFIG_MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// Where blobs come from, addressed by digest.
pub trait BlobSource {
    /// A reader over one blob.
    type Reader<'a>: Read
    where
        Self: 'a;

    /// Opens the blob `digest`.
    ///
    /// # Errors
    /// [`Error::BlobNotFound`] when the source lacks it, [`Error::Io`] when it cannot be read.
    fn open_blob(&self, digest: &Digest) -> Result<Self::Reader<'_>>;

    /// A human name for error messages (a path, usually).
    fn name(&self) -> &str;
}

/// A resolved image: its config and layers, lowest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// How the source names it (reference, or manifest digest), for messages.
    pub name: String,
    /// The manifest's digest (none for docker-archive, which has no manifest blob).
    pub manifest: Option<Digest>,
    /// The config blob's digest (the image ID).
    pub config: Digest,
    /// The platform the config declares.
    pub platform: Option<Platform>,
    /// Layers, lowest first.
    pub layers: Vec<Layer>,
}

/// One layer of an [`Image`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The blob's digest: how the source finds it, what the content must hash to, and the
    /// cache key.
    pub digest: Digest,
    /// The digest of the uncompressed tar, from the config's `rootfs.diff_ids`.
    pub diff_id: Option<Digest>,
    /// The manifest's media type (informative: compression is detected from the bytes).
    pub media_type: Option<String>,
    /// The blob size the manifest declares.
    pub size: Option<u64>,
}

/// An index or a manifest: which one is told by which fields are present.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Document {
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Option<Vec<Descriptor>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: Option<String>,
    pub digest: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

/// The parts of an image config this crate reads.
#[derive(Debug, Deserialize)]
pub(crate) struct Config {
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub rootfs: Option<RootFs>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`).
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
    name: String,
}

/// containerd's content store (`…/io.containerd.content.v1.content`, holding
/// `blobs/sha256/<hex>`), read directly from the filesystem.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
    name: String,
}

// === impl Config ===

impl Config {
    pub(crate) fn platform(&self) -> Option<Platform> {
        Some(Platform {
            os: self.os.clone()?,
            architecture: self.architecture.clone()?,
            variant: self.variant.clone(),
        })
    }

    /// The validated diff IDs.
    pub(crate) fn diff_ids(&self) -> Result<Vec<Digest>> {
        self.rootfs
            .as_ref()
            .map_or(&[][..], |r| &r.diff_ids[..])
            .iter()
            .map(|d| Digest::parse(d))
            .collect()
    }
}

// === impl OciLayout ===

impl OciLayout {
    /// Opens a layout directory, checking its `oci-layout` marker.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::InvalidImage`] when the marker is missing or not a layout.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let name = root.display().to_string();
        let marker = read_bounded_file(&root.join("oci-layout"), &format!("{name}/oci-layout"))?;
        check_layout_marker(&marker, &name)?;
        Ok(OciLayout { root, name })
    }

    /// Resolves the image named `reference` (by `org.opencontainers.image.ref.name` or
    /// `io.containerd.image.name`; `None` takes any) for `platform`.
    ///
    /// # Errors
    /// [`Error::NoSuchImage`], [`Error::NoMatchingPlatform`], or a blob/JSON error.
    pub fn image(&self, reference: Option<&str>, platform: &Platform) -> Result<Image> {
        let what = format!("{}/index.json", self.name);
        let index = read_bounded_file(&self.root.join("index.json"), &what)?;
        image_from_index_json(self, &index, &what, reference, platform)
    }
}

impl BlobSource for OciLayout {
    type Reader<'a> = File;

    fn open_blob(&self, digest: &Digest) -> Result<File> {
        open_blob_file(&self.root, &self.name, digest)
    }

    fn name(&self) -> &str {
        &self.name
    }
}

// === impl ContentStore ===

impl ContentStore {
    /// A content store rooted at `root` (the directory holding `blobs/`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let name = root.display().to_string();
        ContentStore { root, name }
    }

    /// Resolves the image whose manifest or index is `digest`, for `platform`; `name` is how
    /// messages call it.
    ///
    /// # Errors
    /// [`Error::BlobNotFound`] when the manifest, config or index is missing,
    /// [`Error::NoMatchingPlatform`], or a JSON error.
    pub fn image(&self, name: &str, digest: &Digest, platform: &Platform) -> Result<Image> {
        resolve(self, name, digest, platform, 0)
    }
}

impl BlobSource for ContentStore {
    type Reader<'a> = File;

    fn open_blob(&self, digest: &Digest) -> Result<File> {
        open_blob_file(&self.root, &self.name, digest)
    }

    fn name(&self) -> &str {
        &self.name
    }
}

pub(crate) fn check_layout_marker(marker: &[u8], name: &str) -> Result<()> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct LayoutMarker {
        image_layout_version: String,
    }
    let marker: LayoutMarker = parse_json(marker, &format!("{name}/oci-layout"))?;
    if !marker.image_layout_version.starts_with("1.") {
        return Err(Error::invalid(
            name,
            format!(
                "unsupported imageLayoutVersion {:?}",
                marker.image_layout_version
            ),
        ));
    }
    Ok(())
}

fn open_blob_file(root: &Path, name: &str, digest: &Digest) -> Result<File> {
    let path = root
        .join("blobs")
        .join(digest.algorithm())
        .join(digest.hex());
    File::open(&path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::BlobNotFound {
            source_name: name.to_owned(),
            digest: digest.clone(),
        },
        _ => Error::io(path.display().to_string(), e),
    })
}

/// Resolves an `index.json` (not a blob: it has no digest) to one image.
pub(crate) fn image_from_index_json<S: BlobSource + ?Sized>(
    source: &S,
    index: &[u8],
    what: &str,
    reference: Option<&str>,
    platform: &Platform,
) -> Result<Image> {
    let index: Document = parse_json(index, what)?;
    let entries = index
        .manifests
        .ok_or_else(|| Error::invalid(what, "no \"manifests\""))?;
    let (entries, name) = match reference {
        None => (entries.iter().collect::<Vec<_>>(), None),
        Some(reference) => {
            let chosen: Vec<_> = entries
                .iter()
                .filter(|e| {
                    e.annotations
                        .get(ANNOTATION_CONTAINERD_NAME)
                        .map(String::as_str)
                        == Some(reference)
                        || e.annotations.get(ANNOTATION_REF_NAME).map(String::as_str)
                            == Some(reference)
                })
                .collect();
            if chosen.is_empty() {
                let available = entries
                    .iter()
                    .filter_map(|e| {
                        e.annotations
                            .get(ANNOTATION_CONTAINERD_NAME)
                            .or_else(|| e.annotations.get(ANNOTATION_REF_NAME))
                            .cloned()
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Error::NoSuchImage {
                    source_name: source.name().to_owned(),
                    reference: reference.to_owned(),
                    available,
                });
            }
            (chosen, Some(reference.to_owned()))
        }
    };
    let name = name.unwrap_or_else(|| source.name().to_owned());
    select(source, &name, &entries, platform, 1)
}

/// Resolves the blob `digest`, an index or a manifest, to one image.
pub(crate) fn resolve<S: BlobSource + ?Sized>(
    source: &S,
    name: &str,
    digest: &Digest,
    platform: &Platform,
    depth: usize,
) -> Result<Image> {
    if depth > MAX_INDEX_DEPTH {
        return Err(Error::limit(Limit::IndexDepth, MAX_INDEX_DEPTH as u64));
    }
    let document: Document = read_json(source, digest)?;
    if let Some(entries) = &document.manifests {
        let entries: Vec<_> = entries.iter().collect();
        return select(source, name, &entries, platform, depth + 1);
    }
    manifest_to_image(source, name, digest, document)
}

/// Picks the manifest for `platform` among index entries, descending into nested indexes.
fn select<S: BlobSource + ?Sized>(
    source: &S,
    name: &str,
    entries: &[&Descriptor],
    platform: &Platform,
    depth: usize,
) -> Result<Image> {
    let mut available = Vec::new();
    for entry in entries {
        if let Some(p) = &entry.platform
            && !platform.matches(p)
        {
            available.push(p.to_string());
            continue;
        }
        let digest = Digest::parse(&entry.digest)?;
        match resolve(source, name, &digest, platform, depth) {
            // An entry without a platform (an OCI layout's top-level entry) may be a nested
            // index, or a manifest whose config says which platform it is.
            Ok(image) if entry.platform.is_some() => return Ok(image),
            Ok(image) => match &image.platform {
                Some(p) if !platform.matches(p) => available.push(p.to_string()),
                _ => return Ok(image),
            },
            Err(Error::NoMatchingPlatform { available: a, .. }) => available.push(a),
            Err(e) => return Err(e),
        }
    }
    Err(Error::NoMatchingPlatform {
        image: name.to_owned(),
        platform: platform.clone(),
        available: available
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

fn manifest_to_image<S: BlobSource + ?Sized>(
    source: &S,
    name: &str,
    digest: &Digest,
    manifest: Document,
) -> Result<Image> {
    let what = format!("{name} manifest {digest}");
    let config = manifest
        .config
        .ok_or_else(|| Error::invalid(&what, "neither an index nor a manifest (no config)"))?;
    if let Some(media_type) = &config.media_type
        && !IMAGE_CONFIG_MEDIA_TYPES.contains(&media_type.as_str())
    {
        return Err(Error::invalid(
            &what,
            format!("not a container image (config media type {media_type})"),
        ));
    }
    let config_digest = Digest::parse(&config.digest)?;
    let config: Config = read_json(source, &config_digest)?;
    let layers = manifest.layers.unwrap_or_default();
    if layers.len() > MAX_LAYERS {
        return Err(Error::limit(Limit::Layers, MAX_LAYERS as u64));
    }
    let diff_ids = config.diff_ids()?;
    if !diff_ids.is_empty() && diff_ids.len() != layers.len() {
        return Err(Error::invalid(
            &what,
            format!(
                "{} layers but the config lists {} diff IDs",
                layers.len(),
                diff_ids.len()
            ),
        ));
    }
    let layers = layers
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            if l.media_type
                .as_deref()
                .is_some_and(|m| m.contains("encrypted"))
            {
                return Err(Error::Unsupported {
                    detail: format!("encrypted layer {} in {what}", l.digest),
                });
            }
            Ok(Layer {
                digest: Digest::parse(&l.digest)?,
                diff_id: diff_ids.get(i).cloned(),
                media_type: l.media_type,
                size: l.size,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Image {
        name: name.to_owned(),
        manifest: Some(digest.clone()),
        config: config_digest,
        platform: config.platform(),
        layers,
    })
}

/// Reads a JSON blob (bounded), checks its digest and parses it.
pub(crate) fn read_json<S: BlobSource + ?Sized, T: DeserializeOwned>(
    source: &S,
    digest: &Digest,
) -> Result<T> {
    let what = format!("blob {digest} in {}", source.name());
    let bytes = read_bounded(source.open_blob(digest)?, &what)?;
    let actual = match digest.kind() {
        crate::digest::Algorithm::Sha256 => Digest::sha256_of(&bytes).to_string(),
        crate::digest::Algorithm::Sha512 => {
            use sha2::Digest as _;
            format!(
                "sha512:{}",
                crate::digest::hex(&sha2::Sha512::digest(&bytes))
            )
        }
    };
    if actual != digest.as_str() {
        return Err(Error::DigestMismatch {
            expected: digest.clone(),
            actual,
        });
    }
    parse_json(&bytes, &what)
}

pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Json {
        what: what.to_owned(),
        source,
    })
}

/// Reads at most [`MAX_JSON_BLOB`] bytes.
pub(crate) fn read_bounded(reader: impl Read, what: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_JSON_BLOB + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(what, e))?;
    if bytes.len() as u64 > MAX_JSON_BLOB {
        return Err(Error::limit(Limit::JsonBlob, MAX_JSON_BLOB));
    }
    Ok(bytes)
}

fn read_bounded_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    read_bounded(File::open(path).map_err(|e| Error::io(what, e))?, what)
}
