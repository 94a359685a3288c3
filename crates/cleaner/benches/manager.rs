//! Benchmark (not a test): the manager's caches and its per-job CPU work at cluster scale.
//!
//! 1. Peak RSS of this process after it has cached 5,000 Nodes and 5,000 worker Pods in kube
//!    reflector stores the way the manager does: list pages of 500 objects (the watcher's page
//!    size) decoded from JSON into the compact cached types (`drydock_cleaner::manager::cached`), the
//!    nodes' labels cut to the node filter's keys before they are stored. The objects are realistic: AKS-style labels and annotations, managedFields, five
//!    conditions, addresses, capacity, nodeInfo and a 50-image list on Nodes; the full worker
//!    pod spec, managedFields, three container statuses and the remover's summary on Pods.
//!    Budget: 30 MiB (the Eraser chart's memory limit for the manager).
//! 2. Planning and folding one job from those stores (`Arc`s, no copies) for 1,000 and 5,000
//!    nodes. Budget: planning under 50 ms at 5,000 nodes.
//!
//! The API requests of a job are counted by the tower-test scenario
//! `a_whole_job_on_50_nodes_costs_one_create_per_node_plus_eight_calls`.
//!
//! Run: `cargo bench -p drydock-cleaner --bench manager`

use std::collections::BTreeMap;
use std::time::Instant;

use drydock_api::config::Config;
use drydock_cleaner::manager::cached::{CachedNode, WorkerPod};
use drydock_cleaner::manager::fold::fold;
use drydock_cleaner::manager::plan::{label_keys, plan_nodes};
use drydock_cleaner::manager::podspec::{Mode, TemplateInputs, pod_for_node, template};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::core::ObjectList;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use serde_json::{Value, json};

/// Objects per list page, as the manager's watchers ask for them.
const PAGE: usize = drydock_cleaner::manager::controller::imagejob::LIST_PAGE_SIZE as usize;
/// Objects of each kind cached for the RSS figure.
const CACHED: usize = 5_000;
/// Repetitions of the timed parts, to average out timer noise.
const ROUNDS: u32 = 10;
/// The manager's memory budget, in MiB (the Eraser chart's limit).
const BUDGET_RSS_MIB: f64 = 30.0;
/// Planning budget at 5,000 nodes, in ms.
const BUDGET_PLAN_MS: f64 = 50.0;

