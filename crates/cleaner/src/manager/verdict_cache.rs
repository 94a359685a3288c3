//! The manager's cluster-wide cache of scan verdicts (`docs/design/014-image-cleaner-beyond-eraser.md`):
//! a scanner asks once per run for the verdicts already known for its node's candidate images
//! ([`LOOKUP_PATH`]), scans only the rest and reports its new verdicts ([`REPORT_PATH`]), so a
//! cluster scans an image once instead of once per node. Eraser has no such thing; its
//! scanners each scan everything.
//!
//! - **Key.** An image ID (the config digest: the same ID is the same content on every node)
//!   and the scanner settings that change a verdict ([`settings_digest`]), under one
//!   vulnerability index digest: the store holds the verdicts of one index and forgets them
//!   all when the manager serves another ([`Store::set_index`]).
//! - **What is kept.** Compliant and non-compliant ([`Known`]); a failed scan is not a verdict,
//!   and "unscannable" says where one node's containerd keeps its layers, not what the image
//!   is, so neither is cached.
//! - **Bounds.** At most [`MAX_ENTRIES`], least recently used dropped first, spread over
//!   [`SHARDS`] ConfigMaps `drydock-image-cleaner-verdicts-N` of at most
//!   [`MAX_CONFIGMAP_BYTES`] each, read back at start ([`VerdictService::load`]).
//! - **Acknowledgement.** A report is answered 200 only once every ConfigMap it changed is
//!   written; reports arriving together share those writes (a group commit). A manager
//!   restarted after an acknowledgement reads the verdict back.
//! - **Credentials.** Worker pods have no API rights. Each job's scanners carry a random token
//!   from a Secret the job owns ([`crate::manager::controller::create_job`]); a request is answered only
//!   with the token of a job that is still running ([`Credentials`]); anything else is 403
//!   with one log line naming the source address and the reason.
//!
//! The store and the shard encoding are pure; the HTTP handlers and the two ports
//! ([`Persist`], [`Credentials`]) are the thin IO around them, with Kubernetes adapters
//! ([`ConfigMaps`], [`JobTokens`]) and in-memory ones in tests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use drydock_api::imagejob::{ImageJob, JobPhase};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{ListParams, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::sync::{Mutex, watch};
use tracing::{info, warn};

use crate::manager::vulndist;
use crate::verdicts::{
    Answer, Known, LOOKUP_PATH, Lookup, MAX_IMAGES_PER_REQUEST, REPORT_PATH, Report, TOKEN_KEY,
};
use crate::{Error, Result};

/// The most verdicts kept: a cluster holds a few thousand distinct images; 20,000 is about
/// 3.5 MiB as JSON, within [`SHARDS`] ConfigMaps of [`MAX_CONFIGMAP_BYTES`].
pub const MAX_ENTRIES: usize = 20_000;
/// ConfigMaps the verdicts are spread over (by image ID), so a report rewrites only those its
/// images fall in and 20,000 verdicts fit under the per-object limit.
pub const SHARDS: usize = 8;
/// Name prefix of the ConfigMaps; the shard number follows.
pub const CONFIGMAP_PREFIX: &str = "drydock-image-cleaner-verdicts-";
/// The key holding a shard's JSON in its ConfigMap.
pub const CONFIGMAP_KEY: &str = "verdicts.json";
/// The largest shard written: etcd's object limit is 1.5 MiB and a ConfigMap's data 1 MiB;
/// 900 KiB leaves room for metadata. Past it the shard's least recently used verdicts go.
pub const MAX_CONFIGMAP_BYTES: usize = 900 * 1024;
/// The label on the job Secrets holding a scanner token.
pub const TOKEN_SECRET_LABEL: (&str, &str) = ("drydock.dev/verdict-token", "true");
/// Random bytes in a token: 256 bits, not guessable.
pub const TOKEN_BYTES: usize = 32;
/// How often, at most, the Secrets are listed again to learn a token not seen yet: a job's
/// scanners start seconds after its Secret is written; a flood of forged tokens costs the API
/// server at most one list per period.
pub const TOKEN_RELIST: Duration = Duration::from_secs(5);
/// The field manager of the ConfigMap writes.
const FIELD_MANAGER: &str = "drydock";

/// Why a report was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The report's index is not the one the store holds verdicts of.
    OtherIndex {
        /// The store's index, if it has one.
        current: Option<String>,
    },
    /// Too many images in one request.
    TooLarge(usize),
}

/// One cached verdict's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    image: String,
    settings: String,
}

