//! The [`Host`] port on a real node: the sentinel, the reboot, the alert blocker and the
//! notifications.
//!
//! - **Sentinel file**: its existence, checked inside the container (kured ≥ 1.15; the
//!   manifests mount the host's `/var/run` at `/sentinel`).
//! - **Sentinel command**: run in the host's mount namespace, as kured runs it with
//!   `/usr/bin/nsenter -m/proc/1/ns/mnt -- <cmd>`, but without an `nsenter` binary: the
//!   daemon re-executes itself as `drydock __host-exec --mount-ns /proc/1/ns/mnt -- <cmd>`
//!   ([`crate::hostns`]), which enters the namespace and execs the command (the pod needs
//!   `hostPID` and privileges, as kured's does). A command written with the `nsenter` prefix
//!   spelled out runs as given. Exit 0 means required, any other exit means not required.
//!   Where kured exits the process when the command cannot be started, Drydock reports it
//!   (a warning, every check) and counts it as "not required": a broken sentinel must never
//!   cause a reboot loop.
//! - **Reboot** by command (in the host's mount namespace the same way) or by signal: `kill(1, signal)`,
//!   SIGRTMIN+5 (39) by default, which systemd takes as an orderly reboot. That `kill` is the
//!   one `unsafe` call in Drydock ([`signal_init`]).

use std::process::Stdio;
use std::sync::Arc;

use tracing::warn;

use crate::alerts;
use crate::cluster::{Clock, Host, TokioClock};
use crate::config::{Config, PrometheusBlocker, RebootMethod, Sentinel, in_host_mount_namespace};
use crate::metrics::RebootMetrics;
use crate::notify::NotifyUrl;
use crate::watch::SentinelWatch;
use crate::webhook;

/// The exit status of a sentinel command that says "no reboot needed".
const SENTINEL_NOT_REQUIRED: i32 = 1;

/// The host of the daemon.
#[derive(Clone)]
pub struct NodeHost {
    node: String,
    launcher: String,
    sentinel: Sentinel,
    watch: Option<Arc<SentinelWatch>>,
    method: RebootMethod,
    prometheus: Option<PrometheusBlocker>,
    notify: Vec<NotifyUrl>,
    /// Built only when a URL needs it ([`http_client`]).
    http: Option<reqwest::Client>,
    clock: TokioClock,
    metrics: RebootMetrics,
}

impl NodeHost {
    /// The host as `config` describes it. `http` is the client [`http_client`] built for
    /// `config` (`None` when no URL needs one). `launcher` is the `drydock` binary (`std::env::current_exe()`), re-executed
    /// to run host commands in the host's mount namespace.
    ///
    /// A sentinel file is watched (inotify on its directory) when this is called inside a
    /// tokio runtime; if the watch cannot be set up it is reported once and the period check
    /// alone remains.
    pub fn new(
        config: &Config,
        http: Option<reqwest::Client>,
        clock: TokioClock,
        metrics: RebootMetrics,
        launcher: String,
    ) -> NodeHost {
        NodeHost {
            node: config.node_id.clone(),
            launcher,
            sentinel: config.sentinel.clone(),
            watch: watch(&config.node_id, &config.sentinel),
            method: config.reboot_method.clone(),
            prometheus: config.blockers.prometheus.clone(),
            notify: config.notify.urls.clone(),
            http,
            clock,
            metrics,
        }
    }
}

/// The URLs that are reached over HTTP (the Prometheus alert blocker and every notification
/// but SMTP), each as `--flag scheme://host[:port]` (no path, user or token: notification URLs
/// carry secrets).
pub fn http_targets(config: &Config) -> Vec<String> {
    let prometheus = config
        .blockers
        .prometheus
        .iter()
        .map(|p| format!("--prometheus-url {}", origin_of(&p.url)));
    let notify = config
        .notify
        .urls
        .iter()
        .filter_map(|url| webhook::request(url, ""))
        .map(|out| format!("--notify-url {}", origin_of(&out.url)));
    prometheus.chain(notify).collect()
}

/// `scheme://host[:port]` of a URL (the text itself when it does not parse).
fn origin_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or_default();
            match u.port() {
                Some(port) => format!("{}://{host}:{port}", u.scheme()),
                None => format!("{}://{host}", u.scheme()),
            }
        }
        Err(_) => url.to_owned(),
    }
}

