//! The in-use vulnerability report (Drydock's; Eraser reports only what it removes): which
//! images that are in use are vulnerable, per node from the scanner and per cluster from the
//! manager. Off unless the scanner's configuration says `reportInUse: true`.
//!
//! - Node: the collector hands the scanner the images in use, marked on the pipe
//!   (`drydock_in_use`); the scanner scans them after the removal candidates, never hands them
//!   to the remover, and writes a [`NodeReport`] (per image: ID, names, finding counts per
//!   severity, whether any finding has a fix) as its termination message, within the kubelet's
//!   4 KiB: the least severe images are left out first, so the trimming is the same whatever
//!   order the images were scanned in.
//! - Cluster: the ImageJob controller folds the nodes' reports per image ([`fold`]) into a
//!   [`ClusterReport`] in ConfigMap `drydock-image-cleaner-report` (the newest run that made a
//!   report replaces the last), bounded the same way; `drydock image-cleaner report` reads it
//!   and the manager's gauge `drydock_image_cleaner_vulnerable_images_in_use{severity}` counts
//!   its images per severity.
//!
//! Pure: no IO, no clock (the finishing time is an argument).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use drydock_vuln::{FixStatus, Severity, Verdict};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::report::TERMINATION_MESSAGE_LIMIT;

/// Names kept per image: the first few identify it; every tag of a much re-tagged image would
/// crowd other images out of the 4 KiB termination message.
pub const MAX_NAMES_PER_IMAGE: usize = 3;
/// Node names listed per image in the cluster report (all are counted): an image every node
/// runs (a DaemonSet's) would otherwise list thousands of names.
pub const MAX_NODES_LISTED: usize = 20;
/// Images in the cluster report at most, the most severe first (all are counted).
pub const MAX_CLUSTER_IMAGES: usize = 1_000;
/// Bytes of the cluster report's JSON at most: a ConfigMap holds 1 MiB in all, and its
/// metadata needs some of it.
pub const CLUSTER_REPORT_LIMIT: usize = 900 * 1024;

/// Findings per severity; severities without findings are absent.
pub type SeverityCounts = BTreeMap<Severity, u32>;

/// One vulnerable image in use on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InUseImage {
    /// The image ID (the config digest: the same content has the same ID on every node).
    pub id: String,
    /// Its names, at most [`MAX_NAMES_PER_IMAGE`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Findings per severity (those the scanner's `severities` and statuses let count).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub severities: SeverityCounts,
    /// Whether any finding has a fixed version: rebuilding the image would help.
    pub fixable: bool,
    /// Whether its OS is end-of-life (and `deleteEOLImages` makes that count).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub eol: bool,
}

/// What the scanner of one node reports about the images in use: its termination message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeReport {
    /// Images in use the scanner was handed.
    pub in_use_scanned: usize,
    /// Of those, the ones whose scan failed (not in `images`).
    pub in_use_failed: usize,
    /// The vulnerable (or end-of-life) ones, the most severe first.
    pub images: Vec<InUseImage>,
    /// Vulnerable images left out of `images` to fit the termination message.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted: usize,
}

/// One vulnerable image in use across the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportedImage {
    /// The image ID.
    pub id: String,
    /// Its names on the nodes, at most [`MAX_NAMES_PER_IMAGE`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// The nodes running it, sorted, at most [`MAX_NODES_LISTED`].
    pub nodes: Vec<String>,
    /// How many nodes run it.
    pub node_count: usize,
    /// Findings per severity (the largest count any node reported: nodes scan with the same
    /// index, but one may hold an older copy).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub severities: SeverityCounts,
    /// Whether any finding has a fixed version.
    pub fixable: bool,
    /// Whether its OS is end-of-life.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub eol: bool,
}

/// The report of one run, folded over its nodes: the content of ConfigMap
/// `drydock-image-cleaner-report`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterReport {
    /// The ImageJob of the run.
    pub job: String,
    /// When the run finished.
    pub finished: Timestamp,
    /// Nodes whose scanner reported.
    pub nodes: usize,
    /// In-use image scans, summed over the nodes.
    pub in_use_scanned: usize,
    /// Of those, the failed ones.
    pub in_use_failed: usize,
    /// Distinct vulnerable images in use (including any left out of `images`).
    pub vulnerable: usize,
    /// Distinct images in use with at least one finding of each severity (including any left
    /// out of `images`): the gauge's values.
    pub vulnerable_by_severity: BTreeMap<Severity, usize>,
    /// The images, the most severe first.
    pub images: Vec<ReportedImage>,
    /// Images left out of `images` to fit the ConfigMap.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted: usize,
    /// Nodes whose own report left images out to fit their termination message: those images
    /// are missing here and from the counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes_trimmed: Vec<String>,
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The sort key putting the most severe images first: more critical findings, then more high,
/// and so on down to unknown; then end-of-life; then the ID, so the order is total.
fn rank<'a>(
    severities: &SeverityCounts,
    eol: bool,
    id: &'a str,
) -> (Reverse<[u32; 5]>, Reverse<bool>, &'a str) {
    let counts = Severity::ALL.map(|s| severities.get(&s).copied().unwrap_or(0));
    // ALL runs from UNKNOWN up to CRITICAL: reversed, the most severe count compares first.
    let [unknown, low, medium, high, critical] = counts;
    (
        Reverse([critical, high, medium, low, unknown]),
        Reverse(eol),
        id,
    )
}

