//! The binary's runtime plumbing, in one place for every subcommand: logging set-up (JSON lines
//! in a cluster, what log pipelines parse; compact text on a terminal) and the termination
//! signals a long-running command stops on. The Kubernetes error mapping shared by the
//! libraries is `drydock_kube::client::api_error`.

use std::io::IsTerminal;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::cli::{LogArgs, LogFormat};

/// Set by Kubernetes in every pod; its presence selects JSON logs in `auto` mode.
const IN_CLUSTER_ENV: &str = "KUBERNETES_SERVICE_HOST";

/// Installs the global subscriber from Drydock's own flags. Returns whether logs are JSON.
pub(crate) fn init(args: &LogArgs) -> bool {
    let json = match args.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => std::env::var_os(IN_CLUSTER_ENV).is_some(),
    };
    init_logging(&args.log_level, json);
    json
}

/// Installs the global subscriber: `level` unless RUST_LOG is set, JSON lines or compact text.
/// Logs go to stderr so stdout stays clean for `--output json`; colours only on a terminal.
pub(crate) fn init_logging(level: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        builder.compact().with_target(false).init();
    }
}

/// Completes on SIGTERM (what kubelet sends) or SIGINT, naming the signal.
pub(crate) async fn terminated() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}
