//! The reboot daemon's configuration: every kured flag, its `KURED_*` environment form, and
//! the validated, immutable [`Config`].
//!
//! Flag names, types and defaults are kured 1.23's (`cmd/kured/main.go`), so existing
//! manifests and Helm values work unchanged. Drydock's own flags are added:
//! `--allow-concurrent-control-plane-reboots`, `--max-reboots-per-day`,
//! `--reboot-on-request` (off by default, so a kured manifest behaves as under kured), the
//! repeatable `--window` (more windows, monthly days; none by default) and the zone limits
//! `--zone-label`, `--max-nodes-per-zone`, `--max-zones` (none by default).
//!
//! **Precedence.** kured ≥ 1.16.2 applies `KURED_<FLAG>` (upper case, `-` → `_`) *after*
//! parsing the command line, so the environment overrides the command line; for list flags
//! (`--reboot-days`, the node labels) pflag appends, so command line plus environment gives both.
//! clap's own `env =` does the opposite, so [`parse`] implements kured's order explicitly: it
//! takes the argv and an environment map (tests pass a map; nothing here reads the process
//! environment). As in kured, `KURED_BLOCKING_POD_SELECTOR` is ignored (with a warning).
//!
//! **Validation.** [`Config::from_args`] turns the raw flags into typed values once. Every
//! misconfiguration is an [`Error::InvalidFlag`] naming the flag and its environment form;
//! nothing here panics.

use std::collections::BTreeMap;
use std::ffi::OsString;

use clap::{ArgAction, CommandFactory, Parser};
use jiff::SignedDuration;
use regex::Regex;

use crate::gocompat::{format_duration, parse_bool, parse_duration, parse_int};
use crate::lock::{LockPolicy, ZoneLimits};
use crate::notify::NotifyUrl;
use crate::selector::{LabelSelector, NodeLabel};
use crate::window::{Schedule, Window};

mod groups;

/// Why the daemon's flags were refused: the configuration layer's error, the only one in this
/// crate that knows the command-line parser (the pure modules return [`crate::Error`]).
///
/// Every problem names the flag (and its environment form) so the operator can fix the
/// manifest.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line could not be parsed: an unknown flag, a missing value, a value of the
    /// wrong type, or `--help` was asked for (`clap::Error::exit` prints it properly).
    #[error(transparent)]
    Cli(#[from] clap::Error),

    /// A flag (or its `KURED_*` environment form) holds a value Drydock refuses.
    #[error("invalid value {value:?} for --{flag} ({env}): {reason}", env = env_var_name(flag))]
    InvalidFlag {
        /// The flag's long name, without the leading dashes.
        flag: &'static str,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
}

/// The configuration layer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The prefix kured puts in front of a flag's upper-cased name to form its environment variable.
pub const ENV_PREFIX: &str = "KURED_";

/// The mount namespace kured runs host commands in: PID 1's (the host's init, with
/// `hostPID`).
pub const HOST_MOUNT_NAMESPACE: &str = "/proc/1/ns/mnt";

/// The hidden subcommand of the `drydock` binary that enters a mount namespace and execs a
/// command: `drydock __host-exec --mount-ns <path> -- <cmd> <args>…` (see
/// [`crate::hostns`]). It is what `nsenter -m/proc/1/ns/mnt --` is to kured, without needing
/// an `nsenter` binary in the image.
pub const HOST_EXEC_SUBCOMMAND: &str = "__host-exec";

/// The flag of [`HOST_EXEC_SUBCOMMAND`] naming the namespace to enter.
pub const MOUNT_NS_FLAG: &str = "--mount-ns";

/// Wraps a command so it runs in the host's mount namespace, as kured's
/// `/usr/bin/nsenter -m/proc/1/ns/mnt -- <cmd>` does, but through `launcher` (the `drydock`
/// binary itself): `<launcher> __host-exec --mount-ns /proc/1/ns/mnt -- <cmd>`.
///
/// A command that already starts with `nsenter` (a flag value written for kured's image with
/// the prefix spelled out) runs as given: it enters the namespace itself.
pub fn in_host_mount_namespace(launcher: &str, argv: &[String]) -> Vec<String> {
    let explicit_nsenter = argv
        .first()
        .is_some_and(|program| program.rsplit('/').next() == Some("nsenter"));
    if explicit_nsenter {
        return argv.to_vec();
    }
    [
        launcher,
        HOST_EXEC_SUBCOMMAND,
        MOUNT_NS_FLAG,
        HOST_MOUNT_NAMESPACE,
        "--",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(argv.iter().cloned())
    .collect()
}

/// The highest signal number Linux has (`SIGRTMAX`); `--reboot-signal` above it cannot be sent.
const MAX_SIGNAL: i64 = 64;

/// `KURED_` + the flag name upper-cased with `-` replaced by `_` (`node-id` → `KURED_NODE_ID`).
pub fn env_var_name(flag: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        flag.to_ascii_uppercase().replace('-', "_")
    )
}

/// The reboot daemon's command line: kured's flags, with kured's defaults.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "kured",
    about = "Kubernetes reboot daemon (Drydock, kured-compatible)",
    allow_hyphen_values = true,
    args_override_self = true
)]
pub struct KuredArgs {
    /// Node name; the manifests set KURED_NODE_ID from spec.nodeName.
    #[arg(long, default_value = "")]
    pub node_id: String,

    /// How often to check whether a reboot is required.
    #[arg(long, default_value = "1h0m0s", value_parser = parse_duration)]
    pub period: SignedDuration,

    /// Path whose existence means a reboot is required.
    #[arg(long, default_value = "/var/run/reboot-required")]
    pub reboot_sentinel: String,

    /// Command whose exit code 0 means a reboot is required; replaces the file check.
    #[arg(long, default_value = "")]
    pub reboot_sentinel_command: String,

    /// How to reboot: command or signal.
    #[arg(long, default_value = "command")]
    pub reboot_method: String,

