//! Recording finished runs in the history ConfigMap `drydock-image-cleaner-history` (key
//! `history.json`, [`crate::manager::history::History`]).
//!
//! The write is a conditional replace (the resourceVersion read is sent back), retried on a
//! conflict, so two writers never lose each other's run. Recording is idempotent per job
//! ([`crate::manager::history::append`]): the ImageJob controller records a job (with per-node detail)
//! before it marks the job finished, and a retry after a failed status write changes nothing;
//! a second record of the same job only ever adds detail.

use std::collections::BTreeMap;

use drydock_api::names::state;
use drydock_kube::status::{ApiFailure, classify};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, ResourceExt};

use super::{Context, FIELD_MANAGER, MANAGED_BY_LABEL};
use crate::manager::history::{self, Handled, History, Limits, Run};
use crate::{Error, Result};

/// Attempts of the read-modify-write before giving up: a conflict means another writer
/// recorded a run in between, which happens at most once or twice per finished job.
pub const MAX_ATTEMPTS: usize = 5;

/// The history ConfigMap holding `history` and the ImageList bookkeeping `handled`, at
/// `resource_version` when replacing.
#[must_use]
pub fn history_configmap(
    namespace: &str,
    history: &History,
    handled: Option<&Handled>,
    resource_version: Option<String>,
) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(state::HISTORY_CONFIGMAP.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY_LABEL.0.to_owned(),
                MANAGED_BY_LABEL.1.to_owned(),
            )])),
            annotations: handled.map(|h| {
                BTreeMap::from([(
                    state::IMAGELIST_HANDLED_ANNOTATION.to_owned(),
                    h.to_annotation(),
                )])
            }),
            resource_version,
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            state::HISTORY_KEY.to_owned(),
            history.to_json(),
        )])),
        ..ConfigMap::default()
    }
}

/// The ImageList bookkeeping kept on the history ConfigMap (`None` when absent or unreadable).
#[must_use]
pub fn handled_of(configmap: &ConfigMap) -> Option<Handled> {
    configmap
        .annotations()
        .get(state::IMAGELIST_HANDLED_ANNOTATION)
        .and_then(|text| Handled::from_annotation(text))
}

/// Which bookkeeping to keep when `run` is recorded over `old`: the run's when it is for another
/// list (the old one was deleted and re-created) or a later generation of the same one.
#[must_use]
pub fn newer_handled(old: Option<Handled>, run: Option<&Handled>) -> Option<Handled> {
    match (old, run) {
        (Some(old), Some(new)) if old.uid == new.uid && old.generation > new.generation => {
            Some(old)
        }
        (_, Some(new)) => Some(new.clone()),
        (old, None) => old,
    }
}

/// The history and the ImageList bookkeeping, as stored (one read).
///
/// # Errors
/// [`Error::Kube`] when the read fails (an absent or unreadable history finds nothing).
pub async fn read(ctx: &Context) -> Result<(History, Option<Handled>)> {
    let current = stored(ctx).await?;
    let handled = current.as_ref().and_then(handled_of);
    Ok((
        History::parse(history_text(current.as_ref())).unwrap_or_default(),
        handled,
    ))
}

/// The history ConfigMap as stored, if there is one (one read).
async fn stored(ctx: &Context) -> Result<Option<ConfigMap>> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    api.get_opt(state::HISTORY_CONFIGMAP)
        .await
        .map_err(Error::kube("read the history ConfigMap"))
}

/// The history document in the stored ConfigMap.
fn history_text(stored: Option<&ConfigMap>) -> Option<&str> {
    stored
        .and_then(|cm| cm.data.as_ref())
        .and_then(|d| d.get(state::HISTORY_KEY))
        .map(String::as_str)
}

/// The run of `job` in the history, if it is there (one read).
///
/// # Errors
/// [`Error::Kube`] when the read fails (an absent or unreadable history finds nothing).
pub async fn find(ctx: &Context, job: &str) -> Result<Option<Run>> {
    let current = stored(ctx).await?;
    Ok(History::parse(history_text(current.as_ref()))
        .ok()
        .and_then(|h| h.runs.into_iter().rev().find(|r| r.job == job)))
}

