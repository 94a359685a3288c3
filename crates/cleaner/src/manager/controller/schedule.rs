//! The schedule of automatic runs (the collector mode).
//!
//! A loop, not a Controller: it keeps two caches (the state ConfigMap
//! `drydock-image-cleaner-state` and the ImageJobs labelled `eraser.sh/job-owner=imagecollector`),
//! decides with the pure [`decide`] (over [`crate::manager::schedule::next`]), acts, and sleeps until the
//! next due time or a change (a watched object, a config reload, shutdown).
//!
//! Fixes over Eraser's ImageCollector controller:
//! - the schedule lives in the cluster ([`ScheduleState`] as JSON under `schedule.json`), so a
//!   manager restart (an OOM kill, a config change) starts no extra run (#1169) and does not
//!   reset the clock;
//! - it looks only at its own jobs: a manual job neither counts as the schedule's job nor gets
//!   deleted by it (Eraser deleted *every* ImageJob at start and adopted whichever job existed);
//! - `drydock image-cleaner run` asks for a run through the annotation
//!   `drydock.dev/run-requested`; each distinct value starts exactly one run.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use drydock_api::config::Config;
use drydock_api::imagejob::{ImageJob, JobPhase};
use drydock_api::names::{self, state as st};
use drydock_kube::status::{ApiFailure, classify};
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::watch;

use super::{
    Context, EventKind, FIELD_MANAGER, JobMode, JobRequest, Preflight, exclusions, stopped,
};
use crate::manager::schedule::{self, Next, ScheduleState};
use crate::{Error, Result};

/// When to look again while blocked by an unreadable exclusion list.
pub const BLOCKED_RETRY: SignedDuration = SignedDuration::from_mins(5);
/// When to look again after a failed API call.
pub const ERROR_RETRY: SignedDuration = SignedDuration::from_secs(30);
/// How long the schedule's started job may be missing from the cache before it counts as
/// finished (deleted before it was seen finishing). A new job reaches the cache within seconds.
pub const MISSING_GRACE: SignedDuration = SignedDuration::from_mins(2);
/// When to look again after losing a write race (the cache has not caught up with a write yet;
/// the watch event that updates it wakes the loop sooner).
pub const CONFLICT_RETRY: SignedDuration = SignedDuration::from_secs(2);
/// Most decisions acted on in one look (each changes the state; a handful suffice: record,
/// start the clock, start a run). A bound keeps a bug from spinning.
const MAX_STEPS: usize = 8;
/// Attempts to persist a started run against concurrent changes of the state ConfigMap (the
/// admin's run requests): one or two suffice; more means something rewrites it in a loop.
const MAX_WRITE_ATTEMPTS: usize = 5;

/// What the schedule does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Automatic mode is off: nothing until the config changes.
    Disabled,
    /// The schedule's job finished and is not recorded yet: record its end.
    Record(String),
    /// One of the schedule's jobs is not in the state (the state write after its creation was
    /// lost): adopt it, so it is awaited and its start counts for the cadence.
    Adopt(String),
    /// Automatic mode was just seen enabled: start the clock.
    StartClock,
    /// Start a run; with the run request it answers, if any.
    Start(Option<String>),
    /// Nothing to do until then (`None`: until a change).
    Wait(Option<Timestamp>),
}

fn own(jobs: &[Arc<ImageJob>]) -> Vec<&ImageJob> {
    jobs.iter()
        .map(AsRef::as_ref)
        .filter(|job| {
            job.labels()
                .get(names::JOB_OWNER_LABEL)
                .is_some_and(|v| v == names::JOB_OWNER_COLLECTOR)
        })
        .collect()
}

fn finished(job: &ImageJob) -> bool {
    job.status
        .as_ref()
        .is_some_and(|s| matches!(s.phase, JobPhase::Completed | JobPhase::Failed))
}

