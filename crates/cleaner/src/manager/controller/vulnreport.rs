//! Recording a finished run's in-use vulnerability report: the scanners' termination messages
//! folded per image ([`crate::vulnreport::fold`]) into ConfigMap `drydock-image-cleaner-report`
//! (key `report.json`), replacing the last run's, and the gauge
//! `drydock_image_cleaner_vulnerable_images_in_use{severity}` set from it.
//!
//! A run whose scanners wrote no report (the report is off, or every scanner failed) changes
//! nothing: the last report stays with its job name and time. The write is one server-side
//! apply; when it fails the run is still recorded (history, metrics, Event) and the failure is
//! logged: the report is secondary to the run, and the next run writes a new one.

use std::collections::BTreeMap;

use drydock_api::names::state;
use drydock_vuln::Severity;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::{Context, FIELD_MANAGER, MANAGED_BY_LABEL};
use crate::manager::cached::WorkerPod;
use crate::manager::fold::scanner_report;
use crate::manager::metrics::SeverityLabels;
use crate::vulnreport::{ClusterReport, NodeReport, fold};

/// The report of run `job` from its worker pods, when any scanner wrote one.
#[must_use]
pub fn report_of<'a>(
    job: &str,
    finished: Timestamp,
    pods: impl IntoIterator<Item = &'a WorkerPod>,
) -> Option<ClusterReport> {
    let reports: Vec<(String, NodeReport)> = pods
        .into_iter()
        .filter_map(|pod| Some((pod.node.clone()?, scanner_report(pod)?)))
        .collect();
    if reports.is_empty() {
        return None;
    }
    Some(fold(
        job,
        finished,
        reports.iter().map(|(node, report)| (node.as_str(), report)),
    ))
}

/// The report ConfigMap holding `report`.
#[must_use]
pub fn report_configmap(namespace: &str, report: &ClusterReport) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(state::REPORT_CONFIGMAP.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY_LABEL.0.to_owned(),
                MANAGED_BY_LABEL.1.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            state::REPORT_KEY.to_owned(),
            report.to_json(),
        )])),
        ..ConfigMap::default()
    }
}

/// Sets the gauge to `report`'s counts, every severity (zero included).
pub fn set_gauge(ctx: &Context, report: &ClusterReport) {
    for severity in Severity::ALL {
        let count = report
            .vulnerable_by_severity
            .get(&severity)
            .copied()
            .unwrap_or(0);
        ctx.metrics
            .vulnerable_images_in_use
            .get_or_create(&SeverityLabels {
                severity: severity.to_string(),
            })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}

/// Records the in-use report of a finished run, when its scanners wrote one: the ConfigMap
/// replaced (one server-side apply) and the gauge set. Never fails the run: a failed write is
/// logged.
pub async fn record(ctx: &Context, job: &str, pods: &[std::sync::Arc<WorkerPod>]) {
    let Some(report) = report_of(job, ctx.now(), pods.iter().map(AsRef::as_ref)) else {
        return;
    };
    set_gauge(ctx, &report);
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let object = report_configmap(&ctx.namespace, &report);
    match api
        .patch(state::REPORT_CONFIGMAP, &params, &Patch::Apply(&object))
        .await
    {
        Ok(_) => tracing::info!(
            imagejob = %job,
            nodes = report.nodes,
            vulnerable = report.vulnerable,
            listed = report.images.len(),
            "recorded the in-use vulnerability report"
        ),
        Err(error) => tracing::warn!(
            imagejob = %job,
            %error,
            "could not write the in-use vulnerability report; the last one stays"
        ),
    }
}