#[derive(Debug, Clone)]
struct Slot {
    known: Known,
    /// When it was last reported or looked up (the store's own counter, not time).
    used: u64,
}

/// The verdicts of one index, least recently used first out. Pure: the service persists what
/// [`Store::take_dirty`] names.
#[derive(Debug, Clone, Default)]
pub struct Store {
    index: Option<String>,
    entries: HashMap<Key, Slot>,
    /// `used` → key, oldest first.
    order: BTreeMap<u64, Key>,
    tick: u64,
    dirty: BTreeSet<usize>,
    capacity: usize,
}

/// One shard as persisted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shard {
    /// The index the verdicts belong to.
    #[serde(default)]
    pub index: Option<String>,
    /// Its verdicts, least recently used first.
    #[serde(default)]
    pub entries: Vec<ShardEntry>,
}

/// One persisted verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardEntry {
    /// The image ID.
    pub id: String,
    /// The settings digest.
    pub settings: String,
    /// The store's counter when last used (restores the order across shards).
    pub used: u64,
    /// The verdict.
    #[serde(flatten)]
    pub known: Known,
}

/// The shard an image ID falls in (stable across restarts and versions).
#[must_use]
pub fn shard_of(image: &str) -> usize {
    let first = Sha256::digest(image.as_bytes())[0];
    usize::from(first) % SHARDS
}

/// The name of shard `n`'s ConfigMap.
#[must_use]
pub fn configmap_name(shard: usize) -> String {
    format!("{CONFIGMAP_PREFIX}{shard}")
}

// === impl Store ===

impl Store {
    /// An empty store holding at most [`MAX_ENTRIES`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_capacity(MAX_ENTRIES)
    }

    /// An empty store holding at most `capacity` verdicts.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    /// The store rebuilt from persisted shards: entries of the index most shards agree on
    /// (they are written together), in their recency order; unreadable shards are skipped
    /// by the caller.
    #[must_use]
    pub fn from_shards(shards: Vec<Shard>, capacity: usize) -> Self {
        let mut store = Self::with_capacity(capacity);
        let mut votes: BTreeMap<String, usize> = BTreeMap::new();
        for index in shards.iter().filter_map(|s| s.index.as_ref()) {
            *votes.entry(index.clone()).or_insert(0) += 1;
        }
        store.index = votes
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(index, _)| index);
        let mut entries: Vec<ShardEntry> = shards
            .into_iter()
            .filter(|s| s.index.is_some() && s.index == store.index)
            .flat_map(|s| s.entries)
            .collect();
        entries.sort_by_key(|e| e.used);
        for entry in entries {
            store.put(
                Key {
                    image: entry.id,
                    settings: entry.settings,
                },
                entry.known,
            );
        }
        store.dirty.clear();
        store
    }

    /// The index whose verdicts are held.
    #[must_use]
    pub fn index(&self) -> Option<&str> {
        self.index.as_deref()
    }

    /// Verdicts held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Follows the index the manager serves: another digest drops every verdict (each shard is
    /// then rewritten empty). Returns whether anything changed.
    pub fn set_index(&mut self, digest: &str) -> bool {
        if self.index.as_deref() == Some(digest) {
            return false;
        }
        self.index = Some(digest.to_owned());
        self.entries.clear();
        self.order.clear();
        self.dirty.extend(0..SHARDS);
        true
    }

    /// The known verdicts of `images` under `index` and `settings` (nothing under another
    /// index); each one found counts as used.
    pub fn lookup(
        &mut self,
        index: &str,
        settings: &str,
        images: &[String],
    ) -> BTreeMap<String, Known> {
        let mut found = BTreeMap::new();
        if self.index.as_deref() != Some(index) {
            return found;
        }
        for image in images {
            let key = Key {
                image: image.clone(),
                settings: settings.to_owned(),
            };
            if let Some(known) = self.touch(&key) {
                found.insert(image.clone(), known);
            }
        }
        found
    }

    /// Takes the verdicts of `report`; the store adopts the report's index when it has none
    /// yet (a manager that has not loaded its index after a restart).
    ///
    /// # Errors
    /// [`Refusal`] when the report belongs to another index or is too large.
    pub fn insert(&mut self, report: &Report) -> std::result::Result<usize, Refusal> {
        if report.verdicts.len() > MAX_IMAGES_PER_REQUEST {
            return Err(Refusal::TooLarge(report.verdicts.len()));
        }
        match &self.index {
            None => self.index = Some(report.index.clone()),
            Some(index) if *index != report.index => {
                return Err(Refusal::OtherIndex {
                    current: Some(index.clone()),
                });
            }
            Some(_) => {}
        }
        for (image, known) in &report.verdicts {
            let key = Key {
                image: image.clone(),
                settings: report.settings.clone(),
            };
            self.put(key, known.clone());
        }
        Ok(report.verdicts.len())
    }

    /// The shards changed since the last call, emptied of their mark.
    pub fn take_dirty(&mut self) -> BTreeSet<usize> {
        std::mem::take(&mut self.dirty)
    }

    /// Marks shards changed again (their write failed).
    pub fn mark_dirty(&mut self, shards: impl IntoIterator<Item = usize>) {
        self.dirty.extend(shards);
    }

    /// Shard `n` as persisted: its entries in recency order, the least recently used dropped
    /// from the store until its JSON is at most [`MAX_CONFIGMAP_BYTES`].
    pub fn shard(&mut self, n: usize) -> Shard {
        loop {
            let shard = Shard {
                index: self.index.clone(),
                entries: self
                    .order
                    .values()
                    .filter(|key| shard_of(&key.image) == n)
                    .filter_map(|key| {
                        self.entries.get(key).map(|slot| ShardEntry {
                            id: key.image.clone(),
                            settings: key.settings.clone(),
                            used: slot.used,
                            known: slot.known.clone(),
                        })
                    })
                    .collect(),
            };
            let bytes = serde_json::to_vec(&shard).map_or(0, |v| v.len());
            let Some(oldest) = shard.entries.first() else {
                return shard;
            };
            if bytes <= MAX_CONFIGMAP_BYTES {
                return shard;
            }
            // Pathologically large verdicts only: drop the oldest and measure again.
            let key = Key {
                image: oldest.id.clone(),
                settings: oldest.settings.clone(),
            };
            if let Some(slot) = self.entries.remove(&key) {
                self.order.remove(&slot.used);
            }
        }
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn touch(&mut self, key: &Key) -> Option<Known> {
        let tick = self.next_tick();
        let slot = self.entries.get_mut(key)?;
        self.order.remove(&slot.used);
        slot.used = tick;
        self.order.insert(tick, key.clone());
        Some(slot.known.clone())
    }

    fn put(&mut self, key: Key, known: Known) {
        let tick = self.next_tick();
        self.dirty.insert(shard_of(&key.image));
        if let Some(old) = self.entries.insert(key.clone(), Slot { known, used: tick }) {
            self.order.remove(&old.used);
        }
        self.order.insert(tick, key);
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.dirty.insert(shard_of(&oldest.image));
            self.entries.remove(&oldest);
        }
    }
}