    /// Command that reboots the node (run in the host's mount namespace).
    #[arg(long, default_value = "/bin/systemctl reboot")]
    pub reboot_command: String,

    /// Signal sent to PID 1 when --reboot-method=signal (39 is SIGRTMIN+5).
    #[arg(long, default_value = "39", value_parser = parse_int)]
    pub reboot_signal: i64,

    /// Wait after the drain, before rebooting.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub reboot_delay: SignedDuration,

    /// Wait before cordoning and draining.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub drain_delay: SignedDuration,

    /// Days on which reboots may happen (su..sa, sun..sat, sunday..saturday or 0-6).
    #[arg(long, value_delimiter = ',', action = ArgAction::Append, default_value = "su,mo,tu,we,th,fr,sa")]
    pub reboot_days: Vec<String>,

    /// Earliest time of day for a reboot.
    #[arg(long, default_value = "0:00")]
    pub start_time: String,

    /// Latest time of day for a reboot (inclusive).
    #[arg(long, default_value = "23:59:59")]
    pub end_time: String,

    /// Time zone of --start-time and --end-time.
    #[arg(long, default_value = "UTC")]
    pub time_zone: String,

    /// Maintain the kured-reboot-in-progress and kured-most-recent-reboot-needed annotations.
    #[arg(long, default_value = "false", default_missing_value = "true", num_args = 0..=1, require_equals = true, action = ArgAction::Set, value_parser = parse_bool)]
    pub annotate_nodes: bool,

    /// Name of the DaemonSet that carries the lock.
    #[arg(long, default_value = "kured")]
    pub ds_name: String,

    /// Namespace of that DaemonSet.
    #[arg(long, default_value = "kube-system")]
    pub ds_namespace: String,

    /// Annotation key of the lock on the DaemonSet.
    #[arg(long, default_value = crate::lock::DEFAULT_LOCK_ANNOTATION)]
    pub lock_annotation: String,

    /// How long a lock lasts without renewal; 0 means forever.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub lock_ttl: SignedDuration,

    /// Wait before releasing the lock, to space reboots out.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub lock_release_delay: SignedDuration,

    /// How many nodes may reboot at once (above 1 the lock uses the multi-owner format).
    #[arg(long, default_value = "1", value_parser = parse_int)]
    pub concurrency: i64,

    /// Seconds each pod gets to terminate; negative uses the pod's own grace period.
    #[arg(long, default_value = "-1", value_parser = parse_int)]
    pub drain_grace_period: i64,

    /// Give up draining after this long; 0 means never.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub drain_timeout: SignedDuration,

    /// Drain only the pods that match this label selector.
    #[arg(long, default_value = "")]
    pub drain_pod_selector: String,

    /// Stop waiting for pods whose deletion timestamp is older than this many seconds.
    #[arg(long, default_value = "0", value_parser = parse_int)]
    pub skip_wait_for_delete_timeout: i64,

    /// Reboot even if the cordon or drain fails or times out.
    #[arg(long, default_value = "false", default_missing_value = "true", num_args = 0..=1, require_equals = true, action = ArgAction::Set, value_parser = parse_bool)]
    pub force_reboot: bool,

    /// Pods matching this label selector on the node block its reboot (repeatable, OR-ed).
    #[arg(long, action = ArgAction::Append)]
    pub blocking_pod_selector: Vec<String>,

    /// Prometheus server whose active alerts block reboots.
    #[arg(long, default_value = "")]
    pub prometheus_url: String,

    /// Alerts whose name matches are ignored (or, with --alert-filter-match-only, the only ones
    /// that block).
    #[arg(long)]
    pub alert_filter_regexp: Option<String>,

    /// Only alerts matching --alert-filter-regexp block.
    #[arg(long, default_value = "false", default_missing_value = "true", num_args = 0..=1, require_equals = true, action = ArgAction::Set, value_parser = parse_bool)]
    pub alert_filter_match_only: bool,

    /// Only firing alerts block; pending ones are ignored.
    #[arg(long, default_value = "false", default_missing_value = "true", num_args = 0..=1, require_equals = true, action = ArgAction::Set, value_parser = parse_bool)]
    pub alert_firing_only: bool,

    /// Taint key set with effect PreferNoSchedule while the node waits for the lock.
    #[arg(long, default_value = "")]
    pub prefer_no_schedule_taint: String,

    /// Where to send notifications (shoutrrr-style URL; Drydock accepts it repeated).
    #[arg(long, action = ArgAction::Append)]
    pub notify_url: Vec<String>,

    /// Deprecated: a Slack incoming-webhook URL (use --notify-url).
    #[arg(long, default_value = "")]
    pub slack_hook_url: String,

    /// Deprecated and unused.
    #[arg(long, default_value = "kured")]
    pub slack_username: String,

    /// Deprecated and unused.
    #[arg(long, default_value = "")]
    pub slack_channel: String,

    /// Message sent when draining starts; %s is the node name.
    #[arg(long, default_value = "Draining node %s")]
    pub message_template_drain: String,

    /// Message sent just before rebooting; %s is the node name.
    #[arg(long, default_value = "Rebooting node %s")]
    pub message_template_reboot: String,

    /// Message sent after the node is back and uncordoned; %s is the node name.
    #[arg(long, default_value = "Node %s rebooted & uncordoned successfully!")]
    pub message_template_uncordon: String,

    /// Labels (key=value) added to the node before it is cordoned.
    #[arg(long, value_delimiter = ',', action = ArgAction::Append)]
    pub pre_reboot_node_labels: Vec<String>,

    /// Labels (key=value) added to the node after it is uncordoned.
    #[arg(long, value_delimiter = ',', action = ArgAction::Append)]
    pub post_reboot_node_labels: Vec<String>,

    /// Host the metrics server listens on (empty: all interfaces).
    #[arg(long, default_value = "")]
    pub metrics_host: String,

