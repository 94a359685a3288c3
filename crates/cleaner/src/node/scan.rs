//! The worker-pod stage `scanner`, speaking Eraser's scanner contract (`ImageProvider` in
//! Eraser's `pkg/scanners/template`): create `eraseCompleteScan`, read the collector's list from
//! `collectScan`, scan each image, write the non-compliant images (plus the failed ones when
//! `deleteFailedImages`) to `scanErase`, then wait for the remover's `complete`.
//!
//! The stage is generic over [`ScanImage`], so the protocol is tested with a fake scanner and
//! the real one ([`crate::node::inventory`]) is tested on its own. Log lines use Eraser's phrases
//! (`scanning image with id`, `vulnerable image found`, `image is end of life`, `scanning
//! complete, waiting for remover to finish...`).
//!
//! With the cluster's verdict cache ([`run_scanner_cached`], Drydock's own), images whose
//! verdict another node already reported are decided without scanning; without it (Eraser's
//! behaviour) every image is scanned.
//!
//! With the in-use vulnerability report on (`reportInUse`, [`crate::vulnreport`]) the images
//! the collector marked in use are scanned after the removal candidates, within the same
//! timeouts, and never handed to the remover; without it they are not even scanned.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use drydock_api::duration::GoDuration;
use drydock_api::names::pipes;
use drydock_vuln::Verdict;
use drydock_vuln::config::TimeoutConfig;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::Result;
use crate::node::pipes::{PipeDir, await_complete, make_fifo, read_all, wait_for, write_all};
use crate::verdicts::Known;
use crate::vulnreport::NodeReport;

/// Scans one image handed over by the collector.
pub trait ScanImage {
    /// The verdict for `image`. Failures are [`Verdict::Failed`], never errors. The stage
    /// stops waiting for the future when `timeout.perImage` (or `timeout.total`) passes.
    fn scan(&mut self, image: &drydock_api::Image) -> impl Future<Output = Verdict> + Send;
}

/// A scanner that works synchronously (reads layers, matches); [`OnBlockingThreads`] runs it
/// off the async runtime so that timeouts can fire while it works.
pub trait ScanImageBlocking: Send + 'static {
    /// The verdict for `image`.
    fn scan_blocking(&mut self, image: &drydock_api::Image) -> Verdict;
}

/// Runs a [`ScanImageBlocking`] on a thread per scan. A scan that overruns its timeout
/// is abandoned, not killed: it finishes in the background and keeps the scanner busy, so the
/// next image waits for it (within its own timeout).
#[derive(Debug)]
pub struct OnBlockingThreads<S>(Arc<Mutex<S>>);

/// Why a bounded scan stopped waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimedOut {
    /// `timeout.perImage` passed (its value).
    PerImage(GoDuration),
    /// `timeout.total` passed (its value).
    Total(GoDuration),
}

/// The scan deadlines of one run: `timeout.total` from the run's start, `timeout.perImage`
/// from each image's start. Time is tokio's, so tests pause it.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    config: TimeoutConfig,
    total_deadline: Option<Instant>,
}

// === impl OnBlockingThreads ===

impl<S: ScanImageBlocking> OnBlockingThreads<S> {
    /// Wraps `scanner`.
    pub fn new(scanner: S) -> Self {
        Self(Arc::new(Mutex::new(scanner)))
    }

