//! Scanning one image: read the few files that matter (release files and package databases)
//! through `drydock-imagefs`, turn them into an OS and a package inventory with `drydock-vuln`,
//! and assess them against the compiled index. Shared by `drydock scan`, the `scanner` worker
//! stage and `drydock clean --vulndb`.
//!
//! Every failure to read or parse an image becomes a [`Verdict::Failed`] with the reason, never
//! an error of the run: one bad image must not stop the others. Images held by containerd are
//! found in its content store by manifest digest (the repo digests the runtime reports) or, for
//! images imported without a digest reference, by their config digest (the CRI image ID), which
//! [`ContainerdImages`] maps back to a manifest by reading the store's small JSON blobs once.
//!
//! Layers are read from the content store's blobs first. When containerd discarded them after
//! unpacking (`discard_unpacked_layers`), the image is read from its unpacked snapshot
//! directories instead: the config's diff IDs give the chain IDs that name the committed
//! snapshots, a read-only view of the top one (containerd's snapshots API, [`SnapshotSource`])
//! lists the layer directories, and the view is removed afterwards. An image readable neither
//! way is [`Verdict::Unscannable`] and kept.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use drydock_cri::Endpoint;
use drydock_cri::snapshots::{K8S_NAMESPACE, OVERLAYFS, SnapshotsClient, layer_dirs};
use drydock_imagefs::{
    BlobSource, ContentStore, Digest, Extractor, Image, ImageFiles, Interest, MAX_JSON_BLOB,
    Platform, SnapshotLayer, chain_ids,
};
use drydock_vuln::ecosystem::{DbLocation, PACKAGE_DATABASES, RELEASE_FILES};
use drydock_vuln::inventory::language::LanguagePackage;
use drydock_vuln::verdict::assess_image;
use drydock_vuln::{Assessment, Index, Os, Package, ReleaseFiles, ScannerConfig, Verdict};
use jiff::Timestamp;
use serde::Serialize;

/// containerd's content store directory under its root (`/var/lib/containerd`).
pub const CONTENT_STORE_DIR: &str = "io.containerd.content.v1.content";
/// The prefix of a snapshotter's directory under containerd's root (followed by its name, e.g.
/// `io.containerd.snapshotter.v1.overlayfs`).
pub const SNAPSHOTTER_DIR_PREFIX: &str = "io.containerd.snapshotter.v1.";
/// The prefix of the temporary view keys the scanner creates (and removes) in containerd.
const VIEW_KEY_PREFIX: &str = "drydock-scan";

/// The files the scanner reads from an image: the release files and package databases the
/// ecosystem registry ([`drydock_vuln::ecosystem`]) declares.
#[must_use]
pub fn interest() -> Interest {
    let mut interest = RELEASE_FILES
        .paths()
        .fold(Interest::new(), |interest, path| interest.with_path(path))
        .with_dir(RELEASE_FILES.content_manifests_dir);
    for database in PACKAGE_DATABASES {
        interest = match database.location {
            DbLocation::Files { paths, .. } => paths
                .iter()
                .fold(interest, |interest, path| interest.with_path(path)),
            DbLocation::Dir(dir) => interest.with_dir(dir),
        };
    }
    interest
}

/// The OS (when detected) and the OS packages of an image's files.
///
/// # Errors
/// A corrupt or unsupported package database, naming its path.
pub fn inventory(files: &ImageFiles) -> drydock_vuln::Result<(Option<Os>, Vec<Package>)> {
    let text = |path: &str| files.get(path).and_then(|b| std::str::from_utf8(b).ok());
    let first = |paths: &[&str]| paths.iter().find_map(|p| text(p));
    let manifests: Vec<&str> = files
        .under(RELEASE_FILES.content_manifests_dir)
        .filter(|(path, _)| path.ends_with(".json"))
        .filter_map(|(_, bytes)| std::str::from_utf8(bytes).ok())
        .collect();
    let release = ReleaseFiles {
        os_release: first(RELEASE_FILES.os_release),
        debian_version: first(RELEASE_FILES.debian_version),
        lsb_release: first(RELEASE_FILES.lsb_release),
        alpine_release: first(RELEASE_FILES.alpine_release),
        apk_repositories: first(RELEASE_FILES.apk_repositories),
        redhat_release: first(RELEASE_FILES.redhat_release),
        system_release: first(RELEASE_FILES.system_release),
        content_manifests: &manifests,
    };
    let os = drydock_vuln::detect_os(&release);
    let mut packages = Vec::new();
    for database in PACKAGE_DATABASES {
        match database.location {
            DbLocation::Files { paths, first_only } => {
                for path in paths {
                    if let Some(bytes) = files.get(path) {
                        packages.extend(database.format.parse(path, bytes)?);
                        if first_only {
                            break;
                        }
                    }
                }
            }
            DbLocation::Dir(dir) => {
                for (path, bytes) in files.under(dir) {
                    packages.extend(database.format.parse(path, bytes)?);
                }
            }
        }
    }
    Ok((os, packages))
}

