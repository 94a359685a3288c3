//! The daemon under exactly kured's chart RBAC (chart 6.1.0): Nodes get/patch; pods
//! get/list/delete; pods/eviction create; DaemonSets get and update/patch on its own. Every
//! call outside it answers 403 here, and every call is listed, so a call the daemon should no
//! longer make (a second 403, a retried Event) fails the scenario as an extra call.

use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::access::{Access, LOCK_POLL, NODE_POLL, Permission};

const SSAR: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews?";
const EVENTS: &str = "/api/v1/namespaces/default/events?";
const WATCH_DS_LIST: &str = "/apis/apps/v1/namespaces/kube-system/daemonsets?&fieldSelector=metadata.name%3Dkured&limit=500";

/// n1's lock as Drydock takes it at the origin (boot ID boot-1).
const N1_LOCK: &str = r#"{"nodeID":"n1","metadata":{"unschedulable":false},"created":"2026-11-22T03:00:00Z","TTL":0,"drydock":{"bootID":"boot-1","acquired":"2026-11-22T03:00:00Z"}}"#;
/// n1's lock once the reboot was issued.
const N1_REBOOTING: &str = r#"{"nodeID":"n1","metadata":{"unschedulable":false},"created":"2026-11-22T03:00:00Z","TTL":0,"drydock":{"bootID":"boot-1","acquired":"2026-11-22T03:00:00Z","rebootIssued":"2026-11-22T03:00:00Z","rebootAttempts":1}}"#;
/// n2's lock, taken after n1 released it.
const N2_LOCK: &str = r#"{"nodeID":"n2","metadata":{"unschedulable":false},"created":"2026-11-22T03:00:05Z","TTL":0,"drydock":{"bootID":"boot-1","acquired":"2026-11-22T03:00:05Z"}}"#;

/// The 403 an API server answers for a call kured's chart does not allow.
fn forbidden(method: Method, path: &str, verb: &str, resource: &str) -> Exchange {
    Exchange::new(method, path, json!({})).failing(
        403,
        "Forbidden",
        &format!(
            "{resource} is forbidden: User \"system:serviceaccount:kured:my-release-kured\" \
             cannot {verb} resource \"{resource}\""
        ),
    )
}

/// A SelfSubjectAccessReview for `verb resource`, answered `allowed`.
fn review(verb: &str, resource: &str, allowed: bool) -> Exchange {
    Exchange::new(
        Method::POST,
        SSAR,
        json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {}, "status": { "allowed": allowed },
        }),
    )
    .with_body(json!({ "spec": { "resourceAttributes": { "verb": verb, "resource": resource } } }))
}

/// A Node with this boot ID, cordoned by Drydock or not.
fn node_at(name: &str, version: &str, boot: &str, cordoned: bool) -> Value {
    let mut n = node(name, version, json!({}));
    n["status"]["nodeInfo"]["bootID"] = json!(boot);
    if cordoned {
        n["spec"]["unschedulable"] = json!(true);
        n["metadata"]["annotations"][CORDON_MARKER_ANNOTATION] = json!("true");
    }
    n
}

fn get_node(name: &str, reply: Value) -> Exchange {
    Exchange::new(Method::GET, format!("/api/v1/nodes/{name}"), reply)
}

fn get_ds(version: &str, lock: Option<&str>) -> Exchange {
    Exchange::new(Method::GET, DS, daemonset(version, lock))
}

/// A waiting node's poll of the DaemonSet, served from the API server's cache.
fn poll_ds(version: &str, lock: Option<&str>) -> Exchange {
    Exchange::new(
        Method::GET,
        format!("{DS}?&resourceVersion=0"),
        daemonset(version, lock),
    )
}

fn put_ds(read_at: &str, version: &str, lock: Option<&str>) -> Exchange {
    Exchange::new(Method::PUT, format!("{DS}?"), daemonset(version, lock))
        .with_body(json!({ "metadata": { "resourceVersion": read_at } }))
}

fn patch_node(name: &str, body: Value) -> Exchange {
    Exchange::new(
        Method::PATCH,
        format!("/api/v1/nodes/{name}?"),
        node(name, "99", json!({})),
    )
    .with_body(body)
}

