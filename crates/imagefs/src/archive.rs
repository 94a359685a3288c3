//! Image archives: an OCI layout inside a tar, and `docker save`'s docker-archive. The archive is
//! indexed once (headers only, content skipped with seeks); blobs are then read in place.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::interest::{Normalised, normalise_into};
use crate::layer::{Compression, lossy, split_parent};
use crate::limits::{DEFAULT_MAX_ENTRIES, MAX_LAYERS, MAX_SYMLINK_HOPS};
use crate::oci::{
    BlobSource, Config, Image, Layer, check_layout_marker, image_from_index_json, parse_json,
    read_bounded,
};
use crate::tar_stream::{Kind, TarInput, TarReader, stream_error};
use crate::{Digest, Error, Limit, Platform, Result};

/// Buffer for reading archive headers.
const INDEX_BUFFER: usize = 64 << 10;
/// Prefix of content-addressed members (OCI layout, and docker-archive since Docker 25).
const BLOBS_SHA256: &str = "blobs/sha256/";

/// Where members of an archive are.
#[derive(Debug, Clone)]
struct TarIndex {
    members: HashMap<String, Member>,
}

#[derive(Debug, Clone)]
enum Member {
    File {
        offset: u64,
        size: u64,
    },
    /// `docker save` links duplicate layers to the first copy.
    Link(String),
}

/// An OCI image layout packed in a tar (`skopeo copy … oci-archive:`, `docker buildx --output
/// type=oci`). Must be uncompressed.
#[derive(Debug, Clone)]
pub struct OciArchive {
    path: PathBuf,
    name: String,
    index: TarIndex,
}

/// A docker-archive tar (`docker save`): `manifest.json` listing each image's config, tags and
/// layers, either as legacy `<id>/layer.tar` members or as `blobs/sha256/<hex>`.
#[derive(Debug, Clone)]
pub struct DockerArchive {
    path: PathBuf,
    name: String,
    index: TarIndex,
    images: Vec<Image>,
    /// Each image's `RepoTags`, parallel to `images`.
    tags: Vec<Vec<String>>,
    /// Member path of every blob, by digest.
    blobs: HashMap<Digest, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

// === impl TarIndex ===

impl TarIndex {
    fn build(path: &Path, name: &str) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(name, e))?;
        let len = file.metadata().map_err(|e| Error::io(name, e))?.len();
        let mut input = SeekInput {
            inner: BufReader::with_capacity(INDEX_BUFFER, file),
            position: 0,
            len,
        };
        if Compression::detect(input.fill_buf().map_err(stream_error)?)? != Compression::None {
            return Err(Error::Unsupported {
                detail: format!("compressed archive {name}: decompress it first"),
            });
        }
        let mut tar = TarReader::new(input, DEFAULT_MAX_ENTRIES);
        let mut members = HashMap::new();
        let mut path = Vec::new();
        let mut target = Vec::new();
        while let Some(entry) = tar.next_entry()? {
            if normalise_into(tar.path(), &mut path) == Normalised::Escapes {
                continue;
            }
            match entry.kind {
                Kind::File => {
                    members.insert(
                        lossy(&path),
                        Member::File {
                            offset: entry.offset,
                            size: entry.size,
                        },
                    );
                }
                Kind::Symlink | Kind::HardLink => {
                    // Symlinks are relative to their directory, hard links to the root.
                    target.clear();
                    if entry.kind == Kind::Symlink && !tar.link().starts_with(b"/") {
                        target.extend_from_slice(split_parent(&path).0);
                        target.push(b'/');
                    }
                    target.extend_from_slice(tar.link());
                    let mut resolved = Vec::new();
                    if normalise_into(&target, &mut resolved) == Normalised::Ok {
                        members.insert(lossy(&path), Member::Link(lossy(&resolved)));
                    }
                }
                _ => {}
            }
        }
        Ok(TarIndex { members })
    }

    /// The member at `path`, following links.
    fn find(&self, path: &str) -> Option<(u64, u64)> {
        let mut path = path.to_owned();
        for _ in 0..MAX_SYMLINK_HOPS {
            match self.members.get(&path)? {
                Member::File { offset, size } => return Some((*offset, *size)),
                Member::Link(target) => path.clone_from(target),
            }
        }
        None
    }

    fn open(&self, archive: &Path, name: &str, member: &str) -> Result<Option<io::Take<File>>> {
        let Some((offset, size)) = self.find(member) else {
            return Ok(None);
        };
        let mut file = File::open(archive).map_err(|e| Error::io(name, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(name, e))?;
        Ok(Some(file.take(size)))
    }

    fn read_member(&self, archive: &Path, name: &str, member: &str) -> Result<Vec<u8>> {
        let what = format!("{member} in {name}");
        let reader = self
            .open(archive, name, member)?
            .ok_or_else(|| Error::invalid(name, format!("no {member}")))?;
        read_bounded(reader, &what)
    }
}

