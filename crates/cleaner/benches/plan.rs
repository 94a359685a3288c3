//! Benchmark (not a test): planning and folding one ImageJob for 1,000 and 5,000 nodes — node
//! filter, one worker pod per eligible node, and the status fold over as many pods.
//!
//! Budget (manager issue): planning under 50 ms for 5,000 nodes.
//!
//! Run: `cargo bench -p drydock-cleaner --bench plan`

use std::time::Instant;

use drydock_api::config::Config;
use drydock_cleaner::manager::cached::{CachedNode, WorkerPod};
use drydock_cleaner::manager::fold::fold;
use drydock_cleaner::manager::plan::plan_nodes;
use drydock_cleaner::manager::podspec::{Mode, TemplateInputs, pod_for_node, template};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};

/// Repetitions, to average out timer noise.
const ROUNDS: u32 = 10;
const BUDGET_PLAN_MS: f64 = 50.0;

/// An API object as the manager's caches decode it (from its JSON).
fn cached<T: serde::de::DeserializeOwned>(object: &impl serde::Serialize) -> Option<T> {
    serde_json::to_value(object)
        .ok()
        .and_then(|json| serde_json::from_value(json).ok())
}

fn nodes(count: usize) -> Vec<CachedNode> {
    (0..count)
        .map(|i| Node {
            metadata: ObjectMeta {
                name: Some(format!("aks-nodepool{}-{i:06}-vmss", i % 4)),
                labels: Some(
                    [
                        (
                            "kubernetes.io/os".to_owned(),
                            if i % 50 == 0 { "windows" } else { "linux" }.to_owned(),
                        ),
                        ("agentpool".to_owned(), format!("nodepool{}", i % 4)),
                    ]
                    .into_iter()
                    .chain(
                        (i % 20 == 0)
                            .then(|| ("eraser.sh/cleanup.filter".to_owned(), "true".to_owned())),
                    )
                    .collect(),
                ),
                ..ObjectMeta::default()
            },
            ..Node::default()
        })
        .filter_map(|node| cached(&node))
        .collect()
}

fn main() {
    let config = Config::default();
    let job = OwnerReference {
        api_version: "eraser.sh/v1".into(),
        kind: "ImageJob".into(),
        name: "imagejob-bench".into(),
        uid: "uid".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let now = Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
    println!(
        "{:>6} {:>10} {:>14} {:>10} {:>8}",
        "nodes", "plan ms", "pod objects ms", "fold ms", "budget"
    );
    for count in [1_000, 5_000] {
        let nodes = nodes(count);
        let start = Instant::now();
        for _ in 0..ROUNDS {
            std::hint::black_box(
                plan_nodes(&nodes, &config.manager.node_filter).unwrap_or_default(),
            );
        }
        let plan_ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(ROUNDS);
        let plan = plan_nodes(&nodes, &config.manager.node_filter).unwrap_or_default();
        let start = Instant::now();
        let mut pods: Vec<Pod> = Vec::new();
        for _ in 0..ROUNDS {
            let pod_template = template(&config, &Mode::Collector, &TemplateInputs::default());
            pods = plan
                .targets
                .iter()
                .map(|node| pod_for_node(&pod_template, &job, "kube-system", node))
                .collect();
        }
        let pods_ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(ROUNDS);
        for pod in &mut pods {
            pod.metadata.creation_timestamp = Some(Time(now));
            pod.status = Some(PodStatus {
                phase: Some("Succeeded".into()),
                ..PodStatus::default()
            });
        }
        let pods: Vec<WorkerPod> = pods.iter().filter_map(cached).collect();
        let start = Instant::now();
        let mut succeeded = 0;
        for _ in 0..ROUNDS {
            succeeded = fold(&plan, &pods, &nodes, now, 1.0, now).status.succeeded;
        }
        let fold_ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(ROUNDS);
        let verdict = if count < 5_000 || plan_ms < BUDGET_PLAN_MS {
            "ok"
        } else {
            "OVER"
        };
        println!(
            "{count:>6} {plan_ms:>10.2} {pods_ms:>14.2} {fold_ms:>10.2} {verdict:>8}   ({} pods, {succeeded} succeeded, one creation per eligible node)",
            pods.len()
        );
    }
}
