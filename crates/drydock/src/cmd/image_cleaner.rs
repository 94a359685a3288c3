//! `drydock image-cleaner enable | disable | status | history | report | run`: the Image
//! Cleaner's lifecycle from an admin workstation, like `az aks update --enable-image-cleaner`.
//!
//! `enable` server-side applies the objects `drydock manifests image-cleaner` prints, keeping an
//! existing `eraser-manager-config` (only the interval changes, when given); `disable` removes
//! the manager and its jobs and keeps the configuration, the state and the history; `status`
//! and `history` read what the manager persisted, `report` its in-use vulnerability report
//! ([`report`]); `run` asks the manager for an automatic run.
//! Decisions (the configuration to write, the status to show) are pure functions in
//! [`drydock_cleaner::manager::admin`]; the API calls around them are few and in a fixed order (tested
//! call by call).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use drydock_api::config::{self, RepoTag};
use drydock_api::imagejob::ImageJob;
use drydock_api::names::{self, state};
pub(crate) use drydock_cleaner::manager::admin::{
    self, NextRun, Observed, Status, status, summary,
};
use drydock_cleaner::manager::history::History;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::cli::Output;
use crate::cmd::table;
use crate::manifests::KUBE_SYSTEM;
use crate::manifests::image_cleaner::{self, ImageCleaner, IntervalHours, Options};

/// The field manager of every write (server-side apply and patches), shared with the manager.
pub(crate) const FIELD_MANAGER: &str = "drydock";
/// Runs `history` shows without `--limit`: a screenful.
const DEFAULT_HISTORY_LIMIT: usize = 10;

/// `drydock image-cleaner`.
#[derive(Debug, Args)]
pub(crate) struct ImageCleanerArgs {
    #[command(subcommand)]
    pub(crate) action: Action,
    #[command(flatten)]
    pub(crate) target: Target,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Action {
    /// Install or update the manager (CRDs, RBAC, ConfigMaps, Deployment, Service) with
    /// server-side apply. An existing configuration is kept; only what is given changes.
    Enable(EnableArgs),
    /// Remove the manager and its running jobs; keep the configuration and the history.
    Disable,
    /// Enabled or not, interval, last and next run, last result, component images.
    Status(OutputArgs),
    /// Finished runs with, per node, the removed images (newest first).
    History(HistoryArgs),
    /// The vulnerable images in use, from the newest run that scanned them (scanner
    /// configuration `reportInUse: true`): per image its nodes, findings per severity and
    /// whether a fix exists.
    Report(OutputArgs),
    /// Ask the manager for an automatic run now.
    Run(RunArgs),
}

/// `run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// A dry run: every node's remover removes nothing and reports what it would remove and
    /// why the rest stays (`drydock image-cleaner history` shows it, marked as a dry run).
    /// Needs Drydock's remover image.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// Where the Image Cleaner is.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The manager's namespace (`kube-system`, as on AKS).
    #[arg(long, short = 'n', global = true, default_value = KUBE_SYSTEM)]
    pub(crate) namespace: String,
    /// The kubeconfig (default: KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, env = "KUBECONFIG_PATH")]
    pub(crate) kubeconfig: Option<PathBuf>,
}

/// `enable`.
#[derive(Debug, Args)]
pub(crate) struct EnableArgs {
    /// Hours between automatic runs, 24 to 2160 (one day to three months). Default: the
    /// configured interval, or 168 (one week) on a first install.
    #[arg(long, value_name = "N")]
    pub(crate) interval_hours: Option<IntervalHours>,
    /// The manager's image (`REPO:TAG` or `REPO@sha256:…`, any registry or mirror); worker
    /// components using the same repository follow its tag. Default: this build's.
    #[arg(long, value_name = "IMAGE", value_parser = image_cleaner::parse_image)]
    pub(crate) image: Option<RepoTag>,
    /// OSV data for the manager's vulnerability index: an `http(s)://` URL of an `all.zip`
    /// (a mirror) or a path mounted into its pod. Repeatable; replaces the manager's sources.
    /// Default: OSV's public dumps of the OS and language ecosystems the scanner knows.
    #[arg(long = "vulndb-source", value_name = "URL|PATH", value_parser = image_cleaner::parse_vulndb_source)]
    pub(crate) vulndb_sources: Vec<String>,
}

