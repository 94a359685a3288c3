//! The manager's controllers: thin IO around the pure core ([`crate::manager::plan`],
//! [`crate::manager::podspec`], [`crate::manager::fold`], [`crate::manager::schedule`]).
//!
//! - [`Context`]: what every controller shares — the client, the manager's namespace, the
//!   current configuration (swapped on reload, watched by whoever cares), the metrics, the
//!   clock (injected, so tests run on fixed time) and Event writing.
//! - [`create_job`]: starts one run (automatic or manual) the way every starter must: the
//!   PodTemplate first, then the ImageJob, then everything re-owned by the ImageJob.
//! - [`imagejob`]: the ImageJob controller (pods per node, folding, cleanup).
//! - [`run_all`]: runs every controller until shutdown.

use std::collections::BTreeMap;
use std::sync::Arc;

use drydock_api::config::Config;
use drydock_api::imagejob::ImageJob;
use drydock_api::names;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Event, ObjectReference, PodTemplate, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use tokio::sync::watch;

use crate::manager::breaker::{StartGuard, Verdict};
use crate::manager::metrics::Metrics;
use crate::manager::podspec::{self, TemplateInputs};
use crate::{Error, Result};

pub mod exclusions;
pub mod imagejob;
pub mod imagelist;
pub mod records;
pub mod reload;
pub mod schedule;
pub mod vulnreport;

/// The field manager of every write (the shared contract's name).
pub const FIELD_MANAGER: &str = "drydock";
/// The component named in Events.
pub const EVENT_COMPONENT: &str = "drydock-manager";
/// Label on the PodTemplates and ConfigMaps the manager creates, so leftovers can be found.
pub const MANAGED_BY_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "drydock");
/// Key of the image list in a manual job's ConfigMap (Eraser's).
pub const IMAGELIST_KEY: &str = "images";
/// `generateName` of ImageJobs and their PodTemplates (Eraser's).
pub const JOB_NAME_PREFIX: &str = "imagejob-";
/// `generateName` of manual jobs' image list ConfigMaps (Eraser's).
pub const IMAGELIST_CONFIGMAP_PREFIX: &str = "imagelist-";
/// Reason of the Event (and the ImageList condition) that says the circuit breaker opened.
pub const BREAKER_REASON: &str = "CircuitOpen";
/// Namespace of Events about cluster-scoped objects (what kubectl looks in).
pub const CLUSTER_EVENT_NAMESPACE: &str = "default";

/// Where the time comes from: the wall clock in production, a fixed or stepped one in tests.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Process-level inputs of the worker pods besides the config.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Extra pull secrets (`ERASER_PULL_SECRET_NAMES`, comma-separated, legacy).
    pub extra_pull_secrets: Vec<String>,
    /// The `--log-level` handed to the components; empty means the config's
    /// `manager.logLevel`.
    pub log_level: String,
    /// Repositories of Drydock's own image besides the default one (the manager's own image):
    /// worker components from them get Drydock's command ([`podspec::is_drydock_image`]).
    pub drydock_repositories: Vec<String>,
}

/// What every controller shares.
pub struct Context {
    /// The API client.
    pub client: kube::Client,
    /// The manager's namespace (pods, PodTemplates, ConfigMaps live here).
    pub namespace: String,
    /// The manager's metrics.
    pub metrics: Metrics,
    /// Process-level worker pod inputs.
    pub settings: Settings,
    config: watch::Sender<Arc<Config>>,
    clock: Clock,
    starts: std::sync::Mutex<StartGuard>,
    denied: std::sync::Mutex<std::collections::BTreeSet<Permission>>,
}

/// A permission (verb on resource) the manager's role may lack: Eraser's chart grants neither
/// `deletecollection` on pods nor anything on Events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    /// The verb, as RBAC spells it.
    pub verb: &'static str,
    /// The resource, as RBAC spells it.
    pub resource: &'static str,
}

