//! Logging: JSON lines in a cluster (what log pipelines parse), compact text on a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::{LogArgs, LogFormat};

/// Set by Kubernetes in every pod; its presence selects JSON logs in `auto` mode.
const IN_CLUSTER_ENV: &str = "KUBERNETES_SERVICE_HOST";

/// Installs the global subscriber. Logs go to stderr so stdout stays clean for `--output json`.
/// Returns whether logs are JSON.
pub(crate) fn init(args: &LogArgs) -> bool {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(args.log_level.as_str()));
    let json = match args.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => std::env::var_os(IN_CLUSTER_ENV).is_some(),
    };
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
    json
}