    /// Port the metrics server listens on.
    #[arg(long, default_value = "8080", value_parser = parse_int)]
    pub metrics_port: i64,

    /// Log format: json, or text for anything else.
    #[arg(long, default_value = "text")]
    pub log_format: String,

    /// Drydock: let several control-plane nodes hold the lock at once (by default at most one
    /// does, whatever --concurrency says).
    #[arg(long, default_value = "false", default_missing_value = "true", num_args = 0..=1, require_equals = true, action = ArgAction::Set, value_parser = parse_bool)]
    pub allow_concurrent_control_plane_reboots: bool,

    /// Drydock: a node that rebooted this many times in 24 hours and still needs a reboot
    /// stops and reports instead (0 disables the guard).
    #[arg(long, default_value = "3", value_parser = parse_int)]
    pub max_reboots_per_day: i64,

    /// Drydock: also reboot when the Node carries a request from `drydock reboot now` (an
    /// idle daemon then reads its Node every minute).
    #[arg(long, default_value = "false", default_missing_value = "true", num_args = 0..=1, require_equals = true, action = ArgAction::Set, value_parser = parse_bool)]
    pub reboot_on_request: bool,

    /// Drydock: another maintenance window, `DAYS START-END [TIME-ZONE]` (e.g. `first-sun
    /// 01:00-05:00 Europe/Berlin`); repeatable, or `;`-separated. A node may start when any
    /// window is open.
    #[arg(long, value_delimiter = ';', action = ArgAction::Append)]
    pub window: Vec<String>,

    /// Drydock: the Node label naming its zone, for --max-nodes-per-zone and --max-zones.
    #[arg(long, default_value = "topology.kubernetes.io/zone")]
    pub zone_label: String,

    /// Drydock: at most this many nodes of one zone reboot at once (0: no limit).
    #[arg(long, default_value = "0", value_parser = parse_int)]
    pub max_nodes_per_zone: i64,

    /// Drydock: nodes of at most this many zones reboot at once (0: no limit).
    #[arg(long, default_value = "0", value_parser = parse_int)]
    pub max_zones: i64,

    /// Drydock: a node back from its reboot hands the lock on only once the workloads its
    /// drain evicted are whole again (all replicas ready, their PodDisruptionBudgets allowing
    /// a disruption), or --health-gate-timeout passed.
    #[arg(long, default_value = "false", default_missing_value = "true", num_args = 0..=1, require_equals = true, action = ArgAction::Set, value_parser = parse_bool)]
    pub health_gate: bool,

    /// Drydock: the longest the health gate holds the lock (positive); on timeout the lock
    /// passes on with a warning Event and a notification.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub health_gate_timeout: SignedDuration,
}

/// Parses the command line and the `KURED_*` environment with kured's precedence, then
/// validates. `argv` starts with the program name; `env` is the process environment (or any
/// map, in tests).
pub fn parse<I, T>(argv: I, env: &BTreeMap<String, String>) -> Result<Config>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let (args, warnings) = KuredArgs::from_argv_and_env(argv, env)?;
    let mut config = Config::from_args(args, env.get("TZ").map(String::as_str))?;
    config.warnings.splice(0..0, warnings);
    Ok(config)
}

impl KuredArgs {
    /// Applies kured's precedence: the command line first, then each `KURED_*` variable as if
    /// it were given after it (scalars: the environment wins; lists: appended). Returns the
    /// raw flags and the warnings to log.
    pub fn from_argv_and_env<I, T>(
        argv: I,
        env: &BTreeMap<String, String>,
    ) -> Result<(KuredArgs, Vec<String>)>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let command = KuredArgs::command();
        let mut full: Vec<OsString> = argv.into_iter().map(Into::into).collect();
        if full.is_empty() {
            full.push("kured".into());
        }
        let mut warnings = Vec::new();
        let mut notify_override = None;
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else {
                continue;
            };
            if long == "help" {
                continue;
            }
            let Some(value) = env.get(&env_var_name(long)) else {
                continue;
            };
            match long {
                "blocking-pod-selector" => warnings.push(format!(
                    "Unsupported flag type for blocking-pod-selector: {} is ignored (as kured \
                     does); use --blocking-pod-selector",
                    env_var_name(long)
                )),
                // Repeatable in Drydock, a single string in kured: the variable replaces them all.
                "notify-url" => notify_override = Some(value.clone()),
                _ => full.push(format!("--{long}={value}").into()),
            }
        }
        let mut args = KuredArgs::try_parse_from(full)?;
        if let Some(url) = notify_override {
            args.notify_url = vec![url];
        }
        Ok((args, warnings))
    }
}

/// What says a reboot is required.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sentinel {
    /// The file exists (path inside the container).
    File(String),
    /// The command exits 0 (already split; run with [`in_host_mount_namespace`]).
    Command(Vec<String>),
}

/// How the node is rebooted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RebootMethod {
    /// Run this command (already split; run with [`in_host_mount_namespace`]).
    Command(Vec<String>),
    /// Send this signal to PID 1 (systemd reboots on SIGRTMIN+5).
    Signal(i32),
}

/// Where the lock lives and how it is taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockConfig {
    /// Namespace of the DaemonSet carrying the lock.
    pub ds_namespace: String,
    /// Name of that DaemonSet.
    pub ds_name: String,
    /// The annotation key.
    pub annotation: String,
    /// Concurrency, TTL and the control-plane rule.
    pub policy: LockPolicy,
    /// Wait before releasing (never negative).
    pub release_delay: SignedDuration,
}

/// Zone-aware concurrency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneConfig {
    /// The Node label naming the zone.
    pub label: String,
    /// The limits (none by default).
    pub limits: ZoneLimits,
}

