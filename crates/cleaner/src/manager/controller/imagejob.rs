//! The ImageJob controller: one worker pod per eligible node, the job's own pods folded into
//! its status, and the job deleted (everything it owns with it) after its delay.
//!
//! Per job, in the order of its phase:
//! - `""` (new): read its PodTemplate, plan the nodes ([`crate::manager::plan`]), write
//!   `{phase: Running, desired, skipped}` first, then create pods.
//! - `Running`: create the pods still missing, at most what the shared [`TokenBucket`] allows
//!   per pass (a requeue continues; nothing waits inside a reconcile, nothing polls a pod);
//!   fold the job's own pods (by the `drydock.dev/imagejob` label) and the nodes
//!   ([`crate::manager::fold`]); when every node has an outcome, record the run ([`job_finished`]:
//!   metrics, an Event, history) and write `Completed` or `Failed` with `deleteAfter`.
//! - `Completed`/`Failed`: delete the worker pods (one DeleteCollection by the job's label)
//!   once [`WORKER_POD_RETENTION`] has passed or at `deleteAfter`, whichever comes first
//!   (Eraser kept them until `deleteAfter`, which is 24 h for a failed job by default; the
//!   history keeps what they reported), then delete the ImageJob; its PodTemplate and
//!   ConfigMap follow by owner garbage collection.
//!
//! Nodes and pods come from reflector stores of compact types ([`crate::manager::cached`]: only what
//! planning and folding read, decoded straight from the watch), so 5,000 of each fit the
//! manager's memory budget. One pass per job at a time ([`Shared::begin_pass`]): worker pods
//! trigger their job under the job's own key ([`job_of_pod`]), and a pass that finds another
//! one of the same job running comes back later instead of creating the same pods again.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use drydock_api::imagejob::{ImageJob, ImageJobStatus, JobPhase};
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Pod, PodTemplate, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use tokio::sync::watch;

use super::{
    Context, EventKind, FIELD_MANAGER, job_owner_reference, status_apply, status_apply_params,
    stopped,
};
use crate::manager::cached::{CachedNode, WorkerPod};
use crate::manager::fold::{Fold, NodeOutcome, fold, remover_summary};
use crate::manager::metrics::NodeLabels;
use crate::manager::plan::{NodePlan, label_keys, plan_nodes};
use crate::manager::podspec::{JOB_NAME_LABEL, pod_for_node};
use crate::report::Summary;
use crate::{Error, Result};

/// Pods created per second across all jobs, steady state. Every worker pod pulls images on its
/// node; spreading 5,000 creations over about four minutes keeps the API server and the
/// registry from a thundering herd (Eraser created them all at once).
pub const POD_CREATIONS_PER_SECOND: f64 = 20.0;
/// Pods that may be created at once after a quiet period (the bucket's size).
pub const POD_CREATION_BURST: f64 = 50.0;
/// When pods remain to be created, the next pass comes this much later.
pub const CREATION_REQUEUE: Duration = Duration::from_secs(1);
/// A running job is looked at again at least this often (start timeouts, vanished nodes),
/// besides every change of its pods.
pub const RUNNING_RECHECK: Duration = Duration::from_secs(30);
/// Progress (`succeeded`, `failed`) is written to a running job's status at most this often,
/// so the status writes of a job stay O(duration), not O(pods).
pub const PROGRESS_INTERVAL: SignedDuration = SignedDuration::from_secs(30);
/// Worker pods of a finished job are deleted this long after it finished at the latest (or at
/// `deleteAfter` when that is earlier), keeping the promise that they are gone within 10
/// minutes of finishing, in both modes, whatever `delayOnFailure` says.
pub const WORKER_POD_RETENTION: SignedDuration = SignedDuration::from_mins(5);
/// After the worker pods were asked to go, the next pass comes this much later: time enough
/// for the pod watch to show them terminating, so the deletion is not repeated.
pub const POD_DELETION_REQUEUE: Duration = Duration::from_secs(2);
/// A pass that finds another pass of the same job running comes back this much later.
pub const BUSY_REQUEUE: Duration = Duration::from_secs(1);
/// A job whose PodTemplate is gone fails and is deleted after this delay (Eraser's).
pub const TEMPLATE_GONE_DELAY: SignedDuration = SignedDuration::from_secs(1);
/// Retry delay after a failed reconcile.
pub const ERROR_REQUEUE: Duration = Duration::from_secs(15);
/// Changes of one job's pods arriving within this window are folded by one reconcile: on a
/// 5,000-node job every pod changes three or four times, and one fold takes about 30 ms there.
pub const RECONCILE_DEBOUNCE: Duration = Duration::from_secs(2);
/// How long a reconcile waits for the node and pod caches to fill before trying again later.
pub const CACHE_READY_WAIT: Duration = Duration::from_secs(5);

