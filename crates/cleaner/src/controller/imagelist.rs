//! The ImageList controller (manual mode).
//!
//! Only the ImageList named `imagelist` is acted on; any other name gets a warning Event and
//! nothing else. A run starts when the list's `metadata.generation` differs from the
//! `status.observedGeneration` the controller persisted: on creation (a new object starts at
//! generation 1 with no status, so delete + re-create runs again) and on every spec change —
//! but never on a re-apply of an unchanged list, a status update or a manager restart
//! (Eraser re-ran the list on every restart because it remembered nothing). A spec change
//! during a run waits for that run, then starts another.
//!
//! An empty `spec.images` or an invalid entry is rejected with a condition and a warning Event;
//! an unreadable exclusion list blocks the run ([`super::exclusions`]). When the list's job
//! finishes, its counts go into `ImageList.status` (Eraser's fields), a `Succeeded` or `Failed`
//! condition and an Event (the ImageJob controller has already written the run, node by node,
//! into the history before it marked the job finished). The controller only ever looks at
//! ImageJobs that this
//! ImageList owns; the schedule's jobs are not its business, nor its jobs the schedule's.
//!
//! The decisions are the pure [`decide`]; [`reconcile`] is the IO around it.

use std::sync::Arc;
use std::time::Duration;

use drydock_api::imagejob::{ImageJob, JobPhase};
use drydock_api::imagelist::{ImageList, ImageListStatus};
use drydock_api::names;
use drydock_cri::Reference;
use drydock_cri::reference::is_digest;
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use tokio::sync::watch;

use super::exclusions;
use super::{Context, EventKind, FIELD_MANAGER, JobMode, JobRequest, records, stopped};
use crate::decide::ALL_IMAGES;
use crate::history;
use crate::{Error, Result};

/// Condition type: a run of this list is in progress.
pub const RUNNING: &str = "Running";
/// Condition type: the last run reached the success ratio.
pub const SUCCEEDED: &str = "Succeeded";
/// Condition type: the last run failed, or the list could not be run.
pub const FAILED: &str = "Failed";

/// How long a started job may be missing from the cache before the controller concludes it
/// was deleted before its result was seen. A just-created job reaches the cache within
/// seconds; two minutes absorbs a slow watch without leaving the condition stuck.
pub const VANISHED_GRACE: SignedDuration = SignedDuration::from_mins(2);
/// When to look again while blocked by an unreadable exclusion list (a fix of a labelled
/// ConfigMap triggers a look at once; this covers the system list, which is not watched by
/// label).
pub const BLOCKED_RETRY: Duration = Duration::from_secs(5 * 60);
/// Back-off after a failed reconcile (an API error).
pub const ERROR_RETRY: Duration = Duration::from_secs(30);

/// What the ImageList controller shares.
#[derive(Debug)]
pub struct ListContext {
    /// The manager's shared context.
    pub ctx: Arc<Context>,
    /// The ImageJobs labelled `eraser.sh/job-owner=imagelist-controller`.
    pub jobs: Store<ImageJob>,
}

/// What to do with an ImageList.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Not named `imagelist`: warn, touch nothing.
    WrongName,
    /// Nothing to do (the spec was handled and no run of this list is in flight).
    UpToDate,
    /// A run of this list is in progress; its end triggers the next look.
    AwaitJob(String),
    /// A run of this list finished and its result is not in the status yet.
    Record(String),
    /// The run in the status is not among the list's jobs: just created and not cached yet, or
    /// finished and deleted before the controller saw it finish (its result is then in the
    /// history, written before the job was marked finished). `overdue` once the job has been
    /// missing longer than [`VANISHED_GRACE`].
    Missing {
        /// The job.
        job: String,
        /// Missing for longer than the grace.
        overdue: bool,
    },
    /// The spec cannot be run: why.
    Reject(String),
    /// Start a run with these images for this generation.
    Start {
        /// `spec.images`.
        images: Vec<String>,
        /// `metadata.generation`.
        generation: i64,
    },
}

/// Checks `spec.images`: not empty, and every entry `*`, an image ID, a digest or an image
/// reference.
///
/// # Errors
/// Why the list cannot be run.
pub fn validate_images(images: &[String]) -> Result<(), String> {
    if images.is_empty() {
        return Err("spec.images is empty: nothing to remove".to_owned());
    }
    for (position, image) in images.iter().enumerate() {
        let entry = image.trim();
        let image_id = entry.len() == 64 && entry.bytes().all(|b| b.is_ascii_hexdigit());
        if entry == ALL_IMAGES || image_id || is_digest(entry) {
            continue;
        }
        Reference::parse(entry)
            .map_err(|e| format!("spec.images[{position}] {image:?} is not an image: {e}"))?;
    }
    Ok(())
}