    /// Runs `work` with the scanner on a thread of its own. A plain thread rather than
    /// tokio's blocking pool: an abandoned scan must not hold up the runtime's shutdown.
    ///
    /// # Errors
    /// When `work` panicked (the thread ended without an answer).
    pub fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut S) -> T + Send + 'static,
    ) -> impl Future<Output = std::result::Result<T, ScanThreadDied>> + Send + 'static {
        let shared = Arc::clone(&self.0);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("drydock-scan".to_owned())
            .spawn(move || {
                // The lock is released before the answer leaves, so whoever awaits it finds
                // the scanner free (`try_with` right after the last scan read the layer count
                // as unknown, and `drydock scan` printed "0 layer(s) read").
                let answer = {
                    let mut scanner = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    work(&mut scanner)
                };
                let _ = tx.send(answer);
            });
        async move {
            spawned.map_err(|_| ScanThreadDied)?;
            rx.await.map_err(|_| ScanThreadDied)
        }
    }

    /// Runs `work` with the scanner now if no scan holds it (an abandoned scan may).
    pub fn try_with<T>(&self, work: impl FnOnce(&mut S) -> T) -> Option<T> {
        match self.0.try_lock() {
            Ok(mut scanner) => Some(work(&mut scanner)),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                Some(work(&mut poisoned.into_inner()))
            }
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

/// A scan thread could not start or ended without an answer (it panicked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the scan thread could not start or panicked")]
pub struct ScanThreadDied;

impl<S: ScanImageBlocking> ScanImage for OnBlockingThreads<S> {
    fn scan(&mut self, image: &drydock_api::Image) -> impl Future<Output = Verdict> + Send {
        let image = image.clone();
        let task = self.run(move |scanner| scanner.scan_blocking(&image));
        async move {
            task.await
                .unwrap_or_else(|error| Verdict::failed(error.to_string()))
        }
    }
}

// === impl TimedOut ===

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PerImage(limit) => write!(f, "timed out after {limit} (timeout.perImage)"),
            Self::Total(limit) => write!(f, "timed out: timeout.total ({limit}) passed"),
        }
    }
}

// === impl Deadlines ===

impl Deadlines {
    /// Deadlines of a run starting now.
    #[must_use]
    pub fn start(config: &TimeoutConfig) -> Self {
        Self {
            config: *config,
            total_deadline: config
                .total
                .to_std()
                .and_then(|total| Instant::now().checked_add(total)),
        }
    }

    /// Whether `timeout.total` has passed.
    #[must_use]
    pub fn total_passed(&self) -> bool {
        self.total_deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Awaits `work` for at most `timeout.perImage`, and not past `timeout.total`.
    ///
    /// # Errors
    /// [`TimedOut`] saying which limit passed first.
    pub async fn bound<T>(
        &self,
        work: impl Future<Output = T>,
    ) -> std::result::Result<T, TimedOut> {
        let per_image = self
            .config
            .per_image
            .to_std()
            .and_then(|d| Instant::now().checked_add(d));
        let (deadline, reason) = match (per_image, self.total_deadline) {
            (Some(p), Some(t)) if t < p => (Some(t), TimedOut::Total(self.config.total)),
            (Some(p), _) => (Some(p), TimedOut::PerImage(self.config.per_image)),
            (None, Some(t)) => (Some(t), TimedOut::Total(self.config.total)),
            (None, None) => (None, TimedOut::PerImage(self.config.per_image)),
        };
        match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, work)
                .await
                .map_err(|_| reason),
            None => Ok(work.await),
        }
    }
}

/// What the scanner stage did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanSummary {
    /// Images received from the collector.
    pub scanned: usize,
    /// Images found vulnerable or end-of-life.
    pub non_compliant: usize,
    /// Images that could not be scanned (including those left when the total timeout fired).
    pub failed: usize,
    /// Images whose layers could not be read where the scanner looks (blobs discarded and no
    /// unpacked snapshot to read instead); never handed on.
    pub unscannable: usize,
    /// Images handed to the remover.
    pub handed_on: Vec<drydock_api::Image>,
    /// Images decided from the cluster's verdict cache, not scanned here.
    pub known: usize,
    /// The in-use report (the stage's termination message), when `reportInUse` is on.
    pub in_use: Option<NodeReport>,
}

/// Runs the scanner stage. `delete_failed` is the config's `deleteFailedImages`; `timeouts` its
/// `timeout`: an image whose scan outlasts `perImage` is failed ("timed out after …"), and once
/// `total` has passed the image being scanned and the remaining ones are failed without
/// scanning, as Eraser does. `report_in_use` is the config's `reportInUse`: the images marked
/// in use are scanned for [`ScanSummary::in_use`] (else skipped); never handed on either way.
///
/// # Errors
/// Pipe failures, a malformed list, or a remover that did not send `complete`.
pub async fn run_scanner<S: ScanImage>(
    scanner: &mut S,
    pipe_dir: &PipeDir,
    delete_failed: bool,
    timeouts: &TimeoutConfig,
    report_in_use: bool,
) -> Result<ScanSummary> {
    run_scanner_cached(
        scanner,
        pipe_dir,
        delete_failed,
        timeouts,
        report_in_use,
        &mut NoCache,
    )
    .await
}