/// Where the shards are kept (ConfigMaps; a map in tests).
pub trait Persist: Send + Sync + 'static {
    /// Every shard's text that exists.
    fn load(&self) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Writes shard `n`.
    fn write(&self, n: usize, text: String) -> impl Future<Output = Result<()>> + Send;
}

/// What a token is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The token of a running job.
    Granted {
        /// The job.
        job: String,
    },
    /// Anything else, with the reason logged.
    Refused(String),
}

/// Who may use the cache: the token of a running job.
pub trait Credentials: Send + Sync + 'static {
    /// What `token` is worth now.
    fn check(&self, token: &str) -> impl Future<Output = Access> + Send;
}

/// The manager's verdict cache: the store, its persistence and the credentials check.
/// Cheap to clone (shared state).
#[derive(Debug)]
pub struct VerdictService<P, C> {
    inner: Arc<Inner<P, C>>,
}

impl<P, C> Clone for VerdictService<P, C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

#[derive(Debug)]
struct Inner<P, C> {
    store: Mutex<Store>,
    /// Serialises the writes; holds how many changes are persisted.
    written: Mutex<u64>,
    /// Changes made to the store so far.
    changes: std::sync::atomic::AtomicU64,
    persist: P,
    credentials: C,
    /// The index the manager serves, when it serves one.
    serving: watch::Receiver<vulndist::Status>,
}

// === impl VerdictService ===

