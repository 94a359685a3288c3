//! Pure construction of the worker pods, with Eraser's layout (`reference/eraser.md`
//! §1.3–§1.5): container names and order, arguments, volumes, mounts, environment, labels.
//!
//! Differences, each deliberate: pods are owned by the ImageJob (deleting the job collects
//! everything; Eraser chained them to the manager pod, leaving orphans, #912) and carry a
//! per-job label so the manager lists a job's pods, not every pod of a type; CPU limits are
//! honoured; every container gets the restricted security context; exclusion ConfigMaps are
//! mounted at absolute `/exclude-<name>`, which is where Eraser's relative mount ends up.

use std::collections::BTreeMap;

use drydock_api::config::{Component, Config, DEFAULT_IMAGE_REPO, RepoTag, Resources};
use drydock_api::names::{self, containers, env, paths, vulndb};
use drydock_cri::Reference;
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    HostPathVolumeSource, LocalObjectReference, ObjectFieldSelector, Pod, PodSpec, PodTemplateSpec,
    ResourceRequirements, SeccompProfile, SecretVolumeSource, SecurityContext, Toleration, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// Label on worker pods naming their ImageJob, so each job lists only its own pods.
pub const JOB_NAME_LABEL: &str = "drydock.dev/imagejob";
/// Volume holding the runtime socket.
const RUNTIME_SOCKET_VOLUME: &str = "runtime-sock-volume";
/// Volume holding the pipes.
const SHARED_DATA_VOLUME: &str = "shared-data";
/// Volume holding the manager config (for the scanner).
const CONFIG_VOLUME: &str = "eraser-config";
/// Volume holding the ImageList's images (manual mode).
const IMAGELIST_VOLUME: &str = "imagelist";
/// Volume holding the node's cache of the vulnerability index (Drydock's scanner only).
const VULNDB_CACHE_VOLUME: &str = "drydock-vulndb";
/// The containerd namespace Kubernetes uses.
const CONTAINERD_K8S_NAMESPACE: &str = "k8s.io";
/// Volume holding containerd's root (Drydock's scanner reads blobs and snapshots there).
const CONTAINERD_ROOT_VOLUME: &str = "containerd-root";
/// containerd's default root: its content store and overlayfs snapshots live below it.
const CONTAINERD_DEFAULT_ROOT: &str = "/var/lib/containerd";
/// k3s's embedded containerd keeps its root here, next to its socket under `/run/k3s`.
const K3S_CONTAINERD_ROOT: &str = "/var/lib/rancher/k3s/agent/containerd";
/// A socket path under this directory belongs to k3s's embedded containerd.
const K3S_RUN_DIR: &str = "/run/k3s/";

/// Volume holding the job's verdict cache token (Drydock's scanner only).
const VERDICT_TOKEN_VOLUME: &str = "drydock-verdict-token";
/// Where Drydock's scanner finds its job's token.
pub const VERDICT_TOKEN_DIR: &str = "/run/drydock/verdicts";
/// The token file's mode, read-only (0444): the volume's files belong to root and the scanner
/// may run as another user with every capability dropped; only this container mounts it.
const VERDICT_TOKEN_MODE: i32 = 0o444;

/// The base URL of the manager's verdict cache in `namespace` (the index's Service and port).
#[must_use]
pub fn verdicts_url(namespace: &str) -> String {
    format!(
        "http://{}.{namespace}.svc:{}",
        names::state::MANAGER_SERVICE,
        vulndb::DEFAULT_PORT
    )
}

/// What kind of job the pods serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Manual: a remover reading this ConfigMap's `images` key.
    Manual {
        /// The ConfigMap holding the image list.
        imagelist_configmap: String,
    },
    /// Automatic: collector, remover and (when enabled) scanner.
    Collector,
}

/// Inputs besides the config.
#[derive(Debug, Clone, Default)]
pub struct TemplateInputs {
    /// Exclusion ConfigMaps (labelled `eraser.sh/exclude.list=true`, plus the system list).
    pub exclusion_configmaps: Vec<String>,
    /// Extra pull secrets from `ERASER_PULL_SECRET_NAMES`.
    pub extra_pull_secrets: Vec<String>,
    /// The manager's `--log-level`, handed to the components.
    pub log_level: String,
    /// Repositories whose images are Drydock's own besides the default one: the manager's own
    /// image (a mirror, a private registry, a chart's `image.repository`). Components from them
    /// get Drydock's command; any other image keeps its entrypoint
    /// (`docs/design/006-worker-commands.md`).
    pub drydock_repositories: Vec<String>,
    /// A dry run: Drydock's remover gets `--dry-run` (the job is refused before this when the
    /// remover is another image, which could not honour it).
    pub dry_run: bool,
    /// The job's Secret holding its verdict cache token ([`crate::verdicts`]): Drydock's
    /// scanner mounts it and asks the manager for known verdicts. `None` (no right to create
    /// Secrets, or no Drydock scanner): every image is scanned, as in Eraser.
    pub verdict_secret: Option<String>,
}

/// `domain/path` of an image repository or reference (`drydock` is
/// `docker.io/library/drydock`; a tag or digest is dropped); text that is no reference is
/// compared as written.
#[must_use]
pub fn normalised_repository(text: &str) -> String {
    Reference::parse(text.trim()).map_or_else(|_| text.trim().to_owned(), |r| r.repository())
}