/// The cluster's verdict cache as the scanner stage uses it ([`crate::node::verdict_client`]).
pub trait VerdictCache {
    /// The verdicts already known for `images`; a failure is an empty map: the images are
    /// then scanned here.
    fn lookup(&mut self, images: &[String]) -> impl Future<Output = HashMap<String, Known>> + Send;
    /// Queues a new verdict for the report (sent while the scan goes on).
    fn record(&mut self, image: &str, verdict: Known);
    /// Returns once every recorded verdict is acknowledged or given up on.
    fn finish(&mut self) -> impl Future<Output = ()> + Send;
    /// Whether there is a cache to ask at all (without one, nothing is asked per image and
    /// the collector's order is kept).
    fn enabled(&self) -> bool {
        true
    }
    /// The scan order's sort key of an image: nodes started together should take the images
    /// they share in different orders, so that one's verdict reaches the others before they
    /// get there. `None` keeps the collector's order.
    fn order_key(&self, _image: &str) -> Option<u64> {
        None
    }
}

/// No cache: every image is scanned (Eraser's behaviour, and Drydock's without a token).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCache;

impl VerdictCache for NoCache {
    async fn lookup(&mut self, _images: &[String]) -> HashMap<String, Known> {
        HashMap::new()
    }

    fn record(&mut self, _image: &str, _verdict: Known) {}

    async fn finish(&mut self) {}

    fn enabled(&self) -> bool {
        false
    }
}

impl<C: VerdictCache + Send> VerdictCache for Option<C> {
    async fn lookup(&mut self, images: &[String]) -> HashMap<String, Known> {
        match self {
            Some(cache) => cache.lookup(images).await,
            None => HashMap::new(),
        }
    }

    fn record(&mut self, image: &str, verdict: Known) {
        if let Some(cache) = self {
            cache.record(image, verdict);
        }
    }

    async fn finish(&mut self) {
        if let Some(cache) = self {
            cache.finish().await;
        }
    }

    fn enabled(&self) -> bool {
        self.as_ref().is_some_and(VerdictCache::enabled)
    }

    fn order_key(&self, image: &str) -> Option<u64> {
        self.as_ref().and_then(|cache| cache.order_key(image))
    }
}

/// [`run_scanner`] with the cluster's verdict cache: the images whose verdict `cache` knows
/// (asked for all at the start, and again for each image just before it would be scanned)
/// are decided without scanning and counted in [`ScanSummary::known`]; each new verdict is
/// reported as it is made, and the stage returns once the reports are settled.
///
/// # Errors
/// As [`run_scanner`].
pub async fn run_scanner_cached<S: ScanImage, C: VerdictCache>(
    scanner: &mut S,
    pipe_dir: &PipeDir,
    delete_failed: bool,
    timeouts: &TimeoutConfig,
    report_in_use: bool,
    cache: &mut C,
) -> Result<ScanSummary> {
    let complete = pipe_dir.path(pipes::ERASE_COMPLETE_SCAN);
    make_fifo(&complete)?;
    let collected = pipe_dir.path(pipes::COLLECT_SCAN);
    wait_for(&collected).await;
    let bytes = read_all(&collected).await?;
    let images = drydock_api::pipe::decode(&bytes, &collected.display().to_string())?;
    let (in_use, images): (Vec<_>, Vec<_>) = images.into_iter().partition(|image| image.in_use);
    let deadlines = Deadlines::start(timeouts);
    let mut summary = scan_candidates(scanner, images, delete_failed, &deadlines, cache).await;
    if report_in_use {
        summary.in_use = Some(scan_in_use(scanner, &deadlines, &in_use).await);
    } else if !in_use.is_empty() {
        warn!(
            count = in_use.len(),
            "images marked in use were handed over but reportInUse is off; not scanned"
        );
    }
    let payload = drydock_api::pipe::encode(&summary.handed_on)?;
    let hand_over = async {
        write_all(&pipe_dir.path(pipes::SCAN_ERASE), payload).await?;
        await_complete(&complete).await
    };
    let (handed_over, ()) = futures::join!(hand_over, cache.finish());
    handed_over?;
    Ok(summary)
}