/// `VmHWM` (peak RSS) and `VmRSS` of this process, in MiB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn node_json(i: usize) -> Value {
    let name = format!("aks-nodepool{}-{i:08}-vmss{i:06}", i % 4);
    let mut labels = BTreeMap::new();
    for (k, v) in [
        ("agentpool", format!("nodepool{}", i % 4)),
        ("beta.kubernetes.io/arch", "amd64".into()),
        ("beta.kubernetes.io/instance-type", "Standard_D4s_v3".into()),
        ("beta.kubernetes.io/os", "linux".into()),
        (
            "failure-domain.beta.kubernetes.io/region",
            "westeurope".into(),
        ),
        (
            "failure-domain.beta.kubernetes.io/zone",
            format!("westeurope-{}", i % 3 + 1),
        ),
        (
            "kubernetes.azure.com/agentpool",
            format!("nodepool{}", i % 4),
        ),
        (
            "kubernetes.azure.com/cluster",
            "MC_rg_cluster_westeurope".into(),
        ),
        (
            "kubernetes.azure.com/consolidated-additional-properties",
            "a1b2c3d4-e5f6".into(),
        ),
        (
            "kubernetes.azure.com/kubelet-identity-client-id",
            "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
        ),
        ("kubernetes.azure.com/mode", "user".into()),
        (
            "kubernetes.azure.com/node-image-version",
            "AKSUbuntu-2204gen2containerd-202405.03.0".into(),
        ),
        (
            "kubernetes.azure.com/nodepool-type",
            "VirtualMachineScaleSets".into(),
        ),
        ("kubernetes.azure.com/os-sku", "Ubuntu".into()),
        ("kubernetes.azure.com/role", "agent".into()),
        ("kubernetes.azure.com/storageprofile", "managed".into()),
        ("kubernetes.azure.com/storagetier", "Premium_LRS".into()),
        ("kubernetes.io/arch", "amd64".into()),
        ("kubernetes.io/hostname", name.clone()),
        (
            "kubernetes.io/os",
            if i.is_multiple_of(50) {
                "windows"
            } else {
                "linux"
            }
            .into(),
        ),
        ("kubernetes.io/role", "agent".into()),
        ("node-role.kubernetes.io/agent", String::new()),
        ("node.kubernetes.io/instance-type", "Standard_D4s_v3".into()),
        ("storageprofile", "managed".into()),
        ("storagetier", "Premium_LRS".into()),
        (
            "topology.disk.csi.azure.com/zone",
            format!("westeurope-{}", i % 3 + 1),
        ),
        ("topology.kubernetes.io/region", "westeurope".into()),
        (
            "topology.kubernetes.io/zone",
            format!("westeurope-{}", i % 3 + 1),
        ),
    ] {
        labels.insert(k.to_owned(), v);
    }
    if i.is_multiple_of(20) {
        labels.insert("eraser.sh/cleanup.filter".into(), "true".into());
    }
    let condition = |kind: &str, status: &str, reason: &str| {
        json!({"type": kind, "status": status, "reason": reason,
               "message": format!("kubelet reports {kind} {status}"),
               "lastHeartbeatTime": "2026-03-01T02:59:00Z",
               "lastTransitionTime": "2026-02-20T10:00:00Z"})
    };
    let images: Vec<Value> = (0..50)
        .map(|k| {
            json!({"names": [
                format!("mcr.microsoft.com/oss/kubernetes/image-{k}@sha256:{:064x}", k * 7919 + i),
                format!("mcr.microsoft.com/oss/kubernetes/image-{k}:v1.{k}.0")
            ], "sizeBytes": 10_000_000 + k})
        })
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name, "uid": format!("{:08x}-0000-4000-8000-{i:012}", i),
            "resourceVersion": format!("{}", 1_000_000 + i),
            "creationTimestamp": "2026-02-20T10:00:00Z",
            "labels": labels,
            "annotations": {
                "csi.volume.kubernetes.io/nodeid": format!("{{\"disk.csi.azure.com\":\"{name}\",\"file.csi.azure.com\":\"{name}\"}}"),
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                "kubernetes.azure.com/node-image-version": "AKSUbuntu-2204gen2containerd-202405.03.0"
            },
            "managedFields": (0..4).map(|m| json!({
                "manager": format!("manager-{m}"), "operation": "Update", "apiVersion": "v1",
                "time": "2026-03-01T02:59:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {"f:kubernetes.io/hostname": {}, "f:agentpool": {}}},
                             "f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {"f:lastHeartbeatTime": {}}}}}
            })).collect::<Vec<_>>()
        },
        "spec": {"podCIDR": format!("10.244.{}.0/24", i % 256), "providerID": format!("azure:///subscriptions/x/resourceGroups/mc/providers/Microsoft.Compute/virtualMachineScaleSets/vmss/virtualMachines/{i}")},
        "status": {
            "addresses": [{"type": "InternalIP", "address": format!("10.224.{}.{}", i / 256 % 256, i % 256)}, {"type": "Hostname", "address": name}],
            "allocatable": {"cpu": "3860m", "ephemeral-storage": "119703055367", "memory": "12880488Ki", "pods": "110"},
            "capacity": {"cpu": "4", "ephemeral-storage": "129886128Ki", "memory": "16375912Ki", "pods": "110"},
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID"),
                condition("Ready", "True", "KubeletReady"),
                condition("KernelDeadlock", "False", "KernelHasNoDeadlock")
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "images": images,
            "nodeInfo": {"architecture": "amd64", "bootID": "b", "containerRuntimeVersion": "containerd://1.7.15",
                         "kernelVersion": "5.15.0-1061-azure", "kubeProxyVersion": "v1.29.4", "kubeletVersion": "v1.29.4",
                         "machineID": "m", "operatingSystem": "linux", "osImage": "Ubuntu 22.04.4 LTS", "systemUUID": "s"}
        }
    })
}