/// The OS as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OsReport {
    /// The family (`debian`, `alpine`, …).
    pub family: String,
    /// The version as found (`12`, `3.18.4`).
    pub version: String,
    /// The release used to select vulnerability data (`12`, `3.18`).
    pub release: String,
    /// The codename, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codename: Option<String>,
    /// Whether OSV publishes data for it; without (Amazon Linux, Oracle Linux, Fedora) its OS
    /// packages are inventoried but nothing can match them ("no data in OSV").
    #[serde(skip_serializing_if = "is_true")]
    pub osv_data: bool,
}

/// How long the phases of one image's scan took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// Resolving the image and reading its files (cached layers cost nothing).
    pub read_ms: f64,
    /// Parsing the inventory, matching and deciding.
    pub match_ms: f64,
}

/// One image's scan: what was found and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageScan {
    /// How the image was named (reference, ID or path).
    pub image: String,
    /// The image ID (config digest), when the image could be resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// The detected OS.
    pub os: Option<OsReport>,
    /// How many OS packages were inventoried.
    pub packages: usize,
    /// How many language packages were inventoried (with `library` scanning on).
    #[serde(skip_serializing_if = "is_zero")]
    pub language_packages: usize,
    /// The verdict, the OS support status and the number of unfiltered findings.
    #[serde(flatten)]
    pub assessment: Assessment,
    /// Every package found, OS packages first, when the scanner was asked for the list
    /// ([`ImageScanner::with_package_list`]; Trivy's `--list-all-pkgs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_list: Option<Vec<ListedPackage>>,
    /// How long it took.
    pub timings: Timings,
}

/// One package of an image's package list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ListedPackage {
    /// The OS family (`debian`, `alpine`, …) for an OS package; the OSV ecosystem (`Go`,
    /// `PyPI`, `crates.io`, …) for a language package.
    pub ecosystem: String,
    /// Its name (the binary package; a module path; `groupId:artifactId`).
    pub name: String,
    /// Its version as recorded.
    pub version: String,
    /// The file a language package was read from, in the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Scans images against one index and configuration, caching layers across images.
#[derive(Debug)]
pub struct ImageScanner {
    extractor: Extractor,
    index: Index,
    config: ScannerConfig,
    list_packages: bool,
}

// === impl ImageScan ===

impl ImageScan {
    /// A scan that failed before anything was assessed.
    #[must_use]
    pub fn failed(image: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            image: image.into(),
            image_id: None,
            os: None,
            packages: 0,
            language_packages: 0,
            assessment: Assessment {
                verdict: Verdict::failed(reason),
                eol_status: None,
                matched: 0,
            },
            package_list: None,
            timings: Timings::default(),
        }
    }

    /// The verdict.
    #[must_use]
    pub fn verdict(&self) -> &Verdict {
        &self.assessment.verdict
    }
}

// === impl ImageScanner ===

impl ImageScanner {
    /// A scanner matching against `index` under `config`.
    #[must_use]
    pub fn new(index: Index, config: ScannerConfig) -> Self {
        let interest = if config.scans_library_vulnerabilities() {
            crate::node::language::with_language_files(interest())
        } else {
            interest()
        };
        Self {
            extractor: Extractor::new(interest),
            index,
            config,
            list_packages: false,
        }
    }

    /// The same scanner, listing every package it finds in each [`ImageScan`].
    #[must_use]
    pub fn with_package_list(mut self) -> Self {
        self.list_packages = true;
        self
    }

    /// The configuration verdicts are decided under.
    #[must_use]
    pub fn config(&self) -> &ScannerConfig {
        &self.config
    }

