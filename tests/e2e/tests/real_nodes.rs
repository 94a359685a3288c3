//! Drydock on real nodes: real kubelets, each with its own containerd + runc, run Drydock's
//! pods from its image (`scripts/lib/cluster.sh`, see docs/design/005-real-node-tier.md).
//!
//! Run inside the cluster's network namespace, with its directory and kubeconfig:
//! `scripts/lib/cluster.sh run DIR env DRYDOCK_E2E_CLUSTER=DIR DRYDOCK_E2E_KUBECONFIG=DIR/kubeconfig
//! cargo test -p drydock-e2e --test real_nodes -- --ignored --test-threads=1`
//! (`scripts/test.sh` does). Without `DRYDOCK_E2E_CLUSTER` every test returns at once: the
//! fake-node tier runs `--ignored` against a cluster with no kubelet.
//!
//! Covered (each scenario clears what it leaves cluster-wide, so all share one cluster):
//! - the reboot DaemonSet of `drydock manifests reboot` under exactly kured's chart RBAC, and
//!   `helm install` of the reboot chart with kured's values file: on every node; a sentinel on
//!   one node's `/var/run` → that node cordoned, a Deployment's pod evicted and Ready again on
//!   the other node, the reboot command run (kured's explicit `nsenter` prefix, pointing at the
//!   harness's stand-in: the harness reboots the node), a new boot ID, the node uncordoned and
//!   the lock freed; then the other node; in the Helm variant that node was cordoned by an admin
//!   and stays cordoned;
//! - the health gate: a Deployment with a replica on each node (required anti-affinity, a
//!   budget of one) and both sentinels at once: with `--health-gate` the second node takes the
//!   lock only after the first node's evicted replica (Pending while its node was away) is
//!   Ready again, read from the `RebootLockAcquired` Event and the pod's Ready condition;
//!   without it (kured's flags) the second node takes the lock while that replica is unready;
//! - `drydock image-cleaner enable --image <the nodes' image> --vulndb-source <an OSV all.zip
//!   served inside the namespace>` and `helm install` of the image-cleaner chart with Eraser's
//!   values file: the manager Ready, the automatic run's worker pods on every node (every
//!   container the nodes' image; the scanners fetch the index from the manager's Service by DNS
//!   name), the unused vulnerable image gone from every node while the image of running pods, a
//!   clean image, the pause image and Drydock's stay, the worker pods gone; with Helm, `kubectl
//!   logs <pod> -c collector|trivy-scanner|remover` show the per-image lines; with `enable`, the
//!   manager pod deleted mid-run and its successor finishing that one run, then the seed's
//!   ImageList `*` flow;
//! - Eraser's own worker pods (as Eraser's manager writes them: no command, Eraser's flags,
//!   env, securityContext and mounts) running Drydock's image, automatic (collector + remover)
//!   and manual (remover + ImageList ConfigMap);
//! - Eraser's own scanner container (`trivy-scanner`: `--config` on Eraser's ConfigMap at
//!   `/config`, its env, `components.scanner.volumes` hostPaths read-only) running Drydock's
//!   image with an index named by the scanner configuration's `dbPath`: the vulnerable
//!   unused image found and removed, the clean unused one kept on the scanner's verdict.
//!
//! Peak memory per container is printed from the nodes' cgroups.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

use std::collections::BTreeMap;
use std::time::Duration;

use drydock_e2e::{RealCluster, TestNamespace, boot_id, client, get_node, is_cordoned, kubectl};
use drydock_reboot::admin::decode_any;
use drydock_reboot::daemon::REBOOT_HISTORY_ANNOTATION;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

/// The nodes `scripts/lib/cluster.sh` starts by default.
const NODES: [&str; 2] = ["node-a", "node-b"];
/// kured's lock: the annotation on its DaemonSet.
const DS_NAME: &str = "kured";
const LOCK_KEY: &str = "weave.works/kured-node-lock";
/// The daemons' `--period`: short, so a sentinel is seen within seconds.
const PERIOD: &str = "5s";
/// The pause image every node holds (the pod sandbox image).
const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.2";
/// How long pods may take to start on a node (image unpacking, probes' initial delay).
const START_BOUND: Duration = Duration::from_secs(120);
/// How long one node's reboot may take end to end: the sentinel seen (one period), the lock,
/// cordon, drain, the harness's reboot (~5 s), the kubelet back, the daemon's restart and
/// readiness, uncordon and release.
const REBOOT_BOUND: Duration = Duration::from_secs(300);
/// How often the tests look.
const LOOK: Duration = Duration::from_secs(1);

/// The cluster, or `None` (with a note) when the real-node tier is not running.
fn cluster() -> Option<RealCluster> {
    let cluster = RealCluster::from_env();
    if cluster.is_none() {
        eprintln!(
            "{} is not set: no real-node cluster, skipped",
            drydock_e2e::CLUSTER_ENV
        );
    }
    cluster
}

/// `drydock manifests KIND -n NAMESPACE --image IMAGE`, one JSON value per YAML document.
fn manifests(kind: &str, namespace: &str, image: &str) -> Vec<Value> {
    let output = std::process::Command::new(drydock_e2e::drydock_bin())
        .args(["manifests", kind, "-n", namespace, "--image", image])
        .output()
        .unwrap();
    assert!(output.status.success(), "drydock manifests {kind} failed");
    let text = String::from_utf8(output.stdout).unwrap();
    text.split("\n---\n")
        .map(|doc| doc.trim_start_matches("---\n"))
        .filter(|doc| !doc.trim().is_empty())
        .map(|doc| serde_saphyr::from_str::<Value>(doc).unwrap())
        .collect()
}

/// kured's Helm chart's ClusterRole rules, exactly (chart 6.1.0): no list or watch of Nodes or
/// DaemonSets, no Events.
fn kureds_chart_cluster_rules() -> Value {
    json!([
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete", "get"]},
        {"apiGroups": ["extensions", "apps"], "resources": ["daemonsets"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    ])
}

/// kured's Helm chart's Role rules in its namespace: update and patch of its own DaemonSet
/// (the lock) only.
fn kureds_chart_lock_rules(daemonset: &str) -> Value {
    json!([{
        "apiGroups": ["extensions", "apps"],
        "resources": ["daemonsets"],
        "resourceNames": [daemonset],
        "verbs": ["update", "patch"],
    }])
}

/// `kubectl apply -f -` of `objects`, as a user applies rendered manifests.
async fn apply(objects: &[Value]) {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    kubectl(&["apply", "-f", "-"], &list.to_string(), &[])
        .await
        .unwrap();
}

/// Polls `check` every [`LOOK`] until it returns `Some`, for at most `bound`; the failure
/// names `what` and adds `context()`'s text.
async fn until<T>(
    what: &str,
    bound: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
    context: impl AsyncFnOnce() -> String,
) -> T {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "timed out after {bound:?} waiting for {what}\n{}",
                context().await
            );
        }
        tokio::time::sleep(LOOK).await;
    }
}

