//! `drydock manager`: the Image Cleaner's controller manager (Deployment
//! `eraser-controller-manager`), a drop-in for Eraser's manager.
//!
//! It reads the configuration from `--config` (the mounted `eraser-manager-config`; a bad one
//! at start exits with the reason), serves `/metrics` on `--metrics-addr` and `/healthz`,
//! `/readyz` on `--health-addr` (Eraser's ports), runs the controllers
//! ([`drydock_cleaner::manager::controller::run_all`]) and reloads the configuration from the ConfigMap
//! through the API without a restart, until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use drydock_api::names::{self, env, paths};
use drydock_cleaner::manager::controller::{self, Context, Settings, reload};
use drydock_cleaner::manager::metrics::Metrics;
use drydock_cleaner::manager::{verdict_cache, vulndist};
use drydock_kube::admin::{self, Readiness};
use prometheus_client::registry::Registry;
use tracing::{info, warn};

/// The manager's namespace when `POD_NAMESPACE` is unset (Eraser's).
const DEFAULT_NAMESPACE: &str = "eraser-system";
/// How often the API server is asked until it answers (readiness).
const READINESS_RETRY: Duration = Duration::from_secs(5);
/// How long in-flight reconciles get to finish after SIGTERM (kubelet's grace period is 30 s).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// `drydock manager`.
#[derive(Debug, clap::Args)]
pub(crate) struct ManagerArgs {
    /// The `EraserConfig` file (the mounted ConfigMap's `controller_manager_config.yaml`).
    #[arg(long, env = "DRYDOCK_MANAGER_CONFIG", default_value = paths::CONFIG_FILE)]
    pub(crate) config: PathBuf,
    /// The manager's namespace: worker pods, PodTemplates and ConfigMaps live here.
    #[arg(long, env = env::POD_NAMESPACE, default_value = DEFAULT_NAMESPACE)]
    pub(crate) namespace: String,
    /// The ConfigMap watched for configuration reloads.
    #[arg(long, env = env::ERASER_CONFIGMAP_NAME, default_value = names::MANAGER_CONFIGMAP)]
    pub(crate) configmap: String,
    /// Where `/metrics` is served (Eraser's metrics port).
    #[arg(long, env = "DRYDOCK_METRICS_ADDR", default_value = "0.0.0.0:8889")]
    pub(crate) metrics_addr: String,
    /// Where `/healthz` and `/readyz` are served (Eraser's health port).
    #[arg(long, env = "DRYDOCK_HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    pub(crate) health_addr: String,
    /// A kubeconfig to use instead of the pod's service account (running outside a cluster).
    #[arg(long, env = "DRYDOCK_KUBECONFIG")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Where the vulnerability index is served to the scanners (`GET /v1/vulndb`).
    #[arg(long, env = "DRYDOCK_VULNDB_ADDR", default_value = "0.0.0.0:8890")]
    pub(crate) vulndb_addr: String,
    /// OSV data compiled into the index: `http(s)://` URLs of OSV `all.zip` dumps (a mirror)
    /// or directories and zips mounted into the pod. Repeatable; comma-separated in the
    /// variable. Without any, scanners get 503 and remove nothing.
    #[arg(
        long = "vulndb-source",
        env = "DRYDOCK_VULNDB_SOURCE",
        value_delimiter = ',',
        value_name = "URL|PATH"
    )]
    pub(crate) vulndb_sources: Vec<vulndist::Source>,
    /// How often the index is rebuilt from the sources (Go duration).
    #[arg(long, env = "DRYDOCK_VULNDB_REFRESH", default_value = "24h", value_parser = parse_refresh)]
    pub(crate) vulndb_refresh: Duration,
    /// An index built by another process (the builder container of the manager's pod,
    /// `drydock vulndb refresh --dir DIR`, writes `DIR/index.sqlite`): the manager then builds
    /// nothing and serves that file, adopting each new one within a minute. Without it the
    /// manager builds the index from --vulndb-source itself.
    #[arg(
        long = "vulndb-index",
        env = "DRYDOCK_VULNDB_INDEX",
        value_name = "FILE",
        conflicts_with = "vulndb_sources"
    )]
    pub(crate) vulndb_index: Option<PathBuf>,
    /// Writable directory for the index and its builds (an emptyDir in the manager's pod).
    #[arg(long, env = "DRYDOCK_VULNDB_DIR", default_value = vulndist::DEFAULT_CACHE_DIR)]
    pub(crate) vulndb_dir: PathBuf,
    /// The manager's own image (`REPO:TAG` or `REPO@sha256:…`): worker components from its
    /// repository are Drydock's and get the stage command, whatever registry it is mirrored
    /// to. Without it the manager reads the images of its own pod (`POD_NAME`, else the
    /// hostname, in its namespace).
    #[arg(long = "image", env = DRYDOCK_IMAGE_ENV, value_name = "IMAGE")]
    pub(crate) image: Option<String>,
}