/// `create events`: without it no Event is written (the log and the status still say it).
pub const CREATE_EVENTS: Permission = Permission {
    verb: "create",
    resource: "events",
};
/// `deletecollection pods`: without it a job's pods are deleted one by one.
pub const DELETECOLLECTION_PODS: Permission = Permission {
    verb: "deletecollection",
    resource: "pods",
};

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("namespace", &self.namespace)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

// === impl Context ===

impl Context {
    /// A context on the wall clock, with unregistered metrics and default settings.
    #[must_use]
    pub fn new(client: kube::Client, namespace: impl Into<String>, config: Config) -> Self {
        Self {
            client,
            namespace: namespace.into(),
            metrics: Metrics::default(),
            settings: Settings::default(),
            config: watch::Sender::new(Arc::new(config)),
            clock: Arc::new(Timestamp::now),
            starts: std::sync::Mutex::new(StartGuard::default()),
            denied: std::sync::Mutex::new(std::collections::BTreeSet::new()),
        }
    }

    /// Uses `clock` for the time (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Uses these (registered) metrics.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Uses these worker pod settings.
    #[must_use]
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// The time now.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }

    /// Replaces the configuration (a reload); watchers see the change. A configuration change
    /// is a human's act: it closes the circuit breaker on job starts ([`crate::manager::breaker`]).
    pub fn set_config(&self, config: Config) {
        self.config.send_replace(Arc::new(config));
        let mut starts = self.start_guard();
        if starts.is_open() {
            tracing::info!("configuration changed; ImageJobs may be started again");
        }
        starts.reset();
        self.metrics.breaker_open.set(0);
    }

    /// Whether the API server refused `permission` before (then the caller takes its fallback
    /// without asking again).
    #[must_use]
    pub fn is_denied(&self, permission: Permission) -> bool {
        self.denied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&permission)
    }

    /// Notes that the API server refused `permission`: reported once (a log line naming the
    /// verb and the resource, and `drydock_image_cleaner_permission_missing{verb,resource}` set
    /// to 1), never again for the life of the process.
    pub fn deny(&self, permission: Permission, error: &kube::Error) {
        let first = self
            .denied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(permission);
        if first {
            self.metrics
                .permission_missing
                .get_or_create(&crate::manager::metrics::PermissionLabels {
                    verb: permission.verb.to_owned(),
                    resource: permission.resource.to_owned(),
                })
                .set(1);
            tracing::warn!(
                verb = permission.verb,
                resource = permission.resource,
                error = %drydock_kube::status::message(error),
                "the manager's role lacks this permission; going on without it (reported once)"
            );
        }
    }

    fn start_guard(&self) -> std::sync::MutexGuard<'_, StartGuard> {
        self.starts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A receiver that sees every later [`Context::set_config`].
    #[must_use]
    pub fn watch_config(&self) -> watch::Receiver<Arc<Config>> {
        self.config.subscribe()
    }

    /// Writes a core/v1 Event about `regarding`. Best effort: a failure is logged, never
    /// returned, because an Event must not stop the work it describes.
    pub async fn event(
        &self,
        regarding: ObjectReference,
        kind: EventKind,
        reason: &str,
        note: &str,
    ) {
        let event = event_object(regarding, kind, reason, note, self.now());
        let namespace = event
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| CLUSTER_EVENT_NAMESPACE.to_owned());
        if self.is_denied(CREATE_EVENTS) {
            return;
        }
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {}
            Err(error) if drydock_kube::status::is_forbidden(&error) => {
                self.deny(CREATE_EVENTS, &error)
            }
            Err(error) => tracing::warn!(reason, %error, "cannot write Event"),
        }
    }
}

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Something worth knowing.
    Normal,
    /// Something went wrong.
    Warning,
}