/// How the node is drained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainConfig {
    /// Grace period for each pod; `None` uses the pod's own.
    pub grace_period_seconds: Option<u32>,
    /// Overall drain timeout; `None` means none.
    pub timeout: Option<SignedDuration>,
    /// Drain only the pods that match.
    pub pod_selector: Option<LabelSelector>,
    /// Stop waiting for pods deleted longer ago than this; zero means always wait.
    pub skip_wait_for_delete_timeout: SignedDuration,
    /// Wait before cordoning (never negative).
    pub delay: SignedDuration,
    /// Reboot even when the cordon or drain fails.
    pub force_reboot: bool,
}

/// The Prometheus alert blocker.
#[derive(Clone, Debug)]
pub struct PrometheusBlocker {
    /// The server's base URL.
    pub url: String,
    /// The alert-name filter, if any.
    pub alert_filter: Option<Regex>,
    /// With a filter: only matching alerts block (instead of matching alerts being ignored).
    pub match_only: bool,
    /// Only firing alerts block.
    pub firing_only: bool,
}

impl PrometheusBlocker {
    /// Whether an alert with this name counts, as kured's `matches`: without a filter every
    /// alert counts; with one, an alert counts when `filter matches == match_only`.
    pub fn counts(&self, alert_name: &str) -> bool {
        self.alert_filter
            .as_ref()
            .is_none_or(|re| re.is_match(alert_name) == self.match_only)
    }
}

/// What may block a reboot.
#[derive(Clone, Debug, Default)]
pub struct BlockerConfig {
    /// Any matching non-terminal pod on the node blocks (selectors are OR-ed).
    pub pod_selectors: Vec<LabelSelector>,
    /// The alert blocker, if `--prometheus-url` is set.
    pub prometheus: Option<PrometheusBlocker>,
}

/// The three notification messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageTemplates {
    /// Sent when draining starts.
    pub drain: String,
    /// Sent just before the reboot.
    pub reboot: String,
    /// Sent after the node is back and uncordoned.
    pub uncordon: String,
}

impl MessageTemplates {
    /// Renders a template as kured's `fmt.Sprintf(template, node)` does for the forms people
    /// use: each `%s` (and `%v`) becomes the node name and `%%` a percent sign.
    pub fn render(template: &str, node: &str) -> String {
        let mut out = String::with_capacity(template.len() + node.len());
        let mut chars = template.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('s' | 'v') => out.push_str(node),
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        }
        out
    }
}

/// Notifications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Where to send (empty: notifications are off).
    pub urls: Vec<NotifyUrl>,
    /// What to send.
    pub templates: MessageTemplates,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The validated, immutable daemon configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// This node's name.
    pub node_id: String,
    /// How often the sentinel is checked (positive).
    pub period: SignedDuration,
    /// What says a reboot is required.
    pub sentinel: Sentinel,
    /// How to reboot.
    pub reboot_method: RebootMethod,
    /// Wait after the drain, before the reboot (never negative).
    pub reboot_delay: SignedDuration,
    /// kured's window (`--reboot-days`, `--start-time`, `--end-time`, `--time-zone`).
    pub window: Window,
    /// The windows in force: kured's and every `--window`; what the daemon goes by.
    pub schedule: Schedule,
    /// Maintain kured's node annotations.
    pub annotate_nodes: bool,
    /// The lock.
    pub lock: LockConfig,
    /// The drain.
    pub drain: DrainConfig,
    /// What blocks reboots.
    pub blockers: BlockerConfig,
    /// Taint key applied with PreferNoSchedule while waiting for the lock.
    pub prefer_no_schedule_taint: Option<String>,
    /// Notifications.
    pub notify: NotifyConfig,
    /// Labels added before the cordon.
    pub pre_reboot_labels: Vec<NodeLabel>,
    /// Labels added after the uncordon.
    pub post_reboot_labels: Vec<NodeLabel>,
    /// Metrics listen host (empty: all interfaces).
    pub metrics_host: String,
    /// Metrics listen port.
    pub metrics_port: u16,
    /// Log format.
    pub log_format: LogFormat,
    /// Reboot-loop guard: reboots allowed in 24 h before the node stops (`None`: no guard).
    pub max_reboots_per_day: Option<u32>,
    /// `--zone-label`, `--max-nodes-per-zone`, `--max-zones`.
    pub zones: ZoneConfig,
    /// `--reboot-on-request`: a request annotation on the Node counts as "reboot required"
    /// ([`crate::request`]).
    pub reboot_on_request: bool,
    /// `--health-gate`: the gate's timeout when it is on (`None`: kured's hand-over).
    pub health_gate: Option<SignedDuration>,
    /// Non-fatal findings to log at start-up.
    pub warnings: Vec<String>,
}

fn invalid(flag: &'static str, value: impl ToString, reason: impl ToString) -> Error {
    Error::InvalidFlag {
        flag,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn non_negative(flag: &'static str, d: SignedDuration) -> Result<SignedDuration> {
    if d.is_negative() {
        Err(invalid(flag, format_duration(d), "must not be negative"))
    } else {
        Ok(d)
    }
}

/// kured's `stripQuotes`: a value wrapped in matching single or double quotes loses them.
pub fn strip_quotes(s: &str) -> &str {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last))
            if s.len() >= 2 && first == last && (first == b'"' || first == b'\'') =>
        {
            &s[1..s.len() - 1]
        }
        _ => s,
    }
}

/// kured's Slack hook conversion: `https://hooks.slack.com/services/A/B/C` → `slack://A/B/C`.
fn slack_hook_to_notify_url(hook: &str) -> Result<String> {
    let reason = "expected https://hooks.slack.com/services/A/B/C";
    let path = hook
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, path)| path)
        .ok_or_else(|| invalid("slack-hook-url", hook, reason))?;
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [_, a, b, c] => Ok(format!("slack://{a}/{b}/{c}")),
        _ => Err(invalid("slack-hook-url", hook, reason)),
    }
}

fn non_empty(items: &[String]) -> impl Iterator<Item = &str> {
    items.iter().map(|s| s.trim()).filter(|s| !s.is_empty())
}

