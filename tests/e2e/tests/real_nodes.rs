//! Drydock on real nodes: real kubelets, each with its own containerd + runc, run Drydock's
//! pods from its image (`scripts/lib/cluster.sh`, see docs/design/005-real-node-tier.md).
//!
//! Run inside the cluster's network namespace, with its directory and kubeconfig:
//! `scripts/lib/cluster.sh run DIR env DRYDOCK_E2E_CLUSTER=DIR DRYDOCK_E2E_KUBECONFIG=DIR/kubeconfig
//! cargo test -p drydock-e2e --test real_nodes -- --ignored --test-threads=1`
//! (`scripts/test.sh` does). Without `DRYDOCK_E2E_CLUSTER` every test returns at once: the
//! fake-node tier runs `--ignored` against a cluster with no kubelet.
//!
//! Covered: the reboot DaemonSet of `drydock manifests reboot` on every node; a sentinel file
//! on one node's `/var/run` → that node cordoned, a Deployment's pod evicted and Ready again on
//! the other node, the reboot command run (kured's explicit `nsenter` prefix, pointing at the
//! harness's stand-in: the harness reboots the node), a new boot ID, the node uncordoned and the
//! lock freed; then the other node. `drydock image-cleaner enable --image <the nodes' image>
//! --vulndb-source <an OSV all.zip served inside the namespace>` → the manager Ready, the
//! automatic run's worker pods on every node (the scanners fetch the index from the manager's
//! Service by DNS name), the unused vulnerable image gone from every node while the image of
//! running pods, a clean image, the pause image and Drydock's stay, the worker pods gone. Peak
//! memory per container is printed from the nodes' cgroups.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

use std::collections::BTreeMap;
use std::time::Duration;

