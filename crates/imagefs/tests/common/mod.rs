//! Test images built in code: layer tars (with whiteouts, symlinks, hostile entries), gzip/zstd
//! compression, and writers for OCI layouts, OCI archives and docker-archives.

// Each test binary uses a different subset.
#![allow(dead_code)]
// Fixture builders called only from tests: a failed unwrap is a failed test with a backtrace.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;

use drydock_imagefs::Digest;

/// A layer tar under construction.
pub struct LayerTar {
    builder: tar::Builder<Vec<u8>>,
}

impl LayerTar {
    pub fn new() -> Self {
        LayerTar {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h
    }

    pub fn file(mut self, path: &str, content: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, content.len() as u64);
        self.builder.append_data(&mut h, path, content).unwrap();
        self
    }

    /// A regular file with mode 0755.
    pub fn executable(mut self, path: &str, content: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, content.len() as u64);
        h.set_mode(0o755);
        self.builder.append_data(&mut h, path, content).unwrap();
        self
    }

    pub fn dir(mut self, path: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Directory, 0);
        h.set_mode(0o755);
        self.builder.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Symlink, 0);
        self.builder.append_link(&mut h, path, target).unwrap();
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Link, 0);
        self.builder.append_link(&mut h, path, target).unwrap();
        self
    }

    /// `.wh.<name>` in `dir`.
    pub fn whiteout(self, dir: &str, name: &str) -> Self {
        self.file(&format!("{dir}/.wh.{name}"), b"")
    }

    /// `.wh..wh..opq` in `dir`.
    pub fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), b"")
    }

    /// An entry whose raw name is written as is (the `tar` crate refuses `..` paths).
    pub fn raw_file(mut self, raw_name: &[u8], content: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, content.len() as u64);
        h.as_old_mut().name[..raw_name.len()].copy_from_slice(raw_name);
        h.set_cksum();
        self.builder.append(&h, content).unwrap();
        self
    }

    /// A GNU long-name header claiming `size` bytes, followed by that many bytes.
    pub fn gnu_long_name(mut self, size: u64) -> Self {
        let mut h = Self::header(tar::EntryType::GNULongName, size);
        h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        h.set_cksum();
        let data = vec![b'a'; usize::try_from(size).unwrap()];
        self.builder.append(&h, &data[..]).unwrap();
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().unwrap()
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(bytes, 1).unwrap()
}

pub fn sha256(bytes: &[u8]) -> String {
    Digest::sha256_of(bytes).to_string()
}

/// One layer: the tar and the blob as stored (compressed or not).
#[derive(Clone)]
pub struct LayerBlob {
    pub tar: Vec<u8>,
    pub blob: Vec<u8>,
    pub media_type: &'static str,
}

impl LayerBlob {
    pub fn plain(tar: Vec<u8>) -> Self {
        LayerBlob {
            blob: tar.clone(),
            tar,
            media_type: "application/vnd.oci.image.layer.v1.tar",
        }
    }

    pub fn gzip(tar: Vec<u8>) -> Self {
        LayerBlob {
            blob: gzip(&tar),
            tar,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
        }
    }

    pub fn zstd(tar: Vec<u8>) -> Self {
        LayerBlob {
            blob: zstd(&tar),
            tar,
            // Deliberately wrong: compression is detected from the bytes.
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
        }
    }
}

/// An image's blobs, ready to be written in any format.
#[derive(Clone)]
pub struct BuiltImage {
    pub layers: Vec<LayerBlob>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    pub arch: &'static str,
}

