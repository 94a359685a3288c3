//! The command line. Every flag has an environment-variable form; worker-stage flags accept
//! Eraser's spellings (`--scan-disabled`, `--imagelist`, `--log-level`, `--enable-pprof`,
//! `--pprof-port`) so Eraser manifests and Helm values keep working.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use drydock_api::names::paths;

/// Drydock keeps Kubernetes nodes clean and patched.
///
/// It removes unused container images from nodes (a drop-in for Eraser / AKS Image Cleaner)
/// and coordinates reboots after OS updates (a drop-in for kured).
#[derive(Debug, Parser)]
#[command(name = "drydock", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) log: LogArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Logging flags, shared by every subcommand.
#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// Log level or filter (`info`, `debug`, `drydock_cleaner=debug`); RUST_LOG wins when set.
    #[arg(long, global = true, env = "DRYDOCK_LOG_LEVEL", default_value = "info")]
    pub(crate) log_level: String,
    /// `json` (one object per line, for log pipelines), `text`, or `auto` (JSON inside a
    /// Kubernetes pod, text elsewhere). Logs go to stderr.
    #[arg(long, global = true, env = "DRYDOCK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub(crate) log_format: LogFormat,
}

/// Log output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    /// JSON in a pod, text elsewhere.
    Auto,
    /// One JSON object per line.
    Json,
    /// Compact human-readable text.
    Text,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Remove unused images on this host through its CRI runtime, no Kubernetes needed.
    ///
    /// Lists images and containers, keeps every image in use (containers in any state, the
    /// pod sandbox image, pinned images) or excluded, and removes the rest — or only the
    /// images named with --image. Try --dry-run first.
    ///
    /// Exit status: 0 when every chosen image was removed (or, with --dry-run, would be), 2
    /// when some removals failed, 1 when the run itself failed (runtime unreachable, bad
    /// flags, unreadable --vulndb).
    Clean(CleanArgs),
    /// Worker stage: list unused images and hand them to the scanner or remover (Eraser pipes).
    Collector(CollectorArgs),
    /// Worker stage: remove the images handed over by the scanner, or those of an ImageList.
    Remover(RemoverArgs),
    /// Print Drydock's Kubernetes manifests (for GitOps).
    Manifests(ManifestsArgs),
    /// Compile OSV vulnerability data into the scanner's index, or describe an index.
    ///
    /// Exit status: 0 when the index was written (or read), 1 otherwise; nothing is replaced
    /// by a failed build.
    Vulndb(VulndbArgs),
    /// Scan images for vulnerable OS and language packages and end-of-life OSes.
    ///
    /// Each IMAGE is an OCI layout directory, an OCI archive tar, a docker-archive tar
    /// (`docker save`), or the name, ID or digest of an image held by containerd (read from its
    /// content store under --containerd-root, found through the CRI runtime).
    ///
    /// Exit status: 1 when any image could not be read or scanned (a truncated or garbage
    /// archive, unreadable layers, a timeout: the reason is in the report and on stderr) or
    /// the scan could not start (no index, runtime unreachable); otherwise the --exit-code
    /// value when any image is non-compliant; otherwise 0.
    Scan(ScanArgs),
    /// Worker stage: scan the images handed over by the collector and hand the vulnerable,
    /// end-of-life (and failed, with `deleteFailedImages`) ones to the remover (Eraser pipes).
    Scanner(ScannerArgs),
    /// The reboot coordinator's DaemonSet agent, a drop-in for kured (also run as `kured`).
    ///
    /// Takes kured's flags and `KURED_*` variables exactly; `drydock rebootd --help` lists
    /// them.
    Rebootd(crate::cmd::rebootd::RebootdArgs),
    /// The reboot coordinator from a workstation: status, pause, resume.
    Reboot(crate::cmd::reboot::RebootArgs),
    /// The Image Cleaner in the current cluster: enable, disable, status, history, report, run.
    ImageCleaner(crate::cmd::image_cleaner::ImageCleanerArgs),
    /// The Image Cleaner's controller manager (Deployment `eraser-controller-manager`), a
    /// drop-in for Eraser's: ImageList, schedule and ImageJob controllers, /metrics, health.
    Manager(crate::cmd::manager::ManagerArgs),
}

