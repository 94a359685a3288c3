//! Names that are part of Eraser's contract: labels, annotations, object and container names,
//! environment variables and paths. Changing any of these breaks drop-in compatibility
//! (`reference/eraser.md` §10), so they live in one place and are tested as a contract.

/// API group of both CRDs.
pub const GROUP: &str = "eraser.sh";
/// Node label that the default node filter matches (nodes carrying it are skipped, or, with an
/// `include` filter, the only ones cleaned).
pub const CLEANUP_FILTER_LABEL: &str = "eraser.sh/cleanup.filter";
/// Label that marks a ConfigMap in the manager's namespace as a user exclusion list.
pub const EXCLUDE_LIST_LABEL: &str = "eraser.sh/exclude.list";
/// Label on worker pods: `manual` or `collector`.
pub const POD_TYPE_LABEL: &str = "eraser.sh/type";
/// Label on ImageJobs naming the controller that owns them.
pub const JOB_OWNER_LABEL: &str = "eraser.sh/job-owner";
/// `eraser.sh/job-owner` value of ImageJobs started by an ImageList (manual mode).
pub const JOB_OWNER_IMAGELIST: &str = "imagelist-controller";
/// `eraser.sh/job-owner` value of ImageJobs started by the schedule (automatic mode).
pub const JOB_OWNER_COLLECTOR: &str = "imagecollector";
/// Label of the manager pod.
pub const MANAGER_POD_LABEL: (&str, &str) = ("control-plane", "controller-manager");
/// Annotation the manager writes on its own pod to make the kubelet refresh the config volume.
pub const CONFIG_VERSION_ANNOTATION: &str = "eraser.sh/configVersion";

/// The only ImageList name the manager acts on.
pub const IMAGELIST_NAME: &str = "imagelist";
/// The manager Deployment.
pub const MANAGER_DEPLOYMENT: &str = "eraser-controller-manager";
/// ConfigMap holding the `EraserConfig`.
pub const MANAGER_CONFIGMAP: &str = "eraser-manager-config";
/// Key of the `EraserConfig` inside [`MANAGER_CONFIGMAP`].
pub const MANAGER_CONFIG_KEY: &str = "controller_manager_config.yaml";
/// The system exclusion list (users must not edit it).
pub const SYSTEM_EXCLUSION_CONFIGMAP: &str = "eraser-system-exclusion";
/// Service account of the worker pods.
pub const WORKER_SERVICE_ACCOUNT: &str = "eraser-imagejob-pods";
/// Prefix of worker pod names: `eraser-<node>-<random>`.
pub const WORKER_POD_PREFIX: &str = "eraser-";

/// Label on an ImageJob whose removers remove nothing (`"true"`), and the annotation on an
/// ImageList asking for such a run of its images (Drydock's; Eraser ignores it).
pub const DRY_RUN_LABEL: &str = "drydock.dev/dry-run";

/// Drydock's own cluster state for the Image Cleaner, in the manager's namespace (Eraser kept
/// it in memory). The manager writes these ConfigMaps; the admin commands read them.
pub mod state {
    /// ConfigMap holding the persisted schedule of automatic runs.
    pub const STATE_CONFIGMAP: &str = "drydock-image-cleaner-state";
    /// Key of the schedule (`drydock_cleaner::manager::schedule::ScheduleState` as JSON) in
    /// [`STATE_CONFIGMAP`].
    pub const SCHEDULE_KEY: &str = "schedule.json";
    /// Annotation on [`STATE_CONFIGMAP`] asking the manager for an automatic run now
    /// (`drydock image-cleaner run` sets it to an RFC 3339 timestamp; the manager starts one run
    /// per distinct value).
    pub const RUN_REQUESTED_ANNOTATION: &str = "drydock.dev/run-requested";
    /// Annotation on [`STATE_CONFIGMAP`] making the requested run a dry run: `drydock
    /// image-cleaner run --dry-run` sets it to the same timestamp as
    /// [`RUN_REQUESTED_ANNOTATION`]; any other value (an older dry run's) leaves the run real.
    pub const RUN_DRY_RUN_ANNOTATION: &str = "drydock.dev/run-requested-dry-run";
    /// ConfigMap holding the bounded history of finished jobs.
    pub const HISTORY_CONFIGMAP: &str = "drydock-image-cleaner-history";
    /// Key of the history (JSON) in [`HISTORY_CONFIGMAP`].
    pub const HISTORY_KEY: &str = "history.json";
    /// ConfigMap holding the in-use vulnerability report of the newest run that made one.
    pub const REPORT_CONFIGMAP: &str = "drydock-image-cleaner-report";
    /// Key of the report (JSON) in [`REPORT_CONFIGMAP`].
    pub const REPORT_KEY: &str = "report.json";
    /// The Service in front of the manager (vulnerability index for the scanners, metrics).
    pub const MANAGER_SERVICE: &str = "eraser-controller-manager";
    /// Service account of the manager.
    pub const MANAGER_SERVICE_ACCOUNT: &str = "eraser-controller-manager";
    /// Label on a manual ImageJob: the uid of the ImageList that started it. With
    /// [`IMAGELIST_GENERATION_LABEL`] it is the bookkeeping of "this generation was run", kept
    /// where no CRD schema prunes it (Eraser's structural ImageList status drops
    /// `observedGeneration`), so a restarted manager finds the job it started and adopts it.
    pub const IMAGELIST_UID_LABEL: &str = "drydock.dev/imagelist-uid";
    /// Label on a manual ImageJob: the ImageList `metadata.generation` it runs.
    pub const IMAGELIST_GENERATION_LABEL: &str = "drydock.dev/imagelist-generation";
    /// Annotation on [`HISTORY_CONFIGMAP`]: the last ImageList generation handled
    /// (`{"uid":…,"generation":…,"job":…}`), written with the run it belongs to, so the
    /// bookkeeping outlives the job and the history's trimming.
    pub const IMAGELIST_HANDLED_ANNOTATION: &str = "drydock.dev/imagelist-handled";
}
/// The vulnerability index the manager serves to the scanners: where they ask for it and where
/// nodes keep it (Drydock's; Eraser's scanner carries its own database).
pub mod vulndb {
    /// The endpoint path of the index on the manager.
    pub const PATH: &str = "/v1/vulndb";
    /// The manager's port for [`PATH`] (next to Eraser's metrics port 8889).
    pub const DEFAULT_PORT: u16 = 8890;
    /// The node directory where scanners cache the index (a hostPath, so runs share it).
    pub const DEFAULT_CACHE_DIR: &str = "/var/lib/drydock/vulndb";