/// Result format.
#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// A table for people, or JSON for machines.
    #[arg(long, short = 'o', alias = "format", value_enum, default_value_t = Output::Table, env = "DRYDOCK_OUTPUT_FORMAT")]
    pub(crate) output: Output,
}

/// `history`.
#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    /// Show at most the newest N runs.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HISTORY_LIMIT)]
    pub(crate) limit: usize,
}

/// Runs the admin command.
pub(crate) async fn run(args: ImageCleanerArgs) -> anyhow::Result<ExitCode> {
    let client = drydock_kube::client::client(args.target.kubeconfig.as_deref()).await?;
    let ns = args.target.namespace.as_str();
    let now = Timestamp::now();
    match args.action {
        Action::Enable(enable_args) => {
            let mut options = Options {
                namespace: ns.to_owned(),
                vulndb_sources: enable_args.vulndb_sources,
                ..Options::default()
            };
            if let Some(image) = enable_args.image {
                options.image = image;
            }
            for line in enable(&client, &options, enable_args.interval_hours).await? {
                println!("{line}");
            }
        }
        Action::Disable => {
            for line in disable(&client, ns).await? {
                println!("{line}");
            }
        }
        Action::Status(out) => {
            let status = status(&observe(&client, ns).await?, now);
            match out.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&status)?),
                Output::Table => print!("{}", render_status(&status)),
            }
        }
        Action::History(history_args) => {
            let history = read_history(&client, ns).await?;
            let shown = newest(&history, history_args.limit);
            match history_args.output.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&shown)?),
                Output::Table => print!("{}", render_history(&shown)),
            }
        }
        Action::Report(out) => {
            let stored = report::read_report(&client, ns).await?;
            match out.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&stored)?),
                Output::Table => print!("{}", report::render_report(stored.as_ref())),
            }
        }
        Action::Run(run_args) => {
            println!("{}", request_run(&client, ns, now, run_args.dry_run).await?)
        }
    }
    Ok(ExitCode::SUCCESS)
}

// === enable ===

/// The configuration `enable` writes, and what changed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConfigPlan {
    /// The `controller_manager_config.yaml` text.
    pub(crate) text: String,
    /// What changed, for people.
    pub(crate) notes: Vec<String>,
}

/// Decides the configuration: a fresh one (AKS's defaults, `interval` or one week) when there
/// is none, else the existing text with only these changes: the interval when given, automatic
/// mode back on, and the components running the manager's repository moved to its tag. An
/// existing text needing no change is kept byte for byte (comments included).
pub(crate) fn plan_config(
    existing: Option<&str>,
    source: &str,
    interval: Option<IntervalHours>,
    image: &RepoTag,
) -> anyhow::Result<ConfigPlan> {
    let Some(text) = existing else {
        let interval = interval.unwrap_or(IntervalHours::DEFAULT);
        return Ok(ConfigPlan {
            text: image_cleaner::config_yaml(&image_cleaner::default_config(image, interval))?,
            notes: vec![format!(
                "new configuration: automatic mode every {}",
                interval
            )],
        });
    };
    let current = config::parse(text, source)
        .with_context(|| format!("fix {source} (kubectl edit) or delete it to start afresh"))?
        .config;
    let mut document: Value =
        serde_saphyr::from_str(text).with_context(|| format!("{source}: not valid YAML"))?;
    let interval = interval.map(|i| admin::Interval {
        hours: i.hours(),
        written: i.go_duration(),
        shown: i.to_string(),
    });
    let mut notes = admin::edit_config(&current, text, &mut document, interval.as_ref(), image);
    if notes.is_empty() {
        return Ok(ConfigPlan {
            text: text.to_owned(),
            notes: vec!["existing configuration kept unchanged".to_owned()],
        });
    }
    let new_text = serde_saphyr::to_string(&document).context("cannot render the EraserConfig")?;
    config::parse(&new_text, source).context("the updated configuration does not parse back")?;
    notes.insert(0, "existing configuration kept, except:".to_owned());
    Ok(ConfigPlan {
        text: new_text,
        notes,
    })
}