impl<P: Persist, C: Credentials> VerdictService<P, C> {
    /// The service, with the verdicts read back from `persist` (unreadable shards are logged
    /// and skipped: the cache is only a saving).
    ///
    /// # Errors
    /// When `persist` cannot be read at all.
    pub async fn load(
        persist: P,
        credentials: C,
        serving: watch::Receiver<vulndist::Status>,
        capacity: usize,
    ) -> Result<Self> {
        let mut shards = Vec::new();
        for text in persist.load().await? {
            match serde_json::from_str::<Shard>(&text) {
                Ok(shard) => shards.push(shard),
                Err(error) => warn!(%error, "ignoring an unreadable verdict ConfigMap"),
            }
        }
        let store = Store::from_shards(shards, capacity);
        info!(verdicts = store.len(), index = ?store.index(), "verdict cache loaded");
        Ok(Self {
            inner: Arc::new(Inner {
                store: Mutex::new(store),
                written: Mutex::new(0),
                changes: std::sync::atomic::AtomicU64::new(0),
                persist,
                credentials,
                serving,
            }),
        })
    }

    /// Verdicts held now.
    pub async fn len(&self) -> usize {
        self.inner.store.lock().await.len()
    }

    /// Whether no verdict is held.
    pub async fn is_empty(&self) -> bool {
        self.inner.store.lock().await.is_empty()
    }

    /// Aligns the store with the index the manager serves (drops everything on a change).
    async fn follow_index(&self, store: &mut Store) {
        let serving = self
            .inner
            .serving
            .borrow()
            .published
            .as_ref()
            .map(|p| p.digest.clone());
        if let Some(digest) = serving
            && store.set_index(&digest)
        {
            self.inner
                .changes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            info!(index = %digest, "the vulnerability index changed; verdicts of the previous one dropped");
        }
    }

    /// Answers a lookup.
    pub async fn lookup(&self, lookup: &Lookup) -> Answer {
        let mut store = self.inner.store.lock().await;
        self.follow_index(&mut store).await;
        Answer {
            verdicts: store.lookup(&lookup.index, &lookup.settings, &lookup.images),
        }
    }

    /// Takes a report and returns once it is persisted.
    ///
    /// # Errors
    /// [`Error::Input`] for a refused report (another index, too large); the persistence's
    /// error when a write failed (the report is not acknowledged; its sender asks again).
    pub async fn report(&self, report: &Report) -> Result<usize> {
        let mine = {
            let mut store = self.inner.store.lock().await;
            self.follow_index(&mut store).await;
            let taken = store.insert(report).map_err(|refusal| Error::Input {
                source_name: "verdict report".to_owned(),
                message: match refusal {
                    Refusal::OtherIndex { current } => format!(
                        "scanned with index {}, the manager keeps verdicts of {}",
                        report.index,
                        current.as_deref().unwrap_or("none")
                    ),
                    Refusal::TooLarge(n) => {
                        format!("{n} verdicts, more than {MAX_IMAGES_PER_REQUEST}")
                    }
                },
            })?;
            let mine = self
                .inner
                .changes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            (taken, mine)
        };
        self.persist_up_to(mine.1).await?;
        Ok(mine.0)
    }

    /// Writes the changed shards unless another report's writes already covered change
    /// `mine` (a group commit: reports arriving together share the writes).
    async fn persist_up_to(&self, mine: u64) -> Result<()> {
        let mut written = self.inner.written.lock().await;
        if *written >= mine {
            return Ok(());
        }
        let (covered, shards) = {
            let mut store = self.inner.store.lock().await;
            let covered = self.inner.changes.load(std::sync::atomic::Ordering::SeqCst);
            let dirty = store.take_dirty();
            let shards: Vec<(usize, Shard)> = dirty.iter().map(|&n| (n, store.shard(n))).collect();
            (covered, shards)
        };
        for (position, (n, shard)) in shards.iter().enumerate() {
            let text = serde_json::to_string(shard).map_err(|e| Error::Input {
                source_name: configmap_name(*n),
                message: e.to_string(),
            })?;
            if let Err(error) = self.inner.persist.write(*n, text).await {
                let unwritten = shards[position..].iter().map(|(n, _)| *n);
                self.inner.store.lock().await.mark_dirty(unwritten);
                return Err(error);
            }
        }
        *written = covered;
        Ok(())
    }
}

/// The cache's routes, `POST` [`LOOKUP_PATH`] and [`REPORT_PATH`]. Serve them with connection
/// info (`into_make_service_with_connect_info::<SocketAddr>`), which names the source of a
/// refused request.
pub fn router<P: Persist, C: Credentials>(service: VerdictService<P, C>) -> Router {
    Router::new()
        .route(LOOKUP_PATH, post(lookup_handler::<P, C>))
        .route(REPORT_PATH, post(report_handler::<P, C>))
        .with_state(service)
}