fn condition<'a>(status: Option<&'a ImageListStatus>, type_: &str) -> Option<&'a Condition> {
    status?.conditions.iter().find(|c| c.type_ == type_)
}

/// The job the status says is running (from the `Running` condition the controller wrote).
#[must_use]
pub fn running_job(status: Option<&ImageListStatus>) -> Option<&str> {
    let running = condition(status, RUNNING).filter(|c| c.status == "True")?;
    running.message.strip_prefix("ImageJob ")?.split(' ').next()
}

fn finished(job: &ImageJob) -> bool {
    job.status
        .as_ref()
        .is_some_and(|s| matches!(s.phase, JobPhase::Completed | JobPhase::Failed))
}

/// Whether `job` is owned by `list` (by uid).
#[must_use]
pub fn owned_by(job: &ImageJob, list: &ImageList) -> bool {
    let Some(uid) = list.metadata.uid.as_deref() else {
        return false;
    };
    job.owner_references().iter().any(|o| o.uid == uid)
        && job
            .labels()
            .get(names::JOB_OWNER_LABEL)
            .is_some_and(|v| v == names::JOB_OWNER_IMAGELIST)
}

/// Decides what to do with `list`, given the ImageJobs in the cache (any owner; only the
/// list's own are looked at).
#[must_use]
pub fn decide(list: &ImageList, jobs: &[Arc<ImageJob>], now: Timestamp) -> Step {
    if list.name_any() != names::IMAGELIST_NAME {
        return Step::WrongName;
    }
    if list.metadata.deletion_timestamp.is_some() {
        return Step::UpToDate;
    }
    let own: Vec<&ImageJob> = jobs
        .iter()
        .map(AsRef::as_ref)
        .filter(|job| owned_by(job, list))
        .collect();
    if let Some(job) = own.iter().find(|job| !finished(job)) {
        return Step::AwaitJob(job.name_any());
    }
    let status = list.status.as_ref();
    if let Some(running) = running_job(status) {
        if own.iter().any(|job| job.name_any() == running) {
            return Step::Record(running.to_owned());
        }
        let since = condition(status, RUNNING).map_or(now, |c| c.last_transition_time.0);
        return Step::Missing {
            job: running.to_owned(),
            overdue: now.duration_since(since) > VANISHED_GRACE,
        };
    }
    let generation = list.metadata.generation.unwrap_or(1);
    if status.and_then(|s| s.observed_generation) == Some(generation) {
        return Step::UpToDate;
    }
    match validate_images(&list.spec.images) {
        Ok(()) => Step::Start {
            images: list.spec.images.clone(),
            generation,
        },
        Err(why) => Step::Reject(why),
    }
}

/// `conditions` with `new` set: replacing the condition of the same type, keeping its
/// `lastTransitionTime` when the status did not change.
#[must_use]
pub fn with_condition(mut conditions: Vec<Condition>, mut new: Condition) -> Vec<Condition> {
    if let Some(old) = conditions.iter_mut().find(|c| c.type_ == new.type_) {
        if old.status == new.status {
            new.last_transition_time = old.last_transition_time.clone();
        }
        *old = new;
    } else {
        conditions.push(new);
    }
    conditions
}

fn cond(
    type_: &str,
    on: bool,
    reason: &str,
    message: String,
    generation: i64,
    now: Timestamp,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if on { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: Some(generation),
        last_transition_time: Time(now),
    }
}

/// The conditions after a run started.
fn started_conditions(
    old: Vec<Condition>,
    job: &str,
    generation: i64,
    now: Timestamp,
) -> Vec<Condition> {
    let message = format!("ImageJob {job} is running for generation {generation}");
    let c = with_condition(
        old,
        cond(
            RUNNING,
            true,
            "JobRunning",
            message.clone(),
            generation,
            now,
        ),
    );
    let c = with_condition(
        c,
        cond(
            SUCCEEDED,
            false,
            "JobRunning",
            message.clone(),
            generation,
            now,
        ),
    );
    with_condition(
        c,
        cond(FAILED, false, "JobRunning", message, generation, now),
    )
}

/// The conditions after a run ended or could not start: `ok` decides Succeeded or Failed.
fn ended_conditions(
    old: Vec<Condition>,
    ok: bool,
    reason: &str,
    message: &str,
    generation: i64,
    now: Timestamp,
) -> Vec<Condition> {
    let c = with_condition(
        old,
        cond(RUNNING, false, reason, message.to_owned(), generation, now),
    );
    let c = with_condition(
        c,
        cond(SUCCEEDED, ok, reason, message.to_owned(), generation, now),
    );
    with_condition(
        c,
        cond(FAILED, !ok, reason, message.to_owned(), generation, now),
    )
}