/// A seekable archive read header by header: content is skipped with a seek.
struct SeekInput {
    inner: BufReader<File>,
    position: u64,
    len: u64,
}

impl Read for SeekInput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl BufRead for SeekInput {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.position += n as u64;
        self.inner.consume(n);
    }
}

impl TarInput for SeekInput {
    fn skip(&mut self, n: u64) -> io::Result<()> {
        let end = self.position.saturating_add(n);
        if end > self.len {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let delta = i64::try_from(n).map_err(|_| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        self.inner.seek_relative(delta)?;
        self.position = end;
        Ok(())
    }

    fn position(&self) -> u64 {
        self.position
    }
}

// === impl OciArchive ===

impl OciArchive {
    /// Indexes the archive and checks its `oci-layout` marker.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Unsupported`] for a compressed archive, or a corrupt tar.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let name = path.display().to_string();
        let index = TarIndex::build(&path, &name)?;
        let marker = index.read_member(&path, &name, "oci-layout")?;
        check_layout_marker(&marker, &name)?;
        Ok(OciArchive { path, name, index })
    }

    /// Resolves the image named `reference` (`None` takes any) for `platform`, as
    /// [`crate::OciLayout::image`] does.
    ///
    /// # Errors
    /// As [`crate::OciLayout::image`].
    pub fn image(&self, reference: Option<&str>, platform: &Platform) -> Result<Image> {
        let index = self
            .index
            .read_member(&self.path, &self.name, "index.json")?;
        let what = format!("index.json in {}", self.name);
        image_from_index_json(self, &index, &what, reference, platform)
    }
}

impl BlobSource for OciArchive {
    type Reader<'a> = io::Take<File>;

    fn open_blob(&self, digest: &Digest) -> Result<io::Take<File>> {
        let member = format!("blobs/{}/{}", digest.algorithm(), digest.hex());
        self.index
            .open(&self.path, &self.name, &member)?
            .ok_or_else(|| Error::BlobNotFound {
                source_name: self.name.clone(),
                digest: digest.clone(),
            })
    }