impl Config {
    /// Validates the raw flags, one flag group at a time. `tz_env` is the `TZ` variable, used
    /// when `--time-zone=Local`.
    ///
    /// The groups are checked in a fixed order, so that of several invalid flags the first in
    /// that order is the one reported.
    pub fn from_args(args: KuredArgs, tz_env: Option<&str>) -> Result<Config> {
        let mut warnings = Vec::new();
        let node_id = groups::node_id(&args)?;
        let period = groups::period(&args)?;
        let sentinel = Sentinel::try_from(&args)?;
        let reboot_method = RebootMethod::try_from(&args)?;
        let reboot_delay = non_negative("reboot-delay", args.reboot_delay)?;
        let drain_delay = non_negative("drain-delay", args.drain_delay)?;
        let groups::Windows { window, schedule } =
            groups::Windows::from_flags(&args, tz_env, &mut warnings)?;
        let lock = groups::lock(&args, &mut warnings)?;
        let drain = groups::drain(&args, drain_delay)?;
        let blockers = groups::blockers(&args, &mut warnings)?;
        let prefer_no_schedule_taint = groups::prefer_no_schedule_taint(&args)?;
        let urls = groups::notify_urls(&args, &mut warnings)?;
        let labels = groups::NodeLabels::from_flags(&args, &mut warnings)?;
        let metrics_port = groups::metrics_port(&args)?;
        let log_format = groups::log_format(&args, &mut warnings);
        groups::reboot_guard_sign(&args)?;
        let zones = ZoneConfig::try_from(&args)?;
        let health_gate = groups::health_gate(&args)?;
        let max_reboots_per_day = groups::reboot_guard(&args)?;

        Ok(Config {
            node_id,
            period,
            sentinel,
            reboot_method,
            reboot_delay,
            window,
            schedule,
            annotate_nodes: args.annotate_nodes,
            lock,
            drain,
            blockers,
            prefer_no_schedule_taint,
            notify: NotifyConfig {
                urls,
                templates: MessageTemplates {
                    drain: args.message_template_drain,
                    reboot: args.message_template_reboot,
                    uncordon: args.message_template_uncordon,
                },
            },
            pre_reboot_labels: labels.pre,
            post_reboot_labels: labels.post,
            metrics_host: args.metrics_host,
            metrics_port,
            log_format,
            max_reboots_per_day,
            reboot_on_request: args.reboot_on_request,
            health_gate,
            zones,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::resolve_time_zone;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn parse_with(args: &[&str], env_pairs: &[(&str, &str)]) -> Result<Config> {
        let argv = std::iter::once("kured").chain(args.iter().copied());
        parse(argv, &env(env_pairs))
    }

    fn config(args: &[&str]) -> Config {
        let mut all = vec!["--node-id=n1"];
        all.extend_from_slice(args);
        parse_with(&all, &[]).unwrap()
    }

    fn flag_error(args: &[&str]) -> &'static str {
        let mut all = vec!["--node-id=n1"];
        all.extend_from_slice(args);
        match parse_with(&all, &[]) {
            Err(Error::InvalidFlag { flag, .. }) => flag,
            other => panic!("{args:?}: expected an invalid-flag error, got {other:?}"),
        }
    }

    #[test]
    fn every_kured_flag_exists_with_its_default() {
        let command = KuredArgs::command();
        let defaults: BTreeMap<&str, String> = command
            .get_arguments()
            .filter_map(|a| {
                let default = a
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(",");
                Some((a.get_long()?, default))
            })
            .collect();
        let kured: &[(&str, &str)] = &[
            ("node-id", ""),
            ("period", "1h0m0s"),
            ("reboot-sentinel", "/var/run/reboot-required"),
            ("reboot-sentinel-command", ""),
            ("reboot-method", "command"),
            ("reboot-command", "/bin/systemctl reboot"),
            ("reboot-signal", "39"),
            ("reboot-delay", "0s"),
            ("drain-delay", "0s"),
            ("reboot-days", "su,mo,tu,we,th,fr,sa"),
            ("start-time", "0:00"),
            ("end-time", "23:59:59"),
            ("time-zone", "UTC"),
            ("annotate-nodes", "false"),
            ("ds-name", "kured"),
            ("ds-namespace", "kube-system"),
            ("lock-annotation", "weave.works/kured-node-lock"),
            ("lock-ttl", "0s"),
            ("lock-release-delay", "0s"),
            ("concurrency", "1"),
            ("drain-grace-period", "-1"),
            ("drain-timeout", "0s"),
            ("drain-pod-selector", ""),
            ("skip-wait-for-delete-timeout", "0"),
            ("force-reboot", "false"),
            ("blocking-pod-selector", ""),
            ("prometheus-url", ""),
            ("alert-filter-regexp", ""),
            ("alert-filter-match-only", "false"),
            ("alert-firing-only", "false"),
            ("prefer-no-schedule-taint", ""),
            ("notify-url", ""),
            ("slack-hook-url", ""),
            ("slack-username", "kured"),
            ("slack-channel", ""),
            ("message-template-drain", "Draining node %s"),
            ("message-template-reboot", "Rebooting node %s"),
            (
                "message-template-uncordon",
                "Node %s rebooted & uncordoned successfully!",
            ),
            ("pre-reboot-node-labels", ""),
            ("post-reboot-node-labels", ""),
            ("metrics-host", ""),
            ("metrics-port", "8080"),
            ("log-format", "text"),
        ];
        assert_eq!(kured.len(), 43);
        for (flag, default) in kured {
            assert_eq!(
                defaults.get(flag).map(String::as_str),
                Some(*default),
                "--{flag}"
            );
        }
        let extra: Vec<&str> = defaults
            .keys()
            .copied()
            .filter(|f| !kured.iter().any(|(k, _)| k == f))
            .collect();
        assert_eq!(
            extra,
            [
                "allow-concurrent-control-plane-reboots",
                "health-gate",
                "health-gate-timeout",
                "max-nodes-per-zone",
                "max-reboots-per-day",
                "max-zones",
                "reboot-on-request",
                "window",
                "zone-label"
            ],
            "only Drydock's own flags are extra"
        );
    }

    #[test]
    fn defaults_validate_to_kureds_behaviour() {
        let c = config(&[]);
        assert_eq!(c.period, SignedDuration::from_hours(1));
        assert_eq!(
            c.sentinel,
            Sentinel::File("/var/run/reboot-required".into())
        );
        assert_eq!(
            c.reboot_method,
            RebootMethod::Command(vec!["/bin/systemctl".into(), "reboot".into()])
        );
        assert_eq!(
            c.window.to_string(),
            "SunMonTueWedThuFriSat between 00:00 and 23:59 UTC"
        );
        assert_eq!(c.lock.policy.concurrency, 1);
        assert!(c.lock.policy.one_control_plane_at_a_time);
        assert_eq!(c.drain.grace_period_seconds, None);
        assert_eq!(c.drain.timeout, None);
        assert!(c.notify.urls.is_empty());
        assert_eq!(c.metrics_port, 8080);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.max_reboots_per_day, Some(3));
        assert_eq!(c.health_gate, None, "kured hands the lock on at once");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn the_health_gate_is_off_by_default_and_its_timeout_must_be_positive() {
        assert_eq!(
            config(&["--health-gate"]).health_gate,
            Some(SignedDuration::from_mins(10))
        );
        assert_eq!(
            config(&["--health-gate=true", "--health-gate-timeout=90s"]).health_gate,
            Some(SignedDuration::from_secs(90))
        );
        assert_eq!(config(&["--health-gate-timeout=90s"]).health_gate, None);
        assert_eq!(
            flag_error(&["--health-gate-timeout=0s"]),
            "health-gate-timeout"
        );
        assert_eq!(
            flag_error(&["--health-gate-timeout=-5m"]),
            "health-gate-timeout"
        );
    }

    #[test]
    fn flags_take_values_with_or_without_equals_and_bools_without_a_value() {
        let c = config(&[
            "--period",
            "10m",
            "--force-reboot",
            "--concurrency",
            "2",
            "--annotate-nodes=false",
        ]);
        assert_eq!(c.period, SignedDuration::from_mins(10));
        assert!(c.drain.force_reboot);
        assert!(!c.annotate_nodes);
        assert_eq!(c.lock.policy.concurrency, 2);
        assert_eq!(c.lock.policy.format(), crate::lock::LockFormat::Multi);
    }

    #[test]
    fn the_environment_overrides_the_command_line() {
        let c = parse_with(
            &["--node-id=cli", "--period=5m", "--force-reboot=false"],
            &[
                ("KURED_NODE_ID", "env"),
                ("KURED_PERIOD", "20s"),
                ("KURED_FORCE_REBOOT", "true"),
            ],
        )
        .unwrap();
        assert_eq!(c.node_id, "env");
        assert_eq!(c.period, SignedDuration::from_secs(20));
        assert!(c.drain.force_reboot);
    }

    #[test]
    fn the_environment_alone_sets_a_flag() {
        let c = parse_with(&[], &[("KURED_NODE_ID", "n1"), ("KURED_LOCK_TTL", "30m")]).unwrap();
        assert_eq!(c.lock.policy.ttl, SignedDuration::from_mins(30));
    }

    #[test]
    fn list_flags_concatenate_command_line_and_environment() {
        let c = parse_with(
            &[
                "--node-id=n1",
                "--reboot-days=mo",
                "--pre-reboot-node-labels=a=1",
            ],
            &[
                ("KURED_REBOOT_DAYS", "sa,su"),
                ("KURED_PRE_REBOOT_NODE_LABELS", "b=2"),
            ],
        )
        .unwrap();
        assert_eq!(c.window.days().to_string(), "SunMon------------Sat");
        assert_eq!(c.pre_reboot_labels.len(), 2);
        let c = parse_with(&["--node-id=n1"], &[("KURED_REBOOT_DAYS", "sa")]).unwrap();
        assert_eq!(c.window.days().to_string(), "------------------Sat");
    }

    #[test]
    fn the_environment_notify_url_replaces_the_command_line_ones() {
        let c = parse_with(
            &[
                "--node-id=n1",
                "--notify-url=slack://A/B/C",
                "--notify-url=discord://t@1",
            ],
            &[("KURED_NOTIFY_URL", "'discord://t@2'")],
        )
        .unwrap();
        assert_eq!(c.notify.urls.len(), 1);
        assert!(
            matches!(&c.notify.urls[0], NotifyUrl::Discord { url, .. } if url.ends_with("/2/t"))
        );
        let c = config(&["--notify-url=slack://A/B/C", "--notify-url=discord://t@1"]);
        assert_eq!(c.notify.urls.len(), 2);
    }

    #[test]
    fn the_blocking_pod_selector_environment_variable_is_ignored_as_in_kured() {
        let c = parse_with(
            &[
                "--node-id=n1",
                "--blocking-pod-selector=app=a",
                "--blocking-pod-selector=app=b",
            ],
            &[("KURED_BLOCKING_POD_SELECTOR", "app=c")],
        )
        .unwrap();
        let selectors: Vec<String> = c
            .blockers
            .pod_selectors
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(selectors, ["app=a", "app=b"]);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("KURED_BLOCKING_POD_SELECTOR"))
        );
    }