    /// How many layers were read so far (shared layers are read once).
    #[must_use]
    pub fn layers_read(&self) -> u64 {
        self.extractor.layers_read()
    }

    /// Scans `image` from `source` at `now`.
    pub fn scan<S: BlobSource + ?Sized>(
        &self,
        source: &S,
        image: &Image,
        now: Timestamp,
    ) -> ImageScan {
        let started = Instant::now();
        let files = self.extractor.image(source, image);
        let read_ms = elapsed_ms(started);
        let mut scan = self.assess_files(&image.name, files, now);
        scan.image_id = Some(image.config.to_string());
        scan.timings.read_ms += read_ms;
        scan
    }

    /// Assesses files already read (or the error reading them) at `now`.
    pub fn assess_files(
        &self,
        name: &str,
        files: drydock_imagefs::Result<ImageFiles>,
        now: Timestamp,
    ) -> ImageScan {
        let started = Instant::now();
        let files = match files {
            Ok(files) => files,
            Err(error)
                if matches!(
                    error.root_cause(),
                    drydock_imagefs::Error::BlobNotFound { .. }
                ) =>
            {
                // containerd discards layer blobs after unpacking (`discard_unpacked_layers`);
                // the image is intact and must not be deleted as "failed". The caller may
                // still read it from its unpacked snapshots.
                let mut scan = ImageScan::failed(name, "");
                scan.assessment.verdict = Verdict::Unscannable {
                    reason: format!(
                        "{error} (layer blobs discarded after unpacking?); the image is kept"
                    ),
                };
                return scan;
            }
            Err(error) => return ImageScan::failed(name, error.to_string()),
        };
        let (os, packages) = match inventory(&files) {
            Ok(found) => found,
            Err(error) => return ImageScan::failed(name, error.to_string()),
        };
        let language = if self.config.scans_library_vulnerabilities() {
            let (language, unreadable) = crate::node::language::packages(&files);
            for reason in unreadable {
                tracing::warn!(image = name, %reason, "language package metadata not read");
            }
            language
        } else {
            Vec::new()
        };
        let assessment = assess_image(
            os.as_ref(),
            &packages,
            &language,
            &self.index,
            &self.config,
            now,
        );
        let package_list = self.list_packages.then(|| {
            let family = os
                .as_ref()
                .map_or_else(|| UNKNOWN_FAMILY.to_owned(), |os| os.family.to_string());
            package_list(&family, &packages, &language)
        });
        ImageScan {
            image: name.to_owned(),
            image_id: None,
            os: os.map(|os| OsReport {
                family: os.family.to_string(),
                osv_data: !os.osv_ecosystems().is_empty(),
                version: os.version_id,
                release: os.release,
                codename: os.codename,
            }),
            packages: packages.len(),
            language_packages: language.len(),
            assessment,
            package_list,
            timings: Timings {
                read_ms: 0.0,
                match_ms: elapsed_ms(started),
            },
        }
    }
}

/// The ecosystem listed for OS packages of an image whose OS was not recognised.
const UNKNOWN_FAMILY: &str = "unknown";

/// The package list of an image: its OS packages under `family`, then its language packages,
/// each part sorted.
fn package_list(
    family: &str,
    packages: &[Package],
    language: &[LanguagePackage],
) -> Vec<ListedPackage> {
    let mut os: Vec<ListedPackage> = packages
        .iter()
        .map(|p| ListedPackage {
            ecosystem: family.to_owned(),
            name: p.name.clone(),
            version: p.version.clone(),
            path: None,
        })
        .collect();
    os.sort();
    let mut lang: Vec<ListedPackage> = language
        .iter()
        .map(|p| ListedPackage {
            ecosystem: p.ecosystem.osv_name().to_owned(),
            name: p.name.clone(),
            version: p.version.clone(),
            path: Some(p.path.clone()),
        })
        .collect();
    lang.sort();
    os.extend(lang);
    os
}

