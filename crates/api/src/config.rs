//! `EraserConfig`, the manager's configuration file (ConfigMap `eraser-manager-config`, key
//! `controller_manager_config.yaml`), in all three Eraser API versions.
//!
//! Eraser decodes the file by `apiVersion` *on top of that version's defaults*: a partial file
//! is legal, omitted keys keep their defaults, and lists replace rather than merge. Durations use
//! Go syntax. Unknown keys are accepted and reported as warnings, as Eraser's lenient decoder
//! does. All three versions fold into one internal [`Config`] (the v1alpha3 shape):
//!
//! - `v1alpha1`: `manager.runtime` is a string and the remover lives under `components.eraser`;
//! - `v1alpha2`: `manager.runtime` is a string, the remover is `components.remover`;
//! - `v1alpha3`: `manager.runtime` is `{name, address}`; adds `manager.additionalPodLabels`.
//!
//! Unlike Eraser (which crashes on an unknown `apiVersion`), every problem is an error that
//! names the source and the key.
//!
//! Drydock's own keys sit beside Eraser's, which Eraser's lenient decoder ignores; absent, they
//! leave Eraser's behaviour unchanged:
//!
//! | key | meaning |
//! |---|---|
//! | `components.remover.minimumAge` | Go duration: unused images the runtime created less than this long ago are kept ("newer than the minimum age"); unset or `0s`: none are kept for their age |
//! | `components.scanner.config` key `reportInUse` | `true`: Drydock's collector also hands the scanner the images in use, which are scanned for the in-use vulnerability report and never removed; absent or `false`: Eraser's behaviour |

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::{Error, GoDuration, Result};

/// Repository of Drydock's single multi-call image, used for every component by default.
pub const DEFAULT_IMAGE_REPO: &str = "ghcr.io/drydock-dev/drydock";
/// Default image tag: the version of this build.
pub const DEFAULT_IMAGE_TAG: &str = env!("CARGO_PKG_VERSION");

/// The shortest `repeatInterval` accepted. Eraser accepts anything, but a run every few seconds
/// would start a pod on every node continuously; one minute still allows fast testing.
pub const MIN_REPEAT_INTERVAL: GoDuration = GoDuration::from_secs(60);
/// The longest `repeatInterval` accepted: three months, AKS's documented maximum (2160 h).
pub const MAX_REPEAT_INTERVAL: GoDuration = GoDuration::from_hours(2160);

/// Eraser's default scanner configuration (`components.scanner.config`), kept verbatim so that
/// `kubectl describe` shows what an Eraser user expects. Parsed only by the scanner.
pub const DEFAULT_SCANNER_CONFIG: &str = "\
cacheDir: /var/lib/trivy
dbRepo: ghcr.io/aquasecurity/trivy-db
deleteFailedImages: true
deleteEOLImages: true
vulnerabilities:
  ignoreUnfixed: false
  types:
    - os
    - library
  securityChecks:
    - vuln
  severities:
    - CRITICAL
    - HIGH
    - MEDIUM
    - LOW
  ignoredStatuses:
timeout:
  total: 23h
  perImage: 1h
";

/// The apiVersions Eraser (and Drydock) accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `eraser.sh/v1alpha1`.
    V1alpha1,
    /// `eraser.sh/v1alpha2`.
    V1alpha2,
    /// `eraser.sh/v1alpha3`.
    V1alpha3,
}

/// The validated configuration, whatever version the file was written in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Config {
    /// Manager settings.
    pub manager: Manager,
    /// Worker component settings.
    pub components: Components,
}

/// `manager.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Manager {
    /// The node's container runtime.
    pub runtime: Runtime,
    /// OTLP/HTTP endpoint (`host:port`) for metrics; empty disables OTLP export.
    pub otlp_endpoint: String,
    /// Log level handed to the components.
    pub log_level: String,
    /// Automatic-mode schedule.
    pub scheduling: Scheduling,
    /// pprof-style profiling (accepted for compatibility).
    pub profile: Profile,
    /// ImageJob settings.
    pub image_job: ImageJobConfig,
    /// Image pull secrets for worker pods.
    pub pull_secrets: Vec<String>,
    /// PriorityClass for worker pods.
    pub priority_class_name: String,
    /// Extra labels for worker pods (v1alpha3).
    pub additional_pod_labels: BTreeMap<String, String>,
    /// Which nodes get a worker pod.
    pub node_filter: NodeFilter,
}