fn created(job: &ImageJob) -> Option<Timestamp> {
    job.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// The state and run request stored in the state ConfigMap. A `schedule.json` that does not
/// parse is an error naming the ConfigMap (the loop reports it and does not start runs from a
/// state it cannot read).
///
/// # Errors
/// [`Error::Input`] for a bad `schedule.json`.
pub fn read_state(configmap: Option<&ConfigMap>) -> Result<(ScheduleState, Option<String>)> {
    let Some(configmap) = configmap else {
        return Ok((ScheduleState::default(), None));
    };
    let request = configmap
        .annotations()
        .get(st::RUN_REQUESTED_ANNOTATION)
        .filter(|v| !v.trim().is_empty())
        .cloned();
    let state = match configmap
        .data
        .as_ref()
        .and_then(|d| d.get(st::SCHEDULE_KEY))
    {
        Some(text) if !text.trim().is_empty() => {
            serde_json::from_str(text).map_err(|e| Error::Input {
                source_name: format!("ConfigMap {} key {}", st::STATE_CONFIGMAP, st::SCHEDULE_KEY),
                message: e.to_string(),
            })?
        }
        _ => ScheduleState::default(),
    };
    Ok((state, request))
}

/// Whether the run requested at `request` is a dry run: the state ConfigMap's
/// `drydock.dev/run-requested-dry-run` annotation names the same request.
#[must_use]
pub fn dry_run_requested(configmap: Option<&ConfigMap>, request: Option<&str>) -> bool {
    let (Some(configmap), Some(request)) = (configmap, request) else {
        return false;
    };
    configmap
        .annotations()
        .get(st::RUN_DRY_RUN_ANNOTATION)
        .is_some_and(|dry| dry.trim() == request.trim())
}

/// The identity labels of an automatic job: only a dry run's carry one.
fn dry_run_identity(dry_run: bool) -> BTreeMap<String, String> {
    if dry_run {
        BTreeMap::from([(names::DRY_RUN_LABEL.to_owned(), "true".to_owned())])
    } else {
        BTreeMap::new()
    }
}

/// Why an automatic run started, for the log and the Event.
fn start_reason(requested: Option<&str>, dry_run: bool) -> String {
    let why = requested.map_or_else(
        || "on schedule".to_owned(),
        |r| format!("as requested at {r}"),
    );
    if dry_run {
        format!("{why} (dry run: nothing is removed)")
    } else {
        why
    }
}

/// Decides the schedule's next step (pure). `jobs` may hold any ImageJobs; only those labelled
/// `eraser.sh/job-owner=imagecollector` are looked at.
#[must_use]
pub fn decide(
    state: &ScheduleState,
    request: Option<&str>,
    jobs: &[Arc<ImageJob>],
    config: &Config,
    now: Timestamp,
) -> Decision {
    if !config.components.collector.enabled {
        return Decision::Disabled;
    }
    let own = own(jobs);
    let recorded = match (state.last_started, state.last_finished) {
        (Some(started), Some(finished)) => finished >= started,
        _ => false,
    };
    let newest = own.iter().max_by_key(|job| (created(job), job.name_any()));
    if let Some(job) = newest {
        let name = job.name_any();
        let known = state.last_job.as_deref() == Some(name.as_str());
        let newer = match (created(job), state.last_started) {
            (Some(created), Some(started)) => created > started,
            (_, None) => true,
            (None, Some(_)) => false,
        };
        if !known && newer {
            return Decision::Adopt(name);
        }
        if known && finished(job) && !recorded {
            return Decision::Record(name);
        }
    }
    if let Some(last) = state.last_job.as_deref()
        && !recorded
        && !own.iter().any(|job| job.name_any() == last)
    {
        // Started but not in the cache: just created (the cache catches up within seconds),
        // or finished and deleted before it was seen finishing. Either way no new run yet.
        let started = state.last_started.unwrap_or(now);
        let until = started.saturating_add(MISSING_GRACE).unwrap_or(started);
        return if now < until {
            Decision::Wait(Some(until))
        } else {
            Decision::Record(last.to_owned())
        };
    }
    if state.enabled_at.is_none() {
        return Decision::StartClock;
    }
    let running = own.iter().any(|job| !finished(job));
    if let Some(request) = request
        && state.handled_run_request.as_deref() != Some(request)
    {
        return if running {
            Decision::Wait(None)
        } else {
            Decision::Start(Some(request.to_owned()))
        };
    }
    let scheduling = &config.manager.scheduling;
    match schedule::next(
        state,
        scheduling.repeat_interval.to_jiff(),
        scheduling.begin_immediately,
        running,
        now,
    ) {
        Next::StartNow => Decision::Start(None),
        Next::AwaitRun => Decision::Wait(None),
        Next::WaitUntil(due) => Decision::Wait(Some(due)),
    }
}

/// The schedule's memory between looks: the state ConfigMap as last read or written, and the
/// last blocking problem reported (so a blocked schedule reports once, not every retry).
#[derive(Debug, Default)]
pub struct Scheduler {
    /// The state ConfigMap (None: not created yet).
    pub state: Option<ConfigMap>,
    /// The exclusion problem last reported.
    pub blocked: Option<String>,
}

/// Whether the cache's copy of the state may replace the one the schedule holds: not when it
/// is older than the schedule's own last write (the watch delivers that write a moment later;
/// deciding on the older copy would start a second run). Resource versions are etcd revisions
/// on every API server; one that is not a number is taken as it comes.
#[must_use]
pub fn cache_is_current(held: Option<&ConfigMap>, cached: Option<&ConfigMap>) -> bool {
    let version = |cm: Option<&ConfigMap>| {
        cm.and_then(|cm| cm.metadata.resource_version.as_deref())
            .and_then(|rv| rv.parse::<u64>().ok())
    };
    match (version(held), version(cached)) {
        (Some(held), Some(cached)) => cached >= held,
        // The schedule created the state and the cache has not seen it yet.
        (Some(_), None) => cached.is_some(),
        _ => true,
    }
}

fn state_reference(ctx: &Context) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_owned()),
        kind: Some("ConfigMap".to_owned()),
        name: Some(st::STATE_CONFIGMAP.to_owned()),
        namespace: Some(ctx.namespace.clone()),
        ..ObjectReference::default()
    }
}

fn job_reference(name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("eraser.sh/v1".to_owned()),
        kind: Some("ImageJob".to_owned()),
        name: Some(name.to_owned()),
        ..ObjectReference::default()
    }
}

/// The outcome of a write.
enum Written {
    Done(Box<ConfigMap>),
    Conflict,
    /// The state ConfigMap was deleted since it was read: the next write creates it.
    Gone,
}

/// Writes `state` into the state ConfigMap: a create when absent, else a merge patch carrying
/// the resourceVersion read, so a concurrent change makes it fail instead of being overwritten.
async fn persist(
    ctx: &Context,
    current: Option<&ConfigMap>,
    state: &ScheduleState,
) -> Result<Written> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let json = serde_json::to_string(state).map_err(|e| Error::Input {
        source_name: "schedule state".to_owned(),
        message: e.to_string(),
    })?;
    let result = match current {
        None => {
            let configmap = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(st::STATE_CONFIGMAP.to_owned()),
                    namespace: Some(ctx.namespace.clone()),
                    labels: Some(BTreeMap::from([(
                        super::MANAGED_BY_LABEL.0.to_owned(),
                        super::MANAGED_BY_LABEL.1.to_owned(),
                    )])),
                    ..ObjectMeta::default()
                },
                data: Some(BTreeMap::from([(st::SCHEDULE_KEY.to_owned(), json)])),
                ..ConfigMap::default()
            };
            let post = PostParams {
                field_manager: Some(FIELD_MANAGER.to_owned()),
                ..PostParams::default()
            };
            api.create(&post, &configmap).await
        }
        Some(current) => {
            let patch = serde_json::json!({
                "metadata": {"resourceVersion": current.metadata.resource_version},
                "data": {st::SCHEDULE_KEY: json},
            });
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.to_owned()),
                ..PatchParams::default()
            };
            api.patch(st::STATE_CONFIGMAP, &params, &Patch::Merge(patch))
                .await
        }
    };
    match result {
        Ok(configmap) => Ok(Written::Done(Box::new(configmap))),
        Err(error) if classify(&error) == ApiFailure::Conflict => Ok(Written::Conflict),
        Err(error) if classify(&error) == ApiFailure::NotFound => Ok(Written::Gone),
        Err(error) => Err(Error::Kube {
            action: "write the schedule state".to_owned(),
            source: Box::new(error),
        }),
    }
}