/// The Event object (pure; `now` stamps it).
#[must_use]
pub fn event_object(
    regarding: ObjectReference,
    kind: EventKind,
    reason: &str,
    note: &str,
    now: Timestamp,
) -> Event {
    let namespace = regarding
        .namespace
        .clone()
        .unwrap_or_else(|| CLUSTER_EVENT_NAMESPACE.to_owned());
    let name = regarding.name.clone().unwrap_or_default();
    Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}.")),
            namespace: Some(namespace),
            ..ObjectMeta::default()
        },
        involved_object: regarding,
        type_: Some(
            match kind {
                EventKind::Normal => "Normal",
                EventKind::Warning => "Warning",
            }
            .to_owned(),
        ),
        reason: Some(reason.to_owned()),
        message: Some(note.to_owned()),
        source: Some(k8s_openapi::api::core::v1::EventSource {
            component: Some(EVENT_COMPONENT.to_owned()),
            host: None,
        }),
        reporting_component: Some(EVENT_COMPONENT.to_owned()),
        reporting_instance: Some(EVENT_COMPONENT.to_owned()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        // No `eventTime`: API servers reject a new-style Event about a cluster-scoped object
        // in `default` ("involvedObject.namespace does not match"); kubelet-style Events
        // (first/last timestamps only) are accepted by every version.
        action: Some(reason.to_owned()),
        count: Some(1),
        ..Event::default()
    }
}

/// What a run is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobMode {
    /// Collector (+ scanner) + remover on every node; label `eraser.sh/job-owner=imagecollector`.
    Automatic,
    /// A remover with this image list on every node; label
    /// `eraser.sh/job-owner=imagelist-controller`. The list goes in an immutable ConfigMap
    /// `imagelist-xxxxx` (key `images`, a JSON array) owned by the job.
    Manual {
        /// The images (an ImageList's `spec.images`).
        images: Vec<String>,
    },
}

/// One run to start.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRequest {
    /// Automatic or manual.
    pub mode: JobMode,
    /// The ImageJob's owner (the ImageList for manual runs; none for automatic ones).
    pub owner: Option<OwnerReference>,
    /// The exclusion ConfigMaps to mount (labelled `eraser.sh/exclude.list=true`, plus the
    /// system list), as the exclusions loader found them valid.
    pub exclusions: Vec<String>,
    /// Labels that identify this start on the ImageJob (the ImageList uid and generation of a
    /// manual run), so [`preflight`] finds the job again after any failure that follows.
    pub identity: BTreeMap<String, String>,
}

/// What a starter must do instead of (or before) creating a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preflight {
    /// Nothing stands in the way: create the job.
    Clear,
    /// The job for this start exists already (created by this or an earlier process, before a
    /// write that failed): adopt it, start nothing.
    Adopt(String),
    /// Another job of the same controller has not finished: at most one at a time.
    Busy(String),
    /// The circuit breaker is open: why, and whether this check opened it.
    Refused {
        /// Why (for the log, a condition and an Event).
        reason: String,
        /// This check opened the breaker (report it; later refusals are quiet).
        newly: bool,
    },
}

fn unfinished(job: &ImageJob) -> bool {
    job.metadata.deletion_timestamp.is_none()
        && !job.status.as_ref().is_some_and(|s| {
            matches!(
                s.phase,
                drydock_api::imagejob::JobPhase::Completed
                    | drydock_api::imagejob::JobPhase::Failed
            )
        })
}