impl ImageScanner {
    /// Scans `image` from its unpacked layer directories (lowest first) at `now`.
    ///
    /// # Errors
    /// The reason, when a directory cannot be read (gone, or no permission): the image is then
    /// as unscannable as without snapshots. Other problems (limits, corrupt databases) are a
    /// failed scan, as they are when read from blobs.
    pub fn scan_snapshots(
        &self,
        image: &Image,
        layers: &[SnapshotLayer],
        now: Timestamp,
    ) -> std::result::Result<ImageScan, String> {
        let started = Instant::now();
        let files = self.extractor.snapshot_image(&image.name, layers);
        if let Err(error) = &files
            && matches!(error.root_cause(), drydock_imagefs::Error::Io { .. })
        {
            return Err(error.to_string());
        }
        let read_ms = elapsed_ms(started);
        let mut scan = self.assess_files(&image.name, files, now);
        scan.image_id = Some(image.config.to_string());
        scan.timings.read_ms += read_ms;
        Ok(scan)
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_true(b: &bool) -> bool {
    *b
}

fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Images held by containerd, read from its content store on disk.
#[derive(Debug)]
pub struct ContainerdImages {
    dir: PathBuf,
    store: ContentStore,
    platform: Platform,
    by_config: OnceLock<HashMap<String, Digest>>,
    snapshots: Option<SnapshotSource>,
}

/// Where the unpacked snapshots of images whose layer blobs are gone are found: containerd's
/// snapshots API on its socket, and the snapshotter's directory as this process sees it.
#[derive(Debug, Clone)]
pub struct SnapshotSource {
    /// containerd's socket (the CRI endpoint: containerd serves its own API there too).
    pub endpoint: Endpoint,
    /// The snapshotter the CRI plugin unpacks with.
    pub snapshotter: String,
    /// The containerd namespace the images are in.
    pub namespace: String,
    /// The snapshotter's directory here; the directories containerd names are re-rooted onto
    /// it, so containerd's root may be mounted at another path.
    pub dir: PathBuf,
}

// === impl ContainerdImages ===

impl ContainerdImages {
    /// The content store under containerd's `root` (`/var/lib/containerd`), for `platform`.
    #[must_use]
    pub fn new(root: &Path, platform: Platform) -> Self {
        let dir = root.join(CONTENT_STORE_DIR);
        Self {
            store: ContentStore::new(&dir),
            dir,
            platform,
            by_config: OnceLock::new(),
            snapshots: None,
        }
    }

    /// Reads images whose layer blobs are gone from their unpacked snapshots, found through
    /// `source`.
    #[must_use]
    pub fn with_snapshots(mut self, source: SnapshotSource) -> Self {
        self.snapshots = Some(source);
        self
    }

    /// Where unpacked snapshots are looked for, if anywhere.
    #[must_use]
    pub fn snapshots(&self) -> Option<&SnapshotSource> {
        self.snapshots.as_ref()
    }

    /// The content store, the blob source of resolved images.
    #[must_use]
    pub fn store(&self) -> &ContentStore {
        &self.store
    }

    /// Resolves an image by its repo digests (manifest or index digests), else by its ID.
    ///
    /// # Errors
    /// When neither leads to a manifest in the store (the message names what was tried).
    pub fn resolve(&self, image: &drydock_api::Image) -> drydock_imagefs::Result<Image> {
        let name = image.names.first().unwrap_or(&image.image_id).clone();
        let mut last_error = None;
        for digest in &image.digests {
            match Digest::parse(digest).and_then(|d| self.store.image(&name, &d, &self.platform)) {
                Ok(resolved) => return Ok(resolved),
                Err(error) => last_error = Some(error),
            }
        }
        let id = image.image_id.trim_start_matches("sha256:");
        if let Some(manifest) = self.manifests_by_config().get(id) {
            return self.store.image(&name, manifest, &self.platform);
        }
        Err(
            last_error.unwrap_or_else(|| drydock_imagefs::Error::NoSuchImage {
                source_name: self.dir.display().to_string(),
                reference: image.image_id.clone(),
                available: "no manifest names this config".to_owned(),
            }),
        )
    }

    /// Config digest hex → manifest digest, from every manifest blob in the store.
    fn manifests_by_config(&self) -> &HashMap<String, Digest> {
        self.by_config
            .get_or_init(|| manifests_by_config(&self.dir.join("blobs/sha256")))
    }
}

// === impl SnapshotSource ===

impl SnapshotSource {
    /// The CRI plugin's defaults: the overlayfs snapshotter in namespace `k8s.io`, whose
    /// directory is under containerd's `root`.
    #[must_use]
    pub fn overlayfs(endpoint: Endpoint, root: &Path) -> Self {
        Self {
            endpoint,
            snapshotter: OVERLAYFS.to_owned(),
            namespace: K8S_NAMESPACE.to_owned(),
            dir: root.join(format!("{SNAPSHOTTER_DIR_PREFIX}{OVERLAYFS}")),
        }
    }

    /// Creates a read-only view of the committed snapshot `parent`, hands its layer
    /// directories (lowest first, re-rooted onto [`SnapshotSource::dir`]) to `read`, and
    /// removes the view whatever `read` returned. The gRPC calls run on a thread of their own
    /// with a small runtime, so this may be called from synchronous code on any thread (also
    /// one that is inside an async runtime); `read` runs on the calling thread.
    ///
    /// # Errors
    /// Why the view could not be made or its mounts not understood.
    pub fn with_view<T>(
        &self,
        parent: &Digest,
        read: impl FnOnce(Vec<PathBuf>) -> T,
    ) -> std::result::Result<T, String> {
        let key = format!(
            "{VIEW_KEY_PREFIX}-{}-{:016x}",
            std::process::id(),
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        );
        let mounts =
            self.call(async |client| client.view(&self.snapshotter, &key, parent.as_str()).await)?;
        let result = layer_dirs(&mounts)
            .and_then(|dirs| {
                dirs.iter()
                    .map(|dir| rebase(dir, &self.snapshotter, &self.dir))
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .map(read);
        if let Err(error) = self.call(async |client| client.remove(&self.snapshotter, &key).await) {
            tracing::warn!(key, error = %error, "could not remove the scanner's snapshot view");
        }
        result
    }

    /// Connects and makes one call, on a thread with its own runtime.
    fn call<T: Send>(
        &self,
        call: impl AsyncFnOnce(&mut SnapshotsClient) -> drydock_cri::Result<T> + Send,
    ) -> std::result::Result<T, String> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| {
                            format!("cannot start a runtime for containerd's snapshots API: {e}")
                        })?;
                    runtime
                        .block_on(async {
                            let mut client =
                                SnapshotsClient::connect(&self.endpoint, &self.namespace).await?;
                            call(&mut client).await
                        })
                        .map_err(|e| e.to_string())
                })
                .join()
                .unwrap_or_else(|_| Err("the snapshots API thread panicked".to_owned()))
        })
    }
}