impl Scheduler {
    /// Replaces the remembered state ConfigMap with the cache's copy, unless that copy is older
    /// than what the schedule itself last wrote ([`cache_is_current`]).
    pub fn observe(&mut self, state: Option<ConfigMap>) {
        if cache_is_current(self.state.as_ref(), state.as_ref()) {
            self.state = state;
        }
    }

    async fn write(&mut self, ctx: &Context, state: &ScheduleState) -> Result<bool> {
        match persist(ctx, self.state.as_ref(), state).await? {
            Written::Done(configmap) => {
                self.state = Some(*configmap);
                Ok(true)
            }
            Written::Conflict => Ok(false),
            Written::Gone => {
                self.state = None;
                Ok(false)
            }
        }
    }

    /// Reads the state ConfigMap afresh, applies `change` and writes it, retrying on a conflict
    /// up to [`MAX_WRITE_ATTEMPTS`] times.
    async fn write_fresh(
        &mut self,
        ctx: &Context,
        change: impl Fn(&mut ScheduleState),
    ) -> Result<()> {
        let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        for _ in 0..MAX_WRITE_ATTEMPTS {
            self.state = api
                .get_opt(st::STATE_CONFIGMAP)
                .await
                .map_err(Error::kube("read the schedule state"))?;
            let (mut state, _) = read_state(self.state.as_ref())?;
            change(&mut state);
            if self.write(ctx, &state).await? {
                return Ok(());
            }
        }
        Err(Error::Object {
            object: format!("ConfigMap {}", st::STATE_CONFIGMAP),
            message: format!(
                "still changing after {MAX_WRITE_ATTEMPTS} attempts to write the schedule"
            ),
        })
    }

    /// One look: acts on decisions until the schedule waits. Returns when to look again
    /// (`None`: only on a change).
    ///
    /// # Errors
    /// An API call failed, or the state does not parse.
    pub async fn tick(
        &mut self,
        ctx: &Context,
        jobs: &[Arc<ImageJob>],
    ) -> Result<Option<Timestamp>> {
        let config = ctx.config();
        for _ in 0..MAX_STEPS {
            let now = ctx.now();
            let (mut state, request) = read_state(self.state.as_ref())?;
            let decision = decide(&state, request.as_deref(), jobs, &config, now);
            tracing::debug!(?decision, "schedule");
            match decision {
                Decision::Disabled => return Ok(None),
                Decision::Wait(until) => return Ok(until),
                Decision::StartClock => {
                    state.enabled_at = Some(now);
                    if !self.write(ctx, &state).await? {
                        return Ok(later(now, CONFLICT_RETRY));
                    }
                    tracing::info!(enabled_at = %now, "automatic mode enabled; schedule started");
                }
                Decision::Adopt(job) => {
                    let started = jobs
                        .iter()
                        .find(|j| j.name_any() == job)
                        .and_then(|j| created(j))
                        .unwrap_or(now);
                    state.last_started = Some(started);
                    state.last_finished = None;
                    state.last_job = Some(job.clone());
                    if !self.write(ctx, &state).await? {
                        return Ok(later(now, CONFLICT_RETRY));
                    }
                    tracing::info!(imagejob = %job, "adopted the schedule's job missing from its state");
                }
                Decision::Record(name) => {
                    // The ImageJob controller already wrote the run into the history and an
                    // Event on the job before it marked the job finished; the schedule only
                    // notes the end, which the cadence needs.
                    state.last_finished = Some(now);
                    if !self.write(ctx, &state).await? {
                        return Ok(later(now, CONFLICT_RETRY));
                    }
                    let phase = jobs
                        .iter()
                        .find(|j| j.name_any() == name)
                        .and_then(|j| j.status.as_ref())
                        .map(|s| s.phase);
                    tracing::info!(imagejob = %name, ?phase, "automatic run finished");
                }
                Decision::Start(requested) => {
                    if let ControlFlow::Break(wake) =
                        self.start_run(ctx, state, requested, now).await?
                    {
                        return Ok(wake);
                    }
                }
            }
        }
        Ok(Some(ctx.now()))
    }

    /// Starts the schedule's run: checks the exclusions and the circuit breaker, creates the
    /// job and persists its start. `Break(wake)` when it cannot start now.
    async fn start_run(
        &mut self,
        ctx: &Context,
        mut state: ScheduleState,
        requested: Option<String>,
        now: Timestamp,
    ) -> Result<ControlFlow<Option<Timestamp>>> {
        let found = exclusions::load(ctx).await?;
        if !found.usable() {
            let problem = found.problem();
            if self.blocked.as_deref() != Some(problem.as_str()) {
                exclusions::report(ctx, &found).await;
                ctx.event(
                    state_reference(ctx),
                    EventKind::Warning,
                    "RunBlocked",
                    &problem,
                )
                .await;
                self.blocked = Some(problem);
            }
            return Ok(ControlFlow::Break(later(now, BLOCKED_RETRY)));
        }
        self.blocked = None;
        match super::preflight(ctx, names::JOB_OWNER_COLLECTOR, &BTreeMap::new()).await? {
            Preflight::Clear => {}
            // The cache has not caught up with a job the API server lists: its
            // watch event wakes the loop, which then adopts or awaits it.
            Preflight::Adopt(job) | Preflight::Busy(job) => {
                tracing::debug!(imagejob = %job, "a job of the schedule is still running");
                return Ok(ControlFlow::Break(later(now, CONFLICT_RETRY)));
            }
            Preflight::Refused { reason, newly } => {
                if newly {
                    ctx.event(
                        state_reference(ctx),
                        EventKind::Warning,
                        super::BREAKER_REASON,
                        &reason,
                    )
                    .await;
                }
                return Ok(ControlFlow::Break(later(now, BLOCKED_RETRY)));
            }
        }
        let dry_run = dry_run_requested(self.state.as_ref(), requested.as_deref());
        let job = super::create_job(
            ctx,
            JobRequest {
                mode: JobMode::Automatic,
                owner: None,
                exclusions: found.valid,
                identity: dry_run_identity(dry_run),
            },
        )
        .await?;
        super::count_start(ctx);
        let started = |state: &mut ScheduleState| {
            state.last_started = Some(now);
            state.last_finished = None;
            state.last_job = Some(job.clone());
            if requested.is_some() {
                state.handled_run_request.clone_from(&requested);
            }
        };
        started(&mut state);
        if !self.write(ctx, &state).await? {
            // The job exists: its start (and the request it answers) must be
            // persisted, or the request would start a second run. Re-read and
            // write again on the fresh state.
            self.write_fresh(ctx, started).await?;
        }
        let why = start_reason(requested.as_deref(), dry_run);
        tracing::info!(imagejob = %job, %why, "started automatic run");
        ctx.event(
            job_reference(&job),
            EventKind::Normal,
            "JobStarted",
            &format!("automatic run started {why}"),
        )
        .await;
        Ok(ControlFlow::Continue(()))
    }
}