/// `manager.runtime`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Runtime {
    /// `containerd`, `dockershim` or `crio`.
    pub name: RuntimeName,
    /// CRI endpoint on the node, `unix:///path`.
    pub address: String,
}

/// A supported container runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeName {
    /// containerd (the default).
    #[default]
    Containerd,
    /// A cri-dockerd style socket.
    Dockershim,
    /// CRI-O.
    Crio,
}

/// `manager.scheduling`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Scheduling {
    /// Time between automatic runs.
    pub repeat_interval: GoDuration,
    /// Start the first automatic run at once (only when no run ever happened).
    pub begin_immediately: bool,
}

/// `manager.profile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Profile {
    /// Whether profiling is on.
    pub enabled: bool,
    /// Localhost port of the profiler.
    pub port: u16,
}

/// `manager.imageJob`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ImageJobConfig {
    /// Fraction of nodes (0.0–1.0) that must succeed for the job to count as Completed.
    pub success_ratio: f64,
    /// When finished jobs are deleted.
    pub cleanup: Cleanup,
}

/// `manager.imageJob.cleanup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Cleanup {
    /// Delay before deleting a Completed job and its pods.
    pub delay_on_success: GoDuration,
    /// Delay before deleting a Failed job and its pods.
    pub delay_on_failure: GoDuration,
}

/// `manager.nodeFilter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeFilter {
    /// `exclude` (skip matching nodes) or `include` (only matching nodes).
    #[serde(rename = "type")]
    pub kind: NodeFilterType,
    /// Label selectors; a node matches when any selector matches.
    pub selectors: Vec<String>,
}

/// How [`NodeFilter::selectors`] are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NodeFilterType {
    /// Matching nodes are skipped.
    #[default]
    Exclude,
    /// Only matching nodes are cleaned.
    Include,
}

/// `components.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Components {
    /// The collector container (automatic mode).
    pub collector: Component,
    /// The scanner container (automatic mode).
    pub scanner: Component,
    /// The remover container (both modes).
    pub remover: Component,
}

/// One worker container's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Component {
    /// Whether the container runs (ignored for the remover, which always runs).
    pub enabled: bool,
    /// Its image.
    pub image: RepoTag,
    /// Resource requests.
    pub request: Resources,
    /// Resource limits (Drydock honours the CPU limit too).
    pub limit: Resources,
    /// Opaque configuration text (the scanner's YAML).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Extra volumes (scanner only; hostPath only, mounted read-only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Value>,
    /// Drydock's minimum image age (remover only, [`MINIMUM_AGE_KEY`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_age: Option<GoDuration>,
}

/// Where Drydock's minimum image age is configured.
pub const MINIMUM_AGE_KEY: &str = "components.remover.minimumAge";

/// The key of the scanner's YAML (`components.scanner.config`) that turns the in-use
/// vulnerability report on.
pub const REPORT_IN_USE_KEY: &str = "reportInUse";

/// Reads `reportInUse` from the scanner's configuration text. Text that is not a YAML mapping
/// reads as `false` here: the scanner reports it, naming the problem, as it always did.
///
/// # Errors
/// The key is there with a value other than `true`, `false` or empty: why, for people.
pub fn report_in_use(scanner_config: &str) -> std::result::Result<bool, String> {
    let Ok(Value::Object(document)) = serde_saphyr::from_str::<Value>(scanner_config) else {
        return Ok(false);
    };
    match document.get(REPORT_IN_USE_KEY) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(on)) => Ok(*on),
        Some(other) => Err(format!("expected true or false, got {other}")),
    }
}

/// An image as repository and tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RepoTag {
    /// Repository, e.g. `ghcr.io/drydock-dev/drydock`.
    pub repo: String,
    /// Tag.
    pub tag: String,
}

