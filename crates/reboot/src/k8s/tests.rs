//! tower-test scenarios for the kube adapter: each lists every API call it expects, so a
//! missing call fails (the verifier times out) and so does an extra one (the mock is closed).

use std::collections::BTreeMap;

use drydock_kube::mock::{self, Exchange};
use http::Method;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;
use crate::config;

mod kured_rbac;
use crate::daemon::{Daemon, Wake};

const DS: &str = "/apis/apps/v1/namespaces/kube-system/daemonsets/kured";
const LOCK_KEY: &str = "weave.works/kured-node-lock";

fn origin() -> Timestamp {
    "2026-11-22T03:00:00Z".parse().unwrap()
}

fn lock_config() -> LockConfig {
    config::parse(["kured", "--node-id=n1"], &BTreeMap::new())
        .unwrap()
        .lock
}

fn adapter(exchanges: Vec<Exchange>) -> (KubeCluster, mock::Verifier) {
    let (client, verifier) = mock::client(exchanges);
    let cluster = KubeCluster::new(client, &lock_config(), TokioClock::starting_at(origin()));
    (cluster, verifier)
}

/// A GET of `path`, answered 404.
fn missing(path: &str) -> Exchange {
    Exchange::new(Method::GET, path, json!({})).failing(404, "NotFound", "not found")
}

fn daemonset(version: &str, lock: Option<&str>) -> Value {
    let mut annotations = json!({ "deprecated.daemonset.template.generation": "1" });
    if let Some(lock) = lock {
        annotations[LOCK_KEY] = json!(lock);
    }
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {
            "name": "kured", "namespace": "kube-system", "resourceVersion": version,
            "annotations": annotations,
        },
        "spec": { "selector": { "matchLabels": { "name": "kured" } }, "futureField": 1 },
    })
}

fn node(name: &str, version: &str, extra: Value) -> Value {
    let mut node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": { "name": name, "resourceVersion": version, "labels": {}, "annotations": {} },
        "spec": {},
        "status": {
            "nodeInfo": {
                "bootID": "boot-1", "machineID": "", "systemUUID": "", "kernelVersion": "",
                "osImage": "", "containerRuntimeVersion": "", "kubeletVersion": "",
                "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64",
            },
            "conditions": [{ "type": "Ready", "status": "True" }],
        },
    });
    if let (Value::Object(n), Value::Object(e)) = (&mut node, extra) {
        for (k, v) in e {
            n.insert(k, v);
        }
    }
    node
}

fn status_ok() -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success" })
}