/// Where images held by containerd are read from; shared by `scan`, `scanner` and `clean`.
#[derive(Debug, Args)]
pub(crate) struct ContainerdArgs {
    /// containerd's root directory; its content store `io.containerd.content.v1.content`
    /// holds the image blobs the scanner reads.
    #[arg(
        long,
        env = "DRYDOCK_CONTAINERD_ROOT",
        default_value = "/var/lib/containerd"
    )]
    pub(crate) containerd_root: PathBuf,
    /// The platform whose manifest is scanned in multi-platform images (`os/arch[/variant]`);
    /// defaults to this machine's.
    #[arg(long, env = "DRYDOCK_PLATFORM", value_name = "OS/ARCH")]
    pub(crate) platform: Option<String>,
}

/// Eraser's pprof port, the default of the accepted `--pprof-port`.
const ERASER_PPROF_PORT: u16 = 6060;

/// Eraser's profiling flags, which the manager passes to the scanner and the worker stages;
/// accepted for compatibility, but profiling is not offered.
#[derive(Debug, Args)]
pub(crate) struct PprofArgs {
    /// Accepted for Eraser compatibility; profiling is not offered.
    #[arg(long, hide = true, default_value_t = false, action = clap::ArgAction::Set)]
    pub(crate) enable_pprof: bool,
    /// Accepted for Eraser compatibility; profiling is not offered.
    #[arg(long, hide = true, default_value_t = ERASER_PPROF_PORT)]
    pub(crate) pprof_port: u16,
}

/// Scanner settings shared by `scan` and `clean`.
#[derive(Debug, Args)]
pub(crate) struct ScanPolicyArgs {
    /// The scanner configuration: Eraser's `components.scanner.config` YAML
    /// (`deleteEOLImages`, `vulnerabilities.severities`, …). Eraser's defaults without it.
    #[arg(long, env = "DRYDOCK_SCANNER_CONFIG", value_name = "FILE")]
    pub(crate) scanner_config: Option<PathBuf>,
    /// Count only findings of these severities (comma-separated: CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN);
    /// overrides the configuration's `vulnerabilities.severities`.
    #[arg(
        long,
        env = "DRYDOCK_SEVERITY",
        value_delimiter = ',',
        value_name = "LIST"
    )]
    pub(crate) severity: Vec<String>,
    /// Ignore vulnerabilities that have no fix yet (Trivy's --ignore-unfixed).
    #[arg(long, env = "DRYDOCK_IGNORE_UNFIXED")]
    pub(crate) ignore_unfixed: bool,
}

/// `drydock scan`.
#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Images to scan: paths (OCI layout dir, OCI or docker archive tar) or containerd images.
    #[arg(value_name = "IMAGE", required_unless_present = "all_images")]
    pub(crate) images: Vec<String>,
    /// Scan every image containerd holds (listed through the CRI runtime).
    #[arg(long, env = "DRYDOCK_SCAN_ALL")]
    pub(crate) all_images: bool,
    /// The vulnerability index (`drydock vulndb build`).
    #[arg(long = "vulndb", alias = "db", env = "DRYDOCK_VULNDB", value_name = "FILE", default_value = drydock_vuln::config::DEFAULT_DB_PATH)]
    pub(crate) db: PathBuf,
    #[command(flatten)]
    pub(crate) policy: ScanPolicyArgs,
    #[command(flatten)]
    pub(crate) containerd: ContainerdArgs,
    /// The CRI runtime socket, used to find containerd images by name.
    #[arg(long, env = "CONTAINER_RUNTIME_ENDPOINT", default_value = drydock_cri::endpoint::DEFAULT_ENDPOINT)]
    pub(crate) runtime_endpoint: String,
    /// Exit with this code when any image is non-compliant (an image that could not be
    /// scanned exits 1 whatever this says).
    #[arg(long, env = "DRYDOCK_EXIT_CODE", value_name = "N")]
    pub(crate) exit_code: Option<u8>,
    /// List every package found in each image, OS and language packages (ecosystem, name,
    /// version, and the file a language package was read from), as Trivy's `--list-all-pkgs`
    /// does: `packageList` in JSON, a table per image after the findings.
    #[arg(long, alias = "list-all-pkgs", env = "DRYDOCK_LIST_PACKAGES")]
    pub(crate) list_packages: bool,
    /// Result format: a table for people, or JSON (findings, OS, EOL, verdict, timings).
    #[arg(long = "output", short = 'o', alias = "format", value_enum, default_value_t = Output::Table, env = "DRYDOCK_OUTPUT_FORMAT")]
    pub(crate) format: Output,
}