/// Objects per page of the initial node and pod lists (kube's default is 500). kube reads a
/// page's whole reply before decoding it, so smaller pages bound the transient memory: the JSON
/// of 100 full Nodes (about 15 KiB each, mostly the image list) instead of 500.
pub const LIST_PAGE_SIZE: u32 = 100;

/// A token bucket over injected time: how many pods may be created now.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    last: Option<Timestamp>,
    per_second: f64,
    capacity: f64,
}

// === impl TokenBucket ===

impl TokenBucket {
    /// A full bucket.
    #[must_use]
    pub const fn new(per_second: f64, capacity: f64) -> Self {
        Self {
            tokens: capacity,
            last: None,
            per_second,
            capacity,
        }
    }

    /// Takes up to `wanted` tokens at `now` and returns how many were taken.
    pub fn take(&mut self, now: Timestamp, wanted: usize) -> usize {
        if let Some(last) = self.last {
            let elapsed = now.duration_since(last).as_secs_f64().max(0.0);
            self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        }
        self.last = Some(now);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        // tokens lie in [0, capacity]: a small non-negative number
        let available = self.tokens.floor() as usize;
        let taken = available.min(wanted);
        #[allow(clippy::cast_precision_loss)] // taken ≤ capacity
        {
            self.tokens -= taken as f64;
        }
        taken
    }
}

/// What this process remembers of a job it is running.
#[derive(Debug)]
struct JobMemory {
    plan: Arc<NodePlan>,
    /// When this process planned (or re-planned) the job: pods not created yet get
    /// [`crate::manager::fold::START_TIMEOUT`] from here.
    planned_at: Timestamp,
    template: Option<Arc<PodTemplateSpec>>,
    /// Nodes this process created a pod for (the cache may not show them yet).
    created: HashSet<String>,
    /// The last progress written: when, succeeded, failed.
    progress: (Timestamp, i64, i64),
    /// The final status was written: a pass that still sees the job Running (the cache has not
    /// caught up) must not finish it twice.
    finished: bool,
    /// Nodes whose worker pod the API server refused to create, with its reason: counted
    /// failed at once ([`crate::manager::fold::with_refused`]), never retried within the job.
    refused: HashMap<String, String>,
}

/// The controller's shared state.
pub struct Shared {
    ctx: Arc<Context>,
    nodes: Store<CachedNode>,
    pods: Store<WorkerPod>,
    memory: Mutex<HashMap<String, JobMemory>>,
    bucket: Mutex<TokenBucket>,
    /// Jobs a pass is working on now ([`Shared::begin_pass`]).
    passes: Mutex<HashSet<String>>,
}

/// A pass over one job: while it lives no other pass of that job starts.
#[derive(Debug)]
pub struct Pass<'a> {
    passes: &'a Mutex<HashSet<String>>,
    job: String,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        self.passes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.job);
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("nodes", &self.nodes.len())
            .field("pods", &self.pods.len())
            .finish_non_exhaustive()
    }
}

// === impl Shared ===

impl Shared {
    /// State over these caches (tests fill the stores by hand).
    #[must_use]
    pub fn new(ctx: Arc<Context>, nodes: Store<CachedNode>, pods: Store<WorkerPod>) -> Self {
        Self {
            ctx,
            nodes,
            pods,
            memory: Mutex::new(HashMap::new()),
            bucket: Mutex::new(TokenBucket::new(
                POD_CREATIONS_PER_SECOND,
                POD_CREATION_BURST,
            )),
            passes: Mutex::new(HashSet::new()),
        }
    }

    /// Starts a pass over `job`, or `None` when one is running. Two passes of one job at once
    /// would both see the same nodes without a pod (neither has recorded its creations yet) and
    /// both create them: a second worker pod on each.
    #[must_use = "the pass ends when its guard is dropped"]
    pub fn begin_pass(&self, job: &str) -> Option<Pass<'_>> {
        let mut passes = self.passes.lock().unwrap_or_else(PoisonError::into_inner);
        passes.insert(job.to_owned()).then(|| Pass {
            passes: &self.passes,
            job: job.to_owned(),
        })
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, HashMap<String, JobMemory>> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The worker pods of job `job` in the manager's namespace, from the cache.
    ///
    /// Sorted by name: the cache is a hash map, and pods deleted one by one (or logged) in a
    /// stable order make runs reproducible.
    fn job_pods(&self, job: &str) -> Vec<Arc<WorkerPod>> {
        let namespace = self.ctx.namespace.as_str();
        let mut pods = self.pods.state_filter(|pod| {
            pod.metadata.namespace.as_deref() == Some(namespace) && pod.job.as_deref() == Some(job)
        });
        pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        pods
    }
}