/// The scanner stage's decisions over the collector's `images`: scans each one not known to
/// `cache` within the deadlines, and says which go to the remover. Reports queued in `cache`
/// are not awaited here ([`VerdictCache::finish`]).
pub async fn scan_images<S: ScanImage, C: VerdictCache>(
    scanner: &mut S,
    images: Vec<drydock_api::Image>,
    delete_failed: bool,
    timeouts: &TimeoutConfig,
    cache: &mut C,
) -> ScanSummary {
    scan_candidates(
        scanner,
        images,
        delete_failed,
        &Deadlines::start(timeouts),
        cache,
    )
    .await
}

/// [`scan_images`] within deadlines the caller started (shared with the in-use scan).
async fn scan_candidates<S: ScanImage, C: VerdictCache>(
    scanner: &mut S,
    mut images: Vec<drydock_api::Image>,
    delete_failed: bool,
    deadlines: &Deadlines,
    cache: &mut C,
) -> ScanSummary {
    let mut known = HashMap::new();
    if cache.enabled() {
        images.sort_by_cached_key(|image| cache.order_key(&image.image_id));
        let ids: Vec<String> = images.iter().map(|i| i.image_id.clone()).collect();
        known = cache.lookup(&ids).await;
    }
    let mut summary = ScanSummary::default();
    for image in images {
        summary.scanned += 1;
        let name = image.names.first().unwrap_or(&image.image_id).clone();
        if cache.enabled() && !known.contains_key(&image.image_id) {
            // Another node may have reported it since the run started.
            known.extend(cache.lookup(std::slice::from_ref(&image.image_id)).await);
        }
        if let Some(verdict) = known.get(&image.image_id) {
            summary.known += 1;
            let non_compliant = verdict.is_non_compliant();
            info!(id = %image.image_id, name = %name, non_compliant, "verdict known to the cluster; not scanned again");
            if non_compliant {
                summary.non_compliant += 1;
                summary.handed_on.push(image);
            }
            continue;
        }
        let verdict = if deadlines.total_passed() {
            Verdict::failed("total scan timeout passed before this image was scanned")
        } else {
            info!(id = %image.image_id, name = %name, "scanning image with id");
            deadlines
                .bound(scanner.scan(&image))
                .await
                .unwrap_or_else(|timed_out| Verdict::failed(timed_out.to_string()))
        };
        if let Some(cached) = Known::of(&verdict) {
            cache.record(&image.image_id, cached);
        }
        let delete = match &verdict {
            Verdict::Ok => false,
            Verdict::NonCompliant { findings, eol } => {
                summary.non_compliant += 1;
                if *eol {
                    info!(id = %image.image_id, name = %name, "image is end of life");
                }
                if !findings.is_empty() {
                    let ids: Vec<&str> = findings.iter().map(|f| f.id.as_str()).collect();
                    info!(id = %image.image_id, name = %name, count = findings.len(), vulnerabilities = ?ids, "vulnerable image found");
                }
                true
            }
            Verdict::Failed { reason } => {
                summary.failed += 1;
                error!(id = %image.image_id, name = %name, error = %reason, "error scanning image");
                delete_failed
            }
            Verdict::Unscannable { reason } => {
                summary.unscannable += 1;
                warn!(id = %image.image_id, name = %name, error = %reason, "image not scannable, kept whatever deleteFailedImages says");
                false
            }
        };
        if delete {
            summary.handed_on.push(image);
        }
    }
    if summary.failed > 0 && !delete_failed {
        warn!(
            failed = summary.failed,
            "failed images are kept (deleteFailedImages is false)"
        );
    }
    info!(
        scanned = summary.scanned,
        known = summary.known,
        non_compliant = summary.non_compliant,
        failed = summary.failed,
        handed_on = summary.handed_on.len(),
        "scanning complete, waiting for remover to finish..."
    );
    summary
}