/// Whether `image` is Drydock's multi-call image: from the default repository or one of
/// `known` (the manager's own image), whatever the registry, tag or digest.
#[must_use]
pub fn is_drydock_image(image: &RepoTag, known: &[String]) -> bool {
    let repository = normalised_repository(&image.repo);
    repository == normalised_repository(DEFAULT_IMAGE_REPO)
        || known.iter().any(|k| normalised_repository(k) == repository)
}

// === impl Mode ===

impl Mode {
    /// The `eraser.sh/type` label value.
    #[must_use]
    pub const fn type_label(&self) -> &'static str {
        match self {
            Self::Manual { .. } => "manual",
            Self::Collector => "collector",
        }
    }
}

fn quantity_map(resources: &Resources) -> Option<BTreeMap<String, Quantity>> {
    let mut map = BTreeMap::new();
    for (key, value) in [("memory", &resources.mem), ("cpu", &resources.cpu)] {
        // Eraser writes `0` for "no limit".
        if !value.is_empty() && value != "0" {
            map.insert(key.to_owned(), Quantity(value.clone()));
        }
    }
    (!map.is_empty()).then_some(map)
}

/// What every Drydock container is denied: privilege escalation, every capability, a
/// writable root file system. The worker pods add the runtime's seccomp profile, the manager's
/// Deployment a non-root user.
pub fn locked_down_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            add: None,
        }),
        read_only_root_filesystem: Some(true),
        ..SecurityContext::default()
    }
}

fn restricted_security_context() -> SecurityContext {
    SecurityContext {
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            localhost_profile: None,
        }),
        ..locked_down_security_context()
    }
}

/// A volume mount of `name` at `path`; `readOnly` is written only when set (Kubernetes
/// defaults it to false), as the manifests and Eraser's pods leave it out.
pub fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

fn env_value(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        value_from: None,
    }
}

fn node_name_env() -> EnvVar {
    field_env(env::NODE_NAME, "spec.nodeName")
}

/// An environment variable from a field of the pod (the downward API).
fn field_env(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: field_path.to_owned(),
                api_version: None,
            }),
            ..EnvVarSource::default()
        }),
    }
}

fn pprof_args(config: &Config) -> [String; 2] {
    [
        format!("--enable-pprof={}", config.manager.profile.enabled),
        format!("--pprof-port={}", config.manager.profile.port),
    ]
}

/// Drydock's `--minimum-age` flag for a Drydock collector or remover, when the config sets
/// one; another image gets Eraser's flags only.
fn minimum_age_arg(config: &Config, drydock: bool) -> Option<String> {
    let age = config.components.minimum_age().filter(|_| drydock)?;
    Some(format!("--minimum-age={age}"))
}

/// Drydock's `--report-in-use` flag for Drydock's collector, when the scanner's configuration
/// asks for the in-use report and the scanner is Drydock's too: another scanner ignores the
/// mark and would scan images in use as removal candidates.
fn report_in_use_arg(config: &Config, collector: bool, scanner: bool) -> Option<String> {
    (config.components.report_in_use() && collector && scanner)
        .then(|| "--report-in-use".to_owned())
}

/// Drydock's `--dry-run` flag for Drydock's remover in a dry-run job.
fn dry_run_arg(inputs: &TemplateInputs, drydock: bool) -> Option<String> {
    (inputs.dry_run && drydock).then(|| "--dry-run".to_owned())
}

/// A component container. Drydock's own image is multi-call: the command names the stage
/// (`drydock` is `true`), as Eraser's per-component images do by their entrypoint; any other
/// image gets no command, so a swapped-in Eraser or third-party image runs its own.
#[allow(
    clippy::too_many_arguments,
    reason = "one private constructor; every argument is a distinct part of the container"
)]
fn container(
    name: &str,
    entrypoint: &str,
    drydock: bool,
    component: &Component,
    args: Vec<String>,
    mut mounts: Vec<VolumeMount>,
    mut envs: Vec<EnvVar>,
    exclusions: &[String],
) -> Container {
    mounts.push(mount(RUNTIME_SOCKET_VOLUME, paths::CRI_SOCKET, false));
    mounts.extend(
        exclusions
            .iter()
            .map(|cm| mount(cm, &format!("/exclude-{cm}"), true)),
    );
    envs.insert(0, node_name_env());
    Container {
        name: name.to_owned(),
        image: Some(component.image.reference()),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        command: drydock.then(|| vec![entrypoint.to_owned()]),
        args: Some(args),
        env: Some(envs),
        volume_mounts: Some(mounts),
        resources: Some(ResourceRequirements {
            requests: quantity_map(&component.request),
            limits: quantity_map(&component.limit),
            ..ResourceRequirements::default()
        }),
        security_context: Some(restricted_security_context()),
        ..Container::default()
    }
}

fn otel(config: &Config, service: &str) -> Vec<EnvVar> {
    vec![
        env_value(
            env::OTEL_EXPORTER_OTLP_ENDPOINT,
            &config.manager.otlp_endpoint,
        ),
        env_value(env::OTEL_SERVICE_NAME, service),
    ]
}

/// The runtime socket's host path: the path part of `manager.runtime.address`.
#[must_use]
pub fn runtime_socket_path(config: &Config) -> String {
    let address = &config.manager.runtime.address;
    address
        .strip_prefix("unix://")
        .unwrap_or(address)
        .to_owned()
}

/// containerd's root directory on the node, inferred from the runtime socket: k3s keeps its
/// embedded containerd under `/var/lib/rancher`, every other install under `/var/lib/containerd`.
#[must_use]
pub fn containerd_root(config: &Config) -> &'static str {
    if runtime_socket_path(config).starts_with(K3S_RUN_DIR) {
        K3S_CONTAINERD_ROOT
    } else {
        CONTAINERD_DEFAULT_ROOT
    }
}