/// The lock's live holders.
async fn lock_holders(client: &Client, namespace: &str) -> Vec<String> {
    let Ok(ds) = Api::<DaemonSet>::namespaced(client.clone(), namespace)
        .get(DS_NAME)
        .await
    else {
        return Vec::new();
    };
    let annotation = ds.metadata.annotations.and_then(|mut a| a.remove(LOCK_KEY));
    let now = jiff::Timestamp::now();
    decode_any(annotation.as_deref())
        .map(|lock| {
            lock.holders()
                .iter()
                .filter(|h| !h.is_expired(now))
                .map(|h| h.node_id.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The running, Ready pods of `namespace` with `label`, by node.
async fn ready_pods_by_node(
    client: &Client,
    namespace: &str,
    label: &str,
) -> BTreeMap<String, Pod> {
    let pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(label))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    pods.into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|p| Some((p.spec.as_ref()?.node_name.clone()?, p)))
        .collect()
}

/// The daemons' logs and the harness's reboot log, for a failure message.
async fn reboot_context(cluster: &RealCluster, namespace: &str) -> String {
    let logs = kubectl(
        &[
            "logs",
            "-n",
            namespace,
            "-l",
            "name=kured",
            "--tail=40",
            "--prefix",
        ],
        "",
        &[],
    )
    .await
    .unwrap_or_else(|e| e.to_string());
    let pods = kubectl(&["get", "pods", "-A", "-o", "wide"], "", &[])
        .await
        .unwrap_or_else(|e| e.to_string());
    format!(
        "--- pods\n{pods}--- daemon logs\n{logs}--- harness reboots\n{}",
        cluster.reboots()
    )
}

#[tokio::test]
#[ignore = "needs a real-node cluster (DRYDOCK_E2E_CLUSTER, scripts/lib/cluster.sh)"]
async fn a_sentinel_reboots_each_node_in_turn_through_cordon_drain_and_a_new_boot() {
    let Some(cluster) = cluster() else { return };
    let client = client().await.unwrap();
    clear_reboot_cluster_objects(&cluster).await;
    let ns = TestNamespace::create(&client, "rn-reboot").await.unwrap();
    let namespace = ns.name().to_owned();
    let harness = cluster.harness_dir().display().to_string();

    // The rendered manifests, with what an operator adds for this machine: the reboot command
    // (kured's explicit nsenter prefix, here the harness's stand-in, mounted from the host) and
    // a short period. The RBAC is kured's chart's, exactly: Drydock's image swapped into
    // kured's install must work with the rights that install grants (Drydock's own rules are
    // proved by the fake-node tier).
    let mut objects = manifests("reboot", &namespace, cluster.image());
    for object in &mut objects {
        match object["kind"].as_str() {
            Some("ClusterRole") => object["rules"] = kureds_chart_cluster_rules(),
            Some("Role") => object["rules"] = kureds_chart_lock_rules("kured"),
            _ => {}
        }
        if object["kind"] != "DaemonSet" {
            continue;
        }
        let spec = &mut object["spec"]["template"]["spec"];
        spec["volumes"].as_array_mut().unwrap().push(json!({
            "name": "harness", "hostPath": {"path": harness, "type": "Directory"},
        }));
        let container = &mut spec["containers"][0];
        container["volumeMounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "harness", "mountPath": harness}));
        let args = container["args"].as_array_mut().unwrap();
        args.push(json!(format!(
            "--reboot-command={harness}/nsenter -m/proc/1/ns/mnt -- /bin/systemctl reboot"
        )));
        args.push(json!(format!("--period={PERIOD}")));
    }
    apply(&objects).await;
    reboot_each_node(&cluster, &client, &namespace, None).await;
    ns.cleanup().await.unwrap();
    clear_reboot_cluster_objects(&cluster).await;
}

/// How long after its reboot an admin-cordoned node is looked at again: several daemon
/// periods, in which a wrong uncordon would have happened.
const ADMIN_CORDON_SETTLE: Duration = Duration::from_secs(10);

#[tokio::test]
#[ignore = "needs a real-node cluster (DRYDOCK_E2E_CLUSTER, scripts/lib/cluster.sh)"]
async fn helm_install_with_kureds_values_reboots_each_node_and_keeps_an_admins_cordon() {
    let Some(cluster) = cluster() else { return };
    let client = client().await.unwrap();
    clear_reboot_cluster_objects(&cluster).await;
    let ns = TestNamespace::create(&client, "rn-helm-reboot")
        .await
        .unwrap();
    let namespace = ns.name().to_owned();
    let harness = cluster.harness_dir().display().to_string();
    // kured's own values file, with what an operator of this machine sets: the mirrored image,
    // the reboot command (kured's explicit nsenter prefix, the harness's stand-in mounted from
    // the host) and a short period.
    let (repo, tag) = repo_and_tag(cluster.image());
    let mut values = chart_values("kured-chart-values.yaml");
    values["image"]["repository"] = json!(repo);
    values["image"]["tag"] = json!(tag);
    values["configuration"]["rebootCommand"] = json!(format!(
        "{harness}/nsenter -m/proc/1/ns/mnt -- /bin/systemctl reboot"
    ));
    values["configuration"]["period"] = json!(PERIOD);
    values["volumes"] = json!([{
        "name": "harness", "hostPath": {"path": harness, "type": "Directory"},
    }]);
    values["volumeMounts"] = json!([{"name": "harness", "mountPath": harness}]);
    let work = tempfile::tempdir().unwrap();
    let values_file = work.path().join("values.json");
    std::fs::write(&values_file, values.to_string()).unwrap();
    let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/reboot");
    helm(&[
        "install",
        &chart.display().to_string(),
        DS_NAME,
        &namespace,
        &values_file.display().to_string(),
    ]);
    // The second node is cordoned by an admin before its sentinel appears.
    reboot_each_node(&cluster, &client, &namespace, Some(NODES[1])).await;
    helm(&["uninstall", DS_NAME, &namespace]);
    ns.cleanup().await.unwrap();
    clear_reboot_cluster_objects(&cluster).await;
}

/// How long the gated scenario's replicas take to turn Ready after they start (their readiness
/// probe's initial delay): longer than a daemon's reaction to a freed lock (one watch delivery,
/// at most one [`PERIOD`]), so that a hand-over that does not wait for the workload is seen
/// taking the lock while a replica is still unready.
const GATED_READY_DELAY_SECONDS: u64 = 15;
/// The gated scenario's bound: two reboots, each followed by a replica's start and its
/// readiness delay.
const GATED_BOUND: Duration = Duration::from_secs(600);

/// The daemons of `drydock manifests reboot` (Drydock's RBAC, `--health-gate=true`), with the
/// harness's reboot command and a short period; `health_gate: false` drops Drydock's gate flag,
/// which leaves kured's flags.
fn drydock_reboot_objects(cluster: &RealCluster, namespace: &str, health_gate: bool) -> Vec<Value> {
    let harness = cluster.harness_dir().display().to_string();
    let mut objects = manifests("reboot", namespace, cluster.image());
    for object in objects.iter_mut().filter(|o| o["kind"] == "DaemonSet") {
        let spec = &mut object["spec"]["template"]["spec"];
        spec["volumes"].as_array_mut().unwrap().push(json!({
            "name": "harness", "hostPath": {"path": harness, "type": "Directory"},
        }));
        let container = &mut spec["containers"][0];
        container["volumeMounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "harness", "mountPath": harness}));
        let args = container["args"].as_array_mut().unwrap();
        if !health_gate {
            args.retain(|a| !a.as_str().is_some_and(|a| a.starts_with("--health-gate")));
        }
        args.push(json!(format!(
            "--reboot-command={harness}/nsenter -m/proc/1/ns/mnt -- /bin/systemctl reboot"
        )));
        args.push(json!(format!("--period={PERIOD}")));
    }
    objects
}

/// A Deployment that is whole only with a Ready replica on each node: two replicas, required
/// anti-affinity on the hostname, a budget of one available, and replicas Ready
/// [`GATED_READY_DELAY_SECONDS`] after they start (a TCP probe of the API server). A drained
/// node's replica stays Pending until that node is back and uncordoned.
async fn apply_one_replica_per_node(namespace: &str) {
    let server = kubectl(
        &[
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ],
        "",
        &[],
    )
    .await
    .unwrap();
    let address = server.trim().trim_start_matches("https://");
    let (host, port) = address.rsplit_once(':').unwrap();
    let port: u16 = port.parse().unwrap();
    let labels = json!({"app": "spread"});
    apply(&[
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "spread", "namespace": namespace},
            "spec": {
                "replicas": NODES.len(),
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "automountServiceAccountToken": false,
                        "affinity": {"podAntiAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": [{
                                "labelSelector": {"matchLabels": labels},
                                "topologyKey": "kubernetes.io/hostname",
                            }],
                        }},
                        "containers": [{
                            "name": "pause", "image": PAUSE_IMAGE, "imagePullPolicy": "Never",
                            "readinessProbe": {
                                "tcpSocket": {"host": host, "port": port},
                                "initialDelaySeconds": GATED_READY_DELAY_SECONDS,
                                "periodSeconds": 1,
                            },
                        }],
                    },
                },
            },
        }),
        json!({
            "apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "spread", "namespace": namespace},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}},
        }),
    ])
    .await;
}

/// The first time since `since` each node's daemon reported `reason` (a Node Event, e.g.
/// `RebootLockAcquired` when it took the lock).
async fn first_node_events(
    reason: &str,
    since: jiff::Timestamp,
) -> BTreeMap<String, jiff::Timestamp> {
    let events = Api::<k8s_openapi::api::core::v1::Event>::namespaced(
        client().await.unwrap(),
        drydock_kube::events::NODE_EVENT_NAMESPACE,
    )
    .list(&ListParams::default())
    .await
    .unwrap()
    .items;
    let mut first = BTreeMap::new();
    for event in events {
        let Some(at) = event.last_timestamp.as_ref().map(|t| t.0) else {
            continue;
        };
        if event.reason.as_deref() != Some(reason) || at < since {
            continue;
        }
        let node = event.involved_object.name.clone().unwrap_or_default();
        first
            .entry(node)
            .and_modify(|t: &mut jiff::Timestamp| *t = (*t).min(at))
            .or_insert(at);
    }
    first
}

/// When the pod's Ready condition last turned true.
fn ready_since(pod: &Pod) -> Option<jiff::Timestamp> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

/// What one pass of the gated scenario saw, from the cluster's own timestamps.
struct HandOver {
    /// The node that rebooted first, and the other.
    first: String,
    second: String,
    /// When the second node took the lock.
    second_acquired: jiff::Timestamp,
    /// When the first node's evicted replica was Ready again on it (the Deployment whole).
    whole_again: jiff::Timestamp,
    /// Whether the first node announced its health gate (`RebootHealthGate`).
    gated: bool,
}

