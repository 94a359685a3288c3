//! The flag groups [`Config::from_args`](super::Config::from_args) validates, one each: the
//! node and its period, the sentinel, the reboot method, the windows, the lock, the drain, the
//! blockers, the taint, the notifications, the node labels, the metrics and log settings, the
//! reboot-loop guard, the zones and the health gate.
//!
//! A group that needs nothing but the flags is a `TryFrom<&KuredArgs>`; one that also warns
//! takes the list of warnings to add to. Every refusal names the flag it is about.

use std::collections::BTreeSet;

use jiff::SignedDuration;
use regex::Regex;

use super::{
    BlockerConfig, DrainConfig, Error, KuredArgs, LockConfig, LogFormat, MAX_SIGNAL,
    PrometheusBlocker, RebootMethod, Result, Sentinel, ZoneConfig, invalid, non_empty,
    non_negative, slack_hook_to_notify_url, strip_quotes,
};
use crate::gocompat::{format_duration, shlex_split};
use crate::lock::{LockPolicy, ZoneLimits};
use crate::notify::NotifyUrl;
use crate::selector::{LabelSelector, NodeLabel, label_key};
use crate::window::{
    Schedule, Weekdays, Window, parse_time_of_day, parse_window, resolve_time_zone,
};

/// The signal `--reboot-signal` defaults to (SIGRTMIN+5, on which systemd reboots); only a
/// fallback here, as the value was checked to be a signal number first.
const DEFAULT_REBOOT_SIGNAL: i32 = 39;

/// `--node-id`: required, trimmed.
pub(super) fn node_id(args: &KuredArgs) -> Result<String> {
    if args.node_id.trim().is_empty() {
        return Err(invalid(
            "node-id",
            &args.node_id,
            "required (the manifests set KURED_NODE_ID from spec.nodeName)",
        ));
    }
    Ok(args.node_id.trim().to_owned())
}

/// `--period`: positive.
pub(super) fn period(args: &KuredArgs) -> Result<SignedDuration> {
    if !args.period.is_positive() {
        return Err(invalid(
            "period",
            format_duration(args.period),
            "must be positive",
        ));
    }
    Ok(args.period)
}

/// `--reboot-sentinel` and `--reboot-sentinel-command` (which replaces the file when set).
impl TryFrom<&KuredArgs> for Sentinel {
    type Error = Error;

    fn try_from(args: &KuredArgs) -> Result<Sentinel> {
        if args.reboot_sentinel_command.trim().is_empty() {
            if args.reboot_sentinel.trim().is_empty() {
                return Err(invalid(
                    "reboot-sentinel",
                    "",
                    "must name a file when --reboot-sentinel-command is empty",
                ));
            }
            return Ok(Sentinel::File(args.reboot_sentinel.clone()));
        }
        let argv = shlex_split(&args.reboot_sentinel_command)
            .map_err(|e| invalid("reboot-sentinel-command", &args.reboot_sentinel_command, e))?;
        Ok(Sentinel::Command(argv))
    }
}

/// `--reboot-method` with `--reboot-command` or `--reboot-signal`.
impl TryFrom<&KuredArgs> for RebootMethod {
    type Error = Error;

    fn try_from(args: &KuredArgs) -> Result<RebootMethod> {
        match args.reboot_method.as_str() {
            "command" => {
                let argv = shlex_split(&args.reboot_command)
                    .map_err(|e| invalid("reboot-command", &args.reboot_command, e))?;
                if argv.is_empty() {
                    return Err(invalid(
                        "reboot-command",
                        &args.reboot_command,
                        "must not be empty with --reboot-method=command",
                    ));
                }
                Ok(RebootMethod::Command(argv))
            }
            "signal" => {
                if !(1..=MAX_SIGNAL).contains(&args.reboot_signal) {
                    return Err(invalid(
                        "reboot-signal",
                        args.reboot_signal,
                        format!("must be a signal number from 1 to {MAX_SIGNAL}"),
                    ));
                }
                Ok(RebootMethod::Signal(
                    i32::try_from(args.reboot_signal).unwrap_or(DEFAULT_REBOOT_SIGNAL),
                ))
            }
            other => Err(invalid(
                "reboot-method",
                other,
                "unknown reboot method (use command or signal)",
            )),
        }
    }
}