#[tokio::test(start_paused = true)]
async fn a_lock_write_after_its_read_is_one_replace_carrying_the_resource_version() {
    let lock = r#"{"nodeID":"n1","metadata":{"unschedulable":false},"created":"2026-11-22T03:00:00Z","TTL":0}"#;
    let (cluster, verifier) = adapter(vec![
        Exchange::new(Method::GET, DS, daemonset("10", None)),
        Exchange::new(Method::PUT, format!("{DS}?"), daemonset("11", Some(lock))).with_body(
            json!({
                "metadata": { "resourceVersion": "10", "annotations": { LOCK_KEY: lock } },
                "spec": { "futureField": 1 },
            }),
        ),
    ]);
    let read = cluster.read_lock().await.unwrap();
    assert_eq!(read.value, None);
    assert_eq!(read.version, ResourceVersion("10".into()));
    let written = cluster.write_lock(Some(lock.into()), &read.version).await;
    assert_eq!(written, Ok(ResourceVersion("11".into())));
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_lost_race_on_the_lock_is_a_conflict() {
    let (cluster, verifier) = adapter(vec![
        Exchange::new(Method::GET, DS, daemonset("10", Some("{}"))),
        Exchange::new(Method::PUT, format!("{DS}?"), json!({})).failing(
            409,
            "Conflict",
            "the object has been modified",
        ),
    ]);
    let read = cluster.read_lock().await.unwrap();
    assert_eq!(read.value.as_deref(), Some("{}"));
    let written = cluster.write_lock(None, &read.version).await;
    assert_eq!(written, Err(ClusterError::Conflict));
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_write_at_a_stale_version_rereads_and_does_not_write() {
    let (cluster, verifier) = adapter(vec![Exchange::new(Method::GET, DS, daemonset("12", None))]);
    let written = cluster
        .write_lock(Some("{}".into()), &ResourceVersion("10".into()))
        .await;
    assert_eq!(written, Err(ClusterError::Conflict));
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_missing_daemonset_is_not_found() {
    let (cluster, verifier) = adapter(vec![missing(DS)]);
    let read = cluster.read_lock().await;
    assert!(matches!(
        read,
        Err(ClusterError::NotFound {
            kind: "DaemonSet",
            ..
        })
    ));
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn nodes_are_read_as_plain_data_and_a_missing_one_is_none() {
    let extra = json!({
        "spec": { "unschedulable": true, "taints": [{ "key": "k", "effect": "PreferNoSchedule" }] },
    });
    let (cluster, verifier) = adapter(vec![
        Exchange::new(Method::GET, "/api/v1/nodes/n1", node("n1", "5", extra)),
        Exchange::new(Method::GET, "/api/v1/nodes/gone", json!({})).failing(
            404,
            "NotFound",
            "nodes \"gone\" not found",
        ),
    ]);
    let n1 = cluster.get_node("n1").await.unwrap().unwrap();
    assert!(n1.unschedulable && n1.ready);
    assert_eq!(n1.boot_id, "boot-1");
    assert!(n1.has_taint("k", "PreferNoSchedule"));
    assert_eq!(cluster.get_node("gone").await, Ok(None));
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn the_node_set_version_changes_only_with_the_names() {
    let list = json!({
        "apiVersion": "v1", "kind": "NodeList", "metadata": { "resourceVersion": "99" },
        "items": [node("n2", "1", json!({})), node("n1", "2", json!({}))],
    });
    let (cluster, verifier) = adapter(vec![Exchange::new(Method::GET, "/api/v1/nodes?", list)]);
    let nodes = cluster.list_nodes(&[]).await.unwrap();
    assert_eq!(nodes.nodes.len(), 2);
    assert_eq!(nodes.set_version, ResourceVersion("n1,n2".into()));
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn cordon_and_uncordon_carry_the_ownership_annotation_in_the_same_patch() {
    let (cluster, verifier) = adapter(vec![
        Exchange::new(
            Method::PATCH,
            "/api/v1/nodes/n1?",
            node("n1", "6", json!({})),
        )
        .with_body(json!({
            "spec": { "unschedulable": true },
            "metadata": { "annotations": { CORDON_MARKER_ANNOTATION: "true" } },
        })),
        Exchange::new(
            Method::PATCH,
            "/api/v1/nodes/n1?",
            node("n1", "7", json!({})),
        )
        .with_body(json!({
            "spec": { "unschedulable": false },
            "metadata": { "annotations": { CORDON_MARKER_ANNOTATION: null } },
        })),
    ]);
    cluster.cordon("n1").await.unwrap();
    cluster.uncordon("n1").await.unwrap();
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_metadata_patch_is_one_call_and_a_taint_patch_is_guarded_by_its_read() {
    let mut labels = NodePatch::default();
    labels.labels.insert("rebooting".into(), "true".into());
    labels.annotations.insert("gone".into(), None);
    let taint = NodePatch {
        prefer_no_schedule_taint: Some(("weave.works/kured-node-reboot".into(), true)),
        ..NodePatch::default()
    };
    let existing = json!({ "spec": { "taints": [{ "key": "other", "effect": "NoSchedule" }] } });
    let (cluster, verifier) = adapter(vec![
        Exchange::new(
            Method::PATCH,
            "/api/v1/nodes/n1?",
            node("n1", "6", json!({})),
        )
        .with_body(json!({
            "metadata": { "labels": { "rebooting": "true" }, "annotations": { "gone": null } },
        })),
        Exchange::new(Method::GET, "/api/v1/nodes/n1", node("n1", "6", existing)),
        Exchange::new(
            Method::PATCH,
            "/api/v1/nodes/n1?",
            node("n1", "7", json!({})),
        )
        .with_body(json!({
            "metadata": { "resourceVersion": "6" },
            "spec": { "taints": [
                { "key": "other", "effect": "NoSchedule" },
                { "key": "weave.works/kured-node-reboot", "effect": "PreferNoSchedule" },
            ] },
        })),
    ]);
    cluster.patch_node("n1", &labels).await.unwrap();
    cluster.patch_node("n1", &taint).await.unwrap();
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn pods_are_listed_by_node_name_with_their_owner_and_mirror_status() {
    let pods = json!({
        "apiVersion": "v1", "kind": "PodList", "metadata": {},
        "items": [
            { "metadata": { "namespace": "a", "name": "ds-pod", "uid": "u1",
                "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "DaemonSet", "name": "x",
                    "uid": "o", "controller": true }] },
              "status": { "phase": "Running" } },
            { "metadata": { "namespace": "kube-system", "name": "etcd", "uid": "u2",
                "annotations": { MIRROR_POD_ANNOTATION: "abc" } },
              "status": { "phase": "Running" } },
            { "metadata": { "namespace": "b", "name": "web", "uid": "u3",
                "deletionTimestamp": "2026-11-22T03:00:00Z",
                "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "w",
                    "uid": "o2", "controller": true }] },
              "status": { "phase": "Succeeded" } },
        ],
    });
    let (cluster, verifier) = adapter(vec![Exchange::new(
        Method::GET,
        "/api/v1/pods?&fieldSelector=spec.nodeName%3Dn1",
        pods,
    )]);
    let pods = cluster.list_pods("n1").await.unwrap();
    assert_eq!(pods[0].owner, Owner::DaemonSet);
    assert!(pods[1].mirror && pods[1].owner == Owner::None);
    assert_eq!(pods[2].owner, Owner::Other("ReplicaSet/w".into()));
    assert!(pods[2].terminating && pods[2].phase == PodPhase::Succeeded);
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn evictions_use_the_eviction_api_and_a_pdb_refusal_is_blocked() {
    let path = "/api/v1/namespaces/b/pods/web/eviction?";
    let (cluster, verifier) = adapter(vec![
        Exchange::new(Method::POST, path, status_ok()).with_body(
            json!({ "apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": { "name": "web", "namespace": "b" },
                "deleteOptions": { "gracePeriodSeconds": 30 } }),
        ),
        Exchange::new(Method::POST, path, json!({})).failing(
            429,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
        ),
        Exchange::new(Method::POST, path, json!({})).failing(404, "NotFound", "not found"),
        Exchange::new(Method::POST, path, json!({})).failing(500, "InternalError", "etcd"),
    ]);
    assert_eq!(
        cluster.evict("b", "web", Some(30)).await,
        Ok(Eviction::Evicted)
    );
    assert!(matches!(
        cluster.evict("b", "web", None).await,
        Ok(Eviction::Blocked(why)) if why.contains("disruption budget")
    ));
    assert_eq!(cluster.evict("b", "web", None).await, Ok(Eviction::Gone));
    assert!(matches!(
        cluster.evict("b", "web", None).await,
        Err(ClusterError::Transient(_))
    ));
    verifier.finish().await;
}

/// An API server before 1.22 refuses policy/v1 Evictions with a 400: the eviction is sent
/// again as policy/v1beta1, and later ones go straight to policy/v1beta1.
#[tokio::test(start_paused = true)]
async fn an_api_server_without_policy_v1_evictions_gets_v1beta1_ones() {
    let path = "/api/v1/namespaces/b/pods/web/eviction?";
    let v1beta1 = |name: &str| {
        Exchange::new(
            Method::POST,
            format!("/api/v1/namespaces/b/pods/{name}/eviction?"),
            status_ok(),
        )
        .with_body(json!({ "apiVersion": "policy/v1beta1", "kind": "Eviction",
            "metadata": { "name": name, "namespace": "b" } }))
    };
    let (cluster, verifier) = adapter(vec![
        Exchange::new(Method::POST, path, json!({}))
            .with_body(json!({ "apiVersion": "policy/v1" }))
            .failing(
                400,
                "BadRequest",
                "Eviction in version \"v1\" cannot be handled as a Eviction: no kind \"Eviction\" is registered for version \"policy/v1\" in scheme \"k8s.io/kubernetes/pkg/api/legacyscheme/scheme.go:30\"",
            ),
        v1beta1("web"),
        v1beta1("db"),
    ]);
    assert_eq!(cluster.evict("b", "web", None).await, Ok(Eviction::Evicted));
    assert_eq!(cluster.evict("b", "db", None).await, Ok(Eviction::Evicted));
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn events_are_created_on_the_node() {
    let (cluster, verifier) = adapter(vec![
        Exchange::new(
            Method::POST,
            "/api/v1/namespaces/default/events?",
            json!({
                "apiVersion": "v1", "kind": "Event", "metadata": { "name": "n1.abc" },
                "involvedObject": { "kind": "Node", "name": "n1" },
            }),
        )
        .with_body(json!({
            "involvedObject": { "kind": "Node", "name": "n1" },
            "reason": "Draining", "type": "Normal", "message": "Draining node n1",
            "source": { "component": EVENT_COMPONENT },
        })),
    ]);
    let event = Event {
        node: "n1".into(),
        kind: EventKind::Normal,
        reason: "Draining".into(),
        message: "Draining node n1".into(),
    };
    cluster.emit_event(event).await.unwrap();
    verifier.finish().await;
}

/// A host whose sentinel says a reboot is required, with no blockers.
struct Needy;

impl crate::cluster::Host for Needy {
    async fn reboot_required(&self) -> bool {
        true
    }
    async fn alert_blockers(&self) -> Vec<String> {
        Vec::new()
    }
    async fn notify(&self, _message: String) {}
    async fn reboot(&self) -> Result<(), String> {
        Err("not in a test".into())
    }
}

#[tokio::test(start_paused = true)]
async fn a_node_needing_a_reboot_takes_the_free_lock_in_exactly_these_calls() {
    let list = json!({
        "apiVersion": "v1", "kind": "NodeList", "metadata": {},
        "items": [node("n1", "2", json!({})), node("n2", "3", json!({}))],
    });
    let (cluster, verifier) = adapter(vec![
        Exchange::new(Method::GET, "/api/v1/nodes/n1", node("n1", "2", json!({}))),
        Exchange::new(Method::GET, DS, daemonset("10", None)),
        Exchange::new(Method::GET, "/api/v1/nodes?", list),
        Exchange::new(Method::PUT, format!("{DS}?"), daemonset("11", Some("{}")))
            .with_body(json!({ "metadata": { "resourceVersion": "10" } })),
        Exchange::new(
            Method::POST,
            "/api/v1/namespaces/default/events?",
            json!({
                "apiVersion": "v1", "kind": "Event", "metadata": { "name": "n1.abc" },
                "involvedObject": {},
            }),
        )
        .with_body(json!({ "reason": "RebootLockAcquired" })),
    ]);
    let config = config::parse(["kured", "--node-id=n1"], &BTreeMap::new()).unwrap();
    let mut daemon = Daemon::new(config, cluster, Needy, TokioClock::starting_at(origin()));
    assert_eq!(daemon.tick().await.unwrap(), Wake::Now);
    verifier.finish().await;
}

#[test]
fn the_node_set_version_ignores_order() {
    assert_eq!(node_set_version(["b", "a"]), node_set_version(["a", "b"]));
    assert_ne!(node_set_version(["a"]), node_set_version(["a", "b"]));
}

/// The DaemonSet collection, where the hand-over watch lists and watches.
const DS_LIST: &str = "/apis/apps/v1/namespaces/kube-system/daemonsets";

#[tokio::test(start_paused = true)]
async fn the_lock_watch_lists_and_watches_only_the_daemonset_and_returns_on_a_change() {
    let lock = r#"{"nodeID":"n2","metadata":{"unschedulable":false},"created":"2026-11-22T03:00:00Z","TTL":0}"#;
    let (cluster, verifier) = adapter(vec![
        // The initial list: the DaemonSet as the caller saw it (version 10) is not a change.
        Exchange::new(
            Method::GET,
            format!("{DS_LIST}?&fieldSelector=metadata.name%3Dkured&limit=500"),
            json!({
                "apiVersion": "apps/v1", "kind": "DaemonSetList",
                "metadata": { "resourceVersion": "20" },
                "items": [daemonset("10", None)],
            }),
        ),
        // The watch from the list's resourceVersion: the lock was taken (version 21).
        Exchange::new(
            Method::GET,
            format!(
                "{DS_LIST}?&watch=true&timeoutSeconds=290&fieldSelector=metadata.name%3Dkured\
                 &allowWatchBookmarks=true&resourceVersion=20"
            ),
            json!({ "type": "MODIFIED", "object": daemonset("21", Some(lock)) }),
        ),
    ]);
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        cluster.daemonset_changed(&ResourceVersion("10".into())),
    )
    .await
    .expect("the change event ends the wait");
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn the_lock_watch_returns_at_once_when_the_list_already_differs() {
    let (cluster, verifier) = adapter(vec![Exchange::new(
        Method::GET,
        format!("{DS_LIST}?&fieldSelector=metadata.name%3Dkured&limit=500"),
        json!({
            "apiVersion": "apps/v1", "kind": "DaemonSetList",
            "metadata": { "resourceVersion": "20" },
            "items": [daemonset("12", None)],
        }),
    )]);
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        cluster.daemonset_changed(&ResourceVersion("10".into())),
    )
    .await
    .expect("a version other than the one seen is a change");
    verifier.finish().await;
}

/// n1's lock entry in the health gate since the origin: it rebooted (boot-0 to boot-1) after
/// its drain evicted `shop/ReplicaSet/web`.
const GATED_LOCK: &str = r#"{"nodeID":"n1","metadata":{"unschedulable":false},"created":"2026-11-22T03:00:00Z","TTL":0,"drydock":{"bootID":"boot-0","evicted":["shop/ReplicaSet/web"],"backSince":"2026-11-22T03:00:00Z"}}"#;

const WEB_RS: &str = "/apis/apps/v1/namespaces/shop/replicasets/web";
const SHOP_PDBS: &str = "/apis/policy/v1/namespaces/shop/poddisruptionbudgets?";

fn replicaset(ready: i32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": { "name": "web", "namespace": "shop" },
        "spec": {
            "replicas": 3,
            "selector": { "matchLabels": { "app": "web" } },
            "template": { "metadata": { "labels": { "app": "web", "tier": "front" } } },
        },
        "status": { "replicas": 3, "readyReplicas": ready },
    })
}

fn budgets(allowed: i32) -> Value {
    let pdb = |name: &str, selector: Value, allowed: i32| {
        json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": { "name": name, "namespace": "shop" },
            "spec": { "selector": selector, "minAvailable": 2 },
            "status": {
                "disruptionsAllowed": allowed, "currentHealthy": 0, "desiredHealthy": 0,
                "expectedPods": 0,
            },
        })
    };
    json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudgetList", "metadata": {},
        "items": [
            pdb("web", json!({ "matchLabels": { "app": "web" } }), allowed),
            // Another workload's budget, which allows nothing: not web's business.
            pdb("db", json!({ "matchLabels": { "app": "db" } }), 0),
        ],
    })
}