/// One pass: the daemons (with or without the gate) in a fresh namespace, the Deployment of
/// [`apply_one_replica_per_node`], both sentinels at once; returns once both nodes rebooted,
/// are uncordoned, the lock is free and the Deployment is whole, with when the second node took
/// the lock and when the first node's evicted replica was Ready again.
async fn both_nodes_with_a_spread_workload(
    cluster: &RealCluster,
    client: &Client,
    health_gate: bool,
) -> HandOver {
    clear_reboot_cluster_objects(cluster).await;
    let prefix = if health_gate { "rn-gate" } else { "rn-nogate" };
    let ns = TestNamespace::create(client, prefix).await.unwrap();
    let namespace = ns.name().to_owned();
    apply(&drydock_reboot_objects(cluster, &namespace, health_gate)).await;
    apply_one_replica_per_node(&namespace).await;
    until(
        "the reboot daemon and a spread replica Ready on every node",
        START_BOUND,
        async || {
            let daemons = ready_pods_by_node(client, &namespace, "name=kured").await;
            let spread = ready_pods_by_node(client, &namespace, "app=spread").await;
            NODES
                .iter()
                .all(|n| daemons.contains_key(*n) && spread.contains_key(*n))
                .then_some(())
        },
        async || reboot_context(cluster, &namespace).await,
    )
    .await;
    // Event timestamps have whole seconds: a second's margin keeps the earlier passes' out.
    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
    let mut boots = BTreeMap::new();
    for node in NODES {
        boots.insert(node, boot_id(&get_node(client, node).await.unwrap()));
    }
    for node in NODES {
        cluster
            .on_node(
                node,
                &[
                    "sh",
                    "-c",
                    "echo '*** System restart required ***' > /run/reboot-required",
                ],
            )
            .await
            .unwrap();
    }
    until(
        "both nodes rebooted, uncordoned, the lock free and a spread replica Ready on each",
        GATED_BOUND,
        async || {
            for node in NODES {
                let current = get_node(client, node).await.ok()?;
                if boot_id(&current) == boots[node] || is_cordoned(&current) {
                    return None;
                }
            }
            let spread = ready_pods_by_node(client, &namespace, "app=spread").await;
            let daemons = ready_pods_by_node(client, &namespace, "name=kured").await;
            (lock_holders(client, &namespace).await.is_empty()
                && NODES
                    .iter()
                    .all(|n| spread.contains_key(*n) && daemons.contains_key(*n)))
            .then_some(())
        },
        async || reboot_context(cluster, &namespace).await,
    )
    .await;

    let acquired = first_node_events("RebootLockAcquired", since).await;
    let mut order: Vec<(jiff::Timestamp, String)> =
        acquired.iter().map(|(n, t)| (*t, n.clone())).collect();
    order.sort();
    assert_eq!(
        order.len(),
        NODES.len(),
        "each node took the lock: {order:?}"
    );
    let (first, second) = (order[0].1.clone(), order[1].1.clone());
    // The first node's replica now is the one its drain evicted, Ready again once the node was
    // back (the second node's drain evicted only its own).
    let spread = ready_pods_by_node(client, &namespace, "app=spread").await;
    let whole_again = ready_since(&spread[&first]).unwrap();
    let gated = first_node_events("RebootHealthGate", since)
        .await
        .contains_key(&first);
    println!(
        "health gate {}: {first} rebooted first; its replica Ready again at {whole_again}; \
         {second} took the lock at {}",
        if health_gate { "on" } else { "off" },
        order[1].0
    );
    ns.cleanup().await.unwrap();
    clear_reboot_cluster_objects(cluster).await;
    HandOver {
        first,
        second,
        second_acquired: order[1].0,
        whole_again,
        gated,
    }
}

#[tokio::test]
#[ignore = "needs a real-node cluster (DRYDOCK_E2E_CLUSTER, scripts/lib/cluster.sh)"]
async fn the_health_gate_hands_the_lock_on_only_when_the_evicted_replica_is_ready_again() {
    let Some(cluster) = cluster() else { return };
    let client = client().await.unwrap();
    // With the gate: the first node keeps the lock after its uncordon until its evicted
    // replica (Pending while it was away: the other node holds the other replica) is Ready.
    let gated = both_nodes_with_a_spread_workload(&cluster, &client, true).await;
    assert!(gated.gated, "{} announced its health gate", gated.first);
    assert!(
        gated.second_acquired >= gated.whole_again,
        "with the gate, {} took the lock at {} only after {}'s replica was Ready again at {}",
        gated.second,
        gated.second_acquired,
        gated.first,
        gated.whole_again
    );
    // Without it (kured's flags), the same check fails: the lock passes on at the uncordon,
    // while the replica is still starting (its readiness delay outlasts the daemons' reaction).
    let kureds = both_nodes_with_a_spread_workload(&cluster, &client, false).await;
    assert!(!kureds.gated, "no health gate under kured's flags");
    assert!(
        kureds.second_acquired < kureds.whole_again,
        "without the gate, {} took the lock at {}, before {}'s replica was Ready again at {}",
        kureds.second,
        kureds.second_acquired,
        kureds.first,
        kureds.whole_again
    );
}

/// Cluster-scoped objects a reboot install leaves when its namespace goes (the ClusterRole
/// and binding are named after the release, `kured`): removed before and after each reboot
/// scenario, so the manifests and the Helm install can follow each other on one cluster.
///
/// The nodes' reboot history is cleared too: the daemon's reboot-loop guard counts every
/// reboot of the last 24 h on the Node, whichever scenario made it, and a third pass over one
/// cluster would be blocked by it. Daemons a failed scenario left running are stopped and its
/// sentinels removed: a lingering daemon would otherwise reboot a node in the next scenario.
async fn clear_reboot_cluster_objects(cluster: &RealCluster) {
    let name = format!("metadata.name={DS_NAME}");
    kubectl(
        &[
            "delete",
            "daemonsets",
            "--all-namespaces",
            "--field-selector",
            &name,
            "--wait=false",
        ],
        "",
        &[],
    )
    .await
    .unwrap();
    for node in NODES {
        cluster
            .on_node(node, &["rm", "-f", "/run/reboot-required"])
            .await
            .unwrap();
    }
    let unset = format!("{REBOOT_HISTORY_ANNOTATION}-");
    kubectl(&["annotate", "nodes", "--all", &unset], "", &[])
        .await
        .unwrap();
    for kind in ["clusterrolebinding", "clusterrole"] {
        kubectl(
            &[
                "delete",
                kind,
                DS_NAME,
                "--ignore-not-found",
                "--wait=false",
            ],
            "",
            &[],
        )
        .await
        .unwrap();
    }
}

/// The reboot scenario once the daemons are installed in `namespace`: a Deployment's replica
/// to move; then, node by node, the workload put on the node, a sentinel written there → the
/// node cordoned, holding the lock, the harness's reboot, a new boot ID, the lock freed, the
/// workload Ready on the other node, the sentinel gone. `admin_cordoned`, when given, is
/// cordoned by "an admin" just before its sentinel appears: it must stay cordoned after its
/// reboot; every other node ends uncordoned. Each node reboots exactly once.
async fn reboot_each_node(
    cluster: &RealCluster,
    client: &Client,
    namespace: &str,
    admin_cordoned: Option<&str>,
) {
    let reboots_before = |node: &str| {
        cluster
            .reboots()
            .matches(&format!("reboot {node}\n"))
            .count()
    };
    let earlier: Vec<usize> = NODES.iter().map(|n| reboots_before(n)).collect();
    // A workload the drain must move: one replica, on whichever node.
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "automountServiceAccountToken": false,
                    "containers": [{
                        "name": "pause", "image": PAUSE_IMAGE, "imagePullPolicy": "Never",
                    }],
                },
            },
        },
    }))
    .unwrap();
    apply(&[serde_json::to_value(&deployment).unwrap()]).await;

    until(
        "the reboot daemon Ready on every node and the workload Ready",
        START_BOUND,
        async || {
            let daemons = ready_pods_by_node(client, namespace, "name=kured").await;
            let web = ready_pods_by_node(client, namespace, "app=web").await;
            (NODES.iter().all(|n| daemons.contains_key(*n)) && !web.is_empty()).then_some(())
        },
        async || reboot_context(cluster, namespace).await,
    )
    .await;

    for node in NODES {
        let other = NODES.iter().find(|n| **n != node).unwrap();
        let before = boot_id(&get_node(client, node).await.unwrap());
        assert!(!before.is_empty(), "{node} reports a boot ID");
        // Put the workload on this node first, so its drain has something to evict.
        let web = ready_pods_by_node(client, namespace, "app=web").await;
        if !web.contains_key(node) {
            kubectl(&["cordon", other], "", &[]).await.unwrap();
            kubectl(
                &[
                    "delete",
                    "pods",
                    "-n",
                    namespace,
                    "-l",
                    "app=web",
                    "--wait=false",
                ],
                "",
                &[],
            )
            .await
            .unwrap();
            until(
                &format!("the workload Ready on {node}"),
                START_BOUND,
                async || {
                    ready_pods_by_node(client, namespace, "app=web")
                        .await
                        .contains_key(node)
                        .then_some(())
                },
                async || reboot_context(cluster, namespace).await,
            )
            .await;
            kubectl(&["uncordon", other], "", &[]).await.unwrap();
        }
        let by_admin = admin_cordoned == Some(node);
        if by_admin {
            kubectl(&["cordon", node], "", &[]).await.unwrap();
        }

        cluster
            .on_node(
                node,
                &[
                    "sh",
                    "-c",
                    "echo '*** System restart required ***' > /run/reboot-required",
                ],
            )
            .await
            .unwrap();
        let mut cordoned = false;
        let mut held = false;
        let end_state = if by_admin {
            "still cordoned (by the admin)"
        } else {
            "uncordoned"
        };
        until(
            &format!("{node} rebooted (new boot ID), {end_state}, lock free, workload on {other}"),
            REBOOT_BOUND,
            async || {
                let current = get_node(client, node).await.ok()?;
                cordoned |= is_cordoned(&current);
                let holders = lock_holders(client, namespace).await;
                held |= holders.iter().any(|h| h == node);
                let web = ready_pods_by_node(client, namespace, "app=web").await;
                let daemons = ready_pods_by_node(client, namespace, "name=kured").await;
                let done = boot_id(&current) != before
                    && is_cordoned(&current) == by_admin
                    && holders.is_empty()
                    && web.contains_key(*other)
                    && daemons.contains_key(node);
                done.then_some(())
            },
            async || reboot_context(cluster, namespace).await,
        )
        .await;
        assert!(cordoned, "{node} was cordoned before its reboot");
        assert!(held, "{node} held the lock for its reboot");
        assert!(
            cluster.reboots().contains(&format!("reboot {node}")),
            "the harness rebooted {node}: {}",
            cluster.reboots()
        );
        let sentinel = cluster
            .on_node(
                node,
                &[
                    "sh",
                    "-c",
                    "test -e /run/reboot-required && echo present || echo gone",
                ],
            )
            .await
            .unwrap();
        assert_eq!(sentinel.trim(), "gone", "the reboot cleared {node}'s /run");
    }
    // Each node rebooted exactly once in this scenario; the admin's cordon stayed.
    for (node, earlier) in NODES.iter().zip(earlier) {
        assert_eq!(
            reboots_before(node),
            earlier + 1,
            "{node} rebooted once: {}",
            cluster.reboots()
        );
    }
    if let Some(node) = admin_cordoned {
        // Still cordoned a while after its reboot (not uncordoned late either).
        tokio::time::sleep(ADMIN_CORDON_SETTLE).await;
        let current = get_node(client, node).await.unwrap();
        assert!(is_cordoned(&current), "{node} stays cordoned by its admin");
        kubectl(&["uncordon", node], "", &[]).await.unwrap();
    }
    println!(
        "peak memory per container (MiB node namespace/pod/container):\n{}",
        cluster.memory_peaks().await.unwrap()
    );
    let names: Vec<String> = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    eprintln!("pods at the end: {names:?}");
}