/// Memory and CPU quantities (Kubernetes quantity strings; `0` or empty means unset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Resources {
    /// Memory, e.g. `25Mi`.
    #[serde(deserialize_with = "quantity")]
    pub mem: String,
    /// CPU, e.g. `7m`.
    #[serde(deserialize_with = "quantity")]
    pub cpu: String,
}

/// Accepts a quantity written as a YAML string or number (`cpu: 0` is common).
fn quantity<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(text) => Ok(text),
        Value::Number(number) => Ok(number.to_string()),
        Value::Null => Ok(String::new()),
        other => Err(serde::de::Error::custom(format!(
            "expected a quantity, got {other}"
        ))),
    }
}

// === impl Components ===

impl Components {
    /// Whether the scanner's configuration asks for the in-use vulnerability report
    /// ([`REPORT_IN_USE_KEY`]) while the scanner runs. A bad value was refused by [`parse`].
    #[must_use]
    pub fn report_in_use(&self) -> bool {
        self.scanner.enabled
            && self
                .scanner
                .config
                .as_deref()
                .is_some_and(|text| report_in_use(text).unwrap_or(false))
    }

    /// The configured minimum image age, when one is set and not zero.
    #[must_use]
    pub fn minimum_age(&self) -> Option<GoDuration> {
        self.remover
            .minimum_age
            .filter(|age| *age != GoDuration::ZERO)
    }
}

// === impl Defaults ===

impl RuntimeName {
    /// The runtime's conventional socket, used when no address is given.
    #[must_use]
    pub const fn default_address(self) -> &'static str {
        match self {
            Self::Containerd => "unix:///run/containerd/containerd.sock",
            Self::Dockershim => "unix:///run/dockershim.sock",
            Self::Crio => "unix:///run/crio/crio.sock",
        }
    }

    /// The name as written in the configuration.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Containerd => "containerd",
            Self::Dockershim => "dockershim",
            Self::Crio => "crio",
        }
    }
}

impl fmt::Display for RuntimeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for Runtime {
    fn default() -> Self {
        let name = RuntimeName::default();
        Self {
            name,
            address: name.default_address().to_owned(),
        }
    }
}

impl Default for Manager {
    fn default() -> Self {
        Self {
            runtime: Runtime::default(),
            otlp_endpoint: String::new(),
            log_level: "info".to_owned(),
            scheduling: Scheduling::default(),
            profile: Profile::default(),
            image_job: ImageJobConfig::default(),
            pull_secrets: Vec::new(),
            priority_class_name: String::new(),
            additional_pod_labels: BTreeMap::new(),
            node_filter: NodeFilter::default(),
        }
    }
}

impl Default for Scheduling {
    fn default() -> Self {
        Self {
            repeat_interval: GoDuration::from_hours(24),
            begin_immediately: true,
        }
    }
}

impl Default for Profile {
    fn default() -> Self {
        // Eraser's default pprof port.
        Self {
            enabled: false,
            port: 6060,
        }
    }
}

impl Default for ImageJobConfig {
    fn default() -> Self {
        Self {
            success_ratio: 1.0,
            cleanup: Cleanup::default(),
        }
    }
}

impl Default for Cleanup {
    fn default() -> Self {
        Self {
            delay_on_success: GoDuration::ZERO,
            delay_on_failure: GoDuration::from_hours(24),
        }
    }
}

impl Default for NodeFilter {
    fn default() -> Self {
        Self {
            kind: NodeFilterType::Exclude,
            selectors: vec![crate::names::CLEANUP_FILTER_LABEL.to_owned()],
        }
    }
}

impl Default for RepoTag {
    fn default() -> Self {
        Self {
            repo: DEFAULT_IMAGE_REPO.to_owned(),
            tag: DEFAULT_IMAGE_TAG.to_owned(),
        }
    }
}

impl RepoTag {
    /// `repo:tag`, or `repo@tag` when the tag is a digest (`sha256:…`: an image pinned by
    /// digest, which a tag separator would make an invalid reference).
    #[must_use]
    pub fn reference(&self) -> String {
        if self.tag.contains(':') {
            format!("{}@{}", self.repo, self.tag)
        } else {
            format!("{}:{}", self.repo, self.tag)
        }
    }
}