/// The pod template of a job (stored in the PodTemplate named after the job).
#[must_use]
pub fn template(config: &Config, mode: &Mode, inputs: &TemplateInputs) -> PodTemplateSpec {
    let components = &config.components;
    let exclusions = &inputs.exclusion_configmaps;
    let ours =
        |component: &Component| is_drydock_image(&component.image, &inputs.drydock_repositories);
    let log_level = format!(
        "--log-level={}",
        if inputs.log_level.is_empty() {
            "info"
        } else {
            &inputs.log_level
        }
    );
    let mut volumes = vec![Volume {
        name: RUNTIME_SOCKET_VOLUME.to_owned(),
        host_path: Some(HostPathVolumeSource {
            path: runtime_socket_path(config),
            type_: Some("Socket".to_owned()),
        }),
        ..Volume::default()
    }];
    volumes.extend(exclusions.iter().map(|cm| configmap_volume(cm, cm)));
    let containers = match mode {
        Mode::Manual {
            imagelist_configmap,
        } => {
            volumes.push(configmap_volume(IMAGELIST_VOLUME, imagelist_configmap));
            let mut args = vec![format!("--imagelist={}", paths::IMAGELIST_FILE), log_level];
            args.extend(minimum_age_arg(config, ours(&components.remover)));
            args.extend(dry_run_arg(inputs, ours(&components.remover)));
            let imagelist_dir = paths::IMAGELIST_FILE
                .rsplit_once('/')
                .map_or(paths::IMAGELIST_FILE, |(dir, _)| dir);
            vec![container(
                containers::REMOVER,
                "/remover",
                ours(&components.remover),
                &components.remover,
                args,
                vec![mount(IMAGELIST_VOLUME, imagelist_dir, true)],
                otel(config, containers::REMOVER),
                exclusions,
            )]
        }
        Mode::Collector => collector_containers(config, inputs, log_level, &mut volumes),
    };
    let mut pull_secrets: Vec<String> = config.manager.pull_secrets.clone();
    pull_secrets.extend(inputs.extra_pull_secrets.iter().cloned());
    let mut labels = config.manager.additional_pod_labels.clone();
    labels.insert(
        names::POD_TYPE_LABEL.to_owned(),
        mode.type_label().to_owned(),
    );
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers,
            volumes: Some(volumes),
            restart_policy: Some("Never".to_owned()),
            service_account_name: Some(names::WORKER_SERVICE_ACCOUNT.to_owned()),
            // The workers never call the API server: no token in the pod (least privilege).
            automount_service_account_token: Some(false),
            priority_class_name: (!config.manager.priority_class_name.is_empty())
                .then(|| config.manager.priority_class_name.clone()),
            image_pull_secrets: (!pull_secrets.is_empty()).then(|| {
                pull_secrets
                    .into_iter()
                    .map(|name| LocalObjectReference { name })
                    .collect()
            }),
            // Tolerate every taint: a node that needs cleaning is cleaned (Eraser #503).
            tolerations: Some(vec![Toleration {
                operator: Some("Exists".to_owned()),
                ..Toleration::default()
            }]),
            ..PodSpec::default()
        }),
    }
}

/// The automatic mode's containers (collector, remover, and the scanner when enabled) sharing
/// Eraser's pipe volume. Adds the volumes they need to `volumes`.
fn collector_containers(
    config: &Config,
    inputs: &TemplateInputs,
    log_level: String,
    volumes: &mut Vec<Volume>,
) -> Vec<Container> {
    let components = &config.components;
    let exclusions = &inputs.exclusion_configmaps;
    let ours =
        |component: &Component| is_drydock_image(&component.image, &inputs.drydock_repositories);
    volumes.push(Volume {
        name: SHARED_DATA_VOLUME.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    });
    let shared = || vec![mount(SHARED_DATA_VOLUME, paths::SHARED_DATA, false)];
    let scan_enabled = components.scanner.enabled;
    let mut collector_args = vec![format!("--scan-disabled={}", !scan_enabled)];
    collector_args.extend(pprof_args(config));
    collector_args.extend(minimum_age_arg(config, ours(&components.collector)));
    collector_args.extend(report_in_use_arg(
        config,
        ours(&components.collector),
        ours(&components.scanner),
    ));
    let mut remover_args = vec![log_level];
    remover_args.extend(pprof_args(config));
    remover_args.extend(minimum_age_arg(config, ours(&components.remover)));
    remover_args.extend(dry_run_arg(inputs, ours(&components.remover)));
    let mut list = vec![
        container(
            containers::COLLECTOR,
            "/collector",
            ours(&components.collector),
            &components.collector,
            collector_args,
            shared(),
            // Eraser sets none on the collector; an entrypoint that tells the stage by
            // this variable needs it on every container.
            otel(config, containers::COLLECTOR),
            exclusions,
        ),
        container(
            containers::REMOVER,
            "/remover",
            ours(&components.remover),
            &components.remover,
            remover_args,
            shared(),
            otel(config, containers::REMOVER),
            exclusions,
        ),
    ];
    if scan_enabled {
        list.push(scanner_container(config, inputs, volumes, shared()));
    }
    list
}

