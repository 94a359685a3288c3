//! `drydock rebootd` (also run as `kured`): the reboot coordinator's DaemonSet agent.
//!
//! It takes kured's flags exactly: the raw arguments and the process environment go to
//! `drydock_reboot::config::parse`, so `KURED_*` variables override the command line as in
//! kured ≥ 1.16.2, and a bad flag exits non-zero with a message naming it. Then it wires the
//! ports (kube adapter, host adapter, tokio clock), serves `/metrics`, `/healthz` and
//! `/readyz` on `--metrics-host:--metrics-port`, and runs the daemon loop until SIGTERM or
//! SIGINT.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use drydock_kube::admin::{self, Readiness};
use drydock_reboot::access::Access;
use drydock_reboot::cluster::{Clock, Host, TokioClock};
use drydock_reboot::config::{self, Config, LogFormat, RebootMethod};
use drydock_reboot::daemon::Daemon;
use drydock_reboot::host::{NodeHost, http_client};
use drydock_reboot::k8s::KubeCluster;
use drydock_reboot::metrics::{Metered, RebootMetrics};
use jiff::SignedDuration;
use prometheus_client::registry::Registry;
use tracing::{error, info, warn};

/// The program name kured's flags are parsed under (what `--help` shows).
const PROGRAM: &str = "kured";

/// kured logs at info and has no level flag; RUST_LOG still overrides it.
const DAEMON_LOG_LEVEL: &str = "info";

/// How often `kured_reboot_required` and the window gauge are refreshed, whatever `--period`
/// says: kured refreshes its gauge every minute.
const METRICS_REFRESH: SignedDuration = SignedDuration::from_mins(1);

/// How long the start-up permission reviews may take before the daemon goes on without them
/// (each unanswered right is then learnt from its first 403): the loop must not wait on an API
/// server that hangs.
const ACCESS_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The version kured prints at start-up.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `drydock rebootd` (documentation only: the arguments are handed to kured's parser before
/// clap sees them, see `main`).
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub(crate) struct RebootdArgs {
    /// kured's flags (`drydock rebootd --help` lists them).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) args: Vec<OsString>,
}

/// Runs the daemon with `args` (the flags after `rebootd`). Returns the process exit code.
pub(crate) fn main(args: Vec<OsString>) -> ExitCode {
    let env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let argv = std::iter::once(OsString::from(PROGRAM)).chain(args);
    let config = match config::parse(argv, &env) {
        Ok(config) => config,
        // --help, --version and clap's own errors (unknown flag, missing value) print as clap
        // prints them: help exits 0, errors 2, naming the flag.
        Err(config::Error::Cli(e)) => e.exit(),
        Err(e) => {
            eprintln!("{PROGRAM}: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    crate::plumbing::init_logging(DAEMON_LOG_LEVEL, config.log_format == LogFormat::Json);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %format!("{e:#}"), "stopped");
            ExitCode::FAILURE
        }
    }
}

/// kured's start-up lines, then Drydock's warnings.
fn log_start(config: &Config) {
    info!("Kubernetes Reboot Daemon: {VERSION} (drydock)");
    info!("Node ID: {}", config.node_id);
    info!(
        "Lock Annotation: {}/{}:{}",
        config.lock.ds_namespace, config.lock.ds_name, config.lock.annotation
    );
    info!("Reboot schedule: {}", config.schedule);
    let method = match &config.reboot_method {
        RebootMethod::Command(_) => "command",
        RebootMethod::Signal(_) => "signal",
    };
    info!("Reboot method: {method}");
    info!("Concurrency: {}", config.lock.policy.concurrency);
    info!(
        "Lock TTL set, lock will expire after: {}",
        config.lock.policy.ttl
    );
    info!(
        "Lock release delay set, lock release will be delayed by: {}",
        config.lock.release_delay
    );
    for warning in &config.warnings {
        warn!("{warning}");
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    drydock_kube::client::install_crypto_provider();
    log_start(&config);
    let client = drydock_kube::client::client(None).await?;
    // Only when a URL needs it: without one, no system CA certificates are needed.
    let http = http_client(&config)?;

    let mut registry = Registry::default();
    let metrics = RebootMetrics::register(&mut registry, &config.node_id);
    let access = Access::register(&mut registry);
    let ready = Readiness::default();
    let addr = admin::listen_address(&config.metrics_host, config.metrics_port);
    let listener = admin::bind(&addr).await?;
    info!(%addr, "serving /metrics, /healthz and /readyz");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(admin::serve(
        listener,
        Arc::new(registry),
        ready.clone(),
        async move {
            let _ = stopped.await;
        },
    ));

    let clock = TokioClock::system();
    // Host commands re-execute this binary to enter the host's mount namespace.
    let launcher = std::env::current_exe()
        .context("cannot find this program's own path (for host commands)")?
        .display()
        .to_string();
    let host = NodeHost::new(&config, http, clock, metrics.clone(), launcher);
    let kube = KubeCluster::new(client, &config.lock, clock).with_access(access);
    // Once, at start: which rights beyond kured's chart this daemon has (each missing one is
    // reported now, and the daemon falls back to what kured's rights allow).
    if tokio::time::timeout(ACCESS_PROBE_TIMEOUT, kube.probe_access())
        .await
        .is_err()
    {
        info!("the API server did not answer the permission reviews; rights are learnt from 403s");
    }
    let cluster = Metered::new(
        kube,
        metrics.clone(),
        config.lock.policy.clone(),
        &config.node_id,
        ready,
    );
    let refresher = {
        let (host, metrics, window) = (host.clone(), metrics.clone(), config.schedule.clone());
        async move {
            loop {
                // Sets kured_reboot_required as a side effect.
                host.reboot_required().await;
                metrics.set_window_active(window.contains(clock.now()));
                clock.sleep(METRICS_REFRESH).await;
            }
        }
    };
    let mut daemon = Daemon::new(config, cluster, host, clock);
    let outcome = tokio::select! {
        () = daemon.run() => Ok(()),
        () = refresher => Ok(()),
        signal = crate::plumbing::terminated() => signal.map(|name| info!("{name} received; stopping")),
    };
    let _ = stop.send(());
    server.await.context("admin server task")??;
    outcome
}