fn list_reference(list: &ImageList) -> ObjectReference {
    list.object_ref(&())
}

fn old_conditions(list: &ImageList) -> Vec<Condition> {
    list.status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default()
}

async fn patch_status(ctx: &Context, list: &ImageList, status: serde_json::Value) -> Result<()> {
    let api: Api<ImageList> = Api::all(ctx.client.clone());
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    api.patch_status(
        &list.name_any(),
        &params,
        &Patch::Merge(serde_json::json!({ "status": status })),
    )
    .await
    .map_err(|source| Error::Kube {
        action: format!("update the status of ImageList {}", list.name_any()),
        source: Box::new(source),
    })?;
    Ok(())
}

/// What a finished job reports to its ImageList.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult {
    /// The ImageJob.
    pub job: String,
    /// Whether it completed (reached the success ratio).
    pub completed: bool,
    /// When it finished.
    pub finished: Timestamp,
    /// Nodes considered.
    pub desired: i64,
    /// Nodes that succeeded.
    pub succeeded: i64,
    /// Nodes that failed.
    pub failed: i64,
    /// Nodes skipped.
    pub skipped: i64,
}

impl JobResult {
    /// From the finished job's status, seen `now`.
    #[must_use]
    pub fn of_job(job: &ImageJob, now: Timestamp) -> Self {
        let status = job.status.clone().unwrap_or_default();
        Self {
            job: job.name_any(),
            completed: status.phase == JobPhase::Completed,
            finished: now,
            desired: status.desired,
            succeeded: status.succeeded,
            failed: status.failed,
            skipped: status.skipped,
        }
    }

    /// From the job's run in the history.
    #[must_use]
    pub fn of_run(run: &history::Run) -> Self {
        Self {
            job: run.job.clone(),
            completed: run.phase == history::RunPhase::Completed,
            finished: run.finished,
            desired: run.desired,
            succeeded: run.succeeded,
            failed: run.failed,
            skipped: run.skipped,
        }
    }
}

/// The result of a finished job as the ImageList status carries it (pure).
#[must_use]
pub fn result_status(
    list: &ImageList,
    result: &JobResult,
    now: Timestamp,
) -> (serde_json::Value, bool, String) {
    let status = result;
    let ok = result.completed;
    let generation = condition(list.status.as_ref(), RUNNING)
        .and_then(|c| c.observed_generation)
        .unwrap_or_else(|| list.metadata.generation.unwrap_or(1));
    let message = format!(
        "ImageJob {} {}: {} of {} nodes succeeded, {} failed, {} skipped",
        result.job,
        if ok { "completed" } else { "failed" },
        status.succeeded,
        status.desired,
        status.failed,
        status.skipped
    );
    let reason = if ok { "JobCompleted" } else { "JobFailed" };
    let conditions = ended_conditions(old_conditions(list), ok, reason, &message, generation, now);
    let value = serde_json::json!({
        "timestamp": Time(result.finished),
        "success": status.succeeded,
        "failed": status.failed,
        "skipped": status.skipped,
        "conditions": conditions,
    });
    (value, ok, message)
}