/// The sample images of the Image Cleaner scenario (`scripts/lib/build-image.sh`): a Debian
/// 12 layout with libssl3 3.0.11-1~deb12u2 (vulnerable under the OSV records served) unless a
/// clean dpkg status is given.
const VULNERABLE_UNUSED: &str = "docker.io/library/drydock-rn-vulnerable:1";
const VULNERABLE_RUNNING: &str = "docker.io/library/drydock-rn-running:1";
const CLEAN_UNUSED: &str = "docker.io/library/drydock-rn-clean:1";
/// A dpkg status with no vulnerable package (zlib1g only).
const CLEAN_STATUS: &str = "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\n\
Source: zlib\nVersion: 1:1.2.13.dfsg-1\n\n";
/// How long the automatic run may take: the manager's start and index build, worker pods on
/// every node (collector, scanner with the index download, remover), their removal.
const RUN_BOUND: Duration = Duration::from_secs(300);

/// Builds a sample image archive in `dir` (`scripts/lib/build-image.sh`).
fn sample_image(
    dir: &std::path::Path,
    reference: &str,
    status: Option<&str>,
) -> std::path::PathBuf {
    let out = dir.join(format!("{}.tar", reference.replace(['/', ':'], "_")));
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib/build-image.sh");
    let mut command = std::process::Command::new("bash");
    command.arg(script).arg(&out).arg(reference);
    if let Some(status) = status {
        let file = dir.join("status");
        std::fs::write(&file, status).unwrap();
        command.env("STATUS_FILE", file);
    }
    assert!(
        command.status().unwrap().success(),
        "build-image.sh {reference}"
    );
    out
}

/// The OSV records of the repository's demo (`testdata/osv`) as an `all.zip` in the harness's
/// web directory; returns the URL pods fetch it from.
async fn serve_osv(cluster: &RealCluster) -> String {
    let osv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/osv");
    let target = cluster.www_dir().join("osv");
    std::fs::create_dir_all(&target).unwrap();
    let records: Vec<std::path::PathBuf> = std::fs::read_dir(&osv)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    let status = std::process::Command::new("python3")
        .args(["-m", "zipfile", "-c"])
        .arg(target.join("all.zip"))
        .args(&records)
        .status()
        .unwrap();
    assert!(status.success(), "zip the OSV records");
    format!("{}/osv/all.zip", cluster.www_url().await.unwrap())
}

/// The Image Cleaner's cluster-scoped objects a namespace's deletion leaves behind (its
/// ClusterRole and binding have fixed names, Eraser's; ImageJobs and the ImageList are
/// cluster-scoped): removed before and after each cleaner scenario, so an `enable` and a
/// `helm install` can follow each other on one cluster (Helm refuses to adopt objects it did
/// not create). A manager a failed scenario left running is stopped too: it would clean the
/// nodes under the next scenario's feet.
async fn clear_cleaner_cluster_objects() {
    kubectl(
        &[
            "delete",
            "deployments",
            "--all-namespaces",
            "-l",
            MANAGER_LABEL,
            "--wait=false",
        ],
        "",
        &[],
    )
    .await
    .unwrap();
    for args in [
        &["delete", "clusterrolebinding", "eraser-manager-rolebinding"][..],
        &["delete", "clusterrole", "eraser-manager-role"],
        &["delete", "imagejobs", "--all"],
        &["delete", "imagelist", "imagelist"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--ignore-not-found", "--wait=false"]);
        if let Err(err) = kubectl(&args, "", &[]).await {
            // Before any install the CRDs (so the resource types) do not exist yet.
            let text = err.to_string();
            assert!(
                text.contains("doesn't have a resource type"),
                "kubectl {}: {text}",
                args.join(" ")
            );
        }
    }
}

/// Imports the sample images into every node and keeps [`VULNERABLE_RUNNING`] in use with a
/// pod on every node; returns when those pods are Ready. The archives live in the returned
/// directory.
async fn prepare_cleaner_nodes(
    cluster: &RealCluster,
    client: &Client,
    namespace: &str,
) -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    for (reference, status) in [
        (VULNERABLE_UNUSED, None),
        (VULNERABLE_RUNNING, None),
        (CLEAN_UNUSED, Some(CLEAN_STATUS)),
    ] {
        let archive = sample_image(work.path(), reference, status);
        cluster.import(&archive).await.unwrap();
    }
    for node in NODES {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {
                "name": format!("user-{node}"), "namespace": namespace, "labels": {"app": "user"},
            },
            "spec": {
                "nodeName": node,
                "terminationGracePeriodSeconds": 1,
                "automountServiceAccountToken": false,
                "containers": [{
                    "name": "app", "image": VULNERABLE_RUNNING, "imagePullPolicy": "Never",
                }],
            },
        }))
        .unwrap();
        apply(&[serde_json::to_value(&pod).unwrap()]).await;
    }
    until(
        "the user pods Ready on every node",
        START_BOUND,
        async || {
            let users = ready_pods_by_node(client, namespace, "app=user").await;
            NODES.iter().all(|n| users.contains_key(*n)).then_some(())
        },
        async || cleaner_context(cluster, namespace).await,
    )
    .await;
    work
}

/// The label every worker pod carries: the name of its ImageJob.
const JOB_LABEL: &str = "drydock.dev/imagejob";

/// The worker pods of `namespace` (every job's, or `job`'s).
async fn worker_pods(client: &Client, namespace: &str, job: Option<&str>) -> Option<Vec<Pod>> {
    let selector = job.map_or_else(|| JOB_LABEL.to_owned(), |j| format!("{JOB_LABEL}={j}"));
    Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&selector))
        .await
        .ok()
        .map(|l| l.items)
}

/// The per-image lines `kubectl logs <pod> -c <container>` must show for the automatic run:
/// the collector lists the unused image, the scanner finds it vulnerable, the remover removes
/// it (Eraser's container names, as the AKS document reads them).
const WORKER_LOG_LINES: [(&str, &str); 3] = [
    ("collector", "images collected"),
    ("trivy-scanner", "vulnerable image found"),
    ("remover", "removed image"),
];

/// How the automatic run is checked beyond its outcome.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RunChecks {
    /// Also every worker's container logs, read while the pods are kept (`delayOnSuccess`
    /// above zero).
    Logs,
    /// The manager pod deleted once the workers run: its successor (the Deployment's) must
    /// finish that run and start no second one.
    ManagerDeleted,
}

/// The manager pods' label (Eraser's Deployment selector).
const MANAGER_LABEL: &str = "control-plane=controller-manager";

/// The runs of the history ConfigMap, oldest first, as `(job, mode, phase)`.
async fn history_runs(client: &Client, namespace: &str) -> Vec<(String, String, String)> {
    history_records(client, namespace)
        .await
        .iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (field("job"), field("mode"), field("phase"))
        })
        .collect()
}