fn not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 404)
}

/// `Ok(None)` on 404.
async fn get_opt<K>(api: &Api<K>, name: &str) -> anyhow::Result<Option<K>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    match api.get(name).await {
        Ok(object) => Ok(Some(object)),
        Err(err) if not_found(&err) => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read {} {name}", K::kind(&()))),
    }
}

fn describe<K: Resource<DynamicType = ()>>(meta: &ObjectMeta) -> String {
    let name = meta.name.as_deref().unwrap_or_default();
    match &meta.namespace {
        Some(ns) => format!("{} {ns}/{name}", K::kind(&())),
        None => format!("{} {name}", K::kind(&())),
    }
}

/// Server-side applies `object` (field manager `drydock`, conflicts forced).
async fn apply<K>(api: Api<K>, object: &K) -> anyhow::Result<String>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + Debug,
{
    let what = describe::<K>(object.meta());
    let name = object.meta().name.clone().unwrap_or_default();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(object))
        .await
        .with_context(|| format!("cannot apply {what}"))?;
    Ok(format!("applied {what}"))
}

async fn apply_cluster<K>(client: &Client, object: &K) -> anyhow::Result<String>
where
    K: Resource<DynamicType = (), Scope = ClusterResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug,
{
    apply(Api::all(client.clone()), object).await
}

async fn apply_in<K>(client: &Client, ns: &str, object: &K) -> anyhow::Result<String>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug,
{
    apply(Api::namespaced(client.clone(), ns), object).await
}

/// Installs or updates the Image Cleaner; returns what it did, one line each.
pub(crate) async fn enable(
    client: &Client,
    options: &Options,
    interval: Option<IntervalHours>,
) -> anyhow::Result<Vec<String>> {
    let ns = options.namespace.as_str();
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let existing = get_opt(&configmaps, names::MANAGER_CONFIGMAP).await?;
    let existing_text = existing
        .as_ref()
        .and_then(|cm| cm.data.as_ref())
        .and_then(|data| data.get(names::MANAGER_CONFIG_KEY));
    let source = format!(
        "ConfigMap {ns}/{} key {}",
        names::MANAGER_CONFIGMAP,
        names::MANAGER_CONFIG_KEY
    );
    let plan = plan_config(
        existing_text.map(String::as_str),
        &source,
        interval,
        &options.image,
    )?;
    let objects = image_cleaner::objects(options, plan.text)?;
    let mut lines = plan.notes;
    lines.extend(apply_all(client, ns, &objects).await?);
    lines.push(format!(
        "enabled: `drydock image-cleaner status -n {ns}` shows the schedule"
    ));
    Ok(lines)
}

async fn apply_all(client: &Client, ns: &str, o: &ImageCleaner) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for crd in &o.crds {
        lines.push(apply_cluster::<CustomResourceDefinition>(client, crd).await?);
    }
    if let Some(namespace) = &o.namespace {
        lines.push(apply_cluster::<Namespace>(client, namespace).await?);
    }
    lines.push(apply_in::<ServiceAccount>(client, ns, &o.manager_account).await?);
    lines.push(apply_in::<ServiceAccount>(client, ns, &o.worker_account).await?);
    lines.push(apply_cluster::<ClusterRole>(client, &o.cluster_role).await?);
    lines.push(apply_cluster::<ClusterRoleBinding>(client, &o.cluster_role_binding).await?);
    lines.push(apply_in::<Role>(client, ns, &o.role).await?);
    lines.push(apply_in::<RoleBinding>(client, ns, &o.role_binding).await?);
    lines.push(apply_in::<ConfigMap>(client, ns, &o.config).await?);
    lines.push(apply_in::<ConfigMap>(client, ns, &o.system_exclusion).await?);
    lines.push(apply_in::<Deployment>(client, ns, &o.deployment).await?);
    lines.push(apply_in::<Service>(client, ns, &o.service).await?);
    Ok(lines)
}