fn pod_json(
    i: usize,
    template: &k8s_openapi::api::core::v1::PodTemplateSpec,
    owner: &OwnerReference,
) -> Value {
    let node = format!("aks-nodepool{}-{i:08}-vmss{i:06}", i % 4);
    let mut pod = serde_json::to_value(pod_for_node(template, owner, "kube-system", &node))
        .unwrap_or_default();
    pod["metadata"]["name"] = json!(format!("eraser-{node}-{i:05}"));
    pod["metadata"]["uid"] = json!(format!("{i:08x}-1111-4000-8000-{i:012}"));
    pod["metadata"]["resourceVersion"] = json!(format!("{}", 2_000_000 + i));
    pod["metadata"]["creationTimestamp"] = json!("2026-03-01T03:00:00Z");
    pod["metadata"]["managedFields"] = json!([
        {"manager": "drydock", "operation": "Update", "apiVersion": "v1", "time": "2026-03-01T03:00:00Z",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:containers": {"k:{\"name\":\"remover\"}": {"f:image": {}}}}}},
        {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2026-03-01T03:01:00Z",
         "fieldsType": "FieldsV1", "subresource": "status", "fieldsV1": {"f:status": {"f:phase": {}, "f:podIP": {}}}}
    ]);
    let summary = format!(
        "{{\"removed\":3,\"wouldRemove\":0,\"alreadyGone\":0,\"kept\":12,\"notOnNode\":0,\"failed\":0,\"bytesReclaimed\":123456789,\"removedImages\":[\"docker.io/library/alpine:3.7.3\",\"docker.io/library/nginx:1.{}\",\"ghcr.io/example/app:v{}\"],\"failedImages\":[],\"truncated\":false}}",
        i % 30,
        i % 7
    );
    let terminated = |name: &str, message: Option<&str>| {
        json!({"name": name, "ready": false, "restartCount": 0, "started": false,
               "image": "ghcr.io/drydock-dev/drydock:0.1.0",
               "imageID": format!("ghcr.io/drydock-dev/drydock@sha256:{:064x}", 42),
               "containerID": format!("containerd://{:064x}", i * 3 + name.len()),
               "state": {"terminated": {"exitCode": 0, "reason": "Completed", "message": message,
                                        "startedAt": "2026-03-01T03:00:10Z", "finishedAt": "2026-03-01T03:01:00Z",
                                        "containerID": format!("containerd://{:064x}", i)}}})
    };
    let conditions: Vec<Value> = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    .iter()
    .map(|c| json!({"type": c, "status": "False", "lastTransitionTime": "2026-03-01T03:01:00Z", "reason": "PodCompleted"}))
    .collect();
    pod["status"] = json!({
        "phase": "Succeeded", "hostIP": "10.224.0.4", "podIP": format!("10.244.0.{}", i % 256),
        "podIPs": [{"ip": format!("10.244.0.{}", i % 256)}], "qosClass": "Burstable",
        "startTime": "2026-03-01T03:00:05Z",
        "conditions": conditions,
        "containerStatuses": [terminated("collector", None), terminated("remover", Some(&summary)), terminated("scanner", None)]
    });
    pod
}

/// Decodes one list page as kube does (from the response bytes) and stores each object after
/// `strip`. The page's JSON is written item by item, so the bench holds no JSON tree.
fn load_page<K>(
    writer: &mut reflector::store::Writer<K>,
    items: impl Iterator<Item = Value>,
    mut strip: impl FnMut(&mut K),
) where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + 'static,
{
    let mut body = br#"{"apiVersion":"v1","kind":"List","metadata":{},"items":["#.to_vec();
    for (n, item) in items.enumerate() {
        if n > 0 {
            body.push(b',');
        }
        let _ = serde_json::to_writer(&mut body, &item);
    }
    body.extend_from_slice(b"]}");
    let Ok(list) = serde_json::from_slice::<ObjectList<K>>(&body) else {
        return;
    };
    drop(body);
    for mut object in list.items {
        strip(&mut object);
        writer.apply_watcher_event(&watcher::Event::InitApply(object));
    }
}