/// Decides what a start must do, given the controller's ImageJobs as the API server lists them
/// (pure but for the breaker's memory of starts). `identity` empty never adopts; a dry run's job
/// is never adopted for a real start, nor the reverse.
pub fn preflight_decide(
    jobs: &[ImageJob],
    identity: &BTreeMap<String, String>,
    guard: &mut StartGuard,
    now: Timestamp,
) -> Preflight {
    let dry_run = dry_run_of(identity);
    if !identity.is_empty()
        && let Some(job) = jobs.iter().find(|job| {
            identity.iter().all(|(k, v)| job.labels().get(k) == Some(v))
                && crate::manager::history::is_dry_run(job) == dry_run
        })
    {
        return Preflight::Adopt(job.name_any());
    }
    if let Some(job) = jobs.iter().find(|job| unfinished(job)) {
        return Preflight::Busy(job.name_any());
    }
    let created: Vec<Timestamp> = jobs
        .iter()
        .filter_map(|job| job.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .collect();
    match guard.check(&created, now) {
        Verdict::Allow => Preflight::Clear,
        Verdict::Refuse { reason, newly } => Preflight::Refused { reason, newly },
    }
}

/// Looks before a start: lists the ImageJobs labelled `eraser.sh/job-owner=<owner>` (one call,
/// the API server's current view, not a cache that may lag behind a creation) and decides with
/// [`preflight_decide`]. A breaker that this check opened is logged once and shown by the
/// `drydock_image_cleaner_breaker_open` metric.
///
/// # Errors
/// [`Error::Kube`] when the list fails.
pub async fn preflight(
    ctx: &Context,
    owner: &str,
    identity: &BTreeMap<String, String>,
) -> Result<Preflight> {
    let api: Api<ImageJob> = Api::all(ctx.client.clone());
    let selector = format!("{}={owner}", names::JOB_OWNER_LABEL);
    let jobs = api
        .list(&kube::api::ListParams::default().labels(&selector))
        .await
        .map_err(Error::kube("list the ImageJobs before starting one"))?;
    let now = ctx.now();
    let verdict = preflight_decide(&jobs.items, identity, &mut ctx.start_guard(), now);
    if let Preflight::Refused {
        reason,
        newly: true,
    } = &verdict
    {
        ctx.metrics.breaker_open.set(1);
        tracing::error!(owner, %reason, "circuit breaker open: no more ImageJobs are started");
    }
    Ok(verdict)
}

/// Counts a start for the circuit breaker (after [`create_job`] succeeded).
pub fn count_start(ctx: &Context) {
    let now = ctx.now();
    ctx.start_guard().record(now);
}

/// An owner reference to `job` (controller, no `blockOwnerDeletion`: that would need an extra
/// `imagejobs/finalizers` permission under the OwnerReferencesPermissionEnforcement plugin).
///
/// # Errors
/// [`Error::Object`] when the job has no name or uid yet.
pub fn job_owner_reference(job: &ImageJob) -> Result<OwnerReference> {
    let mut owner = job.controller_owner_ref(&()).ok_or_else(|| Error::Object {
        object: format!("ImageJob {}", job.name_any()),
        message: "has no name or uid".to_owned(),
    })?;
    owner.block_owner_deletion = None;
    Ok(owner)
}

/// The parameters of every status write: server-side apply as [`FIELD_MANAGER`], forced, so
/// the manager takes over a field another writer (`kubectl`, an Eraser manager) set last.
#[must_use]
pub fn status_apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// The server-side apply body of a `K`'s status (pure): `apiVersion`, `kind` and `status`.
///
/// `status` must be the whole status the manager owns: a field it wrote before and leaves
/// out now is removed by the API server (a `None` skipped in serialisation is released too).
pub fn status_apply<K>(status: &impl serde::Serialize) -> Patch<serde_json::Value>
where
    K: Resource<DynamicType = ()>,
{
    Patch::Apply(serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    }))
}

fn managed_labels() -> BTreeMap<String, String> {
    BTreeMap::from([(MANAGED_BY_LABEL.0.to_owned(), MANAGED_BY_LABEL.1.to_owned())])
}

/// The manual image list ConfigMap (pure).
///
/// # Errors
/// [`Error::Input`] if the list cannot be serialised (it always can).
pub fn imagelist_configmap(namespace: &str, images: &[String]) -> Result<ConfigMap> {
    let json = serde_json::to_string(images).map_err(|e| Error::Input {
        source_name: "ImageList spec.images".to_owned(),
        message: e.to_string(),
    })?;
    Ok(ConfigMap {
        metadata: ObjectMeta {
            generate_name: Some(IMAGELIST_CONFIGMAP_PREFIX.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(managed_labels()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(IMAGELIST_KEY.to_owned(), json)])),
        immutable: Some(true),
        ..ConfigMap::default()
    })
}

