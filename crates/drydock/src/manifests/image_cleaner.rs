//! The Image Cleaner's cluster objects, Eraser's names throughout so Eraser's runbooks (and
//! AKS's `kubectl … -n kube-system` commands) work unchanged:
//!
//! - the `imagelists.eraser.sh` and `imagejobs.eraser.sh` CRDs;
//! - ServiceAccounts `eraser-controller-manager` (the manager) and `eraser-imagejob-pods` (the
//!   worker pods: no bindings at all, no token mounted);
//! - least-privilege RBAC for the manager: a ClusterRole for the cluster-scoped CRs, Nodes and
//!   Events, and a Role confined to the manager's namespace for Pods, PodTemplates and
//!   ConfigMaps;
//! - ConfigMap `eraser-manager-config` (the `EraserConfig`) and `eraser-system-exclusion`;
//! - Deployment and Service `eraser-controller-manager`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use anyhow::Context as _;
use drydock_api::config::{Config, DEFAULT_IMAGE_REPO, DEFAULT_IMAGE_TAG, RepoTag};
use drydock_api::names::{self, env, paths, state};
use drydock_cleaner::manager::podspec::{locked_down_security_context, mount};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    Namespace, ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec,
    ResourceRequirements, SeccompProfile, SecurityContext, Service, ServiceAccount, ServicePort,
    ServiceSpec, Volume,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::{
    KUBE_SYSTEM, cluster_meta, http_probe, labels, meta, named_port, push_yaml, quantities,
    role_ref, rule, service_account_subject,
};

/// The shortest interval between automatic runs `enable` accepts: one day (AKS's minimum).
pub(crate) const MIN_INTERVAL_HOURS: u32 = 24;
/// The longest: three months (AKS's maximum, and the config's `MAX_REPEAT_INTERVAL`).
pub(crate) const MAX_INTERVAL_HOURS: u32 = 2160;
/// The interval of a first `enable` without `--interval-hours`: one week (AKS's CLI default).
pub(crate) const DEFAULT_INTERVAL_HOURS: u32 = 168;

/// The `EraserConfig` version Drydock writes (the newest Eraser reads).
pub(crate) const CONFIG_API_VERSION: &str = "eraser.sh/v1alpha3";
/// The config file's `kind`.
const CONFIG_KIND: &str = "EraserConfig";

/// Eraser's names for the manager's RBAC objects: applying Drydock's over an Eraser install
/// replaces Eraser's grants instead of adding a second set.
pub(crate) const MANAGER_CLUSTER_ROLE: &str = "eraser-manager-role";
/// The ClusterRoleBinding (and the RoleBinding) of the manager.
pub(crate) const MANAGER_ROLE_BINDING: &str = "eraser-manager-rolebinding";
/// The namespaced Role of the manager (same name as the ClusterRole, as Eraser names it).
pub(crate) const MANAGER_ROLE: &str = "eraser-manager-role";

/// The manager's container name.
const MANAGER_CONTAINER: &str = "manager";
/// Eraser's manager metrics port (`/metrics`).
pub(crate) const METRICS_PORT: i32 = 8889;
/// The port serving the vulnerability index to the worker pods (`GET /v1/vulndb`).
pub(crate) const VULNDB_PORT: i32 = 8890;
/// Eraser's health-probe port (`/healthz`, `/readyz`).
pub(crate) const HEALTH_PORT: i32 = 8081;
/// Port names, referenced by the Service.
const METRICS_PORT_NAME: &str = "metrics";
const VULNDB_PORT_NAME: &str = "vulndb";
const HEALTH_PORT_NAME: &str = "health";

