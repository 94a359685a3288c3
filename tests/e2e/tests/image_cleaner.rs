//! The Image Cleaner end to end: the real `drydock manager` against a real API server, with
//! fake Nodes and this test playing the kubelet for the worker pods (a worker pod "runs" by
//! being marked `Succeeded` with a remover summary as its termination message, or `Failed`).
//! Run with `DRYDOCK_E2E_KUBECONFIG` set: `cargo test -p drydock-e2e -- --ignored`.
//!
//! Covered: every "What the user does" item of the Image Cleaner spec that the manager owns
//! (the `kubectl` ImageList flow verbatim — apply, re-apply unchanged, edit, delete + apply,
//! another name; the exclusion ConfigMap flow; worker pods gone after completion; Windows nodes
//! skipped and counted; the schedule with `beginImmediately`), bad input (an empty list, a bad
//! reference, an unreadable exclusion list), and the Eraser e2e scenarios that make sense
//! without real nodes (include and skip node filters, a configuration update reaching new pods,
//! pull secrets, no manual pods reappearing, manager restarts starting nothing extra — Eraser
//! #1169 — and manual and automatic runs not interfering).
//!
//! The cluster must be dedicated to the tests: ImageLists and ImageJobs are cluster-scoped, so
//! the tests of this file run one at a time and refuse to start while foreign ImageJobs exist.
//! Every run restricts the manager's node filter to this test's fake Nodes (a label with the
//! test namespace's name), so real nodes of the cluster are counted as skipped and never get a
//! worker pod. The worker-pod cleanup after a job relies on the garbage collector
//! (kube-controller-manager), as in any real cluster.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test, with its backtrace"
)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use drydock_api::imagejob::ImageJob;
use drydock_api::imagelist::ImageList;
use drydock_api::names::{self, state};
use drydock_e2e::{
    FakeNode, POLL, Process, TestNamespace, client, force_delete_pod, kubeconfig, kubectl, wait_for,
};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Node, Pod, PodTemplate};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// One test at a time: ImageLists and ImageJobs are cluster-scoped.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// How long a run may take end to end here (manager start, caches, pods, fold, status). Above
/// the manager's two-minute grace for a job deleted before it was seen finishing, so a slow
/// watch makes a test slower, not red.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);
/// How long "nothing happens" is watched for (Eraser's test watched one minute; the manager
/// reacts within a second, so a quarter of that is plenty to catch a re-run).
const QUIET: Duration = Duration::from_secs(15);
/// Time for the manager's ConfigMap watch to deliver a configuration update.
const RELOAD_SETTLE: Duration = Duration::from_secs(5);
/// How long an Event may lag behind the status change it reports.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);
/// The label restricting every run's node filter to this test's fake Nodes.
const RUN_LABEL: &str = "drydock.dev/e2e-run";
/// The image of the spec's example.
const ALPINE: &str = "docker.io/library/alpine:3.7.3";
/// The spec's manual removal, verbatim.
const IMAGELIST_YAML: &str = "apiVersion: eraser.sh/v1
kind: ImageList
metadata:
  name: imagelist
spec:
  images:
    - docker.io/library/alpine:3.7.3
";
/// The field manager `kubectl apply --server-side` uses.
const KUBECTL: &str = "kubectl";

/// What the manager is started with.
#[derive(Clone, Debug)]
struct Settings {
    /// `components.collector.enabled` (automatic mode).
    collector: bool,
    /// `manager.scheduling.beginImmediately`.
    begin_immediately: bool,
    /// `manager.nodeFilter` type and selectors; `None`: include this test's Nodes.
    filter: Option<(&'static str, Vec<String>)>,
    /// `manager.pullSecrets`.
    pull_secrets: Vec<String>,
    /// `ERASER_PULL_SECRET_NAMES`.
    extra_pull_secrets: Option<String>,
    /// Pod types the kubelet stand-in keeps `Running` from the start.
    hold: Vec<&'static str>,
    /// Install Eraser's own CRDs (`testdata/eraser-crds.yaml`) instead of Drydock's.
    eraser_crds: bool,
    /// Run the manager as its ServiceAccount with exactly Eraser's chart role
    /// (impersonated: no Events, no `deletecollection` on pods).
    eraser_rbac: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            collector: false,
            begin_immediately: true,
            filter: None,
            pull_secrets: Vec::new(),
            extra_pull_secrets: None,
            hold: Vec::new(),
            eraser_crds: false,
            eraser_rbac: false,
        }
    }
}

/// The `EraserConfig` of a test.
fn config_yaml(
    namespace: &str,
    settings: &Settings,
    remover_image: Option<(&str, &str)>,
) -> String {
    let (kind, selectors) = settings
        .filter
        .clone()
        .unwrap_or(("include", vec![format!("{RUN_LABEL}={namespace}")]));
    let selectors: Vec<String> = selectors.iter().map(|s| format!("\"{s}\"")).collect();
    let secrets: Vec<String> = settings
        .pull_secrets
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect();
    let remover = remover_image.map_or_else(String::new, |(repo, tag)| {
        format!("  remover:\n    image:\n      repo: {repo}\n      tag: \"{tag}\"\n")
    });
    format!(
        "apiVersion: eraser.sh/v1alpha3
kind: EraserConfig
manager:
  scheduling:
    repeatInterval: 24h
    beginImmediately: {begin}
  imageJob:
    successRatio: 1.0
    cleanup:
      delayOnSuccess: 0s
      delayOnFailure: 0s
  pullSecrets: [{secrets}]
  nodeFilter:
    type: {kind}
    selectors: [{selectors}]
components:
  collector:
    enabled: {collector}
  scanner:
    enabled: false
{remover}",
        begin = settings.begin_immediately,
        secrets = secrets.join(", "),
        selectors = selectors.join(", "),
        collector = settings.collector,
    )
}

/// What the kubelet stand-in does with new worker pods.
#[derive(Debug, Default)]
struct Behaviour {
    /// Pod types (`eraser.sh/type`) kept `Running` instead of finished.
    hold: BTreeSet<String>,
    /// Nodes whose worker pods fail.
    fail_nodes: BTreeSet<String>,
}

/// A worker pod as the kubelet stand-in first saw it.
#[derive(Clone, Debug)]
struct SeenPod {
    name: String,
    node: String,
    job: String,
    kind: String,
    pod: Pod,
}

/// The kubelet of the fake Nodes, for worker pods only: finishes them as the behaviour says and
/// removes deleted ones at once. Records every worker pod it saw.
struct WorkerKubelet {
    task: tokio::task::JoinHandle<()>,
    behaviour: Arc<StdMutex<Behaviour>>,
    seen: Arc<StdMutex<Vec<SeenPod>>>,
}