/// `drydock scanner` (Eraser's scanner container).
#[derive(Debug, Args)]
pub(crate) struct ScannerArgs {
    /// The EraserConfig file; the scanner reads its `components.scanner.config`.
    #[arg(long, env = "DRYDOCK_CONFIG", default_value = paths::CONFIG_FILE)]
    pub(crate) config: PathBuf,
    /// The vulnerability index; overrides the scanner configuration's `dbPath`.
    #[arg(
        long = "vulndb",
        alias = "db",
        env = "DRYDOCK_VULNDB",
        value_name = "FILE"
    )]
    pub(crate) db: Option<PathBuf>,
    /// Fetch the index from the manager at this URL into --vulndb-cache instead of reading
    /// --vulndb (revalidated with its ETag; the cached copy is used when the manager is down).
    #[arg(
        long,
        env = "DRYDOCK_VULNDB_URL",
        value_name = "URL",
        conflicts_with = "db"
    )]
    pub(crate) vulndb_url: Option<String>,
    /// The node's cache of the index fetched from --vulndb-url, shared by the runs on a node.
    #[arg(long, env = "DRYDOCK_VULNDB_CACHE", value_name = "DIR", default_value = drydock_cleaner::manager::vulndist::DEFAULT_CACHE_DIR)]
    pub(crate) vulndb_cache: PathBuf,
    /// How long a node with no cached index waits for the manager's first one (Go duration;
    /// the manager may not be Ready yet when a run starts right after an install). Past it the
    /// stage fails and nothing is removed.
    #[arg(long, env = "DRYDOCK_VULNDB_WAIT", value_name = "DURATION", default_value = "5m", value_parser = parse_wait)]
    pub(crate) vulndb_wait: std::time::Duration,
    /// Directory of the shared pipes.
    #[arg(long, env = "DRYDOCK_PIPE_DIR", default_value = paths::SHARED_DATA)]
    pub(crate) pipe_dir: PathBuf,
    /// The manager's verdict cache (`http://host:port`): images whose verdict another node
    /// already reported under the same index are not scanned again. Needs --verdicts-token
    /// and an index from --vulndb-url; without them every image is scanned.
    #[arg(
        long,
        env = "DRYDOCK_VERDICTS_URL",
        value_name = "URL",
        requires = "verdicts_token"
    )]
    pub(crate) verdicts_url: Option<String>,
    /// The file holding this job's token for --verdicts-url (mounted from the job's Secret).
    #[arg(long, env = "DRYDOCK_VERDICTS_TOKEN", value_name = "FILE")]
    pub(crate) verdicts_token: Option<PathBuf>,
    /// The node's name: this node's scan order is its own, so that nodes started together
    /// meet their shared images at different times.
    #[arg(long, env = "NODE_NAME", default_value = "")]
    pub(crate) node_name: String,
    /// containerd's socket as mounted in the worker pod, asked for the unpacked snapshots of
    /// images whose layer blobs were discarded (containerd serves its own API on the CRI socket).
    #[arg(long, env = "DRYDOCK_RUNTIME_ENDPOINT", default_value = WORKER_RUNTIME_ENDPOINT)]
    pub(crate) runtime_endpoint: String,
    #[command(flatten)]
    pub(crate) containerd: ContainerdArgs,
    /// Where the in-use vulnerability report for the manager is written (the container's
    /// termination message), when the configuration says `reportInUse: true`.
    #[arg(long, env = "DRYDOCK_TERMINATION_LOG", default_value = paths::TERMINATION_LOG)]
    pub(crate) termination_log: PathBuf,
    #[command(flatten)]
    pub(crate) pprof: PprofArgs,
}

