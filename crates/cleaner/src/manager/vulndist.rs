//! Distribution of the vulnerability index in a cluster: the manager obtains OSV data once (a
//! configured mirror URL of an OSV `all.zip`, or a directory or zip mounted into its pod),
//! compiles it into the index ([`drydock_vuln::index::build`]), refreshes it on a schedule and
//! serves it over the manager's Service at [`PATH`] with its sha256 as the ETag; the scanner on
//! each node keeps a copy in a host directory and revalidates it with `If-None-Match`, so the
//! data crosses the network once per cluster and once per node per change, never per node per
//! run, and nodes never reach the internet.
//!
//! Manager side: [`Source`] (flag values), [`VulnDb`] (the published index, one
//! [`VulnDb::build_once`] per refresh, [`VulnDb::refresh_loop`]), [`router`] and [`serve`].
//! A failed build leaves the last good index in place; before the first good build the endpoint
//! answers 503, and a node's scanner then fails before it hands anything to the remover.
//! URL sources are kept under [`SOURCES_DIR`] with their `ETag` / `Last-Modified` and
//! revalidated at each refresh (`If-None-Match`, `If-Modified-Since`): an unchanged dump costs
//! a `304` and no body; the index is then rebuilt from the kept files.
//!
//! Worker side ([`mod@fetch`], re-exported here): [`fetch()`] keeps `index.sqlite` and
//! `index.etag` in the cache directory, under a lock file so that several pods on one node do
//! not interleave; a download is written to a temporary file, checked against the ETag's
//! sha256 and renamed into place, so a reader sees the old index or the new one, never a torn
//! or forged one.
//!
//! The names both sides share (the endpoint's path and port, the node cache directory, the
//! manager's URL) are in [`drydock_api::names::vulndb`], so the pure pod construction
//! ([`crate::manager::podspec`]) names them without this IO module.
//!
//! The decisions (when to retry, whether an ETag matches) are pure functions; time is an
//! argument and the loop sleeps on tokio's clock.

use std::convert::Infallible;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use drydock_vuln::index::{self, Index};
use jiff::Timestamp;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::{RwLock, watch};
use tracing::{info, warn};

use crate::download::{INDEX_FILE, http_client, status_error, stream_to_file};
use crate::manager::osvsync;
use crate::{Error, Result};

pub use drydock_api::names::vulndb::{DEFAULT_CACHE_DIR, DEFAULT_PORT, PATH, manager_url};

/// How often the manager rebuilds the index: OSV dumps are regenerated continuously, a daily
/// rebuild matches Eraser's daily default run and Trivy's daily database.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// Directory under the manager's data directory where downloaded dumps are kept between
/// refreshes, each next to its validators, so an unchanged dump is not downloaded again.
pub const SOURCES_DIR: &str = "sources";
/// Suffix of a kept dump's validators file (its `ETag` and `Last-Modified`, one per line).
const VALIDATORS_SUFFIX: &str = ".validators";
/// The content type of the index (the registered SQLite media type).
const CONTENT_TYPE: &str = "application/vnd.sqlite3";

/// The largest OSV dump the manager downloads: per-ecosystem dumps run from MiBs (Alpine about
/// 12 MiB) to hundreds of MiB; past this a server is runaway and would fill the manager's volume.
pub const MAX_SOURCE_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Time allowed for one OSV dump download, body included: a GiB at a slow 1 MB/s.
pub const SOURCE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How often the manager looks for a new index from the builder container
/// ([`Settings::built_by`]): a stat per period; scanners revalidate per run, so a minute
/// of delay is invisible.
pub const ADOPT_PERIOD: Duration = Duration::from_secs(60);
/// How often the manager looks while it has no index to serve yet: scanners of the first run
/// are waiting for it (with 503s), and the builder's first build takes seconds.
pub const ADOPT_FIRST_PERIOD: Duration = Duration::from_secs(2);
/// First retry after a failed build; doubled per consecutive failure up to the refresh period,
/// so a mirror that is briefly down is retried soon and a broken one is not hammered.
pub const RETRY_INITIAL: Duration = Duration::from_secs(60);
/// Bytes per chunk when streaming the index to a client.
const STREAM_CHUNK_BYTES: usize = 64 * 1024;
/// `Retry-After` on the 503 before the first build, in seconds (the first retry interval).
const RETRY_AFTER_SECONDS: &str = "60";
/// The flag whose values [`Source`] parses, named in errors.
const SOURCE_FLAG: &str = "--vulndb-source";

