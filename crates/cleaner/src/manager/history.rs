//! The bounded history of finished Image Cleaner jobs, persisted by the manager in the ConfigMap
//! `drydock-image-cleaner-history` (key `history.json`) and read by `drydock image-cleaner
//! history` and `status`.
//!
//! Eraser kept no record: once a job's pods were deleted, what was removed where was only in
//! the (gone) pod logs. Here every finished job leaves one [`Run`] with per-node outcomes and the
//! removed images. The history is pure data; [`append`] keeps it under the ConfigMap size limit
//! by dropping the oldest runs first, and [`run_from`] builds a record from a job and its folded
//! state.

use std::collections::HashMap;

use drydock_api::imagejob::{ImageJob, JobPhase};
use drydock_api::names;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::manager::fold::{Fold, NodeOutcome};
use crate::manager::plan::Skip;
use crate::report::Summary;

/// Most runs kept: about two years at the default weekly interval, three months of daily runs;
/// more is not read in a terminal, and every run costs the manager a larger ConfigMap write.
pub const MAX_RUNS: usize = 100;

/// Most bytes of serialized history kept. A ConfigMap holds at most 1 MiB (etcd's object size
/// limit, enforced by the API server) including its metadata; 900 KiB leaves room for the
/// metadata and the JSON escaping `kubectl` adds when it shows the object.
pub const MAX_BYTES: usize = 900 * 1024;

/// The persisted history, oldest run first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// Finished runs, oldest first.
    #[serde(default)]
    pub runs: Vec<Run>,
}

/// Which kind of job a run was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RunMode {
    /// Started by the schedule (collector, scanner, remover).
    Automatic,
    /// Started by the ImageList (remover only).
    Manual,
}

/// How a run ended (the ImageJob's final phase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunPhase {
    /// The success ratio was reached.
    Completed,
    /// The success ratio was not reached, or the job broke.
    Failed,
}

/// What happened on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// The worker pod succeeded.
    Succeeded,
    /// The worker pod failed, or its node vanished.
    Failed,
    /// The node was skipped by the node filter (Windows and virtual nodes included).
    Skipped,
    /// The worker pod never started within the start timeout.
    TimedOut,
}

/// One node of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRecord {
    /// The node's name.
    pub node: String,
    /// What happened.
    pub outcome: Outcome,
    /// Why (failures and skips).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Images the remover removed on this node.
    #[serde(default)]
    pub removed: Vec<String>,
    /// Images whose removal failed on this node.
    #[serde(default)]
    pub failed_images: Vec<String>,
    /// True when some image names were left out (by the remover's termination-message limit, or
    /// to keep the history bounded).
    #[serde(default)]
    pub truncated: bool,
    /// A dry run's images that would have been removed on this node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_remove: Vec<String>,
    /// A dry run's kept images on this node, with why (`name: reason`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
}

/// One finished job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// The ImageJob's name.
    pub job: String,
    /// Automatic or manual.
    pub mode: RunMode,
    /// When the job was created.
    pub started: Timestamp,
    /// When the manager saw it finished.
    pub finished: Timestamp,
    /// How it ended.
    pub phase: RunPhase,
    /// Nodes considered, skipped ones included (Eraser's `desired`).
    pub desired: i64,
    /// Nodes whose worker pod succeeded.
    pub succeeded: i64,
    /// Nodes whose worker pod failed or never started.
    pub failed: i64,
    /// Nodes skipped by the node filter.
    pub skipped: i64,
    /// Per node, sorted by name.
    #[serde(default)]
    pub nodes: Vec<NodeRecord>,
    /// For a manual run: the ImageList generation it ran (from the job's labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imagelist: Option<Handled>,
    /// A dry run (the job's `drydock.dev/dry-run` label): its removers removed nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// Which ImageList generation a manual job ran: the manager's bookkeeping of "this generation
/// was handled". Carried by the job's labels while it exists, then by its run in the history
/// and by the history ConfigMap's annotation, none of which a CRD schema can prune.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handled {
    /// The ImageList's uid (a deleted and re-created list is a new one).
    pub uid: String,
    /// The `metadata.generation` the job ran.
    pub generation: i64,
    /// The ImageJob.
    pub job: String,
    /// Whether that job was a dry run (the list's `drydock.dev/dry-run` annotation): a later
    /// real run of the same generation is still due.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