/// Follows the automatic run of the manager in `namespace`: worker pods on every node whose
/// every container runs the nodes' Drydock image; (with [`RunChecks::Logs`]) each pod
/// succeeds and its containers' logs show the per-image lines; the unused vulnerable image
/// goes from every node while the running, clean, pause and Drydock images stay; the worker
/// pods are gone afterwards (a failed run keeps its pods: gone means succeeded).
async fn automatic_run(cluster: &RealCluster, client: &Client, namespace: &str, checks: RunChecks) {
    let mut workers_seen: BTreeMap<String, Pod> = BTreeMap::new();
    let job = until(
        "the first run's worker pods on every node",
        RUN_BOUND,
        async || {
            let mut job = None;
            for pod in worker_pods(client, namespace, None).await? {
                let label = pod.labels().get(JOB_LABEL).cloned();
                if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
                    workers_seen.insert(node, pod);
                    job = label;
                }
            }
            if NODES.iter().all(|n| workers_seen.contains_key(*n)) {
                job
            } else {
                None
            }
        },
        async || cleaner_context(cluster, namespace).await,
    )
    .await;
    for (node, pod) in &workers_seen {
        let spec = pod.spec.as_ref().unwrap();
        let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["collector", "remover", "trivy-scanner"],
            "Eraser's container names on {node}"
        );
        for container in &spec.containers {
            assert_eq!(
                container.image.as_deref(),
                Some(cluster.image()),
                "{} on {node} runs the nodes' Drydock image",
                container.name
            );
        }
    }
    if checks == RunChecks::ManagerDeleted {
        // The run can start before the manager is Ready (readiness comes after the index).
        let before = until(
            "the manager pod Ready",
            START_BOUND,
            async || {
                let ready = ready_pods_by_node(client, namespace, MANAGER_LABEL).await;
                ready.values().next().map(ResourceExt::name_any)
            },
            async || cleaner_context(cluster, namespace).await,
        )
        .await;
        kubectl(
            &["delete", "pod", "-n", namespace, &before, "--wait=false"],
            "",
            &[],
        )
        .await
        .unwrap();
        until(
            "the manager's successor Ready",
            START_BOUND,
            async || {
                let now = ready_pods_by_node(client, namespace, MANAGER_LABEL).await;
                now.values().any(|p| p.name_any() != before).then_some(())
            },
            async || cleaner_context(cluster, namespace).await,
        )
        .await;
    }
    if checks == RunChecks::Logs {
        let pods: Vec<String> = until(
            "every worker pod Succeeded",
            RUN_BOUND,
            async || {
                let pods = worker_pods(client, namespace, Some(&job)).await?;
                let done = pods.len() == NODES.len()
                    && pods.iter().all(|p| {
                        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded")
                    });
                done.then(|| pods.iter().map(ResourceExt::name_any).collect())
            },
            async || cleaner_context(cluster, namespace).await,
        )
        .await;
        for pod in &pods {
            for (container, line) in WORKER_LOG_LINES {
                let logs = kubectl(&["logs", "-n", namespace, pod, "-c", container], "", &[])
                    .await
                    .unwrap();
                assert!(
                    logs.lines()
                        .any(|l| l.contains(line) && l.contains(VULNERABLE_UNUSED)),
                    "kubectl logs {pod} -c {container} shows {line:?} for {VULNERABLE_UNUSED}:\n{logs}"
                );
            }
        }
    }
    until(
        "the unused vulnerable image gone from every node, the worker pods gone",
        RUN_BOUND,
        async || {
            for node in NODES {
                if cluster.images(node).await.ok()?.contains(VULNERABLE_UNUSED) {
                    return None;
                }
            }
            worker_pods(client, namespace, Some(&job))
                .await?
                .is_empty()
                .then_some(())
        },
        async || cleaner_context(cluster, namespace).await,
    )
    .await;
    for node in NODES {
        let images = cluster.images(node).await.unwrap();
        for kept in [
            VULNERABLE_RUNNING,
            CLEAN_UNUSED,
            PAUSE_IMAGE,
            cluster.image(),
        ] {
            assert!(images.contains(kept), "{kept} stays on {node}: {images:?}");
        }
    }
    // One run, that job's, and it completed: a successor that started a second run (or lost
    // the first) shows here; no worker pod of another job is left running.
    let runs = until(
        "the run in the history",
        START_BOUND,
        async || {
            let runs = history_runs(client, namespace).await;
            (!runs.is_empty()).then_some(runs)
        },
        async || cleaner_context(cluster, namespace).await,
    )
    .await;
    assert_eq!(
        runs,
        [(job.clone(), "automatic".to_owned(), "Completed".to_owned())],
        "the history holds the one automatic run"
    );
    let left = worker_pods(client, namespace, None).await.unwrap();
    assert!(
        left.is_empty(),
        "no second run's workers: {:?}",
        left.iter().map(ResourceExt::name_any).collect::<Vec<_>>()
    );
}

#[tokio::test]
#[ignore = "needs a real-node cluster (DRYDOCK_E2E_CLUSTER, scripts/lib/cluster.sh)"]
async fn enable_runs_the_workers_on_every_node_and_removes_only_unused_vulnerable_images() {
    let Some(cluster) = cluster() else { return };
    let client = client().await.unwrap();
    clear_cleaner_cluster_objects().await;
    let ns = TestNamespace::create(&client, "rn-cleaner").await.unwrap();
    let namespace = ns.name().to_owned();
    let _work = prepare_cleaner_nodes(&cluster, &client, &namespace).await;

    let url = serve_osv(&cluster).await;
    drydock(&[
        "image-cleaner",
        "enable",
        "-n",
        &namespace,
        "--image",
        cluster.image(),
        "--vulndb-source",
        &url,
    ]);
    // The run `enable` starts at once: it may come before the manager pod is Ready (its
    // Service has no endpoint yet, a finding of this tier, docs/design/005-real-node-tier.md);
    // its scanners then wait for the index (`drydock_cleaner::node::fetch::FIRST_INDEX_PATIENCE`) instead of
    // failing the run on every node.
    // The manager pod is deleted in the middle of that run: its successor finishes it.
    automatic_run(&cluster, &client, &namespace, RunChecks::ManagerDeleted).await;

    // Then the seed's manual flow: an ImageList named `imagelist` with "*" removes every unused
    // image that no exclusion keeps, on every node, and its worker pods go.
    let imagelist = "apiVersion: eraser.sh/v1\nkind: ImageList\nmetadata:\n  name: imagelist\nspec:\n  images:\n    - \"*\"\n";
    kubectl(&["apply", "-f", "-"], imagelist, &[])
        .await
        .unwrap();
    until(
        "the ImageList run: every unused image gone from every node, its worker pods gone",
        RUN_BOUND,
        async || {
            for node in NODES {
                if cluster.images(node).await.ok()?.contains(CLEAN_UNUSED) {
                    return None;
                }
            }
            worker_pods(&client, &namespace, None)
                .await?
                .is_empty()
                .then_some(())
        },
        async || cleaner_context(&cluster, &namespace).await,
    )
    .await;
    for node in NODES {
        let images = cluster.images(node).await.unwrap();
        // In use (a running pod's image, the sandbox image) or excluded (Drydock's own image,
        // by the eraser-system-exclusion list): kept.
        for kept in [VULNERABLE_RUNNING, PAUSE_IMAGE, cluster.image()] {
            assert!(images.contains(kept), "{kept} stays on {node}: {images:?}");
        }
    }
    println!(
        "peak memory per container (MiB node namespace/pod/container):\n{}",
        cluster.memory_peaks().await.unwrap()
    );
    ns.cleanup().await.unwrap();
    clear_cleaner_cluster_objects().await;
}

/// The EraserConfig's ConfigMap and key (`drydock manifests image-cleaner`, Eraser's names).
const CONFIG_MAP: &str = "eraser-manager-config";
const CONFIG_KEY: &str = "controller_manager_config.yaml";
/// The minimum age the options scenario configures: far longer than the scenario, so the
/// sample images it imports stay young throughout.
const MINIMUM_AGE: &str = "1h";
/// How long the manager may take to see an edited configuration (its watch) and say so.
const RELOAD_BOUND: Duration = Duration::from_secs(60);

/// The configuration `drydock manifests image-cleaner` writes for `image`, with
/// `components.remover.minimumAge` and `reportInUse: true` in `components.scanner.config`.
fn config_with_minimum_age_and_report(namespace: &str, image: &str) -> String {
    let objects = manifests("image-cleaner", namespace, image);
    let configmap = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == CONFIG_MAP)
        .expect("the manifests hold the EraserConfig");
    let mut config: Value =
        serde_saphyr::from_str(configmap["data"][CONFIG_KEY].as_str().unwrap()).unwrap();
    config["components"]["remover"]["minimumAge"] = json!(MINIMUM_AGE);
    let scanner_text = config["components"]["scanner"]["config"]
        .as_str()
        .unwrap_or_default();
    let mut scanner: Value = serde_saphyr::from_str(scanner_text).unwrap_or_default();
    if !scanner.is_object() {
        scanner = json!({});
    }
    scanner["reportInUse"] = json!(true);
    config["components"]["scanner"]["config"] = json!(serde_saphyr::to_string(&scanner).unwrap());
    serde_saphyr::to_string(&config).unwrap()
}

/// The ConfigMap `eraser-manager-config` of `namespace` holding `text`.
fn config_map(namespace: &str, text: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP, "namespace": namespace},
        "data": {CONFIG_KEY: text},
    })
}

/// How many `ConfigReloaded` Events the manager wrote about its ConfigMap.
async fn config_reloads(client: &Client, namespace: &str) -> usize {
    Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .iter()
                .filter(|e| {
                    e.reason.as_deref() == Some("ConfigReloaded")
                        && e.involved_object.name.as_deref() == Some(CONFIG_MAP)
                })
                .count()
        })
        .unwrap_or_default()
}

/// The history ConfigMap's runs as stored (`history.json`), oldest first.
async fn history_records(client: &Client, namespace: &str) -> Vec<Value> {
    let Ok(cm) = Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get("drydock-image-cleaner-history")
        .await
    else {
        return Vec::new();
    };
    let text = cm
        .data
        .and_then(|mut d| d.remove("history.json"))
        .unwrap_or_default();
    let history: Value = serde_json::from_str(&text).unwrap_or_default();
    history["runs"].as_array().cloned().unwrap_or_default()
}

