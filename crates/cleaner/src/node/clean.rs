//! Carrying out decisions against the runtime, with one structured log line per image in
//! Eraser's stable phrases (`removed image`, `image is running`, `image is excluded`,
//! `image is not on node`, `error removing image`), and the node-local `drydock clean`, which
//! with a vulnerability index removes only the unused images that are vulnerable or end-of-life.

use std::collections::HashMap;

use drydock_cri::client::snapshot;
use drydock_cri::{ExclusionSet, ImageRecord, ImageRuntime, RemoveOutcome};
use drydock_vuln::ScannerConfig;
use tracing::{error, info, warn};

use crate::Result;
use crate::node::decide::{Decision, Targets, Verdict, decide};
use crate::report::{Action, ImageResult, Report, Totals};

/// What `drydock clean` (and the remover) should do.
#[derive(Debug, Clone)]
pub struct CleanOptions {
    /// Which images to consider.
    pub targets: Targets,
    /// Patterns never removed.
    pub exclusions: ExclusionSet,
    /// References never removed (Drydock's own image).
    pub protected: Vec<String>,
    /// Decide and report, remove nothing.
    pub dry_run: bool,
}

/// Carries out decisions: removes what should go (unless `dry_run`), logs every image.
pub async fn execute<R: ImageRuntime>(
    runtime: &mut R,
    decisions: Vec<Decision>,
    dry_run: bool,
) -> Vec<ImageResult> {
    let mut results = Vec::with_capacity(decisions.len());
    for decision in decisions {
        let given = decision.given.clone();
        let given_field = given.as_deref().unwrap_or("*");
        let (name, id, bytes) = match &decision.image {
            Some(image) => (
                image.display_name().to_owned(),
                Some(image.id.clone()),
                image.size,
            ),
            None => (given.clone().unwrap_or_default(), None, 0),
        };
        let image_id = id.as_deref().unwrap_or("");
        let (action, reason) = match (&decision.verdict, id.as_deref()) {
            (Verdict::Remove, Some(image_id)) if dry_run => {
                info!(given = given_field, image_id, name = %name, dry_run, "would remove image");
                (Action::WouldRemove, "unused".to_owned())
            }
            (Verdict::Remove, Some(image_id)) => match runtime.remove_image(image_id).await {
                Ok(RemoveOutcome::Removed) => {
                    info!(given = given_field, image_id, name = %name, bytes, "removed image");
                    (Action::Removed, "unused".to_owned())
                }
                Ok(RemoveOutcome::NotFound) => {
                    info!(given = given_field, image_id, name = %name, "image already removed");
                    (
                        Action::AlreadyGone,
                        "removed by someone else first".to_owned(),
                    )
                }
                Err(err) => {
                    error!(given = given_field, image_id, name = %name, error = %err, "error removing image");
                    (Action::Failed, err.to_string())
                }
            },
            (Verdict::InUse(why), _) => {
                info!(given = given_field, image_id, name = %name, reason = %why, "image is running");
                (Action::Kept, why.to_string())
            }
            (Verdict::Excluded(pattern), _) => {
                info!(given = given_field, image_id, name = %name, pattern = %pattern, "image is excluded");
                (Action::Kept, decision.verdict.to_string())
            }
            (Verdict::Compliant(why), _) => {
                info!(given = given_field, image_id, name = %name, reason = %why, "image is not vulnerable");
                (Action::Kept, why.clone())
            }
            (Verdict::Young { created }, _) => {
                let created = created.map(|at| at.to_string());
                info!(given = given_field, image_id, name = %name, created, "image is newer than the minimum age");
                (Action::Kept, decision.verdict.to_string())
            }
            (Verdict::NotOnNode | Verdict::Remove, _) => {
                info!(given = given_field, "image is not on node");
                (Action::NotOnNode, Verdict::NotOnNode.to_string())
            }
        };
        let bytes = if matches!(action, Action::Removed | Action::WouldRemove) {
            bytes
        } else {
            0
        };
        results.push(ImageResult {
            image: name,
            id,
            given,
            action,
            reason,
            bytes,
        });
    }
    results
}

/// Logs Eraser's closing line of a `*` (prune) run.
pub fn log_prune(totals: &Totals) {
    if totals.failed == 0 {
        info!(removed = totals.removed, "prune successful");
    } else {
        error!(
            removed = totals.removed,
            failed = totals.failed,
            "error during prune"
        );
    }
}