/// `dir` as containerd named it, re-rooted onto `local` (the snapshotter's directory as this
/// process sees it) when it lies under a `io.containerd.snapshotter.v1.<snapshotter>` directory.
///
/// # Errors
/// When the part below that directory is not a plain relative path.
fn rebase(dir: &Path, snapshotter: &str, local: &Path) -> std::result::Result<PathBuf, String> {
    let marker = format!("{SNAPSHOTTER_DIR_PREFIX}{snapshotter}");
    let mut components = dir.components();
    while let Some(component) = components.next() {
        if component.as_os_str() == marker.as_str() {
            let rest = components.as_path();
            if !rest.components().all(|c| matches!(c, Component::Normal(_))) {
                return Err(format!("snapshot directory {} is not plain", dir.display()));
            }
            return Ok(local.join(rest));
        }
    }
    Ok(dir.to_owned())
}

/// The snapshot layers to read for an image with chain IDs `chain` (lowest first) whose view
/// lists `dirs`: keyed by chain ID when there is one directory per layer (so images sharing
/// layers share the cache), else by directory (a snapshotter keeping whole copies).
fn snapshot_layers(chain: &[Digest], dirs: Vec<PathBuf>) -> Vec<SnapshotLayer> {
    let per_layer = chain.len() == dirs.len();
    dirs.into_iter()
        .enumerate()
        .map(|(i, dir)| SnapshotLayer {
            key: match chain.get(i) {
                Some(id) if per_layer => id.to_string(),
                _ => format!("snapshot {}", dir.display()),
            },
            dir,
        })
        .collect()
}