/// Where the manager gets OSV data: a `--vulndb-source` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An `http(s)://` URL of an OSV dump (`…/Debian/all.zip`), downloaded at each build.
    Url(reqwest::Url),
    /// A directory of OSV records or dumps, or one dump, mounted into the manager's pod.
    Path(PathBuf),
}

// === impl Source ===

impl FromStr for Source {
    type Err = Error;

    /// Parses a flag value; a URL must be `http` or `https` with a host, anything without
    /// `://` is a path. No IO: a missing path is reported by the build, naming it.
    fn from_str(value: &str) -> Result<Self> {
        let bad = |message: String| Error::Input {
            source_name: format!("{SOURCE_FLAG}={value:?}"),
            message,
        };
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(bad(
                "empty: give an http(s):// URL of an OSV all.zip or a mounted directory or zip"
                    .to_owned(),
            ));
        }
        let Some((scheme, _)) = trimmed.split_once("://") else {
            return Ok(Self::Path(PathBuf::from(trimmed)));
        };
        if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
            return Err(bad(format!(
                "unsupported scheme {scheme:?}: give an http(s):// URL of an OSV all.zip or a \
                 mounted directory or zip"
            )));
        }
        let url = reqwest::Url::parse(trimmed).map_err(|e| bad(format!("not a URL: {e}")))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("the URL has no host".to_owned()));
        }
        Ok(Self::Url(url))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(url) => write!(f, "{url}"),
            Self::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The index the manager serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// `sha256:<hex>` of the file; quoted, it is the ETag.
    pub digest: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was built.
    pub built_at: Timestamp,
    /// OSV records the build skipped as unreadable (named in its logs and `drydock vulndb
    /// info`).
    pub skipped: u64,
}

impl Published {
    /// The `ETag` header value: the digest in quotes.
    #[must_use]
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.digest)
    }
}

/// What the refresh loop has achieved so far (for readiness, metrics and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// The index being served, if any.
    pub published: Option<Published>,
    /// Build attempts so far.
    pub attempts: u64,
    /// Consecutive failed attempts (0 after a success).
    pub failures: u32,
    /// The last failure, if the last attempt failed.
    pub last_error: Option<String>,
    /// Body bytes downloaded from URL sources by the last attempt (0 when every dump was
    /// unchanged: answered `304 Not Modified`).
    pub fetched_bytes: u64,
}

/// Settings of the manager side.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the OSV data comes from, compiled in this order.
    pub sources: Vec<Source>,
    /// Directory for the index and build scratch space (an emptyDir in the manager's pod).
    pub dir: PathBuf,
    /// Rebuild period ([`DEFAULT_REFRESH`]).
    pub refresh: Duration,
    /// An index another process builds from the sources (the builder container of the
    /// manager's pod, `drydock vulndb refresh`). When set, nothing is downloaded or built
    /// here: [`VulnDb::refresh_loop`] adopts that file each time it changes
    /// ([`VulnDb::adopt_once`]) and `sources` are not read.
    pub built_by: Option<PathBuf>,
}

/// The manager's vulnerability index: built from the [`Settings`]' sources, swapped in
/// atomically, served by [`router`]. Cheap to clone (shared state).
#[derive(Clone, Debug)]
pub struct VulnDb {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: Settings,
    http: reqwest::Client,
    /// The served index. Readers open the file under the read lock and the swap renames under
    /// the write lock, so a response's bytes always belong to its ETag.
    current: RwLock<Option<Published>>,
    status: watch::Sender<Status>,
}

// === impl VulnDb ===

