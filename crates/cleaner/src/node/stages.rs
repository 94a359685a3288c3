//! The worker-pod stages `collector` and `remover`, speaking Eraser's pipe contract so that a
//! Drydock collector or remover can sit next to any Eraser-compatible scanner container.
//!
//! Collector: list the runtime, write the unused, non-excluded images to `collectScan` (or to
//! `scanErase` when scanning is disabled), then wait for `complete` on `eraseCompleteCollect`.
//! Remover: read the images to remove from `scanErase`, or from an ImageList file in manual
//! mode; re-list the runtime, re-check in-use and exclusions, remove, report; then write
//! `complete` to `eraseCompleteCollect` and `eraseCompleteScan` when they exist. When the
//! remover fails it writes `failed` instead, so its peers exit non-zero instead of hanging.
//!
//! With a minimum image age (Drydock's `components.remover.minimumAge`), both stages keep the
//! images the runtime created less than that long ago ([`crate::node::decide::keep_young`]); the
//! creation times come from containerd's image records, read once per stage.
//!
//! With the in-use vulnerability report on (`--report-in-use`, [`crate::vulnreport`]), the
//! collector also hands the scanner the images in use, marked `drydock_in_use`; the remover
//! drops any marked entry that reaches it, so a marked image is never removed.

use std::path::{Path, PathBuf};

use drydock_api::names::pipes;
use drydock_cri::client::snapshot;
use drydock_cri::created::creation_times;
use drydock_cri::reference::{Reference, is_digest};
use drydock_cri::{ExclusionSet, ImageRuntime, Snapshot};
use jiff::{SignedDuration, Timestamp};
use tracing::{info, warn};

use crate::node::clean::{execute, log_prune};
use crate::node::decide::{ALL_IMAGES, Decision, Targets, Verdict, decide, keep_young, removable};
use crate::node::pipes::{
    PipeDir, await_complete, await_creation, read_all, send, wait_for, write_all,
};
use crate::report::{Report, Totals};
use crate::{Error, Result, exclusions};

/// What the peers read on a completion pipe when the remover failed.
const FAILED_MESSAGE: &[u8] = b"failed";

/// Where a stage finds its pipes, exclusions and protected images.
#[derive(Debug, Clone)]
pub struct StageContext {
    /// The shared pipe directory.
    pub pipes: PipeDir,
    /// The directory holding the `exclude-*` ConfigMap mounts (Eraser: the working directory).
    pub exclusion_root: PathBuf,
    /// Extra exclusion files (`--exclude-file`).
    pub exclusion_files: Vec<PathBuf>,
    /// References that must never be removed (Drydock's own image).
    pub protected: Vec<String>,
    /// Keep images younger than this; `None` (Eraser's behaviour) keeps none for their age.
    pub minimum_age: Option<MinimumAge>,
    /// The remover decides and reports but removes nothing (a dry run).
    pub dry_run: bool,
    /// The collector also hands the scanner the images in use, marked, for the in-use
    /// vulnerability report (never when scanning is disabled: the list then goes to the
    /// remover).
    pub report_in_use: bool,
}

/// A minimum image age and the clock it is measured against.
#[derive(Debug, Clone, Copy)]
pub struct MinimumAge {
    /// Images the runtime created less than this long ago are kept.
    pub age: SignedDuration,
    /// The current time (the wall clock in the worker, a fixed time in tests).
    pub clock: fn() -> Timestamp,
}

/// Where the remover gets its list from.
#[derive(Debug, Clone)]
pub enum RemoverInput {
    /// Manual mode: an ImageList file (the ConfigMap key `images`, a JSON array).
    ImageList(PathBuf),
    /// Automatic mode: the `scanErase` pipe.
    Pipe,
}

// === impl StageContext ===

impl StageContext {
    /// Reads every exclusion source. An unreadable or invalid one is an error: the stage must
    /// then remove nothing rather than ignore an exclusion.
    ///
    /// # Errors
    /// The first bad exclusion source.
    pub fn exclusions(&self) -> Result<ExclusionSet> {
        let mut set = ExclusionSet::default();
        let files = exclusions::read_mounted(&self.exclusion_root, &mut set)?;
        for file in &self.exclusion_files {
            exclusions::read_file(file, &mut set)?;
        }
        if set.is_empty() {
            info!("no images to exclude");
        } else {
            info!(
                patterns = set.len(),
                files = files.len() + self.exclusion_files.len(),
                "exclusions loaded"
            );
        }
        Ok(set)
    }
}