fn main() {
    let (start_peak, start_rss) = memory();
    let config = Config::default();
    let pod_template = template(&config, &Mode::Collector, &TemplateInputs::default());
    let owner = OwnerReference {
        api_version: "eraser.sh/v1".into(),
        kind: "ImageJob".into(),
        name: "imagejob-bench".into(),
        uid: "uid".into(),
        controller: Some(true),
        block_owner_deletion: None,
    };

    let keys = label_keys(&config.manager.node_filter).unwrap_or_default();
    let (nodes, mut node_writer) = reflector::store::<CachedNode>();
    let (pods, mut pod_writer) = reflector::store::<WorkerPod>();
    node_writer.apply_watcher_event(&watcher::Event::Init);
    pod_writer.apply_watcher_event(&watcher::Event::Init);
    let mut full_node_bytes = 0;
    for page in 0..CACHED / PAGE {
        if page == 0 {
            full_node_bytes = serde_json::to_vec(&node_json(1)).map_or(0, |v| v.len());
        }
        load_page(
            &mut node_writer,
            (page * PAGE..(page + 1) * PAGE).map(node_json),
            |node| node.keep_labels(&keys),
        );
    }
    let (_, after_nodes) = memory();
    let mut full_pod_bytes = 0;
    for page in 0..CACHED / PAGE {
        if page == 0 {
            full_pod_bytes =
                serde_json::to_vec(&pod_json(1, &pod_template, &owner)).map_or(0, |v| v.len());
        }
        load_page(
            &mut pod_writer,
            (page * PAGE..(page + 1) * PAGE).map(|i| pod_json(i, &pod_template, &owner)),
            |_| {},
        );
    }
    let (_, nodes_rss) = memory();
    node_writer.apply_watcher_event(&watcher::Event::InitDone);
    pod_writer.apply_watcher_event(&watcher::Event::InitDone);
    let (peak, rss) = memory();
    let verdict = if peak < BUDGET_RSS_MIB { "ok" } else { "OVER" };
    println!(
        "cached {} nodes ({full_node_bytes} B of JSON each) and {} pods ({full_pod_bytes} B each)",
        nodes.len(),
        pods.len()
    );
    println!(
        "RSS: at start {start_rss:.1} MiB (peak {start_peak:.1}); after the nodes {after_nodes:.1} MiB; after the pods {nodes_rss:.1} MiB; with the caches {rss:.1} MiB; peak {peak:.1} MiB; budget {BUDGET_RSS_MIB} MiB: {verdict}"
    );

    println!(
        "{:>6} {:>10} {:>10} {:>8}",
        "nodes", "plan ms", "fold ms", "budget"
    );
    let now = Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
    for count in [1_000, 5_000] {
        let node_state = subset(&nodes, count);
        let pod_state = subset(&pods, count);
        let started = Instant::now();
        for _ in 0..ROUNDS {
            std::hint::black_box(
                plan_nodes(
                    node_state.iter().map(AsRef::as_ref),
                    &config.manager.node_filter,
                )
                .unwrap_or_default(),
            );
        }
        let plan_ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(ROUNDS);
        let plan = plan_nodes(
            node_state.iter().map(AsRef::as_ref),
            &config.manager.node_filter,
        )
        .unwrap_or_default();
        let started = Instant::now();
        let mut succeeded = 0;
        for _ in 0..ROUNDS {
            succeeded = fold(
                &plan,
                pod_state.iter().map(AsRef::as_ref),
                node_state.iter().map(AsRef::as_ref),
                now,
                1.0,
                now,
            )
            .status
            .succeeded;
        }
        let fold_ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(ROUNDS);
        let verdict = if plan_ms < BUDGET_PLAN_MS {
            "ok"
        } else {
            "OVER"
        };
        println!(
            "{count:>6} {plan_ms:>10.2} {fold_ms:>10.2} {verdict:>8}   ({} targets, {} skipped, {succeeded} succeeded)",
            plan.targets.len(),
            plan.skipped.len()
        );
    }
}

/// The first `count` objects of a store by name (what a cluster of that size would hold).
fn subset<K>(store: &Store<K>, count: usize) -> Vec<std::sync::Arc<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let mut state = store.state();
    state.sort_by_key(|object| object.meta().name.clone());
    state.truncate(count);
    state
}