impl VulnDb {
    /// The manager side over `settings`; serves nothing until a build succeeds (or an index
    /// left in `settings.dir` by a previous start is loaded by [`VulnDb::refresh_loop`]).
    ///
    /// # Errors
    /// [`Error::Fetch`] when the HTTP client cannot be built.
    pub fn new(settings: Settings) -> Result<Self> {
        let http = http_client(SOURCE_TIMEOUT)?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                http,
                current: RwLock::new(None),
                status: watch::Sender::new(Status::default()),
            }),
        })
    }

    /// The index being served, if any.
    pub async fn published(&self) -> Option<Published> {
        self.inner.current.read().await.clone()
    }

    /// Follows the refresh loop's progress.
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    fn index_path(&self) -> PathBuf {
        self.inner.settings.dir.join(INDEX_FILE)
    }

    /// Builds the index from the sources at `now` and swaps it in. On any failure the index
    /// served so far stays, and the scratch files are removed.
    ///
    /// # Errors
    /// [`Error::Input`] when no source is configured, [`Error::Fetch`] for a download,
    /// [`Error::Io`] for the data directory, [`Error::Index`] for the build.
    pub async fn build_once(&self, now: Timestamp) -> Result<Published> {
        let settings = &self.inner.settings;
        if settings.sources.is_empty() {
            return Err(Error::Input {
                source_name: SOURCE_FLAG.to_owned(),
                message: "no vulnerability data source is configured".to_owned(),
            });
        }
        tokio::fs::create_dir_all(&settings.dir)
            .await
            .map_err(|e| Error::io(&settings.dir, e))?;
        let staging = tempfile::Builder::new()
            .prefix(".build-")
            .tempdir_in(&settings.dir)
            .map_err(|e| Error::io(&settings.dir, e))?;
        let kept = settings.dir.join(SOURCES_DIR);
        tokio::fs::create_dir_all(&kept)
            .await
            .map_err(|e| Error::io(&kept, e))?;
        let mut inputs = Vec::with_capacity(settings.sources.len());
        let mut fetched_bytes = 0;
        // Kept dumps downloaded whole whose source lists its changes: their `since` is set
        // from the build (osvsync::set_since).
        let mut whole: Vec<(usize, PathBuf)> = Vec::new();
        for (position, source) in settings.sources.iter().enumerate() {
            inputs.push(match source {
                Source::Url(url) => {
                    // The dump and the records changed since, in a directory of their own
                    // (crate::manager::osvsync): the build reads both.
                    let dir = kept.join(download_name(position, url));
                    let file = download_file_name(url);
                    let synced = osvsync::sync(&self.inner.http, url, &dir, file).await?;
                    fetched_bytes += synced.bytes;
                    if synced.whole && synced.listed {
                        whole.push((position, dir.clone()));
                    }
                    dir
                }
                Source::Path(path) => {
                    tokio::fs::metadata(path)
                        .await
                        .map_err(|e| Error::io(path, e))?;
                    path.clone()
                }
            });
        }
        let built = staging.path().join(INDEX_FILE);
        let (digest, bytes, report) = tokio::task::spawn_blocking({
            let built = built.clone();
            move || -> Result<(String, u64, index::BuildReport)> {
                let report = index::build(&inputs, &built, now)?;
                Index::open(&built)?;
                info!(
                    records = report.records,
                    advisories = report.advisories,
                    withdrawn = report.withdrawn,
                    skipped = report.skipped,
                    "vulnerability index built"
                );
                let (digest, bytes) = sha256_file(&built)?;
                Ok((digest, bytes, report))
            }
        })
        .await
        .map_err(|e| Error::Io {
            path: built.display().to_string(),
            source: std::io::Error::other(format!("the build task failed: {e}")),
        })??;
        for (position, dir) in whole {
            let newest = report.sources.get(position).and_then(|s| {
                s.newest_modified
                    .as_deref()
                    .and_then(|m| m.parse::<Timestamp>().ok())
            });
            if let Some(newest) = newest {
                osvsync::set_since(&dir, newest).await?;
            }
        }
        let published = Published {
            digest,
            bytes,
            built_at: now,
            skipped: report.skipped,
        };
        let target = self.index_path();
        {
            let mut current = self.inner.current.write().await;
            tokio::fs::rename(&built, &target)
                .await
                .map_err(|e| Error::io(&target, e))?;
            *current = Some(published.clone());
        }
        info!(digest = %published.digest, bytes = published.bytes, fetched_bytes, "serving a new vulnerability index");
        self.inner
            .status
            .send_modify(|s| s.fetched_bytes = fetched_bytes);
        Ok(published)
    }

    /// Serves the index a previous start left in the data directory, if it is a readable
    /// index; returns when it was built.
    async fn load_existing(&self) -> Option<Timestamp> {
        let path = self.index_path();
        if !path.is_file() {
            return None;
        }
        let loaded = tokio::task::spawn_blocking({
            let path = path.clone();
            move || -> Result<(Timestamp, String, u64, u64)> {
                let info = Index::open(&path)?.info()?;
                let (digest, bytes) = sha256_file(&path)?;
                Ok((info.built_at, digest, bytes, info.skipped))
            }
        })
        .await;
        match loaded {
            Ok(Ok((built_at, digest, bytes, skipped))) => {
                info!(path = %path.display(), %digest, %built_at, "serving the vulnerability index left by a previous start");
                let published = Published {
                    digest,
                    bytes,
                    built_at,
                    skipped,
                };
                *self.inner.current.write().await = Some(published.clone());
                self.inner
                    .status
                    .send_modify(|s| s.published = Some(published));
                Some(built_at)
            }
            Ok(Err(error)) => {
                warn!(path = %path.display(), %error, "ignoring an unreadable index from a previous start");
                None
            }
            Err(error) => {
                warn!(path = %path.display(), %error, "ignoring an index from a previous start");
                None
            }
        }
    }

    /// Serves the index at `built` (written by another process, replaced by rename): checks
    /// it is a readable index, links it into the data directory (a hard link in the same
    /// volume, a copy otherwise) so that what is served only changes under the write lock,
    /// hashes it and swaps it in. On failure the index served so far stays.
    ///
    /// # Errors
    /// [`Error::Index`] when the file is not a readable index, [`Error::Io`] for the data
    /// directory.
    pub async fn adopt_once(&self, built: &Path) -> Result<Published> {
        let dir = self.inner.settings.dir.clone();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Error::io(&dir, e))?;
        let staged = tokio::task::spawn_blocking({
            let built = built.to_path_buf();
            move || -> Result<(tempfile::TempPath, Published)> {
                let staged = stage_copy(&built, &dir)?;
                // Checked on the staged link: the builder may rename a newer file over
                // `built` meanwhile; what is checked is what is served.
                let info = Index::open(&staged)?.info()?;
                let (digest, bytes) = sha256_file(&staged)?;
                Ok((
                    staged,
                    Published {
                        digest,
                        bytes,
                        built_at: info.built_at,
                        skipped: info.skipped,
                    },
                ))
            }
        })
        .await
        .map_err(|e| Error::Io {
            path: built.display().to_string(),
            source: std::io::Error::other(format!("the adopt task failed: {e}")),
        })??;
        let (staged, published) = staged;
        let target = self.index_path();
        {
            let mut current = self.inner.current.write().await;
            staged
                .persist(&target)
                .map_err(|e| Error::io(&target, e.error))?;
            *current = Some(published.clone());
        }
        info!(from = %built.display(), digest = %published.digest, bytes = published.bytes, built_at = %published.built_at, "serving the vulnerability index the builder wrote");
        Ok(published)
    }

    /// [`VulnDb::refresh_loop`] when the index is built by another process: serves an index
    /// left by a previous start, then looks at `built` every [`ADOPT_PERIOD`] (every
    /// [`ADOPT_FIRST_PERIOD`] while it has nothing to serve) and adopts it
    /// whenever it is another file than the last one looked at ([`should_adopt`]). A file that
    /// cannot be adopted is logged once and tried again only when it is replaced.
    async fn adopt_loop(self, built: PathBuf) -> Infallible {
        self.load_existing().await;
        let mut last: Option<FileStamp> = None;
        loop {
            let seen = FileStamp::of(&built);
            if should_adopt(last.as_ref(), seen.as_ref()) {
                last = seen;
                let result = self.adopt_once(&built).await;
                let published = self.published().await;
                match result {
                    Ok(_) => self.inner.status.send_modify(|s| {
                        s.attempts += 1;
                        s.failures = 0;
                        s.last_error = None;
                        s.published = published;
                    }),
                    Err(error) => {
                        warn!(from = %built.display(), %error, serving = ?published.as_ref().map(|p| &p.digest), "cannot adopt the builder's vulnerability index; keeping the last good index");
                        self.inner.status.send_modify(|s| {
                            s.attempts += 1;
                            s.failures = s.failures.saturating_add(1);
                            s.last_error = Some(error.to_string());
                            s.published = published;
                        });
                    }
                }
            }
            let period = if self.published().await.is_some() {
                ADOPT_PERIOD
            } else {
                ADOPT_FIRST_PERIOD
            };
            tokio::time::sleep(period).await;
        }
    }

    /// Builds now (or when an index left by a previous start is due), then every refresh
    /// period; a failure is logged, keeps the last good index and is retried after
    /// [`retry_delay`]. Sleeps on tokio's clock; `clock` gives the build time. Never returns.
    /// With [`Settings::built_by`], adopts that file instead of building (see
    /// [`VulnDb::adopt_once`]).
    pub async fn refresh_loop(self, clock: impl Fn() -> Timestamp) -> Infallible {
        if let Some(built) = self.inner.settings.built_by.clone() {
            return self.adopt_loop(built).await;
        }
        let refresh = self.inner.settings.refresh;
        let existing = self.load_existing().await;
        let mut delay = first_delay(existing, clock(), refresh);
        let mut failures = 0_u32;
        loop {
            tokio::time::sleep(delay).await;
            let result = self.build_once(clock()).await;
            let published = self.published().await;
            match result {
                Ok(_) => {
                    failures = 0;
                    delay = refresh;
                    self.inner.status.send_modify(|s| {
                        s.attempts += 1;
                        s.failures = 0;
                        s.last_error = None;
                        s.published = published;
                    });
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    delay = retry_delay(failures, refresh);
                    warn!(%error, failures, retry_in_seconds = delay.as_secs(), serving = ?published.as_ref().map(|p| &p.digest), "vulnerability index build failed; keeping the last good index");
                    self.inner.status.send_modify(|s| {
                        s.attempts += 1;
                        s.failures = failures;
                        s.last_error = Some(error.to_string());
                        s.published = published;
                    });
                }
            }
        }
    }
}