    #[test]
    fn unknown_flags_and_malformed_typed_values_are_cli_errors_naming_the_flag() {
        for (args, needle) in [
            (&["--bogus=1"][..], "--bogus"),
            (&["--period=soon"][..], "--period"),
            (&["--concurrency=two"][..], "--concurrency"),
            (&["--force-reboot=maybe"][..], "--force-reboot"),
        ] {
            let mut all = vec!["--node-id=n1"];
            all.extend_from_slice(args);
            match parse_with(&all, &[]) {
                Err(Error::Cli(e)) => assert!(e.to_string().contains(needle), "{e}"),
                other => panic!("{args:?}: expected a CLI error, got {other:?}"),
            }
        }
        match parse_with(&["--node-id=n1"], &[("KURED_PERIOD", "soon")]) {
            Err(Error::Cli(e)) => assert!(e.to_string().contains("--period")),
            other => panic!("expected a CLI error, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_node_id_is_an_error() {
        assert!(matches!(
            parse_with(&[], &[]),
            Err(Error::InvalidFlag {
                flag: "node-id",
                ..
            })
        ));
    }

    #[test]
    fn a_label_without_equals_is_an_error_naming_the_flag() {
        assert_eq!(
            flag_error(&["--pre-reboot-node-labels=rebooting"]),
            "pre-reboot-node-labels"
        );
        assert_eq!(
            flag_error(&["--post-reboot-node-labels=a=1,b"]),
            "post-reboot-node-labels"
        );
    }

    #[test]
    fn an_unknown_weekday_is_an_error_naming_the_flag() {
        assert_eq!(flag_error(&["--reboot-days=mon,fridayyyy"]), "reboot-days");
        assert_eq!(flag_error(&["--reboot-days=7"]), "reboot-days");
    }

    #[test]
    fn an_unparsable_time_is_an_error_naming_the_flag() {
        assert_eq!(flag_error(&["--start-time=9:30am"]), "start-time");
        assert_eq!(flag_error(&["--end-time=25:00"]), "end-time");
    }

    #[test]
    fn an_unknown_time_zone_is_an_error_naming_the_flag() {
        assert_eq!(flag_error(&["--time-zone=Europe/Atlantis"]), "time-zone");
    }

    #[test]
    fn a_negative_or_zero_period_is_an_error_naming_the_flag() {
        assert_eq!(flag_error(&["--period=-1h"]), "period");
        assert_eq!(flag_error(&["--period", "-1h"]), "period");
        assert_eq!(flag_error(&["--period=0"]), "period");
    }

    #[test]
    fn negative_delays_and_ttls_are_errors_naming_the_flag() {
        assert_eq!(flag_error(&["--lock-ttl=-5m"]), "lock-ttl");
        assert_eq!(flag_error(&["--drain-timeout=-1s"]), "drain-timeout");
        assert_eq!(flag_error(&["--reboot-delay=-1s"]), "reboot-delay");
        assert_eq!(
            flag_error(&["--skip-wait-for-delete-timeout=-1"]),
            "skip-wait-for-delete-timeout"
        );
        assert_eq!(flag_error(&["--concurrency=-1"]), "concurrency");
    }

    #[test]
    fn an_unknown_reboot_method_is_an_error_naming_the_flag() {
        assert_eq!(flag_error(&["--reboot-method=kexec"]), "reboot-method");
        assert_eq!(flag_error(&["--reboot-method=Signal"]), "reboot-method");
    }

    #[test]
    fn an_empty_reboot_command_is_an_error_naming_the_flag() {
        assert_eq!(flag_error(&["--reboot-command="]), "reboot-command");
        assert_eq!(flag_error(&["--reboot-command=   "]), "reboot-command");
        assert_eq!(
            flag_error(&["--reboot-command='unterminated"]),
            "reboot-command"
        );
    }

    #[test]
    fn the_signal_method_needs_a_real_signal() {
        let c = config(&["--reboot-method=signal"]);
        assert_eq!(c.reboot_method, RebootMethod::Signal(39));
        assert_eq!(
            flag_error(&["--reboot-method=signal", "--reboot-signal=0"]),
            "reboot-signal"
        );
        assert_eq!(
            flag_error(&["--reboot-method=signal", "--reboot-signal=65"]),
            "reboot-signal"
        );
    }

    #[test]
    fn an_invalid_alert_regexp_is_an_error_naming_the_flag() {
        assert_eq!(
            flag_error(&[
                "--prometheus-url=http://prom:9090",
                "--alert-filter-regexp=*"
            ]),
            "alert-filter-regexp"
        );
    }

    #[test]
    fn a_malformed_notify_url_is_an_error_naming_the_flag() {
        assert_eq!(flag_error(&["--notify-url=slack://A/B"]), "notify-url");
        assert_eq!(
            flag_error(&["--notify-url=https://hooks.slack.com/services/A/B/C"]),
            "notify-url"
        );
        assert_eq!(
            flag_error(&["--slack-hook-url=https://hooks.slack.com/services/A/B"]),
            "slack-hook-url"
        );
    }

    #[test]
    fn malformed_selectors_taints_urls_and_ports_are_errors_naming_the_flag() {
        assert_eq!(
            flag_error(&["--blocking-pod-selector=app in blocker"]),
            "blocking-pod-selector"
        );
        assert_eq!(
            flag_error(&["--drain-pod-selector=(app=x"]),
            "drain-pod-selector"
        );
        assert_eq!(
            flag_error(&["--prefer-no-schedule-taint=bad key"]),
            "prefer-no-schedule-taint"
        );
        assert_eq!(
            flag_error(&["--prometheus-url=prom:9090"]),
            "prometheus-url"
        );
        assert_eq!(flag_error(&["--metrics-port=70000"]), "metrics-port");
        assert_eq!(flag_error(&["--reboot-sentinel="]), "reboot-sentinel");
    }

    #[test]
    fn error_messages_name_the_flag_and_its_environment_variable() {
        let message = parse_with(&["--node-id=n1", "--reboot-method=kexec"], &[])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("--reboot-method") && message.contains("KURED_REBOOT_METHOD"),
            "{message}"
        );
    }

    #[test]
    fn kureds_notification_url_cases_hold() {
        // cmd/kured/main_test.go TestValidateNotificationURL.
        let c = config(&["--slack-hook-url=https://hooks.slack.com/services/A/B/C"]);
        assert!(
            matches!(&c.notify.urls[..], [NotifyUrl::SlackWebhook { url, .. }] if url.ends_with("/A/B/C"))
        );
        let c = config(&[
            "--slack-hook-url=https://hooks.slack.com/services/A/B/C",
            "--notify-url=discord://t@1",
        ]);
        assert!(matches!(&c.notify.urls[..], [NotifyUrl::Discord { .. }]));
        let c = config(&["--notify-url=\"slack://A/B/C\""]);
        assert_eq!(c.notify.urls.len(), 1);
        let c = config(&["--slack-hook-url='https://hooks.slack.com/services/A/B/C'"]);
        assert_eq!(c.notify.urls.len(), 1);
    }

    #[test]
    fn strip_quotes_matches_kured() {
        // cmd/kured/main_test.go Test_stripQuotes.
        assert_eq!(strip_quotes("Hello"), "Hello");
        assert_eq!(strip_quotes("\"Hello\""), "Hello");
        assert_eq!(strip_quotes("'Hello'"), "Hello");
        assert_eq!(strip_quotes("'Hello\""), "'Hello\"");
        assert_eq!(strip_quotes("\"Hello"), "\"Hello");
        assert_eq!(strip_quotes(""), "");
        assert_eq!(strip_quotes("'"), "'");
    }

    #[test]
    fn the_sentinel_command_replaces_the_file_and_runs_in_the_host_namespace() {
        let c = config(&["--reboot-sentinel-command=sh -c '! needs-restarting -r'"]);
        let Sentinel::Command(argv) = &c.sentinel else {
            panic!("command sentinel expected");
        };
        assert_eq!(
            in_host_mount_namespace("/drydock", argv),
            [
                "/drydock",
                "__host-exec",
                "--mount-ns",
                "/proc/1/ns/mnt",
                "--",
                "sh",
                "-c",
                "! needs-restarting -r"
            ]
        );
        let explicit = config(&[
            "--reboot-command=/usr/bin/nsenter -m/proc/1/ns/mnt -- /bin/systemctl reboot",
        ]);
        let RebootMethod::Command(argv) = &explicit.reboot_method else {
            panic!("command method expected");
        };
        assert_eq!(
            in_host_mount_namespace("/drydock", argv),
            *argv,
            "an explicit nsenter prefix runs as given"
        );
    }

    #[test]
    fn alert_filters_follow_kureds_matches() {
        let blocker = |re: Option<&str>, match_only| PrometheusBlocker {
            url: "http://p".into(),
            alert_filter: re.map(|r| Regex::new(r).unwrap()),
            match_only,
            firing_only: false,
        };
        assert!(blocker(None, false).counts("Anything"));
        assert!(!blocker(Some(""), false).counts("Anything"));
        assert!(!blocker(Some("Pod"), false).counts("KubePodCrashLooping"));
        assert!(blocker(Some("Gatekeeper"), true).counts("GatekeeperDown"));
        assert!(!blocker(Some("^RebootRequired$"), false).counts("RebootRequired"));
        assert!(blocker(Some("^RebootRequired$"), true).counts("RebootRequired"));
    }

    #[test]
    fn templates_render_the_node_name() {
        assert_eq!(
            MessageTemplates::render("Draining node %s", "n1"),
            "Draining node n1"
        );
        assert_eq!(
            MessageTemplates::render("100%% done on %s", "n1"),
            "100% done on n1"
        );
    }

    #[test]
    fn local_time_zone_follows_tz() {
        let c = parse_with(
            &["--node-id=n1", "--time-zone=Local"],
            &[("TZ", "Europe/Rome")],
        )
        .unwrap();
        assert_eq!(
            c.window.time_zone(),
            &resolve_time_zone("Europe/Rome", None).unwrap()
        );
    }

    #[test]
    fn window_flags_repeat_and_the_environment_adds_more() {
        let c = parse_with(
            &[
                "--node-id=n1",
                "--window=sat,sun 01:00-05:00",
                "--window=first-mon 22:00-02:00 Europe/Berlin",
            ],
            &[("KURED_WINDOW", "last-fri 3am-4am; wed 12-13")],
        )
        .unwrap();
        let windows: Vec<String> = c
            .schedule
            .windows()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            windows,
            [
                "Sun---------------Sat between 01:00 and 05:00 UTC",
                "first-mon between 22:00 and 02:00 Europe/Berlin",
                "last-fri between 03:00 and 04:00 UTC",
                "---------Wed--------- between 12:00 and 13:00 UTC",
            ],
            "kured's default window gives way to --window"
        );
        assert_eq!(c.window, crate::window::Window::always());
    }