fn gated_daemon(cluster: KubeCluster) -> Daemon<KubeCluster, Needy, TokioClock> {
    let config = config::parse(
        [
            "kured",
            "--node-id=n1",
            "--health-gate",
            "--health-gate-timeout=10m",
        ],
        &BTreeMap::new(),
    )
    .unwrap();
    Daemon::new(config, cluster, Needy, TokioClock::starting_at(origin()))
}

/// The list of the Nodes: n1 alone.
fn n1_list() -> Value {
    json!({
        "apiVersion": "v1", "kind": "NodeList", "metadata": {},
        "items": [node("n1", "2", json!({}))],
    })
}

/// The reads of the gated lock at resourceVersion 10 and of the Nodes it is checked against.
fn gated_lock_reads() -> [Exchange; 2] {
    [
        Exchange::new(Method::GET, DS, daemonset("10", Some(GATED_LOCK))),
        Exchange::new(Method::GET, "/api/v1/nodes?", n1_list()),
    ]
}

/// The calls of a turn of n1 in the gate, up to the workload reads.
fn gate_turn() -> Vec<Exchange> {
    let mut calls = vec![Exchange::new(
        Method::GET,
        "/api/v1/nodes/n1",
        node("n1", "2", json!({})),
    )];
    calls.extend(gated_lock_reads());
    calls
}