fn resources(mem: &str, cpu: &str) -> Resources {
    Resources {
        mem: mem.to_owned(),
        cpu: cpu.to_owned(),
    }
}

impl Default for Components {
    fn default() -> Self {
        // Eraser's code defaults (api/unversioned/config/config.go): collector and scanner off,
        // requests and limits as upstream ships them.
        Self {
            collector: Component {
                enabled: false,
                request: resources("25Mi", "7m"),
                limit: resources("500Mi", ""),
                ..Component::default()
            },
            scanner: Component {
                enabled: false,
                request: resources("500Mi", "1000m"),
                limit: resources("2Gi", "1500m"),
                config: Some(DEFAULT_SCANNER_CONFIG.to_owned()),
                ..Component::default()
            },
            remover: Component {
                enabled: true,
                request: resources("25Mi", "7m"),
                limit: resources("30Mi", ""),
                ..Component::default()
            },
        }
    }
}

// === parsing ===

/// A parsed configuration plus what was accepted but ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The version the file was written in.
    pub api_version: ApiVersion,
    /// The folded configuration.
    pub config: Config,
    /// Keys that were accepted but ignored, one human-readable line each.
    pub warnings: Vec<String>,
}

impl ApiVersion {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "eraser.sh/v1alpha1" => Some(Self::V1alpha1),
            "eraser.sh/v1alpha2" => Some(Self::V1alpha2),
            "eraser.sh/v1alpha3" => Some(Self::V1alpha3),
            _ => None,
        }
    }
}

fn config_error(source_name: &str, message: impl Into<String>) -> Error {
    Error::Config {
        source_name: source_name.to_owned(),
        message: message.into(),
    }
}