/// `drydock vulndb`.
#[derive(Debug, Args)]
pub(crate) struct VulndbArgs {
    #[command(subcommand)]
    pub(crate) command: VulndbCommand,
}

/// `drydock vulndb …` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum VulndbCommand {
    /// Compile OSV records (directories of `*.json`, per-ecosystem `all.zip` dumps, or single
    /// records) into an SQLite index; withdrawn records are skipped. The output is replaced
    /// atomically.
    Build(VulndbBuildArgs),
    /// Show what an index holds: sources, ecosystems, record counts, build time and age.
    Info(VulndbInfoArgs),
    /// Keep an index up to date: download the sources (only what changed since the last
    /// build where the source offers it), build `DIR/index.sqlite` and replace it atomically,
    /// then again every refresh period, until SIGTERM. The builder container of the manager's
    /// pod runs this; the manager serves the file (`drydock manager --vulndb-index`).
    ///
    /// Exit status: 0 on SIGTERM or SIGINT; a failed build is logged and retried, never fatal
    /// (with --once: 1 when the build failed).
    Refresh(VulndbRefreshArgs),
}

/// `drydock vulndb refresh`.
#[derive(Debug, Args)]
pub(crate) struct VulndbRefreshArgs {
    /// OSV data: `http(s)://` URLs of OSV `all.zip` dumps (a mirror) or directories and zips
    /// mounted into the pod. Repeatable; comma-separated in the variable.
    #[arg(
        long = "source",
        env = "DRYDOCK_VULNDB_SOURCE",
        value_delimiter = ',',
        value_name = "URL|PATH",
        required = true
    )]
    pub(crate) sources: Vec<drydock_cleaner::manager::vulndist::Source>,
    /// Writable directory for the index (`index.sqlite`), the kept downloads and the build's
    /// scratch files.
    #[arg(long, env = "DRYDOCK_VULNDB_DIR", value_name = "DIR")]
    pub(crate) dir: PathBuf,
    /// How often the index is rebuilt (Go duration).
    #[arg(long, env = "DRYDOCK_VULNDB_REFRESH", default_value = "24h", value_parser = crate::cmd::manager::parse_refresh)]
    pub(crate) refresh: std::time::Duration,
    /// Refresh once and exit: 0 when the index was built, 1 when not (the reason on stderr).
    #[arg(long)]
    pub(crate) once: bool,
}

/// `drydock vulndb build`.
#[derive(Debug, Args)]
pub(crate) struct VulndbBuildArgs {
    /// An OSV source: a directory (searched recursively), an `all.zip` dump or one record.
    /// Repeatable; later sources win for records with the same ID and a newer `modified`.
    #[arg(
        long = "osv",
        value_name = "DIR|ZIP",
        required = true,
        env = "DRYDOCK_OSV_SOURCES",
        value_delimiter = ','
    )]
    pub(crate) sources: Vec<PathBuf>,
    /// The index file to write.
    #[arg(
        long = "vulndb",
        alias = "out",
        value_name = "FILE",
        env = "DRYDOCK_VULNDB"
    )]
    pub(crate) out: PathBuf,
    /// Result format.
    #[arg(long = "output", short = 'o', alias = "format", value_enum, default_value_t = Output::Table, env = "DRYDOCK_OUTPUT_FORMAT")]
    pub(crate) format: Output,
}

/// `drydock vulndb info`.
#[derive(Debug, Args)]
pub(crate) struct VulndbInfoArgs {
    /// The index file.
    #[arg(value_name = "FILE", env = "DRYDOCK_VULNDB")]
    pub(crate) index: PathBuf,
    /// Result format.
    #[arg(long = "output", short = 'o', alias = "format", value_enum, default_value_t = Output::Table, env = "DRYDOCK_OUTPUT_FORMAT")]
    pub(crate) format: Output,
}

