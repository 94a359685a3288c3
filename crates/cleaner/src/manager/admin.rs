//! The decisions of the admin commands (`drydock image-cleaner enable | status`), apart from
//! their API calls and printing: which edits `enable` makes to an existing configuration
//! ([`edit_config`]), and what `status` shows ([`status`]) from the objects it read
//! ([`Observed`]). Pure: the binary reads and writes the objects and renders the result.

use std::collections::BTreeMap;

use drydock_api::config::{self, Config, RepoTag};
use drydock_api::imagejob::{ImageJob, JobPhase};
use drydock_api::names::{self, state};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::manager::history::{History, Run};
use crate::manager::schedule::{self, ScheduleState};

// === enable ===

/// The interval `enable` was given (`--interval-hours`), with its two spellings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// Whole hours between automatic runs.
    pub hours: u32,
    /// As `repeatInterval` is written in the file (a Go duration, `168h`).
    pub written: String,
    /// As people read it in the notes.
    pub shown: String,
}

/// Edits `document` (the existing configuration `text`, parsed as `current` and as a plain
/// document) the way `enable` does, and returns what changed, for people (nothing: no edit).
/// Only these change: the interval when one is given and differs, automatic mode back on,
/// and the components running `image`'s repository moved to its tag. The caller keeps the
/// text byte for byte when nothing changed, and renders `document` otherwise.
pub fn edit_config(
    current: &Config,
    text: &str,
    document: &mut Value,
    interval: Option<&Interval>,
    image: &RepoTag,
) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(interval) = interval {
        let wanted = drydock_api::GoDuration::from_hours(i64::from(interval.hours));
        if current.manager.scheduling.repeat_interval != wanted {
            set(
                document,
                &["manager", "scheduling", "repeatInterval"],
                json!(interval.written),
            );
            notes.push(format!(
                "interval: {} -> {}",
                current.manager.scheduling.repeat_interval, interval.shown
            ));
        }
    }
    if !current.components.collector.enabled {
        set(
            document,
            &["components", "collector", "enabled"],
            json!(true),
        );
        notes.push("automatic mode turned back on (components.collector.enabled)".to_owned());
    }
    for (key, component) in [
        ("collector", &current.components.collector),
        ("scanner", &current.components.scanner),
        ("remover", &current.components.remover),
    ] {
        if component.image.repo == image.repo && component.image.tag != image.tag {
            set(
                document,
                &["components", remover_key(key, text), "image", "tag"],
                json!(image.tag),
            );
            notes.push(format!(
                "{key} image: {} -> {}",
                component.image.reference(),
                image.reference()
            ));
        }
    }
    notes
}

/// v1alpha1 files keep the remover under `components.eraser`.
fn remover_key<'a>(key: &'a str, text: &str) -> &'a str {
    if key == "remover" && text.contains("eraser.sh/v1alpha1") {
        "eraser"
    } else {
        key
    }
}

/// Sets `path` in a JSON document, creating the objects on the way.
fn set(document: &mut Value, path: &[&str], value: Value) {
    let mut slot = document;
    for key in path {
        if !slot.is_object() {
            *slot = json!({});
        }
        let Value::Object(map) = slot else { return };
        slot = map.entry((*key).to_owned()).or_insert(Value::Null);
    }
    *slot = value;
}

// === status ===

/// What `status` reads from the cluster.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The manager's namespace.
    pub namespace: String,
    /// The manager Deployment.
    pub deployment: Option<Deployment>,
    /// `eraser-manager-config`.
    pub config: Option<ConfigMap>,
    /// `drydock-image-cleaner-state`.
    pub state: Option<ConfigMap>,
    /// `drydock-image-cleaner-history`.
    pub history: Option<ConfigMap>,
    /// The manager's ImageJobs.
    pub jobs: Vec<ImageJob>,
}

/// The status, for people and machines.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The manager's namespace.
    pub namespace: String,
    /// Whether the manager is installed.
    pub enabled: bool,
    /// Ready manager replicas.
    pub available_replicas: i32,
    /// The manager's image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager_image: Option<String>,
    /// Whether automatic runs are configured (the collector is enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automatic: Option<bool>,
    /// Time between automatic runs, as a Go duration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// The configuration cannot be read: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_error: Option<String>,
    /// Component name → enabled and image.
    pub components: BTreeMap<String, ComponentStatus>,
    /// When the last automatic run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_started: Option<Timestamp>,
    /// When it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_finished: Option<Timestamp>,
    /// The next automatic run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run: Option<NextRun>,
    /// The last run asked for by `drydock image-cleaner run`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_requested: Option<RunRequest>,
    /// ImageJobs in progress.
    pub running_jobs: Vec<String>,
    /// The newest finished run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_result: Option<RunSummary>,
}