/// The report entry of an in-use image scanned to `verdict`: `None` unless it is vulnerable or
/// end-of-life.
#[must_use]
pub fn entry(image: &drydock_api::Image, verdict: &Verdict) -> Option<InUseImage> {
    let Verdict::NonCompliant { findings, eol } = verdict else {
        return None;
    };
    let mut severities = SeverityCounts::new();
    for finding in findings {
        *severities.entry(finding.severity).or_default() += 1;
    }
    Some(InUseImage {
        id: image.image_id.clone(),
        names: image
            .names
            .iter()
            .take(MAX_NAMES_PER_IMAGE)
            .cloned()
            .collect(),
        severities,
        fixable: findings.iter().any(|f| f.status == FixStatus::Fixed),
        eol: *eol,
    })
}

// === impl NodeReport ===

impl NodeReport {
    /// The report of `scanned` in-use images of which `failed` failed and `images` are
    /// vulnerable: sorted most severe first, and trimmed from the least severe end until its
    /// JSON fits [`TERMINATION_MESSAGE_LIMIT`].
    #[must_use]
    pub fn new(scanned: usize, failed: usize, mut images: Vec<InUseImage>) -> Self {
        images.sort_by(|a, b| {
            rank(&a.severities, a.eol, &a.id).cmp(&rank(&b.severities, b.eol, &b.id))
        });
        let mut report = Self {
            in_use_scanned: scanned,
            in_use_failed: failed,
            images,
            omitted: 0,
        };
        while encoded_len(&report) > TERMINATION_MESSAGE_LIMIT && report.images.pop().is_some() {
            report.omitted += 1;
        }
        report
    }

    /// The report in a scanner's termination message, if the message is one (a scanner
    /// without the report on writes none; another scanner image may write anything).
    #[must_use]
    pub fn from_message(message: &str) -> Option<Self> {
        serde_json::from_str(message).ok()
    }
}

fn encoded_len<T: Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len())
}

// === impl ClusterReport ===

/// Folds the nodes' reports of run `job`, finished at `finished`, per image: the nodes running
/// each, its counts, whether fixable. The same input in any order gives the same report.
#[must_use]
pub fn fold<'a>(
    job: &str,
    finished: Timestamp,
    reports: impl IntoIterator<Item = (&'a str, &'a NodeReport)>,
) -> ClusterReport {
    let mut reports: Vec<(&str, &NodeReport)> = reports.into_iter().collect();
    reports.sort_by_key(|(node, _)| *node);
    let mut merged: BTreeMap<&str, (ReportedImage, BTreeSet<&str>)> = BTreeMap::new();
    let mut report = ClusterReport {
        job: job.to_owned(),
        finished,
        nodes: reports.len(),
        in_use_scanned: 0,
        in_use_failed: 0,
        vulnerable: 0,
        vulnerable_by_severity: Severity::ALL.iter().map(|s| (*s, 0)).collect(),
        images: Vec::new(),
        omitted: 0,
        nodes_trimmed: Vec::new(),
    };
    for (node, node_report) in &reports {
        report.in_use_scanned += node_report.in_use_scanned;
        report.in_use_failed += node_report.in_use_failed;
        if node_report.omitted > 0 {
            report.nodes_trimmed.push((*node).to_owned());
        }
        for image in &node_report.images {
            let (entry, nodes) = merged.entry(image.id.as_str()).or_insert_with(|| {
                (
                    ReportedImage {
                        id: image.id.clone(),
                        names: Vec::new(),
                        nodes: Vec::new(),
                        node_count: 0,
                        severities: SeverityCounts::new(),
                        fixable: false,
                        eol: false,
                    },
                    BTreeSet::new(),
                )
            });
            nodes.insert(*node);
            for name in &image.names {
                if entry.names.len() < MAX_NAMES_PER_IMAGE && !entry.names.contains(name) {
                    entry.names.push(name.clone());
                }
            }
            for (severity, count) in &image.severities {
                let slot = entry.severities.entry(*severity).or_default();
                *slot = (*slot).max(*count);
            }
            entry.fixable |= image.fixable;
            entry.eol |= image.eol;
        }
    }
    let mut images: Vec<ReportedImage> = merged
        .into_values()
        .map(|(mut image, nodes)| {
            image.node_count = nodes.len();
            image.nodes = nodes
                .into_iter()
                .take(MAX_NODES_LISTED)
                .map(str::to_owned)
                .collect();
            image
        })
        .collect();
    report.vulnerable = images.len();
    for image in &images {
        for severity in image.severities.keys() {
            *report.vulnerable_by_severity.entry(*severity).or_default() += 1;
        }
    }
    images
        .sort_by(|a, b| rank(&a.severities, a.eol, &a.id).cmp(&rank(&b.severities, b.eol, &b.id)));
    report.omitted = images.len().saturating_sub(MAX_CLUSTER_IMAGES);
    images.truncate(MAX_CLUSTER_IMAGES);
    report.images = images;
    while encoded_len(&report) > CLUSTER_REPORT_LIMIT && report.images.pop().is_some() {
        report.omitted += 1;
    }
    report
}