/// Output format for results.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Output {
    /// A table for people.
    Table,
    /// One JSON document for machines.
    Json,
}

/// `drydock clean`.
#[derive(Debug, Args)]
pub(crate) struct CleanArgs {
    /// The CRI runtime socket (`unix:///path` or a bare path).
    #[arg(long, env = "CONTAINER_RUNTIME_ENDPOINT", default_value = drydock_cri::endpoint::DEFAULT_ENDPOINT)]
    pub(crate) runtime_endpoint: String,
    /// Remove only this image (ID, digest, or reference; short names are normalised).
    /// Repeatable. Without it, every unused image is considered.
    #[arg(long = "image", value_name = "REF")]
    pub(crate) images: Vec<String>,
    /// Never remove images matching this pattern: exact, `repo/*`, `repo:*` or `*`. Repeatable.
    #[arg(long = "exclude", value_name = "PATTERN")]
    pub(crate) excludes: Vec<String>,
    #[command(flatten)]
    pub(crate) keep: KeepArgs,
    /// Decide and report, remove nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Result format.
    #[arg(long, short = 'o', alias = "format", value_enum, default_value_t = Output::Table, env = "DRYDOCK_OUTPUT_FORMAT")]
    pub(crate) output: Output,
    /// Automatic mode: scan the unused images against this vulnerability index and remove
    /// only the vulnerable or end-of-life ones (per the scanner configuration); the others are
    /// kept as "not vulnerable".
    #[arg(long, env = "DRYDOCK_VULNDB", value_name = "FILE")]
    pub(crate) vulndb: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) policy: ScanPolicyArgs,
    #[command(flatten)]
    pub(crate) containerd: ContainerdArgs,
}

/// What must never be removed, besides images in use: shared by `clean` and the stages.
#[derive(Debug, Args)]
pub(crate) struct KeepArgs {
    /// Read exclusion patterns from a file: Eraser's `{"excluded": [...]}` JSON or one
    /// pattern per line. Repeatable.
    #[arg(long = "exclude-file", value_name = "FILE")]
    pub(crate) exclude_files: Vec<PathBuf>,
    /// Never remove these references (Drydock's own image, say), even when unused. Repeatable.
    #[arg(
        long = "protect",
        value_name = "REF",
        env = "DRYDOCK_PROTECT",
        value_delimiter = ','
    )]
    pub(crate) protect: Vec<String>,
}

/// The runtime socket where the worker pod mounts it (`paths::CRI_SOCKET`), the default of
/// every worker stage.
const WORKER_RUNTIME_ENDPOINT: &str = "unix:///run/cri/cri.sock";

/// Flags every worker stage shares.
#[derive(Debug, Args)]
pub(crate) struct StageArgs {
    /// The CRI runtime socket as mounted in the worker pod.
    #[arg(long, env = "DRYDOCK_RUNTIME_ENDPOINT", default_value = WORKER_RUNTIME_ENDPOINT)]
    pub(crate) runtime_endpoint: String,
    /// Directory of the shared pipes.
    #[arg(long, env = "DRYDOCK_PIPE_DIR", default_value = paths::SHARED_DATA)]
    pub(crate) pipe_dir: PathBuf,
    /// Directory holding the `exclude-*` ConfigMap mounts (Eraser mounts them at the root).
    #[arg(long, env = "DRYDOCK_EXCLUSION_DIR", default_value = "/")]
    pub(crate) exclusion_dir: PathBuf,
    #[command(flatten)]
    pub(crate) keep: KeepArgs,
    /// Keep unused images the runtime created less than this long ago (Go duration, e.g. `1h`;
    /// containerd only). The manager passes `components.remover.minimumAge`; unset, no image
    /// is kept for its age (Eraser's behaviour).
    #[arg(long, env = "DRYDOCK_MINIMUM_AGE", value_name = "DURATION", value_parser = parse_minimum_age)]
    pub(crate) minimum_age: Option<jiff::SignedDuration>,
    #[command(flatten)]
    pub(crate) pprof: PprofArgs,
}