/// The HTTP client for the alert blocker and the notifications, built only when a URL needs
/// it ([`http_targets`]), so a daemon without such a URL needs no system CA certificates.
/// The rustls crypto provider must be installed first.
///
/// # Errors
///
/// The client cannot be built (typically: no system root certificates), naming the URLs.
pub fn http_client(config: &Config) -> crate::Result<Option<reqwest::Client>> {
    let targets = http_targets(config);
    if targets.is_empty() {
        return Ok(None);
    }
    reqwest::Client::builder()
        .build()
        .map(Some)
        .map_err(|e| crate::Error::HttpClient {
            urls: targets.join(", "),
            reason: error_chain(&e),
        })
}

/// An error and its sources, joined (reqwest's own text hides the root cause).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        source = e.source();
    }
    text
}

/// The inotify watch of a sentinel file, if one can be set up here.
fn watch(node: &str, sentinel: &Sentinel) -> Option<Arc<SentinelWatch>> {
    let Sentinel::File(path) = sentinel else {
        return None;
    };
    tokio::runtime::Handle::try_current().ok()?;
    match SentinelWatch::new(std::path::Path::new(path)) {
        Ok(watch) => Some(Arc::new(watch)),
        Err(error) => {
            warn!(
                node,
                sentinel = %path,
                %error,
                "cannot watch the sentinel's directory; checking it every --period only"
            );
            None
        }
    }
}

/// What a sentinel says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SentinelReading {
    /// A reboot is required.
    Required,
    /// No reboot is required.
    NotRequired,
    /// The check could not be made (reported; counts as not required).
    Failed(String),
}

/// Checks the sentinel; a sentinel command runs in the host's mount namespace through
/// `launcher` (see [`in_host_mount_namespace`]).
pub async fn check_sentinel(sentinel: &Sentinel, launcher: &str) -> SentinelReading {
    match sentinel {
        Sentinel::File(path) => match tokio::fs::try_exists(path).await {
            Ok(true) => SentinelReading::Required,
            Ok(false) => SentinelReading::NotRequired,
            Err(e) => SentinelReading::Failed(format!("cannot check {path}: {e}")),
        },
        Sentinel::Command(argv) => {
            let argv = in_host_mount_namespace(launcher, argv);
            match run(&argv).await {
                Ok(0) => SentinelReading::Required,
                Ok(SENTINEL_NOT_REQUIRED) => SentinelReading::NotRequired,
                Ok(code) => SentinelReading::Failed(format!(
                    "sentinel command {argv:?} exited with {code}; counting it as not required"
                )),
                Err(e) => SentinelReading::Failed(format!(
                    "sentinel command {argv:?} cannot run ({e}); counting it as not required"
                )),
            }
        }
    }
}

/// Runs `argv`, returning its exit code (-1 when killed by a signal).
async fn run(argv: &[String]) -> std::io::Result<i32> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let status = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await?;
    Ok(status.code().unwrap_or(-1))
}