/// The `eraser.sh/job-owner` label value of a mode.
#[must_use]
pub const fn job_owner_label(mode: &JobMode) -> &'static str {
    match mode {
        JobMode::Automatic => names::JOB_OWNER_COLLECTOR,
        JobMode::Manual { .. } => names::JOB_OWNER_IMAGELIST,
    }
}

/// Whether a start's identity labels make it a dry run (`drydock.dev/dry-run=true`).
#[must_use]
pub fn dry_run_of(identity: &BTreeMap<String, String>) -> bool {
    identity
        .get(names::DRY_RUN_LABEL)
        .is_some_and(|value| value == "true")
}

/// Whether the configured remover can do a dry run: only Drydock's can (another image would
/// remove for real).
///
/// # Errors
/// [`Error::Input`] naming `components.remover.image` otherwise.
pub fn dry_run_possible(config: &Config, drydock_repositories: &[String]) -> Result<()> {
    let remover = &config.components.remover.image;
    if podspec::is_drydock_image(remover, drydock_repositories) {
        return Ok(());
    }
    Err(Error::Input {
        source_name: "components.remover.image".to_owned(),
        message: format!(
            "{} is not Drydock's remover, which alone can do a dry run; no job started",
            remover.reference()
        ),
    })
}

/// Starts one run and returns the ImageJob's name.
///
/// Order (each step one API call): for a manual run the image list ConfigMap; the PodTemplate
/// (`generateName: imagejob-`), so it exists before any ImageJob controller can look for it
/// (Eraser created the job first and raced, #1051); the ImageJob named like the PodTemplate,
/// labelled `eraser.sh/job-owner`; then the PodTemplate and the ConfigMap are re-owned by the
/// ImageJob, so deleting the job collects everything (Eraser chained them to the manager pod
/// and orphaned them, #912). Should the ImageJob not be created, the PodTemplate and ConfigMap
/// are deleted again (best effort).
///
/// # Errors
/// [`Error::Kube`] naming the step that failed.
pub async fn create_job(ctx: &Context, request: JobRequest) -> Result<String> {
    let config = ctx.config();
    let namespace = ctx.namespace.as_str();
    let post = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    let configmaps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    let templates: Api<PodTemplate> = Api::namespaced(ctx.client.clone(), namespace);
    let jobs: Api<ImageJob> = Api::all(ctx.client.clone());
    let dry_run = dry_run_of(&request.identity);
    if dry_run {
        dry_run_possible(&config, &ctx.settings.drydock_repositories)?;
    }

    let configmap = match &request.mode {
        JobMode::Manual { images } => Some(
            configmaps
                .create(&post, &imagelist_configmap(namespace, images)?)
                .await
                .map_err(Error::kube("create the image list ConfigMap"))?
                .name_any(),
        ),
        JobMode::Automatic => None,
    };
    let pod_mode = match &configmap {
        Some(name) => podspec::Mode::Manual {
            imagelist_configmap: name.clone(),
        },
        None => podspec::Mode::Collector,
    };
    let verdict_secret =
        if verdict_cache_wanted(&config, &pod_mode, &ctx.settings.drydock_repositories) {
            create_token_secret(ctx, &post).await
        } else {
            None
        };
    let inputs = TemplateInputs {
        verdict_secret: verdict_secret.clone(),
        exclusion_configmaps: request.exclusions.clone(),
        extra_pull_secrets: ctx.settings.extra_pull_secrets.clone(),
        log_level: if ctx.settings.log_level.is_empty() {
            config.manager.log_level.clone()
        } else {
            ctx.settings.log_level.clone()
        },
        drydock_repositories: ctx.settings.drydock_repositories.clone(),
        dry_run,
    };
    let template = PodTemplate {
        metadata: ObjectMeta {
            generate_name: Some(JOB_NAME_PREFIX.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(managed_labels()),
            ..ObjectMeta::default()
        },
        template: Some(podspec::template(&config, &pod_mode, &inputs)),
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let template = match templates.create(&post, &template).await {
        Ok(template) => template,
        Err(error) => {
            if let Some(secret) = &verdict_secret {
                delete_token_secret(&secrets, secret).await;
            }
            return Err(Error::kube("create the PodTemplate")(error));
        }
    };
    let name = template.name_any();

    let job = job_object(&name, &request);
    let job = match jobs.create(&post, &job).await {
        Ok(job) => job,
        Err(error) => {
            let delete = DeleteParams::default();
            if let Err(e) = templates.delete(&name, &delete).await {
                tracing::warn!(podtemplate = %name, error = %e, "cannot delete the PodTemplate of a job that was not created");
            }
            if let Some(cm) = &configmap
                && let Err(e) = configmaps.delete(cm, &delete).await
            {
                tracing::warn!(configmap = %cm, error = %e, "cannot delete the image list of a job that was not created");
            }
            if let Some(secret) = &verdict_secret {
                delete_token_secret(&secrets, secret).await;
            }
            return Err(Error::kube("create the ImageJob")(error));
        }
    };
    let owned = Owned {
        templates: &templates,
        configmaps: &configmaps,
        secrets: &secrets,
    };
    owned
        .give_to(&job, configmap.as_deref(), verdict_secret.as_deref())
        .await?;
    tracing::info!(imagejob = %name, owner = job_owner_label(&request.mode), "created ImageJob");
    Ok(name)
}

/// The ImageJob of a run: named after its PodTemplate, labelled with the run's identity and
/// its owner controller, owned by the ImageList of a manual run.
fn job_object(name: &str, request: &JobRequest) -> ImageJob {
    ImageJob {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some({
                let mut labels = request.identity.clone();
                labels.insert(
                    names::JOB_OWNER_LABEL.to_owned(),
                    job_owner_label(&request.mode).to_owned(),
                );
                labels
            }),
            owner_references: request.owner.clone().map(|owner| vec![owner]),
            ..ObjectMeta::default()
        },
        spec: drydock_api::imagejob::ImageJobFields {},
        status: None,
    }
}

/// The objects a new job owns, so they are collected with it.
struct Owned<'a> {
    templates: &'a Api<PodTemplate>,
    configmaps: &'a Api<ConfigMap>,
    secrets: &'a Api<Secret>,
}