// === disable ===

/// Deletes `name`; a missing object is fine.
async fn delete_opt<K>(api: &Api<K>, name: &str, what: String) -> anyhow::Result<String>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(format!("deleted {what}")),
        Err(err) if not_found(&err) => Ok(format!("{what} was already absent")),
        Err(err) => Err(err).with_context(|| format!("cannot delete {what}")),
    }
}

/// Removes the manager (Deployment, Service) and every ImageJob it owns (their PodTemplates,
/// pods and image-list ConfigMaps go with them); keeps the configuration, the exclusion lists,
/// the state and the history. Idempotent.
pub(crate) async fn disable(client: &Client, ns: &str) -> anyhow::Result<Vec<String>> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let jobs: Api<ImageJob> = Api::all(client.clone());
    let mut lines = vec![
        delete_opt(
            &deployments,
            names::MANAGER_DEPLOYMENT,
            format!("Deployment {ns}/{}", names::MANAGER_DEPLOYMENT),
        )
        .await?,
        delete_opt(
            &services,
            state::MANAGER_SERVICE,
            format!("Service {ns}/{}", state::MANAGER_SERVICE),
        )
        .await?,
    ];
    let owned = ListParams::default().labels(names::JOB_OWNER_LABEL);
    match jobs
        .delete_collection(&DeleteParams::background(), &owned)
        .await
    {
        Ok(either) => {
            let deleted: Vec<String> = either
                .left()
                .map(|list| {
                    list.items
                        .into_iter()
                        .filter_map(|j| j.metadata.name)
                        .collect()
                })
                .unwrap_or_default();
            if deleted.is_empty() {
                lines.push("no ImageJob to delete".to_owned());
            }
            lines.extend(
                deleted
                    .into_iter()
                    .map(|name| format!("deleted ImageJob {name}")),
            );
        }
        Err(err) if not_found(&err) => lines.push("no ImageJob to delete".to_owned()),
        Err(err) => return Err(err).context("cannot delete the manager's ImageJobs"),
    }
    lines.push(format!(
        "disabled: ConfigMap {ns}/{} is kept; `drydock image-cleaner enable` reuses it",
        names::MANAGER_CONFIGMAP
    ));
    Ok(lines)
}

// === status ===