impl Handled {
    /// The record a job's labels carry (`None` for automatic jobs, and for manual jobs started
    /// before the labels existed).
    #[must_use]
    pub fn of_job(job: &ImageJob) -> Option<Self> {
        let labels = job.metadata.labels.as_ref()?;
        let uid = labels.get(names::state::IMAGELIST_UID_LABEL)?;
        let generation = labels
            .get(names::state::IMAGELIST_GENERATION_LABEL)?
            .parse()
            .ok()?;
        Some(Self {
            uid: uid.clone(),
            generation,
            job: job.metadata.name.clone().unwrap_or_default(),
            dry_run: is_dry_run(job),
        })
    }

    /// The annotation value on the history ConfigMap.
    #[must_use]
    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the annotation value; `None` (with nothing acted on) when it is not one.
    #[must_use]
    pub fn from_annotation(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

/// How much history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most runs kept.
    pub max_runs: usize,
    /// Most bytes of serialized history.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_runs: MAX_RUNS,
            max_bytes: MAX_BYTES,
        }
    }
}

// === impl History ===

impl History {
    /// Parses `history.json`; an absent or empty value is an empty history.
    ///
    /// # Errors
    /// The text is not a history (the message names what is wrong).
    pub fn parse(text: Option<&str>) -> Result<Self, serde_json::Error> {
        match text.map(str::trim) {
            None | Some("") => Ok(Self::default()),
            Some(text) => serde_json::from_str(text),
        }
    }

    /// The JSON stored in the ConfigMap.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"runs":[]}"#.to_owned())
    }

    /// The most recent run.
    #[must_use]
    pub fn last(&self) -> Option<&Run> {
        self.runs.last()
    }
}

fn encoded_len<T: Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len())
}

/// Bytes of `{"runs":[…]}` holding runs of these encoded sizes.
fn history_len(run_sizes: &[usize]) -> usize {
    /// `{"runs":[` and `]}`.
    const ENVELOPE: usize = r#"{"runs":[]}"#.len();
    ENVELOPE + run_sizes.iter().sum::<usize>() + run_sizes.len().saturating_sub(1)
}

/// Shrinks one run until it encodes in `budget` bytes, losing detail in this order: the image
/// names (nodes marked truncated), then the records of succeeded and skipped nodes, then every
/// node record. The counts always stay.
fn shrink(mut run: Run, budget: usize) -> Run {
    if encoded_len(&run) <= budget {
        return run;
    }
    for node in &mut run.nodes {
        if !node.removed.is_empty()
            || !node.failed_images.is_empty()
            || !node.would_remove.is_empty()
            || !node.kept.is_empty()
        {
            node.removed.clear();
            node.failed_images.clear();
            node.would_remove.clear();
            node.kept.clear();
            node.truncated = true;
        }
    }
    if encoded_len(&run) <= budget {
        return run;
    }
    run.nodes
        .retain(|n| matches!(n.outcome, Outcome::Failed | Outcome::TimedOut));
    if encoded_len(&run) <= budget {
        return run;
    }
    run.nodes.clear();
    run
}

/// Appends `run` and keeps the history within `limits`, dropping the oldest runs first. A run
/// too large to fit even alone loses detail (see the field docs) rather than being dropped.
///
/// Recording is idempotent: a run of a job already in the history replaces it only when it
/// carries more node records (a detailed record beats a counts-only one written by a
/// controller that saw the job finish first), and otherwise changes nothing.
#[must_use]
pub fn append(mut history: History, run: Run, limits: Limits) -> History {
    let budget = limits.max_bytes.saturating_sub(history_len(&[])).max(1);
    let run = shrink(run, budget);
    if let Some(existing) = history.runs.iter_mut().find(|r| r.job == run.job) {
        if run.nodes.len() > existing.nodes.len() {
            *existing = run;
        } else {
            return history;
        }
    } else {
        history.runs.push(run);
    }
    let overflow = history.runs.len().saturating_sub(limits.max_runs.max(1));
    history.runs.drain(..overflow);
    let sizes: Vec<usize> = history.runs.iter().map(encoded_len).collect();
    let mut first = 0;
    while first + 1 < sizes.len() && history_len(&sizes[first..]) > limits.max_bytes {
        first += 1;
    }
    history.runs.drain(..first);
    history
}