/// What identifies one version of a file replaced by rename: its inode, size and
/// modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    /// Device and inode.
    pub inode: (u64, u64),
    /// Size in bytes.
    pub bytes: u64,
    /// Modification time, as the file system gives it.
    pub modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    /// The stamp of the file at `path`, `None` when there is none.
    #[must_use]
    pub fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path)
            .ok()
            .filter(std::fs::Metadata::is_file)?;
        Some(Self {
            inode: (meta.dev(), meta.ino()),
            bytes: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// Whether the builder's file, now `seen`, is worth adopting after `last`: when there is a
/// file and it is another one (renamed over, rewritten) than the last one looked at.
#[must_use]
pub fn should_adopt(last: Option<&FileStamp>, seen: Option<&FileStamp>) -> bool {
    seen.is_some() && seen != last
}

/// A link (or, across file systems, a copy) of `built` in `dir` under a temporary name,
/// removed unless persisted (blocking).
fn stage_copy(built: &Path, dir: &Path) -> Result<tempfile::TempPath> {
    let staged = tempfile::Builder::new()
        .prefix(".adopt-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?
        .into_temp_path();
    std::fs::remove_file(&staged).map_err(|e| Error::io(&staged, e))?;
    if std::fs::hard_link(built, &staged).is_err() {
        std::fs::copy(built, &staged).map_err(|e| Error::io(built, e))?;
    }
    Ok(staged)
}

/// The delay before retry number `failures` (1 for the first): [`RETRY_INITIAL`] doubled per
/// further failure, never beyond the refresh period.
#[must_use]
pub fn retry_delay(failures: u32, refresh: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(u32::BITS - 1);
    RETRY_INITIAL
        .checked_mul(1_u32 << doublings)
        .unwrap_or(refresh)
        .min(refresh)
}

/// The delay before the first build: none without an index from a previous start, otherwise
/// what is left of its refresh period (a crash-looping manager does not rebuild each start).
#[must_use]
pub fn first_delay(existing: Option<Timestamp>, now: Timestamp, refresh: Duration) -> Duration {
    let Some(built_at) = existing else {
        return Duration::ZERO;
    };
    let age = now.duration_since(built_at);
    if age.is_negative() {
        // Built "in the future": the clock moved; rebuild rather than trust it.
        return Duration::ZERO;
    }
    refresh.saturating_sub(age.unsigned_abs())
}

/// Whether an `If-None-Match` value names `digest`: `*`, or any of its entity tags (weak
/// comparison, as RFC 9110 asks for `If-None-Match`).
#[must_use]
pub fn etag_matches(if_none_match: &str, digest: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|tag| {
        tag == "*" || {
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag.strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .is_some_and(|t| t == digest)
        }
    })
}

/// The name of a URL source's kept directory: position first (sources keep their order), then
/// the name of the file downloaded into it ([`download_file_name`]).
fn download_name(position: usize, url: &reqwest::Url) -> String {
    format!("{position}-{}.d", download_file_name(url))
}

/// The file name a downloaded dump gets: the URL's last segment when it is a zip or a record,
/// else `all.zip`.
fn download_file_name(url: &reqwest::Url) -> &str {
    url.path_segments()
        .and_then(|mut segments| segments.next_back())
        .filter(|s| {
            (s.ends_with(".zip") || s.ends_with(".json"))
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
        .unwrap_or(osvsync::DUMP_FILE)
}

/// `sha256:<hex>` and the size of a file (blocking).
fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; STREAM_CHUNK_BYTES];
    let mut total = 0_u64;
    loop {
        let read = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        total += read as u64;
    }
    Ok((
        format!("sha256:{}", drydock_imagefs::hex(&hasher.finalize())),
        total,
    ))
}

/// A kept dump's HTTP validators, as its server sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// The `ETag` header, quotes included.
    pub etag: Option<String>,
    /// The `Last-Modified` header.
    pub last_modified: Option<String>,
}

impl Validators {
    /// Reads the validators file's text: `etag <value>` and `last-modified <value>` lines;
    /// anything else is ignored (the worst case is one full download).
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let mut validators = Self::default();
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("etag", value)) => validators.etag = Some(value.to_owned()),
                Some(("last-modified", value)) => {
                    validators.last_modified = Some(value.to_owned());
                }
                _ => {}
            }
        }
        validators
    }

    /// The validators file's text.
    #[must_use]
    pub fn render(&self) -> String {
        let mut text = String::new();
        for (key, value) in [("etag", &self.etag), ("last-modified", &self.last_modified)] {
            if let Some(value) = value {
                text.push_str(&format!("{key} {value}\n"));
            }
        }
        text
    }

    /// From a response's headers (values that are not visible ASCII are dropped).
    fn from_headers(headers: &reqwest::header::HeaderMap) -> Self {
        let get = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            etag: get(reqwest::header::ETAG),
            last_modified: get(reqwest::header::LAST_MODIFIED),
        }
    }
}