/// Scans the images in use for the report, within the run's deadlines; none is handed on.
async fn scan_in_use<S: ScanImage>(
    scanner: &mut S,
    deadlines: &Deadlines,
    images: &[drydock_api::Image],
) -> NodeReport {
    let mut failed = 0;
    let mut vulnerable = Vec::new();
    for image in images {
        let name = image.names.first().unwrap_or(&image.image_id);
        let verdict = if deadlines.total_passed() {
            Verdict::failed("total scan timeout passed before this image was scanned")
        } else {
            info!(id = %image.image_id, name = %name, "scanning image in use for the report");
            deadlines
                .bound(scanner.scan(image))
                .await
                .unwrap_or_else(|timed_out| Verdict::failed(timed_out.to_string()))
        };
        if let Verdict::Failed { reason } = &verdict {
            failed += 1;
            warn!(id = %image.image_id, name = %name, error = %reason, "error scanning image in use; left out of the report");
        }
        if let Some(entry) = crate::vulnreport::entry(image, &verdict) {
            let severities: Vec<String> = entry
                .severities
                .iter()
                .map(|(severity, count)| format!("{severity}:{count}"))
                .collect();
            info!(id = %image.image_id, name = %name, severities = ?severities, fixable = entry.fixable, eol = entry.eol, "vulnerable image in use");
            vulnerable.push(entry);
        }
    }
    let report = NodeReport::new(images.len(), failed, vulnerable);
    info!(
        scanned = report.in_use_scanned,
        vulnerable = report.images.len() + report.omitted,
        failed = report.in_use_failed,
        "images in use scanned for the report"
    );
    report
}

/// How long a scanner that cannot scan waits for its pod's collector and remover to take the
/// empty hand-over ([`release_peers`]). Live peers need milliseconds to a few seconds (the
/// collector lists the runtime, the remover polls once a second); past this the stage exits
/// anyway.
pub const RELEASE_BOUND: std::time::Duration = std::time::Duration::from_secs(120);