/// `drydock collector`.
#[derive(Debug, Args)]
pub(crate) struct CollectorArgs {
    #[command(flatten)]
    pub(crate) stage: StageArgs,
    /// Hand the images straight to the remover (no scanner container in the pod).
    #[arg(long, env = "DRYDOCK_SCAN_DISABLED", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) scan_disabled: bool,
    /// Also hand the scanner the images in use, marked, for the in-use vulnerability report
    /// (they are never removed). The manager passes it when the scanner's configuration says
    /// `reportInUse: true`.
    #[arg(long, env = "DRYDOCK_REPORT_IN_USE")]
    pub(crate) report_in_use: bool,
}

/// `drydock remover`.
#[derive(Debug, Args)]
pub(crate) struct RemoverArgs {
    #[command(flatten)]
    pub(crate) stage: StageArgs,
    /// Manual mode: remove the images of this ImageList file (a JSON array) instead of
    /// reading the scanner's pipe.
    #[arg(long, env = "DRYDOCK_IMAGELIST")]
    pub(crate) imagelist: Option<PathBuf>,
    /// Where the summary for the manager is written (the container's termination message).
    #[arg(long, env = "DRYDOCK_TERMINATION_LOG", default_value = paths::TERMINATION_LOG)]
    pub(crate) termination_log: PathBuf,
    /// Decide and report what would be removed and why the rest stays; remove nothing.
    #[arg(long, env = "DRYDOCK_DRY_RUN")]
    pub(crate) dry_run: bool,
}

/// `drydock manifests`.
#[derive(Debug, Args)]
pub(crate) struct ManifestsArgs {
    /// What to print.
    #[arg(value_enum, default_value_t = ManifestKind::Crds)]
    pub(crate) kind: ManifestKind,
    /// The namespace of the manager and of the reboot DaemonSet.
    #[arg(long, short = 'n', default_value = crate::manifests::KUBE_SYSTEM)]
    pub(crate) namespace: String,
    /// The Drydock image (`REPO:TAG`) for the manager, the worker components and the
    /// DaemonSet; defaults to this build's.
    #[arg(long, value_name = "REPO:TAG", value_parser = crate::manifests::image_cleaner::parse_image)]
    pub(crate) image: Option<drydock_api::config::RepoTag>,
    /// Hours between automatic runs, 24 to 2160 (AKS's `--image-cleaner-interval-hours`).
    #[arg(long, value_name = "N", default_value = "168")]
    pub(crate) interval_hours: crate::manifests::image_cleaner::IntervalHours,
    /// OSV data for the manager's vulnerability index: an `http(s)://` URL of an `all.zip`
    /// (a mirror) or a path mounted into its pod. Repeatable. Default: OSV's public dumps of
    /// the OS and language ecosystems the scanner knows.
    #[arg(long = "vulndb-source", value_name = "URL|PATH", value_parser = crate::manifests::image_cleaner::parse_vulndb_source)]
    pub(crate) vulndb_sources: Vec<String>,
}

/// Manifest sets.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ManifestKind {
    /// The ImageList and ImageJob CustomResourceDefinitions.
    Crds,
    /// The Image Cleaner: CRDs, RBAC, ConfigMaps, the manager Deployment and its Service.
    ImageCleaner,
    /// The reboot coordinator: the kured-compatible DaemonSet and its RBAC.
    Reboot,
    /// Both of the above.
    All,
}

/// `--vulndb-wait`: a Go duration, zero or more.
fn parse_wait(value: &str) -> Result<std::time::Duration, String> {
    let parsed: drydock_api::GoDuration = value.parse().map_err(|e| format!("{e}"))?;
    parsed
        .to_std()
        .ok_or_else(|| format!("{value:?} is a negative duration"))
}