/// Brings the kept copy of `url` at `file` up to date with a conditional GET (`If-None-Match`
/// and `If-Modified-Since` from the kept validators): a `304` keeps the file, a `200` replaces
/// it atomically. Returns the body bytes downloaded.
pub(crate) async fn download_source(
    http: &reqwest::Client,
    url: &reqwest::Url,
    file: &Path,
) -> Result<u64> {
    let name = url.as_str();
    let fetch_error = |e: reqwest::Error| Error::Fetch {
        url: name.to_owned(),
        message: e.to_string(),
    };
    let validators_path = PathBuf::from(format!("{}{VALIDATORS_SUFFIX}", file.display()));
    let kept = if file.is_file() {
        tokio::fs::read_to_string(&validators_path)
            .await
            .map(|text| Validators::parse(&text))
            .ok()
    } else {
        None
    };
    let mut request = http.get(url.clone());
    if let Some(kept) = &kept {
        if let Some(etag) = &kept.etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(date) = &kept.last_modified {
            request = request.header(reqwest::header::IF_MODIFIED_SINCE, date);
        }
    }
    let mut response = request.send().await.map_err(fetch_error)?;
    if response.status() == reqwest::StatusCode::NOT_MODIFIED && kept.is_some() {
        info!(
            url = name,
            "OSV data unchanged (304): the kept copy is used"
        );
        return Ok(0);
    }
    if !response.status().is_success() {
        return Err(status_error(response, name).await);
    }
    let validators = Validators::from_headers(response.headers());
    let partial = PathBuf::from(format!("{}.partial", file.display()));
    let mut out = tokio::fs::File::create(&partial)
        .await
        .map_err(|e| Error::io(&partial, e))?;
    let streamed = stream_to_file(&mut response, &mut out, &partial, name, MAX_SOURCE_BYTES).await;
    let bytes = match streamed {
        Ok((_, bytes)) => bytes,
        Err(error) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(error);
        }
    };
    // The old validators go first: a crash between the renames costs one full download,
    // never a stale file under new validators.
    let _ = tokio::fs::remove_file(&validators_path).await;
    tokio::fs::rename(&partial, file)
        .await
        .map_err(|e| Error::io(file, e))?;
    tokio::fs::write(&validators_path, validators.render())
        .await
        .map_err(|e| Error::io(&validators_path, e))?;
    info!(url = name, bytes, "downloaded OSV data");
    Ok(bytes)
}