fn to_std(duration: SignedDuration) -> Duration {
    Duration::try_from(duration).unwrap_or(Duration::ZERO)
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Writes the job's whole `status` by server-side apply. Every caller passes a complete
/// status (the counts, the phase and, once finished, `deleteAfter`): a field left out would be
/// removed.
async fn write_status(ctx: &Context, job: &str, status: &ImageJobStatus) -> Result<()> {
    let api: Api<ImageJob> = Api::all(ctx.client.clone());
    api.patch_status(
        job,
        &status_apply_params(),
        &status_apply::<ImageJob>(status),
    )
    .await
    .map_err(Error::kube(format!("write the status of ImageJob {job}")))?;
    Ok(())
}

/// Fetches the job's PodTemplate; `None` when it is gone.
async fn read_template(ctx: &Context, job: &str) -> Result<Option<PodTemplateSpec>> {
    let api: Api<PodTemplate> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let template = api
        .get_opt(job)
        .await
        .map_err(Error::kube(format!("read PodTemplate {job}")))?;
    Ok(template.map(|t| t.template.unwrap_or_default()))
}

/// The cleanup delay of a finished phase.
fn delay_for(ctx: &Context, phase: JobPhase) -> SignedDuration {
    let config = ctx.config();
    let cleanup = &config.manager.image_job.cleanup;
    match phase {
        JobPhase::Completed => cleanup.delay_on_success.to_jiff(),
        _ => cleanup.delay_on_failure.to_jiff(),
    }
}

/// Marks a job failed without running it (its PodTemplate is gone, its filter is invalid).
async fn fail_unrun(ctx: &Context, job: &ImageJob, reason: &str, note: &str) -> Result<Action> {
    let name = job.name_any();
    tracing::warn!(imagejob = %name, reason, note, "Marking job as failed");
    ctx.event(job.object_ref(&()), EventKind::Warning, reason, note)
        .await;
    let status = ImageJobStatus {
        phase: JobPhase::Failed,
        delete_after: Some(Time(ctx.now() + TEMPLATE_GONE_DELAY)),
        ..job.status.clone().unwrap_or_default()
    };
    write_status(ctx, &name, &status).await?;
    Ok(Action::requeue(to_std(TEMPLATE_GONE_DELAY)))
}

/// Rebuilds the plan of a job this process did not start (after a restart): the current
/// eligible nodes plus every node the job already has a pod on.
fn replan(shared: &Shared, pods: &[Arc<WorkerPod>]) -> Result<NodePlan> {
    let config = shared.ctx.config();
    let nodes = shared.nodes.state();
    let mut plan = plan_nodes(nodes.iter().map(AsRef::as_ref), &config.manager.node_filter)?;
    let mut targets: HashSet<String> = plan.targets.iter().cloned().collect();
    for node in pods.iter().filter_map(|p| p.node.clone()) {
        if targets.insert(node.clone()) {
            plan.skipped.retain(|(name, _)| *name != node);
        }
    }
    plan.targets = targets.into_iter().collect();
    plan.targets.sort();
    Ok(plan)
}

/// The nodes that still need a pod: planned, still present, and with no pod yet.
fn missing_pods(
    plan: &NodePlan,
    pods: &[Arc<WorkerPod>],
    created: &HashSet<String>,
    nodes: &Store<CachedNode>,
) -> Vec<String> {
    let with_pod: HashSet<&str> = pods.iter().filter_map(|p| p.node.as_deref()).collect();
    plan.targets
        .iter()
        .filter(|node| !with_pod.contains(node.as_str()) && !created.contains(*node))
        .filter(|node| {
            nodes
                .get(&reflector::ObjectRef::new(node.as_str()))
                .is_some()
        })
        .cloned()
        .collect()
}

/// Creates pods for `nodes` (already rate-limited), recording each in the job's memory.
async fn create_pods(
    shared: &Shared,
    job: &ImageJob,
    template: &PodTemplateSpec,
    nodes: &[String],
) -> Result<()> {
    let ctx = &shared.ctx;
    let name = job.name_any();
    let owner = job_owner_reference(job)?;
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let post = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    for node in nodes {
        let pod = pod_for_node(template, &owner, &ctx.namespace, node);
        let created = match api.create(&post, &pod).await {
            Ok(created) => created,
            Err(error) if refused(&error) => {
                let reason = drydock_kube::status::message(&error);
                tracing::warn!(imagejob = %name, node = %node, %reason, "the API server refused the worker pod; node counted failed");
                let first = shared.memory().get_mut(&name).is_some_and(|memory| {
                    memory.created.insert(node.clone());
                    let first = !memory.refused.values().any(|r| *r == reason);
                    memory.refused.insert(node.clone(), reason.clone());
                    first
                });
                if first {
                    // Once per distinct reason and job: a missing ServiceAccount refuses every
                    // node the same way.
                    let note = format!("worker pod on node {node} refused: {reason}");
                    ctx.event(
                        job.object_ref(&()),
                        EventKind::Warning,
                        FAILED_CREATE_REASON,
                        &note,
                    )
                    .await;
                }
                continue;
            }
            Err(error) => {
                return Err(Error::kube(format!("create the worker pod on node {node}"))(error));
            }
        };
        tracing::info!(imagejob = %name, node = %node, pod = %created.name_any(), "Started worker pod on node");
        if let Some(memory) = shared.memory().get_mut(&name) {
            memory.created.insert(node.clone());
        }
    }
    Ok(())
}

/// Reason of the warning Event about a worker pod the API server refused (kubelet's and the
/// Job controller's word for it).
pub const FAILED_CREATE_REASON: &str = "FailedCreate";

/// A pod creation the API server refuses for this pod, not for now: 400 (bad request), 403
/// (forbidden: a missing ServiceAccount, Pod Security admission, a quota) or 422 (invalid).
/// Retrying would be refused the same way; conflicts, throttling and server errors are not
/// refusals and fail the pass, which is retried.
fn refused(error: &kube::Error) -> bool {
    /// The status codes of a refusal.
    const REFUSALS: [u16; 3] = [400, 403, 422];
    matches!(error, kube::Error::Api(status) if REFUSALS.contains(&status.code))
}

/// Takes tokens and creates what they allow; returns when to come back if pods remain.
async fn create_missing(
    shared: &Shared,
    job: &ImageJob,
    missing: &[String],
    now: Timestamp,
) -> Result<Option<Duration>> {
    if missing.is_empty() {
        return Ok(None);
    }
    let name = job.name_any();
    let allowed = shared
        .bucket
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take(now, missing.len());
    if allowed > 0 {
        let cached = shared.memory().get(&name).and_then(|m| m.template.clone());
        let template = match cached {
            Some(template) => template,
            None => {
                let Some(template) = read_template(&shared.ctx, &name).await? else {
                    // Reported by the caller's next pass through `fail_unrun`.
                    return Err(Error::Object {
                        object: format!("PodTemplate {name}"),
                        message: "not found".to_owned(),
                    });
                };
                let template = Arc::new(template);
                if let Some(memory) = shared.memory().get_mut(&name) {
                    memory.template = Some(template.clone());
                }
                template
            }
        };
        create_pods(shared, job, &template, &missing[..allowed]).await?;
    }
    Ok((allowed < missing.len()).then_some(CREATION_REQUEUE))
}

/// Phase `""`: plan, write `Running` with the counts, create the first pods.
async fn start(shared: &Shared, job: &ImageJob) -> Result<Action> {
    let ctx = &shared.ctx;
    let name = job.name_any();
    // A pass before the cache shows this job `Running` (its status write's watch event lags
    // behind the pod events that trigger passes, as under load): this process started it, so
    // it is running, not new. Starting it again would plan afresh and create a second pod on
    // every node whose first one the pod cache does not show yet.
    let started = shared.memory().contains_key(&name);
    if started {
        return running(shared, job).await;
    }
    let now = ctx.now();
    let Some(template) = read_template(ctx, &name).await? else {
        return fail_unrun(
            ctx,
            job,
            "PodTemplateNotFound",
            &format!("PodTemplate {name} not found in {}", ctx.namespace),
        )
        .await;
    };
    let config = ctx.config();
    let nodes = shared.nodes.state();
    let plan = match plan_nodes(nodes.iter().map(AsRef::as_ref), &config.manager.node_filter) {
        Ok(plan) => plan,
        Err(error) => return fail_unrun(ctx, job, "InvalidNodeFilter", &error.to_string()).await,
    };
    drop(nodes);
    for (node, skip) in &plan.skipped {
        tracing::info!(imagejob = %name, node = %node, reason = ?skip, "node will be skipped because it matched the specified labels");
    }
    let status = ImageJobStatus {
        phase: JobPhase::Running,
        desired: count(plan.desired()),
        skipped: count(plan.skipped.len()),
        ..ImageJobStatus::default()
    };
    // Status first, as Eraser does: `desired` is visible before any pod exists.
    write_status(ctx, &name, &status).await?;
    let targets = plan.targets.clone();
    shared.memory().insert(
        name.clone(),
        JobMemory {
            plan: Arc::new(plan),
            planned_at: now,
            template: Some(Arc::new(template)),
            created: HashSet::new(),
            progress: (now, 0, 0),
            finished: false,
            refused: HashMap::new(),
        },
    );
    let nodes = &shared.nodes;
    let missing: Vec<String> = targets
        .into_iter()
        .filter(|node| nodes.get(&reflector::ObjectRef::new(node)).is_some())
        .collect();
    let again = create_missing(shared, job, &missing, now).await?;
    // Refused pods count as failed at the next pass: make it soon.
    let refusals = shared
        .memory()
        .get(&name)
        .is_some_and(|m| !m.refused.is_empty());
    let recheck = if refusals {
        CREATION_REQUEUE
    } else {
        RUNNING_RECHECK
    };
    Ok(Action::requeue(again.unwrap_or(recheck)))
}

/// Phase `Running`: create what is missing, fold, finish when every node has an outcome.
async fn running(shared: &Shared, job: &ImageJob) -> Result<Action> {
    let ctx = &shared.ctx;
    let name = job.name_any();
    let now = ctx.now();
    if shared.memory().get(&name).is_some_and(|m| m.finished) {
        // Finished already; the cache still shows the job Running.
        return Ok(Action::requeue(CREATION_REQUEUE));
    }
    let pods = shared.job_pods(&name);
    let remembered = shared
        .memory()
        .get(&name)
        .map(|m| (m.plan.clone(), m.created.clone(), m.planned_at));
    let (plan, created, planned_at) = match remembered {
        Some(known) => known,
        None => {
            let plan = Arc::new(replan(shared, &pods)?);
            let status = job.status.clone().unwrap_or_default();
            shared.memory().insert(
                name.clone(),
                JobMemory {
                    plan: plan.clone(),
                    planned_at: now,
                    template: None,
                    created: HashSet::new(),
                    progress: (now, status.succeeded, status.failed),
                    finished: false,
                    refused: HashMap::new(),
                },
            );
            (plan, HashSet::new(), now)
        }
    };
    let missing = missing_pods(&plan, &pods, &created, &shared.nodes);
    let again = match create_missing(shared, job, &missing, now).await {
        Err(Error::Object { object, message }) => {
            return fail_unrun(
                ctx,
                job,
                "PodTemplateNotFound",
                &format!("{object} {message}"),
            )
            .await;
        }
        other => other?,
    };
    let nodes = shared.nodes.state();
    let ratio = ctx.config().manager.image_job.success_ratio;
    let folded = fold(
        &plan,
        pods.iter().map(AsRef::as_ref),
        nodes.iter().map(AsRef::as_ref),
        planned_at,
        ratio,
        now,
    );
    drop(nodes);
    let refused = shared
        .memory()
        .get(&name)
        .map(|m| m.refused.clone())
        .unwrap_or_default();
    let folded = crate::manager::fold::with_refused(folded, &refused, &plan, ratio);
    if folded.status.phase == JobPhase::Running {
        let progress = shared.memory().get(&name).map(|m| m.progress);
        let (s, f) = (folded.status.succeeded, folded.status.failed);
        if let Some((at, written_s, written_f)) = progress
            && (s, f) != (written_s, written_f)
            && now.duration_since(at) >= PROGRESS_INTERVAL
        {
            write_status(ctx, &name, &folded.status).await?;
            if let Some(memory) = shared.memory().get_mut(&name) {
                memory.progress = (now, s, f);
            }
        }
        return Ok(Action::requeue(again.unwrap_or(RUNNING_RECHECK)));
    }
    job_finished(ctx, job, &folded, &plan, &pods).await?;
    let delay = delay_for(ctx, folded.status.phase);
    let status = ImageJobStatus {
        delete_after: Some(Time(now + delay)),
        ..folded.status.clone()
    };
    write_status(ctx, &name, &status).await?;
    if let Some(memory) = shared.memory().get_mut(&name) {
        memory.finished = true;
    }
    Ok(Action::requeue(to_std(delay.min(WORKER_POD_RETENTION))))
}

/// A finished job's run is recorded: metrics, an Event on the ImageJob, and the run in the
/// history ConfigMap. Called once per job, before its final status is written, so a job is
/// never deleted before its history exists (a failure here retries the whole step; recording
/// is idempotent per job).
///
/// # Errors
/// The history cannot be written.
pub async fn job_finished(
    ctx: &Context,
    job: &ImageJob,
    folded: &Fold,
    plan: &NodePlan,
    pods: &[Arc<WorkerPod>],
) -> Result<()> {
    let name = job.name_any();
    let now = ctx.now();
    let summaries: HashMap<String, Summary> = pods
        .iter()
        .filter_map(|pod| Some((pod.node.clone()?, remover_summary(pod)?)))
        .collect();
    let run = crate::manager::history::run_from(job, folded, &plan.skipped, &summaries, now);
    super::records::append(ctx, run).await?;
    super::vulnreport::record(ctx, &name, pods).await;

    let metrics = &ctx.metrics;
    let status = &folded.status;
    metrics.jobs.inc();
    metrics
        .pods_completed
        .inc_by(u64::try_from(status.succeeded).unwrap_or(0));
    metrics
        .pods_failed
        .inc_by(u64::try_from(status.failed).unwrap_or(0));
    if let Some(created) = job.metadata.creation_timestamp.as_ref() {
        metrics
            .duration
            .observe(now.duration_since(created.0).as_secs_f64().max(0.0));
    }
    let scanned = crate::manager::history::mode_of(job)
        == crate::manager::history::RunMode::Automatic
        && ctx.config().components.scanner.enabled;
    for (node, summary) in &summaries {
        let labels = NodeLabels {
            node_name: node.clone(),
        };
        let removed = u64::try_from(summary.totals.removed).unwrap_or(0);
        metrics
            .images_removed
            .get_or_create(&labels)
            .inc_by(removed);
        if scanned {
            // The scanner's verdict reaches the manager only as the remover's input.
            let t = &summary.totals;
            let condemned = t.removed + t.already_gone + t.failed + t.kept;
            metrics
                .vulnerable_images
                .get_or_create(&labels)
                .inc_by(u64::try_from(condemned).unwrap_or(0));
        }
    }

    let (kind, reason) = match status.phase {
        JobPhase::Completed => (EventKind::Normal, "Completed"),
        _ => (EventKind::Warning, "Failed"),
    };
    let note = format!(
        "{} of {} nodes succeeded, {} failed, {} skipped (ratio {:.3}, needed {})",
        status.succeeded,
        status.desired,
        status.failed,
        status.skipped,
        folded.ratio,
        ctx.config().manager.image_job.success_ratio
    );
    match status.phase {
        JobPhase::Completed => tracing::info!(imagejob = %name, %note, "job completed"),
        _ => tracing::warn!(imagejob = %name, %note, "Marking job as failed"),
    }
    for (node, outcome) in &folded.nodes {
        if let NodeOutcome::Failed(why) = outcome {
            tracing::warn!(imagejob = %name, node = %node, reason = %why, "worker failed");
        }
    }
    ctx.event(job.object_ref(&()), kind, reason, &note).await;
    Ok(())
}

/// What to do with a finished job now (pure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleanup {
    /// Delete the ImageJob (its delay is over).
    DeleteJob,
    /// Delete its worker pods (retention over, job kept until `deleteAfter`), then come back.
    DeletePods(Duration),
    /// Come back later.
    Wait(Duration),
}