/// One look at an ImageList.
///
/// # Errors
/// An API call failed; the controller retries after [`ERROR_RETRY`].
pub async fn reconcile(list: Arc<ImageList>, lc: Arc<ListContext>) -> Result<Action> {
    let ctx = &lc.ctx;
    // Decide only on a complete picture of the list's jobs (the store fills at start-up).
    if lc.jobs.wait_until_ready().await.is_err() {
        return Ok(Action::requeue(ERROR_RETRY));
    }
    let now = ctx.now();
    let step = decide(&list, &lc.jobs.state(), now);
    let name = list.name_any();
    tracing::debug!(imagelist = %name, ?step, "reconcile");
    match step {
        Step::WrongName => {
            let note = format!(
                "only the ImageList named {:?} is acted on; {name:?} is ignored",
                names::IMAGELIST_NAME
            );
            tracing::warn!(imagelist = %name, "Ignoring unsupported imagelist name");
            ctx.event(
                list_reference(&list),
                EventKind::Warning,
                "UnsupportedName",
                &note,
            )
            .await;
            Ok(Action::await_change())
        }
        Step::UpToDate => Ok(Action::await_change()),
        Step::AwaitJob(_) => Ok(Action::requeue(VANISHED_GRACE.unsigned_abs())),
        Step::Reject(why) => {
            let generation = list.metadata.generation.unwrap_or(1);
            let conditions = ended_conditions(
                old_conditions(&list),
                false,
                "InvalidSpec",
                &why,
                generation,
                now,
            );
            patch_status(
                ctx,
                &list,
                serde_json::json!({"observedGeneration": generation, "conditions": conditions}),
            )
            .await?;
            tracing::warn!(imagelist = %name, reason = %why, "ImageList rejected; nothing removed");
            ctx.event(
                list_reference(&list),
                EventKind::Warning,
                "InvalidSpec",
                &format!("{why}; nothing was removed"),
            )
            .await;
            Ok(Action::await_change())
        }
        Step::Missing { job, overdue } => {
            if let Some(run) = records::find(ctx, &job).await? {
                return record(ctx, &list, &JobResult::of_run(&run), now).await;
            }
            if !overdue {
                return Ok(Action::requeue(VANISHED_GRACE.unsigned_abs()));
            }
            let generation = list.metadata.generation.unwrap_or(1);
            let message = format!("ImageJob {job} is gone and left no result in the history");
            let conditions = ended_conditions(
                old_conditions(&list),
                false,
                "JobDeleted",
                &message,
                generation,
                now,
            );
            patch_status(ctx, &list, serde_json::json!({ "conditions": conditions })).await?;
            ctx.event(
                list_reference(&list),
                EventKind::Warning,
                "JobDeleted",
                &message,
            )
            .await;
            Ok(Action::await_change())
        }
        Step::Record(job_name) => {
            let jobs = lc.jobs.state();
            let Some(job) = jobs.iter().find(|j| j.name_any() == job_name) else {
                return Ok(Action::requeue(Duration::ZERO));
            };
            // The ImageJob controller wrote the run into the history before marking it
            // finished; the list carries the counts.
            record(ctx, &list, &JobResult::of_job(job, now), now).await
        }
        Step::Start { images, generation } => start(ctx, &list, images, generation, now).await,
    }
}

async fn record(
    ctx: &Context,
    list: &ImageList,
    result: &JobResult,
    now: Timestamp,
) -> Result<Action> {
    let (status, ok, message) = result_status(list, result, now);
    patch_status(ctx, list, status).await?;
    tracing::info!(imagelist = %list.name_any(), imagejob = %result.job, ok, "{message}");
    let (kind, reason) = if ok {
        (EventKind::Normal, "JobCompleted")
    } else {
        (EventKind::Warning, "JobFailed")
    };
    ctx.event(list_reference(list), kind, reason, &message)
        .await;
    Ok(Action::await_change())
}

async fn start(
    ctx: &Context,
    list: &ImageList,
    images: Vec<String>,
    generation: i64,
    now: Timestamp,
) -> Result<Action> {
    let found = exclusions::load(ctx).await?;
    if !found.usable() {
        let problem = found.problem();
        let already = condition(list.status.as_ref(), FAILED).is_some_and(|c| {
            c.status == "True" && c.reason == "ExclusionListInvalid" && c.message == problem
        });
        if !already {
            exclusions::report(ctx, &found).await;
            let conditions = ended_conditions(
                old_conditions(list),
                false,
                "ExclusionListInvalid",
                &problem,
                generation,
                now,
            );
            patch_status(ctx, list, serde_json::json!({ "conditions": conditions })).await?;
            ctx.event(
                list_reference(list),
                EventKind::Warning,
                "ExclusionListInvalid",
                &problem,
            )
            .await;
        }
        return Ok(Action::requeue(BLOCKED_RETRY));
    }
    let mut owner = list
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Object {
            object: format!("ImageList {}", list.name_any()),
            message: "has no uid".to_owned(),
        })?;
    // `blockOwnerDeletion` would need the imagelists/finalizers permission.
    owner.block_owner_deletion = None;
    let job = super::create_job(
        ctx,
        JobRequest {
            mode: JobMode::Manual { images },
            owner: Some(owner),
            exclusions: found.valid,
        },
    )
    .await?;
    let conditions = started_conditions(old_conditions(list), &job, generation, now);
    patch_status(
        ctx,
        list,
        serde_json::json!({"observedGeneration": generation, "conditions": conditions}),
    )
    .await?;
    tracing::info!(imagelist = %list.name_any(), imagejob = %job, generation, "started manual run");
    ctx.event(
        list_reference(list),
        EventKind::Normal,
        "JobStarted",
        &format!("ImageJob {job} started for generation {generation}"),
    )
    .await;
    Ok(Action::await_change())
}

fn error_policy(list: Arc<ImageList>, error: &Error, _lc: Arc<ListContext>) -> Action {
    tracing::warn!(imagelist = %list.name_any(), %error, "ImageList reconcile failed; retrying");
    Action::requeue(ERROR_RETRY)
}