/// Reads the small blobs of a content store directory and maps each image manifest's config
/// digest (hex) to the manifest's digest. Unreadable or foreign blobs are skipped.
fn manifests_by_config(dir: &Path) -> HashMap<String, Digest> {
    #[derive(serde::Deserialize)]
    struct Descriptor {
        digest: String,
    }
    #[derive(serde::Deserialize)]
    struct Manifest {
        config: Descriptor,
        layers: Vec<serde::de::IgnoredAny>,
    }
    let mut map = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return map;
    };
    for entry in entries.flatten() {
        let small = entry
            .metadata()
            .is_ok_and(|m| m.is_file() && m.len() <= MAX_JSON_BLOB);
        let Some(hex) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !small {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        if bytes.first() != Some(&b'{') {
            continue;
        }
        let Ok(manifest) = serde_json::from_slice::<Manifest>(&bytes) else {
            continue;
        };
        let _ = manifest.layers;
        if let (Some(config), Ok(digest)) = (
            manifest.config.digest.strip_prefix("sha256:"),
            Digest::parse(&format!("sha256:{hex}")),
        ) {
            map.insert(config.to_owned(), digest);
        }
    }
    map
}

/// The scanner of images held by containerd: resolves each image in the content store and
/// scans it at the time `clock` gives.
#[derive(Debug)]
pub struct ContainerdScanner<C> {
    /// Where the images are.
    pub images: ContainerdImages,
    /// The scanner.
    pub scanner: ImageScanner,
    /// The current time, for end-of-life decisions.
    pub clock: C,
}

// === impl ContainerdScanner ===

impl<C: FnMut() -> Timestamp> ContainerdScanner<C> {
    /// Scans one image handed over by the collector (or listed by CRI).
    pub fn scan_image(&mut self, image: &drydock_api::Image) -> ImageScan {
        let name = image.names.first().unwrap_or(&image.image_id).clone();
        let now = (self.clock)();
        let started = Instant::now();
        match self.images.resolve(image) {
            Ok(resolved) => {
                let mut scan = self.scanner.scan(self.images.store(), &resolved, now);
                if let (Verdict::Unscannable { reason }, Some(source)) =
                    (scan.verdict(), self.images.snapshots())
                {
                    scan = match scan_unpacked(&self.scanner, source, &resolved, now) {
                        Ok(unpacked) => unpacked,
                        Err(why) => {
                            let mut kept = scan.clone();
                            kept.assessment.verdict = Verdict::Unscannable {
                                reason: format!(
                                    "{reason}; its unpacked snapshots cannot be read either: {why}"
                                ),
                            };
                            kept
                        }
                    };
                }
                scan.timings.read_ms = elapsed_ms(started) - scan.timings.match_ms;
                scan.image = name;
                scan
            }
            Err(error) => {
                let mut scan = ImageScan::failed(name, error.to_string());
                scan.image_id = Some(image.image_id.clone());
                scan
            }
        }
    }
}

/// Scans `image` from its unpacked snapshots found through `source`.
///
/// # Errors
/// Why the snapshots cannot be read (no diff IDs, no such snapshot, unreadable directories).
fn scan_unpacked(
    scanner: &ImageScanner,
    source: &SnapshotSource,
    image: &Image,
    now: Timestamp,
) -> std::result::Result<ImageScan, String> {
    let diff_ids = image
        .layers
        .iter()
        .map(|layer| layer.diff_id.clone())
        .collect::<Option<Vec<_>>>()
        .ok_or("the image config lists no diff IDs")?;
    let chain = chain_ids(&diff_ids);
    let top = chain.last().ok_or("the image has no layers")?;
    source.with_view(top, |dirs| {
        scanner.scan_snapshots(image, &snapshot_layers(&chain, dirs), now)
    })?
}