/// Moves `components.eraser` (v1alpha1) to `components.remover`, and turns a string
/// `manager.runtime` (v1alpha1/2) into `{name, address}`.
fn upgrade_to_v1alpha3(
    root: &mut Map<String, Value>,
    version: ApiVersion,
    source_name: &str,
    warnings: &mut Vec<String>,
) -> Result<()> {
    if version == ApiVersion::V1alpha3 {
        return Ok(());
    }
    if let Some(Value::Object(components)) = root.get_mut("components")
        && version == ApiVersion::V1alpha1
        && let Some(eraser) = components.remove("eraser")
        && components.insert("remover".to_owned(), eraser).is_some()
    {
        warnings
            .push("components.remover is not a v1alpha1 key; components.eraser wins".to_owned());
    }
    if let Some(Value::Object(manager)) = root.get_mut("manager") {
        if manager.remove("additionalPodLabels").is_some() {
            warnings.push("manager.additionalPodLabels needs eraser.sh/v1alpha3; ignored".into());
        }
        match manager.get("runtime") {
            Some(Value::String(name)) => {
                let name: RuntimeName = serde_json::from_value(Value::String(name.clone()))
                    .map_err(|_| {
                        config_error(
                            source_name,
                            format!(
                                "manager.runtime: unknown runtime {name:?} (expected containerd, dockershim or crio)"
                            ),
                        )
                    })?;
                let runtime = Runtime {
                    name,
                    address: name.default_address().to_owned(),
                };
                let value = serde_json::to_value(runtime)
                    .map_err(|e| config_error(source_name, e.to_string()))?;
                manager.insert("runtime".to_owned(), value);
            }
            Some(Value::Object(_)) => {
                return Err(config_error(
                    source_name,
                    "manager.runtime: must be a string before eraser.sh/v1alpha3",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Parses an `EraserConfig` document. `source_name` (a path or `ConfigMap/key`) is named in
/// every error.
///
/// # Errors
/// [`Error::Config`] for invalid YAML, an unknown or missing `apiVersion`, a wrong `kind`, a
/// value of the wrong type (naming the key), or a value out of range.
pub fn parse(text: &str, source_name: &str) -> Result<Parsed> {
    let document: Value = serde_saphyr::from_str(text)
        .map_err(|e| config_error(source_name, format!("not valid YAML: {e}")))?;
    let Value::Object(mut root) = document else {
        return Err(config_error(
            source_name,
            "expected a mapping with apiVersion and kind",
        ));
    };
    let api_version = match root.remove("apiVersion") {
        Some(Value::String(text)) => ApiVersion::parse(&text).ok_or_else(|| {
            config_error(
                source_name,
                format!(
                    "unknown apiVersion {text:?} (expected eraser.sh/v1alpha1, eraser.sh/v1alpha2 or eraser.sh/v1alpha3)"
                ),
            )
        })?,
        Some(other) => {
            return Err(config_error(source_name, format!("apiVersion must be a string, got {other}")));
        }
        None => return Err(config_error(source_name, "apiVersion is missing")),
    };
    match root.remove("kind") {
        Some(Value::String(kind)) if kind == "EraserConfig" => {}
        None => {}
        Some(other) => {
            return Err(config_error(
                source_name,
                format!("kind must be EraserConfig, got {other}"),
            ));
        }
    }
    let mut warnings = Vec::new();
    upgrade_to_v1alpha3(&mut root, api_version, source_name, &mut warnings)?;

    // Go unmarshals onto the version's Default(): nested objects merge key by key, scalars and
    // lists replace. Merging onto the serialised defaults reproduces that exactly.
    let mut value = serde_json::to_value(Config::default())
        .map_err(|e| config_error(source_name, e.to_string()))?;
    merge_onto(&mut value, Value::Object(root));
    let mut ignored: Vec<String> = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| ignored.push(path.to_string());
    let ignoring = serde_ignored::Deserializer::new(&value, &mut record);
    let mut config: Config = serde_path_to_error::deserialize(ignoring).map_err(|e| {
        let path = e.path().to_string();
        config_error(source_name, format!("{path}: {}", e.into_inner()))
    })?;
    warnings.extend(
        ignored
            .into_iter()
            .map(|path| format!("unknown key {path} ignored")),
    );
    for (name, component) in [
        ("collector", &mut config.components.collector),
        ("scanner", &mut config.components.scanner),
    ] {
        if component.minimum_age.take().is_some() {
            warnings.push(format!(
                "components.{name}.minimumAge ignored (the minimum age is {MINIMUM_AGE_KEY})"
            ));
        }
    }
    validate(&mut config, source_name)?;
    if let Some(text) = &config.components.scanner.config
        && !config.components.scanner.enabled
        && report_in_use(text) == Ok(true)
    {
        warnings.push(format!(
            "components.scanner.config: {REPORT_IN_USE_KEY} has no effect while the scanner is disabled"
        ));
    }
    Ok(Parsed {
        api_version,
        config,
        warnings,
    })
}

/// Overlays `overlay` onto `base`: objects merge recursively, `null` keeps the base value,
/// everything else replaces.
fn merge_onto(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(slot) => merge_onto(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (_, Value::Null) => {}
        (slot, value) => *slot = value,
    }
}

fn validate(config: &mut Config, source_name: &str) -> Result<()> {
    let runtime = &mut config.manager.runtime;
    if runtime.address.is_empty() {
        runtime.address = runtime.name.default_address().to_owned();
    }
    let scheme_ok = runtime.address.starts_with("unix://") || runtime.address.starts_with('/');
    if !scheme_ok {
        return Err(config_error(
            source_name,
            format!(
                "manager.runtime.address: {:?} is not a unix socket (expected unix:///path)",
                runtime.address
            ),
        ));
    }
    let interval = config.manager.scheduling.repeat_interval;
    if interval < MIN_REPEAT_INTERVAL || interval > MAX_REPEAT_INTERVAL {
        return Err(config_error(
            source_name,
            format!(
                "manager.scheduling.repeatInterval: {interval} is outside {MIN_REPEAT_INTERVAL}..{MAX_REPEAT_INTERVAL}"
            ),
        ));
    }
    let ratio = config.manager.image_job.success_ratio;
    if !(0.0..=1.0).contains(&ratio) {
        return Err(config_error(
            source_name,
            format!("manager.imageJob.successRatio: {ratio} is outside 0.0..1.0"),
        ));
    }
    if let Some(age) = config.components.remover.minimum_age
        && age.is_negative()
    {
        return Err(config_error(
            source_name,
            format!("{MINIMUM_AGE_KEY}: {age} is negative"),
        ));
    }
    if let Some(text) = &config.components.scanner.config
        && let Err(why) = report_in_use(text)
    {
        return Err(config_error(
            source_name,
            format!("components.scanner.config: {REPORT_IN_USE_KEY}: {why}"),
        ));
    }
    let cleanup = &config.manager.image_job.cleanup;
    for (key, delay) in [
        ("delayOnSuccess", cleanup.delay_on_success),
        ("delayOnFailure", cleanup.delay_on_failure),
    ] {
        if delay.is_negative() {
            return Err(config_error(
                source_name,
                format!("manager.imageJob.cleanup.{key}: {delay} is negative"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file Eraser ships (`config/manager/controller_manager_config.yaml`, shape only).
    const SHIPPED_V1ALPHA3: &str = r#"
apiVersion: eraser.sh/v1alpha3
kind: EraserConfig
manager:
  runtime:
    name: containerd
    address: unix:///run/containerd/containerd.sock
  otlpEndpoint: ""
  logLevel: info
  scheduling:
    repeatInterval: 24h
    beginImmediately: true
  profile:
    enabled: false
    port: 6060
  imageJob:
    successRatio: 1.0
    cleanup:
      delayOnSuccess: 0s
      delayOnFailure: 24h
  pullSecrets: []
  priorityClassName: ""
  additionalPodLabels: {}
  nodeFilter:
    type: exclude
    selectors:
      - eraser.sh/cleanup.filter
      - kubernetes.io/os=windows
components:
  collector:
    enabled: true
    image:
      tag: v1.4.1
    request:
      mem: 25Mi
      cpu: 7m
    limit:
      mem: 500Mi
      cpu: 0
  scanner:
    enabled: true
    config: "deleteFailedImages: false\n"
  remover:
    request:
      mem: 25Mi
      cpu: 0
    limit:
      mem: 30Mi
      cpu: 0
"#;

    #[test]
    fn shipped_v1alpha3_file_parses_on_top_of_defaults() {
        let parsed = parse(SHIPPED_V1ALPHA3, "test").unwrap();
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let c = parsed.config;
        assert_eq!(parsed.api_version, ApiVersion::V1alpha3);
        assert!(c.components.collector.enabled);
        assert_eq!(c.components.collector.image.tag, "v1.4.1");
        assert_eq!(c.components.collector.image.repo, DEFAULT_IMAGE_REPO);
        assert_eq!(c.components.collector.limit.cpu, "0");
        assert_eq!(c.components.scanner.request.mem, "500Mi");
        assert_eq!(
            c.components.scanner.config.as_deref(),
            Some("deleteFailedImages: false\n")
        );
        assert_eq!(c.manager.node_filter.selectors.len(), 2);
        assert_eq!(
            c.manager.image_job.cleanup.delay_on_failure,
            GoDuration::from_hours(24)
        );
    }

    #[test]
    fn partial_file_keeps_defaults_and_lists_replace() {
        let text = "apiVersion: eraser.sh/v1alpha3\nkind: EraserConfig\nmanager:\n  nodeFilter:\n    selectors: [a=b]\n";
        let c = parse(text, "test").unwrap().config;
        assert_eq!(c.manager.node_filter.selectors, vec!["a=b"]);
        assert_eq!(c.manager.node_filter.kind, NodeFilterType::Exclude);
        assert_eq!(
            c.manager.scheduling.repeat_interval,
            GoDuration::from_hours(24)
        );
        assert!(!c.components.collector.enabled);
        assert_eq!(c.components.remover.limit.mem, "30Mi");
    }

    #[test]
    fn v1alpha1_eraser_component_and_string_runtime_fold_into_v1alpha3() {
        let text = "apiVersion: eraser.sh/v1alpha1\nkind: EraserConfig\nmanager:\n  runtime: crio\ncomponents:\n  eraser:\n    image:\n      repo: busybox\n      tag: \"1\"\n";
        let parsed = parse(text, "test").unwrap();
        assert_eq!(parsed.api_version, ApiVersion::V1alpha1);
        let c = parsed.config;
        assert_eq!(c.manager.runtime.name, RuntimeName::Crio);
        assert_eq!(c.manager.runtime.address, "unix:///run/crio/crio.sock");
        assert_eq!(c.components.remover.image.reference(), "busybox:1");
    }

    #[test]
    fn v1alpha2_partial_remover_image_is_the_hot_reload_case() {
        // Eraser's e2e `configmap_update` applies exactly this kind of partial v1alpha2 file.
        let text = "apiVersion: eraser.sh/v1alpha2\nkind: EraserConfig\ncomponents:\n  remover:\n    image:\n      repo: docker.io/library/busybox\n      tag: latest\n";
        let c = parse(text, "test").unwrap().config;
        assert_eq!(
            c.components.remover.image.reference(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(c.manager.runtime, Runtime::default());
    }

    #[test]
    fn unknown_keys_are_accepted_with_a_warning() {
        let text = "apiVersion: eraser.sh/v1alpha3\nkind: EraserConfig\nmanager:\n  colour: blue\n";
        let parsed = parse(text, "test").unwrap();
        assert_eq!(parsed.warnings, vec!["unknown key manager.colour ignored"]);
        let text = "apiVersion: eraser.sh/v1alpha2\nmanager:\n  additionalPodLabels: {a: b}\n";
        let parsed = parse(text, "test").unwrap();
        assert!(parsed.warnings[0].contains("additionalPodLabels"));
        assert!(parsed.config.manager.additional_pod_labels.is_empty());
    }

    #[test]
    fn the_minimum_age_is_drydocks_remover_key_and_absent_by_default() {
        assert_eq!(
            parse(SHIPPED_V1ALPHA3, "test")
                .unwrap()
                .config
                .components
                .minimum_age(),
            None
        );
        for version in ["v1alpha1", "v1alpha2", "v1alpha3"] {
            let component = if version == "v1alpha1" {
                "eraser"
            } else {
                "remover"
            };
            let text = format!(
                "apiVersion: eraser.sh/{version}\ncomponents:\n  {component}:\n    minimumAge: 90m\n"
            );
            let parsed = parse(&text, "test").unwrap();
            assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
            assert_eq!(
                parsed.config.components.minimum_age(),
                Some(GoDuration::from_secs(90 * 60)),
                "{version}"
            );
        }
        let zero = "apiVersion: eraser.sh/v1alpha3\ncomponents:\n  remover:\n    minimumAge: 0s\n";
        assert_eq!(
            parse(zero, "test").unwrap().config.components.minimum_age(),
            None
        );
        let misplaced =
            "apiVersion: eraser.sh/v1alpha3\ncomponents:\n  collector:\n    minimumAge: 1h\n";
        let parsed = parse(misplaced, "test").unwrap();
        assert_eq!(
            parsed.warnings,
            vec![
                "components.collector.minimumAge ignored (the minimum age is components.remover.minimumAge)"
            ]
        );
        assert_eq!(parsed.config.components.minimum_age(), None);
    }

    #[test]
    fn the_in_use_report_is_off_unless_the_scanner_config_asks_and_the_scanner_runs() {
        assert!(
            !parse(SHIPPED_V1ALPHA3, "test")
                .unwrap()
                .config
                .components
                .report_in_use()
        );
        assert!(!Config::default().components.report_in_use());
        let on = "apiVersion: eraser.sh/v1alpha3\ncomponents:\n  scanner:\n    enabled: true\n    config: |\n      reportInUse: true\n";
        let parsed = parse(on, "test").unwrap();
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        assert!(parsed.config.components.report_in_use());
        let off = on.replace("reportInUse: true", "reportInUse: false");
        assert!(
            !parse(&off, "test")
                .unwrap()
                .config
                .components
                .report_in_use()
        );
        let disabled = on.replace("enabled: true", "enabled: false");
        let parsed = parse(&disabled, "test").unwrap();
        assert!(!parsed.config.components.report_in_use());
        assert_eq!(
            parsed.warnings,
            vec![
                "components.scanner.config: reportInUse has no effect while the scanner is disabled"
            ]
        );
        // A scanner config that is no mapping is the scanner's to report, as before.
        assert_eq!(report_in_use("- a list"), Ok(false));
    }

    #[test]
    fn bad_input_names_the_source_and_the_key() {
        let cases = [
            (
                "apiVersion: eraser.sh/v9\n",
                "unknown apiVersion \"eraser.sh/v9\"",
            ),
            ("kind: EraserConfig\n", "apiVersion is missing"),
            (
                "apiVersion: eraser.sh/v1alpha3\nkind: Deployment\n",
                "kind must be EraserConfig",
            ),
            (
                "apiVersion: eraser.sh/v1alpha3\nmanager:\n  scheduling:\n    repeatInterval: 1d\n",
                "manager.scheduling.repeatInterval: invalid duration \"1d\"",
            ),
            (
                "apiVersion: eraser.sh/v1alpha3\nmanager:\n  scheduling:\n    repeatInterval: 10s\n",
                "repeatInterval: 10s is outside",
            ),
            (
                "apiVersion: eraser.sh/v1alpha3\nmanager:\n  scheduling:\n    repeatInterval: 2161h\n",
                "is outside",
            ),
            (
                "apiVersion: eraser.sh/v1alpha3\nmanager:\n  imageJob:\n    successRatio: 1.5\n",
                "successRatio: 1.5 is outside",
            ),
            (
                "apiVersion: eraser.sh/v1alpha3\nmanager:\n  imageJob:\n    successRatio: lots\n",
                "manager.imageJob.successRatio",
            ),
            (
                "apiVersion: eraser.sh/v1alpha3\nmanager:\n  nodeFilter:\n    type: maybe\n",
                "manager.nodeFilter.type",
            ),
            (
                "apiVersion: eraser.sh/v1alpha3\nmanager:\n  runtime:\n    name: podman\n",
                "manager.runtime.name",
            ),
            (
                "apiVersion: eraser.sh/v1alpha2\nmanager:\n  runtime: podman\n",
                "unknown runtime \"podman\"",
            ),
            (
                "apiVersion: eraser.sh/v1alpha3\nmanager:\n  runtime:\n    address: tcp://1.2.3.4:1\n",
                "is not a unix socket",
            ),
            (
                "apiVersion: eraser.sh/v1alpha3\nmanager:\n  imageJob:\n    cleanup:\n      delayOnFailure: -1h\n",
                "is negative",
            ),
            (
                "apiVersion: eraser.sh/v1alpha3\nmanager: [1, 2]\n",
                "manager",
            ),
            (
                "apiVersion: eraser.sh/v1alpha3\ncomponents:\n  remover:\n    minimumAge: 1d\n",
                "components.remover.minimumAge: invalid duration \"1d\"",
            ),
            (
                "apiVersion: eraser.sh/v1alpha3\ncomponents:\n  remover:\n    minimumAge: -5m\n",
                "components.remover.minimumAge: -5m",
            ),
            (
                "apiVersion: eraser.sh/v1alpha3\ncomponents:\n  remover:\n    minimumAge: [1h]\n",
                "components.remover.minimumAge",
            ),
            (
                "apiVersion: eraser.sh/v1alpha3\ncomponents:\n  scanner:\n    config: \"reportInUse: yes please\"\n",
                "components.scanner.config: reportInUse: expected true or false, got \"yes please\"",
            ),
            (
                "apiVersion: eraser.sh/v1alpha3\ncomponents:\n  scanner:\n    config: \"reportInUse: 1\"\n",
                "components.scanner.config: reportInUse: expected true or false, got 1",
            ),
            ("- a\n- b\n", "expected a mapping"),
            ("apiVersion: [\n", "not valid YAML"),
        ];
        for (text, expected) in cases {
            let err = parse(text, "ConfigMap/eraser-manager-config")
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("ConfigMap/eraser-manager-config: "),
                "{err}"
            );
            assert!(err.contains(expected), "{text:?}: {err} lacks {expected:?}");
        }
    }
}