/// Decides a finished job's cleanup. `finished` is when it finished (`deleteAfter` minus its
/// delay); `has_pods` whether worker pods remain that are not already terminating.
///
/// The pods go before the job, by the manager itself: the job's deletion would have the
/// garbage collector remove them too, but the promise that they are gone must not depend on a
/// controller the manager does not run.
#[must_use]
pub fn cleanup(
    delete_after: Timestamp,
    finished: Timestamp,
    has_pods: bool,
    now: Timestamp,
) -> Cleanup {
    let pods_due = finished + WORKER_POD_RETENTION;
    if has_pods && (now >= pods_due || now >= delete_after) {
        return Cleanup::DeletePods(if now >= delete_after {
            POD_DELETION_REQUEUE
        } else {
            to_std(delete_after.duration_since(now))
        });
    }
    if now >= delete_after {
        return Cleanup::DeleteJob;
    }
    let until_delete = to_std(delete_after.duration_since(now));
    if has_pods {
        Cleanup::Wait(until_delete.min(to_std(pods_due.duration_since(now))))
    } else {
        Cleanup::Wait(until_delete)
    }
}

/// Phases `Completed`/`Failed`: delete pods after the retention, the job after its delay.
async fn finished(shared: &Shared, job: &ImageJob, phase: JobPhase) -> Result<Action> {
    let ctx = &shared.ctx;
    let name = job.name_any();
    shared.memory().remove(&name);
    let now = ctx.now();
    let delay = delay_for(ctx, phase);
    let Some(delete_after) = job
        .status
        .as_ref()
        .and_then(|s| s.delete_after.as_ref())
        .map(|t| t.0)
    else {
        // Finished by someone else (an Eraser manager): start the delay now.
        let status = ImageJobStatus {
            delete_after: Some(Time(now + delay)),
            ..job.status.clone().unwrap_or_default()
        };
        write_status(ctx, &name, &status).await?;
        return Ok(Action::requeue(to_std(delay.min(WORKER_POD_RETENTION))));
    };
    // Terminating pods are on their way out (their kubelet confirms): asking again is useless.
    let pods: Vec<_> = shared
        .job_pods(&name)
        .into_iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .collect();
    match cleanup(delete_after, delete_after - delay, !pods.is_empty(), now) {
        Cleanup::DeleteJob => {
            tracing::info!(imagejob = %name, "Deleting imagejob");
            let api: Api<ImageJob> = Api::all(ctx.client.clone());
            match api.delete(&name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.is_not_found() => {}
                Err(error) => return Err(Error::kube(format!("delete ImageJob {name}"))(error)),
            }
            Ok(Action::await_change())
        }
        Cleanup::DeletePods(next) => {
            tracing::info!(imagejob = %name, pods = pods.len(), "deleting the worker pods of a finished job");
            let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
            if !ctx.is_denied(super::DELETECOLLECTION_PODS) {
                // One call for all of them, however many nodes the job covered.
                match delete_worker_pods(ctx, &name).await {
                    Ok(_) => return Ok(Action::requeue(next)),
                    Err(error) if drydock_kube::status::is_forbidden(&error) => {
                        ctx.deny(super::DELETECOLLECTION_PODS, &error);
                    }
                    Err(error) => {
                        return Err(Error::kube(format!("delete the worker pods of {name}"))(
                            error,
                        ));
                    }
                }
            }
            // Eraser's role grants `delete` on pods but not `deletecollection`: one by one.
            for pod in &pods {
                let pod_name = pod.name_any();
                match api.delete(&pod_name, &DeleteParams::background()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.is_not_found() => {}
                    Err(error) => {
                        return Err(Error::kube(format!("delete worker pod {pod_name}"))(error));
                    }
                }
            }
            Ok(Action::requeue(next))
        }
        Cleanup::Wait(next) => {
            tracing::debug!(imagejob = %name, deleteAfter = %delete_after, "Delaying imagejob delete");
            Ok(Action::requeue(next))
        }
    }
}

