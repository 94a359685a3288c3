//! `drydock image-cleaner report`: the in-use vulnerability report the manager wrote for the
//! newest run that made one (ConfigMap `drydock-image-cleaner-report`), as a table for people
//! (one row per image: nodes, findings per severity, fixable) or the stored JSON for machines.

use anyhow::Context as _;
use drydock_api::names::state;
use drydock_cleaner::vulnreport::{ClusterReport, ReportedImage};
use drydock_vuln::Severity;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, Client};

use super::get_opt;
use crate::cmd::table;

/// Node names shown per image in the table; the JSON has up to the report's own limit.
const NODES_SHOWN: usize = 3;
/// Hex digits of an image ID shown in the table (as `crictl images` shows them).
const SHORT_ID_DIGITS: usize = 13;

/// The stored report, `None` when no run made one yet.
///
/// # Errors
/// The ConfigMap cannot be read, or its key holds something else than a report.
pub(crate) async fn read_report(
    client: &Client,
    ns: &str,
) -> anyhow::Result<Option<ClusterReport>> {
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let Some(cm) = get_opt(&configmaps, state::REPORT_CONFIGMAP).await? else {
        return Ok(None);
    };
    let Some(text) = cm.data.as_ref().and_then(|d| d.get(state::REPORT_KEY)) else {
        return Ok(None);
    };
    ClusterReport::parse(text).map(Some).with_context(|| {
        format!(
            "ConfigMap {ns}/{} key {}: not an in-use vulnerability report",
            state::REPORT_CONFIGMAP,
            state::REPORT_KEY
        )
    })
}

/// The severities as columns, the most severe first.
const COLUMNS: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Unknown,
];

fn nodes_cell(image: &ReportedImage) -> String {
    let shown: Vec<&str> = image
        .nodes
        .iter()
        .take(NODES_SHOWN)
        .map(String::as_str)
        .collect();
    let more = image.node_count.saturating_sub(shown.len());
    if more > 0 {
        format!("{} ({}, +{more})", image.node_count, shown.join(", "))
    } else {
        format!("{} ({})", image.node_count, shown.join(", "))
    }
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..SHORT_ID_DIGITS).unwrap_or(hex)
}