/// One component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// Whether it runs.
    pub enabled: bool,
    /// `repo:tag`.
    pub image: String,
}

/// A run asked for with `drydock image-cleaner run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRequest {
    /// The annotation's value (when it was asked for).
    pub at: String,
    /// Whether the manager has started the run for it.
    pub started: bool,
}

/// When the next automatic run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state", content = "at")]
pub enum NextRun {
    /// Due now: the manager starts it at its next reconcile.
    Due,
    /// After the automatic job in progress finishes.
    AfterRunningJob,
    /// At this time.
    At(Timestamp),
}

/// A finished run, briefly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// The ImageJob.
    pub job: String,
    /// `automatic` or `manual`.
    pub mode: String,
    /// `Completed` or `Failed`.
    pub phase: String,
    /// When it finished.
    pub finished: Timestamp,
    /// Node counts.
    pub succeeded: i64,
    /// Nodes that failed.
    pub failed: i64,
    /// Nodes skipped.
    pub skipped: i64,
    /// Images removed, all nodes together.
    pub removed_images: usize,
    /// A dry run: nothing was removed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

fn json_field<T: DeserializeOwned>(cm: Option<&ConfigMap>, key: &str) -> Option<T> {
    let text = cm?.data.as_ref()?.get(key)?;
    serde_json::from_str(text).ok()
}

/// A finished run, briefly.
#[must_use]
pub fn summary(run: &Run) -> RunSummary {
    RunSummary {
        job: run.job.clone(),
        mode: serde_json::to_value(run.mode)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        phase: format!("{:?}", run.phase),
        finished: run.finished,
        succeeded: run.succeeded,
        failed: run.failed,
        skipped: run.skipped,
        removed_images: run.nodes.iter().map(|n| n.removed.len()).sum(),
        dry_run: run.dry_run,
    }
}
/// The manager's configuration from the observed ConfigMap, or why it cannot be read.
fn read_config(observed: &Observed) -> (Option<Config>, Option<String>) {
    let text = observed
        .config
        .as_ref()
        .and_then(|cm| cm.data.as_ref())
        .and_then(|d| d.get(names::MANAGER_CONFIG_KEY));
    let source = format!(
        "ConfigMap {}/{}",
        observed.namespace,
        names::MANAGER_CONFIGMAP
    );
    match text {
        None if observed.config.is_some() => (
            None,
            Some(format!("{source} has no key {}", names::MANAGER_CONFIG_KEY)),
        ),
        None => (None, None),
        Some(text) => match config::parse(text, &source) {
            Ok(parsed) => (Some(parsed.config), None),
            Err(err) => (None, Some(err.to_string())),
        },
    }
}

/// Each component's state as configured (the remover always runs).
fn components(c: &Config) -> BTreeMap<String, ComponentStatus> {
    [
        ("collector", &c.components.collector),
        ("scanner", &c.components.scanner),
        ("remover", &c.components.remover),
    ]
    .into_iter()
    .map(|(name, component)| {
        (
            name.to_owned(),
            ComponentStatus {
                // The remover always runs.
                enabled: component.enabled || name == "remover",
                image: component.image.reference(),
            },
        )
    })
    .collect()
}