/// Eraser's `trivy-scanner` container: the configuration and the hostPath volumes Eraser
/// mounts, and for Drydock's scanner its access to the index, containerd and the verdict cache
/// ([`drydock_scanner_access`]). Adds the volumes it needs to `volumes`.
fn scanner_container(
    config: &Config,
    inputs: &TemplateInputs,
    volumes: &mut Vec<Volume>,
    shared: Vec<VolumeMount>,
) -> Container {
    let components = &config.components;
    let ours =
        |component: &Component| is_drydock_image(&component.image, &inputs.drydock_repositories);
    volumes.push(configmap_volume(CONFIG_VOLUME, names::MANAGER_CONFIGMAP));
    // Only hostPath volumes are honoured for the scanner, mounted read-only (Eraser).
    for extra in &components.scanner.volumes {
        if let Ok(volume) = serde_json::from_value::<Volume>(extra.clone())
            && volume.host_path.is_some()
        {
            volumes.push(volume);
        }
    }
    let mut mounts = shared;
    mounts.push(mount(CONFIG_VOLUME, "/config", true));
    for volume in volumes
        .iter()
        .filter(|v| v.host_path.is_some() && v.name != RUNTIME_SOCKET_VOLUME)
    {
        if let Some(path) = volume.host_path.as_ref().map(|h| h.path.clone()) {
            mounts.push(mount(&volume.name, &path, true));
        }
    }
    let mut args = vec![format!("--config={}", paths::CONFIG_FILE)];
    args.extend(pprof_args(config));
    let drydock_scanner = ours(&components.scanner);
    // Eraser's manager names its scanner `trivy-scanner`; a third-party scanner
    // image gets that name, Drydock's its own stage name.
    let service = if drydock_scanner {
        containers::SCANNER
    } else {
        containers::TRIVY_SCANNER
    };
    let mut envs = otel(config, service);
    envs.push(env_value(
        env::ERASER_RUNTIME_NAME,
        config.manager.runtime.name.as_str(),
    ));
    envs.push(env_value(
        env::CONTAINERD_NAMESPACE,
        CONTAINERD_K8S_NAMESPACE,
    ));
    let mut access = ScannerAccess { mounts, args, envs };
    if drydock_scanner {
        drydock_scanner_access(config, inputs, volumes, &mut access);
    }
    // Eraser's container name whatever the image: `kubectl logs <pod> -c
    // trivy-scanner` is how users (and the AKS document) read the scan.
    container(
        containers::TRIVY_SCANNER,
        "/scanner",
        drydock_scanner,
        &components.scanner,
        access.args,
        access.mounts,
        access.envs,
        &[],
    )
}

/// What a scanner container gets: mounts, arguments, environment.
struct ScannerAccess {
    mounts: Vec<VolumeMount>,
    args: Vec<String>,
    envs: Vec<EnvVar>,
}

