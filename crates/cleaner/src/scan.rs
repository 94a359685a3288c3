//! The worker-pod stage `scanner`, speaking Eraser's scanner contract (`ImageProvider` in
//! Eraser's `pkg/scanners/template`): create `eraseCompleteScan`, read the collector's list from
//! `collectScan`, scan each image, write the non-compliant images (plus the failed ones when
//! `deleteFailedImages`) to `scanErase`, then wait for the remover's `complete`.
//!
//! The stage is generic over [`ScanImage`], so the protocol is tested with a fake scanner and
//! the real one ([`crate::inventory`]) is tested on its own. Log lines use Eraser's phrases
//! (`scanning image with id`, `vulnerable image found`, `image is end of life`, `scanning
//! complete, waiting for remover to finish...`).

use std::time::Duration;

use drydock_api::names::pipes;
use drydock_vuln::Verdict;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::Result;
use crate::pipes::{PipeDir, await_complete, make_fifo, read_all, wait_for, write_all};

/// Scans one image handed over by the collector.
pub trait ScanImage {
    /// The verdict for `image`. Failures are [`Verdict::Failed`], never errors.
    fn scan(&mut self, image: &drydock_api::Image) -> Verdict;
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
    /// Images handed to the remover.
    pub handed_on: Vec<drydock_api::Image>,
}

/// Runs the scanner stage. `delete_failed` is the config's `deleteFailedImages`; `total` its
/// `timeout.total`: once it has passed, the remaining images are failed without scanning, as
/// Eraser does (checked between images).
///
/// # Errors
/// Pipe failures, a malformed list, or a remover that did not send `complete`.
pub async fn run_scanner<S: ScanImage>(
    scanner: &mut S,
    pipe_dir: &PipeDir,
    delete_failed: bool,
    total: Duration,
) -> Result<ScanSummary> {
    let complete = pipe_dir.path(pipes::ERASE_COMPLETE_SCAN);
    make_fifo(&complete)?;
    let collected = pipe_dir.path(pipes::COLLECT_SCAN);
    wait_for(&collected).await;
    let bytes = read_all(&collected).await?;
    let images = drydock_api::pipe::decode(&bytes, &collected.display().to_string())?;
    let deadline = Instant::now().checked_add(total);
    let mut summary = ScanSummary::default();
    for image in images {
        summary.scanned += 1;
        let name = image.names.first().unwrap_or(&image.image_id).clone();
        let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
        let verdict = if timed_out {
            Verdict::failed("total scan timeout passed before this image was scanned")
        } else {
            info!(id = %image.image_id, name = %name, "scanning image with id");
            scanner.scan(&image)
        };
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
        non_compliant = summary.non_compliant,
        failed = summary.failed,
        handed_on = summary.handed_on.len(),
        "scanning complete, waiting for remover to finish..."
    );
    let payload = drydock_api::pipe::encode(&summary.handed_on)?;
    write_all(&pipe_dir.path(pipes::SCAN_ERASE), payload).await?;
    await_complete(&complete).await?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Fake(HashMap<String, Verdict>);

    impl ScanImage for Fake {
        fn scan(&mut self, image: &drydock_api::Image) -> Verdict {
            self.0.get(&image.image_id).cloned().unwrap_or(Verdict::Ok)
        }
    }

    fn image(id: &str) -> drydock_api::Image {
        drydock_api::Image {
            image_id: id.to_owned(),
            names: vec![format!("docker.io/library/{}:1", &id[7..])],
            digests: vec![],
        }
    }

    /// Plays collector and remover around the stage; returns what the remover received.
    async fn exchange(
        scanner: Fake,
        delete_failed: bool,
        total: Duration,
        images: Vec<drydock_api::Image>,
    ) -> (ScanSummary, Vec<drydock_api::Image>) {
        let dir = tempfile::tempdir().unwrap();
        let pipes = PipeDir::new(dir.path());
        let stage = tokio::spawn({
            let pipes = pipes.clone();
            let mut scanner = scanner;
            async move { run_scanner(&mut scanner, &pipes, delete_failed, total).await }
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
            crate::pipes::signal_complete(&pipes.path(pipes::ERASE_COMPLETE_SCAN))
                .await
                .unwrap()
        );
        (stage.await.unwrap().unwrap(), received)
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
        ])
    }

    #[tokio::test]
    async fn non_compliant_and_failed_images_go_to_the_remover_and_clean_ones_do_not() {
        let images = ["sha256:clean", "sha256:vulnerable", "sha256:broken"].map(image);
        let (summary, received) = exchange(
            Fake(verdicts()),
            true,
            Duration::from_secs(3600),
            images.to_vec(),
        )
        .await;
        let ids: Vec<&str> = received.iter().map(|i| i.image_id.as_str()).collect();
        assert_eq!(ids, ["sha256:vulnerable", "sha256:broken"]);
        assert_eq!(
            (summary.scanned, summary.non_compliant, summary.failed),
            (3, 1, 1)
        );
    }

    #[tokio::test]
    async fn failed_images_are_kept_when_delete_failed_images_is_off() {
        let images = ["sha256:vulnerable", "sha256:broken"].map(image);
        let (_, received) = exchange(
            Fake(verdicts()),
            false,
            Duration::from_secs(3600),
            images.to_vec(),
        )
        .await;
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].image_id, "sha256:vulnerable");
    }

    #[tokio::test]
    async fn images_left_when_the_total_timeout_has_passed_count_as_failed() {
        let images = ["sha256:clean", "sha256:other"].map(image);
        let (summary, received) =
            exchange(Fake(HashMap::new()), true, Duration::ZERO, images.to_vec()).await;
        assert_eq!(summary.failed, 2);
        assert_eq!(received.len(), 2);
    }
}