/// kured's window and the schedule of every window in force.
pub(super) struct Windows {
    /// `--reboot-days`, `--start-time`, `--end-time`, `--time-zone`.
    pub(super) window: Window,
    /// That window and every `--window`.
    pub(super) schedule: Schedule,
}

impl Windows {
    /// The window flags; `tz_env` is the `TZ` variable, used for `Local`.
    pub(super) fn from_flags(
        args: &KuredArgs,
        tz_env: Option<&str>,
        warnings: &mut Vec<String>,
    ) -> Result<Windows> {
        let days = Weekdays::parse(&args.reboot_days)
            .map_err(|e| invalid("reboot-days", args.reboot_days.join(","), e))?;
        if days.is_empty() {
            warnings.push("--reboot-days is empty: this node will never reboot".to_owned());
        }
        let start = parse_time_of_day(&args.start_time)
            .map_err(|e| invalid("start-time", &args.start_time, e))?;
        let end = parse_time_of_day(&args.end_time)
            .map_err(|e| invalid("end-time", &args.end_time, e))?;
        let tz = resolve_time_zone(&args.time_zone, tz_env)
            .map_err(|e| invalid("time-zone", &args.time_zone, e))?;
        let window = Window::new(days, start, end, tz, &args.time_zone);
        let extra = args
            .window
            .iter()
            .map(|w| w.trim())
            .filter(|w| !w.is_empty())
            .map(|w| parse_window(w, tz_env).map_err(|e| invalid("window", w, e)))
            .collect::<Result<Vec<Window>>>()?;
        let schedule = Schedule::new(window.clone(), extra);
        Ok(Windows { window, schedule })
    }
}

/// The lock: `--concurrency`, `--lock-annotation`, `--ds-name`, `--ds-namespace`,
/// `--lock-ttl`, `--lock-release-delay` and `--allow-concurrent-control-plane-reboots`.
pub(super) fn lock(args: &KuredArgs, warnings: &mut Vec<String>) -> Result<LockConfig> {
    if args.concurrency < 0 {
        return Err(invalid(
            "concurrency",
            args.concurrency,
            "must be at least 1",
        ));
    }
    if args.concurrency == 0 {
        warnings.push("--concurrency=0 is treated as 1, as kured does".to_owned());
    }
    let concurrency = u32::try_from(args.concurrency.max(1))
        .map_err(|_| invalid("concurrency", args.concurrency, "too large"))?;
    if args.lock_annotation.trim().is_empty() {
        return Err(invalid("lock-annotation", "", "must not be empty"));
    }
    for (flag, value) in [
        ("ds-name", &args.ds_name),
        ("ds-namespace", &args.ds_namespace),
    ] {
        if value.trim().is_empty() {
            return Err(invalid(flag, value, "must not be empty"));
        }
    }
    Ok(LockConfig {
        ds_namespace: args.ds_namespace.clone(),
        ds_name: args.ds_name.clone(),
        annotation: args.lock_annotation.clone(),
        policy: LockPolicy {
            concurrency,
            ttl: non_negative("lock-ttl", args.lock_ttl)?,
            one_control_plane_at_a_time: !args.allow_concurrent_control_plane_reboots,
        },
        release_delay: non_negative("lock-release-delay", args.lock_release_delay)?,
    })
}

/// The drain: `--drain-timeout`, `--skip-wait-for-delete-timeout`, `--drain-grace-period`,
/// `--drain-pod-selector` and `--force-reboot`, with `--drain-delay` (`delay`, checked with
/// `--reboot-delay` before the windows).
pub(super) fn drain(args: &KuredArgs, delay: SignedDuration) -> Result<DrainConfig> {
    let timeout = non_negative("drain-timeout", args.drain_timeout)?;
    if args.skip_wait_for_delete_timeout < 0 {
        return Err(invalid(
            "skip-wait-for-delete-timeout",
            args.skip_wait_for_delete_timeout,
            "must not be negative",
        ));
    }
    let grace_period_seconds = if args.drain_grace_period < 0 {
        None
    } else {
        Some(
            u32::try_from(args.drain_grace_period)
                .map_err(|_| invalid("drain-grace-period", args.drain_grace_period, "too large"))?,
        )
    };
    let pod_selector = if args.drain_pod_selector.trim().is_empty() {
        None
    } else {
        Some(
            LabelSelector::parse(&args.drain_pod_selector)
                .map_err(|e| invalid("drain-pod-selector", &args.drain_pod_selector, e))?,
        )
    };
    Ok(DrainConfig {
        grace_period_seconds,
        timeout: (!timeout.is_zero()).then_some(timeout),
        pod_selector,
        skip_wait_for_delete_timeout: SignedDuration::from_secs(args.skip_wait_for_delete_timeout),
        delay,
        force_reboot: args.force_reboot,
    })
}