fn parse_minimum_age(value: &str) -> Result<jiff::SignedDuration, String> {
    let parsed: drydock_api::GoDuration = value.parse().map_err(|e| format!("{e}"))?;
    if parsed.is_negative() {
        return Err(format!("{value:?} is a negative duration"));
    }
    Ok(parsed.to_jiff())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_minimum_age_is_refused_naming_the_flag() {
        for bad in ["1d", "-1h", "soon"] {
            let flag = format!("--minimum-age={bad}");
            let err = Cli::try_parse_from(["drydock", "remover", flag.as_str()])
                .unwrap_err()
                .to_string();
            assert!(err.contains("--minimum-age"), "{err}");
        }
        let cli = Cli::try_parse_from(["drydock", "collector", "--minimum-age=90m"]);
        assert!(cli.is_ok());
    }

    #[test]
    fn every_worker_stage_defaults_to_the_socket_the_worker_pod_mounts() {
        let pod_socket = format!("unix://{}", paths::CRI_SOCKET);
        assert_eq!(WORKER_RUNTIME_ENDPOINT, pod_socket);
        let cli = Cli::try_parse_from(["drydock", "scanner"]).unwrap();
        let Command::Scanner(args) = cli.command else {
            panic!("not the scanner stage");
        };
        assert_eq!(args.runtime_endpoint, pod_socket);
    }

    /// Every option of every subcommand, as `(subcommand path, argument)`.
    fn every_option() -> Vec<(String, clap::Arg)> {
        fn walk(path: String, cmd: &clap::Command, out: &mut Vec<(String, clap::Arg)>) {
            for arg in cmd.get_arguments() {
                if arg.get_long().is_some() {
                    out.push((path.clone(), arg.clone()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(format!("{path} {}", sub.get_name()), sub, out);
            }
        }
        let mut out = Vec::new();
        walk(
            "drydock".into(),
            &<Cli as clap::CommandFactory>::command(),
            &mut out,
        );
        out
    }

    #[test]
    fn one_thing_has_one_flag_name_across_subcommands() {
        use std::collections::BTreeMap;
        // The same variable is the same setting: it must have the same flag everywhere. A flag
        // is read with its subcommand: `drydock vulndb refresh --source` is the
        // `--vulndb-source` of `drydock manager`.
        let mut by_env: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (path, arg) in every_option() {
            if let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) {
                let subcommand = path.split(' ').nth(1).unwrap_or_default().to_owned();
                by_env
                    .entry(env.to_string_lossy().into_owned())
                    .or_default()
                    .push((subcommand, long.to_owned()));
            }
        }
        let spellings = |(sub, long): &(String, String)| [long.clone(), format!("{sub}-{long}")];
        let drift: Vec<String> = by_env
            .iter()
            .filter(|(_, flags)| {
                let one_name = flags
                    .iter()
                    .flat_map(spellings)
                    .any(|name| flags.iter().all(|flag| spellings(flag).contains(&name)));
                !one_name
            })
            .map(|(env, flags)| format!("{env}: {flags:?}"))
            .collect();
        assert!(drift.is_empty(), "one variable, several flags: {drift:#?}");
    }

    #[test]
    fn the_result_format_is_dash_o_everywhere() {
        let mut seen = 0;
        for (path, arg) in every_option() {
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .map(|v| v.get_name().to_owned())
                .collect();
            if values == ["table", "json"] {
                seen += 1;
                assert_eq!(arg.get_long(), Some("output"), "{path}");
                assert_eq!(arg.get_short(), Some('o'), "{path}");
            } else {
                assert_ne!(
                    arg.get_short(),
                    Some('o'),
                    "{path}: -o is the result format"
                );
            }
        }
        assert!(seen >= 5, "only {seen} result-format flags found");
    }

    #[test]
    fn the_old_spellings_still_parse() {
        for argv in [
            &["drydock", "scan", "--db", "x.db", "img", "--format", "json"][..],
            &["drydock", "scanner", "--db", "x.db"],
            &["drydock", "vulndb", "build", "--osv", "d", "--out", "x.db"],
            &["drydock", "vulndb", "info", "x.db", "--format", "json"],
        ] {
            assert!(Cli::try_parse_from(argv).is_ok(), "{argv:?}");
        }
    }
}
