//! Reloading the configuration without a restart: the manager watches its ConfigMap
//! (`eraser-manager-config`, key `controller_manager_config.yaml`) through the API and swaps
//! the [`Context`]'s configuration when a new valid one arrives. A bad new configuration is
//! reported — a Warning Event on the ConfigMap and a log line naming the key — and the last
//! good one stays in force (Eraser crashed on some bad values and silently kept others).

use std::sync::Arc;

use drydock_api::config::{self, Config};
use drydock_api::names;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use tokio::sync::watch;

use super::{Context, EventKind, stopped};

/// Reason of the Warning Event about a rejected configuration.
pub const INVALID_CONFIG_REASON: &str = "InvalidConfig";
/// Reason of the Normal Event about an applied configuration.
pub const RELOADED_REASON: &str = "ConfigReloaded";

/// What to do with the ConfigMap's current content (pure).
#[derive(Debug, Clone, PartialEq)]
pub enum Reload {
    /// Same configuration as in force, or the same bad text already reported: nothing.
    Unchanged,
    /// A new valid configuration, with the warnings of its parse (unknown keys).
    Apply(Box<Config>, Vec<String>),
    /// A new invalid configuration: why.
    Reject(String),
}

/// Decides on the ConfigMap's `text` (the key's value, `None` when missing) given the
/// configuration in force and the last text rejected.
#[must_use]
pub fn decide(
    text: Option<&str>,
    source_name: &str,
    current: &Config,
    last_rejected: Option<&str>,
) -> Reload {
    let Some(text) = text else {
        let reason = format!("{source_name}: the key is missing");
        return if last_rejected == Some("") {
            Reload::Unchanged
        } else {
            Reload::Reject(reason)
        };
    };
    match config::parse(text, source_name) {
        Ok(parsed) if parsed.config == *current => Reload::Unchanged,
        Ok(parsed) => Reload::Apply(Box::new(parsed.config), parsed.warnings),
        Err(_) if last_rejected == Some(text) => Reload::Unchanged,
        Err(error) => Reload::Reject(error.to_string()),
    }
}

/// The state of the reload loop: the text last rejected (`""` for a missing key), so a
/// rejected ConfigMap is reported once per change, not on every resync.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadState {
    last_rejected: Option<String>,
}

/// Handles one observed version of the ConfigMap: applies, or reports and keeps the last good
/// configuration. Returns what was decided.
pub async fn handle(ctx: &Context, configmap: &ConfigMap, state: &mut ReloadState) -> Reload {
    let name = configmap.name_any();
    let source_name = format!("ConfigMap {name} key {}", names::MANAGER_CONFIG_KEY);
    let text = configmap
        .data
        .as_ref()
        .and_then(|data| data.get(names::MANAGER_CONFIG_KEY))
        .map(String::as_str);
    let decision = decide(
        text,
        &source_name,
        &ctx.config(),
        state.last_rejected.as_deref(),
    );
    match &decision {
        Reload::Unchanged => {}
        Reload::Apply(config, warnings) => {
            for warning in warnings {
                tracing::warn!(configmap = %name, %warning, "configuration key ignored");
            }
            ctx.set_config((**config).clone());
            state.last_rejected = None;
            tracing::info!(configmap = %name, "configuration reloaded");
            ctx.event(
                configmap.object_ref(&()),
                EventKind::Normal,
                RELOADED_REASON,
                "new configuration in force",
            )
            .await;
        }
        Reload::Reject(reason) => {
            state.last_rejected = Some(text.unwrap_or_default().to_owned());
            tracing::warn!(configmap = %name, %reason, "new configuration rejected; the last good one stays in force");
            ctx.event(
                configmap.object_ref(&()),
                EventKind::Warning,
                INVALID_CONFIG_REASON,
                &format!("{reason}; the last good configuration stays in force"),
            )
            .await;
        }
    }
    decision
}

/// Watches the ConfigMap `name` in the manager's namespace until `shutdown`, reloading on
/// every change.
pub async fn watch_configmap(ctx: Arc<Context>, name: String, shutdown: watch::Receiver<bool>) {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut state = ReloadState::default();
    let stream = watcher(api, config).default_backoff().applied_objects();
    let mut stream = std::pin::pin!(stream.take_until(stopped(shutdown)));
    while let Some(event) = stream.next().await {
        match event {
            Ok(configmap) => {
                handle(&ctx, &configmap, &mut state).await;
            }
            Err(error) => {
                tracing::warn!(configmap = %name, %error, "watching the configuration failed; retrying");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use drydock_kube::mock::{self, Exchange};
    use http::Method;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use serde_json::json;

    use super::*;
    use crate::manager::controller::tests::{NS, context};

    const GOOD: &str = "apiVersion: eraser.sh/v1alpha3\nkind: EraserConfig\nmanager:\n  imageJob:\n    successRatio: 0.9\n";
    const BAD: &str = "apiVersion: eraser.sh/v1alpha3\nkind: EraserConfig\nmanager:\n  scheduling:\n    repeatInterval: soon\n";

    fn configmap(text: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(names::MANAGER_CONFIGMAP.into()),
                namespace: Some(NS.into()),
                uid: Some("cm-uid".into()),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(
                names::MANAGER_CONFIG_KEY.to_owned(),
                text.to_owned(),
            )])),
            ..ConfigMap::default()
        }
    }

    fn event(kind: &str, reason: &str) -> Exchange {
        Exchange::new(
            Method::POST,
            format!("/api/v1/namespaces/{NS}/events?"),
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}}),
        )
        .with_body(json!({
            "type": kind, "reason": reason,
            "involvedObject": {"kind": "ConfigMap", "name": names::MANAGER_CONFIGMAP, "namespace": NS}
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn a_bad_new_config_is_reported_once_and_the_last_good_one_stays() {
        let (client, verifier) = mock::client(vec![
            event("Normal", RELOADED_REASON),
            event("Warning", INVALID_CONFIG_REASON),
        ]);
        let ctx = context(client, Config::default());
        let mut state = ReloadState::default();

        let applied = handle(&ctx, &configmap(GOOD), &mut state).await;
        assert!(matches!(applied, Reload::Apply(..)), "{applied:?}");
        assert!((ctx.config().manager.image_job.success_ratio - 0.9).abs() < f64::EPSILON);

        let rejected = handle(&ctx, &configmap(BAD), &mut state).await;
        let Reload::Reject(reason) = rejected else {
            panic!("{rejected:?}")
        };
        assert!(reason.contains("repeatInterval"), "{reason}");
        assert!(
            (ctx.config().manager.image_job.success_ratio - 0.9).abs() < f64::EPSILON,
            "the last good configuration stays"
        );
        // A resync of the same bad text reports nothing new.
        assert_eq!(
            handle(&ctx, &configmap(BAD), &mut state).await,
            Reload::Unchanged
        );
        // Nor does the good one already in force.
        assert_eq!(
            handle(&ctx, &configmap(GOOD), &mut state).await,
            Reload::Unchanged
        );
        verifier.finish().await;
    }

    #[test]
    fn a_missing_key_is_rejected_once() {
        let current = Config::default();
        assert!(matches!(
            decide(None, "cm", &current, None),
            Reload::Reject(r) if r.contains("missing")
        ));
        assert_eq!(decide(None, "cm", &current, Some("")), Reload::Unchanged);
    }
}