    /// The URL of the index on the manager's Service in `namespace`, as handed to scanners.
    #[must_use]
    pub fn manager_url(namespace: &str) -> String {
        format!(
            "http://{}.{namespace}.svc:{DEFAULT_PORT}{PATH}",
            super::state::MANAGER_SERVICE
        )
    }
}

/// Container names inside a worker pod.
pub mod containers {
    /// Lists unused images and hands them on.
    pub const COLLECTOR: &str = "collector";
    /// The scanner stage's name (its program `/scanner`, its `OTEL_SERVICE_NAME` when the
    /// image is Drydock's).
    pub const SCANNER: &str = "scanner";
    /// The scanner container's name, Eraser's, whatever the image (`kubectl logs -c
    /// trivy-scanner`); also the scanner's `OTEL_SERVICE_NAME` under a third-party image.
    pub const TRIVY_SCANNER: &str = "trivy-scanner";
    /// Removes images.
    pub const REMOVER: &str = "remover";
}

/// Environment variables of Eraser's contract.
pub mod env {
    /// Namespace of the manager.
    pub const POD_NAMESPACE: &str = "POD_NAMESPACE";
    /// Overrides the name of the manager ConfigMap.
    pub const ERASER_CONFIGMAP_NAME: &str = "ERASER_CONFIGMAP_NAME";
    /// Comma-separated extra pull secrets for worker pods (legacy).
    pub const ERASER_PULL_SECRET_NAMES: &str = "ERASER_PULL_SECRET_NAMES";
    /// The node a worker pod runs on.
    pub const NODE_NAME: &str = "NODE_NAME";
    /// OTLP endpoint for metrics.
    pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    /// Service name reported with metrics (becomes the `job` label).
    pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
    /// Runtime name handed to the scanner.
    pub const ERASER_RUNTIME_NAME: &str = "ERASER_RUNTIME_NAME";
    /// containerd namespace handed to the scanner.
    pub const CONTAINERD_NAMESPACE: &str = "CONTAINERD_NAMESPACE";
}

/// Paths inside worker pods.
pub mod paths {
    /// Shared emptyDir holding the pipes.
    pub const SHARED_DATA: &str = "/run/eraser.sh/shared-data";
    /// Where the runtime socket is mounted in worker containers.
    pub const CRI_SOCKET: &str = "/run/cri/cri.sock";
    /// Where the manual-mode image list ConfigMap is mounted.
    pub const IMAGELIST_FILE: &str = "/run/eraser.sh/imagelist/images";
    /// Where the manager config is mounted.
    pub const CONFIG_FILE: &str = "/config/controller_manager_config.yaml";
    /// Kubernetes' default termination-message path.
    pub const TERMINATION_LOG: &str = "/dev/termination-log";
}

/// Pipe (FIFO) names under [`paths::SHARED_DATA`].
pub mod pipes {
    /// collector → scanner: images to scan.
    pub const COLLECT_SCAN: &str = "collectScan";
    /// scanner (or collector when scanning is disabled) → remover: images to remove.
    pub const SCAN_ERASE: &str = "scanErase";
    /// remover → collector: the literal `complete`.
    pub const ERASE_COMPLETE_COLLECT: &str = "eraseCompleteCollect";
    /// remover → scanner: the literal `complete`.
    pub const ERASE_COMPLETE_SCAN: &str = "eraseCompleteScan";
    /// The message written on the completion pipes.
    pub const COMPLETE: &[u8] = b"complete";
}
