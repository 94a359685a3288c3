//! The per-run extractor: one interest and one set of limits, and a cache of extracted layers
//! keyed by digest, so images that share layers read each shared layer once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::layer::{LayerFiles, read_layer};
use crate::merge::{ImageFiles, merge_layers};
use crate::oci::{BlobSource, Image, Layer};
use crate::snapshot::{SnapshotLayer, read_snapshot_layer};
use crate::{Error, Interest, Limits, Result};

/// One slot per layer key: the first caller fills it while later callers for the same key
/// wait on its lock, so a layer is read once even when images are scanned concurrently.
type Slot = Arc<Mutex<Option<Arc<LayerFiles>>>>;

/// Extracts the interesting files of images, caching each layer's result for the run.
/// Share one per run (it is `Sync`); errors are not cached.
#[derive(Debug)]
pub struct Extractor {
    interest: Interest,
    limits: Limits,
    verify_digests: bool,
    cache: Mutex<HashMap<String, Slot>>,
    layers_read: AtomicU64,
}

// === impl Extractor ===

impl Extractor {
    /// An extractor keeping what `interest` asks for, with default [`Limits`] and digest
    /// verification on.
    pub fn new(interest: Interest) -> Self {
        Extractor {
            interest,
            limits: Limits::default(),
            verify_digests: true,
            cache: Mutex::new(HashMap::new()),
            layers_read: AtomicU64::new(0),
        }
    }

    /// Replaces the limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether layer blobs must hash to their digest (default on: the cache trusts digests, so
    /// one forged archive must not poison another image's scan).
    #[must_use]
    pub fn verify_digests(mut self, verify: bool) -> Self {
        self.verify_digests = verify;
        self
    }

    /// The interest this extractor keeps.
    pub fn interest(&self) -> &Interest {
        &self.interest
    }

    /// How many layers were actually read (cache misses) so far.
    pub fn layers_read(&self) -> u64 {
        self.layers_read.load(Ordering::Relaxed)
    }

    /// The interesting files of one layer blob, from the cache when already read.
    ///
    /// # Errors
    /// Any error of [`read_layer`], or the source's [`Error::BlobNotFound`].
    pub fn layer<S: BlobSource + ?Sized>(
        &self,
        source: &S,
        layer: &Layer,
    ) -> Result<Arc<LayerFiles>> {
        self.cached(layer.digest.as_str(), || {
            let blob = source.open_blob(&layer.digest)?;
            let expected = self.verify_digests.then_some(&layer.digest);
            read_layer(blob, expected, &self.interest, &self.limits)
        })
    }

    /// The merged interesting files of `image`, read from `source`.
    ///
    /// # Errors
    /// [`Error::Layer`] naming the image and the failing layer.
    pub fn image<S: BlobSource + ?Sized>(&self, source: &S, image: &Image) -> Result<ImageFiles> {
        let layers = image
            .layers
            .iter()
            .map(|layer| {
                self.layer(source, layer)
                    .map_err(|e| in_layer(&image.name, layer.digest.as_str(), e))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(merge_layers(layers.iter().map(|l| &**l), &self.interest))
    }

    /// The merged interesting files of an unpacked image: its layer directories, lowest first.
    ///
    /// # Errors
    /// [`Error::Layer`] naming the image and the failing layer's key.
    pub fn snapshot_image(&self, name: &str, layers: &[SnapshotLayer]) -> Result<ImageFiles> {
        let read = layers
            .iter()
            .map(|layer| {
                self.cached(&layer.key, || {
                    read_snapshot_layer(&layer.dir, &self.interest, &self.limits)
                })
                .map_err(|e| in_layer(name, &layer.key, e))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(merge_layers(read.iter().map(|l| &**l), &self.interest))
    }

    fn cached(
        &self,
        key: &str,
        read: impl FnOnce() -> Result<LayerFiles>,
    ) -> Result<Arc<LayerFiles>> {
        let slot = {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(cache.entry(key.to_owned()).or_default())
        };
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(files) = &*slot {
            return Ok(Arc::clone(files));
        }
        self.layers_read.fetch_add(1, Ordering::Relaxed);
        let files = Arc::new(read()?);
        *slot = Some(Arc::clone(&files));
        Ok(files)
    }
}

fn in_layer(image: &str, layer: &str, source: Error) -> Error {
    Error::Layer {
        image: image.to_owned(),
        layer: layer.to_owned(),
        source: Box::new(source),
    }
}