impl Owned<'_> {
    /// Makes `job` own its PodTemplate (named like it), its image list and its verdict token.
    /// The token also gets the job's name: the manager honours it while this job runs.
    async fn give_to(
        &self,
        job: &ImageJob,
        configmap: Option<&str>,
        verdict_secret: Option<&str>,
    ) -> Result<()> {
        let name = job.name_any();
        let owner = job_owner_reference(job)?;
        let patch = Patch::Merge(serde_json::json!({
            "metadata": { "ownerReferences": [owner] }
        }));
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        self.templates
            .patch(&name, &params, &patch)
            .await
            .map_err(Error::kube(format!(
                "make ImageJob {name} own its PodTemplate"
            )))?;
        if let Some(cm) = configmap {
            self.configmaps
                .patch(cm, &params, &patch)
                .await
                .map_err(Error::kube(format!(
                    "make ImageJob {name} own ConfigMap {cm}"
                )))?;
        }
        if let Some(secret) = verdict_secret {
            // Owned by the job (collected with it) and naming it: the manager honours the token
            // while this job runs.
            let patch = Patch::Merge(serde_json::json!({
                "metadata": {
                    "ownerReferences": [owner],
                    "labels": { podspec::JOB_NAME_LABEL: name },
                }
            }));
            if let Err(error) = self.secrets.patch(secret, &params, &patch).await {
                tracing::warn!(imagejob = %name, secret = %secret, error = %drydock_kube::status::message(&error), "cannot tie the verdict token to its job; this run scans every image on every node");
                delete_token_secret(self.secrets, secret).await;
            }
        }
        Ok(())
    }
}

/// `create secrets`: without it no job gets a verdict cache token, and every node scans
/// every image (Eraser's chart grants nothing on Secrets).
pub const CREATE_SECRETS: Permission = Permission {
    verb: "create",
    resource: "secrets",
};