/// The manager's verdict cache over the cluster ([`ConfigMaps`], [`JobTokens`]), to serve next
/// to the index ([`vulndist::serve_with`]). When its ConfigMaps cannot be read (no API
/// server, no right) the cache is not served: scanners are answered 404 and scan every image,
/// as without it.
pub async fn manager_routes(
    client: &kube::Client,
    namespace: &str,
    serving: watch::Receiver<vulndist::Status>,
) -> Router {
    let loaded = VerdictService::load(
        ConfigMaps::new(client.clone(), namespace),
        JobTokens::new(client.clone(), namespace),
        serving,
        MAX_ENTRIES,
    )
    .await;
    match loaded {
        Ok(service) => router(service),
        Err(error) => {
            warn!(%error, "cannot read the verdict cache's ConfigMaps; the cache is not served and every node scans every image");
            Router::new()
        }
    }
}

/// A 200 with `value` as JSON.
fn json(value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(error) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")),
    }
}

fn text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

/// The bearer token of a request, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Checks the request's token; `Err` is the 403 to send (logged once, with the source).
async fn authorise<C: Credentials>(
    credentials: &C,
    headers: &HeaderMap,
    source: SocketAddr,
    path: &str,
) -> std::result::Result<String, Response> {
    let access = match bearer(headers) {
        None => Access::Refused("no bearer token".to_owned()),
        Some(token) => credentials.check(token).await,
    };
    match access {
        Access::Granted { job } => Ok(job),
        Access::Refused(reason) => {
            warn!(source = %source, path, reason = %reason, "verdict cache request refused");
            Err(text(StatusCode::FORBIDDEN, format!("refused: {reason}\n")))
        }
    }
}

async fn lookup_handler<P: Persist, C: Credentials>(
    State(service): State<VerdictService<P, C>>,
    ConnectInfo(source): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(refused) = authorise(&service.inner.credentials, &headers, source, LOOKUP_PATH).await
    {
        return refused;
    }
    let lookup: Lookup = match serde_json::from_slice(&body) {
        Ok(lookup) => lookup,
        Err(error) => return text(StatusCode::BAD_REQUEST, format!("{error}\n")),
    };
    if lookup.images.len() > MAX_IMAGES_PER_REQUEST {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("more than {MAX_IMAGES_PER_REQUEST} images\n"),
        );
    }
    json(&service.lookup(&lookup).await)
}

async fn report_handler<P: Persist, C: Credentials>(
    State(service): State<VerdictService<P, C>>,
    ConnectInfo(source): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let job = match authorise(&service.inner.credentials, &headers, source, REPORT_PATH).await {
        Ok(job) => job,
        Err(refused) => return refused,
    };
    let report: Report = match serde_json::from_slice(&body) {
        Ok(report) => report,
        Err(error) => return text(StatusCode::BAD_REQUEST, format!("{error}\n")),
    };
    match service.report(&report).await {
        Ok(stored) => {
            info!(imagejob = %job, source = %source, stored, "verdicts reported");
            json(&serde_json::json!({ "stored": stored }))
        }
        Err(Error::Input { message, .. }) => text(StatusCode::CONFLICT, format!("{message}\n")),
        Err(error) => {
            warn!(imagejob = %job, %error, "cannot persist reported verdicts; not acknowledged");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the verdicts could not be written; send them again\n".to_owned(),
            )
        }
    }
}

/// A new random token (hex of [`TOKEN_BYTES`] bytes from the kernel's generator).
///
/// # Errors
/// [`Error::Io`] when the kernel's generator is unavailable.
pub fn new_token() -> Result<String> {
    let mut bytes = [0_u8; TOKEN_BYTES];
    let mut filled = 0;
    while filled < TOKEN_BYTES {
        let read =
            rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty())
                .map_err(|e| Error::io("getrandom", e.into()))?;
        filled += read;
    }
    Ok(drydock_imagefs::hex(&bytes))
}

/// [`Persist`] over the ConfigMaps `drydock-image-cleaner-verdicts-N` in the manager's
/// namespace: read by name at start, written by server-side apply (one call per shard).
#[derive(Clone)]
pub struct ConfigMaps {
    api: kube::Api<ConfigMap>,
    namespace: String,
}

impl std::fmt::Debug for ConfigMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigMaps")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl ConfigMaps {
    /// The ConfigMaps in `namespace`.
    #[must_use]
    pub fn new(client: kube::Client, namespace: &str) -> Self {
        Self {
            api: kube::Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
        }
    }
}