    #[test]
    fn without_window_flags_the_schedule_is_kureds_window() {
        let c = config(&["--reboot-days=sat", "--start-time=2am", "--end-time=4am"]);
        assert_eq!(c.schedule.windows(), std::slice::from_ref(&c.window));
    }

    #[test]
    fn a_bad_window_flag_names_the_flag_and_the_value() {
        let error = parse_with(&["--node-id=n1", "--window=someday 1-2"], &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--window (KURED_WINDOW)"), "{error}");
        assert!(error.contains("someday"), "{error}");
    }

    #[test]
    fn zone_limits_are_off_by_default_and_parse_when_given() {
        let c = config(&[]);
        assert!(!c.zones.limits.is_active());
        assert_eq!(c.zones.label, "topology.kubernetes.io/zone");
        let c = config(&[
            "--zone-label=example.com/rack",
            "--max-nodes-per-zone=2",
            "--max-zones=1",
        ]);
        assert_eq!(c.zones.label, "example.com/rack");
        assert_eq!(c.zones.limits.per_zone, Some(2));
        assert_eq!(c.zones.limits.zones, Some(1));
        assert_eq!(flag_error(&["--max-zones=-1"]), "max-zones");
        assert_eq!(
            flag_error(&["--max-nodes-per-zone=-3"]),
            "max-nodes-per-zone"
        );
        assert_eq!(flag_error(&["--zone-label=not a label"]), "zone-label");
    }
}