/// The report as a table: a headline, one row per image, then what was left out.
pub(crate) fn render_report(report: Option<&ClusterReport>) -> String {
    let Some(report) = report else {
        return "no in-use vulnerability report yet (set reportInUse: true in \
                components.scanner.config; the next automatic run writes one)\n"
            .to_owned();
    };
    let by_severity: Vec<String> = COLUMNS
        .iter()
        .map(|s| {
            let count = report.vulnerable_by_severity.get(s).copied().unwrap_or(0);
            format!("{} {count}", s.to_string().to_lowercase())
        })
        .collect();
    let mut out = format!(
        "run {} finished {}: {} node(s) reported, {} image(s) in use scanned ({} failed), \
         {} vulnerable ({})\n",
        report.job,
        report.finished,
        report.nodes,
        report.in_use_scanned,
        report.in_use_failed,
        report.vulnerable,
        by_severity.join(", "),
    );
    if report.images.is_empty() {
        out.push_str("no vulnerable image in use\n");
    } else {
        let rows: Vec<[String; 10]> = report
            .images
            .iter()
            .map(|image| {
                let count =
                    |s: Severity| image.severities.get(&s).copied().unwrap_or(0).to_string();
                [
                    image.names.first().unwrap_or(&image.id).clone(),
                    short_id(&image.id).to_owned(),
                    nodes_cell(image),
                    count(Severity::Critical),
                    count(Severity::High),
                    count(Severity::Medium),
                    count(Severity::Low),
                    count(Severity::Unknown),
                    if image.fixable { "yes" } else { "no" }.to_owned(),
                    if image.eol { "OS end-of-life" } else { "" }.to_owned(),
                ]
            })
            .collect();
        out.push_str(&table::render(
            [
                "IMAGE", "ID", "NODES", "CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN", "FIXABLE",
                "NOTES",
            ],
            &rows,
        ));
    }
    if report.omitted > 0 {
        out.push_str(&format!(
            "{} less severe image(s) not listed (the report's size limit)\n",
            report.omitted
        ));
    }
    if !report.nodes_trimmed.is_empty() {
        out.push_str(&format!(
            "node(s) {} reported only their most severe images (the termination message's size limit)\n",
            report.nodes_trimmed.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use drydock_cleaner::vulnreport::{InUseImage, NodeReport, fold};
    use drydock_kube::mock::{self, Exchange};
    use http::Method;
    use serde_json::json;

    use super::*;

    const NS: &str = "kube-system";

    fn image(id: &str, name: &str, severities: &[(Severity, u32)], fixable: bool) -> InUseImage {
        InUseImage {
            id: id.into(),
            names: vec![name.into()],
            severities: severities.iter().copied().collect(),
            fixable,
            eol: false,
        }
    }

    fn sample() -> ClusterReport {
        let shared = image(
            "sha256:4f8e2a6c1d3b5e7f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f",
            "registry.example/shop/web:2.1",
            &[(Severity::Critical, 1), (Severity::High, 3)],
            true,
        );
        let mut eol = image(
            "sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
            "registry.example/legacy/batch:1",
            &[(Severity::Low, 2)],
            false,
        );
        eol.eol = true;
        let nodes: Vec<(String, NodeReport)> = (1..=5)
            .map(|n| {
                let mut images = vec![shared.clone()];
                if n == 2 {
                    images.push(eol.clone());
                }
                (
                    format!("node-{n}"),
                    NodeReport::new(7, usize::from(n == 3), images),
                )
            })
            .collect();
        fold(
            "imagejob-7xk2q",
            "2026-11-03T02:00:00Z".parse().unwrap(),
            nodes.iter().map(|(n, r)| (n.as_str(), r)),
        )
    }

    #[test]
    fn the_table_shows_each_image_with_its_nodes_counts_and_fixability() {
        let expected = "\
run imagejob-7xk2q finished 2026-11-03T02:00:00Z: 5 node(s) reported, 35 image(s) in use scanned (1 failed), 2 vulnerable (critical 1, high 1, medium 0, low 1, unknown 0)
IMAGE                            ID             NODES                           CRITICAL  HIGH  MEDIUM  LOW  UNKNOWN  FIXABLE  NOTES
registry.example/shop/web:2.1    4f8e2a6c1d3b5  5 (node-1, node-2, node-3, +2)  1         3     0       0    0        yes
registry.example/legacy/batch:1  0a1b2c3d4e5f6  1 (node-2)                      0         0     0       2    0        no       OS end-of-life
";
        assert_eq!(render_report(Some(&sample())), expected);
    }

    #[test]
    fn the_table_says_what_was_left_out_and_when_there_is_nothing() {
        let mut report = sample();
        report.omitted = 4;
        report.nodes_trimmed = vec!["node-9".into()];
        let text = render_report(Some(&report));
        assert!(
            text.ends_with(
                "4 less severe image(s) not listed (the report's size limit)\n\
                 node(s) node-9 reported only their most severe images (the termination message's size limit)\n"
            ),
            "{text}"
        );
        report.images.clear();
        assert!(render_report(Some(&report)).contains("\nno vulnerable image in use\n"));
        assert!(render_report(None).starts_with("no in-use vulnerability report yet"));
    }

    #[test]
    fn the_json_is_the_stored_report_per_image_with_nodes_counts_and_fixable() {
        let value = serde_json::to_value(sample()).unwrap();
        assert_eq!(
            value["images"][0],
            json!({
                "id": "sha256:4f8e2a6c1d3b5e7f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f",
                "names": ["registry.example/shop/web:2.1"],
                "nodes": ["node-1", "node-2", "node-3", "node-4", "node-5"],
                "nodeCount": 5,
                "severities": {"HIGH": 3, "CRITICAL": 1},
                "fixable": true,
            })
        );
        assert_eq!(value["vulnerableBySeverity"]["CRITICAL"], 1);
    }

    fn get_report() -> Exchange {
        Exchange::new(
            Method::GET,
            format!(
                "/api/v1/namespaces/{NS}/configmaps/{}",
                state::REPORT_CONFIGMAP
            ),
            json!({}),
        )
    }

    fn configmap(text: &str) -> serde_json::Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": state::REPORT_CONFIGMAP, "namespace": NS},
               "data": {state::REPORT_KEY: text}})
    }

    #[tokio::test(start_paused = true)]
    async fn the_report_is_read_from_its_configmap_in_one_call() {
        let stored = sample();
        let mut exchange = get_report();
        exchange.reply = configmap(&stored.to_json());
        let (client, verifier) = mock::client(vec![exchange]);
        assert_eq!(read_report(&client, NS).await.unwrap(), Some(stored));
        verifier.finish().await;
    }

    #[tokio::test(start_paused = true)]
    async fn no_configmap_means_no_report_and_a_broken_one_is_named() {
        let mut broken = get_report();
        broken.reply = configmap("{\"job\": 1}");
        let (client, verifier) =
            mock::client(vec![get_report().failing(404, "NotFound", "nf"), broken]);
        assert_eq!(read_report(&client, NS).await.unwrap(), None);
        let error = format!("{:#}", read_report(&client, NS).await.unwrap_err());
        assert!(
            error.starts_with(
                "ConfigMap kube-system/drydock-image-cleaner-report key report.json: not an in-use vulnerability report"
            ),
            "{error}"
        );
        verifier.finish().await;
    }
}