#[tokio::test(start_paused = true)]
async fn in_the_health_gate_a_replica_short_keeps_the_lock_and_looks_again_after_the_poll() {
    let mut calls = gate_turn();
    calls.push(Exchange::new(Method::GET, WEB_RS, replicaset(2)));
    calls.push(Exchange::new(Method::GET, SHOP_PDBS, budgets(0)));
    let (cluster, verifier) = adapter(calls);
    let mut daemon = gated_daemon(cluster);
    assert_eq!(
        daemon.tick().await.unwrap(),
        Wake::At(origin() + crate::health::POLL)
    );
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn in_the_health_gate_a_whole_workload_releases_the_lock() {
    let mut calls = gate_turn();
    calls.push(Exchange::new(Method::GET, WEB_RS, replicaset(3)));
    calls.push(Exchange::new(Method::GET, SHOP_PDBS, budgets(1)));
    // The release: read, prune against the Nodes, write the lock without n1's entry.
    calls.extend(gated_lock_reads());
    calls.push(
        Exchange::new(Method::PUT, format!("{DS}?"), daemonset("11", None))
            .with_body(json!({ "metadata": { "resourceVersion": "10" } })),
    );
    let (cluster, verifier) = adapter(calls);
    let mut daemon = gated_daemon(cluster);
    assert_eq!(daemon.tick().await.unwrap(), Wake::Now);
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn under_kureds_rbac_the_gate_does_not_wait_for_what_it_may_not_read() {
    let mut calls = gate_turn();
    calls.push(Exchange::new(Method::GET, WEB_RS, json!({})).failing(
        403,
        "Forbidden",
        "forbidden",
    ));
    calls.extend(gated_lock_reads());
    calls.push(Exchange::new(
        Method::PUT,
        format!("{DS}?"),
        daemonset("11", None),
    ));
    let (cluster, verifier) = adapter(calls);
    let mut daemon = gated_daemon(cluster);
    assert_eq!(daemon.tick().await.unwrap(), Wake::Now);
    verifier.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_deleted_controller_is_gone_and_other_kinds_are_not_judged() {
    let (cluster, verifier) = adapter(vec![missing(WEB_RS)]);
    let web = "shop/ReplicaSet/web".parse().unwrap();
    assert_eq!(
        cluster.workload_health(&web).await.unwrap(),
        WorkloadHealth::Gone
    );
    let job = "shop/Job/nightly".parse().unwrap();
    assert!(matches!(
        cluster.workload_health(&job).await.unwrap(),
        WorkloadHealth::Unknown(_)
    ));
    verifier.finish().await;
}

#[test]
fn budget_selectors_match_labels_and_expressions() {
    let labels: BTreeMap<String, String> = [
        ("app".into(), "web".into()),
        ("tier".into(), "front".into()),
    ]
    .into();
    let sel = |v: Value| -> KubeSelector { serde_json::from_value(v).unwrap() };
    assert!(selector_selects(&sel(json!({})), &labels));
    assert!(selector_selects(
        &sel(json!({ "matchLabels": { "app": "web" } })),
        &labels
    ));
    assert!(!selector_selects(
        &sel(json!({ "matchLabels": { "app": "db" } })),
        &labels
    ));
    let expr = |op: &str, values: Value| {
        sel(json!({ "matchExpressions": [{ "key": "tier", "operator": op, "values": values }] }))
    };
    assert!(selector_selects(
        &expr("In", json!(["front", "back"])),
        &labels
    ));
    assert!(!selector_selects(&expr("NotIn", json!(["front"])), &labels));
    assert!(selector_selects(&expr("Exists", json!([])), &labels));
    assert!(!selector_selects(&expr("DoesNotExist", json!([])), &labels));
    assert!(!selector_selects(&expr("Near", json!([])), &labels));
}