/// What blocks reboots: `--blocking-pod-selector`, and `--prometheus-url` with its alert
/// filter flags.
pub(super) fn blockers(args: &KuredArgs, warnings: &mut Vec<String>) -> Result<BlockerConfig> {
    let pod_selectors = non_empty(&args.blocking_pod_selector)
        .map(|s| LabelSelector::parse(s).map_err(|e| invalid("blocking-pod-selector", s, e)))
        .collect::<Result<Vec<_>>>()?;
    let alert_filter = args
        .alert_filter_regexp
        .as_deref()
        .map(|re| Regex::new(re).map_err(|e| invalid("alert-filter-regexp", re, e)))
        .transpose()?;
    if args.prometheus_url.trim().is_empty() {
        if alert_filter.is_some() || args.alert_filter_match_only || args.alert_firing_only {
            warnings.push("alert filter flags have no effect without --prometheus-url".to_owned());
        }
        return Ok(BlockerConfig {
            pod_selectors,
            prometheus: None,
        });
    }
    let url = args.prometheus_url.trim();
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .map(|rest| rest.split(['/', '?']).next().unwrap_or_default());
    if host.is_none_or(str::is_empty) {
        return Err(invalid(
            "prometheus-url",
            url,
            "expected http(s)://host[:port][/path]",
        ));
    }
    Ok(BlockerConfig {
        pod_selectors,
        prometheus: Some(PrometheusBlocker {
            url: url.to_owned(),
            alert_filter,
            match_only: args.alert_filter_match_only,
            firing_only: args.alert_firing_only,
        }),
    })
}

/// `--prefer-no-schedule-taint`: a taint key, or none when empty.
pub(super) fn prefer_no_schedule_taint(args: &KuredArgs) -> Result<Option<String>> {
    if args.prefer_no_schedule_taint.is_empty() {
        return Ok(None);
    }
    label_key(&args.prefer_no_schedule_taint)
        .map(Some)
        .map_err(|e| {
            invalid(
                "prefer-no-schedule-taint",
                &args.prefer_no_schedule_taint,
                e,
            )
        })
}

/// Where notifications go: `--notify-url`, else the deprecated `--slack-hook-url`
/// (`--slack-username` and `--slack-channel` only earn a warning).
pub(super) fn notify_urls(args: &KuredArgs, warnings: &mut Vec<String>) -> Result<Vec<NotifyUrl>> {
    let mut raw_urls: Vec<String> = args
        .notify_url
        .iter()
        .map(|u| strip_quotes(u.trim()).to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    let slack_hook = strip_quotes(args.slack_hook_url.trim());
    if !slack_hook.is_empty() {
        if raw_urls.is_empty() {
            warnings.push("--slack-hook-url is deprecated: use --notify-url".to_owned());
            raw_urls.push(slack_hook_to_notify_url(slack_hook)?);
        } else {
            warnings.push("--slack-hook-url is ignored because --notify-url is set".to_owned());
        }
    }
    if args.slack_username != "kured" || !args.slack_channel.is_empty() {
        warnings.push(
            "--slack-username and --slack-channel are deprecated and unused (as in kured)"
                .to_owned(),
        );
    }
    raw_urls
        .iter()
        .map(|u| NotifyUrl::parse(u).map_err(|e| invalid("notify-url", u, e)))
        .collect()
}

/// The labels added around the reboot.
pub(super) struct NodeLabels {
    /// `--pre-reboot-node-labels`.
    pub(super) pre: Vec<NodeLabel>,
    /// `--post-reboot-node-labels`.
    pub(super) post: Vec<NodeLabel>,
}

impl NodeLabels {
    /// Both label flags; a warning when they set different keys.
    pub(super) fn from_flags(args: &KuredArgs, warnings: &mut Vec<String>) -> Result<NodeLabels> {
        let labels = |flag: &'static str, items: &[String]| -> Result<Vec<NodeLabel>> {
            non_empty(items)
                .map(|l| NodeLabel::parse(l).map_err(|e| invalid(flag, l, e)))
                .collect()
        };
        let pre = labels("pre-reboot-node-labels", &args.pre_reboot_node_labels)?;
        let post = labels("post-reboot-node-labels", &args.post_reboot_node_labels)?;
        let keys =
            |ls: &[NodeLabel]| -> BTreeSet<String> { ls.iter().map(|l| l.key.clone()).collect() };
        if keys(&pre) != keys(&post) {
            warnings.push(
                "--pre-reboot-node-labels and --post-reboot-node-labels set different keys"
                    .to_owned(),
            );
        }
        Ok(NodeLabels { pre, post })
    }
}