/// Lets the collector and the remover of a scanner's pod finish when the scanner cannot scan
/// (no index, a bad config): it takes the collector's list, hands the remover an empty one and
/// waits for its `complete`, so every container ends, the pod ends Failed (the stage still
/// exits non-zero) and nothing is removed. Without it both peers wait on their pipes for ever,
/// and the failed pod, kept for `delayOnFailure`, holds its resource requests and starves the
/// next run's pods on that node. Bounded by `bound` ([`RELEASE_BOUND`]). Without a pipe
/// directory (the stage run outside a pod) there are no peers, and it returns at once.
///
/// # Errors
/// A pipe failure, or `bound` passed before the peers took their turns.
pub async fn release_peers(pipe_dir: &PipeDir, bound: std::time::Duration) -> Result<()> {
    if !pipe_dir.exists() {
        return Ok(());
    }
    let complete = pipe_dir.path(pipes::ERASE_COMPLETE_SCAN);
    let collected = pipe_dir.path(pipes::COLLECT_SCAN);
    let erase = pipe_dir.path(pipes::SCAN_ERASE);
    let hand_over = async {
        make_fifo(&complete)?;
        wait_for(&collected).await;
        read_all(&collected).await?;
        let empty = drydock_api::pipe::encode(&[])?;
        write_all(&erase, empty).await?;
        await_complete(&complete).await
    };
    tokio::time::timeout(bound, hand_over).await.map_err(|_| {
        crate::Error::io(
            pipe_dir.path(""),
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the collector and remover did not take the empty hand-over within {}s",
                    bound.as_secs()
                ),
            ),
        )
    })?
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;

    /// Verdicts by image ID; `sha256:slow…` images take two hours to scan and
    /// `sha256:stuck…` images never finish.
    struct Fake(HashMap<String, Verdict>);

    /// How long a `sha256:slow…` image takes.
    const SLOW: Duration = Duration::from_secs(2 * 3600);

    impl ScanImage for Fake {
        fn scan(&mut self, image: &drydock_api::Image) -> impl Future<Output = Verdict> + Send {
            let verdict = self.0.get(&image.image_id).cloned().unwrap_or(Verdict::Ok);
            let slow = image.image_id.starts_with("sha256:slow");
            let stuck = image.image_id.starts_with("sha256:stuck");
            async move {
                if slow {
                    tokio::time::sleep(SLOW).await;
                }
                if stuck {
                    std::future::pending::<()>().await;
                }
                verdict
            }
        }
    }

    /// Counts the scans it ran.
    struct Counting(u64);

    impl ScanImageBlocking for Counting {
        fn scan_blocking(&mut self, _image: &drydock_api::Image) -> Verdict {
            self.0 += 1;
            Verdict::Ok
        }
    }

    #[tokio::test]
    async fn the_scanner_is_free_as_soon_as_a_scan_answers() {
        let scanner = OnBlockingThreads::new(Counting(0));
        for n in 1..=200 {
            scanner.run(|s| s.0 += 1).await.unwrap();
            assert_eq!(scanner.try_with(|s| s.0), Some(n), "scan {n}");
        }
    }

    fn timeouts(total: &str, per_image: &str) -> TimeoutConfig {
        TimeoutConfig {
            total: total.parse().unwrap(),
            per_image: per_image.parse().unwrap(),
        }
    }

    fn image(id: &str) -> drydock_api::Image {
        drydock_api::Image {
            image_id: id.to_owned(),
            names: vec![format!("docker.io/library/{}:1", &id[7..])],
            digests: vec![],
            in_use: false,
        }
    }

    /// Plays collector and remover around the stage; returns what the remover received.
    async fn exchange(
        scanner: Fake,
        delete_failed: bool,
        timeouts: TimeoutConfig,
        images: Vec<drydock_api::Image>,
    ) -> (ScanSummary, Vec<drydock_api::Image>) {
        exchange_reporting(scanner, delete_failed, timeouts, images, false).await
    }

    /// [`exchange`] with `reportInUse` as given.
    async fn exchange_reporting(
        scanner: Fake,
        delete_failed: bool,
        timeouts: TimeoutConfig,
        images: Vec<drydock_api::Image>,
        report_in_use: bool,
    ) -> (ScanSummary, Vec<drydock_api::Image>) {
        let dir = tempfile::tempdir().unwrap();
        let pipes = PipeDir::new(dir.path());
        let stage = tokio::spawn({
            let pipes = pipes.clone();
            let mut scanner = scanner;
            async move {
                run_scanner(
                    &mut scanner,
                    &pipes,
                    delete_failed,
                    &timeouts,
                    report_in_use,
                )
                .await
            }
        });
        let payload = drydock_api::pipe::encode(&images).unwrap();
        write_all(&pipes.path(pipes::COLLECT_SCAN), payload)
            .await
            .unwrap();
        let erase = pipes.path(pipes::SCAN_ERASE);
        wait_for(&erase).await;
        let received =
            drydock_api::pipe::decode(&read_all(&erase).await.unwrap(), "scanErase").unwrap();
        assert!(
            crate::node::pipes::signal_complete(&pipes.path(pipes::ERASE_COMPLETE_SCAN))
                .await
                .unwrap()
        );
        (stage.await.unwrap().unwrap(), received)
    }

    #[tokio::test]
    async fn a_scanner_that_cannot_scan_hands_the_remover_an_empty_list_so_the_pod_ends() {
        let dir = tempfile::tempdir().unwrap();
        let pipes = PipeDir::new(dir.path());
        let collector = tokio::spawn({
            let pipes = pipes.clone();
            async move {
                let payload = drydock_api::pipe::encode(&[image("sha256:a")]).unwrap();
                write_all(&pipes.path(pipes::COLLECT_SCAN), payload).await
            }
        });
        let remover = tokio::spawn({
            let pipes = pipes.clone();
            async move {
                let erase = pipes.path(pipes::SCAN_ERASE);
                wait_for(&erase).await;
                let received = read_all(&erase).await.unwrap();
                crate::node::pipes::signal_complete(&pipes.path(pipes::ERASE_COMPLETE_SCAN))
                    .await
                    .unwrap();
                drydock_api::pipe::decode(&received, "scanErase").unwrap()
            }
        });
        release_peers(&pipes, RELEASE_BOUND).await.unwrap();
        collector.await.unwrap().unwrap();
        assert!(remover.await.unwrap().is_empty(), "nothing is removed");
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_pipe_directory_there_are_no_peers_to_wait_for() {
        let dir = tempfile::tempdir().unwrap();
        let started = tokio::time::Instant::now();
        release_peers(&PipeDir::new(dir.path().join("absent")), RELEASE_BOUND)
            .await
            .unwrap();
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn with_no_peers_the_release_gives_up_within_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let error = release_peers(&PipeDir::new(dir.path()), Duration::from_secs(5))
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("within 5s"), "{error}");
    }

    fn verdicts() -> HashMap<String, Verdict> {
        HashMap::from([
            (
                "sha256:vulnerable".to_owned(),
                Verdict::NonCompliant {
                    findings: vec![],
                    eol: true,
                },
            ),
            ("sha256:broken".to_owned(), Verdict::failed("corrupt layer")),
            (
                "sha256:unpacked".to_owned(),
                Verdict::Unscannable {
                    reason: "layer blobs discarded".to_owned(),
                },
            ),
        ])
    }

    #[tokio::test]
    async fn non_compliant_and_failed_images_go_to_the_remover_and_clean_ones_do_not() {
        let images = [
            "sha256:clean",
            "sha256:vulnerable",
            "sha256:broken",
            "sha256:unpacked",
        ]
        .map(image);
        let (summary, received) = exchange(
            Fake(verdicts()),
            true,
            timeouts("23h", "1h"),
            images.to_vec(),
        )
        .await;
        let ids: Vec<&str> = received.iter().map(|i| i.image_id.as_str()).collect();
        assert_eq!(ids, ["sha256:vulnerable", "sha256:broken"]);
        assert_eq!(
            (
                summary.scanned,
                summary.non_compliant,
                summary.failed,
                summary.unscannable
            ),
            (4, 1, 1, 1),
            "the unscannable image is not handed on, though deleteFailedImages is on"
        );
    }

    fn in_use(id: &str) -> drydock_api::Image {
        drydock_api::Image {
            in_use: true,
            ..image(id)
        }
    }

    #[tokio::test]
    async fn images_in_use_are_scanned_for_the_report_and_never_handed_on() {
        let mut verdicts = verdicts();
        verdicts.insert(
            "sha256:running-vulnerable".to_owned(),
            Verdict::NonCompliant {
                findings: vec![],
                eol: true,
            },
        );
        let images = vec![
            in_use("sha256:running-vulnerable"),
            image("sha256:vulnerable"),
            in_use("sha256:broken"),
            in_use("sha256:clean"),
        ];
        let (summary, received) =
            exchange_reporting(Fake(verdicts), true, timeouts("23h", "1h"), images, true).await;
        let ids: Vec<&str> = received.iter().map(|i| i.image_id.as_str()).collect();
        assert_eq!(
            ids,
            ["sha256:vulnerable"],
            "deleteFailedImages does not reach them"
        );
        let report = summary.in_use.unwrap();
        assert_eq!((report.in_use_scanned, report.in_use_failed), (3, 1));
        let reported: Vec<&str> = report.images.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(reported, ["sha256:running-vulnerable"]);
        assert!(report.images[0].eol);
        assert_eq!((summary.scanned, summary.non_compliant), (1, 1));
    }

    #[tokio::test]
    async fn with_the_report_off_images_in_use_are_neither_scanned_nor_handed_on() {
        let images = vec![in_use("sha256:vulnerable"), image("sha256:broken")];
        let (summary, received) =
            exchange(Fake(verdicts()), true, timeouts("23h", "1h"), images).await;
        let ids: Vec<&str> = received.iter().map(|i| i.image_id.as_str()).collect();
        assert_eq!(ids, ["sha256:broken"]);
        assert_eq!(summary.in_use, None);
        assert_eq!(summary.scanned, 1);
    }

    #[tokio::test]
    async fn failed_images_are_kept_when_delete_failed_images_is_off() {
        let images = ["sha256:vulnerable", "sha256:broken"].map(image);
        let (_, received) = exchange(
            Fake(verdicts()),
            false,
            timeouts("23h", "1h"),
            images.to_vec(),
        )
        .await;
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].image_id, "sha256:vulnerable");
    }

    #[tokio::test]
    async fn images_left_when_the_total_timeout_has_passed_count_as_failed() {
        let images = ["sha256:clean", "sha256:other"].map(image);
        let (summary, received) = exchange(
            Fake(HashMap::new()),
            true,
            timeouts("0s", "1h"),
            images.to_vec(),
        )
        .await;
        assert_eq!(summary.failed, 2);
        assert_eq!(received.len(), 2);
    }

    /// Runs `scans` with tokio's clock paused: sleeps complete when the runtime is idle, so
    /// two hours of scanning take no wall-clock time.
    fn bounded(
        deadlines_config: TimeoutConfig,
        scans: usize,
    ) -> Vec<std::result::Result<Verdict, TimedOut>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let deadlines = Deadlines::start(&deadlines_config);
            let mut fake = Fake(HashMap::new());
            let mut out = Vec::new();
            for _ in 0..scans {
                out.push(deadlines.bound(fake.scan(&image("sha256:slow"))).await);
            }
            out
        })
    }

    #[test]
    fn a_scan_outlasting_per_image_times_out_and_says_after_how_long() {
        let results = bounded(timeouts("23h", "90s"), 1);
        let err = results[0].clone().unwrap_err();
        assert_eq!(err, TimedOut::PerImage("90s".parse().unwrap()));
        assert_eq!(err.to_string(), "timed out after 1m30s (timeout.perImage)");
    }

    #[test]
    fn a_scan_within_per_image_finishes() {
        let results = bounded(timeouts("23h", "3h"), 1);
        assert_eq!(results[0], Ok(Verdict::Ok));
    }

    #[test]
    fn total_cuts_a_scan_short_when_it_ends_first() {
        // 3 h in all, 2 h 30 min per image: the first scan (2 h) finishes, the second is cut
        // at the 3 h mark, 1 h in.
        let results = bounded(timeouts("3h", "2h30m"), 2);
        assert_eq!(results[0], Ok(Verdict::Ok));
        assert_eq!(results[1], Err(TimedOut::Total("3h".parse().unwrap())));
    }

    #[tokio::test]
    async fn the_stage_fails_an_image_that_outlasts_per_image_and_scans_the_next() {
        // The stuck scan never finishes; a 1 ms perImage ends it (the pipes need real time,
        // so the clock is not paused here; the timing itself is tested above).
        let images = ["sha256:stuck", "sha256:vulnerable"].map(image);
        let (summary, received) = exchange(
            Fake(verdicts()),
            true,
            timeouts("23h", "1ms"),
            images.to_vec(),
        )
        .await;
        assert_eq!((summary.failed, summary.non_compliant), (1, 1));
        let ids: Vec<&str> = received.iter().map(|i| i.image_id.as_str()).collect();
        assert_eq!(ids, ["sha256:stuck", "sha256:vulnerable"]);
    }

    struct Blocking;

    impl ScanImageBlocking for Blocking {
        fn scan_blocking(&mut self, image: &drydock_api::Image) -> Verdict {
            Verdict::failed(format!("scanned {} on a blocking thread", image.image_id))
        }
    }

    #[tokio::test]
    async fn blocking_scanners_run_off_the_runtime() {
        let mut scanner = OnBlockingThreads::new(Blocking);
        assert_eq!(
            scanner.scan(&image("sha256:abc")).await,
            Verdict::failed("scanned sha256:abc on a blocking thread")
        );
    }
}