/// The routes of the index endpoint: `GET` and `HEAD` [`PATH`].
pub fn router(state: VulnDb) -> Router {
    Router::new()
        .route(PATH, get(serve_index))
        .with_state(state)
}

/// Binds `addr` and serves [`router`] while running [`VulnDb::refresh_loop`] (first build
/// immediately), until `shutdown` completes. This is the manager's one call.
///
/// # Errors
/// [`Error::Serve`] when `addr` cannot be bound or the server fails.
pub async fn serve(
    addr: &str,
    state: VulnDb,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Serve {
            addr: addr.to_owned(),
            source,
        })?;
    serve_on(listener, state, shutdown).await
}

/// [`serve`] on a bound listener.
///
/// # Errors
/// [`Error::Serve`] when the server fails.
pub async fn serve_on(
    listener: TcpListener,
    state: VulnDb,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    serve_with(listener, state, Router::new(), shutdown).await
}

/// [`serve_on`] with more routes on the same listener (the verdict cache,
/// [`crate::manager::verdict_cache::router`]); handlers may read the peer's address (`ConnectInfo`).
///
/// # Errors
/// [`Error::Serve`] when the server fails.
pub async fn serve_with(
    listener: TcpListener,
    state: VulnDb,
    extra: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let addr = listener
        .local_addr()
        .map_or_else(|e| e.to_string(), |a| a.to_string());
    info!(%addr, path = PATH, "serving the vulnerability index");
    let refresh = state.clone().refresh_loop(Timestamp::now);
    let app = router(state).merge(extra);
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown);
    tokio::select! {
        result = server => result.map_err(|source| Error::Serve { addr, source }),
        never = refresh => match never {},
    }
}