impl ClusterReport {
    /// The report as stored in the ConfigMap.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The stored report.
    ///
    /// # Errors
    /// The text is not a report.
    pub fn parse(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use drydock_vuln::Finding;

    use super::*;

    fn finding(severity: Severity, status: FixStatus) -> Finding {
        Finding {
            id: "CVE-2099-0001".into(),
            aliases: vec![],
            package: "libssl3".into(),
            source_package: "openssl".into(),
            installed: "1".into(),
            compared_version: "1".into(),
            fixed: None,
            severity,
            status,
        }
    }

    fn image(id: &str, names: &[&str]) -> drydock_api::Image {
        drydock_api::Image {
            image_id: id.into(),
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            digests: vec![],
            in_use: true,
        }
    }

    fn vulnerable(id: &str, severities: &[(Severity, u32)], fixable: bool) -> InUseImage {
        InUseImage {
            id: id.into(),
            names: vec![format!("registry.example/{id}:1")],
            severities: severities.iter().copied().collect(),
            fixable,
            eol: false,
        }
    }

    #[test]
    fn an_entry_counts_findings_per_severity_and_says_whether_any_has_a_fix() {
        let verdict = Verdict::NonCompliant {
            findings: vec![
                finding(Severity::High, FixStatus::Affected),
                finding(Severity::High, FixStatus::Fixed),
                finding(Severity::Low, FixStatus::Affected),
            ],
            eol: false,
        };
        let names = ["a:1", "a:2", "a:3", "a:4"];
        let entry = entry(&image("sha256:a", &names), &verdict).unwrap();
        assert_eq!(
            entry.severities,
            SeverityCounts::from([(Severity::High, 2), (Severity::Low, 1)])
        );
        assert!(entry.fixable);
        assert_eq!(entry.names, ["a:1", "a:2", "a:3"]);
        let unfixed = Verdict::NonCompliant {
            findings: vec![finding(Severity::Critical, FixStatus::Affected)],
            eol: false,
        };
        assert!(
            !super::entry(&image("sha256:b", &[]), &unfixed)
                .unwrap()
                .fixable
        );
        for clean in [
            Verdict::Ok,
            Verdict::failed("x"),
            Verdict::Unscannable { reason: "y".into() },
        ] {
            assert_eq!(super::entry(&image("sha256:c", &[]), &clean), None);
        }
        let eol = Verdict::NonCompliant {
            findings: vec![],
            eol: true,
        };
        assert!(super::entry(&image("sha256:d", &[]), &eol).unwrap().eol);
    }

    #[test]
    fn a_node_report_is_most_severe_first_and_serialises_severities_by_name() {
        let report = NodeReport::new(
            3,
            0,
            vec![
                vulnerable("sha256:low", &[(Severity::Low, 5)], false),
                vulnerable("sha256:crit", &[(Severity::Critical, 1)], true),
                vulnerable(
                    "sha256:high",
                    &[(Severity::High, 9), (Severity::Low, 1)],
                    false,
                ),
            ],
        );
        let ids: Vec<&str> = report.images.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["sha256:crit", "sha256:high", "sha256:low"]);
        let text = serde_json::to_string(&report).unwrap();
        assert!(
            text.contains(r#""severities":{"LOW":1,"HIGH":9}"#),
            "{text}"
        );
        assert_eq!(NodeReport::from_message(&text), Some(report));
        assert_eq!(NodeReport::from_message("{\"removed\":1}"), None);
        assert_eq!(NodeReport::from_message("not json"), None);
    }

    #[test]
    fn a_node_report_fits_the_termination_message_dropping_the_least_severe_whatever_the_order() {
        let images: Vec<InUseImage> = (0..200)
            .map(|i| {
                let severity = Severity::ALL[i % Severity::ALL.len()];
                vulnerable(&format!("sha256:{i:064}"), &[(severity, 1)], i % 2 == 0)
            })
            .collect();
        let report = NodeReport::new(200, 0, images.clone());
        assert!(serde_json::to_vec(&report).unwrap().len() <= TERMINATION_MESSAGE_LIMIT);
        assert!(report.omitted > 0);
        assert_eq!(report.images.len() + report.omitted, 200);
        assert!(
            report
                .images
                .iter()
                .all(|i| i.severities.contains_key(&Severity::Critical)),
            "the kept images are the critical ones"
        );
        let mut reversed = images;
        reversed.reverse();
        assert_eq!(NodeReport::new(200, 0, reversed), report);
    }

    fn node_report(images: Vec<InUseImage>) -> NodeReport {
        NodeReport::new(images.len() + 1, 1, images)
    }

    fn finished() -> Timestamp {
        "2026-03-01T03:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_cluster_fold_lists_each_image_once_with_its_nodes() {
        let shared = vulnerable("sha256:shared", &[(Severity::High, 2)], false);
        let mut newer = shared.clone();
        // A node with a newer index knows one more finding, with a fix.
        newer.severities.insert(Severity::High, 3);
        newer.fixable = true;
        newer.names = vec!["registry.example/alias:1".into()];
        let a = node_report(vec![shared.clone()]);
        let b = node_report(vec![
            newer,
            vulnerable("sha256:only-b", &[(Severity::Critical, 1)], false),
        ]);
        let c = node_report(vec![]);
        let report = fold(
            "imagejob-x",
            finished(),
            [("node-b", &b), ("node-a", &a), ("node-c", &c)],
        );
        assert_eq!(report.nodes, 3);
        assert_eq!(report.in_use_scanned, 2 + 3 + 1);
        assert_eq!(report.in_use_failed, 3);
        assert_eq!(report.vulnerable, 2);
        assert_eq!(report.vulnerable_by_severity[&Severity::High], 1);
        assert_eq!(report.vulnerable_by_severity[&Severity::Critical], 1);
        assert_eq!(report.vulnerable_by_severity[&Severity::Low], 0);
        let ids: Vec<&str> = report.images.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["sha256:only-b", "sha256:shared"]);
        let shared = &report.images[1];
        assert_eq!(shared.nodes, ["node-a", "node-b"]);
        assert_eq!(shared.node_count, 2);
        assert_eq!(shared.severities[&Severity::High], 3);
        assert!(shared.fixable);
        assert_eq!(
            shared.names,
            [
                "registry.example/sha256:shared:1",
                "registry.example/alias:1"
            ]
        );
        // Any order of the same reports gives the same report.
        assert_eq!(
            fold(
                "imagejob-x",
                finished(),
                [("node-c", &c), ("node-a", &a), ("node-b", &b)]
            ),
            report
        );
        assert_eq!(ClusterReport::parse(&report.to_json()).unwrap(), report);
    }