/// `now` plus `delay`, for a look again later (`now` itself at the end of time).
fn later(now: Timestamp, delay: SignedDuration) -> Option<Timestamp> {
    Some(now.saturating_add(delay).unwrap_or(now))
}

/// How long to sleep until `wake` (at least zero; `None`: a day, a change wakes sooner).
fn sleep_for(wake: Option<Timestamp>, now: Timestamp) -> Duration {
    /// The longest sleep without a change; only bounds a lost wake-up.
    const IDLE: Duration = Duration::from_secs(24 * 3600);
    wake.map_or(IDLE, |wake| {
        let left = now.duration_until(wake);
        if left.is_negative() {
            Duration::ZERO
        } else {
            left.unsigned_abs().min(IDLE)
        }
    })
}

/// Runs the schedule until `shutdown` turns true.
///
/// # Errors
/// None today: API errors are logged and retried.
pub async fn run(ctx: Arc<Context>, shutdown: watch::Receiver<bool>) -> Result<()> {
    let client = ctx.client.clone();
    let (states, state_writer) = reflector::store::<ConfigMap>();
    let state_stream = watcher(
        Api::<ConfigMap>::namespaced(client.clone(), &ctx.namespace),
        watcher::Config::default().fields(&format!("metadata.name={}", st::STATE_CONFIGMAP)),
    )
    .default_backoff()
    .reflect(state_writer)
    .touched_objects()
    .map(|_| ());
    let (jobs, job_writer) = reflector::store::<ImageJob>();
    let job_stream = watcher(
        Api::<ImageJob>::all(client),
        watcher::Config::default().labels(&format!(
            "{}={}",
            names::JOB_OWNER_LABEL,
            names::JOB_OWNER_COLLECTOR
        )),
    )
    .default_backoff()
    .reflect(job_writer)
    .touched_objects()
    .map(|_| ());
    let changes = futures::stream::select(state_stream.boxed(), job_stream.boxed());
    drive(ctx, shutdown, states, jobs, changes).await
}