/// The variable Drydock's manifests set to the manager's image.
pub(crate) const DRYDOCK_IMAGE_ENV: &str = "DRYDOCK_IMAGE";
/// The variable Drydock's manifests set to the manager pod's name (the downward API).
pub(crate) const POD_NAME_ENV: &str = "POD_NAME";
/// Set by the kubelet in every container: the pod's name, unless the pod sets a hostname.
const HOSTNAME_ENV: &str = "HOSTNAME";

/// The manager's pod name: `POD_NAME`, else the hostname the kubelet sets to it.
fn own_pod_name() -> String {
    std::env::var(POD_NAME_ENV)
        .or_else(|_| std::env::var(HOSTNAME_ENV))
        .unwrap_or_default()
}

/// The repositories of Drydock's own image as this manager knows it: `--image`, else the
/// images of its own pod `pod_name` (one GET; a failure, such as a role without `get pods`, is
/// logged once and leaves only the default repository).
async fn own_repositories(
    image: Option<&str>,
    pod_name: &str,
    client: &kube::Client,
    namespace: &str,
) -> Vec<String> {
    if let Some(image) = image.map(str::trim).filter(|i| !i.is_empty()) {
        return vec![image.to_owned()];
    }
    if pod_name.is_empty() {
        return Vec::new();
    }
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), namespace);
    match pods.get_opt(pod_name).await {
        Ok(Some(pod)) => pod
            .spec
            .into_iter()
            .flat_map(|spec| spec.containers)
            .filter_map(|c| c.image)
            .collect(),
        // Not running in a pod (a kubeconfig run): only the default repository.
        Ok(None) => Vec::new(),
        Err(error) => {
            warn!(verb = "get", resource = "pods", pod = %pod_name, %error,
                "cannot read the manager's own pod to learn its image; worker components get Drydock's command only from the default repository (set --image)");
            Vec::new()
        }
    }
}

/// `--vulndb-refresh`: a positive Go duration.
pub(crate) fn parse_refresh(value: &str) -> Result<Duration, String> {
    let parsed: drydock_api::GoDuration = value.parse().map_err(|e| format!("{e}"))?;
    parsed
        .to_std()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{value:?} is not a positive duration"))
}

/// Extra pull secrets from `ERASER_PULL_SECRET_NAMES` (comma-separated, legacy).
fn pull_secrets(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reads and validates the configuration file; every problem names the file and the key.
fn load_config(path: &std::path::Path) -> anyhow::Result<drydock_api::config::Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration {}", path.display()))?;
    let parsed = drydock_api::config::parse(&text, &path.display().to_string())?;
    for warning in &parsed.warnings {
        warn!(config = %path.display(), %warning, "configuration key ignored");
    }
    Ok(parsed.config)
}