/// Waits for the `count`-th run of the history and returns its record, after checking that it
/// is an automatic run that completed with a worker pod that succeeded on every node.
async fn nth_run(cluster: &RealCluster, client: &Client, namespace: &str, count: usize) -> Value {
    let run = until(
        &format!("run {count} in the history"),
        RUN_BOUND,
        async || {
            history_records(client, namespace)
                .await
                .get(count - 1)
                .cloned()
        },
        async || cleaner_context(cluster, namespace).await,
    )
    .await;
    assert_eq!(run["mode"], "automatic", "run {count}: {run:#}");
    assert_eq!(run["phase"], "Completed", "run {count}: {run:#}");
    for node in NODES {
        let record = node_record(&run, node);
        assert_eq!(
            record["outcome"], "succeeded",
            "run {count} on {node}: {run:#}"
        );
    }
    run
}

/// `node`'s record in a history `run`.
fn node_record<'a>(run: &'a Value, node: &str) -> &'a Value {
    run["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["node"] == node))
        .unwrap_or_else(|| panic!("{node} in the run: {run:#}"))
}

/// Whether the JSON list `names` holds `image`.
fn lists(names: &Value, image: &str) -> bool {
    names
        .as_array()
        .is_some_and(|names| names.iter().any(|n| n.as_str() == Some(image)))
}

/// Checks that `image` is on every node.
async fn on_every_node(cluster: &RealCluster, image: &str, why: &str) {
    for node in NODES {
        let images = cluster.images(node).await.unwrap();
        assert!(
            images.contains(image),
            "{image} stays on {node} ({why}): {images:?}"
        );
    }
}

/// Waits for the in-use report of `job` (`drydock image-cleaner report -o json`) and checks
/// that it lists [`VULNERABLE_RUNNING`] on every node and no image that is not in use.
async fn report_lists_the_running_image(cluster: &RealCluster, namespace: &str, job: &str) {
    let report = until(
        &format!("the in-use report of {job}"),
        START_BOUND,
        async || {
            let text = drydock(&["image-cleaner", "report", "-n", namespace, "-o", "json"]);
            let report: Value = serde_json::from_str(&text).unwrap();
            (report["job"] == job).then_some(report)
        },
        async || cleaner_context(cluster, namespace).await,
    )
    .await;
    let images = report["images"].as_array().cloned().unwrap_or_default();
    let running = images
        .iter()
        .find(|i| lists(&i["names"], VULNERABLE_RUNNING))
        .unwrap_or_else(|| panic!("{VULNERABLE_RUNNING} in the report: {report:#}"));
    assert_eq!(running["nodes"], json!(NODES), "{report:#}");
    assert_eq!(running["nodeCount"], NODES.len(), "{report:#}");
    assert!(
        running["severities"]
            .as_object()
            .is_some_and(|s| !s.is_empty()),
        "its findings are counted: {report:#}"
    );
    for unused in [VULNERABLE_UNUSED, CLEAN_UNUSED] {
        assert!(
            !images.iter().any(|i| lists(&i["names"], unused)),
            "{unused} is not in use, so not in the report: {report:#}"
        );
    }
}

#[tokio::test]
#[ignore = "needs a real-node cluster (DRYDOCK_E2E_CLUSTER, scripts/lib/cluster.sh)"]
async fn the_minimum_age_keeps_a_fresh_image_a_dry_run_removes_nothing_and_the_report_lists_running_images()
 {
    let Some(cluster) = cluster() else { return };
    let client = client().await.unwrap();
    clear_cleaner_cluster_objects().await;
    let ns = TestNamespace::create(&client, "rn-cleaner-options")
        .await
        .unwrap();
    let namespace = ns.name().to_owned();
    // The sample images are imported now: minutes old at most, younger than the minimum age.
    let _work = prepare_cleaner_nodes(&cluster, &client, &namespace).await;

    // The configuration `enable` would write, with the minimum age and the in-use report;
    // `enable` keeps an existing configuration as it is.
    let config = config_with_minimum_age_and_report(&namespace, cluster.image());
    apply(&[config_map(&namespace, &config)]).await;
    let url = serve_osv(&cluster).await;
    let enabled = drydock(&[
        "image-cleaner",
        "enable",
        "-n",
        &namespace,
        "--image",
        cluster.image(),
        "--vulndb-source",
        &url,
    ]);
    assert!(
        enabled.contains("existing configuration kept unchanged"),
        "enable keeps the configuration: {enabled}"
    );

    // 1. The run `enable` starts, a real one under the minimum age: the unused vulnerable image
    // is young on every node, so it stays; the in-use report lists the running image.
    let first = nth_run(&cluster, &client, &namespace, 1).await;
    assert!(first.get("dryRun").is_none(), "a real run: {first:#}");
    for node in NODES {
        let removed = &node_record(&first, node)["removed"];
        assert!(
            !lists(removed, VULNERABLE_UNUSED),
            "{VULNERABLE_UNUSED} is younger than {MINIMUM_AGE} on {node}: {first:#}"
        );
    }
    on_every_node(&cluster, VULNERABLE_UNUSED, "younger than the minimum age").await;
    report_lists_the_running_image(&cluster, &namespace, first["job"].as_str().unwrap()).await;

    // 2. Without the minimum age (the manager reloads its configuration), a dry run: the
    // workers run on every node and would remove the image, which stays; the history says so.
    let reloads = config_reloads(&client, &namespace).await;
    let mut without_age: Value = serde_saphyr::from_str(&config).unwrap();
    without_age["components"]["remover"]
        .as_object_mut()
        .unwrap()
        .remove("minimumAge");
    let without_age = serde_saphyr::to_string(&without_age).unwrap();
    apply(&[config_map(&namespace, &without_age)]).await;
    until(
        "the manager reloading the configuration without the minimum age",
        RELOAD_BOUND,
        async || (config_reloads(&client, &namespace).await > reloads).then_some(()),
        async || cleaner_context(&cluster, &namespace).await,
    )
    .await;
    drydock(&["image-cleaner", "run", "--dry-run", "-n", &namespace]);
    let dry = nth_run(&cluster, &client, &namespace, 2).await;
    assert_eq!(dry["dryRun"], true, "the run is marked a dry run: {dry:#}");
    for node in NODES {
        let record = node_record(&dry, node);
        assert!(
            lists(&record["wouldRemove"], VULNERABLE_UNUSED),
            "the dry run would remove {VULNERABLE_UNUSED} on {node}: {dry:#}"
        );
        assert!(
            record["removed"].as_array().is_none_or(Vec::is_empty),
            "a dry run removes nothing on {node}: {dry:#}"
        );
    }
    on_every_node(&cluster, VULNERABLE_UNUSED, "a dry run").await;

    // 3. A real run under the same configuration removes it: the minimum age and the dry run
    // were what kept it. The running image stays and is reported again.
    drydock(&["image-cleaner", "run", "-n", &namespace]);
    let real = nth_run(&cluster, &client, &namespace, 3).await;
    assert!(real.get("dryRun").is_none(), "a real run: {real:#}");
    for node in NODES {
        let images = cluster.images(node).await.unwrap();
        assert!(
            !images.contains(VULNERABLE_UNUSED),
            "{VULNERABLE_UNUSED} gone from {node}: {images:?}\n{real:#}"
        );
        assert!(
            lists(&node_record(&real, node)["removed"], VULNERABLE_UNUSED),
            "the history names {VULNERABLE_UNUSED} removed on {node}: {real:#}"
        );
    }
    for kept in [
        VULNERABLE_RUNNING,
        CLEAN_UNUSED,
        PAUSE_IMAGE,
        cluster.image(),
    ] {
        on_every_node(&cluster, kept, "in use, clean or excluded").await;
    }
    report_lists_the_running_image(&cluster, &namespace, real["job"].as_str().unwrap()).await;

    println!(
        "peak memory per container (MiB node namespace/pod/container):\n{}",
        cluster.memory_peaks().await.unwrap()
    );
    ns.cleanup().await.unwrap();
    clear_cleaner_cluster_objects().await;
}