/// Parses an ImageList file: a JSON array of image IDs, digests, references or `*`.
///
/// # Errors
/// [`Error::Input`] naming the file for anything else.
pub fn parse_image_list(bytes: &[u8], source: &Path) -> Result<Vec<String>> {
    let fail = |message: String| Error::Input {
        source_name: source.display().to_string(),
        message,
    };
    let entries: Vec<String> = serde_json::from_slice(bytes)
        .map_err(|e| fail(format!("not a JSON array of image names: {e}")))?;
    for (position, entry) in entries.iter().enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(fail(format!("entry {position} is empty")));
        }
        if entry != ALL_IMAGES && !is_digest(entry) {
            Reference::parse(entry).map_err(|e| fail(format!("entry {position}: {e}")))?;
        }
    }
    Ok(entries)
}

/// Runs the collector stage. Returns the images it handed on.
///
/// # Errors
/// Bad exclusions, runtime failures, pipe failures, or a remover that did not send `complete`.
pub async fn run_collector<R: ImageRuntime>(
    runtime: &mut R,
    context: &StageContext,
    scan_disabled: bool,
) -> Result<Vec<drydock_api::Image>> {
    let (snapshot, decisions) = fresh_decisions(runtime, context, &Targets::All).await?;
    let mut images: Vec<drydock_api::Image> = removable(&decisions)
        .into_iter()
        .map(|i| i.to_pipe())
        .collect();
    let names: Vec<&str> = images
        .iter()
        .map(|i| i.names.first().unwrap_or(&i.image_id).as_str())
        .collect();
    info!(count = images.len(), total = snapshot.images.len(), finalImages = ?names, "images collected");
    if context.report_in_use && !scan_disabled {
        let in_use = in_use_marked(&decisions);
        info!(
            count = in_use.len(),
            "images in use handed to the scanner for the vulnerability report"
        );
        images.extend(in_use);
    }
    let payload = drydock_api::pipe::encode(&images)?;
    let target = if scan_disabled {
        pipes::SCAN_ERASE
    } else {
        pipes::COLLECT_SCAN
    };
    write_all(&context.pipes.path(target), payload).await?;
    await_complete(&context.pipes.path(pipes::ERASE_COMPLETE_COLLECT)).await?;
    Ok(images)
}

/// The images in use, marked for the scanner: scanned for the report, never removed.
fn in_use_marked(decisions: &[Decision]) -> Vec<drydock_api::Image> {
    decisions
        .iter()
        .filter(|d| matches!(d.verdict, Verdict::InUse(_)))
        .filter_map(|d| d.image.as_ref())
        .map(|image| drydock_api::Image {
            in_use: true,
            ..image.to_pipe()
        })
        .collect()
}

/// Runs the remover stage: decides, removes, reports, and releases its peers.
///
/// # Errors
/// Bad input or exclusions (nothing is removed then), runtime failures, pipe failures.
pub async fn run_remover<R: ImageRuntime>(
    runtime: &mut R,
    context: &StageContext,
    input: &RemoverInput,
    runtime_label: (&str, &str),
) -> Result<Report> {
    let outcome = remove(runtime, context, input, runtime_label).await;
    let message = if outcome.is_ok() {
        pipes::COMPLETE
    } else {
        FAILED_MESSAGE
    };
    for pipe in [pipes::ERASE_COMPLETE_COLLECT, pipes::ERASE_COMPLETE_SCAN] {
        let path = context.pipes.path(pipe);
        // In automatic mode the collector creates its completion pipe right after handing the
        // list on, which can be a moment after we read it: wait for it. The scanner creates
        // its pipe before it even reads the collector's list, so it exists by now if a scanner
        // runs at all; manual mode has neither.
        let present =
            if pipe == pipes::ERASE_COMPLETE_COLLECT && matches!(input, RemoverInput::Pipe) {
                await_creation(&path).await
            } else {
                path.exists()
            };
        if present && let Err(err) = send(&path, message).await {
            warn!(error = %err, pipe, "could not signal the peer");
        }
    }
    outcome
}