/// The manager's steady-state memory budget (5,000 nodes and their pods cached) is 64 MiB: the
/// request reserves it.
const MANAGER_MEMORY_REQUEST: &str = "64Mi";
/// The limit leaves headroom over the budget for bursts (a run's worker pods arriving at once);
/// the vulnerability index is built in the builder container, not here (decision record 008).
const MANAGER_MEMORY_LIMIT: &str = "256Mi";
/// The container that keeps the vulnerability index up to date (`drydock vulndb refresh`).
const BUILDER_CONTAINER: &str = "vulndb-builder";
/// The builder's request: its measured peak on the default OS dumps (~30 MiB, release build,
/// `scripts/bench-vulndb.sh`; decision record 008) rounded up. The language dumps (npm's is
/// the largest) were added to the defaults later and are not in that measurement.
const BUILDER_MEMORY_REQUEST: &str = "64Mi";
/// The builder's limit: twice the request, for the largest real dump's zip directory
/// (24 bytes an entry) and the download buffers; an OOM kill here costs one refresh, never
/// the controllers.
const BUILDER_MEMORY_LIMIT: &str = "128Mi";
/// The builder mostly waits (a build a day); a twentieth of a core keeps it from starving the
/// manager on small nodes.
const BUILDER_CPU_REQUEST: &str = "50m";
/// The builder's own directory in the data volume: its kept downloads, its scratch files and
/// the index it renames into place, which the manager adopts (`--vulndb-index`).
const BUILDER_DIR: &str = "/var/lib/drydock/builder";
/// The manager mostly waits on watches; a tenth of a core covers planning 5,000 nodes (< 50 ms).
const MANAGER_CPU_REQUEST: &str = "100m";
/// The distroless convention for "nonroot" (Eraser's manager runs as 65532 too).
const NONROOT_UID: i64 = 65532;
/// Where the manager builds and keeps the vulnerability index (the scanner's default `dbPath`
/// directory); an emptyDir, since the root filesystem is read-only.
const DATA_DIR: &str = "/var/lib/drydock";
/// Scratch space for downloads; an emptyDir for the same reason.
const TMP_DIR: &str = "/tmp";
/// Bound on the data emptyDir: the OSV downloads (the manager caps one source at 4 GiB) and the
/// index built from them live there; the bound keeps a runaway download from filling the
/// node's disk (the kubelet evicts the pod instead).
const DATA_SIZE_LIMIT: &str = "4Gi";
/// Bound on `/tmp`, which only holds small scratch files.
const TMP_SIZE_LIMIT: &str = "256Mi";
/// Volume names in the manager pod.
const CONFIG_VOLUME: &str = "manager-config";
const DATA_VOLUME: &str = "data";
const TMP_VOLUME: &str = "tmp";
/// Liveness: the controller-runtime scaffold's timings (Eraser's), first check after 15 s.
const LIVENESS_INITIAL_DELAY_SECONDS: i32 = 15;
const LIVENESS_PERIOD_SECONDS: i32 = 20;
/// Readiness: checked every 10 s after 5 s.
const READINESS_INITIAL_DELAY_SECONDS: i32 = 5;
const READINESS_PERIOD_SECONDS: i32 = 10;
/// Eraser's `OTEL_SERVICE_NAME` for the manager (the `job` label of its metrics).
const MANAGER_OTEL_SERVICE_NAME: &str = "eraser-manager";
/// Pod Security admission level of a dedicated namespace: the worker pods mount the node's
/// runtime socket (hostPath), which `baseline` forbids.
const POD_SECURITY_LEVEL: &str = "privileged";
/// The key of the system exclusion list; the workers read the first `*.json` key.
pub(crate) const SYSTEM_EXCLUSION_KEY: &str = "excluded.json";
/// Shown by `kubectl describe` on the system list.
const SYSTEM_EXCLUSION_NOTE: &str = "Managed by drydock: replaced by every `drydock image-cleaner enable`. Add your own \
     lists as ConfigMaps labelled eraser.sh/exclude.list=true in this namespace.";
/// The annotation carrying [`SYSTEM_EXCLUSION_NOTE`].
const DESCRIPTION_ANNOTATION: &str = "drydock.dev/description";

/// Sandbox ("pause") images of the common distributions: removing an unused one breaks the
/// next pod start on that node (Eraser #1107, Bottlerocket's `localhost/kubernetes/pause`). The
/// remover also protects the runtime's configured sandbox image; this list covers the node
/// images that pre-pull another version.
const SANDBOX_IMAGE_PATTERNS: [&str; 5] = [
    "registry.k8s.io/pause:*",
    "k8s.gcr.io/pause:*",
    "mcr.microsoft.com/oss/kubernetes/pause:*",
    "localhost/kubernetes/pause:*",
    "docker.io/rancher/mirrored-pause:*",
];

/// OSV's public bucket of per-ecosystem dumps (`<bucket>/<Ecosystem>/all.zip`).
const OSV_BUCKET: &str = "https://osv-vulnerabilities.storage.googleapis.com";
/// The manager's default `--vulndb-source` values: OSV's dumps of every ecosystem the scanner
/// matches, OS families and languages ([`drydock_vuln::ecosystem::default_osv_dumps`]). The
/// manager downloads them once per refresh for the whole cluster (nodes never reach the
/// internet); without any source automatic mode would remove nothing, as every scan would fail
/// closed.
pub(crate) fn default_vulndb_sources() -> Vec<String> {
    drydock_vuln::ecosystem::default_osv_dumps()
        .iter()
        .map(|dump| format!("{OSV_BUCKET}/{}/all.zip", dump.replace(' ', "%20")))
        .collect()
}

/// Parses `--vulndb-source` as the manager will (an `http(s)://` URL or a path).
pub(crate) fn parse_vulndb_source(text: &str) -> Result<String, String> {
    text.parse::<drydock_cleaner::manager::vulndist::Source>()
        .map(|source| source.to_string())
        .map_err(|e| e.to_string())
}

/// How often automatic runs happen, in whole hours (AKS's `--image-cleaner-interval-hours`),
/// within [`MIN_INTERVAL_HOURS`]..=[`MAX_INTERVAL_HOURS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IntervalHours(u32);

impl IntervalHours {
    /// The default of a first `enable`.
    pub(crate) const DEFAULT: IntervalHours = IntervalHours(DEFAULT_INTERVAL_HOURS);

    /// The hours.
    pub(crate) const fn hours(self) -> u32 {
        self.0
    }

    /// As a Go duration, the way `repeatInterval` is written (`168h`).
    pub(crate) fn go_duration(self) -> String {
        format!("{}h", self.0)
    }
}

impl TryFrom<u64> for IntervalHours {
    type Error = String;

    fn try_from(hours: u64) -> Result<Self, String> {
        match u32::try_from(hours) {
            Ok(h) if (MIN_INTERVAL_HOURS..=MAX_INTERVAL_HOURS).contains(&h) => Ok(Self(h)),
            _ => Err(format!(
                "{hours} hours is outside {MIN_INTERVAL_HOURS}..={MAX_INTERVAL_HOURS} (one day to three months)"
            )),
        }
    }
}

impl FromStr for IntervalHours {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let hours: u64 = text
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a whole number of hours"))?;
        Self::try_from(hours)
    }
}