fn plain(status: StatusCode, message: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

async fn serve_index(State(state): State<VulnDb>, headers: HeaderMap) -> Response {
    let current = state.inner.current.read().await;
    let Some(published) = current.clone() else {
        let mut response = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the vulnerability index is not built yet (see the manager's log)\n",
        );
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
        return response;
    };
    let Ok(etag) = HeaderValue::from_str(&published.etag()) else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "unusable digest\n");
    };
    let revalidated = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| etag_matches(v, &published.digest));
    if revalidated {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let path = state.index_path();
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(error) => {
            warn!(path = %path.display(), %error, "cannot open the vulnerability index");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the vulnerability index cannot be read (see the manager's log)\n",
            );
        }
    };
    drop(current);
    let body = Body::from_stream(futures::stream::unfold(file, |mut file| async move {
        let mut buffer = vec![0_u8; STREAM_CHUNK_BYTES];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok::<_, std::io::Error>(Bytes::from(buffer)), file))
            }
            Err(error) => Some((Err(error), file)),
        }
    }));
    (
        StatusCode::OK,
        [
            (header::ETAG, etag),
            (header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)),
            (header::CONTENT_LENGTH, HeaderValue::from(published.bytes)),
            // Clients must revalidate: the index changes at each refresh.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators_round_trip_and_garbage_reads_as_none() {
        let validators = Validators {
            etag: Some("\"sha256:ab\"".to_owned()),
            last_modified: Some("Sun, 06 Dec 2026 10:00:00 GMT".to_owned()),
        };
        assert_eq!(Validators::parse(&validators.render()), validators);
        assert_eq!(
            Validators::parse("garbage\n\0\netag"),
            Validators::default()
        );
        let etag_only = Validators::parse("etag W/\"x\"\n");
        assert_eq!(etag_only.etag.as_deref(), Some("W/\"x\""));
        assert_eq!(etag_only.last_modified, None);
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn source_values_are_urls_or_paths_and_bad_ones_are_named() {
        assert_eq!(
            "https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip"
                .parse::<Source>()
                .unwrap()
                .to_string(),
            "https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip"
        );
        assert_eq!(
            "/osv/debian".parse::<Source>().unwrap(),
            Source::Path("/osv/debian".into())
        );
        for (bad, why) in [
            ("", "empty"),
            ("  ", "empty"),
            ("ftp://mirror/all.zip", "unsupported scheme"),
            ("s3://bucket/all.zip", "unsupported scheme"),
            ("http://", "--vulndb-source=\"http://\""),
            ("https://exa mple.org/all.zip", "not a URL"),
        ] {
            let error = bad.parse::<Source>().unwrap_err().to_string();
            assert!(error.contains(why), "{bad:?}: {error}");
            assert!(error.contains("--vulndb-source"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn retries_double_from_a_minute_up_to_the_refresh_period() {
        let day = DEFAULT_REFRESH;
        let delays: Vec<u64> = (1..=5).map(|n| retry_delay(n, day).as_secs()).collect();
        assert_eq!(delays, [60, 120, 240, 480, 960]);
        assert_eq!(retry_delay(20, day), day);
        assert_eq!(retry_delay(u32::MAX, day), day);
        assert_eq!(
            retry_delay(1, Duration::from_secs(10)),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn an_index_from_a_previous_start_is_rebuilt_when_its_period_is_over() {
        let now: Timestamp = "2026-01-02T00:00:00Z".parse().unwrap();
        let day = DEFAULT_REFRESH;
        assert_eq!(first_delay(None, now, day), Duration::ZERO);
        let six_hours_ago = "2026-01-01T18:00:00Z".parse().unwrap();
        assert_eq!(
            first_delay(Some(six_hours_ago), now, day),
            Duration::from_secs(18 * 3600)
        );
        let two_days_ago = "2025-12-31T00:00:00Z".parse().unwrap();
        assert_eq!(first_delay(Some(two_days_ago), now, day), Duration::ZERO);
        let future = "2026-01-03T00:00:00Z".parse().unwrap();
        assert_eq!(first_delay(Some(future), now, day), Duration::ZERO);
    }

    #[test]
    fn if_none_match_compares_entity_tags() {
        let tag = format!("\"{DIGEST}\"");
        assert!(etag_matches(&tag, DIGEST));
        assert!(etag_matches(&format!("W/{tag}"), DIGEST));
        assert!(etag_matches(&format!("\"other\", {tag}"), DIGEST));
        assert!(etag_matches("*", DIGEST));
        assert!(
            !etag_matches(DIGEST, DIGEST),
            "an unquoted tag is not a tag"
        );
        assert!(!etag_matches("\"sha256:00\"", DIGEST));
        assert!(!etag_matches("", DIGEST));
    }

    #[test]
    fn downloads_keep_a_safe_name_from_the_url() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert_eq!(
            download_name(0, &url("https://m/Debian/all.zip")),
            "0-all.zip.d"
        );
        assert_eq!(
            download_name(2, &url("https://m/osv/alpine.zip?x=1")),
            "2-alpine.zip.d"
        );
        assert_eq!(
            download_file_name(&url("https://m/osv/alpine.zip")),
            "alpine.zip"
        );
        assert_eq!(download_name(1, &url("https://m/latest")), "1-all.zip.d");
        assert_eq!(download_name(1, &url("https://m/")), "1-all.zip.d");
        assert_eq!(
            download_file_name(&url("https://m/x/../a b.zip")),
            "all.zip"
        );
    }
}
