//! The ImageList controller (manual mode).
//!
//! Only the ImageList named `imagelist` is acted on; any other name gets a warning Event and
//! nothing else. A run starts once per `metadata.generation`: on creation (a new object starts
//! at generation 1, so delete + re-create runs again) and on every spec change — never on a
//! re-apply of an unchanged list, a status update, a failed write or a manager restart (Eraser
//! re-ran the list on every restart because it remembered nothing). A spec change during a run
//! waits for that run, then starts another.
//!
//! The bookkeeping ("generation G was run, by job J") lives where no CRD schema prunes it:
//! the job's labels (`drydock.dev/imagelist-uid`, `drydock.dev/imagelist-generation`) while it
//! exists, then its run in the history ConfigMap and that ConfigMap's
//! `drydock.dev/imagelist-handled` annotation. Eraser's structural ImageList status keeps only
//! `failed`, `skipped`, `success` and `timestamp` (all required), so every status write carries
//! those four and nothing is decided from `observedGeneration` or the conditions (written for
//! Drydock's own CRD, pruned by Eraser's). Before creating a job the controller lists its jobs
//! on the API server and adopts the one already started for the generation
//! ([`super::preflight`]); only one of its jobs runs at a time, and the circuit breaker
//! ([`crate::manager::breaker`]) stops starts that come too fast. A status or Event write that fails is
//! retried as that write, or (refused for good: 422, 403) reported once and skipped.
//!
//! An empty `spec.images` or an invalid entry is rejected with a condition and a warning Event;
//! an unreadable exclusion list blocks the run ([`super::exclusions`]). When the list's job
//! finishes, its counts go into `ImageList.status` (Eraser's fields, `timestamp` = the run's end
//! as the history holds it, which is also how a recorded result is recognised), a `Succeeded`
//! or `Failed` condition and an Event. The controller only ever looks at ImageJobs that this
//! ImageList owns; the schedule's jobs are not its business, nor its jobs the schedule's.
//!
//! Drydock's annotation `drydock.dev/dry-run: "true"` on the list makes its runs dry runs (the
//! removers remove nothing and report what they would remove). A generation is handled per
//! kind: after a dry run, removing the annotation starts the real run of the same generation.
//! Any other value than `"true"` or `"false"` starts nothing and is reported once, naming the
//! annotation; fixing it (which changes no generation) is seen at once.
//!
//! The decisions are the pure [`decide`]; [`reconcile`] is the IO around it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use drydock_api::imagejob::{ImageJob, JobPhase};
use drydock_api::imagelist::ALL_IMAGES;
use drydock_api::imagelist::{ImageList, ImageListStatus};
use drydock_api::names::{self, state as st};
use drydock_cri::Reference;
use drydock_cri::reference::is_digest;
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use tokio::sync::watch;

use super::exclusions;
use super::{
    Context, EventKind, JobMode, JobRequest, Preflight, records, status_apply, status_apply_params,
    stopped,
};
use crate::manager::history::{self, Handled};
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
/// When to look again after adopting a job the cache does not show yet (its watch event
/// usually comes sooner).
pub const ADOPT_RECHECK: Duration = Duration::from_secs(5);

/// How long to wait before looking again while another job of this controller runs (its end
/// triggers a look sooner when it is the list's own).
pub const BUSY_RETRY: Duration = Duration::from_secs(30);
/// Decisions acted on in one look (read the bookkeeping, record a result, then start): a bound
/// keeps a bug from spinning.
const MAX_STEPS: usize = 4;

/// What the ImageList controller shares.
#[derive(Debug)]
pub struct ListContext {
    /// The manager's shared context.
    pub ctx: Arc<Context>,
    /// The ImageJobs labelled `eraser.sh/job-owner=imagelist-controller`.
    pub jobs: Store<ImageJob>,
    memory: Mutex<ListMemory>,
}

impl ListContext {
    /// A context over `jobs` with an empty memory (as after a restart).
    #[must_use]
    pub fn new(ctx: Arc<Context>, jobs: Store<ImageJob>) -> Self {
        Self {
            ctx,
            jobs,
            memory: Mutex::new(ListMemory::default()),
        }
    }

    fn memory(&self) -> MutexGuard<'_, ListMemory> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the controller remembers between looks. Everything that decides whether a run starts
/// is also in the cluster (the job's labels, the history ConfigMap); this only saves calls and
/// repeated reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListMemory {
    /// The ImageList uid whose bookkeeping was read from the history ConfigMap.
    pub looked: Option<String>,
    /// The last generation handled, as this process knows it.
    pub handled: Option<Handled>,
    /// When this process started (or adopted) `handled.job`: a job missing from the cache and
    /// from the history is only declared gone after [`VANISHED_GRACE`].
    pub started_at: Option<Timestamp>,
    /// The result of `handled.job` as the history holds it.
    pub result: Option<JobResult>,
    /// Jobs whose result is in the list's status (or whose status write was refused for good).
    pub recorded: BTreeSet<String>,
    /// The uid and generation last rejected as invalid (reported once).
    pub rejected: Option<(String, i64)>,
    /// The last invalid `drydock.dev/dry-run` value reported (reported once).
    pub bad_dry_run: Option<String>,
    /// Status writes the API server refused (422 under Eraser's CRD, 403 without the right),
    /// by what was written: each is reported once, then skipped quietly.
    pub refused: BTreeSet<String>,
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
    /// Read the bookkeeping from the history ConfigMap (once per process and list).
    Look,
    /// The list's last run may not be in the status yet: put its result there (a no-op when
    /// `status.timestamp` already is the run's end).
    Record(String),
    /// The spec cannot be run: why.
    Reject(String),
    /// The `drydock.dev/dry-run` annotation is neither `"true"` nor `"false"`: why. Nothing
    /// starts, and nothing is recorded as handled.
    BadDryRun(String),
    /// Start a run with these images for this generation.
    Start {
        /// `spec.images`.
        images: Vec<String>,
        /// `metadata.generation`.
        generation: i64,
        /// Whether the run is a dry run (the list's `drydock.dev/dry-run` annotation).
        dry_run: bool,
    },
}

/// Reads the list's `drydock.dev/dry-run` annotation: absent or `"false"` is a real run,
/// `"true"` a dry run.
///
/// # Errors
/// Any other value, with a message naming the annotation.
pub fn dry_run_wanted(list: &ImageList) -> Result<bool, String> {
    match list
        .annotations()
        .get(names::DRY_RUN_LABEL)
        .map(|v| v.trim())
    {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!(
            "metadata.annotations[{}]: {other:?} is neither \"true\" nor \"false\"; nothing started",
            names::DRY_RUN_LABEL
        )),
    }
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