    fn name(&self) -> &str {
        &self.name
    }
}

// === impl DockerArchive ===

impl DockerArchive {
    /// Indexes the archive and reads `manifest.json` and every image config.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Json`], [`Error::InvalidImage`] (a layer count that disagrees
    /// with the config), or a corrupt tar.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let name = path.display().to_string();
        let index = TarIndex::build(&path, &name)?;
        let manifest = index.read_member(&path, &name, "manifest.json")?;
        let entries: Vec<DockerManifestEntry> =
            parse_json(&manifest, &format!("manifest.json in {name}"))?;
        let mut images = Vec::with_capacity(entries.len());
        let mut all_tags = Vec::with_capacity(entries.len());
        let mut blobs = HashMap::new();
        for entry in entries {
            let config_member = normalise_member(&entry.config);
            let config_bytes = index.read_member(&path, &name, &config_member)?;
            let config_digest = member_digest(&config_member)
                .or_else(|| legacy_config_digest(&config_member))
                .unwrap_or_else(|| Digest::sha256_of(&config_bytes));
            let what = format!("{config_member} in {name}");
            let config: Config = parse_json(&config_bytes, &what)?;
            let diff_ids = config.diff_ids()?;
            if entry.layers.len() > MAX_LAYERS {
                return Err(Error::limit(Limit::Layers, MAX_LAYERS as u64));
            }
            if diff_ids.len() != entry.layers.len() {
                return Err(Error::invalid(
                    &what,
                    format!(
                        "manifest.json lists {} layers but the config {} diff IDs",
                        entry.layers.len(),
                        diff_ids.len()
                    ),
                ));
            }
            let mut layers = Vec::with_capacity(entry.layers.len());
            for (member, diff_id) in entry.layers.iter().zip(diff_ids) {
                let member = normalise_member(member);
                // Legacy `<id>/layer.tar` members are uncompressed, so their digest is the diff
                // ID; `blobs/sha256/<hex>` members name their own digest.
                let digest = member_digest(&member).unwrap_or_else(|| diff_id.clone());
                blobs.insert(digest.clone(), member);
                layers.push(Layer {
                    digest,
                    diff_id: Some(diff_id),
                    media_type: None,
                    size: None,
                });
            }
            blobs.insert(config_digest.clone(), config_member);
            let tags = entry.repo_tags.unwrap_or_default();
            images.push(Image {
                name: tags
                    .first()
                    .cloned()
                    .unwrap_or_else(|| config_digest.to_string()),
                manifest: None,
                config: config_digest,
                platform: config.platform(),
                layers,
            });
            all_tags.push(tags);
        }
        Ok(DockerArchive {
            path,
            name,
            index,
            images,
            tags: all_tags,
            blobs,
        })
    }

    /// Every image in the archive, in `manifest.json` order.
    pub fn images(&self) -> &[Image] {
        &self.images
    }

    /// The image tagged `reference`, or with `None` the first one.
    ///
    /// # Errors
    /// [`Error::NoSuchImage`] when no image has that tag (or the archive is empty).
    pub fn image(&self, reference: Option<&str>) -> Result<Image> {
        let found = match reference {
            None => self.images.first(),
            Some(r) => self
                .tags
                .iter()
                .position(|tags| tags.iter().any(|t| t == r))
                .and_then(|i| self.images.get(i)),
        };
        found.cloned().ok_or_else(|| Error::NoSuchImage {
            source_name: self.name.clone(),
            reference: reference.unwrap_or("").to_owned(),
            available: self
                .tags
                .iter()
                .flatten()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

impl BlobSource for DockerArchive {
    type Reader<'a> = io::Take<File>;

    fn open_blob(&self, digest: &Digest) -> Result<io::Take<File>> {
        let not_found = || Error::BlobNotFound {
            source_name: self.name.clone(),
            digest: digest.clone(),
        };
        let member = self.blobs.get(digest).ok_or_else(not_found)?;
        self.index
            .open(&self.path, &self.name, member)?
            .ok_or_else(not_found)
    }

    fn name(&self) -> &str {
        &self.name
    }
}

fn normalise_member(member: &str) -> String {
    let mut out = Vec::new();
    normalise_into(member.as_bytes(), &mut out);
    lossy(&out)
}

/// `blobs/sha256/<hex>` → its digest.
fn member_digest(member: &str) -> Option<Digest> {
    let hex = member.strip_prefix(BLOBS_SHA256)?;
    Digest::parse(&format!("sha256:{hex}")).ok()
}

/// Legacy `<hex>.json` config members are named by the config's sha256.
fn legacy_config_digest(member: &str) -> Option<Digest> {
    let hex = member.strip_suffix(".json")?;
    Digest::parse(&format!("sha256:{hex}")).ok()
}