impl Persist for ConfigMaps {
    async fn load(&self) -> Result<Vec<String>> {
        let mut texts = Vec::new();
        for n in 0..SHARDS {
            let name = configmap_name(n);
            let found = self
                .api
                .get_opt(&name)
                .await
                .map_err(Error::kube(format!("read ConfigMap {name}")))?;
            if let Some(text) = found
                .and_then(|cm| cm.data)
                .and_then(|mut data| data.remove(CONFIGMAP_KEY))
            {
                texts.push(text);
            }
        }
        Ok(texts)
    }

    async fn write(&self, n: usize, text: String) -> Result<()> {
        let name = configmap_name(n);
        let object = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": { crate::manager::controller::MANAGED_BY_LABEL.0: crate::manager::controller::MANAGED_BY_LABEL.1 },
            },
            "data": { CONFIGMAP_KEY: text },
        });
        self.api
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&object),
            )
            .await
            .map_err(Error::kube(format!("write ConfigMap {name}")))?;
        Ok(())
    }
}

/// [`Credentials`] from the job Secrets (labelled [`TOKEN_SECRET_LABEL`], naming their job in
/// [`crate::manager::podspec::JOB_NAME_LABEL`]) and the ImageJobs' phases: a token is good while its
/// job is new or running. Tokens are learnt by listing the Secrets, at most every
/// [`TOKEN_RELIST`]; a job seen running is believed running for that long too, so a run's
/// thousands of requests cost one read of its job per period, not one each.
pub struct JobTokens {
    secrets: kube::Api<Secret>,
    jobs: kube::Api<ImageJob>,
    known: Mutex<(HashMap<String, String>, Option<tokio::time::Instant>)>,
    running: Mutex<HashMap<String, tokio::time::Instant>>,
}

impl std::fmt::Debug for JobTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobTokens").finish_non_exhaustive()
    }
}