/// Appends `run` to the history (get, then create or conditional replace; retried on a
/// conflict). A history that does not parse is logged and started afresh rather than blocking
/// every later record.
///
/// # Errors
/// [`Error::Kube`] when a call fails, or the conflicts outlast [`MAX_ATTEMPTS`].
pub async fn append(ctx: &Context, run: Run) -> Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let post = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = api
            .get_opt(state::HISTORY_CONFIGMAP)
            .await
            .map_err(Error::kube("read the history ConfigMap"))?;
        let old_handled = current.as_ref().and_then(handled_of);
        let handled = newer_handled(old_handled.clone(), run.imagelist.as_ref());
        let (old, resource_version) = match &current {
            Some(cm) => {
                let text = cm
                    .data
                    .as_ref()
                    .and_then(|d| d.get(state::HISTORY_KEY))
                    .map(String::as_str);
                let old = History::parse(text).unwrap_or_else(|error| {
                    tracing::warn!(%error, "history ConfigMap does not parse; starting a new history");
                    History::default()
                });
                (old, cm.metadata.resource_version.clone())
            }
            None => (History::default(), None),
        };
        let new = history::append(old.clone(), run.clone(), Limits::default());
        if current.is_some() && new == old && handled == old_handled {
            return Ok(());
        }
        let object = history_configmap(&ctx.namespace, &new, handled.as_ref(), resource_version);
        let written = if current.is_some() {
            api.replace(state::HISTORY_CONFIGMAP, &post, &object).await
        } else {
            api.create(&post, &object).await
        };
        match written {
            Ok(_) => {
                tracing::info!(imagejob = %run.job, runs = new.runs.len(), "recorded run in history");
                return Ok(());
            }
            Err(error) if classify(&error) == ApiFailure::Conflict && attempt < MAX_ATTEMPTS => {
                tracing::debug!(imagejob = %run.job, attempt, "history changed meanwhile; retrying");
            }
            Err(error) => return Err(Error::kube("write the history ConfigMap")(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use drydock_api::config::Config;
    use drydock_kube::mock::{self, Exchange};
    use http::Method;
    use serde_json::json;

    use super::*;
    use crate::manager::controller::tests::{NS, context};
    use crate::manager::history::{RunMode, RunPhase};

    pub(crate) fn run(job: &str) -> Run {
        Run {
            job: job.into(),
            mode: RunMode::Manual,
            started: "2026-03-01T02:00:00Z".parse().unwrap(),
            finished: "2026-03-01T03:00:00Z".parse().unwrap(),
            phase: RunPhase::Completed,
            desired: 1,
            succeeded: 1,
            failed: 0,
            skipped: 0,
            nodes: vec![],
            imagelist: None,
            dry_run: false,
        }
    }

    fn history_reply(runs: &[&str], rv: &str) -> serde_json::Value {
        let history = History {
            runs: runs.iter().map(|j| run(j)).collect(),
        };
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": state::HISTORY_CONFIGMAP, "namespace": NS, "resourceVersion": rv},
               "data": {"history.json": history.to_json()}})
    }

    fn path() -> String {
        format!(
            "/api/v1/namespaces/{NS}/configmaps/{}",
            state::HISTORY_CONFIGMAP
        )
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_record_creates_the_history() {
        let (client, verifier) = mock::client(vec![
            Exchange::new(Method::GET, path(), json!({})).failing(404, "NotFound", "not found"),
            Exchange::new(
                Method::POST,
                format!("/api/v1/namespaces/{NS}/configmaps?&fieldManager=drydock"),
                history_reply(&["imagejob-a"], "1"),
            )
            .with_body(json!({"metadata": {"name": state::HISTORY_CONFIGMAP},
                              "data": {"history.json": History { runs: vec![run("imagejob-a")] }.to_json()}})),
        ]);
        append(&context(client, Config::default()), run("imagejob-a"))
            .await
            .unwrap();
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_conflict_rereads_and_keeps_the_other_writers_run() {
        let both = History {
            runs: vec![run("imagejob-other"), run("imagejob-a")],
        };
        let (client, verifier) = mock::client(vec![
            Exchange::new(Method::GET, path(), history_reply(&[], "1")),
            Exchange::new(
                Method::PUT,
                format!("{}?&fieldManager=drydock", path()),
                json!({}),
            )
            .with_body(json!({"metadata": {"resourceVersion": "1"}}))
            .failing(409, "Conflict", "the object has been modified"),
            Exchange::new(Method::GET, path(), history_reply(&["imagejob-other"], "2")),
            Exchange::new(
                Method::PUT,
                format!("{}?&fieldManager=drydock", path()),
                history_reply(&["imagejob-other", "imagejob-a"], "3"),
            )
            .with_body(json!({"metadata": {"resourceVersion": "2"},
                              "data": {"history.json": both.to_json()}})),
        ]);
        append(&context(client, Config::default()), run("imagejob-a"))
            .await
            .unwrap();
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn recording_a_run_already_recorded_writes_nothing() {
        let (client, verifier) = mock::client(vec![Exchange::new(
            Method::GET,
            path(),
            history_reply(&["imagejob-a"], "1"),
        )]);
        append(&context(client, Config::default()), run("imagejob-a"))
            .await
            .unwrap();
        verifier.finish().await;
    }
}