/// Deletes the worker pods of `job` with one DeleteCollection, reading the API server's reply
/// without keeping it: the reply lists every deleted pod whole (some 25 MiB of JSON for 5,000
/// pods), which kube's typed call would hold as text and decode at once.
async fn delete_worker_pods(ctx: &Context, job: &str) -> std::result::Result<(), kube::Error> {
    let selector = ListParams::default().labels(&format!("{JOB_NAME_LABEL}={job}"));
    let request = kube::core::Request::new(WorkerPod::url_path(&(), Some(&ctx.namespace)))
        .delete_collection(&DeleteParams::background(), &selector)
        .map_err(kube::Error::BuildRequest)?;
    let reply = ctx.client.request_stream(request).await?;
    futures::io::copy(reply, &mut futures::io::sink())
        .await
        .map_err(kube::Error::ReadEvents)?;
    Ok(())
}

/// One reconcile of one ImageJob.
///
/// # Errors
/// An API call failed; the job is retried after [`ERROR_REQUEUE`].
pub async fn reconcile(job: Arc<ImageJob>, shared: Arc<Shared>) -> Result<Action> {
    let ready = async {
        let _ = shared.nodes.wait_until_ready().await;
        let _ = shared.pods.wait_until_ready().await;
    };
    if tokio::time::timeout(CACHE_READY_WAIT, ready).await.is_err() {
        return Ok(Action::requeue(CACHE_READY_WAIT));
    }
    let name = job.name_any();
    let Some(_pass) = shared.begin_pass(&name) else {
        tracing::debug!(imagejob = %name, "another pass of this job is running; coming back");
        return Ok(Action::requeue(BUSY_REQUEUE));
    };
    if job.metadata.deletion_timestamp.is_some() {
        shared.memory().remove(&name);
        return Ok(Action::await_change());
    }
    let phase = job.status.as_ref().map(|s| s.phase).unwrap_or_default();
    match phase {
        JobPhase::New => start(&shared, &job).await,
        JobPhase::Running => running(&shared, &job).await,
        JobPhase::Completed | JobPhase::Failed => finished(&shared, &job, phase).await,
    }
}