/// Decides what `status` shows from what was read, at `now`.
#[must_use]
pub fn status(observed: &Observed, now: Timestamp) -> Status {
    let enabled = observed.deployment.is_some();
    let deployment = observed.deployment.as_ref();
    let available_replicas = deployment
        .and_then(|d| d.status.as_ref())
        .and_then(|s| s.available_replicas)
        .unwrap_or(0);
    let manager_image = deployment
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone());
    let (config, config_error) = read_config(observed);
    let schedule: ScheduleState =
        json_field(observed.state.as_ref(), state::SCHEDULE_KEY).unwrap_or_default();
    let history: History =
        json_field(observed.history.as_ref(), state::HISTORY_KEY).unwrap_or_default();
    let running: Vec<&ImageJob> = observed
        .jobs
        .iter()
        .filter(|job| {
            !matches!(
                job.status.as_ref().map(|s| &s.phase),
                Some(JobPhase::Completed | JobPhase::Failed)
            )
        })
        .collect();
    let automatic_running = running.iter().any(|job| {
        job.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(names::JOB_OWNER_LABEL))
            .is_some_and(|owner| owner == names::JOB_OWNER_COLLECTOR)
    });
    let run_requested = observed
        .state
        .as_ref()
        .and_then(|cm| cm.metadata.annotations.as_ref())
        .and_then(|a| a.get(state::RUN_REQUESTED_ANNOTATION))
        .map(|at| RunRequest {
            started: schedule.handled_run_request.as_ref() == Some(at),
            at: at.clone(),
        });
    let request_pending = run_requested.as_ref().is_some_and(|r| !r.started);
    let next_run = config
        .as_ref()
        .filter(|c| enabled && c.components.collector.enabled)
        .map(|c| {
            let scheduling = &c.manager.scheduling;
            if request_pending && !automatic_running {
                return NextRun::Due;
            }
            match schedule::next(
                &schedule,
                scheduling.repeat_interval.to_jiff(),
                scheduling.begin_immediately,
                automatic_running,
                now,
            ) {
                schedule::Next::StartNow => NextRun::Due,
                schedule::Next::AwaitRun => NextRun::AfterRunningJob,
                schedule::Next::WaitUntil(at) => NextRun::At(at),
            }
        });
    let components = config.as_ref().map(components).unwrap_or_default();
    Status {
        namespace: observed.namespace.clone(),
        enabled,
        available_replicas,
        manager_image,
        automatic: config.as_ref().map(|c| c.components.collector.enabled),
        interval: config
            .as_ref()
            .map(|c| c.manager.scheduling.repeat_interval.to_string()),
        config_error,
        components,
        last_run_started: schedule.last_started,
        last_run_finished: schedule.last_finished,
        next_run,
        run_requested,
        running_jobs: running
            .iter()
            .filter_map(|job| job.metadata.name.clone())
            .collect(),
        last_result: history.runs.last().map(summary),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::history::{NodeRecord, Outcome, RunMode, RunPhase};

    const REPO: &str = "ghcr.io/drydock-dev/drydock";
    const NS: &str = "kube-system";

    /// A configuration as a first `enable` writes it: automatic every week, one image.
    const WEEKLY: &str = "\
apiVersion: eraser.sh/v1alpha3
kind: EraserConfig
manager:
  scheduling:
    repeatInterval: 168h
components:
  collector:
    enabled: true
    image: {repo: ghcr.io/drydock-dev/drydock, tag: '1.0'}
  scanner:
    enabled: true
    image: {repo: ghcr.io/drydock-dev/drydock, tag: '1.0'}
  remover:
    image: {repo: ghcr.io/drydock-dev/drydock, tag: '1.0'}
";

    fn t(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn image(tag: &str) -> RepoTag {
        RepoTag {
            repo: REPO.to_owned(),
            tag: tag.to_owned(),
        }
    }

    fn hours(hours: u32) -> Interval {
        Interval {
            hours,
            written: format!("{hours}h"),
            shown: format!("{hours} h"),
        }
    }

    /// `edit_config` over `text`: the notes and the edited configuration, parsed back.
    fn edit(text: &str, interval: Option<&Interval>, image: &RepoTag) -> (Vec<String>, Value) {
        let current = config::parse(text, "test").unwrap().config;
        let mut document: Value = serde_saphyr::from_str(text).unwrap();
        let notes = edit_config(&current, text, &mut document, interval, image);
        (notes, document)
    }

    #[test]
    fn an_unchanged_configuration_gets_no_edit() {
        let before: Value = serde_saphyr::from_str(WEEKLY).unwrap();
        let (notes, after) = edit(WEEKLY, Some(&hours(168)), &image("1.0"));
        assert_eq!(notes, Vec::<String>::new());
        assert_eq!(after, before);
    }

    #[test]
    fn a_new_interval_is_written_as_a_go_duration_and_noted() {
        let (notes, after) = edit(WEEKLY, Some(&hours(72)), &image("1.0"));
        assert_eq!(notes, ["interval: 168h0m0s -> 72 h"]);
        assert_eq!(
            after["manager"]["scheduling"]["repeatInterval"],
            json!("72h")
        );
        assert_eq!(after["components"]["scanner"]["image"]["tag"], json!("1.0"));
    }

    #[test]
    fn automatic_mode_comes_back_and_own_images_follow_the_tag() {
        let manual = WEEKLY.replacen("enabled: true", "enabled: false", 1);
        let foreign = manual.replacen(
            "scanner:\n    enabled: true\n    image: {repo: ghcr.io/drydock-dev/drydock",
            "scanner:\n    enabled: true\n    image: {repo: example.com/scanner",
            1,
        );
        let (notes, after) = edit(&foreign, None, &image("2.0"));
        assert_eq!(after["components"]["collector"]["enabled"], json!(true));
        assert_eq!(
            after["components"]["collector"]["image"]["tag"],
            json!("2.0")
        );
        assert_eq!(after["components"]["remover"]["image"]["tag"], json!("2.0"));
        assert_eq!(
            after["components"]["scanner"]["image"]["tag"],
            json!("1.0"),
            "another repository's image stays"
        );
        assert_eq!(
            notes,
            [
                "automatic mode turned back on (components.collector.enabled)".to_owned(),
                format!("collector image: {REPO}:1.0 -> {REPO}:2.0"),
                format!("remover image: {REPO}:1.0 -> {REPO}:2.0"),
            ]
        );
    }

    #[test]
    fn a_v1alpha1_remover_is_edited_under_eraser() {
        let old = format!(
            "apiVersion: eraser.sh/v1alpha1\nkind: EraserConfig\ncomponents:\n  collector:\n    enabled: true\n  eraser:\n    image:\n      repo: {REPO}\n      tag: '1.0'\n"
        );
        let (_, after) = edit(&old, None, &image("2.0"));
        assert_eq!(after["components"]["eraser"]["image"]["tag"], json!("2.0"));
        assert_eq!(after["components"].get("remover"), None);
    }

    fn configmap(key: &str, text: &str) -> ConfigMap {
        ConfigMap {
            data: Some(BTreeMap::from([(key.to_owned(), text.to_owned())])),
            ..ConfigMap::default()
        }
    }

    fn state_cm(schedule: &ScheduleState, requested: Option<&str>) -> ConfigMap {
        let mut cm = configmap(
            state::SCHEDULE_KEY,
            &serde_json::to_string(schedule).unwrap(),
        );
        cm.metadata.annotations = requested
            .map(|r| BTreeMap::from([(state::RUN_REQUESTED_ANNOTATION.to_owned(), r.to_owned())]));
        cm
    }

    fn run_record(job: &str, finished: &str) -> Run {
        let node = |name: &str, removed: &[&str]| NodeRecord {
            node: name.into(),
            outcome: Outcome::Succeeded,
            reason: None,
            removed: removed.iter().map(|&r| r.to_owned()).collect(),
            failed_images: vec![],
            truncated: false,
            would_remove: vec![],
            kept: vec![],
        };
        Run {
            job: job.into(),
            mode: RunMode::Automatic,
            started: t(finished) - jiff::SignedDuration::from_mins(10),
            finished: t(finished),
            phase: RunPhase::Completed,
            desired: 2,
            succeeded: 2,
            failed: 0,
            skipped: 0,
            nodes: vec![
                node("n1", &["alpine:3.7.3", "busybox:1.36"]),
                node("n2", &[]),
            ],
            imagelist: None,
            dry_run: false,
        }
    }

    fn enabled_cluster() -> Observed {
        let deployment = serde_json::from_value(json!({
            "metadata": {"name": names::MANAGER_DEPLOYMENT},
            "spec": {"selector": {}, "template": {"spec": {"containers": [
                {"name": "manager", "image": format!("{REPO}:1.0")}
            ]}}},
            "status": {"availableReplicas": 1}
        }))
        .unwrap();
        let history = History {
            runs: vec![
                run_record("imagejob-old", "2026-10-25T00:10:00Z"),
                run_record("imagejob-new", "2026-11-01T00:10:00Z"),
            ],
        };
        Observed {
            namespace: NS.into(),
            deployment: Some(deployment),
            config: Some(configmap(names::MANAGER_CONFIG_KEY, WEEKLY)),
            state: Some(state_cm(
                &ScheduleState {
                    enabled_at: Some(t("2026-11-01T00:00:00Z")),
                    last_started: Some(t("2026-11-01T00:00:00Z")),
                    last_finished: Some(t("2026-11-01T00:10:00Z")),
                    ..ScheduleState::default()
                },
                None,
            )),
            history: Some(configmap(
                state::HISTORY_KEY,
                &serde_json::to_string(&history).unwrap(),
            )),
            jobs: vec![],
        }
    }

    #[test]
    fn status_of_an_enabled_cluster_comes_from_the_config_the_schedule_and_the_history() {
        let s = status(&enabled_cluster(), t("2026-11-03T00:00:00Z"));
        assert!(s.enabled);
        assert_eq!(s.available_replicas, 1);
        assert_eq!(s.manager_image, Some(format!("{REPO}:1.0")));
        assert_eq!(s.automatic, Some(true));
        assert_eq!(s.interval.as_deref(), Some("168h0m0s"));
        assert_eq!(s.last_run_finished, Some(t("2026-11-01T00:10:00Z")));
        assert_eq!(s.next_run, Some(NextRun::At(t("2026-11-08T00:00:00Z"))));
        let last = s.last_result.unwrap();
        assert_eq!(
            (last.job.as_str(), last.mode.as_str(), last.phase.as_str()),
            ("imagejob-new", "automatic", "Completed")
        );
        assert_eq!(last.removed_images, 2);
        assert_eq!(
            s.components["remover"],
            ComponentStatus {
                enabled: true,
                image: format!("{REPO}:1.0")
            },
            "the remover always runs"
        );
    }

    #[test]
    fn a_running_automatic_job_defers_the_next_run_and_disabled_means_no_next_run() {
        let mut observed = enabled_cluster();
        observed.jobs = vec![
            serde_json::from_value(json!({
                "apiVersion": "eraser.sh/v1", "kind": "ImageJob",
                "metadata": {"name": "imagejob-xyz", "labels": {(names::JOB_OWNER_LABEL): names::JOB_OWNER_COLLECTOR}},
                "status": {"phase": "Running", "desired": 3, "succeeded": 0, "failed": 0, "skipped": 0}
            }))
            .unwrap(),
            serde_json::from_value(json!({
                "apiVersion": "eraser.sh/v1", "kind": "ImageJob",
                "metadata": {"name": "imagejob-done", "labels": {(names::JOB_OWNER_LABEL): names::JOB_OWNER_COLLECTOR}},
                "status": {"phase": "Completed", "desired": 3, "succeeded": 3, "failed": 0, "skipped": 0}
            }))
            .unwrap(),
        ];
        let s = status(&observed, t("2026-11-09T00:00:00Z"));
        assert_eq!(s.next_run, Some(NextRun::AfterRunningJob));
        assert_eq!(s.running_jobs, ["imagejob-xyz"]);

        observed.deployment = None;
        let s = status(&observed, t("2026-11-09T00:00:00Z"));
        assert!(!s.enabled);
        assert_eq!(s.next_run, None);
        assert_eq!(s.interval.as_deref(), Some("168h0m0s"));
    }

    #[test]
    fn a_pending_run_request_is_due_and_a_handled_one_is_started() {
        let mut observed = enabled_cluster();
        let mut schedule = ScheduleState {
            last_started: Some(t("2026-11-01T00:00:00Z")),
            last_finished: Some(t("2026-11-01T00:10:00Z")),
            ..ScheduleState::default()
        };
        let at = "2026-11-02T00:00:00Z";
        observed.state = Some(state_cm(&schedule, Some(at)));
        let s = status(&observed, t("2026-11-03T00:00:00Z"));
        assert_eq!(s.next_run, Some(NextRun::Due));
        assert_eq!(
            s.run_requested,
            Some(RunRequest {
                at: at.into(),
                started: false
            })
        );
        schedule.handled_run_request = Some(at.into());
        observed.state = Some(state_cm(&schedule, Some(at)));
        let s = status(&observed, t("2026-11-03T00:00:00Z"));
        assert_eq!(s.next_run, Some(NextRun::At(t("2026-11-08T00:00:00Z"))));
        assert_eq!(s.run_requested.map(|r| r.started), Some(true));
    }

    #[test]
    fn an_unreadable_or_keyless_config_is_reported_not_fatal() {
        let mut observed = enabled_cluster();
        observed.config = Some(configmap(names::MANAGER_CONFIG_KEY, "apiVersion: nope\n"));
        let s = status(&observed, t("2026-11-03T00:00:00Z"));
        assert!(
            s.config_error
                .as_deref()
                .is_some_and(|e| e.contains("unknown apiVersion")),
            "{:?}",
            s.config_error
        );
        assert_eq!((s.automatic, s.next_run), (None, None));

        observed.config = Some(configmap("other.yaml", WEEKLY));
        let s = status(&observed, t("2026-11-03T00:00:00Z"));
        assert_eq!(
            s.config_error.as_deref(),
            Some(
                "ConfigMap kube-system/eraser-manager-config has no key controller_manager_config.yaml"
            )
        );

        observed.config = None;
        let s = status(&observed, t("2026-11-03T00:00:00Z"));
        assert_eq!(s.config_error, None, "no configuration is not an error");
        assert!(s.components.is_empty());
    }
}