/// Runs the ImageList controller until `shutdown` turns true: ImageLists, the ImageJobs
/// labelled as theirs, and the labelled exclusion ConfigMaps (a fix unblocks a waiting run).
///
/// # Errors
/// None today; the signature leaves room for start-up checks.
pub async fn run(ctx: Arc<Context>, shutdown: watch::Receiver<bool>) -> Result<()> {
    let client = ctx.client.clone();
    let (jobs, writer) = reflector::store::<ImageJob>();
    let job_selector = format!("{}={}", names::JOB_OWNER_LABEL, names::JOB_OWNER_IMAGELIST);
    let job_stream = watcher(
        Api::<ImageJob>::all(client.clone()),
        watcher::Config::default().labels(&job_selector),
    )
    .default_backoff()
    .reflect(writer)
    .touched_objects();
    let exclusion_selector = format!("{}=true", names::EXCLUDE_LIST_LABEL);
    let lc = Arc::new(ListContext {
        ctx: ctx.clone(),
        jobs,
    });
    Controller::new(
        Api::<ImageList>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns_stream(job_stream)
    .watches(
        Api::<ConfigMap>::namespaced(client, &ctx.namespace),
        watcher::Config::default().labels(&exclusion_selector),
        |_| Some(ObjectRef::<ImageList>::new(names::IMAGELIST_NAME)),
    )
    .graceful_shutdown_on(stopped(shutdown))
    .run(reconcile, error_policy, lc)
    .for_each(|result| async move {
        if let Err(error) = result {
            tracing::debug!(%error, "ImageList controller event");
        }
    })
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use drydock_api::config::Config;
    use drydock_api::imagejob::{ImageJobFields, ImageJobStatus};
    use drydock_api::imagelist::ImageListSpec;
    use drydock_kube::mock::{self, Exchange};
    use http::Method;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use kube::runtime::reflector::store::Writer;
    use serde_json::{Value, json};

    use super::*;
    use crate::controller::tests::{NS, context, t0};

    const EVENTS: &str = "/api/v1/namespaces/default/events?";
    const STATUS: &str = "/apis/eraser.sh/v1/imagelists/imagelist/status?&fieldManager=drydock";

    fn list(name: &str, uid: &str, generation: i64, images: &[&str]) -> ImageList {
        let mut list = ImageList::new(
            name,
            ImageListSpec {
                images: images.iter().map(|s| (*s).to_owned()).collect(),
            },
        );
        list.metadata.uid = Some(uid.into());
        list.metadata.generation = Some(generation);
        list
    }

    fn handled(mut list: ImageList, generation: i64, running: Option<&str>) -> ImageList {
        let now = t0();
        let conditions = match running {
            Some(job) => started_conditions(vec![], job, generation, now),
            None => ended_conditions(
                vec![],
                true,
                "JobCompleted",
                "ImageJob old completed",
                generation,
                now,
            ),
        };
        list.status = Some(ImageListStatus {
            observed_generation: Some(generation),
            conditions,
            ..ImageListStatus::default()
        });
        list
    }

    fn job(name: &str, owner_uid: Option<&str>, label: &str, phase: JobPhase) -> ImageJob {
        let mut job = ImageJob::new(name, ImageJobFields {});
        job.metadata.uid = Some(format!("{name}-uid"));
        job.metadata.labels = Some([(names::JOB_OWNER_LABEL.to_owned(), label.to_owned())].into());
        job.metadata.owner_references = owner_uid.map(|uid| {
            vec![OwnerReference {
                api_version: "eraser.sh/v1".into(),
                kind: "ImageList".into(),
                name: "imagelist".into(),
                uid: uid.into(),
                controller: Some(true),
                block_owner_deletion: None,
            }]
        });
        job.status = Some(ImageJobStatus {
            desired: 4,
            succeeded: 2,
            failed: 1,
            skipped: 1,
            phase,
            delete_after: None,
        });
        job
    }

    fn manual(name: &str, phase: JobPhase) -> ImageJob {
        job(name, Some("list-uid"), names::JOB_OWNER_IMAGELIST, phase)
    }

    fn automatic(name: &str, phase: JobPhase) -> ImageJob {
        job(name, None, names::JOB_OWNER_COLLECTOR, phase)
    }

    fn store(jobs: Vec<ImageJob>) -> Store<ImageJob> {
        let mut writer: Writer<ImageJob> = Writer::default();
        writer.apply_watcher_event(&watcher::Event::Init);
        for job in jobs {
            writer.apply_watcher_event(&watcher::Event::InitApply(job));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        writer.as_reader()
    }

    fn arcs(jobs: Vec<ImageJob>) -> Vec<Arc<ImageJob>> {
        jobs.into_iter().map(Arc::new).collect()
    }

    async fn run_reconcile(
        list: ImageList,
        jobs: Vec<ImageJob>,
        exchanges: Vec<Exchange>,
    ) -> Action {
        let (client, verifier) = mock::client(exchanges);
        let lc = Arc::new(ListContext {
            ctx: Arc::new(context(client, Config::default())),
            jobs: store(jobs),
        });
        let action = reconcile(Arc::new(list), lc).await.unwrap();
        verifier.finish().await;
        action
    }

    fn event(reason: &str, kind: &str) -> Exchange {
        Exchange::new(
            Method::POST,
            EVENTS,
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}}),
        )
        .with_body(json!({"reason": reason, "type": kind,
                              "involvedObject": {"kind": "ImageList", "name": "imagelist"}}))
    }

    fn list_reply() -> Value {
        json!({"apiVersion": "eraser.sh/v1", "kind": "ImageList", "metadata": {"name": "imagelist"},
               "spec": {"images": []}})
    }

    fn exclusion_lists(items: Value) -> Vec<Exchange> {
        vec![
            Exchange::new(
                Method::GET,
                format!(
                    "/api/v1/namespaces/{NS}/configmaps?&labelSelector=eraser.sh%2Fexclude.list%3Dtrue"
                ),
                json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {}, "items": items}),
            ),
            Exchange::new(
                Method::GET,
                format!("/api/v1/namespaces/{NS}/configmaps/eraser-system-exclusion"),
                json!({}),
            )
            .failing(404, "NotFound", "not found"),
        ]
    }

    fn job_creation(name: &str) -> Vec<Exchange> {
        let owner = json!({"metadata": {"ownerReferences": [{"apiVersion": "eraser.sh/v1", "kind": "ImageJob",
                                                              "name": name, "uid": "job-uid", "controller": true}]}});
        vec![
            Exchange::new(
                Method::POST,
                format!("/api/v1/namespaces/{NS}/configmaps?&fieldManager=drydock"),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "imagelist-abcde"}}),
            )
            .with_body(json!({"data": {"images": "[\"docker.io/library/alpine:3.7.3\"]"}})),
            Exchange::new(
                Method::POST,
                format!("/api/v1/namespaces/{NS}/podtemplates?&fieldManager=drydock"),
                json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": name}}),
            ),
            Exchange::new(
                Method::POST,
                "/apis/eraser.sh/v1/imagejobs?&fieldManager=drydock",
                json!({"apiVersion": "eraser.sh/v1", "kind": "ImageJob",
                       "metadata": {"name": name, "uid": "job-uid"}}),
            )
            .with_body(json!({"metadata": {
                "labels": {"eraser.sh/job-owner": "imagelist-controller"},
                "ownerReferences": [{"apiVersion": "eraser.sh/v1", "kind": "ImageList",
                                     "name": "imagelist", "uid": "list-uid", "controller": true}]
            }})),
            Exchange::new(
                Method::PATCH,
                format!("/api/v1/namespaces/{NS}/podtemplates/{name}?&fieldManager=drydock"),
                json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": name}}),
            )
            .with_body(owner.clone()),
            Exchange::new(
                Method::PATCH,
                format!("/api/v1/namespaces/{NS}/configmaps/imagelist-abcde?&fieldManager=drydock"),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "imagelist-abcde"}}),
            )
            .with_body(owner),
        ]
    }

    #[test]
    fn images_must_be_present_and_valid() {
        assert!(validate_images(&[]).unwrap_err().contains("empty"));
        let ok: Vec<String> = [
            "docker.io/library/alpine:3.7.3",
            "alpine:3.7.3",
            "*",
            "sha256:2834dc507516af02784808c5f48b7cbe38b8ed5d0f4837f16e78d00deb7e7767",
            "2834dc507516af02784808c5f48b7cbe38b8ed5d0f4837f16e78d00deb7e7767",
            "nginx@sha256:2834dc507516af02784808c5f48b7cbe38b8ed5d0f4837f16e78d00deb7e7767",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(validate_images(&ok), Ok(()));
        let bad = vec!["alpine:3.7.3".to_owned(), "Not An Image!".to_owned()];
        let err = validate_images(&bad).unwrap_err();
        assert!(
            err.starts_with("spec.images[1] \"Not An Image!\" is not an image"),
            "{err}"
        );
    }

    #[test]
    fn a_list_runs_once_per_generation_and_delete_plus_create_runs_again() {
        let new = list("imagelist", "list-uid", 1, &["alpine"]);
        assert!(matches!(
            decide(&new, &[], t0()),
            Step::Start { generation: 1, .. }
        ));
        let done = handled(new.clone(), 1, None);
        assert_eq!(
            decide(&done, &[], t0()),
            Step::UpToDate,
            "re-apply or restart"
        );
        let mut edited = done.clone();
        edited.metadata.generation = Some(2);
        assert!(matches!(
            decide(&edited, &[], t0()),
            Step::Start { generation: 2, .. }
        ));
        // Re-created: a new uid, generation 1, no status; the old list's finished job is not its.
        let recreated = list("imagelist", "new-uid", 1, &["alpine"]);
        let old_job = arcs(vec![manual("imagejob-old", JobPhase::Completed)]);
        assert!(matches!(
            decide(&recreated, &old_job, t0()),
            Step::Start { .. }
        ));
    }

    #[test]
    fn a_spec_change_during_a_run_waits_for_it_then_records_then_runs_again() {
        let mut edited = handled(
            list("imagelist", "list-uid", 1, &["alpine"]),
            1,
            Some("imagejob-a"),
        );
        edited.metadata.generation = Some(2);
        let running = arcs(vec![manual("imagejob-a", JobPhase::Running)]);
        assert_eq!(
            decide(&edited, &running, t0()),
            Step::AwaitJob("imagejob-a".into())
        );
        let done = arcs(vec![manual("imagejob-a", JobPhase::Completed)]);
        assert_eq!(
            decide(&edited, &done, t0()),
            Step::Record("imagejob-a".into())
        );
        let (status, ok, _) = result_status(&edited, &JobResult::of_job(&done[0], t0()), t0());
        assert!(ok);
        let mut recorded = edited.clone();
        let mut new_status = recorded.status.clone().unwrap();
        new_status.conditions = serde_json::from_value(status["conditions"].clone()).unwrap();
        recorded.status = Some(new_status);
        assert_eq!(running_job(recorded.status.as_ref()), None);
        assert!(matches!(
            decide(&recorded, &done, t0()),
            Step::Start { generation: 2, .. }
        ));
    }

    #[test]
    fn manual_runs_ignore_the_schedules_jobs() {
        // Eraser's ImageList controller counted every ImageJob as its own.
        let new = list("imagelist", "list-uid", 1, &["alpine"]);
        let foreign = arcs(vec![
            automatic("imagejob-auto", JobPhase::Running),
            job(
                "imagejob-other",
                Some("other-uid"),
                names::JOB_OWNER_IMAGELIST,
                JobPhase::Running,
            ),
        ]);
        assert!(matches!(decide(&new, &foreign, t0()), Step::Start { .. }));
    }

    #[test]
    fn a_started_job_missing_from_the_cache_is_awaited_then_declared_gone() {
        let list = handled(
            list("imagelist", "list-uid", 1, &["alpine"]),
            1,
            Some("imagejob-a"),
        );
        let missing = |overdue| Step::Missing {
            job: "imagejob-a".into(),
            overdue,
        };
        assert_eq!(decide(&list, &[], t0()), missing(false));
        let later = t0().checked_add(SignedDuration::from_mins(3)).unwrap();
        assert_eq!(decide(&list, &[], later), missing(true));
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_run_of_a_new_list_creates_a_job_and_records_the_generation() {
        let mut calls = exclusion_lists(json!([]));
        calls.extend(job_creation("imagejob-m1"));
        calls.push(
            Exchange::new(Method::PATCH, STATUS, list_reply()).with_body(json!({"status": {
                "observedGeneration": 1,
                "conditions": started_conditions(vec![], "imagejob-m1", 1, t0()),
            }})),
        );
        calls.push(event("JobStarted", "Normal"));
        let new = list(
            "imagelist",
            "list-uid",
            1,
            &["docker.io/library/alpine:3.7.3"],
        );
        run_reconcile(new, vec![], calls).await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_unchanged_list_makes_no_call_at_all_after_a_restart() {
        // Eraser #1169-like: its controller re-ran the list on every manager start.
        let done = handled(list("imagelist", "list-uid", 3, &["alpine"]), 3, None);
        let old = manual("imagejob-old", JobPhase::Completed);
        let action = run_reconcile(done, vec![old], vec![]).await;
        assert_eq!(action, Action::await_change());
        let running = handled(
            list("imagelist", "list-uid", 3, &["alpine"]),
            3,
            Some("imagejob-a"),
        );
        run_reconcile(
            running,
            vec![manual("imagejob-a", JobPhase::Running)],
            vec![],
        )
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn another_name_gets_only_a_warning_event() {
        let other = list("my-list", "other-uid", 1, &["alpine"]);
        let calls = vec![
            Exchange::new(
                Method::POST,
                EVENTS,
                json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}}),
            )
            .with_body(json!({"type": "Warning", "reason": "UnsupportedName",
                                  "involvedObject": {"kind": "ImageList", "name": "my-list"}})),
        ];
        run_reconcile(other, vec![], calls).await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_list_gets_a_condition_and_an_event_and_no_job() {
        let empty = list("imagelist", "list-uid", 1, &[]);
        let calls = vec![
            Exchange::new(Method::PATCH, STATUS, list_reply()).with_body(json!({"status": {
                "observedGeneration": 1,
                "conditions": ended_conditions(vec![], false, "InvalidSpec",
                                               "spec.images is empty: nothing to remove", 1, t0()),
            }})),
            event("InvalidSpec", "Warning"),
        ];
        run_reconcile(empty, vec![], calls).await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreadable_exclusion_list_blocks_the_run_with_events() {
        let new = list(
            "imagelist",
            "list-uid",
            1,
            &["docker.io/library/alpine:3.7.3"],
        );
        let broken = json!({"metadata": {"name": "excluded", "namespace": NS},
                            "data": {"sample.json": "{\"excluded\": ["}});
        let problem =
            exclusions::classify(&[serde_json::from_value(broken.clone()).unwrap()], None)
                .problem();
        let mut calls = exclusion_lists(json!([broken]));
        calls.push(
            Exchange::new(Method::POST, format!("/api/v1/namespaces/{NS}/events?"), json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}}))
                .with_body(json!({"type": "Warning", "reason": "InvalidExclusionList",
                                  "involvedObject": {"kind": "ConfigMap", "name": "excluded", "namespace": NS}})),
        );
        calls.push(
            Exchange::new(Method::PATCH, STATUS, list_reply()).with_body(json!({"status": {
                "conditions": ended_conditions(vec![], false, "ExclusionListInvalid", &problem, 1, t0()),
            }})),
        );
        calls.push(event("ExclusionListInvalid", "Warning"));
        let action = run_reconcile(new, vec![], calls).await;
        assert_eq!(action, Action::requeue(BLOCKED_RETRY));
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_job_lands_in_the_status_and_an_event() {
        let running = handled(
            list("imagelist", "list-uid", 1, &["alpine"]),
            1,
            Some("imagejob-a"),
        );
        let calls = vec![
            Exchange::new(Method::PATCH, STATUS, list_reply()).with_body(json!({"status": {
                "timestamp": "2026-03-01T03:00:00Z", "success": 2, "failed": 1, "skipped": 1,
                "conditions": ended_conditions(
                    started_conditions(vec![], "imagejob-a", 1, t0()),
                    false,
                    "JobFailed",
                    "ImageJob imagejob-a failed: 2 of 4 nodes succeeded, 1 failed, 1 skipped",
                    1,
                    t0(),
                ),
            }})),
            event("JobFailed", "Warning"),
        ];
        run_reconcile(running, vec![manual("imagejob-a", JobPhase::Failed)], calls).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_deleted_before_it_was_seen_finishing_is_read_back_from_the_history() {
        // delayOnSuccess 0s: the job can be gone before this controller sees it finish; the
        // ImageJob controller wrote the run into the history before marking it finished.
        let running = handled(
            list("imagelist", "list-uid", 1, &["alpine"]),
            1,
            Some("imagejob-a"),
        );
        let finished: Timestamp = "2026-03-01T02:58:00Z".parse().unwrap();
        let run = history::Run {
            job: "imagejob-a".into(),
            mode: history::RunMode::Manual,
            started: "2026-03-01T02:50:00Z".parse().unwrap(),
            finished,
            phase: history::RunPhase::Completed,
            desired: 3,
            succeeded: 2,
            failed: 0,
            skipped: 1,
            nodes: vec![],
        };
        let history_json = history::History { runs: vec![run] }.to_json();
        let history_path =
            format!("/api/v1/namespaces/{NS}/configmaps/drydock-image-cleaner-history");
        let message = "ImageJob imagejob-a completed: 2 of 3 nodes succeeded, 0 failed, 1 skipped";
        let calls = vec![
            Exchange::new(
                Method::GET,
                history_path.clone(),
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "drydock-image-cleaner-history", "namespace": NS},
                       "data": {"history.json": history_json}}),
            ),
            Exchange::new(Method::PATCH, STATUS, list_reply()).with_body(json!({"status": {
                "timestamp": "2026-03-01T02:58:00Z", "success": 2, "failed": 0, "skipped": 1,
                "conditions": ended_conditions(
                    started_conditions(vec![], "imagejob-a", 1, t0()),
                    true,
                    "JobCompleted",
                    message,
                    1,
                    t0(),
                ),
            }})),
            event("JobCompleted", "Normal"),
        ];
        run_reconcile(running.clone(), vec![], calls).await;
        // Not in the history either (just created, not cached yet): look again later.
        let calls = vec![Exchange::new(Method::GET, history_path, json!({})).failing(
            404,
            "NotFound",
            "not found",
        )];
        let action = run_reconcile(running, vec![], calls).await;
        assert_eq!(action, Action::requeue(VANISHED_GRACE.unsigned_abs()));
    }
}