/// `generateName` of the jobs' verdict token Secrets.
pub const TOKEN_SECRET_PREFIX: &str = "drydock-verdicts-";

/// Whether a job's pods use the cluster's verdict cache: a collector job whose scanner is
/// Drydock's (an Eraser or third-party scanner never gets the token, and a manual job scans
/// nothing).
#[must_use]
pub fn verdict_cache_wanted(
    config: &Config,
    mode: &podspec::Mode,
    drydock_repositories: &[String],
) -> bool {
    *mode == podspec::Mode::Collector
        && config.components.scanner.enabled
        && podspec::is_drydock_image(&config.components.scanner.image, drydock_repositories)
}

/// Creates a job's verdict token Secret (a fresh random token) and returns its name; on any
/// failure the job goes on without a cache (a missing right is reported once).
async fn create_token_secret(ctx: &Context, post: &PostParams) -> Option<String> {
    if ctx.is_denied(CREATE_SECRETS) {
        return None;
    }
    let token = match crate::manager::verdict_cache::new_token() {
        Ok(token) => token,
        Err(error) => {
            tracing::warn!(%error, "cannot make a verdict token; this run scans every image on every node");
            return None;
        }
    };
    let mut labels = managed_labels();
    labels.insert(
        crate::manager::verdict_cache::TOKEN_SECRET_LABEL
            .0
            .to_owned(),
        crate::manager::verdict_cache::TOKEN_SECRET_LABEL
            .1
            .to_owned(),
    );
    let secret = Secret {
        metadata: ObjectMeta {
            generate_name: Some(TOKEN_SECRET_PREFIX.to_owned()),
            namespace: Some(ctx.namespace.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            crate::verdicts::TOKEN_KEY.to_owned(),
            k8s_openapi::ByteString(token.into_bytes()),
        )])),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    match secrets.create(post, &secret).await {
        Ok(created) => Some(created.name_any()),
        Err(error) if drydock_kube::status::is_forbidden(&error) => {
            ctx.deny(CREATE_SECRETS, &error);
            None
        }
        Err(error) => {
            tracing::warn!(error = %drydock_kube::status::message(&error), "cannot create the verdict token Secret; this run scans every image on every node");
            None
        }
    }
}

/// Deletes a token Secret whose job did not come to be (best effort).
async fn delete_token_secret(secrets: &Api<Secret>, name: &str) {
    if let Err(error) = secrets.delete(name, &DeleteParams::default()).await {
        tracing::warn!(secret = %name, error = %drydock_kube::status::message(&error), "cannot delete an unused verdict token Secret");
    }
}

/// Resolves when `shutdown` turns true or its sender is dropped.
pub async fn stopped(mut shutdown: watch::Receiver<bool>) {
    // An error means the sender is gone: shut down as well.
    let _gone = shutdown.wait_for(|stop| *stop).await;
}

/// How long the controllers get to drain after shutdown before they are dropped: kube's
/// `Controller` finishes its running reconciles on a graceful shutdown, but does not return
/// while its watches fail (an unreachable API server), so the wait is bounded.
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs every controller of the manager until `shutdown` turns true (then at most
/// [`STOP_GRACE`] longer).
///
/// # Errors
/// A controller fails to start (its caches never fill, an API it needs is missing).
pub async fn run_all(ctx: Arc<Context>, shutdown: watch::Receiver<bool>) -> Result<()> {
    let all = async {
        tokio::try_join!(
            imagejob::run(ctx.clone(), shutdown.clone()),
            imagelist::run(ctx.clone(), shutdown.clone()),
            schedule::run(ctx.clone(), shutdown.clone()),
        )
        .map(|_| ())
    };
    let deadline = async {
        stopped(shutdown.clone()).await;
        tokio::time::sleep(STOP_GRACE).await;
    };
    tokio::select! {
        result = all => result,
        () = deadline => {
            tracing::warn!(grace = ?STOP_GRACE, "controllers still busy after shutdown; stopping them");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