impl WorkerKubelet {
    fn start(client: &Client, namespace: &str) -> WorkerKubelet {
        let behaviour = Arc::new(StdMutex::new(Behaviour::default()));
        let seen = Arc::new(StdMutex::new(Vec::new()));
        let (client, namespace) = (client.clone(), namespace.to_owned());
        let (b, s) = (behaviour.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                // A failed round is retried at the next poll; the tests' waits report what
                // did not happen.
                let _ = worker_round(&client, &namespace, &b, &s).await;
                tokio::time::sleep(POLL).await;
            }
        });
        WorkerKubelet {
            task,
            behaviour,
            seen,
        }
    }

    fn seen(&self) -> Vec<SeenPod> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The distinct jobs whose pods were seen, of pod type `kind`, in order of appearance.
    fn jobs(&self, kind: &str) -> Vec<String> {
        let mut jobs: Vec<String> = Vec::new();
        for pod in self.seen().into_iter().filter(|p| p.kind == kind) {
            if !jobs.contains(&pod.job) {
                jobs.push(pod.job);
            }
        }
        jobs
    }

    fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        if let Ok(mut behaviour) = self.behaviour.lock() {
            change(&mut behaviour);
        }
    }
}

impl Drop for WorkerKubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The images a manual pod's list names (its `imagelist` ConfigMap), for the summary.
async fn listed_images(client: &Client, namespace: &str, pod: &Pod) -> Vec<String> {
    let configmap = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .and_then(|v| v.iter().find(|v| v.name == "imagelist"))
        .and_then(|v| v.config_map.as_ref())
        .map(|c| c.name.clone());
    let Some(configmap) = configmap else {
        return Vec::new();
    };
    let Ok(cm) = Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get(&configmap)
        .await
    else {
        return Vec::new();
    };
    cm.data
        .and_then(|d| d.get("images").cloned())
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

/// The remover's termination message (`drydock_cleaner::report::Summary`) removing `images`,
/// or, for a dry run, saying it would.
fn summary(images: &[String], dry_run: bool) -> String {
    if dry_run {
        return json!({
            "removed": 0, "wouldRemove": images.len(), "alreadyGone": 0, "kept": 0,
            "notOnNode": 0, "failed": 0, "bytesReclaimed": 0,
            "removedImages": [], "failedImages": [], "truncated": false,
            "dryRun": true, "wouldRemoveImages": images,
        })
        .to_string();
    }
    json!({
        "removed": images.len(), "wouldRemove": 0, "alreadyGone": 0, "kept": 0,
        "notOnNode": 0, "failed": 0, "bytesReclaimed": 0,
        "removedImages": images, "failedImages": [], "truncated": false,
    })
    .to_string()
}

/// The history's runs of the jobs this test's manual pods belonged to, oldest first.
async fn own_runs(c: &Cleaner) -> Vec<Value> {
    let jobs = c.kubelet.jobs("manual");
    c.history()
        .await
        .into_iter()
        .filter(|run| {
            run["job"]
                .as_str()
                .is_some_and(|j| jobs.iter().any(|o| o == j))
        })
        .collect()
}

/// Whether the pod's remover was told to remove nothing.
fn dry_run_remover(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .into_iter()
        .flat_map(|s| &s.containers)
        .filter(|c| c.name == names::containers::REMOVER)
        .flat_map(|c| c.args.iter().flatten())
        .any(|arg| arg == "--dry-run")
}

/// Ends a worker pod as its kubelet would: every container terminated (the remover with its
/// summary), the pod `Succeeded`, or `Failed` with the remover exiting 1.
async fn finish_pod(
    client: &Client,
    namespace: &str,
    pod: &Pod,
    ok: bool,
) -> drydock_e2e::Result<()> {
    let images = listed_images(client, namespace, pod).await;
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            let remover = c.name == names::containers::REMOVER;
            let code = i32::from(!ok && remover);
            let mut terminated =
                json!({"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }});
            if remover && ok {
                terminated["message"] = Value::String(summary(&images, dry_run_remover(pod)));
            }
            json!({
                "name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                "ready": false, "restartCount": 0, "state": {"terminated": terminated},
            })
        })
        .collect();
    let patch = json!({"status": {
        "phase": if ok { "Succeeded" } else { "Failed" },
        "containerStatuses": statuses,
    }});
    use drydock_e2e::Context as _;
    Api::<Pod>::namespaced(client.clone(), namespace)
        .patch_status(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .context(format!("finish worker pod {}", pod.name_any()))?;
    Ok(())
}

async fn worker_round(
    client: &Client,
    namespace: &str,
    behaviour: &StdMutex<Behaviour>,
    seen: &StdMutex<Vec<SeenPod>>,
) -> drydock_e2e::Result<()> {
    use drydock_e2e::Context as _;
    let pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels("drydock.dev/imagejob"))
        .await
        .context("list worker pods")?;
    for pod in pods.items {
        let name = pod.name_any();
        if pod.metadata.deletion_timestamp.is_some() {
            force_delete_pod(client, namespace, &name).await?;
            continue;
        }
        let labels = pod.labels();
        let kind = labels
            .get(names::POD_TYPE_LABEL)
            .cloned()
            .unwrap_or_default();
        let job = labels
            .get("drydock.dev/imagejob")
            .cloned()
            .unwrap_or_default();
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        if let Ok(mut seen) = seen.lock()
            && !seen.iter().any(|p| p.name == name)
        {
            seen.push(SeenPod {
                name: name.clone(),
                node: node.clone(),
                job,
                kind: kind.clone(),
                pod: pod.clone(),
            });
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
        if matches!(phase.as_deref(), Some("Succeeded" | "Failed")) {
            continue;
        }
        let (hold, fail) = behaviour
            .lock()
            .map(|b| (b.hold.contains(&kind), b.fail_nodes.contains(&node)))
            .unwrap_or((false, false));
        if hold {
            if phase.as_deref() != Some("Running") {
                drydock_e2e::set_pod_phase(client, namespace, &name, "Running").await?;
            }
            continue;
        }
        finish_pod(client, namespace, &pod, !fail).await?;
    }
    Ok(())
}

/// One test's Image Cleaner: a namespace, fake Nodes, the manager, the kubelet stand-in.
struct Cleaner {
    client: Client,
    ns: TestNamespace,
    dir: tempfile::TempDir,
    settings: Settings,
    manager: Option<Process>,
    kubelet: WorkerKubelet,
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

impl Cleaner {
    /// Linux nodes `linux` and Windows nodes `windows` (suffixes), labelled for this run.
    async fn start(prefix: &str, settings: Settings, linux: &[&str], windows: &[&str]) -> Cleaner {
        let serial = SERIAL.lock().await;
        let client = client().await.unwrap();
        if settings.eraser_crds {
            install_eraser_crds(&client).await;
        } else {
            install_crds(&client).await;
        }
        remove_leftovers(&client).await;
        let _ = Api::<ImageList>::all(client.clone())
            .delete(names::IMAGELIST_NAME, &DeleteParams::default())
            .await;
        let ns = TestNamespace::create(&client, prefix).await.unwrap();
        // What an install creates for the worker pods (ServiceAccount admission needs it).
        ns.create_service_account(names::WORKER_SERVICE_ACCOUNT)
            .await
            .unwrap();
        let namespace = ns.name().to_owned();
        for suffix in linux.iter().chain(windows) {
            let node = FakeNode::new(ns.object_name(suffix)).label(RUN_LABEL, &namespace);
            ns.create_node(&node).await.unwrap();
        }
        for suffix in windows {
            // The helper labels every fake Node linux; a Windows node says so.
            let patch = json!({"metadata": {"labels": {"kubernetes.io/os": "windows"}}});
            Api::<Node>::all(client.clone())
                .patch(
                    &ns.object_name(suffix),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let kubelet = WorkerKubelet::start(&client, &namespace);
        kubelet.set(|b| b.hold.extend(settings.hold.iter().map(|h| (*h).to_owned())));
        let mut cleaner = Cleaner {
            client,
            ns,
            dir,
            settings,
            manager: None,
            kubelet,
            _serial: serial,
        };
        cleaner.write_config(None).await;
        if cleaner.settings.eraser_rbac {
            cleaner.install_eraser_rbac().await;
        }
        cleaner.spawn_manager();
        cleaner
    }

    /// The user the manager runs as under Eraser's role: its ServiceAccount.
    fn manager_user(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace(),
            state::MANAGER_SERVICE_ACCOUNT
        )
    }

    /// The cluster-scoped RBAC objects of this test (named after its namespace).
    fn eraser_rbac_name(&self) -> String {
        format!("drydock-e2e-eraser-role-{}", self.namespace())
    }

    /// Eraser's chart role exactly (`reference/charts.md`), bound to the manager's
    /// ServiceAccount, and a kubeconfig that impersonates that account.
    async fn install_eraser_rbac(&self) {
        let ns = self.namespace();
        let name = self.eraser_rbac_name();
        let subject = json!([{"kind": "ServiceAccount", "name": state::MANAGER_SERVICE_ACCOUNT, "namespace": ns}]);
        let cluster_role = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["eraser.sh"], "resources": ["imagejobs"], "verbs": ["create", "delete", "get", "list", "watch"]},
                {"apiGroups": ["eraser.sh"], "resources": ["imagejobs/status"], "verbs": ["get", "patch", "update"]},
                {"apiGroups": ["eraser.sh"], "resources": ["imagelists"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["eraser.sh"], "resources": ["imagelists/status"], "verbs": ["get", "patch", "update"]},
            ],
        });
        let role = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": ns},
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete", "get", "list", "update", "watch"]},
                {"apiGroups": [""], "resources": ["podtemplates"], "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
            ],
        });
        let role_ref = |kind: &str| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name});
        let objects = [
            cluster_role,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": name}, "roleRef": role_ref("ClusterRole"), "subjects": subject}),
            role,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": name, "namespace": ns}, "roleRef": role_ref("Role"), "subjects": subject}),
        ];
        let yaml: String = objects.iter().map(|o| format!("---\n{}\n", o)).collect();
        kubectl(&["apply", "-f", "-"], &yaml, &[]).await.unwrap();
        let mut config = kube::config::Kubeconfig::read_from(kubeconfig().unwrap()).unwrap();
        for user in &mut config.auth_infos {
            if let Some(auth) = user.auth_info.as_mut() {
                auth.impersonate = Some(self.manager_user());
            }
        }
        std::fs::write(
            self.dir.path().join("kubeconfig-eraser-role"),
            serde_saphyr::to_string(&config).unwrap(),
        )
        .unwrap();
    }

    fn namespace(&self) -> String {
        self.ns.name().to_owned()
    }

    fn node(&self, suffix: &str) -> String {
        self.ns.object_name(suffix)
    }

    /// Writes the configuration: the file the manager starts from and the ConfigMap
    /// `eraser-manager-config` it reloads from.
    async fn write_config(&self, remover_image: Option<(&str, &str)>) {
        let yaml = config_yaml(&self.namespace(), &self.settings, remover_image);
        std::fs::write(
            self.dir.path().join("controller_manager_config.yaml"),
            &yaml,
        )
        .unwrap();
        let configmap: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": names::MANAGER_CONFIGMAP, "namespace": self.namespace()},
            "data": {names::MANAGER_CONFIG_KEY: yaml},
        }))
        .unwrap();
        Api::<ConfigMap>::namespaced(self.client.clone(), &self.namespace())
            .patch(
                names::MANAGER_CONFIGMAP,
                &PatchParams::apply(KUBECTL).force(),
                &Patch::Apply(&configmap),
            )
            .await
            .unwrap();
    }

    fn spawn_manager(&mut self) {
        let kubeconfig = if self.settings.eraser_rbac {
            self.dir.path().join("kubeconfig-eraser-role")
        } else {
            kubeconfig().unwrap()
        };
        let args: Vec<String> = [
            "manager".to_owned(),
            format!(
                "--config={}",
                self.dir
                    .path()
                    .join("controller_manager_config.yaml")
                    .display()
            ),
            format!("--namespace={}", self.namespace()),
            format!("--kubeconfig={}", kubeconfig.display()),
            "--metrics-addr=127.0.0.1:0".to_owned(),
            "--health-addr=127.0.0.1:0".to_owned(),
            // Not the default 0.0.0.0:8890: another manager on this machine (a parallel run)
            // would hold it.
            "--vulndb-addr=127.0.0.1:0".to_owned(),
        ]
        .into();
        let mut env = vec![("RUST_LOG".to_owned(), "info".to_owned())];
        if let Some(extra) = &self.settings.extra_pull_secrets {
            env.push((
                names::env::ERASER_PULL_SECRET_NAMES.to_owned(),
                extra.clone(),
            ));
        }
        let log = self.dir.path().join("manager.log");
        self.manager = Some(Process::spawn(&args, &env, &log).unwrap());
    }

    /// Kills the manager (as an OOM kill does) and starts it again.
    async fn restart_manager(&mut self) {
        if let Some(mut manager) = self.manager.take() {
            manager.kill().await.unwrap();
        }
        self.spawn_manager();
    }

    fn manager_log(&self) -> String {
        self.manager.as_ref().map(Process::log).unwrap_or_default()
    }

    /// `cat <<EOF | kubectl apply -f -` of an ImageList, as the spec writes it; returns the
    /// list as stored.
    async fn apply(&self, yaml: &str) -> ImageList {
        let list: ImageList = serde_saphyr::from_str(yaml).unwrap();
        kubectl(&["apply", "-f", "-"], yaml, &[]).await.unwrap();
        Api::<ImageList>::all(self.client.clone())
            .get(&list.name_any())
            .await
            .unwrap()
    }

    /// `kubectl edit imagelist imagelist` with an editor that adds `image` under the one the
    /// spec's list holds.
    async fn edit_add_image(&self, image: &str) {
        let editor = self.dir.path().join("editor.sh");
        std::fs::write(
            &editor,
            format!(
                "#!/bin/sh\nsed -i '/docker.io\\/library\\/alpine:3.7.3/{{p;s#docker.io/library/alpine:3.7.3#{image}#}}' \"$1\"\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        kubectl(
            &["edit", "imagelist", names::IMAGELIST_NAME],
            "",
            &[("KUBE_EDITOR", editor.as_path())],
        )
        .await
        .unwrap();
    }

    /// `kubectl delete ImageList <name>` (it returns once the list is gone).
    async fn delete_list(&self, name: &str) {
        let api = Api::<ImageList>::all(self.client.clone());
        kubectl(&["delete", "ImageList", name], "", &[])
            .await
            .unwrap();
        wait_for(&format!("ImageList {name} deleted"), RUN_TIMEOUT, || {
            let api = api.clone();
            async move {
                Ok(api
                    .get_opt(name)
                    .await
                    .ok()
                    .flatten()
                    .is_none()
                    .then_some(()))
            }
        })
        .await
        .unwrap();
    }

    /// Waits until the ImageList satisfies `check`, returning it.
    async fn wait_list(&self, what: &str, check: impl Fn(&ImageList) -> bool) -> ImageList {
        let api = Api::<ImageList>::all(self.client.clone());
        let check = &check;
        wait_for(what, RUN_TIMEOUT, || {
            let api = api.clone();
            async move {
                Ok(api
                    .get_opt(names::IMAGELIST_NAME)
                    .await
                    .ok()
                    .flatten()
                    .filter(|list| check(list)))
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\nmanager log:\n{}", self.manager_log()))
    }

    /// Waits until the ImageList has a result for `generation` (the run ended).
    async fn wait_result(&self, generation: i64) -> ImageList {
        self.wait_list(&format!("the run of generation {generation}"), |list| {
            let Some(status) = list.status.as_ref() else {
                return false;
            };
            status.observed_generation == Some(generation)
                && status.timestamp.is_some()
                && status.conditions.iter().any(|c| {
                    c.type_ == "Running"
                        && c.status == "False"
                        && c.observed_generation == Some(generation)
                })
        })
        .await
    }

    /// Events with `reason` about the object with `uid` (in `namespace`).
    async fn events(&self, namespace: &str, uid: &str, reason: &str) -> Vec<Event> {
        Api::<Event>::namespaced(self.client.clone(), namespace)
            .list(
                &ListParams::default().fields(&format!("involvedObject.uid={uid},reason={reason}")),
            )
            .await
            .map(|l| l.items)
            .unwrap_or_default()
    }

    /// Events with `reason` about the object with `uid`, once there are at least `count` (an
    /// Event is written after the status change the test saw first; on a busy machine a
    /// moment later), or what there is after [`EVENT_TIMEOUT`].
    async fn wait_events(
        &self,
        namespace: &str,
        uid: &str,
        reason: &str,
        count: usize,
    ) -> Vec<Event> {
        let until = tokio::time::Instant::now() + EVENT_TIMEOUT;
        loop {
            let events = self.events(namespace, uid, reason).await;
            if events.len() >= count || tokio::time::Instant::now() >= until {
                return events;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn events_by_name(&self, namespace: &str, name: &str, reason: &str) -> Vec<Event> {
        Api::<Event>::namespaced(self.client.clone(), namespace)
            .list(
                &ListParams::default()
                    .fields(&format!("involvedObject.name={name},reason={reason}")),
            )
            .await
            .map(|l| l.items)
            .unwrap_or_default()
    }

    async fn worker_pods(&self) -> Vec<Pod> {
        Api::<Pod>::namespaced(self.client.clone(), &self.namespace())
            .list(&ListParams::default().labels("drydock.dev/imagejob"))
            .await
            .map(|l| l.items)
            .unwrap_or_default()
    }

    /// Waits until no worker pod is left (the job deleted, its pods collected).
    async fn wait_pods_gone(&self) {
        let api = Api::<Pod>::namespaced(self.client.clone(), &self.namespace());
        wait_for("the worker pods to be deleted", RUN_TIMEOUT, || {
            let api = api.clone();
            async move {
                let pods = api
                    .list(&ListParams::default().labels("drydock.dev/imagejob"))
                    .await
                    .map(|l| l.items)
                    .unwrap_or_default();
                Ok(pods.is_empty().then_some(()))
            }
        })
        .await
        .unwrap();
    }

    /// The state ConfigMap's `schedule.json`.
    async fn schedule(&self) -> Option<Value> {
        let cm = Api::<ConfigMap>::namespaced(self.client.clone(), &self.namespace())
            .get_opt(state::STATE_CONFIGMAP)
            .await
            .ok()
            .flatten()?;
        serde_json::from_str(cm.data?.get(state::SCHEDULE_KEY)?).ok()
    }

    /// The history ConfigMap's runs.
    async fn history(&self) -> Vec<Value> {
        let Ok(Some(cm)) = Api::<ConfigMap>::namespaced(self.client.clone(), &self.namespace())
            .get_opt(state::HISTORY_CONFIGMAP)
            .await
        else {
            return Vec::new();
        };
        cm.data
            .and_then(|d| d.get(state::HISTORY_KEY).cloned())
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|h| h["runs"].as_array().cloned())
            .unwrap_or_default()
    }

    /// The spec's two commands: `kubectl create configmap <name> --from-file=<key>` of a file
    /// holding `text`, then `kubectl label configmap <name> eraser.sh/exclude.list=true`, in the
    /// manager's namespace.
    async fn exclusion_list(&self, name: &str, key: &str, text: &str) {
        let file = self.dir.path().join(key);
        std::fs::write(&file, text).unwrap();
        let namespace = self.namespace();
        let from_file = format!("--from-file={}", file.display());
        kubectl(
            &[
                "create",
                "configmap",
                name,
                &from_file,
                &format!("--namespace={namespace}"),
            ],
            "",
            &[],
        )
        .await
        .unwrap();
        let label = format!("{}=true", names::EXCLUDE_LIST_LABEL);
        kubectl(
            &["label", "configmap", name, &label, "-n", &namespace],
            "",
            &[],
        )
        .await
        .unwrap();
    }

    /// Removes everything: the manager first (so it creates nothing more), the ImageLists, the
    /// ImageJobs of this namespace's PodTemplates and of the pods seen, then the namespace and
    /// the Nodes.
    async fn finish(mut self) {
        if let Some(mut manager) = self.manager.take() {
            let _ = manager.kill().await;
        }
        for list in [names::IMAGELIST_NAME, "other-list"] {
            let _ = Api::<ImageList>::all(self.client.clone())
                .delete(list, &DeleteParams::default())
                .await;
        }
        let mut jobs: BTreeSet<String> = self.kubelet.seen().into_iter().map(|p| p.job).collect();
        if let Ok(templates) =
            Api::<PodTemplate>::namespaced(self.client.clone(), &self.namespace())
                .list(&ListParams::default())
                .await
        {
            jobs.extend(templates.items.iter().map(ResourceExt::name_any));
        }
        for job in jobs {
            let _ = Api::<ImageJob>::all(self.client.clone())
                .delete(&job, &DeleteParams::default())
                .await;
        }
        if self.settings.eraser_rbac {
            let name = self.eraser_rbac_name();
            let _ = kubectl(
                &[
                    "delete",
                    "clusterrole,clusterrolebinding",
                    &name,
                    "--ignore-not-found",
                ],
                "",
                &[],
            )
            .await;
        }
        self.ns.cleanup().await.unwrap();
    }
}

/// Removes the ImageJobs an earlier test of this suite left behind (a test that failed before
/// its cleanup): their PodTemplates are in a namespace of the tests. Refuses to go on while any
/// other ImageJob exists: it would belong to someone else.
async fn remove_leftovers(client: &Client) {
    let jobs = Api::<ImageJob>::all(client.clone());
    let namespaces = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .list(&ListParams::default().labels(drydock_e2e::E2E_LABEL))
        .await
        .unwrap();
    let mut ours = BTreeSet::new();
    for namespace in namespaces.items {
        let templates = Api::<PodTemplate>::namespaced(client.clone(), &namespace.name_any())
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        ours.extend(templates.iter().map(ResourceExt::name_any));
    }
    for job in jobs.list(&ListParams::default()).await.unwrap().items {
        if ours.contains(&job.name_any()) {
            let _ = jobs.delete(&job.name_any(), &DeleteParams::default()).await;
        }
    }
    let foreign: Vec<String> = jobs
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|job| job.metadata.deletion_timestamp.is_none())
        .map(ResourceExt::name_any)
        .collect();
    assert!(
        foreign.is_empty(),
        "the cluster holds ImageJobs that are not this suite's ({foreign:?}); this suite needs a dedicated cluster"
    );
}

/// Installs Drydock's two CRDs (server-side apply) and waits until they are served.
async fn install_crds(client: &Client) {
    apply_crds(
        client,
        vec![
            drydock_api::crd::imagelist_crd().unwrap(),
            drydock_api::crd::imagejob_crd().unwrap(),
        ],
    )
    .await;
}

/// Installs Eraser's CRDs as its chart ships them (the fixture `testdata/eraser-crds.yaml`:
/// structural status schemas that require Eraser's fields and prune the rest), under the same
/// field manager as [`install_crds`], so either replaces the other completely, as `helm
/// upgrade` does.
async fn install_eraser_crds(client: &Client) {
    let text = include_str!("../../../testdata/eraser-crds.yaml");
    apply_crds(client, serde_saphyr::from_multiple(text).unwrap()).await;
}

/// Applies `crds` (server-side apply) and waits until the ImageLists are served.
async fn apply_crds(client: &Client, all: Vec<CustomResourceDefinition>) {
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in all {
        crds.patch(
            &crd.name_any(),
            &PatchParams::apply("drydock-e2e").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
    }
    let lists = Api::<ImageList>::all(client.clone());
    wait_for("the eraser.sh CRDs to be served", RUN_TIMEOUT, || {
        let lists = lists.clone();
        async move {
            Ok(lists
                .list(&ListParams::default().limit(1))
                .await
                .ok()
                .map(|_| ()))
        }
    })
    .await
    .unwrap();
}

/// Watches for `QUIET` that `check` stays true.
async fn stays(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let until = tokio::time::Instant::now() + QUIET;
    while tokio::time::Instant::now() < until {
        assert!(check().await, "{what}");
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
#[ignore = "needs DRYDOCK_E2E_KUBECONFIG"]
async fn the_spec_imagelist_flow_works_verbatim() {
    let mut c = Cleaner::start("ic-manual", Settings::default(), &["a", "b"], &["win"]).await;
    let (a, b, win) = (c.node("a"), c.node("b"), c.node("win"));

    // kubectl apply: one run, one pod per Linux node named eraser-<node>-…, Windows skipped.
    let applied = c.apply(IMAGELIST_YAML).await;
    let uid = applied.uid().unwrap();
    let list = c.wait_result(1).await;
    let status = list.status.clone().unwrap();
    assert_eq!((status.success, status.failed), (2, 0), "{status:?}");
    assert!(
        status.skipped >= 1,
        "the Windows node counts as skipped: {status:?}"
    );
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Succeeded" && c.status == "True")
    );
    let pods = c.kubelet.seen();
    let nodes: BTreeSet<&str> = pods.iter().map(|p| p.node.as_str()).collect();
    assert_eq!(
        nodes,
        BTreeSet::from([a.as_str(), b.as_str()]),
        "no pod on {win}"
    );
    for pod in &pods {
        assert!(
            pod.name.starts_with(&format!("eraser-{}-", pod.node)),
            "{}",
            pod.name
        );
        assert_eq!(pod.kind, "manual");
        let spec = pod.pod.spec.clone().unwrap();
        assert_eq!(spec.containers[0].name, "remover");
    }
    assert_eq!(c.kubelet.jobs("manual").len(), 1);
    assert_eq!(
        c.wait_events("default", &uid, "JobStarted", 1).await.len(),
        1
    );
    assert_eq!(
        c.wait_events("default", &uid, "JobCompleted", 1)
            .await
            .len(),
        1
    );

    // The worker pods go once the work is done (delayOnSuccess 0s here; AKS: within 10 min).
    c.wait_pods_gone().await;

    // The history keeps what was removed where.
    let history = c.history().await;
    assert_eq!(history.len(), 1, "{history:?}");
    let run = &history[0];
    assert_eq!(
        (run["mode"].as_str(), run["phase"].as_str()),
        (Some("manual"), Some("Completed"))
    );
    let removed_on_a = run["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == a.as_str())
        .unwrap();
    assert_eq!(removed_on_a["removed"], json!([ALPINE]));
    assert!(
        run["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["node"] == win.as_str() && n["outcome"] == "skipped")
    );

    // Re-applying the unchanged list does nothing; neither does a manager restart.
    c.apply(IMAGELIST_YAML).await;
    c.restart_manager().await;
    stays(
        "no new manual job after a re-apply and a restart",
        async || c.kubelet.jobs("manual").len() == 1 && c.worker_pods().await.is_empty(),
    )
    .await;
    assert_eq!(
        c.wait_events("default", &uid, "JobStarted", 1).await.len(),
        1
    );

    // kubectl edit that adds an image runs again.
    c.edit_add_image("docker.io/library/nginx:latest").await;
    let list = c.wait_result(2).await;
    assert_eq!(list.status.unwrap().success, 2);
    assert_eq!(c.kubelet.jobs("manual").len(), 2);

    // kubectl delete ImageList imagelist, then a new apply, runs again.
    c.delete_list(names::IMAGELIST_NAME).await;
    let recreated = c.apply(IMAGELIST_YAML).await;
    assert_ne!(recreated.uid(), Some(uid));
    c.wait_result(1).await;
    assert_eq!(c.kubelet.jobs("manual").len(), 3);

    // Another name: a warning Event, no status, no job.
    let other = c
        .apply(&IMAGELIST_YAML.replace("name: imagelist", "name: other-list"))
        .await;
    let other_uid = other.uid().unwrap();
    wait_for("the UnsupportedName Event", RUN_TIMEOUT, || async {
        Ok((!c
            .events("default", &other_uid, "UnsupportedName")
            .await
            .is_empty())
        .then_some(()))
    })
    .await
    .unwrap();
    stays("no job for another name", async || {
        c.kubelet.jobs("manual").len() == 3
    })
    .await;
    let other = Api::<ImageList>::all(c.client.clone())
        .get("other-list")
        .await
        .unwrap();
    assert!(other.status.is_none(), "{:?}", other.status);
    c.finish().await;
}

#[tokio::test]
#[ignore = "needs DRYDOCK_E2E_KUBECONFIG"]
async fn a_dry_run_imagelist_removes_nothing_then_runs_for_real_without_the_annotation() {
    let c = Cleaner::start("ic-dry-run", Settings::default(), &["a"], &[]).await;
    let a = c.node("a");
    let dry_yaml = IMAGELIST_YAML.replace(
        "  name: imagelist\n",
        "  name: imagelist\n  annotations:\n    drydock.dev/dry-run: \"true\"\n",
    );
    c.apply(&dry_yaml).await;
    c.wait_result(1).await;
    let pods = c.kubelet.seen();
    assert_eq!(pods.len(), 1);
    assert!(dry_run_remover(&pods[0].pod), "the remover gets --dry-run");
    c.wait_pods_gone().await;
    let history = own_runs(&c).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["dryRun"], true, "{history:?}");
    let node = &history[0]["nodes"][0];
    assert_eq!(node["node"], a.as_str());
    assert_eq!(node["wouldRemove"], json!([ALPINE]), "{node}");
    assert_eq!(node["removed"], json!([]), "{node}");

    // Without the annotation, the same generation runs once more, for real.
    c.apply(IMAGELIST_YAML).await;
    wait_for("the real run after the dry run", RUN_TIMEOUT, || async {
        Ok((own_runs(&c).await.len() == 2).then_some(()))
    })
    .await
    .unwrap();
    let pods = c.kubelet.seen();
    assert_eq!(c.kubelet.jobs("manual").len(), 2);
    assert!(!dry_run_remover(&pods[1].pod), "the real run's remover");
    let history = own_runs(&c).await;
    assert!(history[1].get("dryRun").is_none(), "{history:?}");
    assert_eq!(history[1]["nodes"][0]["removed"], json!([ALPINE]));
    stays("no third run", async || c.kubelet.jobs("manual").len() == 2).await;
    c.finish().await;
}

#[tokio::test]
#[ignore = "needs DRYDOCK_E2E_KUBECONFIG"]
async fn a_bad_imagelist_is_reported_and_removes_nothing() {
    let c = Cleaner::start("ic-bad-list", Settings::default(), &["a"], &[]).await;
    let empty = c
        .apply(
            &IMAGELIST_YAML
                .replace("    - docker.io/library/alpine:3.7.3\n", "")
                .replace("images:\n", "images: []\n"),
        )
        .await;
    let list = c
        .wait_list("the InvalidSpec condition", |l| {
            l.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Failed" && c.reason == "InvalidSpec")
            })
        })
        .await;
    assert!(
        list.status
            .unwrap()
            .conditions
            .iter()
            .any(|c| c.message.contains("empty"))
    );
    assert_eq!(
        c.wait_events("default", &empty.uid().unwrap(), "InvalidSpec", 1)
            .await
            .len(),
        1
    );
    let bad = c
        .apply(&IMAGELIST_YAML.replace(ALPINE, "Not An Image!"))
        .await;
    c.wait_list("the bad reference reported", |l| {
        l.status.as_ref().is_some_and(|s| {
            s.observed_generation == l.metadata.generation
                && s.conditions
                    .iter()
                    .any(|c| c.message.contains("Not An Image!"))
        })
    })
    .await;
    assert_eq!(
        c.wait_events("default", &bad.uid().unwrap(), "InvalidSpec", 2)
            .await
            .len(),
        2
    );
    stays("nothing runs for a bad list", async || {
        c.kubelet.seen().is_empty()
    })
    .await;
    c.finish().await;
}

#[tokio::test]
#[ignore = "needs DRYDOCK_E2E_KUBECONFIG"]
async fn exclusion_configmaps_are_mounted_and_a_bad_one_blocks_the_run() {
    let c = Cleaner::start("ic-exclusions", Settings::default(), &["a"], &[]).await;
    // The spec's kubectl create configmap … --from-file=sample.json; kubectl label … .
    c.exclusion_list(
        "excluded",
        "sample.json",
        "{\"excluded\": [\"excluded-image-name\"]}\n",
    )
    .await;
    c.apply(IMAGELIST_YAML).await;
    c.wait_result(1).await;
    let pod = c.kubelet.seen().remove(0).pod;
    let spec = pod.spec.unwrap();
    assert!(spec.volumes.unwrap().iter().any(|v| {
        v.name == "excluded"
            && v.config_map
                .as_ref()
                .is_some_and(|cm| cm.name == "excluded")
    }));
    assert!(
        spec.containers[0]
            .volume_mounts
            .clone()
            .unwrap()
            .iter()
            .any(|m| m.mount_path == "/exclude-excluded")
    );

    // A list without a .json key: Events, a condition, and no run (nothing removed).
    c.exclusion_list("broken", "sample.txt", "excluded-image-name")
        .await;
    c.apply(&IMAGELIST_YAML.replace(ALPINE, "docker.io/library/alpine:3.6"))
        .await;
    c.wait_list("the run blocked", |l| {
        l.status.as_ref().is_some_and(|s| {
            s.conditions.iter().any(|c| {
                c.type_ == "Failed" && c.status == "True" && c.reason == "ExclusionListInvalid"
            })
        })
    })
    .await;
    let events = c
        .events_by_name(c.ns.name(), "broken", "InvalidExclusionList")
        .await;
    assert_eq!(events.len(), 1, "{events:?}");
    stays("no job while an exclusion list is unreadable", async || {
        c.kubelet.jobs("manual").len() == 1
    })
    .await;

    // Fixed: the run goes ahead.
    let api = Api::<ConfigMap>::namespaced(c.client.clone(), c.ns.name());
    api.delete("broken", &DeleteParams::default())
        .await
        .unwrap();
    c.exclusion_list("broken", "sample.json", "{\"excluded\": []}")
        .await;
    c.wait_result(2).await;
    assert_eq!(c.kubelet.jobs("manual").len(), 2);
    c.finish().await;
}

#[tokio::test]
#[ignore = "needs DRYDOCK_E2E_KUBECONFIG"]
async fn include_and_exclude_node_filters_pick_the_nodes() {
    // Eraser's imagelist_include_nodes: only the labelled node is cleaned.
    let settings = Settings {
        filter: Some(("include", vec![])),
        ..Settings::default()
    };
    let mut c = Cleaner::start("ic-filters", settings, &["a", "b"], &[]).await;
    let (a, b) = (c.node("a"), c.node("b"));
    let patch = json!({"metadata": {"labels": {names::CLEANUP_FILTER_LABEL: "true"}}});
    Api::<Node>::all(c.client.clone())
        .patch(&a, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    c.apply(IMAGELIST_YAML).await;
    let list = c.wait_result(1).await;
    assert_eq!(list.status.unwrap().success, 1);
    let nodes: BTreeSet<String> = c.kubelet.seen().into_iter().map(|p| p.node).collect();
    assert_eq!(nodes, BTreeSet::from([a.clone()]));

    // Eraser's imagelist_skip_nodes: the default exclude filter skips the labelled node (and,
    // here, every node that is not this test's). A config update reaches the next run.
    c.settings.filter = Some((
        "exclude",
        vec![
            names::CLEANUP_FILTER_LABEL.to_owned(),
            format!("{RUN_LABEL}!={}", c.namespace()),
        ],
    ));
    c.write_config(None).await;
    tokio::time::sleep(RELOAD_SETTLE).await;
    c.apply(&IMAGELIST_YAML.replace(ALPINE, "docker.io/library/nginx:latest"))
        .await;
    c.wait_result(2).await;
    let second = c.kubelet.jobs("manual")[1].clone();
    let nodes: BTreeSet<String> = c
        .kubelet
        .seen()
        .into_iter()
        .filter(|p| p.job == second)
        .map(|p| p.node)
        .collect();
    assert_eq!(nodes, BTreeSet::from([b]));
    c.finish().await;
}

#[tokio::test]
#[ignore = "needs DRYDOCK_E2E_KUBECONFIG"]
async fn a_configmap_update_gives_new_pods_the_new_remover_image() {
    // Eraser's configmap_update: a partial config swaps the remover image without a restart.
    let c = Cleaner::start("ic-reload", Settings::default(), &["a", "b"], &[]).await;
    c.write_config(Some(("docker.io/library/busybox", "1.36")))
        .await;
    tokio::time::sleep(RELOAD_SETTLE).await;
    c.apply(IMAGELIST_YAML).await;
    c.wait_result(1).await;
    let pods = c.kubelet.seen();
    assert_eq!(pods.len(), 2);
    for pod in pods {
        let image = pod.pod.spec.unwrap().containers[0].image.clone();
        assert_eq!(image.as_deref(), Some("docker.io/library/busybox:1.36"));
    }
    c.finish().await;
}

#[tokio::test]
#[ignore = "needs DRYDOCK_E2E_KUBECONFIG"]
async fn pull_secrets_reach_manual_and_automatic_pods_and_the_two_modes_do_not_interfere() {
    // Eraser's helm_pull_secret(_imagelist), and its manual/automatic interference: here the
    // schedule's job keeps running while a manual run comes and goes.
    let settings = Settings {
        collector: true,
        pull_secrets: vec!["testsecret".into()],
        extra_pull_secrets: Some("legacysecret".into()),
        hold: vec!["collector"],
        ..Settings::default()
    };
    let c = Cleaner::start("ic-secrets", settings, &["a", "b"], &[]).await;
    wait_for("the automatic run's pods", RUN_TIMEOUT, || async {
        Ok((c
            .kubelet
            .seen()
            .iter()
            .filter(|p| p.kind == "collector")
            .count()
            == 2)
            .then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\nmanager log:\n{}", c.manager_log()));
    c.apply(IMAGELIST_YAML).await;
    c.wait_result(1).await;
    let automatic = c.kubelet.jobs("collector");
    assert_eq!(automatic.len(), 1);
    let job = Api::<ImageJob>::all(c.client.clone())
        .get(&automatic[0])
        .await
        .unwrap();
    assert_eq!(
        job.status.map(|s| s.phase),
        Some(drydock_api::imagejob::JobPhase::Running),
        "the manual run left the schedule's job alone"
    );
    for pod in c.kubelet.seen() {
        let secrets: BTreeSet<String> = pod
            .pod
            .spec
            .unwrap()
            .image_pull_secrets
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(
            secrets,
            BTreeSet::from(["testsecret".to_owned(), "legacysecret".to_owned()]),
            "{}",
            pod.name
        );
    }
    c.kubelet.set(|b| b.hold.clear());
    wait_for("the automatic run to finish", RUN_TIMEOUT, || async {
        let done = c
            .schedule()
            .await
            .is_some_and(|s| s["lastFinished"].is_string());
        Ok(done.then_some(()))
    })
    .await
    .unwrap();
    c.finish().await;
}

#[tokio::test]
#[ignore = "needs DRYDOCK_E2E_KUBECONFIG"]
async fn the_schedule_begins_immediately_and_a_restart_starts_nothing_extra() {
    let settings = Settings {
        collector: true,
        begin_immediately: true,
        ..Settings::default()
    };
    let mut c = Cleaner::start("ic-schedule", settings, &["a", "b"], &["win"]).await;
    // Enabled: a run starts at once, collector and remover on every Linux node.
    let schedule = wait_for("the first automatic run to finish", RUN_TIMEOUT, || async {
        Ok(c.schedule().await.filter(|s| s["lastFinished"].is_string()))
    })
    .await
    .unwrap();
    assert!(schedule["enabledAt"].is_string() && schedule["lastStarted"].is_string());
    let first = c.kubelet.jobs("collector");
    assert_eq!(first.len(), 1);
    let pods = c.kubelet.seen();
    assert_eq!(pods.len(), 2);
    for pod in &pods {
        let names: Vec<String> = pod
            .pod
            .spec
            .clone()
            .unwrap()
            .containers
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, vec!["collector", "remover"], "scanner disabled");
    }
    let history = wait_for("the automatic run in the history", RUN_TIMEOUT, || async {
        let runs = c.history().await;
        Ok((!runs.is_empty()).then_some(runs))
    })
    .await
    .unwrap();
    assert_eq!(history[0]["mode"], "automatic");
    assert_eq!(history[0]["job"], first[0].as_str());

    // Eraser #1169: a restart (an OOM kill) started a new cluster-wide run every time.
    c.restart_manager().await;
    stays("no run after a restart", async || {
        c.kubelet.jobs("collector").len() == 1
    })
    .await;
    assert_eq!(
        c.schedule().await,
        Some(schedule.clone()),
        "the clock was not reset"
    );

    // drydock image-cleaner run: one run per request.
    let request = jiff::Timestamp::now().to_string();
    let patch = json!({"metadata": {"annotations": {state::RUN_REQUESTED_ANNOTATION: request}}});
    Api::<ConfigMap>::namespaced(c.client.clone(), c.ns.name())
        .patch(
            state::STATE_CONFIGMAP,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    wait_for("the requested run", RUN_TIMEOUT, || async {
        Ok((c.kubelet.jobs("collector").len() == 2).then_some(()))
    })
    .await
    .unwrap();
    c.restart_manager().await;
    stays("one run per request", async || {
        c.kubelet.jobs("collector").len() == 2
    })
    .await;
    let handled = c.schedule().await.unwrap();
    assert_eq!(handled["handledRunRequest"], request.as_str());
    c.finish().await;
}

/// A failing node fails the manual run, and the result says so (nothing retried by itself).
#[tokio::test]
#[ignore = "needs DRYDOCK_E2E_KUBECONFIG"]
async fn a_failed_node_fails_the_run_and_the_list_says_so() {
    let c = Cleaner::start("ic-failure", Settings::default(), &["a", "b"], &[]).await;
    let b = c.node("b");
    c.kubelet.set(|behaviour| {
        behaviour.fail_nodes.insert(b.clone());
    });
    let applied = c.apply(IMAGELIST_YAML).await;
    let list = c.wait_result(1).await;
    let status = list.status.unwrap();
    assert_eq!((status.success, status.failed), (1, 1));
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Failed" && c.status == "True" && c.reason == "JobFailed")
    );
    assert_eq!(
        c.wait_events("default", &applied.uid().unwrap(), "JobFailed", 1)
            .await
            .len(),
        1
    );
    let runs = c.history().await;
    let failed: Vec<&Value> = runs[0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["outcome"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["node"], b.as_str());
    c.finish().await;
}

/// Moving from Eraser: with Eraser's CRDs in place (their ImageList status keeps only
/// `failed`, `skipped`, `success`, `timestamp`, all required) and the manager running with
/// exactly Eraser's chart role (no Events, no `deletecollection` on pods), one ImageList gives
/// exactly one ImageJob, its result is written, its pods are deleted, and nothing more starts —
/// not after a restart, not after an upgrade to Drydock's CRDs — until the list changes.
#[tokio::test]
#[ignore = "needs DRYDOCK_E2E_KUBECONFIG"]
async fn under_erasers_crds_one_imagelist_gives_one_job_and_an_upgrade_keeps_the_bookkeeping() {
    let settings = Settings {
        eraser_crds: true,
        eraser_rbac: true,
        ..Settings::default()
    };
    let mut c = Cleaner::start("ic-eraser-crds", settings, &["a", "b"], &[]).await;
    let applied = c.apply(IMAGELIST_YAML).await;
    let uid = applied.uid().unwrap();
    let list = c
        .wait_list("the result in Eraser's status fields", |list| {
            list.status
                .as_ref()
                .is_some_and(|s| s.timestamp.is_some() && s.success == 2)
        })
        .await;
    let status = list.status.unwrap();
    // Nodes of the cluster outside this test's filter count as skipped.
    assert_eq!((status.success, status.failed), (2, 0), "{status:?}");
    assert!(
        status.observed_generation.is_none() && status.conditions.is_empty(),
        "Eraser's CRD prunes Drydock's own status fields: {status:?}"
    );
    c.wait_pods_gone().await;
    stays("exactly one ImageJob for one ImageList", async || {
        c.kubelet.jobs("manual").len() == 1
    })
    .await;
    c.restart_manager().await;
    stays("no second ImageJob after a restart", async || {
        c.kubelet.jobs("manual").len() == 1
    })
    .await;
    // Eraser's role has no Events: none written, the missing right said once.
    assert!(c.events("default", &uid, "JobStarted").await.is_empty());
    // Only the note of the run's start can be refused (no result to carry yet): said once.
    let log = c.manager_log();
    assert!(
        log.matches("is invalid").count() <= 1 && !log.contains("write=\"result\""),
        "status writes refused:\n{log}"
    );
    for (verb, resource) in [("create", "events"), ("deletecollection", "pods")] {
        let said = format!("verb=\"{verb}\" resource=\"{resource}\"");
        assert!(
            log.matches(&said).count() <= 1,
            "{said} more than once:\n{log}"
        );
    }

    // The upgrade: Drydock's CRDs replace Eraser's, the manager restarts; the bookkeeping is
    // not in the status, so nothing runs again.
    install_crds(&c.client).await;
    c.restart_manager().await;
    stays(
        "no second ImageJob after the upgrade to Drydock's CRDs",
        async || c.kubelet.jobs("manual").len() == 1,
    )
    .await;

    // The next change runs once, and Drydock's own status fields now stick.
    c.edit_add_image("docker.io/library/nginx:latest").await;
    c.wait_result(2).await;
    stays("one ImageJob per change", async || {
        c.kubelet.jobs("manual").len() == 2
    })
    .await;
    c.wait_pods_gone().await;
    c.finish().await;
}