/// The loop of [`run`] over caches and the stream that fills them (each item one cache change):
/// waits until both caches are filled, then looks ([`Scheduler::tick`]) and sleeps until the
/// next due time, a change, a configuration reload or shutdown.
///
/// # Errors
/// None today: API errors are logged and retried.
pub async fn drive(
    ctx: Arc<Context>,
    shutdown: watch::Receiver<bool>,
    states: Store<ConfigMap>,
    jobs: Store<ImageJob>,
    changes: impl futures::Stream<Item = ()> + Unpin,
) -> Result<()> {
    let mut changes = changes;
    let mut config = ctx.watch_config();
    let stop = stopped(shutdown);
    tokio::pin!(stop);
    // Fill both caches before the first decision: deciding on a partial view could start a run
    // a restart should not start.
    let ready = async {
        let _ = tokio::join!(states.wait_until_ready(), jobs.wait_until_ready());
    };
    tokio::pin!(ready);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = &mut ready => break,
            Some(()) = changes.next() => {}
        }
    }
    let mut scheduler = Scheduler::default();
    loop {
        scheduler.observe(
            states
                .get(&ObjectRef::new(st::STATE_CONFIGMAP).within(&ctx.namespace))
                .map(|cm| (*cm).clone()),
        );
        let wake = match scheduler.tick(&ctx, &jobs.state()).await {
            Ok(wake) => wake,
            Err(error) => {
                tracing::warn!(%error, "schedule step failed; retrying");
                ctx.metrics.reconcile_failed("schedule");
                later(ctx.now(), ERROR_RETRY)
            }
        };
        let sleep = tokio::time::sleep(sleep_for(wake, ctx.now()));
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = sleep => {}
            Some(()) = changes.next() => {}
            Ok(()) = config.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use drydock_api::imagejob::{ImageJobFields, ImageJobStatus};
    use drydock_kube::mock::{self, Exchange};
    use http::Method;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::{Value, json};

    use super::*;
    use crate::manager::controller::tests::{NS, context, t0};

    const DAY: SignedDuration = SignedDuration::from_hours(24);

    fn at(offset: SignedDuration) -> Timestamp {
        t0().checked_add(offset).unwrap()
    }

    fn config(enabled: bool, begin_immediately: bool) -> Config {
        let mut config = Config::default();
        config.components.collector.enabled = enabled;
        config.manager.scheduling.begin_immediately = begin_immediately;
        config.manager.scheduling.repeat_interval = "24h".parse().unwrap();
        config
    }

    fn state_cm(state: &ScheduleState, request: Option<&str>, rv: &str) -> ConfigMap {
        serde_json::from_value(state_json(state, request, rv)).unwrap()
    }

    fn state_json(state: &ScheduleState, request: Option<&str>, rv: &str) -> Value {
        let mut annotations = serde_json::Map::new();
        if let Some(r) = request {
            annotations.insert(st::RUN_REQUESTED_ANNOTATION.into(), r.into());
        }
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": st::STATE_CONFIGMAP, "namespace": NS, "resourceVersion": rv,
                            "annotations": annotations},
               "data": {st::SCHEDULE_KEY: serde_json::to_string(state).unwrap()}})
    }

    fn job(name: &str, owner: &str, phase: JobPhase, created: Timestamp) -> Arc<ImageJob> {
        let mut job = ImageJob::new(name, ImageJobFields {});
        job.metadata.labels = Some([(names::JOB_OWNER_LABEL.to_owned(), owner.to_owned())].into());
        job.metadata.creation_timestamp = Some(Time(created));
        job.status = Some(ImageJobStatus {
            desired: 3,
            succeeded: 3,
            phase,
            ..ImageJobStatus::default()
        });
        Arc::new(job)
    }

    fn ran_an_hour_ago() -> ScheduleState {
        ScheduleState {
            enabled_at: Some(at(-DAY * 10)),
            last_started: Some(at(SignedDuration::from_hours(-1))),
            last_finished: Some(at(SignedDuration::from_mins(-50))),
            last_job: Some("imagejob-prev".into()),
            handled_run_request: None,
        }
    }

    /// The state of a run an hour ago with a run request at `request` pending, and the state
    /// once that request started the job `job`.
    fn run_requested(request: &str, job: &str) -> (ScheduleState, ScheduleState) {
        let state = ran_an_hour_ago();
        let handled = ScheduleState {
            last_started: Some(t0()),
            last_finished: None,
            last_job: Some(job.into()),
            handled_run_request: Some(request.into()),
            ..state.clone()
        };
        (state, handled)
    }

    /// A collector job `name` running since `t0()`.
    fn running_collector(name: &str) -> Arc<ImageJob> {
        job(name, names::JOB_OWNER_COLLECTOR, JobPhase::Running, t0())
    }

    fn state_path() -> String {
        format!(
            "/api/v1/namespaces/{NS}/configmaps/{}?&fieldManager=drydock",
            st::STATE_CONFIGMAP
        )
    }

    fn exclusions_ok() -> Vec<Exchange> {
        vec![
            Exchange::new(
                Method::GET,
                format!(
                    "/api/v1/namespaces/{NS}/configmaps?&labelSelector=eraser.sh%2Fexclude.list%3Dtrue"
                ),
                json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {}, "items": []}),
            ),
            Exchange::new(
                Method::GET,
                format!("/api/v1/namespaces/{NS}/configmaps/eraser-system-exclusion"),
                json!({}),
            )
            .failing(404, "NotFound", "not found"),
        ]
    }

    fn automatic_job_creation(name: &str) -> Vec<Exchange> {
        vec![
            // The API server's own list before any creation: no job of the schedule runs.
            Exchange::new(
                Method::GET,
                "/apis/eraser.sh/v1/imagejobs?&labelSelector=eraser.sh%2Fjob-owner%3Dimagecollector",
                json!({"apiVersion": "eraser.sh/v1", "kind": "ImageJobList", "metadata": {}, "items": []}),
            ),
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
            .with_body(json!({"metadata": {"labels": {"eraser.sh/job-owner": "imagecollector"}}})),
            Exchange::new(
                Method::PATCH,
                format!("/api/v1/namespaces/{NS}/podtemplates/{name}?&fieldManager=drydock"),
                json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": name}}),
            ),
        ]
    }

    fn job_event(reason: &str, name: &str) -> Exchange {
        Exchange::new(
            Method::POST,
            "/api/v1/namespaces/default/events?",
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}}),
        )
        .with_body(json!({"reason": reason, "involvedObject": {"kind": "ImageJob", "name": name}}))
    }

    /// The first look after automatic mode is enabled with `beginImmediately`: the state with
    /// the clock started (written at resourceVersion 1), the state with the run started (2),
    /// and the calls in between.
    fn first_enable() -> (ScheduleState, ScheduleState, Vec<Exchange>) {
        let clock = ScheduleState {
            enabled_at: Some(t0()),
            ..ScheduleState::default()
        };
        let started = ScheduleState {
            last_started: Some(t0()),
            last_job: Some("imagejob-a1".into()),
            ..clock.clone()
        };
        let mut calls = vec![
            Exchange::new(
                Method::POST,
                format!("/api/v1/namespaces/{NS}/configmaps?&fieldManager=drydock"),
                state_json(&clock, None, "1"),
            )
            .with_body(json!({"metadata": {"name": st::STATE_CONFIGMAP},
                              "data": {"schedule.json": serde_json::to_string(&clock).unwrap()}})),
        ];
        calls.extend(exclusions_ok());
        calls.extend(automatic_job_creation("imagejob-a1"));
        calls.push(
            Exchange::new(Method::PATCH, state_path(), state_json(&started, None, "2")).with_body(
                json!({
                    "metadata": {"resourceVersion": "1"},
                    "data": {"schedule.json": serde_json::to_string(&started).unwrap()}
                }),
            ),
        );
        calls.push(job_event("JobStarted", "imagejob-a1"));
        (clock, started, calls)
    }

    async fn tick(
        state: Option<ConfigMap>,
        jobs: &[Arc<ImageJob>],
        config: Config,
        exchanges: Vec<Exchange>,
    ) -> (Option<Timestamp>, Scheduler) {
        let (client, verifier) = mock::client(exchanges);
        let ctx = context(client, config);
        let mut scheduler = Scheduler::default();
        scheduler.observe(state);
        let wake = scheduler.tick(&ctx, jobs).await.unwrap();
        verifier.finish().await;
        (wake, scheduler)
    }

    /// A look of the automatic schedule at `state` (resourceVersion 7) with the run request
    /// `request` pending and no job in the cache, making `calls`.
    async fn tick_on_request(
        state: &ScheduleState,
        request: &str,
        calls: Vec<Exchange>,
    ) -> (Option<Timestamp>, Scheduler) {
        tick(
            Some(state_cm(state, Some(request), "7")),
            &[],
            config(true, true),
            calls,
        )
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn a_restart_an_hour_after_a_run_starts_nothing_and_makes_no_call() {
        // Eraser #1169: every manager start deleted all ImageJobs and started a new run at once.
        let state = ran_an_hour_ago();
        let (wake, _) = tick(
            Some(state_cm(&state, None, "7")),
            &[],
            config(true, true),
            vec![],
        )
        .await;
        assert_eq!(wake, Some(at(DAY - SignedDuration::from_hours(1))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_restart_during_a_run_waits_for_it() {
        let mut state = ran_an_hour_ago();
        state.last_finished = None;
        let jobs = [job(
            "imagejob-prev",
            names::JOB_OWNER_COLLECTOR,
            JobPhase::Running,
            at(SignedDuration::from_hours(-1)),
        )];
        let (wake, _) = tick(
            Some(state_cm(&state, None, "7")),
            &jobs,
            config(true, true),
            vec![],
        )
        .await;
        assert_eq!(wake, None);
    }

    #[tokio::test(start_paused = true)]
    async fn automatic_mode_off_does_nothing() {
        let (wake, _) = tick(None, &[], config(false, true), vec![]).await;
        assert_eq!(wake, None);
    }

    #[tokio::test(start_paused = true)]
    async fn enabling_with_begin_immediately_starts_the_clock_and_one_run() {
        let (_, started, calls) = first_enable();
        let (wake, scheduler) = tick(None, &[], config(true, true), calls).await;
        assert_eq!(
            wake,
            Some(at(MISSING_GRACE)),
            "nothing more until the new job reaches the cache"
        );
        let running = [running_collector("imagejob-a1")];
        assert_eq!(
            decide(&started, None, &running, &config(true, true), t0()),
            Decision::Wait(None)
        );
        let mut done = started.clone();
        done.last_finished = Some(at(SignedDuration::from_hours(1)));
        assert_eq!(
            decide(
                &done,
                None,
                &[],
                &config(true, true),
                at(SignedDuration::from_hours(2))
            ),
            Decision::Wait(Some(at(DAY))),
            "the next run is one interval after the first started"
        );
        assert_eq!(read_state(scheduler.state.as_ref()).unwrap().0, started);
    }

    #[tokio::test(start_paused = true)]
    async fn without_begin_immediately_the_first_run_waits_one_interval() {
        let clock = ScheduleState {
            enabled_at: Some(t0()),
            ..ScheduleState::default()
        };
        let calls = vec![Exchange::new(
            Method::POST,
            format!("/api/v1/namespaces/{NS}/configmaps?&fieldManager=drydock"),
            state_json(&clock, None, "1"),
        )];
        let (wake, _) = tick(None, &[], config(true, false), calls).await;
        assert_eq!(wake, Some(at(DAY)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_request_starts_exactly_one_run() {
        let request = "2026-03-01T02:59:00Z";
        let (state, handled) = run_requested(request, "imagejob-r1");
        let mut calls = exclusions_ok();
        calls.extend(automatic_job_creation("imagejob-r1"));
        calls.push(
            Exchange::new(
                Method::PATCH,
                state_path(),
                state_json(&handled, Some(request), "8"),
            )
            .with_body(
                json!({"data": {"schedule.json": serde_json::to_string(&handled).unwrap()}}),
            ),
        );
        calls.push(job_event("JobStarted", "imagejob-r1"));
        let (_, scheduler) = tick_on_request(&state, request, calls).await;
        // The next look (the job now in the cache, or after it finished and was recorded):
        // the same request starts nothing more.
        let running = [running_collector("imagejob-r1")];
        let (wake, _) = tick(
            scheduler.state.clone(),
            &running,
            config(true, true),
            vec![],
        )
        .await;
        assert_eq!(wake, None);
        let mut finished = handled.clone();
        finished.last_finished = Some(t0());
        let gone = decide(
            &finished,
            Some(request),
            &[],
            &config(true, true),
            at(SignedDuration::from_mins(5)),
        );
        assert_eq!(gone, Decision::Wait(Some(at(DAY))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dry_run_request_starts_a_job_labelled_dry_run() {
        let request = "2026-03-01T02:59:00Z";
        let (state, handled) = run_requested(request, "imagejob-d1");
        let mut cm = state_json(&state, Some(request), "7");
        cm["metadata"]["annotations"][st::RUN_DRY_RUN_ANNOTATION] = json!(request);
        let mut calls = exclusions_ok();
        let mut creation = automatic_job_creation("imagejob-d1");
        creation[2] = creation[2]
            .clone()
            .with_body(json!({"metadata": {"labels": {
                "eraser.sh/job-owner": "imagecollector",
                names::DRY_RUN_LABEL: "true",
            }}}));
        calls.extend(creation);
        let mut written = state_json(&handled, Some(request), "8");
        written["metadata"]["annotations"][st::RUN_DRY_RUN_ANNOTATION] = json!(request);
        calls.push(
            Exchange::new(Method::PATCH, state_path(), written).with_body(
                json!({"data": {"schedule.json": serde_json::to_string(&handled).unwrap()}}),
            ),
        );
        calls.push(job_event("JobStarted", "imagejob-d1"));
        tick(
            Some(serde_json::from_value(cm).unwrap()),
            &[],
            config(true, true),
            calls,
        )
        .await;
    }

    #[test]
    fn only_the_request_the_dry_run_annotation_names_is_a_dry_run() {
        let state = ran_an_hour_ago();
        let mut cm = state_json(&state, Some("2026-03-01T03:00:00Z"), "7");
        cm["metadata"]["annotations"][st::RUN_DRY_RUN_ANNOTATION] = json!("2026-03-01T02:00:00Z");
        let cm: ConfigMap = serde_json::from_value(cm).unwrap();
        assert!(!dry_run_requested(Some(&cm), Some("2026-03-01T03:00:00Z")));
        assert!(dry_run_requested(Some(&cm), Some("2026-03-01T02:00:00Z")));
        assert!(!dry_run_requested(Some(&cm), None));
        assert!(!dry_run_requested(None, Some("2026-03-01T02:00:00Z")));
    }

    #[test]
    fn the_schedule_ignores_manual_jobs_and_a_request_waits_for_a_running_run() {
        // Eraser's collector took whatever ImageJob existed for its own.
        let due = ScheduleState {
            enabled_at: Some(at(-DAY * 3)),
            last_started: Some(at(-DAY * 2)),
            last_finished: Some(at(-DAY * 2)),
            last_job: Some("imagejob-old".into()),
            handled_run_request: None,
        };
        let manual = [job(
            "imagejob-m",
            names::JOB_OWNER_IMAGELIST,
            JobPhase::Running,
            t0(),
        )];
        assert_eq!(
            decide(&due, None, &manual, &config(true, true), t0()),
            Decision::Start(None)
        );
        let mut running = due.clone();
        running.last_started = Some(t0());
        running.last_finished = None;
        running.last_job = Some("imagejob-a".into());
        let own = [job(
            "imagejob-a",
            names::JOB_OWNER_COLLECTOR,
            JobPhase::Running,
            t0(),
        )];
        assert_eq!(
            decide(&running, Some("r"), &own, &config(true, true), t0()),
            Decision::Wait(None)
        );
    }

    #[test]
    fn a_started_job_never_seen_counts_as_finished_after_the_grace() {
        // delayOnSuccess 0s: the job can be deleted before the schedule sees it finish.
        let state = ScheduleState {
            enabled_at: Some(at(-DAY)),
            last_started: Some(t0()),
            last_finished: None,
            last_job: Some("imagejob-gone".into()),
            handled_run_request: None,
        };
        let soon = at(SignedDuration::from_secs(30));
        assert_eq!(
            decide(&state, Some("r"), &[], &config(true, true), soon),
            Decision::Wait(Some(at(MISSING_GRACE)))
        );
        let later = at(MISSING_GRACE + SignedDuration::from_secs(1));
        assert_eq!(
            decide(&state, None, &[], &config(true, true), later),
            Decision::Record("imagejob-gone".into())
        );
    }

    #[test]
    fn a_job_missing_from_the_state_is_adopted_not_duplicated() {
        let state = ran_an_hour_ago();
        let orphan = [job(
            "imagejob-new",
            names::JOB_OWNER_COLLECTOR,
            JobPhase::Running,
            t0(),
        )];
        assert_eq!(
            decide(&state, None, &orphan, &config(true, true), t0()),
            Decision::Adopt("imagejob-new".into())
        );
        let old = [job(
            "imagejob-older",
            names::JOB_OWNER_COLLECTOR,
            JobPhase::Completed,
            at(-DAY),
        )];
        assert!(matches!(
            decide(&state, None, &old, &config(true, true), t0()),
            Decision::Wait(Some(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_run_is_noted_once_and_sets_the_next_due_time() {
        let started = at(SignedDuration::from_hours(-1));
        let state = ScheduleState {
            enabled_at: Some(at(-DAY)),
            last_started: Some(started),
            last_finished: None,
            last_job: Some("imagejob-a".into()),
            handled_run_request: None,
        };
        let done = ScheduleState {
            last_finished: Some(t0()),
            ..state.clone()
        };
        let calls = vec![
            Exchange::new(Method::PATCH, state_path(), state_json(&done, None, "9")).with_body(
                json!({"data": {"schedule.json": serde_json::to_string(&done).unwrap()}}),
            ),
        ];
        let jobs = [job(
            "imagejob-a",
            names::JOB_OWNER_COLLECTOR,
            JobPhase::Completed,
            started,
        )];
        let (wake, scheduler) = tick(
            Some(state_cm(&state, None, "8")),
            &jobs,
            config(true, true),
            calls,
        )
        .await;
        assert_eq!(wake, Some(started.checked_add(DAY).unwrap()));
        let (again, _) = tick(scheduler.state, &jobs, config(true, true), vec![]).await;
        assert_eq!(again, wake, "recorded once");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreadable_exclusion_list_blocks_the_run_and_is_reported_once() {
        let state = ScheduleState {
            enabled_at: Some(at(-DAY * 2)),
            ..ScheduleState::default()
        };
        let bad = || {
            vec![
                Exchange::new(
                    Method::GET,
                    format!(
                        "/api/v1/namespaces/{NS}/configmaps?&labelSelector=eraser.sh%2Fexclude.list%3Dtrue"
                    ),
                    json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {}, "items": [
                        {"metadata": {"name": "excluded", "namespace": NS}, "data": {"sample.txt": "x"}}
                    ]}),
                ),
                Exchange::new(
                    Method::GET,
                    format!("/api/v1/namespaces/{NS}/configmaps/eraser-system-exclusion"),
                    json!({}),
                )
                .failing(404, "NotFound", "not found"),
            ]
        };
        let mut calls = bad();
        for (reason, name) in [
            ("InvalidExclusionList", "excluded"),
            ("RunBlocked", st::STATE_CONFIGMAP),
        ] {
            calls.push(
                Exchange::new(
                    Method::POST,
                    format!("/api/v1/namespaces/{NS}/events?"),
                    json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}}),
                )
                .with_body(json!({"type": "Warning", "reason": reason, "involvedObject": {"kind": "ConfigMap", "name": name}})),
            );
        }
        calls.extend(bad());
        let (client, verifier) = mock::client(calls);
        let ctx = context(client, config(true, true));
        let mut scheduler = Scheduler::default();
        scheduler.observe(Some(state_cm(&state, None, "3")));
        let wake = scheduler.tick(&ctx, &[]).await.unwrap();
        assert_eq!(wake, Some(at(BLOCKED_RETRY)));
        scheduler.tick(&ctx, &[]).await.unwrap();
        verifier.finish().await;
    }

    #[test]
    fn a_bad_schedule_json_names_the_configmap() {
        let mut cm = state_cm(&ScheduleState::default(), None, "1");
        cm.data = Some([(st::SCHEDULE_KEY.to_owned(), "{nope".to_owned())].into());
        let err = read_state(Some(&cm)).unwrap_err().to_string();
        assert!(
            err.starts_with("ConfigMap drydock-image-cleaner-state key schedule.json: "),
            "{err}"
        );
    }

    #[test]
    fn sleeps_are_never_negative() {
        assert_eq!(sleep_for(Some(at(-DAY)), t0()), Duration::ZERO);
        assert_eq!(
            sleep_for(Some(at(SignedDuration::from_secs(90))), t0()),
            Duration::from_secs(90)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_started_run_is_persisted_even_when_the_state_changed_meanwhile() {
        // Without it, the run request would still look unhandled and start a second run.
        let request = "2026-03-01T02:59:00Z";
        let (state, handled) = run_requested(request, "imagejob-r1");
        let mut calls = exclusions_ok();
        calls.extend(automatic_job_creation("imagejob-r1"));
        calls.push(
            Exchange::new(Method::PATCH, state_path(), json!({}))
                .with_body(json!({"metadata": {"resourceVersion": "7"}}))
                .failing(409, "Conflict", "the object has been modified"),
        );
        calls.push(Exchange::new(
            Method::GET,
            format!("/api/v1/namespaces/{NS}/configmaps/{}", st::STATE_CONFIGMAP),
            state_json(&state, Some("2026-03-01T03:00:00Z"), "8"),
        ));
        calls.push(
            Exchange::new(
                Method::PATCH,
                state_path(),
                state_json(&handled, Some("2026-03-01T03:00:00Z"), "9"),
            )
            .with_body(json!({"metadata": {"resourceVersion": "8"},
                              "data": {"schedule.json": serde_json::to_string(&handled).unwrap()}})),
        );
        calls.push(job_event("JobStarted", "imagejob-r1"));
        let (wake, _) = tick_on_request(&state, request, calls).await;
        // The newer request (03:00) is for after this run: nothing more until the job is seen.
        assert_eq!(wake, Some(at(MISSING_GRACE)));
    }

    /// Found against a real API server: the watch delivers the schedule's own first write (the
    /// state without the run) after the run's start was written; deciding on that older copy
    /// started a second run. The older copy must not replace the newer one the schedule holds.
    #[tokio::test(start_paused = true)]
    async fn a_cache_behind_the_schedules_own_write_starts_no_second_run() {
        let (clock_state, started, calls) = first_enable();
        let (wake, mut scheduler) = tick(None, &[], config(true, true), calls).await;
        assert_eq!(wake, Some(at(MISSING_GRACE)));
        // The watch catches up with the first write only; the job is not in its cache yet. Any
        // call now (a second job) finds no expected call and fails the tick.
        scheduler.observe(Some(state_cm(&clock_state, None, "1")));
        let (client, verifier) = mock::client(vec![]);
        let wake = scheduler
            .tick(&context(client, config(true, true)), &[])
            .await
            .unwrap();
        verifier.finish().await;
        assert_eq!(wake, Some(at(MISSING_GRACE)));
        scheduler.observe(Some(state_cm(&started, None, "2")));
        assert_eq!(read_state(scheduler.state.as_ref()).unwrap().0, started);
    }

    #[test]
    fn only_a_cache_copy_at_least_as_new_replaces_the_held_state() {
        let cm = |rv: &str| state_cm(&ScheduleState::default(), None, rv);
        assert!(cache_is_current(None, None));
        assert!(cache_is_current(None, Some(&cm("3"))));
        assert!(
            cache_is_current(Some(&cm("9")), Some(&cm("10"))),
            "numeric, not textual"
        );
        assert!(cache_is_current(Some(&cm("10")), Some(&cm("10"))));
        assert!(!cache_is_current(Some(&cm("10")), Some(&cm("9"))));
        assert!(
            !cache_is_current(Some(&cm("1")), None),
            "created, not yet seen"
        );
        assert!(
            cache_is_current(Some(&cm("x")), Some(&cm("y"))),
            "opaque: taken"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_sleeps_until_the_run_is_due_then_starts_exactly_one() {
        // A manager (re)started an hour after a run: nothing for 23 hours, then one run.
        use kube::runtime::reflector::store::Writer;
        let state = ran_an_hour_ago();
        let due = at(DAY - SignedDuration::from_hours(1));
        let started = ScheduleState {
            last_started: Some(due),
            last_finished: None,
            last_job: Some("imagejob-s1".into()),
            ..state.clone()
        };
        let mut calls = exclusions_ok();
        calls.extend(automatic_job_creation("imagejob-s1"));
        calls.push(
            Exchange::new(Method::PATCH, state_path(), state_json(&started, None, "8")).with_body(
                json!({"data": {"schedule.json": serde_json::to_string(&started).unwrap()}}),
            ),
        );
        calls.push(job_event("JobStarted", "imagejob-s1"));
        let (client, verifier) = mock::client(calls);
        let origin = tokio::time::Instant::now();
        let clock: crate::manager::controller::Clock = Arc::new(move || {
            let elapsed = SignedDuration::try_from(origin.elapsed()).unwrap();
            t0().checked_add(elapsed).unwrap()
        });
        let ctx = Arc::new(
            crate::manager::controller::Context::new(client, NS, config(true, true))
                .with_clock(clock),
        );
        let mut states: Writer<ConfigMap> = Writer::default();
        states.apply_watcher_event(&watcher::Event::Init);
        states.apply_watcher_event(&watcher::Event::InitApply(state_cm(&state, None, "7")));
        states.apply_watcher_event(&watcher::Event::InitDone);
        let mut jobs: Writer<ImageJob> = Writer::default();
        jobs.apply_watcher_event(&watcher::Event::Init);
        jobs.apply_watcher_event(&watcher::Event::InitDone);
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(drive(
            ctx,
            shutdown,
            states.as_reader(),
            jobs.as_reader(),
            futures::stream::pending(),
        ));
        // Just before it is due, nothing was called (an early call would fail the verifier
        // and the start time in the state write would not match).
        tokio::time::sleep(
            (DAY - SignedDuration::from_hours(1)).unsigned_abs() + Duration::from_secs(1),
        )
        .await;
        verifier.finish().await;
        stop.send(true).unwrap();
        task.await.unwrap().unwrap();
    }

    /// Jobs started one after another (each failing at once, say): the sixth within ten
    /// minutes is not started; the breaker says why once, on the state ConfigMap.
    #[tokio::test(start_paused = true)]
    async fn a_run_after_five_in_ten_minutes_is_refused_by_the_breaker() {
        let request = "2026-03-01T02:59:00Z";
        let state = ran_an_hour_ago();
        let recent: Vec<ImageJob> = (1..=5)
            .map(|n| {
                let created = t0() - SignedDuration::from_mins(n);
                (*job(
                    &format!("imagejob-f{n}"),
                    names::JOB_OWNER_COLLECTOR,
                    JobPhase::Failed,
                    created,
                ))
                .clone()
            })
            .collect();
        let mut calls = exclusions_ok();
        calls.push(Exchange::new(
            Method::GET,
            "/apis/eraser.sh/v1/imagejobs?&labelSelector=eraser.sh%2Fjob-owner%3Dimagecollector",
            json!({"apiVersion": "eraser.sh/v1", "kind": "ImageJobList", "metadata": {}, "items": recent}),
        ));
        calls.push(
            Exchange::new(
                Method::POST,
                format!("/api/v1/namespaces/{NS}/events?"),
                json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}}),
            )
            .with_body(json!({"type": "Warning", "reason": "CircuitOpen",
                              "involvedObject": {"kind": "ConfigMap", "name": st::STATE_CONFIGMAP}})),
        );
        let (wake, _) = tick_on_request(&state, request, calls).await;
        assert_eq!(wake, Some(t0() + BLOCKED_RETRY));
    }
}