/// `helm install` / `helm uninstall` through Helm's library (`scripts/lib/helm.py`; there is
/// no helm binary), against the test's cluster.
fn helm(args: &[&str]) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib/helm.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .args(args)
        .env(
            drydock_e2e::KUBECONFIG_ENV,
            drydock_e2e::kubeconfig().unwrap(),
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "helm {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A values file of the chart tests (`charts/tests/testdata`), as JSON.
fn chart_values(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../charts/tests/testdata")
        .join(name);
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `image` split into the chart's `repo` and `tag` (at the last `:` after the last `/`).
fn repo_and_tag(image: &str) -> (&str, &str) {
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(colon) => (&image[..slash + colon], &image[slash + colon + 1..]),
        None => (image, ""),
    }
}

/// How long succeeded worker pods are kept in the Helm scenario (`delayOnSuccess`), so their
/// logs can be read: the test reads them as soon as every pod has succeeded.
const LOG_WINDOW: &str = "30s";

#[tokio::test]
#[ignore = "needs a real-node cluster (DRYDOCK_E2E_CLUSTER, scripts/lib/cluster.sh)"]
async fn helm_install_with_erasers_values_runs_the_workers_and_their_logs_show_each_image() {
    let Some(cluster) = cluster() else { return };
    let client = client().await.unwrap();
    clear_cleaner_cluster_objects().await;
    let ns = TestNamespace::create(&client, "rn-helm-cleaner")
        .await
        .unwrap();
    let namespace = ns.name().to_owned();
    let work = prepare_cleaner_nodes(&cluster, &client, &namespace).await;

    // Eraser's own values file, with what this install adds: the mirrored image, the index
    // source, and succeeded pods kept long enough to read their logs.
    let url = serve_osv(&cluster).await;
    let (repo, tag) = repo_and_tag(cluster.image());
    let mut values = chart_values("eraser-chart-values.yaml");
    values["deploy"]["image"]["repo"] = json!(repo);
    values["deploy"]["image"]["tag"] = json!(tag);
    values["vulndb"] = json!({"sources": [url]});
    values["runtimeConfig"]["manager"]["imageJob"]["cleanup"]["delayOnSuccess"] = json!(LOG_WINDOW);
    let values_file = work.path().join("values.json");
    std::fs::write(&values_file, values.to_string()).unwrap();
    let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/image-cleaner");
    helm(&[
        "install",
        &chart.display().to_string(),
        "eraser",
        &namespace,
        &values_file.display().to_string(),
    ]);

    until(
        "the manager pod Ready",
        START_BOUND,
        async || {
            (!ready_pods_by_node(&client, &namespace, "control-plane=controller-manager")
                .await
                .is_empty())
            .then_some(())
        },
        async || cleaner_context(&cluster, &namespace).await,
    )
    .await;
    automatic_run(&cluster, &client, &namespace, RunChecks::Logs).await;

    helm(&["uninstall", "eraser", &namespace]);
    println!(
        "peak memory per container (MiB node namespace/pod/container):\n{}",
        cluster.memory_peaks().await.unwrap()
    );
    ns.cleanup().await.unwrap();
    clear_cleaner_cluster_objects().await;
}

/// Runs `drydock <args> --kubeconfig <the cluster's>`, checks that it succeeded and returns
/// its standard output.
fn drydock(args: &[&str]) -> String {
    let output = std::process::Command::new(drydock_e2e::drydock_bin())
        .args(args)
        .arg("--kubeconfig")
        .arg(drydock_e2e::kubeconfig().unwrap())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "drydock {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The manager's log, the worker pods' logs and the pods, for a failure message.
async fn cleaner_context(cluster: &RealCluster, namespace: &str) -> String {
    let pods = kubectl(&["get", "pods", "-n", namespace, "-o", "wide"], "", &[])
        .await
        .unwrap_or_else(|e| e.to_string());
    let manager = kubectl(
        &[
            "logs",
            "-n",
            namespace,
            "deploy/eraser-controller-manager",
            "--tail=40",
        ],
        "",
        &[],
    )
    .await
    .unwrap_or_else(|e| e.to_string());
    let workers = kubectl(
        &[
            "logs",
            "-n",
            namespace,
            "-l",
            "drydock.dev/imagejob",
            "--all-containers",
            "--prefix",
            "--tail=20",
        ],
        "",
        &[],
    )
    .await
    .unwrap_or_else(|e| e.to_string());
    let mut images = String::new();
    for node in NODES {
        images.push_str(&format!(
            "--- images on {node}\n{:?}\n",
            cluster.images(node).await.unwrap_or_default()
        ));
    }
    format!("--- pods\n{pods}--- manager\n{manager}--- workers\n{workers}{images}")
}

/// Eraser's worker pods' shared pipes directory.
const SHARED_DATA: &str = "/run/eraser.sh/shared-data";
/// Where Eraser mounts the node's runtime socket in every worker container.
const CRI_SOCKET: &str = "/run/cri/cri.sock";
/// The node's containerd socket (`manager.runtime.address`'s path).
const NODE_CONTAINERD_SOCKET: &str = "/run/containerd/containerd.sock";
/// The ServiceAccount Eraser's manager gives every worker pod.
const ERASER_WORKER_ACCOUNT: &str = "eraser-imagejob-pods";

/// Eraser's `pkg/utils/security_context.go`, the remover's securityContext.
fn erasers_security_context() -> Value {
    json!({
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": true,
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

/// A container as Eraser's manager writes it for Drydock's image: no `command` (the image's
/// entrypoint runs), Eraser's flags, the runtime socket at `/run/cri/cri.sock`, `NODE_NAME`,
/// the exclusion ConfigMap at Eraser's relative mount path.
fn erasers_container(
    name: &str,
    image: &str,
    args: &[&str],
    mut env: Vec<Value>,
    mut mounts: Vec<Value>,
) -> Value {
    env.push(
        json!({"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}),
    );
    mounts.push(json!({"name": "runtime-sock-volume", "mountPath": CRI_SOCKET}));
    mounts.push(json!({"name": "excluded", "mountPath": "exclude-excluded"}));
    json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "env": env,
        "volumeMounts": mounts,
    })
}

/// A worker pod as Eraser's manager creates it on `node` (its ImageJob controller's pod edits):
/// `restartPolicy: Never`, its ServiceAccount, every taint tolerated, the node set directly,
/// the runtime socket volume first, then `volumes`.
fn erasers_pod(
    namespace: &str,
    name: &str,
    node: &str,
    containers: Vec<Value>,
    volumes: Vec<Value>,
) -> Value {
    let mut all = vec![
        json!({"name": "runtime-sock-volume", "hostPath": {"path": NODE_CONTAINERD_SOCKET}}),
        json!({"name": "excluded", "configMap": {"name": "excluded"}}),
    ];
    all.extend(volumes);
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "eraser-worker"}},
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never",
            "serviceAccountName": ERASER_WORKER_ACCOUNT,
            "tolerations": [{"operator": "Exists"}],
            "containers": containers,
            "volumes": all,
        },
    })
}

/// The phase of pod `name`, once it has ended.
async fn ended_phase(client: &Client, namespace: &str, name: &str) -> Option<String> {
    let pod = Api::<Pod>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .ok()?;
    let phase = pod.status?.phase?;
    matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
}

#[tokio::test]
#[ignore = "needs a real-node cluster (DRYDOCK_E2E_CLUSTER, scripts/lib/cluster.sh)"]
async fn erasers_own_worker_pods_run_drydocks_image() {
    let Some(cluster) = cluster() else { return };
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "rn-eraser-pods")
        .await
        .unwrap();
    let namespace = ns.name().to_owned();
    let _work = prepare_cleaner_nodes(&cluster, &client, &namespace).await;
    ns.create_service_account(ERASER_WORKER_ACCOUNT)
        .await
        .unwrap();
    // An exclusion list as Eraser's documentation creates it: Drydock's own image and the
    // clean sample stay whatever the workers decide.
    let (repo, _) = repo_and_tag(cluster.image());
    let excluded = json!({"excluded": [format!("{repo}:*"), CLEAN_UNUSED]});
    apply(&[json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": "excluded", "namespace": namespace,
            "labels": {"eraser.sh/exclude.list": "true"},
        },
        "data": {"sample.json": excluded.to_string()},
    })])
    .await;
    // The manual run's image list, as Eraser's manager writes it (key `images`, a JSON array).
    apply(&[json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "imagelist-rn", "namespace": namespace},
        "data": {"images": json!([VULNERABLE_UNUSED, VULNERABLE_RUNNING, CLEAN_UNUSED]).to_string()},
    })])
    .await;

    let shared = || json!({"name": "shared-data", "mountPath": SHARED_DATA});
    let otel = |service: &str| {
        vec![
            json!({"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": ""}),
            json!({"name": "OTEL_SERVICE_NAME", "value": service}),
        ]
    };
    let image = cluster.image();
    // Automatic mode without the scanner on node-a: collector (no OTEL variable, as Eraser
    // writes it) hands the unused, non-excluded images to the remover.
    let mut remover = erasers_container(
        "remover",
        image,
        &[
            "--log-level=info",
            "--enable-pprof=false",
            "--pprof-port=6060",
        ],
        otel("remover"),
        vec![shared()],
    );
    remover["securityContext"] = erasers_security_context();
    let collector_pod = erasers_pod(
        &namespace,
        "eraser-node-a-rn",
        NODES[0],
        vec![
            erasers_container(
                "collector",
                image,
                &[
                    "--scan-disabled=true",
                    "--enable-pprof=false",
                    "--pprof-port=6060",
                ],
                Vec::new(),
                vec![shared()],
            ),
            remover,
        ],
        vec![json!({"name": "shared-data", "emptyDir": {}})],
    );
    // Manual mode on node-b: one remover with the ImageList's ConfigMap.
    let mut manual = erasers_container(
        "remover",
        image,
        &[
            "--imagelist=/run/eraser.sh/imagelist/images",
            "--log-level=info",
        ],
        otel("remover"),
        vec![json!({"name": "imagelist", "mountPath": "/run/eraser.sh/imagelist"})],
    );
    manual["securityContext"] = erasers_security_context();
    let manual_pod = erasers_pod(
        &namespace,
        "eraser-node-b-rn",
        NODES[1],
        vec![manual],
        vec![json!({"name": "imagelist", "configMap": {"name": "imagelist-rn"}})],
    );
    apply(&[collector_pod, manual_pod]).await;

    for pod in ["eraser-node-a-rn", "eraser-node-b-rn"] {
        let phase = until(
            &format!("{pod} ended"),
            RUN_BOUND,
            async || ended_phase(&client, &namespace, pod).await,
            async || cleaner_context(&cluster, &namespace).await,
        )
        .await;
        let logs = kubectl(
            &[
                "logs",
                "-n",
                &namespace,
                pod,
                "--all-containers",
                "--prefix",
            ],
            "",
            &[],
        )
        .await
        .unwrap_or_default();
        assert_eq!(phase, "Succeeded", "{pod} succeeded:\n{logs}");
        assert!(
            logs.lines()
                .any(|l| l.contains("removed image") && l.contains(VULNERABLE_UNUSED)),
            "{pod}'s remover removed {VULNERABLE_UNUSED}:\n{logs}"
        );
    }
    for node in NODES {
        let images = cluster.images(node).await.unwrap();
        assert!(
            !images.contains(VULNERABLE_UNUSED),
            "{VULNERABLE_UNUSED} gone from {node}: {images:?}"
        );
        for kept in [
            VULNERABLE_RUNNING,
            CLEAN_UNUSED,
            PAUSE_IMAGE,
            cluster.image(),
        ] {
            assert!(images.contains(kept), "{kept} stays on {node}: {images:?}");
        }
    }
    ns.cleanup().await.unwrap();
}