/// Sends `signal` to PID 1 (the host's init, with `hostPID`).
///
/// # Errors
///
/// `kill(2)` failed (no `CAP_KILL`, or not the host's PID namespace).
#[allow(unsafe_code)] // The one unsafe call in Drydock; see the SAFETY comment.
pub fn signal_init(signal: i32) -> std::io::Result<()> {
    // SAFETY: kill(2) takes two integers and reads or writes no memory of this process; any
    // pid and signal number are valid arguments (bad ones fail with EINVAL or ESRCH, which
    // errno reports below).
    let rc = unsafe { libc::kill(1, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl Host for NodeHost {
    async fn reboot_required(&self) -> bool {
        let required = match check_sentinel(&self.sentinel, &self.launcher).await {
            SentinelReading::Required => true,
            SentinelReading::NotRequired => false,
            SentinelReading::Failed(why) => {
                warn!(node = %self.node, reason = %why, "sentinel check failed");
                false
            }
        };
        self.metrics.set_reboot_required(required);
        required
    }

    async fn alert_blockers(&self) -> Vec<String> {
        match (&self.prometheus, &self.http) {
            (Some(blocker), Some(http)) => alerts::blockers(http, blocker, self.clock.now()).await,
            // Cannot happen with a client from `http_client`; fail closed, as errors do.
            (Some(_), None) => vec!["Reboot blocked: no HTTP client for --prometheus-url".into()],
            (None, _) => Vec::new(),
        }
    }

    async fn notify(&self, message: String) {
        for url in &self.notify {
            let sent = webhook::send(self.http.as_ref(), url, &message, self.clock.now()).await;
            if let Err(error) = sent {
                warn!(node = %self.node, service = url.service(), %error, "notification not sent");
            }
        }
    }

    async fn sentinel_changed(&self) {
        let Some(watch) = &self.watch else {
            return std::future::pending().await;
        };
        if let Err(error) = watch.changed().await {
            warn!(
                node = %self.node,
                dir = %watch.dir().display(),
                %error,
                "the sentinel watch ended; checking it every --period only"
            );
            std::future::pending::<()>().await;
        }
    }

    async fn reboot(&self) -> Result<(), String> {
        match &self.method {
            RebootMethod::Command(argv) => {
                let argv = in_host_mount_namespace(&self.launcher, argv);
                match run(&argv).await {
                    Ok(0) => Ok(()),
                    Ok(code) => Err(format!("reboot command {argv:?} exited with {code}")),
                    Err(e) => Err(format!("reboot command {argv:?} cannot run: {e}")),
                }
            }
            RebootMethod::Signal(signal) => signal_init(*signal)
                .map_err(|e| format!("cannot send signal {signal} to PID 1: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_LAUNCHER: &str = "/nonexistent/drydock";

    fn config(flags: &[&str]) -> Config {
        let argv = ["kured", "--node-id=n1"].iter().chain(flags).copied();
        crate::config::parse(argv, &std::collections::BTreeMap::new()).unwrap()
    }

    #[test]
    fn without_an_http_url_no_client_is_built() {
        assert!(http_targets(&config(&[])).is_empty());
        assert!(http_client(&config(&[])).unwrap().is_none());
        let smtp = "--notify-url=smtp://u:p@mail.example.com:587/?fromAddress=a@example.com&toAddresses=b@example.com";
        assert!(
            http_targets(&config(&[smtp])).is_empty(),
            "SMTP is not HTTP"
        );
    }

    #[test]
    fn the_urls_needing_http_are_named_without_their_secrets() {
        let c = config(&[
            "--prometheus-url=http://prometheus.monitoring:9090",
            "--notify-url=slack://bot@T000/B000/XXXXSECRET",
        ]);
        let targets = http_targets(&c);
        assert_eq!(
            targets,
            [
                "--prometheus-url http://prometheus.monitoring:9090",
                "--notify-url https://hooks.slack.com"
            ]
        );
        assert!(!targets.concat().contains("SECRET"));
    }

    #[tokio::test]
    async fn the_sentinel_file_is_required_when_it_exists() {
        let dir = std::env::temp_dir().join(format!("drydock-sentinel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("reboot-required");
        let sentinel = Sentinel::File(path.display().to_string());
        assert_eq!(
            check_sentinel(&sentinel, NO_LAUNCHER).await,
            SentinelReading::NotRequired
        );
        std::fs::write(&path, "").unwrap();
        assert_eq!(
            check_sentinel(&sentinel, NO_LAUNCHER).await,
            SentinelReading::Required
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_sentinel_command_that_cannot_run_is_reported_and_not_required() {
        // Through a launcher that does not exist: the command cannot start (reported as
        // failed); through drydock it would exit 127. Either way the answer is never
        // "required".
        let sentinel = Sentinel::Command(vec!["/nonexistent/needs-restarting".into()]);
        assert_ne!(
            check_sentinel(&sentinel, NO_LAUNCHER).await,
            SentinelReading::Required
        );
    }

    #[tokio::test]
    async fn the_host_reports_the_sentinel_file_appearing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reboot-required");
        let argv = [
            "kured".to_owned(),
            "--node-id=n1".to_owned(),
            format!("--reboot-sentinel={}", path.display()),
        ];
        let config = crate::config::parse(argv, &std::collections::BTreeMap::new()).unwrap();
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = RebootMetrics::register(&mut registry, "n1");
        drydock_kube::client::install_crypto_provider();
        let host = NodeHost::new(
            &config,
            None,
            TokioClock::system(),
            metrics,
            NO_LAUNCHER.into(),
        );
        std::fs::write(&path, "").unwrap();
        // Bounds a failure only: the event is read as soon as it is queued.
        tokio::time::timeout(std::time::Duration::from_secs(10), host.sentinel_changed())
            .await
            .expect("the watch fires");
        assert!(host.reboot_required().await);
    }

    #[tokio::test]
    async fn exit_codes_map_as_kured_maps_them() {
        assert_eq!(run(&["true".into()]).await.unwrap(), 0);
        assert_eq!(run(&["false".into()]).await.unwrap(), 1);
        assert!(run(&["/nonexistent/x".into()]).await.is_err());
        assert!(run(&[]).await.is_err());
    }

    #[test]
    fn signalling_with_an_invalid_signal_fails_cleanly() {
        assert!(signal_init(-1).is_err());
    }
}