fn pods_on(node: &str, items: Value) -> Exchange {
    Exchange::new(
        Method::GET,
        format!("/api/v1/pods?&fieldSelector=spec.nodeName%3D{node}"),
        json!({ "apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items }),
    )
}

fn pod(name: &str, owner_kind: &str) -> Value {
    json!({ "metadata": { "namespace": "shop", "name": name, "uid": format!("{name}-uid"),
        "ownerReferences": [{ "apiVersion": "apps/v1", "kind": owner_kind, "name": "o",
            "uid": "o", "controller": true }] },
      "status": { "phase": "Running" } })
}

/// A node's host: the sentinel, the reboots issued and the notifications sent.
#[derive(Clone, Default)]
struct TestHost {
    required: Arc<AtomicBool>,
    reboots: Arc<AtomicU32>,
    sent: Arc<Mutex<Vec<String>>>,
}

impl TestHost {
    fn needing_reboot() -> TestHost {
        let host = TestHost::default();
        host.required.store(true, Ordering::SeqCst);
        host
    }
}

impl crate::cluster::Host for TestHost {
    async fn reboot_required(&self) -> bool {
        self.required.load(Ordering::SeqCst)
    }
    async fn alert_blockers(&self) -> Vec<String> {
        Vec::new()
    }
    async fn notify(&self, message: String) {
        self.sent.lock().unwrap().push(message);
    }
    async fn reboot(&self) -> Result<(), String> {
        self.reboots.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// The daemon of `node`, with `access` when its permissions are known beforehand.
fn daemon(
    client: &kube::Client,
    node: &str,
    host: &TestHost,
    access: Option<Access>,
) -> Daemon<KubeCluster, TestHost, TokioClock> {
    let config = config::parse(["kured", &format!("--node-id={node}")], &BTreeMap::new()).unwrap();
    let clock = TokioClock::starting_at(origin());
    let mut cluster = KubeCluster::new(client.clone(), &config.lock, clock);
    if let Some(access) = access {
        cluster = cluster.with_access(access);
    }
    Daemon::new(config, cluster, host.clone(), clock)
}

/// n1 needs a reboot and n2 too. n1 learns its rights at start (SelfSubjectAccessReviews);
/// n2 learns them from the API server's 403s. n1 takes the lock, cordons, drains through the
/// Eviction API, reboots, verifies the new boot ID, uncordons and releases; n2, waiting, reads
/// the DaemonSet every few seconds (it may not watch it) and takes the lock at its next read.
#[tokio::test(start_paused = true)]
async fn with_kureds_rbac_a_node_reboots_verified_and_hands_the_lock_to_the_next() {
    let (client, verifier) = mock::client(vec![
        // n1 at start: the five rights beyond kured's, all refused.
        review("list", "nodes", false),
        review("watch", "nodes", false),
        review("list", "daemonsets", false),
        review("watch", "daemonsets", false),
        review("create", "events", false),
        // n1: the lock is free; it knows no other holder to read, and records no Event.
        get_node("n1", node_at("n1", "1", "boot-1", false)),
        get_ds("10", None),
        put_ds("10", "11", Some(N1_LOCK)),
        // n2: the lock is n1's. Listing Nodes is refused once; n1's Node is read by name.
        get_node("n2", node_at("n2", "2", "boot-1", false)),
        get_ds("11", Some(N1_LOCK)),
        forbidden(Method::GET, "/api/v1/nodes?", "list", "nodes"),
        get_node("n1", node_at("n1", "1", "boot-1", false)),
        // n1 cordons.
        get_node("n1", node_at("n1", "1", "boot-1", false)),
        get_ds("11", Some(N1_LOCK)),
        patch_node(
            "n1",
            json!({ "spec": { "unschedulable": true },
                "metadata": { "annotations": { CORDON_MARKER_ANNOTATION: "true" } } }),
        ),
        // n1 drains: the ReplicaSet's pod is evicted, the DaemonSet's stays.
        get_node("n1", node_at("n1", "3", "boot-1", true)),
        get_ds("11", Some(N1_LOCK)),
        pods_on(
            "n1",
            json!([pod("web", "ReplicaSet"), pod("agent", "DaemonSet")]),
        ),
        Exchange::new(
            Method::POST,
            "/api/v1/namespaces/shop/pods/web/eviction?",
            status_ok(),
        )
        .with_body(json!({ "apiVersion": "policy/v1", "kind": "Eviction" })),
        get_node("n1", node_at("n1", "3", "boot-1", true)),
        get_ds("11", Some(N1_LOCK)),
        pods_on("n1", json!([pod("agent", "DaemonSet")])),
        // n1 records the reboot in the lock, then reboots.
        get_node("n1", node_at("n1", "3", "boot-1", true)),
        get_ds("11", Some(N1_LOCK)),
        put_ds("11", "12", Some(N1_REBOOTING)),
        // n1 is back with a new boot ID: uncordon, record the reboot, release.
        get_node("n1", node_at("n1", "4", "boot-2", true)),
        get_ds("12", Some(N1_REBOOTING)),
        patch_node(
            "n1",
            json!({ "spec": { "unschedulable": false },
                "metadata": { "annotations": { CORDON_MARKER_ANNOTATION: null } } }),
        ),
        patch_node(
            "n1",
            json!({ "metadata": { "annotations": {
                crate::daemon::VERIFIED_BOOT_ANNOTATION: "boot-2" } } }),
        ),
        get_ds("12", Some(N1_REBOOTING)),
        put_ds("12", "13", None),
        // n2's wait: watching the DaemonSet is refused once, then it reads it every few
        // seconds; its first read sees the free lock.
        forbidden(Method::GET, WATCH_DS_LIST, "list", "daemonsets"),
        poll_ds("13", None),
        // n2 takes the lock; its first Event is refused, once.
        get_node("n2", node_at("n2", "2", "boot-1", false)),
        get_ds("13", None),
        put_ds("13", "14", Some(N2_LOCK)),
        forbidden(Method::POST, EVENTS, "create", "events"),
        // n2 cordons, without trying an Event again.
        get_node("n2", node_at("n2", "2", "boot-1", false)),
        get_ds("14", Some(N2_LOCK)),
        patch_node(
            "n2",
            json!({ "spec": { "unschedulable": true },
                "metadata": { "annotations": { CORDON_MARKER_ANNOTATION: "true" } } }),
        ),
    ]);
    let (host1, host2) = (TestHost::needing_reboot(), TestHost::needing_reboot());
    let mut n1 = daemon(&client, "n1", &host1, None);
    let mut n2 = daemon(&client, "n2", &host2, None);

    n1.cluster().probe_access().await;
    assert!(
        PERMISSIONS_BEYOND_KURED
            .iter()
            .all(|p| n1.cluster().access().denied(*p))
    );

    assert_eq!(n1.tick().await.unwrap(), Wake::Now, "n1 took the lock");
    let waiting = n2.tick().await.unwrap();
    assert!(matches!(waiting, Wake::ChangeOr { .. }), "{waiting:?}");
    assert_eq!(n1.tick().await.unwrap(), Wake::Now, "n1 cordoned");
    assert!(
        matches!(n1.tick().await.unwrap(), Wake::At(_)),
        "n1 evicted and waits for the pod to go"
    );
    assert_eq!(n1.tick().await.unwrap(), Wake::Now, "n1 drained");
    assert_eq!(n1.tick().await.unwrap(), Wake::Now, "n1 rebooted");
    assert_eq!(host1.reboots.load(Ordering::SeqCst), 1);
    host1.required.store(false, Ordering::SeqCst);
    assert_eq!(
        n1.tick().await.unwrap(),
        Wake::Now,
        "n1 verified and released"
    );

    let started = tokio::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(60), n2.wait(waiting))
        .await
        .expect("the freed lock ends n2's wait");
    assert_eq!(started.elapsed(), Duration::try_from(LOCK_POLL).unwrap());
    assert_eq!(n2.tick().await.unwrap(), Wake::Now, "n2 took the lock");
    assert_eq!(n2.tick().await.unwrap(), Wake::Now, "n2 cordoned");
    verifier.finish().await;

    let access = n2.cluster().access();
    for p in [
        Permission::ListNodes,
        Permission::ListDaemonSet,
        Permission::CreateEvents,
    ] {
        assert!(access.denied(p), "{p:?}");
    }
    assert_eq!(
        *host1.sent.lock().unwrap(),
        [
            "Draining node n1",
            "Rebooting node n1",
            "Node n1 rebooted & uncordoned successfully!"
        ]
    );
}

/// The rights beyond kured's chart.
const PERMISSIONS_BEYOND_KURED: [Permission; 5] = crate::access::PERMISSIONS;

/// Without the right to watch Nodes, a waiting node reads the holder's Node every
/// [`NODE_POLL`], and a holder whose Node was deleted ends the wait (its slot is free).
#[tokio::test(start_paused = true)]
async fn without_node_watch_a_deleted_holder_is_seen_by_reading_it_by_name() {
    let (client, verifier) = mock::client(vec![
        get_node("n2", node_at("n2", "2", "boot-1", false)),
        get_ds("11", Some(N1_LOCK)),
        get_node("n1", node_at("n1", "1", "boot-1", false)),
        // Six DaemonSet reads, the sixth together with the holder's Node, which is gone.
        poll_ds("11", Some(N1_LOCK)),
        poll_ds("11", Some(N1_LOCK)),
        poll_ds("11", Some(N1_LOCK)),
        poll_ds("11", Some(N1_LOCK)),
        poll_ds("11", Some(N1_LOCK)),
        poll_ds("11", Some(N1_LOCK)),
        Exchange::new(Method::GET, "/api/v1/nodes/n1", json!({})).failing(
            404,
            "NotFound",
            "nodes \"n1\" not found",
        ),
    ]);
    let access = Access::default();
    for p in PERMISSIONS_BEYOND_KURED {
        access.deny(p);
    }
    let mut n2 = daemon(&client, "n2", &TestHost::needing_reboot(), Some(access));
    let waiting = n2.tick().await.unwrap();
    let started = tokio::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(120), n2.wait(waiting))
        .await
        .expect("the deleted holder ends the wait");
    assert_eq!(started.elapsed(), Duration::try_from(NODE_POLL).unwrap());
    verifier.finish().await;
}

/// Allowed to list Nodes but not to watch them: the refused watch is reported once and the
/// Nodes are listed every [`NODE_POLL`] instead; a deleted Node ends the wait.
#[tokio::test(start_paused = true)]
async fn a_refused_node_watch_falls_back_to_listing_every_poll() {
    let list = |version: &str, names: &[&str]| {
        json!({
            "apiVersion": "v1", "kind": "NodeList", "metadata": { "resourceVersion": version },
            "items": names.iter().map(|n| node(n, "1", json!({}))).collect::<Vec<_>>(),
        })
    };
    let (cluster, verifier) = adapter(vec![
        Exchange::new(
            Method::GET,
            "/api/v1/nodes?&limit=500",
            list("5", &["n1", "n2"]),
        ),
        forbidden(
            Method::GET,
            "/api/v1/nodes?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=5",
            "watch",
            "nodes",
        ),
        Exchange::new(Method::GET, "/api/v1/nodes?", list("7", &["n1"])),
    ]);
    let started = tokio::time::Instant::now();
    tokio::time::timeout(
        Duration::from_secs(120),
        cluster.node_set_changed(&node_set_version(["n1", "n2"])),
    )
    .await
    .expect("the deleted Node ends the wait");
    assert_eq!(started.elapsed(), Duration::try_from(NODE_POLL).unwrap());
    assert!(cluster.access().denied(Permission::WatchNodes));
    assert!(!cluster.access().denied(Permission::ListNodes));
    verifier.finish().await;
}

/// A review the API server refuses leaves the right unknown (assumed until a 403); a granted
/// one keeps Drydock's own path (watches, Events).
#[tokio::test(start_paused = true)]
async fn the_start_up_probe_settles_what_it_can_and_leaves_the_rest_to_the_first_403() {
    use crate::access::Known;
    let (cluster, verifier) = adapter(vec![
        review("list", "nodes", true),
        review("watch", "nodes", true),
        Exchange::new(Method::POST, SSAR, json!({})).failing(403, "Forbidden", "no reviews"),
        review("watch", "daemonsets", false).with_body(json!({ "spec": { "resourceAttributes": {
                "group": "apps", "namespace": "kube-system", "name": "kured" } } })),
        review("create", "events", true)
            .with_body(json!({ "spec": { "resourceAttributes": { "namespace": "default" } } })),
    ]);
    cluster.probe_access().await;
    verifier.finish().await;
    let access = cluster.access();
    assert_eq!(access.known(Permission::ListNodes), Known::Granted);
    assert_eq!(access.known(Permission::WatchNodes), Known::Granted);
    assert_eq!(access.known(Permission::ListDaemonSet), Known::Unknown);
    assert_eq!(access.known(Permission::WatchDaemonSet), Known::Denied);
    assert_eq!(access.known(Permission::CreateEvents), Known::Granted);
}