async fn remove<R: ImageRuntime>(
    runtime: &mut R,
    context: &StageContext,
    input: &RemoverInput,
    (endpoint, runtime_name): (&str, &str),
) -> Result<Report> {
    info!("remover starting");
    let targets = match input {
        RemoverInput::ImageList(path) => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            Targets::from_entries(parse_image_list(&bytes, path)?)
        }
        RemoverInput::Pipe => {
            let path = context.pipes.path(pipes::SCAN_ERASE);
            wait_for(&path).await;
            let bytes = read_all(&path).await?;
            let images = drydock_api::pipe::decode(&bytes, &path.display().to_string())?;
            let (marked, images): (Vec<_>, Vec<_>) =
                images.into_iter().partition(|image| image.in_use);
            if !marked.is_empty() {
                // Drydock's scanner never forwards them; another one might.
                warn!(
                    count = marked.len(),
                    "images marked in use reached the remover; they are not removed"
                );
            }
            Targets::Named(images.into_iter().map(|image| image.image_id).collect())
        }
    };
    // A fresh listing: an image that started running since the collector looked is kept.
    let (_, decisions) = fresh_decisions(runtime, context, &targets).await?;
    let images = execute(runtime, decisions, context.dry_run).await;
    let totals = Totals::of(&images);
    if context.dry_run {
        info!(
            would_remove = totals.would_remove,
            kept = totals.kept,
            "dry run: nothing removed"
        );
    } else if targets == Targets::All {
        log_prune(&totals);
    }
    Ok(Report {
        endpoint: endpoint.to_owned(),
        runtime: runtime_name.to_owned(),
        dry_run: context.dry_run,
        images,
        totals,
    })
}

/// Lists the runtime's images now and decides on `targets` under the stage's exclusions,
/// protected images and minimum age: what the collector hands on and what the remover removes.
/// Returns the listing with the decisions.
async fn fresh_decisions<R: ImageRuntime>(
    runtime: &mut R,
    context: &StageContext,
    targets: &Targets,
) -> Result<(Snapshot, Vec<Decision>)> {
    let exclusions = context.exclusions()?;
    let snapshot = snapshot(runtime).await?;
    let mut decisions = decide(&snapshot, targets, &exclusions, &context.protected);
    apply_minimum_age(
        runtime,
        &snapshot,
        &mut decisions,
        context.minimum_age.as_ref(),
    )
    .await?;
    Ok((snapshot, decisions))
}