/// Drydock's scanner fetches the index from the manager into a per-node cache, reads
/// containerd's store and, with a token, uses the cluster's verdict cache; a third-party
/// scanner image gets Eraser's arguments only.
fn drydock_scanner_access(
    config: &Config,
    inputs: &TemplateInputs,
    volumes: &mut Vec<Volume>,
    access: &mut ScannerAccess,
) {
    // Drydock's scanner fetches the index from the manager into a per-node
    // cache (read-write, unlike the hostPaths above); a third-party scanner
    // image gets Eraser's arguments only.
    volumes.push(Volume {
        name: VULNDB_CACHE_VOLUME.to_owned(),
        host_path: Some(HostPathVolumeSource {
            path: vulndb::DEFAULT_CACHE_DIR.to_owned(),
            type_: Some("DirectoryOrCreate".to_owned()),
        }),
        ..Volume::default()
    });
    access
        .mounts
        .push(mount(VULNDB_CACHE_VOLUME, vulndb::DEFAULT_CACHE_DIR, false));
    access
        .envs
        .push(field_env(env::POD_NAMESPACE, "metadata.namespace"));
    // Kubernetes expands `$(POD_NAMESPACE)`: the pods run in the manager's
    // namespace, so this is the manager's Service.
    access.args.push(format!(
        "--vulndb-url={}",
        vulndb::manager_url(&format!("$({})", env::POD_NAMESPACE))
    ));
    access
        .args
        .push(format!("--vulndb-cache={}", vulndb::DEFAULT_CACHE_DIR));
    // It reads image blobs from containerd's content store and, when those were
    // discarded, the unpacked snapshots containerd's socket (mounted at the
    // stages' default endpoint) hands out as host paths: the root is mounted
    // read-only at the same path, unless configured.
    let root = containerd_root(config);
    let configured = access.mounts.iter().any(|m| m.mount_path == root);
    if !configured {
        volumes.push(Volume {
            name: CONTAINERD_ROOT_VOLUME.to_owned(),
            host_path: Some(HostPathVolumeSource {
                path: root.to_owned(),
                type_: Some("Directory".to_owned()),
            }),
            ..Volume::default()
        });
        access
            .mounts
            .push(mount(CONTAINERD_ROOT_VOLUME, root, true));
    }
    access.args.push(format!("--containerd-root={root}"));
    if let Some(secret) = &inputs.verdict_secret {
        volumes.push(Volume {
            name: VERDICT_TOKEN_VOLUME.to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                default_mode: Some(VERDICT_TOKEN_MODE),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
        access
            .mounts
            .push(mount(VERDICT_TOKEN_VOLUME, VERDICT_TOKEN_DIR, true));
        access.args.push(format!(
            "--verdicts-url={}",
            verdicts_url(&format!("$({})", env::POD_NAMESPACE))
        ));
        access.args.push(format!(
            "--verdicts-token={VERDICT_TOKEN_DIR}/{}",
            crate::verdicts::TOKEN_KEY
        ));
    }
}

/// A volume of a ConfigMap.
fn configmap_volume(volume: &str, configmap: &str) -> Volume {
    Volume {
        name: volume.to_owned(),
        config_map: Some(ConfigMapVolumeSource {
            name: configmap.to_owned(),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// The worker pod for one node: the template pinned to the node, owned by the ImageJob.
#[must_use]
pub fn pod_for_node(
    template: &PodTemplateSpec,
    job: &OwnerReference,
    namespace: &str,
    node: &str,
) -> Pod {
    let mut metadata = template.metadata.clone().unwrap_or_default();
    metadata.generate_name = Some(format!("{}{node}-", names::WORKER_POD_PREFIX));
    metadata.namespace = Some(namespace.to_owned());
    metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(JOB_NAME_LABEL.to_owned(), job.name.clone());
    metadata.owner_references = Some(vec![job.clone()]);
    let mut spec = template.spec.clone().unwrap_or_default();
    // Bypass the scheduler, as Eraser does: the pod belongs on exactly this node.
    spec.node_name = Some(node.to_owned());
    Pod {
        metadata,
        spec: Some(spec),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> OwnerReference {
        OwnerReference {
            api_version: "eraser.sh/v1".into(),
            kind: "ImageJob".into(),
            name: "imagejob-abcde".into(),
            uid: "uid-1".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    fn inputs() -> TemplateInputs {
        TemplateInputs {
            exclusion_configmaps: vec!["excluded".into()],
            extra_pull_secrets: vec![],
            log_level: "info".into(),
            drydock_repositories: vec![],
            dry_run: false,
            verdict_secret: None,
        }
    }

    #[test]
    fn only_drydocks_scanner_mounts_the_jobs_verdict_token() {
        let mut config = Config::default();
        config.components.scanner.enabled = true;
        let with_token = TemplateInputs {
            verdict_secret: Some("drydock-verdicts-x".into()),
            ..inputs()
        };
        let ours = template(&config, &Mode::Collector, &with_token);
        let spec = ours.spec.as_ref().unwrap();
        only_the_scanner_mounts(spec, VERDICT_TOKEN_VOLUME);
        let scanner = spec
            .containers
            .iter()
            .find(|c| c.name == "trivy-scanner")
            .unwrap();
        let args = scanner.args.as_ref().unwrap();
        assert!(args.contains(&"--verdicts-token=/run/drydock/verdicts/token".to_owned()));
        // Eraser's scanner image: no token, no flag, whatever the job holds.
        config.components.scanner.image = RepoTag {
            repo: "ghcr.io/eraser-dev/eraser-trivy-scanner".into(),
            tag: "v1.4.1".into(),
        };
        let theirs = template(&config, &Mode::Collector, &with_token);
        let text = serde_json::to_string(&theirs).unwrap();
        assert!(!text.contains("verdict"), "{text}");
    }

    /// Every component from `repo` with `tag`.
    fn all_from(repo: &str, tag: &str) -> Config {
        let mut config = Config::default();
        config.components.scanner.enabled = true;
        for component in [
            &mut config.components.collector,
            &mut config.components.scanner,
            &mut config.components.remover,
        ] {
            component.image = RepoTag {
                repo: repo.into(),
                tag: tag.into(),
            };
        }
        config
    }

    /// `(container, command, OTEL_SERVICE_NAME, image)` of each container.
    fn roles(spec: &PodSpec) -> Vec<(String, Option<Vec<String>>, String, String)> {
        spec.containers
            .iter()
            .map(|c| {
                let service = c
                    .env
                    .as_ref()
                    .unwrap()
                    .iter()
                    .find(|e| e.name == env::OTEL_SERVICE_NAME)
                    .and_then(|e| e.value.clone())
                    .unwrap_or_default();
                (
                    c.name.clone(),
                    c.command.clone(),
                    service,
                    c.image.clone().unwrap(),
                )
            })
            .collect()
    }

    fn drydock_roles(image: &str) -> Vec<(String, Option<Vec<String>>, String, String)> {
        [
            ("collector", "collector"),
            ("remover", "remover"),
            ("trivy-scanner", "scanner"),
        ]
        .iter()
        .map(|(name, stage)| {
            (
                (*name).to_owned(),
                Some(vec![format!("/{stage}")]),
                (*stage).to_owned(),
                image.to_owned(),
            )
        })
        .collect()
    }

    #[test]
    fn drydocks_image_from_the_default_repository_gets_the_stage_commands() {
        let config = all_from(DEFAULT_IMAGE_REPO, "1.2.3");
        let spec = template(&config, &Mode::Collector, &inputs()).spec.unwrap();
        assert_eq!(
            roles(&spec),
            drydock_roles(&format!("{DEFAULT_IMAGE_REPO}:1.2.3"))
        );
    }

    #[test]
    fn drydocks_image_from_a_mirror_gets_the_stage_commands_when_the_manager_runs_it() {
        // Issue: with any repository but the default one the containers got flags only, and
        // the image's entrypoint printed its usage.
        let mirror = "registry.example.com:5000/mirror/drydock";
        let config = all_from(mirror, "1.2.3");
        let mut own = inputs();
        own.drydock_repositories = vec![format!("{mirror}:1.2.3")];
        let spec = template(&config, &Mode::Collector, &own).spec.unwrap();
        assert_eq!(roles(&spec), drydock_roles(&format!("{mirror}:1.2.3")));
        let manual = Mode::Manual {
            imagelist_configmap: "imagelist-abcde".into(),
        };
        let spec = template(&config, &manual, &own).spec.unwrap();
        assert_eq!(
            spec.containers[0].command,
            Some(vec!["/remover".to_owned()])
        );
        // Short names are normalised: docker.io/library/drydock is `drydock`.
        own.drydock_repositories = vec![
            "drydock@sha256:2834dc507516af02784808c5f48b7cbe38b8ed5d0f4837f16e78d00deb7e7767"
                .into(),
        ];
        let config = all_from("docker.io/library/drydock", "dev");
        let spec = template(&config, &Mode::Collector, &own).spec.unwrap();
        assert!(spec.containers.iter().all(|c| c.command.is_some()));
    }

    #[test]
    fn drydocks_image_pinned_by_digest_is_a_valid_reference_and_gets_the_commands() {
        let digest = "sha256:2834dc507516af02784808c5f48b7cbe38b8ed5d0f4837f16e78d00deb7e7767";
        let config = all_from(DEFAULT_IMAGE_REPO, digest);
        let spec = template(&config, &Mode::Collector, &inputs()).spec.unwrap();
        let image = format!("{DEFAULT_IMAGE_REPO}@{digest}");
        assert_eq!(roles(&spec), drydock_roles(&image));
        assert!(drydock_cri::Reference::parse(&image).is_ok());
    }

    #[test]
    fn a_third_party_scanner_keeps_its_entrypoint_and_erasers_role_name() {
        let mut config = all_from(DEFAULT_IMAGE_REPO, "1.2.3");
        config.components.scanner.image = RepoTag {
            repo: "ghcr.io/eraser-dev/eraser-trivy-scanner".into(),
            tag: "v1.4.1".into(),
        };
        let spec = template(&config, &Mode::Collector, &inputs()).spec.unwrap();
        let found = roles(&spec);
        assert_eq!(
            found[2],
            (
                "trivy-scanner".to_owned(),
                None,
                "trivy-scanner".to_owned(),
                "ghcr.io/eraser-dev/eraser-trivy-scanner:v1.4.1".to_owned()
            )
        );
        assert_eq!(found[0].1, Some(vec!["/collector".to_owned()]));
        let args = spec.containers[2].args.clone().unwrap();
        assert!(
            !args.iter().any(|a| a.starts_with("--vulndb-url")),
            "Eraser's arguments only: {args:?}"
        );
        // Eraser's own images everywhere: no command anywhere, every role named.
        let eraser = all_from("ghcr.io/eraser-dev/remover", "v1.4.1");
        let spec = template(&eraser, &Mode::Collector, &inputs()).spec.unwrap();
        let services: Vec<(Option<Vec<String>>, String)> =
            roles(&spec).into_iter().map(|r| (r.1, r.2)).collect();
        assert_eq!(
            services,
            vec![
                (None, "collector".to_owned()),
                (None, "remover".to_owned()),
                (None, "trivy-scanner".to_owned())
            ]
        );
    }

    /// No container but the scanner mounts `volume`.
    fn only_the_scanner_mounts(spec: &PodSpec, volume: &str) {
        for other in spec.containers.iter().filter(|c| c.name != "trivy-scanner") {
            assert!(
                !other
                    .volume_mounts
                    .as_ref()
                    .unwrap()
                    .iter()
                    .any(|m| m.name == volume),
                "{} mounts {volume}",
                other.name
            );
        }
    }

    fn names_of(pod: &PodSpec) -> Vec<&str> {
        pod.containers.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn manual_pods_have_one_remover_reading_the_imagelist() {
        let t = template(
            &Config::default(),
            &Mode::Manual {
                imagelist_configmap: "imagelist-xyz".into(),
            },
            &inputs(),
        );
        let pod = pod_for_node(&t, &job(), "kube-system", "aks-node-1");
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(names_of(spec), vec!["remover"]);
        let remover = &spec.containers[0];
        assert_eq!(
            remover.args.as_ref().unwrap(),
            &vec![
                "--imagelist=/run/eraser.sh/imagelist/images".to_owned(),
                "--log-level=info".to_owned()
            ]
        );
        assert_eq!(
            remover.command.as_ref().unwrap(),
            &vec!["/remover".to_owned()]
        );
        let mounts: Vec<_> = remover
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.mount_path.as_str())
            .collect();
        assert_eq!(
            mounts,
            vec![
                "/run/eraser.sh/imagelist",
                "/run/cri/cri.sock",
                "/exclude-excluded"
            ]
        );
        assert_eq!(
            pod.metadata.generate_name.as_deref(),
            Some("eraser-aks-node-1-")
        );
        assert_eq!(spec.node_name.as_deref(), Some("aks-node-1"));
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(
            spec.service_account_name.as_deref(),
            Some("eraser-imagejob-pods")
        );
        assert_eq!(spec.automount_service_account_token, Some(false));
        assert_eq!(
            spec.tolerations.as_ref().unwrap()[0].operator.as_deref(),
            Some("Exists")
        );
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["eraser.sh/type"], "manual");
        assert_eq!(labels[JOB_NAME_LABEL], "imagejob-abcde");
        assert_eq!(
            pod.metadata.owner_references.as_ref().unwrap()[0].kind,
            "ImageJob"
        );
        let limits = remover.resources.as_ref().unwrap().limits.as_ref().unwrap();
        assert_eq!(limits["memory"], Quantity("30Mi".into()));
        assert!(
            !limits.contains_key("cpu"),
            "an unset CPU limit stays unset"
        );
    }

    #[test]
    fn collector_pods_follow_erasers_container_order_and_scanner_contract() {
        let mut config = Config::default();
        config.components.collector.enabled = true;
        config.components.scanner.enabled = true;
        config.components.scanner.image.repo = "ghcr.io/example/custom-scanner".into();
        config.manager.runtime.address = "unix:///run/k3s/containerd/containerd.sock".into();
        let t = template(&config, &Mode::Collector, &inputs());
        let spec = t.spec.as_ref().unwrap();
        assert_eq!(
            names_of(spec),
            vec!["collector", "remover", "trivy-scanner"]
        );
        assert_eq!(
            spec.containers[0].args.as_ref().unwrap()[0],
            "--scan-disabled=false"
        );
        let scanner = &spec.containers[2];
        assert_eq!(
            scanner.command, None,
            "a third-party scanner image keeps its own entrypoint"
        );
        assert_eq!(
            scanner.args.as_ref().unwrap()[0],
            "--config=/config/controller_manager_config.yaml"
        );
        assert!(
            !scanner
                .args
                .as_ref()
                .unwrap()
                .iter()
                .any(|a| a.starts_with("--vulndb")),
            "a third-party scanner gets no Drydock flags: {:?}",
            scanner.args
        );
        assert!(
            !spec
                .volumes
                .as_ref()
                .unwrap()
                .iter()
                .any(|v| v.name == VULNDB_CACHE_VOLUME)
        );
        let envs: Vec<_> = scanner
            .env
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert!(
            envs.contains(&"CONTAINERD_NAMESPACE")
                && envs.contains(&"ERASER_RUNTIME_NAME")
                && envs.contains(&"NODE_NAME")
        );
        let socket = spec
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.name == "runtime-sock-volume")
            .unwrap();
        assert_eq!(
            socket.host_path.as_ref().unwrap().path,
            "/run/k3s/containerd/containerd.sock"
        );
        for container in &spec.containers {
            let mounts = container.volume_mounts.as_ref().unwrap();
            assert!(
                mounts
                    .iter()
                    .any(|m| m.mount_path == "/run/eraser.sh/shared-data"),
                "{}",
                container.name
            );
            assert!(
                mounts.iter().any(|m| m.mount_path == "/run/cri/cri.sock"),
                "{}",
                container.name
            );
        }
    }

    #[test]
    fn drydocks_scanner_fetches_the_index_from_the_manager_into_a_node_cache() {
        let mut config = Config::default();
        config.components.scanner.enabled = true;
        config.components.scanner.volumes = vec![serde_json::json!({
            "name": "containerd-root",
            "hostPath": {"path": "/var/lib/containerd"}
        })];
        let t = template(&config, &Mode::Collector, &inputs());
        let spec = t.spec.as_ref().unwrap();
        let scanner = spec
            .containers
            .iter()
            .find(|c| c.name == "trivy-scanner")
            .unwrap();
        let args = scanner.args.as_ref().unwrap();
        assert!(
            args.contains(
                &"--vulndb-url=http://eraser-controller-manager.$(POD_NAMESPACE).svc:8890/v1/vulndb"
                    .to_owned()
            ),
            "{args:?}"
        );
        assert!(args.contains(&"--vulndb-cache=/var/lib/drydock/vulndb".to_owned()));
        let namespace = scanner
            .env
            .as_ref()
            .unwrap()
            .iter()
            .find(|e| e.name == "POD_NAMESPACE")
            .unwrap();
        assert_eq!(
            namespace
                .value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path,
            "metadata.namespace"
        );
        let volume = spec
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.name == VULNDB_CACHE_VOLUME)
            .unwrap();
        let host = volume.host_path.as_ref().unwrap();
        assert_eq!(host.path, "/var/lib/drydock/vulndb");
        assert_eq!(host.type_.as_deref(), Some("DirectoryOrCreate"));
        let mounts = scanner.volume_mounts.as_ref().unwrap();
        let cache = mounts
            .iter()
            .find(|m| m.name == VULNDB_CACHE_VOLUME)
            .unwrap();
        assert_eq!(cache.mount_path, "/var/lib/drydock/vulndb");
        assert_eq!(cache.read_only, None, "the cache is written");
        let root = mounts.iter().find(|m| m.name == "containerd-root").unwrap();
        assert_eq!(
            root.read_only,
            Some(true),
            "configured hostPaths stay read-only"
        );
        assert_eq!(
            mounts
                .iter()
                .filter(|m| m.mount_path == "/var/lib/containerd")
                .count(),
            1,
            "a configured containerd root is not mounted twice"
        );
        assert!(args.contains(&"--containerd-root=/var/lib/containerd".to_owned()));
        only_the_scanner_mounts(spec, VULNDB_CACHE_VOLUME);
    }

    #[test]
    fn drydocks_scanner_mounts_the_containerd_root_of_the_runtime_read_only() {
        for (address, root) in [
            (
                "unix:///run/containerd/containerd.sock",
                "/var/lib/containerd",
            ),
            (
                "unix:///run/k3s/containerd/containerd.sock",
                "/var/lib/rancher/k3s/agent/containerd",
            ),
        ] {
            let mut config = Config::default();
            config.components.scanner.enabled = true;
            config.manager.runtime.address = address.to_owned();
            let t = template(&config, &Mode::Collector, &inputs());
            let spec = t.spec.as_ref().unwrap();
            let volume = spec
                .volumes
                .as_ref()
                .unwrap()
                .iter()
                .find(|v| v.name == CONTAINERD_ROOT_VOLUME)
                .unwrap();
            assert_eq!(volume.host_path.as_ref().unwrap().path, root, "{address}");
            let scanner = spec
                .containers
                .iter()
                .find(|c| c.name == "trivy-scanner")
                .unwrap();
            let mount = scanner
                .volume_mounts
                .as_ref()
                .unwrap()
                .iter()
                .find(|m| m.name == CONTAINERD_ROOT_VOLUME)
                .unwrap();
            assert_eq!(
                (mount.mount_path.as_str(), mount.read_only),
                (root, Some(true))
            );
            let args = scanner.args.as_ref().unwrap();
            assert!(
                args.contains(&format!("--containerd-root={root}")),
                "{args:?}"
            );
            only_the_scanner_mounts(spec, CONTAINERD_ROOT_VOLUME);
        }
        let mut custom = Config::default();
        custom.components.scanner.enabled = true;
        custom.components.scanner.image.repo = "ghcr.io/example/custom-scanner".into();
        let t = template(&custom, &Mode::Collector, &inputs());
        assert!(
            !t.spec
                .as_ref()
                .unwrap()
                .volumes
                .as_ref()
                .unwrap()
                .iter()
                .any(|v| v.name == CONTAINERD_ROOT_VOLUME),
            "a third-party scanner gets Eraser's volumes only"
        );
    }

    #[test]
    fn scan_disabled_pods_have_no_scanner() {
        let t = template(&Config::default(), &Mode::Collector, &inputs());
        let spec = t.spec.as_ref().unwrap();
        assert_eq!(names_of(spec), vec!["collector", "remover"]);
        assert_eq!(
            spec.containers[0].args.as_ref().unwrap()[0],
            "--scan-disabled=true"
        );
    }

    #[test]
    fn the_minimum_age_reaches_drydocks_collector_and_remover_only() {
        let args_of = |spec: &PodSpec, name: &str| {
            spec.containers
                .iter()
                .find(|c| c.name == name)
                .and_then(|c| c.args.clone())
                .unwrap_or_default()
        };
        let has_age = |args: &[String]| args.iter().any(|a| a == "--minimum-age=1h30m0s");
        // Absent: no flag anywhere (Eraser's behaviour).
        let plain = template(&Config::default(), &Mode::Collector, &inputs());
        let spec = plain.spec.unwrap();
        for name in ["collector", "remover"] {
            assert!(
                !args_of(&spec, name)
                    .iter()
                    .any(|a| a.starts_with("--minimum-age")),
                "{name}"
            );
        }
        let mut config = all_from(DEFAULT_IMAGE_REPO, "1.2.3");
        config.components.remover.minimum_age = Some(drydock_api::GoDuration::from_secs(5400));
        let spec = template(&config, &Mode::Collector, &inputs()).spec.unwrap();
        assert!(
            has_age(&args_of(&spec, "collector")),
            "{:?}",
            args_of(&spec, "collector")
        );
        assert!(has_age(&args_of(&spec, "remover")));
        assert!(!has_age(&args_of(&spec, "trivy-scanner")));
        let manual = Mode::Manual {
            imagelist_configmap: "imagelist-abcde".into(),
        };
        let spec = template(&config, &manual, &inputs()).spec.unwrap();
        assert!(has_age(&args_of(&spec, "remover")));
        // Eraser's own remover image does not know the flag.
        config.components.remover.image.repo = "ghcr.io/eraser-dev/remover".into();
        let spec = template(&config, &manual, &inputs()).spec.unwrap();
        assert!(!has_age(&args_of(&spec, "remover")));
    }

    #[test]
    fn the_in_use_report_reaches_drydocks_collector_only_with_drydocks_scanner() {
        let collector_args = |config: &Config| {
            template(config, &Mode::Collector, &inputs())
                .spec
                .unwrap()
                .containers
                .into_iter()
                .find(|c| c.name == "collector")
                .and_then(|c| c.args)
                .unwrap_or_default()
        };
        let flagged = |config: &Config| {
            collector_args(config)
                .iter()
                .any(|a| a == "--report-in-use")
        };
        let mut config = all_from(DEFAULT_IMAGE_REPO, "1.2.3");
        assert!(!flagged(&config), "absent: Eraser's arguments");
        config.components.scanner.config =
            Some("deleteFailedImages: false\nreportInUse: true\n".into());
        assert!(flagged(&config));
        let mut foreign_scanner = config.clone();
        foreign_scanner.components.scanner.image.repo =
            "ghcr.io/eraser-dev/eraser-trivy-scanner".into();
        assert!(!flagged(&foreign_scanner));
        let mut disabled = config.clone();
        disabled.components.scanner.enabled = false;
        assert!(!flagged(&disabled));
    }

    #[test]
    fn a_dry_run_job_gives_drydocks_remover_the_flag() {
        let config = all_from(DEFAULT_IMAGE_REPO, "1.2.3");
        let mut dry = inputs();
        dry.dry_run = true;
        let remover_args = |mode: &Mode, inputs: &TemplateInputs| {
            template(&config, mode, inputs)
                .spec
                .unwrap()
                .containers
                .into_iter()
                .find(|c| c.name == "remover")
                .and_then(|c| c.args)
                .unwrap_or_default()
        };
        let manual = Mode::Manual {
            imagelist_configmap: "imagelist-abcde".into(),
        };
        for mode in [Mode::Collector, manual] {
            assert!(remover_args(&mode, &dry).contains(&"--dry-run".to_owned()));
            assert!(!remover_args(&mode, &inputs()).contains(&"--dry-run".to_owned()));
        }
    }
}