/// Why a node was skipped, for people.
#[must_use]
pub fn skip_reason(skip: &Skip) -> String {
    match skip {
        Skip::Windows => "Windows node".to_owned(),
        Skip::VirtualNode => "virtual node".to_owned(),
        Skip::Excluded(selector) => format!("matched node filter selector {selector}"),
        Skip::NotIncluded => "not matched by the include node filter".to_owned(),
    }
}

/// Whether a failure reason from [`crate::manager::fold`] means the pod never started in time.
fn is_timeout(reason: &str) -> bool {
    reason.contains("never created") || reason.contains("did not start within")
}

fn record(
    node: &str,
    outcome: Outcome,
    reason: Option<String>,
    summary: Option<&Summary>,
) -> NodeRecord {
    NodeRecord {
        node: node.to_owned(),
        outcome,
        reason,
        removed: summary
            .map(|s| s.removed_images.clone())
            .unwrap_or_default(),
        failed_images: summary.map(|s| s.failed_images.clone()).unwrap_or_default(),
        truncated: summary.is_some_and(|s| s.truncated),
        would_remove: summary
            .map(|s| s.would_remove_images.clone())
            .unwrap_or_default(),
        kept: summary.map(|s| s.kept_images.clone()).unwrap_or_default(),
    }
}

/// The mode of a job, from its `eraser.sh/job-owner` label (manual unless the schedule owns
/// it).
#[must_use]
pub fn mode_of(job: &ImageJob) -> RunMode {
    let owner = job
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(names::JOB_OWNER_LABEL));
    if owner.is_some_and(|o| o == names::JOB_OWNER_COLLECTOR) {
        RunMode::Automatic
    } else {
        RunMode::Manual
    }
}

/// The record of a finished job: its name, mode and start from the ImageJob, the counts and
/// per-node outcomes from the fold, the skipped nodes from the plan, and the removed images
/// from the removers' summaries (`summaries`, by node, for pods whose outcome carries none,
/// such as failed pods that still wrote one). `finished` is now.
#[must_use]
pub fn run_from(
    job: &ImageJob,
    folded: &Fold,
    skipped: &[(String, Skip)],
    summaries: &HashMap<String, Summary>,
    finished: Timestamp,
) -> Run {
    let started = job
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(finished, |t| t.0);
    let phase = match folded.status.phase {
        JobPhase::Completed => RunPhase::Completed,
        JobPhase::Failed | JobPhase::Running | JobPhase::New => RunPhase::Failed,
    };
    let mut nodes: Vec<NodeRecord> = folded
        .nodes
        .iter()
        .map(|(node, outcome)| {
            let extra = summaries.get(node);
            match outcome {
                NodeOutcome::Succeeded(summary) => {
                    record(node, Outcome::Succeeded, None, summary.as_ref().or(extra))
                }
                NodeOutcome::Failed(reason) if is_timeout(reason) => {
                    record(node, Outcome::TimedOut, Some(reason.clone()), extra)
                }
                NodeOutcome::Failed(reason) => {
                    record(node, Outcome::Failed, Some(reason.clone()), extra)
                }
                NodeOutcome::InProgress => record(
                    node,
                    Outcome::Failed,
                    Some("still running when the job ended".to_owned()),
                    extra,
                ),
            }
        })
        .collect();
    nodes.extend(
        skipped
            .iter()
            .map(|(node, skip)| record(node, Outcome::Skipped, Some(skip_reason(skip)), None)),
    );
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    Run {
        job: job.metadata.name.clone().unwrap_or_default(),
        mode: mode_of(job),
        started,
        finished,
        phase,
        desired: folded.status.desired,
        succeeded: folded.status.succeeded,
        failed: folded.status.failed,
        skipped: folded.status.skipped,
        nodes,
        imagelist: Handled::of_job(job),
        dry_run: is_dry_run(job),
    }
}