/// `--metrics-port`: a TCP port.
pub(super) fn metrics_port(args: &KuredArgs) -> Result<u16> {
    u16::try_from(args.metrics_port)
        .map_err(|_| invalid("metrics-port", args.metrics_port, "must be 0-65535"))
}

/// `--log-format`: json, or text (with a warning for anything but `text`).
pub(super) fn log_format(args: &KuredArgs, warnings: &mut Vec<String>) -> LogFormat {
    match args.log_format.as_str() {
        "json" => LogFormat::Json,
        "text" => LogFormat::Text,
        other => {
            warnings.push(format!("--log-format={other} is not json: using text"));
            LogFormat::Text
        }
    }
}

/// `--max-reboots-per-day`, its first half: not negative. Its size is checked by
/// [`reboot_guard`], after the zone and health-gate flags: the two halves keep their places in
/// the order that decides which of several invalid flags is reported.
pub(super) fn reboot_guard_sign(args: &KuredArgs) -> Result<()> {
    if args.max_reboots_per_day < 0 {
        return Err(invalid(
            "max-reboots-per-day",
            args.max_reboots_per_day,
            "must not be negative (0 disables the guard)",
        ));
    }
    Ok(())
}

/// `--max-reboots-per-day`, its second half: the limit (`None`: 0, no guard).
pub(super) fn reboot_guard(args: &KuredArgs) -> Result<Option<u32>> {
    let limit = u32::try_from(args.max_reboots_per_day)
        .map_err(|_| invalid("max-reboots-per-day", args.max_reboots_per_day, "too large"))?;
    Ok((limit > 0).then_some(limit))
}

/// `--zone-label`, `--max-nodes-per-zone` and `--max-zones`.
impl TryFrom<&KuredArgs> for ZoneConfig {
    type Error = Error;

    fn try_from(args: &KuredArgs) -> Result<ZoneConfig> {
        let zone_limit = |flag: &'static str, value: i64| -> Result<Option<u32>> {
            let limit = u32::try_from(value)
                .map_err(|_| invalid(flag, value, "must be 0 (no limit) or a positive count"))?;
            Ok((limit > 0).then_some(limit))
        };
        Ok(ZoneConfig {
            label: label_key(&args.zone_label)
                .map_err(|e| invalid("zone-label", &args.zone_label, e))?,
            limits: ZoneLimits {
                per_zone: zone_limit("max-nodes-per-zone", args.max_nodes_per_zone)?,
                zones: zone_limit("max-zones", args.max_zones)?,
            },
        })
    }
}

/// `--health-gate` and `--health-gate-timeout` (checked positive even with the gate off): the
/// gate's timeout when it is on.
pub(super) fn health_gate(args: &KuredArgs) -> Result<Option<SignedDuration>> {
    if !args.health_gate_timeout.is_positive() {
        return Err(invalid(
            "health-gate-timeout",
            format_duration(args.health_gate_timeout),
            "must be positive",
        ));
    }
    Ok(args.health_gate.then_some(args.health_gate_timeout))
}