/// The later of two records of the same list (by generation).
fn newer(a: Option<Handled>, b: Option<Handled>) -> Option<Handled> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.generation > a.generation { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Decides what to do with `list`, given the ImageJobs in the cache (any owner; only the
/// list's own are looked at) and what this process remembers (pure).
///
/// A generation counts as handled when a job was started for it: the job's labels say so while
/// it exists, the history afterwards, and (with Drydock's own CRD, or lists handled by earlier
/// versions) `status.observedGeneration`. Nothing here depends on a status field that Eraser's
/// structural CRD prunes.
#[must_use]
pub fn decide(list: &ImageList, jobs: &[Arc<ImageJob>], memory: &ListMemory) -> Step {
    if list.name_any() != names::IMAGELIST_NAME {
        return Step::WrongName;
    }
    let Some(uid) = list.metadata.uid.as_deref() else {
        return Step::UpToDate;
    };
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
    if memory.looked.as_deref() != Some(uid) {
        return Step::Look;
    }
    let remembered = memory.handled.clone().filter(|h| h.uid == uid);
    let latest = own
        .iter()
        .filter_map(|job| Handled::of_job(job))
        .fold(remembered, |acc, h| newer(acc, Some(h)));
    if let Some(latest) = &latest
        && !memory.recorded.contains(&latest.job)
    {
        return Step::Record(latest.job.clone());
    }
    let dry_run = match dry_run_wanted(list) {
        Ok(dry_run) => dry_run,
        Err(why) => return Step::BadDryRun(why),
    };
    let generation = list.metadata.generation.unwrap_or(1);
    let observed = list.status.as_ref().and_then(|s| s.observed_generation);
    // A run of the other kind (a dry run when a real one is wanted, or the reverse) does not
    // handle the generation.
    let handled = match latest {
        Some(h) if h.dry_run != dry_run => None,
        latest => latest.map(|h| h.generation).max(observed),
    };
    if handled.is_some_and(|h| h >= generation)
        || memory.rejected.as_ref() == Some(&(uid.to_owned(), generation))
    {
        return Step::UpToDate;
    }
    match validate_images(&list.spec.images) {
        Ok(()) => Step::Start {
            images: list.spec.images.clone(),
            generation,
            dry_run,
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

/// The whole status the manager owns after one write (pure): the part being written over the
/// list's current status. Every status write is a server-side apply, which removes a field
/// this manager wrote before and leaves out now, so nothing written earlier may be missing.
///
/// Valid under Eraser's structural CRD as under Drydock's: Eraser's four required fields
/// (`timestamp`, `success`, `failed`, `skipped`) come from `result`, else are carried over from
/// the current status; Drydock's `conditions` (the whole list, `conditions` being the new one)
/// and `observedGeneration` (`observed_generation`, else the current one) ride along (Eraser's
/// CRD prunes them, and nothing is decided from them). Only a list that never finished a run
/// and has no result to carry lacks the four fields; Eraser's CRD refuses that write, which is
/// then reported once ([`ListMemory::refused`]).
#[must_use]
pub fn status_body(
    list: &ImageList,
    result: Option<&JobResult>,
    conditions: Vec<Condition>,
    observed_generation: Option<i64>,
) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    let carried = list.status.as_ref().and_then(|s| {
        s.timestamp
            .as_ref()
            .map(|t| (t.0, s.success, s.failed, s.skipped))
    });
    let counts = result
        .map(|r| (r.finished, r.succeeded, r.failed, r.skipped))
        .or(carried);
    if let Some((timestamp, success, failed, skipped)) = counts {
        body.insert("timestamp".into(), serde_json::json!(Time(timestamp)));
        body.insert("success".into(), success.into());
        body.insert("failed".into(), failed.into());
        body.insert("skipped".into(), skipped.into());
    }
    let observed_generation =
        observed_generation.or_else(|| list.status.as_ref().and_then(|s| s.observed_generation));
    if let Some(generation) = observed_generation {
        body.insert("observedGeneration".into(), generation.into());
    }
    body.insert("conditions".into(), serde_json::json!(conditions));
    serde_json::Value::Object(body)
}

/// `list` as the API server holds it after `status` was written (pure): what the next write
/// of the same look builds on, so a start right after a result keeps that result.
pub fn written(list: &mut ImageList, status: &serde_json::Value) {
    match serde_json::from_value::<ImageListStatus>(status.clone()) {
        Ok(status) => list.status = Some(status),
        // Not reached: every body comes from `status_body`, which writes the status's fields.
        Err(error) => tracing::debug!(%error, "a status write does not read back as a status"),
    }
}

/// The status fields Eraser's ImageList CRD declares (all four required).
pub const ERASER_STATUS_FIELDS: [&str; 4] = ["timestamp", "success", "failed", "skipped"];

/// What the API server says when an apply names a field the installed CRD does not declare
/// (`failed to create typed patch object: .status.conditions: field not declared in schema`).
const UNDECLARED_FIELD: &str = "field not declared in schema";

/// Whether the API server refused an apply for naming a field its CRD does not declare: under
/// Eraser's ImageList CRD, Drydock's `conditions` and `observedGeneration`. A merge patch had
/// them pruned; an apply is refused whole (500, on the API servers tried).
fn undeclared_field(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.message.contains(UNDECLARED_FIELD))
}

/// `status` with only the fields Eraser's CRD declares (pure): what is written when the
/// installed CRD is Eraser's.
#[must_use]
pub fn eraser_fields(status: &serde_json::Value) -> serde_json::Value {
    let kept = status.as_object().map(|fields| {
        fields
            .iter()
            .filter(|(name, _)| ERASER_STATUS_FIELDS.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect::<serde_json::Map<_, _>>()
    });
    serde_json::Value::Object(kept.unwrap_or_default())
}

/// A write the API server refuses for good (it would be refused again unchanged): 422, the
/// status does not fit the installed CRD's schema; 403, the manager's role lacks the right.
fn refused_for_good(error: &kube::Error) -> bool {
    use drydock_kube::status::FORBIDDEN;
    /// HTTP Unprocessable Entity: the object is invalid under the CRD's schema.
    const INVALID: u16 = 422;
    matches!(error, kube::Error::Api(s) if s.code == FORBIDDEN || s.code == INVALID)
}

/// How a status write went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// Stored.
    Done,
    /// Refused for good (reported once); the caller goes on without it.
    Refused,
}

/// Writes `status`, the whole status from [`status_body`], by server-side apply of the status
/// subresource; once stored it becomes `list`'s status ([`written`]). Under Eraser's CRD, which
/// refuses an apply naming Drydock's fields, it is written again with Eraser's four only
/// ([`eraser_fields`]); asking first keeps Drydock's fields wherever its own CRD is installed,
/// also after an upgrade from Eraser's. A refusal for good is reported once per `what` and
/// returned as [`Written::Refused`]; anything else (a timeout, a 5xx) is an error, so the
/// caller retries this write, and only this write.
async fn patch_status(
    lc: &ListContext,
    list: &mut ImageList,
    what: &str,
    mut status: serde_json::Value,
) -> Result<Written> {
    let api: Api<ImageList> = Api::all(lc.ctx.client.clone());
    let name = list.name_any();
    let params = status_apply_params();
    let mut applied = api
        .patch_status(&name, &params, &status_apply::<ImageList>(&status))
        .await;
    if applied.as_ref().is_err_and(undeclared_field) {
        tracing::debug!(imagelist = %name, write = what, "the ImageList CRD declares only Eraser's status fields; writing those");
        status = eraser_fields(&status);
        applied = api
            .patch_status(&name, &params, &status_apply::<ImageList>(&status))
            .await;
    }
    match applied {
        Ok(_) => {
            written(list, &status);
            Ok(Written::Done)
        }
        Err(error) if refused_for_good(&error) => {
            if lc.memory().refused.insert(what.to_owned()) {
                tracing::warn!(imagelist = %name, write = what, error = %drydock_kube::status::message(&error),
                    "the API server refuses this ImageList status write; going on without it (reported once)");
            }
            Ok(Written::Refused)
        }
        Err(source) => Err(Error::Kube {
            action: format!("update the status of ImageList {name} ({what})"),
            source: Box::new(source),
        }),
    }
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

/// The result of a finished job as the ImageList status carries it (pure): the status body,
/// whether it succeeded, and the message. `generation` is the one the job ran.
#[must_use]
pub fn result_status(
    list: &ImageList,
    result: &JobResult,
    generation: i64,
    now: Timestamp,
) -> (serde_json::Value, bool, String) {
    let ok = result.completed;
    let message = format!(
        "ImageJob {} {}: {} of {} nodes succeeded, {} failed, {} skipped",
        result.job,
        if ok { "completed" } else { "failed" },
        result.succeeded,
        result.desired,
        result.failed,
        result.skipped
    );
    let reason = if ok { "JobCompleted" } else { "JobFailed" };
    let conditions = ended_conditions(old_conditions(list), ok, reason, &message, generation, now);
    let value = status_body(list, Some(result), conditions, Some(generation));
    (value, ok, message)
}

/// Whether `status` already carries `result`: its `timestamp` is the run's end, to the second
/// (the API server stores `metav1.Time` in whole seconds; the history keeps nanoseconds).
fn carries(list: &ImageList, result: &JobResult) -> bool {
    list.status
        .as_ref()
        .and_then(|s| s.timestamp.as_ref())
        .is_some_and(|t| t.0.as_second() == result.finished.as_second())
}

/// One look at an ImageList.
///
/// # Errors
/// An API call failed; the controller retries after [`ERROR_RETRY`].
pub async fn reconcile(list: Arc<ImageList>, lc: Arc<ListContext>) -> Result<Action> {
    // Decide only on a complete picture of the list's jobs (the store fills at start-up).
    if lc.jobs.wait_until_ready().await.is_err() {
        return Ok(Action::requeue(ERROR_RETRY));
    }
    // The list as this look changes it: each status write builds on the one before.
    let mut list = ImageList::clone(&list);
    let name = list.name_any();
    for _ in 0..MAX_STEPS {
        let step = decide(&list, &lc.jobs.state(), &lc.memory());
        tracing::debug!(imagelist = %name, ?step, "reconcile");
        match step {
            Step::WrongName => {
                let note = format!(
                    "only the ImageList named {:?} is acted on; {name:?} is ignored",
                    names::IMAGELIST_NAME
                );
                tracing::warn!(imagelist = %name, "Ignoring unsupported imagelist name");
                lc.ctx
                    .event(
                        list_reference(&list),
                        EventKind::Warning,
                        "UnsupportedName",
                        &note,
                    )
                    .await;
                return Ok(Action::await_change());
            }
            Step::UpToDate => return Ok(Action::await_change()),
            Step::AwaitJob(_) => return Ok(Action::requeue(VANISHED_GRACE.unsigned_abs())),
            Step::Look => look(&lc, &list).await?,
            Step::Record(job) => {
                if let Some(action) = record(&lc, &mut list, &job).await? {
                    return Ok(action);
                }
            }
            Step::Reject(why) => return reject(&lc, &mut list, &why).await,
            Step::BadDryRun(why) => {
                let newly = lc.memory().bad_dry_run.replace(why.clone()) != Some(why.clone());
                if newly {
                    tracing::warn!(imagelist = %list.name_any(), reason = %why, "ImageList dry-run annotation invalid; nothing started");
                    lc.ctx
                        .event(
                            list_reference(&list),
                            EventKind::Warning,
                            "InvalidDryRun",
                            &why,
                        )
                        .await;
                }
                return Ok(Action::await_change());
            }
            Step::Start {
                images,
                generation,
                dry_run,
            } => {
                return start(&lc, &mut list, images, generation, dry_run).await;
            }
        }
    }
    Ok(Action::requeue(ERROR_RETRY))
}

/// Reads the bookkeeping of `list` from the history ConfigMap into the memory.
async fn look(lc: &ListContext, list: &ImageList) -> Result<()> {
    let uid = list.metadata.uid.clone().unwrap_or_default();
    let (history, handled) = records::read(&lc.ctx).await?;
    let mut memory = lc.memory();
    let stored = handled.filter(|h| h.uid == uid);
    memory.handled = newer(memory.handled.clone().filter(|h| h.uid == uid), stored);
    if let Some(job) = memory.handled.as_ref().map(|h| h.job.clone()) {
        memory.result = history
            .runs
            .iter()
            .rev()
            .find(|r| r.job == job)
            .map(JobResult::of_run);
    }
    memory.looked = Some(uid);
    Ok(())
}

/// The result of `job`: from the memory, the history, or (finished by someone else and never
/// recorded) the job itself. `None` while the job is neither finished nor anywhere.
async fn result_of(lc: &ListContext, job: &str) -> Result<Option<JobResult>> {
    let remembered = lc.memory().result.clone().filter(|r| r.job == job);
    if remembered.is_some() {
        return Ok(remembered);
    }
    if let Some(run) = records::find(&lc.ctx, job).await? {
        let result = JobResult::of_run(&run);
        lc.memory().result = Some(result.clone());
        return Ok(Some(result));
    }
    let cached = lc.jobs.state();
    Ok(cached
        .iter()
        .find(|j| j.name_any() == job && finished(j))
        .map(|j| JobResult::of_job(j, lc.ctx.now())))
}

/// Puts the result of the list's last run into its status (once). Returns `None` to go on
/// deciding, or when to look again.
async fn record(lc: &ListContext, list: &mut ImageList, job: &str) -> Result<Option<Action>> {
    let ctx = &lc.ctx;
    let now = ctx.now();
    let generation = lc
        .memory()
        .handled
        .as_ref()
        .filter(|h| h.job == job)
        .map(|h| h.generation)
        .or_else(|| {
            lc.jobs
                .state()
                .iter()
                .find(|j| j.name_any() == job)
                .and_then(|j| Handled::of_job(j))
                .map(|h| h.generation)
        })
        .unwrap_or_else(|| list.metadata.generation.unwrap_or(1));
    let result = match result_of(lc, job).await? {
        Some(result) => result,
        None => {
            let started = lc.memory().started_at.unwrap_or(now);
            if now.duration_since(started) <= VANISHED_GRACE {
                // Just created and not cached yet.
                return Ok(Some(Action::requeue(VANISHED_GRACE.unsigned_abs())));
            }
            return vanished(lc, list, job, generation).await.map(Some);
        }
    };
    if carries(list, &result) {
        lc.memory().recorded.insert(job.to_owned());
        return Ok(None);
    }
    let (status, ok, message) = result_status(list, &result, generation, now);
    patch_status(lc, list, "result", status).await?;
    lc.memory().recorded.insert(job.to_owned());
    tracing::info!(imagelist = %list.name_any(), imagejob = %job, ok, "{message}");
    let (kind, reason) = if ok {
        (EventKind::Normal, "JobCompleted")
    } else {
        (EventKind::Warning, "JobFailed")
    };
    ctx.event(list_reference(list), kind, reason, &message)
        .await;
    Ok(None)
}

/// The list's job is gone and left no result: a failed run goes into the history (keeping
/// the bookkeeping: that generation was run), the status and an Event say so.
async fn vanished(
    lc: &ListContext,
    list: &mut ImageList,
    job: &str,
    generation: i64,
) -> Result<Action> {
    let ctx = &lc.ctx;
    let now = ctx.now();
    let uid = list.metadata.uid.clone().unwrap_or_default();
    let started = lc.memory().started_at.unwrap_or(now);
    let run = history::Run {
        job: job.to_owned(),
        mode: history::RunMode::Manual,
        started,
        finished: now,
        phase: history::RunPhase::Failed,
        desired: 0,
        succeeded: 0,
        failed: 0,
        skipped: 0,
        nodes: Vec::new(),
        imagelist: Some(Handled {
            uid,
            generation,
            job: job.to_owned(),
            dry_run: dry_run_wanted(list).unwrap_or(false),
        }),
        dry_run: dry_run_wanted(list).unwrap_or(false),
    };
    let result = JobResult::of_run(&run);
    records::append(ctx, run).await?;
    lc.memory().result = Some(result.clone());
    let message = format!("ImageJob {job} is gone and left no result in the history");
    let conditions = ended_conditions(
        old_conditions(list),
        false,
        "JobDeleted",
        &message,
        generation,
        now,
    );
    let status = status_body(list, Some(&result), conditions, Some(generation));
    patch_status(lc, list, "result", status).await?;
    lc.memory().recorded.insert(job.to_owned());
    ctx.event(
        list_reference(list),
        EventKind::Warning,
        "JobDeleted",
        &message,
    )
    .await;
    Ok(Action::await_change())
}

async fn reject(lc: &ListContext, list: &mut ImageList, why: &str) -> Result<Action> {
    let ctx = &lc.ctx;
    let name = list.name_any();
    let generation = list.metadata.generation.unwrap_or(1);
    let conditions = ended_conditions(
        old_conditions(list),
        false,
        "InvalidSpec",
        why,
        generation,
        ctx.now(),
    );
    let status = status_body(list, None, conditions, Some(generation));
    patch_status(lc, list, "rejection", status).await?;
    lc.memory().rejected = Some((list.metadata.uid.clone().unwrap_or_default(), generation));
    tracing::warn!(imagelist = %name, reason = %why, "ImageList rejected; nothing removed");
    ctx.event(
        list_reference(list),
        EventKind::Warning,
        "InvalidSpec",
        &format!("{why}; nothing was removed"),
    )
    .await;
    Ok(Action::await_change())
}

/// The labels that identify a manual job: the list's uid and generation, and a dry run's mark.
fn job_identity(uid: &str, generation: i64, dry_run: bool) -> BTreeMap<String, String> {
    let mut identity = BTreeMap::from([
        (st::IMAGELIST_UID_LABEL.to_owned(), uid.to_owned()),
        (
            st::IMAGELIST_GENERATION_LABEL.to_owned(),
            generation.to_string(),
        ),
    ]);
    if dry_run {
        identity.insert(names::DRY_RUN_LABEL.to_owned(), "true".to_owned());
    }
    identity
}

async fn start(
    lc: &ListContext,
    list: &mut ImageList,
    images: Vec<String>,
    generation: i64,
    dry_run: bool,
) -> Result<Action> {
    let ctx = &lc.ctx;
    let now = ctx.now();
    let found = exclusions::load(ctx).await?;
    if !found.usable() {
        let problem = found.problem();
        let already = condition(list.status.as_ref(), FAILED).is_some_and(|c| {
            c.status == "True" && c.reason == "ExclusionListInvalid" && c.message == problem
        });
        if !already {
            exclusions::report(ctx, &found).await;
            refuse(
                lc,
                list,
                (generation, now),
                "ExclusionListInvalid",
                &problem,
            )
            .await?;
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
    let identity = job_identity(&owner.uid, generation, dry_run);
    let handled = |job: String| Handled {
        uid: owner.uid.clone(),
        generation,
        job,
        dry_run,
    };
    match super::preflight(ctx, names::JOB_OWNER_IMAGELIST, &identity).await? {
        Preflight::Clear => {}
        Preflight::Adopt(job) => {
            tracing::info!(imagelist = %list.name_any(), imagejob = %job, generation, "adopted the job already started for this generation");
            let mut memory = lc.memory();
            memory.handled = Some(handled(job));
            memory.started_at = Some(now);
            return Ok(Action::requeue(ADOPT_RECHECK));
        }
        Preflight::Busy(job) => {
            tracing::info!(imagelist = %list.name_any(), imagejob = %job, "another ImageList run has not finished; waiting for it");
            return Ok(Action::requeue(BUSY_RETRY));
        }
        Preflight::Refused { reason, newly } => {
            if newly {
                refuse(lc, list, (generation, now), super::BREAKER_REASON, &reason).await?;
            }
            return Ok(Action::requeue(BLOCKED_RETRY));
        }
    }
    let job = super::create_job(
        ctx,
        JobRequest {
            mode: JobMode::Manual { images },
            owner: Some(owner.clone()),
            exclusions: found.valid,
            identity,
        },
    )
    .await?;
    super::count_start(ctx);
    {
        let mut memory = lc.memory();
        memory.handled = Some(handled(job.clone()));
        memory.started_at = Some(now);
        memory.result = None;
    }
    tracing::info!(imagelist = %list.name_any(), imagejob = %job, generation, dry_run, "started manual run");
    note_started(lc, list, &job, generation, now).await;
    Ok(Action::await_change())
}

/// Refuses to start the run: a failed condition with `reason` and `message` in the list's
/// status and a Warning Event (once per refusal: the callers check it is new).
async fn refuse(
    lc: &ListContext,
    list: &mut ImageList,
    (generation, now): (i64, Timestamp),
    reason: &str,
    message: &str,
) -> Result<()> {
    let conditions = ended_conditions(
        old_conditions(list),
        false,
        reason,
        message,
        generation,
        now,
    );
    let status = status_body(list, None, conditions, None);
    patch_status(lc, list, reason, status).await?;
    lc.ctx
        .event(list_reference(list), EventKind::Warning, reason, message)
        .await;
    Ok(())
}

/// Notes a started run in the list's status and an Event. The job is started whatever fails
/// here: both are best effort, and a failure of either never reaches the decision again (the
/// job's labels do).
async fn note_started(
    lc: &ListContext,
    list: &mut ImageList,
    job: &str,
    generation: i64,
    now: Timestamp,
) {
    let conditions = started_conditions(old_conditions(list), job, generation, now);
    let status = status_body(list, None, conditions, Some(generation));
    if let Err(error) = patch_status(lc, list, "start", status).await {
        tracing::warn!(imagelist = %list.name_any(), imagejob = %job, %error, "cannot note the run's start in the ImageList status");
    }
    lc.ctx
        .event(
            list_reference(list),
            EventKind::Normal,
            "JobStarted",
            &format!("ImageJob {job} started for generation {generation}"),
        )
        .await;
}

fn error_policy(list: Arc<ImageList>, error: &Error, lc: Arc<ListContext>) -> Action {
    tracing::warn!(imagelist = %list.name_any(), %error, "ImageList reconcile failed; retrying");
    lc.ctx.metrics.reconcile_failed("imagelist");
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
    let lc = Arc::new(ListContext::new(ctx.clone(), jobs));
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
    use crate::manager::controller::tests::{NS, context, eraser_imagelist_status, t0};

    const EVENTS: &str = "/api/v1/namespaces/default/events?";
    const STATUS: &str =
        "/apis/eraser.sh/v1/imagelists/imagelist/status?&force=true&fieldManager=drydock";
    const OWN_JOBS: &str =
        "/apis/eraser.sh/v1/imagejobs?&labelSelector=eraser.sh%2Fjob-owner%3Dimagelist-controller";
    const UID: &str = "list-uid";

    fn history_path() -> String {
        format!("/api/v1/namespaces/{NS}/configmaps/drydock-image-cleaner-history")
    }

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

    /// The list after its run `result` was recorded (Eraser's four fields only, as Eraser's CRD
    /// keeps them).
    fn recorded(mut list: ImageList, result: &JobResult) -> ImageList {
        list.status = Some(ImageListStatus {
            timestamp: Some(Time(result.finished)),
            success: result.succeeded,
            failed: result.failed,
            skipped: result.skipped,
            ..ImageListStatus::default()
        });
        list
    }

    fn handled(generation: i64, job: &str) -> Handled {
        Handled {
            uid: UID.into(),
            generation,
            job: job.into(),
            dry_run: false,
        }
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

    /// A manual job of the list, labelled with the generation it runs.
    fn manual(name: &str, generation: i64, phase: JobPhase) -> ImageJob {
        let mut job = job(name, Some(UID), names::JOB_OWNER_IMAGELIST, phase);
        let labels = job.metadata.labels.get_or_insert_default();
        labels.insert(st::IMAGELIST_UID_LABEL.into(), UID.into());
        labels.insert(
            st::IMAGELIST_GENERATION_LABEL.into(),
            generation.to_string(),
        );
        job
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

    fn looked() -> ListMemory {
        ListMemory {
            looked: Some(UID.into()),
            ..ListMemory::default()
        }
    }

    /// One reconcile against the expected calls, starting from `memory` (a fresh process:
    /// `ListMemory::default()`); returns the action and the memory after it.
    async fn step(
        list: &ImageList,
        jobs: Vec<ImageJob>,
        memory: ListMemory,
        exchanges: Vec<Exchange>,
    ) -> (Action, ListMemory) {
        let (client, verifier) = mock::client(exchanges);
        step_in(
            context(client, Config::default()),
            list,
            jobs,
            memory,
            verifier,
        )
        .await
    }

    async fn step_in(
        ctx: Context,
        list: &ImageList,
        jobs: Vec<ImageJob>,
        memory: ListMemory,
        verifier: mock::Verifier,
    ) -> (Action, ListMemory) {
        let lc = Arc::new(ListContext::new(Arc::new(ctx), store(jobs)));
        *lc.memory() = memory;
        let action = reconcile(Arc::new(list.clone()), lc.clone()).await.unwrap();
        verifier.finish().await;
        let memory = lc.memory().clone();
        (action, memory)
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

    /// A status write: a server-side apply by Drydock's field manager, answered with `reply`.
    fn apply_status(reply: Value) -> Exchange {
        Exchange::new(Method::PATCH, STATUS, reply).with_content_type(mock::APPLY_PATCH)
    }

    /// A status write checked against Eraser's CRD (the fixture): answered 422 when invalid.
    fn eraser_status(body: Value) -> Exchange {
        apply_status(list_reply())
            .with_body(body)
            .validated_by(eraser_imagelist_status)
    }

    fn history(handled: Option<&Handled>, runs: Vec<history::Run>) -> Exchange {
        let mut annotations = serde_json::Map::new();
        if let Some(h) = handled {
            annotations.insert(
                st::IMAGELIST_HANDLED_ANNOTATION.into(),
                h.to_annotation().into(),
            );
        }
        Exchange::new(
            Method::GET,
            history_path(),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": st::HISTORY_CONFIGMAP, "namespace": NS,
                                "annotations": annotations},
                   "data": {"history.json": history::History { runs }.to_json()}}),
        )
    }

    fn no_history() -> Exchange {
        Exchange::new(Method::GET, history_path(), json!({})).failing(404, "NotFound", "not found")
    }

    fn run_of(job: &str, generation: i64, finished: &str) -> history::Run {
        history::Run {
            job: job.into(),
            mode: history::RunMode::Manual,
            started: "2026-03-01T02:50:00Z".parse().unwrap(),
            finished: finished.parse().unwrap(),
            phase: history::RunPhase::Completed,
            desired: 3,
            succeeded: 2,
            failed: 0,
            skipped: 1,
            nodes: vec![],
            imagelist: Some(handled(generation, job)),
            dry_run: false,
        }
    }

    fn own_jobs(items: Vec<ImageJob>) -> Exchange {
        Exchange::new(
            Method::GET,
            OWN_JOBS,
            json!({"apiVersion": "eraser.sh/v1", "kind": "ImageJobList", "metadata": {},
                   "items": items}),
        )
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

    fn job_creation(name: &str, generation: i64) -> Vec<Exchange> {
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
                "labels": {"eraser.sh/job-owner": "imagelist-controller",
                           "drydock.dev/imagelist-uid": UID,
                           "drydock.dev/imagelist-generation": generation.to_string()},
                "ownerReferences": [{"apiVersion": "eraser.sh/v1", "kind": "ImageList",
                                     "name": "imagelist", "uid": UID, "controller": true}]
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

    /// Everything a start does up to the job's creation, for a list with nothing handled yet.
    fn a_start(name: &str, generation: i64) -> Vec<Exchange> {
        let mut calls = exclusion_lists(json!([]));
        calls.push(own_jobs(vec![]));
        calls.extend(job_creation(name, generation));
        calls
    }

    const ALPINE: &str = "docker.io/library/alpine:3.7.3";

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
        let new = list("imagelist", UID, 1, &["alpine"]);
        assert_eq!(decide(&new, &[], &ListMemory::default()), Step::Look);
        assert!(matches!(
            decide(&new, &[], &looked()),
            Step::Start { generation: 1, .. }
        ));
        let memory = ListMemory {
            handled: Some(handled(1, "imagejob-a")),
            recorded: ["imagejob-a".to_owned()].into(),
            ..looked()
        };
        assert_eq!(
            decide(&new, &[], &memory),
            Step::UpToDate,
            "re-apply or restart"
        );
        let mut edited = new.clone();
        edited.metadata.generation = Some(2);
        assert!(matches!(
            decide(&edited, &[], &memory),
            Step::Start { generation: 2, .. }
        ));
        // Re-created: a new uid, generation 1; the old list's bookkeeping is not its.
        let recreated = list("imagelist", "new-uid", 1, &["alpine"]);
        let old_job = arcs(vec![manual("imagejob-old", 1, JobPhase::Completed)]);
        let memory = ListMemory {
            looked: Some("new-uid".into()),
            ..memory
        };
        assert!(matches!(
            decide(&recreated, &old_job, &memory),
            Step::Start { .. }
        ));
    }

    #[test]
    fn a_dry_run_and_a_real_run_each_handle_a_generation_for_their_kind() {
        let mut dry = list("imagelist", UID, 1, &["alpine"]);
        dry.metadata.annotations =
            Some([(names::DRY_RUN_LABEL.to_owned(), "true".to_owned())].into());
        assert!(matches!(
            decide(&dry, &[], &looked()),
            Step::Start {
                generation: 1,
                dry_run: true,
                ..
            }
        ));
        let after_dry = ListMemory {
            handled: Some(Handled {
                dry_run: true,
                ..handled(1, "imagejob-d")
            }),
            recorded: ["imagejob-d".to_owned()].into(),
            ..looked()
        };
        assert_eq!(decide(&dry, &[], &after_dry), Step::UpToDate);
        // The annotation removed: the same generation now runs for real, once.
        let real = list("imagelist", UID, 1, &["alpine"]);
        assert!(matches!(
            decide(&real, &[], &after_dry),
            Step::Start {
                generation: 1,
                dry_run: false,
                ..
            }
        ));
        let after_real = ListMemory {
            handled: Some(handled(1, "imagejob-r")),
            recorded: ["imagejob-r".to_owned()].into(),
            ..looked()
        };
        assert_eq!(decide(&real, &[], &after_real), Step::UpToDate);
        // `"false"` is a real run too.
        let mut explicit = real.clone();
        explicit.metadata.annotations =
            Some([(names::DRY_RUN_LABEL.to_owned(), "false".to_owned())].into());
        assert_eq!(decide(&explicit, &[], &after_real), Step::UpToDate);
    }

    #[test]
    fn a_bad_dry_run_annotation_starts_nothing_and_names_the_annotation() {
        let mut bad = list("imagelist", UID, 1, &["alpine"]);
        bad.metadata.annotations =
            Some([(names::DRY_RUN_LABEL.to_owned(), "yes".to_owned())].into());
        let Step::BadDryRun(why) = decide(&bad, &[], &looked()) else {
            panic!("not refused");
        };
        assert!(
            why.starts_with("metadata.annotations[drydock.dev/dry-run]: \"yes\""),
            "{why}"
        );
    }

    #[test]
    fn the_jobs_labels_are_the_bookkeeping_whatever_the_status_says() {
        // Eraser's CRD pruned observedGeneration and the conditions: the status says nothing.
        let new = list("imagelist", UID, 1, &["alpine"]);
        let running = arcs(vec![manual("imagejob-a", 1, JobPhase::Running)]);
        assert_eq!(
            decide(&new, &running, &ListMemory::default()),
            Step::AwaitJob("imagejob-a".into()),
            "no read needed while the job runs"
        );
        let done = arcs(vec![manual("imagejob-a", 1, JobPhase::Completed)]);
        assert_eq!(
            decide(&new, &done, &looked()),
            Step::Record("imagejob-a".into())
        );
        let memory = ListMemory {
            recorded: ["imagejob-a".to_owned()].into(),
            ..looked()
        };
        assert_eq!(decide(&new, &done, &memory), Step::UpToDate);
        // Lists handled by earlier versions (Drydock's CRD) keep their observedGeneration.
        let mut legacy = new.clone();
        legacy.status = Some(ImageListStatus {
            observed_generation: Some(1),
            ..ImageListStatus::default()
        });
        assert_eq!(decide(&legacy, &[], &looked()), Step::UpToDate);
    }

    #[test]
    fn a_spec_change_during_a_run_waits_for_it_then_records_then_runs_again() {
        let mut edited = list("imagelist", UID, 2, &["alpine"]);
        edited.metadata.generation = Some(2);
        let running = arcs(vec![manual("imagejob-a", 1, JobPhase::Running)]);
        assert_eq!(
            decide(&edited, &running, &looked()),
            Step::AwaitJob("imagejob-a".into())
        );
        let done = arcs(vec![manual("imagejob-a", 1, JobPhase::Completed)]);
        assert_eq!(
            decide(&edited, &done, &looked()),
            Step::Record("imagejob-a".into())
        );
        let memory = ListMemory {
            recorded: ["imagejob-a".to_owned()].into(),
            ..looked()
        };
        assert!(matches!(
            decide(&edited, &done, &memory),
            Step::Start { generation: 2, .. }
        ));
    }

    #[test]
    fn manual_runs_ignore_the_schedules_jobs() {
        // Eraser's ImageList controller counted every ImageJob as its own.
        let new = list("imagelist", UID, 1, &["alpine"]);
        let foreign = arcs(vec![
            automatic("imagejob-auto", JobPhase::Running),
            job(
                "imagejob-other",
                Some("other-uid"),
                names::JOB_OWNER_IMAGELIST,
                JobPhase::Running,
            ),
        ]);
        assert!(matches!(
            decide(&new, &foreign, &looked()),
            Step::Start { .. }
        ));
    }

    #[test]
    fn every_status_written_is_valid_under_erasers_crd_once_a_run_finished() {
        let new = list("imagelist", UID, 1, &["alpine"]);
        let result = JobResult::of_run(&run_of("imagejob-a", 1, "2026-03-01T02:58:00Z"));
        let (body, ok, _) = result_status(&new, &result, 1, t0());
        assert!(ok);
        assert_eq!(
            eraser_imagelist_status(&json!({ "status": body })),
            None,
            "{body}"
        );
        // Later writes (a start, a rejection) carry the last result's four fields.
        let done = recorded(new, &result);
        let body = status_body(&done, None, vec![], Some(2));
        assert_eq!(
            eraser_imagelist_status(&json!({ "status": body })),
            None,
            "{body}"
        );
        assert_eq!(body["timestamp"], "2026-03-01T02:58:00Z");
    }

    #[test]
    fn a_partial_status_update_keeps_the_fields_written_before() {
        // Every write is a server-side apply: what it leaves out, the API server removes.
        let result = JobResult::of_run(&run_of("imagejob-a", 1, "2026-03-01T02:58:00Z"));
        let mut done = list("imagelist", UID, 1, &["alpine"]);
        let (body, _, _) = result_status(&done, &result, 1, t0());
        written(&mut done, &body);
        // A refusal (the breaker, an exclusion list) writes only its condition.
        let conditions = ended_conditions(
            old_conditions(&done),
            false,
            "CircuitOpen",
            "too many starts",
            1,
            t0(),
        );
        let body = status_body(&done, None, conditions.clone(), None);
        assert_eq!(
            body,
            json!({"timestamp": "2026-03-01T02:58:00Z", "success": 2, "failed": 0, "skipped": 1,
                   "observedGeneration": 1, "conditions": conditions}),
        );
        // The condition of the same type replaced, the others kept.
        assert_eq!(conditions.len(), 3);
        assert_eq!(
            condition(done.status.as_ref(), SUCCEEDED).unwrap().status,
            "True"
        );
        assert_eq!(conditions[1].status, "False");
    }

    #[test]
    fn a_written_status_is_what_the_next_write_of_the_look_builds_on() {
        let result = JobResult::of_run(&run_of("imagejob-a", 1, "2026-03-01T02:58:00Z"));
        let mut edited = list("imagelist", UID, 2, &["alpine"]);
        let (body, _, _) = result_status(&edited, &result, 1, t0());
        written(&mut edited, &body);
        let status = edited.status.clone().unwrap();
        assert_eq!(status.timestamp, Some(Time(result.finished)));
        assert_eq!((status.success, status.failed, status.skipped), (2, 0, 1));
        assert_eq!(status.observed_generation, Some(1));
        let started = started_conditions(old_conditions(&edited), "imagejob-b", 2, t0());
        let body = status_body(&edited, None, started, Some(2));
        assert_eq!(body["timestamp"], "2026-03-01T02:58:00Z");
        assert_eq!(body["success"], 2);
        assert_eq!(body["observedGeneration"], 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_result_then_a_start_in_one_look_keeps_the_result_in_the_status() {
        // The spec changed during the run: the look records the run, then starts the next.
        // The start's write carries the result just written (an apply without it would
        // remove it).
        let mut edited = list("imagelist", UID, 2, &[ALPINE]);
        edited.metadata.generation = Some(2);
        let finished = "2026-03-01T02:58:00Z";
        let done = vec![manual("imagejob-a", 1, JobPhase::Completed)];
        let mut calls = vec![
            history(None, vec![run_of("imagejob-a", 1, finished)]),
            eraser_status(
                json!({"status": {"timestamp": finished, "success": 2, "failed": 0,
                                            "skipped": 1, "observedGeneration": 1}}),
            ),
            event("JobCompleted", "Normal"),
        ];
        calls.extend(a_start("imagejob-b", 2));
        calls.push(eraser_status(json!({"status": {
            "timestamp": finished, "success": 2, "failed": 0, "skipped": 1,
            "observedGeneration": 2,
        }})));
        calls.push(event("JobStarted", "Normal"));
        let (action, memory) = step(&edited, done, looked(), calls).await;
        assert_eq!(action, Action::await_change());
        assert_eq!(memory.handled, Some(handled(2, "imagejob-b")));
        assert!(memory.refused.is_empty());
    }

    /// What Eraser's CRD says of an apply (its status declares Eraser's four fields, all
    /// required): any other field is refused, not pruned.
    fn eraser_apply_problem(body: &Value) -> Option<String> {
        let status = body.get("status")?.as_object()?;
        let undeclared: Vec<&String> = status
            .keys()
            .filter(|k| !ERASER_STATUS_FIELDS.contains(&k.as_str()))
            .collect();
        if let Some(field) = undeclared.first() {
            return Some(format!(
                "failed to create typed patch object: .status.{field}: field not declared in schema"
            ));
        }
        eraser_imagelist_status(body)
    }

    #[test]
    fn under_erasers_crd_only_its_four_fields_are_written() {
        let result = JobResult::of_run(&run_of("imagejob-a", 1, "2026-03-01T02:58:00Z"));
        let (body, _, _) = result_status(&list("imagelist", UID, 1, &["a"]), &result, 1, t0());
        assert!(eraser_apply_problem(&json!({ "status": body })).is_some());
        let kept = eraser_fields(&body);
        assert_eq!(
            kept,
            json!({"timestamp": "2026-03-01T02:58:00Z", "success": 2, "failed": 0, "skipped": 1})
        );
        assert_eq!(eraser_apply_problem(&json!({ "status": kept })), None);
        assert_eq!(eraser_fields(&json!({"conditions": []})), json!({}));
    }

    #[tokio::test(start_paused = true)]
    async fn under_erasers_crd_a_refused_apply_is_written_again_with_erasers_fields_only() {
        // Found on a real API server: an apply naming `conditions` under Eraser's CRD is
        // refused whole (a merge patch had them pruned), and the result never landed.
        let new = list("imagelist", UID, 1, &["alpine"]);
        let finished = "2026-03-01T02:58:00Z";
        let calls = vec![
            history(None, vec![run_of("imagejob-a", 1, finished)]),
            apply_status(json!({}))
                .with_body(json!({"status": {"observedGeneration": 1}}))
                .failing(
                    500,
                    "",
                    "failed to create typed patch object: .status.conditions: field not declared in schema",
                ),
            apply_status(list_reply())
                .with_body(json!({"apiVersion": "eraser.sh/v1", "kind": "ImageList",
                                  "status": {"timestamp": finished, "success": 2, "failed": 0,
                                             "skipped": 1}}))
                .validated_by(eraser_apply_problem),
            event("JobCompleted", "Normal"),
        ];
        let done = vec![manual("imagejob-a", 1, JobPhase::Completed)];
        let (action, memory) = step(&new, done, looked(), calls).await;
        assert_eq!(action, Action::await_change());
        assert!(memory.recorded.contains("imagejob-a"));
        assert!(memory.refused.is_empty(), "{:?}", memory.refused);
    }

    #[test]
    fn a_status_write_is_an_apply_of_the_whole_status_under_the_lists_kind() {
        let kube::api::Patch::Apply(body) =
            status_apply::<ImageList>(&json!({"success": 1, "conditions": []}))
        else {
            panic!("a status write is a server-side apply");
        };
        assert_eq!(
            body,
            json!({"apiVersion": "eraser.sh/v1", "kind": "ImageList",
                   "status": {"success": 1, "conditions": []}})
        );
        let params = status_apply_params();
        assert_eq!(params.field_manager.as_deref(), Some("drydock"));
        assert!(params.force);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_run_of_a_new_list_creates_one_labelled_job() {
        let new = list("imagelist", UID, 1, &[ALPINE]);
        let mut calls = vec![no_history()];
        calls.extend(a_start("imagejob-m1", 1));
        calls.push(apply_status(list_reply()).with_body(json!({"status": {
            "observedGeneration": 1,
            "conditions": started_conditions(vec![], "imagejob-m1", 1, t0()),
        }})));
        calls.push(event("JobStarted", "Normal"));
        let (action, memory) = step(&new, vec![], ListMemory::default(), calls).await;
        assert_eq!(action, Action::await_change());
        assert_eq!(memory.handled, Some(handled(1, "imagejob-m1")));
    }

    #[tokio::test(start_paused = true)]
    async fn under_erasers_crd_a_refused_status_write_starts_no_second_job() {
        // The issue: Eraser's CRD refused the status write (422) and every later look started
        // another job. The write is refused here too, by the fixture's schema.
        let new = list("imagelist", UID, 1, &[ALPINE]);
        let mut calls = vec![no_history()];
        calls.extend(a_start("imagejob-m1", 1));
        calls.push(eraser_status(json!({"status": {"observedGeneration": 1}})));
        calls.push(event("JobStarted", "Normal"));
        let (action, memory) = step(&new, vec![], ListMemory::default(), calls).await;
        assert_eq!(action, Action::await_change());
        assert!(memory.refused.contains("start"));

        // The list's watch fires again before the job reaches the cache: no job, no status
        // write; one look in the history for a result, then wait.
        let (action, memory) = step(&new, vec![], memory, vec![no_history()]).await;
        assert_eq!(action, Action::requeue(VANISHED_GRACE.unsigned_abs()));
        // Running, then finished: one result write, valid under Eraser's CRD, then nothing.
        let running = vec![manual("imagejob-m1", 1, JobPhase::Running)];
        let (_, memory) = step(&new, running, memory, vec![]).await;
        let finished = "2026-03-01T02:58:00Z";
        let done = vec![manual("imagejob-m1", 1, JobPhase::Completed)];
        let calls = vec![
            history(None, vec![run_of("imagejob-m1", 1, finished)]),
            eraser_status(
                json!({"status": {"timestamp": finished, "success": 2, "failed": 0,
                                            "skipped": 1}}),
            ),
            event("JobCompleted", "Normal"),
        ];
        let (action, memory) = step(&new, done.clone(), memory, calls).await;
        assert_eq!(action, Action::await_change());
        let (action, _) = step(&new, done, memory, vec![]).await;
        assert_eq!(action, Action::await_change());
    }

    #[tokio::test(start_paused = true)]
    async fn a_forbidden_status_write_starts_no_second_job_either() {
        let new = list("imagelist", UID, 1, &[ALPINE]);
        let mut calls = vec![no_history()];
        calls.extend(a_start("imagejob-m1", 1));
        calls.push(apply_status(json!({})).failing(
            403,
            "Forbidden",
            "imagelists.eraser.sh \"imagelist\" is forbidden",
        ));
        calls.push(event("JobStarted", "Normal"));
        let (_, memory) = step(&new, vec![], ListMemory::default(), calls).await;
        // A failing Event write is never retried as a start either.
        let (_, memory) = step(&new, vec![], memory, vec![no_history()]).await;
        assert_eq!(memory.handled, Some(handled(1, "imagejob-m1")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_result_write_that_fails_for_now_is_retried_as_that_write_only() {
        let new = list("imagelist", UID, 1, &[ALPINE]);
        let finished = "2026-03-01T02:58:00Z";
        let done = vec![manual("imagejob-a", 1, JobPhase::Completed)];
        let (client, verifier) = mock::client(vec![
            history(None, vec![run_of("imagejob-a", 1, finished)]),
            apply_status(json!({})).failing(500, "InternalError", "etcd timeout"),
        ]);
        let lc = Arc::new(ListContext::new(
            Arc::new(context(client, Config::default())),
            store(done.clone()),
        ));
        *lc.memory() = looked();
        assert!(reconcile(Arc::new(new.clone()), lc.clone()).await.is_err());
        verifier.finish().await;
        let memory = lc.memory().clone();
        let calls = vec![
            eraser_status(json!({"status": {"timestamp": finished}})),
            event("JobCompleted", "Normal"),
        ];
        step(&new, done, memory, calls).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_restarted_manager_adopts_the_running_job_and_starts_nothing() {
        let new = list("imagelist", UID, 1, &[ALPINE]);
        // The cache has the job: nothing to read, nothing to write.
        let running = vec![manual("imagejob-a", 1, JobPhase::Running)];
        let (action, _) = step(&new, running.clone(), ListMemory::default(), vec![]).await;
        assert_eq!(action, Action::requeue(VANISHED_GRACE.unsigned_abs()));
        // The cache lags behind: the API server's list finds the job before any creation.
        let mut calls = vec![no_history()];
        calls.extend(exclusion_lists(json!([])));
        calls.push(own_jobs(running));
        let (action, memory) = step(&new, vec![], ListMemory::default(), calls).await;
        assert_eq!(action, Action::requeue(ADOPT_RECHECK));
        assert_eq!(memory.handled, Some(handled(1, "imagejob-a")));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unchanged_list_makes_one_read_after_a_restart() {
        // Eraser #1169-like: its controller re-ran the list on every manager start. The job is
        // long gone; the history ConfigMap keeps the bookkeeping.
        let run = run_of("imagejob-a", 3, "2026-03-01T02:58:00Z");
        let done = recorded(
            list("imagelist", UID, 3, &["alpine"]),
            &JobResult::of_run(&run),
        );
        let calls = vec![history(Some(&handled(3, "imagejob-a")), vec![run])];
        let (action, memory) = step(&done, vec![], ListMemory::default(), calls).await;
        assert_eq!(action, Action::await_change());
        let (_, _) = step(&done, vec![], memory, vec![]).await;
    }

    #[tokio::test(start_paused = true)]
    async fn another_job_of_the_controller_still_running_delays_the_start() {
        let new = list("imagelist", UID, 1, &[ALPINE]);
        let old = job(
            "imagejob-old",
            Some("old-uid"),
            names::JOB_OWNER_IMAGELIST,
            JobPhase::Running,
        );
        let mut calls = exclusion_lists(json!([]));
        calls.push(own_jobs(vec![old]));
        let (action, _) = step(&new, vec![], looked(), calls).await;
        assert_eq!(action, Action::requeue(BUSY_RETRY));
    }

    #[tokio::test(start_paused = true)]
    async fn too_many_starts_open_the_breaker_which_says_why_once() {
        let new = list("imagelist", UID, 1, &[ALPINE]);
        let mut full = crate::manager::breaker::StartGuard {
            starts: vec![t0(); crate::manager::breaker::MAX_STARTS],
            ..crate::manager::breaker::StartGuard::default()
        };
        let crate::manager::breaker::Verdict::Refuse { reason, .. } = full.check(&[], t0()) else {
            panic!("the guard must refuse");
        };
        let mut calls = exclusion_lists(json!([]));
        calls.push(own_jobs(vec![]));
        calls.push(apply_status(list_reply()).with_body(json!({"status": {
                "conditions": ended_conditions(vec![], false, "CircuitOpen", &reason, 1, t0())}})));
        calls.push(event("CircuitOpen", "Warning"));
        let (client, verifier) = mock::client(calls);
        let ctx = context(client, Config::default());
        for _ in 0..crate::manager::breaker::MAX_STARTS {
            super::super::count_start(&ctx);
        }
        let lc = Arc::new(ListContext::new(Arc::new(ctx), store(vec![])));
        *lc.memory() = looked();
        let action = reconcile(Arc::new(new.clone()), lc.clone()).await.unwrap();
        verifier.finish().await;
        assert_eq!(action, Action::requeue(BLOCKED_RETRY));
        assert_eq!(lc.ctx.metrics.breaker_open.get(), 1);
        // A configuration change closes it.
        lc.ctx.set_config(Config::default());
        assert_eq!(lc.ctx.metrics.breaker_open.get(), 0);
    }

    #[tokio::test]
    async fn a_failed_reconcile_is_counted_per_controller() {
        let (client, verifier) = mock::client(vec![]);
        let lc = Arc::new(ListContext::new(
            Arc::new(context(client, Config::default())),
            store(vec![]),
        ));
        let error = Error::Object {
            object: "ImageList x".into(),
            message: "broken".into(),
        };
        let labels = crate::manager::metrics::ControllerLabels {
            controller: "imagelist".into(),
        };
        for expected in 1..=2 {
            let action = error_policy(Arc::new(list("x", "u", 1, &["a"])), &error, lc.clone());
            assert_eq!(action, Action::requeue(ERROR_RETRY));
            let count = lc.ctx.metrics.reconcile_errors.get_or_create(&labels).get();
            assert_eq!(count, expected);
        }
        verifier.finish().await;
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
        step(&other, vec![], ListMemory::default(), calls).await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_list_gets_a_condition_and_an_event_once_and_no_job() {
        let empty = list("imagelist", UID, 1, &[]);
        let calls = vec![
            no_history(),
            // Eraser's CRD refuses it (no run finished yet to carry): reported once, not fatal.
            eraser_status(json!({"status": {
                "observedGeneration": 1,
                "conditions": ended_conditions(vec![], false, "InvalidSpec",
                                               "spec.images is empty: nothing to remove", 1, t0()),
            }})),
            event("InvalidSpec", "Warning"),
        ];
        let (action, memory) = step(&empty, vec![], ListMemory::default(), calls).await;
        assert_eq!(action, Action::await_change());
        let (_, _) = step(&empty, vec![], memory, vec![]).await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreadable_exclusion_list_blocks_the_run_with_events() {
        let new = list("imagelist", UID, 1, &[ALPINE]);
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
            apply_status(list_reply()).with_body(json!({"status": {
                "conditions": ended_conditions(vec![], false, "ExclusionListInvalid", &problem, 1, t0()),
            }})),
        );
        calls.push(event("ExclusionListInvalid", "Warning"));
        let (action, _) = step(&new, vec![], looked(), calls).await;
        assert_eq!(action, Action::requeue(BLOCKED_RETRY));
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_job_lands_in_the_status_and_an_event() {
        let new = list("imagelist", UID, 1, &["alpine"]);
        let mut failed = run_of("imagejob-a", 1, "2026-03-01T03:00:00Z");
        failed.phase = history::RunPhase::Failed;
        failed.desired = 4;
        failed.failed = 1;
        let calls = vec![
            history(None, vec![failed]),
            apply_status(list_reply()).with_body(json!({"status": {
                "timestamp": "2026-03-01T03:00:00Z", "success": 2, "failed": 1, "skipped": 1,
                "observedGeneration": 1,
                "conditions": ended_conditions(
                    vec![],
                    false,
                    "JobFailed",
                    "ImageJob imagejob-a failed: 2 of 4 nodes succeeded, 1 failed, 1 skipped",
                    1,
                    t0(),
                ),
            }})),
            event("JobFailed", "Warning"),
        ];
        let done = vec![manual("imagejob-a", 1, JobPhase::Failed)];
        step(&new, done, looked(), calls).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_deleted_before_it_was_seen_finishing_is_read_back_from_the_history() {
        // delayOnSuccess 0s: the job can be gone before this controller sees it finish; the
        // ImageJob controller wrote the run into the history before marking it finished.
        let new = list("imagelist", UID, 1, &["alpine"]);
        let memory = ListMemory {
            handled: Some(handled(1, "imagejob-a")),
            started_at: Some(t0()),
            ..looked()
        };
        let calls = vec![
            history(None, vec![run_of("imagejob-a", 1, "2026-03-01T02:58:00Z")]),
            apply_status(list_reply()).with_body(json!({"status": {
                "timestamp": "2026-03-01T02:58:00Z", "success": 2, "failed": 0, "skipped": 1}})),
            event("JobCompleted", "Normal"),
        ];
        step(&new, vec![], memory.clone(), calls).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_gone_without_a_result_is_recorded_failed_once_the_grace_is_over() {
        let new = list("imagelist", UID, 1, &["alpine"]);
        let started = t0() - VANISHED_GRACE - SignedDuration::from_secs(1);
        let memory = ListMemory {
            handled: Some(handled(1, "imagejob-a")),
            started_at: Some(started),
            ..looked()
        };
        let calls = vec![
            no_history(),
            // The failed run keeps the bookkeeping in the history.
            no_history(),
            Exchange::new(
                Method::POST,
                format!("/api/v1/namespaces/{NS}/configmaps?&fieldManager=drydock"),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "h"}}),
            )
            .with_body(json!({"metadata": {"annotations": {
                st::IMAGELIST_HANDLED_ANNOTATION: handled(1, "imagejob-a").to_annotation()}}})),
            eraser_status(json!({"status": {"timestamp": "2026-03-01T03:00:00Z", "success": 0}})),
            event("JobDeleted", "Warning"),
        ];
        let (action, memory) = step(&new, vec![], memory, calls).await;
        assert_eq!(action, Action::await_change());
        assert_eq!(decide(&new, &[], &memory), Step::UpToDate);
    }

    /// Eraser's chart role has no Events: the first refusal is reported, later Events are not
    /// even tried, and the run starts, finishes and lands in the status all the same.
    #[tokio::test(start_paused = true)]
    async fn under_erasers_role_without_events_a_run_still_starts_and_records() {
        let new = list("imagelist", UID, 1, &[ALPINE]);
        let finished = "2026-03-01T02:58:00Z";
        let mut calls = vec![no_history()];
        calls.extend(a_start("imagejob-m1", 1));
        calls.push(eraser_status(json!({"status": {"observedGeneration": 1}})));
        calls.push(event("JobStarted", "Normal").failing(
            403,
            "Forbidden",
            "events is forbidden: cannot create resource \"events\"",
        ));
        calls.push(history(None, vec![run_of("imagejob-m1", 1, finished)]));
        calls.push(eraser_status(json!({"status": {"timestamp": finished}})));
        let (client, verifier) = mock::client(calls);
        let mut writer: Writer<ImageJob> = Writer::default();
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let lc = Arc::new(ListContext::new(
            Arc::new(context(client, Config::default())),
            writer.as_reader(),
        ));
        reconcile(Arc::new(new.clone()), lc.clone()).await.unwrap();
        writer.apply_watcher_event(&watcher::Event::Apply(manual(
            "imagejob-m1",
            1,
            JobPhase::Completed,
        )));
        let action = reconcile(Arc::new(new), lc.clone()).await.unwrap();
        assert_eq!(action, Action::await_change());
        verifier.finish().await;
        assert!(lc.ctx.is_denied(super::super::CREATE_EVENTS));
    }

    #[tokio::test(start_paused = true)]
    async fn a_result_stored_in_whole_seconds_is_recognised_after_a_restart() {
        // Found on a real API server: the history keeps the run's end in nanoseconds, the
        // status in seconds; a restart wrote the result (and its Event) again.
        let run = run_of("imagejob-a", 1, "2026-03-01T02:58:00.123456789Z");
        let stored = history::Run {
            finished: "2026-03-01T02:58:00Z".parse().unwrap(),
            ..run.clone()
        };
        let done = recorded(
            list("imagelist", UID, 1, &["alpine"]),
            &JobResult::of_run(&stored),
        );
        let calls = vec![history(Some(&handled(1, "imagejob-a")), vec![run])];
        let (action, _) = step(&done, vec![], ListMemory::default(), calls).await;
        assert_eq!(action, Action::await_change());
    }
}