fn error_policy(job: Arc<ImageJob>, error: &Error, shared: Arc<Shared>) -> Action {
    tracing::warn!(imagejob = %job.name_any(), %error, "reconcile failed; retrying");
    shared.ctx.metrics.reconcile_failed("imagejob");
    Action::requeue(ERROR_REQUEUE)
}

/// The node filter's label keys (none when it is invalid: planning reports that itself).
fn node_label_keys(ctx: &Context) -> BTreeSet<String> {
    label_keys(&ctx.config().manager.node_filter).unwrap_or_default()
}

/// Keeps `writer` filled with the cluster's Nodes, compact ([`CachedNode`]) with only the label
/// keys the node filter reads; re-lists when a configuration reload changes those keys. Returns only
/// when the configuration's sender is gone (the manager is stopping).
async fn cache_nodes(ctx: Arc<Context>, mut writer: reflector::store::Writer<CachedNode>) {
    let api = Api::<CachedNode>::all(ctx.client.clone());
    let mut configs = ctx.watch_config();
    loop {
        let keys = Arc::new(node_label_keys(&ctx));
        let kept = keys.clone();
        let stream = watcher(
            api.clone(),
            watcher::Config::default().page_size(LIST_PAGE_SIZE),
        )
        .modify(move |node| node.keep_labels(&kept))
        .default_backoff();
        let mut stream = std::pin::pin!(stream);
        loop {
            tokio::select! {
                event = stream.next() => match event {
                    Some(Ok(event)) => writer.apply_watcher_event(&event),
                    Some(Err(error)) => tracing::warn!(%error, "node watch failed; retrying"),
                    None => return,
                },
                changed = configs.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if node_label_keys(&ctx) != *keys {
                        tracing::info!("the node filter reads other labels now; re-listing nodes");
                        break;
                    }
                }
            }
        }
    }
}