impl JobTokens {
    /// The Secrets of `namespace` and the cluster's ImageJobs.
    #[must_use]
    pub fn new(client: kube::Client, namespace: &str) -> Self {
        Self {
            secrets: kube::Api::namespaced(client.clone(), namespace),
            jobs: kube::Api::all(client),
            known: Mutex::new((HashMap::new(), None)),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// The job of `token`, listing the Secrets again when it is unknown and the last list is
    /// older than [`TOKEN_RELIST`].
    async fn job_of(&self, token: &str) -> std::result::Result<Option<String>, String> {
        let mut known = self.known.lock().await;
        if let Some(job) = known.0.get(token) {
            return Ok(Some(job.clone()));
        }
        let now = tokio::time::Instant::now();
        if known
            .1
            .is_some_and(|last| now.duration_since(last) < TOKEN_RELIST)
        {
            return Ok(None);
        }
        known.1 = Some(now);
        let selector = format!("{}={}", TOKEN_SECRET_LABEL.0, TOKEN_SECRET_LABEL.1);
        let listed = self
            .secrets
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| {
                format!(
                    "cannot list the job Secrets: {}",
                    drydock_kube::status::message(&e)
                )
            })?;
        known.0 = listed
            .items
            .into_iter()
            .filter_map(|secret| {
                let job = secret
                    .metadata
                    .labels
                    .as_ref()?
                    .get(crate::manager::podspec::JOB_NAME_LABEL)?
                    .clone();
                let token = secret.data.as_ref()?.get(TOKEN_KEY)?;
                let token = String::from_utf8(token.0.clone()).ok()?;
                Some((token.trim().to_owned(), job))
            })
            .collect();
        Ok(known.0.get(token).cloned())
    }
}

impl Credentials for JobTokens {
    async fn check(&self, token: &str) -> Access {
        let job = match self.job_of(token).await {
            Ok(Some(job)) => job,
            Ok(None) => return Access::Refused("unknown token".to_owned()),
            Err(reason) => return Access::Refused(reason),
        };
        let now = tokio::time::Instant::now();
        let mut running = self.running.lock().await;
        if running
            .get(&job)
            .is_some_and(|seen| now.duration_since(*seen) < TOKEN_RELIST)
        {
            return Access::Granted { job };
        }
        match self.jobs.get_opt(&job).await {
            Ok(Some(found)) => {
                let phase = found.status.map(|s| s.phase).unwrap_or_default();
                if matches!(phase, JobPhase::New | JobPhase::Running) {
                    running.retain(|_, seen| now.duration_since(*seen) < TOKEN_RELIST);
                    running.insert(job.clone(), now);
                    Access::Granted { job }
                } else {
                    running.remove(&job);
                    Access::Refused(format!("the token's job {job} has ended"))
                }
            }
            Ok(None) => Access::Refused(format!("the token's job {job} is gone")),
            Err(error) => Access::Refused(format!(
                "cannot read the token's job {job}: {}",
                drydock_kube::status::message(&error)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(index: &str, verdicts: &[(&str, Known)]) -> Report {
        Report {
            index: index.to_owned(),
            settings: "s".to_owned(),
            verdicts: verdicts
                .iter()
                .map(|(id, k)| ((*id).to_owned(), k.clone()))
                .collect(),
        }
    }

    fn bad() -> Known {
        Known::NonCompliant {
            eol: false,
            severities: BTreeMap::from([("HIGH".to_owned(), 2)]),
            fixable: true,
        }
    }

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_least_recently_used_verdict_goes_first() {
        let mut store = Store::with_capacity(2);
        store
            .insert(&report("i1", &[("a", Known::Ok), ("b", bad())]))
            .unwrap();
        // Using `a` makes `b` the oldest.
        assert_eq!(store.lookup("i1", "s", &ids(&["a"])).len(), 1);
        store.insert(&report("i1", &[("c", Known::Ok)])).unwrap();
        let found = store.lookup("i1", "s", &ids(&["a", "b", "c"]));
        assert_eq!(found.keys().collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn another_index_or_other_settings_find_nothing_and_a_new_index_drops_all() {
        let mut store = Store::new();
        store.insert(&report("i1", &[("a", bad())])).unwrap();
        assert!(store.lookup("i2", "s", &ids(&["a"])).is_empty());
        assert!(store.lookup("i1", "other", &ids(&["a"])).is_empty());
        assert_eq!(
            store.insert(&report("i2", &[("a", Known::Ok)])),
            Err(Refusal::OtherIndex {
                current: Some("i1".to_owned())
            })
        );
        store.take_dirty();
        assert!(store.set_index("i2"));
        assert!(store.is_empty());
        assert_eq!(store.take_dirty().len(), SHARDS, "every shard rewritten");
        assert!(!store.set_index("i2"));
    }

    #[test]
    fn shards_round_trip_with_their_recency_and_only_changed_ones_are_dirty() {
        let mut store = Store::new();
        store.set_index("i1");
        store.take_dirty();
        store
            .insert(&report(
                "i1",
                &[("sha256:a", Known::Ok), ("sha256:b", bad())],
            ))
            .unwrap();
        let dirty = store.take_dirty();
        let expected: BTreeSet<usize> = [shard_of("sha256:a"), shard_of("sha256:b")].into();
        assert_eq!(dirty, expected);
        let shards: Vec<Shard> = (0..SHARDS).map(|n| store.shard(n)).collect();
        let texts: Vec<String> = shards
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        let back = Store::from_shards(
            texts
                .iter()
                .map(|t| serde_json::from_str(t).unwrap())
                .collect(),
            MAX_ENTRIES,
        );
        assert_eq!(back.index(), Some("i1"));
        let mut back = back;
        assert_eq!(
            back.lookup("i1", "s", &ids(&["sha256:a", "sha256:b"])),
            BTreeMap::from([
                ("sha256:a".to_owned(), Known::Ok),
                ("sha256:b".to_owned(), bad())
            ])
        );
    }

    #[test]
    fn a_full_store_fits_its_configmaps() {
        let mut store = Store::new();
        store.set_index(&format!("sha256:{}", "0".repeat(64)));
        let verdicts: BTreeMap<String, Known> = (0..MAX_ENTRIES + 100)
            .map(|n| {
                (
                    format!("sha256:{n:064x}"),
                    if n % 3 == 0 { bad() } else { Known::Ok },
                )
            })
            .collect();
        for chunk in verdicts.into_iter().collect::<Vec<_>>().chunks(5_000) {
            store
                .insert(&Report {
                    index: store.index().unwrap().to_owned(),
                    settings: "0123456789abcdef".to_owned(),
                    verdicts: chunk.iter().cloned().collect(),
                })
                .unwrap();
        }
        assert_eq!(store.len(), MAX_ENTRIES);
        let largest = (0..SHARDS)
            .map(|n| serde_json::to_vec(&store.shard(n)).unwrap().len())
            .max()
            .unwrap();
        assert!(largest <= MAX_CONFIGMAP_BYTES, "{largest}");
        assert_eq!(store.len(), MAX_ENTRIES, "nothing dropped to fit");
    }

    const NS: &str = "eraser-system";

    #[tokio::test(start_paused = true)]
    async fn verdict_configmaps_are_read_by_name_and_written_by_apply() {
        use drydock_kube::mock::{self, Exchange};
        use http::Method;
        let shard = serde_json::to_string(&Shard {
            index: Some("i1".to_owned()),
            entries: vec![],
        })
        .unwrap();
        let mut calls: Vec<Exchange> = (0..SHARDS)
            .map(|n| {
                let path = format!("/api/v1/namespaces/{NS}/configmaps/{}", configmap_name(n));
                if n == 3 {
                    Exchange::new(
                        Method::GET,
                        path,
                        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": configmap_name(n)},
                            "data": {CONFIGMAP_KEY: shard}}),
                    )
                } else {
                    Exchange::new(Method::GET, path, serde_json::json!({})).failing(
                        404,
                        "NotFound",
                        "not found",
                    )
                }
            })
            .collect();
        calls.push(
            Exchange::new(
                Method::PATCH,
                format!(
                    "/api/v1/namespaces/{NS}/configmaps/{}?&force=true&fieldManager=drydock",
                    configmap_name(5)
                ),
                serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": configmap_name(5)}}),
            )
            .with_body(serde_json::json!({
                "metadata": {"name": configmap_name(5), "namespace": NS,
                             "labels": {"app.kubernetes.io/managed-by": "drydock"}},
                "data": {CONFIGMAP_KEY: "{}"}
            })),
        );
        let (client, verifier) = mock::client(calls);
        let maps = ConfigMaps::new(client, NS);
        assert_eq!(maps.load().await.unwrap(), [shard]);
        maps.write(5, "{}".to_owned()).await.unwrap();
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_is_good_while_its_job_runs_and_unknown_ones_list_at_most_once_a_period() {
        use drydock_kube::mock::{self, Exchange};
        use http::Method;
        let list = format!(
            "/api/v1/namespaces/{NS}/secrets?&labelSelector=drydock.dev%2Fverdict-token%3Dtrue"
        );
        let secrets = serde_json::json!({"apiVersion": "v1", "kind": "SecretList",
        "metadata": {}, "items": [
            {"metadata": {"name": "drydock-verdicts-a",
                          "labels": {"drydock.dev/imagejob": "imagejob-a"}},
             "data": {"token": "Z29vZA=="}},
            {"metadata": {"name": "drydock-verdicts-b",
                          "labels": {"drydock.dev/imagejob": "imagejob-b"}},
             "data": {"token": "b2xk"}},
            {"metadata": {"name": "drydock-verdicts-c"}, "data": {"token": "dW50aWVk"}}
        ]});
        let job = |name: &str, phase: &str| {
            Exchange::new(
                Method::GET,
                format!("/apis/eraser.sh/v1/imagejobs/{name}"),
                serde_json::json!({"apiVersion": "eraser.sh/v1", "kind": "ImageJob",
                    "metadata": {"name": name}, "status": {"phase": phase,
                    "failed": 0, "succeeded": 0, "desired": 1, "skipped": 0}}),
            )
        };
        let (client, verifier) = mock::client(vec![
            Exchange::new(Method::GET, list.clone(), secrets.clone()),
            job("imagejob-a", "Running"),
            job("imagejob-b", "Completed"),
            // `forged` is unknown: one more list, a period later only.
            Exchange::new(Method::GET, list, secrets),
            // A period later the running job is read again, and it has ended since.
            job("imagejob-a", "Completed"),
        ]);
        let tokens = JobTokens::new(client, NS);
        for _ in 0..3 {
            // A job seen running is not read again within the period.
            assert_eq!(
                tokens.check("good").await,
                Access::Granted {
                    job: "imagejob-a".to_owned()
                }
            );
        }
        assert_eq!(
            tokens.check("old").await,
            Access::Refused("the token's job imagejob-b has ended".to_owned())
        );
        // A Secret not tied to a job (its job was never created) is no token.
        assert_eq!(
            tokens.check("untied").await,
            Access::Refused("unknown token".to_owned())
        );
        tokio::time::advance(TOKEN_RELIST).await;
        assert_eq!(
            tokens.check("forged").await,
            Access::Refused("unknown token".to_owned())
        );
        assert_eq!(
            tokens.check("forged").await,
            Access::Refused("unknown token".to_owned())
        );
        assert_eq!(
            tokens.check("good").await,
            Access::Refused("the token's job imagejob-a has ended".to_owned())
        );
        verifier.finish().await;
    }

    #[test]
    fn tokens_are_256_random_bits() {
        let a = new_token().unwrap();
        assert_eq!(a.len(), 2 * TOKEN_BYTES);
        assert_ne!(a, new_token().unwrap());
    }
}