/// Reads what `status` shows: five calls, any object may be absent.
pub(crate) async fn observe(client: &Client, ns: &str) -> anyhow::Result<Observed> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let jobs: Api<ImageJob> = Api::all(client.clone());
    let owned = ListParams::default().labels(names::JOB_OWNER_LABEL);
    Ok(Observed {
        namespace: ns.to_owned(),
        deployment: get_opt(&deployments, names::MANAGER_DEPLOYMENT).await?,
        config: get_opt(&configmaps, names::MANAGER_CONFIGMAP).await?,
        state: get_opt(&configmaps, state::STATE_CONFIGMAP).await?,
        history: get_opt(&configmaps, state::HISTORY_CONFIGMAP).await?,
        jobs: match jobs.list(&owned).await {
            Ok(list) => list.items,
            Err(err) if not_found(&err) => Vec::new(),
            Err(err) => return Err(err).context("cannot list the ImageJobs"),
        },
    })
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The status as `key: value` lines.
pub(crate) fn render_status(s: &Status) -> String {
    let state = match (s.enabled, s.available_replicas) {
        (false, _) => "disabled".to_owned(),
        (true, 0) => "enabled (manager not available yet)".to_owned(),
        (true, n) => format!("enabled ({n} manager available)"),
    };
    let mut rows: Vec<[String; 2]> = vec![
        ["Image Cleaner:".into(), state],
        ["Namespace:".into(), s.namespace.clone()],
    ];
    if let Some(error) = &s.config_error {
        rows.push(["Configuration:".into(), format!("unreadable: {error}")]);
    }
    let mode = match s.automatic {
        Some(true) => format!("automatic every {}", or_dash(s.interval.as_ref())),
        Some(false) => "manual only (ImageList)".to_owned(),
        None => "-".to_owned(),
    };
    rows.push(["Mode:".into(), mode]);
    rows.push([
        "Last run:".into(),
        match (s.last_run_started, s.last_run_finished) {
            (Some(started), Some(finished)) if finished >= started => {
                format!("{started} to {finished}")
            }
            (Some(started), _) => format!("started {started}"),
            (None, _) => "never".to_owned(),
        },
    ]);
    let next = match s.next_run {
        Some(NextRun::Due) => "due now".to_owned(),
        Some(NextRun::AfterRunningJob) => "after the running job".to_owned(),
        Some(NextRun::At(at)) => at.to_string(),
        None => "-".to_owned(),
    };
    rows.push(["Next run:".into(), next]);
    if let Some(request) = &s.run_requested {
        let state = if request.started {
            "started"
        } else if s.enabled {
            "pending: the manager starts it shortly"
        } else {
            "pending: the manager is not installed"
        };
        rows.push(["Run requested:".into(), format!("{} ({state})", request.at)]);
    }
    if !s.running_jobs.is_empty() {
        rows.push(["Running jobs:".into(), s.running_jobs.join(", ")]);
    }
    rows.push([
        "Last result:".into(),
        match &s.last_result {
            Some(r) => format!(
                "{} {} ({}): {} succeeded, {} failed, {} skipped, {} images removed",
                r.job, r.phase, r.mode, r.succeeded, r.failed, r.skipped, r.removed_images
            ),
            None => "no finished run recorded".to_owned(),
        },
    ]);
    if let Some(image) = &s.manager_image {
        rows.push(["Manager image:".into(), image.clone()]);
    }
    for (name, component) in &s.components {
        let off = if component.enabled { "" } else { " (disabled)" };
        rows.push([format!("{name}:"), format!("{}{off}", component.image)]);
    }
    // The table's header row is the first entry; status has no headers.
    let mut text = table::render(["", ""], &rows);
    text.replace_range(..text.find('\n').map_or(0, |i| i + 1), "");
    text
}

// === history ===

async fn read_history(client: &Client, ns: &str) -> anyhow::Result<History> {
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let Some(cm) = get_opt(&configmaps, state::HISTORY_CONFIGMAP).await? else {
        return Ok(History::default());
    };
    let Some(text) = cm.data.as_ref().and_then(|d| d.get(state::HISTORY_KEY)) else {
        return Ok(History::default());
    };
    serde_json::from_str(text).with_context(|| {
        format!(
            "ConfigMap {ns}/{} key {}: not a history",
            state::HISTORY_CONFIGMAP,
            state::HISTORY_KEY
        )
    })
}

/// The newest `limit` runs, newest first.
pub(crate) fn newest(history: &History, limit: usize) -> History {
    History {
        runs: history.runs.iter().rev().take(limit).cloned().collect(),
    }
}

/// Runs as blocks: a line per run, then its nodes with the removed images.
pub(crate) fn render_history(history: &History) -> String {
    if history.runs.is_empty() {
        return "no finished run recorded\n".to_owned();
    }
    let mut out = String::new();
    for (i, run) in history.runs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let s = summary(run);
        let (dry, removed) = if run.dry_run {
            let would: usize = run.nodes.iter().map(|n| n.would_remove.len()).sum();
            (
                ", dry run: nothing removed",
                format!("{would} images would be removed"),
            )
        } else {
            ("", format!("{} images removed", s.removed_images))
        };
        out.push_str(&format!(
            "{} ({}, {}{dry}) started {}, finished {}: {} succeeded, {} failed, {} skipped, {removed}\n",
            run.job,
            s.mode,
            s.phase,
            run.started,
            run.finished,
            run.succeeded,
            run.failed,
            run.skipped,
        ));
        let rows: Vec<[String; 4]> = run
            .nodes
            .iter()
            .map(|node| {
                let mut removed = if run.dry_run {
                    node.would_remove.join(", ")
                } else {
                    node.removed.join(", ")
                };
                if node.truncated {
                    removed.push_str(" (list truncated)");
                }
                let mut notes = node.reason.clone().unwrap_or_default();
                if !node.failed_images.is_empty() {
                    if !notes.is_empty() {
                        notes.push_str("; ");
                    }
                    notes.push_str(&format!("not removed: {}", node.failed_images.join(", ")));
                }
                if !node.kept.is_empty() {
                    if !notes.is_empty() {
                        notes.push_str("; ");
                    }
                    notes.push_str(&format!("kept: {}", node.kept.join(", ")));
                }
                [
                    format!("  {}", node.node),
                    serde_json::to_value(node.outcome)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    if removed.is_empty() {
                        "-".into()
                    } else {
                        removed
                    },
                    notes,
                ]
            })
            .collect();
        let removed_header = if run.dry_run {
            "WOULD REMOVE"
        } else {
            "REMOVED"
        };
        out.push_str(&table::render(
            ["  NODE", "OUTCOME", removed_header, "NOTES"],
            &rows,
        ));
    }
    out
}