impl fmt::Display for IntervalHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} h", self.0)
    }
}

/// Parses `--image REPO:TAG` or `REPO@sha256:…` (a registry port is part of the repository;
/// a digest is kept as the tag, which [`RepoTag::reference`] writes back with `@`).
pub(crate) fn parse_image(text: &str) -> Result<RepoTag, String> {
    let name_start = text.rfind('/').map_or(0, |i| i + 1);
    if let Some((repo, digest)) = text.split_once('@') {
        return if !repo.is_empty() && drydock_cri::reference::is_digest(digest) {
            Ok(RepoTag {
                repo: repo.to_owned(),
                tag: digest.to_owned(),
            })
        } else {
            Err(format!(
                "{text:?} is not REPO@sha256:<64 hex digits> (or REPO:TAG)"
            ))
        };
    }
    match text[name_start..].rfind(':') {
        Some(colon) if colon > 0 && name_start + colon + 1 < text.len() => {
            let (repo, tag) = text.split_at(name_start + colon);
            Ok(RepoTag {
                repo: repo.to_owned(),
                tag: tag[1..].to_owned(),
            })
        }
        _ => Err(format!("{text:?} is not REPO:TAG")),
    }
}

/// Where and what to install.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The manager's namespace (`kube-system`, as on AKS).
    pub(crate) namespace: String,
    /// The image of the manager and (in a fresh config) of every worker component.
    pub(crate) image: RepoTag,
    /// Where the manager gets OSV data (`--vulndb-source`); empty means
    /// [`default_vulndb_sources`].
    pub(crate) vulndb_sources: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            namespace: KUBE_SYSTEM.to_owned(),
            image: RepoTag {
                repo: DEFAULT_IMAGE_REPO.to_owned(),
                tag: DEFAULT_IMAGE_TAG.to_owned(),
            },
            vulndb_sources: Vec::new(),
        }
    }
}

/// The configuration of a first install, as AKS enables it: automatic mode (collector and
/// scanner on) every `interval`, Eraser's defaults for everything else, `image` for every
/// component.
pub(crate) fn default_config(image: &RepoTag, interval: IntervalHours) -> Config {
    let mut config = Config::default();
    config.manager.scheduling.repeat_interval =
        drydock_api::GoDuration::from_hours(i64::from(interval.hours()));
    config.components.collector.enabled = true;
    config.components.scanner.enabled = true;
    for component in [
        &mut config.components.collector,
        &mut config.components.scanner,
        &mut config.components.remover,
    ] {
        component.image = image.clone();
    }
    config
}

/// The config file as the ConfigMap holds it: `apiVersion` and `kind` first, every key
/// written out (so `kubectl describe configmap eraser-manager-config | grep tag -C 3` shows the
/// component tags, as on AKS).
pub(crate) fn config_yaml(config: &Config) -> anyhow::Result<String> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Document<'a> {
        api_version: &'a str,
        kind: &'a str,
        #[serde(flatten)]
        config: &'a Config,
    }
    serde_saphyr::to_string(&Document {
        api_version: CONFIG_API_VERSION,
        kind: CONFIG_KIND,
        config,
    })
    .context("cannot render the EraserConfig")
}

/// Every object of the Image Cleaner, in the order they are applied.
#[derive(Debug, Clone)]
pub(crate) struct ImageCleaner {
    /// `imagelists.eraser.sh`, `imagejobs.eraser.sh`.
    pub(crate) crds: Vec<CustomResourceDefinition>,
    /// The namespace, unless it is `kube-system`.
    pub(crate) namespace: Option<Namespace>,
    /// The manager's account.
    pub(crate) manager_account: ServiceAccount,
    /// The worker pods' account (no permissions).
    pub(crate) worker_account: ServiceAccount,
    /// Cluster-scoped grants of the manager.
    pub(crate) cluster_role: ClusterRole,
    /// Binds [`Self::cluster_role`] to the manager.
    pub(crate) cluster_role_binding: ClusterRoleBinding,
    /// Grants in the manager's namespace.
    pub(crate) role: Role,
    /// Binds [`Self::role`] to the manager.
    pub(crate) role_binding: RoleBinding,
    /// `eraser-manager-config`.
    pub(crate) config: ConfigMap,
    /// `eraser-system-exclusion`.
    pub(crate) system_exclusion: ConfigMap,
    /// `eraser-controller-manager`.
    pub(crate) deployment: Deployment,
    /// `eraser-controller-manager`: metrics and the vulnerability index.
    pub(crate) service: Service,
}