/// Where Eraser's manager mounts its own ConfigMap (`eraser-manager-config`) in the scanner
/// container, and the scanner's `--config` file in it.
const ERASER_CONFIG_DIR: &str = "/config";
const ERASER_CONFIG_KEY: &str = "controller_manager_config.yaml";
/// The node's containerd root: the scanner reads image blobs there (a hostPath of
/// `components.scanner.volumes`, as Drydock's README tells an Eraser user to add).
const NODE_CONTAINERD_ROOT: &str = "/var/lib/containerd";

/// Eraser's scanner container for `components.scanner`: `--config` and the pprof flags, the
/// whole `eraser-manager-config` ConfigMap at `/config`, every `components.scanner.volumes`
/// hostPath read-only at its own path, `OTEL_*`, `ERASER_RUNTIME_NAME` and (added by the ImageJob
/// controller to containers[2]) `CONTAINERD_NAMESPACE=k8s.io`; no securityContext.
fn erasers_scanner_container(image: &str, host_paths: &[(&str, &str)]) -> Value {
    let mut mounts = vec![
        json!({"name": "shared-data", "mountPath": SHARED_DATA}),
        json!({"name": "eraser-config", "mountPath": ERASER_CONFIG_DIR}),
    ];
    for (name, path) in host_paths {
        mounts.push(json!({"name": name, "mountPath": path, "readOnly": true}));
    }
    let mut container = erasers_container(
        "trivy-scanner",
        image,
        &[
            &format!("--config={ERASER_CONFIG_DIR}/{ERASER_CONFIG_KEY}"),
            "--enable-pprof=false",
            "--pprof-port=6060",
        ],
        vec![
            json!({"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": ""}),
            json!({"name": "OTEL_SERVICE_NAME", "value": "trivy-scanner"}),
            json!({"name": "ERASER_RUNTIME_NAME", "value": "containerd"}),
        ],
        mounts,
    );
    container["env"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "CONTAINERD_NAMESPACE", "value": "k8s.io"}));
    container
}

#[tokio::test]
#[ignore = "needs a real-node cluster (DRYDOCK_E2E_CLUSTER, scripts/lib/cluster.sh)"]
async fn erasers_own_scanner_container_runs_drydocks_image_and_its_verdict_reaches_the_remover() {
    let Some(cluster) = cluster() else { return };
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "rn-eraser-scanner")
        .await
        .unwrap();
    let namespace = ns.name().to_owned();
    let _work = prepare_cleaner_nodes(&cluster, &client, &namespace).await;
    ns.create_service_account(ERASER_WORKER_ACCOUNT)
        .await
        .unwrap();
    // The index, as Drydock's README tells an Eraser user who swaps in only the scanner image:
    // built by `drydock vulndb build` into a host directory every node has, named by the
    // scanner configuration's `dbPath` and mounted from `components.scanner.volumes`.
    let index_dir = cluster.dir().join(format!("vulndb-{namespace}"));
    std::fs::create_dir_all(&index_dir).unwrap();
    let index = index_dir.join("vuln.db");
    let osv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/osv");
    let built = std::process::Command::new(drydock_e2e::drydock_bin())
        .args(["vulndb", "build", "--osv"])
        .arg(&osv)
        .arg("--out")
        .arg(&index)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "drydock vulndb build: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let index_dir = index_dir.display().to_string();
    // Eraser's ConfigMap as its chart writes it, with the scanner enabled; failed scans are
    // kept, so only the scanner's verdict can remove an image.
    let eraser_config = format!(
        "apiVersion: eraser.sh/v1alpha3
kind: EraserConfig
manager:
  runtime:
    name: containerd
    address: unix://{NODE_CONTAINERD_SOCKET}
components:
  collector:
    enabled: true
  scanner:
    enabled: true
    config: |
      dbPath: {}
      deleteFailedImages: false
    volumes:
      - name: drydock-vulndb
        hostPath: {{path: {index_dir}, type: Directory}}
      - name: containerd-root
        hostPath: {{path: {NODE_CONTAINERD_ROOT}, type: Directory}}
",
        index.display()
    );
    let (repo, _) = repo_and_tag(cluster.image());
    // Only Drydock's own image is excluded: the clean sample is up to the scanner.
    let excluded = json!({"excluded": [format!("{repo}:*")]});
    apply(&[
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "excluded", "namespace": namespace,
                "labels": {"eraser.sh/exclude.list": "true"},
            },
            "data": {"sample.json": excluded.to_string()},
        }),
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "eraser-manager-config", "namespace": namespace},
            "data": {ERASER_CONFIG_KEY: eraser_config},
        }),
    ])
    .await;

    let image = cluster.image();
    let shared = || json!({"name": "shared-data", "mountPath": SHARED_DATA});
    let mut remover = erasers_container(
        "remover",
        image,
        &[
            "--log-level=info",
            "--enable-pprof=false",
            "--pprof-port=6060",
        ],
        vec![
            json!({"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": ""}),
            json!({"name": "OTEL_SERVICE_NAME", "value": "remover"}),
        ],
        vec![shared()],
    );
    remover["securityContext"] = erasers_security_context();
    let collector = erasers_container(
        "collector",
        image,
        &[
            "--scan-disabled=false",
            "--enable-pprof=false",
            "--pprof-port=6060",
        ],
        Vec::new(),
        vec![shared()],
    );
    let scanner = erasers_scanner_container(
        image,
        &[
            ("drydock-vulndb", index_dir.as_str()),
            ("containerd-root", NODE_CONTAINERD_ROOT),
        ],
    );
    let node = NODES[0];
    let pod_name = format!("eraser-{node}-scan");
    let pod = erasers_pod(
        &namespace,
        &pod_name,
        node,
        vec![collector, remover, scanner],
        vec![
            json!({"name": "shared-data", "emptyDir": {}}),
            json!({"name": "eraser-config", "configMap": {"name": "eraser-manager-config"}}),
            json!({"name": "drydock-vulndb", "hostPath": {"path": index_dir, "type": "Directory"}}),
            json!({"name": "containerd-root", "hostPath": {"path": NODE_CONTAINERD_ROOT, "type": "Directory"}}),
        ],
    );
    apply(&[pod]).await;

    let phase = until(
        &format!("{pod_name} ended"),
        RUN_BOUND,
        async || ended_phase(&client, &namespace, &pod_name).await,
        async || cleaner_context(&cluster, &namespace).await,
    )
    .await;
    let logs = |container: &'static str| {
        let namespace = namespace.clone();
        let pod_name = pod_name.clone();
        async move {
            kubectl(
                &["logs", "-n", &namespace, &pod_name, "-c", container],
                "",
                &[],
            )
            .await
            .unwrap_or_default()
        }
    };
    let (scanner_log, remover_log) = (logs("trivy-scanner").await, logs("remover").await);
    let all = format!("--- trivy-scanner\n{scanner_log}--- remover\n{remover_log}");
    assert_eq!(phase, "Succeeded", "{pod_name} succeeded:\n{all}");
    // The scanner's verdicts: the vulnerable sample found vulnerable, the clean one not.
    assert!(
        scanner_log
            .lines()
            .any(|l| l.contains("vulnerable image found") && l.contains(VULNERABLE_UNUSED)),
        "the scanner found {VULNERABLE_UNUSED} vulnerable:\n{all}"
    );
    assert!(
        !scanner_log
            .lines()
            .any(|l| l.contains("vulnerable image found") && l.contains(CLEAN_UNUSED)),
        "the scanner found {CLEAN_UNUSED} clean:\n{all}"
    );
    // …reach the remover: it removes the vulnerable sample only.
    assert!(
        remover_log
            .lines()
            .any(|l| l.contains("removed image") && l.contains(VULNERABLE_UNUSED)),
        "the remover removed {VULNERABLE_UNUSED}:\n{all}"
    );
    let images = cluster.images(node).await.unwrap();
    assert!(
        !images.contains(VULNERABLE_UNUSED),
        "{VULNERABLE_UNUSED} gone from {node}: {images:?}"
    );
    for kept in [VULNERABLE_RUNNING, CLEAN_UNUSED, PAUSE_IMAGE, image] {
        assert!(
            images.contains(kept),
            "{kept} stays on {node}: {images:?}\n{all}"
        );
    }
    ns.cleanup().await.unwrap();
    std::fs::remove_dir_all(&index_dir).unwrap();
}