// === run ===

/// Asks the manager for an automatic run: sets `drydock.dev/run-requested` on the state
/// ConfigMap (creating it). Refused when the manager is not installed or automatic mode is off,
/// since nothing would act on the request.
pub(crate) async fn request_run(
    client: &Client,
    ns: &str,
    now: Timestamp,
    dry_run: bool,
) -> anyhow::Result<String> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    if get_opt(&deployments, names::MANAGER_DEPLOYMENT)
        .await?
        .is_none()
    {
        bail!(
            "the Image Cleaner is disabled in namespace {ns} (no Deployment {}): run `drydock image-cleaner enable` first",
            names::MANAGER_DEPLOYMENT
        );
    }
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let text = get_opt(&configmaps, names::MANAGER_CONFIGMAP)
        .await?
        .and_then(|cm| cm.data)
        .and_then(|mut d| d.remove(names::MANAGER_CONFIG_KEY));
    let source = format!("ConfigMap {ns}/{}", names::MANAGER_CONFIGMAP);
    let Some(text) = text else {
        bail!("{source} is missing: run `drydock image-cleaner enable` to restore it");
    };
    if !config::parse(&text, &source)?
        .config
        .components
        .collector
        .enabled
    {
        bail!(
            "automatic mode is off in {source} (components.collector.enabled: false): `drydock image-cleaner enable` turns it on"
        );
    }
    let stamp = now.to_string();
    let mut annotations =
        BTreeMap::from([(state::RUN_REQUESTED_ANNOTATION.to_owned(), stamp.clone())]);
    if dry_run {
        // The same stamp on both: this request, and only this one, is a dry run.
        annotations.insert(state::RUN_DRY_RUN_ANNOTATION.to_owned(), stamp.clone());
    }
    let patch = json!({ "metadata": { "annotations": annotations } });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    match configmaps
        .patch(state::STATE_CONFIGMAP, &params, &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {}
        Err(err) if not_found(&err) => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(state::STATE_CONFIGMAP.to_owned()),
                    namespace: Some(ns.to_owned()),
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                },
                ..ConfigMap::default()
            };
            let post = PostParams {
                field_manager: Some(FIELD_MANAGER.to_owned()),
                ..PostParams::default()
            };
            configmaps.create(&post, &cm).await.with_context(|| {
                format!("cannot create ConfigMap {ns}/{}", state::STATE_CONFIGMAP)
            })?;
        }
        Err(err) => {
            return Err(err).with_context(|| {
                format!("cannot annotate ConfigMap {ns}/{}", state::STATE_CONFIGMAP)
            });
        }
    }
    if dry_run {
        return Ok(format!(
            "dry run requested at {stamp}: the manager starts an automatic run that removes nothing shortly; `drydock image-cleaner history -n {ns}` then shows what each node would remove and why the rest stays"
        ));
    }
    Ok(format!(
        "run requested at {stamp}: the manager starts an automatic run shortly (`drydock image-cleaner status -n {ns}`)"
    ))
}

mod report;

#[cfg(test)]
mod tests;