/// The objects for `options`, with `config_text` as the `EraserConfig` file.
pub(crate) fn objects(options: &Options, config_text: String) -> anyhow::Result<ImageCleaner> {
    let ns = options.namespace.as_str();
    Ok(ImageCleaner {
        crds: vec![
            drydock_api::crd::imagelist_crd()?,
            drydock_api::crd::imagejob_crd()?,
        ],
        namespace: (ns != KUBE_SYSTEM).then(|| namespace(ns)),
        manager_account: ServiceAccount {
            metadata: meta(state::MANAGER_SERVICE_ACCOUNT, ns),
            ..ServiceAccount::default()
        },
        worker_account: ServiceAccount {
            metadata: meta(names::WORKER_SERVICE_ACCOUNT, ns),
            automount_service_account_token: Some(false),
            ..ServiceAccount::default()
        },
        cluster_role: manager_cluster_role(),
        cluster_role_binding: ClusterRoleBinding {
            metadata: cluster_meta(MANAGER_ROLE_BINDING),
            role_ref: role_ref("ClusterRole", MANAGER_CLUSTER_ROLE),
            subjects: Some(vec![service_account_subject(
                state::MANAGER_SERVICE_ACCOUNT,
                ns,
            )]),
        },
        role: manager_role(ns),
        role_binding: RoleBinding {
            metadata: meta(MANAGER_ROLE_BINDING, ns),
            role_ref: role_ref("Role", MANAGER_ROLE),
            subjects: Some(vec![service_account_subject(
                state::MANAGER_SERVICE_ACCOUNT,
                ns,
            )]),
        },
        config: ConfigMap {
            metadata: meta(names::MANAGER_CONFIGMAP, ns),
            data: Some(BTreeMap::from([(
                names::MANAGER_CONFIG_KEY.to_owned(),
                config_text,
            )])),
            ..ConfigMap::default()
        },
        system_exclusion: system_exclusion(ns, &options.image)?,
        deployment: deployment(ns, &options.image, &options.vulndb_sources),
        service: service(ns),
    })
}

fn namespace(name: &str) -> Namespace {
    let mut metadata = cluster_meta(name);
    if let Some(labels) = metadata.labels.as_mut() {
        for mode in ["enforce", "audit", "warn"] {
            labels.insert(
                format!("pod-security.kubernetes.io/{mode}"),
                POD_SECURITY_LEVEL.to_owned(),
            );
        }
    }
    Namespace {
        metadata,
        ..Namespace::default()
    }
}

/// The manager's cluster-scoped grants: its two CRs, Nodes (planning), Events. Eraser's
/// chart grants the same but Events; every write the manager makes to its CRs goes to their
/// status subresource, and its bookkeeping to the jobs' labels at creation and to ConfigMaps,
/// so it needs no `update` or `patch` on the CRs themselves.
fn manager_cluster_role() -> ClusterRole {
    ClusterRole {
        metadata: cluster_meta(MANAGER_CLUSTER_ROLE),
        rules: Some(vec![
            rule(names::GROUP, &["imagelists"], &["get", "list", "watch"]),
            rule(
                names::GROUP,
                &["imagelists/status"],
                &["get", "update", "patch"],
            ),
            rule(
                names::GROUP,
                &["imagejobs"],
                &["get", "list", "watch", "create", "delete"],
            ),
            rule(
                names::GROUP,
                &["imagejobs/status"],
                &["get", "update", "patch"],
            ),
            rule("", &["nodes"], &["get", "list", "watch"]),
            // Beyond Eraser's: Events on ImageLists, ImageJobs and ConfigMaps (core/v1, created
            // once each). Without it the manager writes none and says so once.
            rule("", &["events"], &["create"]),
        ]),
        ..ClusterRole::default()
    }
}

/// What the manager does with the worker pods: creates them per job, watches them, reads its
/// own pod (its image, for the workers' commands), deletes a finished job's pods at once by
/// label (`deletecollection`, beyond Eraser's role; without it they go one by one).
const WORKER_POD_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "delete",
    "deletecollection",
];

/// What the manager does with the PodTemplates: creates one per job, reads it, hands it to its
/// ImageJob (`patch`: an owner reference added once the job exists), deletes it when the job
/// cannot be created.
const POD_TEMPLATE_VERBS: &[&str] = &["get", "list", "watch", "create", "delete", "patch"];

/// What the manager does with Secrets (beyond Eraser's role): creates each collector job's
/// verdict cache token, hands it to the job (`patch`: owner and job label), lists the tokens
/// to check a scanner's, deletes one whose job was not created. Without them every node scans
/// every image, as in Eraser.
const TOKEN_SECRET_VERBS: &[&str] = &["list", "create", "patch", "delete"];

/// The manager's grants in its own namespace: worker pods, their PodTemplates, ConfigMaps
/// (config, exclusion lists, image lists, state, history, verdicts), the jobs' token Secrets.
fn manager_role(namespace: &str) -> Role {
    Role {
        metadata: meta(MANAGER_ROLE, namespace),
        rules: Some(vec![
            rule("", &["pods"], WORKER_POD_VERBS),
            rule("", &["podtemplates"], POD_TEMPLATE_VERBS),
            rule(
                "",
                &["configmaps"],
                &[
                    "get", "list", "watch", "create", "update", "patch", "delete",
                ],
            ),
            rule("", &["secrets"], TOKEN_SECRET_VERBS),
        ]),
    }
}

/// The patterns of the system exclusion list for a manager running `image`.
pub(crate) fn system_exclusion_patterns(image: &RepoTag) -> Vec<String> {
    let mut patterns = vec![format!("{}:*", image.repo)];
    patterns.extend(SANDBOX_IMAGE_PATTERNS.iter().map(|p| (*p).to_owned()));
    patterns
}

fn system_exclusion(namespace: &str, image: &RepoTag) -> anyhow::Result<ConfigMap> {
    let list = serde_json::json!({ "excluded": system_exclusion_patterns(image) });
    let mut metadata = meta(names::SYSTEM_EXCLUSION_CONFIGMAP, namespace);
    metadata.annotations = Some(labels([(DESCRIPTION_ANNOTATION, SYSTEM_EXCLUSION_NOTE)]));
    Ok(ConfigMap {
        metadata,
        data: Some(BTreeMap::from([(
            SYSTEM_EXCLUSION_KEY.to_owned(),
            serde_json::to_string_pretty(&list)? + "\n",
        )])),
        ..ConfigMap::default()
    })
}