/// The ImageJob a worker pod triggers, keyed as the controller keys the job itself: by name
/// alone, ImageJobs being cluster-scoped. kube's owner trigger keys the owner with the pod's
/// namespace, which its store still resolves to the job but its scheduler counts as another
/// object, so a pass for a pod change could run beside a pass for the job's own change or
/// requeue and create the same pods twice.
#[must_use]
pub fn job_of_pod(pod: &WorkerPod) -> Option<reflector::ObjectRef<ImageJob>> {
    pod.job.as_deref().map(reflector::ObjectRef::new)
}

/// Runs the ImageJob controller until `shutdown` turns true: a node reflector (compact), a
/// pod reflector over worker pods only (label `drydock.dev/imagejob`, compact) that also
/// triggers the owning job ([`job_of_pod`]), and the controller over ImageJobs.
///
/// # Errors
/// None today; the signature leaves room for start-up checks.
pub async fn run(ctx: Arc<Context>, shutdown: watch::Receiver<bool>) -> Result<()> {
    let client = ctx.client.clone();
    let (nodes, node_writer) = reflector::store::<CachedNode>();
    let node_stream = cache_nodes(ctx.clone(), node_writer);
    let (pods, pod_writer) = reflector::store::<WorkerPod>();
    let pod_stream = reflector::reflector(
        pod_writer,
        watcher(
            Api::<WorkerPod>::namespaced(client.clone(), &ctx.namespace),
            watcher::Config::default()
                .labels(JOB_NAME_LABEL)
                .page_size(LIST_PAGE_SIZE),
        )
        .default_backoff(),
    )
    .touched_objects();
    let shared = Arc::new(Shared::new(ctx.clone(), nodes, pods));
    let controller = Controller::new(Api::<ImageJob>::all(client), watcher::Config::default())
        .owns_stream(pod_stream)
        .with_config(kube::runtime::controller::Config::default().debounce(RECONCILE_DEBOUNCE))
        .graceful_shutdown_on(stopped(shutdown.clone()))
        .run(reconcile, error_policy, shared)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "imagejob controller");
            }
        });
    tokio::select! {
        () = controller => {}
        () = node_stream => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests;