impl BuiltImage {
    pub fn new(arch: &'static str, layers: Vec<LayerBlob>) -> Self {
        let diff_ids: Vec<String> = layers.iter().map(|l| sha256(&l.tar)).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "config": {},
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(&config),
                "size": config.len(),
            },
            "layers": layers.iter().map(|l| serde_json::json!({
                "mediaType": l.media_type,
                "digest": sha256(&l.blob),
                "size": l.blob.len(),
            })).collect::<Vec<_>>(),
        }))
        .unwrap();
        BuiltImage {
            layers,
            config,
            manifest,
            arch,
        }
    }

    pub fn manifest_digest(&self) -> String {
        sha256(&self.manifest)
    }

    pub fn layer_digest(&self, i: usize) -> String {
        sha256(&self.layers[i].blob)
    }

    pub fn blobs(&self) -> Vec<&[u8]> {
        let mut blobs: Vec<&[u8]> = vec![&self.config, &self.manifest];
        blobs.extend(self.layers.iter().map(|l| &l.blob[..]));
        blobs
    }

    /// A descriptor of this image's manifest for an index.
    pub fn descriptor(&self, ref_name: Option<&str>) -> serde_json::Value {
        let mut d = serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": self.manifest_digest(),
            "size": self.manifest.len(),
            "platform": {"os": "linux", "architecture": self.arch},
        });
        if let Some(name) = ref_name {
            d["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": name});
        }
        d
    }
}

pub fn write_blob(root: &Path, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let dir = root.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(&digest["sha256:".len()..]), bytes).unwrap();
    digest
}

/// Writes an OCI layout holding `images`, each under its ref name.
pub fn write_layout(root: &Path, images: &[(Option<&str>, &BuiltImage)]) {
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(
        root.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let mut manifests = Vec::new();
    for (name, image) in images {
        for blob in image.blobs() {
            write_blob(root, blob);
        }
        manifests.push(image.descriptor(*name));
    }
    write_index(root, manifests);
}

pub fn write_index(root: &Path, manifests: Vec<serde_json::Value>) {
    let index = serde_json::json!({"schemaVersion": 2, "manifests": manifests});
    std::fs::write(root.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Packs a directory tree into a tar (an OCI archive when it is a layout).
pub fn tar_dir(root: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_dir_all(".", root).unwrap();
    builder.into_inner().unwrap()
}

/// A legacy `docker save` archive: `<id>/layer.tar` members (uncompressed), `<id>.json`
/// configs, and `manifest.json`. Duplicate layers become symlinks to the first copy, as Docker
/// writes them.
pub fn docker_archive(images: &[(&str, &BuiltImage)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut manifest = Vec::new();
    let mut written = std::collections::HashMap::new();
    let mut counter = 0;
    for (tag, image) in images {
        let config_name = format!("{}.json", &sha256(&image.config)["sha256:".len()..]);
        append(&mut builder, &config_name, &image.config);
        let mut layers = Vec::new();
        for layer in &image.layers {
            let id = sha256(&layer.tar);
            let member = match written.get(&id) {
                Some(first) => {
                    counter += 1;
                    let member = format!("dup{counter}/layer.tar");
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    builder
                        .append_link(&mut h, &member, format!("../{first}"))
                        .unwrap();
                    member
                }
                None => {
                    let member = format!("{}/layer.tar", &id["sha256:".len()..]);
                    append(&mut builder, &member, &layer.tar);
                    written.insert(id, member.clone());
                    member
                }
            };
            layers.push(member);
        }
        manifest.push(serde_json::json!({
            "Config": config_name,
            "RepoTags": [tag],
            "Layers": layers,
        }));
    }
    append(
        &mut builder,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    builder.into_inner().unwrap()
}

/// A Docker 25+ `docker save` archive: an OCI layout plus `manifest.json` pointing at
/// `blobs/sha256/<hex>` members.
pub fn docker_archive_v25(tag: &str, image: &BuiltImage) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for blob in image.blobs() {
        append(
            &mut builder,
            &format!("blobs/sha256/{}", &sha256(blob)["sha256:".len()..]),
            blob,
        );
    }
    let manifest = serde_json::json!([{
        "Config": format!("blobs/sha256/{}", &sha256(&image.config)["sha256:".len()..]),
        "RepoTags": [tag],
        "Layers": (0..image.layers.len())
            .map(|i| format!("blobs/sha256/{}", &image.layer_digest(i)["sha256:".len()..]))
            .collect::<Vec<_>>(),
    }]);
    append(
        &mut builder,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    builder.into_inner().unwrap()
}

fn append(builder: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    builder.append_data(&mut h, path, data).unwrap();
}