fn manager_labels() -> BTreeMap<String, String> {
    labels([names::MANAGER_POD_LABEL])
}

fn scratch_volume(name: &str, size_limit: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity(size_limit.to_owned())),
            medium: None,
        }),
        ..Volume::default()
    }
}

fn deployment(namespace: &str, image: &RepoTag, vulndb_sources: &[String]) -> Deployment {
    let sources = if vulndb_sources.is_empty() {
        default_vulndb_sources()
    } else {
        vulndb_sources.to_vec()
    };
    let container = manager_container(image);
    Deployment {
        metadata: ObjectMeta {
            labels: Some(
                manager_labels()
                    .into_iter()
                    .chain(labels([super::PART_OF_LABEL]))
                    .collect(),
            ),
            ..meta(names::MANAGER_DEPLOYMENT, namespace)
        },
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(manager_labels()),
                match_expressions: None,
            },
            // One manager at a time, never two during a rollout: two schedulers could each
            // start a run.
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".to_owned()),
                rolling_update: None,
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(manager_labels()),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(state::MANAGER_SERVICE_ACCOUNT.to_owned()),
                    node_selector: Some(labels([("kubernetes.io/os", "linux")])),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(NONROOT_UID),
                        run_as_group: Some(NONROOT_UID),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_owned(),
                            localhost_profile: None,
                        }),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![container, builder_container(image, &sources)],
                    volumes: Some(vec![
                        Volume {
                            name: CONFIG_VOLUME.to_owned(),
                            config_map: Some(ConfigMapVolumeSource {
                                name: names::MANAGER_CONFIGMAP.to_owned(),
                                ..ConfigMapVolumeSource::default()
                            }),
                            ..Volume::default()
                        },
                        scratch_volume(DATA_VOLUME, DATA_SIZE_LIMIT),
                        scratch_volume(TMP_VOLUME, TMP_SIZE_LIMIT),
                    ]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

/// The manager's container: Eraser's name, ports, probes and 30Mi limit; it only serves the
/// index the builder container writes.
fn manager_container(image: &RepoTag) -> Container {
    let args = vec![
        "manager".to_owned(),
        format!("--config={}", paths::CONFIG_FILE),
        format!(
            "--vulndb-index={BUILDER_DIR}/{}",
            drydock_cleaner::download::INDEX_FILE
        ),
    ];
    let config_dir = paths::CONFIG_FILE
        .rsplit_once('/')
        .map_or("/config", |(dir, _)| dir);
    Container {
        name: MANAGER_CONTAINER.to_owned(),
        image: Some(image.reference()),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        // The image's entrypoint is the drydock binary.
        args: Some(args),
        env: Some(vec![
            EnvVar {
                name: env::POD_NAMESPACE.to_owned(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "metadata.namespace".to_owned(),
                        api_version: None,
                    }),
                    ..EnvVarSource::default()
                }),
                value: None,
            },
            EnvVar {
                name: env::OTEL_SERVICE_NAME.to_owned(),
                value: Some(MANAGER_OTEL_SERVICE_NAME.to_owned()),
                value_from: None,
            },
            // The manager's own image: worker components from its repository (a mirror, a
            // private registry) get Drydock's stage commands (decision record 004).
            EnvVar {
                name: crate::cmd::manager::DRYDOCK_IMAGE_ENV.to_owned(),
                value: Some(image.reference()),
                value_from: None,
            },
        ]),
        ports: Some(vec![
            named_port(METRICS_PORT_NAME, METRICS_PORT),
            named_port(VULNDB_PORT_NAME, VULNDB_PORT),
            named_port(HEALTH_PORT_NAME, HEALTH_PORT),
        ]),
        liveness_probe: Some(http_probe(
            HEALTH_PORT_NAME,
            "/healthz",
            LIVENESS_INITIAL_DELAY_SECONDS,
            LIVENESS_PERIOD_SECONDS,
        )),
        readiness_probe: Some(http_probe(
            HEALTH_PORT_NAME,
            "/readyz",
            READINESS_INITIAL_DELAY_SECONDS,
            READINESS_PERIOD_SECONDS,
        )),
        resources: Some(ResourceRequirements {
            requests: Some(quantities([
                ("cpu", MANAGER_CPU_REQUEST),
                ("memory", MANAGER_MEMORY_REQUEST),
            ])),
            limits: Some(quantities([("memory", MANAGER_MEMORY_LIMIT)])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(restricted_security_context()),
        volume_mounts: Some(vec![
            mount(CONFIG_VOLUME, config_dir, true),
            mount(DATA_VOLUME, DATA_DIR, false),
            mount(TMP_VOLUME, TMP_DIR, false),
        ]),
        ..Container::default()
    }
}

/// The container of the manager's pod that downloads the OSV data and builds the index into
/// the shared data volume, within its own memory limit (decision record 008).
fn builder_container(image: &RepoTag, sources: &[String]) -> Container {
    let mut args = vec![
        "vulndb".to_owned(),
        "refresh".to_owned(),
        format!("--dir={BUILDER_DIR}"),
    ];
    args.extend(sources.iter().map(|s| format!("--source={s}")));
    Container {
        name: BUILDER_CONTAINER.to_owned(),
        image: Some(image.reference()),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        args: Some(args),
        resources: Some(ResourceRequirements {
            requests: Some(quantities([
                ("cpu", BUILDER_CPU_REQUEST),
                ("memory", BUILDER_MEMORY_REQUEST),
            ])),
            limits: Some(quantities([("memory", BUILDER_MEMORY_LIMIT)])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(restricted_security_context()),
        volume_mounts: Some(vec![
            mount(DATA_VOLUME, DATA_DIR, false),
            mount(TMP_VOLUME, TMP_DIR, false),
        ]),
        ..Container::default()
    }
}

/// No privilege escalation, no capabilities, a read-only root, never root.
fn restricted_security_context() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        ..locked_down_security_context()
    }
}

fn service_port(name: &str, port: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port,
        target_port: Some(IntOrString::String(name.to_owned())),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    }
}

fn service(namespace: &str) -> Service {
    Service {
        metadata: meta(state::MANAGER_SERVICE, namespace),
        spec: Some(ServiceSpec {
            selector: Some(manager_labels()),
            ports: Some(vec![
                service_port(METRICS_PORT_NAME, METRICS_PORT),
                service_port(VULNDB_PORT_NAME, VULNDB_PORT),
            ]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

impl ImageCleaner {
    /// The objects as one multi-document YAML stream, in apply order.
    pub(crate) fn render_yaml(&self) -> anyhow::Result<String> {
        let mut out = String::new();
        for crd in &self.crds {
            push_yaml(&mut out, crd)?;
        }
        if let Some(ns) = &self.namespace {
            push_yaml(&mut out, ns)?;
        }
        push_yaml(&mut out, &self.manager_account)?;
        push_yaml(&mut out, &self.worker_account)?;
        push_yaml(&mut out, &self.cluster_role)?;
        push_yaml(&mut out, &self.cluster_role_binding)?;
        push_yaml(&mut out, &self.role)?;
        push_yaml(&mut out, &self.role_binding)?;
        push_yaml(&mut out, &self.config)?;
        push_yaml(&mut out, &self.system_exclusion)?;
        push_yaml(&mut out, &self.deployment)?;
        push_yaml(&mut out, &self.service)?;
        Ok(out)
    }
}

/// The Image Cleaner for `options` with a fresh configuration (AKS's defaults, `interval`).
pub(crate) fn fresh(options: &Options, interval: IntervalHours) -> anyhow::Result<ImageCleaner> {
    let text = config_yaml(&default_config(&options.image, interval))?;
    objects(options, text)
}

#[cfg(test)]
mod tests {
    use drydock_api::config;

    use super::*;

    fn rendered() -> ImageCleaner {
        fresh(&Options::default(), IntervalHours::DEFAULT).unwrap()
    }

    #[test]
    fn intervals_outside_one_day_to_three_months_are_refused_with_the_range() {
        assert_eq!("24".parse(), Ok(IntervalHours(24)));
        assert_eq!("2160".parse(), Ok(IntervalHours(2160)));
        for bad in ["23", "2161", "0", "99999999999"] {
            let err = bad.parse::<IntervalHours>().unwrap_err();
            assert!(err.contains("outside 24..=2160"), "{err}");
        }
        let err = "a week".parse::<IntervalHours>().unwrap_err();
        assert!(err.contains("not a whole number of hours"), "{err}");
        assert_eq!(IntervalHours(168).go_duration(), "168h");
    }

    #[test]
    fn images_are_repo_and_tag_with_registry_ports_kept() {
        let image = parse_image("myreg:5000/team/drydock:1.2").unwrap();
        assert_eq!(
            (image.repo.as_str(), image.tag.as_str()),
            ("myreg:5000/team/drydock", "1.2")
        );
        for bad in [
            "myreg:5000/drydock",
            "drydock",
            "drydock:",
            "r/d@sha256:abc",
            "@sha256:2834dc507516af02784808c5f48b7cbe38b8ed5d0f4837f16e78d00deb7e7767",
        ] {
            assert!(parse_image(bad).is_err(), "{bad}");
        }
        // Pinned by digest: kept as the tag, written back with `@`.
        let digest = "sha256:2834dc507516af02784808c5f48b7cbe38b8ed5d0f4837f16e78d00deb7e7767";
        let pinned = parse_image(&format!("registry.example.com/mirror/drydock@{digest}")).unwrap();
        assert_eq!(pinned.tag, digest);
        assert_eq!(
            pinned.reference(),
            format!("registry.example.com/mirror/drydock@{digest}")
        );
    }

    #[test]
    fn the_manager_is_told_its_own_image_for_the_worker_commands() {
        let image = parse_image("registry.example.com/mirror/drydock:1.2").unwrap();
        let objects = fresh(
            &Options {
                image,
                ..Options::default()
            },
            IntervalHours::DEFAULT,
        )
        .unwrap();
        let pod = objects
            .deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.clone())
            .unwrap();
        let env = pod.containers[0].env.clone().unwrap();
        let own = env
            .iter()
            .find(|e| e.name == crate::cmd::manager::DRYDOCK_IMAGE_ENV)
            .and_then(|e| e.value.clone());
        assert_eq!(
            own.as_deref(),
            Some("registry.example.com/mirror/drydock:1.2")
        );
    }

    #[test]
    fn the_fresh_config_is_automatic_mode_every_week_and_parses_back() {
        let objects = rendered();
        let text = &objects.config.data.as_ref().unwrap()[names::MANAGER_CONFIG_KEY];
        let parsed = config::parse(text, "test").unwrap();
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        assert_eq!(parsed.api_version, config::ApiVersion::V1alpha3);
        let c = parsed.config;
        assert_eq!(c.manager.scheduling.repeat_interval.to_string(), "168h0m0s");
        assert!(c.manager.scheduling.begin_immediately);
        assert!(c.components.collector.enabled && c.components.scanner.enabled);
        assert_eq!(
            c.components.remover.image.reference(),
            Options::default().image.reference()
        );
        assert!(
            text.starts_with("apiVersion: eraser.sh/v1alpha3\nkind: EraserConfig\n"),
            "{text}"
        );
        assert!(
            text.contains("tag:"),
            "describe | grep tag must show the tags: {text}"
        );
    }

    #[test]
    fn the_worker_account_has_no_token_and_no_binding_names_it() {
        let objects = rendered();
        assert_eq!(
            objects.worker_account.automount_service_account_token,
            Some(false)
        );
        let subjects: Vec<_> = [
            &objects.cluster_role_binding.subjects,
            &objects.role_binding.subjects,
        ]
        .into_iter()
        .flatten()
        .flatten()
        .map(|s| s.name.as_str())
        .collect();
        assert_eq!(
            subjects,
            ["eraser-controller-manager", "eraser-controller-manager"]
        );
    }

    /// Eraser's chart role, exactly (`reference/charts.md`): (resource, verbs).
    const ERASER_GRANTS: [(&str, &[&str]); 10] = [
        ("nodes", &["get", "list", "watch"]),
        ("imagejobs", &["create", "delete", "get", "list", "watch"]),
        ("imagejobs/status", &["get", "patch", "update"]),
        ("imagelists", &["get", "list", "watch"]),
        ("imagelists/status", &["get", "patch", "update"]),
        (
            "configmaps",
            &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ],
        ),
        (
            "pods",
            &["create", "delete", "get", "list", "update", "watch"],
        ),
        (
            "podtemplates",
            &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ],
        ),
        ("events", &[]),
        ("secrets", &[]),
    ];

    #[test]
    fn the_manager_gets_erasers_grants_plus_events_deletecollection_and_token_secrets_only() {
        let objects = rendered();
        let rules = objects
            .cluster_role
            .rules
            .iter()
            .flatten()
            .chain(objects.role.rules.iter().flatten());
        let mut beyond = Vec::new();
        for rule in rules {
            for resource in rule.resources.iter().flatten() {
                let eraser = ERASER_GRANTS
                    .iter()
                    .find(|(r, _)| r == resource)
                    .unwrap_or_else(|| panic!("{resource} is not in Eraser's role"))
                    .1;
                for verb in &rule.verbs {
                    if !eraser.contains(&verb.as_str()) {
                        beyond.push(format!("{verb} {resource}"));
                    }
                }
            }
        }
        beyond.sort();
        assert_eq!(
            beyond,
            [
                "create events",
                "create secrets",
                "delete secrets",
                "deletecollection pods",
                "list secrets",
                "patch secrets"
            ]
        );
    }

    #[test]
    fn pods_and_configmaps_are_granted_only_in_the_manager_namespace() {
        let objects = rendered();
        let cluster: Vec<String> = objects
            .cluster_role
            .rules
            .iter()
            .flatten()
            .flat_map(|r| r.resources.clone().unwrap_or_default())
            .collect();
        for namespaced in ["pods", "podtemplates", "configmaps", "secrets"] {
            assert!(
                !cluster.iter().any(|r| r == namespaced),
                "{namespaced} in {cluster:?}"
            );
        }
        assert_eq!(
            objects.role.metadata.namespace.as_deref(),
            Some("kube-system")
        );
        let verbs: Vec<String> = objects
            .cluster_role
            .rules
            .iter()
            .flatten()
            .flat_map(|r| r.verbs.clone())
            .collect();
        assert!(
            !verbs
                .iter()
                .any(|v| v == "*" || v == "escalate" || v == "bind"),
            "{verbs:?}"
        );
    }

    #[test]
    fn no_namespace_object_for_kube_system_and_a_privileged_one_otherwise() {
        assert!(rendered().namespace.is_none());
        let options = Options {
            namespace: "eraser-system".into(),
            ..Options::default()
        };
        let objects = fresh(&options, IntervalHours::DEFAULT).unwrap();
        let ns = objects.namespace.unwrap();
        assert_eq!(ns.metadata.name.as_deref(), Some("eraser-system"));
        assert_eq!(
            ns.metadata.labels.unwrap()["pod-security.kubernetes.io/enforce"],
            "privileged"
        );
        assert_eq!(
            objects.deployment.metadata.namespace.as_deref(),
            Some("eraser-system")
        );
        assert_eq!(
            objects.role_binding.subjects.unwrap()[0]
                .namespace
                .as_deref(),
            Some("eraser-system")
        );
    }

    #[test]
    fn the_deployment_runs_one_hardened_manager_with_eraser_flags_and_ports() {
        let deployment = rendered().deployment;
        let spec = deployment.spec.unwrap();
        assert_eq!(spec.replicas, Some(1));
        let pod = spec.template.spec.unwrap();
        assert_eq!(
            pod.service_account_name.as_deref(),
            Some("eraser-controller-manager")
        );
        assert_eq!(
            spec.template.metadata.unwrap().labels.unwrap()["control-plane"],
            "controller-manager"
        );
        let c = &pod.containers[0];
        let args = c.args.as_deref().unwrap();
        assert_eq!(
            args[..2],
            ["manager", "--config=/config/controller_manager_config.yaml"]
        );
        // The manager serves the index its pod's builder writes; it downloads nothing.
        assert_eq!(
            args[2..],
            ["--vulndb-index=/var/lib/drydock/builder/index.sqlite"]
        );
        let env = &c.env.as_ref().unwrap()[0];
        assert_eq!(env.name, "POD_NAMESPACE");
        let field = env.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
        assert_eq!(field.field_path, "metadata.namespace");
        let ports: Vec<_> = c.ports.iter().flatten().map(|p| p.container_port).collect();
        assert_eq!(ports, [8889, 8890, 8081]);
        let security = c.security_context.as_ref().unwrap();
        assert_eq!(security.read_only_root_filesystem, Some(true));
        assert_eq!(security.allow_privilege_escalation, Some(false));
        assert_eq!(
            security.capabilities.as_ref().unwrap().drop.as_deref(),
            Some(&["ALL".to_owned()][..])
        );
        let pod_security = pod.security_context.unwrap();
        assert_eq!(
            pod_security.seccomp_profile.unwrap().type_,
            "RuntimeDefault"
        );
        let mounts = c.volume_mounts.as_ref().unwrap();
        assert_eq!(
            (mounts[0].mount_path.as_str(), mounts[0].read_only),
            ("/config", Some(true))
        );
        let requests = c.resources.as_ref().unwrap().requests.as_ref().unwrap();
        assert_eq!(requests["memory"].0, "64Mi");
    }

    #[test]
    fn a_builder_container_with_its_own_limit_keeps_the_index_in_the_shared_volume() {
        let pod = rendered().deployment.spec.unwrap().template.spec.unwrap();
        let names: Vec<&str> = pod.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["manager", "vulndb-builder"]);
        let (manager, builder) = (&pod.containers[0], &pod.containers[1]);
        assert_eq!(builder.image, manager.image);
        let args = builder.args.as_deref().unwrap();
        assert_eq!(
            args[..3],
            ["vulndb", "refresh", "--dir=/var/lib/drydock/builder"]
        );
        assert!(
            args.contains(
                &"--source=https://osv-vulnerabilities.storage.googleapis.com/Rocky%20Linux/all.zip"
                    .to_owned()
            ),
            "{args:?}"
        );
        for language in ["Go", "PyPI", "npm", "RubyGems", "Maven", "crates.io"] {
            let source = format!(
                "--source=https://osv-vulnerabilities.storage.googleapis.com/{language}/all.zip"
            );
            assert!(args.contains(&source), "{language} in {args:?}");
        }
        assert_eq!(
            args.len(),
            3 + drydock_vuln::ecosystem::default_osv_dumps().len(),
            "every default ecosystem: {args:?}"
        );
        // The manager's --vulndb-index is the builder's --dir, in a volume both mount.
        let index = manager.args.as_deref().unwrap()[2]
            .strip_prefix("--vulndb-index=")
            .unwrap()
            .to_owned();
        let dir = args[2].strip_prefix("--dir=").unwrap();
        assert_eq!(index, format!("{dir}/index.sqlite"));
        let data = |c: &Container| {
            c.volume_mounts
                .iter()
                .flatten()
                .find(|m| m.name == "data")
                .map(|m| (m.mount_path.clone(), m.read_only))
        };
        assert_eq!(data(builder), data(manager));
        assert!(dir.starts_with(&data(builder).unwrap().0));
        let resources = builder.resources.as_ref().unwrap();
        assert_eq!(resources.limits.as_ref().unwrap()["memory"].0, "128Mi");
        assert_eq!(resources.requests.as_ref().unwrap()["memory"].0, "64Mi");
        let security = builder.security_context.as_ref().unwrap();
        assert_eq!(security.read_only_root_filesystem, Some(true));
        assert!(builder.ports.is_none(), "the builder serves nothing");
    }

    #[test]
    fn the_service_exposes_metrics_and_vulndb_of_the_manager_pod() {
        let spec = rendered().service.spec.unwrap();
        assert_eq!(
            spec.selector.unwrap()["control-plane"],
            "controller-manager"
        );
        let ports: Vec<_> = spec
            .ports
            .unwrap()
            .into_iter()
            .map(|p| (p.name.unwrap(), p.port))
            .collect();
        assert_eq!(
            ports,
            [("metrics".to_owned(), 8889), ("vulndb".to_owned(), 8890)]
        );
    }

    #[test]
    fn the_system_exclusion_list_is_valid_for_the_workers_and_protects_sandbox_images() {
        let cm = rendered().system_exclusion;
        let text = &cm.data.as_ref().unwrap()[SYSTEM_EXCLUSION_KEY];
        let mut set = drydock_cri::ExclusionSet::default();
        drydock_cleaner::exclusions::parse_file(
            text,
            std::path::Path::new("/exclude-eraser-system-exclusion/excluded.json"),
            &mut set,
        )
        .unwrap();
        let list: serde_json::Value = serde_json::from_str(text).unwrap();
        let patterns = list["excluded"].as_array().unwrap();
        assert!(patterns.contains(&serde_json::json!("registry.k8s.io/pause:*")));
        assert!(patterns.contains(&serde_json::json!("ghcr.io/drydock-dev/drydock:*")));
        assert!(
            !cm.metadata
                .labels
                .unwrap()
                .contains_key(names::EXCLUDE_LIST_LABEL),
            "the manager mounts the system list by name; the label would mount it twice"
        );
    }
}