impl<C: FnMut() -> Timestamp + Send + 'static> crate::node::scan::ScanImageBlocking
    for ContainerdScanner<C>
{
    fn scan_blocking(&mut self, image: &drydock_api::Image) -> Verdict {
        self.scan_image(image).assessment.verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_found_by_their_config_digest_and_other_blobs_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let manifest = br#"{"schemaVersion":2,"config":{"digest":"sha256:cc"},"layers":[]}"#;
        let hex = Digest::sha256_of(manifest).hex().to_owned();
        std::fs::write(blobs.join(&hex), manifest).unwrap();
        std::fs::write(blobs.join("aa"), b"\x1f\x8b not json").unwrap();
        std::fs::write(blobs.join("bb"), br#"{"architecture":"amd64"}"#).unwrap();
        let map = manifests_by_config(&blobs);
        assert_eq!(map.len(), 1);
        assert_eq!(map["cc"].hex(), hex);
    }

    #[test]
    fn an_image_whose_layer_blob_was_discarded_is_unscannable_not_failed() {
        let root = tempfile::tempdir().unwrap();
        let blobs = root.path().join(CONTENT_STORE_DIR).join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let write = |bytes: &[u8]| {
            let digest = Digest::sha256_of(bytes);
            std::fs::write(blobs.join(digest.hex()), bytes).unwrap();
            digest
        };
        let layer = Digest::sha256_of(b"a layer containerd discarded after unpacking");
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer.to_string()]},
        }))
        .unwrap();
        let config = write(&config);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config.to_string(), "size": 1},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer.to_string(), "size": 1}],
        }))
        .unwrap();
        let manifest = write(&manifest);
        let index_dir = tempfile::tempdir().unwrap();
        let db = index_dir.path().join("vuln.db");
        drydock_vuln::index::build(&[] as &[&Path], &db, Timestamp::UNIX_EPOCH).unwrap();
        let mut scanner = ContainerdScanner {
            images: ContainerdImages::new(root.path(), Platform::linux_amd64()),
            scanner: ImageScanner::new(Index::open(&db).unwrap(), ScannerConfig::default()),
            clock: || Timestamp::UNIX_EPOCH,
        };
        let unpacked = drydock_api::Image {
            image_id: config.to_string(),
            names: vec!["localhost/unpacked:1".to_owned()],
            digests: vec![manifest.to_string()],
            in_use: false,
        };
        let scan = scanner.scan_image(&unpacked);
        let Verdict::Unscannable { reason } = scan.verdict() else {
            panic!("{:?}", scan.verdict());
        };
        assert!(reason.contains(layer.as_str()), "{reason}");
        assert!(!scan.verdict().should_delete(&ScannerConfig::default()));

        // With snapshots to look for, but no containerd answering: still unscannable, and the
        // reason says the snapshots were tried.
        let socket = root.path().join("no-containerd.sock");
        let endpoint: Endpoint = socket.to_str().unwrap().parse().unwrap();
        scanner.images = ContainerdImages::new(root.path(), Platform::linux_amd64())
            .with_snapshots(SnapshotSource::overlayfs(endpoint, root.path()));
        let scan = scanner.scan_image(&unpacked);
        let Verdict::Unscannable { reason } = scan.verdict() else {
            panic!("{:?}", scan.verdict());
        };
        assert!(
            reason.contains("unpacked snapshots cannot be read"),
            "{reason}"
        );
        assert!(reason.contains("no-containerd.sock"), "{reason}");
    }

    #[test]
    fn snapshot_dirs_are_rerooted_onto_the_local_snapshotter_dir() {
        let local = Path::new("/host/containerd/io.containerd.snapshotter.v1.overlayfs");
        let named =
            Path::new("/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/12/fs");
        assert_eq!(
            rebase(named, "overlayfs", local).unwrap(),
            local.join("snapshots/12/fs")
        );
        let elsewhere = Path::new("/srv/other/12/fs");
        assert_eq!(rebase(elsewhere, "overlayfs", local).unwrap(), elsewhere);
        let sneaky = Path::new("/x/io.containerd.snapshotter.v1.overlayfs/../../etc");
        assert!(rebase(sneaky, "overlayfs", local).is_err());
    }

    #[test]
    fn snapshot_layers_are_keyed_by_chain_id_when_there_is_one_dir_per_layer() {
        let chain = chain_ids(&[
            Digest::sha256_of(b"layer one"),
            Digest::sha256_of(b"layer two"),
        ]);
        let dirs = || vec![PathBuf::from("/s/1/fs"), PathBuf::from("/s/2/fs")];
        let layers = snapshot_layers(&chain, dirs());
        assert_eq!(layers[0].key, chain[0].to_string());
        assert_eq!(layers[1].key, chain[1].to_string());
        assert_eq!(layers[1].dir, PathBuf::from("/s/2/fs"));
        // One whole copy (a bind mount of a two-layer image): keyed by its directory.
        let whole = snapshot_layers(&chain, vec![PathBuf::from("/s/9/fs")]);
        assert_eq!(whole[0].key, "snapshot /s/9/fs");
    }

    #[test]
    fn interest_covers_both_os_release_paths_and_status_d() {
        let interest = interest();
        assert!(interest.wants("etc/os-release"));
        assert!(interest.wants("usr/lib/os-release"));
        assert!(interest.wants("var/lib/dpkg/status.d/tzdata"));
        assert!(!interest.wants("usr/bin/ls"));
    }
}