    #[test]
    fn an_image_on_every_node_lists_some_nodes_and_counts_all() {
        let image = vulnerable("sha256:daemon", &[(Severity::Medium, 1)], false);
        let reports: Vec<(String, NodeReport)> = (0..500)
            .map(|n| (format!("node-{n:04}"), node_report(vec![image.clone()])))
            .collect();
        let report = fold(
            "imagejob-x",
            finished(),
            reports.iter().map(|(n, r)| (n.as_str(), r)),
        );
        assert_eq!(report.images[0].node_count, 500);
        assert_eq!(report.images[0].nodes.len(), MAX_NODES_LISTED);
        assert_eq!(report.images[0].nodes[0], "node-0000");
    }

    #[test]
    fn the_cluster_report_is_bounded_and_counts_what_it_leaves_out() {
        let reports: Vec<(String, NodeReport)> = (0..300)
            .map(|n| {
                let images = (0..10)
                    .map(|i| {
                        let severity = if i == 0 {
                            Severity::Critical
                        } else {
                            Severity::Low
                        };
                        vulnerable(&format!("sha256:{n:04}-{i:02}"), &[(severity, 1)], false)
                    })
                    .collect();
                (format!("node-{n:04}"), node_report(images))
            })
            .collect();
        let report = fold(
            "imagejob-x",
            finished(),
            reports.iter().map(|(n, r)| (n.as_str(), r)),
        );
        assert_eq!(report.vulnerable, 3_000);
        assert_eq!(report.images.len(), MAX_CLUSTER_IMAGES);
        assert_eq!(report.omitted, 2_000);
        assert_eq!(report.vulnerable_by_severity[&Severity::Critical], 300);
        assert!(report.to_json().len() <= CLUSTER_REPORT_LIMIT);
        assert!(
            report.images[..300]
                .iter()
                .all(|i| i.severities.contains_key(&Severity::Critical))
        );
        assert!(report.nodes_trimmed.is_empty());
    }
}