/// Runs the manager until SIGTERM or SIGINT. `log_level` is handed to the worker components.
pub(crate) async fn run(
    args: ManagerArgs,
    log_level: &str,
) -> anyhow::Result<std::process::ExitCode> {
    let config = load_config(&args.config)?;
    let client = drydock_kube::client::client(args.kubeconfig.as_deref()).await?;

    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let registry = Arc::new(registry);
    let ready = Readiness::default();
    let metrics_listener = admin::bind(&args.metrics_addr).await?;
    let health_listener = admin::bind(&args.health_addr).await?;
    info!(metrics = %args.metrics_addr, health = %args.health_addr, "serving /metrics, /healthz and /readyz");

    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let servers = [metrics_listener, health_listener].map(|listener| {
        tokio::spawn(admin::serve(
            listener,
            registry.clone(),
            ready.clone(),
            controller::stopped(shutdown.clone()),
        ))
    });

    if args.vulndb_sources.is_empty() && args.vulndb_index.is_none() {
        warn!(
            "no --vulndb-source or --vulndb-index: the vulnerability index is not built and scanners find no data"
        );
    }
    let vulndb = vulndist::VulnDb::new(vulndist::Settings {
        sources: args.vulndb_sources.clone(),
        dir: args.vulndb_dir.clone(),
        refresh: args.vulndb_refresh,
        built_by: args.vulndb_index.clone(),
    })?;
    let skipped_gauge = tokio::spawn(follow_skipped(
        vulndb.subscribe(),
        metrics.vulndb_records_skipped.clone(),
    ));
    let vulndb_listener = tokio::net::TcpListener::bind(&args.vulndb_addr)
        .await
        .with_context(|| format!("cannot listen on --vulndb-addr {}", args.vulndb_addr))?;
    let verdict_routes =
        verdict_cache::manager_routes(&client, &args.namespace, vulndb.subscribe()).await;
    let vulndb_server = tokio::spawn(vulndist::serve_with(
        vulndb_listener,
        vulndb,
        verdict_routes,
        controller::stopped(shutdown.clone()),
    ));

    let drydock_repositories = own_repositories(
        args.image.as_deref(),
        &own_pod_name(),
        &client,
        &args.namespace,
    )
    .await;
    info!(images = ?drydock_repositories, "Drydock's own image, besides the default repository");
    let settings = Settings {
        extra_pull_secrets: pull_secrets(std::env::var(env::ERASER_PULL_SECRET_NAMES).ok()),
        log_level: log_level.to_owned(),
        drydock_repositories,
    };
    let ctx = Arc::new(
        Context::new(client, args.namespace.clone(), config)
            .with_metrics(metrics)
            .with_settings(settings),
    );
    info!(namespace = %args.namespace, configmap = %args.configmap, "manager starting");
    let reloader = tokio::spawn(reload::watch_configmap(
        ctx.clone(),
        args.configmap.clone(),
        shutdown.clone(),
    ));
    let readiness = tokio::spawn(become_ready(ctx.client.clone(), ready.clone()));
    let controllers = tokio::spawn(controller::run_all(ctx, shutdown.clone()));

    let signal = crate::plumbing::terminated().await?;
    info!("{signal} received; stopping");
    readiness.abort();
    ready.set(false);
    let _ = stop.send(true);
    match tokio::time::timeout(SHUTDOWN_GRACE, controllers).await {
        Ok(joined) => joined.context("controller task")??,
        Err(_) => warn!("controllers did not stop within {SHUTDOWN_GRACE:?}; exiting anyway"),
    }
    reloader.abort();
    skipped_gauge.abort();
    for server in servers {
        server.await.context("admin server task")??;
    }
    vulndb_server
        .await
        .context("vulnerability index server task")??;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Marks the manager ready once the API server has answered (its version), asking every
/// [`READINESS_RETRY`].
async fn become_ready(client: kube::Client, ready: Readiness) {
    loop {
        match client.apiserver_version().await {
            Ok(version) => {
                info!(server = %version.git_version, "API server reached; ready");
                ready.set(true);
                return;
            }
            Err(error) => warn!(%error, "API server not reachable yet; not ready"),
        }
        tokio::time::sleep(READINESS_RETRY).await;
    }
}

/// Keeps `drydock_vulndb_records_skipped` at the served index's count of unreadable records.
async fn follow_skipped(
    mut status: tokio::sync::watch::Receiver<vulndist::Status>,
    gauge: prometheus_client::metrics::gauge::Gauge,
) {
    loop {
        let skipped = status
            .borrow_and_update()
            .published
            .as_ref()
            .map(|p| p.skipped);
        gauge.set(i64::try_from(skipped.unwrap_or(0)).unwrap_or(i64::MAX));
        if status.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use drydock_kube::mock::{self, Exchange};
    use http::Method;
    use serde_json::json;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_manager_learns_its_image_from_the_flag_or_else_from_its_own_pod() {
        let mirror = "registry.example.com/mirror/drydock:1.2";
        let (client, verifier) = mock::client(vec![]);
        let own = own_repositories(Some(mirror), "manager-x", &client, "kube-system").await;
        assert_eq!(own, [mirror]);
        verifier.finish().await;
        // Eraser's chart sets no DRYDOCK_IMAGE: one GET of the pod (its role grants get pods).
        let (client, verifier) = mock::client(vec![Exchange::new(
            Method::GET,
            "/api/v1/namespaces/kube-system/pods/manager-x",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "manager-x"},
                   "spec": {"containers": [{"name": "manager", "image": mirror}]}}),
        )]);
        let own = own_repositories(None, "manager-x", &client, "kube-system").await;
        assert_eq!(own, [mirror]);
        verifier.finish().await;
        // Refused: only the default repository, no error.
        let (client, verifier) = mock::client(vec![
            Exchange::new(
                Method::GET,
                "/api/v1/namespaces/kube-system/pods/manager-x",
                json!({}),
            )
            .failing(403, "Forbidden", "pods \"manager-x\" is forbidden"),
        ]);
        let own = own_repositories(None, "manager-x", &client, "kube-system").await;
        assert!(own.is_empty());
        verifier.finish().await;
    }

    #[test]
    fn the_refresh_period_is_a_positive_go_duration() {
        assert_eq!(parse_refresh("24h"), Ok(Duration::from_secs(24 * 3600)));
        assert_eq!(parse_refresh("90m"), Ok(Duration::from_secs(5400)));
        for bad in ["0s", "-1h", "daily", ""] {
            assert!(parse_refresh(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pull_secrets_are_comma_separated_and_blank_entries_dropped() {
        assert_eq!(pull_secrets(Some(" a, ,b ".into())), vec!["a", "b"]);
        assert!(pull_secrets(None).is_empty());
    }

    #[test]
    fn a_bad_config_names_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("controller_manager_config.yaml");
        std::fs::write(
            &path,
            "apiVersion: eraser.sh/v1alpha3\nkind: EraserConfig\nmanager:\n  imageJob:\n    successRatio: 2\n",
        )
        .unwrap();
        let err = format!("{:#}", load_config(&path).unwrap_err());
        assert!(err.contains("controller_manager_config.yaml"), "{err}");
        assert!(err.contains("successRatio"), "{err}");
        let missing = format!("{:#}", load_config(&dir.path().join("nope")).unwrap_err());
        assert!(
            missing.contains("cannot read the configuration"),
            "{missing}"
        );
    }
}