/// Lists the runtime, decides and carries out: the whole node-local clean.
///
/// # Errors
/// When the runtime cannot be listed. Individual removal failures are reported per image.
pub async fn clean<R: ImageRuntime>(
    runtime: &mut R,
    endpoint: &str,
    runtime_name: &str,
    options: &CleanOptions,
) -> Result<Report> {
    let snapshot = snapshot(runtime).await?;
    let decisions = decide(
        &snapshot,
        &options.targets,
        &options.exclusions,
        &options.protected,
    );
    let images = execute(runtime, decisions, options.dry_run).await;
    let report = report(endpoint, runtime_name, options.dry_run, images);
    if options.targets == Targets::All && !options.dry_run {
        log_prune(&report.totals);
    }
    Ok(report)
}

/// The report of a clean: the per-image results and their totals.
fn report(endpoint: &str, runtime_name: &str, dry_run: bool, images: Vec<ImageResult>) -> Report {
    let totals = Totals::of(&images);
    Report {
        endpoint: endpoint.to_owned(),
        runtime: runtime_name.to_owned(),
        dry_run,
        images,
        totals,
    }
}

/// Scans images for [`clean_scanned`]: the verdict for one image record.
pub type ScanFn<'a> = dyn FnMut(&ImageRecord) -> drydock_vuln::Verdict + 'a;

/// Like [`clean`], but scans every image that would be removed and removes it only when the
/// scanner condemns it under `config` (vulnerable, end-of-life, or failed with
/// `deleteFailedImages`); the others are kept with the reason `not vulnerable`. Removed images
/// carry the scanner's reason.
///
/// # Errors
/// When the runtime cannot be listed. Individual removal failures are reported per image.
pub async fn clean_scanned<R: ImageRuntime>(
    runtime: &mut R,
    endpoint: &str,
    runtime_name: &str,
    options: &CleanOptions,
    config: &ScannerConfig,
    scan: &mut ScanFn<'_>,
) -> Result<Report> {
    let snapshot = snapshot(runtime).await?;
    let mut decisions = decide(
        &snapshot,
        &options.targets,
        &options.exclusions,
        &options.protected,
    );
    let mut reasons: HashMap<String, String> = HashMap::new();
    for decision in &mut decisions {
        let (Verdict::Remove, Some(image)) = (&decision.verdict, &decision.image) else {
            continue;
        };
        let verdict = scan(image);
        let name = image.display_name();
        let reason = match &verdict {
            drydock_vuln::Verdict::Ok => "not vulnerable".to_owned(),
            drydock_vuln::Verdict::NonCompliant { findings, eol } => {
                if *eol {
                    info!(image_id = %image.id, name, "image is end of life");
                }
                if !findings.is_empty() {
                    info!(image_id = %image.id, name, count = findings.len(), "vulnerable image found");
                }
                match (findings.len(), eol) {
                    (0, _) => "end of life".to_owned(),
                    (n, true) => format!("vulnerable ({n} finding(s)) and end of life"),
                    (n, false) => format!("vulnerable ({n} finding(s))"),
                }
            }
            drydock_vuln::Verdict::Unscannable { reason } => {
                warn!(image_id = %image.id, name, error = %reason, "image not scannable, kept");
                format!("not scannable, kept: {reason}")
            }
            drydock_vuln::Verdict::Failed { reason } => {
                error!(image_id = %image.id, name, error = %reason, "error scanning image");
                if config.delete_failed_images {
                    format!("scan failed: {reason}")
                } else {
                    format!("scan failed, kept (deleteFailedImages is false): {reason}")
                }
            }
        };
        if verdict.should_delete(config) {
            reasons.insert(image.id.clone(), reason);
        } else {
            decision.verdict = Verdict::Compliant(reason);
        }
    }
    let mut images = execute(runtime, decisions, options.dry_run).await;
    for result in &mut images {
        let reason = result.id.as_ref().and_then(|id| reasons.get(id));
        if let (Some(reason), Action::Removed | Action::WouldRemove) = (reason, result.action) {
            result.reason.clone_from(reason);
        }
    }
    Ok(report(endpoint, runtime_name, options.dry_run, images))
}

#[cfg(test)]
pub(crate) mod fake {
    //! An in-memory runtime for fast unit tests of the stages. The real-runtime tests live in
    //! `tests/containerd.rs`.

    use drydock_cri::inuse::ContainerRecord;
    use drydock_cri::{ImageRecord, ImageRuntime, NamedRecord, RemoveOutcome};