/// Keeps the images younger than `minimum` (when one is set and anything is to be removed). The
/// runtime's image records are read here; failing to read them is an error, so the stage
/// removes nothing rather than ignore the minimum age.
async fn apply_minimum_age<R: ImageRuntime>(
    runtime: &mut R,
    snapshot: &Snapshot,
    decisions: &mut [Decision],
    minimum: Option<&MinimumAge>,
) -> Result<()> {
    let Some(minimum) = minimum.filter(|m| !m.age.is_zero()) else {
        return Ok(());
    };
    if !decisions.iter().any(|d| d.verdict == Verdict::Remove) {
        return Ok(());
    }
    let records = runtime.image_records().await?;
    let created = creation_times(&snapshot.images, &records);
    keep_young(decisions, &created, (minimum.clock)(), minimum.age);
    let young = decisions
        .iter()
        .filter(|d| matches!(d.verdict, Verdict::Young { .. }))
        .count();
    info!(young, minimum_age = %minimum.age, "minimum image age applied");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::clean::fake::{FakeRuntime, image};
    use drydock_cri::inuse::{ContainerRecord, ContainerState};

    fn context(dir: &Path) -> StageContext {
        StageContext {
            pipes: PipeDir::new(dir.join("shared")),
            exclusion_root: dir.join("root"),
            exclusion_files: vec![],
            protected: vec![],
            minimum_age: None,
            dry_run: false,
            report_in_use: false,
        }
    }

    fn runtime() -> FakeRuntime {
        FakeRuntime {
            images: vec![
                image("sha256:a", "docker.io/library/unused:1"),
                image("sha256:b", "docker.io/library/running:1"),
                image("sha256:c", "docker.io/library/excluded:1"),
            ],
            containers: vec![ContainerRecord {
                id: "c".into(),
                name: "app".into(),
                image: "docker.io/library/running:1".into(),
                image_ref: String::new(),
                state: ContainerState::Running,
            }],
            ..FakeRuntime::default()
        }
    }

    #[tokio::test]
    async fn collector_and_remover_talk_through_the_pipes_when_scanning_is_disabled() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("shared")).unwrap();
        let exclude = dir.path().join("root/exclude-excluded");
        std::fs::create_dir_all(&exclude).unwrap();
        std::fs::write(
            exclude.join("sample.json"),
            r#"{"excluded": ["excluded:*"]}"#,
        )
        .unwrap();
        let ctx = context(dir.path());
        let (handed_on, remover_runtime, report) =
            through_the_pipes(&ctx, runtime(), runtime()).await;
        assert_eq!(handed_on.len(), 1);
        assert_eq!(handed_on[0].image_id, "sha256:a");
        assert_eq!(remover_runtime.removed, vec!["sha256:a"]);
        assert_eq!(report.totals.removed, 1);
    }

    /// Runs a collector (over `rt`) and a remover (over `at_removal`) talking through the pipes
    /// with scanning disabled. Returns the collector's list, the remover's runtime and its
    /// report.
    async fn through_the_pipes(
        ctx: &StageContext,
        rt: FakeRuntime,
        at_removal: FakeRuntime,
    ) -> (Vec<drydock_api::Image>, FakeRuntime, Report) {
        collector_and_remover(ctx, rt, at_removal, false).await
    }

    /// Plays the scanner between a collector (over `rt`) and a remover (over `at_removal`):
    /// hands the remover everything the collector handed on, as a scanner ignoring the mark
    /// would. Returns the collector's list, the remover's runtime and its report.
    async fn through_a_scanner_forwarding_everything(
        ctx: &StageContext,
        rt: &FakeRuntime,
        at_removal: FakeRuntime,
    ) -> (Vec<drydock_api::Image>, FakeRuntime, Report) {
        collector_and_remover(ctx, rt.clone(), at_removal, true).await
    }

    /// A collector over `rt` and a remover over `at_removal`, with a scanner forwarding
    /// everything between them when `scanning`, else talking directly.
    async fn collector_and_remover(
        ctx: &StageContext,
        rt: FakeRuntime,
        at_removal: FakeRuntime,
        scanning: bool,
    ) -> (Vec<drydock_api::Image>, FakeRuntime, Report) {
        let mut collector_runtime = rt;
        let collector = {
            let ctx = ctx.clone();
            tokio::spawn(
                async move { run_collector(&mut collector_runtime, &ctx, !scanning).await },
            )
        };
        let scanner = scanning.then(|| {
            let pipes = ctx.pipes.clone();
            tokio::spawn(async move {
                let complete = pipes.path(pipes::ERASE_COMPLETE_SCAN);
                crate::node::pipes::make_fifo(&complete).unwrap();
                let collected = pipes.path(pipes::COLLECT_SCAN);
                wait_for(&collected).await;
                let bytes = read_all(&collected).await.unwrap();
                write_all(&pipes.path(pipes::SCAN_ERASE), bytes)
                    .await
                    .unwrap();
                await_complete(&complete).await.unwrap();
            })
        });
        let mut remover_runtime = at_removal;
        let report = run_remover(
            &mut remover_runtime,
            ctx,
            &RemoverInput::Pipe,
            ("e", "fake"),
        )
        .await
        .unwrap();
        if let Some(scanner) = scanner {
            scanner.await.unwrap();
        }
        (collector.await.unwrap().unwrap(), remover_runtime, report)
    }

    #[tokio::test]
    async fn with_the_report_on_the_collector_marks_images_in_use_and_the_remover_never_removes_them()
     {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("shared")).unwrap();
        let mut ctx = context(dir.path());
        ctx.report_in_use = true;
        // The container is gone by the time the remover lists: only the mark keeps the image.
        let stopped = FakeRuntime {
            containers: vec![],
            ..runtime()
        };
        let (handed_on, remover_runtime, report) =
            through_a_scanner_forwarding_everything(&ctx, &runtime(), stopped).await;
        let listed: Vec<(&str, bool)> = handed_on
            .iter()
            .map(|i| (i.image_id.as_str(), i.in_use))
            .collect();
        assert_eq!(
            listed,
            [("sha256:a", false), ("sha256:c", false), ("sha256:b", true)]
        );
        assert_eq!(remover_runtime.removed, vec!["sha256:a", "sha256:c"]);
        assert_eq!(report.totals.removed, 2);
    }

    #[tokio::test]
    async fn without_the_report_the_collector_hands_on_erasers_list_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("shared")).unwrap();
        let ctx = context(dir.path());
        let (handed_on, _, _) =
            through_a_scanner_forwarding_everything(&ctx, &runtime(), runtime()).await;
        assert_eq!(
            drydock_api::pipe::encode(&handed_on).unwrap(),
            br#"[{"image_id":"sha256:a","names":["docker.io/library/unused:1"]},{"image_id":"sha256:c","names":["docker.io/library/excluded:1"]}]"#
        );
    }

    #[tokio::test]
    async fn with_scanning_disabled_the_report_adds_nothing_for_the_remover() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("shared")).unwrap();
        let mut ctx = context(dir.path());
        ctx.report_in_use = true;
        let (handed_on, remover_runtime, _) = through_the_pipes(&ctx, runtime(), runtime()).await;
        assert!(handed_on.iter().all(|i| !i.in_use), "{handed_on:?}");
        assert_eq!(remover_runtime.removed, vec!["sha256:a", "sha256:c"]);
    }

    #[tokio::test]
    async fn remover_rechecks_in_use_against_a_fresh_listing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("shared")).unwrap();
        let ctx = context(dir.path());
        let list = dir.path().join("images");
        // The list names the running image explicitly: it must still be kept.
        std::fs::write(
            &list,
            r#"["docker.io/library/running:1", "unused:1", "ghost:1"]"#,
        )
        .unwrap();
        let mut rt = runtime();
        let report = run_remover(&mut rt, &ctx, &RemoverInput::ImageList(list), ("e", "fake"))
            .await
            .unwrap();
        assert_eq!(rt.removed, vec!["sha256:a"]);
        assert_eq!((report.totals.kept, report.totals.not_on_node), (1, 1));
    }

    #[tokio::test]
    async fn bad_exclusions_remove_nothing_and_fail_the_peer() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("shared")).unwrap();
        let exclude = dir.path().join("root/exclude-broken");
        std::fs::create_dir_all(&exclude).unwrap();
        std::fs::write(exclude.join("sample.json"), "{not json").unwrap();
        let ctx = context(dir.path());
        let list = dir.path().join("images");
        std::fs::write(&list, r#"["*"]"#).unwrap();
        let mut rt = runtime();
        let err = run_remover(&mut rt, &ctx, &RemoverInput::ImageList(list), ("e", "fake"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("exclude-broken/sample.json"), "{err}");
        assert!(rt.removed.is_empty());
    }

    fn at_ten_thousand() -> Timestamp {
        Timestamp::from_second(10_000).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn record(name: &str, seconds: i64) -> drydock_cri::NamedRecord {
        drydock_cri::NamedRecord {
            name: name.to_owned(),
            created: Timestamp::from_second(seconds).unwrap(),
        }
    }

    /// The unused image is an hour old, the young one a minute; the excluded one has no
    /// creation record at all.
    fn aged_runtime_and_context(dir: &Path) -> (FakeRuntime, StageContext) {
        std::fs::create_dir_all(dir.join("shared")).unwrap();
        let mut ctx = context(dir);
        ctx.minimum_age = Some(MinimumAge {
            age: SignedDuration::from_hours(1),
            clock: at_ten_thousand,
        });
        let mut rt = runtime();
        rt.images
            .push(image("sha256:d", "docker.io/library/young:1"));
        rt.records = vec![
            record("docker.io/library/unused:1", 10_000 - 3_600),
            record("docker.io/library/young:1", 10_000 - 60),
        ];
        (rt, ctx)
    }

    #[tokio::test]
    async fn the_collector_hands_on_only_images_older_than_the_minimum_age() {
        let dir = tempfile::tempdir().unwrap();
        let (rt, ctx) = aged_runtime_and_context(dir.path());
        let (handed_on, remover_runtime, _) = through_the_pipes(&ctx, rt.clone(), rt).await;
        assert_eq!(
            handed_on
                .iter()
                .map(|i| i.image_id.as_str())
                .collect::<Vec<_>>(),
            vec!["sha256:a"]
        );
        assert_eq!(remover_runtime.removed, vec!["sha256:a"]);
    }

    #[tokio::test]
    async fn the_remover_keeps_young_and_undated_images_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (mut rt, ctx) = aged_runtime_and_context(dir.path());
        let list = dir.path().join("images");
        std::fs::write(&list, r#"["young:1", "unused:1", "excluded:1"]"#).unwrap();
        let report = run_remover(&mut rt, &ctx, &RemoverInput::ImageList(list), ("e", "fake"))
            .await
            .unwrap();
        assert_eq!(rt.removed, vec!["sha256:a"]);
        let reason = |id: &str| {
            report
                .images
                .iter()
                .find(|i| i.id.as_deref() == Some(id))
                .map(|i| i.reason.clone())
                .unwrap()
        };
        assert!(
            reason("sha256:d").starts_with("newer than the minimum age (created "),
            "{report:?}"
        );
        assert!(
            reason("sha256:c").contains("no creation time"),
            "{report:?}"
        );
        assert_eq!(report.totals.kept, 2);
    }

    #[tokio::test]
    async fn without_a_minimum_age_the_records_are_not_even_read() {
        let dir = tempfile::tempdir().unwrap();
        let (mut rt, mut ctx) = aged_runtime_and_context(dir.path());
        ctx.minimum_age = None;
        rt.records_fail = true;
        let list = dir.path().join("images");
        std::fs::write(&list, r#"["young:1", "excluded:1"]"#).unwrap();
        run_remover(
            &mut rt,
            &ctx,
            &RemoverInput::ImageList(list.clone()),
            ("e", "fake"),
        )
        .await
        .unwrap();
        assert_eq!(rt.removed, vec!["sha256:d", "sha256:c"]);
    }

    #[tokio::test]
    async fn unreadable_creation_times_remove_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut rt, ctx) = aged_runtime_and_context(dir.path());
        rt.records_fail = true;
        let list = dir.path().join("images");
        std::fs::write(&list, r#"["unused:1"]"#).unwrap();
        let err = run_remover(&mut rt, &ctx, &RemoverInput::ImageList(list), ("e", "fake"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("Images.List"), "{err}");
        assert!(rt.removed.is_empty());
    }

    #[tokio::test]
    async fn a_dry_run_remover_removes_nothing_and_says_what_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let (mut rt, mut ctx) = aged_runtime_and_context(dir.path());
        ctx.dry_run = true;
        let list = dir.path().join("images");
        std::fs::write(&list, r#"["*"]"#).unwrap();
        let report = run_remover(&mut rt, &ctx, &RemoverInput::ImageList(list), ("e", "fake"))
            .await
            .unwrap();
        assert!(rt.removed.is_empty());
        let summary = report.summary();
        assert!(summary.dry_run);
        assert_eq!(
            summary.would_remove_images,
            vec!["docker.io/library/unused:1"]
        );
        assert!(summary.removed_images.is_empty());
        assert_eq!(summary.totals.would_remove, 1);
        let kept: Vec<&str> = summary.kept_images.iter().map(String::as_str).collect();
        assert_eq!(kept.len(), 3, "{kept:?}");
        assert!(
            kept.iter()
                .any(|k| k.starts_with("docker.io/library/running:1: "))
        );
        assert!(
            kept.iter().any(|k| {
                k.starts_with("docker.io/library/young:1: newer than the minimum age")
            })
        );
    }

    #[test]
    fn image_list_garbage_is_rejected_naming_the_file() {
        let path = Path::new("/run/eraser.sh/imagelist/images");
        for (bad, expected) in [
            (&b"nginx"[..], "not a JSON array"),
            (b"{\"images\": []}", "not a JSON array"),
            (b"[\"\"]", "entry 0 is empty"),
            (
                b"[\"nginx\", \"Bad Name\"]",
                "entry 1: invalid image reference",
            ),
            (b"[1]", "not a JSON array"),
        ] {
            let err = parse_image_list(bad, path).unwrap_err().to_string();
            assert!(
                err.starts_with("/run/eraser.sh/imagelist/images: "),
                "{err}"
            );
            assert!(err.contains(expected), "{err}");
        }
        let ok = parse_image_list(br#"["*", "sha256:2834dc507516af02784808c5f48b7cbe38b8ed5d0f4837f16e78d00deb7e7767", "nginx"]"#, path).unwrap();
        assert_eq!(ok.len(), 3);
    }
}