/// Whether `job` is a dry run (labelled `drydock.dev/dry-run=true`).
#[must_use]
pub fn is_dry_run(job: &ImageJob) -> bool {
    job.metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(names::DRY_RUN_LABEL))
        .is_some_and(|value| value == "true")
}

/// A counts-only record of a finished job, from its status alone (when its pods are no longer
/// at hand). `finished` is now.
#[must_use]
pub fn run_from_status(job: &ImageJob, finished: Timestamp) -> Run {
    let status = job.status.clone().unwrap_or_default();
    Run {
        job: job.metadata.name.clone().unwrap_or_default(),
        mode: mode_of(job),
        started: job
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(finished, |t| t.0),
        finished,
        phase: if status.phase == JobPhase::Completed {
            RunPhase::Completed
        } else {
            RunPhase::Failed
        },
        desired: status.desired,
        succeeded: status.succeeded,
        failed: status.failed,
        skipped: status.skipped,
        nodes: Vec::new(),
        imagelist: Handled::of_job(job),
        dry_run: is_dry_run(job),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::manager::cached::{CachedNode, WorkerPod};
    use crate::manager::fold::fold;
    use crate::manager::plan::NodePlan;
    use crate::manager::testing;
    use crate::report::Totals;

    fn t(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minutes * 60).unwrap()
    }

    fn run(job: &str, nodes: usize, images_per_node: usize) -> Run {
        Run {
            job: job.to_owned(),
            mode: RunMode::Automatic,
            started: t(0),
            finished: t(5),
            phase: RunPhase::Completed,
            desired: i64::try_from(nodes).unwrap(),
            succeeded: i64::try_from(nodes).unwrap(),
            failed: 0,
            skipped: 0,
            nodes: (0..nodes)
                .map(|n| NodeRecord {
                    node: format!("node-{n}"),
                    outcome: Outcome::Succeeded,
                    reason: None,
                    removed: (0..images_per_node)
                        .map(|i| format!("docker.io/library/image-{i}:1.0"))
                        .collect(),
                    failed_images: vec![],
                    truncated: false,
                    would_remove: vec![],
                    kept: vec![],
                })
                .collect(),
            imagelist: None,
            dry_run: false,
        }
    }

    fn job(name: &str, owner: &str) -> ImageJob {
        let mut job = ImageJob::new(name, drydock_api::imagejob::ImageJobFields {});
        job.metadata.creation_timestamp = Some(Time(t(0)));
        job.metadata.labels = Some(BTreeMap::from([(
            names::JOB_OWNER_LABEL.to_owned(),
            owner.to_owned(),
        )]));
        job
    }

    #[test]
    fn the_json_has_the_contract_shape() {
        let mut r = run("imagejob-abcde", 1, 1);
        r.nodes[0].failed_images = vec!["x".into()];
        let history = append(History::default(), r, Limits::default());
        let json: serde_json::Value = serde_json::from_str(&history.to_json()).unwrap();
        let run = &json["runs"][0];
        assert_eq!(run["job"], "imagejob-abcde");
        assert_eq!(run["mode"], "automatic");
        assert_eq!(run["started"], "2027-01-15T08:00:00Z");
        assert_eq!(run["phase"], "Completed");
        assert_eq!(run["desired"], 1);
        let node = &run["nodes"][0];
        assert_eq!(node["outcome"], "succeeded");
        assert_eq!(node["removed"][0], "docker.io/library/image-0:1.0");
        assert_eq!(node["failedImages"][0], "x");
        assert_eq!(node["truncated"], false);
        assert!(node.get("reason").is_none());
        assert_eq!(History::parse(Some(&history.to_json())).unwrap(), history);
        assert_eq!(History::parse(None).unwrap(), History::default());
        assert!(History::parse(Some("{\"runs\": 3}")).is_err());
    }

    #[test]
    fn at_most_max_runs_are_kept_oldest_dropped_first() {
        let mut history = History::default();
        for i in 0..(MAX_RUNS + 5) {
            history = append(history, run(&format!("job-{i}"), 1, 0), Limits::default());
        }
        assert_eq!(history.runs.len(), MAX_RUNS);
        assert_eq!(history.runs[0].job, "job-5");
        assert_eq!(history.last().unwrap().job, format!("job-{}", MAX_RUNS + 4));
    }

    #[test]
    fn the_serialized_history_stays_under_the_byte_limit() {
        let mut history = History::default();
        // Each run: 50 nodes × 20 names ≈ 35 KiB, so 900 KiB holds about 25 of them.
        for i in 0..60 {
            history = append(history, run(&format!("job-{i}"), 50, 20), Limits::default());
            assert!(history.to_json().len() <= MAX_BYTES, "after run {i}");
        }
        assert!(history.runs.len() < 60 && history.runs.len() > 10);
        assert_eq!(history.last().unwrap().job, "job-59");
        let kept = history.runs.len();
        assert_eq!(history.runs[0].job, format!("job-{}", 60 - kept));
        assert!(!history.runs.iter().any(|r| r.nodes[0].truncated));
    }

    #[test]
    fn a_run_too_large_alone_loses_names_but_keeps_counts_and_failures() {
        let mut big = run("huge", 5000, 20);
        big.nodes[7].outcome = Outcome::Failed;
        big.nodes[7].reason = Some("container remover exited with 1".into());
        let history = append(
            History {
                runs: vec![run("old", 1, 1)],
            },
            big,
            Limits::default(),
        );
        assert!(history.to_json().len() <= MAX_BYTES);
        let last = history.last().unwrap();
        assert_eq!(last.job, "huge");
        assert_eq!(last.succeeded, 5000);
        assert!(last.nodes.iter().all(|n| n.removed.is_empty()));
        assert!(last.nodes.iter().any(|n| n.truncated));
        let tiny = Limits {
            max_runs: MAX_RUNS,
            max_bytes: 100 * 1024,
        };
        let history = append(History::default(), run("huge", 5000, 20), tiny);
        let last = history.last().unwrap();
        assert!(history.to_json().len() <= tiny.max_bytes);
        assert_eq!((last.nodes.len(), last.desired), (0, 5000));
        let mut failing = run("failing", 5000, 0);
        failing.nodes[3].outcome = Outcome::TimedOut;
        let history = append(History::default(), failing, tiny);
        assert_eq!(history.last().unwrap().nodes.len(), 1, "failures are kept");
    }

    fn pod(node: &str, phase: &str, message: Option<&str>) -> WorkerPod {
        let code = i32::from(phase != "Succeeded");
        testing::worker_pod(node, phase, t(0), &[("remover", code, message)])
    }

    fn node(name: &str) -> CachedNode {
        testing::node(name, &[], None)
    }

    #[test]
    fn a_dry_run_job_leaves_a_dry_run_record_with_what_would_go_and_why_the_rest_stays() {
        let summary = Summary {
            totals: Totals {
                would_remove: 1,
                kept: 1,
                ..Totals::default()
            },
            dry_run: true,
            would_remove_images: vec!["docker.io/library/alpine:3.7.3".into()],
            kept_images: vec!["docker.io/library/redis:7: in use".into()],
            ..Summary::default()
        };
        let message = serde_json::to_string(&summary).unwrap();
        let plan = NodePlan {
            targets: vec!["a".into()],
            skipped: vec![],
        };
        let pods = [pod("a", "Succeeded", Some(&message))];
        let folded = fold(&plan, &pods, &[node("a")], t(0), 1.0, t(11));
        let mut dry_job = job("imagejob-d", names::JOB_OWNER_COLLECTOR);
        dry_job
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert(names::DRY_RUN_LABEL.to_owned(), "true".to_owned());
        let record = run_from(&dry_job, &folded, &[], &HashMap::new(), t(12));
        assert!(record.dry_run);
        assert!(record.nodes[0].removed.is_empty());
        assert_eq!(
            record.nodes[0].would_remove,
            vec!["docker.io/library/alpine:3.7.3"]
        );
        assert_eq!(
            record.nodes[0].kept,
            vec!["docker.io/library/redis:7: in use"]
        );
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["dryRun"], true);
        // A real run's record carries no dry-run keys at all.
        let real = run_from(
            &job("imagejob-r", names::JOB_OWNER_COLLECTOR),
            &folded,
            &[],
            &HashMap::new(),
            t(12),
        );
        assert!(!real.dry_run);
        assert!(serde_json::to_value(&real).unwrap().get("dryRun").is_none());
    }

    #[test]
    fn a_run_record_has_every_node_with_its_outcome_and_removed_images() {
        let summary = Summary {
            totals: Totals {
                removed: 1,
                ..Totals::default()
            },
            removed_images: vec!["docker.io/library/alpine:3.7.3".into()],
            failed_images: vec![],
            truncated: false,
            ..Summary::default()
        };
        let message = serde_json::to_string(&summary).unwrap();
        let plan = NodePlan {
            targets: vec!["a".into(), "b".into(), "c".into(), "gone".into()],
            skipped: vec![("win".into(), Skip::Windows)],
        };
        let pods = [
            pod("a", "Succeeded", Some(&message)),
            pod("b", "Failed", None),
            pod("gone", "Running", None),
        ];
        let nodes = [node("a"), node("b"), node("c")];
        let folded = fold(&plan, &pods, &nodes, t(0), 1.0, t(11));
        let partial = Summary {
            failed_images: vec!["docker.io/library/busy:1".into()],
            ..Summary::default()
        };
        let summaries = HashMap::from([("b".to_owned(), partial)]);
        let record = run_from(
            &job("imagejob-x", names::JOB_OWNER_IMAGELIST),
            &folded,
            &plan.skipped,
            &summaries,
            t(12),
        );
        assert_eq!(record.job, "imagejob-x");
        assert_eq!(record.mode, RunMode::Manual);
        assert_eq!((record.started, record.finished), (t(0), t(12)));
        assert_eq!(record.phase, RunPhase::Failed);
        assert_eq!(
            (
                record.desired,
                record.succeeded,
                record.failed,
                record.skipped
            ),
            (5, 1, 3, 1)
        );
        let outcomes: Vec<(&str, Outcome)> = record
            .nodes
            .iter()
            .map(|n| (n.node.as_str(), n.outcome))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                ("a", Outcome::Succeeded),
                ("b", Outcome::Failed),
                ("c", Outcome::TimedOut),
                ("gone", Outcome::Failed),
                ("win", Outcome::Skipped),
            ]
        );
        assert_eq!(
            record.nodes[0].removed,
            vec!["docker.io/library/alpine:3.7.3"]
        );
        assert_eq!(
            record.nodes[1].failed_images,
            vec!["docker.io/library/busy:1"]
        );
        assert_eq!(
            record.nodes[3].reason.as_deref(),
            Some("node no longer exists")
        );
        assert_eq!(record.nodes[4].reason.as_deref(), Some("Windows node"));
    }

    #[test]
    fn recording_a_job_twice_keeps_one_run_and_prefers_the_detailed_record() {
        let mut job = job("imagejob-x", names::JOB_OWNER_COLLECTOR);
        job.status = Some(drydock_api::imagejob::ImageJobStatus {
            desired: 2,
            succeeded: 2,
            phase: JobPhase::Completed,
            ..Default::default()
        });
        let counts = run_from_status(&job, t(3));
        assert_eq!(
            (counts.mode, counts.phase, counts.desired),
            (RunMode::Automatic, RunPhase::Completed, 2)
        );
        let mut detailed = run("imagejob-x", 2, 1);
        detailed.finished = t(4);
        let history = append(History::default(), counts.clone(), Limits::default());
        let history = append(history, counts.clone(), Limits::default());
        assert_eq!(history.runs.len(), 1);
        let history = append(history, run("later", 1, 0), Limits::default());
        let history = append(history, detailed.clone(), Limits::default());
        assert_eq!(history.runs.len(), 2);
        assert_eq!(history.runs[0], detailed, "replaced in place");
        let history = append(history, counts, Limits::default());
        assert_eq!(
            history.runs[0], detailed,
            "a counts-only record never replaces details"
        );
    }

    #[test]
    fn the_schedules_jobs_are_automatic() {
        assert_eq!(
            mode_of(&job("j", names::JOB_OWNER_COLLECTOR)),
            RunMode::Automatic
        );
        assert_eq!(
            mode_of(&job("j", names::JOB_OWNER_IMAGELIST)),
            RunMode::Manual
        );
    }
}