    /// Images and containers in memory; removals are recorded.
    #[derive(Debug, Default, Clone)]
    pub(crate) struct FakeRuntime {
        pub(crate) images: Vec<ImageRecord>,
        pub(crate) containers: Vec<ContainerRecord>,
        pub(crate) removed: Vec<String>,
        /// IDs that vanish between listing and removal.
        pub(crate) vanishing: Vec<String>,
        /// containerd's image records (creation times).
        pub(crate) records: Vec<NamedRecord>,
        /// Whether reading the records fails.
        pub(crate) records_fail: bool,
    }

    impl ImageRuntime for FakeRuntime {
        async fn list_images(&mut self) -> drydock_cri::Result<Vec<ImageRecord>> {
            Ok(self.images.clone())
        }

        async fn list_containers(&mut self) -> drydock_cri::Result<Vec<ContainerRecord>> {
            Ok(self.containers.clone())
        }

        async fn sandbox_image(&mut self) -> drydock_cri::Result<Option<String>> {
            Ok(None)
        }

        async fn image_records(&mut self) -> drydock_cri::Result<Vec<NamedRecord>> {
            if self.records_fail {
                return Err(drydock_cri::Error::Call {
                    call: "containerd Images.List",
                    endpoint: "fake".to_owned(),
                    message: "unavailable".to_owned(),
                });
            }
            Ok(self.records.clone())
        }

        async fn remove_image(&mut self, id: &str) -> drydock_cri::Result<RemoveOutcome> {
            if self.vanishing.iter().any(|v| v == id) {
                return Ok(RemoveOutcome::NotFound);
            }
            self.removed.push(id.to_owned());
            self.images.retain(|image| image.id != id);
            Ok(RemoveOutcome::Removed)
        }
    }

    pub(crate) fn image(id: &str, tag: &str) -> ImageRecord {
        ImageRecord {
            id: id.into(),
            repo_tags: vec![tag.into()],
            size: 1000,
            ..ImageRecord::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{FakeRuntime, image};
    use super::*;

    fn options(dry_run: bool) -> CleanOptions {
        CleanOptions {
            targets: Targets::All,
            exclusions: ExclusionSet::default(),
            protected: vec![],
            dry_run,
        }
    }

    #[tokio::test]
    async fn dry_run_removes_nothing_and_reports_what_would_go() {
        let mut runtime = FakeRuntime {
            images: vec![image("sha256:a", "docker.io/library/a:1")],
            ..FakeRuntime::default()
        };
        let report = clean(&mut runtime, "e", "fake", &options(true))
            .await
            .unwrap();
        assert!(runtime.removed.is_empty());
        assert_eq!(report.totals.would_remove, 1);
        assert_eq!(report.totals.bytes_reclaimed, 1000);
    }

    #[tokio::test]
    async fn with_a_scanner_only_condemned_images_go_and_clean_ones_stay_as_not_vulnerable() {
        let mut runtime = FakeRuntime {
            images: vec![
                image("sha256:a", "docker.io/library/vulnerable:1"),
                image("sha256:b", "docker.io/library/clean:1"),
                image("sha256:c", "docker.io/library/broken:1"),
            ],
            ..FakeRuntime::default()
        };
        let mut scan = |record: &ImageRecord| match record.id.as_str() {
            "sha256:a" => drydock_vuln::Verdict::NonCompliant {
                findings: vec![],
                eol: true,
            },
            "sha256:c" => drydock_vuln::Verdict::failed("corrupt layer"),
            _ => drydock_vuln::Verdict::Ok,
        };
        let config = ScannerConfig {
            delete_failed_images: false,
            ..ScannerConfig::default()
        };
        let report = clean_scanned(
            &mut runtime,
            "e",
            "fake",
            &options(false),
            &config,
            &mut scan,
        )
        .await
        .unwrap();
        assert_eq!(runtime.removed, vec!["sha256:a"]);
        let reasons: Vec<(&str, &str)> = report
            .images
            .iter()
            .map(|r| (r.image.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(
            reasons[0],
            ("docker.io/library/vulnerable:1", "end of life")
        );
        assert_eq!(reasons[1], ("docker.io/library/clean:1", "not vulnerable"));
        assert!(reasons[2].1.starts_with("scan failed, kept"), "{reasons:?}");
    }

    #[tokio::test]
    async fn an_image_that_vanishes_before_removal_counts_as_success() {
        let mut runtime = FakeRuntime {
            images: vec![image("sha256:a", "docker.io/library/a:1")],
            vanishing: vec!["sha256:a".into()],
            ..FakeRuntime::default()
        };
        let report = clean(&mut runtime, "e", "fake", &options(false))
            .await
            .unwrap();
        assert_eq!((report.totals.already_gone, report.totals.failed), (1, 0));
    }
}