use drydock_e2e::{RealCluster, TestNamespace, boot_id, client, get_node, is_cordoned, kubectl};
use drydock_reboot::admin::decode_any;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::Pod;
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
            let daemons = ready_pods_by_node(&client, &namespace, "name=kured").await;
            let web = ready_pods_by_node(&client, &namespace, "app=web").await;
            (NODES.iter().all(|n| daemons.contains_key(*n)) && !web.is_empty()).then_some(())
        },
        async || reboot_context(&cluster, &namespace).await,
    )
    .await;

    for node in NODES {
        let other = NODES.iter().find(|n| **n != node).unwrap();
        let before = boot_id(&get_node(&client, node).await.unwrap());
        assert!(!before.is_empty(), "{node} reports a boot ID");
        // Put the workload on this node first, so its drain has something to evict.
        let web = ready_pods_by_node(&client, &namespace, "app=web").await;
        if !web.contains_key(node) {
            kubectl(&["cordon", other], "", &[]).await.unwrap();
            kubectl(
                &[
                    "delete",
                    "pods",
                    "-n",
                    &namespace,
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
                    ready_pods_by_node(&client, &namespace, "app=web")
                        .await
                        .contains_key(node)
                        .then_some(())
                },
                async || reboot_context(&cluster, &namespace).await,
            )
            .await;
            kubectl(&["uncordon", other], "", &[]).await.unwrap();
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
        until(
            &format!("{node} rebooted (new boot ID), uncordoned, lock free, workload on {other}"),
            REBOOT_BOUND,
            async || {
                let current = get_node(&client, node).await.ok()?;
                cordoned |= is_cordoned(&current);
                let holders = lock_holders(&client, &namespace).await;
                held |= holders.iter().any(|h| h == node);
                let web = ready_pods_by_node(&client, &namespace, "app=web").await;
                let daemons = ready_pods_by_node(&client, &namespace, "name=kured").await;
                let done = boot_id(&current) != before
                    && !is_cordoned(&current)
                    && holders.is_empty()
                    && web.contains_key(*other)
                    && daemons.contains_key(node);
                done.then_some(())
            },
            async || reboot_context(&cluster, &namespace).await,
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
    // Each node rebooted exactly once.
    for node in NODES {
        assert_eq!(
            cluster
                .reboots()
                .matches(&format!("reboot {node}\n"))
                .count(),
            1,
            "{node} rebooted once: {}",
            cluster.reboots()
        );
    }
    println!(
        "peak memory per container (MiB node namespace/pod/container):\n{}",
        cluster.memory_peaks().await.unwrap()
    );
    let names: Vec<String> = Api::<Pod>::namespaced(client.clone(), &namespace)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    eprintln!("pods at the end: {names:?}");
    ns.cleanup().await.unwrap();
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

#[tokio::test]
#[ignore = "needs a real-node cluster (DRYDOCK_E2E_CLUSTER, scripts/lib/cluster.sh)"]
async fn enable_runs_the_workers_on_every_node_and_removes_only_unused_vulnerable_images() {
    let Some(cluster) = cluster() else { return };
    let client = client().await.unwrap();
    let ns = TestNamespace::create(&client, "rn-cleaner").await.unwrap();
    let namespace = ns.name().to_owned();
    let work = tempfile::tempdir().unwrap();
    for (reference, status) in [
        (VULNERABLE_UNUSED, None),
        (VULNERABLE_RUNNING, None),
        (CLEAN_UNUSED, Some(CLEAN_STATUS)),
    ] {
        let archive = sample_image(work.path(), reference, status);
        cluster.import(&archive).await.unwrap();
    }
    // A pod on every node keeps the running image in use.
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
            let users = ready_pods_by_node(&client, &namespace, "app=user").await;
            NODES.iter().all(|n| users.contains_key(*n)).then_some(())
        },
        async || cleaner_context(&cluster, &namespace).await,
    )
    .await;

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
    // its scanners then wait for the index (`vulndist::FIRST_INDEX_PATIENCE`) instead of
    // failing the run on every node.
    // Its worker pods on every node.
    let mut workers_seen: BTreeMap<String, String> = BTreeMap::new();
    let job = until(
        "the first run's worker pods on every node",
        RUN_BOUND,
        async || {
            let pods = Api::<Pod>::namespaced(client.clone(), &namespace)
                .list(&ListParams::default().labels("drydock.dev/imagejob"))
                .await
                .ok()?;
            let mut job = None;
            for pod in pods.items {
                let label = pod.labels().get("drydock.dev/imagejob").cloned();
                if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
                    workers_seen.insert(node, pod.name_any());
                    job = label;
                }
            }
            if NODES.iter().all(|n| workers_seen.contains_key(*n)) {
                job
            } else {
                None
            }
        },
        async || cleaner_context(&cluster, &namespace).await,
    )
    .await;
    until(
        // A failed run keeps its pods (`delayOnFailure`): gone pods mean the run succeeded.
        "the unused vulnerable image gone from every node, the worker pods gone",
        RUN_BOUND,
        async || {
            for node in NODES {
                if cluster.images(node).await.ok()?.contains(VULNERABLE_UNUSED) {
                    return None;
                }
            }
            let workers = Api::<Pod>::namespaced(client.clone(), &namespace)
                .list(&ListParams::default().labels(&format!("drydock.dev/imagejob={job}")))
                .await
                .ok()?;
            workers.items.is_empty().then_some(())
        },
        async || cleaner_context(&cluster, &namespace).await,
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
            let workers = Api::<Pod>::namespaced(client.clone(), &namespace)
                .list(&ListParams::default().labels("drydock.dev/imagejob"))
                .await
                .ok()?;
            workers.items.is_empty().then_some(())
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
    kubectl(&["delete", "imagelist", "imagelist"], "", &[])
        .await
        .unwrap();
    println!(
        "peak memory per container (MiB node namespace/pod/container):\n{}",
        cluster.memory_peaks().await.unwrap()
    );
    ns.cleanup().await.unwrap();
}

/// Runs `drydock <args> --kubeconfig <the cluster's>` and checks that it succeeded.
fn drydock(args: &[&str]) {
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
